"""The review grammar: seeded movie reviews whose words decide their label (``review_examples``).

Each review is written by the grammar below and labelled by the label model of
``course_utils.labels``; ``course_utils.data.load_reviews`` returns them as a dataset.

Conventions of the generated reviews
------------------------------------
* ``text`` is one to five sentences; every word is lower-case except a sentence's first word
  and the pronoun "I"; each sentence ends with a period attached to its last word, and some
  lead-in phrases end with a comma ("Honestly,").
* ``rationale`` has one 0/1 flag per whitespace-separated word of ``text``
  (``len(rationale) == len(text.split())``). 1 marks the words the label model reads: the
  sentiment word of every evidence clause and the negation ("not"/"never") that flips it.
  Boosters, hedges, fillers, subjects, "but" and distractor sentiment words are 0.
* ``label`` is 0 = negative, 1 = positive, drawn by the label model (with
  ``REVIEW_LABEL_NOISE``); the flagged words decide its probability, not its value.
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

The vocabulary is kept in tuples, so nobody mutates it by accident; the embedded models are
trained on these words, so changing them means rebuilding the models.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from course_utils.labels import (
    BOOSTER_FACTOR,
    CONTRAST_WEIGHTS,
    HEDGE_FACTOR,
    Builder,
    Clause,
    GeneratedExample,
    normalize_word,
)

__all__ = [
    "ANY_TRAILS",
    "BOOSTERS",
    "CONTRAST_WORD",
    "DISTRACTOR_TEMPLATES",
    "DISTRACTOR_WORDS",
    "FILM_SUBJECTS",
    "HEDGES",
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
    "SPAN_TRAILS",
    "STRENGTH",
    "SUBJECTS",
    "TRAIL_FILLERS",
    "VERBS",
    "VIEWING_SENTENCES",
    "VIEWING_TRAILS",
    "is_mixed",
    "is_negated",
    "review_examples",
]

# --------------------------------------------------------------------------------------
# Vocabulary
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
# Evidence S (sum of the clauses' signed values) -> class scores (-cS/2, cS/2), so that
# p(positive) = sigmoid(cS) before the noise. c sets how sharp the corpus is.
_REVIEW_SCALE = 1.7
_REVIEW_DIRECTION = (-_REVIEW_SCALE / 2, _REVIEW_SCALE / 2)


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
# The grammar
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


def _clause(b: Builder, rng: random.Random, told: _Told, polarity: int, weight: float, *, lead: bool,
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


def _distractor(b: Builder, rng: random.Random, told: _Told) -> bool:
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


def _neutral_sentence(b: Builder, rng: random.Random, told: _Told) -> None:
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
    parts: list[Builder] = []
    for i, kind in enumerate(plan):
        b = Builder()
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
    review = Builder()
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
