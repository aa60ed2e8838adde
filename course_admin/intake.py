"""Files that enter the course from students, read by what they are and never followed.

A student chooses what a submission folder holds: a symbolic link or a hard link to the
grader's gradebook, a FIFO that blocks whoever opens it, a device, a file of many gigabytes.
Every place where a handed-in file enters the course (an LMS export, nbgrader's collected
folder, the sandbox's working folder) asks `refusal` first and reads with `read_bytes`, which
opens the file without following a link and checks the opened file again (a file swapped
for a link between the check and the open is refused too).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

MAX_FILE_MB = 20  # a notebook with outputs is well under 5 MB
# A student id as nbgrader stores it: no whitespace or control character (nbgrader strips a
# trailing newline, and "alice\n" would grade as alice); use with fullmatch.
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}")


class Refused(ValueError):
    """A handed-in file that is not an ordinary file of a reasonable size; says why."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link (links are never followed)"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    return "not an ordinary file"


def refusal_of(info: os.stat_result, max_mb: float = MAX_FILE_MB) -> str | None:
    """Why a file with this `lstat` (or `fstat`) must not be read; None for an ordinary file."""
    if not stat.S_ISREG(info.st_mode):
        return _kind(info.st_mode)
    if info.st_nlink > 1:  # its content is also another file's, maybe one the student may not read
        return "a hard link (it shares its content with another file)"
    if info.st_size > max_mb * 2**20:
        return f"{info.st_size / 2**20:.1f} MB, above the {max_mb:g} MB limit"
    return None


def refusal(path: Path, max_mb: float = MAX_FILE_MB) -> str | None:
    """Why the file at `path` must not be read (None when it is an ordinary file)."""
    try:
        return refusal_of(os.lstat(path), max_mb)
    except OSError as error:
        return f"cannot be read ({error.strerror})"


def read_bytes(path: Path, max_mb: float = MAX_FILE_MB) -> bytes:
    """The content of the ordinary file at `path`; raises `Refused` for anything else.

    O_NOFOLLOW refuses a link in the last component, O_NONBLOCK keeps a FIFO swapped in after
    the check from blocking the open, and the opened file is checked again with fstat.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise Refused(refusal(path, max_mb) or f"cannot be read ({error.strerror})") from None
    try:
        problem = refusal_of(os.fstat(descriptor), max_mb)
        if problem:
            raise Refused(problem)
        limit = int(max_mb * 2**20)
        chunks, size = [], 0
        while chunk := os.read(descriptor, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # it grew after the check
                raise Refused(f"above the {max_mb:g} MB limit")
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def walk(folder: Path, max_mb: float = MAX_FILE_MB) -> Iterator[tuple[Path, str | None]]:
    """Every entry under `folder` except folders, sorted, without following links: (path,
    why it is refused or None). A link to a folder is an entry (refused), not a folder."""
    for parent, folders, files in os.walk(folder, followlinks=False):
        folders.sort()
        for name in sorted(files + [f for f in folders if os.path.islink(os.path.join(parent, f))]):
            path = Path(parent, name)
            yield path, refusal(path, max_mb)
