"""The model laid over the drawn graph: which weight each drawn edge is, and how a set of masks looks.

The canvas draws the design with the model's input and output neurons around
it (:func:`with_io`). :class:`ModelOverlay` maps every drawn edge to the
weights it stands for in the model's maskable layers, flattened and
concatenated in layer order, so that a set of masks (the applied ones, or a
slider preview) turns into one character per drawn edge (:meth:`ModelOverlay.codes`)
and one flag per drawn vertex (dead or alive) in a few milliseconds, even for
ten thousand edges. The page restyles the canvas from those strings.

Edge codes:

* ``.`` the edge is not in the model (the design changed after the model was built);
* ``-`` every weight it stands for is masked (pruned);
* ``a`` to ``d``: a kept positive weight, by magnitude (quarters of the largest kept |w|);
* ``A`` to ``D``: a kept negative weight, likewise;
* ``e`` to ``h``: a bundle of input connections (when the inputs are drawn as one vertex),
  by the share of them kept.

A vertex is *dead* when, with the masks, no kept path joins it to an input or
to an output; it then computes nothing the outputs see.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch
from torch import nn

from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN, named_maskable_layers

__all__ = [
    "ALL_INPUTS",
    "MAX_DRAWN_INPUTS",
    "ModelOverlay",
    "alive",
    "edge_codes",
    "with_io",
]

#: Above this many input features the inputs are drawn as one vertex (a bundle per source).
MAX_DRAWN_INPUTS = 16
#: The label of the one vertex that stands for every input feature.
ALL_INPUTS = ("input", "all")
NOT_IN_MODEL, REMOVED = ".", "-"
POSITIVE, NEGATIVE, BUNDLE = "abcd", "ABCD", "efgh"


def with_io(design: nx.DiGraph, n_in: int, n_out: int, *, max_inputs: int = MAX_DRAWN_INPUTS) -> nx.DiGraph:
    """The design with a DAN's input and output neurons: every input feeds every source, every sink every output.

    Inputs are ``("input", i)`` (or the one vertex :data:`ALL_INPUTS` when there are more than
    ``max_inputs``), outputs ``("output", j)``. The design's own vertices and edges keep their order.
    """
    graph = nx.DiGraph()
    inputs = [ALL_INPUTS] if n_in > max_inputs else [("input", i) for i in range(n_in)]
    graph.add_nodes_from(inputs, role="input")
    graph.add_nodes_from(design.nodes)
    graph.add_nodes_from((("output", j) for j in range(n_out)), role="output")
    sources = [v for v in design.nodes if design.in_degree(v) == 0]
    sinks = [v for v in design.nodes if design.out_degree(v) == 0]
    graph.add_edges_from((i, s) for s in sources for i in inputs)
    graph.add_edges_from(design.edges)
    graph.add_edges_from((s, ("output", j)) for s in sinks for j in range(n_out))
    if n_in > max_inputs:
        graph.nodes[ALL_INPUTS]["count"] = n_in
    return graph


def edge_codes(
    present: np.ndarray, kept: np.ndarray, weight: np.ndarray, *, bundle_share: np.ndarray | None = None
) -> str:
    """One code per edge (see the module docstring).

    Args:
        present: ``[E]`` bool: the edge is in the model.
        kept: ``[E]`` bool: its weight (any weight of a bundle) is not masked.
        weight: ``[E]`` its weight (ignored for bundles and edges not present).
        bundle_share: ``[E]`` share of a bundle's weights kept, NaN for single edges (default: no bundles).

    Example:
        >>> edge_codes(np.array([1, 1, 1, 0], bool), np.array([1, 1, 0, 0], bool), np.array([0.5, -1.0, 2.0, 0.0]))
        'cD-.'
    """
    bundle = np.zeros(len(kept), bool) if bundle_share is None else ~np.isnan(bundle_share)
    on = present & kept & ~bundle
    top = float(np.abs(weight[on]).max()) if on.any() else 1.0
    bucket = np.minimum((np.abs(weight) / (top or 1.0) * 4).astype(np.int64), 3)
    alphabet = np.array(list(POSITIVE + NEGATIVE + BUNDLE + NOT_IN_MODEL + REMOVED))
    code = np.full(len(kept), len(alphabet) - 2)  # not in the model
    code[present & ~kept] = len(alphabet) - 1
    code[on & (weight >= 0)] = bucket[on & (weight >= 0)]
    code[on & (weight < 0)] = 4 + bucket[on & (weight < 0)]
    if bundle_share is not None:
        live = present & kept & bundle
        code[live] = 8 + np.minimum((bundle_share[live] * 4).astype(np.int64), 3)
    return "".join(alphabet[code].tolist())


def alive(n: int, tails: np.ndarray, heads: np.ndarray, inputs: Sequence[int], outputs: Sequence[int]) -> np.ndarray:
    """``[n]`` bool: vertex ``i`` lies on a path from some input to some output along the edges ``tails -> heads``.

    Example:
        >>> alive(4, np.array([0, 1, 0]), np.array([1, 2, 3]), [0], [2]).tolist()
        [True, True, True, False]
    """

    # scipy is imported here, not at the top: it costs a second of the server's start-up
    import scipy.sparse as sp
    from scipy.sparse.csgraph import breadth_first_order

    def reach(a: np.ndarray, b: np.ndarray, starts: Sequence[int]) -> np.ndarray:
        # a virtual vertex n feeds every start; breadth-first search from it
        rows = np.concatenate([a, np.full(len(starts), n)])
        cols = np.concatenate([b, np.asarray(starts, dtype=np.int64)])
        graph = sp.csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n + 1, n + 1))
        seen = np.zeros(n + 1, dtype=bool)
        seen[breadth_first_order(graph, n, directed=True, return_predecessors=False)] = True
        return seen[:n]

    if n == 0:
        return np.zeros(0, dtype=bool)
    return reach(tails, heads, inputs) & reach(heads, tails, outputs)


@dataclass(frozen=True)
class _Layout:
    names: list[str]
    offsets: dict[str, int]  # first flat index of each layer
    total: int


def _flat_layout(model: nn.Module) -> _Layout:
    names, offsets, total = [], {}, 0
    for name, layer in named_maskable_layers(model):
        names.append(name)
        offsets[name] = total
        total += layer.weight.numel()
    return _Layout(names, offsets, total)


def _dan_edges(model: MaskedDeepDAN, flat: _Layout, all_inputs: bool) -> dict:
    """``{(u, v): (start, stop)}`` flat weight ranges of every connection of a DAN."""
    nodes = list(model.structure.nodes)
    source, target, _ = model.edge_arrays(masked=False)
    first = flat.offsets["layers.0"] if model.layers else 0
    ranges = {
        (nodes[u], nodes[v]): (first + j, first + j + 1)
        for j, (u, v) in enumerate(zip(source.tolist(), target.tolist(), strict=True))
    }
    n_in = model.input_layer.in_features
    start = flat.offsets["input_layer"]
    for r in range(model.input_layer.out_features):
        node = model.node_at_row(r)
        if all_inputs:
            ranges[(ALL_INPUTS, node)] = (start + r * n_in, start + (r + 1) * n_in)
        else:
            ranges.update(((("input", c), node), (start + r * n_in + c, start + r * n_in + c + 1)) for c in range(n_in))
    start = flat.offsets["output_layer"]
    sink_rows = model.sink_rows.tolist()
    n_sinks = len(sink_rows)
    for c, row in enumerate(sink_rows):
        node = model.node_at_row(row)
        for r in range(model.output_layer.out_features):
            ranges[(node, ("output", r))] = (start + r * n_sinks + c, start + r * n_sinks + c + 1)
    return ranges


def _ffn_edges(model: MaskedDeepFFN, flat: _Layout, all_inputs: bool) -> dict:
    """``{(u, v): (start, stop)}`` for a feed-forward net; hidden neurons are labelled as
    :meth:`MaskedDeepFFN.generate_structure` labels them (consecutive ints from the first hidden layer)."""
    sizes = list(model.sizes)
    hidden_offsets = np.cumsum([0, *sizes[1:-1]]).tolist()

    def label(layer: int, i: int) -> Hashable:  # layer 0: inputs, last: outputs
        if layer == 0:
            return ALL_INPUTS if all_inputs else ("input", i)
        if layer == len(sizes) - 1:
            return ("output", i)
        return hidden_offsets[layer - 1] + i

    ranges = {}
    for k in range(len(sizes) - 1):
        start = flat.offsets[f"layers.{k}"]
        n_in, n_out = sizes[k], sizes[k + 1]
        for r in range(n_out):
            if k == 0 and all_inputs:
                ranges[(ALL_INPUTS, label(1, r))] = (start + r * n_in, start + (r + 1) * n_in)
                continue
            ranges.update(
                ((label(k, c), label(k + 1, r)), (start + r * n_in + c, start + r * n_in + c + 1)) for c in range(n_in)
            )
    return ranges


class ModelOverlay:
    """Which weights of ``model`` every edge of the drawn graph ``drawn`` stands for.

    Args:
        model: a :class:`MaskedDeepDAN` or :class:`MaskedDeepFFN`.
        drawn: the drawn graph (see :func:`with_io`), whose edge order the codes follow.

    Attributes:
        matches: every drawn edge is a connection of the model and vice versa
            (the design has not changed since the model was built).
    """

    def __init__(self, model: nn.Module, drawn: nx.DiGraph) -> None:
        flat = _flat_layout(model)
        self.names = flat.names
        all_inputs = ALL_INPUTS in drawn
        if isinstance(model, MaskedDeepDAN):
            ranges = _dan_edges(model, flat, all_inputs)
        elif isinstance(model, MaskedDeepFFN):
            ranges = _ffn_edges(model, flat, all_inputs)
        else:
            ranges = {}
        edges = list(drawn.edges)
        bounds = np.array([ranges.get(e, (0, 0)) for e in edges], dtype=np.int64).reshape(-1, 2)
        self.start, self.stop = bounds[:, 0], bounds[:, 1]
        self.present = self.stop > self.start
        self.bundle = (self.stop - self.start) > 1
        self.matches = bool(self.present.all()) and len(ranges) == len(edges)
        index = {v: i for i, v in enumerate(drawn.nodes)}
        self.tails = np.array([index[u] for u, _ in edges], dtype=np.int64)
        self.heads = np.array([index[v] for _, v in edges], dtype=np.int64)
        self.n_nodes = len(index)
        self.inputs = [i for v, i in index.items() if isinstance(v, tuple) and v[:1] == ("input",)]
        self.outputs = [i for v, i in index.items() if isinstance(v, tuple) and v[:1] == ("output",)]

    def flatten(self, tensors: Mapping[str, torch.Tensor]) -> np.ndarray:
        """Concatenate per-layer tensors (masks or weights) flat, in layer order."""
        return torch.cat([tensors[name].detach().reshape(-1).cpu() for name in self.names]).numpy()

    def kept(self, masks: Mapping[str, torch.Tensor]) -> np.ndarray:
        """``[E]`` how many of the weights each drawn edge stands for are kept (0 for edges not in the model)."""
        on = np.concatenate([[0], np.cumsum(self.flatten(masks), dtype=np.int64)])
        return np.where(self.present, on[self.stop] - on[self.start], 0)

    def codes(self, masks: Mapping[str, torch.Tensor], weights: Mapping[str, torch.Tensor]) -> str:
        """One character per drawn edge (see the module docstring) for ``masks`` over ``weights``."""
        kept = self.kept(masks)
        w = self.flatten(weights).astype(np.float64)
        single = self.present & ~self.bundle
        value = np.zeros(len(kept))
        value[single] = w[self.start[single]]
        share = np.where(self.bundle, kept / np.maximum(self.stop - self.start, 1), 0.0)
        return edge_codes(self.present, kept > 0, value, bundle_share=np.where(self.bundle, share, np.nan))

    def dead(self, masks: Mapping[str, torch.Tensor]) -> np.ndarray:
        """``[V]`` bool per drawn vertex: no kept path joins it to both an input and an output."""
        keep = self.kept(masks) > 0
        return ~alive(self.n_nodes, self.tails[keep], self.heads[keep], self.inputs, self.outputs)
