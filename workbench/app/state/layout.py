"""Where every vertex and edge of a DAG is drawn: layered positions and routed edges (pure, numpy only).

Vertices sit in columns by topological generation, left to right. An edge
that skips generations passes a *waypoint* in every column it crosses (the
dummy vertices of the Sugiyama method), so it never passes through a vertex
that is not its end. The edges out of one vertex share their waypoints: they
run together as one trunk to the right and leave it in the gap before their
targets' columns (edge concentration), which keeps a vertex that feeds all
ten outputs from drawing ten parallel lines. Rows within a column come from
barycentre sweeps over vertices and waypoints together, which keeps edges
short and crossings few.

Every edge is drawn as a polyline: a short horizontal stub out of its source,
a straight run through the gap to the next column, a horizontal stub through
each waypoint, and a stub into its target. Straight runs lie strictly inside
the gaps between columns, where no vertex is; stubs lie on rows no other
vertex of that column comes near (:data:`WAYPOINT_GAP` is larger than a vertex's
radius). So no edge is drawn across a vertex that is not one of its ends:
:func:`crossings` checks exactly that, and the tests run it on generated graphs.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

__all__ = [
    "COLUMN",
    "ROW",
    "STUB",
    "WAYPOINT_GAP",
    "Drawing",
    "crossings",
    "layered_drawing",
]

COLUMN = 130.0  # px between generations (at least; tall graphs get wider columns)
ROW = 56.0  # px between two vertices of one column
WAYPOINT_GAP = 26.0  # px between a vertex and a waypoint of one column (> vertex radius 13 + line width)
WAYPOINT_ROW = 12.0  # px between two waypoints of one column
STUB = 22.0  # px an edge runs horizontally out of and into a column (> vertex radius)
SWEEPS = 4  # barycentre sweeps (down, up, down, up), then a last downward one


@dataclass
class Drawing:
    """Positions of the vertices and the bends of the edges of one DAG.

    Attributes:
        positions: ``{vertex: (x, y)}``; y grows downwards, as on a screen.
        layers: ``{vertex: column}``.
        edges: the edges, in the graph's order.
        points: ``[P, 2]`` the bends of all edges, edge after edge.
        offsets: ``[E + 1]``: the bends of ``edges[i]`` are ``points[offsets[i]:offsets[i + 1]]``
            (none for an edge drawn straight).
    """

    positions: dict = field(default_factory=dict)
    layers: dict = field(default_factory=dict)
    edges: list = field(default_factory=list)
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))

    @property
    def routes(self) -> dict:
        """``{(u, v): [(x, y), ...]}``: the bends of every edge between its ends."""
        pts = self.points.tolist()
        off = self.offsets.tolist()
        return {e: [tuple(p) for p in pts[off[i] : off[i + 1]]] for i, e in enumerate(self.edges)}


def _generations(graph: nx.DiGraph) -> dict:
    return {v: g for g, members in enumerate(nx.topological_generations(graph)) for v in members}


def layered_drawing(
    graph: nx.DiGraph,
    *,
    layers: Mapping[Hashable, int] | None = None,
    column: float = COLUMN,
    row: float = ROW,
) -> Drawing:
    """Lay out ``graph`` in columns by generation and route every edge around the vertices.

    Args:
        graph: a DAG.
        layers: ``{vertex: column}`` to use instead of the topological generations;
            every edge must go from a lower to a higher column.
        column, row: spacing in px (``column`` is widened for tall, shallow graphs so the
            drawing is about 3:2).

    Returns:
        A :class:`Drawing`; every column is centred on ``y = 0``.

    Raises:
        networkx.NetworkXUnfeasible: ``graph`` has a cycle.
        ValueError: ``layers`` puts an edge's head in a column left of or equal to its tail's.

    Example:
        >>> d = layered_drawing(nx.DiGraph([(0, 1), (1, 2), (0, 2)]))
        >>> d.positions[0][0] < d.positions[1][0] < d.positions[2][0]
        True
        >>> len(d.routes[(0, 2)])  # out of 0, in and out of its waypoint beside 1, into 2
        4
    """
    nodes = list(graph.nodes)
    layers = dict(layers) if layers is not None else _generations(graph)
    n = len(nodes)
    if n == 0:
        return Drawing()
    index = {v: i for i, v in enumerate(nodes)}
    edges = list(graph.edges)
    vertex_layer = np.array([layers[v] for v in nodes], dtype=np.int64)
    tail = np.array([index[u] for u, _ in edges], dtype=np.int64)
    head = np.array([index[v] for _, v in edges], dtype=np.int64)
    span = vertex_layer[head] - vertex_layer[tail]
    if np.any(span < 1):
        u, v = edges[int(np.flatnonzero(span < 1)[0])]
        raise ValueError(f"edge {u!r} -> {v!r} goes from column {layers[u]} to column {layers[v]}")

    # Items are the vertices (0..n-1), then the waypoints of every vertex's trunk, vertex after vertex:
    # vertex t has one waypoint in each column between its own and the last column its edges skip to.
    reach = np.zeros(n, dtype=np.int64)  # waypoints of each vertex's trunk
    np.maximum.at(reach, tail, span - 1)
    chain_start = n + np.cumsum(reach) - reach  # [n] first waypoint of each trunk
    waypoint_owner = np.repeat(np.arange(n), reach)
    waypoint_step = np.arange(int(reach.sum())) - np.repeat(chain_start - n, reach)
    item_layer = np.concatenate([vertex_layer, vertex_layer[waypoint_owner] + 1 + waypoint_step])
    # Segments join items of neighbouring columns: every trunk link once, and every edge's last step.
    has_next = waypoint_step < reach[waypoint_owner] - 1
    links = np.flatnonzero(has_next) + n  # waypoint -> the next one of its trunk
    firsts = np.flatnonzero(reach > 0)  # vertex -> the first waypoint of its trunk
    last_item = np.where(span > 1, chain_start[tail] + span - 2, tail)  # where each edge leaves its trunk
    seg_a = np.concatenate([firsts, links, last_item])
    seg_b = np.concatenate([chain_start[firsts], links + 1, head])
    k = span - 1  # waypoints each edge passes
    is_vertex = np.arange(len(item_layer)) < n
    rank = _order(item_layer, seg_a, seg_b)
    y = _rows(item_layer, is_vertex, rank, row)

    count = int(item_layer.max()) + 1
    if count > 1:  # widen the columns of tall, shallow drawings so the whole is about 3:2
        column = min(max(column, 1.5 * float(np.ptp(y)) / (count - 1)), 8 * column)
    x = item_layer * column
    positions = {v: (float(x[i]), float(y[i])) for i, v in enumerate(nodes)}

    # Bends: a stub out of the tail, two per waypoint, a stub into the head; none for a level edge
    # between neighbouring columns.
    straight = (k == 0) & (y[tail] == y[head])
    count_pts = np.where(straight, 0, 2 * k + 2)
    offsets = np.concatenate([[0], np.cumsum(count_pts)])
    pt_edge = np.repeat(np.arange(len(edges)), count_pts)
    pt_step = np.arange(int(count_pts.sum())) - np.repeat(offsets[:-1], count_pts)
    last = count_pts[pt_edge] - 1
    # step 0: out of the tail; last step: into the head; step j in between: waypoint (j - 1) // 2 of the
    # tail's trunk, its left side for odd j and its right side for even j
    item = np.where(
        pt_step == 0,
        tail[pt_edge],
        np.where(pt_step == last, head[pt_edge], chain_start[tail[pt_edge]] + (pt_step - 1) // 2),
    )
    side = np.where((pt_step == 0) | ((pt_step % 2 == 0) & (pt_step != last)), STUB, -STUB)
    points = np.stack([x[item] + side, y[item]], axis=1).astype(float)
    return Drawing(positions, {v: int(layers[v]) for v in nodes}, edges, points, offsets)


def _order(item_layer: np.ndarray, seg_a: np.ndarray, seg_b: np.ndarray) -> np.ndarray:
    """Position of every item within its column (0 to 1), from barycentre sweeps.

    Ties keep the previous order; the first order is the order the items were made in.
    """
    columns = int(item_layer.max()) + 1
    by_column = np.argsort(item_layer, kind="stable")
    starts = np.searchsorted(item_layer[by_column], np.arange(columns + 1))
    members = [by_column[starts[c] : starts[c + 1]] for c in range(columns)]
    local = np.empty(len(item_layer), dtype=np.int64)  # index of an item within its column
    rank = np.empty(len(item_layer))
    for m in members:
        local[m] = np.arange(len(m))
        rank[m] = local[m] / max(len(m) - 1, 1)
    head_column, tail_column = item_layer[seg_b], item_layer[seg_a]
    into = [np.flatnonzero(head_column == c) for c in range(columns)]  # segments ending in column c
    out_of = [np.flatnonzero(tail_column == c) for c in range(columns)]  # segments starting in column c
    for sweep in range(SWEEPS + 1):
        down = sweep % 2 == 0
        for c in range(1, columns) if down else range(columns - 2, -1, -1):
            m = members[c]
            segs = into[c] if down else out_of[c]
            ends, others = (seg_b[segs], seg_a[segs]) if down else (seg_a[segs], seg_b[segs])
            total = np.bincount(local[ends], weights=rank[others], minlength=len(m))
            degree = np.bincount(local[ends], minlength=len(m))
            key = np.where(degree > 0, total / np.maximum(degree, 1), rank[m])
            order = np.lexsort((rank[m], key))  # barycentre, ties by the current order
            rank[m[order]] = np.arange(len(m)) / max(len(m) - 1, 1)
    return rank


def _rows(item_layer: np.ndarray, is_vertex: np.ndarray, rank: np.ndarray, row: float) -> np.ndarray:
    """y of every item: vertices ``row`` apart, waypoints closer, each column centred on 0."""
    y = np.zeros(len(item_layer))
    for column in range(int(item_layer.max()) + 1):
        members = np.flatnonzero(item_layer == column)
        members = members[np.argsort(rank[members], kind="stable")]
        kinds = is_vertex[members]
        both = kinds[:-1] & kinds[1:]
        neither = ~kinds[:-1] & ~kinds[1:]
        gaps = np.where(both, row, np.where(neither, WAYPOINT_ROW, WAYPOINT_GAP))
        ys = np.concatenate([[0.0], np.cumsum(gaps)])
        y[members] = ys - (ys[0] + ys[-1]) / 2
    return y


def _point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from points ``p`` ([k, 2]) to the segment ``a``-``b``."""
    d = b - a
    length2 = float(d @ d)
    t = np.zeros(len(p)) if length2 == 0 else np.clip(((p - a) @ d) / length2, 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * d), axis=1)


def crossings(
    positions: Mapping, routes: Mapping, *, radius: float = 13.0
) -> list[tuple[tuple[Hashable, Hashable], Hashable]]:
    """``[(edge, vertex), ...]``: every edge drawn within ``radius`` of a vertex that is not one of its ends.

    ``positions`` and ``routes`` as in :class:`Drawing` (a missing route is a straight line).
    """
    labels = list(positions)
    xy = np.array([positions[v] for v in labels], dtype=float).reshape(-1, 2)
    found = []
    for (u, v), bends in routes.items():
        points = np.array([positions[u], *bends, positions[v]], dtype=float)
        low, high = points.min(0) - radius, points.max(0) + radius
        near = np.flatnonzero(np.all((xy >= low) & (xy <= high), axis=1))
        for k in range(len(points) - 1):
            if len(near) == 0:
                break
            dist = _point_segment_distance(xy[near], points[k], points[k + 1])
            for i in near[dist < radius]:
                if labels[i] not in (u, v):
                    found.append(((u, v), labels[i]))
    return found
