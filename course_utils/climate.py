"""The climate grammar: seeded short posts about climate change in four classes (``climate_examples``).

Each post is written by the grammar below and labelled by the label model of
``course_utils.labels``; ``course_utils.data.load_climate`` returns them as a dataset.

Conventions of the generated climate corpus
-------------------------------------------
* ``label``: 0 = anti (denies or dismisses climate change or climate action),
  1 = neutral (mentions the topic without taking a side), 2 = pro (supports climate
  science or action), 3 = news (reports a fact with a source, a reporting verb and a number).
  Each post is written for one class, but its label is drawn from the label model of
  ``course_utils.labels``: class scores start at (0, 0.5, 0, 0), a stance clause of strength
  s adds 2 s to pro and -2 s to anti (negation x-0.5, booster x1.5, hedge x0.5), a neutral
  cue adds 2 x its strength to neutral, a reporting verb to news. Hedged opinions, news with
  a comment and mentions with an aside are genuinely ambiguous; ``CLIMATE_LABEL_NOISE`` adds
  wrong labels.
* ``rationale`` has one 0/1 flag per whitespace word. 1 marks the words the label model
  reads: in an opinion the stance word ("real", "hoax", "pointless") and the negation
  ("not"/"hardly") that flips it; in a mention the word that makes it one ("discussed",
  "wondering"); in news the reporting verb ("reports", "finds"). Hedges, boosters, fillers,
  hashtags, @mentions, numbers and articles are 0.
* Numbers occur in news and in small talk ("it is 31 degrees outside today"), so a number
  alone never decides; hashtags and @mentions occur in every class. Each kind of number has
  a plausible range (percentages up to 40, centimetres up to 25, years 1990-2020).
* A post reads as one person's: a second opinion is about another thing (not the same thing
  under another name, ``CLIMATE_SAME_THING``); when it takes the other side it is about the
  other kind of thing (a threat after an action, or the reverse) and opens with a contrast
  ("Still,", ``CLIMATE_CONTRASTS``), so "climate change is real. Still, a carbon tax is
  pointless." but never "climate change is real. Global warming is a hoax."; a mention's
  aside is about what it mentions ("it"); a stance fits its subject (``CLIMATE_NARROW``) and
  its modifier ("somewhat" only for stances with degrees, no "for sure" after a hedge);
  small talk comes first or last, never between a sentence and the one that refers to it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from course_utils.labels import BOOSTER_FACTOR, Builder, Clause, GeneratedExample, held_out, normalize_word

__all__ = [
    "ACTION_ANTI_WORDS",
    "ACTION_PRO_WORDS",
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
    "CLIMATE_THREATS",
    "THREAT_ANTI_WORDS",
    "THREAT_PRO_WORDS",
    "climate_examples",
    "is_climate_negated",
]

CLIMATE_LABEL_NAMES: tuple[str, str, str, str] = ("anti", "neutral", "pro", "news")
CLIMATE_LABEL_NOISE = 0.03
_CLIMATE_BASE = (0.0, 0.5, 0.0, 0.0)  # no evidence at all: a mere mention, mostly
CLIMATE_HEDGE_FACTOR = 0.5  # "maybe", "perhaps": a hedged stance is a weak one
_CLIMATE_SCALE = 2.0  # evidence -> class scores, as the reviews' scale
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


def _opinion(b: Builder, rng: random.Random, pro: bool, subject: str, threat: bool, *, lead: bool,
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


def _starred(b: Builder, phrase: str, strength: float, direction: tuple[float, ...]) -> None:
    """Words of a template; the one written *like this* is the cue."""
    for word in phrase.split():
        core = word.strip("?")
        if core.startswith("*") and core.endswith("*"):
            evidence = b.add(word.replace("*", ""), "evidence", 1)
            b.clauses.append(Clause(direction, strength, 1.0, evidence))
        else:
            b.add(word)


def _neutral(b: Builder, rng: random.Random, subject: str) -> None:
    template, strength = rng.choice(NEUTRAL_TEMPLATES)
    _starred(b, _fill(rng, template, subject), strength, _NEUTRAL_DIRECTION)


def _news(b: Builder, rng: random.Random) -> None:
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

    b = Builder()
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
        block = blocks[held_out(len(examples))]
        if not block:
            block += rng.sample(range(len(CLIMATE_LABEL_NAMES)), len(CLIMATE_LABEL_NAMES))
        example = _post(rng, block[-1])
        if not MIN_CLIMATE_WORDS <= len(example.words) <= MAX_CLIMATE_WORDS or example.text in seen:
            continue  # redraw for the same class, so every block of four stays balanced
        block.pop()
        seen.add(example.text)
        examples.append(example)
    return examples


def is_climate_negated(example: Mapping[str, Any]) -> bool:
    """True when a flagged "not"/"hardly" flips the stance of a climate post."""
    words = example["text"].split()
    return any(flag and normalize_word(w) in CLIMATE_NEGATIONS for w, flag in zip(words, example["rationale"]))
