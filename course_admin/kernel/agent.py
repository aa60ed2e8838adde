"""The grading agent: runs inside the student's kernel and answers the grading process's calls.

The grading process runs `serve_line(call_id)` as a cell in the kernel; `serve` connects to
the socket named by `wire.SOCKET_ENV`, fetches the call (a function of the notebook's
namespace, or a function a student's function returned, with arguments as plain data),
runs it, and sends back its result, its exception, which arguments it changed in place and
the state of the tests' objects it was given (recorded calls, training mode). A function a
test handed over is a stand-in here: calling it asks the grading process to run it, during
the call it was handed to only.

This module runs inside the kernel: it imports the standard library, numpy and this
package only (a test checks); IPython and torch come from the modules already imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Callable
from typing import Any

import numpy as np

from course_admin.kernel.autograd import tie_gradient, vjp
from course_admin.kernel.codec import (Decoder, Encoder, ProtocolError, exception_from, imported, is_tensor,
                                       safe_name)
from course_admin.kernel.wire import SOCKET_ENV, recv_frame, send_frame


class _KernelAgent:
    """Fetches a call, runs the student's function, answers."""

    def __init__(self) -> None:
        self.handles: dict[int, Any] = {}  # callables the student's functions returned
        self.models: dict = {}
        self.graphs: dict[str, tuple[list, list]] = {}  # call id -> (outputs with a graph, inputs)
        self.objects: dict[int, tuple[str, Any]] = {}  # the tests' models and recorders, by id
        self.sock: socket.socket | None = None  # the connection of the call being served

    def serve(self, call_id: str) -> None:
        path = os.environ.get(SOCKET_ENV)
        if not path:
            raise RuntimeError("not a grading kernel")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(path)
            send_frame(sock, {"op": "fetch", "call": call_id})
            header, buffers = recv_frame(sock)
            if header.get("op") != "request":
                return
            self.sock = sock
            try:
                self._answer(sock, call_id, header, buffers)
            finally:
                self.sock = None

    def _answer(self, sock: socket.socket, call_id: str, header: dict, buffers: list[bytes]) -> None:
        decoder = Decoder(buffers, on_callable=lambda node: self._callback(sock, node), models=self.models,
                          objects=self.objects)
        if isinstance(header.get("gradient"), dict):
            self._gradient(sock, call_id, header["gradient"], decoder.decode(header.get("args")))
            return
        target = header.get("target")
        function = self.handles.get(target) if isinstance(target, int) else _user_function(str(target))
        args = decoder.decode(header.get("args"))
        kwargs = decoder.decode(header.get("kwargs"))
        before = [_fingerprint(value) for value in list(args) + list(kwargs.values())]
        namespace, saved = _user_namespace(), {}
        overrides = decoder.decode(header["overrides"]) if "overrides" in header else {}
        try:
            try:
                if function is None:
                    raise NameError(f"name {target!r} is not defined")
                for name, replacement in (overrides.items() if isinstance(overrides, dict) else []):
                    saved[name] = namespace.get(name, _MISSING)
                    namespace[name] = replacement
                value = function(*args, **kwargs)
            finally:
                _restore(namespace, saved)
        except Exception as error:  # the student's exception goes back to the test
            bases = [cls.__name__ for cls in type(error).__mro__ if cls.__module__ == "builtins"]
            encoder = Encoder(recipes=False)
            send_frame(sock, {"op": "error", "call": call_id, "type": type(error).__name__, "bases": bases,
                              "message": str(error)[:2000], "states": self._states(encoder)}, encoder.buffers)
            recv_frame(sock)
            return
        encoder = Encoder(on_callable=self._handle, recipes=False)
        # Only which arguments changed: the changes themselves stay here (arguments are copies).
        changed = [index for index, item in enumerate(list(args) + list(kwargs.values()))
                   if _fingerprint(item) != before[index]]
        try:
            result = encoder.encode(value)
            states = self._states(encoder)
        except Exception as error:  # e.g. a structure nested too deeply
            send_frame(sock, {"op": "error", "call": call_id, "type": "TypeError", "bases": ["TypeError"],
                              "message": f"the result could not be sent to the tests: {error}"})
            recv_frame(sock)
            return
        if encoder.graph_outputs and decoder.grad_inputs:
            self.graphs[call_id] = (encoder.graph_outputs, decoder.grad_inputs)
            for old in list(self.graphs)[:-16]:  # keep the graphs of the last calls only
                del self.graphs[old]
        send_frame(sock, {"op": "result", "call": call_id, "value": result, "changed": changed, "states": states},
                   encoder.buffers)
        recv_frame(sock)  # the grader's acknowledgement: the result is stored before this cell ends

    def _states(self, encoder: Encoder) -> dict:
        """The tests' stateful objects as the student's code left them: calls, training mode."""
        states = {}
        for oid, (_, found) in self.objects.items():
            inner = getattr(found, "model", found)
            state = {"training": bool(getattr(inner, "training", False))}
            if hasattr(found, "calls"):
                state["calls"] = encoder.encode(found.calls)
            states[str(oid)] = state
        return states

    def _gradient(self, sock: socket.socket, call_id: str, request: dict, args: Any) -> None:
        """d(output)/d(inputs) . grad_output for a result of an earlier call (its backward())."""
        outputs, inputs = self.graphs.get(str(request.get("call")), ([], []))
        index = request.get("graph")
        try:
            if not (isinstance(index, int) and 0 <= index < len(outputs)):
                raise RuntimeError("that result has no autograd graph any more")
            grads = vjp(outputs, inputs, index, args[0])
        except Exception as error:
            send_frame(sock, {"op": "error", "call": call_id, "type": type(error).__name__, "bases": ["RuntimeError"],
                              "message": str(error)[:2000]})
            recv_frame(sock)
            return
        encoder = Encoder(recipes=False)
        send_frame(sock, {"op": "result", "call": call_id, "value": encoder.encode(list(grads)), "changed": []},
                   encoder.buffers)
        recv_frame(sock)

    def _backward_in_grader(self, graph: Any, index: int, grad_output: Any) -> list:
        """backward() of a value a test's callback returned: the grading process computes it."""
        if self.sock is None:
            raise RuntimeError("a test's result can only be differentiated while that test runs")
        encoder = Encoder(recipes=False)
        send_frame(self.sock, {"op": "backward", "cb": graph, "graph": index, "grad": encoder.encode(grad_output)},
                   encoder.buffers)
        header, buffers = recv_frame(self.sock)
        if header.get("op") == "raise":
            raise exception_from(header)
        grads = Decoder(buffers).decode(header.get("value"))
        return [g if is_tensor(g) else None for g in grads] if isinstance(grads, list) else []

    def _handle(self, function: Any) -> dict:
        handle = len(self.handles) + 1
        self.handles[handle] = function
        return {"t": "khandle", "h": handle, "name": safe_name(getattr(function, "__name__", "function"))}

    def _callback(self, sock: socket.socket, node: dict) -> Callable:
        """A stand-in for a function of the tests: calling it asks the grading process to run
        it (during whichever call of the tests is being served)."""
        if node.get("t") != "callable":
            raise ProtocolError("unexpected callable")
        handle = node.get("h")

        def call_the_tests_function(*args: Any, **kwargs: Any) -> Any:
            sock = self.sock
            if sock is None:
                raise RuntimeError("a function given by a test can only be called while that test runs")
            encoder = Encoder(on_callable=self._handle, recipes=False)
            send_frame(sock, {"op": "callback", "h": handle, "args": encoder.encode(list(args)),
                              "kwargs": encoder.encode(kwargs)}, encoder.buffers)
            header, buffers = recv_frame(sock)
            if header.get("op") == "raise":
                raise exception_from(header)
            decoder = Decoder(buffers, on_callable=lambda n: self._callback(sock, n), models=self.models,
                              objects=self.objects)
            graph, leaves = header.get("graph"), encoder.grad_inputs
            decoder.on_graph = lambda index, value: tie_gradient(
                value, leaves, lambda grad: self._backward_in_grader(graph, index, grad))
            return decoder.decode(header.get("value"))

        call_the_tests_function.__name__ = safe_name(node.get("name") or "function")
        return call_the_tests_function


def _user_namespace() -> dict:
    """The notebook's namespace ({} outside an IPython kernel)."""
    ipython = imported("IPython")
    shell = None if ipython is None else ipython.get_ipython()
    return {} if shell is None else shell.user_ns


def _user_function(name: str) -> Any:
    return _user_namespace().get(name)


_MISSING = object()


def _restore(namespace: dict, saved: dict) -> None:
    for name, value in saved.items():
        if value is _MISSING:
            namespace.pop(name, None)
        else:
            namespace[name] = value


def _fingerprint(value: Any) -> bytes | None:
    """Bytes that change when a mutable argument is changed in place (None: not tracked)."""
    if isinstance(value, (list, dict, set, np.ndarray)) or type(value).__name__ == "Tensor":
        try:
            encoder = Encoder(on_callable=lambda f: {"t": "opaque", "type": "callable"}, recipes=False)
            tree = _values_only(encoder.encode(value))
        except Exception:
            return None
        digest = hashlib.sha1(json.dumps(tree, sort_keys=True, default=str).encode())
        for data in encoder.buffers:
            digest.update(data)
        return digest.digest()
    return None


def _values_only(tree: Any) -> Any:
    """An encoded value without its tensors' autograd flags: `x.requires_grad_()` on an
    input changes no value, and is not counted as changing the argument."""
    if isinstance(tree, list):
        return [_values_only(item) for item in tree]
    if isinstance(tree, dict):
        return {key: _values_only(item) for key, item in tree.items() if key not in ("grad", "graph", "graph_id")}
    return tree


_AGENT = _KernelAgent()


def serve(call_id: str) -> None:
    """Entry point the grading process calls in the kernel (one call per test call)."""
    _AGENT.serve(call_id)


def serve_line(call_id: str) -> str:
    """The code the grading process runs in the kernel to have call `call_id` served."""
    return f"__import__({__name__!r}, fromlist=['serve']).serve({call_id!r})"
