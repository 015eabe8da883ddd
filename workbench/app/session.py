"""Server-side state of one browser tab, and the store that keeps one per tab.

A :class:`Session` holds what a person is working on: the drawn graph and its
vertex positions, undo/redo history, the dataset, the model, the trainer
thread, and the pruning snapshot with the current preview. Every method that
reads or changes it takes ``session.lock``; the trainer thread only touches
the model (under its own lock). A failed edit raises a
:class:`~workbench.errors.WorkbenchError` and leaves the session as it was.

The :class:`SessionStore` maps the uuid kept in the page's ``dcc.Store`` to a
session. State lives in this process's memory, which is why the app runs as
one server process.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping

import networkx as nx

from workbench.app.elements import layered_positions
from workbench.errors import CycleError, GraphError, UnknownNodeError
from workbench.graph import check_dag, find_cycle_through

__all__ = ["DesignState", "Session", "SessionStore"]

HISTORY_LIMIT = 100


class DesignState:
    """The drawn graph with vertex positions and an undo/redo history.

    Every edit is all-or-nothing: it validates first, then records the old
    state for undo. ``version`` counts changes (undo and redo included).
    """

    def __init__(self, graph: nx.DiGraph | None = None, positions: Mapping | None = None) -> None:
        self.graph = nx.DiGraph() if graph is None else graph
        self.positions: dict = dict(positions or {})
        self._undo: list[tuple[nx.DiGraph, dict]] = []
        self._redo: list[tuple[nx.DiGraph, dict]] = []
        self.version = 0

    # ------------------------------------------------------------------ history
    def _record(self) -> None:
        self._undo.append((self.graph.copy(), dict(self.positions)))
        del self._undo[:-HISTORY_LIMIT]
        self._redo.clear()
        self.version += 1

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def forget_history(self) -> None:
        """Drop undo and redo (the state a tab opens on is not an edit)."""
        self._undo.clear()
        self._redo.clear()

    def undo(self) -> bool:
        """Go back one edit; False when there is nothing to undo."""
        if not self._undo:
            return False
        self._redo.append((self.graph, self.positions))
        self.graph, self.positions = self._undo.pop()
        self.version += 1
        return True

    def redo(self) -> bool:
        """Redo the last undone edit; False when there is nothing to redo."""
        if not self._redo:
            return False
        self._undo.append((self.graph, self.positions))
        self.graph, self.positions = self._redo.pop()
        self.version += 1
        return True

    # ------------------------------------------------------------------ edits
    def _new_label(self) -> int:
        ints = [v for v in self.graph.nodes if isinstance(v, int) and not isinstance(v, bool)]
        return max(ints, default=-1) + 1

    def _free_position(self) -> tuple[float, float]:
        if not self.positions:
            return (0.0, 0.0)
        xs = [p[0] for p in self.positions.values()]
        ys = [p[1] for p in self.positions.values()]
        return (min(xs), max(ys) + 70.0)

    def add_vertex(self, position: tuple[float, float] | None = None) -> int:
        """Add an isolated vertex (the next free int label) at ``position`` or below the others."""
        label = self._new_label()
        self._record()
        self.graph.add_node(label)
        self.positions[label] = tuple(position) if position is not None else self._free_position()
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
        self._record()
        self.graph.add_edge(source, target)

    def delete(self, vertices: Iterable[Hashable] = (), edges: Iterable[tuple[Hashable, Hashable]] = ()) -> int:
        """Delete vertices (with their edges) and edges; returns how many elements went. Unknown ones are ignored."""
        vertices = [v for v in vertices if v in self.graph]
        edges = [(u, v) for u, v in edges if self.graph.has_edge(u, v)]
        if not vertices and not edges:
            return 0
        self._record()
        self.graph.remove_edges_from(edges)
        self.graph.remove_nodes_from(vertices)
        for v in vertices:
            self.positions.pop(v, None)
        return len(vertices) + len(edges)

    def replace(self, graph: nx.DiGraph, positions: Mapping | None = None) -> None:
        """Replace the whole graph (generator, sample, upload) by a checked DAG; undoable.

        Raises:
            EmptyGraphError, CycleError, GraphError: ``graph`` is not a non-empty DAG.
        """
        check_dag(graph)
        new_positions = dict(positions) if positions is not None else layered_positions(graph)
        self._record()
        self.graph = nx.DiGraph(graph)
        self.positions = new_positions

    def clear(self) -> None:
        if self.graph.number_of_nodes():
            self._record()
            self.graph = nx.DiGraph()
            self.positions = {}

    def relayout(self) -> None:
        """Put every vertex in the column of its topological generation (undoable)."""
        self._record()
        self.positions = layered_positions(self.graph)

    def move(self, vertex: Hashable, position: tuple[float, float]) -> None:
        """Remember where a person dragged a vertex (not an undo step)."""
        if vertex not in self.graph:
            raise UnknownNodeError(vertex)
        self.positions[vertex] = tuple(position)


class Session:
    """Everything one browser tab works on. See the module docstring.

    The model-side state (model, dataset, trainer, pruning) lives in
    :class:`workbench.app.workspace.Workspace`, so this class stays about the
    design and about locking.
    """

    def __init__(self, session_id: str, workspace) -> None:
        self.id = session_id
        self.lock = threading.RLock()
        self.design = DesignState()
        self.workspace = workspace
        self.pending: Hashable | None = None  # vertex a connection starts from
        self.last_tap: tuple | None = None  # (page load id, Cytoscape time stamp) of the last tap applied
        self.inspect = None  # the last InspectView drawn
        self.lottery = None  # the "Find a ticket" run (workbench.app.lottery_view.TicketState)
        self.canvas_opened = False  # a large design is shown in the editable canvas, not as an overview

    def download(self, what: str) -> tuple[str, bytes]:
        """``(file name, bytes)`` for a download button: the design or extracted graph, or the checkpoint.

        Raises:
            GraphError, GraphFileError, CheckpointError: nothing to download, or it cannot be written.
        """
        from workbench import io as wbio
        from workbench.app import ids

        if what in (ids.DL_DESIGN_GRAPHML, ids.DL_DESIGN_JSON):
            fmt = "graphml" if what == ids.DL_DESIGN_GRAPHML else "json"
            return f"design.{fmt}", wbio.graph_to_bytes(self.design.graph, fmt)
        if what in (ids.DL_EXTRACTED_GRAPHML, ids.DL_EXTRACTED_JSON):
            if self.inspect is None:
                raise GraphError("open the Inspect tab once to extract the graph first")
            fmt = "graphml" if what == ids.DL_EXTRACTED_GRAPHML else "json"
            graph = self.inspect.extracted.copy()
            for (u, v), w in self.inspect.weights.items():
                if graph.has_edge(u, v):
                    graph.edges[u, v]["weight"] = float(w)
            return f"extracted.{fmt}", wbio.graph_to_bytes(graph, fmt)
        if what == ids.DL_CHECKPOINT:
            model = self.workspace.model
            if model is None:
                raise GraphError("there is no model to download yet; build one first")
            with self.workspace.weights_lock():
                data = wbio.checkpoint_to_bytes(model, extra={"dataset": self.workspace.dataset_name})
            return "model.pt", data
        raise GraphError(f"unknown download {what!r}")

    def counts(self, kind: str = "dan", sizes: str = "") -> dict:
        """Live counts for the header: vertices, edges, depth, and trainable parameters of the model to build.

        ``params`` is a formatted string ("–" when the form cannot be read).
        """
        from workbench.app.analysis import graph_counts
        from workbench.app.workspace import parse_sizes
        from workbench.sparse import dan_parameter_count

        graph = self.design.graph
        counts = graph_counts(graph)
        data = self.workspace.dataset
        if kind == "ffn":
            try:
                layer_sizes = [data.n_features, *parse_sizes(sizes), data.n_classes]
            except GraphError:
                counts["params"] = "–"
                return counts
            params = sum(a * b + b for a, b in itertools.pairwise(layer_sizes))
        else:
            params = dan_parameter_count(graph, data.n_features, data.n_classes) if graph.number_of_nodes() else 0
        counts["params"] = f"{params:,}"
        return counts


class SessionStore:
    """Sessions by id, at most ``limit`` of them (the least recently used one is dropped first).

    Args:
        factory: makes the session for a new id (loads the first sample).
        limit: how many tabs are kept; dropping one stops its training.
    """

    def __init__(self, factory: Callable[[str], Session], *, limit: int = 32) -> None:
        self._factory = factory
        self._limit = limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        self._creating = threading.Lock()

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def get(self, session_id: str | None) -> Session:
        """The session of ``session_id``, made on first use (also after a server restart)."""
        if not session_id:
            raise GraphError("this page has no session id; reload the page")
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                self._sessions.move_to_end(session_id)
                return session
        with self._creating:  # a page load fires many callbacks at once: make its session once
            with self._lock:
                session = self._sessions.get(session_id)
            if session is None:
                session = self._factory(session_id)
                with self._lock:
                    self._sessions[session_id] = session
                    while len(self._sessions) > self._limit:
                        _, old = self._sessions.popitem(last=False)
                        old.workspace.stop()
                        if old.lottery is not None:
                            old.lottery.runner.stop(timeout=0)
        return session

    def __len__(self) -> int:
        return len(self._sessions)
