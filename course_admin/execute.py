"""nbgrader's Execute step, sandboxed, with the tests run by the grading process.

`CourseExecute` replaces ``nbgrader.preprocessors.Execute`` in ``nbgrader_config.py``, so
``nbgrader autograde``, Formgrader's Autograde button and ``course autograde`` grade the
same way:

* the student's kernel starts in a sandbox (`course_admin.sandbox`), or, where no sandbox
  can run, only if the course is configured to allow it (``course autograde --unsafe``;
  the kernel itself: `course_admin.kernels`); in a batch, the next notebook's sandboxed kernel
  starts while this one is graded (`kernels.Spare`);
* the student's cells run in that kernel, in order;
* every test cell of the assignment runs in *this* process, from the course's own copy of
  the test (never the submission's), in the course's order of tests whatever the
  submission's order (`CourseOrder`), in a namespace built from the lab's set-up cells; the
  exercise functions in that namespace forward each call to the kernel with plain data
  (`course_admin.remote_client`). The cell's outputs are written here: a failure is the test's
  own message, and a hidden test shows nothing else.

Each step's seconds are recorded in this process for the class benchmark (`course_admin.timing`).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib
import importlib.util
import io
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbconvert.exporters import NotebookExporter
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.preprocessors.execute import UnresponsiveKernelError
from traitlets import Bool, Integer, default

from course_admin import cgroup, intake, kernels, labformat, neutralise, remote_client, timing
from course_admin import sandbox as sandboxing
from course_admin.kernel import guard
from course_admin.kernels import KernelGone

# What the client keeps of a kernel's output (CleanOutputs cuts what is stored much further):
# a lab's largest cell shows two lime pages of about 1 MB each; a flood stops here.
MAX_CELL_OUTPUT_BYTES = 8 * 2**20
MAX_NOTEBOOK_OUTPUT_BYTES = 64 * 2**20


# Set by Ctrl-C (course_admin.batch, in the main process and in each worker): the notebook being
# graded stops at its next cell rather than running to its end only to be thrown away (a re-run
# grades it again).
stop_requested = threading.Event()


class StoppedByCtrlC(Exception):
    """Ctrl-C while this notebook was graded: it stops at its next cell, ungraded."""


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

    def _preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        # Each preprocessor's seconds for the class benchmark (`course_admin.timing`): nbconvert
        # runs the list `_preprocessors` in order, so each is wrapped for this call only.
        registered = self._preprocessors
        self._preprocessors = [_Timed(preprocessor) for preprocessor in registered]
        try:
            return super()._preprocess(nb, resources)
        finally:
            self._preprocessors = registered

    def _validate_preprocessor(self, nbc: NotebookNode, preprocessor: Any) -> None:
        with timing.phase(timing.PREPROCESSOR + "validation"):  # nbconvert validates after each one
            super()._validate_preprocessor(nbc, preprocessor)


class _Timed:
    """A preprocessor whose calls count towards its phase in `course_admin.timing`."""

    def __init__(self, preprocessor: Callable):
        self.preprocessor = preprocessor
        self.name = timing.PREPROCESSOR + type(preprocessor).__name__

    def __call__(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        with timing.phase(self.name):
            return self.preprocessor(nb, resources)

    def __getattr__(self, name: str) -> Any:  # nbconvert's validation names the preprocessor
        return getattr(self.preprocessor, name)

    def __repr__(self) -> str:
        return repr(self.preprocessor)


class LabTests:
    """The course's own test cells and set-up code for one lab, read from its source notebook
    (`course_admin.labformat`)."""

    def __init__(self, source: NotebookNode):
        lab = labformat.read_lab(source)
        self.setup = lab.setup
        self.tests = {grade_id: test.source for grade_id, test in lab.tests.items()}
        self.exercises = list(lab.exercises)
        self.libraries = setup_libraries(lab.setup)

    def hidden(self, grade_id: str) -> bool:
        return labformat.has_hidden(self.tests[grade_id])


def setup_libraries(setup: list[str]) -> tuple[str, ...]:
    """The installed libraries a lab's set-up cells import, which a kernel started ahead for the
    lab imports (`kernels.preload_line`); with the embedded models' modules when it loads models."""
    names: list[str] = []
    for source in setup:
        try:
            names += labformat.imported_modules(ast.parse(_transform(source)))
        except SyntaxError:
            continue
    libraries = [name for name in dict.fromkeys(names) if name.split(".")[0] not in sys.stdlib_module_names
                 and importlib.util.find_spec(name.split(".")[0]) is not None]
    if "course_utils.models" in libraries:
        libraries += [name for name in kernels.MODEL_MODULES if name not in libraries]
    return tuple(libraries)


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

    def __init__(self, tests: LabTests, client: remote_client.GraderClient):
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
        started = time.perf_counter()
        if _importing is not None:
            _importing.join()
        try:
            namespace: dict[str, Any] = {"__name__": "__main__"}
            with _quiet():
                for source in self.tests.setup:
                    exec(compile(_transform(source), "<lab set-up>", "exec"), namespace)
            proxies = {name: remote_client.RemoteFunction(self.client, name, name) for name in self.tests.exercises}
            namespace.update(proxies)
            # A test may rebind an exercise's name (to grade another exercise on its own): the
            # student's code sees the same binding during the calls.
            self.client.overrides = lambda: {name: namespace.get(name) for name, proxy in proxies.items()
                                             if namespace.get(name) is not proxy}
            self._namespace = namespace
        except BaseException as error:  # noqa: BLE001  (reported when the first test needs it)
            self._error = error
        finally:
            timing.add(timing.SETUP, time.perf_counter() - started)
            self._ready.set()

    def settle(self) -> None:
        """Wait for the set-up thread, if it started: a notebook stopped early (Ctrl-C, a dead
        kernel) must not end the process while torch runs in that thread (C++ aborts then)."""
        if self._started:
            self._ready.wait()

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


@dataclass
class _Grading:
    """What CourseExecute keeps while it grades one notebook (None between notebooks)."""

    tests: LabTests
    runner: TestRunner
    order: CourseOrder
    kernel: kernels.KernelSetup
    threads: int = 1  # torch's threads in the kernel and here
    spare: kernels.Spare | None = None  # a kernel started ahead for this notebook, until nbclient takes it
    started: float = field(default_factory=time.monotonic)
    results: dict[str, list[NotebookNode]] = field(default_factory=dict)  # grade_id -> its test cell's outputs
    call_outputs: list[NotebookNode] = field(default_factory=list)  # of the test being run
    probes: dict[str, str] = field(default_factory=dict)  # cell key of a call's code -> the test that made it
    output_bytes: int = 0  # the kernel's outputs so far
    current_index: int = 0  # the notebook cell being processed while a test runs
    current_test: str = ""


class CourseExecute(Execute):
    """nbgrader's Execute with a sandboxed kernel and the tests in the grading process."""

    _grading: _Grading | None = None

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

    @default("timeout_func")
    def _cut_to_the_notebooks_limit(self) -> Callable[[NotebookNode], int]:
        return self._cell_timeout

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
        threads = kernel_threads(self.threads, int(os.environ.get("COURSE_GRADING_JOBS", "1")))
        _size_own_threads()
        _keep_models()
        files, refused = _submitted_files(resources)
        resources.setdefault("course", {}).setdefault("notes", []).extend(refused)
        spare = self._take_spare(files, threads)
        prepared = spare.prepared if spare else self._prepare(threads)
        client = runner = None
        try:
            client = remote_client.GraderClient(prepared.ipc, self._run_in_kernel, cell_timeout=self.timeout,
                                                save_dir=prepared.objects)
            runner = TestRunner(tests, client)
            runner.prepare()
            present = {labformat.grade_id(cell) for cell in nb.cells if labformat.is_test(cell)}
            kernel = spare.manager.setup if spare else self._kernel_setup(prepared.ipc, prepared.objects, files,
                                                                          threads, prepared.group)
            self._grading = _Grading(tests=tests, runner=runner, order=CourseOrder(list(tests.tests), present),
                                     kernel=kernel, threads=threads, spare=spare)
            nb, resources = super().preprocess(nb, resources, km=None)
            self._write_results(nb)
        finally:
            if runner is not None:
                runner.settle()
            self._finish(prepared, spare, client, resources.setdefault("course", {}))
        return nb, resources

    def _finish(self, prepared: kernels.Prepared, spare: kernels.Spare | None,
                client: remote_client.GraderClient | None, report: dict) -> None:
        """After a notebook, graded or not: its kernel's remains removed, what they tell reported."""
        grading, self._grading = self._grading, None
        if client is not None:
            client.close()
            report["protocol"] = client.events[:20]
        if spare is not None and (grading is None or grading.spare is not None):
            spare.kill()  # never handed to nbclient (which ends the kernels it was given)
        if prepared.group is not None:
            self._end_group(prepared.group, report)
        report["tampering"] = kernels.read_guard_log(prepared.ipc / "guard.jsonl", notes=report.setdefault("notes", []))
        report["probes"] = grading.probes if grading is not None else {}
        if prepared.capped and sandboxing.folder_full(prepared.ipc):
            report.setdefault("notes", []).append(
                f"the kernel filled its folder on the grader's machine (capped at {sandboxing.Limits.folder_mb} MB)")
        kernels.remove_folders(prepared.folder, prepared.ipc, prepared.capped)

    def _take_spare(self, files: list[Path], threads: int) -> kernels.Spare | None:
        """The kernel started while the notebook before was graded, when this one can use it: the
        handed-in files are bound into a sandbox as it starts, so a notebook with files gets a
        kernel of its own, and so does one graded without the sandbox (it starts in the
        notebook's folder). A spare started with other settings is ended (`kernels.SpareSlot.take`)."""
        if not self.sandbox or files:
            return None  # (a spare stays for the notebook after)
        return kernels.spare_slot.take(self._spare_key(threads))

    def _prepare(self, threads: int) -> kernels.Prepared:
        """A new grading folder and cgroup for one kernel (`kernels.kernel_folders`, `_budget_group`)."""
        folder, ipc, objects = kernels.kernel_folders()
        capped = self.sandbox and sandboxing.cap_folder(ipc) is None
        group = self._budget_group(threads) if self.sandbox else None
        return kernels.Prepared(folder=folder, ipc=ipc, objects=objects, capped=capped, group=group)

    def _spare_key(self, threads: int) -> tuple:
        """Every setting a grading kernel is started with, besides its own folders (`kernels.Spare`)."""
        return (threads, self.memory_limit_mb, self.disk_limit_mb, self.file_limit_mb, self._total_memory_mb(),
                self.process_limit, self.ipython_hist_file)

    def _start_spare(self, threads: int, libraries: tuple[str, ...] = kernels.PRELOADED) -> None:
        """Start the kernel for this process's next notebook, in a new sandbox of its own, while
        this notebook is graded (`kernels.Spare`), importing `libraries` (those of the lab graded
        now: a batch grades a lab's notebooks one after another). Its start-up runs beside this
        notebook; a failure here only means the next notebook starts its kernel itself."""
        if kernels.spare_slot.has(self._spare_key(threads)):  # this notebook did not take it (its files)
            return
        spare = None
        try:
            prepared = self._prepare(threads)
            setup = self._kernel_setup(prepared.ipc, prepared.objects, [], threads, prepared.group)
            spare = kernels.Spare(self._spare_key(threads), prepared,
                                  kernels.SandboxedKernelManager(setup, preload=libraries, config=self.config))
            run_sync(spare.manager.start_kernel)(extra_arguments=self._history_arguments(spare.manager))
        except Exception as error:  # noqa: BLE001
            self.log.warning("The next notebook's kernel could not be started ahead: %s", error)
            if spare is not None:
                spare.end()
            return
        kernels.spare_slot.keep(spare)

    def _history_arguments(self, manager: kernels.SandboxedKernelManager) -> list[str]:
        """The arguments nbclient gives a kernel it starts (`async_start_new_kernel`): a spare
        kernel is started the same way. nbclient appends the history file to `extra_arguments`
        itself when it starts this notebook's kernel, so it is added only where it is missing:
        given twice, the kernel stops at start-up ("hist_file only accepts one value")."""
        arguments = list(self.extra_arguments)
        given = any(argument.startswith("--HistoryManager.hist_file") for argument in arguments)
        if getattr(manager, "ipykernel", False) and self.ipython_hist_file and not given:
            arguments.append(f"--HistoryManager.hist_file={self.ipython_hist_file}")
        return arguments

    def _kernel_setup(self, ipc: Path, objects: Path, files: list[Path], threads: int,
                      group: cgroup.Group | None) -> kernels.KernelSetup:
        """What this notebook's kernel is given: its folder, the handed-in files, its environment, limits."""
        environment = kernels.kernel_environment(ipc, threads, self.sandbox)
        if not self.sandbox:
            (ipc / "home").mkdir()
            environment[guard.MEMORY_ENV] = str(self.memory_limit_mb)
        limits = sandboxing.Limits(memory_mb=self.memory_limit_mb, disk_mb=self.disk_limit_mb,
                                   file_mb=self.file_limit_mb)
        return kernels.KernelSetup(folder=ipc, objects=objects, files=files, environment=environment, limits=limits,
                                   sandboxed=self.sandbox, group=group)

    def create_kernel_manager(self) -> kernels.SandboxedKernelManager:
        """nbclient's kernel manager for this notebook: the kernel that `_kernel_setup` describes
        (the Python grading kernel, whatever kernel name the submission's metadata gives)."""
        assert self._grading is not None, "a kernel is started by preprocess only"
        spare, self._grading.spare = self._grading.spare, None  # (a retry of nbgrader's gets a new one)
        self.km = spare.manager if spare else kernels.SandboxedKernelManager(self._grading.kernel, config=self.config)
        return self.km

    # nbclient's setup_kernel (which nbconvert's preprocess uses) calls these two synchronous
    # wrappers of its async methods.
    def start_new_kernel(self, **kwargs: Any) -> None:
        with timing.phase(timing.KERNEL_START):
            super().start_new_kernel(**kwargs)

    def start_new_kernel_client(self) -> Any:
        # Until the kernel answers: a kernel started ahead (`kernels.Spare`) may still be importing.
        with timing.phase(timing.KERNEL_START):
            return super().start_new_kernel_client()

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

    def _elapsed(self) -> float:
        """Seconds since this notebook's grading started (0 outside preprocess)."""
        return 0.0 if self._grading is None else time.monotonic() - self._grading.started

    def _past_deadline(self) -> UnresponsiveKernelError | None:
        if self._elapsed() <= self.notebook_timeout:
            return None
        return self._unresponsive(f"the notebook ran past its {self.notebook_timeout} s in all (the course's "
                                  "limit per notebook): the kernel was stopped")

    def _cell_timeout(self, cell: NotebookNode) -> int:
        """A cell's time limit (nbclient's `timeout_func`), cut to what is left of the notebook's:
        the notebook's limit holds, interrupt included, even when one cell runs into it."""
        timeout = self.timeout if self.timeout and self.timeout > 0 else None
        left = math.ceil(self.notebook_timeout - self._elapsed())
        return max(1, min(timeout, left) if timeout else left)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        if stop_requested.is_set():
            raise StoppedByCtrlC("Ctrl-C: the grading stopped before this cell")
        late = self._past_deadline()
        if late:
            raise late
        self._reopen_iopub()
        grading = self._grading
        if index == 0 and self.sandbox and kernels.spare_slot.wanted:  # this notebook's kernel is up
            self._start_spare(grading.threads, grading.tests.libraries)
        grade_id = labformat.grade_id(cell)
        if labformat.is_test(cell) and grade_id in grading.tests.tests:
            for due in grading.order.reach(grade_id):
                self._run_test(due, index)
            cell.outputs = grading.results.get(grade_id, [])  # a test run later gets its outputs at the end
            cell.execution_count = None
        else:
            with timing.phase(timing.CELLS):
                cell, _ = super().preprocess_cell(cell, resources, index)
        if index == len(self.nb.cells) - 1:  # the kernel is still up: the tests still waiting run now
            for due in grading.order.rest():
                self._run_test(due, index)
        return cell, self.resources

    def _run_test(self, grade_id: str, index: int) -> None:
        """Run the course's test `grade_id` now (while the cell at `index` is being processed)
        and keep the outputs its own test cell gets."""
        grading = self._grading
        grading.current_index = index
        grading.current_test = grade_id
        grading.call_outputs = []
        try:
            with timing.phase(timing.TESTS):
                printed, error = grading.runner.run(grade_id)
        except KernelGone as gone:
            raise gone.args[0] if gone.args and isinstance(gone.args[0], Exception) else DeadKernelError("Kernel died")
        hidden = grading.tests.hidden(grade_id)
        outputs = [] if hidden else [*grading.call_outputs]
        if printed and not hidden:
            outputs.append(nbformat.v4.new_output("stream", name="stdout", text=printed))
        if error is not None:
            outputs.append(error_output(error))
        grading.results[grade_id] = outputs

    def _write_results(self, nb: NotebookNode) -> None:
        """Each test cell gets the outputs of its own test, wherever that test ran. A test cell
        whose test did not run scores 0 (an empty output would score full marks)."""
        for cell in nb.cells:
            grade_id = labformat.grade_id(cell)
            if labformat.is_test(cell) and grade_id in self._grading.tests.tests:
                cell.outputs = self._grading.results.get(grade_id) or (
                    [] if grade_id in self._grading.results else
                    [error_output(RuntimeError("this test did not run: the notebook was not graded to its end"))])
                cell.execution_count = None

    def _run_in_kernel(self, code: str) -> str | None:
        """Run one call's code in the student's kernel (called by remote_client.GraderClient); the
        error the cell itself raised, if any (the call's own errors come back as answers)."""
        late = self._past_deadline()
        if late:
            raise KernelGone(late)
        grading = self._grading
        probe = nbformat.v4.new_code_cell(code)
        grading.probes[guard.cell_key(code)] = grading.current_test
        self._reopen_iopub()
        index = grading.current_index
        cell = self.nb.cells[index]
        try:
            # The probe runs at the index of the cell being processed (its outputs' display ids
            # belong there); execute_cell then leaves the probe in that slot of the notebook,
            # so the notebook's own cell is put back (tests/test_execute_units.py).
            self.execute_cell(probe, index, store_history=False)
        except (DeadKernelError, UnresponsiveKernelError) as error:
            raise KernelGone(error) from None
        finally:
            self.nb.cells[index] = cell
        for output in probe.outputs:  # what the student's code printed or displayed
            if output.output_type == "stream":
                grading.call_outputs.append(nbformat.v4.new_output("stream", name="stdout", text=output.text))
            elif output.output_type in ("display_data", "execute_result"):
                grading.call_outputs.append(nbformat.v4.new_output("display_data", data=output.get("data", {})))
        errors = [o for o in probe.outputs if o.output_type == "error"]
        return f"{errors[0].get('ename', '')}: {errors[0].get('evalue', '')}"[:300] if errors else None

    # -- the client's safety nets
    def _reopen_iopub(self) -> None:
        """Connect iopub again if a message past MAX_KERNEL_MESSAGE_BYTES ended it (noted once)."""
        if isinstance(self.kc, kernels.BoundedKernelClient) and self.kc.reopen_dropped_iopub() and self.kc.dropped == 1:
            self.resources.setdefault("course", {}).setdefault("notes", []).append(
                f"the kernel sent a message over {kernels.MAX_KERNEL_MESSAGE_BYTES // 2**20} MB: dropped unread")

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        size = sum(len(str(value)) for value in msg.get("content", {}).values())
        used = sum(len(str(o.get("text", ""))) + len(str(o.get("data", ""))) for o in outs)
        if self._grading is not None:
            self._grading.output_bytes += size
        total = size if self._grading is None else self._grading.output_bytes
        if used + size > MAX_CELL_OUTPUT_BYTES or total > MAX_NOTEBOOK_OUTPUT_BYTES:
            if not any(o.get("name") == "stdout" and "output cut" in o.get("text", "") for o in outs):
                outs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n... output cut: this cell printed more than {MAX_CELL_OUTPUT_BYTES // 2**20} MB "
                         f"(or the notebook more than {MAX_NOTEBOOK_OUTPUT_BYTES // 2**20} MB)\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> dict | None:
        # nbclient's step after a cell's time limit (no public hook runs between the interrupt
        # and nbclient's wait for the cell's last outputs; tests/test_execute_units.py).
        reply = await super()._async_handle_timeout(timeout, cell)  # interrupts the kernel
        if not await self._responds(seconds=self.interrupt_grace):
            # It ignores Ctrl-C or is stuck where a signal cannot reach: nbclient's clean-up
            # kills it (shutdown_kernel = "immediate": SIGKILL to bubblewrap, whose death ends
            # every process of the sandbox's PID namespace).
            where = self._timed_out_test(cell)
            raise self._unresponsive(
                f"a cell{f' ({where})' if where else ''} ran past the time limit ({timeout} s) and did not stop "
                f"within {self.interrupt_grace} s of the interrupt (it ignores Ctrl-C or blocks): the kernel was "
                "killed")
        return reply

    def _timed_out_test(self, cell: NotebookNode | None) -> str | None:
        """The test whose call ran past its limit, or the notebook cell's grade id."""
        if cell is None:
            return None
        if cell.source.startswith("__import__(") and self._grading is not None:  # a test's call
            return self._grading.current_test
        return labformat.grade_id(cell) or None

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


def start_kernel_ahead(config: Any, jobs: int = 1, libraries: tuple[str, ...] = kernels.PRELOADED) -> None:
    """Start the kernel of the notebook this process is about to grade, before nbgrader reaches
    it (`kernels.Spare`): a learner's `course autograde <lab>.ipynb` collects, checks and records
    the notebook meanwhile. `config` is the course's (`pipeline.course_config`); the kernel's
    threads are those `CourseExecute.preprocess` gives one of `jobs` graders, and a notebook
    graded otherwise ends this kernel and starts its own."""
    executor = CourseExecute(config=config)
    if executor.sandbox and sandboxing.problem() is None:
        executor._start_spare(kernel_threads(executor.threads, jobs), libraries)
    _import_ahead(libraries)


# The thread importing the lab's libraries in this process ahead of its set-up (`_import_ahead`).
_importing: threading.Thread | None = None


def _import_ahead(libraries: tuple[str, ...]) -> None:
    """Import `libraries` in this process, in a thread, while the command collects and records the
    notebook and its kernel starts: the lab's set-up in this process (`TestRunner`) then finds them
    loaded. Self-grading Lab 5, the set-up (5.3-5.9 s, mostly imports) outlasted the cells before
    the first test, which waited for it. The set-up waits for this thread, so the two never import
    at once; the thread is not a daemon, so the process never ends in the middle of an import
    (torch aborts then)."""
    global _importing

    def run() -> None:
        for name in libraries:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001  (the set-up imports it again and reports what fails)
                pass

    _importing = threading.Thread(target=run, name="course-import-ahead")
    _importing.start()


def kernel_threads(configured: int, jobs: int) -> int:
    """A grading kernel's threads: `configured` (c.CourseExecute.threads) if set, else this
    process's share of the cores it really has when `jobs` graders share them."""
    from course_utils.threads import available_cores

    return configured or max(1, available_cores() // max(1, jobs))


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


# The grading process's own threads. Its work (the lab's set-up beside the kernel's start and
# cells, the tests' reference computations between calls) is small, and it runs beside its kernel:
# with two threads here and two in the kernel on 2 cores, Lab 3's cells took 11.7 s instead of
# 7.7 s and its set-up 9.3 s instead of 4.3 s, both waiting at every parallel step.
GRADER_THREADS = 1


def _size_own_threads() -> None:
    from course_utils.threads import size_threads

    size_threads(most=GRADER_THREADS)


def _keep_models() -> None:
    """This process loads each embedded model once and gives the set-up and the tests copies
    (`course_utils.models.keep_embedded_models`): the set-up of every notebook and each test that
    loads a model of its own (Lab 5's nine hidden tests) would otherwise read it from disk again."""
    from course_utils.models import keep_embedded_models

    keep_embedded_models()
