"""Run one lab's exercise tests in-process against candidate implementations.

The notebooks' test cells are self-contained (they import what they use and build their
own inputs), so a candidate function can be graded in a fresh namespace in milliseconds,
without a kernel. tests/test_answers.py uses this for the catalogue of wrong and
alternative answers; the nbgrader tests check that real autograding agrees.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import nbformat

from course_admin.labformat import Exercise, read_lab

ROOT = Path(__file__).resolve().parents[1]


def lab_notebook(lab: str, folder: str = "solutions") -> Path:
    return ROOT / folder / lab / f"{lab}.ipynb"


def read_exercises(path: Path) -> tuple[str, dict[str, Exercise]]:
    """(set-up source, exercises by function name, each with its tests) of a solution notebook."""
    lab = read_lab(nbformat.read(path, as_version=4))
    return "\n\n".join(lab.setup), lab.exercises


def dependents(exercises: dict[str, Exercise], name: str) -> list[str]:
    """The other exercises whose reference solution calls `name` (Lab 4's comprehensiveness calls mask_top_k)."""
    call = re.compile(rf"\b{re.escape(name)}\(")
    return [other for other, exercise in exercises.items()
            if other != name and call.search(exercise.solution)]


def grade(setup: str, exercises: dict[str, Exercise], name: str, candidate: str,
          tests_of: list[str] | None = None, visible_only: bool = False,
          printed: dict[str, str] | None = None, others: dict[str, str] | None = None) -> dict[str, tuple[float, str]]:
    """Points and failure message per test cell of exercise `name` (or of each exercise in
    `tests_of`) for `candidate` source; with `visible_only`, only the cells the student sees.

    The namespace holds the set-up cell and the reference solutions of the other
    exercises, as if the student had solved everything else correctly, except those `others`
    gives a source for (a whole submission's answers). What each test cell prints is stored
    in `printed` (grade_id -> text) when a dict is given.
    """
    namespace: dict = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(setup, "<setup>", "exec"), namespace)
        for other in exercises.values():
            if other.name != name:
                source = (others or {}).get(other.name, other.solution)
                exec(compile(source, f"<{other.name}>", "exec"), namespace)
        exec(compile(candidate, f"<candidate {name}>", "exec"), namespace)
    results = {}
    tests = [test for owner in (tests_of or [name]) for test in exercises[owner].tests
             if not (visible_only and test.hidden)]
    for test in tests:
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output):
                exec(compile(test.source, f"<{test.grade_id}>", "exec"), namespace)
        except Exception as error:  # a failing test cell scores 0, whatever the error
            results[test.grade_id] = (0.0, f"{type(error).__name__}: {error}")
        else:
            results[test.grade_id] = (test.points, "")
        finally:
            if printed is not None:
                printed[test.grade_id] = output.getvalue()
    return results
