"""Directed acyclic graphs as network structures.

A structure is an ``nx.DiGraph`` whose vertices are neurons and whose edges are
connections. This module validates such graphs, orients undirected graphs into
DAGs, assigns every vertex its layer (its topological generation: the length of
the longest path reaching it from a source), and generates common structures.

Node labels may be any hashable (ints, strings, tuples as in grid graphs); node
order is the graph's insertion order, kept everywhere so results are
deterministic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from typing import Literal

import networkx as nx
import numpy as np

from workbench.errors import CycleError, EmptyGraphError, GraphError, UnknownNodeError

Orientation = Literal["random", "bfs", "index"]
#: How undirected graphs are oriented unless told otherwise (see :func:`orient`).
DEFAULT_ORIENTATION: Orientation = "random"
ORIENTATIONS = ("random", "bfs", "index")

__all__ = [
    "DEFAULT_ORIENTATION",
    "ORIENTATIONS",
    "CachedLayeredGraph",
    "LayeredGraph",
    "Orientation",
    "balanced_tree",
    "barabasi_albert",
    "check_dag",
    "depth",
    "erdos_renyi",
    "find_cycle_through",
    "grid_2d",
    "layer_index",
    "layered_ffn",
    "orient",
    "to_dag",
    "watts_strogatz",
]


def check_dag(graph: nx.DiGraph, *, allow_empty: bool = False) -> None:
    """Raise unless ``graph`` is a non-empty directed acyclic graph.

    Raises:
        GraphError: ``graph`` is not directed.
        EmptyGraphError: ``graph`` has no vertices (unless ``allow_empty``).
        CycleError: ``graph`` has a cycle; the error names one.
    """
    if not graph.is_directed():
        raise GraphError(f"expected a directed graph, got an undirected {type(graph).__name__}")
    if graph.number_of_nodes() == 0 and not allow_empty:
        raise EmptyGraphError("the graph has no vertices")
    if not nx.is_directed_acyclic_graph(graph):
        cycle = [u for u, _ in nx.find_cycle(graph)]
        raise CycleError(cycle)


def find_cycle_through(graph: nx.DiGraph, source: Hashable, target: Hashable) -> list | None:
    """The cycle that adding the edge ``source -> target`` would close, or None.

    Returns:
        ``[source, target, ..., ]``: the new edge followed by a path from
        ``target`` back to ``source``; None when the edge keeps the graph acyclic.

    Raises:
        UnknownNodeError: either end is not a vertex of ``graph``.
    """
    for node in (source, target):
        if node not in graph:
            raise UnknownNodeError(node)
    if source == target:
        return [source]
    try:
        path = nx.shortest_path(graph, target, source)
    except nx.NetworkXNoPath:
        return None
    return [source, *path[:-1]]


def orient(graph: nx.Graph, orientation: Orientation = DEFAULT_ORIENTATION, *, seed: int = 0) -> nx.DiGraph:
    """Turn an undirected graph into a DAG on the same vertices.

    Every orientation ranks the vertices in a total order and points each edge
    from the lower-ranked end to the higher one, so the result is always acyclic.

    Orientations:
        ``"random"`` (default): vertices ranked by a random permutation drawn
        with ``numpy.random.default_rng(seed).permutation(n)`` over the node
        order. Every vertex ranked below all its neighbours becomes a source and
        every vertex ranked above them a sink, so a sparse graph gets many
        inputs and outputs, and the depth stays far below the size: a
        1000-vertex Watts–Strogatz graph becomes about ten layers.
        ``"bfs"``: every connected component is searched breadth first from its
        first vertex in node order; an edge points from the vertex nearer that
        root to the farther one (ties by node order). A tree points from its
        root to its leaves, a grid away from one corner; a connected graph has
        exactly one source.
        ``"index"``: an edge points from the vertex earlier in node order to the
        later one (the seed library's orientation; a ring lattice becomes one
        long chain).

    Node and edge attributes and the node order are kept. The same seed and
    node order always give the same DAG.

    Raises:
        GraphError: ``graph`` is directed, has a self-loop, or ``orientation`` is unknown.
    """
    if graph.is_directed():
        raise GraphError("orient() takes an undirected graph; this one is directed")
    position = {v: i for i, v in enumerate(graph.nodes)}
    if orientation == "index":
        key = position
    elif orientation == "random":
        rank = random_rank(len(position), seed).tolist()
        key = {v: rank[i] for v, i in position.items()}
    elif orientation == "bfs":
        distance: dict = {}
        for root in graph.nodes:
            if root in distance:
                continue
            distance[root] = 0
            queue = deque([root])
            while queue:
                u = queue.popleft()
                for w in graph.adj[u]:
                    if w not in distance:
                        distance[w] = distance[u] + 1
                        queue.append(w)
        key = {v: (distance[v], position[v]) for v in graph.nodes}
    else:
        raise GraphError(f"unknown orientation {orientation!r}; expected one of {', '.join(map(repr, ORIENTATIONS))}")
    dag = nx.DiGraph()
    dag.graph.update(graph.graph)
    dag.add_nodes_from(graph.nodes(data=True))
    for u, v, data in graph.edges(data=True):
        if u == v:
            raise GraphError(f"self-loop at vertex {u!r} cannot be oriented acyclically")
        if key[u] < key[v]:
            dag.add_edge(u, v, **data)
        else:
            dag.add_edge(v, u, **data)
    return dag


def random_rank(n: int, seed: int = 0) -> np.ndarray:
    """The rank of each of ``n`` vertices (in node order) under the ``"random"`` orientation."""
    return np.random.default_rng(seed).permutation(n)


def to_dag(graph: nx.Graph, orientation: Orientation = DEFAULT_ORIENTATION, *, seed: int = 0) -> nx.DiGraph:
    """Return ``graph`` as a checked DAG: directed graphs are checked, undirected ones oriented.

    Raises:
        EmptyGraphError, CycleError: as :func:`check_dag`.
    """
    if isinstance(graph, LayeredGraph):
        check_dag(graph)
        return graph
    dag = graph.copy() if graph.is_directed() else orient(graph, orientation, seed=seed)
    if isinstance(dag, nx.MultiDiGraph):
        dag = nx.DiGraph(dag)
    check_dag(dag)
    return dag


def layer_index(graph: nx.DiGraph) -> dict:
    """Map every vertex to its layer: the longest path from any source to it.

    Sources (and isolated vertices) are layer 0. Raises :class:`CycleError`
    for a cyclic graph.
    """
    check_dag(graph, allow_empty=True)
    return {v: i for i, generation in enumerate(nx.topological_generations(graph)) for v in generation}


def depth(graph: nx.DiGraph) -> int:
    """The number of layers of a DAG (0 for an empty graph)."""
    check_dag(graph, allow_empty=True)
    return sum(1 for _ in nx.topological_generations(graph))


class LayeredGraph(nx.DiGraph):
    """A DAG that knows the layer of each vertex.

    The layer of a vertex is its topological generation. ``LayeredGraph``
    recomputes layers on every query; :class:`CachedLayeredGraph` caches them
    and drops the cache whenever a vertex or edge is added or removed.

    Example:
        >>> g = LayeredGraph.load_from(nx.balanced_tree(2, 2), "bfs")
        >>> g.num_layers, g.layers
        (3, [0, 1, 2])
    """

    @classmethod
    def load_from(
        cls, graph: nx.Graph, orientation: Orientation = DEFAULT_ORIENTATION, *, seed: int = 0
    ) -> CachedLayeredGraph:
        """Copy ``graph`` (oriented with :func:`orient` if undirected) into a layered graph.

        Node labels, node order and all attributes are kept. Calling it on
        ``LayeredGraph`` gives a :class:`CachedLayeredGraph`.

        Raises:
            EmptyGraphError, CycleError: the result would not be a DAG.
        """
        target = CachedLayeredGraph if cls is LayeredGraph else cls
        dag = graph if graph.is_directed() else orient(graph, orientation, seed=seed)
        layered = target()
        layered.graph.update(dag.graph)
        layered.add_nodes_from(dag.nodes(data=True))
        layered.add_edges_from(dag.edges(data=True))
        check_dag(layered)
        return layered

    def _layer_map(self) -> dict:
        return layer_index(self)

    def layer(self, node: Hashable) -> int:
        """The layer of ``node``; raises :class:`UnknownNodeError` if absent."""
        layers = self._layer_map()
        if node not in layers:
            raise UnknownNodeError(node)
        return layers[node]

    @property
    def layers(self) -> list[int]:
        """Layer indices ``[0, 1, ..., num_layers - 1]``."""
        return list(range(self.num_layers))

    @property
    def num_layers(self) -> int:
        layers = self._layer_map()
        return max(layers.values()) + 1 if layers else 0

    def get_vertices(self, layer: int) -> list:
        """Vertices of ``layer`` in node order."""
        self._check_layer(layer)
        return [v for v, i in self._layer_map().items() if i == layer]

    def get_layer_size(self, layer: int) -> int:
        return len(self.get_vertices(layer))

    @property
    def first_layer_size(self) -> int:
        return self.get_layer_size(0)

    @property
    def last_layer_size(self) -> int:
        return self.get_layer_size(self.num_layers - 1)

    @property
    def layer_sizes(self) -> list[int]:
        return [self.get_layer_size(i) for i in self.layers]

    def _check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.num_layers:
            raise GraphError(f"layer {layer} out of range; the graph has {self.num_layers} layers")


class CachedLayeredGraph(LayeredGraph):
    """A :class:`LayeredGraph` that caches its layering between changes.

    Every networkx method that adds or removes vertices or edges goes through
    the overridden methods below, which drop the cache.
    """

    def __init__(self, incoming_graph_data=None, **attr) -> None:
        self._layers_cache: dict | None = None
        super().__init__(incoming_graph_data, **attr)

    def _invalidate(self) -> None:
        self._layers_cache = None

    def _layer_map(self) -> dict:
        if self._layers_cache is None:
            self._layers_cache = layer_index(self)
        return self._layers_cache

    def add_node(self, node_for_adding, **attr):
        self._invalidate()
        super().add_node(node_for_adding, **attr)

    def add_nodes_from(self, nodes_for_adding, **attr):
        self._invalidate()
        super().add_nodes_from(nodes_for_adding, **attr)

    def remove_node(self, n):
        self._invalidate()
        super().remove_node(n)

    def remove_nodes_from(self, nodes):
        self._invalidate()
        super().remove_nodes_from(nodes)

    def add_edge(self, u_of_edge, v_of_edge, **attr):
        self._invalidate()
        super().add_edge(u_of_edge, v_of_edge, **attr)

    def add_edges_from(self, ebunch_to_add, **attr):
        self._invalidate()
        super().add_edges_from(ebunch_to_add, **attr)

    def remove_edge(self, u, v):
        self._invalidate()
        super().remove_edge(u, v)

    def remove_edges_from(self, ebunch):
        self._invalidate()
        super().remove_edges_from(ebunch)

    def clear(self):
        self._invalidate()
        super().clear()

    def clear_edges(self):
        self._invalidate()
        super().clear_edges()


# --------------------------------------------------------------------------- generators
# Each returns an ``nx.DiGraph`` DAG; random ones take ``seed`` as networkx does
# (None, an int, or a ``random.Random``).


def _int_seed(seed) -> int:
    """The orientation seed of a generator: its graph seed when that is an int, else 0."""
    return seed if isinstance(seed, int) else 0


def layered_ffn(sizes: Sequence[int]) -> nx.DiGraph:
    """Fully connected layers of the given sizes; vertex ``(layer, i)``."""
    if not sizes or any(int(s) < 1 for s in sizes):
        raise GraphError(f"layer sizes must be positive integers, got {list(sizes)!r}")
    graph = nx.DiGraph()
    for layer, size in enumerate(sizes):
        graph.add_nodes_from((layer, i) for i in range(int(size)))
    for layer in range(len(sizes) - 1):
        graph.add_edges_from(
            ((layer, i), (layer + 1, j)) for i in range(int(sizes[layer])) for j in range(int(sizes[layer + 1]))
        )
    return graph


def balanced_tree(r: int, h: int, *, orientation: Orientation = "bfs") -> nx.DiGraph:
    """A balanced ``r``-ary tree of height ``h``, pointing from the root to the leaves."""
    return orient(nx.balanced_tree(r, h), orientation)


def grid_2d(m: int, n: int, *, orientation: Orientation = "bfs") -> nx.DiGraph:
    """An ``m`` x ``n`` grid with vertices ``(i, j)``, pointing away from ``(0, 0)``."""
    return orient(nx.grid_2d_graph(m, n), orientation)


def watts_strogatz(
    n: int, k: int, p: float, *, seed=None, orientation: Orientation = DEFAULT_ORIENTATION
) -> nx.DiGraph:
    """A Watts–Strogatz small-world graph, oriented (see :func:`orient`)."""
    return orient(nx.watts_strogatz_graph(n, k, p, seed=seed), orientation, seed=_int_seed(seed))


def erdos_renyi(n: int, p: float, *, seed=None, orientation: Orientation = DEFAULT_ORIENTATION) -> nx.DiGraph:
    """An Erdős–Rényi G(n, p) graph, oriented (see :func:`orient`).

    Drawn with ``nx.fast_gnp_random_graph`` (geometric skips), in time linear
    in ``n`` plus the number of edges rather than in the ``n (n - 1) / 2``
    pairs, so a sparse graph of many vertices is quick to make.
    """
    return orient(nx.fast_gnp_random_graph(n, p, seed=seed), orientation, seed=_int_seed(seed))


def barabasi_albert(n: int, m: int, *, seed=None, orientation: Orientation = DEFAULT_ORIENTATION) -> nx.DiGraph:
    """A Barabási–Albert preferential-attachment graph, oriented (see :func:`orient`)."""
    return orient(nx.barabasi_albert_graph(n, m, seed=seed), orientation, seed=_int_seed(seed))


def relabel_consecutive(graph: nx.DiGraph, nodes: Iterable | None = None) -> dict:
    """Map each vertex (in ``nodes`` order, default node order) to 0, 1, 2, ..."""
    return {v: i for i, v in enumerate(graph.nodes if nodes is None else nodes)}
