"""Graphs <-> Cytoscape elements (workbench.app.views.elements): ids, round trips, routed edge geometry, styles."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.app.state.layout import ROW, crossings, layered_drawing
from workbench.app.state.overlay import ALL_INPUTS, with_io
from workbench.app.views.elements import (
    canvas_stylesheet,
    display_label,
    elements_to_graph,
    graph_to_elements,
    is_large,
    node_id,
    parse_node_id,
    segment_data,
)
from workbench.errors import GraphError
from workbench.graph import watts_strogatz

labels = st.recursive(
    st.one_of(st.integers(-(10**6), 10**6), st.text(max_size=6)),
    lambda inner: st.tuples(inner, inner) | st.tuples(inner, inner, inner),
    max_leaves=6,
)


def bend_points(source, target, data: dict) -> list[tuple[float, float]]:
    """Where Cytoscape draws the bends of a ``segments`` edge with ``edge-distances: node-position``:
    ``S + w (T - S) + d n`` with ``n = (-dy, dx) / |T - S|``, per (weight, distance) pair."""
    if "sw" not in data:
        return []
    s, t = np.asarray(source, float), np.asarray(target, float)
    d = t - s
    n = np.array([-d[1], d[0]]) / np.linalg.norm(d)
    weights = [float(w) for w in data["sw"].split()]
    distances = [float(x) for x in data["sd"].split()]
    assert len(weights) == len(distances)
    return [tuple(s + w * d + x * n) for w, x in zip(weights, distances, strict=True)]


def drawn_from_elements(elements: list[dict]) -> tuple[dict, dict]:
    """``positions, routes`` as the browser will draw them, read back from the elements only."""
    positions = {
        parse_node_id(e["data"]["id"]): (e["position"]["x"], e["position"]["y"])
        for e in elements
        if "source" not in e["data"]
    }
    routes = {}
    for e in elements:
        data = e["data"]
        if "source" in data:
            u, v = parse_node_id(data["source"]), parse_node_id(data["target"])
            routes[(u, v)] = bend_points(positions[u], positions[v], data)
    return positions, routes


# ----------------------------------------------------------------------------- ids


@pytest.mark.parametrize("label", [0, 17, -4, "a", "3", "", (0, 1), ("input", 3), ((1, 2), "x"), ALL_INPUTS])
def test_node_ids_round_trip(label):
    text = node_id(label)
    assert isinstance(text, str) and parse_node_id(text) == label
    assert type(parse_node_id(text)) is type(label)


@settings(max_examples=80, deadline=None)
@given(labels)
def test_node_ids_round_trip_for_any_nested_label(label):
    assert parse_node_id(node_id(label)) == label


def test_int_string_and_tuple_labels_get_different_ids():
    assert len({node_id(1), node_id("1"), node_id((1,)), node_id("[1]")}) == 4


def test_unsupported_label_and_bad_id_raise():
    with pytest.raises(GraphError, match="frozenset"):
        node_id(frozenset({1}))
    with pytest.raises(GraphError, match="is not a vertex id of this app"):
        parse_node_id("{oops")
    with pytest.raises(GraphError, match="is not a vertex id"):
        parse_node_id(None)


def test_display_labels_are_short():
    assert display_label((0, 1)) == "0,1"
    assert display_label(("input", 3)) == "in 3"
    assert display_label(("output", 0)) == "out 0"
    assert display_label(7) == "7"
    graph = with_io(nx.DiGraph([(0, 1)]), 64, 10)
    assert display_label(ALL_INPUTS, graph) == "64 inputs"
    assert display_label(ALL_INPUTS) == "inputs"


# ----------------------------------------------------------------------------- round trips


def test_round_trip_keeps_labels_node_order_and_edge_order():
    g = nx.DiGraph()
    g.add_nodes_from([(1, 0), (0, 0), (0, 1), "out", 5, "5"])
    g.add_edges_from([((0, 1), (1, 0)), ((0, 0), (1, 0)), ((1, 0), "out"), (5, "5")])
    back = elements_to_graph(graph_to_elements(g, layered_drawing(g)))
    assert list(back.nodes) == list(g.nodes)
    assert list(back.edges) == list(g.edges)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 14), st.floats(0, 1), st.integers(0, 10_000), st.booleans())
def test_round_trip_of_random_dags_is_the_identity(n, p, seed, shuffle):
    g = nx.gnp_random_graph(n, p, seed=seed, directed=True)
    order = list(range(n))
    if shuffle:
        np.random.default_rng(seed).shuffle(order)
    label = {v: (v, "x") if v % 2 else v for v in order}  # mixed labels: ints and tuples
    dag = nx.DiGraph()
    dag.add_nodes_from(label[v] for v in order)
    dag.add_edges_from((label[u], label[v]) for u, v in g.edges if u < v)
    back = elements_to_graph(graph_to_elements(dag, layered_drawing(dag)))
    assert list(back.nodes) == list(dag.nodes) and list(back.edges) == list(dag.edges)


def test_elements_naming_a_missing_vertex_raise():
    with pytest.raises(GraphError, match="names vertex 9, which has no element"):
        elements_to_graph([{"data": {"id": "0"}}, {"data": {"id": "e", "source": "0", "target": "9"}}])


# ----------------------------------------------------------------------------- geometry


def test_segment_data_of_one_bend():
    assert segment_data((0, 0), (100, 0), [(50, 20)]) == {"sw": "0.5", "sd": "20"}
    assert segment_data((0, 0), (0, 0), [(1, 1)]) == {}  # no direction: no bends
    assert segment_data((0, 0), (100, 0), []) == {}


@settings(max_examples=50, deadline=None)
@given(
    st.tuples(st.floats(-500, 500), st.floats(-500, 500)),
    st.tuples(st.floats(-500, 500), st.floats(-500, 500)),
    st.lists(st.tuples(st.floats(-800, 800), st.floats(-800, 800)), min_size=1, max_size=6),
)
def test_segment_data_reconstructs_every_bend_in_cytoscapes_convention(source, target, bends):
    length = float(np.hypot(target[0] - source[0], target[1] - source[1]))
    if length < 1:
        return
    points = bend_points(source, target, segment_data(source, target, bends))
    # written with 4 significant digits: within a few thousandths of the drawing's size
    scale = max(length, *(abs(c) for p in (source, target, *bends) for c in p))
    assert np.allclose(points, bends, atol=4e-3 * scale)


def test_a_bend_to_the_left_of_the_direction_has_a_positive_distance():
    # y grows downwards on screen; n = (-dy, dx) / |T - S| points to +y for an edge going right
    assert float(segment_data((0, 0), (10, 0), [(5, 3)])["sd"]) == pytest.approx(3)
    assert float(segment_data((0, 0), (0, 10), [(-3, 5)])["sd"]) == pytest.approx(3)


def test_elements_carry_positions_and_bends_that_cytoscape_draws_without_crossings():
    graph = with_io(watts_strogatz(40, 4, 0.3, seed=2), 2, 2)
    drawing = layered_drawing(graph)
    elements = graph_to_elements(graph, drawing)
    positions, routes = drawn_from_elements(elements)
    assert positions == {v: pytest.approx(p) for v, p in drawing.positions.items()}
    for edge, bends in drawing.routes.items():
        assert np.allclose(np.reshape(routes[edge], (-1, 2)), np.reshape(bends, (-1, 2)), atol=0.05), edge
    assert crossings(positions, routes) == []


def test_elements_of_a_tall_design_stay_within_a_pixel():
    graph = with_io(watts_strogatz(300, 6, 0.2, seed=0), 2, 2)
    drawing = layered_drawing(graph)
    _, routes = drawn_from_elements(graph_to_elements(graph, drawing))
    error = max(
        float(np.abs(np.reshape(routes[e], (-1, 2)) - np.reshape(b, (-1, 2))).max())
        for e, b in drawing.routes.items()
        if len(b)
    )
    assert error < 1.0


# ----------------------------------------------------------------------------- data and classes


def test_codes_dead_flags_roles_and_extra_data_go_into_the_element_data():
    graph = with_io(nx.DiGraph([("a", "b")]), 2, 1)
    # nodes: in 0, in 1, a, b, out 0; edges: in0->a, in1->a, a->b, b->out0
    elements = graph_to_elements(
        graph,
        layered_drawing(graph),
        codes="a-Dh",
        dead="00110",
        node_classes={"b": "tapped"},
        edge_data={("a", "b"): {"weight": 0.5}},
    )
    nodes = [e for e in elements if "source" not in e["data"]]
    edges = [e for e in elements if "source" in e["data"]]
    assert [n["data"]["dead"] for n in nodes] == [0, 0, 1, 1, 0]
    assert [n.get("classes", "") for n in nodes] == ["input", "input", "", "tapped", "output"]
    assert [e["data"]["m"] for e in edges] == ["a", "-", "D", "h"]
    assert edges[2]["data"]["weight"] == 0.5 and "weight" not in edges[0]["data"]
    assert edges[2]["data"]["id"] == f"{node_id('a')}->{node_id('b')}"
    assert all("position" in n for n in nodes)


def test_without_codes_or_a_drawing_nothing_extra_is_written():
    elements = graph_to_elements(nx.DiGraph([(0, 1)]))
    assert elements[0] == {"data": {"id": "0", "i": 0, "label": "0"}}
    assert elements[2]["data"] == {"id": "0->1", "i": 0, "source": "0", "target": "1"}


def test_every_element_carries_its_place_in_the_order_the_codes_follow():
    graph = nx.DiGraph([(2, 0), (0, 1), (2, 1), (1, 3)])
    elements = graph_to_elements(graph, codes="abcd", dead="0101")
    nodes = [e["data"] for e in elements if "source" not in e["data"]]
    edges = [e["data"] for e in elements if "source" in e["data"]]
    assert [n["i"] for n in nodes] == list(range(4)) and [e["i"] for e in edges] == list(range(4))
    # the browser matches codes by "i": in any element order, code i lands on the i-th edge of the graph
    for e in reversed(edges):
        assert e["m"] == "abcd"[e["i"]] and e["id"] == "{}->{}".format(*list(graph.edges)[e["i"]])
    for n in nodes:
        assert n["dead"] == int("0101"[n["i"]]) and n["id"] == str(list(graph.nodes)[n["i"]])


def test_stylesheet_styles_every_mask_code_the_pending_vertex_and_large_graphs():
    sheet = canvas_stylesheet(pending=node_id((0, 1)))
    selectors = [rule["selector"] for rule in sheet]
    for code in "abcdABCDefgh-":
        assert f'edge[m = "{code}"]' in selectors
    assert "node[dead = 1]" in selectors and "edge[sd]" in selectors
    # overlapping edges: kept over pruned, stronger over weaker, whatever order Cytoscape holds them in
    z = {rule["selector"]: rule["style"].get("z-index") for rule in sheet}
    assert z['edge[m = "-"]'] < z['edge[m = "a"]'] < z['edge[m = "b"]'] < z['edge[m = "c"]'] < z['edge[m = "d"]']
    assert z['edge[m = "A"]'] < z['edge[m = "D"]'] and z['edge[m = "e"]'] < z['edge[m = "h"]']
    assert any("[0,1]" in s for s in selectors)
    small = next(r for r in sheet if r["selector"] == "node")["style"]
    large = next(r for r in canvas_stylesheet(large=True) if r["selector"] == "node")["style"]
    # a large graph is seen zoomed far out: its vertices are sized to the row pitch, not to a fixed 24 px
    assert large["width"] == 0.6 * ROW > small["width"] and large["label"] == "" and large["border-width"] == 0
    kept = next(r for r in canvas_stylesheet(large=True) if r["selector"] == 'edge[m = "a"]')["style"]
    assert kept["width"] > next(r for r in sheet if r["selector"] == 'edge[m = "a"]')["style"]["width"]
    assert is_large(151, 0) and is_large(10, 1501) and not is_large(150, 1500)
