"""Threads sized to the cores a process really has.

torch, OpenMP, MKL and OpenBLAS start one thread per core of the machine. A process whose
cgroup grants it one core's worth of CPU time (a hub user's server, a grading sandbox, a
container started with ``--cpus 1``) then runs two or more threads that wait on each other at
every parallel step, and kernels sharing a node slow each other down many times more than their
share. `available_cores` says what this process may really use; `size_threads` gives torch and
the numeric libraries that many threads. Importing `course_utils` calls it, so a lab's set-up
cell sizes its kernel wherever it runs (a laptop, the hub, Colab); the hub's kernelspec starts
`course_utils.kernel`, which sizes a kernel before any code runs in it.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from pathlib import Path

PROC = Path("/proc/self")
# Read by each library when it loads: torch (OpenMP), MKL, numpy's and scipy's OpenBLAS.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores(proc: Path = PROC) -> int:
    """The cores this process may use: its cgroup's CPU quota rounded up (1.5 cores' worth of
    time is 2 threads, 0.5 is 1), never more than the cores it may run on (its affinity), at
    least 1. Without a quota (or without cgroups: macOS, Windows), the affinity.

    Written here rather than taken from a library: `os.cpu_count()` and psutil count every core
    of the machine, and joblib's `loky.cpu_count()` reads the quota at the root of
    /sys/fs/cgroup only, which is right inside a container but misses a quota set on the
    process's own group, as systemd sets for a hub user's server and the grader for its sandboxes.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_quota(proc)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def cgroup_cpu_quota(proc: Path = PROC) -> float | None:
    """The CPU quota of this process, in cores' worth of time per period: the smallest found
    in its cgroup and the groups above it (a parent's quota bounds its children), in the v2
    hierarchy (``cpu.max``) and the v1 ``cpu`` one (``cpu.cfs_quota_us``, a hybrid host has
    both). None where no quota is set or the files cannot be read."""
    try:
        own = (proc / "cgroup").read_text().splitlines()
        mounts = (proc / "mountinfo").read_text().splitlines()
    except OSError:
        return None
    quotas = []
    for line in own:
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        version = 2 if number == "0" and controllers == "" else 1 if "cpu" in controllers.split(",") else 0
        for folder in _group_folders(mounts, version, path) if version else []:
            quota = _quota(folder, version)
            if quota is not None:
                quotas.append(quota)
    return min(quotas, default=None)


def _group_folders(mounts: list[str], version: int, path: str) -> list[Path]:
    """The folders of the group at `path` and of every group above it, up to the root of the
    mounted hierarchy (cgroup2, or the v1 one holding the ``cpu`` controller)."""
    for line in mounts:
        if " - " not in line:
            continue
        left, right = line.split(" - ", 1)
        fields, (kind, _, options) = left.split(), (right.split() + ["", "", ""])[:3]
        if len(fields) < 5 or kind != ("cgroup2" if version == 2 else "cgroup"):
            continue
        if version == 1 and "cpu" not in options.split(","):
            continue
        root, point = fields[3], Path(fields[4])  # a container may see its own group as the root
        relative = Path(path).relative_to(root) if Path(path).is_relative_to(root) else None
        if relative is None:
            continue
        folder = point / relative
        return [folder, *[parent for parent in folder.parents if parent.is_relative_to(point)]]
    return []


def _quota(folder: Path, version: int) -> float | None:
    """One group's quota in cores, None where it has none (``max``, -1) or no such file."""
    try:
        if version == 2:
            quota, period = (folder / "cpu.max").read_text().split()[:2]
        else:
            quota = (folder / "cpu.cfs_quota_us").read_text().strip()
            period = (folder / "cpu.cfs_period_us").read_text().strip()
        if quota == "max" or int(quota) <= 0 or int(period) <= 0:
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        return None


def size_threads(most: int | None = None) -> int:
    """Give torch, OpenMP, MKL and OpenBLAS `available_cores()` threads, or fewer where
    OMP_NUM_THREADS already asks for fewer (the grader gives each of the kernels it runs at once
    its share) or `most` does (the grading process keeps one for itself); return the number.
    Prints nothing.

    Libraries not loaded yet read the environment variables when they load (in this process
    and in every process it starts); those already loaded (a lab imports numpy and torch before
    `course_utils`) are resized by threadpoolctl and `torch.set_num_threads`. Call it before
    the first parallel operation: a thread pool already spinning is not shrunk by the variables.
    """
    threads = available_cores()
    asked = os.environ.get("OMP_NUM_THREADS", "")
    if asked.isdigit() and int(asked) > 0:  # a parent's larger count may be another cgroup's
        threads = min(threads, int(asked))
    if most is not None:
        threads = max(1, min(threads, most))
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    if {"numpy", "scipy", "sklearn", "torch"} & set(sys.modules):
        from threadpoolctl import threadpool_limits

        with warnings.catch_warnings():  # its note on two OpenMP runtimes loaded at once is no lab's business
            warnings.simplefilter("ignore", RuntimeWarning)
            threadpool_limits(limits=threads)  # every OpenMP and BLAS pool loaded, not only torch's
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):  # (not while torch itself is importing)
        torch.set_num_threads(threads)
    return threads
