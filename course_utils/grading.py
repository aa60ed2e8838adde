"""Helpers for the labs' visible and hidden tests: seeding, checks that teach, test models.

Test cells call these instead of bare `assert`s so that a failing test names the likely
misconception. The functions below keep their own references to the numpy/torch routines
they rely on, taken when this module is imported, so a notebook that rebinds
`torch.allclose` (or similar) later cannot make a wrong answer pass.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

# Private references, taken at import time (see the module docstring).
_np_allclose = np.allclose
_np_asarray = np.asarray
_torch_is_tensor = torch.is_tensor
_Tensor = torch.Tensor
_autograd_grad = torch.autograd.grad


def seed_everything(seed: int = 0) -> int:
    """Seed Python's `random`, numpy's global generator and torch; return `seed`.

    Pass the returned value as `random_state` to `lime`'s explainers so that one call
    fixes every source of randomness a lab uses.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return int(seed)


def expect(condition: Any, message: str) -> None:
    """Fail with `message` (a diagnosis for the student) unless `condition` is true."""
    if not condition:
        raise AssertionError(message)


def to_numpy(x: Any) -> np.ndarray:
    """A float64 numpy copy of a tensor, array or nested list (for comparisons)."""
    if _torch_is_tensor(x):
        x = x.detach().cpu().double().numpy()
    return _np_asarray(x, dtype=np.float64)


def close(a: Any, b: Any, atol: float = 1e-6, rtol: float = 1e-5) -> bool:
    """True when `a` and `b` have the same shape and agree within the tolerances."""
    a, b = to_numpy(a), to_numpy(b)
    return a.shape == b.shape and bool(_np_allclose(a, b, atol=atol, rtol=rtol))


def expect_tensor(
    x: Any,
    name: str,
    shape: Sequence[int] | None = None,
    dtype: torch.dtype | None = None,
) -> None:
    """Check that `x` is a torch tensor with the given shape and dtype, explaining why not."""
    expect(
        isinstance(x, _Tensor),
        f"{name} should be a torch.Tensor, got {type(x).__name__}"
        + (" (convert with torch.as_tensor / torch.from_numpy)" if isinstance(x, np.ndarray) else ""),
    )
    if shape is not None:
        expect(
            tuple(x.shape) == tuple(shape),
            f"{name} should have shape {tuple(shape)}, got {tuple(x.shape)}",
        )
    if dtype is not None:
        expect(x.dtype == dtype, f"{name} should have dtype {dtype}, got {x.dtype}")


def same_function(candidate: Any, reference: Callable, cases: Sequence[tuple], atol: float = 1e-6) -> bool:
    """Whether `candidate` gives `reference`'s values on every case (a tuple of arguments), as a
    tensor where the reference returns one (and not where it does not), and the same gradients
    with respect to the case's tensors that require them. Any error (no such function, a wrong
    shape, no gradient) counts as a disagreement."""
    for case in cases:
        try:
            mine, theirs = _fresh_copy(case), _fresh_copy(case)
            got, want = candidate(*mine), reference(*theirs)
            # A list where the reference returns a tensor (or the reverse) breaks the caller's arithmetic
            if _torch_is_tensor(got) != _torch_is_tensor(want) or not close(got, want, atol=atol):
                return False
            leaves = [(a, b) for a, b in zip(mine, theirs) if isinstance(a, _Tensor) and a.requires_grad]
            if leaves:
                got_grads = _autograd_grad(got, [a for a, _ in leaves])
                want_grads = _autograd_grad(want, [b for _, b in leaves])
                if not all(close(g, w, atol=atol) for g, w in zip(got_grads, want_grads)):
                    return False
        except Exception:  # noqa: BLE001  (whatever goes wrong, the candidate cannot stand in)
            return False
    return True


def _fresh_copy(case: tuple) -> list:
    return [a.detach().clone().requires_grad_(a.requires_grad) if isinstance(a, _Tensor) else a for a in case]


@contextlib.contextmanager
def on_its_own(namespace: dict, name: str, reference: Callable, cases: Sequence[tuple]) -> Iterator[None]:
    """Grade one exercise on its own, whatever another exercise it calls (`name`) gets wrong.

    Inside the block `name` is `reference` in `namespace` (a test cell passes `globals()`),
    unless the student's own function agrees with `reference` on `cases` (`same_function`):
    then it stays, which is the same thing, and it runs where the student's code runs
    instead of being called back from there on every step. Afterwards the student's
    binding is back.
    """
    missing = object()
    student = namespace.get(name, missing)
    if student is not missing and same_function(student, reference, cases):
        yield
        return
    namespace[name] = reference
    try:
        yield
    finally:
        if student is missing:
            namespace.pop(name, None)
        else:
            namespace[name] = student


class RecordingClassifier(nn.Module):
    """A tiny sequence classifier that records how it is called.

    It behaves like a `transformers` classifier (`model(input_ids).logits`, also
    `model(input_ids=...)` and `model(...)[0]`), is deterministic in eval mode, depends on
    token order (so shuffled rows give different outputs), and starts in *training* mode
    with dropout, so a test can tell whether the code under test switched it to eval.
    Each forward call appends `{"batch_size", "training", "grad_enabled"}` to `calls`.
    """

    def __init__(self, vocab_size: int = 1000, num_labels: int = 2, dim: int = 16, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.embedding = nn.Embedding(vocab_size, dim)
        self.head = nn.Linear(dim, num_labels)
        with torch.no_grad():
            self.embedding.weight.copy_(torch.randn(vocab_size, dim, generator=generator))
            self.head.weight.copy_(torch.randn(num_labels, dim, generator=generator))
            self.head.bias.copy_(torch.randn(num_labels, generator=generator))
        self.dropout = nn.Dropout(0.5)
        self.calls: list[dict[str, Any]] = []
        self.train()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **_: Any,
    ) -> SequenceClassifierOutput:
        self.calls.append(
            {
                "batch_size": int(input_ids.shape[0]),
                "training": self.training,
                "grad_enabled": torch.is_grad_enabled(),
            }
        )
        positions = torch.arange(1, input_ids.shape[1] + 1, dtype=torch.float32)
        # Position-weighted mean: the same tokens in another order give other logits.
        hidden = (self.embedding(input_ids) * positions[None, :, None]).mean(dim=1)
        return SequenceClassifierOutput(logits=self.head(self.dropout(hidden)))

    def reference_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Eval-mode logits without recording a call and without changing the mode."""
        was_training, n_calls = self.training, len(self.calls)
        self.eval()
        with torch.no_grad():
            logits = self.forward(input_ids).logits
        self.train(was_training)
        del self.calls[n_calls:]
        return logits


class RecordingWrapper(nn.Module):
    """Wrap a `transformers` model and record each forward call, passing everything through.

    Records `{"batch_size", "training", "attention_mask", "grad_enabled"}` (whether an
    attention mask was given; whether autograd was recording, `torch.is_grad_enabled()`).
    The batch is counted on `input_ids`, else on `inputs_embeds`. `generate` is passed through
    too, recorded as one call. `config`, `get_input_embeddings()`, `eval()`, `train()` and
    `parameters()` behave as the model's (so gradient code that embeds its own inputs runs on it).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.calls: list[dict[str, Any]] = []

    @property
    def config(self) -> Any:
        return self.model.config

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def _record(self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None, kwargs: dict) -> None:
        batch = input_ids if input_ids is not None else kwargs.get("inputs_embeds")
        self.calls.append(
            {
                "batch_size": int(batch.shape[0]) if batch is not None and batch.dim() > 1 else 1,
                "training": self.model.training,
                "attention_mask": attention_mask is not None,
                "grad_enabled": torch.is_grad_enabled(),
            }
        )

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                **kwargs: Any) -> Any:
        self._record(input_ids, attention_mask, kwargs)
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)

    def generate(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                 **kwargs: Any) -> Any:
        """The model's own `generate`, recorded as one call (its inner steps are not)."""
        self._record(input_ids, attention_mask, kwargs)
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        return self.model.generate(input_ids=input_ids, **kwargs)
