"""Size limits (workbench.limits) and the sizes they check (workbench.sizes), computed before any work."""

import dataclasses
import math
import re

import networkx as nx
import pytest

from workbench import graph as wbg
from workbench.errors import GraphTooLargeError, LimitError, WorkbenchError
from workbench.limits import (
    DEFAULT_LIMITS,
    Limits,
    check_dan,
    check_extraction_edges,
    check_ffn,
    check_generator,
    check_graph_size,
    check_json_depth,
    check_parameters,
    check_upload_bytes,
    check_upload_elements,
)
from workbench.sizes import (
    GENERATOR_SIZES,
    barabasi_albert_size,
    erdos_renyi_size,
    ffn_parameter_count,
    generator_size,
    grid_size,
    layered_size,
    tree_size,
    watts_strogatz_size,
)
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN

# ------------------------------------------------------------------------------- Limits


def test_defaults_are_positive_ints_and_documented():
    for f in dataclasses.fields(Limits):
        value = getattr(DEFAULT_LIMITS, f.name)
        assert isinstance(value, int) and value >= 1, f.name
        assert f.name in Limits.__doc__, f"{f.name} is not documented"
    assert Limits.field_names()[:2] == ("max_vertices", "max_edges")
    assert DEFAULT_LIMITS.training_slots >= 1


@pytest.mark.parametrize("value", [0, -3, True, 1.5, "10", None])
def test_limits_must_be_positive_ints(value):
    with pytest.raises(LimitError, match=f"limit max_edges must be a positive int, got {value!r}"):
        Limits(max_edges=value)


def test_limits_are_frozen_and_unlimited_refuses_nothing():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_LIMITS.max_edges = 5  # type: ignore[misc]
    unlimited = Limits.unlimited()
    check_graph_size(10**12, 10**15, unlimited)
    check_parameters(10**15, unlimited)
    assert unlimited.max_json_depth == DEFAULT_LIMITS.max_json_depth  # nesting stays bounded


def test_limit_errors_carry_the_field_the_value_and_the_limit():
    with pytest.raises(LimitError) as info:
        check_graph_size(5, 20, Limits(max_edges=10))
    assert (info.value.field, info.value.value, info.value.limit) == ("max_edges", 20, 10)
    assert isinstance(info.value, WorkbenchError) and isinstance(info.value, ValueError)
    assert issubclass(GraphTooLargeError, LimitError)


# ------------------------------------------------------------------- generator sizes


DETERMINISTIC = [
    ("layered", {"sizes": [4, 6, 6, 3]}, lambda p: wbg.layered_ffn(p["sizes"])),
    ("layered", {"sizes": [1]}, lambda p: wbg.layered_ffn(p["sizes"])),
    ("tree", {"r": 2, "h": 3}, lambda p: wbg.balanced_tree(p["r"], p["h"])),
    ("tree", {"r": 1, "h": 7}, lambda p: wbg.balanced_tree(p["r"], p["h"])),
    ("tree", {"r": 5, "h": 1}, lambda p: wbg.balanced_tree(p["r"], p["h"])),
    ("grid", {"m": 4, "n": 5}, lambda p: wbg.grid_2d(p["m"], p["n"])),
    ("grid", {"m": 1, "n": 1}, lambda p: wbg.grid_2d(p["m"], p["n"])),
    ("watts_strogatz", {"n": 30, "k": 4, "p": 0.2}, lambda p: wbg.watts_strogatz(30, 4, 0.2, seed=1)),
    ("watts_strogatz", {"n": 11, "k": 5, "p": 0.5}, lambda p: wbg.watts_strogatz(11, 5, 0.5, seed=1)),
    ("watts_strogatz", {"n": 6, "k": 6, "p": 0.0}, lambda p: wbg.watts_strogatz(6, 6, 0.0, seed=1)),
    ("barabasi_albert", {"n": 30, "m": 2}, lambda p: wbg.barabasi_albert(30, 2, seed=1)),
    ("barabasi_albert", {"n": 9, "m": 8}, lambda p: wbg.barabasi_albert(9, 8, seed=1)),
]


@pytest.mark.parametrize(("name", "params", "build"), DETERMINISTIC)
def test_generator_sizes_equal_the_built_graphs(name, params, build):
    graph = build(params)
    size = generator_size(name, params)
    assert (size.vertices, size.edges) == (graph.number_of_nodes(), graph.number_of_edges())


def test_every_generator_has_a_size():
    from workbench.app.generators import GENERATORS

    assert set(GENERATOR_SIZES) == set(GENERATORS)


def test_erdos_renyi_size_is_the_expected_edge_count():
    assert erdos_renyi_size(5000, 1.0).edges == 5000 * 4999 // 2
    assert erdos_renyi_size(100, 0.0).edges == 0
    counts = [wbg.erdos_renyi(200, 0.1, seed=s).number_of_edges() for s in range(5)]
    expected = erdos_renyi_size(200, 0.1).edges  # 1990; standard deviation about 42
    assert abs(sum(counts) / len(counts) - expected) < 100
    assert erdos_renyi_size(10**400, 0.5).edges == math.inf  # beyond floats: no OverflowError


def test_huge_trees_are_sized_from_logarithms():
    # a power r ** (h + 1) this large would not finish; the size is a float from log10
    for r, h in [(10**6, 3 * 10**6), (10**6, 10**7), (2, 10**18)]:
        size = tree_size(r, h)
        assert isinstance(size.vertices, float) and size.vertices == math.inf
    assert tree_size(10, 40).vertices == pytest.approx(10**41 / 9, rel=1e-9)  # 41 digits: a float
    assert tree_size(10, 20).vertices == (10**21 - 1) // 9  # 21 digits: exact
    assert tree_size(1, 10**30).vertices == 10**30 + 1


def test_other_sizes_by_formula():
    assert layered_size([3, 4, 5]).edges == 3 * 4 + 4 * 5
    assert grid_size(1000, 1000).vertices == 10**6
    assert watts_strogatz_size(10, 4).edges == 20
    assert watts_strogatz_size(10, 30).edges == 45  # k >= n: the complete graph
    assert barabasi_albert_size(100, 3).edges == 291


# ------------------------------------------------------------------- generator checks


@pytest.mark.parametrize(
    ("name", "params", "field", "shown"),
    [
        ("tree", {"r": 10**6, "h": 3 * 10**6}, "max_vertices", "more than 10^308 vertices"),
        ("tree", {"r": 10**6, "h": 10**7}, "max_vertices", "more than 10^308 vertices"),
        ("tree", {"r": 2, "h": 100}, "max_vertices", "about 2.5e+30 vertices"),
        ("grid", {"m": 1000, "n": 1000}, "max_vertices", "1,000,000 vertices"),
        ("layered", {"sizes": [1000] * 3}, "max_edges", "2,000,000 edges"),
        ("erdos_renyi", {"n": 5000, "p": 1.0}, "max_edges", "12,497,500 edges"),
        ("erdos_renyi", {"n": 10**6, "p": 0.0}, "max_vertices", "1,000,000 vertices"),
        ("watts_strogatz", {"n": 10_000, "k": 100, "p": 0.1}, "max_edges", "500,000 edges"),
        ("barabasi_albert", {"n": 10_000, "m": 50}, "max_edges", "497,500 edges"),
    ],
)
def test_oversized_generators_are_refused_naming_the_field_and_limit(name, params, field, shown):
    with pytest.raises(LimitError, match=re.escape(f"would have {shown}; the limit is {field}=")) as info:
        check_generator(name, params)
    assert info.value.field == field and info.value.limit == getattr(DEFAULT_LIMITS, field)
    assert "choose" in str(info.value)  # what to change


def test_generators_within_limits_pass_with_their_size():
    size = check_generator("erdos_renyi", {"n": 2000, "p": 0.01})
    assert size.vertices == 2000 and size.edges == round(2000 * 1999 / 2 * 0.01)
    with pytest.raises(LimitError, match="max_edges=15,000"):
        check_generator("erdos_renyi", {"n": 2000, "p": 0.01}, Limits(max_edges=15_000))


# ------------------------------------------------------------------------ models


def test_ffn_parameter_count_equals_the_built_model():
    for hidden, norm in [([32, 16], False), ([5], True), ([], False)]:
        model = MaskedDeepFFN(7, 3, hidden, norm)
        built = sum(p.numel() for p in model.parameters())
        assert ffn_parameter_count(7, hidden, 3, layer_norm=norm) == built
        assert check_ffn(7, hidden, 3, layer_norm=norm) == built


def test_huge_hidden_sizes_are_refused_before_building():
    with pytest.raises(LimitError, match=r"64-200000-200000-10 would have 40,015,200,010 trainable parameters") as info:
        check_ffn(64, [200_000, 200_000], 10)
    assert info.value.field == "max_parameters"
    with pytest.raises(LimitError, match="would have 100 hidden layers; the limit is max_hidden_layers=64"):
        check_ffn(64, [1] * 100, 10)


def test_dan_check_counts_the_graph_and_the_parameters():
    graph = wbg.watts_strogatz(40, 4, 0.3, seed=0)
    model = MaskedDeepDAN(12, 3, graph)
    assert check_dan(graph, 12, 3) == sum(p.numel() for p in model.parameters())
    with pytest.raises(LimitError, match="the design would have 80 edges; the limit is max_edges=50"):
        check_dan(graph, 12, 3, Limits(max_edges=50))
    with pytest.raises(LimitError, match="the DAN of this design would have .* max_parameters=100"):
        check_dan(graph, 12, 3, Limits(max_parameters=100))
    assert check_dan(nx.DiGraph(), 12, 3) == 0


def test_check_parameters_names_what():
    with pytest.raises(LimitError, match=r"the checkpoint's model would have 3,000,000 trainable parameters"):
        check_parameters(3_000_000, what="the checkpoint's model")
    check_parameters(DEFAULT_LIMITS.max_parameters)  # the limit itself is allowed


# ------------------------------------------------------------------------ uploads, JSON, inspect


def test_upload_checks():
    with pytest.raises(LimitError, match=r"the file big.graphml has 20.0 MiB \(20,971,520 bytes\); .*max_upload_bytes"):
        check_upload_bytes(20 * 2**20, name="big.graphml")
    check_upload_bytes(DEFAULT_LIMITS.max_upload_bytes)
    with pytest.raises(LimitError, match="the file has up to 11 elements; the limit is max_upload_elements=10"):
        check_upload_elements(11, Limits(max_upload_elements=10))
    with pytest.raises(LimitError, match="the label has 33 levels of nesting; the limit is max_json_depth=32"):
        check_json_depth(33, what="the label")


@pytest.mark.parametrize(
    ("granularity", "advice"),
    [("neuron", "try the channel granularity"), ("channel", "try the module granularity"), ("module", None)],
)
def test_extraction_budget_suggests_a_coarser_granularity(granularity, advice):
    # the 64-3000-3000-10 network: 9.2M edges at neuron level
    edges = 64 * 3000 + 3000 * 3000 + 3000 * 10
    with pytest.raises(LimitError, match=f"the {granularity}-level graph would have 9,222,000 edges") as info:
        check_extraction_edges(edges, granularity=granularity)
    assert info.value.field == "max_extraction_edges"
    assert (advice in str(info.value)) if advice else ("try" not in str(info.value))
    check_extraction_edges(DEFAULT_LIMITS.max_extraction_edges, granularity=granularity)
