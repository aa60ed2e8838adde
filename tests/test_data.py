"""Tests for the generated review and climate corpora (course_utils.reviews, .climate, .labels)
and their loaders' contracts (course_utils.data)."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from course_utils import climate, data
from course_utils import reviews as review_grammar  # `reviews` is the dataset fixture below
from course_utils.data import load_reviews
from course_utils.labels import GeneratedExample, normalize_word

SENTIMENT = set(review_grammar.POSITIVE_WORDS) | set(review_grammar.NEGATIVE_WORDS)


@pytest.fixture(scope="module")
def reviews() -> datasets.Dataset:
    return load_reviews(n=2000, seed=0, source="generated")


def sentences(text: str, rationale: list[int]) -> list[list[tuple[str, int]]]:
    """Split a review into sentences of (word, flag) pairs."""
    out: list[list[tuple[str, int]]] = [[]]
    for word, flag in zip(text.split(), rationale):
        out[-1].append((word, flag))
        if word.endswith("."):
            out.append([])
    return [s for s in out if s]


# ---------------------------------------------------------------- determinism and shape
def test_same_seed_gives_the_same_dataset():
    assert load_reviews(300, seed=3, source="generated").to_dict() == load_reviews(300, seed=3, source="generated").to_dict()


def test_different_seeds_give_different_datasets():
    assert load_reviews(300, seed=0, source="generated")["text"] != load_reviews(300, seed=1, source="generated")["text"]


def test_smaller_n_is_a_prefix():
    assert load_reviews(50, source="generated")["text"] == load_reviews(400, source="generated")["text"][:50]


def test_columns_and_types(reviews):
    assert reviews.column_names == ["text", "label", "rationale"]
    assert reviews.features["label"].names == ["negative", "positive"]
    row = reviews[0]
    assert isinstance(row["text"], str)
    assert isinstance(row["label"], int)
    assert isinstance(row["rationale"], list) and all(isinstance(f, int) for f in row["rationale"])
    assert set(reviews["label"]) == {0, 1}


def test_rationale_has_one_flag_per_word(reviews):
    for text, rationale in zip(reviews["text"], reviews["rationale"]):
        assert len(rationale) == len(text.split()), text
        assert set(rationale) <= {0, 1}


def test_every_review_has_a_deciding_word(reviews):
    assert all(sum(r) >= 1 for r in reviews["rationale"])


def test_labels_are_balanced(reviews):
    for split in ("train", "test"):
        labels = load_reviews(2000, source="generated", split=split)["label"]
        assert 0.4 <= sum(labels) / len(labels) <= 0.6, split
    assert 0.4 <= sum(reviews["label"]) / len(reviews) <= 0.6


def test_lengths_and_no_duplicates(reviews):
    lengths = [len(t.split()) for t in reviews["text"]]
    assert min(lengths) >= review_grammar.MIN_WORDS and max(lengths) <= review_grammar.MAX_WORDS
    assert len(set(reviews["text"])) == len(reviews)


def test_capitalisation_and_periods(reviews):
    for text, rationale in zip(reviews["text"], reviews["rationale"]):
        assert text.endswith("."), text
        for sentence in sentences(text, rationale):
            first, *rest = (w for w, _ in sentence)
            assert first[0].isupper(), text
            assert all(w == w.lower() or w == "I" for w in rest), text


# ---------------------------------------------------------------- rationale and label model
@pytest.fixture(scope="module")
def examples() -> list[GeneratedExample]:
    return review_grammar.review_examples(2000, 0)


def test_examples_are_the_dataset(reviews, examples):
    assert [e.text for e in examples] == list(reviews["text"])
    assert [e.label for e in examples] == list(reviews["label"])
    assert [list(e.rationale) for e in examples] == list(reviews["rationale"])


def test_only_sentiment_words_and_negations_are_flagged(reviews):
    for text, rationale in zip(reviews["text"], reviews["rationale"]):
        flagged = {normalize_word(w) for w, f in zip(text.split(), rationale) if f}
        assert flagged <= SENTIMENT | set(review_grammar.NEGATIONS), text
        assert not flagged & set(review_grammar.INTENSIFIERS)


def test_distractor_sentiment_words_are_not_flagged(examples):
    """"The hero is a brilliant detective": a sentiment word about something else is no evidence."""
    distractors = 0
    for e in examples:
        for word, flag, role in zip(e.words, e.rationale, e.roles):
            if normalize_word(word) in SENTIMENT and role == "other":
                distractors += 1
                assert flag == 0, e.text
            if flag:
                assert role in ("evidence", "negation"), e.text
    assert distractors > 100


def test_label_is_drawn_from_the_label_model(examples):
    """Labels follow the label model's probabilities: calibrated, and not always its argmax."""
    p = np.array([e.probabilities()[1] for e in examples])
    y = np.array([e.label for e in examples])
    agree = ((p > 0.5) == (y == 1)).mean()
    assert 0.8 < agree < 0.95  # some reviews are ambiguous, some labels wrong
    for low, high in ((0.0, 0.2), (0.2, 0.5), (0.5, 0.8), (0.8, 1.0)):
        band = (p >= low) & (p < high)
        assert band.sum() > 100, (low, high)
        mean = p[band].mean()
        assert abs(y[band].mean() - mean) < 3.5 * np.sqrt(mean * (1 - mean) / band.sum()), (low, high)


def test_the_corpus_is_hard_but_learnable(examples):
    p = np.array([max(e.probabilities()) for e in examples])
    y = np.array([e.label for e in examples])
    predicted = np.array([int(e.probabilities()[1] > 0.5) for e in examples])
    assert 0.85 < (predicted == y).mean() < 0.93  # the best any classifier can do
    assert np.median(p) < 0.97 and (p < 0.8).mean() > 0.12


def test_strengths_are_graded():
    s = review_grammar.STRENGTH
    assert s["superb"] > s["great"] > s["good"] > s["decent"] > s["fine"] > 0
    assert s["awful"] > s["boring"] > s["mediocre"] > s["uneven"] > 0
    assert set(s) == SENTIMENT and len(review_grammar.POSITIVE_WORDS) >= 20 and len(review_grammar.NEGATIVE_WORDS) >= 18


def _single_clause(examples, role):
    """Reviews with exactly one evidence clause that has a word of ``role`` (negation/modifier)."""
    return [e for e in examples if len(e.clauses) == 1 and role in e.roles]


def test_masking_the_evidence_leaves_no_opinion(examples):
    for e in examples[:300]:
        kept = [role != "evidence" for role in e.roles]
        assert e.probabilities(kept) == pytest.approx((0.5, 0.5))
        readable = [r in ("evidence", "negation", "modifier") for r in e.roles]
        assert e.probabilities(readable) == pytest.approx(e.probabilities())  # fillers do not count


def test_negation_flips_and_weakens(examples):
    negated = _single_clause(examples, "negation")
    assert len(negated) > 30
    for e in negated:
        p = e.probabilities()[1]
        without = e.probabilities([role != "negation" for role in e.roles])[1]
        assert (p - 0.5) * (without - 0.5) < 0, e.text  # "not great" vs "great"
        assert abs(p - 0.5) < abs(without - 0.5), e.text


def test_boosters_and_hedges_scale_the_evidence(examples):
    modified = [e for e in _single_clause(examples, "modifier") if "negation" not in e.roles]
    assert len(modified) > 30
    kinds = set()
    for e in modified:
        word = next(normalize_word(w) for w, r in zip(e.words, e.roles) if r == "modifier")
        p = abs(e.probabilities()[1] - 0.5)
        without = abs(e.probabilities([role != "modifier" for role in e.roles])[1] - 0.5)
        kinds.add(word in review_grammar.BOOSTERS)
        assert (p > without) if word in review_grammar.BOOSTERS else (p < without), e.text
    assert kinds == {True, False}


def test_the_clause_after_but_counts_more():
    checked = 0
    for e in review_grammar.review_examples(20000, 0):
        if len(e.clauses) != 2 or "contrast" not in e.roles or "modifier" in e.roles or "negation" in e.roles:
            continue
        first, second = (abs(c.strength) for c in e.clauses)
        if first == second:
            p = e.probabilities()[1]
            assert (p > 0.5) == (e.clauses[1].strength > 0), e.text
            checked += 1
    assert checked > 10


def test_mixed_and_negated_reviews_are_common(reviews):
    assert len(reviews.filter(review_grammar.is_mixed)) >= 0.1 * len(reviews)
    assert len(reviews.filter(review_grammar.is_negated)) >= 0.15 * len(reviews)


def test_word_lists_are_disjoint_and_large_enough():
    assert not set(review_grammar.POSITIVE_WORDS) & set(review_grammar.NEGATIVE_WORDS)
    filler_words = {
        normalize_word(w)
        for phrase in (*review_grammar.LEAD_FILLERS, *review_grammar.TRAIL_FILLERS, *review_grammar.NEUTRAL_SENTENCES,
                       *review_grammar.SUBJECTS)
        for w in phrase.split()
    }
    assert not filler_words & (SENTIMENT | set(review_grammar.NEGATIONS) | set(review_grammar.INTENSIFIERS) | {"but"})


# ---------------------------------------------------------------- coherence: a review reads as one person's
def _sentences_of(e: GeneratedExample) -> list[range]:
    """Word ranges of the example's sentences."""
    out, start = [], 0
    for i, word in enumerate(e.words):
        if word.endswith((".", "?")):
            out.append(range(start, i + 1))
            start = i + 1
    return out


def _phrase_at(words: list[str], i: int, phrases) -> str | None:
    """The longest of ``phrases`` that starts at word ``i`` (words normalised)."""
    found = [p for p in phrases if words[i:i + len(p.split())] == p.split()]
    return max(found, key=len, default=None)


def review_clauses(e: GeneratedExample) -> list[dict]:
    """Each evidence clause of a review: its subject, verb, modifier, sentiment word and trail."""
    words = [normalize_word(w) for w in e.words]
    clauses = []
    for sentence in _sentences_of(e):
        # a clause runs from its subject to "but" or the end of the sentence
        starts = [i for i in sentence if _phrase_at(words, i, review_grammar.SUBJECTS) and e.roles[i] == "other"]
        for start in starts:
            stop = next((i for i in range(start, sentence.stop) if e.roles[i] == "contrast"), sentence.stop)
            evidence = [i for i in range(start, stop) if e.roles[i] == "evidence"]
            if not evidence:
                continue  # "the story follows a delightful family": a distractor, not a verdict
            subject = _phrase_at(words, start, review_grammar.SUBJECTS)
            after_subject = start + len(subject.split())
            clauses.append({
                "subject": subject,
                "verb": " ".join(words[after_subject:evidence[0]]),
                "word": words[evidence[0]],
                "negated": any(e.roles[i] == "negation" for i in range(start, stop)),
                "modifier": next((words[i] for i in range(start, stop) if e.roles[i] == "modifier"), None),
                "trail": " ".join(words[evidence[0] + 1:stop]),
                "clause": next(c for c in e.clauses if c.evidence == evidence[0]),
            })
    return clauses


def _same_thing(subject: str) -> tuple[str, ...]:
    return next((group for group in review_grammar.SAME_THING if subject in group), (subject,))


def test_every_verdict_has_one_subject(examples):
    for e in examples:
        assert len(review_clauses(e)) == len(e.clauses), e.text


def test_a_review_judges_each_thing_once(examples):
    """Not "the movie was great. ... this film was awful" nor "the plot ... the plot"."""
    for e in examples:
        things = [_same_thing(c["subject"]) for c in review_clauses(e)]
        assert len(things) == len(set(things)), e.text


def test_a_review_keeps_to_one_tense(examples):
    tenses = set()
    for e in examples:
        present = {c["verb"].split()[0] in ("is", "does", "feels", "seems") or c["verb"].startswith("never feels")
                   or c["verb"].startswith("never seems") for c in review_clauses(e)}
        assert len(present) == 1, e.text
        tenses |= present
    assert tenses == {True, False}


def test_fillers_words_and_sentences_are_used_once(examples):
    """No "It is about a charming chef. It is about an unwatchable chef.", no word said twice."""
    repeated_modifiers = 0
    for e in examples:
        text = " " + " ".join(normalize_word(w) for w in e.words) + " "
        for phrase in (*review_grammar.LEAD_FILLERS, *review_grammar.TRAIL_FILLERS, *review_grammar.NEUTRAL_SENTENCES):
            assert text.count(" " + normalize_word(phrase) + " ") <= 1, (phrase, e.text)
        said = [normalize_word(w) for w in e.words if normalize_word(w) in SENTIMENT]
        assert len(said) == len(set(said)), e.text
        modifiers = [normalize_word(w) for w, r in zip(e.words, e.roles) if r == "modifier"]
        repeated_modifiers += len(modifiers) > len(set(modifiers))
    assert repeated_modifiers < 0.02 * len(examples)  # only when every modifier that fits is used


def test_trails_fit_the_clause_they_follow(examples):
    """Outings after the film told in the past; spans not after a moment, a negation or a hedge."""
    seen = set()
    for e in examples:
        for c in review_clauses(e):
            trail = c["trail"]
            if not trail:
                continue
            seen.add(trail)
            assert trail in review_grammar.TRAIL_FILLERS, e.text
            if trail in review_grammar.VIEWING_TRAILS:
                # not "the camera work was bland with my sister"
                assert c["subject"] in review_grammar.FILM_SUBJECTS, e.text
                assert c["verb"].split()[0] in ("was", "felt", "seemed", "did", "never"), e.text
                assert not c["verb"].startswith(("never feels", "never seems")), e.text
            if trail in review_grammar.SPAN_TRAILS:
                assert c["subject"] not in review_grammar.MOMENT_SUBJECTS, e.text
                assert not c["negated"] and c["modifier"] not in review_grammar.HEDGES, e.text
    assert seen == set(review_grammar.TRAIL_FILLERS)


def test_a_review_tells_at_most_one_way_it_was_watched(examples):
    """Never "I watched it at home." and "I went to the cinema last night." in one review."""
    told = 0
    for e in examples:
        sentences = [" ".join(normalize_word(e.words[i]) for i in r) for r in _sentences_of(e)]
        outings = [c["trail"] for c in review_clauses(e) if c["trail"] in review_grammar.VIEWING_TRAILS]
        outings += [s for s in sentences if s in {normalize_word(v) for v in review_grammar.VIEWING_SENTENCES}]
        assert len(outings) <= 1, e.text
        told += len(outings)
    assert told > 100


def test_sentiment_words_fit_their_subject(examples):
    for e in examples:
        for c in review_clauses(e):
            assert c["subject"] in review_grammar.NARROW_WORDS.get(c["word"], (c["subject"],)), e.text


def test_distractors_fit_what_they_describe(examples):
    """"a clumsy detective", never "an unwatchable chef"; one protagonist per review."""
    used = 0
    for e in examples:
        heroes = 0
        for sentence in _sentences_of(e):
            text = " ".join(normalize_word(e.words[i]) for i in sentence)
            for template, fitting in review_grammar.DISTRACTOR_WORDS.items():
                head, tail = (part.replace("{a} ", "").strip() for part in template.split("{w}"))
                head = head.replace("{a}", "")
                match = [w for w in SENTIMENT if text in (f"{head} a {w} {tail}".replace("  ", " ").strip(),
                                                          f"{head} an {w} {tail}".replace("  ", " ").strip(),
                                                          f"{head} {w} {tail}".replace("  ", " ").strip())]
                if match:
                    used += 1
                    assert match[0] in fitting, e.text
                    heroes += template.startswith(("it is about", "the hero", "the heroine", "the story follows"))
        assert heroes <= 1, e.text
    assert used > 200


def test_a_verdict_on_the_whole_film_goes_with_the_rest(examples):
    """"The movie was dull" in a review whose other verdicts add up to praise reads as a mistake."""
    checked = 0
    for e in examples:
        clauses = review_clauses(e)
        film = [c for c in clauses if c["subject"] in review_grammar.FILM_SUBJECTS]
        if not film:
            continue
        everything = [True] * len(e.words)
        rest = sum(c["clause"].contribution(everything) for c in clauses if c not in film)
        if rest != 0:
            assert (film[0]["clause"].contribution(everything) > 0) == (rest > 0), e.text
            checked += 1
    assert checked > 100


# ---------------------------------------------------------------- splits
def test_split_sizes_and_disjointness():
    everything = load_reviews(1000, source="generated")
    train = load_reviews(1000, source="generated", split="train")
    test = load_reviews(1000, source="generated", split="test")
    assert (len(train), len(test)) == (800, 200)
    assert not set(train["text"]) & set(test["text"])
    assert set(train["text"]) | set(test["text"]) == set(everything["text"])


def test_test_split_is_held_out_whatever_n():
    small_test = set(load_reviews(100, source="generated", split="test")["text"])
    assert small_test <= set(load_reviews(1000, source="generated", split="test")["text"])
    assert not small_test & set(load_reviews(1000, source="generated", split="train")["text"])


# ---------------------------------------------------------------- arguments and sources
@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"n": 0}, ValueError, "positive int"),
        ({"n": -5}, ValueError, "positive int"),
        ({"n": 2.5}, TypeError, "positive int"),
        ({"n": "100"}, TypeError, "positive int"),
        ({"n": True}, TypeError, "positive int"),
        ({"seed": "0"}, TypeError, "seed"),
        ({"split": "valid"}, ValueError, "'train', 'test'"),
        ({"source": "web"}, ValueError, "'generated'"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        load_reviews(**kwargs)


def test_auto_source_is_generated_offline():
    # conftest sets COURSE_OFFLINE=1
    auto = load_reviews(40)
    assert "rationale" in auto.column_names
    assert auto["text"] == load_reviews(40, source="generated")["text"]


class _FakeHub:
    """Stands in for datasets.load_dataset: records the call, returns a tiny IMDB."""

    def __init__(self, size: int = 30) -> None:
        self.calls: list[tuple] = []
        self.size = size

    def __call__(self, path, revision=None, split=None, **kwargs):
        self.calls.append((path, revision, split))
        size = self.size
        return datasets.Dataset.from_dict(
            {"text": [f"{split} review {i}" for i in range(size)], "label": [i % 2 for i in range(size)]}
        )


def test_imdb_source_uses_the_pinned_revision(monkeypatch):
    fake = _FakeHub()
    monkeypatch.setattr(data.datasets, "load_dataset", fake)
    imdb = load_reviews(60, seed=1, split="test", source="imdb")
    assert fake.calls == [(data.IMDB_ID, data.IMDB_REVISION, "test")]
    assert len(data.IMDB_REVISION) == 40
    assert imdb.column_names == ["text", "label"]  # no ground-truth rationales for IMDB
    assert len(imdb) == 12 and all(t.startswith("test review") for t in imdb["text"])
    both = load_reviews(50, source="imdb")  # split=None draws from train and test
    assert len(both) == 50 and {t.split()[0] for t in both["text"]} == {"train", "test"}


@pytest.mark.parametrize("n", [4000, 1000, 33, 7])
def test_imdb_and_generated_give_the_same_split_sizes(n, monkeypatch):
    """The docstring's n // 5 test reviews, online as offline: a lab prints the same count."""
    monkeypatch.setattr(data.datasets, "load_dataset", _FakeHub(size=5000))
    for split, size in [("test", n // 5), ("train", n - n // 5), (None, n)]:
        assert len(load_reviews(n, split=split, source="imdb")) == size, split
        assert len(load_reviews(n, split=split, source="generated")) == size, split


def test_auto_source_falls_back_when_imdb_fails(monkeypatch, capsys):
    import course_utils.models

    def unreachable(*args, **kwargs):
        raise ConnectionError("no route to huggingface.co")

    monkeypatch.setattr(course_utils.models, "is_offline", lambda timeout=2.0: False)
    monkeypatch.setattr(data.datasets, "load_dataset", unreachable)
    fallback = load_reviews(20)
    assert fallback["text"] == load_reviews(20, source="generated")["text"]
    assert "generated corpus" in capsys.readouterr().out


# ================================================================ the climate corpus
from course_utils.data import load_climate  # noqa: E402

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
    for sentence in _sentences_of(e):
        clause = next((c for c in e.clauses if c.evidence in sentence and c.direction[0] != 0), None)
        if clause is None:
            continue
        starts = [i for i in sentence if _phrase_at(words, i, CLIMATE_SUBJECTS) or words[i] == "it"]
        first = starts[0]
        subject = _phrase_at(words, first, CLIMATE_SUBJECTS) or "it"
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
        sentences = _sentences_of(e)
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
        sentences = _sentences_of(e)
        idle = [k for k, r in enumerate(sentences) if not any(c.evidence in r for c in e.clauses)]
        assert all(k in (0, len(sentences) - 1) for k in idle), e.text
        placed += bool(idle) and len(sentences) > 2
    assert placed > 50


def test_stances_fit_their_subject_and_modifier(post_examples):
    """No "somewhat fabricated", "perhaps real for sure", "is not undeniable", "melting ice is alarmist"."""
    certain = {"for sure", "and everyone knows it", "let me say it:"}
    for e in post_examples:
        for c in e.clauses:
            sentence = next(r for r in _sentences_of(e) if c.evidence in r)
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


def test_label_confidence_is_the_label_models_probability_of_each_drawn_label():
    reviews = load_reviews(200, seed=4, split="test", source="generated")
    examples = review_grammar.review_examples(200, 4)
    held_out = [examples[i] for i in range(200) if i % 5 == 4]
    confidence = data.label_confidence(200, seed=4, split="test")
    assert [e.text for e in held_out] == reviews["text"]
    assert confidence == [e.probabilities()[e.label] for e in held_out]
    assert min(confidence) < 0.5 < 0.8 < max(confidence)  # some drawn labels go against their text
    posts = data.label_confidence(100, seed=2, corpus="climate")
    assert posts == [e.probabilities()[e.label] for e in climate.climate_examples(100, 2)]
    with pytest.raises(ValueError, match="'reviews' or 'climate'"):
        data.label_confidence(10, corpus="imdb")
