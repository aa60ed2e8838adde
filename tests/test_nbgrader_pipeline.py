"""The nbgrader pipeline end to end: release, autograde, feedback (shared session fixture)."""

from __future__ import annotations

import json

import nbformat

from course_utils import pipeline
from harness import grade

LAB = "lab1_lime_from_scratch"


def _by_exercise(scores):
    return {s.exercise: (s.score, s.max_score) for s in scores}


def test_reference_gets_full_marks(graded):
    scores = graded.scores["reference"]
    assert all(score == top for exercise, (score, top) in scores.items() if exercise != "written_sigma"), scores
    assert sum(top for exercise, (_, top) in scores.items() if exercise != "written_sigma") == 37


def test_blank_release_gets_zero_without_crashing(graded):
    scores = graded.scores["blank"]
    assert set(scores) == set(graded.scores["reference"])
    assert all(score == 0 for score, _ in scores.values()), scores


def test_partly_wrong_student_loses_exactly_where_wrong(graded):
    scores = graded.scores["partly_wrong"]
    full = {"perturb_tokens", "kernel_weights", "fit_surrogate"}
    for exercise, (score, top) in scores.items():
        if exercise in full:
            assert score == top, exercise
        elif exercise != "written_sigma":
            assert score < top, exercise
    assert scores["token_importance"][0] == 0  # left blank


def test_nbgrader_agrees_with_the_in_process_harness(graded, lab1_exercises):
    """Each wrong answer in the mixed submission scores the same under nbgrader as in tests/harness.py."""
    setup, exercises = lab1_exercises
    for exercise, source in graded.wrong_mix.items():
        harness_score = sum(points for points, _ in grade(setup, exercises, exercise, source).values())
        assert graded.scores["wrong_mix"][exercise][0] == harness_score, exercise
        assert harness_score < exercises[exercise].points


def test_warnings_on_stderr_do_not_zero_a_test(graded):
    """A student function that emits a UserWarning still earns its points (IgnorePattern)."""
    assert graded.scores["noisy"]["perturb_tokens"] == graded.scores["reference"]["perturb_tokens"]


def test_committed_release_equals_a_fresh_generate_assignment(graded):
    fresh = json.loads(graded.release.read_text())
    committed = json.loads(pipeline.lab_notebook(LAB, "notebooks").read_text())
    assert committed == fresh, "notebooks/ is stale: run `course release`"


def test_release_contains_no_solution_or_hidden_test_text(graded):
    source = nbformat.read(pipeline.lab_notebook(LAB), as_version=4)
    release = nbformat.read(pipeline.lab_notebook(LAB, "notebooks"), as_version=4)
    assert pipeline.leaked_text(source, release) == []
    assert "YOUR CODE HERE" in "".join(c.source for c in release.cells)


def test_leak_check_finds_a_leak():
    source = nbformat.read(pipeline.lab_notebook(LAB), as_version=4)
    leaky = nbformat.read(pipeline.lab_notebook(LAB), as_version=4)  # the source itself leaks everything
    assert pipeline.leaked_text(source, leaky)


def test_feedback_shows_messages_but_no_hidden_tests(graded):
    html = graded.feedback.read_text()
    assert "BEGIN HIDDEN TESTS" not in html
    assert "_reference_weighted_mse" not in html and "check_perturb_tokens_counts(8" not in html
    assert "rows must sum to 1" in html  # the diagnosis of the softmax-over-batch mistake
    assert "a hidden test failed" in html
