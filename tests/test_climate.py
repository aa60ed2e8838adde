"""The generated climate corpus (course_utils.climate on course_utils.labels' label model) and
its loader's contract (course_utils.data.load_climate)."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from corpus_text import phrase_at, sentences_of
from course_utils import climate, data
from course_utils.data import load_climate
from course_utils.labels import GeneratedExample, normalize_word

CLIMATE_PRO = set(climate.THREAT_PRO_WORDS) | set(climate.ACTION_PRO_WORDS)
CLIMATE_ANTI = set(climate.THREAT_ANTI_WORDS) | set(climate.ACTION_ANTI_WORDS)
NEUTRAL_CUES = {w.strip("*?") for t, _ in climate.NEUTRAL_TEMPLATES for w in t.split() if w.startswith("*")}
ANTI, NEUTRAL, PRO, NEWS = range(4)


def cue(phrase: str) -> str:
    """The flagged word of a stance phrase: "a hoax" -> "hoax"."""
    return phrase.split()[-1]


@pytest.fixture(scope="module")
def posts() -> datasets.Dataset:
    return load_climate(n=2000, seed=0, source="generated")


@pytest.fixture(scope="module")
def post_examples() -> list[GeneratedExample]:
    return climate.climate_examples(2000, 0)


def climate_evidence(text: str, rationale: list[int]) -> set[int]:
    """Classes the flagged words point to: a flagged negation flips the next stance word."""
    implied, negated = set(), False
    for word, flag in zip(text.split(), rationale):
        core = normalize_word(word)
        if not flag:
            continue
        if core in climate.CLIMATE_NEGATIONS:
            negated = True
        elif core in climate.NEWS_VERBS:
            implied.add(NEWS)
        elif core in NEUTRAL_CUES:
            implied.add(NEUTRAL)
        else:
            pro = core in {cue(p) for p in CLIMATE_PRO}
            assert pro or core in {cue(p) for p in CLIMATE_ANTI}, core
            implied.add(ANTI if pro == negated else PRO)
            negated = False
    return implied


def test_climate_is_deterministic_and_prefix_stable():
    assert load_climate(300, seed=3).to_dict() == load_climate(300, seed=3).to_dict()
    assert load_climate(300, seed=0)["text"] != load_climate(300, seed=1)["text"]
    assert load_climate(50)["text"] == load_climate(400)["text"][:50]


def test_climate_columns_and_types(posts, post_examples):
    assert posts.column_names == ["text", "label", "rationale"]
    assert posts.features["label"].names == ["anti", "neutral", "pro", "news"]
    row = posts[0]
    assert isinstance(row["text"], str) and isinstance(row["label"], int)
    assert isinstance(row["rationale"], list) and all(isinstance(f, int) for f in row["rationale"])
    assert [e.text for e in post_examples] == list(posts["text"])
    assert [e.label for e in post_examples] == list(posts["label"])


def test_climate_labels_are_balanced(posts):
    for labels in (list(posts["label"]), list(load_climate(2000, split="test")["label"])):
        shares = [labels.count(k) / len(labels) for k in range(4)]
        assert all(0.2 < share < 0.3 for share in shares), shares


def test_climate_rationale_has_one_flag_per_word(posts):
    for text, rationale in zip(posts["text"], posts["rationale"]):
        assert len(rationale) == len(text.split()), text
        assert set(rationale) <= {0, 1} and sum(rationale) >= 1, text


def test_climate_lengths_and_no_duplicates(posts):
    lengths = [len(t.split()) for t in posts["text"]]
    assert min(lengths) >= climate.MIN_CLIMATE_WORDS and max(lengths) <= climate.MAX_CLIMATE_WORDS
    assert len(set(posts["text"])) == len(posts)


def test_climate_label_model_reads_the_rationale(post_examples):
    """With one kind of evidence, the label model's favourite class is the one it points to."""
    checked = 0
    for e in post_examples:
        implied = climate_evidence(e.text, list(e.rationale))
        if len(implied) == 1 and len(e.clauses) == 1 and "modifier" not in e.roles:
            assert max(range(4), key=lambda k: e.probabilities()[k]) == implied.pop(), e.text
            checked += 1
    assert checked > 1000


def test_climate_labels_are_drawn_and_calibrated(post_examples):
    p = np.array([e.probabilities() for e in post_examples])
    y = np.array([e.label for e in post_examples])
    best = (p.argmax(1) == y).mean()
    assert 0.85 < best < 0.93
    top = p.max(1)
    assert np.median(top) < 0.96 and (top < 0.8).mean() > 0.1
    confident = top > 0.9
    assert abs((p.argmax(1) == y)[confident].mean() - top[confident].mean()) < 0.04


def test_climate_negation_flips_pro_and_anti(post_examples):
    negated = [e for e in post_examples if len(e.clauses) == 1 and "negation" in e.roles]
    assert len(negated) > 50
    for e in negated:
        with_negation = e.probabilities()
        without = e.probabilities([role != "negation" for role in e.roles])
        assert (with_negation[PRO] - with_negation[ANTI]) * (without[PRO] - without[ANTI]) < 0, e.text


def test_climate_fillers_are_never_flagged(posts):
    for text, rationale in zip(posts["text"], posts["rationale"]):
        for word, flag in zip(text.split(), rationale):
            core = normalize_word(word)
            modifiers = climate.CLIMATE_HEDGES + climate.CLIMATE_BOOSTERS
            if word.startswith(("#", "@")) or core.isdigit() or core in modifiers:
                assert flag == 0, (word, text)


def test_climate_surface_features_do_not_give_the_label_away(posts):
    """Hashtags, @mentions and numbers occur in every class."""
    def classes(predicate) -> set[int]:
        return {row["label"] for row in posts if any(predicate(w) for w in row["text"].split())}

    assert classes(lambda w: w.startswith("#")) == {ANTI, NEUTRAL, PRO, NEWS}
    assert classes(lambda w: w.startswith("@")) == {ANTI, NEUTRAL, PRO, NEWS}
    assert classes(lambda w: normalize_word(w).isdigit()) == {ANTI, NEUTRAL, PRO, NEWS}


def test_climate_word_lists_are_disjoint():
    assert not {cue(p) for p in CLIMATE_PRO} & {cue(p) for p in CLIMATE_ANTI}
    cues = {cue(p) for p in CLIMATE_PRO | CLIMATE_ANTI} | NEUTRAL_CUES | set(climate.NEWS_VERBS)
    fillers = {
        normalize_word(w)
        for phrase in (*climate.CLIMATE_THREATS, *climate.CLIMATE_ACTIONS, *climate.CLIMATE_LEADS,
                       *climate.CLIMATE_TRAILS, *climate.SMALL_TALK, *climate.NEWS_SOURCES, *climate.NEWS_FACTS,
                       *climate.CLIMATE_HEDGES, *climate.CLIMATE_BOOSTERS)
        for w in phrase.split()
    }
    assert not fillers & (cues | set(climate.CLIMATE_NEGATIONS))


def test_climate_sentences_start_with_a_capital(posts):
    for text in posts["text"]:
        words = [w for w in text.split() if not w.startswith(("@", "#"))]
        assert words[0][0].isupper(), text


def test_climate_split_sizes_and_disjointness():
    everything = load_climate(1000)
    train, test = load_climate(1000, split="train"), load_climate(1000, split="test")
    assert (len(train), len(test)) == (800, 200)
    assert not set(train["text"]) & set(test["text"])
    assert set(train["text"]) | set(test["text"]) == set(everything["text"])
    small_test = set(load_climate(100, split="test")["text"])
    assert small_test <= set(test["text"]) and not small_test & set(train["text"])


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"n": 0}, ValueError, "positive int"),
        ({"n": 2.5}, TypeError, "positive int"),
        ({"n": True}, TypeError, "positive int"),
        ({"seed": "0"}, TypeError, "seed"),
        ({"split": "valid"}, ValueError, "'train', 'test'"),
        ({"source": "imdb"}, ValueError, "'generated'"),
    ],
)
def test_climate_bad_arguments_raise_clear_errors(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        load_climate(**kwargs)


def test_climate_auto_source_is_generated_even_online(monkeypatch):
    import course_utils.models

    def no_hub(*args, **kwargs):
        raise AssertionError("load_climate has no online source and must not touch the hub")

    monkeypatch.setattr(course_utils.models, "is_offline", lambda timeout=2.0: False)
    monkeypatch.setattr(data.datasets, "load_dataset", no_hub)
    assert load_climate(40)["text"] == load_climate(40, source="generated")["text"]


# ---------------------------------------------------------------- coherence: a post reads as one person's
CLIMATE_SUBJECTS = tuple(s.lower() for s in climate.CLIMATE_THREATS + climate.CLIMATE_ACTIONS)  # words are normalised


def stance_sentences(e: GeneratedExample) -> list[dict]:
    """Each sentence of a post that holds a stance clause: its words, subject and clause."""
    words = [normalize_word(w) for w in e.words]
    out = []
    for sentence in sentences_of(e):
        clause = next((c for c in e.clauses if c.evidence in sentence and c.direction[0] != 0), None)
        if clause is None:
            continue
        starts = [i for i in sentence if phrase_at(words, i, CLIMATE_SUBJECTS) or words[i] == "it"]
        first = starts[0]
        subject = phrase_at(words, first, CLIMATE_SUBJECTS) or "it"
        out.append({"words": [words[i] for i in sentence], "start": sentence.start, "subject": subject,
                    "clause": clause, "opener": " ".join(words[sentence.start:first])})
    return out


def _climate_thing(subject: str) -> tuple[str, ...]:
    return next((group for group in climate.CLIMATE_SAME_THING if subject in group), (subject,))


def test_a_second_opinion_is_about_another_thing(post_examples):
    """Never "climate change is real. Global warming is a hoax."; a change of side reads as a contrast."""
    contrasts = agreements = 0
    for e in post_examples:
        opinions = [s for s in stance_sentences(e) if s["subject"] != "it"]
        if len(opinions) != 2 or any(c.direction[3] for c in e.clauses) or any(c.direction[1] for c in e.clauses):
            continue
        first, second = opinions
        assert _climate_thing(first["subject"]) != _climate_thing(second["subject"]), e.text
        same_side = (first["clause"].contribution([True] * len(e.words)) > 0) == (
            second["clause"].contribution([True] * len(e.words)) > 0)
        threat = [s["subject"] in climate.CLIMATE_THREATS for s in (first, second)]
        if same_side:
            agreements += 1
            assert second["opener"] not in {normalize_word(c) for c in climate.CLIMATE_CONTRASTS}, e.text
        else:
            contrasts += 1
            assert threat[0] != threat[1], e.text  # a threat and an action: both views can be held
            assert second["opener"] in {normalize_word(c) for c in climate.CLIMATE_CONTRASTS}, e.text
    assert contrasts > 20 and agreements > 40


def test_an_aside_refers_to_what_the_mention_names(post_examples):
    """"We discussed melting ice in class today. It seems a lie.": the opinion is about melting ice."""
    asides = 0
    for e in post_examples:
        mention = next((c for c in e.clauses if c.direction[1]), None)
        if mention is None:
            continue
        sentences = sentences_of(e)
        at = next(k for k, r in enumerate(sentences) if mention.evidence in r)
        for s in stance_sentences(e):
            assert s["subject"] == "it", e.text
            assert sentences[at + 1].start == s["start"], e.text  # right after the mention
            asides += 1
    assert asides > 50


def test_small_talk_comes_first_or_last(post_examples):
    """"... My coffee went cold. It does not seem wasteful." would make "it" the coffee."""
    placed = 0
    for e in post_examples:
        sentences = sentences_of(e)
        idle = [k for k, r in enumerate(sentences) if not any(c.evidence in r for c in e.clauses)]
        assert all(k in (0, len(sentences) - 1) for k in idle), e.text
        placed += bool(idle) and len(sentences) > 2
    assert placed > 50


def test_stances_fit_their_subject_and_modifier(post_examples):
    """No "somewhat fabricated", "perhaps real for sure", "is not undeniable", "melting ice is alarmist"."""
    certain = {"for sure", "and everyone knows it", "let me say it:"}
    for e in post_examples:
        for c in e.clauses:
            sentence = next(r for r in sentences_of(e) if c.evidence in r)
            text = " ".join(e.words[i].lower() for i in sentence)
            word = normalize_word(e.words[c.evidence])
            if c.modifier is not None and normalize_word(e.words[c.modifier]) == "somewhat":
                assert word in climate._SOMEWHAT_FITS, e.text
            if c.modifier is not None and normalize_word(e.words[c.modifier]) in climate.CLIMATE_HEDGES:
                assert not any(phrase in text for phrase in certain), e.text
            if c.negation is not None:
                assert word != "undeniable", e.text
        for s in stance_sentences(e):
            word = normalize_word(e.words[s["clause"].evidence])
            named = s["subject"]
            if named != "it":
                assert named in climate.CLIMATE_NARROW.get(word, (named,)), e.text


def test_numbers_are_plausible(posts):
    for text in posts["text"]:
        words = [normalize_word(w) for w in text.split()]
        for i, word in enumerate(words[:-1]):
            if word.isdigit() and words[i + 1] == "percent":
                assert int(word) <= 40, text
            if word.isdigit() and words[i + 1] == "centimetres":
                assert int(word) <= 25, text
            if word.isdigit() and words[i - 1] in ("in", "since") and words[i + 1:i + 2] != ["years"]:
                assert 1990 <= int(word) <= 2020, text
