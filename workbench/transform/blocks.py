"""The bookkeeping of an extraction: vertex blocks, lazy edge blocks, granularity.

An extraction walks the model's data flow once. Every tensor that carries
vertices is represented by an *id map*: an ``int64`` tensor shaped like the
tensor with a batch dimension of 1, holding the vertex id each element belongs
to (``-1`` for elements that come from constants). Reshapes, slices and
concatenations are applied to the id map itself; element-wise ops leave it as
it is; structural ops (linear, convolution, pooling, merges) allocate a new
:class:`VertexBlock` and record an :class:`EdgeSpec`, whose edges are only
materialised once the caller has seen the estimate.

At ``"channel"`` granularity a block has one vertex per channel (dimension 0
of a feature map, the last dimension of a linear layer's output), at
``"module"`` granularity one vertex per op; the id map then holds the same id
for every element of a channel (or of the op), so the same rules apply and
duplicate edges are merged by :func:`aggregate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from workbench.errors import ExtractionError

__all__ = ["GRANULARITIES", "EdgeSpec", "Extraction", "Ids", "VertexBlock", "aggregate"]

GRANULARITIES = ("neuron", "channel", "module")

EdgeTuple = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # source, target, weight, index


class Ids:
    """A tensor's vertex ids: ``t`` is ``int64 [1, *feature shape]``, ``-1`` where no vertex feeds it.

    ``stacked`` marks the result of ``torch.stack(..., dim=0)``: ``t`` is then
    ``[n, 1, *features]`` and only a sum or mean over dimension 0 may follow.
    ``blocks``: indices of the vertex blocks the ids may come from (``None``:
    unknown, found from ``t`` when needed). ``scale``: a constant factor the
    tensor holds its vertices' values times (``0.5 * h``); the next structural
    op multiplies the weights of the edges it draws from them by it.
    ``fresh``: ``t`` is a block's own id map as :meth:`Extraction.new_block`
    made it, with one id along each slice of its first feature dimension and
    no ``-1`` (a coarse block, or a 1-d one), which lets coarse rules skip
    checking that.
    """

    __slots__ = ("blocks", "fresh", "scale", "stacked", "t")

    def __init__(
        self,
        t: torch.Tensor,
        stacked: bool = False,
        blocks: frozenset[int] | None = None,
        scale: float = 1.0,
        fresh: bool = False,
    ) -> None:
        self.t = t
        self.stacked = stacked
        self.blocks = blocks
        self.scale = scale
        self.fresh = fresh

    def like(self, t: torch.Tensor, stacked: bool = False) -> Ids:
        """New ids ``t`` drawn from the same blocks with the same scale (a rearrangement of this map)."""
        return Ids(t, stacked, self.blocks, self.scale)

    def scaled(self, factor: float) -> Ids:
        """The same ids holding ``factor`` times the values."""
        return Ids(self.t, self.stacked, self.blocks, self.scale * factor, self.fresh)

    @property
    def features(self) -> tuple[int, ...]:
        return tuple(self.t.shape[1:])

    def __repr__(self) -> str:
        return f"Ids{tuple(self.t.shape)}"


@dataclass
class VertexBlock:
    """Consecutive vertex ids ``start .. start + size - 1`` made by one op.

    ``shape`` is the feature shape of the op's output; ``unit`` says what one
    vertex stands for (``"neuron"``, ``"channel"`` or ``"module"``).
    ``labels`` replaces the int ids as networkx labels (DAN design labels);
    ``layers`` and ``modules`` give per-vertex values where they differ within
    the block (a DAN's generations).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    start: int
    size: int
    layer: int
    unit: str
    channel_dim: int | None = 0
    labels: list | None = None
    layers: np.ndarray | None = None
    modules: list[str] | None = None
    positions: list | None = None

    def all_positions(self) -> list:
        """:meth:`position` of every vertex of the block, in order."""
        if self.positions is not None:
            return list(self.positions)
        if self.unit == "module":
            return [0] * self.size
        if self.unit == "channel" or len(self.shape) <= 1:
            return list(range(self.size))
        return list(zip(*(i.tolist() for i in np.unravel_index(np.arange(self.size), self.shape)), strict=True))

    def position(self, local: int):
        """Where vertex ``start + local`` sits in the op's output (an int, a tuple, or a channel)."""
        if self.positions is not None:
            return self.positions[local]
        if self.unit == "module":
            return 0
        if self.unit == "channel" or len(self.shape) <= 1:
            return local
        return tuple(int(i) for i in np.unravel_index(local, self.shape))


@dataclass
class EdgeSpec:
    """The edges of one op call, built on demand.

    ``count`` is exact or an upper bound (windows that fall into padding are
    counted); ``build()`` returns ``source, target, weight, index`` arrays,
    ``index`` being the flat index into the module's weight (``-1`` for ops
    without weights and for merged edges).
    """

    module: str
    kind: str
    count: int
    build: Callable[[], EdgeTuple]
    fill: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None] | None = None
    dtype: np.dtype | None = None
    index_bound: int = 0  # largest weight index + 1 that ``fill`` writes


@dataclass
class Extraction:
    """The vertex blocks and edge specs gathered while following a model's data flow."""

    granularity: str = "neuron"
    threshold: float | None = None
    blocks: list[VertexBlock] = field(default_factory=list)
    specs: list[EdgeSpec] = field(default_factory=list)
    num_vertices: int = 0

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ExtractionError(f"granularity must be one of {GRANULARITIES}, got {self.granularity!r}")
        self._starts: list[int] = []

    # -- vertices -------------------------------------------------------------------------------

    def new_block(
        self,
        name: str,
        kind: str,
        shape: Sequence[int],
        sources: Sequence[Ids] = (),
        *,
        channel_dim: int | None = 0,
        unit: str | None = None,
        layer: int | None = None,
        labels: list | None = None,
        positions: list | None = None,
    ) -> Ids:
        """Allocate the vertices of an op's output of feature shape ``shape``; return its id map.

        Args:
            channel_dim: the feature dimension that holds channels (``None``:
                the whole output is one channel).
            unit: override the granularity for this block (the input of a
                masked model is always per neuron at neuron level).
        """
        shape = tuple(int(s) for s in shape)
        unit = unit or self.granularity
        if unit == "channel" and (channel_dim is None or not shape):
            unit = "module"
        if unit == "neuron":
            size = math.prod(shape)
            ids = torch.arange(self.num_vertices, self.num_vertices + size).reshape(1, *shape)
        elif unit == "channel":
            dim = channel_dim % len(shape)
            size = shape[dim]
            view = [1] * (len(shape) + 1)
            view[dim + 1] = size
            ids = torch.arange(self.num_vertices, self.num_vertices + size).reshape(view)
            ids = ids.expand(1, *shape).contiguous()
        else:
            size = 1
            ids = torch.full((1, *shape), self.num_vertices, dtype=torch.int64)
        if labels is not None and len(labels) != size:
            labels = None  # design labels name neurons; coarser vertices are numbered
        if layer is None:
            layer = 1 + max((self.layer_of(s) for s in sources), default=-1)
        block = VertexBlock(
            name, kind, shape, self.num_vertices, size, layer, unit, channel_dim, labels, positions=positions
        )
        self.blocks.append(block)
        self._starts.append(self.num_vertices)
        self.num_vertices += size
        fresh = unit == "module" or len(shape) <= 1 or (unit == "channel" and channel_dim % len(shape) == 0)
        return Ids(ids, blocks=frozenset({len(self.blocks) - 1}), fresh=fresh)

    def layer_of(self, ids: Ids) -> int:
        """The deepest layer among the vertices in ``ids`` (``-1`` if none)."""
        if ids.blocks is not None:
            which = np.array(sorted(ids.blocks), dtype=np.int64)
        else:
            values = ids.t[ids.t >= 0]
            if values.numel() == 0:
                return -1
            present = torch.unique(values).numpy()
            which = np.unique(np.searchsorted(self._starts, present, side="right") - 1)
        layers = []
        for b in which.tolist():
            block = self.blocks[b]
            layers.append(int(block.layers.max()) if block.layers is not None else block.layer)
        return max(layers)

    # -- edges ----------------------------------------------------------------------------------

    def add_edges(
        self,
        module: str,
        kind: str,
        count: int,
        build: Callable[[], EdgeTuple],
        *,
        clean: bool = False,
        fill: Callable | None = None,
        dtype: np.dtype | None = None,
        index_bound: int = 0,
        aggregated: bool = False,
    ) -> None:
        """Record the edges of one op; ``build`` runs only when the graph is built.

        Args:
            clean: ``build`` never yields a source ``-1``.
            fill: ``fill(src, dst, w, idx)`` writes exactly ``count`` edges into
                the given arrays (used instead of ``build`` at neuron level
                without threshold, so the arrays need no concatenation);
                ``dtype`` is then the weight dtype.
            aggregated: ``build`` already gives one edge per vertex pair with
                its final weight and applies the threshold (coarse rules).
        """
        threshold = self.threshold
        coarse = self.granularity != "neuron"
        direct = fill if threshold is None and not coarse else None

        def finish() -> EdgeTuple:
            src, dst, w, idx = build()
            if aggregated:
                return src, dst, w, idx
            if clean and threshold is None:
                return aggregate(src, dst, w, idx) if coarse else (src, dst, w, idx)
            keep = src >= 0
            if threshold is not None:
                keep &= (idx < 0) | (np.abs(w) > threshold)
            if not keep.all():
                src, dst, w, idx = src[keep], dst[keep], w[keep], idx[keep]
            return aggregate(src, dst, w, idx) if coarse else (src, dst, w, idx)

        self.specs.append(EdgeSpec(module, kind, int(count), finish, direct, dtype, index_bound))


def aggregate(src: np.ndarray, dst: np.ndarray, w: np.ndarray, idx: np.ndarray) -> EdgeTuple:
    """Merge edges with the same ``(src, dst)``: weight = L2 norm over distinct weight entries.

    Entries with the same ``(src, dst, idx)`` are one weight seen at several
    positions (a convolution kernel) and count once; ``idx = -1`` entries
    (pooling, merges) count once as well. The merged edges get index ``-1``
    and come sorted by target, then source (so the graph's predecessor rows
    need no sort).
    """
    if src.size == 0:
        return src, dst, w, idx
    order = np.lexsort((idx, src, dst))  # by target first: an op's edges then come sorted by target
    s, d, i, x = src[order], dst[order], idx[order], w[order]
    new_entry = np.ones(s.size, dtype=bool)
    new_entry[1:] = (s[1:] != s[:-1]) | (d[1:] != d[:-1]) | (i[1:] != i[:-1])
    s, d, x = s[new_entry], d[new_entry], x[new_entry].astype(np.float64)
    new_edge = np.ones(s.size, dtype=bool)
    new_edge[1:] = (s[1:] != s[:-1]) | (d[1:] != d[:-1])
    starts = np.flatnonzero(new_edge)
    norm = np.sqrt(np.add.reduceat(x * x, starts))
    return s[starts], d[starts], norm.astype(w.dtype), np.full(starts.size, -1, dtype=np.int64)
