"""Nothing of a user's is lost: no command overwrites or deletes what it did not make.

Self-study grading reads the learner's notebook where it is and never writes it (nor the
release folder it lives in); output folders carry a marker and a folder without one is
refused; `course release` does not replace a release notebook someone worked in.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_attacks import ANSWERS, LAB, _notebook, released_course

from course_admin import cli, pipeline, reports


@pytest.fixture
def tiny_course(tmp_path) -> Path:
    """A course root with one small lab, released, never graded (no gradebook entry yet)."""
    return released_course(tmp_path / "course", gradebook=False)


def _autograde(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_admin.cli", "autograde", *args], capture_output=True,
                          text=True, timeout=900)


def test_self_study_grading_in_place_leaves_the_notebook_byte_identical_and_grades_it(tiny_course):
    """The learner works in notebooks/<lab>/ and grades that file: the first grading of a lab
    used to regenerate notebooks/<lab>/ and grade the blank release instead (0 points)."""
    work = pipeline.lab_notebook(LAB, pipeline.RELEASE, tiny_course)
    release = nbformat.read(work, as_version=4)
    nbformat.write(_notebook(release, ANSWERS), work)
    before = work.read_bytes()
    result = _autograde(str(work), "--course", str(tiny_course), "--timeout", "120")
    assert result.returncode == 0, result.stderr[-3000:]
    assert work.read_bytes() == before, "grading wrote the learner's notebook"
    score = re.search(r"Your score for \S+: (\S+) / (\S+) automatic points", result.stdout)
    # ANSWERS score 6 automatic points (as the honest students of the attack suite do); the blank release 0
    assert score and score.group(1) == "6", result.stdout[-2000:]


def test_self_study_refuses_the_blank_release_saying_so(tiny_course):
    work = pipeline.lab_notebook(LAB, pipeline.RELEASE, tiny_course)
    before = work.read_bytes()
    result = _autograde(str(work), "--course", str(tiny_course))
    assert result.returncode == 1 and "blank" in result.stderr and "nothing answered" in result.stderr
    assert work.read_bytes() == before


def test_an_output_folder_the_course_did_not_make_is_refused(tmp_path):
    """`course run --out ~` deleted the home folder; `--out` of the reports overwrote its files."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    (home / "summary.md").write_text("mine")
    for argv in (["run", "--out", str(home)], ["autograde", str(tmp_path), "--out", str(home)],
                 ["report", "--out", str(home)]):
        with pytest.raises(SystemExit) as stopped:
            cli.main(argv)
        assert stopped.value.code == 2, argv
    assert sorted(p.name for p in home.iterdir()) == ["summary.md", "thesis.tex"]
    assert (home / "summary.md").read_text() == "mine"
    link = tmp_path / "link"
    link.symlink_to(home)
    with pytest.raises(reports.OutputRefused):
        reports.claim_output(link, "course run")


def test_an_output_folder_is_claimed_once_and_reused(tmp_path):
    fresh = reports.claim_output(tmp_path / "out", "course autograde")
    (fresh / "grades.csv").write_text("old")
    assert reports.claim_output(fresh, "course autograde") == fresh
    legacy = tmp_path / "reports"  # made by a version without the marker: only report files inside
    (legacy / "progress").mkdir(parents=True)
    (legacy / "grades.csv").write_text("old")
    assert (reports.claim_output(legacy, "course report") / reports.OUTPUT_MARKER).is_file()


def test_release_does_not_replace_a_notebook_someone_worked_in(tiny_course, monkeypatch):
    work = pipeline.lab_notebook(LAB, pipeline.RELEASE, tiny_course)
    assert not cli._learner_work(work)
    nbformat.write(_notebook(nbformat.read(work, as_version=4), ANSWERS), work)
    before = work.read_bytes()
    assert cli._learner_work(work)
    (tiny_course / "pyproject.toml").write_text((Path(cli.__file__).parents[1] / "pyproject.toml").read_text())
    monkeypatch.setattr(pipeline, "course_root", lambda: tiny_course)
    assert cli.main(["release", LAB]) == 1
    assert work.read_bytes() == before
    assert cli.main(["release", LAB, "--overwrite"]) == 0
    assert work.read_bytes() != before and not cli._learner_work(work)
