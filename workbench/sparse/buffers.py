"""Memory the masked kernels keep between steps: the weight gradient, the masked weight, and their leases.

A fresh weight-sized tensor per step costs page faults that can take as long
as the product itself on large layers; these keep one per layer and lend it
out only while nothing else holds it.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch

__all__ = ["POOL_BYTES", "GradBuffer", "Lease", "Scratch", "layer_slot"]

_DTYPES = (torch.float32, torch.float64)

#: Weight gradients of at least this many bytes are written into a buffer the
#: layer keeps (:class:`GradBuffer`) whenever the previous step's gradient has
#: been let go. A fresh tensor that large is mapped from the OS on every step
#: and each of its pages faults on first write: on the benchmark machine a
#: 4096x4096 layer at 90% pruned took 138 ms a training step with the buffer
#: and 181 ms without (interleaved medians). Smaller ones come from the heap,
#: already mapped.
POOL_BYTES = 1 << 22


class GradBuffer:
    """Memory for a layer's weight gradient, reused once the last gradient written there is let go.

    The gradient a backward pass returns becomes the parameter's ``.grad`` (or is
    added into it and dropped), so the layer cannot know when it may write there
    again; the buffer asks its reference count. The memory is a numpy array,
    and every tensor made from it (and every view of those) keeps one reference
    to it: when only the buffer refers to it, no tensor uses it any more. While
    a gradient is held elsewhere (``.grad`` kept, or a reference to it), the
    next one gets fresh memory, which the buffer keeps from then on.
    """

    __slots__ = ("array", "free")

    def __init__(self) -> None:
        self.array: np.ndarray | None = None
        self.free = 0  # the array's reference count when no tensor uses it, measured when it was made

    def _in_use(self) -> bool:
        return sys.getrefcount(self.array) != self.free

    def take(self, shape: torch.Size, like: torch.Tensor, *, zero: bool) -> torch.Tensor:
        """An uninitialised (or, with ``zero``, zero) tensor of ``shape`` with ``like``'s dtype and device."""
        size = like.element_size() * math.prod(shape)
        if like.device.type != "cpu" or like.dtype not in _DTYPES or size < POOL_BYTES:
            return like.new_zeros(shape) if zero else like.new_empty(shape)
        dtype = np.dtype(np.float32 if like.dtype == torch.float32 else np.float64)
        if self.array is None or self.array.shape != tuple(shape) or self.array.dtype != dtype or self._in_use():
            self.array = np.zeros(tuple(shape), dtype=dtype)  # calloc: zero pages, no pass of writes
            self.free = sys.getrefcount(self.array)
            return torch.from_numpy(self.array)
        tensor = torch.from_numpy(self.array)
        return tensor.zero_() if zero else tensor

    def __deepcopy__(self, memo) -> GradBuffer:
        return GradBuffer()  # a copied layer starts with its own


class Lease:
    """Gives a lent buffer back when the autograd graph holding it is freed (``__del__``)."""

    __slots__ = ("arguments", "give_back")

    def __init__(self, give_back, *arguments) -> None:
        self.give_back, self.arguments = give_back, arguments

    def __del__(self) -> None:
        self.give_back(*self.arguments)


class Scratch:
    """A tensor for a layer's masked weight, reused by one forward pass (and its backward) at a time.

    A fresh weight-sized tensor per step costs page faults that can take as long
    as the product itself on large layers. The tensor is lent by :meth:`borrow`
    and given back when the backward pass has used it, or when the graph that
    holds it is freed; while it is lent, another forward pass gets a fresh
    tensor. Autograd's version check still guards it: a second backward through
    a retained graph after a later forward pass has reused it raises instead
    of computing with changed values.
    """

    __slots__ = ("lent", "tensor", "ticket")

    def __init__(self) -> None:
        self.tensor: torch.Tensor | None = None
        self.ticket = 0
        self.lent = False

    def borrow(self, like: torch.Tensor) -> tuple[torch.Tensor | None, int]:
        if self.lent:
            return None, 0
        tensor = self.tensor
        if tensor is None or tensor.shape != like.shape or tensor.dtype != like.dtype or tensor.device != like.device:
            self.tensor = torch.empty(like.shape, dtype=like.dtype, device=like.device)
        self.ticket += 1
        self.lent = True
        return self.tensor, self.ticket

    def give_back(self, ticket: int) -> None:
        if self.lent and self.ticket == ticket:
            self.lent = False

    def __deepcopy__(self, memo) -> Scratch:
        return Scratch()  # a copied layer starts with its own, unlent


def layer_slot(layer, name: str, make):
    """The object a layer keeps for its kernels under ``name`` (a plain attribute, not module state),
    made by ``make()`` on first use."""
    kept = layer.__dict__.get(name)
    if kept is None:
        kept = layer.__dict__[name] = make()
    return kept
