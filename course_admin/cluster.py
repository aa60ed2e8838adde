"""Grading on the workers of a Dask distributed cluster: ``course autograde --cluster ADDRESS``.

The machine that runs ``course autograde`` (the *client*) finds the submissions, records the
labs and students in the shared gradebook, and hands each submission to the cluster as one
task: the notebook's bytes, never a path (workers may be other machines). Each worker process
keeps a scratch course root of its own (the course's configuration and solutions, shipped once
per run and written once per process) against the same ``--db`` gradebook, and grades exactly
as ``--jobs`` does (nbgrader with the course's configuration: each kernel in its bubblewrap
sandbox, nothing of the student's in the worker process). It sends back the autograded notebook
and the feedback page, which the client writes into its course root and output folder as
``--jobs`` does; the reports then read the gradebook as usual.

A worker lost mid-notebook: Dask's scheduler gives its task to another worker (up to its
``distributed.scheduler.allowed-failures``). nbgrader's autograde *replaces* a submission's
grades (one row per grade cell, updated in place), so a notebook graded twice is recorded once,
with the last grading's scores; the client writes a notebook's files and its marker only when
its result arrives, so a notebook whose grading never finished reads "not graded", never 0.
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from course_admin import batch, collect, pipeline, sandbox

CONNECT_SECONDS = 10  # an unreachable scheduler fails within this, not after minutes
WORKER_WAIT_SECONDS = 60  # a scheduler with no worker yet: how long to wait for the first
_PACKAGES = ("course_admin", "course_utils")  # what a worker must run at the client's version
_PACKAGE_DATA = {"assets", "templates", "hub_files"}  # their data folders (pyproject.toml's package-data)


class ClusterError(RuntimeError):
    """The cluster cannot grade (unreachable, no worker, a worker without the course at this
    version or without a sandbox); the message says what to do."""


class CourseMismatch(ClusterError):
    """Raised on a worker whose installed course differs from the client's."""


# ---------------------------------------------------------------- what travels
@dataclass(frozen=True)
class CourseFiles:
    """What a worker needs of the client's course root to grade `labs`: nbgrader_config.py and
    each lab's source and release folders (nbgrader copies the source's other files; the
    course's steps compare a submission with both notebooks), by relative path; `digest` names
    this content, `code` the client's packages."""

    labs: tuple[str, ...]
    files: dict[str, bytes]
    digest: str
    code: str


@dataclass(frozen=True)
class Job:
    """One submission to grade on a worker."""

    lab: str
    student: str
    notebook: bytes
    timestamp: str | None
    db_url: str
    cell_timeout: int | None
    memory_limit_mb: int | None
    sandbox: bool
    graders_per_host: dict[str, int] = field(default_factory=dict)  # worker processes per machine


@dataclass
class Graded:
    """A worker's answer: the result, and the files grading made (relative to the course root)."""

    result: batch.Result
    files: dict[str, bytes]


def course_files(course: Path, labs: list[str]) -> CourseFiles:
    files = {"nbgrader_config.py": (course / "nbgrader_config.py").read_bytes()}
    for lab, kind in itertools.product(labs, (pipeline.SOURCE, pipeline.RELEASE)):
        for path in sorted((course / kind / lab).rglob("*")):
            if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
                files[path.relative_to(course).as_posix()] = path.read_bytes()
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return CourseFiles(tuple(labs), files, digest.hexdigest(), code_fingerprint())


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 of this installation's course packages: the same on a worker as on the client
    exactly when both run the same version of the course, from a checkout or a wheel alike
    (the files a wheel installs: modules, models, templates; not a checkout's stray files)."""
    import importlib

    digest = hashlib.sha256()
    for package in _PACKAGES:
        root = Path(importlib.import_module(package).__file__).parent
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if path.is_file() and (path.suffix == ".py" or relative.parts[0] in _PACKAGE_DATA) \
                    and not any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
                digest.update(path.relative_to(root.parent).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# ---------------------------------------------------------------- on a worker
_grading = threading.Lock()  # one grading at a time per worker process (nbgrader sets os.environ)
_courses: dict[tuple, pipeline.Workspace] = {}


def worker_status() -> dict:
    """What the client checks on each worker before it hands out work."""
    import os

    return {"code": code_fingerprint(), "cpus": os.cpu_count() or 1, "sandbox": sandbox.problem() or ""}


def grade_on_worker(course: CourseFiles, job: Job) -> Graded:
    """Grade one submission in this worker's scratch course root; runs in a Dask worker."""
    from distributed import get_worker

    worker = get_worker()
    if course.code != code_fingerprint():
        raise CourseMismatch(f"the worker {worker.address} runs another version of the course than the client: "
                             "install the same version (the same commit or release) on every worker")
    with _grading:
        workspace = _worker_course(course, job, Path(worker.local_directory))
        batch._share_cores(job.graders_per_host.get(urlsplit(worker.address).hostname or "", 1))
        submitted = workspace.submitted_path(job.lab, job.student)
        try:
            submitted.parent.mkdir(parents=True, exist_ok=True)
            submitted.write_bytes(job.notebook)
            if job.timestamp is not None:
                (submitted.parent / "timestamp.txt").write_text(job.timestamp)
            result = batch.Result(job.student, job.lab)
            start = time.perf_counter()
            try:
                workspace.autograde(job.lab, job.student)
                workspace.feedback(job.lab, job.student)
            except pipeline.GradingFailed as error:
                result.error = str(error)
            result.seconds = round(time.perf_counter() - start, 1)
            return Graded(result, _made_by_grading(workspace.path, job.lab, job.student))
        finally:  # the worker's scratch root keeps no student's files between tasks
            for kind in ("submitted", "autograded", "feedback"):
                shutil.rmtree(workspace.path / kind / job.student / job.lab, ignore_errors=True)


def _worker_course(course: CourseFiles, job: Job, scratch: Path) -> pipeline.Workspace:
    """This process's course root for `course` and the job's settings, made on first use."""
    key = (course.digest, job.db_url, job.cell_timeout, job.memory_limit_mb, job.sandbox)
    if key not in _courses:
        root = Path(tempfile.mkdtemp(prefix=f"course-{course.digest[:12]}-", dir=scratch))
        for name, data in course.files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        _courses[key] = pipeline.Workspace(root, list(course.labs), db_url=job.db_url, cell_timeout=job.cell_timeout,
                                           memory_limit_mb=job.memory_limit_mb, sandbox=job.sandbox)
    return _courses[key]


def _made_by_grading(root: Path, lab: str, student: str) -> dict[str, bytes]:
    """The autograded folder and the feedback folder of one submission, by relative path."""
    made = {}
    for kind in ("autograded", "feedback"):
        folder = root / kind / student / lab
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            if path.is_file() and not path.is_symlink():
                made[path.relative_to(root).as_posix()] = path.read_bytes()
    return made


# ---------------------------------------------------------------- on the client
def connect(address: str):
    """A Client of the scheduler at `address` (tcp://host:8786) or named by a scheduler file."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("--cluster needs Dask distributed: pip install 'explaining-nlp-models[cluster]'") from None
    try:
        if Path(address).is_file():
            return Client(scheduler_file=address, timeout=CONNECT_SECONDS)
        return Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError, ValueError) as error:
        raise ClusterError(f"cannot reach the Dask scheduler at {address} ({error}): is `dask scheduler` "
                           "running there, and is its port open from this machine?") from None


def check(client, sandboxed: bool) -> dict[str, int]:
    """Worker processes per host, once every worker has shown it can grade; else ClusterError
    naming each worker that cannot and why."""
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
    except TimeoutError:
        raise ClusterError(f"no worker joined the scheduler {client.scheduler.address} within {WORKER_WAIT_SECONDS} s: "
                           "start some with `dask worker ADDRESS --nthreads 1`") from None
    statuses = client.run(worker_status, on_error="return")
    problems = []
    for worker, status in sorted(statuses.items()):
        if isinstance(status, BaseException):
            problems.append(f"{worker} cannot run the course ({status}): install the course, at the client's "
                            "version, in the Python that runs `dask worker` (and `dask scheduler`)")
        elif status["code"] != code_fingerprint():
            problems.append(f"{worker} runs another version of the course: install the same version (the same "
                            "commit or release) as this machine's")
        elif sandboxed and status["sandbox"]:
            problems.append(f"{worker} cannot start the grading sandbox: {status['sandbox']}")
    if problems:
        raise ClusterError("the cluster cannot grade:\n  " + "\n  ".join(problems))
    hosts: dict[str, int] = {}
    for worker in statuses:
        host = urlsplit(worker).hostname or ""
        hosts[host] = hosts.get(host, 0) + 1
    return hosts


def _register_students(course: Path, options: batch.Options, students: set[str]) -> None:
    """Every student in the gradebook before any worker starts: nbgrader's autograde creates a
    missing student itself, and two workers doing so for one student at once would collide."""
    with batch._workspace(course, options)._gradebook() as gradebook:
        for student in sorted(students):
            gradebook.update_or_create_student(student)


def grade(course: Path, out: Path, todo: list, options: batch.Options, stop: threading.Event) -> Iterator[batch.Result]:
    """Grade `todo` ((Submission, sha256) pairs) on the cluster at `options.cluster`; yield each
    result as it arrives, once its files and marker are written. Stops handing out work when
    `stop` is set (Ctrl-C): notebooks then being graded get no marker, and a re-run grades them."""
    from distributed import as_completed

    if not todo:
        return
    _register_students(course, options, {submission.student for submission, _ in todo})
    client = connect(options.cluster)
    try:
        graders = check(client, options.sandbox)
        files = course_files(course, sorted({s.lab for s, _ in todo}))
        # A task, not scattered data: the scheduler keeps it and makes it again where a worker holding it
        # died (scattered data would be lost with that worker, and every notebook after it).
        shipped = client.submit(_course_on_worker, files, key=f"course-files-{uuid.uuid4().hex[:8]}")
        pending = {}
        for submission, digest in todo:
            job = Job(submission.lab, submission.student, submission.path.read_bytes(), submission.timestamp,
                      options.db_url, options.cell_timeout, options.memory_limit_mb, options.sandbox, graders)
            # retries: an error outside grading (a lost connection); a lost worker is the scheduler's to retry
            future = client.submit(grade_on_worker, shipped, job, retries=1,
                                   key=f"grade-{submission.lab}-{submission.student}-{uuid.uuid4().hex[:8]}")
            pending[future] = (submission, digest)
        finished = as_completed(list(pending))
        while not finished.is_empty() and not stop.is_set():
            done = finished.next_batch(block=False)
            if not done:
                time.sleep(0.2)  # polled, so that Ctrl-C is heard between notebooks
            for future in done:
                submission, digest = pending.pop(future)
                result = _received(course, future, submission)
                batch.save_marker(out, digest, options, result)
                yield result
        client.cancel(list(pending))  # after Ctrl-C: the rest stays for a re-run
    finally:
        client.close()


def _course_on_worker(files: CourseFiles) -> CourseFiles:
    return files


def _received(course: Path, future, submission: collect.Submission) -> batch.Result:
    """The result of one finished task, its files written into the course root."""
    from distributed import KilledWorker

    try:
        graded: Graded = future.result()
    except CourseMismatch as error:
        raise ClusterError(str(error)) from None
    except KilledWorker as error:
        return batch.Result(submission.student, submission.lab, error="the workers grading it died "
                            f"({error}); run `course autograde` again to retry it")
    except Exception as error:  # the cluster's failure, not the notebook's: it stays to be graded again
        return batch.Result(submission.student, submission.lab, error=f"the cluster failed "
                            f"({type(error).__name__}: {str(error)[:200]}); run `course autograde` again to retry it")
    _write_back(course, submission.lab, submission.student, graded.files)
    return graded.result


def _write_back(course: Path, lab: str, student: str, files: dict[str, bytes]) -> None:
    """Put a worker's autograded and feedback folders of one submission into the client's course
    root, replacing the folders an earlier grading of it made (as nbgrader's own autograde does)."""
    folders = {kind: course / kind / student / lab for kind in ("autograded", "feedback")}
    for name in files:
        parts = PurePosixPath(name).parts
        if PurePosixPath(name).is_absolute() or ".." in parts or parts[1:3] != (student, lab) \
                or parts[0] not in folders:
            raise ClusterError(f"a worker sent back {name!r}, outside the submission's folders: not written")
    for folder in folders.values():
        if folder.is_symlink():
            folder.unlink()
        elif folder.is_dir():
            shutil.rmtree(folder)
    for name, data in files.items():
        target = course / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
