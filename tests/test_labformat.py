"""The lab format (course_admin.labformat) on small notebooks, and that nothing else reads it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from nbformat import v4
from nbgrader.preprocessors import ClearHiddenTests

from course_admin import labformat, pipeline

ROOT = Path(__file__).resolve().parents[1]


def _graded(kind: str, source: str, grade_id: str, *, grade: bool, solution: bool,
            points: float | None = None) -> nbformat.NotebookNode:
    cell = v4.new_code_cell(source) if kind == "code" else v4.new_markdown_cell(source)
    cell.metadata["nbgrader"] = {"grade": grade, "solution": solution, "locked": not solution,
                                 "grade_id": grade_id, "schema_version": 3,
                                 **({} if points is None else {"points": points})}
    return cell


def _exercise(name: str) -> nbformat.NotebookNode:
    return _graded("code", f"def {name}():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                   labformat.exercise_id(name), grade=False, solution=True)


def _test(grade_id: str, source: str = "assert True", points: float = 1) -> nbformat.NotebookNode:
    return _graded("code", source, grade_id, grade=True, solution=False, points=points)


def _lab() -> nbformat.NotebookNode:
    """Two exercises, one named by a prefix of the other, a test that names none, a written question."""
    return v4.new_notebook(cells=[
        v4.new_markdown_cell("# A lab"),
        v4.new_code_cell("import math"),
        _graded("markdown", "Read this first.", "intro", grade=False, solution=False),  # locked text: not set-up
        v4.new_code_cell("x = math.pi"),
        _exercise("mask"),
        v4.new_code_cell("print(mask())  # a demonstration after the first exercise: not set-up"),
        _test("test_mask_visible"),
        _exercise("mask_top_k"),
        _test("test_mask_top_k_visible"),
        _test("test_mask_top_k_hidden", "# Hidden test: ties.\n" + labformat.hidden_region("assert 1 == 1"), 2),
        _test("test_mask_top", points=3),  # "top" is a test of mask, not an exercise's name
        _test("test_masks", points=4),  # test_<name>_ is required: "masks" names no exercise
        _graded("markdown", "### BEGIN SOLUTION\nModel answer.\n\n**Rubric (2 points).** 2: yes.\n### END SOLUTION",
                "written_why", grade=True, solution=True, points=2),
    ])


# ------------------------------------------------------------------------------ cells and names
def test_setup_cells_are_the_plain_code_cells_above_the_first_exercise():
    lab = labformat.read_lab(_lab())
    assert lab.setup == ["import math", "x = math.pi"]
    no_exercise = v4.new_notebook(cells=[v4.new_code_cell("a = 1"), _test("test_f_x"), v4.new_code_cell("b = 2")])
    assert labformat.read_lab(no_exercise).setup == ["a = 1", "b = 2"], "without an exercise every plain cell is set-up"


def test_imported_modules_are_the_absolute_imports_as_written():
    tree = ast.parse("import torch.nn as nn, numpy\nfrom lime.lime_text import X\nfrom . import local\n"
                     "def f():\n    import captum.attr\n")
    assert labformat.imported_modules(tree) == ["torch.nn", "numpy", "lime.lime_text", "captum.attr"]


def test_each_test_belongs_to_the_longest_exercise_name_that_prefixes_it():
    lab = labformat.read_lab(_lab())
    assert list(lab.exercises) == ["mask", "mask_top_k"]
    assert [t.grade_id for t in lab.exercises["mask"].tests] == ["test_mask_visible", "test_mask_top"]
    assert [t.grade_id for t in lab.exercises["mask_top_k"].tests] == ["test_mask_top_k_visible",
                                                                       "test_mask_top_k_hidden"]
    assert "test_masks" in lab.tests and labformat.owner("test_masks", lab.exercises) is None
    # whatever order the names come in
    assert labformat.owner("test_mask_top_k_hidden", ["mask_top_k", "mask"]) == "mask_top_k"
    assert labformat.owner("test_mask_top_k_hidden", ["mask", "mask_top_k"]) == "mask_top_k"


def test_points_hidden_tests_and_written_questions():
    lab = labformat.read_lab(_lab())
    assert lab.exercises["mask"].points == 4 and lab.exercises["mask_top_k"].points == 3
    assert [t.hidden for t in lab.exercises["mask_top_k"].tests] == [False, True]
    assert list(lab.written) == ["written_why"] and lab.written["written_why"].points == 2
    assert labformat.solution_text(lab.written["written_why"].source) == \
        "Model answer.\n\n**Rubric (2 points).** 2: yes."
    assert labformat.grade_ids(_lab()) == {"intro", "ex_mask", "ex_mask_top_k", "written_why", *lab.tests}


def test_exercise_ids_and_names_are_inverse():
    assert labformat.exercise_name(labformat.exercise_id("stability")) == "stability"
    assert labformat.exercise_name("test_stability_hidden") is None and labformat.exercise_name("written_q") is None


# ------------------------------------------------------------------------------ regions
REGION_CASES = {
    "one region": "# Hidden test: a.\nx = 1\n" + labformat.hidden_region("assert x == 1\nassert x > 0"),
    "indented": "for k in (1, 2):\n    ### BEGIN HIDDEN TESTS\n    assert k\n    ### END HIDDEN TESTS\nprint('done')",
    "two regions": "a = 1\n### BEGIN HIDDEN TESTS\nb = 2\n### END HIDDEN TESTS\nc = 3\n"
                   "### BEGIN HIDDEN TESTS\nd = 4\n### END HIDDEN TESTS",
    "no region": "# Visible test: shapes.\nassert True",
    "misspelled": "x = 1\n### BEGIN HIDDEN TEST\nassert secret()\n### END HIDDEN TEST",
    "misspelled begin": "x = 1\n### BEGIN HIDEN TESTS\nassert secret()\n### END HIDDEN TESTS",
    "lower case": "x = 1\n### begin hidden tests\nassert secret()\n### end hidden tests",
}


@pytest.mark.parametrize("case", REGION_CASES)
def test_hidden_regions_are_what_nbgrader_hides_in_a_release(case):
    """The rule is nbgrader's own: what the release keeps of a cell is exactly the cell
    without its hidden regions (a stray end marker dropped, as nbgrader drops it)."""
    source = REGION_CASES[case]
    released = _test("test_f_x", source)
    ClearHiddenTests().preprocess_cell(released, {}, 0)
    assert labformat.without_hidden(source) == released.source
    hidden = case not in (*MISSPELLED, "no region")
    assert labformat.has_hidden(source) == bool(labformat.hidden_regions(source)) == hidden


def test_hidden_regions_indented_and_several():
    indented = REGION_CASES["indented"]
    assert labformat.hidden_regions(indented) == ["    ### BEGIN HIDDEN TESTS\n    assert k\n    ### END HIDDEN TESTS"]
    assert labformat.without_hidden(indented, "# (hidden)") == "for k in (1, 2):\n# (hidden)\nprint('done')"
    assert labformat.without_hidden(REGION_CASES["two regions"], "# (hidden)") == \
        "a = 1\n# (hidden)\nc = 3\n# (hidden)"


def test_an_unclosed_region_hides_the_rest_of_the_cell():
    source = "a = 1\n### BEGIN HIDDEN TESTS\nsecret = 2"
    assert labformat.has_hidden(source) and labformat.without_hidden(source) == "a = 1"
    with pytest.raises(RuntimeError):  # nbgrader refuses to release it at all
        ClearHiddenTests().preprocess_cell(_test("test_f_x", source), {}, 0)


MISSPELLED = ("misspelled", "misspelled begin", "lower case")


@pytest.mark.parametrize("case", MISSPELLED)
def test_a_misspelled_marker_hides_nothing_and_is_found(case):
    source = REGION_CASES[case]
    assert not labformat.has_hidden(source) and labformat.hidden_regions(source) == []
    assert "assert secret()" in labformat.without_hidden(source, "# (hidden)")
    misspelled = [line for line in source.split("\n") if line.startswith("###") and labformat.END_HIDDEN not in line]
    assert labformat.near_misses(source) == misspelled


@pytest.mark.parametrize("case", MISSPELLED)
def test_the_release_check_finds_a_misspelled_marker(case):
    """nbgrader releases the test a misspelled marker was meant to hide (dropping a correct end
    marker, if any): no marker or region is left for the other rules of the leak check to see."""
    source = v4.new_notebook(cells=[_test("test_f_hidden", REGION_CASES[case])])
    release = nbformat.from_dict(source)
    ClearHiddenTests().preprocess_cell(release.cells[0], {}, 0)
    assert "assert secret()" in release.cells[0].source  # what the students get
    assert pipeline.leaked_text(source, release) == [f"a misspelled marker: {line}"
                                                     for line in labformat.near_misses(REGION_CASES[case])]


def test_near_misses_ignore_the_markers_and_the_tests_own_comments():
    assert labformat.near_misses(REGION_CASES["one region"]) == []
    assert labformat.near_misses("# Hidden test: the solution's rows sum to 1; the end.") == []
    assert labformat.near_misses("    ### BEGIN SOLUTION\n    ### END SOLUTION") == []
    assert labformat.near_misses("   ## END HIDEN TESTS") == ["## END HIDEN TESTS"]
    assert labformat.near_misses("# BEGIN HIDDEN TEST\n### END SOLUTON\n## HIDDEN  TESTS") == \
        ["# BEGIN HIDDEN TEST", "### END SOLUTON", "## HIDDEN  TESTS"]
    assert labformat.near_misses("## The end of the lab: what the explanations agree on") == []
    for path in sorted(ROOT.glob("solutions/*/*.ipynb")) + sorted(ROOT.glob("notebooks/*/*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        assert [line for cell in notebook.cells for line in labformat.near_misses(cell.source)] == [], path


def test_solution_regions_and_the_answer_a_student_would_write():
    code = _exercise("f").source
    assert labformat.solution_regions(code) == ["    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"]
    assert labformat.without_solution(code) == "def f():"
    assert labformat.without_solution_markers(code) == "def f():\n    return 1"
    assert labformat.solution_text("No markers here.\n") == "No markers here."


def test_the_labs_read_as_the_course_describes_them():
    """Every exercise of every lab has a visible test and a hidden one, and every test cell an exercise."""
    for lab_name in pipeline.finished_labs(ROOT):
        lab = labformat.read_lab(nbformat.read(pipeline.lab_notebook(lab_name, root=ROOT), as_version=4))
        owned = {test.grade_id for exercise in lab.exercises.values() for test in exercise.tests}
        assert owned == set(lab.tests), f"{lab_name}: tests no exercise owns: {set(lab.tests) - owned}"
        assert lab.setup and lab.written, lab_name
        for name, exercise in lab.exercises.items():
            assert {test.hidden for test in exercise.tests} == {False, True}, f"{lab_name}: {name}"


# ------------------------------------------------------------------------------ one reader
# What reading the format looks like in code: the hidden-test marker spelled out, or a grade_id
# prefix of the format taken apart or put together ("ex_", f"test_{name}_").
READING = {
    "spells the hidden-test marker": re.compile(r"HIDDEN TESTS"),
    "parses or builds an ex_/test_ grade_id": re.compile(r"""(["'])(ex|test)_\1|\bf(["'])(ex|test)_\{"""),
}
SCANNED = ("course_admin", "course_utils", "benchmarks", "tests", "tests_browser", "scripts")
# Files allowed to read the format themselves, each with the reason.
ALLOWED = {
    "course_admin/labformat.py": "the one reader",
    "tests/test_labformat.py": "this test, which spells the markers to check them and to find other readers",
}


def _readings(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [f"line {text.count(chr(10), 0, found.start()) + 1}: {what}"
            for what, pattern in READING.items() for found in pattern.finditer(text)]


def test_no_module_but_labformat_reads_the_lab_format():
    files = sorted(p for folder in SCANNED for p in (ROOT / folder).rglob("*.py") if ".venv" not in p.parts)
    assert len(files) > 50, "the scan found the repository's files"
    readers = {str(p.relative_to(ROOT)): found for p in files if (found := _readings(p))}
    unexpected = {path: found for path, found in readers.items() if path not in ALLOWED}
    assert not unexpected, f"read the lab format through course_admin.labformat instead: {unexpected}"
    stale = set(ALLOWED) - set(readers)
    assert not stale, f"no longer read the format themselves: take them off ALLOWED: {stale}"
