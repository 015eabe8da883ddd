"""The drawn graph and its undo/redo history, kept as changes and bounded in bytes.

Every edit validates first and then changes the graph, so a refused edit
(a cycle, an unknown vertex, a duplicate edge) leaves everything as it was.
Undo and redo replay :class:`Change` records: what an edit added and removed,
not copies of the graph, so a long history of small edits on a large design
costs little. The history keeps the newest changes that fit in its byte
budget; a change larger than the whole budget empties it and cannot be undone
(``last_undoable`` says so, and the app tells the person).

Vertices are not placed here: every view lays the graph out on the server
(:mod:`workbench.app.state.layout`), so a drawing always matches the graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

import networkx as nx

from workbench.errors import CycleError, GraphError
from workbench.graph import check_dag, edge_count, find_cycle_through

__all__ = ["HISTORY_BYTES", "Change", "DesignState"]

#: Default byte budget of one design's undo history.
HISTORY_BYTES = 16 * 2**20
_NODE_BYTES = 120  # rough cost of keeping a vertex (label, attribute dict) in a change
_EDGE_BYTES = 160  # ... an edge


@dataclass
class Change:
    """One edit, as what it added and removed.

    Attributes:
        added_nodes, removed_nodes: ``[(label, attributes)]``.
        added_edges, removed_edges: ``[(u, v, attributes)]``.
        order: the node order before the edit, when it removed vertices (undo puts them back in place).
        before, after: whole graphs, for an edit that replaced the graph.
    """

    added_nodes: list = field(default_factory=list)
    removed_nodes: list = field(default_factory=list)
    added_edges: list = field(default_factory=list)
    removed_edges: list = field(default_factory=list)
    order: list | None = None
    before: nx.DiGraph | None = None
    after: nx.DiGraph | None = None
    _nbytes: int | None = field(default=None, repr=False, compare=False)

    @property
    def nbytes(self) -> int:
        """Approximate memory this record keeps alive, measured once, when it is first asked: a replace's
        graphs are live and later edits change them, but the history must add and subtract one number."""
        if self._nbytes is None:
            self._nbytes = self._measure()
        return self._nbytes

    def _measure(self) -> int:
        nodes = len(self.added_nodes) + len(self.removed_nodes) + len(self.order or ())
        edges = len(self.added_edges) + len(self.removed_edges)
        for graph in (self.before, self.after):
            if graph is not None:
                nodes += graph.number_of_nodes()
                edges += edge_count(graph)
        return 64 + nodes * _NODE_BYTES + edges * _EDGE_BYTES


class DesignState:
    """The drawn graph with a byte-bounded undo/redo history.

    Args:
        graph: the graph to start from (not copied).
        history_bytes: the undo history's budget.

    Attributes:
        graph: the current design, an ``nx.DiGraph`` DAG (possibly empty).
        version: counts changes, undo and redo included.
        last_undoable: False when the newest edit was too large to keep for undo.
    """

    def __init__(self, graph: nx.DiGraph | None = None, *, history_bytes: int = HISTORY_BYTES) -> None:
        self.graph = nx.DiGraph() if graph is None else graph
        self.history_bytes = history_bytes
        self._undo: deque[Change] = deque()
        self._redo: deque[Change] = deque()
        self._undo_bytes = 0
        self.version = 0
        self.last_undoable = True

    # ------------------------------------------------------------------ history
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def history_nbytes(self) -> int:
        """Approximate memory held by the undo and redo records."""
        return self._undo_bytes + sum(c.nbytes for c in self._redo)

    def forget_history(self) -> None:
        """Drop undo and redo (the state a tab opens on is not an edit)."""
        self._undo.clear()
        self._redo.clear()
        self._undo_bytes = 0

    def _push(self, change: Change) -> None:
        self._redo.clear()
        self.version += 1
        size = change.nbytes
        if size > self.history_bytes:
            self.forget_history()
            self.last_undoable = False
            return
        self.last_undoable = True
        self._undo.append(change)
        self._undo_bytes += size
        while self._undo_bytes > self.history_bytes:
            self._undo_bytes -= self._undo.popleft().nbytes

    def undo(self) -> bool:
        """Go back one edit; False when there is nothing to undo."""
        if not self._undo:
            return False
        change = self._undo.pop()
        self._undo_bytes -= change.nbytes
        self._revert(change)
        self._redo.append(change)
        self.version += 1
        return True

    def redo(self) -> bool:
        """Redo the last undone edit; False when there is nothing to redo."""
        if not self._redo:
            return False
        change = self._redo.pop()
        self._apply(change)
        self._undo.append(change)
        self._undo_bytes += change.nbytes
        self.version += 1
        return True

    def _apply(self, change: Change) -> None:
        if change.after is not None:
            self.graph = change.after
            return
        self.graph.remove_edges_from((u, v) for u, v, _ in change.removed_edges)
        self.graph.remove_nodes_from(v for v, _ in change.removed_nodes)
        self.graph.add_nodes_from(change.added_nodes)
        self.graph.add_edges_from(change.added_edges)

    def _revert(self, change: Change) -> None:
        if change.before is not None:
            self.graph = change.before
            return
        self.graph.remove_edges_from((u, v) for u, v, _ in change.added_edges)
        self.graph.remove_nodes_from(v for v, _ in change.added_nodes)
        if change.order is not None:  # put removed vertices back where they were in the node order
            graph = self.graph  # rebuilt in place: a replace's record holds this very object
            attributes = {**dict(graph.nodes(data=True)), **dict(change.removed_nodes)}
            edges = list(graph.edges(data=True))
            graph.remove_nodes_from(list(graph.nodes))
            graph.add_nodes_from((v, attributes[v]) for v in change.order)
            graph.add_edges_from(edges)
        else:
            self.graph.add_nodes_from(change.removed_nodes)
        self.graph.add_edges_from(change.removed_edges)

    # ------------------------------------------------------------------ edits
    def _new_label(self) -> int:
        ints = [v for v in self.graph.nodes if isinstance(v, int) and not isinstance(v, bool)]
        return max(ints, default=-1) + 1

    def add_vertex(self) -> int:
        """Add an isolated vertex with the next free int label; returns the label."""
        label = self._new_label()
        self.graph.add_node(label)
        self._push(Change(added_nodes=[(label, {})]))
        return label

    def connect(self, source: Hashable, target: Hashable) -> None:
        """Add the edge ``source -> target``.

        Raises:
            UnknownNodeError: an end is not a vertex.
            GraphError: the edge exists already.
            CycleError: the edge would close a cycle; the error names it.
        """
        cycle = find_cycle_through(self.graph, source, target)
        if cycle is not None:
            raise CycleError(cycle, what=f"graph with the edge {source!r} -> {target!r}")
        if self.graph.has_edge(source, target):
            raise GraphError(f"the edge {source!r} -> {target!r} is there already")
        self.graph.add_edge(source, target)
        self._push(Change(added_edges=[(source, target, {})]))

    def delete(self, vertices: Iterable[Hashable] = (), edges: Iterable[tuple[Hashable, Hashable]] = ()) -> int:
        """Delete vertices (with their edges) and edges; returns how many elements went. Unknown ones are ignored."""
        graph = self.graph
        vertices = list(dict.fromkeys(v for v in vertices if v in graph))
        gone = set(vertices)
        edges = [(u, v) for u, v in dict.fromkeys(edges) if graph.has_edge(u, v) and u not in gone and v not in gone]
        if not vertices and not edges:
            return 0
        touching = [e for v in vertices for e in (*graph.in_edges(v), *graph.out_edges(v))]
        removed_edges = [(u, v, dict(graph.edges[u, v])) for u, v in dict.fromkeys(touching + edges)]
        change = Change(
            removed_nodes=[(v, dict(graph.nodes[v])) for v in vertices],
            removed_edges=removed_edges,
            order=list(graph.nodes) if vertices else None,
        )
        graph.remove_edges_from(edges)
        graph.remove_nodes_from(vertices)
        self._push(change)
        return len(vertices) + len(edges)

    def replace(self, graph: nx.DiGraph, *, owned: bool = False) -> None:
        """Replace the whole graph (generator, sample, upload) by a checked DAG; undoable if it fits the budget.

        The design holds a copy of ``graph``, unless ``owned``: the caller hands over a graph nothing
        else holds (a freshly generated one; no copy, which takes 0.4 s at 50,000 edges).

        Raises:
            EmptyGraphError, CycleError, GraphError: ``graph`` is not a non-empty DAG.
        """
        check_dag(graph)
        keep = owned and type(graph) is nx.DiGraph
        before, self.graph = self.graph, graph if keep else nx.DiGraph(graph)
        self._push(Change(before=before, after=self.graph))

    def clear(self) -> None:
        """Remove every vertex (undoable)."""
        if self.graph.number_of_nodes():
            before, self.graph = self.graph, nx.DiGraph()
            self._push(Change(before=before, after=self.graph))
