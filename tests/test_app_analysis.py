"""Pure helpers the panels share (workbench.app.state.analysis): weights by edge, dead vertices, titles, counts."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

from workbench.app.state.analysis import (
    dead_vertices,
    edge_weights,
    graph_counts,
    layer_title,
    pruned_parameter_count,
    trainable_parameters,
)
from workbench.pruning import current_masks, masks_by_amount, weight_snapshot
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN, named_maskable_layers
from workbench.transform import GraphTransform


def dan() -> MaskedDeepDAN:
    torch.manual_seed(0)
    return MaskedDeepDAN(3, 2, nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d")]))


def test_dead_vertices():
    g = nx.DiGraph([("i", "a"), ("a", "o"), ("i", "b"), ("c", "o")])
    assert dead_vertices(g, ["i"], ["o"]) == {"b", "c"}
    assert dead_vertices(g, ["i"], []) == set(g.nodes)
    assert dead_vertices(g, ["i", "missing"], ["o"]) == {"b", "c"}


def test_graph_counts():
    assert graph_counts(nx.DiGraph()) == {"vertices": 0, "edges": 0, "depth": 0}
    assert graph_counts(nx.DiGraph([(0, 1), (1, 2), (0, 2)])) == {"vertices": 3, "edges": 3, "depth": 3}


@pytest.mark.parametrize("make", [dan, lambda: MaskedDeepFFN(3, 2, [4])], ids=["dan", "ffn"])
def test_edge_weights_cover_every_extracted_edge(make):
    model = make()
    graph = GraphTransform(torch.zeros(1, 3)).transform(model)
    weights = edge_weights(model)
    assert set(graph.edges) <= set(weights)
    assert len(weights) == sum(layer.weight.numel() for _, layer in named_maskable_layers(model))


def test_edge_weights_are_the_parameters_of_a_dan():
    model = dan()
    weights = edge_weights(model)
    source, target, w = model.edge_arrays(masked=False)
    nodes = list(model.structure.nodes)
    for u, v, x in zip(source.tolist(), target.tolist(), w.tolist(), strict=True):
        assert weights[(nodes[u], nodes[v])] == pytest.approx(x)
    row = next(r for r in range(model.input_layer.out_features) if model.node_at_row(r) == "a")
    assert weights[(("input", 2), "a")] == pytest.approx(float(model.input_layer.weight.detach()[row, 2]))
    assert weights[("d", ("output", 1))] == pytest.approx(float(model.output_layer.weight.detach()[1, 0]))


def test_edge_weights_of_a_feed_forward_net_follow_its_extraction_labels():
    model = MaskedDeepFFN(3, 2, [4])
    weights = edge_weights(model)
    assert weights[(0, 3)] == pytest.approx(float(model.layers[0].weight.detach()[0, 0]))  # input 0 -> hidden 0
    assert weights[(6, 8)] == pytest.approx(float(model.layers[1].weight.detach()[1, 3]))  # hidden 3 -> output 1


def test_layer_titles_say_which_column_connections_go_into():
    model = dan()
    assert [layer_title(n, model) for n, _ in named_maskable_layers(model)] == [
        "inputs → 1",
        "→ 2",
        "→ 3",
        "→ outputs",
    ]
    ffn = MaskedDeepFFN(3, 2, [4, 4])
    assert [layer_title(n, ffn) for n, _ in named_maskable_layers(ffn)] == ["inputs → 1", "1 → 2", "2 → outputs"]
    assert layer_title("something", ffn) == "something"


def test_parameter_counts_leave_out_masked_weights():
    model = dan()
    total = trainable_parameters(model)
    assert total == sum(p.numel() for p in model.parameters())
    assert pruned_parameter_count(model, current_masks(model)) == total
    masks = masks_by_amount(weight_snapshot(model), 5)
    assert pruned_parameter_count(model, masks) == total - 5
