"""The solution notebooks run top to bottom offline, quietly and reproducibly."""

from __future__ import annotations

import re

import nbformat
import pytest

from course_admin import labformat, pipeline

LAB = "lab1_lime_from_scratch"
LABS = pipeline.finished_labs()


def _text_outputs(nb) -> list[str]:
    """Printed text of the non-test code cells, in order (figures and HTML ids ignored)."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        # One string per cell: a kernel may split the same printed text into several
        # stream messages depending on timing, and nbgrader stores them as they came.
        printed = ""
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                printed += output["text"]
            elif output.get("output_type") == "execute_result":
                printed += output["data"].get("text/plain", "")
        texts.append(printed)
    # matplotlib reprs carry object addresses and timings vary: neither is a number of the lab
    return [re.sub(r"\d+\.\d+ s\b", "? s", re.sub(r"0x[0-9a-f]+", "0x?", text)) for text in texts]


@pytest.mark.parametrize("lab", LABS)
def test_solution_runs_without_errors_or_warnings(executed, lab):
    nb, seconds = executed(lab)
    print(f"{lab} executed in {seconds:.1f} s")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert pipeline.stderr_outputs(nb) == []


def test_solution_prints_the_story_numbers(lab1_executed):
    text = "\n".join(_text_outputs(lab1_executed[0]))
    for expected in ("Loaded gpt2-imdb", "perturbed reviews", "weighted R²", "top-3 overlap", "effective samples"):
        assert expected in text, f"missing output: {expected}"


@pytest.mark.parametrize("lab", LABS)
def test_two_executions_give_identical_numbers(executed, cohorts, lab):
    """The autograder's run of the reference submission is a second, independent execution."""
    path = cohorts(lab).workspace.path / "autograded" / "reference" / lab / f"{lab}.ipynb"
    assert _text_outputs(nbformat.read(path, as_version=4)) == _text_outputs(executed(lab)[0])


@pytest.mark.parametrize("lab", LABS)
def test_notebooks_are_stored_without_outputs(lab):
    for folder in ("solutions", "notebooks"):
        nb = nbformat.read(pipeline.lab_notebook(lab, folder), as_version=4)
        with_outputs = [c.source[:40] for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not with_outputs, f"{folder}: clear the outputs of {with_outputs}"


@pytest.mark.parametrize("lab, n_exercises", [("lab1_lime_from_scratch", 7), ("lab2_attention_vs_lime", 6),
                                                  ("lab3_ig_vs_lime", 5), ("lab4_faithfulness_stability", 6),
                                                  ("lab5_explaining_generation", 7)])
def test_every_exercise_has_a_visible_and_a_hidden_test(lab, n_exercises):
    source = nbformat.read(pipeline.lab_notebook(lab, "solutions"), as_version=4)
    exercises = labformat.read_lab(source).exercises
    cells = {labformat.grade_id(c): c for c in source.cells}
    assert len(exercises) == n_exercises
    for name, exercise in exercises.items():
        assert any(not test.hidden for test in exercise.tests), f"{name}: no visible test"
        assert any(test.hidden for test in exercise.tests), f"{name}: no hidden test"
        assert all(labformat.grading(cells[test.grade_id])["locked"] for test in exercise.tests)
