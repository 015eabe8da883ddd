"""``MaskedDeepDAN``: a network whose neurons and connections are the vertices and edges of a DAG.

Every vertex ``v`` is one neuron, ``h_v = act(sum_{u->v} w_uv * h_u + b_v)``,
with one bias and one activation per neuron and edges that may skip any number
of layers. Sources (vertices without in-edges, isolated ones included) read
the input through a maskable input layer; every sink (out-degree zero, in
whatever layer it sits) feeds the output through a maskable output layer, so
no neuron is dead by construction.

Neurons are stored layer by layer (topological generations) in one activation
matrix ``h`` of shape ``[B, N]``; each generation is computed with one gather
and one scatter-add over its incoming edges, so cost grows with the number of
edges, not with the product of layer sizes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import networkx as nx
import numpy as np
import torch
from torch import nn

from workbench.graph import DEFAULT_ORIENTATION, Orientation
from workbench.graph_arrays import DagArrays, dag_arrays
from workbench.layered import LayeredGraph
from workbench.sparse.activations import Activation, resolve_activation
from workbench.sparse.ffn import cast_input, flatten_input, input_shape_of
from workbench.sparse.init import global_rng_untouched
from workbench.sparse.layers import MaskedEdgeLayer, MaskedLinearLayer
from workbench.sparse.module import MaskableModule
from workbench.sparse.propagate import DagPlan, DagPropagation, dag_plan, fused_activation

__all__ = ["DagIndex", "MaskedDeepDAN", "dag_index", "dan_parameter_count"]


class DagIndex:
    """A DAG as integer arrays: vertices in node order, edges, and layers.

    Attributes:
        nodes: vertex labels in the graph's node order.
        source, target: ``[E]`` int64 vertex indices of every edge (graph edge order).
        layer: ``[N]`` int64 topological generation of every vertex.
        order: ``[N]`` vertex indices sorted by (layer, node order): row of ``h``.
        position: ``[N]`` inverse of ``order``: the row of ``h`` holding vertex i.
        bounds: ``[L + 1]`` start of each layer in ``order``.
    """

    def __init__(self, graph: nx.DiGraph | DagArrays) -> None:
        arrays = graph if isinstance(graph, DagArrays) else dag_arrays(graph)
        self.nodes = arrays.nodes
        n = len(self.nodes)
        self.source, self.target, self.layer = arrays.source, arrays.target, arrays.layer
        self.order = np.lexsort((np.arange(n), self.layer))
        self.position = np.empty(n, dtype=np.int64)
        self.position[self.order] = np.arange(n)
        sizes = np.bincount(self.layer, minlength=1) if n else np.zeros(0, dtype=np.int64)
        self.bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        out_degree = np.bincount(self.source, minlength=n)
        self.sinks = np.flatnonzero(out_degree == 0)  # vertex indices, node order

    @property
    def num_layers(self) -> int:
        return len(self.bounds) - 1


def dag_index(structure: nx.Graph, orientation: Orientation = DEFAULT_ORIENTATION) -> tuple[nx.DiGraph, DagIndex]:
    """Check (or orient) ``structure`` and index it; see :class:`DagIndex`."""
    arrays = dag_arrays(structure, orientation)
    return (structure if isinstance(structure, LayeredGraph) else arrays.to_networkx()), DagIndex(arrays)


def dan_parameter_count(structure: nx.Graph, size_input: int, size_output: int, use_layer_norm: bool = False) -> int:
    """Trainable parameters of ``MaskedDeepDAN(size_input, size_output, structure, use_layer_norm)``.

    Input layer ``in * sources + sources``, one weight per edge and one bias per
    other vertex, output layer ``sinks * out + out``; with layer norms, a scale
    and a shift per vertex.
    """
    if not structure.is_directed():
        arrays = dag_arrays(structure)
        n, edges = len(arrays.nodes), arrays.source.size
        sources = n - np.unique(arrays.target).size
        sinks = n - np.unique(arrays.source).size
    else:
        n, edges = structure.number_of_nodes(), structure.number_of_edges()
        sources = sum(1 for _, d in structure.in_degree() if d == 0)
        sinks = sum(1 for _, d in structure.out_degree() if d == 0)
    norms = 2 * n if use_layer_norm else 0
    return size_input * sources + n + edges + sinks * size_output + size_output + norms


def _linear_on_columns(layer: MaskedLinearLayer, columns: torch.Tensor) -> torch.Tensor:
    """``layer(columns.t())`` for ``columns`` of shape ``[in, B]``, computed as ``bias + W @ columns``.

    Torch's matrix product of the transposed view is many times slower for a wide
    layer (a million-edge DAN's 66,201 sinks to 10 outputs: 49 ms against 2.8 ms a
    forward pass). A layer with hooks or its own ``forward`` is called as it is.
    """
    if layer._forward_hooks or layer._forward_pre_hooks or type(layer).forward is not MaskedLinearLayer.forward:
        return layer(columns.t())
    weight = layer.masked_weight()  # [out, in]: the weight itself when every connection is on
    out = torch.mm(weight, columns) if layer.bias is None else torch.addmm(layer.bias.unsqueeze(1), weight, columns)
    return out.t()


class MaskedDeepDAN(MaskableModule):
    """A masked network shaped by any directed acyclic graph.

    Args:
        size_input: number of input features or an input shape (flattened).
        size_output: number of outputs (logits).
        structure: an ``nx.DiGraph`` DAG, a :class:`~workbench.graph.LayeredGraph`,
            or an undirected graph, oriented with ``orientation`` (see
            :func:`workbench.graph.orient`).
        use_layer_norm: normalise every topological generation's pre-activations
            with its own ``LayerNorm`` (as the seed did per layer).
        orientation: how an undirected ``structure`` is oriented:
            ``"random"`` (default: shallow, many sources and sinks), ``"bfs"``
            or ``"index"`` (the seed's); see :func:`workbench.graph.orient`.
        activation: applied to every neuron: a name in
            :data:`~workbench.sparse.ACTIVATIONS` or an ``nn.Module`` class.
        seed: draw the initial weights from ``torch.Generator().manual_seed(seed)``
            without touching the global random state (same seed, same weights).

    Inputs of another real dtype (a float64 numpy array) are cast to the weights' dtype.

    Attributes:
        structure: the design, an ``nx.DiGraph`` with the original labels.
        input_layer: ``MaskedLinearLayer(in, sources)``.
        layers: one :class:`MaskedEdgeLayer` per topological generation after the first.
        norms: one ``LayerNorm`` per generation (empty without ``use_layer_norm``).
        output_layer: ``MaskedLinearLayer(sinks, out)``.

    Raises:
        EmptyGraphError, CycleError: ``structure`` is empty or cyclic.
        ModelError: an unknown activation name.
    """

    def __init__(
        self,
        size_input: int | Sequence[int] | torch.Size,
        size_output: int,
        structure: nx.Graph,
        use_layer_norm: bool = False,
        *,
        orientation: Orientation = DEFAULT_ORIENTATION,
        activation: Activation = nn.ReLU,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        act = resolve_activation(activation)
        with global_rng_untouched(seed is not None):
            self._build(size_input, size_output, structure, orientation, act)
        self.use_layer_norm = bool(use_layer_norm)
        sizes = np.diff(self.layer_bounds).tolist()
        self.norms = nn.ModuleList(nn.LayerNorm(n) for n in sizes) if use_layer_norm else nn.ModuleList()
        if seed is not None:
            self.reset_parameters(seed=seed)

    def _build(self, size_input, size_output, structure, orientation, act: type[nn.Module]) -> None:
        self.input_shape = input_shape_of(size_input)
        arrays = dag_arrays(structure, orientation)
        # The design as an nx.DiGraph is built on first use (see ``structure``): building
        # it costs more than the rest of the model. A LayeredGraph is kept as it is.
        self._design = arrays
        self._structure = structure if isinstance(structure, LayeredGraph) else None
        index = DagIndex(arrays)
        self._nodes = index.nodes
        self.num_neurons = len(index.nodes)
        self.activation = act()

        position = torch.from_numpy(index.position)
        row_vertex = torch.from_numpy(index.order)  # vertex at each row of h
        self.register_buffer("row_vertex", row_vertex, persistent=False)
        bounds = index.bounds.tolist()
        self.layer_bounds = bounds
        num_sources = bounds[1]
        self.input_layer = MaskedLinearLayer(math.prod(self.input_shape), num_sources)

        # Every edge by (row of its head, row of its tail): the edges into one generation
        # are then contiguous, generation after generation, each block sorted the same way.
        src_rows, dst_rows = index.position[index.source], index.position[index.target]
        order = np.argsort(dst_rows * self.num_neurons + src_rows)
        src_rows, dst_rows = torch.from_numpy(src_rows[order]), torch.from_numpy(dst_rows[order])
        cuts = np.searchsorted(dst_rows.numpy(), index.bounds).tolist()  # [L + 1] first edge into each generation
        blocks = []
        for g in range(1, index.num_layers):
            into = slice(cuts[g], cuts[g + 1])
            blocks.append(MaskedEdgeLayer(src_rows[into], dst_rows[into] - bounds[g], bounds[g + 1] - bounds[g]))
        self.layers = nn.ModuleList(blocks)
        self.register_buffer("sink_rows", position[torch.from_numpy(index.sinks)], persistent=False)
        self.output_layer = MaskedLinearLayer(len(index.sinks), int(size_output))

    @property
    def structure(self) -> nx.DiGraph:
        """The design: an ``nx.DiGraph`` with the original labels, attributes and order.

        What :func:`workbench.graph.to_dag` gives for the graph the model was
        built from (a ``LayeredGraph`` is the same object); built on first use
        from a snapshot taken at construction, so later changes to the graph
        passed in do not show here.
        """
        if self._structure is None:
            self._structure = self._design.to_networkx()
        return self._structure

    @property
    def num_layers(self) -> int:
        """Topological generations of the structure (the sources are layer 0)."""
        return len(self.layer_bounds) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, *input_shape] -> [B, out]
        x, unbatched = flatten_input(cast_input(x, self.input_layer.weight), self.input_shape)  # [B, in]
        first = self.input_layer(x)  # [B, n_0]
        first = self.activation(self.norms[0](first) if self.use_layer_norm else first)
        activation = fused_activation(self.activation)
        if activation is not None and self._can_fuse():
            blocks = list(self.layers._modules.values())  # the parameters without nn.Module's attribute lookup
            masks = torch.cat([b._buffers["mask"] for b in blocks]) if blocks else first.new_zeros(0, dtype=torch.bool)
            params = [b._parameters["weight"] for b in blocks] + [b._parameters["bias"] for b in blocks]
            sinks = DagPropagation.apply(first.t(), self._plan(), activation, masks, *params)  # [S, B]
            out = _linear_on_columns(self.output_layer, sinks)  # [B, out]
        else:
            out = self._forward_blocks(first)
        return out[0] if unbatched else out

    def _forward_blocks(self, first: torch.Tensor) -> torch.Tensor:  # [B, n_0] -> [B, out]
        """One module call per generation: any activation, hooks on blocks, learnable masks."""
        h = first.new_empty(first.shape[0], self.num_neurons)  # [B, N], rows in layer order
        bounds = self.layer_bounds
        h[:, : bounds[1]] = first
        for g, block in enumerate(self.layers, start=1):
            pre = block(h)  # [B, n_g]
            h[:, bounds[g] : bounds[g + 1]] = self.activation(self.norms[g](pre) if self.use_layer_norm else pre)
        return self.output_layer(h.index_select(1, self.sink_rows))  # [B, out]

    def _can_fuse(self) -> bool:
        """Whether :class:`DagPropagation` computes exactly what the blocks would."""
        if fused_activation(self.activation) is None or self.use_layer_norm or torch.jit.is_scripting():
            return False
        plain = MaskedEdgeLayer.forward
        return not any(
            b.mask_as_params or b._forward_hooks or b._forward_pre_hooks or type(b).forward is not plain
            for b in self.layers
        )

    def _plan(self) -> DagPlan:
        """Index tensors of the fused pass; gathered again when a block's indices move or change."""
        blocks = list(self.layers._modules.values())
        indices = [*(b._buffers[name] for b in blocks for name in ("source", "target")), self._buffers["sink_rows"]]
        plan = self.__dict__.get("_plan_cache")
        if plan is None or not plan.is_current(indices):
            plan = self.__dict__["_plan_cache"] = dag_plan(blocks, self.layer_bounds, self._buffers["sink_rows"])
        return plan

    def node_at_row(self, row: int):
        return self._nodes[int(self.row_vertex[row])]

    def edge_arrays(self, *, masked: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vertex indices (node order) and weights of the edges of the structure.

        Returns:
            ``source, target, weight`` as numpy arrays; with ``masked`` only the
            edges whose mask is on.
        """
        row_vertex = self.row_vertex.cpu()
        sources, targets, weights = [], [], []
        for g, block in enumerate(self.layers, start=1):
            keep = block.mask.cpu() if masked else torch.ones_like(block.mask.cpu())
            sources.append(row_vertex[block.source.cpu()[keep]])
            targets.append(row_vertex[block.target.cpu()[keep] + self.layer_bounds[g]])
            weights.append(block.weight.detach().cpu()[keep])
        if not sources:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=np.float32)
        return (torch.cat(sources).numpy(), torch.cat(targets).numpy(), torch.cat(weights).float().numpy())

    def generate_structure(self, include_input: bool = False, include_output: bool = False) -> nx.DiGraph:
        """The design's vertices (same labels and attributes) and its unmasked edges.

        On an unpruned model this is the design itself. With ``include_input``
        the input features are added as vertices ``("input", i)`` connected to
        the sources they feed; with ``include_output`` the outputs as
        ``("output", j)`` fed by the sinks.
        """
        design = self._design
        graph = nx.DiGraph()
        graph.graph.update(self.structure.graph if self._structure is not None else design.graph_data)
        if self._structure is not None:
            graph.add_nodes_from(self.structure.nodes(data=True))
        elif design.node_data is None:
            graph.add_nodes_from(design.nodes)
        else:
            graph.add_nodes_from(zip(design.nodes, map(dict, design.node_data), strict=True))
        source, target, _ = self.edge_arrays()
        nodes = self._nodes
        tails, heads = map(nodes.__getitem__, source.tolist()), map(nodes.__getitem__, target.tolist())
        if self._structure is None and design.edge_data is None:
            graph.add_edges_from(zip(tails, heads, strict=True))
        else:
            edges = self.structure.edges
            graph.add_edges_from((u, v, dict(edges[u, v])) for u, v in zip(tails, heads, strict=True))
        if include_input:
            rows, cols = np.nonzero(self.input_layer.mask.cpu().numpy())  # [sources, in]
            graph.add_nodes_from(("input", i) for i in range(self.input_layer.in_features))
            graph.add_edges_from(
                (("input", c), self.node_at_row(r)) for r, c in zip(rows.tolist(), cols.tolist(), strict=False)
            )
        if include_output:
            rows, cols = np.nonzero(self.output_layer.mask.cpu().numpy())  # [out, sinks]
            sink_rows = self.sink_rows.tolist()
            graph.add_nodes_from(("output", j) for j in range(self.output_layer.out_features))
            graph.add_edges_from(
                (self.node_at_row(sink_rows[c]), ("output", r))
                for r, c in zip(rows.tolist(), cols.tolist(), strict=False)
            )
        return graph
