"""Grade a whole class: find the submissions, grade them (in parallel), resume, report.

``course autograde`` calls :func:`collect` then :func:`grade_batch`; ``course report``
calls :func:`write_reports` alone. Grading itself is nbgrader's, in the course root
(`pipeline.Workspace`, with the protection `nbgrader_config.py` configures); this module
decides what to grade, keeps going when a submission is broken, and reports from the
gradebook, so grades given by hand in Formgrader appear in the reports too.

A submission is graded at most once per content: a marker under ``<out>/progress/``
records the file's SHA-256 once it is graded, so re-running the same command after an
interruption (Ctrl-C) grades only what is missing; a changed file, and a submission whose
grading failed, are graded again.
"""

from __future__ import annotations

import concurrent.futures
import csv
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

from course_admin import exchange, gradebook, intake, neutralise, pipeline
from course_admin.neutralise import for_csv

MAX_SUBMISSION_MB = intake.MAX_FILE_MB  # anything larger is refused
_FLAT_NAME = re.compile(r"^(?P<student>.+?)_(?P<lab>lab\d+_[a-z_]+)\.ipynb$")
NBGRADER_FILES = intake.NBGRADER_FILES
_STUDENT_ID = intake.STUDENT_ID


@dataclass
class Submission:
    student: str
    lab: str
    path: Path  # the notebook as collected: a private copy when collect was given a snapshot folder
    timestamp: str | None = None  # from the course's own collect (timestamp.txt in its submitted/)
    origin: str = ""  # where it was found, relative to the batch folder


@dataclass
class Problem:
    """A file that was not graded, and why (in words an instructor can act on); `student` is
    the student whose folder held it, when that is someone to look at."""

    file: str
    reason: str
    student: str = ""


@dataclass
class Result:
    student: str
    lab: str
    seconds: float = 0.0
    error: str = ""  # why grading failed, when it did
    resumed: bool = False  # graded by an earlier run of the same batch


# ---------------------------------------------------------------- finding submissions
# What `unpack` writes from a .zip (a 2.2 MB zip bomb wrote 2.14 GB to /tmp before these).
# Sizes are counted as the bytes come out, not taken from the archive's directory, which lies.
MAX_UNZIPPED_MB = 2048  # in all: 500 students' notebooks of 4 MB each
MAX_ZIP_MEMBERS = 20000
MAX_ZIP_RATIO = 200  # a notebook deflates 3 to 20 times; a bomb thousands of times
_RATIO_FROM_BYTES = 2**20  # small members may compress well without harm


class ZipRefused(ValueError):
    """A .zip whose extraction would exceed a limit; says which and what to do."""


def unpack(source: Path, scratch: Path, skipped: list[Problem] | None = None) -> Path:
    """The folder to search: `source` itself, or a .zip of it extracted under `scratch`.

    A member larger than a submission may be (`MAX_SUBMISSION_MB`) is not extracted (it could
    not be graded) and goes to `skipped`; a zip with more than `MAX_ZIP_MEMBERS` members,
    more than `MAX_UNZIPPED_MB` in all, or a member that inflates more than `MAX_ZIP_RATIO`
    times is refused (`ZipRefused`), before or while extracting, whatever its directory says."""
    if source.is_dir() or source.suffix.lower() != ".zip":
        return source
    target = scratch / "unzipped"
    with zipfile.ZipFile(source) as archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise ZipRefused(f"{len(members)} files in the archive, above the limit of {MAX_ZIP_MEMBERS}: "
                             "unzip it yourself and grade the folder")
        for member in members:
            destination = (target / member.filename).resolve()
            if not destination.is_relative_to(target.resolve()):  # "../" in a name: zip slip
                raise ValueError(f"{source.name}: refusing the unsafe path {member.filename!r}")
        total = 0
        for member in members:
            destination = target / member.filename
            if member.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                continue
            if member.file_size > MAX_SUBMISSION_MB * 2**20:
                if skipped is not None:
                    skipped.append(Problem(_printable(member.filename, 300), f"{member.file_size / 2**20:.0f} MB in "
                                           f"the zip, above the {MAX_SUBMISSION_MB} MB limit: not extracted"))
                continue
            try:
                total = _extract(archive, member, destination, total)
            except OSError as error:  # a name twice, a file where a folder should be
                raise ZipRefused(f"cannot extract {_printable(member.filename, 100)!r} ({error.strerror}): "
                                 "unzip it yourself and grade the folder") from None
    return target


def _extract(archive: zipfile.ZipFile, member: zipfile.ZipInfo, destination: Path, total: int) -> int:
    """Write one member, counting the bytes as they inflate; the bytes extracted so far in all."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(member) as packed, open(destination, "xb") as out:
        while chunk := packed.read(2**20):
            written += len(chunk)
            total += len(chunk)
            if written > MAX_SUBMISSION_MB * 2**20 + 2**20:  # its directory entry said less
                raise ZipRefused(f"{member.filename!r} inflates past what the archive declares: a damaged "
                                 "or hostile zip; not extracted")
            if written > _RATIO_FROM_BYTES and written > MAX_ZIP_RATIO * max(member.compress_size, 1):
                raise ZipRefused(f"{member.filename!r} inflates more than {MAX_ZIP_RATIO} times (a zip bomb?): "
                                 "the archive is not extracted")
            if total > MAX_UNZIPPED_MB * 2**20:
                raise ZipRefused(f"the archive holds more than {MAX_UNZIPPED_MB} MB: unzip it yourself "
                                 "(or split it) and grade the folder")
            out.write(chunk)
    return total


def _lab_of_name(relative: Path, labs: Iterable[str]) -> tuple[str, str, int | None] | None:
    """(student, lab, index of the student's folder in the path or None) from a submission's
    path relative to the batch folder, at any depth (an LMS zip often wraps everything in one
    folder): `<student>_<lab>.ipynb`, or `<lab>.ipynb` in the student's folder
    (`<student>/<lab>.ipynb`, `<student>/<lab>/<lab>.ipynb`, nbgrader collect's
    `submitted/<student>/<lab>/<lab>.ipynb`); a lone `<lab>.ipynb` is one learner's own
    notebook ("me")."""
    labs = set(labs)
    match = _FLAT_NAME.match(relative.name)
    if match and match["lab"] in labs:
        return match["student"], match["lab"], None
    stem = relative.name.removesuffix(".ipynb")
    if relative.suffix == ".ipynb" and stem in labs:
        folders = [i for i, part in enumerate(relative.parts[:-1]) if part != stem]
        return (relative.parts[folders[-1]], stem, folders[-1]) if folders else ("me", stem, None)
    return None


def _grade_ids(nb: nbformat.NotebookNode) -> set[str]:
    return {cell.metadata.get("nbgrader", {}).get("grade_id", "") for cell in nb.cells} - {""}


def _read_notebook(path: Path, max_mb: float) -> tuple[nbformat.NotebookNode, bytes] | str:
    """The notebook and its bytes (read once, without following a link), or why it cannot be graded."""
    try:
        data = intake.read_bytes(path, max_mb)
    except intake.Refused as refused:
        return f"refused: {refused}"
    if not data:
        return "the file is empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "the file is not text (is it a notebook?)"
    too_much = intake.notebook_refusal(text)
    if too_much:
        return f"refused: {too_much}"
    try:
        json.loads(text)
    except RecursionError:  # (refused above; kept so that no notebook can end the batch)
        return "refused: its JSON nests too deeply to read"
    except json.JSONDecodeError as error:
        return f"the file is not valid JSON (line {error.lineno}: {error.msg}); was it edited by hand or truncated?"
    try:
        return nbformat.reads(text, as_version=4), data
    except Exception as error:  # nbformat raises several types for malformed notebooks
        return f"the file is JSON but not a Jupyter notebook ({type(error).__name__})"


def _timestamp(path: Path) -> str | None:
    """The submission time the course's own collect wrote beside the notebook (timestamp.txt)."""
    try:
        text = intake.read_bytes(path.parent / "timestamp.txt", 0.01).decode(errors="replace").strip()[:64]
    except (intake.Refused, OSError):
        return None
    return text or None


@dataclass
class _Found:
    student: str
    lab: str
    relative: Path
    folder: tuple[str, ...] | None  # the student's folder (path parts), when the path has one
    notebook: nbformat.NotebookNode
    data: bytes


def _inside(found: _Found, folder: tuple[str, ...]) -> bool:
    return len(found.relative.parts) > len(folder) and found.relative.parts[:len(folder)] == folder


def collect(source: Path, labs: list[str], root: Path | None = None, max_mb: float = MAX_SUBMISSION_MB,
            snapshot: Path | None = None, trusted_times: bool = False) -> tuple[list[Submission], list[Problem]]:
    """Submissions for `labs` under `source` (a folder or one notebook), and the files
    that cannot be graded, with the reason for each.

    Files are read by content, never through a link (`intake`). A student's folder submits
    for that student only: a notebook in it that names someone else is refused, and two
    notebooks that map to one student's lab are both refused (which is the real one is not
    for the grader to guess). With `snapshot`, each accepted notebook is copied there at once
    and graded from that copy, so nothing that later happens to `source` changes what is
    graded. `trusted_times`: `source` is the course's own submitted/ folder, whose
    timestamp.txt files the course's collect wrote; anywhere else they are the student's
    and are refused.
    """
    all_ids = {lab: _grade_ids(nbformat.read(pipeline.lab_notebook(lab, root=root), as_version=4))
               for lab in pipeline.finished_labs(root)}
    # Links and special files are refused whatever their name; size matters for notebooks only.
    if source.is_file() or source.is_symlink():
        folder, entries = source.parent, [(source, intake.refusal(source, float("inf")))]
    else:
        folder, entries = source, list(intake.walk(source, float("inf")))
    found: list[_Found] = []
    problems: list[Problem] = []
    for path, refused in entries:
        relative = path.relative_to(folder)
        if any(part.startswith(".") or part == "__MACOSX" for part in relative.parts):
            continue
        shown = _printable(str(relative), 300)
        if path.name in NBGRADER_FILES:
            if not trusted_times:
                problems.append(Problem(shown, "grading metadata handed in with the submission: refused and not "
                                        "used (only the course's own collect writes it)", _owner(relative, all_ids)))
            continue
        name = _lab_of_name(relative, all_ids)
        if refused and name is None:
            problems.append(Problem(shown, f"refused: {refused}", _owner(relative, all_ids)))
            continue
        if name is None:
            problems.append(Problem(shown, "file name not recognised: expected <student>/<lab>.ipynb "
                                    "or <student>_<lab>.ipynb, e.g. alice_" + labs[0] + ".ipynb"))
            continue
        student, lab, index = name
        if not _STUDENT_ID.fullmatch(student):
            problems.append(Problem(shown, f"the student name {_printable(student)!r} has characters nbgrader "
                                           "cannot use as an id (use letters, digits, _ . @ -)"))
            continue
        nb = _read_notebook(path, max_mb)
        if isinstance(nb, str):
            if lab in labs:  # another lab's broken file is that lab's business
                problems.append(Problem(shown, nb, student))
            continue
        folder_parts = relative.parts[:index + 1] if index is not None else None
        found.append(_Found(student, lab, relative, folder_parts, *nb))
    accepted = _one_owner(found, problems, labs)
    submissions = []
    for item in accepted:
        if item.lab not in labs:
            continue  # another lab's notebook: it counted for the folders above, it is not graded now
        lab_ids = all_ids[item.lab]
        ids = _grade_ids(item.notebook)
        if not ids & lab_ids:
            other = max(all_ids, key=lambda name: len(ids & all_ids[name]))
            reason = (f"this is the notebook of {other}, not {item.lab}" if ids & all_ids[other]
                      else "no graded cells found: not a course notebook, or its cell metadata was removed")
            problems.append(Problem(_printable(str(item.relative), 300), reason, item.student))
            continue
        path = folder / item.relative
        if snapshot is not None:
            path = snapshot / item.lab / f"{item.student}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(item.data)
        stamp = _timestamp(folder / item.relative) if trusted_times else None
        submissions.append(Submission(item.student, item.lab, path, stamp, str(item.relative)))
    return submissions, problems


def _one_owner(found: list[_Found], problems: list[Problem], labs: list[str]) -> list[_Found]:
    """The notebooks that submit for their own student only; the others, of `labs`, go to
    `problems`. Every lab's notebooks tell which folders are students' folders."""
    folders = {item.folder: item.student for item in found if item.folder is not None}
    accepted: list[_Found] = []
    for item in found:
        host = next((owner for folder, owner in folders.items() if owner != item.student and _inside(item, folder)),
                    None)
        if host is None:
            accepted.append(item)
        elif item.lab in labs:
            problems.append(Problem(_printable(str(item.relative), 300), f"in {host}'s folder but names "
                                    f"{item.student}: refused (a student's folder submits for that student only)", host))
    by_key: dict[tuple[str, str], list[_Found]] = {}
    for item in accepted:
        by_key.setdefault((item.student, item.lab), []).append(item)
    kept = []
    for (student, lab), items in by_key.items():
        if len(items) == 1:
            kept += items
            continue
        where = ", ".join(_printable(str(i.relative), 100) for i in items)
        for item in items if lab in labs else []:
            problems.append(Problem(_printable(str(item.relative), 300), f"{len(items)} {lab} notebooks map to "
                                    f"{student} ({where}): none graded; keep one and grade again", student))
    return kept


def _owner(relative: Path, labs: Iterable[str]) -> str:
    """The student whose folder holds `relative`, as far as its path tells (else "")."""
    labs = set(labs)
    folders = [part for part in relative.parts[:-1] if part not in labs]
    return folders[-1] if folders and _STUDENT_ID.fullmatch(folders[-1]) else ""


def _printable(text: str, limit: int = 40) -> str:
    """`text` on one line, its control characters shown as escapes (a name can hold ESC or a
    newline), cut to `limit`: `neutralise.for_terminal`."""
    return neutralise.for_terminal(text, limit)


# ---------------------------------------------------------------- output folders
OUTPUT_MARKER = ".course-output"
# What the reports write: a folder holding only these was made by an earlier version.
_REPORT_NAMES = re.compile(r"^(grades\.csv|summary\.md|problems\.json|progress|summary_.*\.png|course)$")


class OutputRefused(RuntimeError):
    """An output folder that holds what the course did not make; the message says what to do."""


def claim_output(folder: Path, command: str) -> Path:
    """`folder`, made the course's output folder (a marker file inside says so). Refuses a
    link, a file, and a folder that holds anything the course did not make: the course
    overwrites and deletes only what it made."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise OutputRefused(f"{folder} is not a folder the course made; give another --out")
    marker = folder / OUTPUT_MARKER
    if folder.is_dir() and not marker.is_file():
        foreign = sorted(p.name for p in folder.iterdir() if not _REPORT_NAMES.match(p.name))
        if foreign:
            raise OutputRefused(f"{folder} already holds files the course did not make ({', '.join(foreign[:3])}"
                                f"{', ...' if len(foreign) > 3 else ''}): give --out an empty or new folder")
    folder.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        marker.write_text(f"Made by `{command}`: the course may replace or delete what is in this folder.\n")
    return folder


# ---------------------------------------------------------------- grading
@dataclass
class Options:
    jobs: int = 1
    cell_timeout: int | None = None
    memory_limit_mb: int | None = None
    sandbox: bool = True
    db_url: str | None = None
    cluster: str | None = None  # a Dask scheduler's address (or scheduler file): grade on its workers


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
    """Give each of `jobs` parallel graders its share of the cores: the grading process and
    its kernel each use that many threads (CourseExecute reads COURSE_GRADING_JOBS).

    torch and numpy start one thread per core by default; two kernels with two threads each
    on two cores wait on each other at every parallel region and run several times slower
    than one kernel after the other.
    """
    os.environ["COURSE_GRADING_JOBS"] = str(jobs)
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = threads


def _workspace(course: Path, options: Options) -> pipeline.Workspace:
    return pipeline.Workspace(course, db_url=options.db_url, cell_timeout=options.cell_timeout,
                              memory_limit_mb=options.memory_limit_mb, sandbox=options.sandbox)


def _grade_one(course: Path, out: Path, lab: str, student: str, digest: str, options: Options) -> Result | None:
    """Autograde one submitted notebook and write its feedback; runs in a worker process."""
    _share_cores(options.jobs)
    workspace = _workspace(course, options)
    result = Result(student, lab)
    start = time.perf_counter()
    try:
        workspace.autograde(lab, student)
        workspace.feedback(lab, student)
    except pipeline.GradingFailed as error:
        result.error = str(error)
        # the reason goes into the gradebook too: a report from another course root shows it
        gradebook.fail(workspace.db_url, lab, student, digest, result.error)
    result.seconds = round(time.perf_counter() - start, 1)
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


_stop = threading.Event()  # set by Ctrl-C, in the main process and in each worker


def _request_stop(signum: int, frame: object) -> None:
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
    previous = signal.signal(signal.SIGINT, _request_stop)
    try:
        for result in _run(course, out, todo, options):
            results.append(result)
            if progress:
                progress(result)
    finally:
        signal.signal(signal.SIGINT, previous)
    if _stop.is_set():
        raise Interrupted(f"{len(results)} of {len(submissions)} submission(s) graded")
    return results


def _run(course: Path, out: Path, todo: list, options: Options) -> Iterator[Result]:
    if options.cluster:  # each submission to a worker of the Dask cluster (course_admin.cluster)
        from course_admin import cluster

        yield from cluster.grade(course, out, todo, options, stop=_stop)
        return
    if options.jobs <= 1:
        for submission, digest in todo:
            if _stop.is_set():
                return
            result = _grade_one(course, out, submission.lab, submission.student, digest, options)
            if result is not None:
                yield result
        return
    # Workers share the gradebook (SQLite, with a lock timeout); "spawn" gives each a
    # clean interpreter (no forked ZMQ or torch threads).
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=options.jobs, mp_context=context,
                                                initializer=_listen_for_ctrl_c) as pool:
        pending = {pool.submit(_grade_one, course, out, s.lab, s.student, digest, options) for s, digest in todo}
        while pending:
            done, pending = concurrent.futures.wait(pending, timeout=0.5,
                                                    return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                if future.result() is not None:
                    yield future.result()
            if _stop.is_set():
                for future in pending:
                    future.cancel()  # not started yet; the running ones stop without a marker


# ---------------------------------------------------------------- reports (from the gradebook)
@dataclass
class Row:
    """One student's notebook of one lab, as the reports show it."""

    lab: str
    student: str
    graded: bool
    reason: str = ""  # why it was not graded
    scores: list[pipeline.ExerciseScore] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    late_penalty: float = 0.0
    timestamp: str = ""

    @property
    def auto(self) -> tuple[float, float]:
        auto = [s for s in self.scores if not s.manual]
        return sum(s.score for s in auto), sum(s.max_score for s in auto)

    @property
    def total(self) -> tuple[float, float]:
        """(points so far, points graded so far): written answers still to grade are out."""
        done = [s for s in self.scores if not s.pending]
        return max(sum(s.score for s in done) - self.late_penalty, 0.0), sum(s.max_score for s in done)

    @property
    def pending(self) -> list[str]:
        return [s.exercise for s in self.scores if s.pending]


def rows(workspace: pipeline.Workspace, out: Path, labs: list[str]) -> list[Row]:
    """Every submission the gradebook or the last runs know, graded or not, with its scores."""
    found = []
    for lab in labs:
        students = set(workspace.students(lab))
        saved = saved_results(out, lab)
        for student in sorted(students | set(saved)):
            if workspace.graded(lab, student):  # the gradebook's record, whichever machine graded
                found.append(Row(lab, student, True, scores=workspace.exercise_scores(lab, student),
                                 flags=workspace.flags(lab, student), late_penalty=workspace.late_penalty(lab, student),
                                 timestamp=workspace.timestamp(lab, student)))
            else:
                error = workspace.not_graded_reason(lab, student) or (saved[student].error if student in saved else "")
                found.append(Row(lab, student, False, reason=error or "not autograded yet (or its autograding "
                                 "failed outside `course autograde`: see nbgrader's log)"))
    return found


def export_grades(found: list[Row], target: Path) -> Path:
    """grades.csv: one row per submission. A notebook that was not graded has no score (its
    status says why), so it can never be mistaken for a zero; written answers still to
    grade are named and left out of the score."""
    with open(target, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["assignment", "student_id", "timestamp", "status", "score", "max_score",
                         "auto_score", "auto_max_score", "late_penalty", "to_grade"])
        for row in found:
            if not row.graded:
                writer.writerow([row.lab, for_csv(row.student), for_csv(row.timestamp), for_csv(f"not graded: {row.reason}"),
                                 "", "", "", "", "", ""])
                continue
            (score, top), (auto, auto_top) = row.total, row.auto
            status = "graded" + (", written answers to grade" if row.pending else "")
            writer.writerow([row.lab, for_csv(row.student), for_csv(row.timestamp), status, f"{score:g}", f"{top:g}",
                             f"{auto:g}", f"{auto_top:g}", f"{row.late_penalty:g}", for_csv(" ".join(row.pending))])
    return target


def class_summary(found: list[Row], lab: str) -> list[dict]:
    """Per exercise: max points, class mean, and how many students got full marks."""
    graded = [r for r in found if r.lab == lab and r.graded]
    if not graded:
        return []
    summary = []
    for first in graded[0].scores:
        scores = [next(s for s in r.scores if s.exercise == first.exercise) for r in graded]
        earned = [s.score for s in scores if not s.pending]
        row = {"exercise": first.exercise, "max": first.max_score, "n": len(earned),
               "to_grade": sum(s.pending for s in scores)}
        row.update(mean=sum(earned) / len(earned), full=sum(e == first.max_score for e in earned)) if earned \
            else row.update(mean=None, full=None)
        summary.append(row)
    return summary


def summary_cells(row: dict) -> tuple[str, str]:
    """(class mean, full marks) of one `class_summary` row, as the table and report show them."""
    pending = f"; {row['to_grade']} answer(s) still to grade" if row.get("to_grade") else ""
    if row["mean"] is None:
        return "to grade" + pending, ""
    return f"{row['mean']:.2f} ({100 * row['mean'] / row['max']:.0f}%)" + pending, f"{row['full']}/{row['n']}"


def plot_summary(summary: list[dict], lab: str, target: Path) -> Path:
    """Bar chart of the class's mean score per exercise, as a share of its points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = [r for r in summary if r["mean"] is not None]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(summary) + 1.2))
    shares = [100 * r["mean"] / r["max"] if r["max"] else 0 for r in summary]
    ax.barh([r["exercise"] for r in summary], shares, color=["tab:red" if s < 60 else "tab:blue" for s in shares])
    ax.set_xlim(0, 100)
    ax.invert_yaxis()
    ax.set_xlabel("class mean, % of the exercise's points (red: below 60%)")
    ax.set_title(f"{lab}: where the class struggled")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


def _cell(text: str) -> str:
    """Text safe inside a summary.md table cell or list item: `neutralise.for_markdown`."""
    return neutralise.for_markdown(text)


def write_report(out: Path, found: list[Row], problems: list[Problem], run: str = "",
                 collected: dict[str, list[str]] | None = None) -> Path:
    """summary.md: per lab, the exercise table and chart, each student's score and flags,
    every notebook and file that was not graded with the reason, and what nbgrader's collect
    refused or dated differently from the student's claim (`collected`: lines per lab)."""
    lines = ["# Autograde summary", ""]
    graded = [r for r in found if r.graded]
    lines.append(f"{len(graded)} notebook(s) graded, {len(found) - len(graded)} not graded, "
                 f"{len(problems)} file(s) not recognised as submissions." + (f" {run}" if run else ""))
    for lab in sorted({r.lab for r in found} | {lab for lab, notes in (collected or {}).items() if notes}):
        summary = class_summary(found, lab)
        lines += ["", f"## {lab}", ""]
        if summary:
            chart = plot_summary(summary, lab, out / f"summary_{lab}.png")
            lines += ["| exercise | points | class mean | full marks |", "|---|---:|---:|---:|"]
            for row in summary:
                mean, full = summary_cells(row)
                lines.append(f"| {_cell(row['exercise'])} | {row['max']:g} | {mean} | {full} |")
            lines += ["", f"![class means per exercise]({chart.name})", ""]
        lines += ["| student | score | tests | status and flags |", "|---|---:|---:|---|"]
        for r in sorted((r for r in found if r.lab == lab), key=lambda r: r.student):
            if not r.graded:
                lines.append(f"| {_cell(r.student)} | | | **not graded**: {_cell(r.reason)} |")
                continue
            (score, top), (auto, auto_top) = r.total, r.auto
            notes = ([f"written answer to grade: {', '.join(r.pending)}"] if r.pending else []) + \
                ([f"late: -{r.late_penalty:g}"] if r.late_penalty else []) + r.flags
            lines.append(f"| {_cell(r.student)} | {score:g}/{top:g} | {auto:g}/{auto_top:g} | "
                         f"{_cell('; '.join(notes))} |")
        notes = (collected or {}).get(lab, [])
        if notes:
            lines += ["", f"Collect (nbgrader's exchange) for {lab}:", ""] + [f"- {_cell(note)}" for note in notes]
        missing = [r for r in found if r.lab == lab and not r.graded]
        if missing:
            lines += ["", f"Not graded ({len(missing)}): " + "; ".join(f"{_cell(r.student)} ({_cell(r.reason)})" for r in missing)
                      + ". Run `course autograde` again to retry them."]
    if problems:
        lines += ["", "## Files not graded", ""] + [f"- {_cell(p.file)}: {_cell(p.reason)}" for p in problems]
    target = out / "summary.md"
    target.write_text("\n".join(lines) + "\n")
    return target


def save_problems(out: Path, problems: list[Problem]) -> None:
    (out / "problems.json").write_text(json.dumps([asdict(p) for p in problems], indent=1))


def load_problems(out: Path) -> list[Problem]:
    path = out / "problems.json"
    return [Problem(**p) for p in json.loads(path.read_text())] if path.is_file() else []


def write_reports(workspace: pipeline.Workspace, out: Path, labs: list[str], run: str = "") -> tuple[Path, Path, list[Row]]:
    """grades.csv and summary.md (with charts) from the gradebook, as it is now."""
    out.mkdir(parents=True, exist_ok=True)
    found, problems = rows(workspace, out, labs), load_problems(out)
    for problem in problems:  # a refused file in a student's folder is worth a look at that student
        for row in found:
            if problem.student and row.student == problem.student and row.graded:
                row.flags.append(f"a file in their folder was not graded: {problem.file}: {problem.reason}")
    collected = {lab: exchange.collect_notes(workspace.path, lab) for lab in labs}
    return export_grades(found, out / "grades.csv"), write_report(out, found, problems, run, collected), found
