"""Time limits the browser test keeps on a busy machine: scaled to the load, and waits for
conditions, never for a fixed time (imported by conftest.py and test_hub.py; a module of its own so that
nothing imports a conftest by name, which two test folders' conftests would make ambiguous)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def time_scale() -> float:
    """How much slower than idle this machine is now: the load per core over the last 1 and 5
    minutes (the larger), at least 1; COURSE_TEST_TIME_SCALE sets it instead."""
    given = os.environ.get("COURSE_TEST_TIME_SCALE")
    if given:
        return max(1.0, float(given))
    return max(1.0, max(os.getloadavg()[:2]) / (os.cpu_count() or 1))


TIME_SCALE = time_scale()


def seconds(idle: float) -> float:
    """A time limit that holds on this machine: `idle` seconds (enough on an idle 2-core
    machine) times the load's scale."""
    return idle * TIME_SCALE


def wait_until(condition: Callable[[], object], idle_seconds: float, what: str, every: float = 0.5) -> object:
    """`condition()`'s first true value, polled until the scaled limit; AssertionError naming
    `what` when it never comes."""
    deadline = time.monotonic() + seconds(idle_seconds)
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds(idle_seconds):.0f} s (time scale {TIME_SCALE:.1f})")
        time.sleep(every)
