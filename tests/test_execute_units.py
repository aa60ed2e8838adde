"""Fast checks of what grading rests on in nbclient and jupyter_client, with no notebook run
and no sandbox: each test is named after the behaviour, so that an upgrade of either library
that changes one fails here, in a second, rather than in a class's grading.

Where the course uses an internal (no public API does the same), the test goes through it:
nbclient's `_async_handle_timeout` (its step after a cell's time limit), the notebook slot
`execute_cell` writes, jupyter_client's `_make_url` (the endpoint every channel connects to),
`_iopub_channel` (the slot the iopub channel is made again from) and the client's
`_context_default` (the context every socket is made from)."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import queue
import shutil
import sys
import time
import types
from pathlib import Path

import nbformat
import pytest
import zmq
from nbclient import NotebookClient
from nbgrader.preprocessors.execute import UnresponsiveKernelError

from course_admin import execute, kernels, sandbox
from course_admin.kernel import codec, guard

PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}


def _message(msg_id: str, msg_type: str, content: dict) -> dict:
    return {"parent_header": {"msg_id": msg_id}, "msg_type": msg_type, "content": content,
            "header": {"msg_type": msg_type, "date": datetime.datetime.now(datetime.timezone.utc)}, "metadata": {}}


class _Channel:
    """A kernel channel that hands out the messages given, then stays silent (or says Empty)."""

    def __init__(self, messages: list[dict], empty: bool):
        self.messages = messages
        self.empty = empty

    async def get_msg(self, timeout: float | None = None) -> dict:
        if self.messages:
            return self.messages.pop(0)
        if self.empty:
            raise queue.Empty
        await asyncio.sleep(3600)


class _Kernel:
    """Stands for a kernel client and manager: a cell prints `printed` and replies, or (when
    `replies` is False) never replies and never goes idle, as a kernel that ignores Ctrl-C."""

    def __init__(self, printed: str = "", replies: bool = True):
        self.printed, self.replies = printed, replies
        self.interrupted = False
        self.shell_channel = _Channel([], empty=True)
        self.iopub_channel = _Channel([], empty=False)

    def execute(self, code: str, **kwargs: object) -> str:
        if self.replies:
            self.iopub_channel.messages += [_message("m1", "stream", {"name": "stdout", "text": self.printed}),
                                            _message("m1", "status", {"execution_state": "idle"})]
            self.shell_channel.messages.append(_message("m1", "execute_reply", {"status": "ok", "execution_count": 1}))
        return "m1"

    def kernel_info(self) -> str:
        return "info"

    async def is_alive(self) -> bool:
        return True

    async def interrupt_kernel(self) -> None:
        self.interrupted = True


def _executor(kernel: _Kernel, cell: nbformat.NotebookNode, **traits: object) -> execute.CourseExecute:
    executor = execute.CourseExecute(**traits)
    executor.nb = nbformat.v4.new_notebook(cells=[cell])
    executor.kc = executor.km = kernel
    executor.resources = {}
    executor.reset_execution_trackers()
    return executor


def _grading(started: float | None = None) -> execute._Grading:
    tests = execute.LabTests(nbformat.v4.new_notebook())
    setup = kernels.KernelSetup(folder=Path("/nonexistent"), objects=Path("/nonexistent"), files=[], environment={},
                                limits=sandbox.Limits())
    grading = execute._Grading(tests=tests, runner=execute.TestRunner(tests, client=None),
                               order=execute.CourseOrder([], set()), kernel=setup)
    if started is not None:
        grading.started = started
    return grading


# ---------------------------------------------------------------- nbclient
def test_nbclient_hands_a_cell_past_its_time_limit_to_the_course_which_kills_a_kernel_that_ignores_the_interrupt():
    """nbclient calls `_async_handle_timeout(timeout, cell)` when a cell's time is up; the
    course's override lets nbclient interrupt, then stops the notebook with the reason."""
    assert list(inspect.signature(NotebookClient._async_handle_timeout).parameters) == ["self", "timeout", "cell"]
    cell = nbformat.v4.new_code_cell("while True: pass")
    cell.metadata["nbgrader"] = {"grade_id": "ex_spin"}
    kernel = _Kernel(replies=False)
    executor = _executor(kernel, cell, timeout=1, interrupt_grace=0)
    with pytest.raises(UnresponsiveKernelError, match=r"a cell \(ex_spin\) ran past the time limit \(1 s\) and did not "
                                                      r"stop within 0 s of the interrupt"):
        executor.execute_cell(cell, 0)
    assert kernel.interrupted, "nbclient interrupts the kernel before the course's check"


def test_a_call_runs_at_the_cell_being_processed_and_leaves_the_notebooks_cell_in_its_slot():
    """`execute_cell(probe, index)` leaves the probe at nb.cells[index]; a test's call puts the
    notebook's own cell back, and keeps what the student's code printed for the test's output."""
    cell = nbformat.v4.new_code_cell("x = 1")
    executor = _executor(_Kernel(printed="from the student's code\n"), cell, timeout=5)
    executor._grading = _grading()
    executor._grading.current_test = "test_f"
    probe_source = "__import__('course_admin.kernel.agent', fromlist=['serve']).serve('c1')"
    assert executor._run_in_kernel(probe_source) is None
    assert executor.nb.cells[0] is cell
    assert [output.text for output in executor._grading.call_outputs] == ["from the student's code\n"]
    assert executor._grading.probes == {guard.cell_key(probe_source): "test_f"}


def test_a_cells_time_limit_is_cut_to_what_is_left_of_the_notebooks_and_a_notebook_past_it_stops_with_the_reason():
    from course_admin import pipeline

    cell = nbformat.v4.new_code_cell("x = 1")
    executor = execute.CourseExecute(timeout=60, notebook_timeout=100)
    assert executor.timeout_func(cell) == 60, "outside a notebook's grading the cell's own limit holds"
    executor._grading = _grading(started=time.monotonic() - 95)
    assert executor.timeout_func(cell) <= 5
    executor._grading.started = time.monotonic() - 101
    late = executor._past_deadline()
    assert late is not None and "ran past its 100 s in all" in str(late)
    assert pipeline.failure_reason(f"[ERROR] UnresponsiveKernelError: {late}").startswith("the notebook ran past")


def test_a_cells_output_is_cut_past_the_cap_with_a_note():
    executor = _executor(_Kernel(), nbformat.v4.new_code_cell("print('x' * 10**7)"))
    executor.clear_before_next_output = False  # as execute_cell leaves it before the first output
    outs: list = []
    small = _message("m1", "stream", {"name": "stdout", "text": "ok\n"})
    huge = _message("m1", "stream", {"name": "stdout", "text": "x" * (execute.MAX_CELL_OUTPUT_BYTES + 1)})
    assert executor.output(outs, small, None, 0) is not None
    assert executor.output(outs, huge, None, 0) is None
    assert [o.text for o in outs][0] == "ok\n" and "output cut" in outs[-1].text and len(outs) == 2


def test_the_notebooks_kernel_manager_is_made_from_its_setup():
    executor = execute.CourseExecute()
    executor._grading = _grading()
    manager = executor.create_kernel_manager()
    assert isinstance(manager, kernels.SandboxedKernelManager) and executor.km is manager
    assert manager.setup is executor._grading.kernel


# ---------------------------------------------------------------- jupyter_client
@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "unsafe"])
def test_the_grading_kernel_starts_with_the_guard_whatever_kernel_the_notebook_names(tmp_path, sandboxed):
    environment = kernels.kernel_environment(tmp_path, 1, sandboxed)
    setup = kernels.KernelSetup(folder=tmp_path, objects=tmp_path / "objects", files=[], environment=environment,
                                limits=sandbox.Limits(), sandboxed=sandboxed)
    manager = kernels.SandboxedKernelManager(setup, kernel_name="ir")
    assert manager.kernel_spec.argv[-1] == f"--IPKernelApp.exec_lines={guard.STARTUP_LINE}"
    assert manager.kernel_spec.env == ({} if sandboxed else environment), "the sandbox gets its whole environment"
    assert manager.client_factory is kernels.BoundedKernelClient
    assert manager.session.unpack is codec.bounded_json, "kernel messages are parsed with a bound"
    manager.write_connection_file()
    command = manager.format_kernel_cmd()
    assert command[0] == ("bwrap" if sandboxed else sys.executable) and command[-1].endswith(guard.STARTUP_LINE)
    assert str(tmp_path / "kernel.json") in command


def test_the_clients_sockets_carry_the_message_cap_from_its_own_context(tmp_path):
    """`_context_default` (jupyter_client's default for the client's context) makes the context
    every channel's socket comes from; the client still owns it, and destroys it at its end."""
    client = kernels.BoundedKernelClient(transport="ipc", ip=str(tmp_path / "k"), **PORTS)
    sock = client.connect_shell()
    try:
        assert sock.getsockopt(zmq.MAXMSGSIZE) == kernels.MAX_KERNEL_MESSAGE_BYTES
        assert client._created_context, "the client destroys the context it made"
    finally:
        sock.close(linger=0)
        client.stop_channels()
    assert client.context.closed


def test_every_channel_connects_to_the_endpoint_make_url_gives(tmp_path):
    """jupyter_client names each channel's endpoint in `_make_url` only: the client connects
    through the socket files it holds (/proc/self/fd/N), never through their names."""
    context = zmq.Context.instance()
    kinds = {"shell": zmq.ROUTER, "iopub": zmq.PUB, "stdin": zmq.ROUTER, "control": zmq.ROUTER, "hb": zmq.REP}
    bound = {channel: context.socket(kind) for channel, kind in kinds.items()}
    for channel, sock in bound.items():
        sock.bind(f"ipc://{tmp_path}/k-{PORTS[channel + '_port']}")
    client = kernels.BoundedKernelClient(transport="ipc", ip=str(tmp_path / "k"), **PORTS)
    try:
        client._pin_sockets(wait=5)
        expected = {channel: f"ipc:///proc/self/fd/{fd}" for channel, fd in client._pinned.items()}
        assert set(expected) == set(kinds)
        for channel in ("shell", "iopub", "stdin", "control"):
            socket = getattr(client, f"{channel}_channel").socket
            assert socket.getsockopt(zmq.LAST_ENDPOINT).decode() == expected[channel], channel
        assert client.hb_channel.address == expected["hb"]
    finally:
        client.stop_channels()
        for sock in bound.values():
            sock.close(linger=0)


def test_an_iopub_channel_that_zmq_ended_is_made_again_from_its_empty_slot(tmp_path):
    """The iopub channel is made on first use of `iopub_channel` when `_iopub_channel` is
    empty: a connection ZMQ ended is noticed by the monitor and the channel made again."""
    publisher = zmq.Context.instance().socket(zmq.PUB)
    publisher.bind(f"ipc://{tmp_path}/k-2")
    client = kernels.BoundedKernelClient(transport="ipc", ip=str(tmp_path / "k"), **PORTS)
    try:
        first = client.iopub_channel
        time.sleep(0.2)  # connected
        publisher.close(linger=0)
        deadline = time.monotonic() + 10
        while not client.reopen_dropped_iopub() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.dropped == 1 and client._iopub_channel is not None and client.iopub_channel is not first
    finally:
        client.stop_channels()
        if not publisher.closed:
            publisher.close(linger=0)


def test_a_kernel_folder_is_made_in_the_graders_temporary_folder(tmp_path, monkeypatch):
    """With TMPDIR set, a grader's folders (and the sweep of a dead grader's) stay in it."""
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile reads TMPDIR once, then caches it
    folder, ipc, objects = kernels.kernel_folders()
    try:
        assert folder.parent == tmp_path and ipc.parent == folder and objects.parent == folder
        assert oct(folder.stat().st_mode & 0o777) == "0o700" and oct(objects.stat().st_mode & 0o777) == "0o755"
    finally:
        shutil.rmtree(folder)


def test_a_kernel_started_ahead_gets_the_history_file_once_after_nbclient_added_it():
    """nbclient appends `--HistoryManager.hist_file` to `extra_arguments` when it starts a notebook's
    kernel; the next notebook's kernel, started ahead with the same arguments, must not get it twice
    (the kernel then stops at start-up, and the notebook that takes it finds it dead)."""
    manager = types.SimpleNamespace(ipykernel=True)
    executor = execute.CourseExecute()
    assert executor._history_arguments(manager) == ["--HistoryManager.hist_file=:memory:"]
    executor.extra_arguments += ["--HistoryManager.hist_file=:memory:"]  # what nbclient's start does
    assert executor._history_arguments(manager) == ["--HistoryManager.hist_file=:memory:"]
    assert executor._history_arguments(types.SimpleNamespace(ipykernel=False)) == ["--HistoryManager.hist_file=:memory:"]
