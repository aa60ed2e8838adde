"""Where a notebook's grading time goes: seconds per phase, recorded in the grading process only.

The grading steps add their seconds here (`phase`, `add`): the kernel's start, the notebook's
cells, the lab's set-up and the tests (`course_admin.execute`), each of nbgrader's own
preprocessors (`execute.CourseNotebookExporter`), nbgrader's autograde and feedback as a whole
(`course_admin.batch`). `take` hands the figures of one notebook to its `batch.Result`, from
where the class benchmark (`benchmarks.labs.batch_rate`) prints them. Nothing here runs in
the student's kernel or costs more than a clock read per step.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

# Phase names, shared by the code that records them and the benchmark that prints them.
KERNEL_START = "kernel start"  # the sandbox, ipykernel and torch until the kernel answers (a warm one: the wait)
CELLS = "notebook cells"  # the submission's own cells in its kernel
SETUP = "lab set-up"  # the lab's set-up cells in the grading process (a thread, beside the kernel's start)
TESTS = "tests"  # the course's test cells and their calls into the kernel
AUTOGRADE = "autograde"  # nbgrader's autograde of the notebook, every step above included
FEEDBACK = "feedback"  # nbgrader's feedback page
PREPROCESSOR = "nbgrader: "  # prefix of each nbgrader preprocessor's own seconds ("nbgrader: SaveAutoGrades")

_lock = threading.Lock()
_seconds: dict[str, float] = {}


def add(name: str, seconds: float) -> None:
    """Count `seconds` towards phase `name` of the notebook being graded (any thread)."""
    with _lock:
        _seconds[name] = _seconds.get(name, 0.0) + seconds


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the time the block takes towards phase `name` (also when it raises)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - start)


def take() -> dict[str, float]:
    """The phases recorded since the last `take` (seconds, rounded to 10 ms), and a fresh start."""
    with _lock:
        found = {name: round(seconds, 2) for name, seconds in _seconds.items()}
        _seconds.clear()
    return found
