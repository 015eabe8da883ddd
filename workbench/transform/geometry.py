"""Where the windows of a convolution or a pooling op fall: on the input, or into its padding.

A graph edge exists only where a kernel tap reads an input element. Near the
border of a small feature map many taps only ever read padding (on a 1 x 1
map a 3 x 3 kernel with padding 1 reads the input through its centre tap
only), so both the edge counts of the estimate and the channel and module
edges are computed from the taps that read the input somewhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["reads_per_tap", "valid_taps", "windows"]


def windows(
    x: torch.Tensor,
    kernel: Sequence[int],
    stride: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    out_size: Sequence[int],
    mode: str = "constant",
) -> np.ndarray:
    """Source ids of every window: ``[C, *out_size, *kernel]``, ``-1`` for padding.

    ``x`` is an id map ``[1, C, *S]``; ``pads`` are ``(left, right)`` per spatial
    dimension; ``mode`` is an ``F.pad`` mode (``reflect``, ``replicate`` and
    ``circular`` map padding to the ids they copy).
    """
    nd = len(kernel)
    v = x.to(torch.float64)  # ids below 2**53 are exact
    spatial = v.shape[2:]
    flat_pads: list[int] = []
    extra: list[int] = []
    for d in reversed(range(nd)):
        flat_pads += [pads[d][0], pads[d][1]]
    if any(flat_pads):
        v = F.pad(v, flat_pads, value=-1.0) if mode == "constant" else F.pad(v, flat_pads, mode=mode)
    for d in reversed(range(nd)):
        need = (out_size[d] - 1) * stride[d] + dilation[d] * (kernel[d] - 1) + 1
        have = spatial[d] + pads[d][0] + pads[d][1]
        extra += [0, max(0, need - have)]
    if any(extra):
        v = F.pad(v, extra, value=-1.0)  # ceil_mode windows that run past the end
    for d in range(nd):
        span = dilation[d] * (kernel[d] - 1) + 1
        v = v.unfold(2 + d, span, stride[d])[..., :: dilation[d]]
    index = (0, slice(None), *(slice(0, o) for o in out_size))
    return v[index].to(torch.int64).numpy()


def valid_taps(
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    out_size: Sequence[int],
) -> list[np.ndarray]:
    """Per spatial dimension, ``[O_d, K_d]`` bool: whether tap ``k`` of output ``o`` reads inside the input."""
    valid = []
    for size, k, s, (left, _), d, o in zip(spatial, kernel, stride, pads, dilation, out_size, strict=True):
        position = np.arange(o)[:, None] * s - left + np.arange(k)[None, :] * d  # [O_d, K_d]
        valid.append((position >= 0) & (position < size))
    return valid


def reads_per_tap(
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    out_size: Sequence[int],
    mode: str = "constant",
) -> np.ndarray:
    """``[prod(kernel)]`` int64: how many outputs read the input through each tap (kernel in C order).

    With ``mode`` other than ``"constant"`` padding copies input elements, so
    every tap of every output reads the input.
    """
    if mode != "constant":
        return np.full(math.prod(kernel), math.prod(out_size), dtype=np.int64)
    counts = np.ones(1, dtype=np.int64)
    for valid in valid_taps(spatial, kernel, stride, pads, dilation, out_size):
        counts = np.multiply.outer(counts, valid.sum(0)).reshape(-1)
    return counts
