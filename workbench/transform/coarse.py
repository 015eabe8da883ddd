"""Edges at channel and module granularity: one edge per pair of vertices, weighted by an L2 norm.

At coarse granularities a vertex stands for a channel or an op, and the id map
holds the same id for every element of it. An edge joins two coarse vertices
exactly where some neuron-level edge joins their neurons; its weight is the L2
norm of the distinct weights of those neuron edges (a kernel tap counts once,
however many positions it is used at). The helpers here compute those edges
from per-unit summaries (which input channel feeds which output channel, with
the sum of squares of the weights in between) without materialising the
neuron edges, and without sorting when the units map one-to-one to vertices.
"""

from __future__ import annotations

import numpy as np
import torch

from workbench.transform.blocks import EdgeTuple, Ids

__all__ = ["channel_sources", "first_ids", "norm_edges", "pair_edges", "spread"]

_EMPTY_I = np.zeros(0, dtype=np.int64)


def first_ids(out: Ids, c: int) -> np.ndarray:
    """The vertex id of each of the ``c`` channels of a coarse block."""
    return out.t.reshape(c, -1)[:, 0].numpy()


def channel_sources(x: Ids) -> list[np.ndarray]:
    """The distinct vertex ids feeding each channel (dim 0) of ``x``."""
    c = x.features[0]
    flat = x.t.reshape(c, -1)
    if x.fresh:
        return [np.array([v]) for v in flat[:, 0].tolist()]
    lo, hi = flat.min(1).values, flat.max(1).values
    if bool((lo == hi).all()):
        return [np.array([int(v)]) if v >= 0 else _EMPTY_I for v in lo.tolist()]
    return [np.unique(row[row >= 0].numpy()) for row in flat]


def spread(sources: list[np.ndarray], channel: np.ndarray, dst: np.ndarray, w: np.ndarray, idx: np.ndarray):
    """Edges from every source id of ``channel[i]`` to ``dst[i]``."""
    sizes = np.array([s.size for s in sources], dtype=np.int64)
    if sizes.size and bool((sizes == 1).all()):
        return np.concatenate(sources)[channel], dst, w, idx
    counts = sizes[channel]
    src = np.concatenate([sources[c] for c in channel.tolist()]) if channel.size else _EMPTY_I
    return src, np.repeat(dst, counts), np.repeat(w, counts), np.repeat(idx, counts)


def _is_run(ids: np.ndarray) -> bool:
    """Whether ``ids`` is ``start, start + 1, ...``."""
    return ids.size > 0 and int(ids[-1]) - int(ids[0]) == ids.size - 1 and bool(np.all(np.diff(ids) == 1))


def _compact(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(distinct ids, index of each entry among them, whether the entries are distinct)``; ``ids`` >= 0."""
    distinct, inverse = np.unique(ids, return_inverse=True)
    return distinct, inverse.reshape(-1), distinct.size == ids.size


def norm_edges(
    sources: list[np.ndarray], dst_of: np.ndarray, rows: np.ndarray, cols: np.ndarray, sq: np.ndarray, dtype
) -> EdgeTuple:
    """One edge per (source vertex, target vertex), weighted ``sqrt`` of the summed ``sq``.

    Args:
        sources: the vertex ids feeding each input unit (see :func:`channel_sources`).
        dst_of: ``[n_out]`` the vertex id of each output unit.
        rows, cols: ``[P]`` pairs (output unit, input unit) that some weight joins.
        sq: ``[P]`` the sum of the squared weights of each pair (distinct weights only).
        dtype: dtype of the returned weights.
    """
    sizes = np.fromiter((s.size for s in sources), dtype=np.int64, count=len(sources))
    if sizes.size and bool((sizes == 1).all()):
        src_of = np.concatenate(sources)  # one vertex per input unit
    else:  # expand every pair to the vertices of its input unit
        counts = sizes[cols]
        starts = np.concatenate([[0], np.cumsum(sizes)])[:-1]
        first = np.repeat(starts[cols], counts)
        offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        src_of = np.concatenate([*sources, _EMPTY_I])
        cols = first + offset
        rows, sq = np.repeat(rows, counts), np.repeat(sq, counts)
    units_s, inv_s, distinct_s = _compact(src_of)
    units_d, inv_d, distinct_d = _compact(dst_of)
    if distinct_s and distinct_d:  # pairs of units are pairs of vertices
        w = np.sqrt(sq).astype(dtype, copy=False)
        src = cols + src_of[0] if _is_run(src_of) else src_of[cols]  # a block's channels: consecutive ids
        dst = rows + dst_of[0] if _is_run(dst_of) else dst_of[rows]
        return src, dst, w, np.full(w.size, -1, dtype=np.int32)
    key = inv_d[rows] * units_s.size + inv_s[cols]
    if units_s.size * units_d.size <= max(4 * key.size, 1 << 16):
        total = np.bincount(key, weights=sq, minlength=units_s.size * units_d.size)
        present = np.flatnonzero(np.bincount(key, minlength=total.size))
        total = total[present]
    else:
        present, inverse = np.unique(key, return_inverse=True)
        total = np.bincount(inverse.reshape(-1), weights=sq)
    d, s = np.divmod(present, units_s.size)
    w = np.sqrt(total).astype(dtype)
    return units_s[s], units_d[d], w, np.full(w.size, -1, dtype=np.int32)


def pair_edges(src_map: torch.Tensor, dst_map: torch.Tensor, weight: float) -> EdgeTuple:
    """Distinct ``(source, target)`` vertex pairs of two id maps of one shape, weighted ``|weight|``.

    For element-wise ops (merges, reductions) at coarse granularity; a map
    whose every channel (dim 1 of ``[1, C, ...]``) holds one id is compared a
    channel at a time.
    """
    c = src_map.shape[1] if src_map.dim() > 1 else 1
    s, d = src_map.reshape(c, -1), dst_map.reshape(c, -1)
    if bool((s.min(1).values == s.max(1).values).all() and (d.min(1).values == d.max(1).values).all()):
        s, d = s[:, :1], d[:, :1]
    s, d = s.reshape(-1).numpy(), d.reshape(-1).numpy()
    keep = s >= 0
    pairs = np.unique(np.stack([s[keep], d[keep]], axis=1), axis=0) if keep.any() else np.zeros((0, 2), np.int64)
    n = pairs.shape[0]
    return pairs[:, 0], pairs[:, 1], np.full(n, abs(weight), np.float32), np.full(n, -1, dtype=np.int64)
