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
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def lab_notebook(lab: str, folder: str = "solutions") -> Path:
    return ROOT / folder / lab / f"{lab}.ipynb"


@dataclass
class Exercise:
    name: str
    solution: str
    tests: list[tuple[str, float, str]] = field(default_factory=list)  # (grade_id, points, source)

    @property
    def points(self) -> float:
        return sum(points for _, points, _ in self.tests)


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def read_exercises(path: Path) -> tuple[str, dict[str, Exercise]]:
    """(set-up source, exercises by function name) of a solution notebook."""
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    # The set-up: every plain code cell before the first exercise (imports, model, data).
    first_exercise = next(i for i, c in enumerate(code_cells) if _nbgrader(c).get("solution"))
    setup = "\n\n".join(c.source for c in code_cells[:first_exercise] if not _nbgrader(c))
    exercises: dict[str, Exercise] = {}
    for cell in code_cells:
        meta = _nbgrader(cell)
        grade_id = meta.get("grade_id", "")
        if meta.get("solution") and grade_id.startswith("ex_"):
            name = grade_id[len("ex_"):]
            exercises[name] = Exercise(name, cell.source)
    for cell in code_cells:
        meta = _nbgrader(cell)
        grade_id = meta.get("grade_id", "")
        if meta.get("grade") and grade_id.startswith("test_"):
            owner = max((n for n in exercises if grade_id.startswith(f"test_{n}_")), key=len)
            exercises[owner].tests.append((grade_id, float(meta["points"]), cell.source))
    return setup, exercises


def dependents(exercises: dict[str, Exercise], name: str) -> list[str]:
    """The other exercises whose reference solution calls `name` (Lab 4's comprehensiveness calls mask_top_k)."""
    call = re.compile(rf"\b{re.escape(name)}\(")
    return [other for other, exercise in exercises.items()
            if other != name and call.search(exercise.solution)]


HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"


def is_visible(source: str) -> bool:
    """Whether a test cell is one the student sees and runs (it holds no hidden region)."""
    return HIDDEN_MARKER not in source


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
             if not visible_only or is_visible(test[2])]
    for grade_id, points, source in tests:
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output):
                exec(compile(source, f"<{grade_id}>", "exec"), namespace)
        except Exception as error:  # a failing test cell scores 0, whatever the error
            results[grade_id] = (0.0, f"{type(error).__name__}: {error}")
        else:
            results[grade_id] = (points, "")
        finally:
            if printed is not None:
                printed[grade_id] = output.getvalue()
    return results
