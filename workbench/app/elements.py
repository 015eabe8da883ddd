"""Graphs <-> Cytoscape elements, layered positions and stylesheets (pure, no Dash).

Vertex labels of an ``nx.DiGraph`` may be any JSON-like hashable: ints,
strings, tuples of those (generators use tuples such as ``(layer, i)``).
Cytoscape needs string ids, so a label is stringified only here, at the
boundary, by :func:`node_id` (JSON, tuples written as lists) and read back by
:func:`parse_node_id`; ``elements_to_graph(graph_to_elements(g))`` gives back
``g``'s vertices, node order and edges.

Positions are computed on the server: every vertex sits in the column of its
topological generation (left to right), and inside a column vertices are
ordered by the mean row of their predecessors (one barycentre sweep), which
keeps edges short without a client-side layout pass on large graphs.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Mapping

import networkx as nx

from workbench.errors import GraphError

__all__ = [
    "LARGE_GRAPH",
    "OVERVIEW_GRAPH",
    "design_stylesheet",
    "display_label",
    "edge_id",
    "elements_to_graph",
    "graph_to_elements",
    "layered_positions",
    "node_id",
    "parse_node_id",
]

#: Above this many elements, labels are hidden and edges drawn as straight haystacks.
LARGE_GRAPH = 600
#: Above this many vertices + edges the Design panel shows a server-drawn picture first and loads the
#: editable Cytoscape canvas only on request (Cytoscape needs seconds to add ten thousand elements).
OVERVIEW_GRAPH = 4000
COLUMN = 130.0  # px between topological generations
ROW = 56.0  # px between vertices of one generation


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


def parse_node_id(text: str) -> Hashable:
    """Inverse of :func:`node_id`.

    Raises:
        GraphError: ``text`` is not an id made by :func:`node_id`.
    """
    try:
        return _hashable(json.loads(text))
    except (TypeError, ValueError) as err:
        raise GraphError(f"{text!r} is not a vertex id of this app") from err


def edge_id(source: Hashable, target: Hashable) -> str:
    return f"{node_id(source)}->{node_id(target)}"


def display_label(label: Hashable) -> str:
    """A short human label: ``(0, 1) -> "0,1"``, ``("input", 3) -> "in 3"``."""
    if isinstance(label, tuple):
        if len(label) == 2 and label[0] in ("input", "output"):
            return f"{'in' if label[0] == 'input' else 'out'} {label[1]}"
        return ",".join(display_label(x) for x in label)
    return str(label)


def layered_positions(
    graph: nx.DiGraph, *, column: float = COLUMN, row: float = ROW, layers: Mapping | None = None
) -> dict:
    """Left-to-right positions by topological generation, rows ordered by barycentre.

    Args:
        graph: a DAG.
        column, row: spacing in pixels.
        layers: precomputed ``{vertex: generation}`` (default: computed here).

    Returns:
        ``{vertex: (x, y)}`` with every column centred on ``y = 0``.

    Raises:
        CycleError: ``graph`` has a cycle.
    """
    if layers is None:
        from workbench.graph import layer_index

        layers = layer_index(graph)
    columns: dict[int, list] = {}
    for v in graph.nodes:
        columns.setdefault(layers[v], []).append(v)
    if len(columns) > 1:  # widen the columns of tall, shallow graphs so the drawing is about 3:2
        tallest = max(len(c) for c in columns.values())
        column = min(max(column, 1.5 * tallest * row / (len(columns) - 1)), 8 * column)
    rank: dict = {}
    positions: dict = {}
    for g in sorted(columns):
        members = columns[g]
        if g > 0:
            order = {v: i for i, v in enumerate(members)}

            def key(v, order=order):
                preds = [rank[u] for u in graph.predecessors(v) if u in rank]
                return (sum(preds) / len(preds) if preds else float("inf"), order[v])

            members = sorted(members, key=key)
        for i, v in enumerate(members):
            rank[v] = i - (len(members) - 1) / 2
            positions[v] = (g * column, rank[v] * row)
    return positions


def graph_to_elements(
    graph: nx.DiGraph,
    positions: Mapping | None = None,
    *,
    node_classes: Mapping | None = None,
    edge_classes: Mapping | None = None,
    edge_data: Mapping | None = None,
) -> list[dict]:
    """Cytoscape elements for ``graph``: vertices first (node order), then edges.

    Args:
        graph: any ``nx.DiGraph``.
        positions: ``{vertex: (x, y)}``; vertices without one get none
            (Cytoscape then places them).
        node_classes: ``{vertex: "class names"}``.
        edge_classes: ``{(u, v): "class names"}``.
        edge_data: ``{(u, v): {extra data}}`` merged into each edge's data.
    """
    positions = positions or {}
    node_classes = node_classes or {}
    edge_classes = edge_classes or {}
    edge_data = edge_data or {}
    elements: list[dict] = []
    ids = {}
    for v in graph.nodes:
        ids[v] = nid = node_id(v)
        element: dict = {"data": {"id": nid, "label": display_label(v)}}
        if v in positions:
            x, y = positions[v]
            element["position"] = {"x": float(x), "y": float(y)}
        if v in node_classes:
            element["classes"] = node_classes[v]
        elements.append(element)
    for u, v in graph.edges:
        data = {"id": f"{ids[u]}->{ids[v]}", "source": ids[u], "target": ids[v]}
        data.update(edge_data.get((u, v), {}))
        element = {"data": data}
        if (u, v) in edge_classes:
            element["classes"] = edge_classes[(u, v)]
        elements.append(element)
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

ACCENT = "#2563eb"
POSITIVE = "#e8710a"  # weight > 0 (TensorFlow Playground's orange)
NEGATIVE = "#1a73e8"  # weight < 0 (blue)
DEAD = "#dc2626"


def design_stylesheet(*, large: bool = False, pending: str | None = None) -> list[dict]:
    """Stylesheet of the design canvas; ``pending`` is the id of a vertex a connection starts from."""
    sheet = [
        {
            "selector": "node",
            "style": {
                "background-color": "#475569",
                "width": 10 if large else 26,
                "height": 10 if large else 26,
                "label": "" if large else "data(label)",
                "font-size": 10,
                "color": "#0f172a",
                "text-valign": "bottom",
                "text-margin-y": 3,
                "border-width": 0 if large else 2,
                "border-color": "#ffffff",
            },
        },
        {
            "selector": "edge",
            "style": {
                "curve-style": "haystack" if large else "bezier",
                "target-arrow-shape": "none" if large else "triangle",
                "target-arrow-color": "#94a3b8",
                "line-color": "#cbd5e1" if large else "#94a3b8",
                "width": 0.5 if large else 1.6,
                "opacity": 1 if large else 0.9,
                "arrow-scale": 0.9,
            },
        },
        {"selector": "node:selected", "style": {"background-color": ACCENT, "border-color": "#93c5fd"}},
        {"selector": "edge:selected", "style": {"line-color": ACCENT, "target-arrow-color": ACCENT, "width": 3}},
        {"selector": ".input", "style": {"background-color": "#16a34a", "shape": "round-rectangle"}},
        {"selector": ".output", "style": {"background-color": "#9333ea", "shape": "round-rectangle"}},
    ]
    if pending is not None:
        sheet.append(
            {
                "selector": f"node[id = {json.dumps(pending)}]",
                "style": {"background-color": "#f59e0b", "border-color": "#fde68a", "border-width": 4},
            }
        )
    return sheet


def inspect_stylesheet(*, large: bool = False) -> list[dict]:
    """Stylesheet of the extracted-graph view: weights as colour/width, removed edges dashed, dead vertices red."""
    sheet = design_stylesheet(large=large)
    sheet += [
        {"selector": "edge[w]", "style": {"width": "data(w)"}},
        {"selector": ".pos", "style": {"line-color": POSITIVE, "target-arrow-color": POSITIVE}},
        {"selector": ".neg", "style": {"line-color": NEGATIVE, "target-arrow-color": NEGATIVE}},
        {
            "selector": ".removed",
            "style": {
                "line-style": "dashed",
                "opacity": 0.35,
                "line-color": "#cbd5e1",
                "width": 1,
                "target-arrow-color": "#cbd5e1",
            },
        },
        {"selector": ".dead", "style": {"background-color": DEAD, "border-color": "#fecaca", "border-width": 3}},
    ]
    return sheet
