"""Graph <-> Cytoscape elements, layered positions and the generators form (pure, no browser)."""

from __future__ import annotations

import dataclasses

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
from workbench.app.generators import GENERATORS, generate
from workbench.errors import CycleError, GraphError, LimitError
from workbench.limits import Limits


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


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_makes_a_dag_with_its_defaults(name):
    g = generate(name, {}, seed=1)
    assert g.number_of_nodes() > 0 and nx.is_directed_acyclic_graph(g)


def test_seeded_generators_repeat_with_a_seed():
    a = generate("erdos_renyi", {"n": 20, "p": 0.2}, seed=3)
    b = generate("erdos_renyi", {"n": "20", "p": "0.2"}, seed=3)
    assert list(a.edges) == list(b.edges)


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("erdos_renyi", {"p": 1.5}, "between 0 and 1"),
        ("grid", {"m": 0}, "at least 1"),
        ("grid", {"m": "x"}, "must be a number"),
        ("layered", {"sizes": "3, a"}, "comma-separated"),
        ("nope", {}, "unknown generator"),
    ],
)
def test_generator_form_errors_name_the_value(name, values, message):
    with pytest.raises(GraphError, match=message):
        generate(name, values)


@pytest.mark.parametrize(
    ("name", "field", "raw", "message"),
    [
        ("erdos_renyi", "n", "inf", "vertices n must be a finite number, got 'inf'"),
        ("erdos_renyi", "n", "nan", "vertices n must be a finite number, got 'nan'"),
        ("erdos_renyi", "n", "1e400", "vertices n must be a finite number, got '1e400'"),
        ("erdos_renyi", "n", float("inf"), "vertices n must be a finite number, got inf"),
        ("erdos_renyi", "n", -3, "vertices n must be an integer of at least 1, got -3"),
        ("erdos_renyi", "n", 2.5, "vertices n must be an integer of at least 1, got 2.5"),
        ("erdos_renyi", "n", True, "vertices n must be a number, got True"),
        ("erdos_renyi", "n", [30], r"vertices n must be a number, got \[30\]"),
        ("erdos_renyi", "n", None, "vertices n must be a number, got None"),
        ("erdos_renyi", "n", {"a": 1}, "vertices n must be a number, got \\{'a': 1\\}"),
        ("erdos_renyi", "p", "nan", "edge probability p must be a finite number"),
        ("erdos_renyi", "p", 1.5, "edge probability p must be between 0 and 1, got 1.5"),
        ("tree", "h", "abc", "height h must be a number, got 'abc'"),
        ("grid", "m", "1e400", "rows m must be a finite number"),
        ("layered", "sizes", ["4", "6"], "layer sizes must be comma-separated positive ints, got \\['4', '6'\\]"),
        ("layered", "sizes", None, "layer sizes must be comma-separated positive ints, got None"),
        ("layered", "sizes", "4, -6", "layer sizes must be comma-separated positive ints"),
        ("layered", "sizes", True, "layer sizes must be comma-separated positive ints, got True"),
    ],
)
def test_bad_form_values_raise_a_graph_error_naming_the_field(name, field, raw, message):
    with pytest.raises(GraphError, match=message):
        generate(name, {field: raw}, seed=1)


@pytest.mark.parametrize("seed", ["1e400", float("nan"), -1, 2**64, True, [1], "abc", 0.5])
def test_bad_seeds_raise_a_graph_error_naming_the_seed(seed):
    with pytest.raises(GraphError, match="seed must be"):
        generate("erdos_renyi", {"n": 10, "p": 0.5}, seed=seed)


def test_good_seeds_and_odd_names():
    assert list(generate("erdos_renyi", {}, seed="7").edges) == list(generate("erdos_renyi", {}, seed=7.0).edges)
    assert generate("erdos_renyi", {}, seed="").number_of_nodes() == 30
    for name in (None, ["tree"], 3):
        with pytest.raises(GraphError, match="unknown generator"):
            generate(name, {})
    with pytest.raises(GraphError, match="must be a mapping, got list"):
        generate("tree", [1, 2])


@pytest.mark.parametrize(
    ("name", "values", "field"),
    [
        ("tree", {"r": 10**6, "h": 3 * 10**6}, "max_vertices"),
        ("tree", {"r": "1000000", "h": "10000000"}, "max_vertices"),
        ("grid", {"m": 1000, "n": 1000}, "max_vertices"),
        ("erdos_renyi", {"n": 5000, "p": 1}, "max_edges"),
        ("layered", {"sizes": "2000, 2000"}, "max_edges"),
    ],
)
def test_oversized_generators_are_refused_before_building(name, values, field, monkeypatch):
    monkeypatch.setitem(GENERATORS, name, dataclasses.replace(GENERATORS[name], build=_must_not_build))
    with pytest.raises(LimitError, match=f"the limit is {field}="):
        generate(name, values, seed=1)


def _must_not_build(**kwargs):
    raise AssertionError(f"built a graph that the limits refuse: {kwargs}")


def test_generator_limits_can_be_set():
    with pytest.raises(LimitError, match="max_vertices=10"):
        generate("grid", {"m": 4, "n": 5}, limits=Limits(max_vertices=10))
    assert generate("grid", {"m": 4, "n": 5}, limits=Limits(max_vertices=20)).number_of_nodes() == 20
