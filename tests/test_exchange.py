"""The course inside nbgrader's own workflow, through a private exchange, two students.

Release → fetch → submit → collect → `course autograde` (nbgrader's collected layout read
as it is, timestamps and the late-penalty plugin at work) → a written answer graded by hand
in the gradebook (as Formgrader does) → `course report` and feedback show it → release and
fetch the feedback. Alongside: `nbgrader autograde` gives the same scores as `course
autograde`, and no way of generating feedback, nbgrader's defaults included, shows hidden
tests. The lab is test_attacks.py's small one (two functions, hidden tests, a written question):
the workflow is nbgrader's whatever the lab, and each of its gradings takes a second, not a
lab's twenty (each lab's own grading is in test_nbgrader_pipeline.py).
"""

from __future__ import annotations

import csv
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from course_admin import exchange as course_exchange
from course_admin import labformat, pipeline
from test_attacks import ANSWERS, LAB, _notebook, released_course

WRITTEN = "written_softmax"  # the small lab's written question, 2 points
COURSE_ID = "explaining-nlp-models"
NBGRADER = [sys.executable, "-m", "nbgrader"]


def _nbgrader(*args: str, cwd: Path, exchange: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    with pipeline.grading_environment():
        result = subprocess.run([*NBGRADER, *args, f"--Exchange.root={exchange}", f"--CourseDirectory.course_id={COURSE_ID}",
                                 *extra], cwd=cwd, capture_output=True, text=True, timeout=900, env=dict(os.environ))
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def _cache(home: Path) -> tuple[str, ...]:
    """Each student's own nbgrader cache (they share one machine account here)."""
    return (f"--Exchange.cache={home / '.nbgrader_cache'}",)


def _answer(student_dir: Path) -> None:
    """The student answers every exercise correctly and writes something for the question."""
    path = student_dir / LAB / f"{LAB}.ipynb"
    notebook = _notebook(nbformat.read(path, as_version=4), {**ANSWERS, WRITTEN: "So that exp cannot overflow."})
    nbformat.write(notebook, path)


@pytest.fixture(scope="session")
def exchange_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("exchange")
    exchange, course = base / "exchange", released_course(base / "course")  # registered in the gradebook
    exchange.mkdir()
    exchange.chmod(0o777)
    # The instructor releases the lab.
    workspace = pipeline.Workspace(course, [LAB])
    _nbgrader("release_assignment", LAB, cwd=course, exchange=exchange)
    # Two students fetch and submit; the due date falls between their submissions.
    homes = {name: base / name for name in ("alice", "bob")}
    for name, home in homes.items():
        home.mkdir()
        _nbgrader("fetch_assignment", LAB, cwd=home, exchange=exchange, extra=_cache(home))
        _answer(home)
    _nbgrader("submit", LAB, "--student=alice", cwd=homes["alice"], exchange=exchange, extra=_cache(homes["alice"]))
    time.sleep(1.5)
    due = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with workspace._gradebook() as gradebook:
        gradebook.update_or_create_assignment(LAB, duedate=due)
    time.sleep(1.5)
    _nbgrader("submit", LAB, "--student=bob", cwd=homes["bob"], exchange=exchange, extra=_cache(homes["bob"]))
    # Both students are this one machine account here, so the course's collect (which
    # refuses an entry not owned by the student it names) is told, with nbgrader's own
    # switch, not to check ownership; tests/test_collect.py checks it with real accounts.
    # Times still come from the exchange's inode change times: alice's before the due date.
    _nbgrader("collect", LAB, cwd=course, exchange=exchange, extra=("--ExchangeCollect.check_owner=False",))
    # The course's grader reads nbgrader's collected folder as it is.
    autograde = subprocess.run([sys.executable, "-m", "course_admin.cli", "autograde", str(course / "submitted"),
                                "--course", str(course), "--lab", LAB], capture_output=True, text=True, timeout=1800)
    return base, course, exchange, homes, workspace, autograde


def test_collect_then_course_autograde_grades_both_with_their_timestamps(exchange_run):
    _, course, _, _, workspace, autograde = exchange_run
    assert autograde.returncode == 0, autograde.stderr[-3000:]
    assert "not graded" not in autograde.stdout and "not recognised" not in autograde.stdout, autograde.stdout
    for student in ("alice", "bob"):
        assert workspace.graded(LAB, student)
        assert all(s.score == s.max_score for s in workspace.exercise_scores(LAB, student) if not s.manual)
    with workspace._gradebook() as gradebook:
        late = {s: gradebook.find_submission(LAB, s).total_seconds_late for s in ("alice", "bob")}
    assert late["alice"] == 0 and late["bob"] > 0, late
    notes = course_exchange.collect_notes(course, LAB)
    assert notes == ["ownership not checked (ExchangeCollect.check_owner is False) for: alice, bob"], notes


def test_the_late_penalty_plugin_applies_to_the_late_submission(exchange_run):
    """The policy is the course root's (nbgrader_config.py), as every report applies it again to
    the final total: a one-off --LateSubmissionPlugin.penalty_method on the command line would
    be undone by the next report."""
    _, course, _, _, _, _ = exchange_run
    config = course / "nbgrader_config.py"
    before = config.read_text()
    config.write_text(before + '\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    try:
        with pipeline.grading_environment():
            subprocess.run([*NBGRADER, "autograde", LAB, "--student=bob", "--force"], cwd=course, check=True,
                           capture_output=True, env=dict(os.environ), timeout=900)
        workspace = pipeline.Workspace(course, [LAB])
        assert workspace.late_penalty(LAB, "bob") > 0 and workspace.late_penalty(LAB, "alice") == 0
    finally:
        config.write_text(before)
    assert pipeline.Workspace(course, [LAB]).late_penalty(LAB, "bob") == 0, "the policy back to none: no penalty"


def test_nbgrader_autograde_grades_exactly_as_course_autograde(exchange_run):
    _, course, _, _, workspace, _ = exchange_run
    before = workspace.exercise_scores(LAB, "alice")
    with pipeline.grading_environment():
        subprocess.run([*NBGRADER, "autograde", LAB, "--student=alice", "--force"], cwd=course, check=True,
                       capture_output=True, env=dict(os.environ), timeout=900)
    assert workspace.exercise_scores(LAB, "alice") == before
    assert workspace.graded(LAB, "alice"), "nbgrader's own command graded through the course's steps"


def test_a_written_answer_graded_by_hand_reaches_the_reports_and_the_feedback(exchange_run):
    _, course, exchange, homes, workspace, _ = exchange_run
    with workspace._gradebook() as gradebook:  # what Formgrader's score box does
        grade = gradebook.find_grade(WRITTEN, LAB, LAB, "alice")
        grade.manual_score = 1.0
        grade.needs_manual_grade = False
        gradebook.db.commit()
    report = subprocess.run([sys.executable, "-m", "course_admin.cli", "report", "--course", str(course),
                             "--lab", LAB], capture_output=True, text=True, timeout=900)
    assert report.returncode == 0, report.stderr[-2000:]
    with open(course / "reports" / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert rows["alice"]["status"] == "graded" and rows["alice"]["to_grade"] == ""
    assert float(rows["alice"]["score"]) == float(rows["alice"]["auto_score"]) + 1
    assert rows["bob"]["to_grade"] == WRITTEN
    html = (course / "feedback" / "alice" / LAB / f"{LAB}.html").read_text()
    assert "1 / 2" in html and "to be graded" not in html
    assert "to be graded" in (course / "feedback" / "bob" / LAB / f"{LAB}.html").read_text()
    # Release the feedback; the student fetches it.
    _nbgrader("release_feedback", LAB, cwd=course, exchange=exchange)
    _nbgrader("fetch_feedback", LAB, "--student=alice", cwd=homes["alice"], exchange=exchange,
              extra=_cache(homes["alice"]))
    fetched = list((homes["alice"] / LAB / "feedback").rglob("*.html"))
    assert fetched and "1 / 2" in fetched[0].read_text()


def _hidden_lines(course: Path) -> list[str]:
    """Substantial lines of the hidden tests that the visible cells do not also contain (a message
    shared by a visible and a hidden test is no secret: the release shows it)."""
    source = nbformat.read(course / "solutions" / LAB / f"{LAB}.ipynb", as_version=4)
    lines, visible = [], set()
    for cell in source.cells:
        for region in labformat.hidden_regions(cell.source):
            lines += [line.strip() for line in region.splitlines() if len(line.strip()) > 30]
        visible.update(line.strip() for line in labformat.without_hidden(cell.source).splitlines())
    return [line for line in lines if line not in visible]


def test_no_way_of_generating_feedback_shows_hidden_tests(exchange_run):
    base, course, _, _, _, _ = exchange_run
    hidden = _hidden_lines(course)
    assert hidden
    # nbgrader's own command in the course root, and nbgrader with its defaults (no course config).
    _nbgrader("generate_feedback", LAB, "--force", cwd=course, exchange=base / "exchange")
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    with pipeline.grading_environment():
        subprocess.run([*NBGRADER, "generate_feedback", LAB, "--force", f"--CourseDirectory.root={course}",
                        "--CourseDirectory.feedback_directory=default_feedback"], cwd=elsewhere, check=True,
                       capture_output=True, env=dict(os.environ), timeout=900)
    pages = list((course / "feedback").rglob("*.html")) + list((course / "default_feedback").rglob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        text = page.read_text()
        assert not [line for line in hidden if line in text], page
        assert labformat.BEGIN_HIDDEN not in text and "For the grader" not in text
