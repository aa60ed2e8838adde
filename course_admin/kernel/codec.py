"""Values as plain data: what crosses between the grading process and a student's kernel.

`Encoder` turns a value into a JSON tree and binary buffers, `Decoder` turns them back;
both sides use them. What crosses: ``None``, booleans, numbers (Python and numpy scalars,
NaN and infinities), strings, bytes, lists, tuples, sets, dicts, numpy arrays of plain
dtypes, torch tensors (dtype, ``requires_grad`` and whether they carry an autograd graph are
kept), ``torch.Size``/``dtype``/``device``. Objects the tests hand to student code travel as
recipes the kernel rebuilds: ``transformers`` models (config and weights) and tokenizers
(saved files), ``datasets.Dataset``, ``course_utils.grading.RecordingClassifier``/
``RecordingWrapper`` (their ``calls`` and training mode come back after the call), and
callables (handles the caller resolves). Anything else a student's function returns arrives
as an empty object of the same type name; a student's exception arrives as an exception of
the nearest built-in type with the student's message (`exception_from`).

The receiving side treats every value as hostile: dtypes are whitelisted, nesting, counts
and type names are bounded, nothing is unpickled, and the grading process never builds an
object from a recipe.

This module runs inside the kernel: it imports the standard library and numpy only. torch,
transformers, datasets and course_utils are taken from the modules the process has already
imported (`imported`, `library`): a tensor can only arrive where the notebook uses torch.
"""

from __future__ import annotations

import builtins
import copy
import hashlib
import json
import math
import os
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

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

_NUMPY_KINDS = set("biufcUS")  # bool, ints, floats, complex, str, bytes: no objects
_TORCH_DTYPES = ("bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
                 "float64", "complex64", "complex128")
_SAFE_NAME = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


class ProtocolError(Exception):
    """A frame that breaks the protocol (too big, malformed, unexpected)."""


class LibraryNotLoaded(ImportError):
    """A value needs a library (torch...) that this process has not imported."""


def safe_name(text: Any, limit: int = 60) -> str:
    """A type or function name from the other side, reduced to identifier characters."""
    name = "".join(ch for ch in str(text) if ch in _SAFE_NAME)[:limit]
    return name or "object"


def imported(name: str) -> Any:
    """Module `name` if this process has already imported it, else None (no heavy import
    just to check a type)."""
    return sys.modules.get(name)


def library(name: str) -> Any:
    """Module `name`, which this process must have imported already: in the kernel, a value of
    torch, transformers or datasets arrives only where the notebook's set-up cells imported them."""
    module = sys.modules.get(name)
    if module is None:
        raise LibraryNotLoaded(f"the notebook has not imported {name} (run its set-up cells): "
                               "the tests' value needs it")
    return module


def is_tensor(value: Any) -> bool:
    """Whether `value` is a torch tensor (False where torch was never imported: none can exist)."""
    torch = imported("torch")
    return torch is not None and isinstance(value, torch.Tensor)


class Encoder:
    """Turn a value into (JSON tree, buffers). `handles` gives ids to callables (and, on
    the grading side, to the objects whose state comes back after the call)."""

    def __init__(self, on_callable: Callable[[Any], dict] | None = None, save_dir: Path | None = None,
                 recipes: bool = True, registry: Any = None):
        self.buffers: list[bytes] = []
        self.on_callable = on_callable
        self.save_dir = save_dir  # where tokenizers are saved for the kernel to load
        self.recipes = recipes  # False in the kernel: a model it returns arrives as an empty object
        # The test objects whose state the kernel keeps and sends back (`register(value) -> id`).
        self.registry = registry
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
        torch = imported("torch")
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
        grading = imported("course_utils.grading")
        node = None
        if grading is not None:
            if isinstance(value, grading.RecordingWrapper):
                node = {"t": "recording_wrapper", "model": self.encode(value.model, depth + 1),
                        "calls": self.encode(value.calls, depth + 1)}
            elif isinstance(value, grading.RecordingClassifier):
                node = {"t": "recording_classifier", "state": self._state(value), "dropout": value.dropout.p,
                        "training": value.training, "calls": self.encode(value.calls, depth + 1)}
        transformers = imported("transformers")
        if node is None and transformers is not None:
            if isinstance(value, transformers.PreTrainedModel):
                config = value.config
                node = {"t": "model", "class": type(value).__name__, "config": json.loads(config.to_json_string()),
                        "attn": getattr(config, "_attn_implementation", None), "state": self._state(value),
                        "training": value.training}
            elif isinstance(value, transformers.PreTrainedTokenizerBase):
                return {"t": "tokenizer", "path": str(self._saved_tokenizer(value))}
        datasets = imported("datasets")
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


class Decoder:
    """Turn (JSON tree, buffers) back into values. Only known node types are accepted."""

    def __init__(self, buffers: list[bytes], on_callable: Callable[[dict], Any] | None = None,
                 models: dict | None = None, objects: dict | None = None, load: Callable[[str], Any] = library):
        self.buffers = buffers
        self.load = load  # how a library a value needs is found (the grading process may import it)
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
        torch = self.load("torch")
        kind = node["t"]
        if kind == "size":
            return torch.Size([int(v) for v in _list(node.get("v"))])
        if kind == "torch_dtype":
            return _torch_dtype(torch, node.get("v"))
        if kind == "torch_device":
            return torch.device(str(node.get("v")))
        dtype = _torch_dtype(torch, node.get("dtype"))
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
            path = str(node.get("path"))
            if path not in self.models:
                self.models[path] = self.load("transformers").AutoTokenizer.from_pretrained(path)
            return self.models[path]
        if kind == "dataset":
            datasets = self.load("datasets")
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
            same = known is not None and known[1].model is inner
            found = known[1] if same else self.load("course_utils.grading").RecordingWrapper(inner)
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
            grading = self.load("course_utils.grading")
            classifier = grading.RecordingClassifier(vocab_size=vocab_size, dim=dim,
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
        transformers = self.load("transformers")
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


def _torch_dtype(torch: Any, text: Any) -> Any:
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


def exception_from(header: dict) -> BaseException:
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
