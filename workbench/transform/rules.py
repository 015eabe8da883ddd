"""Edge rules of the structural ops: linear, convolution, pooling, merges, reductions.

Every rule takes the id map(s) of its input (see :mod:`workbench.transform.blocks`),
allocates the output's vertices and records the edges lazily. Conventions:

* A weight that is zero (or masked, for this package's masked layers) gives
  no edge; there is no other threshold unless the caller sets one.
* Edge weights are the layer's weights; ``index`` is the flat index into the
  layer's ``weight`` tensor (``np.unravel_index(index, weight.shape)``).
* Pooling connects every element of a window to the window's output (max
  pooling too: the graph is structural, not the argmax of one input); the
  weight is 1 for max pooling and the averaging factor for average pooling.
* A merge (``a + b``, ``a - b``, ``a * b``) makes new vertices fed by both
  operands with weight +1 (-1 for the subtrahend).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from workbench.errors import ExtractionError
from workbench.transform.blocks import Extraction, Ids

__all__ = ["adaptive_pool", "conv", "linear", "merge", "pool", "reduce", "weight_numpy"]

_EMPTY_I = np.zeros(0, dtype=np.int64)


def weight_numpy(weight: torch.Tensor) -> np.ndarray:
    """A numpy view of ``weight`` (half precision widened to float32; nothing is written)."""
    w = weight.detach()
    if w.dtype in (torch.float16, torch.bfloat16):
        w = w.to(torch.float32)
    return w.cpu().numpy()


def _keep(w: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Which weights make edges: the mask for masked layers, else the nonzero weights."""
    return mask if mask is not None else w != 0


def _is_range(ids: np.ndarray) -> bool:
    """Whether ``ids`` is ``start, start + 1, ...`` (then gathers become additions)."""
    return ids.size > 0 and ids[0] >= 0 and ids[-1] - ids[0] == ids.size - 1 and bool(np.all(np.diff(ids) == 1))


def linear(
    ctx: Extraction, name: str, kind: str, x: Ids, weight: np.ndarray, mask: np.ndarray | None = None, **block
) -> Ids:
    """``y = x @ W.T`` over the last dimension; ``weight`` is ``[out, in]``."""
    out_f, in_f = weight.shape
    lead = x.features[:-1]
    out = ctx.new_block(name, kind, (*lead, out_f), [x], channel_dim=-1, **block)
    src_ids = x.t.reshape(-1, in_f).numpy()  # [P, in]
    dst_ids = out.t.reshape(-1, out_f).numpy()  # [P, out]
    keep = _keep(weight, mask)
    count = int(np.count_nonzero(keep)) * src_ids.shape[0]
    ranges = src_ids.shape[0] == 1 and _is_range(src_ids[0]) and _is_range(dst_ids[0])

    def build():
        flat = np.flatnonzero(keep)
        w = weight.reshape(-1)[flat]
        rows, cols = np.divmod(flat, in_f)
        src = src_ids[:, cols].reshape(-1)  # [P * nnz]
        dst = dst_ids[:, rows].reshape(-1)
        p = src_ids.shape[0]
        return src, dst, np.tile(w, p), np.tile(flat, p)

    def fill(src, dst, w, idx):  # contiguous ids: rows and columns by repeat, no division
        flat = np.flatnonzero(keep)
        per_row = np.count_nonzero(keep, axis=1)
        row_base = np.arange(out_f, dtype=np.int64) * in_f - int(src_ids[0, 0])
        np.subtract(flat, np.repeat(row_base, per_row), out=src, casting="unsafe")
        np.copyto(dst, np.repeat(np.arange(out_f, dtype=dst.dtype) + dst.dtype.type(dst_ids[0, 0]), per_row))
        np.take(weight.reshape(-1), flat, out=w)
        np.copyto(idx, flat, casting="unsafe")

    ctx.add_edges(
        name,
        kind,
        count,
        build,
        clean=bool((src_ids >= 0).all()),
        fill=fill if ranges else None,
        dtype=weight.dtype,
        index_bound=weight.size,
    )
    return out


def _windows(
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


def _first_ids(out: Ids, c: int) -> np.ndarray:
    """The vertex id of each of the ``c`` channels of a coarse block."""
    return out.t.reshape(c, -1)[:, 0].numpy()


def _channel_sources(x: Ids) -> list[np.ndarray]:
    """The distinct vertex ids feeding each channel (dim 0) of ``x`` (coarse granularities)."""
    c = x.features[0]
    flat = x.t.reshape(c, -1)
    lo, hi = flat.min(1).values, flat.max(1).values
    if bool((lo == hi).all()):
        return [np.array([int(v)]) if v >= 0 else _EMPTY_I for v in lo.tolist()]
    return [np.unique(row[row >= 0].numpy()) for row in flat]


def _spread(sources: list[np.ndarray], channel: np.ndarray, dst: np.ndarray, w: np.ndarray, idx: np.ndarray):
    """Edges from every source id of ``channel[i]`` to ``dst[i]`` (coarse granularities)."""
    sizes = np.array([s.size for s in sources], dtype=np.int64)
    if sizes.size and bool((sizes == 1).all()):
        return np.concatenate(sources)[channel], dst, w, idx
    counts = sizes[channel]
    src = np.concatenate([sources[c] for c in channel.tolist()]) if channel.size else _EMPTY_I
    return src, np.repeat(dst, counts), np.repeat(w, counts), np.repeat(idx, counts)


def conv(
    ctx: Extraction,
    name: str,
    kind: str,
    x: Ids,
    weight: np.ndarray,
    *,
    stride: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    groups: int,
    out_size: Sequence[int],
    mode: str = "constant",
    mask: np.ndarray | None = None,
) -> Ids:
    """An N-d convolution: ``weight`` is ``[C_out, C_in / groups, *kernel]``."""
    c_out, c_in_g = weight.shape[:2]
    kernel = weight.shape[2:]
    k_total, o_total = math.prod(kernel), math.prod(out_size)
    out = ctx.new_block(name, kind, (c_out, *out_size), [x], channel_dim=0)
    keep = _keep(weight, mask)
    per_group = c_out // groups
    neuron = ctx.granularity == "neuron"
    pairs = keep.reshape(c_out, c_in_g, -1).any(-1)  # [C_out, C_in / groups]: kernels with an edge
    count = int(np.count_nonzero(keep)) * o_total if neuron else int(np.count_nonzero(pairs))

    def entries():
        flat = np.flatnonzero(keep)
        co, rest = np.divmod(flat, c_in_g * k_total)
        cil, kk = np.divmod(rest, k_total)
        ci = (co // per_group) * c_in_g + cil
        return flat, co, ci, kk, weight.reshape(-1)[flat]

    def build_neuron():
        flat, co, ci, kk, w = entries()
        win = _windows(x.t, kernel, stride, pads, dilation, out_size, mode)  # [C_in, *O, *K]
        win = win.reshape(win.shape[0], o_total, k_total).transpose(0, 2, 1).reshape(-1, o_total)
        src = win[ci * k_total + kk]  # [nnz, O]
        dst = out.t.reshape(c_out, o_total).numpy()[co]  # [nnz, O]
        return (
            src.reshape(-1),
            dst.reshape(-1),
            np.repeat(w, o_total),
            np.repeat(flat, o_total),
        )

    def build_coarse():  # one entry per (out channel, in channel) kernel, weighted by its L2 norm
        kept = keep.reshape(c_out, c_in_g, -1)
        w = weight.reshape(c_out, c_in_g, -1).astype(np.float64)
        if ctx.threshold is not None:
            kept = kept & (np.abs(w) > ctx.threshold)
        w = np.where(kept, w, 0.0)
        co, cil = np.nonzero(kept.any(-1))
        norm = np.sqrt(np.einsum("ijk,ijk->ij", w, w))[co, cil].astype(weight.dtype)
        ci = (co // per_group) * c_in_g + cil
        out_ids = out.t.reshape(c_out, -1)[:, 0].numpy()
        # distinct negative indices: aggregate() adds up the squares, the threshold is not applied twice
        tag = -2 - (co * c_in_g + cil)
        return _spread(_channel_sources(x), ci, out_ids[co], norm, tag)

    ctx.add_edges(name, kind, count, build_neuron if neuron else build_coarse)
    return out


def pool(
    ctx: Extraction,
    name: str,
    kind: str,
    x: Ids,
    *,
    kernel: Sequence[int],
    stride: Sequence[int],
    pads: Sequence[tuple[int, int]],
    dilation: Sequence[int],
    out_size: Sequence[int],
    scale: np.ndarray | None = None,
) -> Ids:
    """Max or average pooling per channel; ``scale`` is the ``[*out_size]`` averaging factor (``None``: 1)."""
    c = x.features[0]
    k_total, o_total = math.prod(kernel), math.prod(out_size)
    out = ctx.new_block(name, kind, (c, *out_size), [x], channel_dim=0)
    count = c * o_total * k_total if ctx.granularity == "neuron" else c

    def build():
        if ctx.granularity != "neuron":  # every channel feeds its own output channel
            channels = np.arange(c)
            return _spread(_channel_sources(x), channels, _first_ids(out, c), np.ones(c, np.float32), np.full(c, -1))
        win = _windows(x.t, kernel, stride, pads, dilation, out_size).reshape(c, o_total, k_total)
        dst = np.broadcast_to(out.t.reshape(c, o_total, 1).numpy(), win.shape)
        factor = np.ones(o_total, np.float32) if scale is None else scale.reshape(-1).astype(np.float32)
        w = np.broadcast_to(factor.reshape(1, o_total, 1), win.shape)
        return win.reshape(-1), dst.reshape(-1), w.reshape(-1), np.full(win.size, -1, np.int64)

    ctx.add_edges(name, kind, count, build)
    return out


def adaptive_pool(ctx: Extraction, name: str, kind: str, x: Ids, out_size: Sequence[int], average: bool) -> Ids:
    """Adaptive pooling: output ``o`` of a dimension of size ``I`` reads ``floor(o I/O) .. ceil((o+1) I/O) - 1``."""
    c, *spatial = x.features
    out_size = [spatial[d] if o is None else int(o) for d, o in enumerate(out_size)]
    out = ctx.new_block(name, kind, (c, *out_size), [x], channel_dim=0)
    pairs = []  # per dimension: (output index, input index) of every window element
    for size_in, size_out in zip(spatial, out_size, strict=True):
        o = np.arange(size_out)
        start, stop = (o * size_in) // size_out, -((-(o + 1) * size_in) // size_out)
        lengths = stop - start
        outs = np.repeat(o, lengths)
        ins = np.repeat(start, lengths) + np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        pairs.append((outs, ins, lengths))
    o_flat, i_flat, length = np.zeros(1, np.int64), np.zeros(1, np.int64), np.ones(1, np.int64)
    for (outs, ins, lengths), size_in, size_out in zip(pairs, spatial, out_size, strict=True):
        o_flat = (o_flat[:, None] * size_out + outs[None, :]).reshape(-1)
        i_flat = (i_flat[:, None] * size_in + ins[None, :]).reshape(-1)
        length = (length[:, None] * lengths[outs][None, :]).reshape(-1)
    count = c * o_flat.size if ctx.granularity == "neuron" else c

    def build():
        if ctx.granularity != "neuron":
            channels = np.arange(c)
            return _spread(_channel_sources(x), channels, _first_ids(out, c), np.ones(c, np.float32), np.full(c, -1))
        src = x.t.reshape(c, -1).numpy()[:, i_flat]  # [C, pairs]
        dst = out.t.reshape(c, -1).numpy()[:, o_flat]
        w = (1.0 / length if average else np.ones(length.size)).astype(np.float32)
        return src.reshape(-1), dst.reshape(-1), np.tile(w, c), np.full(src.size, -1, np.int64)

    ctx.add_edges(name, kind, count, build)
    return out


def merge(ctx: Extraction, name: str, kind: str, operands: Sequence[Ids], signs: Sequence[float]) -> Ids:
    """Element-wise combination of several id maps (broadcast): new vertices fed by every operand."""
    shape = torch.broadcast_shapes(*(a.t.shape for a in operands))[1:]
    ndim = len(shape)
    out = ctx.new_block(name, kind, shape, operands, channel_dim=0 if ndim > 1 else -1 if ndim else None)
    count = len(operands) * math.prod(shape)

    def build():
        dst = out.t.reshape(-1).numpy()
        parts = [a.t.expand(1, *shape).reshape(-1).numpy() for a in operands]
        w = np.concatenate([np.full(dst.size, s, np.float32) for s in signs])
        src = np.concatenate(parts)
        return src, np.tile(dst, len(parts)), w, np.full(src.size, -1, np.int64)

    ctx.add_edges(name, kind, count, build)
    return out


def reduce(ctx: Extraction, name: str, kind: str, x: Ids, dims: Sequence[int], keepdim: bool, mean: bool) -> Ids:
    """``x.sum(dims)`` / ``x.mean(dims)`` over feature dimensions: every reduced element feeds its output."""
    full = x.t.dim()
    dims = sorted({d % full for d in dims})
    if 0 in dims:
        raise ExtractionError(f"{kind} at {name!r} reduces over the batch dimension; the graph would mix samples")
    kept = tuple(1 if d in dims else s for d, s in enumerate(x.t.shape))[1:]
    shape = kept if keepdim else tuple(s for d, s in enumerate(x.t.shape) if d not in dims and d > 0)
    out = ctx.new_block(name, kind, shape, [x], channel_dim=0 if len(shape) > 1 else -1 if shape else None)
    n = math.prod(x.t.shape[d] for d in dims)

    def build():
        dst = out.t.reshape(1, *kept).expand(x.t.shape).reshape(-1).numpy()
        src = x.t.reshape(-1).numpy()
        w = np.full(src.size, 1.0 / n if mean else 1.0, np.float32)
        return src, dst, w, np.full(src.size, -1, np.int64)

    ctx.add_edges(name, kind, x.t.numel(), build)
    return out
