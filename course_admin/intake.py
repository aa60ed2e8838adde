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
# Files nbgrader's exchange keeps beside a collected notebook: grading metadata, which only the
# course's own collect may write (a student who writes timestamp.txt chooses their own time).
NBGRADER_FILES = frozenset({"timestamp.txt", "submission_secret.txt"})
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


# What one notebook may hold (the labs have at most 70 cells, 6 levels of JSON and no
# attachments): past these a notebook is refused before anything parses or runs it. A 260 KB
# notebook nesting 100,000 deep crashed the batch; 10,000 cells or a 14 MB attachment made one
# notebook take 440 s instead of 27 s and a 20 MB feedback page.
MAX_NOTEBOOK_DEPTH = 100
MAX_NOTEBOOK_CELLS = 1000
MAX_ATTACHMENT_MB = 5  # all the cells' pasted images together


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # (unrolled: linear time)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth_exceeds(text: str, limit: int = MAX_NOTEBOOK_DEPTH) -> bool:
    """Whether JSON `text` nests more than `limit` deep, found without parsing it (the parser
    recurses, and Python's recursion ends in an error at about a thousand levels)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = 0
    for char in brackets:
        depth += 1 if char in "[{" else -1
        if depth > limit:
            return True
    return False


def _depth_exceeds(value: object, limit: int = MAX_NOTEBOOK_DEPTH) -> bool:
    """Whether a parsed JSON value nests more than `limit` deep (without recursing)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack += [(child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return False


def content_refusal(content: object) -> str | None:
    """Why a parsed notebook must not be graded (too deep, too many cells, too large
    attachments), in words an instructor can pass on; None when it is within the limits."""
    import json

    if _depth_exceeds(content):
        return f"its JSON nests more than {MAX_NOTEBOOK_DEPTH} levels deep (a notebook has about 10): refused"
    cells = content.get("cells") if isinstance(content, dict) else None
    if not isinstance(cells, list):
        return None
    if len(cells) > MAX_NOTEBOOK_CELLS:
        return f"{len(cells)} cells, above the limit of {MAX_NOTEBOOK_CELLS} (a lab has about 70): refused"
    attached = sum(len(json.dumps(cell.get("attachments") or {})) for cell in cells if isinstance(cell, dict))
    if attached > MAX_ATTACHMENT_MB * 2**20:
        return (f"{attached / 2**20:.1f} MB of images pasted into cells, above the {MAX_ATTACHMENT_MB} MB limit: "
                "refused (link the images, or make them smaller)")
    return None


def depth_refusal(text: str) -> str | None:
    """Why the JSON `text` must not even be parsed (it nests too deep), or None."""
    if json_depth_exceeds(text):
        return (f"its JSON nests more than {MAX_NOTEBOOK_DEPTH} levels deep (a notebook has about 10): "
                "refused, not parsed")
    return None


def notebook_refusal(text: str) -> str | None:
    """Why the notebook JSON `text` must not be graded (see `content_refusal`); the depth is
    checked before parsing. None when it is within the limits, or is not JSON at all (the
    caller says so in its own words)."""
    import json

    too_deep = depth_refusal(text)
    if too_deep:
        return too_deep
    try:
        content = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return content_refusal(content)
