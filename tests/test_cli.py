"""The `course` command's own paths, run as a user runs them: `run`, `release`, `check`, `--db`
and `--unsafe`.

Each test runs the command in a copy of a course root holding one small lab (the attack
suite's target: two exercises, visible and hidden tests, a written answer), so that a lab
executes and a notebook grades in seconds by exactly the steps the labs take: as a process
started in that folder (`course_root` finds it there, as for a user), or, for `release`,
which starts no kernel, by `cli.main` in this process with that folder as the current one.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_attacks import ANSWERS, LAB, SECRETS, _notebook, released_course

from course_admin import cli, labformat, pipeline

REPOSITORY = Path(__file__).resolve().parents[1]


def course(*arguments: str, cwd: Path, path: str | None = None) -> subprocess.CompletedProcess:
    """`course ARGUMENTS` run in `cwd` (with PATH set to `path` when given)."""
    environment = None if path is None else {**os.environ, "PATH": path}
    return subprocess.run([sys.executable, "-m", "course_admin.cli", *arguments], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env=environment)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course root with the small lab, its release made and recorded in its gradebook, and
    the repository's pyproject.toml (`course release` reads the Colab cell's pins from it)."""
    root = released_course(tmp_path_factory.mktemp("cli") / "course")
    (root / "pyproject.toml").write_text((REPOSITORY / "pyproject.toml").read_text())
    return root


@pytest.fixture
def tiny(template: Path, tmp_path: Path) -> Path:
    """This test's own copy of the template course root."""
    return shutil.copytree(template, tmp_path / "course", symlinks=True)


def _rows(stdout: str) -> dict[str, str]:
    """The grade table `course run` and `course check` print: student -> the rest of its row."""
    return {line.split()[0]: line.split(maxsplit=1)[1] for line in stdout.splitlines()
            if line.split() and line.split()[0] in ("reference", "blank", "partly_wrong")}


def _edit_source(root: Path, old: str, new: str) -> None:
    path = pipeline.lab_notebook(LAB, root=root)
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


# ---------------------------------------------------------------- course run
def test_course_run_executes_the_lab_and_grades_its_demo_cohort(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = course("run", LAB, "--out", str(out), cwd=tiny)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{LAB}: executed in" in result.stdout and "no warnings" in result.stdout, result.stdout
    rows = _rows(result.stdout)
    assert rows["reference"].endswith(" 6/6") and rows["blank"].endswith(" 0/6"), result.stdout
    assert "to grade/2" in rows["reference"], "the written answer is shown apart, to grade"
    # the reference handed in the source: its own page shows its answers, never the hidden tests
    hidden = {"reference": ("SECRET_INPUT_7f3a", "HIDDEN_REFERENCE_9c1e"), "blank": SECRETS}
    for student, secrets in hidden.items():
        page = (out / "course" / "feedback" / student / LAB / f"{LAB}.html").read_text()
        assert not [secret for secret in secrets if secret in page], student
    # what a newcomer sees: the expected duration first (this course root has no benchmark), progress
    # per lab's cells and per demo student on stderr (tqdm), and where to look next, last
    lines = result.stdout.strip().splitlines()
    assert f"This course has no {cli.BENCHMARK}" in lines[1], result.stdout[:2000]
    cells = pipeline.code_cells(nbformat.read(pipeline.lab_notebook(LAB, root=tiny), as_version=4))
    bars = result.stderr.replace("\r", "\n")
    assert f"{LAB}: 100%" in bars and f" {cells}/{cells} " in bars, bars[-3000:]
    assert f"{LAB}: reference" in bars and f"{LAB}: blank" in bars, bars[-3000:]  # the student being graded
    assert "grading the demo cohort: 100%" in bars and " 2/2 " in bars, bars[-3000:]
    assert lines[-1].startswith("Done in ") and f"{out / 'course' / 'feedback'}/<student>/<lab>/<lab>.html" in lines[-1]
    assert f"{out / 'course' / 'autograded'}" in lines[-1] and '"What instructors do"' in lines[-1], lines[-1]
    assert "## What instructors do" in (REPOSITORY / "README.md").read_text()


NUMBER_WORDS = {4: "four", 5: "five", 6: "six", 7: "seven"}


def test_course_run_expects_the_duration_the_benchmark_measured_as_the_readme_says() -> None:
    """The estimate `course run` prints comes from the last benchmark of every lab, and the
    README gives the same figures (a new benchmark changes both)."""
    labs = pipeline.finished_labs(REPOSITORY)
    measured, machine = cli.measured_seconds(REPOSITORY)
    assert set(labs) <= set(measured) and machine.endswith(" cores"), (measured, machine)
    executing = sum(measured[lab][0] for lab in labs)
    grading = sum(measured[lab][1] * cli.cohort_size(lab) for lab in labs)
    total = cli._minutes(executing + grading)
    said = cli.expected_duration(labs, REPOSITORY)
    assert said.startswith(f"Expect about {total}: measured on {machine}") and f"{grading:.0f} s grading" in said
    readme = " ".join((REPOSITORY / "README.md").read_text().split())
    assert (f"`course run` takes about {total} on {machine} with nothing else running: {executing:.0f} s executing "
            f"the {NUMBER_WORDS[len(labs)]} labs and {grading:.0f} s grading the demo cohort's "
            f"{sum(map(cli.cohort_size, labs))} notebooks") in readme



# ---------------------------------------------------------------- course release
def test_course_release_writes_a_release_without_solutions(tiny: Path, monkeypatch, capsys) -> None:
    release = pipeline.lab_notebook(LAB, pipeline.RELEASE, tiny)
    release.unlink()
    monkeypatch.chdir(tiny)
    assert cli.main(["release", LAB]) == 0, capsys.readouterr().err[-2000:]
    assert f"{LAB}: released to notebooks/{LAB}/{LAB}.ipynb" in capsys.readouterr().out
    text = release.read_text()
    assert "BEGIN SOLUTION" not in text and not [secret for secret in SECRETS if secret in text]


def test_course_release_refuses_a_release_that_would_leak_and_names_the_leak(tiny: Path, monkeypatch,
                                                                           capsys) -> None:
    """A course whose nbgrader configuration does not know the source's hidden-test markers
    would release the hidden tests as they are: nothing is written, exit 1, the leak named."""
    config = tiny / "nbgrader_config.py"
    config.write_text(config.read_text() + '\nc.ClearHiddenTests.begin_test_delimeter = "BEGIN SECRET TESTS"\n'
                      'c.ClearHiddenTests.end_test_delimeter = "END SECRET TESTS"\n')
    release = pipeline.lab_notebook(LAB, pipeline.RELEASE, tiny)
    before = release.read_bytes()
    monkeypatch.chdir(tiny)
    code, printed = cli.main(["release", LAB, "--overwrite"]), capsys.readouterr()
    assert code == 1, printed.out[-2000:] + printed.err[-2000:]
    assert f"{LAB}: the release contains solution or hidden-test text, not written" in printed.err
    assert labformat.BEGIN_HIDDEN in printed.err and "SECRET_INPUT_7f3a" in printed.err, printed.err
    assert release.read_bytes() == before


# ---------------------------------------------------------------- course check
def test_course_check_passes_a_lab_whose_source_gets_full_marks_and_blank_zero(tiny: Path) -> None:
    result = course("check", LAB, cwd=tiny)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{LAB}: reference full marks, blank 0" in result.stdout


def test_course_check_fails_a_lab_whose_reference_answer_is_wrong(tiny: Path) -> None:
    _edit_source(tiny, "e.sum(axis=-1, keepdims=True)", "e.sum(axis=0, keepdims=True)")  # the reference's softmax
    result = course("check", LAB, cwd=tiny)
    assert result.returncode == 1, result.stdout[-2000:]
    assert f"{LAB}: reference NOT full marks, blank 0" in result.stdout
    assert not _rows(result.stdout)["reference"].endswith(" 6/6"), result.stdout


# ---------------------------------------------------------------- --db
def _class_folder(tmp_path: Path, tiny: Path, answers: dict[str, str]) -> Path:
    release = nbformat.read(pipeline.lab_notebook(LAB, pipeline.RELEASE, tiny), as_version=4)
    folder = tmp_path / "class"
    folder.mkdir()
    nbformat.write(_notebook(release, answers), folder / f"alice_{LAB}.ipynb")
    return folder


def test_db_writes_the_gradebook_at_the_given_url(tiny: Path, tmp_path: Path) -> None:
    (tiny / "gradebook.db").unlink()
    folder = _class_folder(tmp_path, tiny, ANSWERS)
    elsewhere = tmp_path / "shared" / "grades.db"
    elsewhere.parent.mkdir()
    url = f"sqlite:///{elsewhere}"
    graded = course("autograde", str(folder), "--course", str(tiny), "--db", url, cwd=tiny)
    assert graded.returncode == 0, graded.stderr[-3000:]
    assert not (tiny / "gradebook.db").exists(), "the course's own gradebook was written"
    with sqlite3.connect(elsewhere) as connection:
        students = [row[0] for row in connection.execute("select id from student")]
    assert students == ["alice"]
    scores = {s.exercise: s.score for s in pipeline.Workspace(tiny, [LAB], db_url=url).exercise_scores(LAB, "alice")
              if not s.manual}
    assert scores == {"mean_square": 3, "row_softmax": 3}, scores


# ---------------------------------------------------------------- --unsafe
HOST = "import socket\nprint('host:', socket.gethostname())\n"  # the sandbox's host name is "grading"


def test_unsafe_grades_without_the_sandbox_and_says_so_and_without_it_a_missing_sandbox_stops(tiny: Path,
                                                                                            tmp_path: Path) -> None:
    folder = _class_folder(tmp_path, tiny, {**ANSWERS, "ex_mean_square": HOST + ANSWERS["ex_mean_square"]})
    no_bwrap = str(Path(sys.executable).parent)  # no /usr/bin on PATH: bwrap is not found
    refused = course("autograde", str(folder), "--course", str(tiny), cwd=tiny, path=no_bwrap)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "bubblewrap is not installed" in refused.stderr and "--unsafe" in refused.stderr
    graded = course("autograde", str(folder), "--course", str(tiny), "--unsafe", cwd=tiny, path=no_bwrap)
    assert graded.returncode == 0, graded.stderr[-3000:]
    assert "WARNING: --unsafe: student code runs with your user rights" in graded.stderr
    workspace = pipeline.Workspace(tiny, [LAB])
    assert {s.exercise: s.score for s in workspace.exercise_scores(LAB, "alice") if not s.manual} == \
        {"mean_square": 3, "row_softmax": 3}
    printed = "".join(output.get("text", "") for cell in nbformat.read(workspace.autograded_path(LAB, "alice"), 4).cells
                      for output in cell.get("outputs", []))
    assert f"host: {socket.gethostname()}" in printed and "host: grading" not in printed, printed


def test_the_course_command_starts_without_jsonschemas_iri_grammar_and_still_validates_notebooks():
    """course_admin keeps jsonschema from building rfc3987_syntax's grammar (0.9 s of every
    command's start): it is not loaded, and nbformat still refuses an invalid notebook."""
    code = ("import sys, course_admin.cli, nbformat  # as the `course` command: course_admin first\n"
            "assert sys.modules.get('rfc3987_syntax') is None, 'the iri grammar was built'\n"
            "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1')])\n"
            "nbformat.validate(nb)\n"
            "nb.cells[0]['source'] = 3\n"
            "try:\n"
            "    nbformat.validate(nb)\n"
            "except nbformat.ValidationError:\n"
            "    print('refused')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "refused", done.stderr[-1500:]
