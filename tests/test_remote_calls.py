"""The data-only calls into the student's kernel: the value codec, and calls through a
GraderClient to an agent running in a thread of this process (copies, exceptions, callbacks,
recorders, gradients, a kernel that answers garbage)."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from course_admin import remote_client
from course_admin.kernel import agent, codec, wire
from course_utils.grading import RecordingClassifier, RecordingWrapper

ROOT = Path(__file__).resolve().parents[1]


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
