"""The label model both generated corpora share: how a text's words make its label.

A real corpus cannot be classified perfectly: opinions are graded ("fine" is not "superb"),
hedged, mixed, sometimes contradictory, and some labels are simply wrong. The grammars
(``course_utils.reviews``, ``course_utils.climate``) reproduce that with an explicit label
model, so that a model trained on them learns graded, calibrated probabilities instead of a
step function:

1. A text is a sequence of sentences. Some carry *evidence*: a clause whose sentiment (or
   stance) word has a strength ("fine" 0.6, "good" 1.5, "superb" 3), multiplied by a booster
   ("very": x1.5) or a hedge ("somewhat": x0.5), flipped and weakened by a negation ("not
   great": x-0.5), and weighted by its place ("X but Y": X counts 0.4, Y counts 1).
   Other sentences are neutral, or *distractors* that use a sentiment word about something
   else than the film ("the hero is a clumsy detective").
2. The evidence adds up (times a scale that sets how sharp the corpus is) to class scores, a
   softmax turns them into class probabilities, a little label noise is mixed in
   (``REVIEW_LABEL_NOISE``, ``CLIMATE_LABEL_NOISE``), and the label is **drawn** from that
   distribution. Genuinely ambiguous texts thus get either label.

So the best possible classifier is the label model itself; its accuracy and calibration are
the ceiling a trained model approaches (``review_examples`` and ``climate_examples`` return
each text with it: ``example.probabilities()``).

Both corpora write ``text`` as whitespace-separated words and ``rationale`` as one 0/1 flag
per word (``normalize_word`` reads a word as the grammars wrote it), and hold out the same
positions for their test split (``held_out``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

__all__ = [
    "BOOSTER_FACTOR",
    "CONTRAST_WEIGHTS",
    "Builder",
    "Clause",
    "GeneratedExample",
    "HEDGE_FACTOR",
    "NEGATION_FACTOR",
    "TEST_EVERY",
    "held_out",
    "normalize_word",
    "split_indices",
]

NEGATION_FACTOR = -0.5  # "not great" is mildly negative, "not bad" mildly positive
BOOSTER_FACTOR = 1.5
HEDGE_FACTOR = 0.5
CONTRAST_WEIGHTS = (0.4, 1.0)  # "X but Y": the clause after "but" counts more


@dataclass(frozen=True)
class Clause:
    """One piece of evidence: ``strength`` along ``direction`` (one number per class).

    ``evidence`` is the index of its sentiment/stance/cue word; ``negation`` and
    ``modifier`` (a booster or hedge, scaling by ``modifier_factor``) are word indices or None.
    Its contribution vanishes when the evidence word is masked and loses the negation's or
    modifier's effect when that word is masked.
    """

    direction: tuple[float, ...]
    strength: float
    weight: float
    evidence: int
    negation: int | None = None
    modifier: int | None = None
    modifier_factor: float = 1.0

    def contribution(self, kept: Sequence[bool]) -> float:
        if not kept[self.evidence]:
            return 0.0
        value = self.weight * self.strength
        if self.modifier is not None and kept[self.modifier]:
            value *= self.modifier_factor
        if self.negation is not None and kept[self.negation]:
            value *= NEGATION_FACTOR
        return value


@dataclass(frozen=True)
class GeneratedExample:
    """A generated text with the label model that labelled it.

    ``roles`` has one entry per word: "evidence" (sentiment, stance or cue word), "negation",
    "modifier" (booster or hedge of an evidence clause), "contrast" ("but") or "other"
    (subjects, fillers, distractors, hashtags). ``probabilities(kept)`` is the class
    distribution the label model gives the text when only the words with ``kept[i]`` remain
    (all words by default); ``label`` was drawn from ``probabilities()``.
    """

    words: tuple[str, ...]
    rationale: tuple[int, ...]
    roles: tuple[str, ...]
    clauses: tuple[Clause, ...]
    base: tuple[float, ...]
    noise: float
    label: int

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def probabilities(self, kept: Sequence[bool] | None = None) -> tuple[float, ...]:
        kept = [True] * len(self.words) if kept is None else list(kept)
        if len(kept) != len(self.words):
            raise ValueError(f"kept has {len(kept)} entries for {len(self.words)} words")
        logits = list(self.base)
        for clause in self.clauses:
            value = clause.contribution(kept)
            for k, d in enumerate(clause.direction):
                logits[k] += d * value
        top = max(logits)
        exp = [math.exp(z - top) for z in logits]
        total = sum(exp)
        n = len(logits)
        return tuple((1 - self.noise) * e / total + self.noise / n for e in exp)


class Builder:
    """Collects words, flags, roles and clauses while a grammar writes one text."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.flags: list[int] = []
        self.roles: list[str] = []
        self.clauses: list[Clause] = []
        self.sentence_start = 0

    def add(self, phrase: str, role: str = "other", flag: int = 0) -> int:
        """Append the words of ``phrase``; returns the index of its last word."""
        for word in phrase.split():
            self.words.append(word)
            self.flags.append(flag)
            self.roles.append(role)
        return len(self.words) - 1

    def start_sentence(self) -> None:
        self.sentence_start = len(self.words)

    def end_sentence(self, question: bool = False) -> None:
        """Capitalise the sentence's first word; end it with a period (or keep its '?')."""
        first = self.words[self.sentence_start]
        if first[0] not in "@#":
            self.words[self.sentence_start] = first[0].upper() + first[1:]
        if not (question or self.words[-1].endswith("?")):
            self.words[-1] += "."

    def absorb(self, other: Builder) -> None:
        """Append the words and clauses of ``other`` (written on its own) after this builder's."""
        offset = len(self.words)

        def moved(index: int | None) -> int | None:
            return None if index is None else index + offset

        self.words += other.words
        self.flags += other.flags
        self.roles += other.roles
        self.clauses += [replace(c, evidence=c.evidence + offset, negation=moved(c.negation),
                                 modifier=moved(c.modifier)) for c in other.clauses]

    def example(self, rng: random.Random, base: tuple[float, ...], noise: float) -> GeneratedExample:
        draft = GeneratedExample(tuple(self.words), tuple(self.flags), tuple(self.roles), tuple(self.clauses),
                                 base, noise, label=-1)
        probs = draft.probabilities()
        label = rng.choices(range(len(probs)), weights=probs)[0]
        return GeneratedExample(draft.words, draft.rationale, draft.roles, draft.clauses, base, noise, label)


# Every n-th example (index % 5 == 4) is held out: 80/20, independent of n and seed,
# so load_reviews(n=200, split="test") is a prefix-subset of load_reviews(n=4000, split="test").
TEST_EVERY = 5
_PUNCTUATION = ".,;:!?\"'()"


def normalize_word(word: str) -> str:
    """Lower-case a whitespace word and strip surrounding punctuation ("Great." -> "great")."""
    return word.strip(_PUNCTUATION).lower()


def held_out(index: int) -> bool:
    """Whether the example at ``index`` of a generated corpus belongs to its test split."""
    return index % TEST_EVERY == TEST_EVERY - 1


def split_indices(n: int, split: str | None) -> list[int]:
    """The indices of ``split`` (None: all, "train" or "test") among ``n`` generated examples."""
    if split is None:
        return list(range(n))
    return [i for i in range(n) if held_out(i) == (split == "test")]
