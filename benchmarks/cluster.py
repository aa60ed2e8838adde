"""`course autograde --cluster` against `--jobs 2` on this machine: rate and overhead per notebook.

    .venv/bin/python -m benchmarks.cluster                       # 4 students x Labs 1-2, ~4 min on 2 cores
    .venv/bin/python -m benchmarks.cluster --students 2 --labs lab1_lime_from_scratch

Grades one class (reference submissions in nbgrader collect's layout) twice, each time into a
fresh database of a private PostgreSQL server (tests/postgres_server.py): with `--jobs 2`, then
on a Dask scheduler with two worker processes on this machine (`dask scheduler` with the
README's worker saturation of 1.0, `dask worker --nthreads 1 --no-nanny`: the same two cores,
so the difference is what the cluster costs).
Prints each wall time, the rate, the mean grading time of a notebook in its worker, and the
overhead per notebook (the difference in wall time over the number of notebooks).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# As the README advises: a notebook takes tens of seconds, so a worker is sent one only when it is
# free (Dask's default, 1.1, queues a second one on each worker, which can wait there at the end of
# a class while another worker is idle).
SCHEDULER_SETTINGS = {"DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}


@dataclass
class Cluster:
    scheduler_file: Path
    workers: list[subprocess.Popen]
    folders: list[Path]  # each worker's --local-directory (its scratch course root is inside)


def environment(pythonpath: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(pythonpath), "HF_HUB_OFFLINE": "1", "COURSE_OFFLINE": "1"}


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def local_cluster(folder: Path, pythonpaths: list[Path]) -> Iterator[Cluster]:
    """`dask scheduler` and one `dask worker --nthreads 1 --no-nanny` per entry of `pythonpaths`
    (the code that worker imports), all on 127.0.0.1, logs in `folder`; stopped at the end."""
    from distributed import Client

    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    processes = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(scheduler_file),
                                   # the scheduler unpickles the grading tasks: importing the course
                                   # then, beside busy kernels, stalled it for 5 s and the client
                                   # lost it ("scheduler-connection-lost")
                                   "--preload", "course_admin.cluster"],
                                  env={**environment(ROOT), **SCHEDULER_SETTINGS}, stdout=subprocess.DEVNULL,
                                  stderr=open(folder / "scheduler.log", "w"), cwd=folder)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        folders = [folder / f"worker{i}" for i in range(len(pythonpaths))]
        for i, (local, pythonpath) in enumerate(zip(folders, pythonpaths)):
            local.mkdir()
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                 "--no-nanny", "--no-dashboard", "--name", f"worker{i}", "--local-directory", str(local)],
                env=environment(pythonpath), stdout=subprocess.DEVNULL, stderr=open(folder / f"worker{i}.log", "w"),
                cwd=local))  # not the checkout: `python -m` puts the working folder first on the path
        with Client(scheduler_file=str(scheduler_file), timeout=30) as client:
            client.wait_for_workers(len(pythonpaths), timeout=120)
        yield Cluster(scheduler_file, processes[1:], folders)
    finally:
        for process in reversed(processes):
            _stop(process)


@dataclass
class Run:
    how: str
    notebooks: int
    seconds: float  # wall time of the whole command
    grading: list[float]  # each notebook's grading time in its worker (its marker's figure)

    @property
    def per_minute(self) -> float:
        return self.notebooks / self.seconds * 60

    @property
    def outside_grading(self) -> float:
        """Wall time beyond the two workers' grading (each notebook's time in its worker, shared by
        two): what the way of grading costs, less sensitive than the wall time to other work
        slowing the grading itself."""
        return self.seconds - sum(self.grading) / 2


def _autograde(scratch: Path, name: str, labs: list[str], students: int, options: list[str]) -> Run:
    from course_admin import batch, pipeline

    course = pipeline.scratch_course(scratch / name / "course", labs, ROOT)
    submitted = scratch / "submitted"
    for number in range(students):
        for lab in labs:
            target = submitted / f"student{number:02d}" / lab
            if not target.is_dir():
                target.mkdir(parents=True)
                (target / f"{lab}.ipynb").write_bytes(pipeline.lab_notebook(lab, root=ROOT).read_bytes())
    out = scratch / name / "reports"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "course_admin.cli", "autograde", str(submitted), "--course",
                           str(course), "--out", str(out), *options], cwd=scratch, env=environment(ROOT),
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    results = [r for lab in labs for r in batch.saved_results(out, lab).values()]
    if len(results) != students * len(labs) or any(r.error for r in results):
        raise RuntimeError(f"{name} graded {len(results)} of {students * len(labs)}: {[r.error for r in results]}")
    return Run(name, len(results), seconds, [r.seconds for r in results])


def compare(labs: list[str], students: int) -> tuple[Run, Run]:
    from tests import postgres_server

    missing = postgres_server.available()
    if missing:
        raise RuntimeError(missing)
    server = postgres_server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="course-cluster-bench-") as scratch:
            scratch = Path(scratch)
            local = _autograde(scratch, "jobs2", labs, students, ["--jobs", "2", "--db", server.new_database()])
            with local_cluster(scratch / "dask", [ROOT, ROOT]) as cluster:
                remote = _autograde(scratch, "cluster", labs, students,
                                    ["--cluster", str(cluster.scheduler_file), "--db", server.new_database()])
    finally:
        postgres_server.stop(server)
    return local, remote


def table(local: Run, remote: Run) -> str:
    lines = ["| how | notebooks | wall time | notebooks per minute | mean grading time in its worker | "
             "wall time outside grading |", "|---|---:|---:|---:|---:|---:|"]
    for run, how in ((local, "`--jobs 2`"), (remote, "`--cluster`, 2 worker processes on the same machine")):
        lines.append(f"| {how} | {run.notebooks} | {run.seconds:.1f} s | {run.per_minute:.2f} | "
                     f"{sum(run.grading) / len(run.grading):.1f} s | {run.outside_grading:.1f} s |")
    lines.append(f"\nOverhead of the cluster per notebook: {(remote.seconds - local.seconds) / local.notebooks:+.1f} s "
                 f"of wall time ({remote.seconds / local.seconds - 1:+.0%}); "
                 f"{(remote.outside_grading - local.outside_grading) / local.notebooks:+.1f} s outside grading.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--labs", default="lab1_lime_from_scratch,lab2_attention_vs_lime")
    args = parser.parse_args()
    local, remote = compare(args.labs.split(","), args.students)
    print(table(local, remote))


if __name__ == "__main__":
    main()
