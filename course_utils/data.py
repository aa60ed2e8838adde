"""Corpora for the labs, returned as ``datasets.Dataset``: movie reviews, climate posts, prompts.

``load_reviews`` has two sources:

* ``"generated"`` -- movie reviews written by a seeded grammar (``course_utils.reviews``).
  Every example records which words carry its verdict (the ``rationale`` column), so
  explanations can be scored against the truth. Works offline, identical on every machine.
* ``"imdb"`` -- the real IMDB corpus from the Hugging Face hub at a pinned revision.
  It has no ground-truth rationales, so that column is absent.

``source="auto"`` picks IMDB when the hub answers and the generated corpus otherwise.

``load_climate`` returns short posts about climate change in four classes (anti, neutral,
pro, news), written by a second grammar (``course_utils.climate``) with the same
``rationale`` column. It has no online source.

Both grammars label their texts with the label model of ``course_utils.labels``: a label is
drawn from class probabilities that the flagged words decide, so some labels go against
their text, as in a real corpus; ``label_confidence`` says how sure the model is of each.

``load_continuations`` returns prompts for a language model, each with the next token that
continues it rightly, one that would be wrong, and the earlier words that decide between them
(``cue_words``), written by a third grammar (``course_utils.continuations``).

Nothing is downloaded or generated at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets

from course_utils.climate import CLIMATE_LABEL_NAMES, climate_examples
from course_utils.continuations import generate
from course_utils.labels import GeneratedExample, split_indices
from course_utils.reviews import LABEL_NAMES, review_examples

__all__ = [
    "CLIMATE_SOURCES",
    "IMDB_ID",
    "IMDB_REVISION",
    "SOURCES",
    "SPLITS",
    "label_confidence",
    "load_climate",
    "load_continuations",
    "load_reviews",
]

SPLITS: tuple[None, str, str] = (None, "train", "test")
SOURCES: tuple[str, ...] = ("auto", "generated", "imdb")
CLIMATE_SOURCES: tuple[str, ...] = ("auto", "generated")

# Online corpus. Revision = the dataset repo commit several public projects pin for
# stanfordnlp/imdb (train/test parquet files); check it when online before relying on it.
IMDB_ID = "stanfordnlp/imdb"
IMDB_REVISION = "e6281661ce1c48d982bc483cf8a173c1bbeb5d31"


def _columns(examples: Sequence[GeneratedExample]) -> dict[str, list]:
    return {
        "text": [e.text for e in examples],
        "label": [e.label for e in examples],
        "rationale": [list(e.rationale) for e in examples],
    }


def _features(with_rationale: bool) -> datasets.Features:
    """Column types: label is a ClassLabel (stored as int) so label names travel with the data."""
    columns: dict[str, Any] = {
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=list(LABEL_NAMES)),
    }
    if with_rationale:
        list_type = getattr(datasets, "List", None) or datasets.Sequence
        columns["rationale"] = list_type(datasets.Value("int64"))
    return datasets.Features(columns)


def _load_generated(n: int, seed: int, split: str | None) -> datasets.Dataset:
    examples = review_examples(n, seed)
    columns = _columns([examples[i] for i in split_indices(n, split)])
    return datasets.Dataset.from_dict(columns, features=_features(with_rationale=True))


def _load_imdb(n: int, seed: int, split: str | None) -> datasets.Dataset:
    """IMDB reviews drawn with ``seed`` from the pinned revision (needs the hub).

    As many as the generated corpus gives for the same ``n`` and ``split``, drawn from IMDB's
    own split of that name; ``split=None`` draws ``n`` from train and test together (the
    unlabelled split is never used). IMDB has no word-level rationales, so there is no
    ``rationale`` column.
    """
    parts = ["train", "test"] if split is None else [split]
    loaded = [datasets.load_dataset(IMDB_ID, revision=IMDB_REVISION, split=p) for p in parts]
    corpus = datasets.concatenate_datasets(loaded) if len(loaded) > 1 else loaded[0]
    size = len(split_indices(n, split))
    corpus = corpus.shuffle(seed=seed).select(range(min(size, len(corpus))))
    return corpus.select_columns(["text", "label"])


def _check_arguments(
    n: Any, seed: Any, split: Any, source: Any, *, sources: tuple[str, ...] = SOURCES, what: str = "reviews"
) -> None:
    # bool is an int subclass, but load_reviews(True) is surely a mistake.
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be a positive int (number of {what}), got {type(n).__name__} {n!r}")
    if n <= 0:
        raise ValueError(f"n must be a positive int (number of {what}), got {n}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of None, 'train', 'test'")
    if source not in sources:
        allowed = ", ".join(repr(s) for s in sources)
        raise ValueError(f"unknown source {source!r}; choose one of {allowed}")


def load_reviews(
    n: int = 4000, seed: int = 0, split: str | None = None, source: str = "auto"
) -> datasets.Dataset:
    """Movie reviews with columns ``text``, ``label`` (0 = negative, 1 = positive), ``rationale``.

    Args:
        n: how many reviews before splitting: ``split="test"`` returns ``n // 5`` of them and
            ``"train"`` the other ``n - n // 5``, from IMDB and from the generated corpus alike.
        seed: seed of the grammar (generated) or of the sample (IMDB). Same seed, same data.
        split: None for everything, "train" (80 %) or "test" (20 %). The generated corpus
            holds out every fifth example, so for a given seed a test example is never in
            any train split, whatever ``n``; IMDB draws from its own train or test split.
        source: "generated" (seeded grammar, offline, has ``rationale``), "imdb" (the
            hub's stanfordnlp/imdb at a pinned revision, no ``rationale`` column) or
            "auto" (IMDB when the hub is reachable, else generated).

    Raises:
        TypeError / ValueError: for a bad ``n``, ``seed``, ``split`` or ``source``.
    """
    _check_arguments(n, seed, split, source)
    if source == "auto":
        from course_utils.models import is_offline  # local import: keeps the modules decoupled

        if is_offline():
            source = "generated"
        else:
            try:
                return _load_imdb(n, seed, split)
            except OSError as exc:  # ConnectionError & co. are OSErrors
                print(f"Could not load IMDB from the hub ({type(exc).__name__}); using the generated corpus")
                source = "generated"
    if source == "imdb":
        return _load_imdb(n, seed, split)
    return _load_generated(n, seed, split)


# --------------------------------------------------------------------------------------
# Climate posts
# --------------------------------------------------------------------------------------
def _climate_features() -> datasets.Features:
    list_type = getattr(datasets, "List", None) or datasets.Sequence
    return datasets.Features({
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=list(CLIMATE_LABEL_NAMES)),
        "rationale": list_type(datasets.Value("int64")),
    })


def load_climate(n: int = 4000, seed: int = 0, split: str | None = None, source: str = "auto") -> datasets.Dataset:
    """Short posts about climate change with ``text``, ``label`` and ``rationale`` columns.

    ``label`` is a ClassLabel: 0 = anti, 1 = neutral, 2 = pro, 3 = news (the order of the
    course's climate model). ``rationale`` flags the words the label model reads (see the
    conventions of ``course_utils.climate``).

    Args:
        n: how many posts to draw before splitting (``split="test"`` returns n/5).
        seed: seed of the grammar. Same seed, same data.
        split: None, "train" (80 %) or "test" (20 %): every fifth post is held out, so for a
            given seed a test post is never in any train split, whatever ``n``.
        source: "generated" or "auto". There is no public climate-stance corpus whose hub
            id and revision the course could pin and check (the hub model's training data is
            not named with it), so "auto" always uses the generated corpus, offline or not.

    Raises:
        TypeError / ValueError: for a bad ``n``, ``seed``, ``split`` or ``source``.
    """
    _check_arguments(n, seed, split, source, sources=CLIMATE_SOURCES, what="posts")
    examples = climate_examples(n, seed)
    columns = _columns([examples[i] for i in split_indices(n, split)])
    return datasets.Dataset.from_dict(columns, features=_climate_features())


def label_confidence(n: int = 4000, seed: int = 0, split: str | None = None, corpus: str = "reviews") -> list[float]:
    """How sure the label model is of each drawn label: ``probabilities()[label]`` per text.

    In the order of ``load_reviews(n, seed, split, source="generated")`` (``corpus="reviews"``)
    or ``load_climate(n, seed, split)`` (``corpus="climate"``). A lab that shows a text as an
    example of its class can ask for a high value: the label is then the one a reader gives it
    (a drawn label can go against the text, as in any real corpus).
    """
    _check_arguments(n, seed, split, "generated")
    if corpus not in ("reviews", "climate"):
        raise ValueError(f"unknown corpus {corpus!r}; choose 'reviews' or 'climate'")
    examples = (review_examples if corpus == "reviews" else climate_examples)(n, seed)
    return [examples[i].probabilities()[examples[i].label] for i in split_indices(n, split)]


# --------------------------------------------------------------------------------------
# Prompts for a language model
# --------------------------------------------------------------------------------------
def _continuation_features() -> datasets.Features:
    list_type = getattr(datasets, "List", None) or datasets.Sequence
    text = datasets.Value("string")
    return datasets.Features({
        "prompt": text, "target": text, "contrast": text, "cue_words": list_type(datasets.Value("int64")),
        "kind": text, "target_text": text, "counterfactual": text,
    })


def load_continuations(n: int = 2000, split: str | None = "train", seed: int = 0) -> datasets.Dataset:
    """Prompts with the token that continues each (``target``) and the words that decide it.

    Columns: ``prompt``, ``target`` and ``contrast`` (one GPT-2 token each, with its leading
    space: the right next token and a wrong one), ``cue_words`` (indices into
    ``prompt.split()`` of the words that decide between them), ``kind`` ("sentiment",
    "pronoun", "agreement", "recall"), ``target_text`` (the target and the rest of its
    sentence, 2 to 5 tokens) and ``counterfactual`` (the prompt with its cue words swapped, for
    which ``contrast`` is right). See the conventions of ``course_utils.continuations``.

    Args:
        n: how many prompts before splitting (``split="test"`` returns n/5 of them).
        split: "train" (80 %), "test" (20 %) or None (all): every fifth prompt is held out, so
            for a given seed a test prompt is never in any train split, whatever ``n``.
        seed: seed of the grammar. Same seed, same data.

    Raises:
        TypeError / ValueError: for a bad ``n``, ``seed`` or ``split``.
    """
    _check_arguments(n, seed, split, "generated", what="prompts")
    examples = generate(n, seed)
    rows = [examples[i] for i in split_indices(n, split)]
    columns = {name: [getattr(e, name) for e in rows] for name in _continuation_features()}
    columns["cue_words"] = [list(cues) for cues in columns["cue_words"]]
    return datasets.Dataset.from_dict(columns, features=_continuation_features())


def _quiet_datasets() -> None:
    """No progress bars or info logs from ``datasets`` (``ds.filter`` in a notebook, say)."""
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


_quiet_datasets()
