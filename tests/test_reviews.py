"""The generated review corpus (course_utils.reviews on course_utils.labels' label model) and
its loader's contract (course_utils.data.load_reviews)."""

from __future__ import annotations

import datasets
import numpy as np
import pytest

from corpus_text import phrase_at, sentences_of
from course_utils import data
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
def review_clauses(e: GeneratedExample) -> list[dict]:
    """Each evidence clause of a review: its subject, verb, modifier, sentiment word and trail."""
    words = [normalize_word(w) for w in e.words]
    clauses = []
    for sentence in sentences_of(e):
        # a clause runs from its subject to "but" or the end of the sentence
        starts = [i for i in sentence if phrase_at(words, i, review_grammar.SUBJECTS) and e.roles[i] == "other"]
        for start in starts:
            stop = next((i for i in range(start, sentence.stop) if e.roles[i] == "contrast"), sentence.stop)
            evidence = [i for i in range(start, stop) if e.roles[i] == "evidence"]
            if not evidence:
                continue  # "the story follows a delightful family": a distractor, not a verdict
            subject = phrase_at(words, start, review_grammar.SUBJECTS)
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
        sentences = [" ".join(normalize_word(e.words[i]) for i in r) for r in sentences_of(e)]
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
        for sentence in sentences_of(e):
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
