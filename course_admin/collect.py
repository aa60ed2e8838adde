"""Finding a class's submissions: which notebook is whose, for which lab, and what cannot be graded.

``course autograde`` calls :func:`collect` (after :func:`unpack` for a .zip) on a folder of
submissions as an LMS or nbgrader's collect leaves it. What it accepts is graded by
`course_admin.batch`; what it refuses goes to the reports (`course_admin.reports`) with the
reason, in words an instructor can act on. Files are read by content, never through a link
(`course_admin.intake`), and a student's folder submits for that student only.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_admin import intake, labformat, neutralise, pipeline

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
    all_ids = {lab: labformat.grade_ids(nbformat.read(pipeline.lab_notebook(lab, root=root), as_version=4))
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
        ids = labformat.grade_ids(item.notebook)
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
