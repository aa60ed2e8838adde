"""Gradients across the process boundary: backward() through a value the other side computed.

A tensor a student's function returned was computed in the kernel from the tests' tensors;
a loss a test's callback returned was computed in the grading process from the student's
tensors. `tie_gradient` makes such a value a tensor of the receiving process's autograd
graph, whose backward() asks the other process for the vector-Jacobian product; `vjp`
computes that product where the graph lives. Both processes use both.

This module runs inside the kernel: torch is taken from the modules the process has already
imported (`codec.library`), never imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from course_admin.kernel.codec import ProtocolError, is_tensor, library


def vjp(outputs: list, inputs: list, index: Any, grad_output: Any) -> list:
    """Gradients of outputs[index] with respect to `inputs`, for grad_output (None if unused)."""
    torch = library("torch")
    if not (isinstance(index, int) and 0 <= index < len(outputs)) or not is_tensor(grad_output):
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
    torch = library("torch")

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
