"""The generators form: parameters read strictly (a GraphError naming the field), sizes checked before building."""

from __future__ import annotations

import dataclasses

import networkx as nx
import pytest

from workbench.app.generators import GENERATORS, generate
from workbench.errors import GraphError, LimitError
from workbench.limits import Limits


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
