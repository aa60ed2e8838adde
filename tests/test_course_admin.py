"""Units of the grading engine (course_admin): the data-only calls into the kernel, the
sandbox's command line and isolation, the scoring and feedback steps, the code scan, the
CLI pieces. The end-to-end runs are in test_nbgrader_pipeline.py, test_fault_suite.py and
test_attacks.py."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from course_admin import cli, kernels, labformat, pipeline, preprocessors, remote_client, sandbox, scan
from course_admin.kernel import agent, codec, guard, wire
from course_utils.grading import RecordingClassifier, RecordingWrapper

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- the codec
def _round_trip(value, on_callable=None):
    encoder = codec.Encoder(on_callable=on_callable)
    tree = encoder.encode(value)
    return codec.Decoder(encoder.buffers, on_callable=on_callable).decode(tree)


def test_plain_values_cross_unchanged_with_their_types():
    values = [None, True, 3, 2.5, float("inf"), "text", b"\x00\x01", (1, "a"), [1, [2.0]], {1, 2}, frozenset({3}),
              {"a": 1, 2: "b", (1, 2): None}, np.float32(0.5), np.int64(7), np.bool_(True), range(1, 9, 2),
              slice(1, None, 2), 1 + 2j]
    for value in values:
        back = _round_trip(value)
        assert back == value and type(back) is type(value), (value, back)
    assert math.isnan(_round_trip(float("nan")))


def test_arrays_and_tensors_keep_shape_dtype_and_autograd_flags():
    arrays = [np.arange(6, dtype=np.int16).reshape(2, 3), np.array(3.5), np.array(["a", "bc"]), np.zeros((0, 4))]
    for array in arrays:
        back = _round_trip(array)
        assert back.dtype == array.dtype and back.shape == array.shape and np.array_equal(back, array)
    for tensor in [torch.arange(5), torch.tensor(2.0), torch.ones(2, 3, dtype=torch.bfloat16), torch.zeros(0, dtype=torch.long)]:
        back = _round_trip(tensor)
        assert back.dtype == tensor.dtype and back.shape == tensor.shape and torch.equal(back, tensor)
    leaf = torch.ones(3, requires_grad=True)
    assert _round_trip(leaf).requires_grad and _round_trip(leaf).grad_fn is None
    assert _round_trip(leaf * 2).grad_fn is not None, "a result with a graph keeps one (tests check 'no graph')"
    assert not _round_trip(leaf.detach()).requires_grad
    assert _round_trip(torch.Size([2, 3])) == torch.Size([2, 3]) and _round_trip(torch.float16) is torch.float16
    objects = _round_trip(np.array([{"a": 1}, None], dtype=object))
    assert objects.dtype == object and objects[0] == {"a": 1}


def test_unknown_objects_arrive_empty_with_their_type_name():
    class SignificanceResult:
        statistic = 0.3

    back = _round_trip(SignificanceResult())
    assert type(back).__name__ == "SignificanceResult" and not hasattr(back, "statistic")


@pytest.mark.parametrize("tree, buffers", [
    ({"t": "nosuchtype"}, []),
    ({"t": "ndarray", "dtype": "|O", "shape": [1], "b": 0}, [b"x" * 8]),  # object dtype: pickles
    ({"t": "ndarray", "dtype": "<f8", "shape": [3], "b": 0}, [b"x" * 8]),  # wrong size
    ({"t": "ndarray", "dtype": "<f8", "shape": [-1], "b": 0}, [b"x" * 8]),
    ({"t": "tensor", "dtype": "float64", "np": "<f8", "shape": [1], "b": 5}, [b"x" * 8]),  # no such buffer
    ({"t": "model", "class": "BertModel", "config": {}, "state": {}}, []),  # the grader never rebuilds objects
    ({"t": "tokenizer", "path": "/etc"}, []),
    ({"t": "dict", "k": [1, 2], "v": [1]}, []),
    ({"t": "float", "v": "1e308*10"}, []),
])
def test_the_grading_side_refuses_malformed_or_dangerous_values(tree, buffers):
    with pytest.raises(codec.ProtocolError):
        codec.Decoder(buffers).decode(tree)


def test_deep_nesting_is_refused():
    tree = 1
    for _ in range(codec.MAX_DEPTH + 5):
        tree = {"t": "list", "v": [tree]}
    with pytest.raises(codec.ProtocolError):
        codec.Decoder([]).decode(tree)


def test_exceptions_keep_their_builtin_type_and_name():
    error = codec.exception_from({"type": "MyValueError", "bases": ["ValueError", "Exception"], "message": "bad\ninput"})
    assert isinstance(error, ValueError) and type(error).__name__ == "MyValueError" and str(error) == "bad input"
    assert type(codec.exception_from({"type": "KeyError", "bases": ["KeyError"], "message": "k"})) is KeyError
    assert isinstance(codec.exception_from({"type": "Weird", "bases": ["object"], "message": "m"}), Exception)


# ---------------------------------------------------------------- calls, with a kernel in a thread
@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A GraderClient whose 'kernel' is a thread of this process running agent.serve, with
    the student's functions in `namespace`."""
    namespace: dict = {}
    folder = Path(tempfile_dir())
    monkeypatch.setattr(agent, "_user_function", lambda name: namespace.get(name))
    monkeypatch.setattr(agent, "_user_namespace", lambda: namespace)
    monkeypatch.setattr(agent, "_AGENT", agent._KernelAgent())
    monkeypatch.setenv(wire.SOCKET_ENV, str(folder / "remote.sock"))

    def run_in_kernel(code: str) -> None:
        thread = threading.Thread(target=lambda: exec(code, {}))
        thread.start()
        thread.join()

    client = remote_client.GraderClient(folder, run_in_kernel)

    def define(source: str) -> None:
        exec(source, namespace)

    yield client, define
    client.close()


def tempfile_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="rt-", dir="/tmp")  # short: Unix socket paths are limited


def test_a_call_returns_the_students_value(kernel):
    client, define = kernel
    define("def f(xs, t):\n    xs = xs + [4]\n    t = t + 1\n    return sum(xs), t * 2")
    xs, t = [1, 2], torch.zeros(2)
    total, doubled = remote_client.RemoteFunction(client, "f", "f")(xs, t)
    assert total == 7 and torch.equal(doubled, 2 * torch.ones(2)) and client.events == []


def test_arguments_cross_as_copies_and_a_change_in_place_fails_the_call(kernel):
    """Issue 23: a weighted_mse that zeroed the test's weights and targets made the test's
    own expected value 0. The test's tensors stay as they were; the call fails (so a check
    that the input is not modified still fails), and the report says so."""
    client, define = kernel
    define("import torch\ndef weighted_mse(pred, target, weights):\n    weights.zero_()\n    target.zero_()\n"
           "    return torch.tensor(0.0)\n"
           "def grads_only(t, *, scale=1.0):\n    t.requires_grad_(True)\n    return float(t.detach().sum()) * scale\n"
           "def appends(xs, table):\n    xs.append(4)\n    table['k'] = 1\n    return len(xs)")
    pred, target, weights = torch.tensor([0.2, 0.4]), torch.tensor([1.0, 0.0]), torch.tensor([1.0, 3.0])
    with pytest.raises(remote_client.ArgumentChanged, match=r"weighted_mse changed its input in place \(argument 2, argument 3\)"):
        remote_client.RemoteFunction(client, "weighted_mse", "weighted_mse")(pred, target, weights)
    assert torch.equal(target, torch.tensor([1.0, 0.0])) and torch.equal(weights, torch.tensor([1.0, 3.0]))
    xs, table = [1, 2], {}
    with pytest.raises(AssertionError, match="appends changed its input"):  # a test's `except AssertionError` sees it
        remote_client.RemoteFunction(client, "appends", "appends")(xs, table=table)
    assert xs == [1, 2] and table == {}
    ones = torch.ones(3)
    assert remote_client.RemoteFunction(client, "grads_only", "grads_only")(ones, scale=2.0) == 6.0, \
        "turning on requires_grad changes no value: not a change"
    assert not ones.requires_grad
    assert client.events == [
        "weighted_mse changed the tests' arguments in place (argument 2, argument 3): the tests' objects were "
        "left unchanged and the call failed",
        "appends changed the tests' arguments in place (argument 1, table=): the tests' objects were left "
        "unchanged and the call failed"]


def test_a_students_exception_reaches_the_test_as_the_same_builtin_type(kernel):
    client, define = kernel
    define("def f(ids):\n    if not ids:\n        raise ValueError('empty input')\n    return 1")
    with pytest.raises(ValueError, match="empty input"):
        remote_client.RemoteFunction(client, "f", "f")([])
    with pytest.raises(NameError):
        remote_client.RemoteFunction(client, "missing", "missing")()


def test_callbacks_run_in_the_grading_process_and_returned_functions_run_in_the_kernel(kernel):
    client, define = kernel
    define("def make(fn, k):\n    def g(xs):\n        return [fn(x) * k for x in xs]\n    return g")
    seen = []

    def callback(x):
        seen.append(x)
        return x + 1

    define("def apply(fn, xs):\n    return [fn(x) for x in xs]")
    assert remote_client.RemoteFunction(client, "apply", "apply")(callback, [1, 2]) == [2, 3] and seen == [1, 2]
    g = remote_client.RemoteFunction(client, "make", "make")(lambda x: x, 10)
    assert callable(g) and g.__name__ == "g", "the student's function comes back as a function of the kernel"


def test_a_tests_function_lives_only_during_the_call_it_was_given_to(kernel):
    """Issue 23: a fit_surrogate that kept the course's weighted_mse, and a weighted_mse that
    called the kept handle when its own tests ran later, took the course's answers."""
    client, define = kernel
    define("kept = []\n"
           "def fit(loss, x):\n    kept.append(loss)\n    return float(loss(x, 2 * x))\n"
           "def weighted_mse(pred, target):\n    return kept[0](pred, target)\n"
           "def caught(pred, target):\n    try:\n        return kept[0](pred, target)\n"
           "    except RuntimeError as error:\n        return str(error)")
    course_loss = lambda pred, target: float(((target - pred) ** 2).mean())  # noqa: E731
    assert remote_client.RemoteFunction(client, "fit", "fit")(course_loss, torch.ones(2)) == 1.0
    with pytest.raises(RuntimeError, match="only be called during the call it was given to"):
        remote_client.RemoteFunction(client, "weighted_mse", "weighted_mse")(torch.zeros(2), torch.ones(2))
    assert remote_client.RemoteFunction(client, "caught", "caught")(torch.zeros(2), torch.ones(2)) == \
        "a function given by a test can only be called during the call it was given to", "it raises in the kernel"
    assert client.events == ["the student's code kept a function a test had given it and called it during a "
                             "later call (refused)"], "noted once"
    assert client.callbacks == {}, "nothing of the tests' is kept between calls"


def test_recorders_and_models_bring_back_their_calls_and_mode(kernel):
    client, define = kernel
    define("import torch\ndef f(model, ids):\n    model.eval()\n    with torch.no_grad():\n"
           "        return [model(ids[i:i + 2]).logits for i in range(0, len(ids), 2)]")
    recorder = RecordingClassifier(num_labels=3)
    ids = torch.randint(0, 1000, (5, 4))
    out = remote_client.RemoteFunction(client, "f", "f")(recorder, ids)
    assert [call["batch_size"] for call in recorder.calls] == [2, 2, 1] and not recorder.training
    assert torch.allclose(torch.cat(out), recorder.reference_logits(ids), atol=1e-6)
    wrapper = RecordingWrapper(RecordingClassifier(num_labels=2))
    define("def later(model):\n    def run(ids):\n        return model(ids).logits\n    return run")
    run = remote_client.RemoteFunction(client, "later", "later")(wrapper)
    run(torch.ones(3, 2, dtype=torch.long))
    assert [call["batch_size"] for call in wrapper.calls] == [3], "a returned function records into the same recorder"


def test_backward_through_a_students_result_reaches_the_tests_tensors(kernel):
    client, define = kernel
    define("def loss(pred, target):\n    return ((pred.reshape(-1) - target) ** 2).mean()")
    pred = torch.tensor([[0.2], [0.6]], requires_grad=True)
    value = remote_client.RemoteFunction(client, "loss", "loss")(pred, torch.tensor([0.5, 0.5]))
    assert value.requires_grad
    value.backward()
    assert torch.allclose(pred.grad.reshape(-1), torch.tensor([-0.3, 0.1]), atol=1e-6)


def test_a_kernel_that_answers_nothing_or_garbage_fails_the_call_not_the_grader(tmp_path):
    folder = Path(tempfile_dir())
    client = remote_client.GraderClient(folder, lambda code: None)  # the kernel ignores the request
    with pytest.raises(remote_client.RemoteCallError, match="did not return"):
        remote_client.RemoteFunction(client, "f", "f")(1)
    # the kernel could not even start the call: the message says why, not "time limit"
    client.run_in_kernel = lambda code: "ModuleNotFoundError: No module named 'course_admin'"
    with pytest.raises(remote_client.RemoteCallError, match="could not be called.*No module named 'course_admin'"):
        remote_client.RemoteFunction(client, "f", "f")(1)
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # garbage on the socket
        sock.connect(client.path)
        sock.sendall(b"\xff\xff\xff\xffjunk")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:  # an answer to a call never made
        sock.connect(client.path)
        wire.send_frame(sock, {"op": "fetch", "call": "c99"})
        wire.recv_frame(sock)
    client.close()
    assert any("protocol" in event or "not made" in event for event in client.events)


# ---------------------------------------------------------------- the sandbox
def test_the_sandbox_is_available_here():
    assert sandbox.problem() is None, sandbox.problem()


def _sandboxed(code: str, tmp_path: Path, files: list[Path] = (), environment: dict[str, str] | None = None,
               extra: dict[str, Path] | None = None) -> subprocess.CompletedProcess:
    ipc = tmp_path / "ipc"
    sandbox.prepare_ipc(ipc)
    environment = {"PATH": "/usr/bin", "HOME": sandbox.STUDENT_HOME, **(environment or {})}
    command = sandbox.command([sys.executable, "-c", code], ipc=ipc, workdir=f"{sandbox.STUDENT_HOME}/work",
                              files=list(files), environment=environment, extra=extra,
                              limits=sandbox.Limits(memory_mb=2048, file_mb=8, processes=64))
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_labs_libraries_start_silently_in_a_sandbox(tmp_path):
    """Any stderr in a graded cell scores 0: matplotlib must find its cache folder writable (the
    grader's font list is shown in it) and joblib (lime's scikit-learn) a writable /dev/shm."""
    import matplotlib.pyplot  # noqa: F401  (builds the grader's font list if it is missing)
    fonts = sandbox.matplotlib_font_cache()
    assert fonts is not None
    config = f"{sandbox.STUDENT_HOME}/.matplotlib"
    result = _sandboxed("import matplotlib.pyplot, os, joblib.parallel; print(os.access(%r, os.W_OK))" % config, tmp_path,
                        environment={"MPLCONFIGDIR": config}, extra={f"{config}/{fonts.name}": fonts})
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr
    assert result.stderr == ""


def test_a_sandboxed_process_sees_only_its_own_files_no_network_no_other_process(tmp_path):
    mine = tmp_path / "notes.txt"
    mine.write_text("the student's own file")
    secret = Path.home() / f".course-test-secret-{os.getpid()}"  # something in the grader's home
    secret.write_text("grader only")
    code = """
import os, socket, sys
print("files", sorted(os.listdir(".")))
print("own", open("notes.txt").read())
for path in [%r, %r, %r, "/etc/shadow"]:
    print(path, os.path.exists(path) and os.access(path, os.R_OK))
try:
    socket.create_connection(("127.0.0.1", 22), timeout=2); print("network yes")
except OSError as error:
    print("network no")
print("pids", sorted(p for p in os.listdir("/proc") if p.isdigit()))
print("env", sorted(os.environ))
try:
    open("notes.txt", "w")
except OSError:
    print("submission read-only")
try:
    open("big", "wb").write(b"0" * (16 * 2**20))
except OSError as error:
    print("file limit", error.errno)
import course_utils
""" % (str(ROOT / "solutions"), str(ROOT / "nbgrader_config.py"), str(secret))
    try:
        result = _sandboxed(code, tmp_path, [mine])
    finally:
        secret.unlink()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "files ['notes.txt']" in out and "own the student's own file" in out
    assert f"{ROOT / 'solutions'} False" in out and f"{ROOT / 'nbgrader_config.py'} False" in out
    assert f"{secret} False" in out and "/etc/shadow False" in out
    assert "network no" in out and "pids ['1', '2']" in out
    assert "env ['HOME', 'LC_CTYPE', 'PATH', 'PWD']" in out or "env ['HOME', 'PATH', 'PWD']" in out
    assert "submission read-only" in out and "file limit 27" in out


def test_the_kernel_imports_the_course_packages_the_grader_imported(tmp_path):
    """A grader run with PYTHONPATH on another checkout (or any install other than the venv's
    own mapping) must give its kernel that same checkout, not a folder the sandbox hides."""
    checkout = tmp_path / "checkout"
    for package in ("course_utils", "course_admin"):
        shutil.copytree(ROOT / package, checkout / package, ignore=shutil.ignore_patterns("assets", "__pycache__"))
    grader = f"""
import subprocess, sys
from pathlib import Path
from course_admin import kernels, sandbox
ipc = Path({str(tmp_path / "ipc")!r}); sandbox.prepare_ipc(ipc)
environment = kernels.kernel_environment(ipc, 1, True)
command = sandbox.command([sys.executable, "-c", "import course_utils, course_admin; print(course_utils.__file__, course_admin.__file__)"],
                          ipc=ipc, workdir=sandbox.STUDENT_HOME + "/work", files=[], environment=environment)
print(subprocess.run(command, capture_output=True, text=True).stdout.strip())
"""
    result = subprocess.run([sys.executable, "-c", grader], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(checkout)}, cwd=tmp_path)
    assert result.stdout.strip() == f"{checkout}/course_utils/__init__.py {checkout}/course_admin/__init__.py", \
        result.stderr[-2000:]


def test_nothing_a_sandboxed_process_starts_outlives_it(tmp_path):
    seconds = f"300.{int.from_bytes(os.urandom(3), 'big')}"  # this test's own sleep: no other process has it
    code = ("import subprocess, sys\n"
            f"subprocess.Popen(['sleep', '{seconds}'], start_new_session=True)\n"
            "print('started')")
    result = _sandboxed(code, tmp_path)
    assert "started" in result.stdout, result.stderr
    survivors = subprocess.run(["pgrep", "-a", "-f", f"^sleep {seconds}$"], capture_output=True, text=True).stdout
    assert survivors == ""


# ---------------------------------------------------------------- scoring and outputs
def _test_cell(outputs, points=2):
    cell = nbformat.v4.new_code_cell("check()")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": points, "grade_id": "test_x"}
    cell.outputs = outputs
    return cell


def test_a_test_cell_with_an_error_scores_zero_whatever_else_it_shows():
    result = nbformat.v4.new_output("execute_result", data={"text/plain": "'ok'"}, execution_count=1)
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="no", traceback=[])
    assert preprocessors.strict_grade(_test_cell([result, error])) == (0.0, 2.0)
    assert preprocessors.strict_grade(_test_cell([result])) == (2.0, 2.0)
    number = nbformat.v4.new_output("execute_result", data={"text/plain": "0.5"}, execution_count=1)
    assert preprocessors.strict_grade(_test_cell([number])) == (0.5, 2.0)
    huge = nbformat.v4.new_output("execute_result", data={"text/plain": "1e9"}, execution_count=1)
    assert preprocessors.strict_grade(_test_cell([huge])) == (2.0, 2.0)
    assert preprocessors.strict_grade(_test_cell([])) == (2.0, 2.0)


def test_student_markdown_cannot_carry_html():
    """A student's markdown cell becomes its sanitised rendering (tests/test_neutralise.py has the corpus)."""
    clean = preprocessors.CleanOutputs()
    cell = nbformat.v4.new_markdown_cell("a <script>x()</script> **b** `<i>` 1 < 2")
    clean.preprocess_cell(cell, {}, 0)
    assert "<script" not in cell.source and "x()" not in cell.source and "<strong>b</strong>" in cell.source
    assert "<code>&lt;i&gt;</code>" in cell.source and "1 &lt; 2" in cell.source, "code and text show as they were"


def test_outputs_are_cut_sanitised_and_free_of_grader_paths():
    clean = preprocessors.CleanOutputs(max_lines=5, max_line_chars=50, max_cell_bytes=10_000)
    clean._lab_markdown = set()
    clean._lab_code = {"show_lime_page()"}
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="\n".join(f"line {i}" for i in range(20))),
        nbformat.v4.new_output("display_data", data={"text/html": "<b>ok</b><script>steal()</script>"
                                                     "<img src=x onerror=alert(1)>",
                                                     "application/javascript": "steal()"}),
        nbformat.v4.new_output("error", ename="ValueError", evalue="x" * 500,
                               traceback=[f"File {sys.prefix}/lib/python3.11/site-packages/torch/nn.py, line 3"]),
    ]
    clean.preprocess_cell(cell, {}, 0)
    text = cell.outputs[0].text
    assert text.count("\n") <= 6 and "output cut" in text
    assert [o.output_type for o in cell.outputs] == ["stream", "error"], "past the budget only errors are kept"
    assert sys.prefix not in cell.outputs[1].traceback[0] and "site-packages/torch/nn.py" in cell.outputs[1].traceback[0]
    assert len(cell.outputs[1].evalue) < 200
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": "<b>ok</b><script>steal()</script><img src=x onerror=alert(1)>",
        "application/javascript": "steal()", "image/svg+xml": "<svg onload=steal()></svg>"})]
    flagged: dict = {}
    clean.preprocess_cell(cell, flagged, 0)
    data = cell.outputs[0].data
    assert set(data) == {"text/html"} and "<b>ok</b>" in data["text/html"]
    assert "script" not in data["text/html"] and "steal" not in data["text/html"] and "onerror" not in data["text/html"]
    assert flagged, "scripts a student's cell displays are flagged"
    course_cell, quiet = nbformat.v4.new_code_cell("show_lime_page()"), {}
    course_cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<script>lime()</script><p>page</p>"})]
    clean.preprocess_cell(course_cell, quiet, 0)
    assert quiet == {} and "lime()" not in course_cell.outputs[0].data["text/html"], \
        "the lab's own cell (lime's page) is sanitised, not flagged"


def test_feedback_drops_grader_cells_and_keeps_pending_answers_out_of_the_total():
    test = _test_cell([])
    test.source = "# visible part\n" + labformat.hidden_region("secret_line()")
    test.metadata.nbgrader.update(grade_id="test_f_hidden", score=0.0)
    exercise = nbformat.v4.new_code_cell("def f(): ...")
    exercise.metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "ex_f", "locked": False}
    answer = nbformat.v4.new_markdown_cell("my answer")
    answer.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "written_q", "points": 3, "score": 0}
    rubric = preprocessors.grader_cell("model answer")
    nb = nbformat.v4.new_notebook(cells=[exercise, test, answer, rubric])
    feedback = preprocessors.StudentFeedback()
    original = preprocessors._pending_grades
    preprocessors._pending_grades = lambda resources: {"written_q"}
    try:
        nb, resources = feedback.preprocess(nb, {})
    finally:
        preprocessors._pending_grades = original
    assert [c.source for c in nb.cells if "model answer" in c.source] == []
    assert "secret_line" not in nb.cells[1].source and nb.cells[1].metadata.course["exercise"] == "f"
    assert nb.cells[2].metadata.course["pending"] and resources["course"] == \
        {"score": 0.0, "max_score": 2.0, "pending": 3.0, "late_penalty": 0.0}


def test_feedback_knows_a_hidden_test_whose_code_grading_took_out():
    """Feedback reads the graded notebook, where GraderNotes already put its note in place of
    the hidden code: the test is still shown as hidden (its failure says so), the other as visible."""
    hidden, visible = _test_cell([]), _test_cell([])
    hidden.source = "# Hidden test: rows sum to 1.\n" + labformat.hidden_region("secret_line()")
    hidden.metadata.nbgrader.update(grade_id="test_f_hidden", score=0.0)
    visible.metadata.nbgrader.update(grade_id="test_f_visible", score=2.0)
    graded, _ = preprocessors.GraderNotes().preprocess(nbformat.v4.new_notebook(cells=[hidden, visible]), {})
    assert "secret_line" not in graded.cells[0].source
    feedback, _ = preprocessors.StudentFeedback().preprocess(graded, {})
    assert [cell.metadata.course["hidden"] for cell in feedback.cells] == [True, False]


# ---------------------------------------------------------------- the code scan and the guard
def test_the_scan_flags_what_honest_answers_do_not_need():
    attack = ("import subprocess, torch\nget_ipython().run_cell = None\ntorch.allclose = lambda *a, **k: True\n"
              "exec('1')\nf.__code__ = g.__code__\nopen('/etc/passwd')\n")
    found = " ".join(scan.scan_source(attack))
    for expected in ("subprocess", "get_ipython", "run_cell", "torch.allclose", "exec", "__code__", "opens files"):
        assert expected in found, expected
    assert scan.scan_source("import numpy as np\ndef f(x):\n    return np.mean(x)") == []


@pytest.mark.parametrize("lab", pipeline.finished_labs())
def test_the_scan_does_not_flag_the_reference_answers(lab):
    source = nbformat.read(pipeline.lab_notebook(lab), as_version=4)
    release = nbformat.read(pipeline.lab_notebook(lab, "notebooks"), as_version=4)
    assert scan.scan_notebook(source, release) == []


def test_the_guard_logs_what_a_cell_rebinds_and_refuses_exits(tmp_path, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    log = tmp_path / "guard.jsonl"
    monkeypatch.setenv(guard.LOG_ENV, str(log))
    monkeypatch.setattr(os, "_exit", os._exit)  # put back after the test: install() replaces them
    monkeypatch.setattr(os, "abort", os.abort)
    shell = InteractiveShell.instance()
    try:
        guard.install(shell)
        original = torch.allclose
        shell.run_cell("import torch\nx = torch.allclose(torch.ones(1), torch.ones(1))")
        assert kernels.read_guard_log(log) == [], "honest code logs nothing"
        shell.run_cell("torch.allclose = lambda *a, **k: True")
        result = shell.run_cell("import os\nos._exit(1)")
        torch.allclose = original
        assert isinstance(result.error_in_exec, RuntimeError) and "refused while grading" in str(result.error_in_exec)
        records = kernels.read_guard_log(log)
        assert records[0]["changed"] == ["torch.allclose"] and records[-1]["when"] == "exit"
    finally:
        torch.allclose = original
        shell.events.callbacks["pre_run_cell"].clear()
        shell.events.callbacks["post_run_cell"].clear()
        InteractiveShell.clear_instance()


def test_the_guard_log_is_read_defensively(tmp_path):
    log = tmp_path / "guard.jsonl"
    log.write_text('{"cell": "a", "when": "during", "changed": ["x"]}\nnot json\n[1]\n' + "{}\n" * 500)
    assert kernels.read_guard_log(log) == [{"cell": "a", "when": "during", "changed": ["x"]}]


# ---------------------------------------------------------------- pipeline and CLI pieces
def test_finished_labs_and_notebook_paths():
    assert "lab1_lime_from_scratch" in pipeline.finished_labs()
    assert pipeline.lab_notebook("lab1_lime_from_scratch").is_file()
    assert pipeline.lab_notebook("lab1_lime_from_scratch", "notebooks").is_file()


def test_a_scratch_course_is_a_course_root_with_the_course_configuration(tmp_path):
    course = pipeline.scratch_course(tmp_path / "c", ["lab1_lime_from_scratch"])
    assert (course / "nbgrader_config.py").read_text() == (ROOT / "nbgrader_config.py").read_text()
    assert pipeline.finished_labs(course) == ["lab1_lime_from_scratch"]
    with pytest.raises(FileNotFoundError, match="not a course root"):
        pipeline.Workspace(tmp_path)


def test_fill_submission_rejects_a_substitution_that_does_not_apply():
    source = nbformat.read(pipeline.lab_notebook("lab1_lime_from_scratch"), as_version=4)
    release = nbformat.read(pipeline.lab_notebook("lab1_lime_from_scratch", "notebooks"), as_version=4)
    with pytest.raises(ValueError, match="not in the reference answer"):
        pipeline.fill_submission(source, release, {"ex_predict_proba": ("no such text", "x")})
    filled = pipeline.fill_submission(source, release, {"ex_predict_proba": "solution"})
    cell = next(c for c in filled.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex_predict_proba")
    assert "softmax" in cell.source and "BEGIN SOLUTION" not in cell.source


def test_demo_plans_apply_to_the_reference_answers():
    for lab, plan in cli.DEMO_PLANS.items():
        source = nbformat.read(pipeline.lab_notebook(lab), as_version=4)
        release = nbformat.read(pipeline.lab_notebook(lab, "notebooks"), as_version=4)
        pipeline.fill_submission(source, release, plan)


def test_failure_reasons_name_the_cause():
    assert "kernel died" in pipeline.failure_reason("... DeadKernelError: Kernel died")
    assert "time limit" in pipeline.failure_reason("UnresponsiveKernelError: a cell ran past the time limit")
    assert pipeline.failure_reason("Traceback\nValueError: bad\nNbGraderException: see above") == \
        "grading failed: ValueError: bad"


def test_cli_help_and_bad_arguments(tmp_path):
    result = subprocess.run([sys.executable, "-m", "course_admin.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "autograde" in result.stdout and "report" in result.stdout
    assert cli.main(["autograde", str(tmp_path / "missing")]) == 2
    with pytest.raises(SystemExit):
        cli.main(["autograde", str(tmp_path), "--course", str(tmp_path)])  # not a course root
    with pytest.raises(SystemExit):
        cli.main(["no-such-command"])


def test_without_a_sandbox_the_course_refuses_to_run_student_code(tmp_path):
    """No bwrap on PATH: `course autograde` says why and stops, unless --unsafe."""
    course = pipeline.scratch_course(tmp_path / "course", ["lab1_lime_from_scratch"])
    notebook = pipeline.lab_notebook("lab1_lime_from_scratch", "notebooks")
    environment = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no /usr/bin: no bwrap
    result = subprocess.run([sys.executable, "-m", "course_admin.cli", "autograde", str(notebook),
                             "--course", str(course)], capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 2 and "bubblewrap is not installed" in result.stderr and "--unsafe" in result.stderr
    assert not (course / "autograded").exists(), "nothing was graded"


def test_a_test_that_rebinds_an_exercise_rebinds_it_for_the_students_code_gradients_included(kernel):
    """fit_surrogate's tests grade it with a reference weighted_mse: the student's training loop
    calls the test's function and calls backward() through its result."""
    client, define = kernel
    define("import torch\n"
           "def weighted_mse(pred, target, weights):\n    return ((target - pred) ** 2).sum() * 0  # wrong: learns nothing\n"
           "def fit(x, y):\n    w = torch.zeros(1, requires_grad=True)\n    for _ in range(50):\n"
           "        loss = weighted_mse(x * w, y, torch.ones(len(y)))\n        loss.backward()\n"
           "        with torch.no_grad():\n            w -= 0.1 * w.grad\n            w.grad.zero_()\n"
           "    return float(w.detach())")
    namespace = {"weighted_mse": remote_client.RemoteFunction(client, "weighted_mse", "weighted_mse"),
                 "fit": remote_client.RemoteFunction(client, "fit", "fit")}
    proxies = dict(namespace)
    client.overrides = lambda: {n: namespace[n] for n in proxies if namespace[n] is not proxies[n]}
    x, y = torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0])
    assert namespace["fit"](x, y) == 0.0, "with the student's own (wrong) loss nothing is learned"
    namespace["weighted_mse"] = lambda pred, target, weights: (weights * (target - pred) ** 2).mean()
    assert abs(namespace["fit"](x, y) - 2.0) < 1e-3, "the test's loss and its gradient reach the student's loop"
    namespace["weighted_mse"] = proxies["weighted_mse"]
    assert namespace["fit"](x, y) == 0.0, "the student's own function is back after the test"


def test_course_tools_hides_the_instructors_tools_from_a_student_install(tmp_path, monkeypatch):
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    config = tmp_path / "jupyter"
    (config / "labconfig").mkdir(parents=True)
    (config / "labconfig" / "page_config.json").write_text('{"disabledExtensions": {"other:plugin": true}}')
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(config))

    def enabled() -> dict:  # what a Jupyter server started with this configuration path loads
        return ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()

    assert cli.main(["tools", "student", "--config-dir", str(config)]) == 0
    extensions = enabled()
    assert not extensions["nbgrader.server_extensions.formgrader"]
    assert extensions["nbgrader.server_extensions.assignment_list"]
    page = json.loads((config / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert page["@jupyter/nbgrader:formgrader"] and page["@jupyter/nbgrader:create-assignment"]
    assert not page["@jupyter/nbgrader:assignment-list"] and page["other:plugin"], "other settings are kept"
    assert cli.main(["tools", "instructor", "--config-dir", str(config)]) == 0
    assert enabled()["nbgrader.server_extensions.formgrader"]
    assert not json.loads((config / "labconfig" / "page_config.json").read_text())["disabledExtensions"][
        "@jupyter/nbgrader:formgrader"]


def test_feedback_names_a_test_by_its_whole_opening_comment():
    from course_admin.preprocessors import _description

    source = ("# Visible test: rows that sum to 1; the shorter text (padded in\n# the batch) gets its own probabilities.\n"
              f"### {labformat.BEGIN_HIDDEN}\n# not part of it\nimport torch\n")
    assert _description(source) == ("rows that sum to 1; the shorter text (padded in the batch) gets its own "
                                    "probabilities.")
    assert _description("import torch\n") == ""
    assert _description("# " + "x" * 400).endswith("…") and len(_description("# " + "x" * 400)) == 300


# ---------------------------------------------------------------- issue 23: order, callbacks, copies
def test_tests_run_in_the_courses_order_and_never_before_their_own_cell():
    from course_admin.execute import CourseOrder

    course = ["test_a_1", "test_a_2", "test_b_1", "test_b_2"]
    as_handed_in = CourseOrder(course, set(course))
    assert [as_handed_in.reach(g) for g in course] == [["test_a_1"], ["test_a_2"], ["test_b_1"], ["test_b_2"]]
    moved = CourseOrder(course, set(course))  # the a tests moved after the b tests
    assert [moved.reach(g) for g in ["test_b_1", "test_b_2", "test_a_1", "test_a_2"]] == \
        [[], [], ["test_a_1"], ["test_a_2", "test_b_1", "test_b_2"]]
    missing = CourseOrder(course, {"test_b_1", "test_a_2"})  # only the cells present run
    assert missing.reach("test_b_1") == [] and missing.reach("test_a_2") == ["test_a_2", "test_b_1"]
    late = CourseOrder(course, set(course))
    assert late.reach("test_a_2") == [] and late.rest() == course and late.rest() == []


def _test_cells_notebook(cells: list[tuple[str, str, float]]) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    for grade_id, code, points in cells:
        cell = nbformat.v4.new_code_cell(code)
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": grade_id, "points": points,
                                     "locked": True, "schema_version": 3}
        notebook.cells.append(cell)
    return notebook


def test_edits_of_test_cells_are_noted_for_the_grader():
    from course_admin.preprocessors import test_cell_notes

    course = [("test_a_visible", "check_a()", 1), ("test_a_hidden", "# Hidden test: more.", 2),
              ("test_b_visible", "check_b()", 1)]
    source = release = _test_cells_notebook(course)
    honest = _test_cells_notebook(course)
    honest.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="a: visible test passed\n")]
    assert test_cell_notes(honest, source, release) == []
    rewritten = _test_cells_notebook(course)
    rewritten.cells[0].source = "pass  # check_a() would fail"
    assert test_cell_notes(rewritten, source, release) == [
        "cell 1 (test_a_visible): test cell's code edited (the course's own test ran)"]
    edited = _test_cells_notebook([("test_b_visible", "check_b()", 1), ("test_a_visible", "check_a()", 100),
                                   ("test_a_hidden", "check_b()", 2)])
    edited.cells[2].metadata["nbgrader"]["grade_id"] = "test_a_hidden"  # holds test_b_visible's code
    edited.cells[0].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1.0"}, execution_count=1)]
    edited.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="passed\n")]
    assert test_cell_notes(edited, source, release) == [
        "cell 1 (test_b_visible): outputs in a test cell that its code does not produce (cleared before grading)",
        "cell 2 (test_a_visible): test cell's points edited (100 instead of 1; the course's count)",
        "cell 3 (test_a_hidden): test cell's grade_id edited (it holds the test test_b_visible; the course's tests ran)",
        "cell 3 (test_a_hidden): outputs in a test cell that its code does not produce (cleared before grading)",
        "test cells reordered: the tests ran in the course's order"]


def test_a_handed_in_module_cannot_replace_the_kernels_own(tmp_path):
    """The student's handed-in files are in the kernel's working folder: `python -m
    ipykernel_launcher` put that folder first on sys.path, so a handed-in ipykernel_launcher.py
    ran in place of the kernel, before the grader connected. Their own modules still import."""
    handed_in = tmp_path / "handed-in"
    handed_in.mkdir()
    (handed_in / "ipykernel_launcher.py").write_text("print('SHADOWED')")
    (handed_in / "my_helpers.py").write_text("VALUE = 42")
    environment = kernels.kernel_environment(tmp_path / "ipc", 1, True)
    code = ("import importlib.util; from course_admin.kernel import guard; guard.install(); import my_helpers; "
            "print('helpers', my_helpers.VALUE); print(importlib.util.find_spec('ipykernel_launcher').origin)")
    result = _sandboxed(code, tmp_path, files=sorted(handed_in.iterdir()), environment=environment)
    assert "SHADOWED" not in result.stdout and "helpers 42" in result.stdout, result.stdout + result.stderr[-2000:]
    assert "site-packages/ipykernel_launcher.py" in result.stdout
