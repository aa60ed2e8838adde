"""Fixtures of the browser test: a class hub started by `course hub`, and headless Chromium.

The hub runs from its own folder (/srv/course-hub-test), on a free loopback port, with
accounts of its own (hubtest-*). The test writes what it is about to create in its own state
file (/var/lib/course-hub-test/state.json, root only) before creating it, and a finalizer runs
`course hub remove` whatever happens (a failed start, a failed test, Ctrl-C); a run that finds
the state file of an earlier run removes what that run left first, and stops, saying why, if
it cannot. Chromium is Debian's (/usr/bin/chromium, `apt-get install chromium`), driven by
playwright; playwright never downloads a browser of its own here.

Time limits are scaled to the machine's load when the session starts (`TIME_SCALE`: the load
per core, at least 1, or COURSE_TEST_TIME_SCALE), so they hold on a shared machine (load 8 on 2
cores: four times the idle limits); the test waits for conditions, never for a fixed time.
"""

from __future__ import annotations

import json
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

from waiting import seconds

CHROMIUM = os.environ.get("COURSE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ROOT = Path("/srv/course-hub-test")
INSTRUCTOR = "hubtest-teacher"
STUDENTS = ("hubtest-alice", "hubtest-bob")
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
STATE = Path("/var/lib/course-hub-test/state.json")  # what this test created, for the next run to clean


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
    """Run `course hub ...` with this interpreter (the course venv's), as the README does;
    `timeout` is the idle machine's limit, scaled."""
    return subprocess.run([sys.executable, "-m", "course_admin.cli", "hub", *arguments], capture_output=True,
                          text=True, timeout=seconds(timeout))


@pytest.fixture(scope="session")
def course_hub_cli() -> Callable[..., subprocess.CompletedProcess]:
    """`course hub ...` as the tests run it (stdout and stderr captured)."""
    return course_hub


HOW_TO_RUN = ("as root, from a non-editable install of the course with its test, hub and browser extras: "
              "README.md, 'A class on JupyterHub', 'Test it in a real browser'")


def _editable_install() -> bool:
    """Whether the course is installed editable (`pip install -e`): the hub's accounts would
    then run the course from this repository, which they must not be able to read."""
    from importlib import metadata

    try:
        direct_url = metadata.distribution("explaining-nlp-models").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return False
    return bool(direct_url and json.loads(direct_url).get("dir_info", {}).get("editable"))


def _requirements() -> str | None:
    """Why this test cannot run on this machine (None when it can). Nothing here imports
    playwright or jupyterhub: they are looked up only."""
    import importlib.util

    if sys.platform != "linux" or os.geteuid() != 0:
        return "the class hub test creates local accounts and logs in through PAM: run it as root on Linux"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get update && apt-get install -y chromium)"
    for module, extra in (("playwright", "browser"), ("jupyterhub", "hub")):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install \"./[test,hub,browser]\" installs the {extra} extra)"
    if _editable_install():
        return "the course is installed editable (pip install -e): install it with pip install \"./[test,hub,browser]\""
    from course_admin.hub_folder import HubError
    from course_admin.hub_proxy import find_node, wheel_node

    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    try:
        find_node(wheel=wheel_node())  # what `course hub` itself will run the proxy with
    except HubError as error:
        return str(error)
    return None


def _remove(root: Path) -> None:
    """`course hub remove` of the hub at `root`; fails the session, with its output, when it
    does not finish (then the state file stays, for the next run to try again)."""
    removed = course_hub("remove", "--yes", "--delete-gradebook", "--root", str(root))
    print(removed.stdout, removed.stderr)
    if removed.returncode != 0:
        raise RuntimeError(f"course hub remove --root {root} failed; {STATE} keeps what is left:\n"
                           f"{removed.stdout}\n{removed.stderr}")


def _clean_earlier_run() -> None:
    """Remove what an earlier run's state file says it created (it stopped before its own
    clean-up finished): its hub, accounts and files, and its password file."""
    if not STATE.is_file():
        return
    earlier = json.loads(STATE.read_text())
    print(f"an earlier run left {STATE}: removing what it created ({earlier})")
    Path(earlier["password_file"]).unlink(missing_ok=True)
    _remove(Path(earlier["root"]))
    STATE.unlink()


def _record(root: Path, password_file: Path) -> None:
    """Say, before creating them, what this run creates (root only)."""
    STATE.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = STATE.with_suffix(".tmp")
    temporary.write_text(json.dumps({"root": str(root), "password_file": str(password_file), "pid": os.getpid()}))
    temporary.chmod(0o600)
    temporary.replace(STATE)


@pytest.fixture(scope="session", autouse=True)
def _runs_here() -> None:
    """Skip every test here, saying what is missing and how to run them, before any fixture
    creates anything, on a machine that cannot run them (the README's test command collects
    them everywhere)."""
    problem = _requirements()
    if problem:
        pytest.skip(f"the class hub test cannot run here: {problem}; run it {HOW_TO_RUN}")


@pytest.fixture(scope="session")
def hub(request: pytest.FixtureRequest, _runs_here: None) -> Hub:
    """`course hub` in the background for one instructor and two students; removed after,
    whatever happens from the moment anything is created."""
    _clean_earlier_run()
    ROOT.parent.mkdir(parents=True, exist_ok=True)
    passwords = {user: f"pw-{user}-{os.urandom(6).hex()}" for user in (INSTRUCTOR, *STUDENTS)}
    password_file = Path(f"/run/course-hub-test-passwords-{os.getpid()}")
    _record(ROOT, password_file)

    def clean_up() -> None:
        password_file.unlink(missing_ok=True)
        _remove(ROOT)
        STATE.unlink(missing_ok=True)

    request.addfinalizer(clean_up)  # before the first account exists: a failed start is cleaned too
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
        password_file.unlink(missing_ok=True)
    if result.returncode != 0:
        pytest.fail(f"course hub failed to start:\n{result.stdout}\n{result.stderr}")
    print(result.stdout)
    return Hub(url=f"http://127.0.0.1:{port}", passwords=passwords, root=ROOT, start_arguments=arguments,
               started_seconds=time.monotonic() - start)


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
            context.set_default_timeout(seconds(60) * 1000)
            contexts.append(context)
            page = context.pages[0] if context.pages else context.new_page()
            _open_pages[user] = page
            return page

        yield open_browser
        _open_pages.clear()
        for context in contexts:
            context.close()
