"""Self-study: a learner grading their own notebook assesses their written answers themselves.

`course autograde notebooks/<lab>/<lab>.ipynb` in a course of one prints the automatic points
out of the automatic points, the written answers apart, and says where their model answers
are; the feedback page shows each model answer and rubric beside the learner's answer. A
class's grading of the same notebook (a folder of students, `course report`, a lone notebook
graded into a class's gradebook) shows no model answer or rubric anywhere it hands back.
Each grading runs once per module (the small lab of the attack suite, a few seconds each).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from test_attacks import ANSWERS, LAB, _notebook, _source_notebook

from course_admin import cli, neutralise, pipeline, reports, self_study

LEARNER_TEXT = "LEARNER_ANSWER_c3e1: exp of a large number *overflows*."
MODEL = "MODEL_ANSWER_b2d4"  # the model answer of the small lab's written question
RUBRIC = "2: stability; 0 otherwise"  # its rubric
# A model answer is text too: whatever markup it holds, the page shows it inert.
TRAP = '<img src=x onerror="alert(1)"> TRAP_7d1c'
SECRETS = (MODEL, RUBRIC, "TRAP_7d1c", "Assess yourself")


@dataclass
class Grading:
    course: Path
    stdout: str
    notebooks: dict[str, bytes]  # notebooks/ before the grading, path -> bytes


def _course(path: Path) -> Path:
    """A course root with the small lab released, its model answer holding markup (`TRAP`)."""
    source = _source_notebook()
    written = next(c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "written_softmax")
    written.source = written.source.replace(f"{MODEL}: for numerical stability.",
                                            f"{MODEL}: for numerical stability. {TRAP}")
    pipeline.scratch_course(path, [])
    (path / "solutions" / LAB).mkdir(parents=True)
    nbformat.write(source, path / "solutions" / LAB / f"{LAB}.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path)
        pipeline.Workspace(path, [LAB]).release(LAB)
    return path


def _answered(course: Path) -> nbformat.NotebookNode:
    release = nbformat.read(pipeline.lab_notebook(LAB, pipeline.RELEASE, course), as_version=4)
    return _notebook(release, {**ANSWERS, "written_softmax": LEARNER_TEXT})


def _course_cli(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "course_admin.cli", *args], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def _files(folder: Path) -> dict[str, str]:
    return {str(p): p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def learner(tmp_path_factory) -> Grading:
    """One learner grading their own notebook where they worked on it (a course of one)."""
    course = _course(tmp_path_factory.mktemp("self_study") / "course")
    (course / "gradebook.db").unlink()  # a fresh clone: nobody graded anything yet
    work = pipeline.lab_notebook(LAB, pipeline.RELEASE, course)
    nbformat.write(_answered(course), work)
    before = {str(p): p.read_bytes() for p in (course / pipeline.RELEASE).rglob("*") if p.is_file()}
    stdout = _course_cli("autograde", str(work), "--course", str(course), "--timeout", "120")
    return Grading(course, stdout, before)


@pytest.fixture(scope="module")
def classroom(tmp_path_factory) -> Grading:
    """The same notebook handed in by two students and graded as a class, the reports made
    again (`course report`), then a lone `<lab>.ipynb` graded into that class's gradebook."""
    course = _course(tmp_path_factory.mktemp("class") / "course")
    hand_in = course.parent / "hand_in"
    for student in ("alice", "bob"):
        (hand_in / student).mkdir(parents=True)
        nbformat.write(_answered(course), hand_in / student / f"{LAB}.ipynb")
    lone = course.parent / "lone" / f"{LAB}.ipynb"
    lone.parent.mkdir()
    nbformat.write(_answered(course), lone)
    stdout = _course_cli("autograde", str(hand_in), "--course", str(course), "--timeout", "120")
    stdout += _course_cli("report", "--course", str(course))
    stdout += _course_cli("autograde", str(lone), "--course", str(course), "--timeout", "120")
    return Grading(course, stdout, {})


def _page(course: Path, student: str) -> str:
    return (course / "feedback" / student / LAB / f"{LAB}.html").read_text()


def test_self_study_shows_the_model_answer_and_rubric_beside_the_written_answer(learner):
    assert f"{LAB}: 6 / 6 automatic points; 1 written answer (2 points) to assess yourself against the model " \
           "answer" in learner.stdout, learner.stdout[-2000:]
    assert "written_softmax (2 points, answered): model answer and rubric beside your answer" in learner.stdout
    page = _page(learner.course, self_study.LEARNER)
    assert "6 / 6 automatic points</h2>" in page and "assess yourself (2 points)" in page
    box = page[page.index('<div class="course-self-assessment">'):]
    box = box[:box.index("</main>")]
    # the learner's answer, then the model answer beside it, then the rubric, in the one box
    order = [box.find(text) for text in ("Your answer", "LEARNER_ANSWER_c3e1", MODEL, "Rubric (2 points)", RUBRIC)]
    assert -1 not in order and order == sorted(order), order
    assert page.index("Written answer <code>written_softmax</code>") < page.index("course-self-assessment\">")
    # the model answer's markup is shown as nothing that runs: sanitised like a student's markdown
    assert "TRAP_7d1c" in box and neutralise.active_parts(box) == [] and "onerror" not in page
    after = {str(p): p.read_bytes() for p in (learner.course / pipeline.RELEASE).rglob("*") if p.is_file()}
    assert after == learner.notebooks, "self-study grading wrote the learner's notebook or notebooks/"


def test_an_unanswered_written_question_stays_out_of_the_automatic_total(tmp_path):
    """The bug: "6 / 8 automatic points", 8 counting the written answer left as released (0)."""
    course = _course(tmp_path / "course")
    work = pipeline.lab_notebook(LAB, pipeline.RELEASE, course)
    release = nbformat.read(work, as_version=4)
    nbformat.write(_notebook(release, ANSWERS), work)
    stdout = _course_cli("autograde", str(work), "--course", str(course), "--timeout", "120")
    assert f"{LAB}: 6 / 6 automatic points; 1 written answer (2 points)" in stdout, stdout[-2000:]
    assert "written_softmax (2 points, not answered yet)" in stdout
    page = _page(course, self_study.LEARNER)
    assert "6 / 6 automatic points</h2>" in page and MODEL in page


def test_a_class_grading_hands_back_no_model_answer_or_rubric(classroom):
    handed_back = {**_files(classroom.course / "feedback"), **_files(classroom.course / "reports")}
    pages = [path for path in handed_back if path.endswith(".html")]
    assert len(pages) == 3, sorted(handed_back)  # alice, bob and the lone notebook graded into the class
    for path, text in handed_back.items():
        assert not [secret for secret in SECRETS if secret in text], path
    for secret in SECRETS:
        assert secret not in classroom.stdout
    for student in ("alice", "bob", self_study.LEARNER):  # the class's total: written answers to grade
        page = _page(classroom.course, student)
        assert "automatic points</h2>" not in page and "to be graded (2 points)" in page, student


def test_a_lone_notebook_graded_into_a_class_prints_no_model_answer(classroom):
    lone = classroom.stdout[classroom.stdout.rindex("Your score for"):]
    assert "6 / 6 automatic points (written answers, graded by hand and not in this total: written_softmax)" in lone
    assert "assess yourself" not in lone and "model answer" not in lone


def test_without_solutions_the_learner_is_told_in_one_line(learner, capsys):
    course, out = learner.course, learner.course / "reports"
    workspace = pipeline.Workspace(course, [LAB])
    row = next(r for r in reports.rows(workspace, out, [LAB]) if r.student == self_study.LEARNER)
    solutions = course / "solutions"
    away = course.parent / "solutions_away"
    solutions.rename(away)
    try:
        note = self_study.model_answers(course, LAB)
        assert isinstance(note, str) and note.startswith("Model answers not shown") and "\n" not in note
        workspace.feedback(LAB, self_study.LEARNER, self_study=True)
        page = _page(course, self_study.LEARNER)
        assert note in page.replace("&#39;", "'") and not [s for s in (MODEL, RUBRIC, "TRAP_7d1c") if s in page]
        capsys.readouterr()
        cli._print_self_study(workspace, row, note)
        printed = capsys.readouterr().out.strip().splitlines()
        assert printed[0].endswith("1 written answer (2 points) to assess yourself against the model answer")
        assert printed[1].strip() == note and len([line for line in printed if "Model answers" in line]) == 1
        (solutions / LAB / f"{LAB}.ipynb").mkdir(parents=True)  # there, but not a readable file
        unreadable = self_study.model_answers(course, LAB)
        assert isinstance(unreadable, str) and "cannot be read" in unreadable
    finally:
        shutil.rmtree(solutions, ignore_errors=True)
        away.rename(solutions)


def test_a_rubric_is_told_apart_from_its_model_answer():
    model, rubric = self_study.split_rubric("*Model answer.* Because.\n\n**Rubric (3 points).**\n1 point: why.")
    assert (model, rubric) == ("*Model answer.* Because.", "**Rubric (3 points).**\n1 point: why.")
    assert self_study.split_rubric("Only an answer, no rubric.") == ("Only an answer, no rubric.", "")


def test_only_a_lone_notebook_in_a_course_of_one_is_self_study(tmp_path):
    notebook = tmp_path / f"{LAB}.ipynb"
    notebook.write_text("{}")
    assert self_study.is_self_study(notebook, "me", ["me"]) and self_study.is_self_study(notebook, "me", [])
    assert not self_study.is_self_study(notebook, "me", ["me", "alice"])  # a class's gradebook
    assert not self_study.is_self_study(notebook, "alice", ["alice"])  # alice_<lab>.ipynb: a student's
    assert not self_study.is_self_study(tmp_path, "me", ["me"])  # a folder of submissions
    archive = tmp_path / "one.zip"
    archive.write_bytes(b"")
    assert not self_study.is_self_study(archive, "me", ["me"])
