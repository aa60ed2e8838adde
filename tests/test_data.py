"""Tests for course_utils.data: the generated review and climate corpora and their loaders' contracts."""

from __future__ import annotations

import datasets
import pytest

from course_utils import data
from course_utils.data import load_reviews

SENTIMENT = set(data.POSITIVE_WORDS) | set(data.NEGATIVE_WORDS)


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


def polarity_from_rationale(text: str, rationale: list[int]) -> set[int]:
    """Labels implied by the flagged words: a flagged negation flips the next sentiment word."""
    implied, negated = set(), False
    for word, flag in zip(text.split(), rationale):
        core = data.normalize_word(word)
        if not flag:
            continue
        if core in data.NEGATIONS:
            negated = True
        else:
            implied.add(int(core in data.POSITIVE_WORDS) ^ int(negated))
            negated = False
    return implied


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
    assert min(lengths) >= data.MIN_WORDS and max(lengths) <= data.MAX_WORDS
    assert len(set(reviews["text"])) == len(reviews)


def test_capitalisation_and_periods(reviews):
    for text, rationale in zip(reviews["text"], reviews["rationale"]):
        assert text.endswith("."), text
        for sentence in sentences(text, rationale):
            first, *rest = (w for w, _ in sentence)
            assert first[0].isupper(), text
            assert all(w == w.lower() or w == "I" for w in rest), text


# ---------------------------------------------------------------- rationale semantics
def test_only_sentiment_words_and_negations_are_flagged(reviews):
    for text, rationale in zip(reviews["text"], reviews["rationale"]):
        flagged = {data.normalize_word(w) for w, f in zip(text.split(), rationale) if f}
        assert flagged <= SENTIMENT | set(data.NEGATIONS), text
        assert not flagged & set(data.INTENSIFIERS)


def test_label_follows_from_the_rationale(reviews):
    for row in reviews:
        assert polarity_from_rationale(row["text"], row["rationale"]) == {row["label"]}, row["text"]


def test_negation_flips_the_label(reviews):
    negated = reviews.filter(data.is_negated)
    assert len(negated) >= 0.15 * len(reviews)
    flipped_positive = flipped_negative = 0
    for row in negated:
        flagged = [data.normalize_word(w) for w, f in zip(row["text"].split(), row["rationale"]) if f]
        for before, word in zip(flagged, flagged[1:]):
            if before in data.NEGATIONS and word in data.POSITIVE_WORDS:
                assert row["label"] == 0, row["text"]  # "not great" is negative
                flipped_positive += 1
            if before in data.NEGATIONS and word in data.NEGATIVE_WORDS:
                assert row["label"] == 1, row["text"]  # "never boring" is positive
                flipped_negative += 1
    assert flipped_positive > 20 and flipped_negative > 20


def test_mixed_reviews_take_the_label_after_but(reviews):
    mixed = reviews.filter(data.is_mixed)
    assert len(mixed) >= 0.1 * len(reviews)
    for row in mixed:
        for sentence in sentences(row["text"], row["rationale"]):
            words = [data.normalize_word(w) for w, _ in sentence]
            if "but" not in words:
                continue
            cut = words.index("but")
            before = sentence[:cut]
            assert all(flag == 0 for _, flag in before), row["text"]  # overridden clause
            assert any(flag for _, flag in sentence[cut + 1 :]), row["text"]
            # The overridden clause says the opposite of the label.
            negated = any(w in data.NEGATIONS for w in words[:cut])
            word = next(w for w in words[:cut] if w in SENTIMENT)
            assert int(word in data.POSITIVE_WORDS) ^ int(negated) == 1 - row["label"], row["text"]


def test_word_lists_are_disjoint_and_large_enough():
    assert len(data.POSITIVE_WORDS) >= 15 and len(data.NEGATIVE_WORDS) >= 15
    assert not set(data.POSITIVE_WORDS) & set(data.NEGATIVE_WORDS)
    filler_words = {
        data.normalize_word(w)
        for phrase in (*data.LEAD_FILLERS, *data.TRAIL_FILLERS, *data.NEUTRAL_SENTENCES, *data.SUBJECTS)
        for w in phrase.split()
    }
    assert not filler_words & (SENTIMENT | set(data.NEGATIONS) | {"but"})


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

CLIMATE_PRO = set(data.THREAT_PRO_WORDS) | set(data.ACTION_PRO_WORDS)
CLIMATE_ANTI = set(data.THREAT_ANTI_WORDS) | set(data.ACTION_ANTI_WORDS)
NEUTRAL_CUES = {w.strip("*?") for t in data.NEUTRAL_TEMPLATES for w in t.split() if w.startswith("*")}
ANTI, NEUTRAL, PRO, NEWS = range(4)


def cue(phrase: str) -> str:
    """The flagged word of a stance phrase: "a hoax" -> "hoax"."""
    return phrase.split()[-1]


@pytest.fixture(scope="module")
def posts() -> datasets.Dataset:
    return load_climate(n=2000, seed=0, source="generated")


def climate_label_from_rationale(text: str, rationale: list[int]) -> set[int]:
    """Classes implied by the flagged words: a flagged negation flips the next stance word."""
    implied, negated = set(), False
    for word, flag in zip(text.split(), rationale):
        core = data.normalize_word(word)
        if not flag:
            continue
        if core in data.CLIMATE_NEGATIONS:
            negated = True
        elif core in data.NEWS_VERBS:
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


def test_climate_columns_and_types(posts):
    assert posts.column_names == ["text", "label", "rationale"]
    assert posts.features["label"].names == ["anti", "neutral", "pro", "news"]
    row = posts[0]
    assert isinstance(row["text"], str) and isinstance(row["label"], int)
    assert isinstance(row["rationale"], list) and all(isinstance(f, int) for f in row["rationale"])


def test_climate_labels_are_balanced(posts):
    assert [list(posts["label"]).count(k) for k in range(4)] == [500] * 4
    for split, size in (("train", 400), ("test", 100)):  # each split balanced by construction
        labels = list(load_climate(2000, split=split)["label"])
        assert [labels.count(k) for k in range(4)] == [size] * 4, split
    for n in (37, 203, 1001):  # any n: counts within one block of four of each other
        for split in (None, "train", "test"):
            labels = list(load_climate(n, split=split)["label"])
            counts = [labels.count(k) for k in range(4)]
            assert max(counts) - min(counts) <= 2, (n, split, counts)


def test_climate_rationale_has_one_flag_per_word(posts):
    for text, rationale in zip(posts["text"], posts["rationale"]):
        assert len(rationale) == len(text.split()), text
        assert set(rationale) <= {0, 1} and sum(rationale) >= 1, text


def test_climate_lengths_and_no_duplicates(posts):
    lengths = [len(t.split()) for t in posts["text"]]
    assert min(lengths) >= data.MIN_CLIMATE_WORDS and max(lengths) <= data.MAX_CLIMATE_WORDS
    assert len(set(posts["text"])) == len(posts)


def test_climate_label_follows_from_the_rationale(posts):
    for row in posts:
        assert climate_label_from_rationale(row["text"], row["rationale"]) == {row["label"]}, row["text"]


def test_climate_negation_flips_pro_and_anti(posts):
    negated = posts.filter(data.is_climate_negated)
    assert len(negated) >= 0.1 * len(posts)
    assert {row["label"] for row in negated} == {ANTI, PRO}
    flips = {ANTI: 0, PRO: 0}
    for row in negated:
        flagged = [data.normalize_word(w) for w, f in zip(row["text"].split(), row["rationale"]) if f]
        for before, word in zip(flagged, flagged[1:]):
            if before in data.CLIMATE_NEGATIONS:
                expected = ANTI if word in {cue(p) for p in CLIMATE_PRO} else PRO  # "not real" is anti
                assert row["label"] == expected, row["text"]
                flips[expected] += 1
    assert min(flips.values()) > 20


def test_climate_fillers_are_never_flagged(posts):
    for text, rationale in zip(posts["text"], posts["rationale"]):
        for word, flag in zip(text.split(), rationale):
            core = data.normalize_word(word)
            if word.startswith(("#", "@")) or core.isdigit() or core in data.CLIMATE_HEDGES:
                assert flag == 0, (word, text)


def test_climate_surface_features_do_not_give_the_label_away(posts):
    """Hashtags and @mentions occur in every class, numbers in more than the news."""
    def classes(predicate) -> set[int]:
        return {row["label"] for row in posts if any(predicate(w) for w in row["text"].split())}

    assert classes(lambda w: w.startswith("#")) == {ANTI, NEUTRAL, PRO, NEWS}
    assert classes(lambda w: w.startswith("@")) == {ANTI, NEUTRAL, PRO, NEWS}
    assert classes(lambda w: data.normalize_word(w).isdigit()) == {ANTI, NEUTRAL, PRO, NEWS}
    hedged = [row for row in posts if any(data.normalize_word(w) in data.CLIMATE_HEDGES for w in row["text"].split())]
    assert {row["label"] for row in hedged} == {ANTI, PRO}


def test_climate_word_lists_are_disjoint():
    assert not {cue(p) for p in CLIMATE_PRO} & {cue(p) for p in CLIMATE_ANTI}
    cues = {cue(p) for p in CLIMATE_PRO | CLIMATE_ANTI} | NEUTRAL_CUES | set(data.NEWS_VERBS)
    fillers = {
        data.normalize_word(w)
        for phrase in (*data.CLIMATE_THREATS, *data.CLIMATE_ACTIONS, *data.CLIMATE_LEADS, *data.CLIMATE_TRAILS,
                       *data.SMALL_TALK, *data.NEWS_SOURCES, *data.NEWS_FACTS, *data.CLIMATE_HEDGES)
        for w in phrase.split()
    }
    assert not fillers & (cues | set(data.CLIMATE_NEGATIONS))


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
