"""Kernels started ahead (`kernels.Spare`): the next notebook's sandboxed kernel starts while the
current one is graded, holds nothing of any student when it is handed to one, and is ended
(cgroup and folders too) when the batch ends, is interrupted or its worker exits."""

from __future__ import annotations

import multiprocessing
import ast
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_admin import batch, execute, kernels, labformat, pipeline, sandbox, timing
from course_admin.collect import Submission

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sandbox.problem() is not None, reason="no sandbox here")


@pytest.fixture(autouse=True)
def _no_spare_outlives_its_test():
    yield
    kernels.spare_slot.end()


def _executor() -> execute.CourseExecute:
    """An executor as it is while a notebook is graded (the spare is started from there)."""
    executor = execute.CourseExecute()
    tests = execute.LabTests(nbformat.v4.new_notebook())
    executor._grading = execute._Grading(tests=tests, runner=None, order=execute.CourseOrder([], set()),
                                         kernel=None, threads=1)
    return executor


def _run(spare: kernels.Spare, code: str) -> str:
    """What `code` prints in the spare's kernel."""
    client = spare.manager.blocking_client()
    client.start_channels()
    printed: list[str] = []
    try:
        client.wait_for_ready(timeout=120)
        reply = client.execute_interactive(
            code, timeout=120, output_hook=lambda msg: printed.append(msg["content"].get("text", "")))
    finally:
        client.stop_channels()
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(printed).strip()


def _gone(spare: kernels.Spare) -> bool:
    """Nothing of the spare is left: its kernel, its folders, its cgroup."""
    group = spare.prepared.group
    return (not spare.alive() and not spare.prepared.folder.exists()
            and (group is None or not any(folder.exists() for folder in group.folders + group.extra)))


def test_the_next_kernel_starts_ahead_with_the_course_libraries_and_holds_nothing_the_student_before_left():
    executor = _executor()
    key = executor._spare_key(1)
    executor._start_spare(1)
    first = kernels.spare_slot.take(key)
    assert first is not None and kernels.spare_slot.take(key) is None, "one spare, handed out once"
    loaded = _run(first, "import sys; print(all(name in sys.modules for name in ('torch', 'transformers', "
                         "'course_utils.models')), 'torch' in dir(), 'name' in dir(), repr(_), Out)")
    assert loaded == "True False False '' {}", \
        "the course's libraries are imported before the student's first cell, and bind no name in the notebook"
    _run(first, "import os\nsecret = 41\nfor path in ('left.txt', '/tmp/left.txt', os.path.expanduser('~/left.txt')):"
                "\n    open(path, 'w').write('answers')")
    executor._start_spare(1)  # as while the first student's notebook is graded
    second = kernels.spare_slot.take(key)
    first.end()
    try:
        assert _run(second, "import os\nprint('secret' in dir(), [os.path.exists(p) for p in ('left.txt', "
                            "'/tmp/left.txt', os.path.expanduser('~/left.txt'))])") == "False [False, False, False]"
        assert second.prepared.folder != first.prepared.folder
    finally:
        second.end()
    assert _gone(first) and _gone(second)


def test_a_kernel_started_ahead_imports_every_library_the_labs_set_up_cells_import():
    imported = set()
    for path in sorted((ROOT / "solutions").glob("lab*/lab*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        libraries = execute.LabTests(notebook).libraries
        assert "torch" in libraries and set(kernels.MODEL_MODULES) <= set(libraries), (path.stem, libraries)
        imported |= set(libraries)
        for source in labformat.read_lab(notebook).setup:
            imports = labformat.imported_modules(ast.parse(execute._transform(source)))
            assert {name for name in imports if name.split(".")[0] not in sys.stdlib_module_names} <= set(libraries)
    # a kernel started before its notebook's lab is known imports every lab's
    assert imported <= set(kernels.PRELOADED), sorted(imported - set(kernels.PRELOADED))


def test_a_kernel_started_ahead_imports_the_modelling_module_of_every_embedded_model():
    # transformers imports a model's module when the first model of its kind loads: 1.6 s in the
    # notebook's model cell, unless the kernel started ahead has imported it
    model_types = {json.loads(config.read_text())["model_type"]
                   for config in (ROOT / "course_utils" / "assets").glob("*/config.json")}
    modules = {f"transformers.models.{kind}.modeling_{kind}" for kind in model_types}
    assert len(modules) >= 3 and modules <= set(kernels.MODEL_MODULES), sorted(modules - set(kernels.MODEL_MODULES))


def test_a_kernel_started_ahead_imports_its_labs_libraries_only():
    # a lab without torch (test_attacks' small lab) does not pay for importing it in every kernel
    assert execute.setup_libraries(["import numpy as np\nimport os, json\nfrom . import nothing"]) == ("numpy",)
    executor = _executor()
    executor._start_spare(1, ("numpy",))
    spare = kernels.spare_slot.take(executor._spare_key(1))
    try:
        assert _run(spare, "import sys; print('numpy' in sys.modules, 'torch' in sys.modules)") == "True False"
    finally:
        spare.end()
    with pytest.raises(ValueError):
        kernels.preload_line(("numpy", "os; import shutil"))


def test_a_learners_notebook_gets_a_kernel_with_the_libraries_of_its_likely_lab(monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(execute, "start_kernel_ahead", lambda config, jobs, libraries: started.append(libraries))
    monkeypatch.setenv("COURSE_GRADING_JOBS", "1")
    course = pipeline.scratch_course(tmp_path / "course", ["lab5_explaining_generation"])
    for lab in ("lab5_explaining_generation", None, "no_such_lab"):
        batch.start_kernel_ahead(course, batch.Options(jobs=1), lab)
    lab5, unknown, missing = started
    assert "captum.attr" in lab5 and "lime.lime_text" not in lab5, "Lab 5 imports captum, not lime"
    assert unknown == missing == kernels.PRELOADED, "a lab not known (or not found) gets every lab's libraries"


def test_a_spare_started_with_other_settings_is_ended_not_handed_out():
    executor = _executor()
    executor._start_spare(1)
    spare = kernels.spare_slot.held
    assert kernels.spare_slot.take(executor._spare_key(2)) is None  # two threads wanted, one given
    assert _gone(spare) and kernels.spare_slot.held is None


def test_a_notebook_with_handed_in_files_or_without_the_sandbox_gets_a_kernel_of_its_own(tmp_path):
    executor = _executor()
    executor._start_spare(1)
    spare = kernels.spare_slot.held
    assert executor._take_spare([tmp_path / "data.csv"], 1) is None
    executor._start_spare(1)  # while that notebook is graded: the spare is kept for the next one
    assert kernels.spare_slot.held is spare and spare.alive()
    executor.sandbox = False
    assert executor._take_spare([], 1) is None and kernels.spare_slot.held is spare
    executor.sandbox = True
    assert executor._take_spare([], 1) is spare


def test_nbclient_is_handed_the_spares_manager_once():
    executor = _executor()
    manager = kernels.SandboxedKernelManager(kernels.KernelSetup(
        folder=Path("/nonexistent"), objects=Path("/nonexistent"), files=[], environment={}, limits=sandbox.Limits()))
    executor._grading.kernel = manager.setup
    executor._grading.spare = kernels.Spare(key=(), prepared=None, manager=manager)
    assert executor.create_kernel_manager() is manager
    again = executor.create_kernel_manager()  # nbgrader's retry: a kernel of its own
    assert again is not manager and isinstance(again, kernels.SandboxedKernelManager)


def test_nbclient_runs_the_notebook_in_the_spare_ends_it_and_the_wait_is_timed():
    executor = _executor()
    executor._start_spare(1)  # as in preprocess_cell: outside nbclient's event loop
    spare = kernels.spare_slot.take(executor._spare_key(1))
    executor._grading.spare, executor._grading.kernel = spare, spare.manager.setup
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print('torch' in sys.modules)")])
    NotebookClient.__init__(executor, nb, None)  # as nbconvert's preprocess does
    executor.reset_execution_trackers()
    timing.take()
    with executor.setup_kernel():
        assert executor.km is spare.manager
        assert executor.execute_cell(nb.cells[0], 0).outputs[0]["text"] == "True\n"
    assert not spare.alive(), "nbclient's clean-up ends the kernel it was handed"
    assert timing.take()[timing.KERNEL_START] > 0
    spare.end()
    assert _gone(spare)


def test_a_command_grading_one_notebook_here_starts_its_kernel_before_nbgrader_reaches_it(tmp_path):
    course = pipeline.scratch_course(tmp_path / "course", ["lab1_lime_from_scratch"], ROOT)
    for options in (batch.Options(jobs=2), batch.Options(sandbox=False), batch.Options(cluster="tcp://x:8786")):
        batch.start_kernel_ahead(course, options)
        assert kernels.spare_slot.held is None, f"no kernel ahead for {options}"  # workers or another machine grade
    batch.start_kernel_ahead(course, batch.Options(memory_limit_mb=3000))
    executor = execute.CourseExecute(config=pipeline.course_config(course, memory_limit_mb=3000))
    assert kernels.spare_slot.held is not None and kernels.spare_slot.held.key[1:] == executor._spare_key(1)[1:], \
        "started with the limits the course's grading will ask for"


class _Workspace:
    """The gradebook steps of a batch, none of which matter here."""

    def ensure_registered(self, lab: str) -> None: ...

    def submit(self, *args: object) -> None: ...


def test_an_interrupted_batch_leaves_no_kernel_started_ahead(tmp_path, monkeypatch):
    started: list[kernels.Spare] = []

    def grade_one(course, out, lab, student, digest, options, more=False):
        # Ctrl-C while a notebook is graded and the next one's kernel has started
        executor = _executor()
        executor._start_spare(1)
        started.append(kernels.spare_slot.held)
        batch._stop.set()
        return None

    monkeypatch.setattr(batch, "_workspace", lambda course, options: _Workspace())
    monkeypatch.setattr(batch, "_grade_one", grade_one)
    notebook = tmp_path / "lab1.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    submissions = [Submission(student=name, lab="lab1", path=notebook) for name in ("ann", "bob")]
    with pytest.raises(batch.Interrupted):
        batch.grade_batch(tmp_path, tmp_path / "out", submissions, batch.Options())
    assert len(started) == 1 and _gone(started[0]) and kernels.spare_slot.held is None


def _worker_keeps_a_spare(found: multiprocessing.Queue) -> None:
    executor = _executor()
    executor._start_spare(1)
    spare = kernels.spare_slot.held
    group = spare.prepared.group
    found.put((spare.manager.provisioner.process.pid, str(spare.prepared.folder),
               [str(folder) for folder in (group.folders + group.extra if group else [])]))
    # the worker's work is done: it exits with the spare still held


def test_a_worker_that_exits_ends_the_kernel_it_started_ahead():
    context = multiprocessing.get_context("spawn")  # as the batch's workers
    found = context.Queue()
    worker = context.Process(target=_worker_keeps_a_spare, args=(found,))
    worker.start()
    pid, folder, groups = found.get(timeout=120)
    worker.join(timeout=60)
    assert worker.exitcode == 0
    assert not Path(f"/proc/{pid}").exists() or _zombie_or_gone(pid)
    assert not Path(folder).exists() and not any(Path(group).exists() for group in groups)


def _zombie_or_gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_a_learners_grading_imports_its_labs_libraries_ahead_and_the_set_up_waits_for_them(monkeypatch):
    """start_kernel_ahead also imports the lab's libraries in the grading process (a thread, not a
    daemon: the process never ends in the middle of an import), and the set-up waits for it."""
    imported = []
    monkeypatch.setattr(execute.importlib, "import_module", lambda name: imported.append(name))
    monkeypatch.setattr(execute.sandboxing, "problem", lambda: "no sandbox in this test")
    execute.start_kernel_ahead(None, 1, ("numpy", "no_such_module", "json"))
    thread = execute._importing
    assert thread is not None and not thread.daemon
    runner = execute.TestRunner.__new__(execute.TestRunner)
    runner.tests, runner._error, runner._ready = type("Tests", (), {"setup": [], "exercises": []})(), None, \
        __import__("threading").Event()
    runner.client = type("Client", (), {})()
    runner._set_up()
    assert not thread.is_alive() and imported == ["numpy", "no_such_module", "json"]
    assert runner._error is None
