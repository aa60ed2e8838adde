"""The cores a process really has (`course_utils.threads`), read from fake cgroup files.

Each test writes a /proc/self (its `cgroup` and `mountinfo`) and the cgroup hierarchies it
names into a temporary folder, the way a cgroup v2 machine, a cgroup v1 (or hybrid) host and a
container show them, and fixes the process's affinity; the kernels' real thread counts are
tests/test_kernel_threads.py's.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

from course_utils import threads

V2_MOUNT = "30 25 0:26 {root} {point} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate"
V1_MOUNT = "36 25 0:31 {root} {point} rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,{controllers}"


def fake_proc(tmp: Path, own: list[str], mounts: list[str]) -> Path:
    """A /proc/self with these /proc/self/cgroup lines and /proc/self/mountinfo lines."""
    proc = tmp / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text("\n".join(own) + "\n")
    (proc / "mountinfo").write_text("\n".join(mounts) + "\n")
    return proc


def write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text + "\n")


@pytest.fixture
def cores(monkeypatch):
    """Set the number of cores the process may run on (its affinity)."""
    def affinity(n: int) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)))
    return affinity


def v2_machine(tmp: Path, service_max: str, slice_max: str = "max 100000") -> Path:
    """A cgroup v2 machine: the process in a hub user's service, under a slice."""
    point = tmp / "unified"
    write(point / "user.slice", cpu_max=slice_max)
    write(point / "user.slice" / "jupyter-alice.service", cpu_max=service_max)
    return fake_proc(tmp, ["0::/user.slice/jupyter-alice.service"], [V2_MOUNT.format(root="/", point=point)])


def v1_host(tmp: Path, quota: str, period: str = "100000") -> Path:
    """A cgroup v1 host as this one is (hybrid: an empty unified hierarchy beside), the
    process in a group of the `cpu,cpuacct` hierarchy."""
    cpu, unified = tmp / "cpu,cpuacct", tmp / "unified"
    write(cpu, cpu_cfs_quota_us="-1", cpu_cfs_period_us="100000")
    write(cpu / "course", cpu_cfs_quota_us=quota, cpu_cfs_period_us=period)
    write(unified / "course")  # no cpu controller in the unified hierarchy: no cpu.max there
    own = ["12:memory:/course", "4:cpu,cpuacct:/course", "1:name=systemd:/", "0::/course"]
    mounts = [V1_MOUNT.format(root="/", point=tmp / "memory", controllers="memory"),
              V1_MOUNT.format(root="/", point=cpu, controllers="cpu,cpuacct"),
              V2_MOUNT.format(root="/", point=unified)]
    return fake_proc(tmp, own, mounts)


def test_v2_the_quota_of_the_own_group_rounded_up(tmp_path, cores) -> None:
    cores(4)
    assert threads.available_cores(v2_machine(tmp_path, "150000 100000")) == 2


def test_v2_a_parent_groups_smaller_quota_bounds_its_children(tmp_path, cores) -> None:
    cores(4)
    proc = v2_machine(tmp_path, "300000 100000", slice_max="100000 100000")
    assert threads.cgroup_cpu_quota(proc) == 1.0
    assert threads.available_cores(proc) == 1


def test_v1_the_cfs_quota_of_the_cpu_hierarchy(tmp_path, cores) -> None:
    cores(2)
    proc = v1_host(tmp_path, "100000")
    assert threads.cgroup_cpu_quota(proc) == 1.0
    assert threads.available_cores(proc) == 1


def test_v1_a_container_sees_its_own_group_as_the_mount_root(tmp_path, cores) -> None:
    cores(8)
    point = tmp_path / "cpu"
    write(point, cpu_cfs_quota_us="300000", cpu_cfs_period_us="100000")  # the container's group
    proc = fake_proc(tmp_path, ["5:cpu,cpuacct:/docker/3f2a"],
                     [V1_MOUNT.format(root="/docker/3f2a", point=point, controllers="cpu,cpuacct")])
    assert threads.available_cores(proc) == 3


@pytest.mark.parametrize("machine", ["v2", "v1"])
def test_no_quota_gives_the_affinity(tmp_path, cores, machine: str) -> None:
    cores(3)
    proc = v2_machine(tmp_path, "max 100000") if machine == "v2" else v1_host(tmp_path, "-1")
    assert threads.cgroup_cpu_quota(proc) is None
    assert threads.available_cores(proc) == 3


@pytest.mark.parametrize("machine", ["v2", "v1"])
def test_a_quota_below_one_core_gives_one_thread(tmp_path, cores, machine: str) -> None:
    cores(2)
    proc = v2_machine(tmp_path, "20000 100000") if machine == "v2" else v1_host(tmp_path, "5000", "10000")
    assert threads.cgroup_cpu_quota(proc) == pytest.approx(0.2 if machine == "v2" else 0.5)
    assert threads.available_cores(proc) == 1


def test_the_affinity_bounds_a_larger_quota(tmp_path, cores) -> None:
    cores(1)  # taskset -c 0 in a group allowed 4 cores
    assert threads.available_cores(v2_machine(tmp_path, "400000 100000")) == 1


def test_without_cgroup_files_the_affinity(tmp_path, cores) -> None:
    cores(2)
    assert threads.cgroup_cpu_quota(tmp_path / "no-proc") is None
    assert threads.available_cores(tmp_path / "no-proc") == 2


def test_this_machine_gives_at_least_one_core_and_at_most_its_affinity() -> None:
    found = threads.available_cores()
    assert 1 <= found <= len(os.sched_getaffinity(0))


@pytest.fixture
def sized(monkeypatch):
    """size_threads with `cores` cores and OMP_NUM_THREADS `asked`; returns its result, the
    limit threadpoolctl was given and the count a (fake) loaded torch was set to."""
    def run(cores: int, asked: str | None, most: int | None = None) -> tuple[int, int | None, int | None]:
        monkeypatch.setattr(threads, "available_cores", lambda: cores)
        for variable in threads.THREAD_VARIABLES:
            monkeypatch.delenv(variable, raising=False)
        if asked is not None:
            monkeypatch.setenv("OMP_NUM_THREADS", asked)
        seen: dict[str, int] = {}
        torch = types.SimpleNamespace(set_num_threads=lambda n: seen.__setitem__("torch", n))
        monkeypatch.setitem(sys.modules, "torch", torch)
        pools = types.SimpleNamespace(threadpool_limits=lambda limits: seen.__setitem__("pools", limits))
        monkeypatch.setitem(sys.modules, "threadpoolctl", pools)
        result = threads.size_threads(most)
        assert all(os.environ[variable] == str(result) for variable in threads.THREAD_VARIABLES)
        return result, seen.get("pools"), seen.get("torch")
    return run


def test_size_threads_gives_every_library_the_cores(sized) -> None:
    assert sized(cores=2, asked=None) == (2, 2, 2)


def test_size_threads_keeps_a_smaller_count_the_environment_asks_for(sized) -> None:
    assert sized(cores=2, asked="1") == (1, 1, 1)  # a grader's share of the cores


def test_size_threads_never_goes_above_the_cores_for_an_inherited_count(sized) -> None:
    assert sized(cores=1, asked="2") == (1, 1, 1)  # a parent outside this process's cgroup


def test_size_threads_takes_at_most_what_it_is_given(sized) -> None:
    # The grading process keeps one thread beside its kernel (execute.GRADER_THREADS).
    assert sized(cores=4, asked=None, most=1) == (1, 1, 1)
    assert sized(cores=1, asked=None, most=3) == (1, 1, 1)
    assert sized(cores=4, asked="2", most=3) == (2, 2, 2)


def test_importing_course_utils_sizes_the_threads_and_prints_nothing(tmp_path) -> None:
    import subprocess

    code = ("import os, sys; import course_utils; "
            "print(os.environ['OMP_NUM_THREADS'], os.environ['OPENBLAS_NUM_THREADS'], 'torch' in sys.modules)")
    environment = {key: value for key, value in os.environ.items() if key not in threads.THREAD_VARIABLES}
    environment["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # this checkout's course_utils
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    cores = str(threads.available_cores())
    assert done.stdout.split() == [cores, cores, "False"]
