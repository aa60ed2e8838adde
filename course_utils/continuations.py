"""The continuation grammar: seeded prompts whose next word one known earlier word decides (``generate``).

Lab 5 explains what a language model writes next. Its prompts come from this grammar, so the
word that decides the right continuation (the *cue*) is known, and an attribution can be scored
against it, as Lab 4 scores classifiers' explanations against the reviews' rationales.
``course_utils.data.load_continuations`` returns them as a dataset.

Conventions of the generated continuations
------------------------------------------
* A ``Continuation`` is a ``prompt``, the ``target`` that continues it, a ``contrast`` that
  would be wrong, the ``cue_words`` that decide between them and the ``kind`` of prompt:
  ``sentiment`` (a review's verdict), ``pronoun`` (she or he), ``agreement`` (is or are),
  ``recall`` (the city, instrument or game named earlier).
* ``target`` and ``contrast`` start with a space and are one GPT-2 token each (" she", " are",
  " Paris"), so a continuation's log-probability is one softmax entry. ``target_text`` is the
  target and the rest of its sentence, 2 to 5 GPT-2 tokens (" she was late."): ``prompt +
  target_text`` (``Continuation.text``) is the whole text, the one a language model is
  trained on, and the one a generation of several tokens can be compared with.
* ``prompt`` is one to five English sentences, written like the reviews: words separated by
  single spaces, punctuation attached to the word before it, each sentence capitalised and
  ended with a period, except the last one, which stops where the target goes (no final
  space or punctuation). A prompt of two or more sentences has one or more sentences of
  context or distractors before the one that is completed.
* ``cue_words`` are indices into ``prompt.split()`` of the words that decide the target: the
  judging words of a review and the negations that flip them ("not", "never"), the person a
  pronoun refers to, the head noun a verb agrees with, the earlier mention of what is recalled.
  ``counterfactual`` is the same prompt with cue words, and only cue words, replaced by their
  counterparts (a judging word by the other of its pair or its negation "not"/"never" by
  "really"/"always", a name by one of the other gender, a noun by its other number, an item by
  the contrast): for it the ``contrast`` is right. So no prompt's answer can be told without
  its cue.
* Distractors stand between the cue and the target, for a reader not to follow: a judging
  word about a character of the film (in three reviews out of five), a second person
  (always), a noun between the head noun and its verb (always), sentences about the person
  between the mention of an item and the question (always; a city when the item is not one).
  The second person and the nearer noun are of the other gender or number in half of the
  prompts (where the contrast would fit them) and of the same in the other half, so their
  gender or number never tells the answer.
* ``generate`` writes the kinds in turn (shuffled blocks) and each kind's two sides in turn
  (positive or negative, she or he, singular or plural, the first or second of two items in
  alphabetical order), separately for the test positions (``course_utils.labels.held_out``)
  and the others, so every split is balanced over kinds and over target and contrast, and no
  answer wins by default. Prompts are distinct; a smaller ``n`` gives a prefix.

The vocabulary is kept in tuples, so nobody mutates it by accident; the embedded language model
is trained on these words, so changing them means rebuilding it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from course_utils.labels import held_out

__all__ = [
    "AGREEMENT_HEADS",
    "AGREEMENT_OTHERS",
    "AGREEMENT_VERBS",
    "CITIES",
    "Continuation",
    "FEMALE_NAMES",
    "GAMES",
    "INSTRUMENTS",
    "KINDS",
    "MALE_NAMES",
    "NEGATIONS",
    "NEGATION_COUNTERPARTS",
    "PRONOUNS",
    "RECALLED",
    "SENTIMENT_PAIRS",
    "VERDICTS",
    "agreement",
    "generate",
    "pronoun",
    "recall",
    "sentiment",
]


@dataclass(frozen=True)
class Continuation:
    """A prompt, its right next token (``target``), a wrong one (``contrast``) and the words deciding.

    ``cue_words`` index ``prompt.split()``. ``target_text`` (the target and the rest of its
    sentence) and ``counterfactual`` (the prompt with its cue words swapped, whose right next
    token is ``contrast``) are always filled by ``generate``; see the module's conventions.
    """

    prompt: str
    target: str
    contrast: str
    cue_words: tuple[int, ...]
    kind: str
    target_text: str = ""
    counterfactual: str = ""

    @property
    def text(self) -> str:
        """The whole text: the prompt continued by ``target_text``."""
        return self.prompt + self.target_text


# --------------------------------------------------------------------------------------
# Vocabulary (every answer is one GPT-2 token with its leading space; a test checks)
# --------------------------------------------------------------------------------------
KINDS: tuple[str, ...] = ("sentiment", "pronoun", "agreement", "recall")

# Judging words of a review, (positive, negative): each is the other's counterpart. The gradable
# ones take a booster and a negation ("very good", "not good"); the strong ones neither
# ("very excellent" and "not superb" say little).
SENTIMENT_PAIRS: tuple[tuple[str, str], ...] = (
    ("good", "bad"), ("strong", "weak"), ("impressive", "disappointing"), ("interesting", "boring"),
    ("excellent", "awful"), ("brilliant", "terrible"), ("wonderful", "dreadful"), ("superb", "poor"),
    ("fantastic", "mediocre"),
)
_GRADABLE = frozenset(word for pair in SENTIMENT_PAIRS[:4] for word in pair)
NEGATIONS: tuple[str, ...] = ("not", "never")
# "not good" -> "really good", "never boring" -> "always boring": the counterfactual keeps the word.
NEGATION_COUNTERPARTS: dict[str, str] = {"not": "really", "never": "always"}
_NEVER_FITS = ("boring", "disappointing")  # "never boring", not "never strong"
_BOOSTERS = ("very", "really", "truly")
_REVIEW_SUBJECTS = (
    "the acting", "the plot", "the script", "the dialogue", "the soundtrack", "the ending", "the story",
    "the pacing", "the camera work", "the cast", "the humour", "the direction", "the first hour",
)
_REVIEW_VERBS = ("was", "felt", "seemed")
# The last sentence of a review, and the verdicts it can end with, (positive, negative).
_VERDICT_FRAMES = (
    "overall, it was", "all in all, the film was", "in short, the movie was", "in the end, I thought it was",
    "to sum up, it was", "all things considered, it was", "my verdict: the film was",
)
VERDICTS: tuple[tuple[str, str], ...] = ((" good", " bad"), (" great", " terrible"))
_VERDICT_TAILS = (".", ", honestly.", " in my view.", ", I think.")
# Judging words about somebody or something in the film, not about the film: distractors.
_REVIEW_DISTRACTORS: dict[str, tuple[str, ...]] = {
    "it is about {a} {w} chef in a small town": ("brilliant", "terrible", "wonderful", "mediocre", "good"),
    "the hero is {a} {w} detective": ("brilliant", "terrible", "superb", "poor", "excellent", "bad"),
    "the story follows {a} {w} family": ("wonderful", "dreadful", "boring", "good", "interesting"),
    "the villain runs {a} {w} old hotel": ("excellent", "awful", "fantastic", "dreadful", "impressive"),
    "the title promises {a} {w} summer": ("wonderful", "dreadful", "fantastic", "boring", "brilliant", "terrible"),
}
_REVIEW_CONTEXT = (
    "I saw it with my sister", "we watched it at home", "it runs about two hours", "my friend picked the film",
    "it came out last year", "it is based on a novel", "I went to the cinema last night", "we had popcorn",
)

FEMALE_NAMES: tuple[str, ...] = (
    "Maria", "Anna", "Sarah", "Emma", "Laura", "Julia", "Lucy", "Kate", "Alice", "Helen", "Mary", "Linda",
    "Emily", "Rachel", "Sophie", "Grace",
)
MALE_NAMES: tuple[str, ...] = (
    "Tom", "David", "John", "James", "Peter", "Mark", "Paul", "Daniel", "Jack", "Luke", "Adam", "Ben",
    "George", "Michael", "Robert", "Steve",
)
# The pronoun of the subject: (female, male) for a subject and for a possessive.
PRONOUNS: tuple[tuple[str, str], ...] = ((" she", " he"), (" her", " his"))
# Sentences whose pronoun refers back to the subject {a}: verbs whose cause is their subject
# ("Maria apologised to Tom because she ..."), and a second action of the subject ("... and went
# back to her desk"). Each has the endings that fit it; the first PRONOUNS pair or the second.
_PRONOUN_FRAMES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("{a} apologised to {b} because", 0, (" was late.", " was wrong.", " had forgotten.")),
    ("{a} called {b} because", 0, (" needed help.", " was lost.", " had news.")),
    ("{a} lied to {b} because", 0, (" was afraid.", " was ashamed.")),
    ("{a} confessed to {b} that", 0, (" had lied.", " was afraid.", " was tired.")),
    ("{a} annoyed {b} because", 0, (" was late.", " talked too much.", " was rude.")),
    ("{a} waved at {b} and went back to", 1, (" desk.", " book.", " work.")),
    ("{a} smiled at {b} and picked up", 1, (" bag.", " phone.", " coffee.")),
    ("{a} said goodbye to {b} and got into", 1, (" car.", " taxi.")),
    ("{a} nodded to {b} and opened", 1, (" laptop.", " bag.", " book.")),
    ("{a} shook hands with {b} and put on", 1, (" coat.", " hat.")),
)
_PRONOUN_ROLES = ("the new manager", "an old friend", "the neighbour", "the driver", "a colleague")
_PRONOUN_LEADS = ("yesterday,", "on Monday,", "after lunch,", "at the party,", "in the morning,", "later,")
_PRONOUN_CONTEXT = (
    "it had been a long week", "it was raining again", "nobody had slept much", "the day had started badly",
    "everyone was tired",
)

# Head nouns (singular, plural): things and animals (somebody "found" them), then people (who "met" somebody).
AGREEMENT_HEADS: tuple[tuple[str, str], ...] = (
    ("key", "keys"), ("book", "books"), ("letter", "letters"), ("photo", "photos"), ("box", "boxes"),
    ("cup", "cups"), ("lamp", "lamps"), ("map", "maps"), ("painting", "paintings"), ("chair", "chairs"),
    ("dog", "dogs"), ("cat", "cats"), ("child", "children"), ("teacher", "teachers"), ("student", "students"),
    ("player", "players"), ("nurse", "nurses"), ("guest", "guests"),
)
_OBJECT_HEADS = AGREEMENT_HEADS[:12]
_ANIMATE_HEADS = AGREEMENT_HEADS[12:]
# Nouns between the head and its verb, (singular, plural): places, then people.
AGREEMENT_OTHERS: tuple[tuple[str, str], ...] = (
    ("cabinet", "cabinets"), ("window", "windows"), ("door", "doors"), ("table", "tables"), ("shelf", "shelves"),
    ("tree", "trees"), ("car", "cars"), ("desk", "desks"), ("wall", "walls"), ("bed", "beds"),
    ("neighbour", "neighbours"), ("boy", "boys"), ("girl", "girls"), ("driver", "drivers"), ("doctor", "doctors"),
)
_PLACES = AGREEMENT_OTHERS[:10]
_PEOPLE = AGREEMENT_OTHERS[10:]
_PLACE_PREPOSITIONS = ("near", "next to", "behind", "beside", "in front of")
_PLACE_ADJECTIVES = ("old", "small", "big", "dark", "white")
_FOUND = ("found", "bought", "lost", "mentioned", "forgot")  # "the keys that the boy found"
_MET = ("met", "helped", "called", "visited")  # "the teacher who met the boys"
# The verb, (singular, plural), in the present and in the past; the endings fit both.
AGREEMENT_VERBS: tuple[tuple[str, str], ...] = ((" is", " are"), (" was", " were"))
_AGREEMENT_TAILS = (" gone.", " missing.", " still there.", " over there.")
_AGREEMENT_CONTEXT = (
    ("look around the room", "we are tidying the house today", "I am back home"),
    ("I looked around the room", "we tidied the house on Sunday", "it was late in the evening"),
)
_AGREEMENT_LEADS = (("today,", "right now,", "as far as I can see,"), ("yesterday,", "in the end,", "by noon,"))

CITIES: tuple[str, ...] = (
    "Paris", "London", "Berlin", "Rome", "Madrid", "Tokyo", "Boston", "Chicago", "Dublin", "Vienna", "Sydney",
    "Toronto", "Seattle", "Moscow", "Cairo", "Athens", "Prague", "Lisbon",
)
INSTRUMENTS: tuple[str, ...] = ("piano", "guitar", "violin", "trumpet", "organ", "bass")
GAMES: tuple[str, ...] = ("tennis", "golf", "chess", "football", "hockey", "rugby", "cricket", "baseball", "poker")
# What a recall prompt names early and asks for again: its items, the sentences that name one
# ({a} the person, {x} the item, {p} the person's pronoun, {age} an age) and the questions that
# ask for it again, each with the endings that fit it.
_Questions = tuple[tuple[str, tuple[str, ...]], ...]
RECALLED: dict[str, tuple[tuple[str, ...], tuple[str, ...], _Questions]] = {
    "city": (
        CITIES,
        ("{a} moved to {x} last year", "{a} grew up in {x}", "{a} spent last summer in {x}",
         "{a} has lived in {x} for ten years"),
        (("{p} loves the food in", (".", " most of all.")), ("{p} still has friends in", (".", " and abroad.")),
         ("{p} often talks about life in", (".", " with friends.")), ("{p} knows every street in", (".",)),
         ("{p} says there is no place like", (".", " in spring."))),
    ),
    "instrument": (
        INSTRUMENTS,
        ("{a} has played the {x} since {p} was {age}", "{a} took {x} lessons as a child",
         "{a} bought a new {x} last month"),
        (("every evening, {p} practises the", (".", " for an hour.")),
         ("at the concert, {p} will play the", (".", " again.")), ("{p} still loves playing the", (".",)),
         ("on Sundays, {p} plays the", (".", " at church.", " for friends."))),
    ),
    "game": (
        GAMES,
        ("{a} has played {x} since school", "{a} fell in love with {x} as a child", "{a} joined a {x} club last year"),
        (("on Saturdays, {p} still plays", (".", " with friends.")), ("{p} teaches children to play", (".",)),
         ("{p} writes a blog about", (".", " and travel.")), ("{p} never misses a game of", (".", " on TV."))),
    ),
}
_AGES = ("six", "seven", "eight", "nine", "ten", "twelve")
# Sentences between the mention and the question: about the person, naming nothing that is recalled.
# A prompt takes at most one sentence of each group (one job, one other person).
_RECALL_FILLERS: tuple[tuple[str, ...], ...] = (
    ("{p} works as a nurse", "{p} works as a lawyer", "{p} works as a teacher"),
    ("{p} has a {sibling} called {b}", "{p} met {b} at work"),
    ("{p} has two cats", "{p} is learning to cook", "{p} is saving money for a new car"),
    ("the weather has been cold all week",),
)

_P_CONTEXT = 0.4  # a sentence of context before the rest
_CONTEXT_COUNTS = {0: 0.5, 1: 0.3, 2: 0.2}  # sentences of context before a one-sentence frame
_P_SECOND_CLAUSE = 0.4  # a review judges a second thing
_P_DISTRACTOR = 0.6  # a review has a judging word about a character
_P_NEGATION = 0.35
_P_BOOSTER = 0.25
_P_LEAD = 0.4
_P_ROLE = 0.3  # "Tom, the new manager,"
_P_SAME_KIND = 0.5  # the second person (the nearer noun) has the subject's gender (number): independent of it


# --------------------------------------------------------------------------------------
# Writing a prompt and its counterfactual side by side
# --------------------------------------------------------------------------------------
class _Writer:
    """Writes a prompt and its counterfactual together: the same words but the cue words."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.swapped: list[str] = []
        self.cues: list[int] = []
        self.sentence_start = 0

    def add(self, phrase: str) -> None:
        """Words that are the same in the prompt and its counterfactual."""
        for word in phrase.split():
            self.words.append(word)
            self.swapped.append(word)

    def cue(self, word: str, counterpart: str) -> None:
        """A word that decides the target; the counterfactual has ``counterpart`` there."""
        self.cues.append(len(self.words))
        self.words.append(word)
        self.swapped.append(counterpart)

    def start_sentence(self) -> None:
        self.sentence_start = len(self.words)

    def end_sentence(self) -> None:
        """Capitalise the sentence and end it with a period; the next one starts after it."""
        self.capitalise()
        self.words[-1] += "."
        self.swapped[-1] += "."
        self.start_sentence()

    def sentence(self, phrase: str) -> None:
        """A whole sentence without cue words."""
        self.add(phrase)
        self.end_sentence()

    def capitalise(self) -> None:
        for words in (self.words, self.swapped):
            first = words[self.sentence_start]
            words[self.sentence_start] = first[0].upper() + first[1:]

    def continuation(self, kind: str, target: str, contrast: str, tail: str) -> Continuation:
        """The example; the last sentence is left open where ``target`` goes."""
        self.capitalise()
        return Continuation(" ".join(self.words), target, contrast, tuple(self.cues), kind,
                            target + tail, " ".join(self.swapped))


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _context(w: _Writer, rng: random.Random, sentences: Sequence[str]) -> None:
    """None, one or two distinct sentences of ``sentences``, so that some prompts are long."""
    counts, weights = zip(*_CONTEXT_COUNTS.items())
    for sentence in rng.sample(list(sentences), rng.choices(counts, weights=weights)[0]):
        w.sentence(sentence)


def _other_person(rng: random.Random, name: str, same: bool) -> str:
    """A name of the same gender as ``name`` (not ``name``) or of the other gender."""
    female = name in FEMALE_NAMES
    names = FEMALE_NAMES if female == same else MALE_NAMES
    return rng.choice([n for n in names if n != name])


# --------------------------------------------------------------------------------------
# The four kinds: side 1 is the first answer of their pair, side 0 the second
# --------------------------------------------------------------------------------------
def _judgement(w: _Writer, rng: random.Random, subject: str, positive: bool) -> bool:
    """"subject verb [negation | booster] word." leaning ``positive``; True if negated.

    The cue words are the judging word and the negation: its counterfactual swaps the word for
    the other of its pair, or the negation for "really"/"always" (the word then means the other
    way round, so the verdict flips either way).
    """
    negated = rng.random() < _P_NEGATION
    pairs = [p for p in SENTIMENT_PAIRS if not negated or p[0] in _GRADABLE]
    pair = rng.choice(pairs)
    word, other = pair if positive != negated else pair[::-1]
    w.add(subject)
    if negated:
        negation = "never" if word in _NEVER_FITS and rng.random() < 0.5 else "not"
        w.add("was")
        w.cue(negation, NEGATION_COUNTERPARTS[negation])
        w.cue(word, word)
    else:
        w.add(rng.choice(_REVIEW_VERBS))
        if word in _GRADABLE and rng.random() < _P_BOOSTER:
            w.add(rng.choice(_BOOSTERS))
        w.cue(word, other)
    w.end_sentence()
    return negated


def _review_distractor(w: _Writer, rng: random.Random) -> None:
    template = rng.choice(list(_REVIEW_DISTRACTORS))
    word = rng.choice(_REVIEW_DISTRACTORS[template])
    w.sentence(template.format(w=word, a=_article(word)))


def sentiment(rng: random.Random, side: int) -> Continuation:
    """A short review ending "Overall, it was" -> " good" (side 1) or " bad" (side 0).

    One or two judgements of the film's parts lean the same way ("The acting was not good.",
    "The plot felt very weak."); a judging word about a character ("The hero is a brilliant
    detective.") leans either way and decides nothing; context sentences ("We watched it at
    home.") add length. The verdict pair is " good"/" bad", or " great"/" terrible" when no judgement is
    negated ("not bad" is no reason to call a film great).
    """
    positive = side == 1
    w = _Writer()
    if rng.random() < _P_CONTEXT:
        w.sentence(rng.choice(_REVIEW_CONTEXT))
    subjects = rng.sample(_REVIEW_SUBJECTS, 2)
    n_judgements = 2 if rng.random() < _P_SECOND_CLAUSE else 1
    distractor_at = rng.randrange(n_judgements + 1) if rng.random() < _P_DISTRACTOR else None
    negated = False
    for i in range(n_judgements + 1):
        if i == distractor_at:
            _review_distractor(w, rng)
        if i < n_judgements:
            negated |= _judgement(w, rng, subjects[i], positive)
    frame = rng.choice(_VERDICT_FRAMES)
    w.add(frame)
    verdicts = VERDICTS[0] if negated else rng.choice(VERDICTS)
    target, contrast = verdicts if positive else verdicts[::-1]
    tails = [t for t in _VERDICT_TAILS if not ("I " in frame and "I " in t)]  # not "I thought ... I think"
    return w.continuation("sentiment", target, contrast, rng.choice(tails))


def pronoun(rng: random.Random, side: int) -> Continuation:
    """"Maria apologised to Tom because" -> " she" (side 1: a woman) or " he" (side 0: a man).

    The cue is the subject's name; the counterfactual names somebody of the other gender (not
    the second person). The second person ("Tom", sometimes "Tom, the new manager,") is of the
    other gender in half of the prompts. The frames make the subject the pronoun's
    referent: a verb whose cause is its subject ("apologised to ... because"), or a second
    action of the subject ("waved at Tom and went back to" -> " her" / " his").
    """
    female = side == 1
    a = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
    b = _other_person(rng, a, same=rng.random() < _P_SAME_KIND)
    counterpart = rng.choice([n for n in (MALE_NAMES if female else FEMALE_NAMES) if n != b])
    frame, pair, tails = rng.choice(_PRONOUN_FRAMES)
    w = _Writer()
    _context(w, rng, _PRONOUN_CONTEXT)
    if rng.random() < _P_LEAD:
        w.add(rng.choice(_PRONOUN_LEADS))
    before, after = frame.split("{b}")
    w.cue(a, counterpart)
    w.add(before.replace("{a}", ""))
    w.add(f"{b}, {rng.choice(_PRONOUN_ROLES)}," if rng.random() < _P_ROLE else b)
    w.add(after)
    target, contrast = PRONOUNS[pair] if female else PRONOUNS[pair][::-1]
    return w.continuation("pronoun", target, contrast, rng.choice(tails))


def agreement(rng: random.Random, side: int) -> Continuation:
    """"The keys near the old cabinet" -> " is" (side 1: a singular head) or " are" (side 0).

    The cue is the head noun; the counterfactual has it in the other number. Between it and the
    verb comes a place ("near the old cabinet") or a person ("that the boy found", "who met
    the doctors") whose noun has the other number in half of the prompts. Present
    (" is"/" are") or past (" was"/" were"), as its lead and context sentence say.
    """
    singular = side == 1
    past = rng.random() < 0.5
    same = rng.random() < _P_SAME_KIND
    animate = rng.random() < 0.5
    head = rng.choice(_ANIMATE_HEADS if animate else _OBJECT_HEADS)
    word, counterpart = head if singular else head[::-1]
    w = _Writer()
    _context(w, rng, _AGREEMENT_CONTEXT[past])
    if rng.random() < _P_LEAD:
        w.add(rng.choice(_AGREEMENT_LEADS[past]))
    w.add("the")
    w.cue(word, counterpart)
    other_singular = singular == same
    if rng.random() < 0.5:
        place = rng.choice(_PLACES)[0 if other_singular else 1]
        w.add(f"{rng.choice(_PLACE_PREPOSITIONS)} the {rng.choice(_PLACE_ADJECTIVES)} {place}")
    else:
        person = rng.choice(_PEOPLE)[0 if other_singular else 1]
        clause = f"who {rng.choice(_MET)} the {person}" if animate else f"that the {person} {rng.choice(_FOUND)}"
        w.add(clause)
    verbs = AGREEMENT_VERBS[past]
    target, contrast = verbs if singular else verbs[::-1]
    return w.continuation("agreement", target, contrast, rng.choice(_AGREEMENT_TAILS))


def recall(rng: random.Random, side: int) -> Continuation:
    """"Anna moved to Paris last year. She loves the food in" -> " Paris" (vs " Rome").

    Two items of one kind (cities, instruments, games) are drawn; side 1 makes the first in
    alphabetical order the target, side 0 the second. The cue is the one mention of the target;
    the counterfactual names the contrast there. Between them come one or two sentences about
    the person (a job, a brother "called Tom", a city when the items are not cities), which name
    nothing of the target's kind.
    """
    what = rng.choice(list(RECALLED))
    items, mentions, questions = RECALLED[what]
    first, second = sorted(rng.sample(items, 2))
    target, contrast = (first, second) if side == 1 else (second, first)
    a = rng.choice(FEMALE_NAMES + MALE_NAMES)
    p = "she" if a in FEMALE_NAMES else "he"
    b = _other_person(rng, a, same=rng.random() < 0.5)
    w = _Writer()
    before, after = rng.choice(mentions).format(a=a, p=p, age=rng.choice(_AGES), x="{x}").split("{x}")
    w.add(before)
    w.cue(target, contrast)
    w.add(after)
    w.end_sentence()
    groups = list(_RECALL_FILLERS)
    if what != "city":  # a place, but not of the recalled kind
        groups.append((f"{{p}} now lives in {rng.choice(CITIES)}",))
    for group in rng.sample(groups, rng.choice((1, 1, 2))):
        filler = rng.choice(group)
        w.sentence(filler.format(p=p, b=b, sibling="sister" if b in FEMALE_NAMES else "brother"))
    question, tails = rng.choice(questions)
    w.add(question.format(p=p))
    return w.continuation("recall", " " + target, " " + contrast, rng.choice(tails))


_KIND_FUNCTIONS: dict[str, Callable[[random.Random, int], Continuation]] = {
    "sentiment": sentiment, "pronoun": pronoun, "agreement": agreement, "recall": recall,
}


# --------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------
def _check(n: int, seed: int, kinds: Sequence[str] | None) -> tuple[str, ...]:
    """The distinct kinds asked for, in order; raises for a bad ``n``, ``seed`` or kind."""
    # bool is an int subclass, but generate(True) is surely a mistake.
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be a positive int (number of prompts), got {type(n).__name__} {n!r}")
    if n <= 0:
        raise ValueError(f"n must be a positive int (number of prompts), got {n}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    if isinstance(kinds, str):  # generate(10, kinds="recall") would iterate over its letters
        kinds = (kinds,)
    chosen = tuple(dict.fromkeys(KINDS if kinds is None else kinds))
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen:
        raise ValueError(f"unknown kinds {unknown}; choose one or more of {', '.join(KINDS)}")
    return chosen


def generate(n: int, seed: int = 0, kinds: Sequence[str] | None = None) -> list[Continuation]:
    """``n`` distinct prompts of the given ``kinds`` (all of ``KINDS`` by default), with seed ``seed``.

    Deterministic, and a smaller ``n`` gives a prefix. The kinds come in shuffled blocks and
    each kind's two sides in shuffled pairs, one stream for the held-out positions
    (``course_utils.labels.held_out``) and one for the others, so both splits are balanced;
    a prompt already written is redrawn with the same kind and side.

    Raises:
        ValueError / TypeError: for a bad ``n``, ``seed`` or an unknown kind.
    """
    chosen = _check(n, seed, kinds)
    rng = random.Random(seed)
    examples: list[Continuation] = []
    seen: set[str] = set()
    kind_blocks: dict[bool, list[str]] = {True: [], False: []}
    side_blocks: dict[tuple[bool, str], list[int]] = {(t, k): [] for t in (True, False) for k in chosen}
    attempts, max_attempts = 0, 200 * n + 1000
    while len(examples) < n:
        attempts += 1
        if attempts > max_attempts:  # the grammar has millions of prompts, so this is a bug guard
            raise RuntimeError(f"could not generate {n} distinct prompts of {chosen} with seed={seed}")
        test = held_out(len(examples))
        if not kind_blocks[test]:
            kind_blocks[test] += rng.sample(chosen, len(chosen))
        kind = kind_blocks[test][-1]
        sides = side_blocks[test, kind]
        if not sides:
            sides += rng.sample((0, 1), 2)
        example = _KIND_FUNCTIONS[kind](rng, sides[-1])
        if example.prompt in seen:
            continue
        kind_blocks[test].pop()
        sides.pop()
        seen.add(example.prompt)
        examples.append(example)
    return examples
