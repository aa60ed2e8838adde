"""Grading kernels, from the grading process's side: their folders, environment, manager and client.

Each notebook is graded in a kernel of its own (`SandboxedKernelManager`): started in the
sandbox (`course_admin.sandbox`) from a spec that runs the kernel's guard first, with the
whole environment given (`kernel_environment`), connected over ZMQ's ``ipc`` transport in a
private folder (`kernel_folders`). Its client (`BoundedKernelClient`) refuses oversized
messages and connects through the sockets the kernel bound, never through their names. What
the kernel leaves in its folder is read without trusting it (`read_guard_log`).

A grader with another notebook to grade starts that notebook's kernel while the current one is
graded (`Spare`): a sandbox of its own like any other, which has imported the course's libraries
and run nothing else when it is handed to its one notebook, and which is ended with its cgroup and
folders when the batch ends, fails, is interrupted or its process exits.

The code that runs inside the kernel is `course_admin.kernel`.
"""

from __future__ import annotations

import json
import multiprocessing.util
import os
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

from course_admin import cgroup, intake
from course_admin import sandbox as sandboxing
from course_admin.kernel import codec, guard, wire

# What the client receives at all, per ZMQ frame (a message's content is one frame): cutting in
# the output handler comes too late, when a 600 MB print has already been received, copied
# and decoded (a 2.4 GB peak). ZMQ drops a larger frame unread, and the connection with it (which
# BoundedKernelClient makes again); what is received is parsed with codec.bounded_json.
MAX_KERNEL_MESSAGE_BYTES = 64 * 2**20


class KernelGone(BaseException):
    """The kernel died or stopped answering during a test's call. A BaseException, so that a
    test's `except Exception` cannot turn it into an ordinary failure: the notebook is
    reported as not graded instead."""


class BoundedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse frames above MAX_KERNEL_MESSAGE_BYTES (an
    option of the context, so every channel's socket has it before it connects).

    ZMQ ends a connection that carried a frame past the cap and does not make it again, so
    the iopub socket is watched (a monitor) and made again between cells by
    `reopen_dropped_iopub`: what the kernel printed meanwhile is lost, the grading goes on."""

    dropped = 0  # iopub connections ZMQ ended

    def _context_default(self) -> zmq.asyncio.Context:
        # jupyter_client's own default for `context` (a traitlets default method), so that the
        # client still destroys the context at its end (tests/test_execute_units.py).
        context = super()._context_default()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_KERNEL_MESSAGE_BYTES)
        return context

    def connect_iopub(self, identity: bytes | None = None) -> zmq.Socket:
        sock = super().connect_iopub(identity)
        # On the client's own context, so that its end closes the monitor too (a socket the
        # context does not know of would make that end wait for ever).
        self._iopub_monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        return sock

    def stop_channels(self) -> None:
        # The monitor's socket must close first: the context waits for every socket at its end.
        monitor = getattr(self, "_iopub_monitor", None)
        if monitor is not None:
            monitor.close(linger=0)
            self._iopub_monitor = None
        super().stop_channels()
        for descriptor in getattr(self, "_pinned", {}).values():
            os.close(descriptor)
        self._pinned = {}

    def _make_url(self, channel: str) -> str:
        # jupyter_client's one place that names a channel's endpoint (no public hook; checked by
        # tests/test_execute_units.py): every channel, iopub made again included, connects here.
        pinned = getattr(self, "_pinned", {}).get(channel)
        return f"ipc:///proc/self/fd/{pinned}" if pinned is not None else super()._make_url(channel)

    def start_channels(self, *args: Any, **kwargs: Any) -> None:
        self._pin_sockets()
        super().start_channels(*args, **kwargs)

    def _pin_sockets(self, wait: float = 120.0) -> None:
        """Hold the kernel's own socket files, and connect through them, never through their names.

        The socket files lie in the kernel's folder, which the kernel may write: a student's
        cell could replace one with a link to another socket on the grader's machine, and
        ZMQ's reconnection (or `reopen_dropped_iopub`) would then follow the name as root. So
        the channels wait until the kernel has bound its five sockets (before it runs any of the
        student's code), open each without following links (O_PATH), and connect to
        /proc/self/fd/N: the socket itself, whatever its name later becomes. A kernel that has
        not bound them in `wait` seconds is left to nbclient's start-up timeout (unpinned)."""
        if self.transport != "ipc" or getattr(self, "_pinned", None) or not hasattr(os, "O_PATH"):
            return  # (O_PATH and /proc/self/fd are Linux's, where the sandbox runs)
        named = super()._make_url  # the socket files' names, as the kernel binds them
        paths = {channel: named(channel)[len("ipc://"):] for channel in ("shell", "iopub", "stdin", "control", "hb")}
        deadline = time.monotonic() + wait
        while not all(_is_socket(path) for path in paths.values()):
            if any(os.path.lexists(path) and not _is_socket(path) for path in paths.values()):
                raise KernelGone("a socket file of the kernel was replaced before the grader connected")
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        pinned: dict[str, int] = {}
        try:
            for channel, path in paths.items():
                pinned[channel] = os.open(path, os.O_PATH | os.O_NOFOLLOW)
                if not stat.S_ISSOCK(os.fstat(pinned[channel]).st_mode):
                    raise KernelGone(f"the kernel's {channel} socket file was replaced before the grader connected")
        except BaseException:
            for descriptor in pinned.values():
                os.close(descriptor)
            raise
        self._pinned = pinned

    def reopen_dropped_iopub(self) -> bool:
        """Connect the iopub channel again if ZMQ ended it; True if it had."""
        monitor = getattr(self, "_iopub_monitor", None)
        if monitor is None or monitor.closed or not monitor.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            return False  # (EVENTS answers at once, where an asyncio socket's poll would wait)
        # jupyter_client makes the iopub channel on first use of `iopub_channel` when its slot
        # `_iopub_channel` is empty (no public way to make it again; tests/test_execute_units.py).
        if self._iopub_channel is not None:
            self._iopub_channel.socket.disable_monitor()
            self._iopub_channel.close()
            self._iopub_channel = None
        monitor.close(linger=0)
        self._iopub_monitor = None
        self.dropped += 1
        self.iopub_channel.start()
        return True


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False



@dataclass(frozen=True)
class KernelSetup:
    """What one notebook's grading kernel is given."""

    folder: Path  # the kernel's own folder (connection file, sockets, guard log), same path inside
    objects: Path  # the grader's folder of staged objects, shown read-only at the same path
    files: list[Path]  # the student's handed-in files, shown read-only in the working folder
    environment: dict[str, str]  # the kernel's whole environment (`kernel_environment`)
    limits: sandboxing.Limits
    sandboxed: bool = True
    group: cgroup.Group | None = None  # the sandbox's total budget (None: per-process limits only)


class OneKernelSpec(KernelSpecManager):
    """A kernel spec manager that knows one spec, whatever kernel name is asked for: the
    grading kernel is the course's Python whatever a submission's metadata names."""

    def __init__(self, spec: KernelSpec, **kwargs: Any):
        super().__init__(**kwargs)
        self.spec = spec

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return self.spec


# A kernel started ahead of its notebook (`Spare`) imports the libraries of the notebook's lab (its
# set-up cells' imports, `execute.LabTests.libraries`) while the notebook before is graded, so the
# next notebook's first cells find them loaded. They are the course's, the same for every student;
# the line is a statement (an expression's value would land in `_` and `Out`) and its comprehension
# binds no name in the notebook's namespace.
# transformers imports a model's module when the first model of its kind loads (1.6 s, mostly its
# shared modelling code): a lab that loads models (course_utils.models) has these imported too
# (tests/test_warm_kernels.py: one per embedded model's architecture).
MODEL_MODULES = ("transformers.models.gpt2.modeling_gpt2", "transformers.models.distilbert.modeling_distilbert",
                 "transformers.models.bert.modeling_bert", "transformers.tokenization_utils_tokenizers")
# Every lab's libraries (tests/test_warm_kernels.py keeps the list whole): for a kernel started
# before its notebook's lab is known (`course autograde <lab>.ipynb`).
PRELOADED = ("torch", "torch.nn.functional", "torch.utils.data", "numpy", "transformers", "IPython.display",
             "matplotlib.pyplot", "scipy.stats", "sklearn.linear_model", "sklearn.metrics", "pandas", "tqdm.auto",
             "lime.lime_text", "captum.attr", "captum._utils.models.linear_model", "course_utils",
             "course_utils.data", "course_utils.grading", "course_utils.models", "course_utils.plots",
             "course_utils.text", "course_utils.workload", *MODEL_MODULES)


def preload_line(modules: tuple[str, ...]) -> str:
    """The kernel's start-up line that imports `modules` (names checked: the line is code)."""
    if not all(isinstance(name, str) and all(part.isidentifier() for part in name.split(".")) for name in modules):
        raise ValueError(f"not module names: {modules!r}")
    return f"if [__import__(name) for name in {tuple(modules)!r}]: pass"


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel started in the sandbox, with an `ipc` transport in its private folder and
    interrupts sent as messages (a signal would stop bubblewrap, not the kernel)."""

    def __init__(self, setup: KernelSetup, preload: tuple[str, ...] = (), **kwargs: Any):
        super().__init__(**kwargs)
        self.setup = setup
        # A kernel started ahead imports its lab's libraries (`preload_line`) before the guard is installed.
        preloading = [f"--IPKernelApp.exec_lines={preload_line(preload)}"] if preload else []
        self.transport = "ipc"  # ZMQ over Unix sockets: the kernel has no network
        self.ip = str(setup.folder / "kernel")
        self.connection_file = str(setup.folder / "kernel.json")
        self.client_factory = BoundedKernelClient
        self.session.unpack = codec.bounded_json  # the client shares this session
        self.kernel_spec_manager = OneKernelSpec(KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", *preloading,
                  f"--IPKernelApp.exec_lines={guard.STARTUP_LINE}"],
            display_name="Python 3 (grading)", language="python", interrupt_mode="message",
            env={} if setup.sandboxed else setup.environment))

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        os.chmod(self.connection_file, 0o644)  # the kernel may run as `nobody` (its folder is private)
        setup = self.setup
        if not setup.sandboxed:
            return command
        fonts = sandboxing.matplotlib_font_cache()
        extra = {f"{setup.environment['MPLCONFIGDIR']}/{fonts.name}": fonts} if fonts else {}
        extra[str(setup.objects)] = setup.objects
        return cgroup.wrap(setup.group, sandboxing.command(
            command, ipc=setup.folder, workdir=f"{sandboxing.STUDENT_HOME}/work", files=setup.files,
            environment=setup.environment, limits=setup.limits, extra=extra))


def kernel_environment(folder: Path, threads: int, sandboxed: bool) -> dict[str, str]:
    """The grading kernel's whole environment (nothing else of the grader's is passed)."""
    home = sandboxing.STUDENT_HOME if sandboxed else str(folder / "home")
    environment = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": home, "LANG": "C.UTF-8", "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
        # The working folder holds the student's handed-in files: without this, `python -m
        # ipykernel_launcher` puts it first on sys.path and a handed-in ipykernel_launcher.py or
        # zmq.py runs before the grader has connected (guard.install appends it last instead).
        "PYTHONSAFEPATH": "1",
        "PYTHONPATH": os.pathsep.join(map(str, sandboxing.package_roots())),
        "MPLCONFIGDIR": f"{home}/.matplotlib", "HF_HOME": f"{home}/.cache/huggingface",
        "COURSE_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
        # JPY_PARENT_PID=1: ipykernel neither polls a parent (bwrap is its pid 1) nor prints
        # its stand-alone connection notice.
        "JPY_PARENT_PID": "1",
        "TOKENIZERS_PARALLELISM": "false", "JUPYTER_PLATFORM_DIRS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
        wire.SOCKET_ENV: str(folder / "remote.sock"), guard.LOG_ENV: str(folder / "guard.jsonl"),
    }
    if not sandboxed:
        environment["IPYTHONDIR"] = f"{home}/.ipython"
    return environment


KERNEL_FOLDER_PREFIX = "course-k-"


def _sweep_kernel_folders(parent: str) -> None:
    """Remove the grading folders of graders that died without removing them (SIGKILL):
    the kernel's capped folder unmounted, then the rest deleted without following links."""
    for folder in Path(parent).glob(f"{KERNEL_FOLDER_PREFIX}*"):
        if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.geteuid():
            continue
        if cgroup.owner_gone(folder.name, KERNEL_FOLDER_PREFIX):
            if os.path.ismount(folder / "k"):
                sandboxing.release_folder(folder / "k")
            shutil.rmtree(folder, ignore_errors=True)


def kernel_folders(parent: str | None = None) -> tuple[Path, Path, Path]:
    """(the grading folder, the kernel's own folder in it, the folder of staged objects in it).

    The grading folder is the grader's (0700). The kernel's folder `k` is writable by the
    kernel (its sockets, guard log): the grader only reads there, without following links
    (`read_guard_log`). What the grader writes for the kernel (tokenizers) goes to `objects`,
    beside `k`, which the kernel sees read-only: a kernel that swaps a path in `k` for a link
    cannot make the grader write or chmod where the link points.

    `parent` defaults to the grader's temporary folder (``TMPDIR``, else /tmp): a grader given a
    private one keeps its grading folders, and their sweep, to itself."""
    parent = parent or tempfile.gettempdir()
    _sweep_kernel_folders(parent)
    # short: socket paths are limited; the pid lets a later grader remove what a killed one left
    folder = Path(tempfile.mkdtemp(prefix=f"{KERNEL_FOLDER_PREFIX}{os.getpid()}-", dir=parent))
    ipc = folder / "k"
    sandboxing.prepare_ipc(ipc)
    objects = folder / "objects"
    objects.mkdir()
    objects.chmod(0o755)  # the kernel may run as `nobody`: it reads, it cannot write
    return folder, ipc, objects



def remove_folders(folder: Path, ipc: Path, capped: bool) -> None:
    """Delete a grading folder `kernel_folders` made (the kernel's capped folder unmounted first)."""
    if capped:
        sandboxing.release_folder(ipc)
    for _ in range(5):  # the sandbox's last process may still be closing its files
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            break
        time.sleep(0.2)


# -- a kernel started ahead of its notebook
@dataclass
class Prepared:
    """A grading kernel's folders and budget, made before its kernel starts."""

    folder: Path  # the grading folder (`kernel_folders`)
    ipc: Path  # the kernel's own folder in it
    objects: Path  # the staged objects' folder in it
    capped: bool  # `ipc` is a size-limited mount (released at the end)
    group: cgroup.Group | None  # the sandbox's cgroup


@dataclass
class Spare:
    """A sandboxed kernel started while the notebook before is graded, for the next notebook of
    this grading process (`course_admin.execute.CourseExecute`).

    It is a fresh sandbox like any other (own folders, own cgroup, own kernel process) that has
    run the course's start-up lines only (the imports of `preload_line`, the guard): nothing of any student
    is in it until it is handed to one, and it is handed to one notebook only. `key` names the
    settings it was started with; a notebook graded with others gets a kernel of its own."""

    key: tuple
    prepared: Prepared
    manager: SandboxedKernelManager

    def kill(self) -> None:
        """Kill the kernel (bubblewrap, whose PID namespace ends with it) and close the manager's
        sockets and ZMQ context (an open one would block this process's exit), as nbclient's
        clean-up does for a kernel it was handed."""
        process = getattr(self.manager.provisioner, "process", None)
        if self.manager.has_kernel:
            try:
                run_sync(self.manager.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001  (killed below)
                pass
        if process is not None and process.poll() is None:
            process.kill()
            try:
                process.wait(timeout=10)
            except Exception:  # noqa: BLE001  (the cgroup's removal kills what is left)
                pass
        self.manager.context.destroy(linger=0)

    def end(self) -> None:
        """Kill the kernel, delete its cgroup and its folders."""
        self.kill()
        if self.prepared.group is not None:
            self.prepared.group.remove()
        remove_folders(self.prepared.folder, self.prepared.ipc, self.prepared.capped)

    def alive(self) -> bool:
        process = getattr(self.manager.provisioner, "process", None)
        return process is not None and process.poll() is None


class SpareSlot:
    """The kernel started ahead for the next notebook of this grading process: at most one.

    It is ended when it is taken by a notebook graded with other settings, when another is kept,
    and at the latest when this process exits (multiprocessing's exit hook, which also runs in a
    batch's worker processes)."""

    def __init__(self) -> None:
        self.held: Spare | None = None
        # Whether another notebook follows the one about to be graded in this process (a batch's
        # worker with work left): only then is a kernel started ahead for it.
        self.wanted = False
        self._finalizer: multiprocessing.util.Finalize | None = None

    def keep(self, spare: Spare) -> None:
        """Hold `spare` for the next notebook (ending one held before)."""
        self.end()
        if self._finalizer is None:
            self._finalizer = multiprocessing.util.Finalize(None, self.end, exitpriority=100)
        self.held = spare

    def take(self, key: tuple) -> Spare | None:
        """The spare kernel for a notebook graded with settings `key`, or None (one started with
        other settings, or that died, is ended)."""
        spare, self.held = self.held, None
        if spare is None or (spare.key == key and spare.alive()):
            return spare
        spare.end()
        return None

    def has(self, key: tuple) -> bool:
        """Whether a live spare kernel started with settings `key` is held."""
        return self.held is not None and self.held.key == key and self.held.alive()

    def end(self) -> None:
        """End the spare kernel, if any: at a batch's end, after Ctrl-C or a failure, at exit."""
        spare, self.held = self.held, None
        if spare is not None:
            spare.end()


spare_slot = SpareSlot()  # one per grading process


MAX_GUARD_LOG_MB = 2  # a cell logs a line of at most a few hundred bytes; 200 records fit many times over


def read_guard_log(path: str | os.PathLike, limit: int = 200, notes: list[str] | None = None) -> list[dict]:
    """The records a grading kernel's guard wrote (`kernel.guard`; empty when the file does not exist).

    The file and its folder are the kernel's: it may have replaced the log with a link (to
    `/dev/zero`, or to a file of the grader's), a FIFO (opening it would block the grader for
    ever) or a file of gigabytes. The log is read with `intake.read_bytes` (no link followed,
    no blocking open, ordinary files only, at most `MAX_GUARD_LOG_MB`); anything else is not read
    and a line saying why goes to `notes`, for the instructor. Malformed or oversized lines
    are skipped, at most `limit` records kept."""
    try:
        data = intake.read_bytes(Path(path), MAX_GUARD_LOG_MB)
    except intake.Refused as refused:
        if os.path.lexists(path) and notes is not None:
            notes.append(f"the kernel replaced its guard log (what it records of the notebook's tampering) "
                         f"with {refused}: not read")
        return []
    records: list[dict] = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        if len(records) >= limit:
            break
        try:
            record = json.loads(line[:20000])
        except (ValueError, RecursionError):
            continue
        if (isinstance(record, dict) and isinstance(record.get("cell"), str)
                and isinstance(record.get("changed"), list)):
            record["changed"] = [str(item)[:120] for item in record["changed"][:20]]
            records.append(record)
    return records
