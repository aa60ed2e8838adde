"""Fixtures of the browser test: a class hub started by `course hub`, and headless Chromium.

The hub runs from its own folder (/srv/course-hub-test), on a free loopback port, with
accounts of its own (hubtest-*); `course hub remove` deletes all of it before and after.
Chromium is Debian's (/usr/bin/chromium, `apt-get install chromium`), driven by
playwright; playwright never downloads a browser of its own here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("COURSE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ROOT = Path("/srv/course-hub-test")
INSTRUCTOR = "hubtest-teacher"
STUDENTS = ("hubtest-alice", "hubtest-bob")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


@dataclass
class Hub:
    """A running class hub: where it answers, who may log in, and where its files are."""

    url: str
    passwords: dict[str, str]
    root: Path
    start_arguments: list[str] = field(default_factory=list)  # `course hub` without the password file
    instructor: str = INSTRUCTOR
    students: tuple[str, ...] = STUDENTS
    started_seconds: float = 0.0

    @property
    def course_root(self) -> Path:
        import pwd

        return Path(pwd.getpwnam(self.instructor).pw_dir) / "explaining-nlp-models"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def course_hub(*arguments: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `course hub ...` with this interpreter (the course venv's), as the README does."""
    return subprocess.run([sys.executable, "-m", "course_admin.cli", "hub", *arguments], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def course_hub_cli() -> Callable[..., subprocess.CompletedProcess]:
    """`course hub ...` as the tests run it (stdout and stderr captured)."""
    return course_hub


def _requirements() -> str | None:
    """Why this test cannot run on this machine (None when it can)."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "the class hub test creates local accounts and logs in through PAM: run it as root on Linux"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get update && apt-get install -y chromium)"
    for tool in ("node", "npm", "bwrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


@pytest.fixture(scope="session")
def hub() -> Iterator[Hub]:
    """`course hub` in the background for one instructor and two students; removed after."""
    problem = _requirements()
    if problem:
        pytest.fail(f"the class hub test cannot run here: {problem}")
    course_hub("remove", "--yes", "--delete-gradebook", "--root", str(ROOT))  # what an interrupted run may have left
    ROOT.parent.mkdir(parents=True, exist_ok=True)
    passwords = {user: f"pw-{user}-{os.urandom(6).hex()}" for user in (INSTRUCTOR, *STUDENTS)}
    password_file = Path(f"/run/course-hub-test-passwords-{os.getpid()}")
    password_file.write_text("".join(f"{user}:{password}\n" for user, password in passwords.items()))
    password_file.chmod(0o600)
    port = _free_port()
    arguments = ["--instructor", INSTRUCTOR, "--students", ",".join(STUDENTS), "--port", str(port),
                 "--ip", "127.0.0.1", "--root", str(ROOT), "--exchange", str(ROOT / "exchange"), "--offline",
                 "--background"]
    start = time.monotonic()
    try:
        result = course_hub(*arguments, "--password-file", str(password_file))
    finally:
        password_file.unlink()
    if result.returncode != 0:
        course_hub("remove", "--yes", "--delete-gradebook", "--root", str(ROOT))
        pytest.fail(f"course hub failed to start:\n{result.stdout}\n{result.stderr}")
    print(result.stdout)
    state = Hub(url=f"http://127.0.0.1:{port}", passwords=passwords, root=ROOT, start_arguments=arguments,
                started_seconds=time.monotonic() - start)
    try:
        yield state
    finally:
        removed = course_hub("remove", "--yes", "--delete-gradebook", "--root", str(ROOT))
        print(removed.stdout, removed.stderr)


@pytest.fixture(scope="session")
def screenshot() -> Callable[[object, str], Path]:
    """Save a page's screenshot as screenshots/NN_name.png, numbered in the order taken."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for old in [*SCREENSHOTS.glob("*.png"), *SCREENSHOTS.glob("failure_*")]:
        old.unlink()
    taken: list[Path] = []

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{len(taken) + 1:02d}_{name}.png"
        page.screenshot(path=str(path), full_page=False)
        taken.append(path)
        return path

    return take


_open_pages: dict[str, object] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """When a test fails, keep what each browser showed (PNG and HTML) beside the screenshots."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        SCREENSHOTS.mkdir(exist_ok=True)
        for user, page in _open_pages.items():
            try:
                page.screenshot(path=str(SCREENSHOTS / f"failure_{user}.png"))
                (SCREENSHOTS / f"failure_{user}.html").write_text(page.content())
            except Exception as error:  # noqa: BLE001  (a closed page must not hide the failure)
                print(f"no failure screenshot for {user}: {error}")


@pytest.fixture(scope="session")
def browsers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], object]]:
    """`open_browser(user)`: a page in a fresh headless Chromium profile (its own cookies)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        contexts = []

        def open_browser(user: str):
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path_factory.mktemp(f"chromium-{user}")), executable_path=CHROMIUM, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1440, "height": 900})
            context.set_default_timeout(60_000)
            contexts.append(context)
            page = context.pages[0] if context.pages else context.new_page()
            _open_pages[user] = page
            return page

        yield open_browser
        _open_pages.clear()
        for context in contexts:
            context.close()
