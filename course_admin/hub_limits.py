"""Each hub user's server in a cgroup of its own: the CPU and memory limits of `course hub`.

JupyterHub's ``Spawner.cpu_limit`` and ``Spawner.mem_limit`` are only numbers unless the
spawner enforces them. LocalProcessSpawner does not; SystemdSpawner does (a transient systemd
unit per server) but needs systemd as PID 1, which containers and many class machines lack.
So the hub's spawner (`course_admin.hub_spawner.CourseSpawner`) makes one cgroup per server
with `course_admin.cgroup` (the grading sandbox's groups, on cgroup v1 and v2) and moves the
server's process into it between fork and exec, while that process is still root
(`entering`): the server, its kernels, its terminals and whatever they fork start inside, and
cannot leave (the group's files are root's). Per group:

* memory (resident memory and page cache, no swap) ≤ ``mem_limit``: past it the kernel's OOM
  killer stops the group's largest process, a notebook kernel that JupyterLab restarts, and
  no process of any other user;
* CPU ≤ ``cpu_limit`` cores (a CFS quota); under contention every group weighs the same,
  however many processes or threads it runs, so each user gets an equal share of the node;
* at most `PIDS` processes and threads.

Each group is recorded in the hub's private folder (``private/cgroups/USER.json``), so that
whoever stops a server removes its group with everything still in it: the spawner when the
server stops or dies, `course hub remove` after a hub that was killed.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path

from course_admin import cgroup
from course_admin.hub_folder import HubError, private_folder

# One lab kernel's peak memory: on the embedded models (`--offline`) Lab 5's, 829 MB (its solution
# executed with its hidden tests, 2026-12-06); on the hub models at real size Lab 3's at its full
# sizes, 3017 MB (benchmarks/results/realsize.md).
KERNEL_PEAK_MB = {"offline": 829, "hub models": 3017}
# JupyterLab with the student's nbgrader extensions held 121 MB resident on a real hub; the rest
# is room for the page cache of the libraries and models the kernels read, which the group pays.
SERVER_MB = 512
DEFAULT_CPUS = 1.0
PIDS = 1024  # a server is ~20 threads, a kernel with torch ~20: room for many, not for a fork bomb
PREFIX = "course-hub-"
# On a cgroup v2 host (systemd's default) the groups go in /sys/fs/cgroup/course-hub: the hub's
# own cgroup (a login session's scope, say) holds processes, so v2 gives its children no
# controller. On v1 and hybrid hosts they are children of the hub's own cgroup in each hierarchy.
V2_PARENT = "course-hub"


def default_memory_mb(offline: bool) -> int:
    """The default ``mem_limit``: two lab kernels at their peak (the student's own and the
    one Validate runs the notebook in; the instructor's own and Formgrader's grading kernel)
    and the server, rounded up to 256 MB."""
    peak = KERNEL_PEAK_MB["offline" if offline else "hub models"]
    return 256 * math.ceil((2 * peak + SERVER_MB) / 256)


def parse_memory(text: str) -> int:
    """`--mem-limit`: megabytes from ``2G``, ``1.5G`` or ``1536M``."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([MG])i?B?\s*", text, re.I)
    if not found:
        raise HubError(f"--mem-limit {text!r}: give a size such as 2G or 1536M")
    megabytes = float(found.group(1)) * (1024 if found.group(2).upper() == "G" else 1)
    if megabytes < 256:
        raise HubError(f"--mem-limit {text}: a server needs at least 256M (JupyterLab alone takes about 150 MB)")
    return int(megabytes)


def check_cpus(cpus: float) -> float:
    """`--cpu-limit`: cores' worth of CPU time, at least a tenth of one and at most the node's."""
    if not 0.1 <= cpus <= (os.cpu_count() or 1):
        raise HubError(f"--cpu-limit {cpus:g}: give between 0.1 and this machine's {os.cpu_count()} cores")
    return cpus


def records_folder(root: Path) -> Path:
    """Where the hub records its servers' groups (root only)."""
    return private_folder(root) / "cgroups"


def budget(memory_bytes: int, cpus: float) -> cgroup.Budget:
    """A server's group budget from the spawner's ``mem_limit`` (bytes) and ``cpu_limit``."""
    return cgroup.Budget(memory_mb=memory_bytes // 2**20, cpus=cpus, pids=PIDS)


def start_group(user: str, limits: cgroup.Budget, records: Path) -> cgroup.Group:
    """A new group for `user`'s server, recorded; a group an earlier server of `user` left
    (its hub was killed) is removed first, with what still runs in it. HubError if the
    machine gives no cgroup: a server is not started without its limits."""
    end_group(user, records)
    group, problem = cgroup.create(limits, f"{PREFIX}{user}", v2_parent=cgroup.top_level_v2(V2_PARENT))
    if group is None:
        raise HubError(f"no cgroup for {user}'s server, so its CPU and memory limits cannot hold: {problem}")
    records.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(records / f"{user}.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as record:
        json.dump(group.to_dict(), record)
    return group


def recorded_group(user: str, records: Path) -> cgroup.Group | None:
    """The group recorded for `user`'s server, if there is one."""
    try:
        return cgroup.Group.from_dict(json.loads((records / f"{user}.json").read_text()))
    except (OSError, ValueError, KeyError):
        return None


def end_group(user: str, records: Path) -> cgroup.Group | None:
    """Kill what runs in `user`'s recorded group and delete the group and its record;
    returns the group (read its counters before: they go with it), None if none was recorded."""
    group = recorded_group(user, records)
    if group is None:
        return None
    if not group.remove():
        raise HubError(f"{user}'s cgroup {group.folders[0]} could not be removed: a process in it does not end")
    (records / f"{user}.json").unlink(missing_ok=True)
    return group


def entering(group: cgroup.Group, then: Callable[[], None]) -> Callable[[], None]:
    """A Popen preexec_fn: move this (forked, still root) process into `group`, then `then()`
    (the spawner's own: become the user). A failed move raises, so no server starts unlimited."""
    targets = group.procs_files

    def preexec() -> None:
        for path in targets:
            with open(path, "w") as procs:
                procs.write(str(os.getpid()))
        then()

    return preexec


def problem() -> str | None:
    """Why this machine cannot give the hub's servers their limits (None when it can): a
    group is made and removed, as root would make one for a server."""
    group, why = cgroup.create(cgroup.Budget(memory_mb=256, cpus=0.5, pids=16), f"{PREFIX}check-{os.getpid()}",
                               v2_parent=cgroup.top_level_v2(V2_PARENT))
    if group is None:
        return why
    return None if group.remove() else f"a test cgroup ({group.folders[0]}) could not be removed"
