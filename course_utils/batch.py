"""Grade a whole class: find the submissions, grade them (in parallel), resume, report.

``course autograde`` calls :func:`collect` then :func:`grade_batch`. Grading itself is
nbgrader's (``pipeline.Workspace``: real SQLite gradebook, guarded kernels); this module
decides what to grade, keeps going when a submission is broken, and writes the reports:
``grades.csv`` (nbgrader's CSV export), ``summary.md`` and one bar chart per lab.

A submission is graded at most once per content: after it is graded, a marker under
``progress/`` records the file's SHA-256, so re-running the same command after an
interruption (Ctrl-C) grades only what is missing, and a changed file is graded again.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import re
import signal
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course_utils import pipeline

MAX_SUBMISSION_MB = 20  # a notebook with outputs is well under 5 MB; anything larger is refused
_FLAT_NAME = re.compile(r"^(?P<student>.+?)_(?P<lab>lab\d+_[a-z_]+)\.ipynb$")


@dataclass
class Submission:
    student: str
    lab: str
    path: Path


@dataclass
class Problem:
    """A file that was not graded, and why (in words an instructor can act on)."""

    file: str
    reason: str


@dataclass
class Result:
    student: str
    lab: str
    seconds: float = 0.0
    scores: dict[str, list[float]] = field(default_factory=dict)  # exercise -> [score, max]
    pending: list[str] = field(default_factory=list)  # written answers awaiting a grader
    tampering: list[str] = field(default_factory=list)  # what the guard caught
    error: str = ""  # why grading failed, when it did
    resumed: bool = False  # graded by an earlier run of the same batch


# ---------------------------------------------------------------- finding submissions
def unpack(source: Path, scratch: Path) -> Path:
    """The folder to search: `source` itself, or a .zip of it extracted under `scratch`."""
    if source.is_dir() or source.suffix.lower() != ".zip":
        return source
    target = scratch / "unzipped"
    with zipfile.ZipFile(source) as archive:
        for member in archive.infolist():
            destination = (target / member.filename).resolve()
            if not destination.is_relative_to(target.resolve()):  # "../" in a name: zip slip
                raise ValueError(f"{source.name}: refusing the unsafe path {member.filename!r}")
        archive.extractall(target)
    return target


def _lab_of_name(relative: Path, labs: Iterable[str]) -> tuple[str, str] | None:
    """(student, lab) from a submission's path relative to the batch folder, at any depth
    (an LMS zip often wraps everything in one folder): `<student>_<lab>.ipynb`, or
    `<lab>.ipynb` in the student's folder (`<student>/<lab>.ipynb`, `<student>/<lab>/<lab>.ipynb`);
    a lone `<lab>.ipynb` is one learner's own notebook ("me")."""
    labs = set(labs)
    match = _FLAT_NAME.match(relative.name)
    if match and match["lab"] in labs:
        return match["student"], match["lab"]
    stem = relative.name.removesuffix(".ipynb")
    if relative.suffix == ".ipynb" and stem in labs:
        folders = [part for part in relative.parts[:-1] if part != stem]
        return (folders[-1] if folders else "me"), stem
    return None


def _grade_ids(nb: nbformat.NotebookNode) -> set[str]:
    return {cell.metadata.get("nbgrader", {}).get("grade_id", "") for cell in nb.cells} - {""}


def _read_notebook(path: Path, max_mb: float) -> nbformat.NotebookNode | str:
    """The notebook, or why it cannot be graded."""
    size = path.stat().st_size
    if size == 0:
        return "the file is empty"
    if size > max_mb * 1024 * 1024:
        return f"the file is {size / 2**20:.0f} MB, above the {max_mb:g} MB limit"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "the file is not text (is it a notebook?)"
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return f"the file is not valid JSON (line {error.lineno}: {error.msg}); was it edited by hand or truncated?"
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as error:  # nbformat raises several types for malformed notebooks
        return f"the file is JSON but not a Jupyter notebook ({type(error).__name__})"


def collect(source: Path, labs: list[str], max_mb: float = MAX_SUBMISSION_MB
            ) -> tuple[list[Submission], list[Problem]]:
    """Submissions for `labs` under `source` (a folder or one notebook), and the files
    that cannot be graded, with the reason for each."""
    all_ids = {lab: _grade_ids(nbformat.read(pipeline.lab_notebook(lab), as_version=4))
               for lab in pipeline.finished_labs()}
    lab_ids = {lab: all_ids[lab] for lab in labs}
    folder, files = (source.parent, [source]) if source.is_file() else (source, sorted(source.rglob("*")))
    submissions: dict[tuple[str, str], Submission] = {}
    problems: list[Problem] = []
    for path in files:
        relative = path.relative_to(folder)
        if path.is_dir() or any(part.startswith(".") or part == "__MACOSX" for part in relative.parts):
            continue
        found = _lab_of_name(relative, labs)
        if found is None:
            if _lab_of_name(relative, all_ids) is None:  # not just another lab's submission
                problems.append(Problem(str(relative), "file name not recognised: expected <student>/<lab>.ipynb "
                                        "or <student>_<lab>.ipynb, e.g. alice_" + labs[0] + ".ipynb"))
            continue
        student, lab = found
        nb = _read_notebook(path, max_mb)
        if isinstance(nb, str):
            problems.append(Problem(str(relative), nb))
            continue
        ids = _grade_ids(nb)
        if not ids & lab_ids[lab]:
            other = max(all_ids, key=lambda name: len(ids & all_ids[name]))
            reason = (f"this is the notebook of {other}, not {lab}" if ids & all_ids[other]
                      else "no graded cells found: not a course notebook, or its cell metadata was removed")
            problems.append(Problem(str(relative), reason))
            continue
        if (student, lab) in submissions:
            problems.append(Problem(str(relative), f"a second {lab} notebook for {student}; graded "
                                                   f"{submissions[(student, lab)].path.relative_to(folder)}"))
            continue
        submissions[(student, lab)] = Submission(student, lab, path)
    return list(submissions.values()), problems


# ---------------------------------------------------------------- grading
@dataclass
class Options:
    jobs: int = 1
    cell_timeout: int | None = None
    memory_limit_mb: int | None = pipeline.DEFAULT_MEMORY_LIMIT_MB


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _marker(out: Path, lab: str, student: str) -> Path:
    return out / "progress" / lab / f"{student}.json"


def _share_cores(jobs: int) -> None:
    """Give each of `jobs` parallel kernels its share of the cores (inherited by the kernels).

    torch and numpy start one thread per core by default; two kernels with two threads each
    on two cores wait on each other at every parallel region and run several times slower
    than one kernel after the other.
    """
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = threads


def _grade_one(out: Path, labs: list[str], lab: str, student: str, digest: str, options: Options) -> Result | None:
    """Autograde one submitted notebook and write its feedback; runs in a worker process."""
    if options.jobs > 1:
        _share_cores(options.jobs)
    workspace = pipeline.Workspace(out, labs, memory_limit_mb=options.memory_limit_mb,
                                   cell_timeout=options.cell_timeout, copy_sources=False)
    result = Result(student, lab)
    start = time.perf_counter()
    try:
        workspace.autograde(lab, student)
        workspace.feedback(lab, student)
    except RuntimeError as error:
        result.error = _failure_reason(str(error))
    result.seconds = round(time.perf_counter() - start, 1)
    if _stop.is_set():  # Ctrl-C reached the kernel too: this grade cannot be trusted
        return None
    if not result.error:
        for score in workspace.exercise_scores(lab, student):
            result.scores[score.exercise] = [score.score, score.max_score]
            if score.pending:
                result.pending.append(score.exercise)
        result.tampering = [_describe(t) for t in workspace.tampering(lab, student)]
    marker = _marker(out, lab, student)
    marker.parent.mkdir(parents=True, exist_ok=True)
    temporary = marker.with_suffix(".tmp")
    temporary.write_text(json.dumps({"sha256": digest, "result": asdict(result)}, indent=1))
    temporary.replace(marker)  # atomic: a marker is either complete or absent
    return result


def _describe(t: pipeline.Tampering) -> str:
    if t.when == "exit":
        return f"{t.grade_id}: called {', '.join(t.changed)} (refused; the notebook was graded on)"
    what = f"{t.grade_id}: {', '.join(t.changed)} rebound "
    return what + ("while the test ran (test scored 0)" if t.is_test and t.when == "during"
                   else "(restored before the next cell)")


def _failure_reason(error: str) -> str:
    if "DeadKernelError" in error or "Kernel died" in error:
        return "the kernel died while running the notebook (os._exit, a crash, or the memory limit); not graded"
    if "UnresponsiveKernel" in error:
        return "the kernel stopped responding and could not be interrupted; not graded"
    if "CellTimeoutError" in error or "TimeoutError" in error:
        return "a cell ran past the time limit and could not be interrupted; not graded"
    causes = [line.strip() for line in error.splitlines() if re.match(r"\s*\w+(\.\w+)*(Error|Exception):", line)]
    return "grading failed: " + (causes[0][:200] if causes else "unknown error (see the nbgrader log)")


class Interrupted(Exception):
    """Ctrl-C during a batch: graded students are kept, the others are graded by a re-run."""


_stop = threading.Event()  # set by Ctrl-C, in the main process and in each worker


def _request_stop(signum: int, frame: object) -> None:
    _stop.set()


def _listen_for_ctrl_c() -> None:
    """Worker initializer: Ctrl-C marks the submission in progress as not graded, instead of
    unwinding through nbgrader (which would catch it and carry on)."""
    signal.signal(signal.SIGINT, _request_stop)


def grade_batch(out: Path, submissions: list[Submission], options: Options,
                progress: Callable[[Result], None] | None = None) -> list[Result]:
    """Grade every submission not graded before with the same content; return all results.

    Raises `Interrupted` after Ctrl-C, once the submissions being graded have stopped; those
    get no marker, so a re-run grades them again and skips the finished ones.
    """
    labs = sorted({s.lab for s in submissions}, key=pipeline.finished_labs().index)
    workspace = pipeline.Workspace(out, labs, memory_limit_mb=options.memory_limit_mb,
                                   cell_timeout=options.cell_timeout)
    for lab in labs:
        if not (out / "release" / lab / f"{lab}.ipynb").exists():
            workspace.release(lab)  # also creates the gradebook and records the lab in it
    results, todo = [], []
    for submission in submissions:
        digest = _digest(submission.path)
        marker = _marker(out, submission.lab, submission.student)
        if marker.exists():
            saved = json.loads(marker.read_text())
            if saved["sha256"] == digest:
                results.append(Result(**{**saved["result"], "resumed": True}))
                if progress:
                    progress(results[-1])
                continue
            marker.unlink()
        workspace.submit(submission.lab, submission.student, submission.path)
        todo.append((submission, digest))
    _stop.clear()
    previous = signal.signal(signal.SIGINT, _request_stop)
    try:
        for result in _run(out, labs, todo, options):
            results.append(result)
            if progress:
                progress(result)
    finally:
        signal.signal(signal.SIGINT, previous)
    if _stop.is_set():
        raise Interrupted(f"{len(results)} of {len(submissions)} submission(s) graded")
    return results


def _run(out: Path, labs: list[str], todo: list, options: Options) -> Iterator[Result]:
    if options.jobs <= 1:
        for submission, digest in todo:
            if _stop.is_set():
                return
            result = _grade_one(out, labs, submission.lab, submission.student, digest, options)
            if result is not None:
                yield result
        return
    # Workers share the gradebook (SQLite, with a lock timeout); "spawn" gives each a
    # clean interpreter (no forked ZMQ or torch threads).
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=options.jobs, mp_context=context,
                                                initializer=_listen_for_ctrl_c) as pool:
        pending = {pool.submit(_grade_one, out, labs, s.lab, s.student, digest, options) for s, digest in todo}
        while pending:
            done, pending = concurrent.futures.wait(pending, timeout=0.5,
                                                    return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                if future.result() is not None:
                    yield future.result()
            if _stop.is_set():
                for future in pending:
                    future.cancel()  # not started yet; the running ones stop without a marker


# ---------------------------------------------------------------- reports
def export_grades(out: Path, labs: list[str]) -> Path:
    """grades.csv, written by nbgrader's own CSV export plugin from the gradebook."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    workspace = pipeline.Workspace(out, labs, copy_sources=False)
    target = out / "grades.csv"
    with Gradebook(workspace.config.CourseDirectory.db_url) as gradebook:
        CsvExportPlugin(to=str(target)).export(gradebook)
    return target


def class_summary(results: list[Result], lab: str) -> list[dict]:
    """Per exercise: max points, class mean, and how many students got full marks."""
    graded = [r for r in results if r.lab == lab and not r.error]
    if not graded:
        return []
    rows = []
    for exercise, (_, top) in graded[0].scores.items():
        earned = [r.scores[exercise][0] for r in graded if exercise in r.scores and exercise not in r.pending]
        if not earned:  # a written answer nobody has graded yet
            rows.append({"exercise": exercise, "max": top, "mean": None, "full": None, "n": 0})
            continue
        rows.append({"exercise": exercise, "max": top, "mean": sum(earned) / len(earned),
                     "full": sum(score == top for score in earned), "n": len(earned)})
    return rows


def summary_cells(row: dict) -> tuple[str, str]:
    """(class mean, full marks) of one `class_summary` row, as the table and report show them."""
    if row["mean"] is None:
        return "to grade", ""
    return f"{row['mean']:.2f} ({100 * row['mean'] / row['max']:.0f}%)", f"{row['full']}/{row['n']}"


def plot_summary(rows: list[dict], lab: str, target: Path) -> Path:
    """Bar chart of the class's mean score per exercise, as a share of its points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["mean"] is not None]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    shares = [100 * r["mean"] / r["max"] if r["max"] else 0 for r in rows]
    ax.barh([r["exercise"] for r in rows], shares, color=["tab:red" if s < 60 else "tab:blue" for s in shares])
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_xlabel("class mean, % of the exercise's points (red: below 60%)")
    ax.set_title(f"{lab}: where the class struggled")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


def write_report(out: Path, results: list[Result], problems: list[Problem], seconds: float) -> Path:
    """summary.md: per-lab exercise table and chart, per-student totals, problems, tampering."""
    lines = ["# Autograde summary", ""]
    graded = [r for r in results if not r.error]
    fresh = [r for r in graded if not r.resumed]
    lines.append(f"{len(graded)} submission(s) graded ({len(graded) - len(fresh)} from an earlier run), "
                 f"{sum(bool(r.error) for r in results)} failed, {len(problems)} file(s) not graded; "
                 f"{seconds:.0f} s this run" + (f", {sum(r.seconds for r in fresh) / len(fresh):.1f} s per "
                                                 f"submission" if fresh else "") + ".")
    for lab in sorted({r.lab for r in results}):
        rows = class_summary(results, lab)
        if not rows:
            continue
        chart = plot_summary(rows, lab, out / f"summary_{lab}.png")
        lines += ["", f"## {lab}", "", "| exercise | points | class mean | full marks |", "|---|---:|---:|---:|"]
        for row in rows:
            mean, full = summary_cells(row)
            lines.append(f"| {row['exercise']} | {row['max']:g} | {mean} | {full} |")
        lines += ["", f"![class means per exercise]({chart.name})", "", "| student | auto score | flags |",
                  "|---|---:|---|"]
        for r in sorted((r for r in results if r.lab == lab), key=lambda r: r.student):
            auto = [(s, m) for name, (s, m) in r.scores.items() if not name.startswith("written_")]
            score = r.error or f"{sum(s for s, _ in auto):g}/{sum(m for _, m in auto):g}"
            flags = "; ".join(r.tampering) or ("written answer to grade" if r.pending else "")
            lines.append(f"| {r.student} | {score} | {flags} |")
    if problems:
        lines += ["", "## Files not graded", ""] + [f"- `{p.file}`: {p.reason}" for p in problems]
    target = out / "summary.md"
    target.write_text("\n".join(lines) + "\n")
    return target
