"""`course autograde --cluster`: grading on a real Dask scheduler with real worker processes.

A scheduler and two `dask worker` processes (no nanny: a killed worker stays dead) run on this
machine with the course's code (`benchmarks.cluster.local_cluster`, which the benchmark uses
too); every run writes one PostgreSQL gradebook (`postgres` fixture). The class is the small assignment of the attack suite (tests/test_attacks.py), so a
notebook grades in seconds by exactly the steps the labs are graded by.

* the cluster grades a class with the scores `--jobs 2` gives (and prints both rates);
* a worker SIGKILLed mid-notebook: that notebook is graded by the other worker, recorded once,
  with its real score, and nothing of the dead worker's kernel survives;
* an unreachable scheduler, a SQLite gradebook, and workers without the course (or at another
  version) are refused before anything is graded, saying why.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
import pytest
from test_attacks import ANSWERS, BLANK, LAB, WRONG_SOFTMAX, _notebook, released_course

import course_admin
from benchmarks.cluster import Cluster, environment, local_cluster
from course_admin import pipeline, sandbox

CODE = Path(course_admin.__file__).resolve().parents[1]  # the checkout under test: workers import it too
SLOW = "import time\ntime.sleep(30)  # long enough to be killed in\n"


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """A course root with the small assignment's source and release."""
    return released_course(tmp_path_factory.mktemp("template") / "course")


def _course(template: Path, target: Path) -> Path:
    course = pipeline.scratch_course(target, [])
    for folder in ("solutions", "notebooks"):
        shutil.copytree(template / folder / LAB, course / folder / LAB)
    return course


def _class(template: Path, folder: Path, students: dict[str, dict[str, str]]) -> Path:
    blank = nbformat.read(template / "notebooks" / LAB / f"{LAB}.ipynb", as_version=4)
    folder.mkdir()
    for student, answers in students.items():
        nbformat.write(_notebook(blank, answers), folder / f"{student}_{LAB}.ipynb")
    return folder


CLASS = {"right": dict(ANSWERS), "blank": dict(BLANK), "wrong_softmax": {**ANSWERS, "ex_row_softmax": WRONG_SOFTMAX},
         "only_mean_square": {**BLANK, "ex_mean_square": ANSWERS["ex_mean_square"]},
         "right_too": dict(ANSWERS), "wrong_both": {"ex_mean_square": ANSWERS["ex_row_softmax"].replace(
             "row_softmax", "mean_square"), "ex_row_softmax": WRONG_SOFTMAX}}


def _autograde(folder: Path, course: Path, out: Path, *options: str, wait: bool = True):
    command = [sys.executable, "-m", "course_admin.cli", "autograde", str(folder), "--lab", LAB, "--course",
               str(course), "--out", str(out), "--timeout", "120", *options]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=environment(CODE))
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=environment(CODE))


def _grades(out: Path) -> dict[str, tuple[str, str, str]]:
    with open(out / "grades.csv") as handle:
        return {row["student_id"]: (row["status"], row["auto_score"], row["auto_max_score"])
                for row in csv.DictReader(handle)}


def test_a_cluster_grades_a_class_with_the_scores_of_jobs_2(release, tmp_path, postgres):
    folder = _class(release, tmp_path / "class", CLASS)
    local, remote = _course(release, tmp_path / "local"), _course(release, tmp_path / "remote")
    start = time.perf_counter()
    done = _autograde(folder, local, tmp_path / "out-local", "--jobs", "2", "--db", postgres.new_database())
    jobs2_seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-3000:]
    url = postgres.new_database()
    with local_cluster(tmp_path / "dask", [CODE, CODE]) as cluster:
        start = time.perf_counter()
        done = _autograde(folder, remote, tmp_path / "out-remote", "--cluster", str(cluster.scheduler_file),
                          "--db", url)
        cluster_seconds = time.perf_counter() - start
        assert done.returncode == 0, done.stderr[-3000:]
        assert "2 worker process(es) on 1 machine(s)" in done.stdout
        assert list(tmp_path.glob("dask/worker*/**/course-*/submitted")), "the workers graded in their course roots"
        assert not list(tmp_path.glob("dask/worker*/**/course-*/submitted/*/*")), "a worker kept a student's files"
        again = _autograde(folder, remote, tmp_path / "out-remote", "--cluster", str(cluster.scheduler_file),
                           "--db", url)  # resumes as --jobs does: nothing graded twice
        assert again.returncode == 0, again.stderr[-3000:]
        assert f"{len(CLASS)} submission(s), {len(CLASS)} from an earlier run" in \
            (tmp_path / "out-remote" / "summary.md").read_text()

    expected = _grades(tmp_path / "out-local")
    assert {student: row[0] for student, row in expected.items()} == dict.fromkeys(CLASS, "graded")
    assert len({row[1] for row in expected.values()}) >= 3, "the class has different scores"
    assert _grades(tmp_path / "out-remote") == expected
    for student in CLASS:  # the client holds what the workers made: feedback and autograded notebook
        assert (remote / "feedback" / student / LAB / f"{LAB}.html").is_file()
        assert pipeline.Workspace(remote, [LAB], db_url=url).graded(LAB, student)
    n = len(CLASS)
    print(f"\n{n} notebooks: --jobs 2 {jobs2_seconds:.1f} s ({n / jobs2_seconds * 60:.1f} notebooks/min), "
          f"--cluster with 2 workers {cluster_seconds:.1f} s ({n / cluster_seconds * 60:.1f} notebooks/min); "
          f"overhead {(cluster_seconds - jobs2_seconds) / n:+.1f} s per notebook")


def _grading_in(cluster: Cluster, student: str) -> int | None:
    """The index of the worker whose scratch course root holds `student`'s submission, if any."""
    for i, local in enumerate(cluster.folders):
        if list(local.glob(f"**/course-*/submitted/{student}/{LAB}")):
            return i
    return None


def _command_line(process: psutil.Process) -> str:
    """Its command line; empty for a process that ended meanwhile (or is a zombie)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


@dataclass
class Leftovers:
    """What a killed grading process could not release of its kernel: the kernel's folder (its
    `-f /tmp/course-k-*/k/kernel.json`, a tmpfs mount when grading as root) and its cgroups
    (from /proc/PID/cgroup). A known leak of a killed grader, left to the report; the test
    releases its own."""

    folders: set[Path]
    groups: set[str]

    @classmethod
    def of(cls, processes: list[psutil.Process]) -> Leftovers:
        folders, groups = set(), set()
        for process in processes:
            with contextlib.suppress(psutil.Error, OSError):
                folders |= {Path(part).parents[1] for part in process.cmdline()
                            if part.startswith("/tmp/course-k-") and part.endswith("/k/kernel.json")}
                groups |= {line.rsplit("/", 1)[-1] for line in Path(f"/proc/{process.pid}/cgroup").read_text().split()
                           if "/course-sandbox-" in line}
        return cls(folders, groups)

    def release(self) -> None:
        for folder in self.folders:
            sandbox.release_folder(folder / "k")
            shutil.rmtree(folder, ignore_errors=True)
        for group in self.groups:
            for path in Path("/sys/fs/cgroup").glob(f"*/{group}"):
                with contextlib.suppress(OSError):
                    path.rmdir()
        print(f"\nreleased what the killed worker's kernel left: {sorted(map(str, self.folders))}, "
              f"cgroups {sorted(self.groups)}")


def test_a_worker_killed_mid_notebook_leaves_it_to_the_other_worker_recorded_once(release, tmp_path, postgres):
    slow = {**ANSWERS, "ex_mean_square": SLOW + ANSWERS["ex_mean_square"]}
    folder = _class(release, tmp_path / "class", {"right": dict(ANSWERS), "slow": slow, "blank": dict(BLANK)})
    course, out, url = _course(release, tmp_path / "course"), tmp_path / "out", postgres.new_database()
    with local_cluster(tmp_path / "dask", [CODE, CODE]) as cluster:
        grading = _autograde(folder, course, out, "--cluster", str(cluster.scheduler_file), "--db", url, wait=False)
        deadline, victim = time.monotonic() + 300, None
        while victim is None and time.monotonic() < deadline and grading.poll() is None:
            victim = _grading_in(cluster, "slow")
            time.sleep(0.2)
        assert victim is not None, "no worker took the slow notebook"
        worker = psutil.Process(cluster.workers[victim].pid)
        while not any("bwrap" in _command_line(child) for child in worker.children(recursive=True)):
            assert time.monotonic() < deadline, "the slow notebook's kernel never started"
            time.sleep(0.2)
        time.sleep(4)  # into the student's 30 s cell
        kernel = worker.children(recursive=True)
        leftovers = Leftovers.of(kernel)  # read while they live
        os.kill(worker.pid, signal.SIGKILL)
        stdout, stderr = grading.communicate(timeout=600)
        assert grading.returncode == 0, stderr[-3000:]
        assert cluster.workers[victim].wait(timeout=10) == -signal.SIGKILL
        time.sleep(2)
        assert not [p for p in kernel if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], \
            "the dead worker's kernel survived it"
        leftovers.release()

    grades = _grades(out)
    assert grades["slow"][0] == "graded" and grades["slow"] == grades["right"], (grades, stdout)
    assert float(grades["slow"][1]) > 0
    assert grades["blank"][1] == "0"
    marker = json.loads((out / "progress" / LAB / "slow.json").read_text())
    assert marker["result"]["error"] == ""
    workspace = pipeline.Workspace(course, [LAB], db_url=url)
    with workspace._gradebook() as gradebook:
        submissions = [s for s in gradebook.find_assignment(LAB).submissions if s.student.id == "slow"]
        assert len(submissions) == 1
        grade_cells = len(gradebook.find_notebook(LAB, LAB).grade_cells)
        assert len(gradebook.find_submission_notebook(LAB, LAB, "slow").grades) == grade_cells
    print(f"\nkilled worker{victim} mid-notebook; the other worker graded it: {grades['slow']}")


def test_an_unreachable_scheduler_or_a_sqlite_gradebook_is_refused_saying_why(release, tmp_path, postgres):
    folder = _class(release, tmp_path / "class", {"right": dict(ANSWERS)})
    course = _course(release, tmp_path / "course")
    done = _autograde(folder, course, tmp_path / "out", "--cluster", "tcp://127.0.0.1:9", "--db",
                      postgres.new_database())
    assert done.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in done.stderr
    done = _autograde(folder, course, tmp_path / "out", "--cluster", "tcp://127.0.0.1:9")
    assert done.returncode == 2 and "--cluster needs --db" in done.stderr
    assert not (tmp_path / "out").exists() and not (course / "gradebook.db").exists(), "refused before anything"


def test_workers_without_the_course_or_at_another_version_are_named(release, tmp_path, postgres):
    other = tmp_path / "other-version"
    for package in ("course_admin", "course_utils"):
        shutil.copytree(CODE / package, other / package, ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "course_admin" / "batch.py", "a") as handle:
        handle.write("\n# a later commit\n")
    missing = tmp_path / "no-course"
    (missing / "course_admin").mkdir(parents=True)
    (missing / "course_admin" / "__init__.py").write_text('"""Some other package of that name."""\n')
    # This venv has the course installed editable (pip install -e): its finder would still
    # serve course_admin's modules to that worker; a machine without the course has no finder.
    (missing / "sitecustomize.py").write_text(
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')]\n"
        "sys.path_hooks[:] = [h for h in sys.path_hooks if '__editable__' not in getattr(h, '__module__', '')]\n"
        "sys.path_importer_cache.clear()\n")
    folder = _class(release, tmp_path / "class", {"right": dict(ANSWERS)})
    course = _course(release, tmp_path / "course")
    with local_cluster(tmp_path / "dask", [other, missing, CODE]):
        done = _autograde(folder, course, tmp_path / "out", "--cluster", str(tmp_path / "dask" / "scheduler.json"),
                          "--db", postgres.new_database())
    assert done.returncode == 2, done.stdout
    assert "runs another version of the course" in done.stderr
    assert "cannot run the course (ModuleNotFoundError" in done.stderr
    assert done.stderr.count("tcp://127.0.0.1:") == 2, "the two workers are named, the good one is not"
    assert not (tmp_path / "out").exists(), "refused before anything was graded"
