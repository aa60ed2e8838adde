"""The lab format: how a course notebook lays out what is graded. Read here, nowhere else.

A lab is one nbgrader notebook; its cells carry nbgrader's metadata (``metadata.nbgrader``:
``grade``, ``solution``, ``locked``, ``grade_id``, ``points``) and play these roles:

* **Set-up cells**: the plain code cells (no nbgrader metadata) above the first exercise:
  imports, the model, the data. The tests' namespace is built by running them.
* **Exercises**: a code cell with ``solution`` whose grade_id is ``ex_<function>``; the
  student writes ``<function>`` there.
* **Tests**: a code cell with ``grade`` and without ``solution`` (read-only, worth its
  ``points``). Its grade_id is ``test_<function>_<what>``, and it belongs to the exercise with
  the *longest* name that prefixes it so: ``test_mask_top_k_hidden`` is ``mask_top_k``'s even
  where ``mask`` is an exercise too. A test whose grade_id names no exercise belongs to none.
* **Hidden regions**: in a test cell, from a line that contains ``BEGIN HIDDEN TESTS`` to the
  next line that contains ``END HIDDEN TESTS``, both lines included (the course writes them
  ``### BEGIN HIDDEN TESTS`` on lines of their own, indented or not). This is nbgrader's own
  rule, so what counts as hidden here is exactly what a release hides. A test cell with a
  region is a hidden test, one without is visible; the course takes the regions out of every
  feedback too. A marker spelled otherwise hides nothing: `near_misses` finds such lines.
* **Solution regions**: ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` by the same rule: what
  the release replaces by a stub in an exercise or a written answer.
* **Written questions**: a markdown cell with ``grade`` and ``solution``, graded by a person;
  its solution region is the model answer followed by the rubric.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from nbformat.notebooknode import NotebookNode

EXERCISE_PREFIX = "ex_"
TEST_PREFIX = "test_"
# nbgrader's delimiters (ClearHiddenTests, ClearSolutions): a line containing one is a marker.
HIDDEN_TESTS = "HIDDEN TESTS"
BEGIN_HIDDEN, END_HIDDEN = f"BEGIN {HIDDEN_TESTS}", f"END {HIDDEN_TESTS}"
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
_DELIMITERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
# What no release may contain: every marker, and the words a mangled marker keeps.
MARKERS = (*_DELIMITERS, HIDDEN_TESTS)
# A comment line shaped like a marker, in any case, with letters missing or doubled: "# BEGIN
# HIDDEN TEST", "### begin hidden tests", "## END HIDEN TESTS", "### END SOLUTON". A test's
# own opening comment ("# Hidden test: rows sum to 1.") is not one.
_LIKE_A_MARKER = re.compile(r"^\s*(#+\s*(BEG\w*|END)\s+(HID|SOL)|##+.*HID+EN\s*TEST)", re.I)


# ------------------------------------------------------------------------------ cells
def grading(cell: NotebookNode) -> dict:
    """A cell's nbgrader metadata ({} for a plain cell)."""
    return cell.metadata.get("nbgrader", {})


def grade_id(cell: NotebookNode) -> str:
    return grading(cell).get("grade_id", "")


def points(cell: NotebookNode) -> float:
    """What a grade cell is worth (0 for a cell without points)."""
    return float(grading(cell).get("points", 0))


def is_answer(cell: NotebookNode) -> bool:
    """A cell the student writes in: an exercise, or a written question's answer."""
    return bool(grading(cell).get("solution"))


def is_exercise(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and is_answer(cell) and grade_id(cell).startswith(EXERCISE_PREFIX)


def is_test(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and bool(grading(cell).get("grade")) and not is_answer(cell)


def is_written(cell: NotebookNode) -> bool:
    """A written question's answer cell (markdown, graded by a person)."""
    return cell.cell_type == "markdown" and bool(grading(cell).get("grade")) and is_answer(cell)


def grade_ids(nb: NotebookNode) -> set[str]:
    """Every grade_id the notebook's cells carry."""
    return {grade_id(cell) for cell in nb.cells} - {""}


# ------------------------------------------------------------------------------ names
def exercise_id(name: str) -> str:
    """The grade_id of the exercise cell where `name` is written."""
    return EXERCISE_PREFIX + name


def exercise_name(grade_id: str) -> str | None:
    """The function an exercise's grade_id names (None for another grade_id)."""
    return grade_id[len(EXERCISE_PREFIX):] if grade_id.startswith(EXERCISE_PREFIX) else None


def exercise_names(nb: NotebookNode) -> list[str]:
    """The exercises of a notebook, in its order."""
    return [exercise_name(grade_id(cell)) for cell in nb.cells if is_exercise(cell)]


def owner(test_id: str, exercises: Iterable[str]) -> str | None:
    """The exercise a test belongs to: the longest name with `test_id` = test_<name>_..."""
    named = [name for name in exercises if test_id.startswith(f"{TEST_PREFIX}{name}_")]
    return max(named, key=len) if named else None


# ------------------------------------------------------------------------------ regions
def _spans(source: str, begin: str, end: str) -> list[tuple[int, int]]:
    """(first, last) line index of each region, markers included; an unclosed region runs
    to the cell's end (nbgrader refuses to release one; anything else hides it all)."""
    spans, start = [], None
    lines = source.split("\n")
    for index, line in enumerate(lines):
        if start is None and begin in line:
            start = index
        elif start is not None and end in line:
            spans.append((start, index))
            start = None
    return spans + ([(start, len(lines) - 1)] if start is not None else [])


def _regions(source: str, begin: str, end: str) -> list[str]:
    lines = source.split("\n")
    return ["\n".join(lines[first:last + 1]) for first, last in _spans(source, begin, end)]


def _replace(source: str, begin: str, end: str, note: str) -> str:
    """`source` with each region replaced by the line `note` (removed when `note` is ""); an
    end marker outside a region goes too, as nbgrader drops it."""
    lines, kept, resume = source.split("\n"), [], 0
    for first, last in _spans(source, begin, end):
        kept += [line for line in lines[resume:first] if end not in line] + ([note] if note else [])
        resume = last + 1
    return "\n".join(kept + [line for line in lines[resume:] if end not in line])


def hidden_regions(source: str) -> list[str]:
    """The hidden-test regions of a cell's source, marker lines included."""
    return _regions(source, BEGIN_HIDDEN, END_HIDDEN)


def has_hidden(source: str) -> bool:
    """Whether a test is hidden (its cell holds a hidden region)."""
    return bool(_spans(source, BEGIN_HIDDEN, END_HIDDEN))


def without_hidden(source: str, note: str = "") -> str:
    """A test cell's source with each hidden region replaced by the line `note` (or removed)."""
    return _replace(source, BEGIN_HIDDEN, END_HIDDEN, note)


def hidden_region(body: str) -> str:
    """`body` as a hidden region, as the course writes one (for notebooks built in code)."""
    return f"### {BEGIN_HIDDEN}\n{body}\n### {END_HIDDEN}"


def solution_regions(source: str) -> list[str]:
    """The solution regions of a cell's source, marker lines included."""
    return _regions(source, BEGIN_SOLUTION, END_SOLUTION)


def without_solution(source: str) -> str:
    return _replace(source, BEGIN_SOLUTION, END_SOLUTION, "")


def solution_text(source: str) -> str:
    """What the first solution region holds (marker lines out), or the whole source when
    there is none; stripped. A written question's model answer and rubric."""
    spans = _spans(source, BEGIN_SOLUTION, END_SOLUTION)
    if not spans:
        return source.strip()
    first, last = spans[0]
    lines = source.split("\n")
    inner = lines[first + 1:last] if END_SOLUTION in lines[last] else lines[first + 1:]
    return "\n".join(inner).strip()


def without_solution_markers(source: str) -> str:
    """The reference answer as a student would write it: the solution marker lines out."""
    return "\n".join(line for line in source.split("\n") if BEGIN_SOLUTION not in line and END_SOLUTION not in line)


def near_misses(source: str) -> list[str]:
    """Lines that read like a hidden-test or solution marker but are not one: they hide
    nothing, so the code they were meant to hide reaches the release."""
    return [line.strip() for line in source.split("\n")
            if _LIKE_A_MARKER.match(line) and not any(marker in line for marker in _DELIMITERS)]


# ------------------------------------------------------------------------------ a lab
@dataclass
class Test:
    grade_id: str
    points: float
    source: str

    @property
    def hidden(self) -> bool:
        return has_hidden(self.source)


@dataclass
class Exercise:
    name: str
    solution: str  # the reference answer, markers included
    tests: list[Test] = field(default_factory=list)

    @property
    def points(self) -> float:
        return sum(test.points for test in self.tests)


@dataclass
class Written:
    grade_id: str
    points: float
    source: str  # the cell's text: in a source notebook, the model answer and rubric


@dataclass
class Lab:
    """A lab notebook's grading structure."""

    setup: list[str]  # the set-up cells' sources, in order
    exercises: dict[str, Exercise]  # by function name, in the notebook's order, each with its tests
    tests: dict[str, Test]  # every test cell by grade_id, in order, whether an exercise owns it or not
    written: dict[str, Written]  # the written questions by grade_id


def imported_modules(tree: ast.AST) -> list[str]:
    """The modules a parsed cell imports (absolute imports only), in order, as written ("torch.nn")."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def setup_cells(nb: NotebookNode) -> list[NotebookNode]:
    """The set-up cells: the plain code cells above the first exercise."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code" and is_answer(cell):
            break
        if cell.cell_type == "code" and not grading(cell):
            cells.append(cell)
    return cells


def read_lab(nb: NotebookNode) -> Lab:
    """The grading structure of a lab notebook (`Lab`)."""
    exercises = {exercise_name(grade_id(c)): Exercise(exercise_name(grade_id(c)), c.source)
                 for c in nb.cells if is_exercise(c)}
    tests = {grade_id(c): Test(grade_id(c), points(c), c.source) for c in nb.cells if is_test(c)}
    for test in tests.values():
        name = owner(test.grade_id, exercises)
        if name is not None:
            exercises[name].tests.append(test)
    written = {grade_id(c): Written(grade_id(c), points(c), c.source) for c in nb.cells if is_written(c)}
    return Lab([c.source for c in setup_cells(nb)], exercises, tests, written)
