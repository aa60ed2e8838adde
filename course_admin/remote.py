"""Calls from the grading process into a student's kernel, carrying data only.

Grading runs every test cell (visible and hidden) in the *grading process*, never in the
student's kernel. A test cell's call to an exercise function (``perturb_tokens(ids, 5)``)
goes to a :class:`RemoteFunction`: the arguments are encoded as plain data, the kernel runs
the student's function on them, and the result comes back as plain data. So the tests'
code, their expected values and their reference implementations never enter the student's
process, and a verdict cannot be forged there: the only thing the kernel controls is what
its functions return.

What crosses, in both directions (see :func:`encode`): ``None``, booleans, numbers
(Python and numpy scalars, NaN and infinities), strings, bytes, lists, tuples, sets,
dicts, numpy arrays of plain dtypes, torch tensors (dtype, ``requires_grad`` and whether
they carry an autograd graph are kept), ``torch.Size``/``dtype``/``device``. Objects the
tests hand to student code travel as recipes the kernel rebuilds: ``transformers`` models
(config and weights) and tokenizers (saved files), ``datasets.Dataset``,
``course_utils.grading.RecordingClassifier``/``RecordingWrapper`` (their ``calls`` and
training mode come back after the call), and callables (a test's callback runs in the
grading process when the student's code calls it, and only during the call it was handed
in). Arguments cross as copies: what the student's code does to them never reaches the
test's own objects (no contract of the course lets a function change its arguments). A call
that changed an argument in place fails in the test with `ArgumentChanged`, so "the input
is not modified" is still tested, and the grader's report names it. Anything else a
student's function returns arrives as an empty object of the same type name; a student's
exception arrives as an exception of the nearest built-in type with the student's message.

The wire: a Unix socket in the kernel's private folder; one frame is a 4-byte header
length, a JSON header, then each binary buffer with an 8-byte length. The grading side
treats every frame as hostile: sizes are capped, dtypes are whitelisted, nothing is
unpickled.

This module is imported inside the sandboxed kernel too (``serve``): it imports only the
standard library and numpy at import time.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import math
import os
import socket
import struct
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SOCKET_ENV = "COURSE_REMOTE_SOCKET"
MAX_FRAME_BYTES = 512 * 2**20  # what the kernel accepts in one message (arguments carry models)
MAX_ANSWER_BYTES = 64 * 2**20  # what the grading process accepts from the kernel; a lab's largest is a few MB
MAX_DEPTH = 64
MAX_MESSAGE_CHARS = 300  # of a student's exception message, as the tests see it
# Bytes bound no memory: 60 MB of `{}` parse into 20 million dicts (+1.2 GB). What the grading
# process decodes is bounded by count too: JSON items per frame (each `,` `:` `[` `{`, an upper
# bound of the values json.loads builds), values per decoded answer, new type names per answer
# and in all (each is a class the process keeps).
MAX_JSON_ITEMS = 1_000_000
MAX_NODES = 1_000_000
MAX_TYPE_NAMES_PER_ANSWER = 64
MAX_TYPE_NAMES = 1024
MAX_EVENTS = 100  # protocol violations kept for the report

_NUMPY_KINDS = set("biufcUS")  # bool, ints, floats, complex, str, bytes: no objects
_TORCH_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
                 "float64", "complex64", "complex128")
_SAFE_NAME = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


class ProtocolError(Exception):
    """A frame that breaks the protocol (too big, malformed, unexpected)."""


class RemoteCallError(Exception):
    """The kernel gave no result: it died, timed out, or broke the protocol."""


class ArgumentChanged(AssertionError):
    """A student's function changed an argument in place. The test's object is not changed
    (arguments cross as copies); the call fails instead, as a test's check "the input is not
    modified" would have failed had the change reached the test."""


def safe_name(text: Any, limit: int = 60) -> str:
    """A type or function name from the other side, reduced to identifier characters."""
    name = "".join(ch for ch in str(text) if ch in _SAFE_NAME)[:limit]
    return name or "object"


# ------------------------------------------------------------------------------ codec
class Encoder:
    """Turn a value into (JSON tree, buffers). `handles` gives ids to callables (and, on
    the grading side, to the objects whose state comes back after the call)."""

    def __init__(self, on_callable: Callable[[Any], dict] | None = None, save_dir: Path | None = None,
                 recipes: bool = True, registry: "Registry | None" = None):
        self.buffers: list[bytes] = []
        self.on_callable = on_callable
        self.save_dir = save_dir  # where tokenizers are saved for the kernel to load
        self.recipes = recipes  # False in the kernel: a model it returns arrives as an empty object
        self.registry = registry  # the test objects whose state the kernel keeps and sends back
        self.grad_inputs: list[Any] = []  # tensors sent that require grad, in order (gradients flow back to them)
        self.graph_outputs: list[Any] = []  # tensors sent that carry an autograd graph

    def buffer(self, data: bytes) -> int:
        self.buffers.append(data)
        return len(self.buffers) - 1

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError("value nested too deeply to send")
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and type(value) is int:
            return value
        if isinstance(value, float) and type(value) is float:
            return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
        if isinstance(value, np.generic):
            array = np.asarray(value)
            if array.dtype.kind not in _NUMPY_KINDS:
                return _opaque(value)
            return {"t": "npscalar", "dtype": array.dtype.str, "b": self.buffer(array.tobytes())}
        if isinstance(value, np.ndarray):
            return self._ndarray(value, depth)
        if isinstance(value, (bytes, bytearray)):
            return {"t": "bytes", "b": self.buffer(bytes(value))}
        if isinstance(value, complex):
            return {"t": "complex", "v": [value.real, value.imag]}
        torch_node = self._torch(value)
        if torch_node is not None:
            return torch_node
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple travels as a tuple
            return {"t": "tuple", "v": [self.encode(item, depth + 1) for item in value]}
        if type(value) in (list, tuple, set, frozenset):
            return {"t": type(value).__name__, "v": [self.encode(item, depth + 1) for item in value]}
        if isinstance(value, dict):
            return {"t": "dict", "k": [self.encode(k, depth + 1) for k in value],
                    "v": [self.encode(v, depth + 1) for v in value.values()]}
        if isinstance(value, range):
            return {"t": "range", "v": [value.start, value.stop, value.step]}
        if type(value).__name__ == "Column" and type(value).__module__.startswith("datasets"):
            return {"t": "list", "v": [self.encode(item, depth + 1) for item in value]}  # a dataset's lazy column
        if isinstance(value, slice):
            return {"t": "slice", "v": [self.encode(value.start), self.encode(value.stop), self.encode(value.step)]}
        recipe = self._recipe(value, depth) if self.recipes else None
        if recipe is not None:
            return recipe
        if callable(value) and self.on_callable is not None:
            return self.on_callable(value)
        return _opaque(value)

    def _ndarray(self, array: np.ndarray, depth: int) -> dict:
        if array.dtype.kind in _NUMPY_KINDS:
            data = np.require(array, requirements="C")  # (ascontiguousarray would make 0-d arrays 1-d)
            return {"t": "ndarray", "dtype": data.dtype.str, "shape": list(data.shape), "b": self.buffer(data.tobytes())}
        if array.dtype.kind == "O":
            return {"t": "objarray", "shape": list(array.shape),
                    "v": [self.encode(item, depth + 1) for item in array.reshape(-1).tolist()]}
        return _opaque(array)

    def _torch(self, value: Any) -> dict | None:
        torch = _module("torch")
        if torch is None:
            return None
        if isinstance(value, torch.Size):
            return {"t": "size", "v": [int(n) for n in value]}
        if isinstance(value, torch.dtype):
            return {"t": "torch_dtype", "v": str(value).removeprefix("torch.")}
        if isinstance(value, torch.device):
            return {"t": "torch_device", "v": str(value)}
        if not isinstance(value, torch.Tensor):
            return None
        dtype = str(value.dtype).removeprefix("torch.")
        if dtype not in _TORCH_DTYPES or value.layout != torch.strided or value.device.type == "meta":
            return _opaque(value)
        data = value.detach().cpu()
        if dtype == "bfloat16":  # numpy has no bfloat16: float32 holds it exactly
            data = data.float()
        array = np.require(data.numpy(), requirements="C")
        node = {"t": "tensor", "dtype": dtype, "shape": list(array.shape), "b": self.buffer(array.tobytes()),
                "np": array.dtype.str, "grad": bool(value.requires_grad), "graph": value.grad_fn is not None}
        if value.requires_grad:
            self.grad_inputs.append(value)
        if value.grad_fn is not None:
            node["graph_id"] = len(self.graph_outputs)
            self.graph_outputs.append(value)
        return node

    def _recipe(self, value: Any, depth: int) -> dict | None:
        """Objects the tests hand to student code, as something the kernel can rebuild. The
        stateful ones (models, recorders) get an id: the kernel keeps one object per id, so a
        function the student returned still records into the test's recorder later."""
        grading = _module("course_utils.grading")
        node = None
        if grading is not None:
            if isinstance(value, grading.RecordingWrapper):
                node = {"t": "recording_wrapper", "model": self.encode(value.model, depth + 1),
                        "calls": self.encode(value.calls, depth + 1)}
            elif isinstance(value, grading.RecordingClassifier):
                node = {"t": "recording_classifier", "state": self._state(value), "dropout": value.dropout.p,
                        "training": value.training, "calls": self.encode(value.calls, depth + 1)}
        transformers = _module("transformers")
        if node is None and transformers is not None:
            if isinstance(value, transformers.PreTrainedModel):
                config = value.config
                node = {"t": "model", "class": type(value).__name__, "config": json.loads(config.to_json_string()),
                        "attn": getattr(config, "_attn_implementation", None), "state": self._state(value),
                        "training": value.training}
            elif isinstance(value, transformers.PreTrainedTokenizerBase):
                return {"t": "tokenizer", "path": str(self._saved_tokenizer(value))}
        datasets = _module("datasets")
        if node is None and datasets is not None and isinstance(value, datasets.Dataset):
            return {"t": "dataset", "columns": self.encode(value.to_dict(), depth + 1),
                    "features": value.features.to_dict()}
        if node is not None and self.registry is not None:
            node["oid"] = self.registry.register(value)
        return node

    def _state(self, module: Any) -> dict:
        # Detached: a model's weights are not inputs that gradients flow back to.
        nodes = {name: self._torch(tensor.detach()) for name, tensor in module.state_dict().items()}
        digest = hashlib.sha1()
        for name, node in nodes.items():
            digest.update(name.encode())
            digest.update(self.buffers[node["b"]])
        return {"tensors": nodes, "digest": digest.hexdigest()}

    def _saved_tokenizer(self, tokenizer: Any) -> Path:
        if self.save_dir is None:
            raise ValueError("a tokenizer can only be sent from the grading process, with a folder to stage it in")
        fingerprint = json.dumps([type(tokenizer).__name__, tokenizer.name_or_path, len(tokenizer),
                                  str(tokenizer.special_tokens_map), tokenizer.padding_side,
                                  tokenizer.truncation_side, tokenizer.model_max_length], default=str)
        target = self.save_dir / ("tokenizer-" + hashlib.sha1(fingerprint.encode()).hexdigest()[:16])
        if not target.exists():
            # save_dir is the grader's (the kernel sees it read-only): nothing here is the kernel's.
            staging = Path(tempfile.mkdtemp(dir=self.save_dir))
            tokenizer.save_pretrained(staging)
            for path in staging.rglob("*"):
                os.chmod(path, 0o755 if path.is_dir() else 0o644, follow_symlinks=False)
            staging.chmod(0o755)
            staging.rename(target)
        return target


def _opaque(value: Any) -> dict:
    return {"t": "opaque", "type": safe_name(type(value).__name__)}


def _module(name: str) -> Any:
    """A module if it is already imported (no heavy import just to check a type)."""
    import sys

    return sys.modules.get(name)


class Decoder:
    """Turn (JSON tree, buffers) back into values. Only known node types are accepted."""

    def __init__(self, buffers: list[bytes], on_callable: Callable[[dict], Any] | None = None,
                 models: dict | None = None, objects: dict | None = None):
        self.buffers = buffers
        self.on_callable = on_callable
        # Recipes (models, tokenizers, datasets, recorders) are rebuilt in the kernel only: the
        # grading process never builds an object from a description the kernel chose.
        self.models = models  # digest -> model template; None on the grading side
        self.objects = objects if objects is not None else {}  # kernel side: id -> (digest, object)
        self.grad_inputs: list[Any] = []  # tensors rebuilt with requires_grad, in order
        self.on_graph: Callable[[int, Any], Any] | None = None  # grading side: ties a result to its inputs
        self.nodes = 0
        self.type_names: set[str] = set()

    def decode(self, node: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ProtocolError("value nested too deeply")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ProtocolError(f"more than {MAX_NODES} values in one message")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            raise ProtocolError("malformed value")
        kind = node["t"]
        items = node.get("v")
        if kind in ("list", "tuple", "set", "frozenset"):
            values = [self.decode(item, depth + 1) for item in _list(items)]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[kind](values)
        if kind == "dict":
            keys, values = _list(node.get("k")), _list(items)
            if len(keys) != len(values):
                raise ProtocolError("malformed dict")
            return {self.decode(k, depth + 1): self.decode(v, depth + 1) for k, v in zip(keys, values)}
        if kind == "float":
            if items not in ("nan", "inf", "-inf"):
                raise ProtocolError("malformed float")
            return float(items)
        if kind == "complex":
            real, imag = _list(items)
            return complex(float(real), float(imag))
        if kind == "npscalar":
            dtype = _numpy_dtype(node.get("dtype"))
            return np.frombuffer(self._buffer(node, dtype.itemsize), dtype=dtype)[0]
        if kind == "ndarray":
            return self._array(node, node.get("dtype")).copy()
        if kind == "objarray":
            values = [self.decode(item, depth + 1) for item in _list(items)]
            shape = _shape(node.get("shape"))
            array = np.empty(len(values), dtype=object)
            array[:] = values
            return array.reshape(shape)
        if kind == "bytes":
            return self._buffer(node)
        if kind == "range":
            return range(*[int(v) for v in _list(items)])
        if kind == "slice":
            return slice(*[self.decode(v, depth + 1) for v in _list(items)])
        if kind == "opaque":
            name = safe_name(node.get("type")).rpartition(".")[2] or "object"
            if name not in self.type_names and len(self.type_names) >= MAX_TYPE_NAMES_PER_ANSWER:
                name = "object"  # past the bound, objects that cannot cross share one stand-in type
            self.type_names.add(name)
            return _opaque_instance(name)
        if kind in ("tensor", "size", "torch_dtype", "torch_device"):
            return self._torch(node)
        if kind in ("callable", "khandle"):
            if self.on_callable is None:
                raise ProtocolError("unexpected callable")
            return self.on_callable(node)
        if kind in ("model", "tokenizer", "dataset", "recording_classifier", "recording_wrapper"):
            if self.models is None:
                raise ProtocolError("the kernel may not send objects to rebuild")
            return self._rebuild(node, depth)
        raise ProtocolError(f"unknown value type {safe_name(kind)}")

    def _buffer(self, node: dict, expected: int | None = None) -> bytes:
        index = node.get("b")
        if not isinstance(index, int) or not 0 <= index < len(self.buffers):
            raise ProtocolError("missing buffer")
        data = self.buffers[index]
        if expected is not None and len(data) != expected:
            raise ProtocolError("buffer of the wrong size")
        return data

    def _array(self, node: dict, dtype_text: Any) -> np.ndarray:
        dtype = _numpy_dtype(dtype_text)
        shape = _shape(node.get("shape"))
        count = math.prod(shape)
        return np.frombuffer(self._buffer(node, count * dtype.itemsize), dtype=dtype).reshape(shape)

    def _torch(self, node: dict) -> Any:
        import torch

        kind = node["t"]
        if kind == "size":
            return torch.Size([int(v) for v in _list(node.get("v"))])
        if kind == "torch_dtype":
            return _torch_dtype(node.get("v"))
        if kind == "torch_device":
            return torch.device(str(node.get("v")))
        dtype = _torch_dtype(node.get("dtype"))
        tensor = torch.from_numpy(self._array(node, node.get("np")).copy()).to(dtype)
        if not (node.get("grad") and (tensor.is_floating_point() or tensor.is_complex())):
            return tensor
        if isinstance(node.get("graph_id"), int) and self.on_graph is not None:
            return self.on_graph(node["graph_id"], tensor)  # gradients flow back to the test's tensors
        tensor.requires_grad_(True)
        self.grad_inputs.append(tensor)
        if node.get("graph"):  # the student's tensor was the output of an operation
            tensor = tensor * 1
        return tensor

    def _rebuild(self, node: dict, depth: int) -> Any:
        kind = node["t"]
        if kind == "tokenizer":
            from transformers import AutoTokenizer

            path = str(node.get("path"))
            if path not in self.models:
                self.models[path] = AutoTokenizer.from_pretrained(path)
            return self.models[path]
        if kind == "dataset":
            import datasets

            columns = self.decode(node.get("columns"), depth + 1)
            features = datasets.Features.from_dict(node.get("features") or {})
            return datasets.Dataset.from_dict(columns, features=features)
        oid = node.get("oid")
        digest = json.dumps([kind, (node.get("state") or {}).get("digest"), node.get("class"), node.get("dropout")])
        known = self.objects.get(oid)
        if known is not None and known[0] == digest and kind != "recording_wrapper":
            found = known[1]
        else:
            found = self._build(node, depth)
        if kind == "recording_wrapper":
            inner = self.decode(node.get("model"), depth + 1)
            found = known[1] if known is not None and known[1].model is inner else grading_module().RecordingWrapper(inner)
        else:
            found.train(bool(node.get("training")))
        if kind.startswith("recording_"):
            found.calls = list(self.decode(node.get("calls"), depth + 1))
        if isinstance(oid, int):
            self.objects[oid] = (digest, found)
        return found

    def _build(self, node: dict, depth: int) -> Any:
        if node["t"] == "recording_classifier":
            state = self._state_dict(node.get("state"))
            vocab_size, dim = state["embedding.weight"].shape
            classifier = grading_module().RecordingClassifier(vocab_size=vocab_size, dim=dim,
                                                              num_labels=state["head.weight"].shape[0])
            classifier.load_state_dict(state)
            classifier.dropout.p = float(node.get("dropout", 0.5))
            return classifier
        if node["t"] == "model":
            return self._model(node)
        return None

    def _state_dict(self, state: Any) -> dict:
        if not isinstance(state, dict) or not isinstance(state.get("tensors"), dict):
            raise ProtocolError("malformed model state")
        return {str(name): self._torch(tensor) for name, tensor in state["tensors"].items()}

    def _model(self, node: dict) -> Any:
        import copy

        import transformers

        digest = str((node.get("state") or {}).get("digest"))
        key = (safe_name(node.get("class")), digest, json.dumps(node.get("config"), sort_keys=True, default=str))
        if key not in self.models:
            cls = getattr(transformers, key[0], None)
            if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
                raise ProtocolError(f"not a transformers model class: {key[0]}")
            config_class = cls.config_class
            config = config_class.from_dict(dict(node.get("config") or {}))
            if node.get("attn"):
                config._attn_implementation = str(node["attn"])
            model = cls(config)
            model.load_state_dict(self._state_dict(node.get("state")))
            self.models[key] = model
        return copy.deepcopy(self.models[key])  # the student's code may change it; the template stays


def grading_module() -> Any:
    from course_utils import grading

    return grading


def _list(value: Any) -> list:
    if not isinstance(value, list):
        raise ProtocolError("malformed value")
    return value


def _shape(value: Any) -> tuple[int, ...]:
    shape = tuple(_list(value))
    if not all(isinstance(n, int) and n >= 0 for n in shape) or len(shape) > 32:
        raise ProtocolError("malformed shape")
    return shape


def _numpy_dtype(text: Any) -> np.dtype:
    try:
        dtype = np.dtype(str(text))
    except TypeError:
        raise ProtocolError("unknown dtype") from None
    if dtype.kind not in _NUMPY_KINDS or dtype.hasobject:
        raise ProtocolError("dtype not allowed")
    return dtype


def _torch_dtype(text: Any) -> Any:
    import torch

    if text not in _TORCH_DTYPES:
        raise ProtocolError("torch dtype not allowed")
    return getattr(torch, text)


_OPAQUE_TYPES: "OrderedDict[str, type]" = OrderedDict()  # least recently used first, at most MAX_TYPE_NAMES


def _opaque_instance(name: Any) -> Any:
    """An empty stand-in for an object that cannot cross, with the original's type name
    (so a test's message can say "got SignificanceResult")."""
    name = safe_name(name).rpartition(".")[2] or "object"
    if name in _OPAQUE_TYPES:
        _OPAQUE_TYPES.move_to_end(name)
    else:
        _OPAQUE_TYPES[name] = type(name, (), {"__repr__": lambda self: f"<{type(self).__name__} object>",
                                             "__module__": "student"})
        while len(_OPAQUE_TYPES) > MAX_TYPE_NAMES:
            _OPAQUE_TYPES.popitem(last=False)
    return _OPAQUE_TYPES[name]()


def bounded_json(data: bytes | str) -> Any:
    """json.loads, refused (ValueError) past MAX_JSON_ITEMS items: counted before parsing,
    so a frame of millions of tiny values never becomes millions of objects."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    items = raw.count(b",") + raw.count(b":") + raw.count(b"[") + raw.count(b"{")
    if items > MAX_JSON_ITEMS:
        raise ValueError(f"more than {MAX_JSON_ITEMS} JSON items in one message")
    return json.loads(raw)


# ------------------------------------------------------------------------------ frames
def send_frame(sock: socket.socket, header: dict, buffers: list[bytes] = ()) -> None:
    head = json.dumps({**header, "nbuf": len(buffers)}, allow_nan=False).encode()
    parts = [struct.pack(">I", len(head)), head]
    for data in buffers:
        parts += [struct.pack(">Q", len(data)), data]
    sock.sendall(b"".join(parts))


def recv_frame(sock: socket.socket, limit: int = MAX_FRAME_BYTES) -> tuple[dict, list[bytes]]:
    (size,) = struct.unpack(">I", _recv_exact(sock, 4))
    if size > min(64 * 2**20, limit):
        raise ProtocolError("frame header too large")
    try:
        header = bounded_json(_recv_exact(sock, size))
    except ValueError as error:
        raise ProtocolError(f"malformed frame header ({str(error)[:80]})") from None
    if not isinstance(header, dict) or not isinstance(header.get("nbuf"), int) or not 0 <= header["nbuf"] < 10**6:
        raise ProtocolError("malformed frame header")
    buffers, total = [], size
    for _ in range(header["nbuf"]):
        (length,) = struct.unpack(">Q", _recv_exact(sock, 8))
        total += length
        if total > limit:
            raise ProtocolError(f"more than {limit // 2**20} MB in one message")
        buffers.append(_recv_exact(sock, length))
    return header, buffers


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(min(remaining, 4 * 2**20))
        if not chunk:
            raise ProtocolError("connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


# ------------------------------------------------------------------------------ kernel side
class _KernelAgent:
    """Runs inside the student's kernel: fetches a call, runs the student's function, answers."""

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
        import torch

        outputs, inputs = self.graphs.get(str(request.get("call")), ([], []))
        index = request.get("graph")
        try:
            if not (isinstance(index, int) and 0 <= index < len(outputs)):
                raise RuntimeError("that result has no autograd graph any more")
            grads = torch.autograd.grad([outputs[index]], inputs, grad_outputs=[args[0]], allow_unused=True,
                                        retain_graph=True)
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
            raise _exception(header)
        grads = Decoder(buffers).decode(header.get("value"))
        return [g if _is_tensor(g) else None for g in grads] if isinstance(grads, list) else []

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
                raise _exception(header)
            decoder = Decoder(buffers, on_callable=lambda n: self._callback(sock, n), models=self.models,
                              objects=self.objects)
            graph, leaves = header.get("graph"), encoder.grad_inputs
            decoder.on_graph = lambda index, value: tie_gradient(
                value, leaves, lambda grad: self._backward_in_grader(graph, index, grad))
            return decoder.decode(header.get("value"))

        call_the_tests_function.__name__ = safe_name(node.get("name") or "function")
        return call_the_tests_function


def _user_namespace() -> dict:
    from IPython import get_ipython

    shell = get_ipython()
    return {} if shell is None else shell.user_ns


def _user_function(name: str) -> Any:
    from IPython import get_ipython

    shell = get_ipython()
    return None if shell is None else shell.user_ns.get(name)


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


# ------------------------------------------------------------------------------ grading side
def _exception(header: dict) -> BaseException:
    """An exception like the student's: its nearest built-in type, its name and message."""
    name = safe_name(header.get("type") or "Exception").rpartition(".")[2]
    base = Exception
    for candidate in header.get("bases") or []:
        found = getattr(builtins, safe_name(candidate), None)
        if isinstance(found, type) and issubclass(found, Exception) and found is not BaseException:
            base = found
            break
    message = str(header.get("message") or "")
    message = " ".join(message.split())[:MAX_MESSAGE_CHARS]
    cls = base if base.__name__ == name else type(name, (base,), {"__module__": "student"})
    try:
        return cls(message)
    except TypeError:  # an exception type whose constructor wants other arguments
        return Exception(f"{name}: {message}")


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

    def apply(self, states: Any, decoder: "Decoder") -> None:
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


def _is_tensor(value: Any) -> bool:
    torch = _module("torch")
    return torch is not None and isinstance(value, torch.Tensor)


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
        decoder = Decoder(buffers, on_callable=self._kernel_callable)
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
        grads = Decoder(buffers).decode(header.get("value"))
        if not isinstance(grads, list) or len(grads) != len(leaves):
            raise ProtocolError("malformed gradients")
        return [g if _is_tensor(g) else None for g in grads]

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
                failure = self.run_in_kernel(f"__import__('course_admin.remote', fromlist=['serve']).serve({call_id!r})")
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
        self.registry.apply(answer[0].get("states") or {}, Decoder(answer[1]))
        if answer[0].get("op") == "error":
            raise _exception(answer[0])
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
            grads = _vjp(outputs, inputs, header.get("graph"), Decoder(buffers).decode(header.get("grad")))
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
        decoder = Decoder(buffers, on_callable=self._kernel_callable)
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


def _vjp(outputs: list, inputs: list, index: Any, grad_output: Any) -> list:
    """Gradients of outputs[index] with respect to `inputs`, for grad_output (None if unused)."""
    import torch

    if not (isinstance(index, int) and 0 <= index < len(outputs)) or not _is_tensor(grad_output):
        raise ProtocolError("malformed gradient request")
    if grad_output.shape != outputs[index].shape:
        raise ProtocolError("gradient of the wrong shape")
    return list(torch.autograd.grad([outputs[index]], inputs, grad_outputs=[grad_output.to(outputs[index].dtype)],
                                    allow_unused=True, retain_graph=True))


def tie_gradient(value: Any, leaves: list, backward: Callable[[Any], list]) -> Any:
    """`value` (a tensor computed in the other process from `leaves`, tensors of this one)
    as a tensor of this process's autograd graph: its backward() asks the other process for
    the vector-Jacobian product, via `backward(grad_output) -> one gradient (or None) per leaf`.
    So a test can call backward() on what a student's function returned, and a student's
    training loop can call backward() on a loss a test's function computed."""
    import torch

    class RemoteGraph(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, value: Any, *inputs: Any) -> Any:
            return value.clone()

        @staticmethod
        def backward(ctx: Any, grad_output: Any) -> tuple:
            grads = backward(grad_output)
            return (None, *[g if (g is not None and g.shape == leaf.shape) else None for g, leaf in zip(grads, leaves)])

    if not leaves:  # nothing here needs a gradient: a plain tensor with a graph
        return value.requires_grad_(True) * 1
    return RemoteGraph.apply(value, *leaves)


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
