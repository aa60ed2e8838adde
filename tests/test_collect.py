"""`nbgrader collect` in the course root reads the exchange as hostile input.

Each test builds a private exchange and a scratch course, releases a tiny lab with the
real `nbgrader release_assignment`, has a real machine account submit it with `nbgrader
submit` (run as that account, so the inbound entry is the student's as on a hub), then
does what a student can do to their entry, and runs the real `nbgrader collect` in the
course root (which reads the course's nbgrader_config.py, hence course_admin.exchange):

* a symbolic link, a hard link, a FIFO and an oversized file in the entry: none of their
  content reaches submitted/, collect does not hang, the notebook beside them is collected;
* an entry named for one student but created by another account is not collected for the
  student it names (that student's own entry is);
* a forged early time in the entry's name and timestamp.txt does not make the submission
  early, nor does it choose which entry --before-duedate collects.

To see these tests fail without the fix, run them with
COURSE_TEST_COLLECT=nbgrader.exchange.default.ExchangeCollect (nbgrader's own collect).
Needs root (accounts are created with useradd and removed afterwards).
"""

from __future__ import annotations

import datetime
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from course_admin import exchange, pipeline

ROOT = Path(__file__).resolve().parents[1]
LAB = "lab0_attack_target"
COURSE_ID = "explaining-nlp-models"
SECRET = "GRADEBOOK_SECRET_e41c"  # in files outside the course that a student links to
GENUINE = "GENUINE_WORK_7a2b"  # in the student's notebook
INTRUDER = "INTRUDER_WORK_90dd"  # in a notebook another account submits under the student's name

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="creates machine accounts (useradd): run as root")


@pytest.fixture(scope="module")
def accounts():
    """Throwaway accounts: a student, another student (the intruder), an instructor."""
    tag = uuid.uuid4().hex[:6]
    names = {"student": f"c22s{tag}", "intruder": f"c22i{tag}", "instructor": f"c22t{tag}"}
    for name in names.values():
        subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                        name], check=True, capture_output=True)
    yield names
    for name in names.values():
        subprocess.run(["userdel", name], capture_output=True)


def _notebook(marker: str) -> nbformat.NotebookNode:
    nb = v4.new_notebook(cells=[v4.new_markdown_cell(f"my answers: {marker}")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


class Scene:
    """A scratch course, its private exchange, and students' homes, under one folder that
    the students' accounts can reach (pytest's own tmp folder is private to root)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.course = base / "course"
        self.exchange = base / "exchange"
        (self.course / "notebooks" / LAB).mkdir(parents=True)
        shutil.copy2(ROOT / "nbgrader_config.py", self.course / "nbgrader_config.py")
        nbformat.write(_notebook("released"), self.course / "notebooks" / LAB / f"{LAB}.ipynb")
        self.exchange.mkdir()
        self.exchange.chmod(0o777)
        self.nbgrader("release_assignment", LAB)

    @property
    def inbound(self) -> Path:
        return self.exchange / COURSE_ID / "inbound"

    def nbgrader(self, *args: str, user: str | None = None, cwd: Path | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess:
        """A real nbgrader command in `cwd` (the course root by default), as root or as `user`."""
        command = [sys.executable, "-m", "nbgrader", *args, f"--Exchange.root={self.exchange}",
                   f"--CourseDirectory.course_id={COURSE_ID}"]
        cwd = cwd or self.course
        with pipeline.grading_environment():
            env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
            if user:
                account = pwd.getpwnam(user)
                env["HOME"] = str(self.base / f"home-{user}")
                command = ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups",
                           *command, f"--Exchange.cache={env['HOME']}/.nbgrader_cache"]
            result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        return result

    def submit(self, user: str, marker: str, *extra: str) -> Path:
        """`user` fetches nothing (the notebook is written for them) and submits; returns
        the new inbound entry."""
        home = self.base / f"home-{user}"
        (home / LAB).mkdir(parents=True, exist_ok=True)
        nbformat.write(_notebook(marker), home / LAB / f"{LAB}.ipynb")
        account = pwd.getpwnam(user)
        for path in [home, *home.rglob("*")]:
            os.lchown(path, account.pw_uid, account.pw_gid)
        before = set(os.listdir(self.inbound))
        self.nbgrader("submit", LAB, *extra, user=user, cwd=home)
        (entry,) = set(os.listdir(self.inbound)) - before
        return self.inbound / entry

    def collect(self, *extra: str, user: str | None = None) -> subprocess.CompletedProcess:
        """The instructor's `nbgrader collect` in the course root (with the course's config)."""
        override = os.environ.get("COURSE_TEST_COLLECT")
        extra += (f"--ExchangeFactory.collect={override}",) if override else ()
        return self.nbgrader("collect", LAB, *extra, user=user, timeout=60)

    def hand_to(self, instructor: str) -> None:
        """Make the course and the exchange's course folder an instructor account's (root
        reads everything; an instructor does not, which is what a student can exploit)."""
        from nbgrader.api import Gradebook

        # The gradebook is made first, as root: creating one runs the venv's `alembic`, whose
        # interpreter on this machine lives under root's home (not an instructor's concern).
        with pipeline.grading_environment(), Gradebook(f"sqlite:///{self.course / 'gradebook.db'}", COURSE_ID):
            pass
        account = pwd.getpwnam(instructor)
        home = self.base / f"home-{instructor}"
        home.mkdir(exist_ok=True)
        for top in (self.course, self.exchange / COURSE_ID, home):
            for path in [top, *top.rglob("*")]:
                if not (path.is_relative_to(self.inbound) and path != self.inbound):  # entries stay the students'
                    os.lchown(path, account.pw_uid, account.pw_gid)

    def submitted(self, student: str) -> Path:
        return self.course / "submitted" / student / LAB

    def collected_text(self) -> str:
        """Everything under submitted/, as text."""
        found = [p for p in (self.course / "submitted").rglob("*") if p.is_file()] \
            if (self.course / "submitted").exists() else []
        return "\n".join(p.read_bytes().decode("utf-8", errors="replace") for p in found)


@pytest.fixture
def scene():
    base = Path(tempfile.mkdtemp(prefix="course-collect-"))
    base.chmod(0o755)  # the students' accounts run nbgrader submit under it
    try:
        yield Scene(base)
    finally:
        shutil.rmtree(base)


@pytest.fixture
def secret(scene):
    """A file only the instructor can read, outside the course: what a gradebook or
    solutions/ is to a student."""
    path = scene.base / "instructor-only" / "gradebook.txt"
    path.parent.mkdir()
    path.write_text(f"hidden tests and grades: {SECRET}\n")
    path.chmod(0o600)
    return path


def _as_student(path: Path, user: str) -> None:
    """Make `path` the student's, as if their own process had created it."""
    account = pwd.getpwnam(user)
    os.lchown(path, account.pw_uid, account.pw_gid)


def _notebook_collected(scene: Scene, student: str, marker: str) -> None:
    notebook = scene.submitted(student) / f"{LAB}.ipynb"
    assert notebook.is_file(), f"the student's notebook was not collected: {list(scene.submitted(student).parent.rglob('*'))}"
    assert marker in notebook.read_text()


def test_a_symbolic_link_to_a_secret_is_not_followed(scene, secret, accounts):
    student = accounts["student"]
    entry = scene.submit(student, GENUINE)
    (entry / "notes.txt").symlink_to(secret)
    _as_student(entry / "notes.txt", student)
    (entry / "data").symlink_to(secret.parent, target_is_directory=True)  # a link to a whole folder
    _as_student(entry / "data", student)
    (entry / "sub").mkdir()  # deeper down: a link beside a file of the student's
    (entry / "sub" / "inner.txt").symlink_to(secret)
    (entry / "sub" / "mine.txt").write_text(GENUINE)
    for path in (entry / "sub", entry / "sub" / "inner.txt", entry / "sub" / "mine.txt"):
        _as_student(path, student)
    # And an "entry" that is itself a link to the instructor's folder, in the student's name.
    (scene.inbound / f"{student}+{LAB}+2030-01-01 00:00:00.000000 UTC+x").symlink_to(secret.parent)
    _as_student(scene.inbound / f"{student}+{LAB}+2030-01-01 00:00:00.000000 UTC+x", student)
    scene.collect()
    assert SECRET not in scene.collected_text()
    _notebook_collected(scene, student, GENUINE)
    assert (scene.submitted(student) / "sub" / "mine.txt").read_text() == GENUINE
    notes = exchange.collect_notes(scene.course, LAB)
    for name in ("'notes.txt'", "'data'", "'sub/inner.txt'", "2030-01-01"):
        assert any(name in n and "symbolic link" in n for n in notes), (name, notes)


def test_a_hard_link_to_a_secret_is_not_copied(scene, secret, accounts):
    student = accounts["student"]
    entry = scene.submit(student, GENUINE)
    os.link(secret, entry / "notes.txt")  # same file system; fs.protected_hardlinks=0 would let the student
    scene.collect()
    assert SECRET not in scene.collected_text()
    _notebook_collected(scene, student, GENUINE)
    assert any("notes.txt" in n and "hard link" in n for n in exchange.collect_notes(scene.course, LAB))


def test_a_fifo_neither_hangs_collect_nor_is_copied(scene, accounts):
    student = accounts["student"]
    entry = scene.submit(student, GENUINE)
    os.mkfifo(entry / "pipe")
    _as_student(entry / "pipe", student)
    scene.collect()  # times out (and fails) if collect opens the FIFO and waits for a writer
    assert not (scene.submitted(student) / "pipe").exists()
    _notebook_collected(scene, student, GENUINE)
    assert any("'pipe'" in n and "FIFO" in n for n in exchange.collect_notes(scene.course, LAB))


def test_a_file_above_the_size_limit_is_not_copied(scene, accounts):
    student = accounts["student"]
    entry = scene.submit(student, GENUINE)
    big = entry / "weights.bin"
    with open(big, "wb") as handle:  # sparse: its size counts, not the disk
        handle.truncate((exchange.MAX_SUBMISSION_MB + 1) * 2**20)
    _as_student(big, student)
    scene.collect()
    assert not (scene.submitted(student) / "weights.bin").exists()
    _notebook_collected(scene, student, GENUINE)
    assert any("weights.bin" in n and "limit" in n for n in exchange.collect_notes(scene.course, LAB))


def test_an_entry_another_account_made_in_a_students_name_is_not_theirs(scene, accounts):
    student, intruder = accounts["student"], accounts["intruder"]
    scene.submit(student, GENUINE)
    forged = scene.submit(intruder, INTRUDER, f"--student={student}")  # newer: nbgrader's collect takes it
    assert forged.name.startswith(f"{student}+") and forged.stat().st_uid == pwd.getpwnam(intruder).pw_uid
    result = scene.collect()
    assert INTRUDER not in scene.collected_text()
    _notebook_collected(scene, student, GENUINE)
    notes = exchange.collect_notes(scene.course, LAB)
    assert any(intruder in n and "not collected" in n for n in notes), notes
    assert "cheating attempt" in result.stderr + result.stdout  # nbgrader's own warning is kept


def test_an_entry_owned_by_another_account_is_not_collected_at_all(scene, accounts):
    student = accounts["student"]
    entry = scene.submit(student, GENUINE)
    for path in [entry, *entry.rglob("*")]:
        os.lchown(path, 65534, 65534)  # nobody's now: whoever made it, it is not the student's
    scene.collect()
    assert not scene.submitted(student).exists()
    assert any("nobody" in n for n in exchange.collect_notes(scene.course, LAB))


FORGED = "2001-01-01 00:00:00.000000 UTC"


def _forge(entry: Path, claimed: str) -> Path:
    """What a student can do to their own entry: rename it and rewrite timestamp.txt."""
    student, lab, _, random = entry.name.rsplit("+", 3)
    (entry / "timestamp.txt").write_text(claimed)  # keeps its owner: the file exists
    forged = entry.with_name(f"{student}+{lab}+{claimed}+{random}")
    entry.rename(forged)
    return forged


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def test_a_forged_early_time_does_not_make_the_submission_early(scene, accounts):
    student = accounts["student"]
    start = _utc_now()
    _forge(scene.submit(student, GENUINE), FORGED)
    scene.collect()
    recorded = exchange.parse_utc((scene.submitted(student) / "timestamp.txt").read_text())
    assert start - datetime.timedelta(seconds=2) <= recorded <= _utc_now() + datetime.timedelta(seconds=2), recorded
    notes = exchange.collect_notes(scene.course, LAB)
    assert any("2001-01-01" in n and student in n for n in notes), notes


def test_before_duedate_chooses_by_the_trusted_time(scene, accounts):
    from nbgrader.api import Gradebook

    student = accounts["student"]
    scene.submit(student, GENUINE)
    due = _utc_now() + datetime.timedelta(seconds=1)
    with pipeline.grading_environment(), Gradebook(f"sqlite:///{scene.course / 'gradebook.db'}", COURSE_ID) as gradebook:
        gradebook.update_or_create_assignment(LAB, duedate=due)
    while _utc_now() <= due + datetime.timedelta(seconds=1):
        pass
    late = scene.submit(student, INTRUDER)  # after the due date, renamed to claim just before it
    claimed = (due - datetime.timedelta(seconds=0.5)).replace(tzinfo=datetime.timezone.utc)
    _forge(late, claimed.strftime(exchange.TIME_FORMAT))
    scene.collect("--before-duedate")
    _notebook_collected(scene, student, GENUINE)
    assert exchange.parse_utc((scene.submitted(student) / "timestamp.txt").read_text()) <= due


def test_ownership_not_checked_is_recorded(scene, accounts):
    """nbgrader's switch for one-account setups is honoured, and the record says so."""
    student = accounts["student"]
    entry = scene.submit(student, GENUINE)
    for path in [entry, *entry.rglob("*")]:
        os.lchown(path, 65534, 65534)
    scene.collect("--ExchangeCollect.check_owner=False")
    _notebook_collected(scene, student, GENUINE)
    log = json.loads((scene.course / exchange.LOG_NAME).read_text())
    assert log["labs"][LAB]["students"][student]["owner_checked"] is False
    assert any("not checked" in n and student in n for n in exchange.collect_notes(scene.course, LAB))


def test_names_in_notes_are_one_clean_line():
    assert exchange.clean("a\nb\x1b[2J\u202ec\udcff") == "a\\x0ab\\x1b[2J\\u202ec\\udcff"
    assert len(exchange.clean("x" * 500)) == 80


def test_a_file_swapped_after_its_check_is_refused_by_its_descriptor(tmp_path):
    """Between the check by name and the open, a student can put a FIFO or a link where a
    file was: the open neither follows nor blocks, and the descriptor is checked again."""
    folder = tmp_path / "entry"
    folder.mkdir()
    os.mkfifo(folder / "pipe")
    (folder / "link").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").write_text(SECRET)
    (tmp_path / "out").mkdir()
    walk = exchange._Walk(student_uid=None, limits=exchange.Limits(2**20, 2**20, [], []))
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert "FIFO" in exchange._copy_file("pipe", fd, tmp_path / "out" / "pipe", walk)
        assert "could not be opened" in exchange._copy_file("link", fd, tmp_path / "out" / "link", walk)
    finally:
        os.close(fd)
    assert not list((tmp_path / "out").iterdir())


def test_an_unreadable_folder_or_file_does_not_stop_the_collect(scene, accounts):
    """A student can make part of their entry unreadable to the instructor's account:
    that part is refused and recorded; the collect of the class goes on."""
    student, instructor = accounts["student"], accounts["instructor"]
    entry = scene.submit(student, GENUINE)
    (entry / "sub").mkdir()
    (entry / "sub" / "a.txt").write_text("x")
    (entry / "closed.txt").write_text("x")
    for path in (entry / "sub" / "a.txt", entry / "sub", entry / "closed.txt"):
        _as_student(path, student)
        path.chmod(0)
    scene.hand_to(instructor)
    scene.collect(user=instructor)
    _notebook_collected(scene, student, GENUINE)
    notes = exchange.collect_notes(scene.course, LAB)
    assert any("'sub/'" in n and "Permission denied" in n for n in notes), notes
    assert any("'closed.txt'" in n and "Permission denied" in n for n in notes), notes


def test_formgraders_collect_button_uses_the_course_collect(scene, secret, accounts):
    """Formgrader's Collect button calls NbGraderAPI.collect with the course root's config."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    student = accounts["student"]
    entry = scene.submit(student, GENUINE)
    (entry / "notes.txt").symlink_to(secret)
    _as_student(entry / "notes.txt", student)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(scene.course)).load_config()
    config.Exchange.root = str(scene.exchange)
    config.CourseDirectory.root = str(scene.course)
    if os.environ.get("COURSE_TEST_COLLECT"):
        config.ExchangeFactory.collect = os.environ["COURSE_TEST_COLLECT"]
    with pipeline.grading_environment():
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        result = api.collect(LAB)
    assert result["success"], result
    assert SECRET not in scene.collected_text()
    _notebook_collected(scene, student, GENUINE)
    assert any("notes.txt" in n for n in exchange.collect_notes(scene.course, LAB))
