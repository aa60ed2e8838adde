"""The guard: runs inside each grading kernel, refuses exits, records tampering for the report.

Grading does not trust the kernel for any verdict (tests run in the grading process, see
`course_admin.remote_client`), so this guard defends nothing that a score depends on. It makes
grading kinder and the report more useful:

* ``os._exit()`` / ``os.abort()`` from notebook code raise instead of killing the kernel,
  so the rest of the notebook is still graded;
* after every cell it writes to a log (``COURSE_GUARD_LOG``, one JSON line per cell) what
  the cell rebound in the libraries the labs use (``torch.allclose = ...``), which
  built-ins it hid (``abs = ...``) and whether it replaced IPython's machinery, so the
  instructor's report can flag the attempt (the grading process reads the log with
  `course_admin.kernels.read_guard_log`). The kernel can silence its own log, which is
  why `course_admin.scan` also reads the submission's code from outside the kernel.
* without a sandbox (``--unsafe``), it caps the kernel's address space
  (``COURSE_MEMORY_LIMIT_MB``); in the sandbox, `prlimit` does that from outside.

It starts with the kernel (`STARTUP_LINE`) and imports the standard library only.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import sys
import threading
import types
from typing import Any

# Modules whose functions the labs rely on: rebinding one is worth a flag.
WATCHED_MODULES = (
    "builtins", "math", "numpy", "numpy.linalg", "torch", "torch.nn.functional", "scipy.stats",
    "sklearn.metrics", "course_utils.grading", "course_utils.models", "course_utils.text",
    "course_utils.data", "course_utils.plots", "course_admin.kernel.agent", "course_admin.kernel.codec",
    "course_admin.kernel.wire", "course_admin.kernel.autograd",
)
WATCHED_CLASSES = (("torch", "Tensor"), ("IPython.core.interactiveshell", "InteractiveShell"),
                   ("ipykernel.ipkernel", "IPythonKernel"))

# Set per request by the kernel itself, not by student code.
KERNEL_MANAGED = {("builtins", "input"), ("builtins", "get_ipython"), ("builtins", "display")}

LOG_ENV = "COURSE_GUARD_LOG"
MEMORY_ENV = "COURSE_MEMORY_LIMIT_MB"


def cell_key(source: str) -> str:
    """Short stable id of a cell's source, to match log lines with notebook cells."""
    return hashlib.sha1(source.strip().encode()).hexdigest()[:16]


def _snapshot() -> dict[tuple[str, str], Any]:
    """The watched modules' functions, for those already imported (importing the others here
    would cost seconds per kernel; a module a cell imports is watched from the next cell on,
    and the code scan reads what the cell itself did)."""
    originals: dict[tuple[str, str], Any] = {}
    for name in WATCHED_MODULES:
        module = sys.modules.get(name)
        if module is None:
            continue
        for attr, value in vars(module).items():
            if (not attr.startswith("_") and callable(value) and not isinstance(value, types.ModuleType)
                    and (name, attr) not in KERNEL_MANAGED):
                originals[(name, attr)] = value
    for module_name, class_name in WATCHED_CLASSES:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if cls is None:
            continue
        originals.update({(f"{module_name}.{class_name}", attr): value for attr, value in vars(cls).items()})
    return originals


def changes(before: dict[tuple[str, str], Any], after: dict[tuple[str, str], Any]) -> list[str]:
    """Watched attributes rebound, added or removed between two snapshots (a module or class
    seen for the first time in `after` has nothing to compare with)."""
    owners = {owner for owner, _ in before}
    found = [f"{owner}.{attr}" for (owner, attr), value in after.items()
             if (owner, attr) in before and before[(owner, attr)] is not value]
    found += [f"{owner}.{attr} (added)" for (owner, attr) in after.keys() - before.keys()
              if owner in owners and owner.rpartition(".")[2][:1].isupper()]
    found += [f"{owner}.{attr} (removed)" for (owner, attr) in before.keys() - after.keys()
              if owner in {o for o, _ in after}]
    return sorted(found)


def _builtin_shadows(namespace: dict, allowed: dict) -> list[str]:
    """Callables in the notebook's namespace that hide a built-in function (abs, isinstance...),
    except those the kernel itself put there (IPython's own `open`, `exit`)."""
    return [name for name, value in list(namespace.items())
            if hasattr(builtins, name) and not name.startswith("_") and callable(value)
            and value is not getattr(builtins, name) and value is not allowed.get(name)]


def _limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _refuse_exit(log_path: str | None, current_cell: list[str]) -> None:
    """Make `os._exit` / `os.abort` from notebook code (the main thread) raise instead of
    killing the kernel, so the rest of the notebook is still graded. ipykernel's own
    threads keep the real functions."""
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


def install(shell: Any | None = None) -> None:
    """Set up the exit refusal and the per-cell tamper log in the running IPython kernel."""
    if os.environ.get(MEMORY_ENV):
        _limit_memory(int(os.environ[MEMORY_ENV]))
    if sys.flags.safe_path and "" not in sys.path:
        sys.path.append("")  # a student's own modules import, after every installed one
    shell = shell or _ipython()
    if shell is None:
        return
    log_path = os.environ.get(LOG_ENV)
    current_cell = [""]
    _refuse_exit(log_path, current_cell)
    state: dict[str, Any] = {}

    def before(info: Any) -> None:
        current_cell[0] = cell_key(info.raw_cell or "")
        if not state:
            state["last"] = _snapshot()
            state["kernel_own"] = {n: v for n, v in shell.user_ns.items() if hasattr(builtins, n)}

    def after(result: Any) -> None:
        # What changed while this cell ran. Libraries rebind some of their own functions on
        # first use (torch wraps torch.manual_seed): the grader keeps only what the
        # student's cells (and calls of their functions) changed.
        if not state or not log_path:
            return
        now = _snapshot()
        found = changes(state["last"], now)
        found += [f"{name} (hides the built-in)" for name in _builtin_shadows(shell.user_ns, state["kernel_own"])
                  if name not in state.setdefault("shadows", set())]
        state["shadows"] = set(_builtin_shadows(shell.user_ns, state["kernel_own"]))
        state["last"] = now
        if found:
            _log(log_path, {"cell": current_cell[0], "when": "during", "changed": found})

    shell.events.register("pre_run_cell", before)
    shell.events.register("post_run_cell", after)


def _ipython() -> Any | None:
    ipython = sys.modules.get("IPython")  # loaded in a kernel; nothing to guard elsewhere
    return None if ipython is None else ipython.get_ipython()


def _log(path: str, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


STARTUP_LINE = f"__import__({__name__!r}, fromlist=['install']).install()"
