"""nbgrader's Execute step, sandboxed, with the tests run by the grading process.

`CourseExecute` replaces ``nbgrader.preprocessors.Execute`` in ``nbgrader_config.py``, so
``nbgrader autograde``, Formgrader's Autograde button and ``course autograde`` grade the
same way:

* the student's kernel starts in a sandbox (`course_admin.sandbox`), or, where no sandbox
  can run, only if the course is configured to allow it (``course autograde --unsafe``);
* the student's cells run in that kernel, in order;
* every test cell of the assignment runs in *this* process, from the course's own copy of
  the test (never the submission's), in the course's order of tests whatever the
  submission's order (`CourseOrder`), in a namespace built from the lab's set-up cells; the
  exercise functions in that namespace forward each call to the kernel with plain data
  (`course_admin.remote`). The cell's outputs are written here: a failure is the test's
  own message, and a hidden test shows nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import os
import shutil
import stat
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import nbformat
import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbconvert.exporters import NotebookExporter
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.preprocessors.execute import UnresponsiveKernelError
from traitlets import Bool, Integer, default

from course_admin import cgroup, guard, intake, labformat, neutralise, remote
from course_admin import sandbox as sandboxing

# What the client keeps of a kernel's output (CleanOutputs cuts what is stored much further):
# a lab's largest cell shows two lime pages of about 1 MB each; a flood stops here.
MAX_CELL_OUTPUT_BYTES = 8 * 2**20
MAX_NOTEBOOK_OUTPUT_BYTES = 64 * 2**20
# What the client receives at all, per ZMQ frame (a message's content is one frame): cutting in
# the output handler comes too late, when a 600 MB print has already been received, copied
# and decoded (a 2.4 GB peak). ZMQ drops a larger frame unread, and the connection with it (which
# BoundedKernelClient makes again); what is received is parsed with remote.bounded_json.
MAX_KERNEL_MESSAGE_BYTES = MAX_NOTEBOOK_OUTPUT_BYTES


class KernelGone(BaseException):
    """The kernel died or stopped answering during a test's call. A BaseException, so that a
    test's `except Exception` cannot turn it into an ordinary failure: the notebook is
    reported as not graded instead."""


class NotebookRefused(Exception):
    """A notebook past the course's limits (`intake.content_refusal`); the message says which."""


class CourseNotebookExporter(NotebookExporter):
    """How nbgrader's own autograde (Formgrader's button, `nbgrader autograde`) reads each
    submission (`c.Autograde.exporter_class` in nbgrader_config.py): the text is checked against
    the course's limits before it is parsed. nbformat's JSON parser recurses, so a notebook
    nesting 100,000 deep ended in a RecursionError traceback instead of a reason."""

    def from_file(self, file_stream: Any, resources: dict | None = None, **kw: Any) -> tuple[NotebookNode, dict]:
        limit = intake.MAX_FILE_MB * 2**20
        text = file_stream.read(limit + 1)
        if len(text) > limit:
            raise NotebookRefused(f"above the {intake.MAX_FILE_MB} MB limit: refused, not parsed")
        too_deep = intake.depth_refusal(text)  # before parsing: the parser recurses
        if too_deep:
            raise NotebookRefused(too_deep)
        nb = nbformat.reads(text, as_version=4)
        too_much = intake.content_refusal(nb)
        if too_much:
            raise NotebookRefused(too_much)
        return self.from_notebook_node(nb, resources=resources, **kw)


is_test_cell = labformat.is_test


class LabTests:
    """The course's own test cells and set-up code for one lab, read from its source notebook
    (`course_admin.labformat`)."""

    def __init__(self, source: NotebookNode):
        lab = labformat.read_lab(source)
        self.setup = lab.setup
        self.tests = {grade_id: test.source for grade_id, test in lab.tests.items()}
        self.exercises = list(lab.exercises)

    def hidden(self, grade_id: str) -> bool:
        return labformat.has_hidden(self.tests[grade_id])


class CourseOrder:
    """When each test runs: in the course's order of tests, and none before its own cell is
    reached in the submission (the student's cells above it have run). A submission that
    moves test cells only delays the tests that come after the moved one in the course's
    order; it cannot make one test run before another that the course runs first (the
    attack: the weighted_mse tests moved after the fit tests, whose callback it had kept)."""

    def __init__(self, course_order: list[str], present: set[str]):
        self._waiting = [grade_id for grade_id in course_order if grade_id in present]
        self._reached: set[str] = set()

    def reach(self, grade_id: str) -> list[str]:
        """The tests due now that the cell of `grade_id` is reached, in the order to run them."""
        self._reached.add(grade_id)
        due = []
        while self._waiting and self._waiting[0] in self._reached:
            due.append(self._waiting.pop(0))
        return due

    def rest(self) -> list[str]:
        """The tests still waiting at the notebook's end, in the course's order."""
        due, self._waiting = self._waiting, []
        return due


def _transform(source: str) -> str:
    """A cell's source as plain Python (IPython magics become calls), for exec()."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


class TestRunner:
    """Runs the lab's test cells in this process; student functions are remote."""

    def __init__(self, tests: LabTests, client: remote.GraderClient):
        self.tests = tests
        self.client = client
        self._namespace: dict | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._started = False

    def prepare(self) -> None:
        """Run the lab's set-up cells here, in a thread, while the kernel runs the notebook."""
        self._started = True
        threading.Thread(target=self._set_up, name="course-tests-set-up", daemon=True).start()

    def _set_up(self) -> None:
        try:
            namespace: dict[str, Any] = {"__name__": "__main__"}
            with _quiet():
                for source in self.tests.setup:
                    exec(compile(_transform(source), "<lab set-up>", "exec"), namespace)
            proxies = {name: remote.RemoteFunction(self.client, name, name) for name in self.tests.exercises}
            namespace.update(proxies)
            # A test may rebind an exercise's name (to grade another exercise on its own): the
            # student's code sees the same binding during the calls.
            self.client.overrides = lambda: {name: namespace.get(name) for name, proxy in proxies.items()
                                             if namespace.get(name) is not proxy}
            self._namespace = namespace
        except BaseException as error:  # noqa: BLE001  (reported when the first test needs it)
            self._error = error
        finally:
            self._ready.set()

    def namespace(self) -> dict:
        if not self._started:
            self._started = True
            self._set_up()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"the tests' set-up failed in the grading process: {self._error!r}") from self._error
        return self._namespace

    def run(self, grade_id: str) -> tuple[str, BaseException | None]:
        """(printed text, the exception that failed the test or None) for one test cell."""
        namespace = self.namespace()
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()), \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(_transform(self.tests.tests[grade_id]), f"<{grade_id}>", "exec"), namespace)
        except KernelGone:
            raise
        except BaseException as error:  # noqa: BLE001  (any failure of a test cell scores 0)
            if isinstance(error, KeyboardInterrupt):
                raise
            return printed.getvalue(), error
        return printed.getvalue(), None


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def error_output(error: BaseException) -> NotebookNode:
    """A test failure as the student sees it: the exception's name and message, nothing else
    (no traceback: it would show the grading process's files and the test's code)."""
    name = type(error).__name__
    message = " ".join(str(error).split())[:1000]
    return nbformat.v4.new_output("error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


class BoundedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse frames above MAX_KERNEL_MESSAGE_BYTES (an
    option of the context, so every channel's socket has it before it connects).

    ZMQ ends a connection that carried a frame past the cap and does not make it again, so
    the iopub socket is watched (a monitor) and made again between cells by
    `reopen_dropped_iopub`: what the kernel printed meanwhile is lost, the grading goes on."""

    dropped = 0  # iopub connections ZMQ ended

    def _context_default(self) -> zmq.asyncio.Context:
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


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel started in the sandbox, with an `ipc` transport in its private folder and
    interrupts sent as messages (a signal would stop bubblewrap, not the kernel)."""

    course_folder: Path
    course_objects: Path  # the grader's folder of staged objects, shown read-only at the same path
    course_files: list[Path]
    course_environment: dict[str, str]
    course_limits: sandboxing.Limits
    course_sandboxed: bool = True
    course_group: cgroup.Group | None = None  # the sandbox's total budget (None: per-process limits only)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.transport = "ipc"  # ZMQ over Unix sockets: the kernel has no network
        self.ip = str(self.course_folder / "kernel")
        self.connection_file = str(self.course_folder / "kernel.json")
        self.client_factory = BoundedKernelClient
        self.session.unpack = remote.bounded_json  # the client shares this session

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                      f"--IPKernelApp.exec_lines={guard.STARTUP_LINE}"],
                display_name="Python 3 (grading)", language="python", interrupt_mode="message",
                env={} if self.course_sandboxed else self.course_environment)
        return self._kernel_spec

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        os.chmod(self.connection_file, 0o644)  # the kernel may run as `nobody` (its folder is private)
        if not self.course_sandboxed:
            return command
        fonts = sandboxing.matplotlib_font_cache()
        extra = {f"{self.course_environment['MPLCONFIGDIR']}/{fonts.name}": fonts} if fonts else {}
        extra[str(self.course_objects)] = self.course_objects
        return cgroup.wrap(self.course_group, sandboxing.command(
            command, ipc=self.course_folder, workdir=f"{sandboxing.STUDENT_HOME}/work", files=self.course_files,
            environment=self.course_environment, limits=self.course_limits, extra=extra))


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
        remote.SOCKET_ENV: str(folder / "remote.sock"), guard.LOG_ENV: str(folder / "guard.jsonl"),
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


def kernel_folders(parent: str = "/tmp") -> tuple[Path, Path, Path]:
    """(the grading folder, the kernel's own folder in it, the folder of staged objects in it).

    The grading folder is the grader's (0700). The kernel's folder `k` is writable by the
    kernel (its sockets, guard log): the grader only reads there, without following links
    (`guard.read_log`). What the grader writes for the kernel (tokenizers) goes to `objects`,
    beside `k`, which the kernel sees read-only: a kernel that swaps a path in `k` for a link
    cannot make the grader write or chmod where the link points."""
    _sweep_kernel_folders(parent)
    # short: socket paths are limited; the pid lets a later grader remove what a killed one left
    folder = Path(tempfile.mkdtemp(prefix=f"{KERNEL_FOLDER_PREFIX}{os.getpid()}-", dir=parent))
    ipc = folder / "k"
    sandboxing.prepare_ipc(ipc)
    objects = folder / "objects"
    objects.mkdir()
    objects.chmod(0o755)  # the kernel may run as `nobody`: it reads, it cannot write
    return folder, ipc, objects


class CourseExecute(Execute):
    """nbgrader's Execute with a sandboxed kernel and the tests in the grading process."""

    sandbox = Bool(True, help="Start each kernel in the bubblewrap sandbox; with False, "
                              "student code runs with the grader's rights (course autograde --unsafe)."
                   ).tag(config=True)
    memory_limit_mb = Integer(sandboxing.Limits.memory_mb, help="Address space per kernel process (MB)").tag(config=True)
    disk_limit_mb = Integer(sandboxing.Limits.disk_mb, help="Home + /tmp of the sandbox (MB)").tag(config=True)
    file_limit_mb = Integer(sandboxing.Limits.file_mb, help="Largest file the kernel may write (MB)").tag(config=True)
    total_memory_limit_mb = Integer(cgroup.Budget.memory_mb, help="Memory of the whole sandbox, every process "
                                    "and its tmpfs files together (MB; a cgroup, where one can be made)").tag(config=True)
    process_limit = Integer(cgroup.Budget.pids, help="Processes and threads of the whole sandbox (a cgroup)"
                            ).tag(config=True)
    notebook_timeout = Integer(3600, help="Seconds one notebook may take in all before it is "
                                          "reported as not graded").tag(config=True)
    threads = Integer(0, help="Threads per kernel (0: the cores divided by COURSE_GRADING_JOBS)").tag(config=True)
    interrupt_grace = Integer(10, help="Seconds a kernel has to stop after a cell's time limit interrupted it; "
                                       "one that does not is killed and its notebook is not graded").tag(config=True)

    @default("shutdown_kernel")
    def _kill_at_the_end(self) -> str:
        return "immediate"  # nothing in a graded kernel needs a graceful end; waiting costs seconds

    @default("iopub_timeout")
    def _wait_for_outputs(self) -> int:
        # nbclient waits 4 s after a cell's reply for its last outputs, then drops them. Beside
        # other kernels (load 5-7 on 2 cores) a correct notebook now and then lost a test whose
        # call cell left neither an answer nor an error ("did not return"): a dropped error
        # output is the likeliest cause. The wait ends as soon as the kernel says it is idle.
        return 30
    def preprocess(self, nb: NotebookNode, resources: dict, km: Any = None) -> tuple[NotebookNode, dict]:
        # nbgrader's own autograde (Formgrader's button) reaches here without `course autograde`'s
        # collect: the same limits, before a kernel starts.
        too_much = intake.content_refusal(nb)
        if too_much:
            raise NotebookRefused(too_much)
        problem = sandboxing.problem() if self.sandbox else None
        if problem:
            raise sandboxing.SandboxUnavailable(
                f"student code is only run in a sandbox, and it cannot start here: {problem}. "
                "Install bubblewrap, or accept the risk with `course autograde --unsafe` "
                "(nbgrader: c.CourseExecute.sandbox = False).")
        tests = LabTests(self._source_notebook(resources))
        threads = self.threads or max(1, (os.cpu_count() or 1) // max(1, int(os.environ.get("COURSE_GRADING_JOBS", "1"))))
        _set_torch_threads(threads)
        folder, ipc, objects = kernel_folders()
        capped = self.sandbox and sandboxing.cap_folder(ipc) is None
        client = remote.GraderClient(ipc, self._run_in_kernel, cell_timeout=self.timeout, save_dir=objects)
        self._runner = TestRunner(tests, client)
        self._runner.prepare()
        self._tests = tests
        self._order = CourseOrder(list(tests.tests), {cell.metadata["nbgrader"].get("grade_id") for cell in nb.cells
                                                      if is_test_cell(cell)})
        self._results: dict[str, list[NotebookNode]] = {}  # grade_id -> the outputs its test cell gets
        self._call_outputs: list[NotebookNode] = []
        self._probes: dict[str, str] = {}  # cell key of a call's code -> the test that made it
        self._started = time.monotonic()
        self._output_bytes = 0
        files, refused = _submitted_files(resources)
        resources.setdefault("course", {}).setdefault("notes", []).extend(refused)
        group = self._budget_group(threads) if self.sandbox else None
        manager = type("CourseKernelManager", (SandboxedKernelManager,), {
            "course_group": group,
            "course_folder": ipc,
            "course_objects": objects,
            "course_files": files,
            "course_environment": kernel_environment(ipc, threads, self.sandbox),
            "course_limits": sandboxing.Limits(memory_mb=self.memory_limit_mb, disk_mb=self.disk_limit_mb,
                                            file_mb=self.file_limit_mb),
            "course_sandboxed": self.sandbox,
        })
        self.kernel_manager_class = manager
        if not self.sandbox:
            (ipc / "home").mkdir()
            manager.course_environment[guard.MEMORY_ENV] = str(self.memory_limit_mb)
        try:
            nb, resources = super().preprocess(nb, resources, km=None)
            self._write_results(nb)
        finally:
            client.close()
            report = resources.setdefault("course", {})
            if group is not None:
                self._end_group(group, report)
            report["tampering"] = guard.read_log(ipc / "guard.jsonl", notes=report.setdefault("notes", []))
            report["probes"] = self._probes
            report["protocol"] = client.events[:20]
            if capped:
                if sandboxing.folder_full(ipc):
                    report.setdefault("notes", []).append(
                        f"the kernel filled its folder on the grader's machine (capped at "
                        f"{sandboxing.Limits.folder_mb} MB)")
                sandboxing.release_folder(ipc)
            for _ in range(5):  # the sandbox's last process may still be closing its files
                shutil.rmtree(folder, ignore_errors=True)
                if not folder.exists():
                    break
                time.sleep(0.2)
        return nb, resources

    def _budget_group(self, threads: int) -> cgroup.Group | None:
        """The sandbox's cgroup: the cores this job was given, the total memory and processes
        (None, said once per process, where this machine delegates no cgroup)."""
        group, problem = cgroup.create(cgroup.Budget(memory_mb=self._total_memory_mb(), cpus=float(threads),
                                                     pids=self.process_limit))
        if problem and not _said["cgroup"]:
            _said["cgroup"] = True
            self.log.warning("No cgroup for the sandboxes (%s): each kernel process has its own limits, "
                             "but nothing bounds their total memory, CPU or process count.", problem)
        return group

    def _total_memory_mb(self) -> int:
        """The sandbox's total: raised by as much as an instructor raised the per-process limit
        (`--memory-limit`), since a model that needs that much address space needs more memory too."""
        return self.total_memory_limit_mb + max(0, self.memory_limit_mb - sandboxing.Limits.memory_mb)

    def _end_group(self, group: cgroup.Group, report: dict) -> None:
        """Kill what is left in the sandbox's cgroup, delete it, and note a memory-limit kill."""
        kills = group.out_of_memory_kills()
        peak = group.peak_memory_mb()
        report["peak_memory_mb"] = None if peak is None else round(peak)
        if kills:
            report.setdefault("notes", []).append(
                f"the sandbox's total memory limit ({self._total_memory_mb()} MB) ended {kills} process(es)")
        if not group.remove():
            self.log.warning("A sandbox's cgroup could not be removed: %s", group.folders[0])

    def _source_notebook(self, resources: dict) -> NotebookNode:
        """The course's own notebook for this assignment (tests and set-up are taken from it)."""
        info = resources.get("nbgrader", {})
        coursedir = getattr(getattr(self.parent, "parent", None), "coursedir", None)
        if coursedir is None or "assignment" not in info:
            raise RuntimeError("CourseExecute runs inside nbgrader autograde (it needs the course directory)")
        path = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"])) / f"{info['notebook']}.ipynb"
        return nbformat.read(path, as_version=4)

    # -- cells
    def _unresponsive(self, reason: str) -> UnresponsiveKernelError:
        """The error that stops this notebook, its reason logged where `pipeline.failure_reason`
        finds it (nbgrader logs only its own generic text for this error)."""
        self.log.error("UnresponsiveKernelError: %s", reason)
        return UnresponsiveKernelError(reason)

    def _past_deadline(self) -> UnresponsiveKernelError | None:
        if time.monotonic() - self._started <= self.notebook_timeout:
            return None
        return self._unresponsive(f"the notebook ran past its {self.notebook_timeout} s in all (the course's "
                                  "limit per notebook): the kernel was stopped")

    def _get_timeout(self, cell: NotebookNode | None) -> int | None:
        """A cell's time limit, cut to what is left of the notebook's: the notebook's limit
        holds, interrupt included, even when one cell runs into it."""
        timeout = super()._get_timeout(cell)
        left = math.ceil(self.notebook_timeout - (time.monotonic() - getattr(self, "_started", time.monotonic())))
        return max(1, min(timeout, left) if timeout else left)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        late = self._past_deadline()
        if late:
            raise late
        self._reopen_iopub()
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if is_test_cell(cell) and grade_id in self._tests.tests:
            for due in self._order.reach(grade_id):
                self._run_test(due, cell, index)
            cell.outputs = self._results.get(grade_id, [])  # a test run later gets its outputs at the end
            cell.execution_count = None
        else:
            cell, _ = super().preprocess_cell(cell, resources, index)
        if index == len(self.nb.cells) - 1:  # the kernel is still up: the tests still waiting run now
            for due in self._order.rest():
                self._run_test(due, cell, index)
        return cell, self.resources

    def _run_test(self, grade_id: str, cell: NotebookNode, index: int) -> None:
        """Run the course's test `grade_id` now (while the cell at `index` is being processed)
        and keep the outputs its own test cell gets."""
        self._current_index = index
        self._current_test = grade_id
        self._call_outputs = []
        try:
            printed, error = self._runner.run(grade_id)
        except KernelGone as gone:
            raise gone.args[0] if gone.args and isinstance(gone.args[0], Exception) else DeadKernelError("Kernel died")
        finally:
            self.nb.cells[index] = cell  # nbclient stores each call's cell at this index
        hidden = self._tests.hidden(grade_id)
        outputs = [] if hidden else [*self._call_outputs]
        if printed and not hidden:
            outputs.append(nbformat.v4.new_output("stream", name="stdout", text=printed))
        if error is not None:
            outputs.append(error_output(error))
        self._results[grade_id] = outputs

    def _write_results(self, nb: NotebookNode) -> None:
        """Each test cell gets the outputs of its own test, wherever that test ran. A test cell
        whose test did not run scores 0 (an empty output would score full marks)."""
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if is_test_cell(cell) and grade_id in self._tests.tests:
                cell.outputs = self._results.get(grade_id) or (
                    [] if grade_id in self._results else
                    [error_output(RuntimeError("this test did not run: the notebook was not graded to its end"))])
                cell.execution_count = None

    def _run_in_kernel(self, code: str) -> str | None:
        """Run one call's code in the student's kernel (called by remote.GraderClient); the
        error the cell itself raised, if any (the call's own errors come back as answers)."""
        late = self._past_deadline()
        if late:
            raise KernelGone(late)
        probe = nbformat.v4.new_code_cell(code)
        self._probes[guard.cell_key(code)] = self._current_test
        self._reopen_iopub()
        try:
            self.execute_cell(probe, self._current_index, store_history=False)
        except (DeadKernelError, UnresponsiveKernelError) as error:
            raise KernelGone(error) from None
        for output in probe.outputs:  # what the student's code printed or displayed
            if output.output_type == "stream":
                self._call_outputs.append(nbformat.v4.new_output("stream", name="stdout", text=output.text))
            elif output.output_type in ("display_data", "execute_result"):
                self._call_outputs.append(nbformat.v4.new_output("display_data", data=output.get("data", {})))
        errors = [o for o in probe.outputs if o.output_type == "error"]
        return f"{errors[0].get('ename', '')}: {errors[0].get('evalue', '')}"[:300] if errors else None

    # -- the client's safety nets
    def _reopen_iopub(self) -> None:
        """Connect iopub again if a message past MAX_KERNEL_MESSAGE_BYTES ended it (noted once)."""
        if isinstance(self.kc, BoundedKernelClient) and self.kc.reopen_dropped_iopub() and self.kc.dropped == 1:
            self.resources.setdefault("course", {}).setdefault("notes", []).append(
                f"the kernel sent a message over {MAX_KERNEL_MESSAGE_BYTES // 2**20} MB: dropped unread")

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        size = sum(len(str(value)) for value in msg.get("content", {}).values())
        used = sum(len(str(o.get("text", ""))) + len(str(o.get("data", ""))) for o in outs)
        self._output_bytes = getattr(self, "_output_bytes", 0) + size
        if used + size > MAX_CELL_OUTPUT_BYTES or self._output_bytes > MAX_NOTEBOOK_OUTPUT_BYTES:
            if not any(o.get("name") == "stdout" and "output cut" in o.get("text", "") for o in outs):
                outs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n... output cut: this cell printed more than {MAX_CELL_OUTPUT_BYTES // 2**20} MB "
                         f"(or the notebook more than {MAX_NOTEBOOK_OUTPUT_BYTES // 2**20} MB)\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> dict | None:
        reply = await super()._async_handle_timeout(timeout, cell)  # interrupts the kernel
        if not await self._responds(seconds=self.interrupt_grace):
            # It ignores Ctrl-C or is stuck where a signal cannot reach: nbclient's clean-up
            # kills it (shutdown_kernel = "immediate": SIGKILL to bubblewrap, whose death ends
            # every process of the sandbox's PID namespace).
            where = getattr(self, "_current_test", None) if cell is not None and cell.source.startswith("__import__(") else \
                (cell.metadata.get("nbgrader", {}).get("grade_id") if cell is not None else None)
            raise self._unresponsive(
                f"a cell{f' ({where})' if where else ''} ran past the time limit ({timeout} s) and did not stop "
                f"within {self.interrupt_grace} s of the interrupt (it ignores Ctrl-C or blocks): the kernel was "
                "killed")
        return reply

    async def _responds(self, seconds: float) -> bool:
        """Whether the kernel answers a kernel_info request (it only can when it is idle)."""
        assert self.kc is not None
        msg_id = self.kc.kernel_info()
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                reply = await self.kc.shell_channel.get_msg(timeout=remaining)
            except (asyncio.TimeoutError, TimeoutError, Exception):
                return False
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False


_said = {"cgroup": False}  # what is said once per grading process


def _submitted_files(resources: dict) -> tuple[list[Path], list[str]]:
    """The student's own files (not notebooks: the one being graded carries the hidden tests
    at this point) from the folder nbgrader grades in, and a note for each file refused.

    Only ordinary files enter the sandbox: a link (symbolic or hard), a FIFO, a device or an
    oversized file would be bound into it as whatever it points to (`intake`)."""
    folder = Path(resources.get("metadata", {}).get("path") or ".")
    files, notes = [], []
    for path in sorted(folder.iterdir()) if folder.is_dir() and not folder.is_symlink() else []:
        if path.suffix == ".ipynb" or path.name in intake.NBGRADER_FILES or (path.is_dir() and not path.is_symlink()):
            continue
        problem = intake.refusal(path)
        if problem:
            notes.append(f"handed-in file {neutralise.for_terminal(path.name, 80)!r} refused, not given to the "
                         f"kernel: {problem}")
        else:
            files.append(path)
    return files, notes


def _set_torch_threads(threads: int) -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
