"""Pure helpers the panels share: weights by edge, dead vertices, layer titles, parameter counts.

Nothing here changes a model or a graph. Weights are read with the labels
that :class:`~workbench.transform.GraphTransform` gives the neurons of this
package's masked models (``("input", i)`` / ``("output", j)`` around a DAN,
consecutive ints layer by layer for a feed-forward net), so they can be laid
over an extracted graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Hashable, Mapping

import networkx as nx
import numpy as np
import torch
from torch import nn

from workbench.graph import edge_count
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN

__all__ = [
    "dead_vertices",
    "edge_weights",
    "graph_counts",
    "layer_title",
    "pruned_parameter_count",
    "trainable_parameters",
]


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def pruned_parameter_count(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> int:
    """Trainable parameters of ``model`` left when ``masks`` hold (masked weights do not count)."""
    masked = sum(int((~m).sum()) for m in masks.values())
    return trainable_parameters(model) - masked


def layer_title(name: str, model: nn.Module) -> str:
    """A reader's name for the connections of a maskable layer.

    A DAN's are ``"inputs → 1"`` (into the first column of the design), ``"→ 3"`` (into column 3: every edge
    that ends there, from any column before) and ``"→ outputs"``; a feed-forward net's ``"inputs → 1"``,
    ``"1 → 2"``, ``"2 → outputs"``.
    """
    if isinstance(model, MaskedDeepDAN):
        if name == "input_layer":
            return "inputs → 1"
        if name == "output_layer":
            return "→ outputs"
        if name.startswith("layers."):
            return f"→ {int(name.split('.')[1]) + 2}"
    if isinstance(model, MaskedDeepFFN) and name.startswith("layers."):
        k = int(name.split(".")[1])
        last = len(model.layers) - 1
        return f"{'inputs' if k == 0 else k} → {'outputs' if k == last else k + 1}"
    layer = dict(model.named_modules()).get(name)
    return f"{'conv' if hasattr(layer, 'kernel_size') else 'linear'} {name}" if layer is not None else name


def edge_weights(model: nn.Module) -> dict[tuple[Hashable, Hashable], float]:
    """``{(u, v): weight}`` for every designed connection of a DAN or feed-forward net (masked or not)."""
    weights: dict = {}
    if isinstance(model, MaskedDeepDAN):
        nodes = list(model.structure.nodes)
        source, target, w = model.edge_arrays(masked=False)
        weights.update(
            ((nodes[u], nodes[v]), x) for u, v, x in zip(source.tolist(), target.tolist(), w.tolist(), strict=True)
        )
        w_in = model.input_layer.weight.detach().cpu().numpy()  # [sources, in]
        for r in range(w_in.shape[0]):
            node = model.node_at_row(r)
            weights.update(((("input", c), node), float(x)) for c, x in enumerate(w_in[r]))
        w_out = model.output_layer.weight.detach().cpu().numpy()  # [out, sinks]
        sink_rows = model.sink_rows.tolist()
        for c, row in enumerate(sink_rows):
            node = model.node_at_row(row)
            weights.update(((node, ("output", r)), float(w_out[r, c])) for r in range(w_out.shape[0]))
    elif isinstance(model, MaskedDeepFFN):
        offsets = np.cumsum([0, *model.sizes]).tolist()
        for k, layer in enumerate(model.layers):
            w = layer.weight.detach().cpu().numpy()  # [out, in]
            rows, cols = np.nonzero(np.ones_like(w, dtype=bool))
            weights.update(
                ((offsets[k] + c, offsets[k + 1] + r), float(w[r, c]))
                for r, c in zip(rows.tolist(), cols.tolist(), strict=True)
            )
    return weights


def _reach(graph: nx.DiGraph, starts: Collection, forward: bool) -> set:
    seen = {v for v in starts if v in graph}
    queue = deque(seen)
    step = graph.successors if forward else graph.predecessors
    while queue:
        for w in step(queue.popleft()):
            if w not in seen:
                seen.add(w)
                queue.append(w)
    return seen


def dead_vertices(graph: nx.DiGraph, inputs: Collection, outputs: Collection) -> set:
    """Vertices of ``graph`` without a path from any of ``inputs`` or without one to any of ``outputs``.

    Example:
        >>> g = nx.DiGraph([("i", "a"), ("a", "o"), ("i", "b")])
        >>> sorted(dead_vertices(g, ["i"], ["o"]))
        ['b']
    """
    alive = _reach(graph, inputs, True) & _reach(graph, outputs, False)
    return set(graph.nodes) - alive


def graph_counts(graph: nx.DiGraph) -> dict[str, int]:
    """Vertices, edges and depth (topological generations) of a DAG; depth 0 when empty."""
    depth = sum(1 for _ in nx.topological_generations(graph)) if graph.number_of_nodes() else 0
    return {"vertices": graph.number_of_nodes(), "edges": edge_count(graph), "depth": depth}
