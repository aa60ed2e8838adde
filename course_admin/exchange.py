"""`nbgrader collect` without trusting what a student wrote into the exchange.

nbgrader's inbound folder is writable by every student, and its collect (0.9.6) copies an
entry with `shutil.copytree`, which follows links: a student's symbolic or hard link to
the gradebook or to solutions/ became a copy of it in submitted/, then in the sandbox,
autograded/ and feedback/. It also collected an entry named for bob but created by alice
into bob's folder (after a warning), and took the submission time from the entry's name
and timestamp.txt, both written by the student's own process.

`CourseCollect` (configured in nbgrader_config.py as ExchangeFactory.collect, so
`nbgrader collect`, Formgrader's Collect button and the course's own commands all use
it) keeps nbgrader's behaviour (which entry, --update, --before-duedate, the layout of
submitted/) and changes three things:

* files are copied by content through descriptors opened without following links,
  relative to their folder's descriptor: only regular files with one link, owned by the
  student, under the size limit; everything else is refused, recorded, and not copied
  (the rest of the entry is: a student's notebook is not lost for a stray file);
* an entry not owned by the student it names is not collected (unless
  ExchangeCollect.check_owner is False, nbgrader's switch for one-account setups);
* the submission time is the latest inode change time (st_ctime) in the entry: the
  kernel sets it on every change and no user can set it back, so it bounds when the
  collected content was last changed. The claimed times (entry name, timestamp.txt) are
  kept in the record when they disagree.

What was refused and every disagreement about times is merged into
`<course>/collect_log.json`; `collect_notes(course, lab)` turns it into lines for reports.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import fnmatch
import json
import os
import pwd
import shutil
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect, groupby
from nbgrader.utils import check_mode, parse_utc

from course_admin import intake, neutralise
from course_admin.intake import MAX_FILE_MB as MAX_SUBMISSION_MB
from course_admin.intake import STUDENT_ID as _STUDENT_ID

LOG_NAME = "collect_log.json"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's Exchange.timestamp_format, in UTC
DISAGREEMENT_S = 60  # claimed and trusted times further apart than this are reported
MAX_FILES = 1000  # per entry: a lab submission is a notebook and a few small files
MAX_DEPTH = 16  # folder nesting, so a deep tree cannot exhaust the walk
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFDIR: "a folder"}


# ---------------------------------------------------------------- records
@dataclass
class Refusal:
    """A file of an entry that was not copied, and why."""

    path: str  # relative to the entry, as the student named it (cleaned only when shown)
    reason: str


@dataclass
class Collected:
    """What collect did with one student's entry."""

    entry: str
    time: str  # trusted: the latest st_ctime in the entry, nbgrader's format (UTC)
    claimed_name: str | None  # the time in the entry's name, when it parses
    claimed_file: str | None  # the entry's own timestamp.txt, when it parses
    owner_checked: bool
    collected_at: str
    refused: list[Refusal] = field(default_factory=list)


@dataclass
class RefusedEntry:
    """An inbound entry that was not collected at all."""

    entry: str
    student: str  # the student the entry's name claims
    owner: str
    reason: str
    seen_at: str


def _utc(seconds: float) -> datetime.datetime:
    """Naive UTC datetime, as nbgrader's parse_utc returns and the gradebook stores."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).replace(tzinfo=None)


def _format(moment: datetime.datetime) -> str:
    """nbgrader's timestamp format for a naive UTC time ("2025-01-31 12:00:00.000000 UTC")."""
    return moment.replace(tzinfo=datetime.timezone.utc).strftime(TIME_FORMAT)


def _now() -> str:
    return _format(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))


def _parse(text: str | None) -> datetime.datetime | None:
    """A claimed time, or None when it is missing or not a time (a student wrote it)."""
    if not text:
        return None
    try:
        return parse_utc(text.strip()[:64])
    except (ValueError, OverflowError, TypeError):
        return None


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


# ---------------------------------------------------------------- reading an entry safely
@dataclass
class Limits:
    """What one entry may hold."""

    file_bytes: int
    total_bytes: int
    ignore: list[str]
    include: list[str]


@dataclass
class _Walk:
    """State of one entry's copy: refusals, bytes and files so far, latest change time."""

    student_uid: int | None  # None: ownership not checked
    limits: Limits
    refused: list[Refusal] = field(default_factory=list)
    bytes: int = 0
    files: int = 0
    latest_ctime: float = 0.0


def _ignored(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def latest_ctime(folder_fd: int, budget: list[int] | None = None, depth: int = 0) -> float:
    """The latest st_ctime of the folder open as `folder_fd` and of everything under it,
    links and special files included (their own inodes, never what they point at).

    At most `budget[0]` names are looked at (the copy looks at fewer), so a student's
    million-file entry cannot stall the collect; what the copy reads adds its own ctimes."""
    budget = [4 * MAX_FILES] if budget is None else budget
    latest = os.fstat(folder_fd).st_ctime
    for name in _names(folder_fd) or []:
        budget[0] -= 1
        if budget[0] < 0:
            break
        try:
            info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        except OSError:  # removed meanwhile: the folder's own ctime records that
            continue
        latest = max(latest, info.st_ctime)
        if stat.S_ISDIR(info.st_mode) and depth < MAX_DEPTH:
            with _opened(name, _DIR, folder_fd) as child:
                if isinstance(child, int):
                    latest = max(latest, latest_ctime(child, budget, depth + 1))
    return latest


def _names(folder_fd: int) -> list[str] | None:
    """The names in a folder, sorted; None when it cannot be read (a student may make a
    folder of theirs unreadable: that must not stop the collect of the whole class)."""
    try:
        return sorted(os.listdir(folder_fd))
    except OSError:
        return None


@contextlib.contextmanager
def _opened(name: str, flags: int, dir_fd: int) -> Iterator[int | str]:
    """A descriptor for `name` in the folder `dir_fd`, or why it cannot be opened as asked
    (a link: O_NOFOLLOW fails; no permission; removed meanwhile)."""
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as error:
        yield error.strerror or type(error).__name__
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _file_problem(info: os.stat_result, walk: _Walk) -> str | None:
    """Why a file with this stat may not be copied, or None: what any handed-in file is refused
    for (`intake.refusal_of`), then another owner, then the entry's total."""
    problem = intake.refusal_of(info, walk.limits.file_bytes / 2**20)
    if problem:
        return problem
    if walk.student_uid is not None and info.st_uid != walk.student_uid:
        return f"owned by {_owner_name(info.st_uid)}, not the student"
    if walk.bytes + info.st_size > walk.limits.total_bytes:
        return f"the entry's files add up to more than {walk.limits.total_bytes / 2**20:g} MB"
    return None


def _copy_file(name: str, folder_fd: int, target: Path, walk: _Walk) -> str | None:
    """Copy one file by content; return why not, or None. The file is opened without
    following links and without blocking, and the opened descriptor is checked again:
    what was checked by name may have been swapped since (a link, a FIFO, another file)."""
    with _opened(name, _READ, folder_fd) as fd:
        if isinstance(fd, str):
            return f"could not be opened as a plain file ({fd}): a link, or changed while being collected"
        problem = _file_problem(os.fstat(fd), walk)
        if problem:
            return problem
        os.set_blocking(fd, True)
        limit, copied = walk.limits.file_bytes, 0
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:  # at most one byte past the limit: the file may grow while it is read
            while copied <= limit and (chunk := os.read(fd, min(limit + 1 - copied, 1 << 20))):
                os.write(out, chunk)
                copied += len(chunk)
        finally:
            os.close(out)
        after = os.fstat(fd)
        if copied > limit or after.st_nlink > 1:
            target.unlink()
            return "changed while being collected (it grew past the limit or gained a second name)"
        walk.bytes += copied
        walk.latest_ctime = max(walk.latest_ctime, after.st_ctime)
    return None


def copy_entry(folder_fd: int, target: Path, walk: _Walk, relative: str = "", depth: int = 0) -> None:
    """Copy the folder open as `folder_fd` into the new folder `target`, never following a
    link; refusals go to `walk.refused`. Names matching CourseDirectory.ignore are skipped
    as nbgrader skips them (.ipynb_checkpoints, ...)."""
    walk.latest_ctime = max(walk.latest_ctime, os.fstat(folder_fd).st_ctime)
    names = _names(folder_fd)
    if names is None:
        walk.refused.append(Refusal(relative or "./", "the folder could not be read"))
        return
    for name in names:
        path = f"{relative}{name}"
        if _ignored(name, walk.limits.ignore) or (depth == 0 and name == "timestamp.txt"):
            continue  # the entry's timestamp.txt is the student's claim: collect writes its own
        try:
            info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        except OSError:
            continue  # removed meanwhile
        walk.latest_ctime = max(walk.latest_ctime, info.st_ctime)
        is_dir = stat.S_ISDIR(info.st_mode)
        if not is_dir and walk.limits.include and stat.S_ISREG(info.st_mode) and not _ignored(name, walk.limits.include):
            continue  # nbgrader's CourseDirectory.include
        walk.files += 1
        if walk.files > MAX_FILES:
            walk.refused.append(Refusal(path, f"more than {MAX_FILES} files and folders in the entry"))
        elif is_dir:
            _copy_folder(name, path, folder_fd, target, walk, info, depth)
        elif problem := _file_problem(info, walk) or _copy_file(name, folder_fd, target / name, walk):
            walk.refused.append(Refusal(path, problem))


def _copy_folder(name: str, path: str, folder_fd: int, target: Path, walk: _Walk, info: os.stat_result,
                 depth: int) -> None:
    """Copy a subfolder (checked by `info`), opened without following a link."""
    if walk.student_uid is not None and info.st_uid != walk.student_uid:
        walk.refused.append(Refusal(path + "/", f"a folder owned by {_owner_name(info.st_uid)}, not the student"))
    elif depth >= MAX_DEPTH:
        walk.refused.append(Refusal(path + "/", f"folders nested deeper than {MAX_DEPTH}"))
    else:
        with _opened(name, _DIR, folder_fd) as child:
            if isinstance(child, str):
                walk.refused.append(Refusal(path + "/", f"could not be opened as a folder ({child})"))
                return
            (target / name).mkdir()
            copy_entry(child, target / name, walk, path + "/", depth + 1)


def _read_claim(folder_fd: int) -> str | None:
    """The entry's own timestamp.txt (what the student's nbgrader submit wrote), read
    through the same safe open, at most 64 bytes."""
    with _opened("timestamp.txt", _READ, folder_fd) as fd:
        if isinstance(fd, str) or not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, 64).decode("utf-8", errors="replace").strip() or None


# ---------------------------------------------------------------- the collect log
def log_path(course: Path) -> Path:
    return Path(course) / LOG_NAME


@contextlib.contextmanager
def _locked_log(course: Path) -> Iterator[dict]:
    """The collect log for reading and changing, written back atomically (a temporary file
    renamed over it) under a lock on the course folder (the log itself is replaced, so it
    cannot carry the lock), so two collects at once do not lose each other's notes."""
    path = log_path(course)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.is_file() else {}
        yield data
        temporary = path.with_name(f".{LOG_NAME}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
        temporary.replace(path)
    finally:
        os.close(folder)  # releases the lock


def _record(course: Path, lab: str, collected: dict[str, Collected], refused: list[RefusedEntry]) -> None:
    """Merge this run's records into the log: a student's record is replaced by a newer
    collect of theirs; refused entries are kept by name."""
    with _locked_log(course) as data:
        section = data.setdefault("labs", {}).setdefault(lab, {"students": {}, "refused_entries": {}})
        for student, record in collected.items():
            section["students"][student] = asdict(record)
        for entry in refused:
            section["refused_entries"][entry.entry] = asdict(entry)


def clean(text: str, limit: int = 80) -> str:
    """A name a student chose, safe on one line: `neutralise.for_terminal` (control, format
    (bidi), surrogate and separator characters other than a space become escapes), cut to
    `limit`."""
    return neutralise.for_terminal(text, limit)


def _disagreements(record: dict) -> list[str]:
    """The claimed times of a collected entry that are not a time, or are more than
    DISAGREEMENT_S away from the trusted one, as "its name says ..."."""
    trusted = _parse(record["time"])
    found = []
    for what, key in (("its name", "claimed_name"), ("its timestamp.txt", "claimed_file")):
        claim = record.get(key)
        if claim is None or trusted is None:
            continue
        moment = _parse(claim)
        if moment is None or abs((moment - trusted).total_seconds()) > DISAGREEMENT_S:
            found.append(f"{what} says {clean(claim, 40)}")
    return found


def collect_notes(course: Path, lab: str) -> list[str]:
    """One line per entry or file `nbgrader collect` refused for `lab`, per submission whose
    claimed time disagrees with the exchange's record, and one when ownership was not
    checked. Names are cleaned (no control characters or newlines) but not escaped for
    Markdown or HTML: the caller escapes for its format."""
    path = log_path(course)
    section = (json.loads(path.read_text()) if path.is_file() else {}).get("labs", {}).get(lab, {})
    notes = []
    for entry in sorted(section.get("refused_entries", {}).values(), key=lambda e: (e["student"], e["entry"])):
        notes.append(f"{clean(entry['student'])}: inbound entry '{clean(entry['entry'], 120)}' not collected: "
                     f"{clean(entry['reason'], 200)}")
    unchecked = []
    for student, record in sorted(section.get("students", {}).items()):
        for refusal in record["refused"]:
            notes.append(f"{clean(student)}: file '{clean(refusal['path'])}' not collected: {clean(refusal['reason'], 200)}")
        differing = _disagreements(record)
        if differing:
            notes.append(f"{clean(student)}: submission time taken as {record['time']} (the exchange's record of the "
                         f"last change to the entry); {' and '.join(differing)}")
        if not record["owner_checked"]:
            unchecked.append(clean(student))
    if unchecked:
        notes.append("ownership not checked (ExchangeCollect.check_owner is False) for: " + ", ".join(unchecked))
    return notes


# ---------------------------------------------------------------- the collector
class CourseCollect(ExchangeCollect):
    """nbgrader's collect with entries read as hostile input (see the module's docstring)."""

    def _limits(self) -> Limits:
        """MAX_SUBMISSION_MB per file, or nbgrader's max_file_size if smaller (kB as nbgrader
        counts them); nbgrader's max_dir_size for the whole entry."""
        return Limits(file_bytes=min(MAX_SUBMISSION_MB * 2**20, 1000 * self.coursedir.max_file_size),
                      total_bytes=1000 * self.coursedir.max_dir_size,
                      ignore=list(self.coursedir.ignore), include=list(self.coursedir.include or []))

    def _inspect(self, name: str, inbound_fd: int) -> dict | RefusedEntry:
        """nbgrader's record of an inbound entry, with the trusted time, or why it is refused."""
        parts = name.rsplit("+", 3)
        student = parts[0]
        refuse = lambda owner, reason: RefusedEntry(name, student, owner, reason, _now())  # noqa: E731
        try:
            info = os.stat(name, dir_fd=inbound_fd, follow_symlinks=False)
        except FileNotFoundError:
            return refuse("", "removed while being collected")
        owner = _owner_name(info.st_uid)
        if not stat.S_ISDIR(info.st_mode):
            return refuse(owner, f"{_kind(info.st_mode)}, not a folder")
        if len(parts) < 3 or not _STUDENT_ID.fullmatch(student):
            return refuse(owner, "its name is not <student>+<lab>+<time>: not a student id nbgrader can use")
        if self.check_owner and owner != student:
            return refuse(owner, f"it claims to be submitted by {student} but is owned by {owner}")
        with _opened(name, _DIR, inbound_fd) as fd:
            if isinstance(fd, str):
                return refuse(owner, f"could not be opened as a folder ({fd})")
            trusted = _utc(latest_ctime(fd))
            claimed_file = _read_claim(fd)
        claimed_name = parts[2]
        return {"username": student, "filename": name, "timestamp": trusted, "uid": info.st_uid,
                "claimed_name": claimed_name, "claimed_file": claimed_file}

    def init_src(self) -> None:
        """nbgrader's choice of one entry per student (the newest, or the newest before the
        due date with --before-duedate), made on trusted times, among entries that pass."""
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail("Course not found: {}".format(self.inbound_path))
        if not check_mode(self.inbound_path, read=True, execute=True):
            self.fail("You don't have read permissions for the directory: {}".format(self.inbound_path))
        wanted = self.coursedir.student_id if self.coursedir.student_id else "*"
        pattern = "{}+{}+*".format(wanted, self.coursedir.assignment_id)
        self.refused_entries: list[RefusedEntry] = []
        records = []
        inbound_fd = os.open(self.inbound_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.inbound_fd = inbound_fd  # kept open: entries are opened relative to it in copy_files
        for name in sorted(os.listdir(inbound_fd)):
            if not fnmatch.fnmatchcase(name, pattern) or name.rsplit("+", 3)[1:2] != [self.coursedir.assignment_id]:
                continue  # nbgrader's glob; the check on the lab keeps "bob+x+lab1+..." out of lab1
            found = self._inspect(name, inbound_fd)
            if isinstance(found, RefusedEntry):
                self.refused_entries.append(found)
                hint = ("\n(on a one-account set-up, ExchangeCollect.check_owner=False turns this check off)"
                        if found.reason.startswith("it claims") else "")
                self.log.warning("{} not collected: {}; cheating attempt?{}".format(
                    os.path.join(self.inbound_path, clean(name, 200)), clean(found.reason, 200), hint))
            else:
                records.append(found)
        usergroups = groupby(records, lambda item: item["username"])
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self.src_records = []
        for group in usergroups.values():
            ordered = self._sort_by_timestamp(group)
            early = [r for r in ordered if self.duedate is not None and r["timestamp"] <= self.duedate]
            self.src_records.append(early[0] if self.before_duedate and early else ordered[0])

    def copy_files(self) -> None:
        """nbgrader's copy_files, with the copy replaced, written into place by a rename
        (an interrupted collect leaves the previous submission), and the record kept."""
        self.collected: dict[str, Collected] = {}
        try:
            self._copy_all()
        finally:
            os.close(self.inbound_fd)
            if self.collected or self.refused_entries:
                _record(Path(self.coursedir.root), self.coursedir.assignment_id, self.collected, self.refused_entries)

    def _copy_all(self) -> None:
        lab = self.coursedir.assignment_id
        if not self.src_records:
            self.log.warning("No submissions of '{}' for course '{}' to collect".format(lab, self.coursedir.course_id))
        else:
            self.log.info("Processing {} submissions of '{}' for course '{}'".format(
                len(self.src_records), lab, self.coursedir.course_id))
        if not self.check_owner:
            self.log.warning("Ownership of inbound entries is not checked (ExchangeCollect.check_owner=False)")
        for rec in self.src_records:
            student = rec["username"]
            dest = Path(self.coursedir.format_path(self.coursedir.submitted_directory, student, lab))
            dest.parent.mkdir(parents=True, exist_ok=True)
            updating = dest.is_dir()
            if updating:
                existing = self.coursedir.get_existing_timestamp(str(dest))
                newer = self.update and (existing is None or rec["timestamp"] > existing)
                if not (newer or (self.before_duedate and existing != rec["timestamp"])):
                    self.log.info(("No newer submission to collect: {} {}" if self.update else
                                   "Submission already exists, use --update to update: {} {}").format(student, lab))
                    continue
            self.log.info("{} submission: {} {}".format("Updating" if updating else "Collecting", student, lab))
            self.collected[student] = self._collect_one(rec, dest)

    def _collect_one(self, rec: dict, dest: Path) -> Collected:
        """Copy one entry into `dest` (replacing an older collect of it) with the trusted time."""
        walk = _Walk(student_uid=rec["uid"] if self.check_owner else None, limits=self._limits())
        staging = dest.with_name(f".{dest.name}.collecting-{os.getpid()}")
        if staging.exists():
            shutil.rmtree(staging)  # left by an interrupted collect of this process id: ours
        staging.mkdir()
        try:
            with _opened(rec["filename"], _DIR, self.inbound_fd) as fd:
                if isinstance(fd, str):
                    walk.refused.append(Refusal("./", f"the entry could not be opened as a folder ({fd})"))
                else:
                    copy_entry(fd, staging, walk)
        except BaseException:
            shutil.rmtree(staging)  # ours; the previous submission stays as it was
            raise
        for refusal in walk.refused:
            self.log.warning("Not collected from {}: '{}': {}".format(clean(rec["filename"], 200), clean(refusal.path),
                                                                       refusal.reason))
        moment = max(rec["timestamp"], _utc(walk.latest_ctime)) if walk.latest_ctime else rec["timestamp"]
        (staging / "timestamp.txt").write_text(_format(moment))
        self._set_group_perms(staging)
        if dest.exists():
            old = dest.with_name(f".{dest.name}.replaced-{os.getpid()}")
            dest.rename(old)
            staging.rename(dest)
            shutil.rmtree(old)
        else:
            staging.rename(dest)
        return Collected(entry=rec["filename"], time=_format(moment), claimed_name=rec["claimed_name"],
                         claimed_file=rec["claimed_file"], owner_checked=self.check_owner, collected_at=_now(),
                         refused=walk.refused)

    def _set_group_perms(self, folder: Path) -> None:
        """nbgrader's groupshared mode: collected folders and files group-writable."""
        if not self.coursedir.groupshared:
            return
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o2770 if path.is_dir() else 0o660)
