"""A cgroup per sandbox: a total memory, CPU and process budget for a kernel and all it forks.

Per-process limits (``prlimit`` in `course_admin.sandbox`) bound no total: three forked
children can each fill their own address space, and any number of processes may spin. A
cgroup bounds the sum. Two kernels interfaces are used, whichever this machine delegates:

* cgroup v2 (a systemd machine, a container with its own cgroup namespace): a child of the
  grader's cgroup (or of ``COURSE_CGROUP``, a delegated folder) with ``memory.max``,
  ``memory.swap.max`` 0, ``cpu.max`` and ``pids.max``; removed with ``cgroup.kill``;
* cgroup v1 (older hosts and many CI containers: ``memory``, ``cpu``, ``pids`` mounted
  apart): a child in each of the three hierarchies, with ``memory.limit_in_bytes`` and
  ``memory.memsw.limit_in_bytes`` (no swap), ``cpu.cfs_quota_us`` and ``pids.max``.

Where neither is writable (no root, no delegation), `create` says why once and grading goes
on with the per-process limits only: a missing cgroup never fails a notebook.

The kernel enters its group before bubblewrap starts (`wrap` puts a one-line shell in front
of the sandbox command), so nothing it forks is ever outside. `course hub` puts each user's
server in a group of its own the same way (`course_admin.hub_limits`).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CGROUP_ENV = "COURSE_CGROUP"  # a delegated cgroup v2 folder to create the sandboxes' groups in


@dataclass(frozen=True)
class Budget:
    """What one sandbox may use in all (every process it contains together)."""

    memory_mb: int = 4096  # resident memory plus its tmpfs files; no swap
    cpus: float = 1.0  # cores' worth of CPU time per period
    pids: int = 512  # processes and threads


@dataclass
class Group:
    """One sandbox's cgroup: the folders that make it (one in v2, one per controller in v1)."""

    version: int
    folders: list[Path]
    kill_file: Path | None = None  # a cgroup.kill (v2, or the unified hierarchy of a hybrid v1 host)
    extra: list[Path] = field(default_factory=list)  # folders only used to kill (the unified one)

    @property
    def procs_files(self) -> list[Path]:
        return [folder / "cgroup.procs" for folder in self.folders + self.extra]

    def peak_memory_mb(self) -> float | None:
        """The most memory the group used at once (None where the kernel does not say)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        for folder in self.folders:
            try:
                return int((folder / name).read_text()) / 2**20
            except (OSError, ValueError):
                continue
        return None

    def out_of_memory_kills(self) -> int:
        """How many processes the group's memory limit killed."""
        for folder in self.folders:
            try:
                if self.version == 2:
                    lines = (folder / "memory.events").read_text().split("\n")
                    return sum(int(line.split()[1]) for line in lines if line.startswith("oom_kill "))
                text = (folder / "memory.oom_control").read_text()
                return sum(int(line.split()[1]) for line in text.split("\n") if line.startswith("oom_kill "))
            except (OSError, ValueError, IndexError):
                continue
        return 0

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.procs_files:
            try:
                found.update(int(line) for line in path.read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def to_dict(self) -> dict:
        """What finds this group again from another process (`from_dict`)."""
        return {"version": self.version, "folders": [str(f) for f in self.folders],
                "kill_file": str(self.kill_file) if self.kill_file else None, "extra": [str(f) for f in self.extra]}

    @classmethod
    def from_dict(cls, found: dict) -> Group:
        return cls(version=found["version"], folders=[Path(f) for f in found["folders"]],
                   kill_file=Path(found["kill_file"]) if found.get("kill_file") else None,
                   extra=[Path(f) for f in found.get("extra", [])])

    def remove(self, wait: float = 5.0) -> bool:
        """Kill every process in the group and delete it; False if something stayed."""
        deadline = time.monotonic() + wait
        while True:
            if self.kill_file is not None:
                try:
                    self.kill_file.write_text("1")
                except OSError:
                    pass
            for pid in self.pids():  # v1 without cgroup.kill: pids.max keeps this loop short
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            for folder in reversed(self.folders + self.extra):
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    continue
            if not any(folder.exists() for folder in self.folders + self.extra):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def wrap(group: Group | None, command: list[str]) -> list[str]:
    """`command`, started in `group`: a shell writes its own pid into the group's
    cgroup.procs, then becomes the command (so bubblewrap and all below start inside)."""
    if group is None:
        return command
    targets = " ".join(f"'{path}'" for path in group.procs_files)
    # A failed write leaves this kernel with its per-process limits only: grading goes on.
    script = f'for f in {targets}; do echo $$ > "$f" 2>/dev/null || :; done; exec "$@"'
    return ["/bin/sh", "-c", script, "course-cgroup", *command]


PREFIX = "course-sandbox-"


def owner_gone(name: str, prefix: str) -> bool:
    """Whether `name` is `prefix<pid>-...` for a process that no longer runs: what a grader
    killed with SIGKILL left behind (a live grader's, or a name of another form, is kept)."""
    head = name[len(prefix):].split("-", 1)[0] if name.startswith(prefix) else ""
    if not head.isdigit():
        return False
    try:
        os.kill(int(head), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def sweep() -> int:
    """Remove the groups of graders that died without removing them (their processes killed
    first); returns how many. A group's name carries its grader's pid, so a sibling job's
    new, still empty group is never taken for a leftover."""
    folders: list[Path] = []
    mounts = _mounts()
    for key, point in mounts.items():
        if key not in ("2", "memory", "cpu", "pids"):
            continue
        try:
            parent = point / _own("" if key == "2" else key)
        except (OSError, ValueError):
            continue
        try:
            folders += [child for child in parent.iterdir() if owner_gone(child.name, PREFIX)]
        except OSError:
            continue
    by_name: dict[str, list[Path]] = {}
    for folder in folders:
        by_name.setdefault(folder.name, []).append(folder)
    removed = 0
    for found in by_name.values():
        kill = next((f / "cgroup.kill" for f in found if (f / "cgroup.kill").exists()), None)
        removed += Group(version=1, folders=found, kill_file=kill).remove(wait=2.0)
    return removed


def create(budget: Budget, name: str | None = None, v2_parent: Path | None = None) -> tuple[Group | None, str | None]:
    """A new group with `budget`, or (None, why not). Leftovers of dead graders go first.
    `v2_parent`: where a v2 group goes (default: ``COURSE_CGROUP``, else this process's own)."""
    sweep()
    name = name or f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    reasons = []
    for attempt in (lambda: _create_v2(budget, name, v2_parent), lambda: _create_v1(budget, name)):
        try:
            return attempt(), None
        except (OSError, ValueError) as error:
            reasons.append(str(error))
    return None, "; ".join(reasons)


def top_level_v2(name: str) -> Path | None:
    """A folder `name` at the top of the cgroup v2 hierarchy (made if missing), for groups
    whose parent must hold no process (v2 gives no controller to the children of a cgroup
    with processes in it); None where that top offers no memory, cpu and pids to its children
    (v1 and hybrid hosts, a container's namespace holding its own processes) or root cannot write."""
    top = _mounts().get("2")
    try:
        if top is None or not {"memory", "cpu", "pids"} <= set((top / "cgroup.subtree_control").read_text().split()):
            return None
        (top / name).mkdir(exist_ok=True)
    except OSError:
        return None
    return top / name


def _mounts() -> dict[str, Path]:
    """Each cgroup hierarchy by controller ("2" for the v2 one), from /proc/self/mountinfo."""
    found: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().split("\n"):
        if " - " not in line:
            continue
        left, right = line.split(" - ", 1)
        kind, _, options = (right.split() + ["", "", ""])[:3]
        point = Path(left.split()[4])
        if kind == "cgroup2":
            found.setdefault("2", point)
        elif kind == "cgroup":
            for option in options.split(","):
                found.setdefault(option, point)
    return found


def _own(controller: str) -> str:
    """This process's cgroup path in the hierarchy of `controller` ("" for v2)."""
    for line in Path("/proc/self/cgroup").read_text().split("\n"):
        parts = line.split(":", 2)
        if len(parts) == 3 and (parts[1] == controller or (controller == "" and parts[0] == "0" and parts[1] == "")):
            return parts[2].lstrip("/")
    raise ValueError(f"not in a {controller or 'v2'} cgroup")


def _create_v2(budget: Budget, name: str, parent: Path | None = None) -> Group:
    mounts = _mounts()
    if "2" not in mounts:
        raise ValueError("no cgroup v2 hierarchy is mounted")
    if parent is None:
        parent = Path(os.environ[CGROUP_ENV]) if os.environ.get(CGROUP_ENV) else mounts["2"] / _own("")
    wanted = {"memory", "cpu", "pids"}
    enabled = set((parent / "cgroup.subtree_control").read_text().split())
    if not wanted <= enabled:
        available = set((parent / "cgroup.controllers").read_text().split())
        if not wanted <= available:
            raise ValueError(f"cgroup v2 at {parent} does not offer {', '.join(sorted(wanted - available))} "
                             f"(delegate them, or set {CGROUP_ENV})")
        # Fails (EBUSY) where the parent holds processes, the grader's own among them:
        # then COURSE_CGROUP must name an empty delegated folder.
        (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(wanted - enabled)))
    folder = parent / name
    folder.mkdir()
    try:
        (folder / "memory.max").write_text(str(budget.memory_mb * 2**20))
        (folder / "memory.swap.max").write_text("0")
        period = 100_000
        (folder / "cpu.max").write_text(f"{max(1000, int(budget.cpus * period))} {period}")
        (folder / "pids.max").write_text(str(budget.pids))
    except OSError:
        folder.rmdir()
        raise
    return Group(version=2, folders=[folder], kill_file=folder / "cgroup.kill")


def _create_v1(budget: Budget, name: str) -> Group:
    mounts = _mounts()
    missing = [c for c in ("memory", "cpu", "pids") if c not in mounts]
    if missing:
        raise ValueError(f"no cgroup v1 hierarchy for {', '.join(missing)}")
    made: list[Path] = []
    try:
        for controller in ("memory", "cpu", "pids"):
            folder = mounts[controller] / _own(controller) / name
            folder.mkdir()
            made.append(folder)
        memory, cpu, pids = made
        limit = str(budget.memory_mb * 2**20)
        (memory / "memory.limit_in_bytes").write_text(limit)
        swap = memory / "memory.memsw.limit_in_bytes"  # memory + swap: equal means no swap
        if swap.exists():
            swap.write_text(limit)
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text(str(max(1000, int(budget.cpus * 100_000))))
        (pids / "pids.max").write_text(str(budget.pids))
    except OSError:
        for folder in reversed(made):
            folder.rmdir()
        raise
    group = Group(version=1, folders=made)
    # A hybrid host also mounts an (empty) v2 hierarchy: its cgroup.kill ends every process at once.
    if "2" in mounts:
        try:
            unified = mounts["2"] / _own("") / name
            unified.mkdir()
            if (unified / "cgroup.kill").exists():
                group.extra, group.kill_file = [unified], unified / "cgroup.kill"
            else:
                unified.rmdir()
        except (OSError, ValueError):
            pass
    return group
