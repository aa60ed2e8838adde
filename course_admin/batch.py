"""Grade a class's submissions (in parallel), each at most once per content, and resume after Ctrl-C.

``course autograde`` finds the submissions (`course_admin.collect`), grades them with
:func:`grade_batch`, then writes the reports (`course_admin.reports`). Grading itself is
nbgrader's, in the course root (`pipeline.Workspace`, with the protection
`nbgrader_config.py` configures); this module decides what to grade, keeps going when a
submission is broken, and records why a grading failed in the gradebook.

A submission is graded at most once per content: a marker under ``<out>/progress/``
records the file's SHA-256 once it is graded, so re-running the same command after an
interruption (Ctrl-C) grades only what is missing; a changed file, and a submission whose
grading failed, are graded again.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course_admin import execute, gradebook, kernels, pipeline, timing
from course_admin.collect import Submission



@dataclass
class Result:
    student: str
    lab: str
    seconds: float = 0.0
    error: str = ""  # why grading failed, when it did
    resumed: bool = False  # graded by an earlier run of the same batch
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step of the grading (`timing`)
    warm: bool = False  # its process had graded this lab before (the class benchmark's steady state)


@dataclass
class Options:
    jobs: int = 1
    cell_timeout: int | None = None
    memory_limit_mb: int | None = None
    sandbox: bool = True
    db_url: str | None = None
    cluster: str | None = None  # a Dask scheduler's address (or scheduler file): grade on its workers
    self_study: bool = False  # one learner's own notebook (`self_study.is_self_study`): its page shows model answers


# The labs this process has graded. A batch's workers live for the whole batch, and a worker's first
# notebook of a lab also imports the lab's libraries and reads its models in the grading process: a
# class pays that once per worker and lab, and the class benchmark counts it once (`Result.warm`).
_labs_graded_here: set[str] = set()


def _marker(out: Path, lab: str, student: str) -> Path:
    return out / "progress" / lab / f"{student}.json"


def saved_results(out: Path, lab: str) -> dict[str, Result]:
    """The result each finished grading of `lab` left in `out` (its marker), by student."""
    return {marker.stem: Result(**json.loads(marker.read_text())["result"])
            for marker in sorted(_marker(out, lab, "*").parent.glob("*.json"))}


def _settings(options: Options) -> dict:
    """What a grade depends on besides the notebook: a grade made otherwise is made again."""
    return {"sandbox": options.sandbox, "cell_timeout": options.cell_timeout, "memory_limit_mb": options.memory_limit_mb}


def _share_cores(jobs: int) -> None:
    """Tell each of `jobs` parallel graders it shares the cores (CourseExecute reads
    COURSE_GRADING_JOBS): each kernel gets its share (`execute.kernel_threads`) and each grading
    process one thread (`execute.GRADER_THREADS`).

    The cores are those this process really has (its cgroup's CPU quota, else its affinity).
    torch and numpy start one thread per core by default; two kernels with two threads each
    on two cores wait on each other at every parallel region and run several times slower
    than one kernel after the other.
    """
    os.environ["COURSE_GRADING_JOBS"] = str(jobs)


def start_kernel_ahead(course: Path, options: Options, lab: str | None = None) -> None:
    """A command about to grade one notebook here (`--jobs 1`: a learner's `course autograde
    <lab>.ipynb`) starts its kernel now, while it collects, checks and records the notebook
    (`execute.start_kernel_ahead`), importing the libraries of `lab` (the one the notebook most
    likely is; every lab's when None); a batch's workers start theirs as they grade (`_grade_one`)."""
    if options.jobs <= 1 and options.sandbox and not options.cluster:
        _share_cores(options.jobs)
        libraries = kernels.PRELOADED
        if lab is not None:  # a guess: a notebook of another lab is graded in this kernel all the same
            try:
                libraries = execute.LabTests(nbformat.read(pipeline.lab_notebook(lab, root=course), 4)).libraries
            except (OSError, ValueError):  # (nbformat's errors are ValueErrors) the grading reports the problem
                pass
        execute.start_kernel_ahead(pipeline.course_config(course, options.db_url, options.cell_timeout,
                                                          options.memory_limit_mb, options.sandbox), options.jobs,
                                   libraries)


def _workspace(course: Path, options: Options) -> pipeline.Workspace:
    return pipeline.Workspace(course, db_url=options.db_url, cell_timeout=options.cell_timeout,
                              memory_limit_mb=options.memory_limit_mb, sandbox=options.sandbox)


def _grade_one(course: Path, out: Path, lab: str, student: str, digest: str, options: Options,
               more: bool = False) -> Result | None:
    """Autograde one submitted notebook and write its feedback; runs in a worker process. With
    `more` (another notebook follows in this process), the next one's kernel starts meanwhile."""
    _share_cores(options.jobs)
    kernels.spare_slot.wanted = more
    workspace = _workspace(course, options)
    result = Result(student, lab, warm=lab in _labs_graded_here)
    _labs_graded_here.add(lab)
    timing.take()  # what an earlier, unfinished grading left
    start = time.perf_counter()
    try:
        with timing.phase(timing.AUTOGRADE):
            workspace.autograde(lab, student)
        with timing.phase(timing.FEEDBACK):
            workspace.feedback(lab, student, self_study=options.self_study)
    except pipeline.GradingFailed as error:
        result.error = str(error)
        # the reason goes into the gradebook too: a report from another course root shows it
        gradebook.fail(workspace.db_url, lab, student, digest, result.error)
    result.seconds = round(time.perf_counter() - start, 1)
    result.phases = timing.take()
    if _stop.is_set():  # Ctrl-C reached the kernel too: this grade cannot be trusted
        gradebook.start(workspace.db_url, lab, student, digest)  # every report: "did not finish"
        return None
    save_marker(out, digest, options, result)
    return result


def save_marker(out: Path, digest: str, options: Options, result: Result) -> None:
    """Record that `result`'s notebook (content `digest`) is graded, so a re-run skips it."""
    marker = _marker(out, result.lab, result.student)
    marker.parent.mkdir(parents=True, exist_ok=True)
    temporary = marker.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"sha256": digest, "settings": _settings(options), "result": asdict(result)},
                                    indent=1))
    temporary.replace(marker)  # atomic: a marker is either complete or absent


class Interrupted(Exception):
    """Ctrl-C during a batch: graded students are kept, the others are graded by a re-run."""


_stop = execute.stop_requested  # set by Ctrl-C, in the main process and in each worker


def _request_stop(signum: int, frame: object) -> None:
    _stop.set()


def _stop_here(signum: int, frame: object) -> None:
    """Ctrl-C in the command's own process: said once, then as in the workers. Written to the
    terminal's stderr itself: sys.stderr may be nbgrader's capture, or in the middle of a write."""
    if not _stop.is_set():
        os.write(2, b"\nCtrl-C: stopping. The notebooks being graded stop at their next cell and stay ungraded; "
                    b"the graded ones are kept.\n")
    _stop.set()


def _listen_for_ctrl_c() -> None:
    """Worker initializer: Ctrl-C marks the submission in progress as not graded, instead of
    unwinding through nbgrader (which would catch it and carry on)."""
    signal.signal(signal.SIGINT, _request_stop)


def grade_batch(course: Path, out: Path, submissions: list[Submission], options: Options,
                progress: Callable[[Result], None] | None = None) -> list[Result]:
    """Grade every submission not graded before with the same content; return all results.

    Raises `Interrupted` after Ctrl-C, once the submissions being graded have stopped; those
    get no marker, so a re-run grades them again and skips the finished ones.
    """
    workspace = _workspace(course, options)
    for lab in sorted({s.lab for s in submissions}):
        workspace.ensure_registered(lab)  # records the lab and its cells; notebooks/ is left alone
    results, todo = [], []
    for submission in submissions:
        digest = pipeline.sha256(submission.path)
        marker = _marker(out, submission.lab, submission.student)
        if marker.exists():
            saved = json.loads(marker.read_text())
            if (saved["sha256"] == digest and saved.get("settings") == _settings(options) and not saved["result"]["error"]
                    and workspace.graded(submission.lab, submission.student)):
                results.append(Result(**{**saved["result"], "resumed": True}))
                if progress:
                    progress(results[-1])
                continue
            marker.unlink()
        workspace.submit(submission.lab, submission.student, submission.path, submission.timestamp)
        todo.append((submission, digest))
    _stop.clear()
    previous = signal.signal(signal.SIGINT, _stop_here)
    try:
        for result in _run(course, out, todo, options):
            results.append(result)
            if progress:
                progress(result)
    finally:
        signal.signal(signal.SIGINT, previous)
        kernels.spare_slot.end()  # a kernel started ahead in this process (--jobs 1); workers end theirs as they exit
    if _stop.is_set():
        raise Interrupted(f"{len(results)} of {len(submissions)} submission(s) graded")
    return results


def _run(course: Path, out: Path, todo: list, options: Options) -> Iterator[Result]:
    if options.cluster:  # each submission to a worker of the Dask cluster (course_admin.cluster)
        from course_admin import cluster

        yield from cluster.grade(course, out, todo, options, stop=_stop)
        return
    if options.jobs <= 1:
        for index, (submission, digest) in enumerate(todo):
            if _stop.is_set():
                return
            result = _grade_one(course, out, submission.lab, submission.student, digest, options,
                                more=index < len(todo) - 1)
            if result is not None:
                yield result
        return
    # Workers share the gradebook (SQLite, with a lock timeout); "spawn" gives each a
    # clean interpreter (no forked ZMQ or torch threads).
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=options.jobs, mp_context=context,
                                                initializer=_listen_for_ctrl_c) as pool:
        # A worker starts the next kernel while it grades, unless this is among the last notebooks.
        pending = {pool.submit(_grade_one, course, out, s.lab, s.student, digest, options,
                               index < len(todo) - options.jobs)
                   for index, (s, digest) in enumerate(todo)}
        while pending:
            done, pending = concurrent.futures.wait(pending, timeout=0.5,
                                                    return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                if future.result() is not None:
                    yield future.result()
            if _stop.is_set():
                for future in pending:
                    future.cancel()  # not started yet; the running ones stop without a marker
