"""The hub's per-user limits, enforced: two users' servers started by `course hub`'s own
spawner (`CourseSpawner.start`, as JupyterHub calls it), each in its cgroup.

The servers are stand-ins (a stdlib Python script: a "server" that starts a "kernel"), so no
JupyterHub, proxy or browser is needed; everything else is the hub's path: the group made
from the spawner's ``mem_limit``/``cpu_limit``, the server moved into it before it becomes the
user, its kernel inside because the server forked it, `stop` removing the group. Needs root on
Linux with cgroups and jupyterhub (the ``hub`` extra); skipped elsewhere. Every account and
group a test makes is removed after it.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from course_admin import hub_accounts, hub_limits, hub_removal

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0 or shutil.which("useradd", path=hub_accounts.SYSTEM_PATH) is None,
    reason="creates throwaway local accounts and cgroups: needs root on Linux")

# The accounts run the stand-ins on the system's Python: the test's own may sit where they cannot read.
PYTHON = shutil.which("python3", path=hub_accounts.SYSTEM_PATH)

SERVER = """
import subprocess, sys, time
report, kernel_code = sys.argv[1], sys.argv[2]
kernel = subprocess.Popen([sys.executable, "-c", kernel_code, *sys.argv[3:], report + ".kernel"])
with open(report, "w") as out:
    out.write(f"{kernel.pid}\\n")
code = kernel.wait()
with open(report, "a") as out:
    out.write(f"{code}\\n")
time.sleep(600)  # a server outlives its kernel, as JupyterLab does
"""

# Allocates MB in 16 MB blocks, each written to (so resident), then holds them.
ALLOCATE = """
import sys, time
blocks = [b"x" * 2**24 for _ in range(int(sys.argv[1]) // 16)]
with open(sys.argv[2], "w") as out:
    out.write(f"holding {len(blocks) * 16} MB\\n")
time.sleep(600)
"""

# Two processes busy for SECONDS of wall time; reports the CPU seconds they got.
SPIN = """
import multiprocessing, resource, sys, time
def spin(until):
    while time.monotonic() < until:
        pass
if __name__ == "__main__":
    until = time.monotonic() + float(sys.argv[1])
    workers = [multiprocessing.Process(target=spin, args=(until,)) for _ in range(2)]
    [w.start() for w in workers]
    [w.join() for w in workers]
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(sys.argv[2], "w") as out:
        out.write(f"{used.ru_utime + used.ru_stime}\\n")
"""


def _running(uid: int) -> list[int]:
    """`uid`'s processes that are not zombies (a killed orphan waits for PID 1 to collect it)."""
    running = []
    for pid in hub_removal.account_processes(uid):
        try:
            if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
                running.append(pid)
        except OSError:
            pass
    return running


@pytest.fixture
def make_account() -> Iterator[Callable[[str], str]]:
    """Throwaway accounts; after the test, what runs as them is killed and they are deleted."""
    made: list[tuple[str, int]] = []

    def make(role: str) -> str:
        name = f"hublim-{role}-{os.urandom(3).hex()}"
        hub_accounts.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name])
        made.append((name, pwd.getpwnam(name).pw_uid))
        return name

    yield make
    for name, uid in made:
        for _ in range(50):
            pids = hub_removal.account_processes(uid)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        hub_accounts.run(["userdel", "--remove", name])


@pytest.fixture
def spawners(tmp_path: Path) -> Iterator[Callable[..., object]]:
    """`CourseSpawner`s for accounts, as the hub's configuration sets them up (records in a
    private folder); every group still recorded after the test is removed."""
    pytest.importorskip("jupyterhub", reason="the hub extra (pip install \"./[hub]\")")
    from course_admin.hub_spawner import CourseSpawner

    if PYTHON is None:
        pytest.skip("no system python3 for the accounts to run")
    problem = hub_limits.problem()
    if problem:
        pytest.skip(f"no cgroup can be made here: {problem}")
    records = hub_limits.records_folder(tmp_path)  # tmp_path is the hub's folder
    made: list[str] = []

    def make(user: str, memory: str, cpus: float, code: str, *arguments: str) -> CourseSpawner:
        home = pwd.getpwnam(user).pw_dir
        spawner = CourseSpawner(user=type("User", (), {"name": user})(), records=str(records), mem_limit=memory,
                                cpu_limit=cpus, cmd=[PYTHON, "-c", code], args=list(arguments))
        # JupyterHub's own environment needs a running hub (its API's address, tokens): not under test.
        spawner.get_env = lambda: {"PATH": hub_accounts.SYSTEM_PATH, "HOME": home, "LANG": "C.UTF-8"}
        made.append(user)
        return spawner

    yield make
    for user in made:
        hub_limits.end_group(user, records)


def _wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.1)


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_a_user_over_the_memory_limit_loses_their_kernel_and_no_one_else_anything(make_account, spawners) -> None:
    greedy, other = make_account("a"), make_account("b")
    reports = {user: Path(pwd.getpwnam(user).pw_dir) / "server-report" for user in (greedy, other)}
    servers = {greedy: spawners(greedy, "160M", 1.0, SERVER, str(reports[greedy]), ALLOCATE, "400"),
               other: spawners(other, "160M", 1.0, SERVER, str(reports[other]), ALLOCATE, "64")}
    for spawner in servers.values():
        asyncio.run(spawner.start())
    _wait_for(lambda: len(_lines(reports[greedy])) == 2, 60, f"{greedy}'s kernel to end")
    _wait_for(lambda: _lines(reports[other].with_name("server-report.kernel"))[:2] == ["holding", "64"], 60,
              f"{other}'s kernel to hold its 64 MB")
    greedy_group = hub_limits.recorded_group(greedy, Path(servers[greedy].records))
    other_group = hub_limits.recorded_group(other, Path(servers[other].records))
    kernel_pid, kernel_code = map(int, _lines(reports[greedy]))
    other_kernel = int(_lines(reports[other])[0])

    assert kernel_code == -9, "the kernel past its memory limit is killed (SIGKILL)"
    assert greedy_group.out_of_memory_kills() >= 1, "by its group's memory limit"
    assert not Path(f"/proc/{kernel_pid}").exists()
    assert asyncio.run(servers[greedy].poll()) is None, "its server outlives its kernel"
    assert greedy_group.peak_memory_mb() <= 160
    # The other user, inside the same limit, lost nothing: server, kernel and its memory.
    assert asyncio.run(servers[other].poll()) is None
    assert other_group.out_of_memory_kills() == 0
    assert {servers[other].pid, other_kernel} <= other_group.pids(), "the server and what it started are inside"
    assert len(_lines(reports[other])) == 1, "the other kernel still runs"
    assert int((other_group.folders[0] / "memory.limit_in_bytes").read_text()) == 160 * 2**20

    for user, spawner in servers.items():
        folders = hub_limits.recorded_group(user, Path(spawner.records)).folders
        asyncio.run(spawner.stop(now=True))
        assert not any(folder.exists() for folder in folders), "a stopped server's group is removed"
        assert hub_limits.recorded_group(user, Path(spawner.records)) is None
    assert not _running(pwd.getpwnam(other).pw_uid), "and what ran in it is gone"


def test_a_servers_processes_share_its_cpu_limit(make_account, spawners) -> None:
    """Two busy processes under a fifth of a core get a fifth of a core between them."""
    user = make_account("c")
    report = Path(pwd.getpwnam(user).pw_dir) / "cpu-seconds"
    spawner = spawners(user, "256M", 0.2, SPIN, "3", str(report))
    asyncio.run(spawner.start())
    _wait_for(lambda: bool(_lines(report)), 60, "the busy processes to end")
    used = float(_lines(report)[0])
    assert 0 < used <= 0.2 * 3 + 0.15, f"{used:.2f} CPU seconds in 3 s under a 0.2-core limit"
    group = hub_limits.recorded_group(user, Path(spawner.records))
    asyncio.run(spawner.stop(now=True))  # the server has exited: stop finds it dead
    assert not any(folder.exists() for folder in group.folders)


def test_remove_ends_the_groups_a_killed_hub_left(make_account, spawners, tmp_path: Path) -> None:
    """A hub killed with SIGKILL stops no server: `course hub remove` ends their groups."""
    user = make_account("d")
    report = Path(pwd.getpwnam(user).pw_dir) / "server-report"
    spawner = spawners(user, "256M", 1.0, SERVER, str(report), ALLOCATE, "16")
    asyncio.run(spawner.start())
    _wait_for(lambda: bool(_lines(report.with_name("server-report.kernel"))), 60, "the kernel to start")
    folders = hub_limits.recorded_group(user, Path(spawner.records)).folders
    hub_removal.end_server_groups(tmp_path)
    assert not any(folder.exists() for folder in folders)
    assert not list(hub_limits.records_folder(tmp_path).iterdir())
    _wait_for(lambda: not _running(pwd.getpwnam(user).pw_uid), 5, "the server and its kernel to end")
