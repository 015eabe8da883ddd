"""Graphs <-> Cytoscape elements, and the stylesheets of the graph views (pure, no Dash).

Vertex labels of an ``nx.DiGraph`` may be any JSON-like hashable: ints,
strings, tuples of those (``("input", 3)``). Cytoscape needs string ids, so a
label is stringified only here, at the boundary, by :func:`node_id` (JSON,
tuples written as lists) and read back by :func:`parse_node_id`;
``elements_to_graph(graph_to_elements(g, ...))`` gives back ``g``'s
vertices, node order and edges.

Positions and edge bends come from the server's layout
(:mod:`workbench.app.state.layout`). Cytoscape draws a bent edge as
``segments`` given relative to the line between its ends: a *weight* (how
far along) and a *distance* (how far to the side) per bend, which
:func:`segment_data` computes; ``edge-distances: node-position`` makes them
relative to the vertices' centres.

Masks show through element data: an edge's ``m`` is its code from
:meth:`~workbench.app.state.overlay.ModelOverlay.codes` and a vertex's ``dead``
is 1 or 0; the stylesheets map them to dashes, colours and widths, so a
slider move restyles the canvas by changing data only (``assets/workbench.js``).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Mapping

import networkx as nx
import numpy as np

from workbench.app.state.layout import ROW, Drawing
from workbench.app.state.overlay import ALL_INPUTS
from workbench.errors import GraphError

__all__ = [
    "LARGE_GRAPH",
    "OVERVIEW_GRAPH",
    "canvas_stylesheet",
    "display_label",
    "elements_to_graph",
    "graph_to_elements",
    "inspect_stylesheet",
    "is_large",
    "node_id",
    "parse_node_id",
    "segment_data",
]

#: Above this many vertices (or ten times as many edges), labels are hidden and vertices drawn small.
LARGE_GRAPH = 150
#: Above this many vertices + edges the canvas shows a server-drawn picture first and loads the
#: editable Cytoscape canvas only on request (Cytoscape needs seconds to add ten thousand elements here).
OVERVIEW_GRAPH = 3000

ACCENT = "#2563eb"
POSITIVE = "#e8710a"  # weight > 0 (TensorFlow Playground's orange)
NEGATIVE = "#1a73e8"  # weight < 0 (blue)
DEAD = "#dc2626"
INPUT = "#16a34a"
OUTPUT = "#9333ea"
SELECTED = "#f59e0b"
WIDTHS = (0.8, 1.6, 2.6, 3.8)  # kept edges by quarter of the largest |w|


def _jsonable(label: Hashable):
    if isinstance(label, tuple):
        return [_jsonable(x) for x in label]
    if label is None or isinstance(label, bool | int | float | str):
        return label
    raise GraphError(
        f"vertex label {label!r} of type {type(label).__name__} cannot be shown; use ints, strings or tuples"
    )


def _hashable(value):
    return tuple(_hashable(x) for x in value) if isinstance(value, list) else value


def node_id(label: Hashable) -> str:
    """The Cytoscape id of a vertex label: ``3 -> "3"``, ``(0, 1) -> "[0,1]"``, ``"a" -> '"a"'``."""
    return json.dumps(_jsonable(label), separators=(",", ":"))


def parse_node_id(text) -> Hashable:
    """Inverse of :func:`node_id`.

    Raises:
        GraphError: ``text`` is not an id made by :func:`node_id`.
    """
    try:
        return _hashable(json.loads(text))
    except (TypeError, ValueError, RecursionError) as err:
        raise GraphError(f"{str(text)[:80]!r} is not a vertex id of this app") from err


def display_label(label: Hashable, graph: nx.DiGraph | None = None) -> str:
    """A short human label: ``(0, 1) -> "0,1"``, ``("input", 3) -> "in 3"``, all inputs -> ``"784 inputs"``."""
    if label == ALL_INPUTS:
        count = graph.nodes[label].get("count") if graph is not None and label in graph else None
        return f"{count} inputs" if count else "inputs"
    if isinstance(label, tuple):
        if len(label) == 2 and label[0] in ("input", "output"):
            return f"{'in' if label[0] == 'input' else 'out'} {label[1]}"
        return ",".join(display_label(x) for x in label)
    return str(label)


def _role(label: Hashable) -> str:
    if isinstance(label, tuple) and len(label) == 2 and label[0] in ("input", "output"):
        return label[0]
    return ""


#: A large drawing is seen zoomed far out (a column of 100 vertices is 5,600 px tall), so its vertices and
#: edges are sized in layout units: vertices at 0.6 of the row pitch, edges twice as wide as in a small one.
#: On screen they keep their proportion to the pitch at any zoom (3 px at the 0.1 zoom of a fitted DAN of
#: 1,000 vertices, instead of the 1 px of a fixed 10 px).
LARGE_NODE = 0.6 * ROW
LARGE_EDGE_SCALE = 2.0


def is_large(vertices: int, edges: int) -> bool:
    """Whether a drawing is drawn small (no labels, thin edges): over :data:`LARGE_GRAPH` vertices or
    ten times as many edges."""
    return vertices > LARGE_GRAPH or edges > 10 * LARGE_GRAPH


def segment_data(source: tuple[float, float], target: tuple[float, float], bends) -> dict:
    """Cytoscape ``segments`` data (``sw``, ``sd``) that draw an edge through ``bends`` (``[(x, y), ...]``).

    Example:
        >>> segment_data((0, 0), (100, 0), [(50, 20)])
        {'sw': '0.5', 'sd': '20'}
    """
    s, t = np.asarray(source, float), np.asarray(target, float)
    d = t - s
    length2 = float(d @ d)
    if length2 == 0 or len(bends) == 0:
        return {}
    p = np.asarray(bends, float) - s  # [k, 2]
    weights = p @ d / length2
    distances = (p[:, 1] * d[0] - p[:, 0] * d[1]) / np.sqrt(length2)  # towards (-dy, dx)
    return {
        "sw": " ".join(f"{w:.4g}" for w in weights.tolist()),
        "sd": " ".join(f"{x:.4g}" for x in distances.tolist()),
    }


def graph_to_elements(
    graph: nx.DiGraph,
    drawing: Drawing | None = None,
    *,
    codes: str | None = None,
    dead: str | None = None,
    node_classes: Mapping | None = None,
    edge_data: Mapping | None = None,
) -> list[dict]:
    """Cytoscape elements for ``graph``: vertices first (node order), then edges (edge order).

    Every element's data ``i`` is its place in that order, which the mask codes and dead flags follow:
    Cytoscape keeps its own order (after a redraw, the elements that stayed come first), and the
    browser matches codes to elements by ``i`` (see ``applyMasks`` in assets/workbench.js).

    Args:
        graph: any ``nx.DiGraph``.
        drawing: positions and bends (vertices without a position get none; Cytoscape places them).
        codes: one mask code per edge (``m`` data), in edge order.
        dead: ``"1"``/``"0"`` per vertex (``dead`` data), in node order.
        node_classes: ``{vertex: "class names"}`` added to the role classes ``input``/``output``.
        edge_data: ``{(u, v): {extra data}}`` merged into each edge's data.
    """
    positions = drawing.positions if drawing is not None else {}
    node_classes = node_classes or {}
    edge_data = edge_data or {}
    elements: list[dict] = []
    ids = {}
    for i, v in enumerate(graph.nodes):
        ids[v] = nid = node_id(v)
        data: dict = {"id": nid, "i": i, "label": display_label(v, graph)}
        if dead:
            data["dead"] = int(dead[i] == "1")
        element: dict = {"data": data}
        if v in positions:
            x, y = positions[v]
            element["position"] = {"x": float(x), "y": float(y)}
        role = _role(v) or str(graph.nodes[v].get("role", ""))
        classes = " ".join(c for c in (role, node_classes.get(v, "")) if c)
        if classes:
            element["classes"] = classes
        elements.append(element)
    routes = {}
    if drawing is not None:
        pts, off = drawing.points, drawing.offsets
        routes = {e: pts[off[i] : off[i + 1]] for i, e in enumerate(drawing.edges)}
    for i, (u, v) in enumerate(graph.edges):
        data = {"id": f"{ids[u]}->{ids[v]}", "i": i, "source": ids[u], "target": ids[v]}
        if codes:
            data["m"] = codes[i]
        bends = routes.get((u, v))
        if bends is not None and len(bends) and u in positions and v in positions:
            data.update(segment_data(positions[u], positions[v], bends))
        data.update(edge_data.get((u, v), {}))
        elements.append({"data": data})
    return elements


def elements_to_graph(elements: Iterable[Mapping]) -> nx.DiGraph:
    """The ``nx.DiGraph`` described by Cytoscape elements (inverse of :func:`graph_to_elements`).

    Raises:
        GraphError: an id was not made by :func:`node_id`, or an edge names a missing vertex.
    """
    graph = nx.DiGraph()
    edges = []
    for element in elements:
        data = element.get("data", {})
        if "source" in data:
            edges.append((parse_node_id(data["source"]), parse_node_id(data["target"])))
        else:
            graph.add_node(parse_node_id(data["id"]))
    for u, v in edges:
        for end in (u, v):
            if end not in graph:
                raise GraphError(f"edge {u!r} -> {v!r} names vertex {end!r}, which has no element")
        graph.add_edge(u, v)
    return graph


# ------------------------------------------------------------------------------------ styles


def _mask_styles(large: bool) -> list[dict]:
    """Edge and vertex styles of the mask codes (see :mod:`workbench.app.state.overlay`).

    Where edges overlap, kept edges are drawn over pruned ones and stronger over weaker (``z-index``):
    the strongest connections stay visible, and the picture does not depend on the order Cytoscape holds
    the edges in (which differs after a redraw from a fresh page's).
    """
    scale = LARGE_EDGE_SCALE if large else 1.0
    sheet = [
        {
            "selector": 'edge[m = "-"]',
            "style": {
                "line-style": "dashed",
                "line-dash-pattern": [4, 4],
                "line-color": "#94a3b8",
                "target-arrow-color": "#94a3b8",
                "opacity": 0.7,
                "width": 1 * scale,
                "z-index": 0,
            },
        },
        {"selector": "node[dead = 1]", "style": {"background-color": DEAD, "border-color": "#fecaca"}},
    ]
    for codes, colour in (("abcd", POSITIVE), ("ABCD", NEGATIVE), ("efgh", "#64748b")):
        for rank, (code, width) in enumerate(zip(codes, WIDTHS, strict=True), start=1):
            style = {"line-color": colour, "target-arrow-color": colour, "width": width * scale, "z-index": rank}
            sheet.append({"selector": f'edge[m = "{code}"]', "style": style})
    return sheet


def canvas_stylesheet(*, large: bool = False, pending: str | None = None) -> list[dict]:
    """Stylesheet of a graph view: routed edges, roles, mask codes, the tapped vertex (class ``tapped``,
    set in the browser in every view) and the vertex a connection starts from (``pending``, an id)."""
    size = LARGE_NODE if large else 24
    sheet = [
        {
            "selector": "node",
            "style": {
                "background-color": "#475569",
                "width": size,
                "height": size,
                "label": "" if large else "data(label)",
                "font-size": 10,
                "color": "#0f172a",
                "text-valign": "bottom",
                "text-margin-y": 2,
                "border-width": 0 if large else 2,
                "border-color": "#ffffff",
            },
        },
        {
            "selector": "edge",
            "style": {
                "curve-style": "straight",
                "target-arrow-shape": "none" if large else "triangle",
                "target-arrow-color": "#94a3b8",
                "line-color": "#94a3b8",
                "width": 1.4 * LARGE_EDGE_SCALE if large else 1.4,
                "arrow-scale": 0.8,
                "opacity": 0.9,
            },
        },
        {
            "selector": "edge[sd]",
            "style": {
                "curve-style": "segments",
                "segment-distances": "data(sd)",
                "segment-weights": "data(sw)",
                "edge-distances": "node-position",
            },
        },
        {"selector": ".input", "style": {"background-color": INPUT, "shape": "round-rectangle"}},
        {"selector": ".output", "style": {"background-color": OUTPUT, "shape": "round-rectangle"}},
        *_mask_styles(large),
        {"selector": "node:selected", "style": {"border-color": ACCENT, "border-width": 3}},
        {"selector": "edge:selected", "style": {"line-color": ACCENT, "target-arrow-color": ACCENT, "width": 3}},
        {"selector": "node.tapped", "style": {"border-color": SELECTED, "border-width": 5, "z-index": 10}},
    ]
    if pending is not None:
        sheet.append(
            {"selector": f"node[id = {json.dumps(pending)}]", "style": {"border-color": SELECTED, "border-width": 5}}
        )
    return sheet


def inspect_stylesheet(*, large: bool = False) -> list[dict]:
    """Stylesheet of the Inspect views (the canvas's)."""
    return canvas_stylesheet(large=large)
