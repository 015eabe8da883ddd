"""Edge rules of the structural ops: linear, convolution, pooling, merges, reductions.

Every rule takes the id map(s) of its input (see :mod:`workbench.transform.blocks`),
allocates the output's vertices and records the edges lazily. Conventions:

* A weight that is zero (or masked, for this package's masked layers) gives
  no edge; there is no other threshold unless the caller sets one.
* Edge weights are the layer's weights, times the constant factor the input
  carries (``Ids.scale``: ``conv(0.5 * h)`` draws ``0.5 * w``); ``index`` is
  the flat index into the layer's ``weight`` tensor
  (``np.unravel_index(index, weight.shape)``).
* Pooling connects every element of a window to the window's output (max
  pooling too: the graph is structural, not the argmax of one input); the
  weight is 1 for max pooling and the averaging factor for average pooling.
* A merge (``a + b``, ``a - b``, ``a * b``) makes new vertices fed by both
  operands with weight +1 (-1 for the subtrahend).
* A kernel tap that only ever reads padding draws no edge, at any
  granularity: a channel (or module) edge exists exactly where some neuron
  edge joins the two (:mod:`workbench.transform.geometry`, :mod:`workbench.transform.coarse`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from workbench.errors import ExtractionError
from workbench.transform.blocks import Extraction, Ids
from workbench.transform.coarse import channel_sources, first_ids, norm_edges, pair_edges, spread
from workbench.transform.geometry import reads_per_tap, windows

__all__ = ["adaptive_pool", "conv", "linear", "merge", "pool", "reduce", "weight_numpy"]


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


def _scaled(w: np.ndarray, scale: float) -> np.ndarray:
    return w if scale == 1.0 else (w * scale).astype(w.dtype, copy=False)


def _singles(ids: np.ndarray) -> list[np.ndarray]:
    """Each id as the one source of its unit (``-1``: none)."""
    return [np.array([i]) if i >= 0 else np.zeros(0, dtype=np.int64) for i in ids.tolist()]


def linear(
    ctx: Extraction, name: str, kind: str, x: Ids, weight: np.ndarray, mask: np.ndarray | None = None, **block
) -> Ids:
    """``y = x @ W.T`` over the last dimension; ``weight`` is ``[out, in]``."""
    out_f, in_f = weight.shape
    lead = x.features[:-1]
    out = ctx.new_block(name, kind, (*lead, out_f), [x], channel_dim=-1, **block)
    out_block = len(ctx.blocks) - 1
    src_ids = x.t.reshape(-1, in_f).numpy()  # [P, in]
    dst_ids = out.t.reshape(-1, out_f).numpy()  # [P, out]
    keep = _keep(weight, mask)
    scale = x.scale
    nnz = int(np.count_nonzero(keep))
    if ctx.granularity != "neuron" and src_ids.shape[0] == 1:  # one edge per pair of coarse vertices
        distinct = np.unique(src_ids[0][src_ids[0] >= 0]).size * np.unique(dst_ids[0]).size
        threshold = ctx.threshold

        def build_coarse():
            kept = keep if threshold is None else keep & (np.abs(weight) > threshold)
            if ctx.blocks[out_block].unit == "module":  # one target vertex: sum over the outputs first
                sq = np.einsum("ij,ij->j", np.where(kept, weight, 0), np.where(kept, weight, 0)).astype(np.float64)
                cols = np.flatnonzero(kept.any(0))
                rows = np.zeros_like(cols)
                return norm_edges(_singles(src_ids[0]), dst_ids[0][:1], rows, cols, sq[cols] * scale**2, weight.dtype)
            rows, cols = np.nonzero(kept)
            w = weight[rows, cols].astype(np.float64) * scale
            return norm_edges(_singles(src_ids[0]), dst_ids[0], rows, cols, w * w, weight.dtype)

        ctx.add_edges(name, kind, min(nnz, distinct), build_coarse, aggregated=True)
        return out
    count = nnz * src_ids.shape[0]
    ranges = src_ids.shape[0] == 1 and _is_range(src_ids[0]) and _is_range(dst_ids[0])

    def build():
        flat = np.flatnonzero(keep)
        w = _scaled(weight.reshape(-1)[flat], scale)
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
        if scale != 1.0:
            w *= scale
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


def _live_taps(x: Ids, kernel, stride, pads, dilation, out_size, mode, reads: np.ndarray) -> np.ndarray:
    """``[C_in, K]`` or ``[1, K]`` bool: which taps of each input channel read some vertex of it."""
    if x.fresh or bool((x.t >= 0).all()):
        return (reads > 0)[None, :]
    win = windows(x.t, kernel, stride, pads, dilation, out_size, mode)  # [C, *O, *K]
    c = win.shape[0]
    return (win.reshape(c, math.prod(out_size), -1) >= 0).any(1)


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
    out_block = len(ctx.blocks) - 1
    keep = _keep(weight, mask)
    per_group = c_out // groups
    scale = x.scale
    reads = reads_per_tap(x.features[1:], kernel, stride, pads, dilation, out_size, mode)  # [K]
    if ctx.granularity == "neuron":
        per_tap = np.count_nonzero(keep.reshape(-1, k_total), axis=0)  # [K] kept weights at each tap
        count = int(per_tap @ reads)  # exact unless the input holds constants

        def build_neuron():
            flat = np.flatnonzero(keep)
            co, rest = np.divmod(flat, c_in_g * k_total)
            cil, kk = np.divmod(rest, k_total)
            ci = (co // per_group) * c_in_g + cil
            w = _scaled(weight.reshape(-1)[flat], scale)
            win = windows(x.t, kernel, stride, pads, dilation, out_size, mode)  # [C_in, *O, *K]
            win = win.reshape(win.shape[0], o_total, k_total).transpose(0, 2, 1).reshape(-1, o_total)
            src = win[ci * k_total + kk]  # [nnz, O]
            dst = out.t.reshape(c_out, o_total).numpy()[co]  # [nnz, O]
            return src.reshape(-1), dst.reshape(-1), np.repeat(w, o_total), np.repeat(flat, o_total)

        ctx.add_edges(name, kind, count, build_neuron)
        return out

    live = _live_taps(x, kernel, stride, pads, dilation, out_size, mode, reads)  # [C_in or 1, K]
    kept = keep.reshape(c_out, c_in_g, k_total)
    if live.shape[0] == 1:
        kept_live = kept if live.all() else kept & live[0]
    else:  # live taps differ per input channel: gather each output channel's input channels
        ci_index = (np.arange(c_out)[:, None] // per_group) * c_in_g + np.arange(c_in_g)[None, :]
        kept_live = kept & live[ci_index]
    present = kept_live.any(-1)  # [C_out, C_in / groups]
    sources = channel_sources(x)
    if ctx.granularity == "channel":
        count = int(np.count_nonzero(present))
    else:  # one target vertex: at most one edge per source vertex
        count = len({int(v) for row in sources for v in row.tolist()})
    threshold = ctx.threshold

    def build_coarse():  # one edge per (in vertex, out vertex), weighted by the norm of the taps between them
        w = weight.reshape(c_out, c_in_g, k_total)
        used = kept_live if threshold is None else kept_live & (np.abs(w) > threshold)
        wz = w if mask is None and threshold is None and live.all() else np.where(used, w, 0)  # zeros give nothing
        sq = np.einsum("ijk,ijk->ij", wz, wz).astype(np.float64) * (scale * scale)  # [C_out, C_in / groups]
        joined = present if threshold is None else used.any(-1)
        dst = first_ids(out, c_out)
        if ctx.blocks[out_block].unit == "module":  # one target vertex: sum over the output channels first
            sq_in = sq.reshape(groups, per_group, c_in_g).sum(1).reshape(-1)  # [C_in]
            cols = np.flatnonzero(joined.reshape(groups, per_group, c_in_g).any(1).reshape(-1))
            return norm_edges(sources, dst[:1], np.zeros_like(cols), cols, sq_in[cols], weight.dtype)
        rows, cil = np.nonzero(joined)
        cols = cil if groups == 1 else (rows // per_group) * c_in_g + cil
        return norm_edges(sources, dst, rows, cols, sq[joined], weight.dtype)  # boolean indexing: nonzero order

    ctx.add_edges(name, kind, count, build_coarse, aggregated=True)
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
    factor_in = x.scale
    if ctx.granularity == "neuron":
        count = c * int(reads_per_tap(x.features[1:], kernel, stride, pads, dilation, out_size).sum())
    else:
        count = _per_channel_count(x, c, ctx.granularity)

    def build():
        factor = np.ones(o_total, np.float32) if scale is None else scale.reshape(-1).astype(np.float32)
        if ctx.granularity != "neuron":  # every channel feeds its own output channel
            return _channel_to_channel(x, out, c, _distinct_norm(factor) * abs(factor_in))
        win = windows(x.t, kernel, stride, pads, dilation, out_size).reshape(c, o_total, k_total)
        dst = np.broadcast_to(out.t.reshape(c, o_total, 1).numpy(), win.shape)
        w = np.broadcast_to((factor * factor_in).reshape(1, o_total, 1), win.shape)
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
    count = c * o_flat.size if ctx.granularity == "neuron" else _per_channel_count(x, c, ctx.granularity)
    factor_in = x.scale

    def build():
        factor = (1.0 / length if average else np.ones(length.size)).astype(np.float32)
        if ctx.granularity != "neuron":
            return _channel_to_channel(x, out, c, _distinct_norm(factor) * abs(factor_in))
        src = x.t.reshape(c, -1).numpy()[:, i_flat]  # [C, pairs]
        dst = out.t.reshape(c, -1).numpy()[:, o_flat]
        w = (factor * factor_in).astype(np.float32)
        return src.reshape(-1), dst.reshape(-1), np.tile(w, c), np.full(src.size, -1, np.int64)

    ctx.add_edges(name, kind, count, build)
    return out


def _distinct_norm(factors: np.ndarray) -> float:
    """The coarse weight of a pooling op: the L2 norm of its distinct factors (1 for max pooling)."""
    return float(np.sqrt(np.square(np.unique(factors).astype(np.float64)).sum()))


def _channel_to_channel(x: Ids, out: Ids, c: int, weight: float):
    """Coarse edges of a per-channel op: every channel's sources feed the same channel of ``out``."""
    channels = np.arange(c)
    return spread(channel_sources(x), channels, first_ids(out, c), np.full(c, weight, np.float32), np.full(c, -1))


def _per_channel_count(x: Ids, c: int, granularity: str) -> int:
    """Coarse edges of a per-channel op: a channel each, or a source vertex each at module level."""
    if granularity == "channel":
        return c
    return len({int(v) for row in channel_sources(x) for v in row.tolist()})


def _coarse_count(shape: Sequence[int], operands: int, granularity: str) -> int:
    return operands * (shape[0] if granularity == "channel" and shape else 1)


def merge(ctx: Extraction, name: str, kind: str, operands: Sequence[Ids], signs: Sequence[float]) -> Ids:
    """Element-wise combination of several id maps (broadcast): new vertices fed by every operand."""
    shape = torch.broadcast_shapes(*(a.t.shape for a in operands))[1:]
    ndim = len(shape)
    out = ctx.new_block(name, kind, shape, operands, channel_dim=0 if ndim > 1 else -1 if ndim else None)
    signs = [s * a.scale for s, a in zip(signs, operands, strict=True)]
    neuron = ctx.granularity == "neuron"
    count = len(operands) * math.prod(shape) if neuron else _coarse_count(shape, len(operands), ctx.granularity)

    def build():
        if not neuron:
            parts = [pair_edges(a.t.expand(1, *shape), out.t, s) for a, s in zip(operands, signs, strict=True)]
            return tuple(np.concatenate(column) for column in zip(*parts, strict=True))
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
    factor = (1.0 / n if mean else 1.0) * x.scale
    neuron = ctx.granularity == "neuron"

    def build():
        dst = out.t.reshape(1, *kept).expand(x.t.shape)
        if not neuron:
            return pair_edges(x.t, dst, factor)
        src = x.t.reshape(-1).numpy()
        w = np.full(src.size, factor, np.float32)
        return src, dst.reshape(-1).numpy(), w, np.full(src.size, -1, np.int64)

    count = x.t.numel() if neuron else _coarse_count(x.features, 1, ctx.granularity)
    ctx.add_edges(name, kind, count, build)
    return out
