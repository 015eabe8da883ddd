"""Directed acyclic graphs as network structures.

A structure is an ``nx.DiGraph`` whose vertices are neurons and whose edges are
connections. This module validates such graphs, orients undirected graphs into
DAGs, assigns every vertex its layer (its topological generation: the length of
the longest path reaching it from a source), and generates common structures.

Node labels may be any hashable (ints, strings, tuples as in grid graphs); node
order is the graph's insertion order, kept everywhere so results are
deterministic. The seed's ``LayeredGraph`` and ``CachedLayeredGraph`` live in
:mod:`workbench.layered` and can be imported from here too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
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
    "Orientation",
    "balanced_tree",
    "barabasi_albert",
    "build_layer_index",
    "check_dag",
    "depth",
    "edge_count",
    "erdos_renyi",
    "find_cycle_through",
    "grid_2d",
    "layer_index",
    "layered_ffn",
    "orient",
    "to_dag",
    "watts_strogatz",
]


def edge_count(graph: nx.Graph) -> int:
    """``graph.number_of_edges()`` without summing degrees (10x faster on a directed graph).

    Example:
        >>> edge_count(nx.DiGraph([(0, 1), (1, 2), (0, 2)])), edge_count(nx.path_graph(4))
        (3, 3)
    """
    if graph.is_directed() and not graph.is_multigraph():
        return sum(map(len, graph.adj.values()))
    return graph.number_of_edges()


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
    edges = []
    for u, v, data in graph.edges(data=True):
        if u == v:
            raise GraphError(f"self-loop at vertex {u!r} cannot be oriented acyclically")
        edges.append((u, v, data) if key[u] < key[v] else (v, u, data))
    dag.add_edges_from(edges)  # one call: 3x faster than add_edge per edge
    return dag


def random_rank(n: int, seed: int = 0) -> np.ndarray:
    """The rank of each of ``n`` vertices (in node order) under the ``"random"`` orientation."""
    return np.random.default_rng(seed).permutation(n)


def to_dag(graph: nx.Graph, orientation: Orientation = DEFAULT_ORIENTATION, *, seed: int = 0) -> nx.DiGraph:
    """Return ``graph`` as a checked DAG: directed graphs are checked, undirected ones oriented.

    Raises:
        EmptyGraphError, CycleError: as :func:`check_dag`.
    """
    from workbench.layered import LayeredGraph

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


def build_layer_index(graph: nx.DiGraph, layer_index: dict | None = None) -> tuple[dict, dict]:
    """The seed's layering: ``(layer of every vertex, vertices of every layer)``.

    The layer of a vertex is the longest path from a source to it (as
    :func:`layer_index`); vertices are listed in node order.

    Args:
        graph: a DAG.
        layer_index: a dict to fill in place (the seed's cache argument); a
            vertex already in it keeps its value, and its successors are
            layered from that value.

    Returns:
        ``(layers, vertices_by_layer)``: ``{vertex: layer}`` and ``{layer: [vertices]}``.

    Raises:
        CycleError: ``graph`` has a cycle.

    Example:
        >>> build_layer_index(nx.DiGraph([(0, 1), (1, 2), (0, 2)]))
        ({0: 0, 1: 1, 2: 2}, {0: [0], 1: [1], 2: [2]})
    """
    check_dag(graph, allow_empty=True)
    layers = {} if layer_index is None else layer_index
    for v in nx.topological_sort(graph):
        if v not in layers:
            layers[v] = 1 + max((layers[u] for u in graph.predecessors(v)), default=-1)
    by_layer: dict = {}
    for v in graph.nodes:
        by_layer.setdefault(layers[v], []).append(v)
    return layers, by_layer


def depth(graph: nx.DiGraph) -> int:
    """The number of layers of a DAG (0 for an empty graph)."""
    check_dag(graph, allow_empty=True)
    return sum(1 for _ in nx.topological_generations(graph))


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


def __getattr__(name: str):
    """``LayeredGraph`` and ``CachedLayeredGraph`` live in :mod:`workbench.layered`; imported on first use."""
    if name in ("LayeredGraph", "CachedLayeredGraph"):
        from workbench import layered

        return getattr(layered, name)
    raise AttributeError(f"module 'workbench.graph' has no attribute {name!r}")
