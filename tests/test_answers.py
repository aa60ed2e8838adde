"""Hidden tests judged from outside: every wrong answer loses points, every correct one keeps all.

Runs each exercise's test cells in-process (tests/harness.py) against the catalogues in
tests/answers_lab*.py, whose entries written as edits are applied to the reference solution cell
(tests/answer_edits.py). The nbgrader tests check that real autograding agrees on samples.
"""

from __future__ import annotations

import importlib
import re

import pytest

from answer_edits import Edit, written_out
from harness import dependents, grade, lab_notebook, read_exercises

LABS = {"lab1_lime_from_scratch": "answers_lab1", "lab2_attention_vs_lime": "answers_lab2", "lab3_ig_vs_lime": "answers_lab3",
        "lab4_faithfulness_stability": "answers_lab4", "lab5_explaining_generation": "answers_lab5"}


def _cases(kind: str):
    for lab, module_name in LABS.items():
        catalogue = getattr(importlib.import_module(module_name), kind)
        for exercise, answers in catalogue.items():
            for label in answers:
                yield pytest.param(lab, exercise, label, id=f"{lab.split('_')[0]}-{exercise}-{label}")


@pytest.fixture(scope="session")
def exercises():
    return {lab: read_exercises(lab_notebook(lab)) for lab in LABS}


@pytest.fixture(scope="session")
def visible_grades(exercises):
    """What the visible tests alone say of a WRONG entry, graded once a session: three tests read it."""
    graded: dict[tuple[str, str, str], dict[str, tuple[float, str]]] = {}

    def results(lab: str, exercise: str, label: str) -> dict[str, tuple[float, str]]:
        if (lab, exercise, label) not in graded:
            setup, found = exercises[lab]
            graded[lab, exercise, label] = grade(setup, found, exercise, _source(found, lab, "WRONG", exercise, label),
                                                 visible_only=True)
        return graded[lab, exercise, label]
    return results


def _source(found: dict, lab: str, kind: str, exercise: str, label: str) -> str:
    """The source of a catalogue entry; an edit is applied to the exercise's reference solution cell."""
    answer = getattr(importlib.import_module(LABS[lab]), kind)[exercise][label]
    return written_out(answer, found[exercise].solution, f"{LABS[lab]}.{kind}[{exercise!r}][{label!r}]")


def test_an_edit_that_does_not_apply_fails_loudly():
    """An edit whose old text is missing from the reference (or there twice) raises, naming the entry and the text,
    so a changed reference solution never gets graded as the "wrong" answer."""
    reference = "def f(x):\n    return x + 1\n"
    with pytest.raises(ValueError, match=r"answers_lab9\.WRONG\['f'\]\['gone'\]: .*'x - 1' occurs 0 times"):
        written_out(Edit("x - 1", "x"), reference, "answers_lab9.WRONG['f']['gone']")
    with pytest.raises(ValueError, match=r"'x' occurs 2 times"):
        written_out((Edit("+ 1", "- 1"), Edit("x", "y")), reference, "answers_lab9.WRONG['f']['twice']")
    assert written_out(Edit("+ 1", "- 1"), reference, "") == "def f(x):\n    return x - 1\n"


def test_each_grade_starts_from_what_a_fresh_set_up_gives():
    """The harness runs a set-up once and reuses it; a grade that changed what the set-up made (a model left in
    train mode, a list or tensor changed in place, a name rebound) does not reach the next grade."""
    from course_admin.labformat import Exercise, Test

    setup = "import torch\nnet = torch.nn.Linear(2, 1)\nwords = ['a', 'b']\nbias = torch.zeros(1)\nruns = []\nruns.append(1)"
    check = Test("test_f_state", 1, "assert net.training and words == ['a', 'b'] and float(bias) == 0 and runs == [1]"
                                    "\nassert f() == 'ok' and torch.is_grad_enabled()")
    exercises = {"f": Exercise("f", "def f():\n    return 'ok'", [check])}
    spoilers = ["net.eval()", "words.append('c')", "bias += 1", "runs.append(2)", "torch.set_grad_enabled(False)",
                "net = None", "f = None"]
    for spoiler in spoilers:
        spoiled = grade(setup, exercises, "f", f"def f():\n    return 'ok'\n{spoiler}")
        assert spoiled["test_f_state"][1], f"the spoiler {spoiler!r} itself should fail the check"
        assert grade(setup, exercises, "f", "def f():\n    return 'ok'") == {"test_f_state": (1, "")}, spoiler


@pytest.mark.parametrize("lab", list(LABS))
def test_reference_solutions_get_full_marks(exercises, lab):
    setup, found = exercises[lab]
    for name, exercise in found.items():
        results = grade(setup, found, name, exercise.solution)
        failures = {gid: msg for gid, (_, msg) in results.items() if msg}
        assert not failures, f"{name}: the reference solution fails {failures}"


@pytest.mark.parametrize("lab, exercise, label", list(_cases("WRONG")))
def test_wrong_answer_loses_points(exercises, visible_grades, lab, exercise, label):
    """Graded as nbgrader grades it. The visible test cell runs first, so where it fails (its verdict is
    shared with the visible-test checks below) the hidden ones cannot give its point back: only an
    answer it passes needs the whole run."""
    setup, found = exercises[lab]
    hidden = [test.hidden for test in found[exercise].tests]
    assert hidden == sorted(hidden), f"{exercise}: a visible test after a hidden one would see what the hidden ones left"
    results = visible_grades(lab, exercise, label)
    if not any(message for _, message in results.values()):
        results = grade(setup, found, exercise, _source(found, lab, "WRONG", exercise, label))
    earned = sum(points for points, _ in results.values())
    assert earned < found[exercise].points, f"wrong answer {label!r} got full marks on {exercise}"


@pytest.mark.parametrize("lab, exercise, label", list(_cases("ALTERNATIVES")))
def test_alternative_correct_answer_gets_full_marks(exercises, lab, exercise, label):
    setup, found = exercises[lab]
    results = grade(setup, found, exercise, _source(found, lab, "ALTERNATIVES", exercise, label))
    failures = {gid: msg for gid, (_, msg) in results.items() if msg}
    assert not failures, f"correct answer {label!r} for {exercise} loses points: {failures}"


def _keyed_cases(kind: str):
    """(lab, exercise, wrong-answer label, what catalogue `kind` expects of it), one case each."""
    for lab, module_name in LABS.items():
        for exercise, answers in getattr(importlib.import_module(module_name), kind, {}).items():
            for label, expected in answers.items():
                yield pytest.param(lab, exercise, label, expected, id=f"{lab.split('_')[0]}-{exercise}-{label}")


@pytest.mark.parametrize("lab, exercise, label, failing", list(_keyed_cases("ISOLATED")))
def test_one_mistake_fails_only_the_tests_about_it(exercises, lab, exercise, label, failing):
    """A hidden test judges one behaviour: a mistake elsewhere does not cost it points (nor mislead its message).

    The mistake is graded by its own exercise's tests and by the tests of every exercise whose
    reference solution calls it (fit_surrogate calls weighted_mse): those must pass."""
    setup, found = exercises[lab]
    results = grade(setup, found, exercise, _source(found, lab, "WRONG", exercise, label),
                    tests_of=[exercise, *dependents(found, exercise)])
    failed = {gid for gid, (_, msg) in results.items() if msg}
    assert failed == set(failing), f"{label!r} fails {sorted(failed)}, expected exactly {sorted(failing)}"


@pytest.mark.parametrize("lab", list(LABS))
def test_catalogue_covers_every_exercise(exercises, lab):
    _, found = exercises[lab]
    module = importlib.import_module(LABS[lab])
    for kind in ("WRONG", "ALTERNATIVES"):
        missing = set(found) - set(getattr(module, kind))
        assert not missing, f"{kind} has no entry for {sorted(missing)}"


# The visible tests alone (what a student runs before submitting) must fail this share of each lab's WRONG answers.
VISIBLE_CATCH_RATE = 0.9


@pytest.mark.parametrize("lab, exercise, label, pattern", list(_keyed_cases("VISIBLE")))
def test_visible_test_names_the_cause(visible_grades, lab, exercise, label, pattern):
    """The commonest slips fail the visible test under the exercise, with a message that names the cause."""
    results = visible_grades(lab, exercise, label)
    assert results, f"{exercise} has no visible test"
    messages = [message for _, message in results.values() if message]
    assert messages, f"the visible test of {exercise} passes the wrong answer {label!r}: the student learns of it only after submitting"
    assert any(re.search(pattern, message) for message in messages), (
        f"the visible test of {exercise} fails {label!r} with {messages}, which does not name the cause ({pattern!r})")


@pytest.mark.parametrize("lab", list(LABS))
def test_visible_tests_catch_most_wrong_answers(visible_grades, lab):
    """The share of the catalogue's WRONG answers that the visible tests alone fail, per lab (printed; >= 90%)."""
    caught, missed = 0, []
    for exercise, answers in importlib.import_module(LABS[lab]).WRONG.items():
        for label in answers:
            results = visible_grades(lab, exercise, label)
            if any(message for _, message in results.values()):
                caught += 1
            else:
                missed.append(f"{exercise}.{label}")
    total = caught + len(missed)
    print(f"{lab}: the visible tests alone fail {caught} of {total} wrong answers ({caught / total:.0%}); "
          f"they pass {missed}")
    assert caught / total >= VISIBLE_CATCH_RATE, (
        f"{lab}: the visible tests fail only {caught}/{total} wrong answers ({caught / total:.0%}); they pass {missed}")


# A visible test whose value check needs another exercise skips it when that one is wrong, and says what is
# wrong with it (not a guess: a weighted_mse that divides by the weights' sum is not a broadcasting slip).
SKIPPED_BECAUSE = [
    ("lab1_lime_from_scratch", "fit_surrogate", "weighted_mse", "normalised_by_weight_sum",
     r"weighted_mse is wrong: it gives 0\.1200 where 0\.24 is right"),
    ("lab1_lime_from_scratch", "fit_surrogate", "weighted_mse", "broadcast_n_by_n",
     r"weighted_mse is wrong: it gives 0\.\d+ where 0\.24 is right"),
    ("lab4_faithfulness_stability", "comprehensiveness", "mask_top_k", "masks_specials",
     r"skipped because mask_top_k does not mask just tokens 10 and 11"),
    ("lab4_faithfulness_stability", "sufficiency", "mask_top_k", "lowest_scores",
     r"skipped because mask_top_k does not mask just tokens 10 and 11"),
    ("lab5_explaining_generation", "contrastive_attribution", "occlusion_attribution", "reversed_sign",
     r"skipped because your occlusion_attribution \(Exercise 2\) differs from captum's"),
    ("lab5_explaining_generation", "generation_attribution", "occlusion_attribution", "probability_drop",
     r"skipped because your occlusion_attribution \(Exercise 2\) differs from captum's"),
]


@pytest.mark.parametrize("lab, dependent, dependency, label, pattern", SKIPPED_BECAUSE,
                         ids=[f"{d}-{dep}-{label}" for _, d, dep, label, _ in SKIPPED_BECAUSE])
def test_skipped_value_check_names_the_other_exercise_slip(exercises, lab, dependent, dependency, label, pattern):
    setup, found = exercises[lab]
    printed: dict[str, str] = {}
    results = grade(setup, found, dependency, _source(found, lab, "WRONG", dependency, label), tests_of=[dependent],
                    visible_only=True, printed=printed)
    visible = [gid for gid in results if gid.endswith("_visible")]
    assert visible and all(not results[gid][1] for gid in visible), f"{dependent}'s visible test fails: {results}"
    text = " ".join(printed[gid] for gid in visible)
    assert re.search(pattern, text), f"{dependent}'s visible test printed {text!r}, which does not name the cause"


# Where the other exercise's slip makes the dependent one unable to run at all, its visible test fails, naming that slip.
FAILS_NAMING = [
    ("lab1_lime_from_scratch", "fit_surrogate", "weighted_mse", "returns_python_float",
     r"because weighted_mse is wrong: it returns a float, not a tensor"),
    ("lab5_explaining_generation", "contrastive_attribution", "occlusion_attribution", "returns_list",
     r"because your occlusion_attribution \(Exercise 2\) is wrong"),
    ("lab5_explaining_generation", "generation_attribution", "occlusion_attribution", "returns_list",
     r"because your occlusion_attribution \(Exercise 2\) is wrong"),
]


@pytest.mark.parametrize("lab, dependent, dependency, label, pattern", FAILS_NAMING,
                         ids=[f"{d}-{dep}-{label}" for _, d, dep, label, _ in FAILS_NAMING])
def test_a_dependent_that_cannot_run_names_the_other_exercise_slip(exercises, lab, dependent, dependency, label,
                                                                  pattern):
    setup, found = exercises[lab]
    results = grade(setup, found, dependency, _source(found, lab, "WRONG", dependency, label), tests_of=[dependent],
                    visible_only=True)
    messages = [message for gid, (_, message) in results.items() if gid.endswith("_visible") and message]
    assert messages, f"{dependent}'s visible test passes with {dependency} {label!r}"
    assert any(re.search(pattern, message) for message in messages), messages
