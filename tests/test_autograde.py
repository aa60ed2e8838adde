"""Class-wide autograding: finding submissions (nbgrader's exchange layout included) and
refusing broken files with a reason.

The slow end-to-end runs (a graded batch with faulty students, --jobs, resume) are in
test_fault_suite.py; these tests need no kernel.
"""

from __future__ import annotations

import os
import zipfile

import nbformat
import pytest
from course_admin import collect, pipeline, reports

LAB1 = "lab1_lime_from_scratch"
LAB2 = "lab2_attention_vs_lime"


def _release(lab: str) -> str:
    return pipeline.lab_notebook(lab, "notebooks").read_text()


def test_collect_accepts_folders_flat_lms_names_and_one_notebook(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / f"{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / "bob" / LAB1).mkdir(parents=True)
    (tmp_path / "bob" / LAB1 / f"{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / f"carol_smith_{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / f"dave_{LAB2}.ipynb").write_text(_release(LAB2))  # another lab: not a problem
    (tmp_path / "alice" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "alice" / ".ipynb_checkpoints" / f"{LAB1}-checkpoint.ipynb").write_text("{}")
    submissions, problems = collect.collect(tmp_path, [LAB1])
    assert {s.student for s in submissions} == {"alice", "bob", "carol_smith"} and not problems
    both, _ = collect.collect(tmp_path, [LAB1, LAB2])
    assert {(s.student, s.lab) for s in both} >= {("dave", LAB2), ("alice", LAB1)}
    single, _ = collect.collect(tmp_path / f"carol_smith_{LAB1}.ipynb", [LAB1])
    assert [(s.student, s.lab) for s in single] == [("carol_smith", LAB1)]


def test_collect_reports_every_broken_file_with_a_reason(tmp_path):
    (tmp_path / f"empty_{LAB1}.ipynb").write_text("")
    (tmp_path / f"truncated_{LAB1}.ipynb").write_text(_release(LAB1)[:500])
    (tmp_path / f"json_{LAB1}.ipynb").write_text('{"cells": 3}')
    (tmp_path / f"wronglab_{LAB1}.ipynb").write_text(_release(LAB2))
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    (tmp_path / f"stripped_{LAB1}.ipynb").write_text(nbformat.writes(plain))
    (tmp_path / "erin-lab1.ipynb").write_text(_release(LAB1))
    (tmp_path / "notes.txt").write_text("hello")
    limit = 1.5 * max(len(_release(LAB1)), len(_release(LAB2)))  # every other file is within it
    (tmp_path / f"huge_{LAB1}.ipynb").write_text(_release(LAB1) + " " * int(limit))
    submissions, problems = collect.collect(tmp_path, [LAB1], max_mb=limit / 2**20)
    reasons = {p.file: p.reason for p in problems}
    assert not submissions
    assert "empty" in reasons[f"empty_{LAB1}.ipynb"]
    assert "not valid JSON" in reasons[f"truncated_{LAB1}.ipynb"]
    assert "not a Jupyter notebook" in reasons[f"json_{LAB1}.ipynb"]
    assert f"notebook of {LAB2}" in reasons[f"wronglab_{LAB1}.ipynb"]
    assert "no graded cells" in reasons[f"stripped_{LAB1}.ipynb"]
    assert "not recognised" in reasons["erin-lab1.ipynb"] and "not recognised" in reasons["notes.txt"]
    assert "MB limit" in reasons[f"huge_{LAB1}.ipynb"]


def test_two_notebooks_that_map_to_one_student_are_both_refused(tmp_path):
    """Which of two notebooks is alice's is not for the grader to guess (one may be planted)."""
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / f"{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / f"alice_{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / f"bob_{LAB1}.ipynb").write_text(_release(LAB1))
    submissions, problems = collect.collect(tmp_path, [LAB1])
    assert [s.student for s in submissions] == ["bob"]
    assert len(problems) == 2 and all("map to alice" in p.reason and "none graded" in p.reason for p in problems)


def test_unpack_extracts_a_zip_and_refuses_zip_slip(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"export/alice_{LAB1}.ipynb", _release(LAB1))
    folder = collect.unpack(archive, tmp_path / "scratch")
    assert [s.student for s in collect.collect(folder, [LAB1])[0]] == ["alice"]
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../outside.ipynb", "{}")
    with pytest.raises(ValueError, match="unsafe path"):
        collect.unpack(evil, tmp_path / "scratch2")


def test_collect_reads_nbgrader_collect_layout_with_its_timestamps(tmp_path):
    """submitted/<student>/<lab>/ as nbgrader collect leaves it: the timestamp is kept for
    late penalties and nbgrader's own files are not reported as problems."""
    for student, stamp in (("alice", "2026-11-02 09:15:00.000000 UTC"), ("bob", None)):
        folder = tmp_path / "submitted" / student / LAB1
        folder.mkdir(parents=True)
        (folder / f"{LAB1}.ipynb").write_text(_release(LAB1))
        (folder / "submission_secret.txt").write_text("secret")
        if stamp:
            (folder / "timestamp.txt").write_text(stamp + "\n")
    submissions, problems = collect.collect(tmp_path / "submitted", [LAB1], trusted_times=True)
    assert not problems
    assert {(s.student, s.timestamp) for s in submissions} == {("alice", "2026-11-02 09:15:00.000000 UTC"),
                                                               ("bob", None)}


def test_collect_refuses_student_names_nbgrader_cannot_use(tmp_path):
    (tmp_path / f"a*b_{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / "<img src=x>").mkdir()
    (tmp_path / "<img src=x>" / f"{LAB1}.ipynb").write_text(_release(LAB1))
    submissions, problems = collect.collect(tmp_path, [LAB1])
    assert not submissions and len(problems) == 2 and all("cannot use as an id" in p.reason for p in problems)


def test_grading_metadata_handed_in_by_a_student_is_refused_and_not_used(tmp_path):
    """A timestamp.txt in an LMS export is the student's own: a late notebook would choose its time."""
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / f"{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / "alice" / "timestamp.txt").write_text("2020-01-01 00:00:00.000000 UTC")
    submissions, problems = collect.collect(tmp_path, [LAB1])
    assert [(s.student, s.timestamp) for s in submissions] == [("alice", None)]
    assert len(problems) == 1 and "grading metadata" in problems[0].reason and problems[0].student == "alice"


def test_a_notebook_in_another_students_folder_is_refused_and_the_owner_kept(tmp_path):
    """bob's folder submits for bob only: carol's and dave's notebooks planted there change nothing."""
    for student in ("bob", "carol", "dave"):
        (tmp_path / student).mkdir()
        (tmp_path / student / f"{LAB1}.ipynb").write_text(_release(LAB1) + " " * len(student))
    (tmp_path / "bob" / f"carol_{LAB1}.ipynb").write_text(_release(LAB1))
    (tmp_path / "bob" / "bob2" / "dave").mkdir(parents=True)
    (tmp_path / "bob" / "bob2" / "dave" / f"{LAB1}.ipynb").write_text(_release(LAB1))
    submissions, problems = collect.collect(tmp_path, [LAB1])
    graded = {s.student: s.origin for s in submissions}
    assert graded == {"bob": f"bob/{LAB1}.ipynb", "carol": f"carol/{LAB1}.ipynb", "dave": f"dave/{LAB1}.ipynb"}
    assert sorted(p.file for p in problems) == [f"bob/bob2/dave/{LAB1}.ipynb", f"bob/carol_{LAB1}.ipynb"]
    assert all("in bob's folder" in p.reason and p.student == "bob" for p in problems)


def test_names_nbgrader_would_change_are_refused(tmp_path):
    """'alice' plus a newline passed a `$` regex, and nbgrader stored it as alice."""
    for name in ("alice\n", "alice ", "al\x1bice"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{LAB1}.ipynb").write_text(_release(LAB1))
    submissions, problems = collect.collect(tmp_path, [LAB1])
    assert not submissions and len(problems) == 3
    assert all("cannot use as an id" in p.reason and p.reason.isprintable() for p in problems)


def test_links_and_special_files_are_refused_by_what_they_are(tmp_path):
    """A link handed in reaches whatever the grader can read; a FIFO blocks whoever opens it."""
    secret = tmp_path / "outside" / "gradebook.db"
    secret.parent.mkdir()
    secret.write_text("SECRET")
    folder = tmp_path / "class"
    for student in ("alice", "bob", "carol", "dave"):
        (folder / student).mkdir(parents=True)
    (folder / "alice" / f"{LAB1}.ipynb").write_text(_release(LAB1))
    (folder / "alice" / "data.txt").symlink_to(secret)
    os.link(secret, folder / "alice" / "copy.txt")
    (folder / "bob" / f"{LAB1}.ipynb").symlink_to(secret)  # the notebook itself a link
    os.mkfifo(folder / "carol" / f"{LAB1}.ipynb")
    (folder / "dave" / "lab").symlink_to(secret.parent, target_is_directory=True)
    submissions, problems = collect.collect(folder, [LAB1], snapshot=tmp_path / "snapshot")
    assert [s.student for s in submissions] == ["alice"]
    reasons = {p.file: p.reason for p in problems}
    assert "symbolic link" in reasons["alice/data.txt"] and "hard link" in reasons["alice/copy.txt"]
    assert "symbolic link" in reasons[f"bob/{LAB1}.ipynb"] and "FIFO" in reasons[f"carol/{LAB1}.ipynb"]
    assert "symbolic link" in reasons["dave/lab"]
    assert submissions[0].path.is_relative_to(tmp_path / "snapshot") and not submissions[0].path.is_symlink()
    assert "SECRET" not in "".join(p.read_text() for p in (tmp_path / "snapshot").rglob("*") if p.is_file())


def test_summary_names_what_collect_refused_even_when_nothing_was_graded(tmp_path):
    """An entry made in bob's name by alice is not collected: summary.md must still say so."""
    note = "bob: inbound entry 'bob+lab1+2026|x' not collected: owned by alice, not bob"
    report = reports.write_report(tmp_path, [], [], collected={LAB1: [note]}).read_text()
    assert f"## {LAB1}" in report and "owned by alice, not bob" in report
    assert "bob+lab1+2026\\|x" in report, "a name is escaped for the markdown table it sits beside"
