"""Corpora for the labs, returned as ``datasets.Dataset``: movie reviews and climate posts.

``load_reviews`` has two sources:

* ``"generated"`` -- movie reviews written by a seeded grammar. Every example records which
  words carry its verdict (the ``rationale`` column), so explanations can be scored against
  the truth. Works offline, identical on every machine.
* ``"imdb"`` -- the real IMDB corpus from the Hugging Face hub at a pinned revision.
  It has no ground-truth rationales, so that column is absent.

``source="auto"`` picks IMDB when the hub answers and the generated corpus otherwise.

How a generated label comes about
---------------------------------
A real corpus cannot be classified perfectly: opinions are graded ("fine" is not "superb"),
hedged, mixed, sometimes contradictory, and some labels are simply wrong. The grammars
reproduce that with an explicit label model, so that a model trained on them learns graded,
calibrated probabilities instead of a step function:

1. A text is a sequence of sentences. Some carry *evidence*: a clause whose sentiment (or
   stance) word has a strength ("fine" 0.6, "good" 1.5, "superb" 3), multiplied by a booster
   ("very": x1.5) or a hedge ("somewhat": x0.5), flipped and weakened by a negation ("not
   great": x-0.5), and weighted by its place ("X but Y": X counts 0.4, Y counts 1).
   Other sentences are neutral, or *distractors* that use a sentiment word about something
   else than the film ("the hero is a clumsy detective").
2. The evidence adds up (times a scale that sets how sharp the corpus is) to class scores, a
   softmax turns them into class probabilities, a little label noise is mixed in
   (``REVIEW_LABEL_NOISE``), and the label is **drawn** from that distribution. Genuinely ambiguous texts thus get either label.

So the best possible classifier is the label model itself; its accuracy and calibration are
the ceiling a trained model approaches (``review_examples`` and ``climate_examples`` return
each text with it: ``example.probabilities()``).

Conventions of the generated reviews
------------------------------------
* ``text`` is one to five sentences; every word is lower-case except a sentence's first word
  and the pronoun "I"; each sentence ends with a period attached to its last word, and some
  lead-in phrases end with a comma ("Honestly,").
* ``rationale`` has one 0/1 flag per whitespace-separated word of ``text``
  (``len(rationale) == len(text.split())``). 1 marks the words the label model reads: the
  sentiment word of every evidence clause and the negation ("not"/"never") that flips it.
  Boosters, hedges, fillers, subjects, "but" and distractor sentiment words are 0.
* ``label`` is 0 = negative, 1 = positive, drawn as described above; the flagged words decide
  its probability, not its value.
* A review reads as one person's: it keeps to one tense; it judges each thing once (one name
  per thing, ``SAME_THING``: not "the movie was great" and "this film was awful"); it uses each
  lead filler, trail, neutral sentence and sentiment word at most once (a booster or hedge
  too, unless all that fit its word are used); a
  sentiment word fits its subject (``NARROW_WORDS``: no "unwatchable soundtrack"); a trail
  fits its clause (an outing such as "with my sister" only after the film as a whole, told in
  the past; a span such as "at times" not after a moment, a negation or a hedge); it tells at
  most one way it was watched; its distractors use words that fit a character or a place
  (``DISTRACTOR_WORDS``), one protagonist at most. A verdict on the film as a whole (in about
  a third of the reviews) is on the side the rest of the review adds up to.

``load_climate`` returns short posts about climate change in four classes (anti, neutral,
pro, news), written by a second grammar with the same label model and ``rationale`` column;
its conventions are stated above ``load_climate``. It has no online source.

Nothing is downloaded or generated at import time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import datasets

__all__ = [
    "ACTION_ANTI_WORDS",
    "ACTION_PRO_WORDS",
    "ANY_TRAILS",
    "BOOSTERS",
    "CLIMATE_ACTIONS",
    "CLIMATE_ADDITIONS",
    "CLIMATE_BOOSTERS",
    "CLIMATE_CONTRASTS",
    "CLIMATE_HEDGES",
    "CLIMATE_LABEL_NAMES",
    "CLIMATE_LABEL_NOISE",
    "CLIMATE_NARROW",
    "CLIMATE_NEGATIONS",
    "CLIMATE_SAME_THING",
    "CLIMATE_SOURCES",
    "CLIMATE_THREATS",
    "CONTRAST_WORD",
    "DISTRACTOR_TEMPLATES",
    "DISTRACTOR_WORDS",
    "FILM_SUBJECTS",
    "GeneratedExample",
    "HEDGES",
    "IMDB_ID",
    "IMDB_REVISION",
    "INTENSIFIERS",
    "LABEL_NAMES",
    "LEAD_FILLERS",
    "MAX_WORDS",
    "MIN_WORDS",
    "MOMENT_SUBJECTS",
    "NARROW_WORDS",
    "NEGATED_VERB_PHRASES",
    "NEGATIONS",
    "NEGATIVE_WORDS",
    "NEUTRAL_SENTENCES",
    "POSITIVE_WORDS",
    "REVIEW_LABEL_NOISE",
    "SAME_THING",
    "SOURCES",
    "SPAN_TRAILS",
    "SPLITS",
    "STRENGTH",
    "SUBJECTS",
    "THREAT_ANTI_WORDS",
    "THREAT_PRO_WORDS",
    "TRAIL_FILLERS",
    "VERBS",
    "VIEWING_SENTENCES",
    "VIEWING_TRAILS",
    "climate_examples",
    "is_climate_negated",
    "is_mixed",
    "is_negated",
    "label_confidence",
    "load_climate",
    "load_reviews",
    "normalize_word",
    "review_examples",
]

# --------------------------------------------------------------------------------------
# The label model shared by both grammars
# --------------------------------------------------------------------------------------
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


class _Builder:
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

    def absorb(self, other: "_Builder") -> None:
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


# --------------------------------------------------------------------------------------
# Vocabulary of the review grammar. Tuples, so nobody mutates them by accident; the
# embedded models are trained on these words, so changing them means rebuilding the models.
# --------------------------------------------------------------------------------------
LABEL_NAMES: tuple[str, str] = ("negative", "positive")

SUBJECTS: tuple[str, ...] = (
    "the movie", "this film", "the plot", "the acting", "the ending", "the soundtrack",
    "the script", "the dialogue", "the cast", "the story", "the direction", "the pacing",
    "the cinematography", "the lead actor", "the villain", "the humour", "this sequel",
    "the final scene", "the camera work", "the score", "the editing", "the first hour",
)
# Subjects that name the same thing: a review judges each thing once ("the movie was great"
# and "this film was awful" in one review contradict each other).
SAME_THING: tuple[tuple[str, ...], ...] = (
    ("the movie", "this film", "this sequel"), ("the plot", "the story"), ("the acting", "the cast"),
    ("the ending", "the final scene"), ("the soundtrack", "the score"), ("the cinematography", "the camera work"),
)
FILM_SUBJECTS: tuple[str, ...] = SAME_THING[0]  # the film as a whole: the only ones an outing fits
MOMENT_SUBJECTS: tuple[str, ...] = ("the ending", "the final scene", "the first hour")  # no span fits them

# A review keeps to one tense: past (the first three) or present (the last three).
VERBS: tuple[str, ...] = ("was", "felt", "seemed", "is", "feels", "seems")

NEGATIONS: tuple[str, ...] = ("not", "never")

# Negated forms of the verbs, past then present; exactly one word of each is in NEGATIONS.
NEGATED_VERB_PHRASES: tuple[str, ...] = (
    "was not", "was never", "did not feel", "did not seem", "never felt", "never seemed",
    "is not", "is never", "does not feel", "does not seem", "never feels", "never seems",
)

# Sentiment words and their strengths: graded from "superb" (3) down to "fine" (0.6).
STRENGTH: dict[str, float] = {
    # positive
    "superb": 3.0, "brilliant": 3.0, "wonderful": 3.0, "excellent": 3.0, "fantastic": 3.0,
    "outstanding": 3.0, "great": 2.5, "gripping": 2.0, "moving": 2.0, "charming": 2.0,
    "delightful": 2.0, "enjoyable": 2.0, "clever": 2.0, "memorable": 2.0, "beautiful": 2.0,
    "funny": 1.8, "good": 1.5, "solid": 1.2, "pleasant": 1.0, "decent": 0.8, "fine": 0.6,
    "watchable": 0.6,
    # negative
    "awful": 3.0, "terrible": 3.0, "horrible": 3.0, "dreadful": 3.0, "unwatchable": 3.0,
    "painful": 2.5, "bad": 2.0, "boring": 2.0, "dull": 2.0, "tedious": 2.0, "disappointing": 2.0,
    "clumsy": 1.8, "weak": 1.8, "messy": 1.2, "predictable": 1.2, "bland": 1.2,
    "forgettable": 1.2, "mediocre": 1.0, "flat": 0.8, "uneven": 0.6,
}
POSITIVE_WORDS: tuple[str, ...] = tuple(list(STRENGTH)[:22])
NEGATIVE_WORDS: tuple[str, ...] = tuple(list(STRENGTH)[22:])

# Sentiment words that fit only some subjects ("the soundtrack was unwatchable", "the pacing was
# funny" read wrong); the other words fit every subject.
NARROW_WORDS: dict[str, tuple[str, ...]] = {
    "funny": FILM_SUBJECTS + ("the humour", "the dialogue", "the script", "the cast", "the lead actor", "the villain",
                              "the story", "the ending", "the final scene", "the first hour"),
    "moving": FILM_SUBJECTS + ("the story", "the ending", "the final scene", "the score", "the soundtrack",
                               "the acting", "the lead actor", "the plot"),
    "gripping": FILM_SUBJECTS + ("the plot", "the story", "the first hour", "the ending", "the final scene"),
    "beautiful": FILM_SUBJECTS + ("the cinematography", "the camera work", "the score", "the soundtrack",
                                  "the ending", "the final scene", "the story", "the direction"),
    "charming": FILM_SUBJECTS + ("the humour", "the cast", "the lead actor", "the villain", "the story",
                                 "the dialogue", "the ending", "the final scene", "the soundtrack", "the score"),
    "clumsy": tuple(s for s in SUBJECTS if s not in ("the soundtrack", "the score", "the cinematography")),
    "clever": tuple(s for s in SUBJECTS if s not in ("the acting", "the cast", "the lead actor", "the soundtrack",
                                                     "the score", "the pacing")),
    "predictable": FILM_SUBJECTS + ("the plot", "the story", "the ending", "the final scene", "the script",
                                    "the dialogue", "the villain"),
    "tedious": FILM_SUBJECTS + ("the plot", "the story", "the pacing", "the first hour", "the dialogue",
                                "the script", "the editing"),
    "watchable": FILM_SUBJECTS + ("the first hour",),
    "unwatchable": FILM_SUBJECTS + ("the first hour",),
}

BOOSTERS: tuple[str, ...] = ("very", "really", "truly", "extremely", "incredibly", "so")
HEDGES: tuple[str, ...] = ("somewhat", "fairly", "rather", "mostly", "reasonably")
_POSITIVE_ONLY_HEDGES = ("reasonably",)  # "reasonably good", not "reasonably awful"
_MILD_HEDGES = ("somewhat", "fairly", "reasonably")  # only before words weaker than "great"
_PLAIN_WORDS = ("fine", "decent", "watchable")  # take no booster ("very decent")
_BOOSTERS_OF_THE_BEST = ("truly", "really", "so")  # the only boosters of the strongest words
INTENSIFIERS: tuple[str, ...] = BOOSTERS + HEDGES  # every word that scales a sentiment word

# Openers placed before the subject of a sentence's first clause; each at most once a review.
LEAD_FILLERS: tuple[str, ...] = (
    "honestly,", "I think", "overall,", "to be fair,", "in my opinion,", "for me,",
    "frankly,", "I have to say", "all in all,", "I guess", "in the end,",
)

# Phrases placed after a clause's sentiment word, by the subjects they fit. An outing ("with my
# sister") only fits the film as a whole, told in the past ("the movie was dull with my sister"
# is not English; "the camera work was dull with my sister" is nonsense); a span ("from start
# to finish") fits the film and its running aspects, not a moment such as "the ending".
VIEWING_TRAILS: tuple[str, ...] = (
    "at the cinema last night", "with my sister", "on a rainy afternoon",
    "on the big screen", "with a few friends", "for a family evening",
)
SPAN_TRAILS: tuple[str, ...] = ("from start to finish", "in the second half", "for the most part", "at times")
ANY_TRAILS: tuple[str, ...] = ("if you ask me",)
TRAIL_FILLERS: tuple[str, ...] = VIEWING_TRAILS + SPAN_TRAILS + ANY_TRAILS

# Whole sentences without any sentiment; they never decide anything. The first five tell
# where, when or with whom the reviewer watched: a review tells at most one such thing
# (in one of them or in a VIEWING_TRAILS phrase), so "I watched it at home" never meets
# "I went to the cinema last night".
NEUTRAL_SENTENCES: tuple[str, ...] = (
    "I saw it with my sister", "we watched it on a rainy afternoon",
    "I went to the cinema last night", "the theater was half full", "I watched it at home",
    "it runs about two hours", "my friend picked the film", "it came out last year", "we had popcorn",
    "it is based on a novel", "the director also wrote the script", "it was shot in two months",
    "I had read the book first", "my parents watched it too", "there is a short scene after the credits",
)
VIEWING_SENTENCES: tuple[str, ...] = NEUTRAL_SENTENCES[:5]

# Sentences that use a sentiment word about something other than the film: a character, a
# place, a title, somebody else's opinion. Each template has the words that fit it ("a clumsy
# detective", not "an unwatchable chef"). A model that counts sentiment words is fooled by
# them; the label is not. A review has at most one template of each kind (one protagonist).
DISTRACTOR_WORDS: dict[str, tuple[str, ...]] = {
    "it is about {a} {w} chef in a small town": (
        "brilliant", "charming", "clumsy", "delightful", "excellent", "funny", "mediocre", "terrible", "awful",
    ),
    "the hero is {a} {w} detective": ("brilliant", "clever", "clumsy", "charming", "mediocre", "terrible", "weak"),
    "the heroine is {a} {w} pilot": ("brilliant", "excellent", "clumsy", "fantastic", "terrible", "outstanding"),
    "the story follows {a} {w} family": ("charming", "delightful", "funny", "wonderful", "dreadful", "boring", "dull"),
    "it is set in {a} {w} old hotel": ("beautiful", "charming", "delightful", "wonderful", "dreadful", "horrible"),
    "the title promises {a} {w} summer": (
        "wonderful", "delightful", "memorable", "beautiful", "fantastic", "great", "boring", "painful", "terrible",
    ),
    "my neighbour called it {w} before I saw it": (
        "superb", "brilliant", "great", "gripping", "moving", "funny", "good", "watchable",
        "awful", "terrible", "boring", "tedious", "predictable", "mediocre", "uneven",
    ),
}
DISTRACTOR_TEMPLATES: tuple[str, ...] = tuple(DISTRACTOR_WORDS)
# Kind of each template: the protagonist, the setting, the title, hearsay.
_DISTRACTOR_KINDS: tuple[str, ...] = ("hero", "hero", "hero", "hero", "place", "title", "hearsay")

CONTRAST_WORD = "but"

SPLITS: tuple[None, str, str] = (None, "train", "test")
SOURCES: tuple[str, ...] = ("auto", "generated", "imdb")

# Online corpus. Revision = the dataset repo commit several public projects pin for
# stanfordnlp/imdb (train/test parquet files); check it when online before relying on it.
IMDB_ID = "stanfordnlp/imdb"
IMDB_REVISION = "e6281661ce1c48d982bc483cf8a173c1bbeb5d31"

# Shape of the generated reviews. Probabilities are per sentence / per clause.
MIN_WORDS, MAX_WORDS = 5, 80
REVIEW_LABEL_NOISE = 0.05  # share of labels drawn uniformly at random (half of them wrong)
_SENTENCE_COUNT_WEIGHTS = {1: 0.2, 2: 0.3, 3: 0.25, 4: 0.15, 5: 0.1}
_SENTENCE_KIND_WEIGHTS = {"verdict": 0.5, "mixed": 0.16, "neutral": 0.2, "distractor": 0.14}
_P_AGREE = 0.85  # an evidence clause agrees with the review's overall leaning
_P_FILM_VERDICT = 0.35  # one verdict is on the film as a whole
_P_NEGATION = 0.25
_P_BOOSTER = 0.25
_P_HEDGE = 0.2
_P_LEAD = 0.35
_P_TRAIL = 0.3
_P_PRESENT = 0.3  # a review told in the present tense ("the plot is dull")
# Every n-th example (index % 5 == 4) is held out: 80/20, independent of n and seed,
# so load_reviews(n=200, split="test") is a prefix-subset of load_reviews(n=4000, split="test").
_TEST_EVERY = 5

_PUNCTUATION = ".,;:!?\"'()"
# Evidence S (sum of the clauses' signed values) -> class scores (-cS/2, cS/2), so that
# p(positive) = sigmoid(cS) before the noise. c sets how sharp the corpus is.
_REVIEW_SCALE = 1.7
_REVIEW_DIRECTION = (-_REVIEW_SCALE / 2, _REVIEW_SCALE / 2)


# --------------------------------------------------------------------------------------
# Small public helpers
# --------------------------------------------------------------------------------------
def normalize_word(word: str) -> str:
    """Lower-case a whitespace word and strip surrounding punctuation ("Great." -> "great")."""
    return word.strip(_PUNCTUATION).lower()


def is_negated(example: Mapping[str, Any]) -> bool:
    """True when a negation word is part of the example's rationale (it flips a verdict).

    Works on a row of the generated corpus, so ``ds.filter(is_negated)`` keeps the reviews
    with at least one verdict expressed through "not"/"never".
    """
    words = example["text"].split()
    return any(flag and normalize_word(w) in NEGATIONS for w, flag in zip(words, example["rationale"]))


def is_mixed(example: Mapping[str, Any]) -> bool:
    """True when the review contains a contrast ("X was great but Y was awful")."""
    return CONTRAST_WORD in (normalize_word(w) for w in example["text"].split())


# --------------------------------------------------------------------------------------
# The review grammar
# --------------------------------------------------------------------------------------
class _Told:
    """What a review has said so far, so that it says each thing once.

    One subject per thing (``SAME_THING``), each lead filler, trail and neutral sentence once,
    at most one way of watching the film, one distractor of each kind.
    """

    def __init__(self, rng: random.Random) -> None:
        grouped = {s for group in SAME_THING for s in group}
        things = [list(group) for group in SAME_THING[1:]] + [[s] for s in SUBJECTS if s not in grouped]
        self.subjects = [rng.choice(group) for group in things]  # the film's aspects, one name each
        self.film = rng.choice(FILM_SUBJECTS)  # the film as a whole
        rng.shuffle(self.subjects)
        self.leads = list(LEAD_FILLERS)
        self.trails = list(TRAIL_FILLERS)
        self.neutral = list(NEUTRAL_SENTENCES)
        self.distractors = list(DISTRACTOR_TEMPLATES)
        self.viewing_told = False
        self.words: set[str] = set()  # sentiment words, boosters and hedges used so far
        self.present = rng.random() < _P_PRESENT
        self.verbs = VERBS[3:] if self.present else VERBS[:3]
        self.negated_verbs = NEGATED_VERB_PHRASES[6:] if self.present else NEGATED_VERB_PHRASES[:6]

    def take_word(self, options: list[str], rng: random.Random) -> str:
        """A sentiment word (or booster, hedge) the review has not used yet; any of ``options`` if all are used."""
        fresh = [w for w in options if w not in self.words]
        word = rng.choice(fresh or options)
        self.words.add(word)
        return word

    def take(self, options: list[str], rng: random.Random) -> str:
        """Draw one of ``options`` and never offer it again."""
        choice = rng.choice(options)
        for pool in (self.leads, self.trails, self.neutral, self.distractors):
            if choice in pool:
                pool.remove(choice)
        if choice in VIEWING_TRAILS or choice in VIEWING_SENTENCES:
            self.viewing_told = True
        return choice


def _trail_options(told: _Told, subject: str, *, past: bool, plain: bool, opener: bool) -> list[str]:
    """The unused trails that fit ``subject``: outings for the film told in the past, spans not for
    moments, neither after a negation or a hedge (``plain`` False: "never dull at times", "mostly
    dull from start to finish" contradict themselves), "if you ask me" not after an opener."""
    fits = set() if opener else set(ANY_TRAILS)  # not "I think ... if you ask me"
    if not plain:
        return [t for t in told.trails if t in fits]
    if subject not in MOMENT_SUBJECTS:
        fits |= set(SPAN_TRAILS)
    if subject in FILM_SUBJECTS and past and not told.viewing_told:
        fits |= set(VIEWING_TRAILS)
    return [t for t in told.trails if t in fits]


def _clause(b: _Builder, rng: random.Random, told: _Told, polarity: int, weight: float, *, lead: bool,
            trail: bool, subject: str | None = None) -> None:
    """"[lead] subject verb [negation] [booster | hedge] sentiment [trail]" leaning to ``polarity``.

    The subject is the next unused aspect of the film unless ``subject`` is given.
    """
    subject = subject or told.subjects.pop()
    opener = lead and rng.random() < _P_LEAD
    if opener:
        # "In the end, the ending was ..." says the end twice
        leads = [x for x in told.leads if not (x == "in the end," and subject in MOMENT_SUBJECTS)]
        b.add(told.take(leads, rng))
    b.add(subject)
    negation = None
    if rng.random() < _P_NEGATION:
        verb = rng.choice(told.negated_verbs)
        for word in verb.split():
            index = b.add(word, "negation" if word in NEGATIONS else "other", int(word in NEGATIONS))
            negation = index if word in NEGATIONS else negation
    else:
        verb = b.words[b.add(rng.choice(told.verbs))]
    # A negation flips the clause, so its sentiment word has the other polarity.
    word_polarity = polarity ^ int(negation is not None)
    words = POSITIVE_WORDS if word_polarity == 1 else NEGATIVE_WORDS
    word = told.take_word([w for w in words if subject in NARROW_WORDS.get(w, (subject,))], rng)
    modifier, factor, hedged = None, 1.0, False
    draw = rng.random()
    if draw < _P_BOOSTER:
        boosters = [w for w in BOOSTERS if _booster_fits(w, word, verb)]
        if boosters:
            modifier, factor = b.add(told.take_word(boosters, rng), "modifier"), BOOSTER_FACTOR
    elif draw < _P_BOOSTER + _P_HEDGE and negation is None:  # "not somewhat good" is not English
        hedges = [w for w in HEDGES if _hedge_fits(w, word)]
        modifier, factor, hedged = b.add(told.take_word(hedges, rng), "modifier"), HEDGE_FACTOR, True
    sign = 1.0 if word_polarity == 1 else -1.0
    evidence = b.add(word, "evidence", 1)
    b.clauses.append(Clause(_REVIEW_DIRECTION, sign * STRENGTH[word], weight, evidence, negation, modifier, factor))
    if trail and rng.random() < _P_TRAIL:
        options = _trail_options(told, subject, past=not told.present, plain=negation is None and not hedged,
                                 opener=opener)
        if options:
            b.add(told.take(options, rng))


def _booster_fits(booster: str, word: str, verb: str) -> bool:
    """Not "never so good" (a comparison), "very decent" (a weak word), "extremely outstanding"."""
    if booster == "so" and "never" in verb:
        return False
    if word in _PLAIN_WORDS:
        return False
    return STRENGTH[word] < 3 or booster in _BOOSTERS_OF_THE_BEST


def _hedge_fits(hedge: str, word: str) -> bool:
    """"reasonably good", not "reasonably awful"; "rather brilliant", not "somewhat brilliant"."""
    if hedge in _POSITIVE_ONLY_HEDGES and word not in POSITIVE_WORDS:
        return False
    return STRENGTH[word] < 2.5 or hedge not in _MILD_HEDGES


def _distractor(b: _Builder, rng: random.Random, told: _Told) -> bool:
    """A plot-style sentence with a sentiment word about somebody or something else; False if none is left."""
    kinds_used = {_DISTRACTOR_KINDS[DISTRACTOR_TEMPLATES.index(t)] for t in DISTRACTOR_TEMPLATES
                  if t not in told.distractors}
    options = [t for t in told.distractors if _DISTRACTOR_KINDS[DISTRACTOR_TEMPLATES.index(t)] not in kinds_used]
    if not options:
        return False
    template = told.take(options, rng)
    word = told.take_word(list(DISTRACTOR_WORDS[template]), rng)
    b.add(template.format(w=word, a="an" if word[0] in "aeiou" else "a"))
    return True


def _neutral_sentence(b: _Builder, rng: random.Random, told: _Told) -> None:
    options = [s for s in told.neutral if not (told.viewing_told and s in VIEWING_SENTENCES)]
    b.add(told.take(options, rng))


def _review(rng: random.Random) -> GeneratedExample:
    """One to five sentences leaning one way; its label is drawn from the label model.

    Some reviews judge the film as a whole ("this film was dull") in one of their verdicts; a
    reader takes that sentence for the review's verdict, so it is written last, on the side the
    other sentences' evidence adds up to, and put back in its place.
    """
    leaning = int(rng.random() < 0.5)
    counts, weights = zip(*_SENTENCE_COUNT_WEIGHTS.items())
    n_sentences = rng.choices(counts, weights=weights)[0]
    kinds, kind_weights = zip(*_SENTENCE_KIND_WEIGHTS.items())
    plan = [rng.choices(kinds, weights=kind_weights)[0] for _ in range(n_sentences)]
    if not any(kind in ("verdict", "mixed") for kind in plan):
        plan[rng.randrange(n_sentences)] = "verdict"  # every review gives some opinion
    verdicts = [i for i, kind in enumerate(plan) if kind == "verdict"]
    film_at = rng.choice(verdicts) if verdicts and rng.random() < _P_FILM_VERDICT else None

    told = _Told(rng)
    parts: list[_Builder] = []
    for i, kind in enumerate(plan):
        b = _Builder()
        parts.append(b)
        if i == film_at:
            continue  # written below, once the rest is known
        polarity = leaning if rng.random() < _P_AGREE else 1 - leaning
        if kind == "verdict":
            _clause(b, rng, told, polarity, 1.0, lead=True, trail=True)
        elif kind == "mixed":
            _clause(b, rng, told, 1 - polarity, CONTRAST_WEIGHTS[0], lead=True, trail=False)
            b.add(CONTRAST_WORD, "contrast")
            _clause(b, rng, told, polarity, CONTRAST_WEIGHTS[1], lead=False, trail=True)
        elif kind == "neutral" or not _distractor(b, rng, told):
            _neutral_sentence(b, rng, told)
        b.end_sentence()
    if film_at is not None:
        evidence = sum(c.contribution([True] * len(b.words)) for b in parts for c in b.clauses)
        polarity = leaning if evidence == 0 else int(evidence > 0)
        _clause(parts[film_at], rng, told, polarity, 1.0, lead=True, trail=True, subject=told.film)
        parts[film_at].end_sentence()
    review = _Builder()
    for part in parts:
        review.absorb(part)
    return review.example(rng, (0.0, 0.0), REVIEW_LABEL_NOISE)


def _distinct(rng: random.Random, n: int, draw, min_words: int, max_words: int, what: str) -> list[GeneratedExample]:
    """``n`` distinct examples of ``draw(rng)`` within the length limits; prefix-stable in ``n``."""
    examples: list[GeneratedExample] = []
    seen: set[str] = set()
    attempts, max_attempts = 0, 200 * n + 1000
    while len(examples) < n:
        attempts += 1
        if attempts > max_attempts:  # the grammars have ~10^12 texts, so this is a bug guard
            raise RuntimeError(f"could not generate {n} distinct {what}")
        example = draw(rng)
        if not min_words <= len(example.words) <= max_words or example.text in seen:
            continue
        seen.add(example.text)
        examples.append(example)
    return examples


def review_examples(n: int, seed: int) -> list[GeneratedExample]:
    """The ``n`` generated reviews of ``load_reviews(n, seed, source="generated")``, with their
    label model (``example.probabilities()``), in the same order (before any split)."""
    rng = random.Random(seed)
    return _distinct(rng, n, _review, MIN_WORDS, MAX_WORDS, f"reviews with seed={seed}")


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
    return [examples[i].probabilities()[examples[i].label] for i in _split_indices(n, split)]


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


def _split_indices(n: int, split: str | None) -> list[int]:
    """Deterministic 80/20 rule on the example index."""
    if split is None:
        return list(range(n))
    held_out = split == "test"
    return [i for i in range(n) if (i % _TEST_EVERY == _TEST_EVERY - 1) == held_out]


def _load_generated(n: int, seed: int, split: str | None) -> datasets.Dataset:
    examples = review_examples(n, seed)
    columns = _columns([examples[i] for i in _split_indices(n, split)])
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
    size = len(_split_indices(n, split))
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
# Climate corpus: short posts about climate change, four classes
# --------------------------------------------------------------------------------------
# Conventions of the generated climate corpus
# * ``label``: 0 = anti (denies or dismisses climate change or climate action),
#   1 = neutral (mentions the topic without taking a side), 2 = pro (supports climate
#   science or action), 3 = news (reports a fact with a source, a reporting verb and a number).
#   Each post is written for one class, but its label is drawn from the label model of the
#   module docstring: class scores start at (0, 0.5, 0, 0), a stance clause of strength s adds
#   2 s to pro and -2 s to anti (negation x-0.5, booster x1.5, hedge x0.5), a neutral cue
#   adds 2 x its strength to neutral, a reporting verb to news. Hedged opinions, news with a comment and
#   mentions with an aside are genuinely ambiguous; ``CLIMATE_LABEL_NOISE`` adds wrong labels.
# * ``rationale`` has one 0/1 flag per whitespace word. 1 marks the words the label model
#   reads: in an opinion the stance word ("real", "hoax", "pointless") and the negation
#   ("not"/"hardly") that flips it; in a mention the word that makes it one ("discussed",
#   "wondering"); in news the reporting verb ("reports", "finds"). Hedges, boosters, fillers,
#   hashtags, @mentions, numbers and articles are 0.
# * Numbers occur in news and in small talk ("it is 31 degrees outside today"), so a number
#   alone never decides; hashtags and @mentions occur in every class. Each kind of number has
#   a plausible range (percentages up to 40, centimetres up to 25, years 1990-2020).
# * A post reads as one person's: a second opinion is about another thing (not the same thing
#   under another name, ``CLIMATE_SAME_THING``); when it takes the other side it is about the
#   other kind of thing (a threat after an action, or the reverse) and opens with a contrast
#   ("Still,", ``CLIMATE_CONTRASTS``), so "climate change is real. Still, a carbon tax is
#   pointless." but never "climate change is real. Global warming is a hoax."; a mention's
#   aside is about what it mentions ("it"); a stance fits its subject (``CLIMATE_NARROW``) and
#   its modifier ("somewhat" only for stances with degrees, no "for sure" after a hedge);
#   small talk comes first or last, never between a sentence and the one that refers to it.
CLIMATE_LABEL_NAMES: tuple[str, str, str, str] = ("anti", "neutral", "pro", "news")
CLIMATE_SOURCES: tuple[str, ...] = ("auto", "generated")
CLIMATE_LABEL_NOISE = 0.03
_CLIMATE_BASE = (0.0, 0.5, 0.0, 0.0)  # no evidence at all: a mere mention, mostly
CLIMATE_HEDGE_FACTOR = 0.5  # "maybe", "perhaps": a hedged stance is a weak one
_CLIMATE_SCALE = 2.0  # evidence -> class scores, as _REVIEW_SCALE
_STANCE_DIRECTION = (-_CLIMATE_SCALE, 0.0, _CLIMATE_SCALE, 0.0)
_NEUTRAL_DIRECTION = (0.0, _CLIMATE_SCALE, 0.0, 0.0)
_NEWS_DIRECTION = (0.0, 0.0, 0.0, _CLIMATE_SCALE)

# Subjects that name the threat, and subjects that name the response to it. Stance words
# are split by the kind of subject they fit; "a hoax" style phrases flag the noun only.
CLIMATE_THREATS: tuple[str, ...] = (
    "climate change", "global warming", "the climate crisis", "sea level rise",
    "the warming trend", "extreme weather", "melting ice", "the greenhouse effect",
)
CLIMATE_ACTIONS: tuple[str, ...] = (
    "climate action", "renewable energy", "the Paris agreement", "cutting emissions",
    "carbon pricing", "solar power", "the energy transition", "a carbon tax",
)
# Subjects that name the same thing: a post's second opinion is about another thing.
CLIMATE_SAME_THING: tuple[tuple[str, ...], ...] = (
    ("climate change", "global warming", "the climate crisis", "the warming trend", "the greenhouse effect"),
    ("carbon pricing", "a carbon tax"), ("renewable energy", "solar power"),
    ("climate action", "cutting emissions", "the energy transition"),
)
# Stance phrase -> strength (sign: its direction, pro for the first two lists).
THREAT_PRO_WORDS: dict[str, float] = {
    "real": 2.0, "urgent": 2.5, "serious": 2.0, "undeniable": 3.0, "dangerous": 2.5, "alarming": 2.5,
    "accelerating": 1.5, "devastating": 3.0, "a threat": 2.5, "an emergency": 3.0, "a fact": 2.0,
}
THREAT_ANTI_WORDS: dict[str, float] = {
    "exaggerated": 2.0, "overblown": 2.5, "fake": 3.0, "harmless": 2.0, "overhyped": 2.0, "alarmist": 2.0,
    "fabricated": 3.0, "imaginary": 3.0, "a hoax": 3.0, "a myth": 3.0, "a lie": 3.0,
}
ACTION_PRO_WORDS: dict[str, float] = {
    "necessary": 2.0, "essential": 2.5, "vital": 2.5, "overdue": 2.0, "crucial": 2.5, "sensible": 1.5,
    "worthwhile": 1.5, "important": 2.0, "a priority": 2.0, "a necessity": 2.5, "an opportunity": 1.5,
}
ACTION_ANTI_WORDS: dict[str, float] = {
    "pointless": 2.5, "useless": 2.5, "wasteful": 2.0, "ruinous": 3.0, "absurd": 2.5, "misguided": 2.0,
    "costly": 1.2, "unaffordable": 1.5, "a scam": 3.0, "a waste": 2.5, "a joke": 2.5,
}
CLIMATE_VERBS: tuple[str, ...] = ("is", "remains", "seems")
CLIMATE_NEGATIONS: tuple[str, ...] = ("not", "hardly")
# Negated forms; exactly one word of each is in CLIMATE_NEGATIONS.
CLIMATE_NEGATED_VERB_PHRASES: tuple[str, ...] = (
    "is not", "is hardly", "does not seem", "is really not", "is simply not", "is surely not",
)
# Between a plain verb and the stance word: hedges halve the stance, boosters add half.
CLIMATE_HEDGES: tuple[str, ...] = ("probably", "perhaps", "maybe", "somewhat")
CLIMATE_BOOSTERS: tuple[str, ...] = ("clearly", "definitely", "truly", "absolutely")
# Stances that have degrees, the only ones "somewhat" fits ("somewhat fabricated" is not English).
_SOMEWHAT_FITS = frozenset({
    "serious", "urgent", "dangerous", "alarming", "exaggerated", "overblown", "overhyped", "alarmist",
    "necessary", "important", "sensible", "worthwhile", "pointless", "useless", "wasteful", "absurd", "misguided",
    "costly", "unaffordable",
})
CLIMATE_LEADS: tuple[str, ...] = (
    "honestly,", "I think", "in my view,", "to be fair,", "frankly,", "I believe", "look,",
    "let me say it:", "for the record,",
)
CLIMATE_TRAILS: tuple[str, ...] = (
    "if you ask me", "at this point", "these days", "and everyone knows it", "for sure",
    "as far as I can tell",
)
_NOT_NEGATED = ("undeniable",)  # "is not undeniable" says nothing
_CERTAIN_PHRASES = ("let me say it:", "and everyone knows it", "for sure")  # never with a hedge
_TRAILS_AFTER_A_LEAD = ("at this point", "these days")  # the others repeat the lead ("I think ... for sure")
# Stances that fit only some subjects: a framing can be alarmist, a phenomenon cannot; a trend
# accelerates, an effect does not ("is accelerating", not "remains accelerating").
CLIMATE_NARROW: dict[str, tuple[str, ...]] = {
    "alarmist": ("the climate crisis",),
    "accelerating": ("climate change", "global warming", "the climate crisis", "sea level rise", "the warming trend",
                     "melting ice", "extreme weather"),
}
_AFTER_IS_ONLY = ("accelerating",)
# Openers of a second opinion: on the same side, and on the other side (a contrast).
CLIMATE_ADDITIONS: tuple[str, ...] = ("also,", "and", "plus,")
CLIMATE_CONTRASTS: tuple[str, ...] = ("still,", "that said,", "on the other hand,", "even so,")
# Mentions: "{s}" is a subject, the word in *stars* is the cue (strength after the colon).
NEUTRAL_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("we *discussed* {s} in class today", 3.0), ("my uncle keeps *mentioning* {s}", 2.5),
    ("I am *wondering* what people think of {s}", 3.0), ("anyone else *curious* about {s}?", 3.0),
    ("*debating* {s} with friends tonight", 2.5), ("my teacher *asked* us about {s}", 2.5),
    ("I *watched* a documentary about {s}", 2.0), ("*thinking* about {s} on the bus", 2.5),
    ("a *question* about {s} came up at work", 2.5), ("so many *opinions* about {s} online", 2.0),
)
NEWS_SOURCES: tuple[str, ...] = (
    "a new study", "the UN", "NASA", "a government report", "the met office", "a new survey",
    "the weather service", "an industry group", "a university team",
)
# Reporting verb -> strength of the news cue.
NEWS_VERBS: dict[str, float] = {
    "reports": 3.0, "finds": 3.0, "says": 2.0, "shows": 3.0, "confirms": 3.0, "estimates": 2.5,
    "announced": 3.0, "notes": 2.0,
}
# Facts reported by the news posts; {n} a count, {p} a percentage, {c} centimetres, {d} days,
# {y} a year.
NEWS_FACTS: tuple[str, ...] = (
    "sea levels rose {c} centimetres since {y}", "emissions fell {p} percent in {y}",
    "arctic ice shrank {p} percent since {y}", "{n} countries signed the new climate pledge",
    "solar capacity grew {p} percent last year", "{n} thousand people attended the climate summit",
    "the heatwave lasted {d} days", "wind power supplied {p} percent of electricity in {y}",
    "the summer was the hottest in {n} years",
    "coal use dropped {p} percent in {y}",
)
# Sentences about nothing in particular, added to posts of every class; {t} degrees Celsius.
SMALL_TALK: tuple[str, ...] = (
    "it is {t} degrees outside today", "day {d} of the heatwave here", "just got home from work",
    "long week", "the bus was late again", "my coffee went cold", "posting this from the train",
)
HASHTAGS: tuple[str, ...] = ("#climate", "#environment", "#energy", "#planet", "#earth", "#weather")
MENTIONS: tuple[str, ...] = ("@jordan_b", "@weather_nerd", "@citydesk", "@mike_t", "@ana.reads", "@green_dad")

MIN_CLIMATE_WORDS, MAX_CLIMATE_WORDS = 4, 60
_P_SECOND_OPINION = 0.3  # an opinion post gives a second opinion (usually the same side)
_P_SECOND_AGREES = 0.6
_P_ASIDE = 0.3  # a mention or a news post adds a (hedged or not) opinion of its own
_P_SMALL_TALK = 0.3
_P_CLIMATE_NEGATION = 0.3
_P_CLIMATE_HEDGE = 0.35
_P_CLIMATE_BOOSTER = 0.2
_P_CLIMATE_LEAD = 0.35
_P_CLIMATE_TRAIL = 0.25
_P_HASHTAG = 0.35
_P_MENTION = 0.25


def _stance_pool(threat: bool, stance_pro: bool) -> dict[str, float]:
    if threat:
        return THREAT_PRO_WORDS if stance_pro else THREAT_ANTI_WORDS
    return ACTION_PRO_WORDS if stance_pro else ACTION_ANTI_WORDS


def _same_thing(subject: str) -> tuple[str, ...]:
    return next((group for group in CLIMATE_SAME_THING if subject in group), (subject,))


def _fill(rng: random.Random, template: str, subject: str | None = None) -> str:
    """Fill a template; every kind of number has its plausible range (no 90 % fall in emissions)."""
    return template.format(
        s=subject or rng.choice(CLIMATE_THREATS + CLIMATE_ACTIONS), n=rng.randint(2, 95), p=rng.randint(2, 40),
        c=rng.randint(2, 25), d=rng.randint(3, 30), t=rng.randint(5, 40), y=rng.randint(1990, 2020),
    )


def _opinion(b: _Builder, rng: random.Random, pro: bool, subject: str, threat: bool, *, lead: bool,
             opener: str | None = None, weight: float = 1.0, pronoun: bool = False) -> None:
    """"[lead | opener] subject verb [negation | hedge | booster] stance [trail]" for or against.

    ``subject`` is a threat (``threat``) or an action, written "it" if ``pronoun`` (named in the
    sentence before); ``opener`` ("still,", "also,") ties a second opinion to the first. Hedges
    and the phrases that claim certainty ("for sure") never meet, nor do "somewhat" and a stance
    that has no degrees; a stance fits its subject (``CLIMATE_NARROW``).
    """
    negated = rng.random() < _P_CLIMATE_NEGATION
    draw = rng.random()
    verb = rng.choice(CLIMATE_NEGATED_VERB_PHRASES) if negated else rng.choice(CLIMATE_VERBS)
    hedged = not negated and verb == "is" and draw < _P_CLIMATE_HEDGE  # not "seems perhaps"
    boosted = not negated and not hedged and verb != "seems" and draw < _P_CLIMATE_HEDGE + _P_CLIMATE_BOOSTER
    # A negation flips the stance word: "is not real" is anti, "is not a hoax" is pro.
    word_pro = pro ^ negated
    pool = _stance_pool(threat, word_pro)
    stance = rng.choice([w for w in pool if not (negated and w in _NOT_NEGATED)
                         and subject in CLIMATE_NARROW.get(w, (subject,))
                         and not (w in _AFTER_IS_ONLY and verb.split()[0] != "is")])
    hedges = [h for h in CLIMATE_HEDGES if stance in _SOMEWHAT_FITS or h != "somewhat"]
    certain_lead = rng.random() < _P_CLIMATE_LEAD
    if opener is not None:
        b.add(opener)
    elif lead and certain_lead:
        b.add(rng.choice([x for x in CLIMATE_LEADS if not (hedged and x in _CERTAIN_PHRASES)]))
    b.add("it" if pronoun else subject)
    negation, modifier, factor = None, None, 1.0
    for word in verb.split():
        index = b.add(word, "negation" if word in CLIMATE_NEGATIONS else "other", int(word in CLIMATE_NEGATIONS))
        negation = index if word in CLIMATE_NEGATIONS else negation
    if hedged:
        modifier, factor = b.add(rng.choice(hedges), "modifier"), CLIMATE_HEDGE_FACTOR
    elif boosted:
        boosters = CLIMATE_BOOSTERS if verb == "is" else ("clearly", "truly")  # not "remains definitely"
        modifier, factor = b.add(rng.choice(boosters), "modifier"), BOOSTER_FACTOR
    *article, cue = stance.split()
    if article:
        b.add(" ".join(article))
    evidence = b.add(cue, "evidence", 1)
    sign = 1.0 if word_pro else -1.0
    b.clauses.append(Clause(_STANCE_DIRECTION, sign * pool[stance], weight, evidence, negation, modifier, factor))
    if rng.random() < _P_CLIMATE_TRAIL:
        led = lead and certain_lead and opener is None
        # not "I think ... if you ask me", "I believe ... for sure"
        trails = [t for t in (_TRAILS_AFTER_A_LEAD if led else CLIMATE_TRAILS)
                  if not (hedged and t in _CERTAIN_PHRASES)]
        b.add(rng.choice(trails))


def _starred(b: _Builder, phrase: str, strength: float, direction: tuple[float, ...]) -> None:
    """Words of a template; the one written *like this* is the cue."""
    for word in phrase.split():
        core = word.strip("?")
        if core.startswith("*") and core.endswith("*"):
            evidence = b.add(word.replace("*", ""), "evidence", 1)
            b.clauses.append(Clause(direction, strength, 1.0, evidence))
        else:
            b.add(word)


def _neutral(b: _Builder, rng: random.Random, subject: str) -> None:
    template, strength = rng.choice(NEUTRAL_TEMPLATES)
    _starred(b, _fill(rng, template, subject), strength, _NEUTRAL_DIRECTION)


def _news(b: _Builder, rng: random.Random) -> None:
    b.add(rng.choice(NEWS_SOURCES))
    verb = rng.choice(list(NEWS_VERBS))
    evidence = b.add(verb, "evidence", 1)
    b.clauses.append(Clause(_NEWS_DIRECTION, NEWS_VERBS[verb], 1.0, evidence))
    b.add(_fill(rng, rng.choice(NEWS_FACTS)))


def _subject(rng: random.Random, threat: bool, other_than: str | None = None) -> str:
    """A threat or an action that does not name the same thing as ``other_than``."""
    options = CLIMATE_THREATS if threat else CLIMATE_ACTIONS
    if other_than is not None:
        options = tuple(s for s in options if s not in _same_thing(other_than))
    return rng.choice(options)


def _post(rng: random.Random, intended: int) -> GeneratedExample:
    """One post written for class ``intended`` (index into CLIMATE_LABEL_NAMES); label drawn.

    An opinion post may add a second opinion about another thing: on the same side ("also,"),
    or, less often, on the other side about the other kind of thing, as a contrast ("climate
    change is real. Still, a carbon tax is pointless."). A mention may add the writer's own
    view of what it mentions ("... Honestly, it is probably serious."); a news post an opinion.
    """
    name = CLIMATE_LABEL_NAMES[intended]
    sentences: list[tuple[str, dict[str, Any]]] = []
    threat = rng.random() < 0.5
    subject = _subject(rng, threat)
    if name in ("anti", "pro"):
        pro = name == "pro"
        sentences.append(("opinion", {"pro": pro, "subject": subject, "threat": threat, "lead": True}))
        if rng.random() < _P_SECOND_OPINION:
            if rng.random() < _P_SECOND_AGREES:
                second_threat = rng.random() < 0.5
                opener = rng.choice(CLIMATE_ADDITIONS) if rng.random() < 0.5 else None
                second = {"pro": pro, "threat": second_threat, "subject": _subject(rng, second_threat, subject)}
            else:
                opener = rng.choice(CLIMATE_CONTRASTS)
                second = {"pro": not pro, "threat": not threat, "subject": _subject(rng, not threat)}
            sentences.append(("opinion", {**second, "lead": False, "opener": opener}))
    elif name == "neutral":
        sentences.append(("neutral", {"subject": subject}))
        if rng.random() < _P_ASIDE:  # "We discussed X in class today. Honestly, it is probably serious."
            sentences.append(("opinion", {"pro": rng.random() < 0.5, "subject": subject, "threat": threat,
                                          "lead": True, "pronoun": True}))
    else:
        sentences.append(("news", {}))
        if rng.random() < _P_ASIDE:
            sentences.append(("opinion", {"pro": rng.random() < 0.5, "subject": subject, "threat": threat,
                                          "lead": True}))
    if rng.random() < _P_SMALL_TALK:
        # before or after the rest: between them it would cut "it" and "also," from what they refer to
        sentences.insert(rng.choice((0, len(sentences))), ("small talk", {}))

    b = _Builder()
    if rng.random() < _P_MENTION:
        b.add(rng.choice(MENTIONS))
    for kind, argument in sentences:
        b.start_sentence()
        if kind == "opinion":
            _opinion(b, rng, **argument)
        elif kind == "neutral":
            _neutral(b, rng, argument["subject"])
        elif kind == "news":
            _news(b, rng)
        else:
            b.add(_fill(rng, rng.choice(SMALL_TALK)))
        b.end_sentence()
    if rng.random() < _P_HASHTAG:
        b.add(" ".join(rng.sample(HASHTAGS, rng.choice((1, 1, 2)))))
    return b.example(rng, _CLIMATE_BASE, CLIMATE_LABEL_NOISE)


def climate_examples(n: int, seed: int) -> list[GeneratedExample]:
    """The ``n`` generated posts of ``load_climate(n, seed)`` with their label model, in order.

    Posts are written for classes in shuffled blocks of four, one stream of blocks for the
    held-out positions and one for the others, so the classes the posts are *written for*
    are balanced in each split whatever ``n``; the labels, drawn from the label model, are
    balanced up to chance.
    """
    rng = random.Random(seed)
    examples: list[GeneratedExample] = []
    seen: set[str] = set()
    blocks: dict[bool, list[int]] = {True: [], False: []}
    attempts, max_attempts = 0, 200 * n + 1000
    while len(examples) < n:
        attempts += 1
        if attempts > max_attempts:
            raise RuntimeError(f"could not generate {n} distinct climate posts with seed={seed}")
        block = blocks[len(examples) % _TEST_EVERY == _TEST_EVERY - 1]  # same rule as _split_indices
        if not block:
            block += rng.sample(range(len(CLIMATE_LABEL_NAMES)), len(CLIMATE_LABEL_NAMES))
        example = _post(rng, block[-1])
        if not MIN_CLIMATE_WORDS <= len(example.words) <= MAX_CLIMATE_WORDS or example.text in seen:
            continue  # redraw for the same class, so every block of four stays balanced
        block.pop()
        seen.add(example.text)
        examples.append(example)
    return examples


def _climate_features() -> datasets.Features:
    list_type = getattr(datasets, "List", None) or datasets.Sequence
    return datasets.Features({
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=list(CLIMATE_LABEL_NAMES)),
        "rationale": list_type(datasets.Value("int64")),
    })


def is_climate_negated(example: Mapping[str, Any]) -> bool:
    """True when a flagged "not"/"hardly" flips the stance of a climate post."""
    words = example["text"].split()
    return any(flag and normalize_word(w) in CLIMATE_NEGATIONS for w, flag in zip(words, example["rationale"]))


def load_climate(n: int = 4000, seed: int = 0, split: str | None = None, source: str = "auto") -> datasets.Dataset:
    """Short posts about climate change with ``text``, ``label`` and ``rationale`` columns.

    ``label`` is a ClassLabel: 0 = anti, 1 = neutral, 2 = pro, 3 = news (the order of the
    course's climate model). ``rationale`` flags the words the label model reads (see the
    conventions above this function).

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
    columns = _columns([examples[i] for i in _split_indices(n, split)])
    return datasets.Dataset.from_dict(columns, features=_climate_features())


def _quiet_datasets() -> None:
    """No progress bars or info logs from ``datasets`` (``ds.filter`` in a notebook, say)."""
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


_quiet_datasets()
