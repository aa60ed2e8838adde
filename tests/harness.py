"""Run one lab's exercise tests in-process against candidate implementations.

The notebooks' test cells are self-contained (they import what they use and build their
own inputs), so a candidate function can be graded in a fresh namespace in milliseconds,
without a kernel. tests/test_answers.py uses this for the catalogue of wrong and
alternative answers; the nbgrader tests check that real autograding agrees.

A lab's set-up (loading its model and data, a second or so) runs once and its namespace is
reused while everything in it is as the set-up left it (``_SetUp``); a grade that changed
anything there (a model put in train mode, a tensor changed in place) makes the next grade
run the set-up again. So every grade starts from what a fresh set-up gives, as it did when
each grade ran the set-up itself, hundreds of times a session.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import torch

from course_admin.labformat import Exercise, read_lab

ROOT = Path(__file__).resolve().parents[1]


def lab_notebook(lab: str, folder: str = "solutions") -> Path:
    return ROOT / folder / lab / f"{lab}.ipynb"


def read_exercises(path: Path) -> tuple[str, dict[str, Exercise]]:
    """(set-up source, exercises by function name, each with its tests) of a solution notebook."""
    lab = read_lab(nbformat.read(path, as_version=4))
    return "\n\n".join(lab.setup), lab.exercises


def autograde_one(course: str, lab: str, student: str, jobs: int) -> float:
    """(In a worker process) nbgrader's autograde of one submitted notebook in the course root `course`, with the
    kernel's threads sized for `jobs` graders sharing the cores; its seconds."""
    import os

    from course_admin import pipeline

    os.environ["COURSE_GRADING_JOBS"] = str(jobs)  # this worker's own environment: read by CourseExecute
    return pipeline.Workspace(Path(course), [lab]).autograde(lab, student)


def dependents(exercises: dict[str, Exercise], name: str) -> list[str]:
    """The other exercises whose reference solution calls `name` (Lab 4's comprehensiveness calls mask_top_k)."""
    call = re.compile(rf"\b{re.escape(name)}\(")
    return [other for other, exercise in exercises.items()
            if other != name and call.search(exercise.solution)]


def grade(setup: str, exercises: dict[str, Exercise], name: str, candidate: str,
          tests_of: list[str] | None = None, visible_only: bool = False,
          printed: dict[str, str] | None = None, others: dict[str, str] | None = None) -> dict[str, tuple[float, str]]:
    """Points and failure message per test cell of exercise `name` (or of each exercise in
    `tests_of`) for `candidate` source; with `visible_only`, only the cells the student sees.

    The namespace holds the set-up cell and the reference solutions of the other
    exercises, as if the student had solved everything else correctly, except those `others`
    gives a source for (a whole submission's answers). What each test cell prints is stored
    in `printed` (grade_id -> text) when a dict is given.
    """
    namespace = _after_setup(setup)
    with contextlib.redirect_stdout(io.StringIO()):
        for other in exercises.values():
            if other.name != name:
                source = (others or {}).get(other.name, other.solution)
                exec(compile(source, f"<{other.name}>", "exec"), namespace)
        exec(compile(candidate, f"<candidate {name}>", "exec"), namespace)
    results = {}
    tests = [test for owner in (tests_of or [name]) for test in exercises[owner].tests
             if not (visible_only and test.hidden)]
    for test in tests:
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output):
                exec(compile(test.source, f"<{test.grade_id}>", "exec"), namespace)
        except Exception as error:  # a failing test cell scores 0, whatever the error
            results[test.grade_id] = (0.0, f"{type(error).__name__}: {error}")
        else:
            results[test.grade_id] = (test.points, "")
        finally:
            if printed is not None:
                printed[test.grade_id] = output.getvalue()
    return results


@dataclass
class _SetUp:
    """One run of a lab's set-up: its namespace, what was in it, the random generators' states after it."""

    namespace: dict
    state: tuple
    generators: tuple


_SET_UPS: dict[str, _SetUp] = {}


def _after_setup(setup: str) -> dict:
    """A namespace as the set-up source `setup` leaves it: its last run's, unless a grade changed something in it."""
    done = _SET_UPS.get(setup)
    if done is None or _state(done.namespace) != done.state:
        namespace: dict = {"__name__": "__main__"}
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(setup, "<setup>", "exec"), namespace)
        done = _SET_UPS[setup] = _SetUp(namespace, _state(namespace), _generators())
    torch.random.set_rng_state(done.generators[0])
    np.random.set_state(done.generators[1])
    random.setstate(done.generators[2])
    torch.set_grad_enabled(True)  # a candidate may have switched gradients off for the whole process
    for value in done.namespace.values():
        if isinstance(value, torch.nn.Module):
            value.zero_grad(set_to_none=True)  # gradients an attribution left on the weights (a fresh model has none)
    return dict(done.namespace)  # the grade's own names: what it defines or rebinds stays in its copy


def _generators() -> tuple:
    return torch.random.get_rng_state(), np.random.get_state(), random.getstate()


def _state(value: Any, depth: int = 0) -> Any:
    """What of `value` a grade could change in place, in a comparable form: tensors and arrays by their bytes, models
    by their weights, modes, hooks and configuration, containers item by item, other objects by their plain
    attributes (a tokenizer's padding side, say)."""
    if isinstance(value, dict):
        return tuple((repr(key), _state(item, depth + 1)) for key, item in value.items()
                     if not (depth == 0 and str(key).startswith("__")))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return type(value).__name__, tuple(_state(item, depth + 1) for item in items)
    if value is None or isinstance(value, (str, bytes, int, float, complex, bool)):
        return value
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1)
        return ("tensor", tuple(value.shape), str(value.dtype), value.requires_grad,
                hashlib.sha1(data.view(torch.uint8).numpy().tobytes()).hexdigest())
    if isinstance(value, np.ndarray):
        return "array", value.shape, str(value.dtype), hashlib.sha1(np.ascontiguousarray(value).tobytes()).hexdigest()
    if isinstance(value, torch.nn.Module):
        modes = tuple((m.training, len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
                      for m in value.modules())
        config = value.config.to_json_string() if hasattr(value, "config") else None
        return id(value), modes, config, _state(dict(value.state_dict(keep_vars=True)), depth + 1)
    plain = {key: item for key, item in getattr(value, "__dict__", {}).items()
             if item is None or isinstance(item, (str, int, float, bool))}
    return id(value), tuple(sorted(plain.items()))
