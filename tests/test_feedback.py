"""Scoring and feedback steps: test cells scored by their errors, outputs cut and sanitised,
grader cells dropped, hidden tests named, tests run in the course's order, edits of test cells
noted for the grader."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from course_admin import labformat, preprocessors

ROOT = Path(__file__).resolve().parents[1]


def _test_cell(outputs, points=2):
    cell = nbformat.v4.new_code_cell("check()")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": points, "grade_id": "test_x"}
    cell.outputs = outputs
    return cell


def test_a_test_cell_with_an_error_scores_zero_whatever_else_it_shows():
    result = nbformat.v4.new_output("execute_result", data={"text/plain": "'ok'"}, execution_count=1)
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="no", traceback=[])
    assert preprocessors.strict_grade(_test_cell([result, error])) == (0.0, 2.0)
    assert preprocessors.strict_grade(_test_cell([result])) == (2.0, 2.0)
    number = nbformat.v4.new_output("execute_result", data={"text/plain": "0.5"}, execution_count=1)
    assert preprocessors.strict_grade(_test_cell([number])) == (0.5, 2.0)
    huge = nbformat.v4.new_output("execute_result", data={"text/plain": "1e9"}, execution_count=1)
    assert preprocessors.strict_grade(_test_cell([huge])) == (2.0, 2.0)
    assert preprocessors.strict_grade(_test_cell([])) == (2.0, 2.0)


def test_student_markdown_cannot_carry_html():
    """A student's markdown cell becomes its sanitised rendering (tests/test_neutralise.py has the corpus)."""
    clean = preprocessors.CleanOutputs()
    cell = nbformat.v4.new_markdown_cell("a <script>x()</script> **b** `<i>` 1 < 2")
    clean.preprocess_cell(cell, {}, 0)
    assert "<script" not in cell.source and "x()" not in cell.source and "<strong>b</strong>" in cell.source
    assert "<code>&lt;i&gt;</code>" in cell.source and "1 &lt; 2" in cell.source, "code and text show as they were"


def test_outputs_are_cut_sanitised_and_free_of_grader_paths():
    clean = preprocessors.CleanOutputs(max_lines=5, max_line_chars=50, max_cell_bytes=10_000)
    clean._lab_markdown = set()
    clean._lab_code = {"show_lime_page()"}
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="\n".join(f"line {i}" for i in range(20))),
        nbformat.v4.new_output("display_data", data={"text/html": "<b>ok</b><script>steal()</script>"
                                                     "<img src=x onerror=alert(1)>",
                                                     "application/javascript": "steal()"}),
        nbformat.v4.new_output("error", ename="ValueError", evalue="x" * 500,
                               traceback=[f"File {sys.prefix}/lib/python3.11/site-packages/torch/nn.py, line 3"]),
    ]
    clean.preprocess_cell(cell, {}, 0)
    text = cell.outputs[0].text
    assert text.count("\n") <= 6 and "output cut" in text
    assert [o.output_type for o in cell.outputs] == ["stream", "error"], "past the budget only errors are kept"
    assert sys.prefix not in cell.outputs[1].traceback[0] and "site-packages/torch/nn.py" in cell.outputs[1].traceback[0]
    assert len(cell.outputs[1].evalue) < 200
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": "<b>ok</b><script>steal()</script><img src=x onerror=alert(1)>",
        "application/javascript": "steal()", "image/svg+xml": "<svg onload=steal()></svg>"})]
    flagged: dict = {}
    clean.preprocess_cell(cell, flagged, 0)
    data = cell.outputs[0].data
    assert set(data) == {"text/html"} and "<b>ok</b>" in data["text/html"]
    assert "script" not in data["text/html"] and "steal" not in data["text/html"] and "onerror" not in data["text/html"]
    assert flagged, "scripts a student's cell displays are flagged"
    course_cell, quiet = nbformat.v4.new_code_cell("show_lime_page()"), {}
    course_cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<script>lime()</script><p>page</p>"})]
    clean.preprocess_cell(course_cell, quiet, 0)
    assert quiet == {} and "lime()" not in course_cell.outputs[0].data["text/html"], \
        "the lab's own cell (lime's page) is sanitised, not flagged"


def test_feedback_drops_grader_cells_and_keeps_pending_answers_out_of_the_total():
    test = _test_cell([])
    test.source = "# visible part\n" + labformat.hidden_region("secret_line()")
    test.metadata.nbgrader.update(grade_id="test_f_hidden", score=0.0)
    exercise = nbformat.v4.new_code_cell("def f(): ...")
    exercise.metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "ex_f", "locked": False}
    answer = nbformat.v4.new_markdown_cell("my answer")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "written_q", "points": 3, "score": 0}
    rubric = preprocessors.grader_cell("model answer")
    nb = nbformat.v4.new_notebook(cells=[exercise, test, answer, rubric])
    feedback = preprocessors.StudentFeedback()
    original = preprocessors._pending_grades
    preprocessors._pending_grades = lambda resources: {"written_q"}
    try:
        nb, resources = feedback.preprocess(nb, {})
    finally:
        preprocessors._pending_grades = original
    assert [c.source for c in nb.cells if "model answer" in c.source] == []
    assert "secret_line" not in nb.cells[1].source and nb.cells[1].metadata.course["exercise"] == "f"
    assert nb.cells[2].metadata.course["pending"] and resources["course"] == \
        {"score": 0.0, "max_score": 2.0, "pending": 3.0, "late_penalty": 0.0}


def test_feedback_knows_a_hidden_test_whose_code_grading_took_out():
    """Feedback reads the graded notebook, where GraderNotes already put its note in place of
    the hidden code: the test is still shown as hidden (its failure says so), the other as visible."""
    hidden, visible = _test_cell([]), _test_cell([])
    hidden.source = "# Hidden test: rows sum to 1.\n" + labformat.hidden_region("secret_line()")
    hidden.metadata.nbgrader.update(grade_id="test_f_hidden", score=0.0)
    visible.metadata.nbgrader.update(grade_id="test_f_visible", score=2.0)
    graded, _ = preprocessors.GraderNotes().preprocess(nbformat.v4.new_notebook(cells=[hidden, visible]), {})
    assert "secret_line" not in graded.cells[0].source
    feedback, _ = preprocessors.StudentFeedback().preprocess(graded, {})
    assert [cell.metadata.course["hidden"] for cell in feedback.cells] == [True, False]


def test_feedback_names_a_test_by_its_whole_opening_comment():
    from course_admin.preprocessors import _description

    source = ("# Visible test: rows that sum to 1; the shorter text (padded in\n# the batch) gets its own probabilities.\n"
              f"### {labformat.BEGIN_HIDDEN}\n# not part of it\nimport torch\n")
    assert _description(source) == ("rows that sum to 1; the shorter text (padded in the batch) gets its own "
                                    "probabilities.")
    assert _description("import torch\n") == ""
    assert _description("# " + "x" * 400).endswith("…") and len(_description("# " + "x" * 400)) == 300


def test_tests_run_in_the_courses_order_and_never_before_their_own_cell():
    from course_admin.execute import CourseOrder

    course = ["test_a_1", "test_a_2", "test_b_1", "test_b_2"]
    as_handed_in = CourseOrder(course, set(course))
    assert [as_handed_in.reach(g) for g in course] == [["test_a_1"], ["test_a_2"], ["test_b_1"], ["test_b_2"]]
    moved = CourseOrder(course, set(course))  # the a tests moved after the b tests
    assert [moved.reach(g) for g in ["test_b_1", "test_b_2", "test_a_1", "test_a_2"]] == \
        [[], [], ["test_a_1"], ["test_a_2", "test_b_1", "test_b_2"]]
    missing = CourseOrder(course, {"test_b_1", "test_a_2"})  # only the cells present run
    assert missing.reach("test_b_1") == [] and missing.reach("test_a_2") == ["test_a_2", "test_b_1"]
    late = CourseOrder(course, set(course))
    assert late.reach("test_a_2") == [] and late.rest() == course and late.rest() == []


def _test_cells_notebook(cells: list[tuple[str, str, float]]) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    for grade_id, code, points in cells:
        cell = nbformat.v4.new_code_cell(code)
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": grade_id, "points": points,
                                     "locked": True, "schema_version": 3}
        notebook.cells.append(cell)
    return notebook


def test_edits_of_test_cells_are_noted_for_the_grader():
    from course_admin.preprocessors import test_cell_notes

    course = [("test_a_visible", "check_a()", 1), ("test_a_hidden", "# Hidden test: more.", 2),
              ("test_b_visible", "check_b()", 1)]
    source = release = _test_cells_notebook(course)
    honest = _test_cells_notebook(course)
    honest.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="a: visible test passed\n")]
    assert test_cell_notes(honest, source, release) == []
    rewritten = _test_cells_notebook(course)
    rewritten.cells[0].source = "pass  # check_a() would fail"
    assert test_cell_notes(rewritten, source, release) == [
        "cell 1 (test_a_visible): test cell's code edited (the course's own test ran)"]
    edited = _test_cells_notebook([("test_b_visible", "check_b()", 1), ("test_a_visible", "check_a()", 100),
                                   ("test_a_hidden", "check_b()", 2)])
    edited.cells[2].metadata["nbgrader"]["grade_id"] = "test_a_hidden"  # holds test_b_visible's code
    edited.cells[0].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1.0"}, execution_count=1)]
    edited.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="passed\n")]
    assert test_cell_notes(edited, source, release) == [
        "cell 1 (test_b_visible): outputs in a test cell that its code does not produce (cleared before grading)",
        "cell 2 (test_a_visible): test cell's points edited (100 instead of 1; the course's count)",
        "cell 3 (test_a_hidden): test cell's grade_id edited (it holds the test test_b_visible; the course's tests ran)",
        "cell 3 (test_a_hidden): outputs in a test cell that its code does not produce (cleared before grading)",
        "test cells reordered: the tests ran in the course's order"]
