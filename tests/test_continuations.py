"""The generated prompts for a language model (course_utils.continuations) and their loader
(course_utils.data.load_continuations): the cue words decide, the answers are GPT-2 tokens."""

from __future__ import annotations

import dataclasses
from collections import Counter

import datasets
import pytest
from transformers import AutoTokenizer, GPT2Tokenizer

from course_utils import continuations as grammar
from course_utils.continuations import KINDS, Continuation, generate
from course_utils.data import load_continuations
from course_utils.labels import held_out, normalize_word
from course_utils.models import ASSETS_DIR

N = 2000
POSITIVE = {pair[0] for pair in grammar.SENTIMENT_PAIRS}
NEGATIVE = {pair[1] for pair in grammar.SENTIMENT_PAIRS}
SINGULAR = {pair[0] for pair in grammar.AGREEMENT_HEADS}
PLURAL = {pair[1] for pair in grammar.AGREEMENT_HEADS}
OTHER_SINGULAR = {pair[0] for pair in grammar.AGREEMENT_OTHERS}
OTHER_PLURAL = {pair[1] for pair in grammar.AGREEMENT_OTHERS}
NAMES = set(grammar.FEMALE_NAMES) | set(grammar.MALE_NAMES)
# Words written with a capital inside a sentence: names, places, "I", "TV".
PROPER = NAMES | set(grammar.CITIES) | {"I", "TV", "Monday", "Sunday", "Saturdays", "Sundays"}


@pytest.fixture(scope="module")
def examples() -> list[Continuation]:
    return generate(N, seed=0)


@pytest.fixture(scope="module")
def tokenizer():
    """GPT-2's real tokenizer, as the embedded GPT-2 loads it (offline, from the committed files)."""
    tok = AutoTokenizer.from_pretrained(str(ASSETS_DIR / "gpt2-imdb"), local_files_only=True)
    assert tok("Hello, my dog is cute")["input_ids"] == [15496, 11, 616, 3290, 318, 13779]
    return tok


# ---------------------------------------------------------------- a reader of the cue words
def side_of_answer(e: Continuation, answer: str) -> int:
    """1 for the first answer of a kind's pair (positive, she/her, is/was, alphabetically first item), else 0."""
    if e.kind == "sentiment":
        return int(answer in {v[0] for v in grammar.VERDICTS})
    if e.kind == "pronoun":
        return int(answer in {p[0] for p in grammar.PRONOUNS})
    if e.kind == "agreement":
        return int(answer in {v[0] for v in grammar.AGREEMENT_VERBS})
    other = e.contrast if answer == e.target else e.target
    return int(answer < other)


def read_cues(e: Continuation, prompt: str) -> str | None:
    """The answer that the words at ``e.cue_words`` of ``prompt`` call for, read with the
    grammar's vocabulary only: which of ``e.target`` and ``e.contrast`` they decide."""
    cues = [prompt.split()[i] for i in e.cue_words]
    words = [normalize_word(w) for w in cues]
    answers = (e.target, e.contrast)
    if e.kind == "sentiment":
        score, flip = 0, 1
        for word in words:
            if word in grammar.NEGATIONS:
                flip = -1
                continue
            assert word in POSITIVE | NEGATIVE or word in grammar.NEGATION_COUNTERPARTS.values(), (word, prompt)
            if word in POSITIVE | NEGATIVE:
                score += flip * (1 if word in POSITIVE else -1)
                flip = 1
        assert score != 0, prompt
        side = int(score > 0)
    elif e.kind == "pronoun":
        assert len(words) == 1 and cues[0] in NAMES, prompt
        side = int(cues[0] in grammar.FEMALE_NAMES)
    elif e.kind == "agreement":
        assert len(words) == 1 and words[0] in SINGULAR | PLURAL, prompt
        side = int(words[0] in SINGULAR)
    else:
        assert len(words) == 1, prompt
        return next((a for a in answers if a.strip().lower() == words[0]), None)
    return next(a for a in answers if side_of_answer(e, a) == side)


# ---------------------------------------------------------------- the shared API, determinism, the loader
def test_continuation_is_the_shared_frozen_record(examples):
    """Lab 5 and the language model's build script rely on these five fields first, in this order."""
    names = [f.name for f in dataclasses.fields(Continuation)]
    assert names == ["prompt", "target", "contrast", "cue_words", "kind", "target_text", "counterfactual"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        examples[0].target = " no"
    assert all(isinstance(e.cue_words, tuple) and e.kind in KINDS for e in examples)
    for kind in KINDS:  # each kind is a function of its own, generating only its kind
        assert callable(getattr(grammar, kind)) and getattr(grammar, kind).__doc__
        assert {e.kind for e in generate(8, seed=1, kinds=[kind])} == {kind}


def test_generate_is_deterministic_and_prefix_stable(examples):
    assert generate(300, seed=3) == generate(300, seed=3)
    assert generate(300, seed=0) != generate(300, seed=1)
    assert generate(60) == examples[:60]
    assert [e.kind for e in generate(40, kinds=["recall", "pronoun"])] != [e.kind for e in examples[:40]]


def test_load_continuations_is_generate_split(examples):
    train, test = load_continuations(N, "train"), load_continuations(N, "test")
    assert isinstance(train, datasets.Dataset)
    assert train.column_names == ["prompt", "target", "contrast", "cue_words", "kind", "target_text", "counterfactual"]
    assert (len(train), len(test)) == (N - N // 5, N // 5)
    expected = [e for i, e in enumerate(examples) if held_out(i)]
    assert test["prompt"] == [e.prompt for e in expected]
    assert test["cue_words"] == [list(e.cue_words) for e in expected]
    assert test["target_text"] == [e.target_text for e in expected]
    assert load_continuations(300, "train", seed=2).to_dict() == load_continuations(300, "train", seed=2).to_dict()
    assert len(load_continuations(50, None)) == 50


def test_train_and_test_are_disjoint_whatever_n():
    train = set(load_continuations(N, "train")["prompt"])
    for n in (100, N, 3000):
        assert not train & set(load_continuations(n, "test")["prompt"]), n
    assert len(train) == N - N // 5  # distinct prompts


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="positive int"):
        generate(0)
    with pytest.raises(TypeError, match="positive int"):
        generate(True)
    with pytest.raises(ValueError, match="unknown kinds \\['poem'\\]"):
        generate(10, kinds=["sentiment", "poem"])
    with pytest.raises(ValueError, match="choose one or more"):
        generate(10, kinds=[])
    with pytest.raises(ValueError, match="unknown split"):
        load_continuations(10, "dev")
    assert {e.kind for e in generate(12, kinds="recall")} == {"recall"}


# ---------------------------------------------------------------- balance
def test_kinds_are_balanced_in_each_split(examples):
    assert set(KINDS) == {"sentiment", "pronoun", "agreement", "recall"}
    for test in (False, True):
        counts = Counter(e.kind for i, e in enumerate(examples) if held_out(i) == test)
        assert set(counts) == set(KINDS) and max(counts.values()) - min(counts.values()) <= 1, counts


def test_each_kinds_two_sides_are_balanced_in_each_split(examples):
    """Within every kind and split, the first answer of its pair is right as often as the second."""
    for test in (False, True):
        for kind in KINDS:
            sides = Counter(side_of_answer(e, e.target) for i, e in enumerate(examples)
                            if held_out(i) == test and e.kind == kind)
            assert abs(sides[1] - sides[0]) <= 1, (kind, test, sides)


def test_no_answer_wins_by_default():
    """Every answer token is the target about as often as it is the contrast (3 binomial sigmas)."""
    many = generate(8000, seed=5)
    for kind in KINDS:
        right = Counter(e.target for e in many if e.kind == kind)
        wrong = Counter(e.contrast for e in many if e.kind == kind)
        assert set(right) == set(wrong), kind
        for answer in right:
            total = right[answer] + wrong[answer]
            assert abs(right[answer] - wrong[answer]) <= 3 * total ** 0.5 + 1, (kind, answer, right[answer], wrong[answer])
    assert len({e.target for e in many if e.kind == "recall"}) == (
        len(grammar.CITIES) + len(grammar.INSTRUMENTS) + len(grammar.GAMES))


# ---------------------------------------------------------------- the answers are GPT-2 tokens
def test_target_and_contrast_are_one_gpt2_token_each(examples, tokenizer):
    """With the committed GPT-2 tokenizer and with one built from GPT-2's raw vocab and merges."""
    raw = GPT2Tokenizer(str(ASSETS_DIR / "tokenizers" / "gpt2" / "vocab.json"),
                        str(ASSETS_DIR / "tokenizers" / "gpt2" / "merges.txt"))
    answers = {e.target for e in examples} | {e.contrast for e in examples}
    assert len(answers) > 40
    for answer in answers:
        assert answer.startswith(" ") and answer == " " + answer.strip(), answer
        ids = tokenizer(answer)["input_ids"]
        assert len(ids) == 1 and raw(answer)["input_ids"] == ids, (answer, ids)
        assert tokenizer.decode(ids) == answer
    pairs = {frozenset(p) for p in grammar.VERDICTS + grammar.PRONOUNS + grammar.AGREEMENT_VERBS}
    for e in examples:
        if e.kind == "recall":  # two items of one kind
            assert e.target != e.contrast and any({e.target.strip(), e.contrast.strip()} <= set(items)
                                                  for items, _, _ in grammar.RECALLED.values()), e
        else:
            assert frozenset((e.target, e.contrast)) in pairs, e


def test_target_text_is_two_to_five_tokens_that_continue_the_prompt(examples, tokenizer):
    """``target_text`` starts with the target; the prompt's tokens then the target's are the text's."""
    lengths = Counter()
    for e in examples:
        assert e.target_text.startswith(e.target) and e.text == e.prompt + e.target_text
        ids = tokenizer(e.target_text)["input_ids"]
        lengths[len(ids)] += 1
        assert 2 <= len(ids) <= 5, e.target_text
        assert ids[0] == tokenizer(e.target)["input_ids"][0]
        assert tokenizer(e.text)["input_ids"] == tokenizer(e.prompt)["input_ids"] + ids, e.text
    assert all(lengths[k] > 50 for k in (2, 3, 4, 5)), lengths


# ---------------------------------------------------------------- the cue words decide
def test_the_cue_words_decide_the_target(examples):
    for e in examples:
        assert e.cue_words and list(e.cue_words) == sorted(set(e.cue_words)), e
        assert all(0 <= i < len(e.prompt.split()) for i in e.cue_words), e
        assert read_cues(e, e.prompt) == e.target, e


def test_swapping_the_cue_words_makes_the_contrast_right(examples):
    """The counterfactual differs from the prompt at cue words only, and there the contrast wins."""
    for e in examples:
        words, swapped = e.prompt.split(), e.counterfactual.split()
        assert len(words) == len(swapped), e
        changed = [i for i, (a, b) in enumerate(zip(words, swapped)) if a != b]
        assert changed and set(changed) <= set(e.cue_words), e
        assert read_cues(e, e.counterfactual) == e.contrast, e


def test_the_counterfactual_of_a_negation_keeps_the_word(examples):
    """"not good" -> "really good": the negation alone is swapped, and it alone flips the verdict."""
    negated = [e for e in examples if e.kind == "sentiment"
               and any(normalize_word(e.prompt.split()[i]) in grammar.NEGATIONS for i in e.cue_words)]
    assert len(negated) > 100
    for e in negated:
        for i in e.cue_words:
            word, swapped = e.prompt.split()[i], e.counterfactual.split()[i]
            if normalize_word(word) in grammar.NEGATIONS:
                assert swapped == grammar.NEGATION_COUNTERPARTS[word], e
                assert e.prompt.split()[i + 1] == e.counterfactual.split()[i + 1], e


def test_recall_names_the_target_once_and_never_the_contrast(examples):
    for e in (e for e in examples if e.kind == "recall"):
        names = [normalize_word(w) for w in e.prompt.split()]
        assert names.count(e.target.strip().lower()) == 1 and e.contrast.strip().lower() not in names, e.prompt
        assert e.cue_words[0] < len(names) - 4  # named early, with sentences between


def distractor(e: Continuation) -> tuple[str, str]:
    """The cue word of a pronoun or agreement prompt and its one distractor: the other person's
    name, the noun between the head noun and the verb."""
    words = [w.strip(",.") for w in e.prompt.split()]
    cue = words[e.cue_words[0]]
    if e.kind == "pronoun":
        others = [w for w in words if w in NAMES and w != cue]
    else:
        others = [w for w in words[e.cue_words[0] + 1:] if w in OTHER_SINGULAR | OTHER_PLURAL]
    assert len(others) == 1, e.prompt
    return cue, others[0]


def same_kind(e: Continuation, cue: str, other: str) -> bool:
    """Whether the distractor has the cue's gender (pronoun) or number (agreement)."""
    if e.kind == "pronoun":
        return (cue in grammar.FEMALE_NAMES) == (other in grammar.FEMALE_NAMES)
    return (cue in SINGULAR) == (other in OTHER_SINGULAR)


def test_distractors_are_there_and_tell_nothing(examples):
    """A second person of either gender, a nearer noun of either number, whatever the answer."""
    for kind in ("pronoun", "agreement"):
        same = Counter((side_of_answer(e, e.target), same_kind(e, *distractor(e)))
                       for e in examples if e.kind == kind)
        for side in (0, 1):  # the distractor agrees with the cue about half the time, on either side
            share = same[side, True] / (same[side, True] + same[side, False])
            assert 0.4 < share < 0.6, (kind, side, same)


def test_judging_words_about_characters_do_not_lean_with_the_verdict(examples):
    """"The hero is a brilliant detective.": as often in a bad review as in a good one."""
    leaning = Counter()
    for e in (e for e in examples if e.kind == "sentiment"):
        for i, word in enumerate(normalize_word(w) for w in e.prompt.split()):
            if i not in e.cue_words and word in POSITIVE | NEGATIVE:
                leaning[side_of_answer(e, e.target), word in POSITIVE] += 1
    assert sum(leaning.values()) > 0.4 * N / 4
    shares = [leaning[side, True] / (leaning[side, True] + leaning[side, False]) for side in (0, 1)]
    assert abs(shares[0] - shares[1]) < 0.12 and all(0.3 < share < 0.7 for share in shares), leaning


# ---------------------------------------------------------------- natural English
def sentences(text: str) -> list[list[str]]:
    out: list[list[str]] = [[]]
    for word in text.split():
        out[-1].append(word)
        if word.endswith("."):
            out.append([])
    return [s for s in out if s]


def test_prompts_are_english_sentences(examples):
    for e in examples:
        assert e.prompt == " ".join(e.prompt.split()) and not set(e.prompt) & set("{}_*[]"), e.prompt
        assert e.prompt[-1].isalpha(), e.prompt  # stops where the target goes
        assert e.text.endswith(".") and e.counterfactual[0].isupper()
        openings = [tuple(sentence[:3]) for sentence in sentences(e.text)]
        assert len(set(openings)) == len(openings), e.text  # not "He works as a nurse. He works as a lawyer."
        for sentence in sentences(e.text):
            first, *rest = sentence
            assert first[0].isupper(), e.text
            assert all(w[0].islower() or w.strip(",.:") in PROPER for w in rest), e.text
            assert all(w[-1].isalpha() or w[-1] in ",.:" for w in sentence), e.text
            assert all(w.strip(",.:") for w in sentence), e.text  # no punctuation on its own


def test_each_kind_has_long_prompts_and_variety(examples):
    """Prompts of two to five sentences (so several generated tokens make sense) in every kind."""
    for kind in KINDS:
        prompts = [e.prompt for e in examples if e.kind == kind]
        counts = Counter(len(sentences(p + ".")) for p in prompts)
        assert max(counts) <= 5 and sum(v for k, v in counts.items() if k >= 2) > 0.25 * len(prompts), (kind, counts)
        assert len({" ".join(p.split()[-3:]) for p in prompts}) >= 5, kind  # several frames end the prompts
        assert len({e.target_text for e in examples if e.kind == kind}) >= 8, kind
