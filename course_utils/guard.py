"""A guard for grading kernels: a memory limit, and protection against monkeypatching.

Student code runs in the same kernel as the tests (nbgrader does not sandbox), so a
submission could rebind what the tests rely on (``torch.allclose = lambda *a, **k: True``,
``course_utils.grading.expect = print``) to pass them. When ``course autograde`` grades,
every kernel runs :func:`install` at start-up (an IPython start-up file in the grading
workspace), which

* caps the kernel's address space (``COURSE_MEMORY_LIMIT_MB``), so a huge allocation
  raises ``MemoryError`` in the student's cell instead of taking the grader down;
* makes ``os._exit()`` / ``os.abort()`` from notebook code raise instead of killing the
  kernel, so the rest of the notebook is graded (a real crash, a segfault, is reported);
* records the library functions the tests use, **restores** them before every cell, so a
  rebinding made in one cell never reaches a later test cell, and removes functions that
  hide a built-in (``abs = lambda x: 0``) from the notebook's namespace;
* after every cell, **logs** (to ``COURSE_GUARD_LOG``, one JSON line per cell) what was
  rebound while it ran: a guarded function, a name the cell itself imported
  (``globals()["expect"] = ...`` from inside a student's function), or a built-in hidden,
  so a test cell during which that happened can be scored 0 and flagged.

It is not a sandbox: the README says what grading does not isolate.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import importlib
import json
import os
import sys
import threading
import types
from typing import Any

# Modules whose public functions the tests use, and classes whose methods they call.
GUARDED_MODULES = (
    "builtins", "math", "numpy", "numpy.linalg", "torch", "torch.nn.functional", "scipy.stats",
    "sklearn.metrics", "course_utils.grading", "course_utils.models", "course_utils.text",
    "course_utils.data", "course_utils.plots",
)
GUARDED_CLASSES = (("torch", "Tensor"),)

# Set per request by the kernel itself, not by student code.
KERNEL_MANAGED = {("builtins", "input"), ("builtins", "get_ipython"), ("builtins", "display")}

LOG_ENV = "COURSE_GUARD_LOG"
MEMORY_ENV = "COURSE_MEMORY_LIMIT_MB"
TRUSTED_ENV = "COURSE_GUARD_TRUSTED"  # JSON list of cell keys: the lab's own set-up and demo cells


def cell_key(source: str) -> str:
    """Short stable id of a cell's source, to match log lines with notebook cells."""
    return hashlib.sha1(source.strip().encode()).hexdigest()[:16]


def _snapshot() -> dict[tuple[str, str], Any]:
    originals: dict[tuple[str, str], Any] = {}
    for name in GUARDED_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr, value in vars(module).items():
            if (not attr.startswith("_") and callable(value) and not isinstance(value, types.ModuleType)
                    and (name, attr) not in KERNEL_MANAGED):
                originals[(name, attr)] = value
    for module_name, class_name in GUARDED_CLASSES:
        cls = getattr(importlib.import_module(module_name), class_name)
        for attr, value in vars(cls).items():
            originals[(f"{module_name}.{class_name}", attr)] = value
    return originals


def _owner(name: str) -> Any:
    if name == "builtins":
        return builtins
    module_name, _, class_name = name.rpartition(".")
    if class_name and class_name[0].isupper():
        return getattr(importlib.import_module(module_name), class_name)
    return importlib.import_module(name)


class Guard:
    """Snapshot of guarded attributes; `restore()` puts them back and says what had changed."""

    def __init__(self) -> None:
        self.originals: dict[tuple[str, str], Any] = {}

    def start(self) -> None:
        """Take the snapshot (imports the guarded modules): done before the first cell runs,
        not at kernel start-up, so the kernel answers Jupyter's first request at once."""
        self.originals = _snapshot()

    def refresh(self) -> None:
        """Accept the current functions as the originals (after the lab's own cells, whose
        library imports may legitimately wrap a function)."""
        self.originals = _snapshot()

    def restore(self) -> list[str]:
        changed = []
        for (owner_name, attr), original in self.originals.items():
            owner = _owner(owner_name)
            current = owner.__dict__.get(attr, _MISSING) if isinstance(owner, type) else getattr(owner, attr, _MISSING)
            if current is not original:
                changed.append(f"{owner_name}.{attr}")
                try:
                    setattr(owner, attr, original)
                except (AttributeError, TypeError):  # a read-only slot: cannot have changed
                    pass
        return changed


_MISSING = object()


def _limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _imported_names(source: str) -> list[tuple[str, str, str | None]]:
    """(bound name, module, attribute or None) for each import statement of a cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found.append((alias.asname, alias.name, None))
                else:
                    top = alias.name.split(".")[0]
                    found.append((top, top, None))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.extend((alias.asname or alias.name, node.module, alias.name)
                         for alias in node.names if alias.name != "*")
    return found


def _rebound_imports(source: str, namespace: dict, guard: Guard) -> list[str]:
    """Names this cell imported that no longer hold what it imported (rebound by code it called)."""
    rebound = []
    for name, module_name, attr in _imported_names(source):
        module = sys.modules.get(module_name)
        if module is None or name not in namespace:
            continue
        expected = module if attr is None else guard.originals.get((module_name, attr), getattr(module, attr, _MISSING))
        if expected is not _MISSING and namespace[name] is not expected:
            rebound.append(name)
    return rebound


def _builtin_shadows(namespace: dict, allowed: dict) -> list[str]:
    """Callables in the notebook's namespace that hide a built-in function (abs, isinstance...),
    except those the kernel itself put there (`allowed`: IPython's own `open`, `exit`)."""
    return [name for name, value in list(namespace.items())
            if hasattr(builtins, name) and not name.startswith("_") and callable(value)
            and value is not getattr(builtins, name) and value is not allowed.get(name)]


def _refuse_exit(log_path: str | None, current_cell: list[str]) -> None:
    """Make `os._exit` / `os.abort` from notebook code (the main thread) raise instead of
    killing the kernel, so the rest of the notebook is still graded. ipykernel's own
    threads (its parent poller exits with `os._exit`) keep the real functions."""
    real = {"_exit": os._exit, "abort": os.abort}

    def refuse(name: str):
        def guarded(*args: Any) -> None:
            if threading.current_thread() is not threading.main_thread():
                real[name](*args)
            if log_path:
                _log(log_path, {"cell": current_cell[0], "when": "exit", "changed": [f"os.{name}"]})
            raise RuntimeError(f"os.{name}() would stop the kernel; it is refused while grading "
                               "so that the rest of the notebook can still be graded")
        return guarded

    os._exit, os.abort = refuse("_exit"), refuse("abort")


def install(shell: Any | None = None) -> Guard | None:
    """Set up the memory limit, exit refusal and the restore/log hooks in the running IPython kernel."""
    if os.environ.get(MEMORY_ENV):
        _limit_memory(int(os.environ[MEMORY_ENV]))
    shell = shell or _ipython()
    if shell is None:
        return None
    current_cell = [""]
    _refuse_exit(os.environ.get(LOG_ENV), current_cell)
    guard = Guard()
    log_path = os.environ.get(LOG_ENV)
    trusted = set(json.loads(open(os.environ[TRUSTED_ENV]).read())) if os.environ.get(TRUSTED_ENV) else set()
    kernel_own: dict[str, Any] = {}  # IPython's own `exit`, `open`...: taken before the first cell runs
    started = []

    def before(info: Any) -> None:
        current_cell[0] = cell_key(info.raw_cell or "")
        if not started:
            # Import the guarded modules as a cell would import them: with IPython's builtins
            # (get_ipython) in place, so libraries that look for a kernel at import time
            # (pandas' display width) configure themselves exactly as in an ungraded run.
            with shell.builtin_trap:
                guard.start()
            kernel_own.update({n: v for n, v in shell.user_ns.items() if hasattr(builtins, n)})
            started.append(True)
        # Anything rebound by an earlier cell is put back, and built-ins hidden by a
        # function in the notebook's namespace are uncovered, before this cell runs.
        changed = guard.restore()
        for name in _builtin_shadows(shell.user_ns, kernel_own):
            del shell.user_ns[name]
            changed.append(f"{name} (hides the built-in)")
        if changed and log_path:
            _log(log_path, {"cell": cell_key(info.raw_cell or ""), "when": "before", "changed": changed})

    def after(result: Any) -> None:
        source = result.info.raw_cell or ""
        if cell_key(source) in trusted:  # the lab's own cell, unchanged: what it set up stays
            guard.refresh()
            return
        changed = guard.restore()  # rebound while this cell ran
        changed += _rebound_imports(source, shell.user_ns, guard)
        changed += [f"{name} (hides the built-in)" for name in _builtin_shadows(shell.user_ns, kernel_own)]
        if changed and log_path:
            _log(log_path, {"cell": cell_key(source), "when": "during", "changed": changed})

    shell.events.register("pre_run_cell", before)
    shell.events.register("post_run_cell", after)
    return guard


def _ipython() -> Any | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _log(path: str, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def read_log(path: str | os.PathLike) -> list[dict]:
    """The tamper records a grading kernel wrote (empty when the file does not exist)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


STARTUP_SCRIPT = '''# Written by course_utils.pipeline for grading kernels: see course_utils/guard.py.
from course_utils.guard import install as _course_guard_install
_course_guard_install()
del _course_guard_install
'''
