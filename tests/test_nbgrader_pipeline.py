"""The nbgrader pipeline end to end: release, autograde, feedback (one graded cohort per lab)."""

from __future__ import annotations

import json

import nbformat
import pytest

from course_admin import labformat, pipeline
from course_admin.cli import DEMO_PLANS
from harness import grade, read_exercises

LAB1 = "lab1_lime_from_scratch"
LABS = pipeline.finished_labs()


def _auto(scores):
    return {exercise: pair for exercise, pair in scores.items() if not exercise.startswith("written_")}


@pytest.mark.parametrize("lab", LABS)
def test_reference_gets_full_marks(cohorts, lab):
    scores = _auto(cohorts(lab).scores["reference"])
    assert scores and all(score == top for score, top in scores.values()), scores


@pytest.mark.parametrize("lab", LABS)
def test_blank_release_gets_zero_without_crashing(cohorts, lab):
    graded = cohorts(lab)
    assert set(graded.scores["blank"]) == set(graded.scores["reference"])
    assert all(score == 0 for score, _ in graded.scores["blank"].values()), graded.scores["blank"]


@pytest.mark.parametrize("lab", LABS)
def test_partly_wrong_student_loses_exactly_where_wrong(cohorts, lab):
    scores = _auto(cohorts(lab).scores["partly_wrong"])
    plan = DEMO_PLANS[lab]
    for exercise, (score, top) in scores.items():
        answer = plan.get(labformat.exercise_id(exercise))
        if answer == "solution":
            assert score == top, exercise
        elif answer is None:
            assert score == 0, f"{exercise} was left blank"
        else:
            assert 0 <= score < top, exercise


@pytest.mark.parametrize("lab", LABS)
def test_nbgrader_agrees_with_the_in_process_harness(cohorts, lab):
    """Each wrong answer in the mixed submission scores the same under nbgrader as in tests/harness.py,
    given the same answers to the other exercises (a visible test may skip its value checks when an
    exercise it calls is wrong: Lab 1's fit_surrogate with a wrong weighted_mse)."""
    graded = cohorts(lab)
    setup, exercises = read_exercises(pipeline.lab_notebook(lab))
    for exercise, source in graded.wrong_mix.items():
        harness_score = sum(points for points, _ in grade(setup, exercises, exercise, source,
                                                          others=graded.wrong_mix).values())
        assert graded.scores["wrong_mix"][exercise][0] == harness_score, exercise
        assert harness_score < exercises[exercise].points


@pytest.mark.parametrize("lab", LABS)
def test_committed_release_equals_a_fresh_generate_assignment(cohorts, lab):
    fresh = json.loads(cohorts(lab).release.read_text())
    committed = json.loads(pipeline.lab_notebook(lab, "notebooks").read_text())
    assert committed == fresh, "notebooks/ is stale: run `course release`"


@pytest.mark.parametrize("lab", LABS)
def test_release_contains_no_solution_or_hidden_test_text(lab):
    source = nbformat.read(pipeline.lab_notebook(lab), as_version=4)
    release = nbformat.read(pipeline.lab_notebook(lab, "notebooks"), as_version=4)
    assert pipeline.leaked_text(source, release) == []
    assert "YOUR CODE HERE" in "".join(c.source for c in release.cells)


@pytest.mark.parametrize("lab", LABS)
def test_feedback_shows_messages_but_no_hidden_tests(cohorts, lab):
    html = cohorts(lab).feedback.read_text()
    assert labformat.BEGIN_HIDDEN not in html
    assert "a hidden test failed" in html


def test_warnings_on_stderr_do_not_zero_a_test(graded):
    """A student function that emits a UserWarning still earns its points (IgnorePattern)."""
    assert graded.scores["noisy"]["perturb_tokens"] == graded.scores["reference"]["perturb_tokens"]


def test_lab1_feedback_diagnoses_without_quoting_hidden_code(graded):
    html = graded.feedback.read_text()
    assert "_reference_weighted_mse" not in html and "check_perturb_tokens_counts(8" not in html
    assert "rows must sum to 1" in html  # the diagnosis of the softmax-over-batch mistake


def test_leak_check_finds_a_leak():
    source = nbformat.read(pipeline.lab_notebook(LAB1), as_version=4)
    assert pipeline.leaked_text(source, source)  # the source itself leaks everything


@pytest.mark.parametrize("grade_id, regions", [("test_perturb_tokens_counts", labformat.hidden_regions),
                                               ("ex_kernel_weights", labformat.solution_regions)])
def test_leak_check_finds_secret_lines_whose_markers_are_gone(grade_id, regions):
    """The committed release with one cell as its source minus the marker lines (a hidden
    test or a reference answer): no marker is left for the marker rule to see, so only the
    line-level rule can find it, and every line it names is one of that cell's regions."""
    source = nbformat.read(pipeline.lab_notebook(LAB1), as_version=4)
    release = nbformat.read(pipeline.lab_notebook(LAB1, "notebooks"), as_version=4)
    assert pipeline.leaked_text(source, release) == []
    secret = next(cell.source for cell in source.cells if labformat.grade_id(cell) == grade_id)
    cell = next(cell for cell in release.cells if labformat.grade_id(cell) == grade_id)
    cell.source = "\n".join(line for line in secret.split("\n") if not any(m in line for m in labformat.MARKERS))
    assert not any(marker in c.source for c in release.cells for marker in labformat.MARKERS)
    leaks = pipeline.leaked_text(source, release)
    assert leaks, f"the {grade_id} lines in the release were not found"
    assert set(leaks) <= {line.strip() for region in regions(secret) for line in region.split("\n")}

