"""`course hub` with real local accounts: what a student can read, and `remove`.

Each test creates throwaway accounts (``c22t-<random>``, removed after the test with their
processes) and lays files out as `course hub` lays them out: the repository in a folder only
root enters, the instructor's course root in its 0700 home, the hub's 0700 private folder.
No JupyterHub is started: `remove` is run on a hub folder whose State says `course hub`
created these accounts, with processes running as them as a hub's servers and kernels would.
Needs root on Linux (CI runs as root); skipped elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from course_admin import hub, hub_access, hub_accounts, hub_folder, hub_removal

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or shutil.which("useradd", path=hub_accounts.SYSTEM_PATH) is None,
    reason="creates throwaway local accounts: needs root on Linux")

COURSE_ID = "c22t-course"


@pytest.fixture
def make_account() -> Iterator[Callable[[str], str]]:
    """Create throwaway accounts (home 0700, as `course hub` makes them); after the test, kill
    what still runs as them (by pid) and delete them if a test left them."""
    made: list[tuple[str, int]] = []

    def make(role: str) -> str:
        name = f"c22t-{role[:3]}-{os.urandom(3).hex()}"
        hub_accounts.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name])
        entry = pwd.getpwnam(name)
        os.chmod(entry.pw_dir, 0o700)
        made.append((name, entry.pw_uid))
        return name

    yield make
    for name, uid in made:
        for pid in hub_removal.account_processes(uid):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        for _ in range(50):  # a killed process takes a moment to leave
            if not hub_removal.account_processes(uid):
                break
            time.sleep(0.1)
        subprocess.run([shutil.which("userdel", path=hub_accounts.SYSTEM_PATH), "--remove", name], capture_output=True)


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder every account may traverse (like /), holding this test's layout."""
    folder = Path(tempfile.mkdtemp(prefix="c22t-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _as(user: str, *argv: str) -> subprocess.CompletedProcess:
    """Run a system command as `user`, with its groups, in its home (what its server could do)."""
    return hub_accounts.run_as(user, list(argv))


def _chown_tree(folder: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _gradebook(path: Path) -> None:
    """A small SQLite gradebook with one grade in it."""
    with sqlite3.connect(path) as database:
        database.execute("CREATE TABLE grade (student TEXT, score REAL)")
        database.execute("INSERT INTO grade VALUES ('alice', 27.5)")
    database.close()


def _course_root(instructor: str) -> Path:
    """The instructor's course root as `course hub` makes it: solutions, gradebook, in the 0700 home."""
    course = Path(pwd.getpwnam(instructor).pw_dir) / COURSE_ID
    (course / "solutions" / "lab1").mkdir(parents=True)
    (course / "solutions" / "lab1" / "lab1.ipynb").write_text('{"cells": ["the hidden tests"]}')
    _gradebook(course / "gradebook.db")
    _chown_tree(course, instructor)
    return course


def _repository(folder: Path) -> Path:
    """A course repository: solutions, a tests/answers file, a .git folder; files 0644 as git makes them."""
    repository = folder / "explaining-nlp-models"
    (repository / "solutions" / "lab1").mkdir(parents=True)
    (repository / "solutions" / "lab1" / "lab1.ipynb").write_text('{"cells": ["the hidden tests"]}')
    (repository / "tests").mkdir()
    (repository / "tests" / "answers_lab1.py").write_text("ANSWER = 42\n")
    (repository / ".git" / "objects").mkdir(parents=True)
    (repository / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repository / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.course_id = {COURSE_ID!r}\n")
    (repository / "notebooks" / "lab1").mkdir(parents=True)
    (repository / "notebooks" / "lab1" / "lab1.ipynb").write_text('{"cells": []}')
    for path in [repository, *repository.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return repository


def _hub_root(folder: Path) -> Path:
    """The hub's folder: public configuration, a 0700 private folder with the passwords."""
    root = folder / "hub"
    (root / "jupyter" / "student").mkdir(parents=True)
    (root / "private").mkdir(mode=0o700)
    hub_folder.write_private(root / "private" / "passwords", "alice:secret\n")
    return root


def _interpreter(folder: Path, imports_from: Path | None = None) -> str:
    """A stand-in for the course venv's python that every account may run: asked where it
    imports course_admin and course_utils from, it answers `imports_from` (an editable install
    in that repository) or a venv's site-packages (a non-editable install)."""
    script = folder / "venv" / "bin" / "python"
    script.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(script.parent.parent, 0o755), os.chmod(script.parent, 0o755)
    place = imports_from or folder / "venv" / "lib" / "site-packages"
    script.write_text(f"#!/bin/sh\necho {place}\necho {place}\n")
    os.chmod(script, 0o755)
    return str(script)


def _settings(root: Path, instructor: str, students: list[str], course: Path, exchange: Path) -> hub_folder.Settings:
    return hub_folder.Settings(instructor=instructor, students=students, root=str(root), exchange=str(exchange),
                        python=_interpreter(root.parent), course_id=COURSE_ID, course_root=str(course))


# ------------------------------------------------------------------------------ what a student can read
def test_a_student_reads_no_answer_and_the_check_refuses_when_one_could(make_account, base: Path) -> None:
    student, instructor = make_account("student"), make_account("teacher")
    private_home = base / "root-home"  # the repository stays in root's 0700 home, as the README says
    private_home.mkdir(mode=0o700)
    repository = _repository(private_home)
    course, root = _course_root(instructor), _hub_root(base)
    settings = _settings(root, instructor, [student], course, base / "exchange")
    secrets_ = [repository / "solutions" / "lab1" / "lab1.ipynb", repository / "tests" / "answers_lab1.py",
                repository / ".git" / "HEAD", course / "solutions" / "lab1" / "lab1.ipynb", course / "gradebook.db",
                root / "private" / "passwords"]

    # As the student, with a program of its own: nothing opens.
    for path in secrets_:
        opened = _as(student, "head", "-c", "0", str(path))
        assert opened.returncode != 0 and "Permission denied" in opened.stderr, path
    assert _as(student, "ls", str(repository / ".git")).returncode != 0
    assert hub_access.readable_by(student, secrets_) == []
    hub_access.check_students_cannot_read(settings, repository)  # the hub may start

    # The instructor's home opened up: the student reads the gradebook, and the check refuses.
    os.chmod(course.parent, 0o755)
    os.chmod(course, 0o755)
    assert _as(student, "head", "-c", "0", str(course / "gradebook.db")).returncode == 0
    with pytest.raises(hub_folder.HubError) as refused:
        hub_access.check_students_cannot_read(settings, repository)
    assert f"{student} can read {course}" in str(refused.value)
    assert f"chmod 700 {course.parent} {course}" in str(refused.value)
    os.chmod(course.parent, 0o700)
    hub_access.check_students_cannot_read(settings, repository)

    # A readable copy of the repository (what an editable install in a shared folder needs).
    shared = base / "shared"
    shared.mkdir(mode=0o755)
    readable = _repository(shared)
    assert _as(student, "head", "-c", "0", str(readable / "solutions" / "lab1" / "lab1.ipynb")).returncode == 0
    with pytest.raises(hub_folder.HubError) as refused:
        hub_access.check_students_cannot_read(settings, readable)
    message = str(refused.value)
    assert f"{student} can read {readable / 'solutions'}" in message
    assert f"chmod 700 {readable}" in message and "does not start" in message


def test_an_editable_install_from_a_readable_checkout_is_caught(make_account, base: Path) -> None:
    """`course hub --repository` names a root-only copy, but the interpreter imports the course
    from another checkout every account can read (the old README's `pip install -e`)."""
    student, instructor = make_account("student"), make_account("teacher")
    private_home = base / "root-home"
    private_home.mkdir(mode=0o700)
    repository = _repository(private_home)
    shared = base / "shared"
    shared.mkdir(mode=0o755)
    checkout = _repository(shared)
    settings = _settings(_hub_root(base), instructor, [student], _course_root(instructor), base / "exchange")
    hub_access.check_students_cannot_read(settings, repository)
    settings.python = _interpreter(base / "editable", imports_from=checkout)
    with pytest.raises(hub_folder.HubError) as refused:
        hub_access.check_students_cannot_read(settings, repository)
    assert f"{student} can read {checkout / 'solutions'}" in str(refused.value)
    assert f"imports the course from {checkout} (an editable install)" in str(refused.value)


def test_a_student_in_a_group_that_may_read_is_caught(make_account, base: Path) -> None:
    """JupyterHub's spawner gives a server its user's groups: so does the check."""
    student, instructor = make_account("student"), make_account("teacher")
    repository = _repository(base / "staff-only")  # 0755 inside, but its top folder is group-only
    top = base / "staff-only"
    group = pwd.getpwnam(instructor).pw_gid
    os.chown(top, 0, group)
    os.chmod(top, 0o750)
    settings = _settings(_hub_root(base), instructor, [student], _course_root(instructor), base / "exchange")
    hub_access.check_students_cannot_read(settings, repository)
    hub_accounts.run(["usermod", "--append", "--groups", pwd.getpwnam(instructor).pw_name, student])  # its group
    with pytest.raises(hub_folder.HubError, match="solutions"):
        hub_access.check_students_cannot_read(settings, repository)


def test_another_students_home_open_to_all_is_caught(make_account, base: Path) -> None:
    alice, bob, instructor = make_account("student"), make_account("student"), make_account("teacher")
    private_home = base / "root-home"
    private_home.mkdir(mode=0o700)
    repository = _repository(private_home)
    settings = _settings(_hub_root(base), instructor, [alice, bob], _course_root(instructor), base / "exchange")
    hub_access.check_students_cannot_read(settings, repository)
    bobs_home = Path(pwd.getpwnam(bob).pw_dir)
    os.chmod(bobs_home, 0o755)
    assert _as(alice, "ls", str(bobs_home)).returncode == 0
    with pytest.raises(hub_folder.HubError, match=f"{alice} can read {bobs_home}\n(.|\n)*chmod 700 {bobs_home}"):
        hub_access.check_students_cannot_read(settings, repository)


def test_the_instructor_gets_the_course_while_the_repository_stays_root_only(make_account, base: Path) -> None:
    instructor = make_account("teacher")
    private_home = base / "root-home"
    private_home.mkdir(mode=0o700)
    repository = _repository(private_home)
    assert _as(instructor, "head", "-c", "0", str(repository / "nbgrader_config.py")).returncode != 0
    staging = hub.stage_course(repository, instructor)
    try:
        assert stat.S_IMODE(staging.stat().st_mode) == 0o700
        assert _as(instructor, "head", "-c", "0", str(staging / "course" / "solutions" / "lab1" / "lab1.ipynb")).returncode == 0
        assert _as(instructor, "cp", "-r", str(staging / "course"), "copy").returncode == 0
    finally:
        shutil.rmtree(staging)
    assert not (staging / "course" / "tests").exists()  # only what the course root needs


# ------------------------------------------------------------------------------ remove
class _Class:
    """A hub folder as `course hub` leaves it, for `remove`: State, settings, exchange, course root."""

    def __init__(self, base: Path, instructor: str, students: list[str]) -> None:
        self.instructor, self.students = instructor, students
        self.root = _hub_root(base)
        self.exchange = base / "exchange"
        (self.exchange / COURSE_ID / "inbound").mkdir(parents=True)
        self.course = _course_root(instructor)
        self.backups = base / "backups"
        self.keep = self.root / "NOTES.txt"  # someone else's file in the hub's folder
        self.keep.write_text("not made by course hub\n")
        settings = _settings(self.root, instructor, students, self.course, self.exchange)
        hub_folder.write_private(self.root / "private" / "settings.json", json.dumps(asdict(settings)))
        hub_folder.State(created_users=[instructor, *students], created_exchange=True, created_root=True,
                  instructor=instructor, course_root=str(self.course)).save(self.root)

    def accounts(self) -> list[str]:
        found = []
        for user in (self.instructor, *self.students):
            try:
                found.append(pwd.getpwnam(user).pw_name)
            except KeyError:
                pass
        return found

    def run_as(self, user: str, script: str, reap: bool = True) -> subprocess.Popen:
        """A process of `user` (a server or kernel stand-in); `reap`: collected when it ends, as
        the hub's own children are."""
        entry = pwd.getpwnam(user)
        process = subprocess.Popen(["sh", "-c", script], user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                                   cwd=entry.pw_dir, start_new_session=True)
        if reap:
            threading.Thread(target=process.wait, daemon=True).start()
        for _ in range(50):
            if hub_removal.account_processes(entry.pw_uid):
                break
            time.sleep(0.05)
        return process


def _remove(root: Path, backups: Path, delete_gradebook: bool = False) -> int:
    """`course hub remove --yes` as the command runs it."""
    args = argparse.Namespace(root=str(root), yes=True, backups=str(backups), delete_gradebook=delete_gradebook)
    return hub.cmd_remove(args)


@pytest.mark.parametrize("delete_gradebook", [False, True])
def test_remove_stops_the_accounts_processes_and_keeps_the_gradebook(make_account, base: Path, capsys,
                                                                    delete_gradebook: bool) -> None:
    klass = _Class(base, make_account("teacher"), [make_account("student")])
    server = klass.run_as(klass.students[0], "sleep 600 & sleep 600")  # a server and a kernel under it
    grader = klass.run_as(klass.instructor, "sleep 600")

    assert _remove(klass.root, klass.backups, delete_gradebook) == 0
    assert klass.accounts() == []
    server.wait(timeout=10), grader.wait(timeout=10)
    assert not klass.course.exists() and not klass.exchange.exists()
    assert not (klass.root / "private").exists() and not (klass.root / "jupyter").exists()
    assert klass.keep.read_text() == "not made by course hub\n"  # not ours: kept, and the folder with it
    copies = sorted(klass.backups.glob(f"{COURSE_ID}-*/gradebook.db"))
    output = capsys.readouterr().out
    if delete_gradebook:
        assert copies == [] and not klass.backups.exists()
        return
    assert len(copies) == 1
    assert stat.S_IMODE(copies[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(copies[0].parent.stat().st_mode) == 0o700
    with sqlite3.connect(copies[0]) as database:
        assert database.execute("SELECT score FROM grade").fetchall() == [(27.5,)]
    database.close()
    assert f"the gradebook is kept in {copies[0]}" in output


def test_remove_kills_what_ignores_sigterm(make_account, base: Path) -> None:
    klass = _Class(base, make_account("teacher"), [make_account("student")])
    stubborn = klass.run_as(klass.students[0], "trap '' TERM; sleep 600")
    hub_removal.remove_hub(klass.root, klass.backups, seconds=1, kill_seconds=10)
    assert stubborn.wait(timeout=10) == -9
    assert klass.accounts() == [] and len(list(klass.backups.glob("*/gradebook.db"))) == 1


def test_remove_removes_nothing_when_a_process_cannot_be_stopped_then_resumes(make_account, base: Path) -> None:
    """A killed process its root parent has not collected (a zombie) keeps its account busy:
    userdel would refuse it, so remove refuses everything; collected, a second run finishes."""
    klass = _Class(base, make_account("teacher"), [make_account("student"), make_account("student")])
    zombie = klass.run_as(klass.students[1], "sleep 600", reap=False)
    with pytest.raises(hub_folder.HubError) as refused:
        hub_removal.remove_hub(klass.root, klass.backups, seconds=1, kill_seconds=1)
    assert f"{zombie.pid} (a zombie" in str(refused.value) and "nothing was deleted" in str(refused.value)
    assert klass.accounts() == [klass.instructor, *klass.students]
    assert (klass.course / "gradebook.db").is_file() and klass.exchange.is_dir()
    assert (klass.root / "private" / "state.json").is_file() and not klass.backups.exists()

    zombie.wait(timeout=10)
    hub_removal.remove_hub(klass.root, klass.backups, seconds=1, kill_seconds=1)
    assert klass.accounts() == [] and not klass.exchange.exists()


def test_remove_refuses_up_front_what_it_cannot_do(make_account, base: Path) -> None:
    klass = _Class(base, make_account("teacher"), [make_account("student")])
    server = klass.run_as(klass.students[0], "sleep 600")
    with pytest.raises(hub_folder.HubError, match="inside .*which is deleted"):
        _remove(klass.root, klass.root / "backups")  # the copy would be deleted with the hub's folder
    with pytest.raises(hub_folder.HubError, match="no hub was set up"):
        _remove(base, klass.backups)  # a folder course hub did not set up: never emptied
    assert server.poll() is None  # nothing stopped either
    assert klass.accounts() == [klass.instructor, *klass.students] and (klass.course / "gradebook.db").is_file()


def test_an_interrupted_remove_finishes_when_run_again(make_account, base: Path, monkeypatch) -> None:
    klass = _Class(base, make_account("teacher"), [make_account("student")])
    real_run = hub_accounts.run

    def interrupted(argv: list[str], **kwargs):
        if argv[0] == "userdel" and argv[-1] == klass.instructor:
            raise KeyboardInterrupt  # Ctrl-C between two accounts
        return real_run(argv, **kwargs)

    monkeypatch.setattr(hub_removal, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        hub_removal.remove_hub(klass.root, klass.backups)
    assert klass.accounts() == [klass.instructor]
    assert hub_folder.State.load(klass.root).created_users == [klass.instructor]
    monkeypatch.setattr(hub_removal, "run", real_run)
    hub_removal.remove_hub(klass.root, klass.backups)
    assert klass.accounts() == [] and not (klass.root / "private").exists()
    assert len(list(klass.backups.glob("*/gradebook.db"))) == 2  # one copy per run that deleted the instructor
