"""Calls from the grading process into a student's kernel, carrying data only.

Grading runs every test cell (visible and hidden) in the *grading process*, never in the
student's kernel. A test cell's call to an exercise function (``perturb_tokens(ids, 5)``)
goes to a :class:`RemoteFunction`: the arguments are encoded as plain data
(`course_admin.kernel.codec`), the kernel's agent (`course_admin.kernel.agent`) runs the
student's function on them, and the result comes back as plain data. So the tests' code,
their expected values and their reference implementations never enter the student's
process, and a verdict cannot be forged there: the only thing the kernel controls is what
its functions return.

A test's callback runs here when the student's code calls it, and only during the call it
was handed to. Arguments cross as copies: what the student's code does to them never
reaches the test's own objects (no contract of the course lets a function change its
arguments); a call that changed an argument in place fails in the test with
`ArgumentChanged`, so "the input is not modified" is still tested, and the grader's report
names it. Every frame from the kernel is hostile: sizes are capped (`MAX_ANSWER_BYTES`),
protocol violations are kept for the report (at most `MAX_EVENTS`).
"""

from __future__ import annotations

import importlib
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from course_admin.kernel import agent
from course_admin.kernel.autograd import tie_gradient, vjp
from course_admin.kernel.codec import (Decoder, Encoder, ProtocolError, exception_from, is_tensor,
                                       safe_name)
from course_admin.kernel.wire import recv_frame, send_frame

MAX_ANSWER_BYTES = 64 * 2**20  # what the grading process accepts from the kernel; a lab's largest is a few MB
MAX_EVENTS = 100  # protocol violations kept for the report


class RemoteCallError(Exception):
    """The kernel gave no result: it died, timed out, or broke the protocol."""


class ArgumentChanged(AssertionError):
    """A student's function changed an argument in place. The test's object is not changed
    (arguments cross as copies); the call fails instead, as a test's check "the input is not
    modified" would have failed had the change reached the test."""


def _decoder(buffers: list[bytes], on_callable: Callable[[dict], Any] | None = None) -> Decoder:
    """A decoder of the kernel's answers: it rebuilds no recipe, and imports what a value needs
    (the tests may not have imported torch when a student's function returns a tensor)."""
    return Decoder(buffers, on_callable=on_callable, load=importlib.import_module)


class Registry:
    """The test objects sent to the kernel that keep state there (models, recorders), by id."""

    def __init__(self) -> None:
        self.objects: dict[int, Any] = {}
        self._ids: dict[int, int] = {}

    def register(self, value: Any) -> int:
        oid = self._ids.get(id(value))
        if oid is None or self.objects.get(oid) is not value:
            oid = len(self.objects) + 1
            self.objects[oid] = value  # a strong reference: ids stay unique while grading
            self._ids[id(value)] = oid
        return oid

    def apply(self, states: Any, decoder: Decoder) -> None:
        """Put the kernel's view of each object's state (calls, training mode) on the test's object."""
        if not isinstance(states, dict):
            raise ProtocolError("malformed object states")
        for key, state in states.items():
            found = self.objects.get(int(key)) if str(key).isdigit() else None
            if found is None or not isinstance(state, dict):
                continue
            if "calls" in state and hasattr(found, "calls"):
                calls = decoder.decode(state["calls"])
                if not isinstance(calls, list) or not all(isinstance(call, dict) for call in calls):
                    raise ProtocolError("malformed recorded calls")
                found.calls[:] = calls
            inner = getattr(found, "model", found)
            if hasattr(inner, "train"):
                inner.train(bool(state.get("training")))


class RemoteFunction:
    """Stands for a student's function in the tests' namespace; calling it runs it in the kernel."""

    def __init__(self, client: "GraderClient", target: str | int, name: str):
        self._client = client
        self._target = target
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._client.call(self._target, self.__name__, args, kwargs)

    def __repr__(self) -> str:
        return f"<function {self.__name__}>"


class GraderClient:
    """The grading process's side: a socket server and the calls it forwards.

    `run_in_kernel(code)` must execute `code` in the student's kernel and return when the
    kernel replied (the executor passes its own cell runner), with the error that cell raised
    if any ("ModuleNotFoundError: ..."), else None. Calls are strictly sequential.
    """

    def __init__(self, folder: Path, run_in_kernel: Callable[[str], str | None], cell_timeout: float | None = None,
                 save_dir: Path | None = None):
        self.folder = Path(folder)
        self.run_in_kernel = run_in_kernel
        self.path = str(self.folder / "remote.sock")
        # Where tokenizers are staged for the kernel: a folder of the grader's that the kernel
        # sees read-only, never inside `folder` (the kernel's own, where it could swap a path
        # for a link and have the grader write or chmod wherever it points). None: no
        # tokenizer can be sent.
        self.save_dir = save_dir
        if save_dir is not None and any(Path(os.path.abspath(save_dir)).is_relative_to(os.path.abspath(self.folder))
                                        for save_dir in (save_dir, Path(save_dir).resolve())):
            raise ValueError("the tokenizer folder must not be inside the kernel's own folder")
        self.cell_timeout = cell_timeout
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        os.chmod(self.path, 0o777)  # the kernel may run as another user (see sandbox.py)
        self._server.listen(4)
        self._lock = threading.Lock()
        self._pending: dict | None = None
        self._calls = 0
        self.callbacks: dict[int, Any] = {}  # the tests' functions given to the call being made, by handle
        self._handles = 0  # handles are never reused: one kept from an earlier call stays unknown
        self.callback_graphs: dict[int, tuple[list, list]] = {}  # a callback's result graph, for backward
        self.overrides: Callable[[], dict] = dict  # names the tests rebound in their namespace (see call)
        self.registry = Registry()
        self.events: list[str] = []  # for the grader's report: protocol violations, stale callbacks, changed arguments
        self._thread = threading.Thread(target=self._accept, name="course-remote", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._lock:
            self._pending = None
        try:
            self._server.close()
        finally:
            Path(self.path).unlink(missing_ok=True)

    # -- a call
    def call(self, target: str | int, name: str, args: tuple, kwargs: dict) -> Any:
        # The tests' functions handed over with this call live as long as the call: a handle the
        # student's code keeps (the course's weighted_mse, given to fit_surrogate) and calls
        # during a later call is refused, so it cannot answer a later test for the student.
        self.callbacks.clear()
        try:
            encoder = Encoder(on_callable=self._register, save_dir=self.save_dir, registry=self.registry)
            request = {"op": "request", "target": target, "args": encoder.encode(list(args)),
                       "kwargs": encoder.encode(dict(kwargs))}
            # A test that rebinds an exercise's name (a reference instead of the student's
            # weighted_mse, to grade fit_surrogate on its own) rebinds it for the student's code too.
            overrides = self.overrides()
            if overrides:
                request["overrides"] = Encoder(on_callable=self._register).encode(overrides)
            call_id, (header, buffers) = self._exchange(name, request, encoder.buffers)
        finally:
            self.callbacks.clear()
        changed = _changed_arguments(header.get("changed"), args, kwargs)
        if changed:
            self._report(f"{safe_name(name)} changed the tests' arguments in place ({', '.join(changed)}): "
                         "the tests' objects were left unchanged and the call failed")
            raise ArgumentChanged(f"{safe_name(name)} changed its input in place ({', '.join(changed)}): leave the "
                                  "arguments unchanged (copy one before changing it)")
        decoder = _decoder(buffers, on_callable=self._kernel_callable)
        leaves = encoder.grad_inputs
        decoder.on_graph = lambda graph, value: tie_gradient(
            value, leaves, lambda grad: self.gradient(call_id, graph, grad, leaves))
        return decoder.decode(header.get("value"))

    def gradient(self, call_id: str, graph: int, grad_output: Any, leaves: tuple) -> list:
        """Gradients for `leaves` of a result the kernel computed in call `call_id`."""
        encoder = Encoder()
        request = {"op": "request", "gradient": {"call": call_id, "graph": graph},
                   "args": encoder.encode([grad_output]), "kwargs": encoder.encode({})}
        _, (header, buffers) = self._exchange("backward()", request, encoder.buffers)
        grads = _decoder(buffers).decode(header.get("value"))
        if not isinstance(grads, list) or len(grads) != len(leaves):
            raise ProtocolError("malformed gradients")
        return [g if is_tensor(g) else None for g in grads]

    def _report(self, event: str) -> None:
        """Note `event` for the grader's report once (a call in a loop would repeat it)."""
        if event not in self.events:
            self.events.append(event)

    def _register(self, function: Any) -> dict:
        self._handles += 1
        handle = self._handles
        self.callbacks[handle] = function
        return {"t": "callable", "h": handle, "name": safe_name(getattr(function, "__name__", "function"))}

    def _exchange(self, name: str, request: dict, buffers: list[bytes]) -> tuple[str, tuple]:
        """Have the kernel answer `request`; return (call id, its answer). Raises the
        student's exception, or RemoteCallError when the kernel gave no answer."""
        for attempt in range(2):
            self._calls += 1
            call_id = f"c{self._calls}"
            pending = {"id": call_id, "request": (request, buffers), "answer": None, "fetched": False,
                       "done": threading.Event()}
            with self._lock:
                self._pending = pending
            try:
                failure = self.run_in_kernel(agent.serve_line(call_id))
                pending["done"].wait(timeout=5)  # the answer is acknowledged before the cell ends
            finally:
                with self._lock:
                    self._pending = None
            # Beside another grading job (--jobs 2), a call's cell now and then ended without the
            # kernel ever asking for the call, and without an error (cause not found yet): the
            # student's code did not run, so the call is made once more.
            if pending["fetched"] or failure or attempt:
                break
        answer = pending["answer"]
        if answer is None:
            if failure:  # the call never started: the kernel could not run the grading agent
                raise RemoteCallError(f"{name} could not be called in the notebook's kernel: {failure}")
            raise RemoteCallError(f"{name} did not return: the kernel stopped or ran past the time limit")
        self.registry.apply(answer[0].get("states") or {}, _decoder(answer[1]))
        if answer[0].get("op") == "error":
            raise exception_from(answer[0])
        return call_id, answer

    def _kernel_callable(self, node: dict) -> Any:
        if node.get("t") != "khandle" or not isinstance(node.get("h"), int):
            raise ProtocolError("unexpected callable")
        return RemoteFunction(self, node["h"], safe_name(node.get("name") or "function"))

    # -- the socket
    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(self.cell_timeout or 3600)
                try:
                    self._converse(connection)
                except Exception as error:  # whatever the kernel sends, this thread keeps serving
                    self._event(f"the kernel broke the call protocol ({type(error).__name__}: {str(error)[:100]})")

    def _event(self, text: str) -> None:
        """Keep a protocol violation for the report (the first MAX_EVENTS: a kernel that
        connects in a loop cannot grow the list without bound)."""
        if len(self.events) < MAX_EVENTS:
            self.events.append(text)

    def _converse(self, connection: socket.socket) -> None:
        header, _ = recv_frame(connection, limit=1024)
        with self._lock:
            pending = self._pending
        if header.get("op") != "fetch" or pending is None or header.get("call") != pending["id"]:
            send_frame(connection, {"op": "none"})
            if header.get("op") != "fetch" or pending is not None:
                self._event("the kernel asked for a call that was not made")
            return
        pending["fetched"] = True
        request, buffers = pending["request"]
        send_frame(connection, request, buffers)
        while True:
            header, buffers = recv_frame(connection, limit=MAX_ANSWER_BYTES)
            op = header.get("op")
            if op == "callback":
                self._run_callback(connection, pending, header, buffers)
            elif op == "backward":
                self._callback_backward(connection, header, buffers)
            elif op in ("result", "error") and header.get("call") == pending["id"]:
                pending["answer"] = (header, buffers)
                send_frame(connection, {"op": "ack"})
                pending["done"].set()
                return
            else:
                raise ProtocolError("unexpected message")

    def _callback_backward(self, connection: socket.socket, header: dict, buffers: list[bytes]) -> None:
        """The student's code called backward() through what a test's callback returned."""
        outputs, inputs = self.callback_graphs.get(header.get("cb"), ([], []))
        try:
            grads = vjp(outputs, inputs, header.get("graph"), _decoder(buffers).decode(header.get("grad")))
        except ProtocolError:
            raise
        except Exception as error:
            send_frame(connection, {"op": "raise", "type": type(error).__name__, "bases": ["RuntimeError"],
                                    "message": str(error)[:2000]})
            return
        encoder = Encoder()
        send_frame(connection, {"op": "grads", "value": encoder.encode(grads)}, encoder.buffers)

    def _run_callback(self, connection: socket.socket, pending: dict, header: dict, buffers: list[bytes]) -> None:
        handle = header.get("h")
        function = self.callbacks.get(handle)
        if function is None:
            if not (isinstance(handle, int) and 0 < handle <= self._handles):
                raise ProtocolError("unknown callback")
            # A handle of an earlier call, kept by the student's code: refused in the kernel.
            self._report("the student's code kept a function a test had given it and called it during a "
                         "later call (refused)")
            send_frame(connection, {"op": "raise", "type": "RuntimeError", "bases": ["RuntimeError"],
                                    "message": "a function given by a test can only be called during the call "
                                               "it was given to"})
            return
        decoder = _decoder(buffers, on_callable=self._kernel_callable)
        try:
            args = decoder.decode(header.get("args"))
            kwargs = decoder.decode(header.get("kwargs"))
            if not isinstance(args, list) or not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
                raise ProtocolError("malformed callback arguments")
            value = function(*args, **kwargs)
            encoder = Encoder(on_callable=self._register, save_dir=self.save_dir, registry=self.registry)
            tree = encoder.encode(value)
            graph = None
            if encoder.graph_outputs and decoder.grad_inputs:  # the kernel may call backward() on it
                graph = len(self.callback_graphs) + 1
                self.callback_graphs[graph] = (encoder.graph_outputs, decoder.grad_inputs)
            send_frame(connection, {"op": "value", "value": tree, "graph": graph}, encoder.buffers)
        except ProtocolError:
            raise
        except Exception as error:  # the test's callback raised: the student's code sees it
            bases = [cls.__name__ for cls in type(error).__mro__ if cls.__module__ == "builtins"]
            send_frame(connection, {"op": "raise", "type": type(error).__name__, "bases": bases,
                                    "message": str(error)[:2000]})


def _changed_arguments(changed: Any, args: tuple, kwargs: dict) -> list[str]:
    """The arguments the kernel says the student's code changed in place, by position or
    keyword (the kernel reports indices into args followed by the keyword values)."""
    if changed in (None, [], {}):
        return []
    if not isinstance(changed, list) or not all(isinstance(i, int) and 0 <= i < len(args) + len(kwargs)
                                                for i in changed):
        raise ProtocolError("malformed change")
    names = [f"argument {i + 1}" for i in range(len(args))] + [f"{safe_name(k)}=" for k in kwargs]
    return [names[i] for i in sorted(set(changed))]
