"""Corpora for the labs, returned as ``datasets.Dataset``: movie reviews and climate posts.

``load_reviews`` has two sources:

* ``"generated"`` -- short movie reviews written by a small seeded grammar. Every
  example records which words decide its label (the ``rationale`` column), so Lab 4
  can score explanations against the truth. Works offline, identical on every machine.
* ``"imdb"`` -- the real IMDB corpus from the Hugging Face hub at a pinned revision.
  It has no ground-truth rationales, so that column is absent.

``source="auto"`` picks IMDB when the hub answers and the generated corpus otherwise.

Conventions of the generated corpus
-----------------------------------
* ``text`` is one to three sentences. Every word is lower-case except the first word of a
  sentence and the pronoun "I"; each sentence ends with a period attached to its last word,
  and some lead-in phrases end with a comma ("Honestly,").
* ``rationale`` has one 0/1 flag per whitespace-separated word of ``text``
  (``len(rationale) == len(text.split())``). 1 marks a word that decides the label: a
  sentiment word of a clause that carries the review's verdict and the negation word
  ("not"/"never") that flips it. Intensifiers, fillers, subjects and "but" are 0.
* Mixed sentences ("the plot was dull but the acting was great") take their label from
  the clause after "but"; the clause before it has the opposite polarity and is not part
  of the rationale.
* ``label`` is 0 = negative, 1 = positive. All clauses that are not overridden by "but"
  agree with the label, so the label is fully determined by the rationale words.

``load_climate`` returns short posts about climate change in four classes (anti, neutral,
pro, news), written by a second seeded grammar with the same ``rationale`` column; its
conventions are stated above ``load_climate``. It has no online source.

Nothing is downloaded or generated at import time.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import datasets

__all__ = [
    "ACTION_ANTI_WORDS",
    "ACTION_PRO_WORDS",
    "CLIMATE_ACTIONS",
    "CLIMATE_LABEL_NAMES",
    "CLIMATE_NEGATIONS",
    "CLIMATE_SOURCES",
    "CLIMATE_THREATS",
    "CONTRAST_WORD",
    "IMDB_ID",
    "IMDB_REVISION",
    "INTENSIFIERS",
    "LABEL_NAMES",
    "LEAD_FILLERS",
    "MAX_WORDS",
    "MIN_WORDS",
    "NEGATED_VERB_PHRASES",
    "NEGATIONS",
    "NEGATIVE_WORDS",
    "NEUTRAL_SENTENCES",
    "POSITIVE_WORDS",
    "SOURCES",
    "SPLITS",
    "SUBJECTS",
    "THREAT_ANTI_WORDS",
    "THREAT_PRO_WORDS",
    "TRAIL_FILLERS",
    "VERBS",
    "is_climate_negated",
    "is_mixed",
    "is_negated",
    "load_climate",
    "load_reviews",
    "normalize_word",
]

# --------------------------------------------------------------------------------------
# Vocabulary of the grammar. Tuples, so nobody mutates them by accident; the embedded
# models are trained on exactly these words, so changing them means rebuilding the models.
# --------------------------------------------------------------------------------------
LABEL_NAMES: tuple[str, str] = ("negative", "positive")

SUBJECTS: tuple[str, ...] = (
    "the movie", "this film", "the plot", "the acting", "the ending", "the soundtrack",
    "the script", "the dialogue", "the cast", "the story", "the direction", "the pacing",
    "the cinematography", "the lead actor", "the villain", "the humour", "this sequel",
    "the final scene", "the camera work", "the score",
)

VERBS: tuple[str, ...] = ("was", "is", "felt", "seemed")

NEGATIONS: tuple[str, ...] = ("not", "never")

# Negated forms of the verbs; exactly one word of each is in NEGATIONS.
NEGATED_VERB_PHRASES: tuple[str, ...] = (
    "was not", "is not", "was never", "is never", "did not feel", "did not seem",
    "never felt", "never seemed",
)

INTENSIFIERS: tuple[str, ...] = ("very", "really", "truly", "quite", "so", "extremely")

POSITIVE_WORDS: tuple[str, ...] = (
    "good", "great", "wonderful", "brilliant", "moving", "funny", "excellent", "superb",
    "charming", "delightful", "beautiful", "enjoyable", "fantastic", "gripping",
    "clever", "memorable",
)

NEGATIVE_WORDS: tuple[str, ...] = (
    "awful", "boring", "dull", "terrible", "predictable", "bad", "horrible", "dreadful",
    "tedious", "bland", "weak", "clumsy", "forgettable", "painful", "mediocre", "disappointing",
)

# Openers placed before the subject of a sentence's first clause.
LEAD_FILLERS: tuple[str, ...] = (
    "honestly,", "I think", "overall,", "to be fair,", "in my opinion,", "for me,",
    "frankly,", "I have to say", "all in all,",
)

# Phrases placed after a clause's sentiment word.
TRAIL_FILLERS: tuple[str, ...] = (
    "at the cinema last night", "with my sister", "on a rainy afternoon",
    "from start to finish", "in the second half", "if you ask me", "for the most part",
    "on the big screen", "with a few friends", "for a family evening",
)

# Whole sentences without any sentiment; they never decide anything.
NEUTRAL_SENTENCES: tuple[str, ...] = (
    "I saw it with my sister", "we watched it on a rainy afternoon",
    "it runs about two hours", "I went to the cinema last night",
    "my friend picked the film", "it came out last year", "we had popcorn",
    "the theater was half full", "I watched it at home", "it is based on a novel",
)

CONTRAST_WORD = "but"

SPLITS: tuple[None, str, str] = (None, "train", "test")
SOURCES: tuple[str, ...] = ("auto", "generated", "imdb")

# Online corpus. Revision = the dataset repo commit several public projects pin for
# stanfordnlp/imdb (train/test parquet files); check it when online before relying on it.
IMDB_ID = "stanfordnlp/imdb"
IMDB_REVISION = "e6281661ce1c48d982bc483cf8a173c1bbeb5d31"

# Shape of the generated reviews. Probabilities are per clause / per review.
MIN_WORDS, MAX_WORDS = 6, 25
_SENTENCE_COUNT_WEIGHTS = {1: 0.5, 2: 0.35, 3: 0.15}
_P_MIXED = 0.25  # review contains one "X but Y" sentence
_P_NEUTRAL = 0.3  # a 2-3 sentence review contains one sentence without sentiment
_P_NEGATION = 0.3
_P_INTENSIFIER = 0.35
_P_LEAD = 0.35
_P_TRAIL = 0.35
# Every n-th example (index % 5 == 4) is held out: 80/20, independent of n and seed,
# so load_reviews(n=200, split="test") is a prefix-subset of load_reviews(n=4000, split="test").
_TEST_EVERY = 5

_PUNCTUATION = ".,;:!?\"'()"

Word = tuple[str, int]  # (word, 1 if it decides the label else 0)


# --------------------------------------------------------------------------------------
# Small public helpers
# --------------------------------------------------------------------------------------
def normalize_word(word: str) -> str:
    """Lower-case a whitespace word and strip surrounding punctuation ("Great." -> "great")."""
    return word.strip(_PUNCTUATION).lower()


def is_negated(example: Mapping[str, Any]) -> bool:
    """True when a negation word is part of the example's rationale (it flips the label).

    Works on a row of the generated corpus, so ``ds.filter(is_negated)`` keeps the reviews
    whose verdict is expressed through "not"/"never".
    """
    words = example["text"].split()
    return any(flag and normalize_word(w) in NEGATIONS for w, flag in zip(words, example["rationale"]))


def is_mixed(example: Mapping[str, Any]) -> bool:
    """True when the review contains a contrast ("X was great but Y was awful")."""
    return CONTRAST_WORD in (normalize_word(w) for w in example["text"].split())


# --------------------------------------------------------------------------------------
# The grammar
# --------------------------------------------------------------------------------------
def _plain(phrase: str) -> list[Word]:
    """Words of a phrase that never decide the label."""
    return [(w, 0) for w in phrase.split()]


def _clause(
    rng: random.Random, polarity: int, decisive: bool, *, lead: bool, trail: bool
) -> list[Word]:
    """One "subject verb [negation] [intensifier] sentiment" clause with the given polarity.

    ``decisive`` says whether this clause carries the review's verdict; only then are its
    negation and sentiment word flagged.
    """
    words: list[Word] = []
    if lead and rng.random() < _P_LEAD:
        words += _plain(rng.choice(LEAD_FILLERS))
    words += _plain(rng.choice(SUBJECTS))
    negated = rng.random() < _P_NEGATION
    if negated:
        phrase = rng.choice(NEGATED_VERB_PHRASES)
        words += [(w, int(decisive and w in NEGATIONS)) for w in phrase.split()]
    else:
        words.append((rng.choice(VERBS), 0))
    if rng.random() < _P_INTENSIFIER:
        words.append((rng.choice(INTENSIFIERS), 0))
    # A negation flips the clause, so the sentiment word must have the other polarity.
    word_polarity = polarity ^ int(negated)
    pool = POSITIVE_WORDS if word_polarity == 1 else NEGATIVE_WORDS
    words.append((rng.choice(pool), int(decisive)))
    if trail and rng.random() < _P_TRAIL:
        words += _plain(rng.choice(TRAIL_FILLERS))
    return words


def _sentence(words: list[Word]) -> list[Word]:
    """Capitalise the first word and attach the final period to the last one."""
    first, flag = words[0]
    words = [(first[0].upper() + first[1:], flag), *words[1:]]
    last, flag = words[-1]
    words[-1] = (last + ".", flag)
    return words


def _review(rng: random.Random, label: int) -> list[Word]:
    """One to three sentences whose verdict is ``label``."""
    counts, weights = zip(*_SENTENCE_COUNT_WEIGHTS.items())
    n_sentences = rng.choices(counts, weights=weights)[0]
    positions = list(range(n_sentences))
    mixed_at = rng.choice(positions) if rng.random() < _P_MIXED else None
    neutral_at = None
    if n_sentences > 1 and rng.random() < _P_NEUTRAL:
        # At most one neutral sentence and never instead of the mixed one, so at least
        # one sentence always carries the verdict.
        neutral_at = rng.choice([p for p in positions if p != mixed_at])

    words: list[Word] = []
    for position in positions:
        if position == neutral_at:
            sentence = _plain(rng.choice(NEUTRAL_SENTENCES))
        elif position == mixed_at:
            sentence = (
                _clause(rng, 1 - label, decisive=False, lead=True, trail=False)
                + [(CONTRAST_WORD, 0)]
                + _clause(rng, label, decisive=True, lead=False, trail=True)
            )
        else:
            sentence = _clause(rng, label, decisive=True, lead=True, trail=True)
        words += _sentence(sentence)
    return words


def _generate(n: int, seed: int) -> dict[str, list]:
    """``n`` distinct reviews; example i is the same for every n > i (prefix-stable)."""
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[int] = []
    rationales: list[list[int]] = []
    seen: set[str] = set()
    attempts, max_attempts = 0, 200 * n + 1000
    while len(texts) < n:
        attempts += 1
        if attempts > max_attempts:  # the grammar has ~10^9 reviews, so this is a bug guard
            raise RuntimeError(f"could not generate {n} distinct reviews with seed={seed}")
        label = int(rng.random() < 0.5)
        words = _review(rng, label)
        text = " ".join(w for w, _ in words)
        if not MIN_WORDS <= len(words) <= MAX_WORDS or text in seen:
            continue
        seen.add(text)
        texts.append(text)
        labels.append(label)
        rationales.append([flag for _, flag in words])
    return {"text": texts, "label": labels, "rationale": rationales}


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
    columns = _generate(n, seed)
    keep = _split_indices(n, split)
    columns = {name: [values[i] for i in keep] for name, values in columns.items()}
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
# * ``rationale`` has one 0/1 flag per whitespace word. 1 marks: in an opinion (anti/pro)
#   the stance word ("real", "hoax", "pointless") and the negation ("not"/"hardly") that
#   flips it; in a neutral post the word that makes it a mere mention ("discussed",
#   "wondering"); in a news post the reporting verb ("reports", "finds"). Hedges, fillers,
#   hashtags, @mentions, numbers and articles are 0. The flagged words decide the label.
# * Numbers occur in news and in neutral small talk ("it is 31 degrees today"), so a number
#   alone never decides; hashtags and @mentions occur in every class.
CLIMATE_LABEL_NAMES: tuple[str, str, str, str] = ("anti", "neutral", "pro", "news")
CLIMATE_SOURCES: tuple[str, ...] = ("auto", "generated")

# Subjects that name the threat, and subjects that name the response to it. Stance words
# are split by the kind of subject they fit; "a hoax" style phrases flag the noun only.
CLIMATE_THREATS: tuple[str, ...] = (
    "climate change", "global warming", "the climate crisis", "sea level rise",
    "the warming trend", "extreme weather", "melting ice", "the greenhouse effect",
)
CLIMATE_ACTIONS: tuple[str, ...] = (
    "climate action", "renewable energy", "the paris agreement", "cutting emissions",
    "carbon pricing", "solar power", "the energy transition", "a carbon tax",
)
THREAT_PRO_WORDS: tuple[str, ...] = (
    "real", "urgent", "serious", "undeniable", "dangerous", "alarming", "accelerating",
    "devastating", "a threat", "an emergency", "a fact",
)
THREAT_ANTI_WORDS: tuple[str, ...] = (
    "exaggerated", "overblown", "fake", "harmless", "overhyped", "fabricated", "imaginary",
    "a hoax", "a myth", "a lie",
)
ACTION_PRO_WORDS: tuple[str, ...] = (
    "necessary", "essential", "vital", "overdue", "crucial", "sensible", "worthwhile",
    "important", "a priority", "a necessity", "an opportunity",
)
ACTION_ANTI_WORDS: tuple[str, ...] = (
    "pointless", "useless", "wasteful", "ruinous", "absurd", "misguided", "costly",
    "a scam", "a waste", "a joke",
)
CLIMATE_VERBS: tuple[str, ...] = ("is", "remains", "seems")
CLIMATE_NEGATIONS: tuple[str, ...] = ("not", "hardly")
# Negated forms; exactly one word of each is in CLIMATE_NEGATIONS.
CLIMATE_NEGATED_VERB_PHRASES: tuple[str, ...] = (
    "is not", "is hardly", "does not seem", "is really not", "is simply not", "is certainly not",
)
# Hedges and boosters between a plain verb and the stance word; they never flip it.
CLIMATE_HEDGES: tuple[str, ...] = ("probably", "clearly", "perhaps", "definitely", "maybe", "truly")
CLIMATE_LEADS: tuple[str, ...] = (
    "honestly,", "I think", "in my view,", "to be fair,", "frankly,", "I believe", "look,",
    "let me say it:", "for the record,",
)
CLIMATE_TRAILS: tuple[str, ...] = (
    "if you ask me", "at this point", "these days", "and everyone knows it", "for sure",
    "as far as I can tell",
)
# Neutral posts: "{s}" is a subject, the word in *stars* is the flagged cue.
NEUTRAL_TEMPLATES: tuple[str, ...] = (
    "we *discussed* {s} in class today", "my uncle keeps *mentioning* {s}",
    "I am *wondering* what people think of {s}", "anyone else *curious* about {s}?",
    "*debating* {s} with friends tonight", "my teacher *asked* us about {s}",
    "I *watched* a documentary about {s}", "*thinking* about {s} on the bus",
    "a *question* about {s} came up at work", "so many *opinions* about {s} online",
)
NEWS_SOURCES: tuple[str, ...] = (
    "a new study", "the UN", "NASA", "a government report", "the met office", "a new survey",
    "the weather service", "an industry group", "a university team",
)
NEWS_VERBS: tuple[str, ...] = ("reports", "finds", "says", "shows", "confirms", "estimates", "announced", "notes")
# Facts reported by the news posts; {n} a number, {y} a year.
NEWS_FACTS: tuple[str, ...] = (
    "sea levels rose {n} centimetres since {y}", "emissions fell {n} percent in {y}",
    "arctic ice shrank {n} percent since {y}", "{n} countries signed the new climate pledge",
    "solar capacity grew {n} percent last year", "{n} thousand people attended the climate summit",
    "the heatwave lasted {n} days", "wind power supplied {n} percent of electricity in {y}",
    "the summer was the hottest in {n} years",
    "coal use dropped {n} percent in {y}",
)
# Sentences about nothing in particular, added to posts of every class.
SMALL_TALK: tuple[str, ...] = (
    "it is {n} degrees outside today", "day {n} of the heatwave here", "just got home from work",
    "long week", "the bus was late again", "my coffee went cold", "posting this from the train",
)
HASHTAGS: tuple[str, ...] = ("#climate", "#environment", "#energy", "#planet", "#earth", "#weather")
MENTIONS: tuple[str, ...] = ("@jordan_b", "@weather_nerd", "@citydesk", "@mike_t", "@ana.reads", "@green_dad")

MIN_CLIMATE_WORDS, MAX_CLIMATE_WORDS = 4, 40
_P_SECOND_OPINION = 0.25
_P_SMALL_TALK = 0.3
_P_CLIMATE_NEGATION = 0.3
_P_HEDGE = 0.35
_P_CLIMATE_LEAD = 0.35
_P_CLIMATE_TRAIL = 0.25
_P_HASHTAG = 0.35
_P_MENTION = 0.25


def _stance_pool(threat: bool, stance_pro: bool) -> tuple[str, ...]:
    if threat:
        return THREAT_PRO_WORDS if stance_pro else THREAT_ANTI_WORDS
    return ACTION_PRO_WORDS if stance_pro else ACTION_ANTI_WORDS


def _opinion(rng: random.Random, pro: bool, *, lead: bool) -> list[Word]:
    """"[lead] subject verb [hedge | negation] stance [trail]" whose stance is pro or anti."""
    words: list[Word] = []
    if lead and rng.random() < _P_CLIMATE_LEAD:
        words += _plain(rng.choice(CLIMATE_LEADS))
    threat = rng.random() < 0.5
    words += _plain(rng.choice(CLIMATE_THREATS if threat else CLIMATE_ACTIONS))
    negated = rng.random() < _P_CLIMATE_NEGATION
    if negated:
        phrase = rng.choice(CLIMATE_NEGATED_VERB_PHRASES)
        words += [(w, int(w in CLIMATE_NEGATIONS)) for w in phrase.split()]
    else:
        words.append((rng.choice(CLIMATE_VERBS), 0))
        if rng.random() < _P_HEDGE:
            words.append((rng.choice(CLIMATE_HEDGES), 0))
    # A negation flips the stance word: "is not real" is anti, "is not a hoax" is pro.
    stance = rng.choice(_stance_pool(threat, pro ^ negated))
    *article, cue = stance.split()
    words += _plain(" ".join(article)) + [(cue, 1)]
    if rng.random() < _P_CLIMATE_TRAIL:
        words += _plain(rng.choice(CLIMATE_TRAILS))
    return words


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        s=rng.choice(CLIMATE_THREATS + CLIMATE_ACTIONS), n=rng.randint(2, 95), y=rng.randint(1990, 2023)
    )


def _starred(phrase: str) -> list[Word]:
    """Words of a template; the one written *like this* is the cue."""
    words = []
    for w in phrase.split():
        core = w.strip("?")
        cue = core.startswith("*") and core.endswith("*")
        words.append((w.replace("*", ""), int(cue)))
    return words


def _neutral(rng: random.Random) -> list[Word]:
    return _starred(_fill(rng, rng.choice(NEUTRAL_TEMPLATES)))


def _news(rng: random.Random) -> list[Word]:
    return (
        _plain(rng.choice(NEWS_SOURCES))
        + [(rng.choice(NEWS_VERBS), 1)]
        + _plain(_fill(rng, rng.choice(NEWS_FACTS)))
    )


def _post_sentence(words: list[Word]) -> list[Word]:
    """Capitalise the first word; end with a period unless the sentence asks a question."""
    first, flag = words[0]
    words = [(first[0].upper() + first[1:], flag), *words[1:]]
    last, flag = words[-1]
    if not last.endswith("?"):
        words[-1] = (last + ".", flag)
    return words


def _post(rng: random.Random, label: int) -> list[Word]:
    """One post whose class is ``label`` (index into CLIMATE_LABEL_NAMES)."""
    name = CLIMATE_LABEL_NAMES[label]
    if name in ("anti", "pro"):
        sentences = [_opinion(rng, name == "pro", lead=True)]
        if rng.random() < _P_SECOND_OPINION:
            sentences.append(_opinion(rng, name == "pro", lead=False))
    elif name == "neutral":
        sentences = [_neutral(rng)]
    else:
        sentences = [_news(rng)]
    if rng.random() < _P_SMALL_TALK:
        sentences.insert(rng.randint(0, len(sentences)), _plain(_fill(rng, rng.choice(SMALL_TALK))))
    words = [w for sentence in sentences for w in _post_sentence(sentence)]
    if rng.random() < _P_MENTION:
        words.insert(0, (rng.choice(MENTIONS), 0))
    if rng.random() < _P_HASHTAG:
        words += _plain(" ".join(rng.sample(HASHTAGS, rng.choice((1, 1, 2)))))
    return words


def _generate_climate(n: int, seed: int) -> dict[str, list]:
    """``n`` distinct posts; prefix-stable in ``n``.

    Classes come in shuffled blocks of four, one stream of blocks for the held-out positions
    and one for the others, so the train and test splits are each balanced (within one
    block) whatever ``n``.
    """
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[int] = []
    rationales: list[list[int]] = []
    seen: set[str] = set()
    blocks: dict[bool, list[int]] = {True: [], False: []}
    attempts, max_attempts = 0, 200 * n + 1000
    while len(texts) < n:
        attempts += 1
        if attempts > max_attempts:
            raise RuntimeError(f"could not generate {n} distinct climate posts with seed={seed}")
        block = blocks[len(texts) % _TEST_EVERY == _TEST_EVERY - 1]  # same rule as _split_indices
        if not block:
            block += rng.sample(range(len(CLIMATE_LABEL_NAMES)), len(CLIMATE_LABEL_NAMES))
        label = block[-1]
        words = _post(rng, label)
        text = " ".join(w for w, _ in words)
        if not MIN_CLIMATE_WORDS <= len(words) <= MAX_CLIMATE_WORDS or text in seen:
            continue  # redraw the same class, so every block of four stays balanced
        block.pop()
        seen.add(text)
        texts.append(text)
        labels.append(label)
        rationales.append([flag for _, flag in words])
    return {"text": texts, "label": labels, "rationale": rationales}


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
    course's climate model). ``rationale`` flags the words that decide the label (see the
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
    columns = _generate_climate(n, seed)
    keep = _split_indices(n, split)
    columns = {name: [values[i] for i in keep] for name, values in columns.items()}
    return datasets.Dataset.from_dict(columns, features=_climate_features())


def _quiet_datasets() -> None:
    """No progress bars or info logs from ``datasets`` (``ds.filter`` in a notebook, say)."""
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


_quiet_datasets()
