"""One PostgreSQL gradebook shared by several graders, on a real server.

Two `course autograde --db URL` processes, each in its own course root, start at the same
instant on an empty database; a third course root, which graded nothing, reports every
student and shows every graded notebook in Formgrader. A grader killed mid-notebook
leaves that notebook "not graded" (never a 0) until a re-run grades it.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import sqlalchemy as sa
from test_attacks import ANSWERS, LAB, WRONG_SOFTMAX, _notebook, released_course

from course_admin import gradebook, pipeline, roles

SHARES = {"worker_a": {"alice": ANSWERS, "bob": {**ANSWERS, "ex_row_softmax": WRONG_SOFTMAX}},
          "worker_b": {"carol": ANSWERS, "dave": {**ANSWERS, "ex_row_softmax": WRONG_SOFTMAX}}}
# ANSWERS score 6 automatic points of 6; the softmax over the wrong axis fails both its tests (3 points)
EXPECTED_AUTO = {"alice": 6.0, "bob": 3.0, "carol": 6.0, "dave": 3.0}


def _course_cli(*args: str, **popen: object) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(pipeline.__file__).parents[1])}
    return subprocess.Popen([sys.executable, "-m", "course_admin.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **popen)


def _finished(process: subprocess.Popen, timeout: float = 600) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A course root with the small lab of the attack suite, released, and no gradebook."""
    return released_course(tmp_path_factory.mktemp("template") / "course", gradebook=False)


def _root(template: Path, where: Path) -> Path:
    shutil.copytree(template, where)
    return where


def _share(where: Path, release: nbformat.NotebookNode, students: dict[str, dict[str, str]]) -> Path:
    where.mkdir(parents=True)
    for student, answers in students.items():
        nbformat.write(_notebook(release, answers), where / f"{student}_{LAB}.ipynb")
    return where


@pytest.fixture(scope="module")
def shared(template, tmp_path_factory, postgres):
    """Two graders started together on an empty PostgreSQL database, then `course report`
    in a third course root that graded nothing: (url, report root, grades.csv rows, timings)."""
    base = tmp_path_factory.mktemp("shared")
    url = postgres.new_database()
    release = nbformat.read(pipeline.lab_notebook(LAB, pipeline.RELEASE, template), as_version=4)
    workers = {}
    start = time.perf_counter()
    for name, students in SHARES.items():
        root, share = _root(template, base / name), _share(base / f"{name}_share", release, students)
        workers[name] = _course_cli("autograde", str(share), "--course", str(root), "--db", url, "--lab", LAB,
                                    "--timeout", "120")
    for name, process in workers.items():
        code, out, err = _finished(process)
        assert code == 0, f"{name} failed:\n{out[-2000:]}\n{err[-4000:]}"
    grading = time.perf_counter() - start
    report_root = _root(template, base / "report")
    code, out, err = _finished(_course_cli("report", "--course", str(report_root), "--db", url, "--lab", LAB))
    assert code == 0, err[-4000:]
    with open(report_root / "reports" / "grades.csv") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    return url, report_root, rows, grading


def test_two_graders_on_an_empty_database_both_finish_and_one_report_shows_every_student(shared):
    """Before: one grader crashed creating the schema (IntegrityError on CREATE TYPE), and each
    report marked the other grader's students 'not graded: not autograded yet'."""
    url, report_root, rows, seconds = shared
    print(f"two graders, 2 notebooks each, started together: {seconds:.1f} s")
    assert set(rows) == set(EXPECTED_AUTO)
    for student, auto in EXPECTED_AUTO.items():
        assert rows[student]["status"] == "graded", rows[student]
        assert float(rows[student]["auto_score"]) == auto and float(rows[student]["auto_max_score"]) == 6
    summary = (report_root / "reports" / "summary.md").read_text()
    assert "4 notebook(s) graded, 0 not graded" in summary
    for student in EXPECTED_AUTO:  # feedback regenerated in the report's root for every student
        assert (report_root / "feedback" / student / LAB / f"{LAB}.html").is_file()


RACE = """
import sys, time
from pathlib import Path
from course_admin import pipeline
root, url, lab, start = Path(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
time.sleep(max(0.0, start - time.time()))  # every process goes at the same instant
pipeline.Workspace(root, [lab], db_url=url).ensure_registered(lab)
"""


def test_graders_starting_at_the_same_instant_on_an_empty_database_all_make_the_schema_once(template, tmp_path,
                                                                                             postgres):
    """What two `course autograde` processes do first (schema, course rows, the lab and its
    cells), by six processes released at the same instant: without the advisory lock, some
    crash on nbgrader's unguarded CREATE TYPE / INSERT (IntegrityError)."""
    url = postgres.new_database()
    root = _root(template, tmp_path / "course")
    start = time.time() + 8  # after every interpreter has imported the course
    env = {**os.environ, "PYTHONPATH": str(Path(pipeline.__file__).parents[1])}
    racers = [subprocess.Popen([sys.executable, "-c", RACE, str(root), url, LAB, str(start)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    failures = [err[-1500:] for code, _, err in map(_finished, racers) if code != 0]
    assert not failures, failures[0]
    engine = sa.create_engine(url)
    with engine.connect() as db:
        assert db.execute(sa.text("SELECT count(*) FROM assignment")).scalar_one() == 1
        assert db.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    engine.dispose()


def test_no_row_of_the_gradebook_is_lost_or_doubled(shared, template):
    url = shared[0]
    source = nbformat.read(pipeline.lab_notebook(LAB, root=template), as_version=4)
    cells = sum(1 for c in source.cells if c.metadata.get("nbgrader", {}).get("grade"))
    engine = sa.create_engine(url)
    with engine.connect() as db:
        count = lambda sql: db.execute(sa.text(sql)).scalar_one()  # noqa: E731
        courses = db.execute(sa.text("SELECT id FROM course")).scalars().all()
        assert sorted(courses) == ["default_course", "explaining-nlp-models"]  # the second: nbgrader's own steps
        assert count("SELECT count(*) FROM assignment") == 1 and count("SELECT count(*) FROM notebook") == 1
        assert count("SELECT count(*) FROM student") == 4
        assert count("SELECT count(*) FROM submitted_assignment") == 4
        assert count("SELECT count(*) FROM submitted_notebook") == 4
        assert count("SELECT count(*) FROM grade") == 4 * cells
        assert count("SELECT count(*) FROM course_grading WHERE state = 'graded'") == 4
        assert count("SELECT count(*) FROM alembic_version") == 1
    engine.dispose()


class Formgrader:
    """nbgrader's Formgrader in a real Jupyter server on localhost, serving a course root whose
    nbgrader_config.py names the gradebook (as an instructor configures it)."""

    def __init__(self, root: Path, url: str):
        import secrets
        import socket

        with (root / "nbgrader_config.py").open("a") as config:
            config.write(f"\nc.CourseDirectory.db_url = {url!r}\n")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.token = secrets.token_hex(16)
        settings = root.parent / f"{root.name}-jupyter"
        settings.mkdir(exist_ok=True)
        server, _ = roles.role_extensions("instructor")  # what `course hub` and `course tools` enable
        (settings / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"jpserver_extensions": server}}))
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(settings), "JUPYTER_DATA_DIR": str(settings),
               "JUPYTER_RUNTIME_DIR": str(settings), "PYTHONPATH": str(Path(pipeline.__file__).parents[1])}
        self.server = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser", "--ip=127.0.0.1",
             f"--port={self.port}", f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}"],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.get("/formgrader/api/status")
                return
            except OSError:
                if time.monotonic() > deadline or self.server.poll() is not None:
                    self.close()
                    raise RuntimeError("Formgrader did not start: " + (self.server.stderr.read() or "")[-2000:])
                time.sleep(0.5)

    def get(self, path: str, put: object = None) -> tuple[int, str]:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                         headers={"Authorization": f"token {self.token}"},
                                         data=None if put is None else json.dumps(put).encode(),
                                         method="GET" if put is None else "PUT")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def json(self, path: str, put: object = None) -> object:
        status, body = self.get(path, put)
        assert status == 200, (path, status, body[-1000:])
        return json.loads(body)

    def close(self) -> None:
        self.server.terminate()
        try:
            self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()


def test_formgrader_in_a_root_that_graded_nothing_opens_every_submission(shared):
    """Before: Formgrader listed everyone and answered HTTP 500 on a notebook another grader
    graded (its file was not in this root's autograded/)."""
    url, report_root, _, _ = shared
    formgrader = Formgrader(report_root, url)
    try:
        listed = {s["student"]: s for s in formgrader.json(f"/formgrader/api/submissions/{LAB}")}
        assert set(listed) == set(EXPECTED_AUTO) and all(s["autograded"] for s in listed.values())
        notebooks = formgrader.json(f"/formgrader/api/submitted_notebooks/{LAB}/{LAB}")
        assert sorted(n["student"] for n in notebooks) == sorted(EXPECTED_AUTO)
        for notebook in notebooks:  # the page a grader opens, for every student, whoever graded them
            status, page = formgrader.get(f"/formgrader/submissions/{notebook['id']}/")
            assert status == 200 and "mean_square" in page, (notebook["student"], status, page[-500:])
            assert float(notebook["score"]) == EXPECTED_AUTO[notebook["student"]]
    finally:
        formgrader.close()


def test_a_database_url_that_cannot_work_gets_one_clear_sentence(template, tmp_path, postgres):
    root = _root(template, tmp_path / "course")
    missing_driver = _course_cli("db", "init", "--course", str(root), "--db", "postgresql+pg8000://u@/x?host=/nowhere")
    code, _, err = _finished(missing_driver, 120)
    assert code == 2 and "driver" in err and "Traceback" not in err, err
    nobody_there = _course_cli("db", "init", "--course", str(root), "--db", f"postgresql://u@/x?host={tmp_path}")
    code, _, err = _finished(nobody_there, 120)
    assert code == 2 and "cannot connect to the gradebook" in err and "Traceback" not in err, err
    url = postgres.new_database().replace("postgresql+psycopg://", "postgresql://")  # the plain form works
    code, out, err = _finished(_course_cli("db", "init", "--course", str(root), "--db", url), 120)
    assert code == 0 and "Gradebook ready" in out, err


SLEEPY = {**ANSWERS, "ex_mean_square": "import time\ntime.sleep(12)\n" + ANSWERS["ex_mean_square"]}


def test_a_grader_killed_mid_notebook_leaves_it_not_graded_until_the_rerun(template, tmp_path, postgres):
    url = postgres.new_database()
    release = nbformat.read(pipeline.lab_notebook(LAB, pipeline.RELEASE, template), as_version=4)
    root = _root(template, tmp_path / "worker")
    share = _share(tmp_path / "share", release, {"erin": SLEEPY})
    grader = _course_cli("autograde", str(share), "--course", str(root), "--db", url, "--timeout", "120",
                         start_new_session=True)
    deadline = time.monotonic() + 120
    while not (root / "autograded" / "erin" / LAB).is_dir():  # nbgrader began grading her notebook
        assert time.monotonic() < deadline and grader.poll() is None, "the grading never started"
        time.sleep(0.5)
    time.sleep(5)  # the kernel is starting or in the student's 12 s sleep
    os.killpg(grader.pid, signal.SIGKILL)  # the grader's own process group (start_new_session)
    grader.communicate()
    report_root = _root(template, tmp_path / "report")
    code, _, err = _finished(_course_cli("report", "--course", str(report_root), "--db", url))
    assert code == 0, err[-3000:]
    row = _grades(report_root)["erin"]
    assert row["status"].startswith("not graded") and "did not finish" in row["status"], row
    assert row["score"] == "" and row["auto_score"] == "", "a killed grading must not read as a score"
    code, out, err = _finished(_course_cli("autograde", str(share), "--course", str(root), "--db", url,
                                           "--timeout", "120"))
    assert code == 0, err[-3000:]
    code, _, err = _finished(_course_cli("report", "--course", str(report_root), "--db", url))
    row = _grades(report_root)["erin"]
    assert row["status"] == "graded" and float(row["auto_score"]) == 6, row


def _grades(root: Path) -> dict[str, dict[str, str]]:
    with open(root / "reports" / "grades.csv") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def test_one_total_everywhere_for_a_late_submission_with_hand_given_points(template, tmp_path, postgres):
    """Before: with penalty_method "zero", a student 18 s late who then got full marks on the
    written answer read 2/8 in grades.csv, summary.md and her feedback (the penalty was her
    automatic points, fixed at autograding), 8/8 in Formgrader (which shows no penalty)."""
    from nbgrader.api import Gradebook
    from nbgrader.utils import parse_utc

    url = postgres.new_database()
    root = _root(template, tmp_path / "course")
    with (root / "nbgrader_config.py").open("a") as config:
        config.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    release = nbformat.read(pipeline.lab_notebook(LAB, pipeline.RELEASE, template), as_version=4)
    answered = {**ANSWERS, "written_softmax": "Subtracting the maximum keeps exp() from overflowing."}
    for student, stamp in (("frank", "2026-11-02 09:00:18.000000 UTC"), ("grace", "2026-11-02 08:59:00.000000 UTC")):
        folder = root / "submitted" / student / LAB
        folder.mkdir(parents=True)
        nbformat.write(_notebook(release, answered), folder / f"{LAB}.ipynb")
        (folder / "timestamp.txt").write_text(stamp)
    assert _finished(_course_cli("db", "init", "--course", str(root), "--db", url), 120)[0] == 0
    with Gradebook(url, "explaining-nlp-models") as book:
        book.update_or_create_assignment(LAB, duedate=parse_utc("2026-11-02 09:00:00 UTC"))
    code, _, err = _finished(_course_cli("autograde", str(root / "submitted"), "--course", str(root), "--db", url,
                                         "--timeout", "120"))
    assert code == 0, err[-3000:]
    formgrader = Formgrader(root, url)
    try:
        for notebook in formgrader.json(f"/formgrader/api/submitted_notebooks/{LAB}/{LAB}"):  # the grader's hand
            grades = formgrader.json(f"/formgrader/api/grades?submission_id={notebook['id']}")
            written = next(g for g in grades if g["name"] == "written_softmax")
            formgrader.json(f"/formgrader/api/grade/{written['id']}", put={"manual_score": 2})
        code, _, err = _finished(_course_cli("report", "--course", str(root), "--db", url))
        assert code == 0, err[-3000:]
        shown = {s["student"]: s["score"] for s in formgrader.json(f"/formgrader/api/submissions/{LAB}")}
        page = {s["student"]: s["score"] for s in formgrader.json(f"/formgrader/api/submitted_notebooks/{LAB}/{LAB}")}
    finally:
        formgrader.close()
    rows = _grades(root)
    summary = (root / "reports" / "summary.md").read_text()
    for student, total in (("frank", 0.0), ("grace", 8.0)):  # "zero": a late notebook scores 0, written answer included
        feedback = (root / "feedback" / student / LAB / f"{LAB}.html").read_text()
        in_feedback = re.search(rf"{LAB}: (\S+) / (\S+) points", feedback)
        in_summary = re.search(rf"\| {student} \| (\S+)/(\S+) \|", summary)
        four = {"Formgrader": float(shown[student]), "Formgrader's notebook list": float(page[student]),
                "grades.csv": float(rows[student]["score"]), "summary.md": float(in_summary.group(1)),
                "feedback": float(in_feedback.group(1))}
        assert set(four.values()) == {total}, (student, four)
        assert float(rows[student]["max_score"]) == 8 == float(in_feedback.group(2)) == float(in_summary.group(2))


def test_sync_writes_only_missing_notebooks_and_ones_the_course_graded(template, tmp_path):
    """`course report` / `course db sync` put graded notebooks in autograded/: a file there that
    the course's grading did not write is never replaced."""
    root = _root(template, tmp_path / "course")
    workspace = pipeline.Workspace(root, [LAB])
    graded = nbformat.from_dict(nbformat.read(pipeline.lab_notebook(LAB, pipeline.RELEASE, root), as_version=4))
    graded.metadata["course"] = {"flags": [], "submission_sha256": "a" * 64}
    stored = nbformat.writes(graded).encode()
    for student in ("missing", "older", "foreign"):
        gradebook.finish(workspace.db_url, LAB, student, "a" * 64, stored)
    older = nbformat.from_dict(graded)
    older.metadata["course"]["submission_sha256"] = "b" * 64  # an earlier grading's notebook
    for student, content in (("older", nbformat.writes(older).encode()), ("foreign", b"my own notes")):
        workspace.autograded_path(LAB, student).parent.mkdir(parents=True)
        workspace.autograded_path(LAB, student).write_bytes(content)
    written, problems = workspace.sync([LAB])
    assert written == 2 and len(problems) == 1 and "foreign" in problems[0]
    assert workspace.autograded_path(LAB, "missing").read_bytes() == stored
    assert workspace.autograded_path(LAB, "older").read_bytes() == stored
    assert workspace.autograded_path(LAB, "foreign").read_bytes() == b"my own notes"
    assert workspace.sync([LAB]) == (0, problems), "a second sync changes nothing"
    assert not list(root.rglob("*.sync")), "no temporary file left behind"
