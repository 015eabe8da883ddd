"""Graph <-> Cytoscape elements and layered positions (pure, no browser)."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.app.elements import (
    design_stylesheet,
    display_label,
    edge_id,
    elements_to_graph,
    graph_to_elements,
    layered_positions,
    node_id,
    parse_node_id,
)
from workbench.errors import CycleError, GraphError


@pytest.mark.parametrize("label", [0, 17, "a", "3", (0, 1), ("input", 3), ((1, 2), "x"), -4])
def test_node_ids_round_trip(label):
    assert parse_node_id(node_id(label)) == label
    assert isinstance(node_id(label), str)


def test_int_and_string_labels_get_different_ids():
    assert node_id(1) != node_id("1")
    assert parse_node_id(node_id("1")) == "1"


def test_unsupported_label_and_bad_id_raise():
    with pytest.raises(GraphError, match="frozenset"):
        node_id(frozenset({1}))
    with pytest.raises(GraphError, match="not a vertex id"):
        parse_node_id("{oops")


def test_elements_of_a_small_dag():
    g = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "c")])
    elements = graph_to_elements(g, {"a": (0, 0)}, node_classes={"a": "input"}, edge_classes={("a", "c"): "skip"})
    nodes = [e for e in elements if "source" not in e["data"]]
    edges = [e for e in elements if "source" in e["data"]]
    assert [n["data"]["label"] for n in nodes] == ["a", "b", "c"]
    assert nodes[0]["position"] == {"x": 0.0, "y": 0.0} and "position" not in nodes[1]
    assert nodes[0]["classes"] == "input"
    assert {e["data"]["id"] for e in edges} == {edge_id("a", "b"), edge_id("b", "c"), edge_id("a", "c")}
    assert [e.get("classes") for e in edges] == [None, "skip", None]


def test_round_trip_keeps_labels_order_and_edges():
    g = nx.DiGraph()
    g.add_nodes_from([(1, 0), (0, 0), (0, 1), "out", 5])
    g.add_edges_from([((0, 0), (1, 0)), ((0, 1), (1, 0)), ((1, 0), "out")])
    back = elements_to_graph(graph_to_elements(g))
    assert list(back.nodes) == list(g.nodes)
    assert list(back.edges) == list(g.edges)


def test_elements_naming_a_missing_vertex_raise():
    with pytest.raises(GraphError, match="no element"):
        elements_to_graph([{"data": {"id": "0"}}, {"data": {"id": "e", "source": "0", "target": "9"}}])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.floats(0, 1), st.integers(0, 10_000))
def test_round_trip_of_random_dags(n, p, seed):
    g = nx.gnp_random_graph(n, p, seed=seed, directed=True)
    dag = nx.DiGraph((u, v) for u, v in g.edges if u < v)
    dag.add_nodes_from(range(n))
    back = elements_to_graph(graph_to_elements(dag))
    assert set(back.nodes) == set(dag.nodes) and set(back.edges) == set(dag.edges)


def test_layered_positions_put_generations_left_to_right():
    g = nx.DiGraph([(0, 1), (1, 2), (0, 2), (3, 2)])
    pos = layered_positions(g, column=100, row=50)
    assert pos[0][0] == pos[3][0] < pos[1][0] < pos[2][0]
    assert pos[0][1] == -pos[3][1]  # a column is centred on y = 0
    assert len({p for p in pos.values()}) == 4


def test_layered_positions_refuse_a_cycle():
    with pytest.raises(CycleError):
        layered_positions(nx.DiGraph([(0, 1), (1, 0)]))


def test_display_labels_are_short():
    assert display_label((0, 1)) == "0,1"
    assert display_label(("input", 3)) == "in 3"
    assert display_label(("output", 0)) == "out 0"


def test_stylesheet_marks_the_pending_vertex_and_simplifies_large_graphs():
    small = design_stylesheet(pending=node_id((0, 1)))
    assert any("[0,1]" in rule["selector"] for rule in small)
    large = design_stylesheet(large=True)
    edge = next(r for r in large if r["selector"] == "edge")
    assert edge["style"]["curve-style"] == "haystack"
