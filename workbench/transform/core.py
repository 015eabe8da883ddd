"""``GraphTransform``: the graph of a model's neurons (or channels, or modules) and its connections.

The model's data flow is followed with ``torch.fx`` symbolic tracing
(:mod:`workbench.transform.trace`); where tracing fails (Python branches on
shapes) the model runs once in eval mode on a traced tensor of zeros
(:mod:`workbench.transform.fallback`) and every module's training flag is put
back. The model's parameters, masks, buffers, ``forward`` attributes and
training mode are exactly as before. The example input only gives the shape
of one sample: its first dimension is the batch and is ignored (for this
package's masked models an unbatched input of their ``input_shape`` works
too).

Granularities:

* ``"neuron"`` (default): one vertex per input element and per output unit of
  every structural op (linear, convolution, pooling, merge, reduction); one
  edge per nonzero weight (per unmasked weight for masked layers) between the
  units it connects. Element-wise ops (activations, dropout, normalisation)
  and rearrangements (flatten, view, cat) make no vertices. A normalisation
  layer's per-channel scale ``gamma / sqrt(var + eps)`` is not folded into
  the weights: edge weights stay the weights of the layer that owns them.
* ``"channel"``: one vertex per channel of every structural op's output (one
  per feature for linear layers); an edge where any kernel weight between two
  channels is nonzero, weighted by the L2 norm of those weights.
* ``"module"``: one vertex per op, weighted by the L2 norm of the weights
  between two ops.

A model the rules do not cover raises :class:`~workbench.errors.ExtractionError`
naming the module and the op; a graph above ``max_edges`` / ``max_bytes``
raises :class:`~workbench.errors.GraphTooLargeError` before anything large is
built. By default (``max_bytes="auto"``) a graph that would not fit in the
memory available now is refused that way (a neuron-level ResNet-18 on
224 x 224 images has 1.8 billion edges); ``max_bytes=None`` turns the guard off.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch
from torch import nn

from workbench.errors import ExtractionError, GraphTooLargeError
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN
from workbench.transform.blocks import GRANULARITIES, Extraction
from workbench.transform.output import EDGE_DATA, EdgeArrays, to_networkx
from workbench.transform.trace import follow

__all__ = ["AUTO", "GraphEstimate", "GraphTransform", "available_memory"]

#: Bytes per edge and per vertex of an extracted ``nx.DiGraph`` with lazy edge data (peak while
#: building, measured on the 2.1M-edge MLP with CPython 3.11: about 115 B per edge).
NX_BYTES_PER_EDGE = {"lazy": 120, "none": 160, "dict": 450}
NX_BYTES_PER_VERTEX = 700
#: Bytes per edge of :class:`EdgeArrays` (source, target, index as int64 + float32 weight; less when compact).
ARRAY_BYTES_PER_EDGE = 28


#: The default ``max_bytes``: the memory available when the graph is about to be built.
AUTO = "auto"


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``; else the physical memory; None if unknown)."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class GraphEstimate:
    """Size of a graph before it is built.

    ``edges`` is exact for inputs without constants; it is an upper bound when
    some input elements come from constants (padding with ``F.pad``, a
    concatenated constant), whose edges are dropped, and at coarse
    granularities where several channels come from one vertex.
    """

    vertices: int
    edges: int
    networkx_bytes: int
    array_bytes: int


class GraphTransform:
    """Extract the graph of a model's computation.

    Args:
        random_input: an example input with a batch dimension (any batch size);
            only its shape is used.
        threshold: if given, weights with ``|w| <= threshold`` give no edge.
            No threshold is applied otherwise.
        granularity: ``"neuron"``, ``"channel"`` or ``"module"``.
        max_edges, max_bytes: refuse graphs whose estimate exceeds either
            (``max_bytes`` counts the networkx graph for :meth:`transform`,
            the arrays for :meth:`transform_arrays`). ``max_bytes="auto"``
            (default) is the memory available at that moment
            (:func:`available_memory`); ``None`` means no limit.
        edge_data: ``"lazy"`` (default: :class:`~workbench.transform.output.EdgeAttrs`
            mappings with ``weight``, ``module``, ``index``), ``"dict"`` (plain
            dicts with the same keys; more memory) or ``"none"`` (empty dicts).

    Example:
        >>> model = MaskedDeepFFN(4, 2, [3])
        >>> graph = GraphTransform(torch.randn(1, 4)).transform(model)
        >>> graph.number_of_nodes(), graph.number_of_edges()
        (9, 18)
        >>> graph.edges[0, 4]["module"]
        'layers.0'
    """

    def __init__(
        self,
        random_input: torch.Tensor,
        threshold: float | None = None,
        granularity: str = "neuron",
        *,
        max_edges: int | None = None,
        max_bytes: int | str | None = AUTO,
        edge_data: str = "lazy",
    ) -> None:
        if granularity not in GRANULARITIES:
            raise ExtractionError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
        if edge_data not in EDGE_DATA:
            raise ExtractionError(f"edge_data must be one of {EDGE_DATA}, got {edge_data!r}")
        if threshold is not None and not threshold >= 0:
            raise ExtractionError(f"threshold must be a non-negative number or None, got {threshold!r}")
        if isinstance(max_bytes, str) and max_bytes != AUTO:
            raise ExtractionError(f"max_bytes must be a number of bytes, 'auto' or None, got {max_bytes!r}")
        if not isinstance(random_input, torch.Tensor):
            raise ExtractionError(f"random_input must be a torch.Tensor, got {type(random_input).__name__}")
        self.random_input = random_input
        self.threshold = threshold
        self.granularity = granularity
        self.max_edges = max_edges
        self.max_bytes = max_bytes
        self.edge_data = edge_data

    # -- following the model --------------------------------------------------------------------

    def _sample_shape(self, model: nn.Module) -> tuple[int, ...]:
        shape = tuple(self.random_input.shape)
        if isinstance(model, MaskedDeepFFN | MaskedDeepDAN):
            features = math.prod(model.input_shape)
            if shape == model.input_shape or (shape and math.prod(shape[1:]) == features):
                return model.input_shape
            name = type(model).__name__
            raise ExtractionError(
                f"random_input of shape {shape} does not fit {name} with input shape {model.input_shape}"
            )
        if len(shape) < 2:
            raise ExtractionError(f"random_input needs a batch dimension and a feature shape, got shape {shape}")
        return shape[1:]

    def _extract(self, model: nn.Module) -> Extraction:
        if not isinstance(model, nn.Module):
            raise ExtractionError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        ctx = Extraction(self.granularity, self.threshold)
        shape = self._sample_shape(model)
        design = isinstance(model, MaskedDeepDAN)
        labels = [("input", i) for i in range(math.prod(shape))] if design else None
        masked_model = isinstance(model, MaskedDeepFFN | MaskedDeepDAN)
        x = ctx.new_block(
            "input",
            "input",
            (math.prod(shape),) if masked_model else shape,
            channel_dim=0,
            layer=0,
            labels=labels,
        )
        with torch.no_grad():
            follow(ctx, model, x)
        return ctx

    def estimate(self, model: nn.Module) -> GraphEstimate:
        """Vertex and edge counts and memory of the graph, without building it."""
        return self._estimate(self._extract(model), self.edge_data)

    @staticmethod
    def _estimate(ctx: Extraction, edge_data: str = "lazy") -> GraphEstimate:
        edges = sum(spec.count for spec in ctx.specs)
        vertices = ctx.num_vertices
        return GraphEstimate(
            vertices,
            edges,
            NX_BYTES_PER_EDGE[edge_data] * edges + NX_BYTES_PER_VERTEX * vertices,
            ARRAY_BYTES_PER_EDGE * edges,
        )

    def _extract_within_limits(self, model: nn.Module, what: str) -> Extraction:
        """Extract ``model``, refusing a graph over the limits as ``what`` (``"arrays"`` or ``"networkx"``)."""
        ctx = self._extract(model)
        estimate = self._estimate(ctx, self.edge_data)
        bytes_used = estimate.networkx_bytes if what == "networkx" else estimate.array_bytes
        max_bytes = available_memory() if self.max_bytes == AUTO else self.max_bytes
        too_many = self.max_edges is not None and estimate.edges > self.max_edges
        too_big = max_bytes is not None and bytes_used > max_bytes
        if not (too_many or too_big):
            return ctx
        coarser = {"neuron": "granularity='channel'", "channel": "granularity='module'"}.get(self.granularity)
        hint = f"; try {coarser}" if coarser else ""
        if what == "networkx":
            hint += " or transform_arrays()"
        if too_many:
            limit = f"max_edges={self.max_edges}"
        elif self.max_bytes == AUTO:
            limit = f"the {max_bytes / 1e6:.1f} MB of memory available (max_bytes='auto'; None builds it anyway)"
        else:
            limit = f"max_bytes={self.max_bytes}"
        raise GraphTooLargeError(
            f"the {self.granularity}-level graph would have {estimate.vertices} vertices, about {estimate.edges} "
            f"edges and about {bytes_used / 1e6:.1f} MB as {what}, over {limit}{hint}"
        )

    # -- outputs --------------------------------------------------------------------------------

    def transform_arrays(self, model: nn.Module, *, compact: bool = True) -> EdgeArrays:
        """The graph as :class:`~workbench.transform.output.EdgeArrays`; ``model`` is not changed.

        Args:
            compact: ``source``, ``target`` and ``index`` are ``int32`` when every
                value fits (as scipy.sparse does), else ``int64``; ``False``: always
                ``int64`` (e.g. for ``torch_geometric``'s ``edge_index``).

        Raises:
            ExtractionError: an op without a rule, or data-dependent control flow.
            GraphTooLargeError: the estimate is over ``max_edges`` or ``max_bytes``.
        """
        ctx = self._extract_within_limits(model, "arrays")
        return self._arrays(ctx, compact=compact)

    def _arrays(self, ctx: Extraction, *, compact: bool = False) -> EdgeArrays:
        """Materialise the edges; ``compact``: int32 ids and indices where they fit."""
        small = compact and ctx.num_vertices < 2**31 and sum(spec.count for spec in ctx.specs) < 2**31
        ints = np.int32 if small else np.int64
        if ctx.specs and all(spec.fill is not None for spec in ctx.specs):
            # exact counts: write every op's edges straight into the output arrays
            sizes = [spec.count for spec in ctx.specs]
            total = sum(sizes)
            if small and any(spec.index_bound >= 2**31 for spec in ctx.specs):
                ints = np.int64
            source, target, index = (np.empty(total, dtype=ints) for _ in range(3))
            weight = np.empty(total, dtype=np.result_type(*(spec.dtype for spec in ctx.specs)))
            start = 0
            for spec, size in zip(ctx.specs, sizes, strict=True):
                part = slice(start, start + size)
                spec.fill(source[part], target[part], weight[part], index[part])
                start += size
        else:  # build every op's edges, then copy them into arrays of the final dtypes (one pass each)
            parts = [spec.build() for spec in ctx.specs]
            sizes = [p[0].size for p in parts]
            total = sum(sizes)
            if small and not all(p[3].size == 0 or int(p[3].max()) < 2**31 for p in parts):
                ints = np.int64
            source, target, index = (np.empty(total, dtype=ints) for _ in range(3))
            weight = np.empty(total, dtype=np.result_type(*(p[2].dtype for p in parts)) if parts else np.float32)
            start = 0
            for part, size in zip(parts, sizes, strict=True):
                for out, values in zip((source, target, weight, index), part, strict=True):
                    np.copyto(out[start : start + size], values, casting="unsafe")
                start += size
        return EdgeArrays(
            source,
            target,
            weight,
            index,
            tuple(spec.module for spec in ctx.specs),
            np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64),
            ctx.num_vertices,
            tuple(ctx.blocks),
            ctx.granularity,
        )

    def transform(self, model: nn.Module) -> nx.DiGraph:
        """The graph as an ``nx.DiGraph``; ``model`` is not changed.

        Vertices carry ``module`` (the op that computes them, ``"input"`` for
        the input), ``layer`` (0 for the input, then one more than the deepest
        vertex feeding the op) and ``position`` (index in the op's output: an
        int, a tuple for feature maps, the channel at channel level). Edges
        carry ``weight``, ``module`` and, where a single weight makes the edge,
        ``index`` (flat index into ``module``'s weight). The graph attribute
        ``granularity`` records the granularity.

        Raises:
            ExtractionError: an op without a rule, or data-dependent control flow.
            GraphTooLargeError: the estimate is over ``max_edges`` or ``max_bytes``.
        """
        arrays = self._arrays(self._extract_within_limits(model, "networkx"), compact=True)
        return to_networkx(arrays, edge_data=self.edge_data, graph_attrs={"granularity": self.granularity})

    def transform_sparse(self, model: nn.Module, format: str = "csr"):
        """The weighted adjacency matrix as a ``scipy.sparse`` array (see :meth:`EdgeArrays.to_scipy`)."""
        return self.transform_arrays(model, compact=True).to_scipy(format)
