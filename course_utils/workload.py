"""How much work a lab does: its sizes (samples, steps, texts) chosen from the model and the device.

The labs were sized for the embedded miniatures, where every loop takes seconds. The real hub
models are 40-100 times larger: on a laptop CPU the same sizes take up to half an hour per lab.
Each lab therefore lists its sizes twice at the top of the notebook, ``full`` and ``cpu``, and
``choose_sizes`` picks one set:

* the embedded model (offline, and always when grading): ``full``, so grades never depend on
  the machine;
* a real model on a GPU: ``full``;
* a real model on a CPU: ``cpu``, smaller sizes that keep the lab within minutes;
* ``full_size=True`` (or ``COURSE_FULL_SIZE=1`` in the environment): ``full`` whatever the machine.

It prints what it chose and why, with the times measured by ``python -m benchmarks.run
--only realsize`` on a 2-core CPU when the lab passes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["choose_sizes", "is_embedded"]

FULL_SIZE_ENV = "COURSE_FULL_SIZE"
_TRUTHY = {"1", "true", "yes", "on"}


def is_embedded(model: Any) -> bool:
    """Whether ``model`` is one of the course's embedded miniatures (loaded from course_utils/assets)."""
    from course_utils.models import ASSETS_DIR

    source = getattr(getattr(model, "config", None), "_name_or_path", "") or ""
    try:
        return Path(source).resolve().is_relative_to(ASSETS_DIR)
    except (OSError, ValueError):
        return False


def _full_size_requested(full: bool | None) -> bool:
    if full is not None:
        return bool(full)
    return os.environ.get(FULL_SIZE_ENV, "").strip().lower() in _TRUTHY


def _describe(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{name}={value}" for name, value in sizes.items())


def choose_sizes(
    model: Any,
    device: str | torch.device,
    *,
    full: Mapping[str, int],
    cpu: Mapping[str, int],
    full_size: bool | None = None,
    minutes: Mapping[str, float] | None = None,
    verbose: bool = True,
) -> dict[str, int]:
    """The sizes this run of a lab uses: ``full`` or ``cpu`` (see the module docstring).

    Args:
        model: the model the lab loaded (``load_classifier`` or ``load_language_model``).
        device: where it runs.
        full: every size the lab uses, as designed (and graded, on the embedded model).
        cpu: the same names with the smaller values for a real model on a CPU.
        full_size: True forces ``full``; None reads ``COURSE_FULL_SIZE``.
        minutes: optional measured wall times, keys "embedded", "cpu", "full on cpu", for the message.
        verbose: print the choice.

    Raises:
        ValueError: ``full`` and ``cpu`` do not name the same sizes, or a size is not a positive int.
    """
    if set(full) != set(cpu):
        raise ValueError(f"full and cpu must name the same sizes: {sorted(full)} vs {sorted(cpu)}")
    for which, sizes in (("full", full), ("cpu", cpu)):
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{which} size {name!r} must be a positive int, got {value!r}")
    on_cpu = str(device).split(":")[0] == "cpu"
    times = dict(minutes or {})
    if is_embedded(model):
        chosen, why, key = full, "the embedded model: the lab's full sizes (the ones graded)", "embedded"
    elif _full_size_requested(full_size):
        chosen, why, key = full, "full sizes, as asked", "full on cpu" if on_cpu else None
    elif not on_cpu:
        chosen, why, key = full, f"a real model on {device}: the lab's full sizes", None
    else:
        chosen, why, key = cpu, ("a real model on the CPU: smaller sizes so that the lab takes minutes "
                                 f"(full_size=True or {FULL_SIZE_ENV}=1 for the full ones)"), "cpu"
    if verbose:
        took = times.get(key) if key else None
        estimate = f" · about {took:g} min on a 2-core CPU" if took else ""
        print(f"Sizes for {why}{estimate}:\n  {_describe(chosen)}")
    return dict(chosen)
