"""`course autograde` on a class with broken and dishonest submissions, in parallel, resumed.

One batch of Lab 3 (the quickest lab to grade) holds correct students, students whose
notebooks misbehave (an infinite loop, a kernel crash, a huge allocation, a flood of
stderr, a deleted test cell, an edited test), files that are not gradable (another lab,
invalid JSON, an empty file, a misnamed file) and students who monkeypatch what the tests
rely on. It is graded once with --jobs 2 into a scratch course root, then the same command
runs again (graded notebooks are kept, failed ones retried); a second batch is interrupted
with Ctrl-C and resumed with --jobs 1. The tests below inspect those runs. The deliberate
attacks on the grader are in test_attacks.py.
"""

from __future__ import annotations

import csv
import importlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from answer_edits import written_out
from course_admin import batch, labformat, neutralise, pipeline

LAB = "lab3_ig_vs_lime"
ALL_RIGHT = {labformat.exercise_id(name): "solution" for name in
             ("summarize_attributions", "input_x_gradient", "integrated_gradients", "word_feature_mask", "group_subwords")}


def _notebook(edit=None, **answers):
    source = nbformat.read(pipeline.lab_notebook(LAB), as_version=4)
    release = nbformat.read(pipeline.lab_notebook(LAB, "notebooks"), as_version=4)
    nb = pipeline.fill_submission(source, release, ALL_RIGHT)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id in answers:
            cell.source = answers[grade_id]
    if edit:
        edit(nb)
    return nb


def _solution(grade_id: str) -> str:
    source = nbformat.read(pipeline.lab_notebook(LAB), as_version=4)
    text = next(c.source for c in source.cells if labformat.grade_id(c) == grade_id)
    return labformat.without_solution_markers(text)


# The catalogue's l2_without_sqrt, an edit of the reference solution, as a student submits it (no solution markers)
WRONG_SUMMARY = written_out(importlib.import_module("answers_lab3").WRONG["summarize_attributions"]["l2_without_sqrt"],
                            _solution("ex_summarize_attributions"), "answers_lab3 summarize_attributions l2_without_sqrt")


def _drop_cell(grade_id):
    def edit(nb):
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return edit


def _replace_cell(grade_id, text):
    def edit(nb):
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
                cell.source = text
    return edit


def _write(folder: Path, name: str, nb) -> None:
    nbformat.write(nb, folder / f"{name}_{LAB}.ipynb")


def _class_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    summary = _solution("ex_summarize_attributions")
    _write(folder, "alice", _notebook())
    _write(folder, "wrong_plain", _notebook(ex_summarize_attributions=WRONG_SUMMARY))
    _write(folder, "looping", _notebook(ex_summarize_attributions="while True:\n    pass\n" + summary))
    _write(folder, "exiting", _notebook(ex_word_feature_mask="import os\nos._exit(1)"))
    _write(folder, "segfault", _notebook(ex_word_feature_mask="import ctypes\nctypes.string_at(0)"))
    messy = summary + ("\nimport sys\nfor _ in range(20000):\n    print('x' * 200, file=sys.stderr)"
                       "\nhuge = bytearray(40 * 2**30)  # 40 GB")
    _write(folder, "messy", _notebook(_drop_cell("test_summarize_attributions_visible"),
                                      ex_summarize_attributions=messy))
    _write(folder, "edits_test", _notebook(_replace_cell("test_summarize_attributions_visible", "assert True"),
                                           ex_summarize_attributions=WRONG_SUMMARY))
    patches = ("import torch, course_utils.grading as grading\ntorch.allclose = lambda *a, **k: True\n"
               "grading.expect = lambda *a, **k: None\ngrading.close = lambda *a, **k: True\n")
    _write(folder, "patches_cell", _notebook(ex_summarize_attributions=patches + WRONG_SUMMARY))
    sneaky = WRONG_SUMMARY.replace('    return reducers[how](',
                                   '    globals()["expect"] = lambda *args, **kwargs: None\n'
                                   '    return reducers[how](')
    assert sneaky != WRONG_SUMMARY
    _write(folder, "patches_call", _notebook(ex_summarize_attributions=sneaky))
    lab2 = "lab2_attention_vs_lime"
    (folder / f"other_{LAB}.ipynb").write_text(pipeline.lab_notebook(lab2, "notebooks").read_text())
    (folder / f"broken_{LAB}.ipynb").write_text('{"cells": [')
    (folder / f"empty_{LAB}.ipynb").write_text("")
    nbformat.write(_notebook(), folder / "frank-lab3.ipynb")
    return folder


def _autograde(folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """`course autograde` into the scratch course root beside `out` (never the repository's gradebook)."""
    course = out.parent / "course"
    if not course.exists():
        pipeline.scratch_course(course)  # every lab: a notebook of another lab is recognised as such
    return subprocess.run([sys.executable, "-m", "course_admin.cli", "autograde", str(folder), "--lab", LAB,
                           "--course", str(course), "--out", str(out), *extra], capture_output=True, text=True,
                          timeout=1800)


@pytest.fixture(scope="session")
def class_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("fault_suite")
    folder = _class_folder(base / "class")
    out = base / "graded"
    start = time.perf_counter()
    result = _autograde(folder, out, "--jobs", "2", "--timeout", "30")
    return result, out, time.perf_counter() - start


@pytest.fixture(scope="session")
def workspace(class_run):
    _, out, _ = class_run
    return pipeline.Workspace(out.parent / "course", [LAB])


@pytest.fixture(scope="session")
def scores(workspace):
    return lambda student: {s.exercise: (s.score, s.max_score) for s in workspace.exercise_scores(LAB, student)
                            if not s.manual}


def _row(out: Path, student: str) -> str:
    """A student's row of summary.md as a reader sees it (markdown's backslash escapes undone)."""
    row = next(line for line in (out / "summary.md").read_text().splitlines() if line.startswith(f"| {student} |"))
    return re.sub(r"\\(.)", r"\1", row)


def test_the_batch_finishes_and_reports_every_fault(class_run):
    result, out, seconds = class_run
    print(f"fault suite graded in {seconds:.0f} s with --jobs 2")
    assert result.returncode == 0, result.stderr[-2000:]
    report = (out / "summary.md").read_text()
    assert "kernel died" in _row(out, "segfault") and "not graded" in _row(out, "segfault")
    assert "segfault" in result.stdout and "Not graded (1): segfault (the kernel died" in report
    for name, reason in [(f"other_{LAB}.ipynb", "notebook of lab2_attention_vs_lime"),
                         (f"broken_{LAB}.ipynb", "not valid JSON"), (f"empty_{LAB}.ipynb", "empty"),
                         ("frank-lab3.ipynb", "not recognised")]:
        shown = f"- {neutralise.for_markdown(name)}: "  # summary.md escapes a file's name
        assert shown in report and neutralise.for_markdown(reason) in report.split(shown)[1].splitlines()[0], name
    assert (out / f"summary_{LAB}.png").stat().st_size > 5000


def test_only_each_workers_first_notebook_of_the_lab_is_cold(class_run):
    """`batch.Result.warm`, which the class benchmark's projection reads: with --jobs 2, one or
    two notebooks (each worker's first of the lab) are not warm, every later one is. Only the
    notebooks graded without a failure count: a re-run (`second_run`) grades the failed ones again
    in new workers, whichever test runs first."""
    _, out, _ = class_run
    graded = {student: result for student, result in batch.saved_results(out, LAB).items() if not result.error}
    cold = [student for student, result in graded.items() if not result.warm]
    assert len(cold) <= 2 and len(graded) - len(cold) >= 5, cold


def test_correct_and_misbehaving_but_correct_students_keep_full_marks(scores):
    for student in ("alice", "messy"):
        assert all(score == top for score, top in scores(student).values()), (student, scores(student))


def test_an_infinite_loop_or_os_exit_costs_only_its_exercise(scores, class_run):
    for student, exercise in [("looping", "summarize_attributions"), ("exiting", "word_feature_mask")]:
        got = scores(student)
        assert got[exercise][0] == 0, (student, got)
        assert all(score == top for name, (score, top) in got.items() if name != exercise), (student, got)
    _, out, _ = class_run
    assert "os._exit (refused" in _row(out, "exiting")


def test_the_memory_limit_and_output_limit_hold_and_the_deleted_test_is_restored(class_run):
    _, out, _ = class_run
    nb = nbformat.read(out.parent / "course" / "autograded" / "messy" / LAB / f"{LAB}.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    outputs = cells["ex_summarize_attributions"].outputs
    assert any(o.get("ename") == "MemoryError" for o in outputs), "the 40 GB allocation should fail in the kernel"
    assert sum(len(o.get("text", "")) for o in outputs) < 100_000, "LimitOutput should cut the stderr flood"
    assert "test_summarize_attributions_visible" in cells, "the deleted test cell should be put back"


def test_editing_a_test_or_monkeypatching_cannot_raise_a_score(scores, class_run):
    _, out, _ = class_run
    plain = scores("wrong_plain")["summarize_attributions"]
    assert plain[0] < plain[1]
    for student in ("edits_test", "patches_cell", "patches_call"):
        got = scores(student)["summarize_attributions"]
        assert got[0] <= plain[0], (student, got, plain)
    for student, what in [("patches_cell", "rebinds torch.allclose"), ("patches_cell", "rebinds grading.expect"),
                          ("patches_call", "globals")]:
        assert what in _row(out, student), (student, _row(out, student))
    assert "rebinds" not in _row(out, "alice") and "rebound" not in _row(out, "alice")


def test_grades_csv_has_one_row_per_student_and_no_zero_for_a_notebook_not_graded(class_run):
    _, out, _ = class_run
    with open(out / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle) if row["assignment"] == LAB}
    assert {"alice", "wrong_plain", "looping", "messy", "edits_test", "patches_cell", "patches_call",
            "segfault"} <= set(rows)
    assert rows["segfault"]["score"] == "" and rows["segfault"]["status"].startswith("not graded: the kernel died")
    # alice left the written answer blank: nbgrader scores an unchanged answer 0, nothing to grade
    assert rows["alice"]["status"] == "graded" and rows["alice"]["to_grade"] == ""
    assert float(rows["alice"]["auto_score"]) == float(rows["alice"]["auto_max_score"]) == float(rows["alice"]["score"])


@pytest.fixture(scope="session")
def second_run(class_run):
    """The same command again: graded notebooks are kept, the one that failed is retried."""
    _, out, _ = class_run
    return _autograde(out.parent / "class", out, "--jobs", "2", "--timeout", "30"), out


def test_running_again_keeps_the_graded_and_retries_what_failed(second_run, class_run):
    result, out = second_run
    assert result.returncode == 0, result.stderr[-2000:]
    assert "from an earlier run" in (out / "summary.md").read_text()
    assert "segfault" in result.stdout and "kernel died" in result.stdout, "the failed notebook is graded again"


@pytest.fixture(scope="session")
def resumed_run(tmp_path_factory):
    """A batch of two students interrupted with Ctrl-C after the first one, then re-run."""
    base = tmp_path_factory.mktemp("resume")
    folder = base / "class"
    folder.mkdir()
    _write(folder, "alice", _notebook())  # the same two notebooks as in the class batch
    _write(folder, "wrong_plain", _notebook(ex_summarize_attributions=WRONG_SUMMARY))
    out = base / "graded"
    course = pipeline.scratch_course(base / "course", [LAB])
    command = [sys.executable, "-m", "course_admin.cli", "autograde", str(folder), "--lab", LAB,
               "--course", str(course), "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    deadline = time.time() + 600
    while not list(out.glob(f"progress/{LAB}/*.json")):  # wait until one student is graded
        assert process.poll() is None and time.time() < deadline, "the first student was never graded"
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, as in a terminal
    interrupted = time.perf_counter()
    _, interrupted_err = process.communicate(timeout=300)
    print(f"Ctrl-C to the command's end: {time.perf_counter() - interrupted:.1f} s")
    second = _autograde(folder, out, "--jobs", "1")
    return process.returncode, interrupted_err, second, out


def test_an_interrupted_batch_resumes_without_grading_twice(resumed_run):
    code, err, second, out = resumed_run
    assert code == 130 and "Run the same command again" in err, err[-1500:]
    assert "Ctrl-C: stopping" in err, "the command says at once that it is stopping"
    assert second.returncode == 0, second.stderr[-2000:]
    report = (out / "summary.md").read_text()
    assert "2 submission(s), 1 from an earlier run" in report, report.splitlines()[:3]


def test_two_runs_give_identical_scores(resumed_run, scores):
    _, _, _, out = resumed_run
    again = pipeline.Workspace(out.parent / "course", [LAB])
    for student in ("alice", "wrong_plain"):
        rerun = {s.exercise: (s.score, s.max_score) for s in again.exercise_scores(LAB, student) if not s.manual}
        assert rerun == scores(student), student
