"""DAGs as integer arrays: the checks, orientations and layers of :mod:`workbench.graph`, fast.

:func:`dag_arrays` gives what :func:`workbench.graph.to_dag` gives (same
vertices, edges, orientation, node and edge order, and errors) as numpy arrays,
in one pass over the graph's adjacency dicts and a few numpy steps per
topological generation, plus :func:`generations` (longest-path layers). Models
are built from these arrays: for a graph with tens of thousands of edges this
takes milliseconds, where building an intermediate ``nx.DiGraph`` takes a
tenth of a second or more. The ``nx.DiGraph`` is built only on request
(:meth:`DagArrays.to_networkx`).

Reads the networkx adjacency dicts (``graph._adj``, ``graph._node``) directly,
as networkx's own algorithms do, to avoid a Python call per edge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

import networkx as nx
import numpy as np

from workbench.graph import DEFAULT_ORIENTATION, ORIENTATIONS, Orientation, check_dag, random_rank, to_dag

__all__ = ["DagArrays", "dag_arrays", "generations"]


@dataclass(frozen=True, eq=False)
class DagArrays:
    """A DAG as arrays: what :func:`to_dag` returns, without building the ``nx.DiGraph``.

    Attributes:
        nodes: vertex labels in node order.
        source, target: ``[E]`` int64 positions (in ``nodes``) of every edge, in
            the edge order of ``to_dag(graph)``.
        layer: ``[N]`` int64 topological generation of every vertex.
        node_data: shallow copies of the vertices' attribute dicts, or None when
            no vertex has attributes.
        edge_data: shallow copies of the edges' attribute dicts (edge order), or
            None when no edge has attributes.
        graph_data: a copy of the graph's attribute dict.
        graph_class: the class of ``to_dag(graph)``.
    """

    nodes: list
    source: np.ndarray
    target: np.ndarray
    layer: np.ndarray
    node_data: list[dict] | None
    edge_data: list[dict] | None
    graph_data: dict
    graph_class: type

    def to_networkx(self) -> nx.DiGraph:
        """The ``nx.DiGraph`` that ``to_dag`` returns for the same graph (same node and edge order)."""
        dag = self.graph_class()
        dag.graph.update(self.graph_data)
        nodes = self.nodes
        dag.add_nodes_from(nodes if self.node_data is None else zip(nodes, map(dict, self.node_data), strict=True))
        tails = map(nodes.__getitem__, self.source.tolist())
        heads = map(nodes.__getitem__, self.target.tolist())
        if self.edge_data is None:
            dag.add_edges_from(zip(tails, heads, strict=True))
        else:
            dag.add_edges_from(zip(tails, heads, map(dict, self.edge_data), strict=True))
        return dag


def generations(n: int, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Topological generation (longest path from a source) of every vertex ``0..n-1``.

    Kahn's algorithm with one numpy step per generation. Vertices on or behind
    a cycle never become free; they get generation ``-1``.
    """
    layer = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return layer
    by_source = np.argsort(source, kind="stable")
    heads_by_source = target[by_source]
    starts = np.searchsorted(source[by_source], np.arange(n + 1))
    remaining = np.bincount(target, minlength=n)
    frontier = np.flatnonzero(remaining == 0)
    scratch = np.empty(n, dtype=np.int64)
    level = 0
    while frontier.size:
        layer[frontier] = level
        heads = heads_by_source[_out_entries(starts, frontier)]  # out-edges of the frontier
        np.subtract.at(remaining, heads, 1)
        frontier = _distinct(heads[remaining[heads] == 0], scratch)
        level += 1
    return layer


def _positions(nodes: list, labels: Iterable, count: int) -> np.ndarray:
    """Positions in ``nodes`` of ``count`` labels (all of them vertices)."""
    n = len(nodes)
    if set(map(type, nodes)) == {int}:  # bool and numpy ints take the general path
        values = np.array(nodes, dtype=np.int64)
        found = np.fromiter(labels, dtype=np.int64, count=count)
        if n and values[0] == 0 and values[-1] == n - 1 and bool((np.diff(values) == 1).all()):
            return found  # labels 0..n-1 in order: a label is its position
        if n and values.min() == 0 and values.max() == n - 1:  # 0..n-1 in another order
            position = np.full(n, -1, dtype=np.int64)
            position[values] = np.arange(n)
            if bool((position >= 0).all()):
                return position[found]
        order = np.argsort(values, kind="stable")
        return order[np.searchsorted(values[order], found)]
    index = {v: i for i, v in enumerate(nodes)}
    return np.fromiter(map(index.__getitem__, labels), dtype=np.int64, count=count)


def _distinct(values: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """``values`` without repeats, in first-seen order; ``scratch`` is ``[n]`` int64 working space."""
    scratch[values] = np.arange(values.size)
    return values[scratch[values] == np.arange(values.size)]


def _out_entries(starts: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Indices of the adjacency entries of ``vertices`` in a CSR layout (``starts``: ``[n + 1]``)."""
    counts = starts[vertices + 1] - starts[vertices]
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts[vertices], counts) + offsets


def _bfs_distances(n: int, starts: np.ndarray, neighbours: np.ndarray, *, max_steps: int = 256) -> np.ndarray:
    """Distance of every vertex from the first vertex (node order) of its component.

    Breadth first, one numpy step per level; a graph that needs more than
    ``max_steps`` steps (a long path, many components) is searched in plain
    Python instead, which costs the same per edge whatever the shape.
    """
    distance = np.where(starts[1:] == starts[:-1], 0, -1)  # isolated vertices are their own roots
    scratch = np.empty(n, dtype=np.int64)
    steps = 0
    unreached = np.flatnonzero(distance < 0)
    while unreached.size and steps < max_steps:
        frontier = unreached[:1]
        distance[frontier] = level = 0
        while frontier.size and steps < max_steps:
            found = neighbours[_out_entries(starts, frontier)]
            frontier = _distinct(found[distance[found] < 0], scratch)
            level += 1
            distance[frontier] = level
            steps += 1
        unreached = np.flatnonzero(distance < 0)
    if not unreached.size and steps < max_steps:
        return distance
    return _bfs_distances_python(n, starts, neighbours)


def _bfs_distances_python(n: int, starts: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    distance = [-1] * n
    nbrs, bounds = neighbours.tolist(), starts.tolist()
    for root in range(n):
        if distance[root] >= 0:
            continue
        distance[root] = 0
        queue = [root]
        for u in queue:  # grows while it is read: breadth first
            d = distance[u] + 1
            for w in nbrs[bounds[u] : bounds[u + 1]]:
                if distance[w] < 0:
                    distance[w] = d
                    queue.append(w)
    return np.array(distance, dtype=np.int64)


def dag_arrays(graph: nx.Graph, orientation: Orientation = DEFAULT_ORIENTATION, *, seed: int = 0) -> DagArrays:
    """Check (or orient) ``graph`` as :func:`to_dag` does and return it as arrays.

    Same vertices, edges, orientation, order and errors as ``to_dag(graph,
    orientation)``, in one pass over the adjacency and a few numpy steps; the
    ``nx.DiGraph`` itself is built only on request (:meth:`DagArrays.to_networkx`).

    Raises:
        GraphError: unknown ``orientation``, or a self-loop in an undirected graph.
        EmptyGraphError, CycleError: as :func:`check_dag`.
    """
    if graph.is_multigraph() or graph.number_of_nodes() == 0 or orientation not in ORIENTATIONS:
        return _dag_arrays_of(to_dag(graph, orientation, seed=seed))  # rare inputs, and every error message
    nodes = list(graph)
    n = len(nodes)
    adjacency = graph._adj  # label -> {neighbour: edge data}; successors for a directed graph
    degree = np.fromiter(map(len, adjacency.values()), dtype=np.int64, count=n)
    entries = int(degree.sum())
    tail = np.repeat(np.arange(n, dtype=np.int64), degree)
    head = _positions(nodes, chain.from_iterable(adjacency.values()), entries)
    edge_dicts = list(chain.from_iterable(map(dict.values, adjacency.values())))  # [entries] edge data
    has_edge_data = any(edge_dicts)
    if graph.is_directed():
        keep = None
        graph_class = graph.__class__
    else:
        if bool((head == tail).any()):
            return _dag_arrays_of(to_dag(graph, orientation, seed=seed))  # raises the self-loop error
        keep = head > tail  # the entry that nx.Graph.edges yields for each edge
        if orientation == "index":
            rank = np.arange(n)
        elif orientation == "random":
            rank = random_rank(n, seed)
        else:
            starts = np.concatenate([[0], np.cumsum(degree)])
            distance = _bfs_distances(n, starts, head)
            rank = np.empty(n, dtype=np.int64)
            rank[np.lexsort((np.arange(n), distance))] = np.arange(n)
        tail, head = tail[keep], head[keep]
        forward = rank[tail] < rank[head]
        tail, head = np.where(forward, tail, head), np.where(forward, head, tail)
        graph_class = nx.DiGraph
    layer = generations(n, tail, head)
    if bool((layer < 0).any()):
        check_dag(graph)  # raises CycleError naming a cycle
        raise AssertionError("generations() found a cycle that networkx does not")
    node_data = None
    if any(graph._node.values()):
        node_data = [dict(d) for d in graph._node.values()]
    edge_data = None
    if has_edge_data:
        data = edge_dicts
        if keep is not None:
            data = [d for d, k in zip(data, keep.tolist(), strict=True) if k]
        edge_data = [dict(d) for d in data]
    return DagArrays(nodes, tail, head, layer, node_data, edge_data, dict(graph.graph), graph_class)


def _dag_arrays_of(dag: nx.DiGraph) -> DagArrays:
    """Arrays of a checked DAG (the slow path of :func:`dag_arrays`)."""
    nodes = list(dag)
    index = {v: i for i, v in enumerate(nodes)}
    pairs = np.array([(index[u], index[v]) for u, v in dag.edges], dtype=np.int64).reshape(-1, 2)
    source, target = pairs[:, 0].copy(), pairs[:, 1].copy()
    node_data = [dict(d) for _, d in dag.nodes(data=True)] if any(d for _, d in dag.nodes(data=True)) else None
    edge_data = [dict(d) for *_, d in dag.edges(data=True)] if any(d for *_, d in dag.edges(data=True)) else None
    layer = generations(len(nodes), source, target)
    return DagArrays(nodes, source, target, layer, node_data, edge_data, dict(dag.graph), dag.__class__)
