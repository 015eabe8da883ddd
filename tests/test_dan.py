"""MaskedDeepDAN: semantics, structure round trips, parameter counts, orientation."""

import networkx as nx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import CycleError, EmptyGraphError
from workbench.graph import LayeredGraph, depth
from workbench.pruning import masks_by_amount, weight_snapshot
from workbench.sparse import MaskedDeepDAN, dan_parameter_count, maskable_layers


def _edge_weights(model):
    source, target, weight = model.edge_arrays(masked=False)
    nodes = list(model.structure.nodes)
    return {(nodes[u], nodes[v]): float(w) for u, v, w in zip(source, target, weight, strict=True)}


def test_dan_equals_hand_written_forward_with_skip_connection():
    torch.manual_seed(0)
    graph = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d")])
    graph.add_node("e")  # isolated: both a source and a sink
    model = MaskedDeepDAN(3, 2, graph)
    x = torch.randn(4, 3)
    w = _edge_weights(model)
    relu = torch.relu
    # sources in node order: a, e; sinks in node order: d, e
    w_in, b_in = model.input_layer.weight, model.input_layer.bias
    h = {"a": relu(x @ w_in[0] + b_in[0]), "e": relu(x @ w_in[1] + b_in[1])}
    bias = {}
    for g, block in enumerate(model.layers, start=1):
        for i in range(block.num_targets):
            bias[model.node_at_row(model.layer_bounds[g] + i)] = block.bias[i]
    h["b"] = relu(w["a", "b"] * h["a"] + bias["b"])
    h["c"] = relu(w["a", "c"] * h["a"] + bias["c"])
    h["d"] = relu(w["b", "d"] * h["b"] + w["c", "d"] * h["c"] + w["a", "d"] * h["a"] + bias["d"])
    expected = torch.stack([h["d"], h["e"]], dim=1) @ model.output_layer.weight.T + model.output_layer.bias
    torch.testing.assert_close(model(x), expected)


def test_unbatched_and_float64_inputs():
    model = MaskedDeepDAN((2, 3), 4, nx.DiGraph([(0, 1), (1, 2)])).double()
    out = model(torch.randn(2, 3, dtype=torch.float64))
    assert out.shape == (4,) and out.dtype == torch.float64
    assert model(torch.randn(5, 2, 3, dtype=torch.float64)).shape == (5, 4)


def test_parameters_grow_with_edges_not_layer_products():
    graph = nx.watts_strogatz_graph(200, 4, 0.3, seed=1)
    model = MaskedDeepDAN(8, 3, graph)
    dag = model.structure
    sources = sum(1 for _, d in dag.in_degree() if d == 0)
    sinks = sum(1 for _, d in dag.out_degree() if d == 0)
    weights = sum(layer.weight.numel() for layer in maskable_layers(model))
    assert weights == dag.number_of_edges() + 8 * sources + 3 * sinks
    total = sum(p.numel() for p in model.parameters())
    assert total == dan_parameter_count(dag, 8, 3) == weights + dag.number_of_nodes() + 3


def test_masked_weights_get_zero_gradient():
    torch.manual_seed(0)
    model = MaskedDeepDAN(5, 2, nx.gnp_random_graph(30, 0.2, seed=3, directed=False))
    for layer in maskable_layers(model):
        layer.mask = torch.rand(layer.weight.shape) > 0.5
    model(torch.randn(7, 5)).sum().backward()
    for layer in maskable_layers(model):
        assert torch.all(layer.weight.grad[~layer.mask] == 0)


def test_generate_structure_is_the_design_for_tuple_labels():
    grid = nx.grid_2d_graph(3, 4)
    model = MaskedDeepDAN(6, 2, LayeredGraph.load_from(grid))
    structure = model.generate_structure()
    assert list(structure.nodes) == list(grid.nodes)
    assert set(structure.edges) == set(model.structure.edges)
    assert structure.number_of_edges() == grid.number_of_edges()


def test_watts_strogatz_becomes_shallow_and_index_orientation_is_available():
    ws = nx.watts_strogatz_graph(1000, 4, 0.1, seed=0)
    model = MaskedDeepDAN(10, 2, ws)
    assert model.num_layers < 100, model.num_layers
    chain = MaskedDeepDAN(10, 2, nx.watts_strogatz_graph(1000, 4, 0.0, seed=0), orientation="index")
    assert chain.num_layers == 1000  # the seed's orientation: a ring lattice becomes one long chain
    index = {v: i for i, v in enumerate(chain.structure.nodes)}
    assert all(index[u] < index[v] for u, v in chain.structure.edges)


def test_every_sink_feeds_the_output_whatever_its_layer():
    # sink "s" sits in layer 1 while the deepest vertex is in layer 3
    graph = nx.DiGraph([(0, 1), (1, 2), (2, 3), (0, "s")])
    model = MaskedDeepDAN(2, 1, graph)
    sinks = {model.node_at_row(r) for r in model.sink_rows.tolist()}
    assert sinks == {3, "s"}
    assert model.output_layer.in_features == 2


def test_cyclic_and_empty_structures_are_refused():
    with pytest.raises(CycleError, match=r"cycle: .*1.*2.*3"):
        MaskedDeepDAN(2, 2, nx.DiGraph([(1, 2), (2, 3), (3, 1)]))
    with pytest.raises(EmptyGraphError, match="no vertices"):
        MaskedDeepDAN(2, 2, nx.DiGraph())


def test_structure_keeps_node_and_edge_attributes():
    graph = nx.DiGraph()
    graph.add_node("x", colour="red")
    graph.add_edge("x", "y", kind="skip")
    structure = MaskedDeepDAN(1, 1, graph).generate_structure()
    assert structure.nodes["x"]["colour"] == "red"
    assert structure.edges["x", "y"]["kind"] == "skip"


# ----------------------------------------------------------------------- properties


@st.composite
def random_dags(draw, max_nodes=200):
    n = draw(st.integers(1, max_nodes))
    p = draw(st.floats(0.0, min(1.0, 6.0 / n)))
    seed = draw(st.integers(0, 2**16))
    labels = draw(st.sampled_from(["int", "str", "tuple"]))
    dag = nx.gnp_random_graph(n, p, seed=seed, directed=True)
    dag = nx.DiGraph((u, v) for u, v in dag.edges if u < v)
    dag.add_nodes_from(range(n))
    # shuffle the node order so that it is not a topological order
    import random

    order = list(range(n))
    random.Random(seed).shuffle(order)
    shuffled = nx.DiGraph()
    shuffled.add_nodes_from(order)
    shuffled.add_edges_from(dag.edges)
    relabel = {"int": lambda v: v, "str": lambda v: f"n{v}", "tuple": lambda v: (v // 10, v % 10)}[labels]
    return nx.relabel_nodes(shuffled, {v: relabel(v) for v in shuffled.nodes})


_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(random_dags())
def test_graph_to_model_to_graph_is_the_identity(dag):
    structure = MaskedDeepDAN(3, 2, dag).generate_structure()
    assert list(structure.nodes) == list(dag.nodes)
    assert set(structure.edges) == set(dag.edges)


@_settings
@given(random_dags(), st.floats(0.0, 1.0))
def test_pruning_then_extracting_gives_exactly_the_unmasked_edges(dag, amount):
    model = MaskedDeepDAN(3, 2, dag)
    edge_layers = {name: w for name, w in weight_snapshot(model).items() if name.startswith("layers.")}
    if edge_layers:
        masks = masks_by_amount(edge_layers, amount)
        for name, mask in masks.items():
            model.get_submodule(name).mask = mask
    kept = set()
    for g, block in enumerate(model.layers, start=1):
        for s, t, m in zip(block.source.tolist(), block.target.tolist(), block.mask.tolist(), strict=True):
            if m:
                kept.add((model.node_at_row(s), model.node_at_row(t + model.layer_bounds[g])))
    structure = model.generate_structure()
    assert set(structure.edges) == kept
    assert set(structure.nodes) == set(dag.nodes)
    expected_kept = dag.number_of_edges() - round(amount * dag.number_of_edges())
    assert structure.number_of_edges() == expected_kept


@_settings
@given(random_dags())
def test_every_vertex_has_a_path_to_the_output(dag):
    model = MaskedDeepDAN(3, 2, dag)
    full = model.generate_structure(include_input=True, include_output=True)
    outputs = [("output", j) for j in range(2)]
    reaches = set(outputs)
    for out in outputs:
        reaches |= nx.ancestors(full, out)
    assert set(dag.nodes) <= reaches
    assert depth(model.structure) == model.num_layers
