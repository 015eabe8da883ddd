"""The seed library's public API beyond its documented examples (issue 13).

Written from the seed documents in ``shared/seeds`` and from the behaviour of
``deepstruct==0.10.0``; each test names the seed's call it mirrors.
"""

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

import workbench.graph as wbg
from workbench.errors import GraphError, MaskError, ModelError
from workbench.graph import CachedLayeredGraph, LayeredGraph, build_layer_index
from workbench.pruning import PruningStrategy, prune_network_by_saliency, set_random_masks, set_random_saliency
from workbench.sparse import (
    ACTIVATIONS,
    MaskedConv2d,
    MaskedDeepDAN,
    MaskedDeepFFN,
    MaskedLinearLayer,
    dan_parameter_count,
    maskable_layers,
)

# --------------------------------------------------------------------------- graphs


@pytest.mark.parametrize("suffix", [".graphml", ".json", ".xml"])
def test_layered_graph_save_and_load_round_trip(tmp_path, suffix):
    graph = LayeredGraph.load_from(nx.grid_2d_graph(2, 3), "bfs")
    graph.nodes[(0, 0)]["role"] = "corner"
    path = tmp_path / f"grid{suffix}"
    graph.save(path)
    back = LayeredGraph.load(path)
    assert isinstance(back, CachedLayeredGraph)
    assert list(back.nodes) == list(graph.nodes) and list(back.edges) == list(graph.edges)
    assert back.nodes[(0, 0)]["role"] == "corner"
    assert back.layer_sizes == graph.layer_sizes
    assert isinstance(CachedLayeredGraph.load(path), CachedLayeredGraph)


def test_a_graph_file_written_by_the_seed_loads(tmp_path):
    """The seed's ``save`` relabels vertices 0..n-1 and calls ``nx.write_graphml``."""
    dag = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "c")])
    nx.write_graphml(nx.relabel_nodes(dag, {v: i for i, v in enumerate(dag.nodes)}), tmp_path / "seed.graphml")
    back = LayeredGraph.load(tmp_path / "seed.graphml")
    assert sorted(back.edges) == [("0", "1"), ("0", "2"), ("1", "2")]
    assert back.num_layers == 3


def test_loading_an_undirected_file_says_how_to_orient_it(tmp_path):
    nx.write_graphml(nx.path_graph(3), tmp_path / "path.graphml")
    with pytest.raises(GraphError, match="undirected.*load_from"):
        LayeredGraph.load(tmp_path / "path.graphml")


def test_build_layer_index_gives_layers_and_vertices_by_layer():
    graph = nx.DiGraph([(0, 1), (1, 2), (0, 2), (3, 2), (2, 4), (5, 6)])
    layers, by_layer = build_layer_index(graph)
    assert layers == {0: 0, 1: 1, 2: 2, 3: 0, 4: 3, 5: 0, 6: 1}  # what deepstruct 0.10.0 returns
    assert by_layer == {0: [0, 3, 5], 1: [1, 6], 2: [2], 3: [4]}
    cache = {0: 5}  # the seed's cache argument: a vertex already in it keeps its layer
    assert build_layer_index(graph, cache)[0][1] == 6 and cache[4] == 8
    assert build_layer_index(nx.DiGraph()) == ({}, {})


def test_layered_graph_seed_queries():
    graph = LayeredGraph.load_from(nx.DiGraph([(0, 1), (1, 2), (0, 2)]))
    assert (graph.first_layer, graph.last_layer, graph.get_layer(2)) == (0, 2, 2)
    assert graph.layer_connected(0, 2) and graph.layer_connection_size(2, 0) == 1
    assert graph.layer_connection_size(0, 1) == 1
    with pytest.raises(GraphError, match="two different layers"):
        graph.layer_connected(1, 1)


# --------------------------------------------------------------------------- pruning


def test_set_random_masks_through_module_apply():
    torch.manual_seed(0)
    model = MaskedDeepFFN(20, 5, [30, 30])
    model.apply(set_random_masks)
    for layer in maskable_layers(model):
        assert layer.mask.dtype == torch.bool
        assert 0.35 < layer.density < 0.65
    set_random_masks(nn.ReLU())  # other modules are left alone
    a, b = MaskedLinearLayer(8, 8), MaskedLinearLayer(8, 8)
    set_random_masks(a, generator=torch.Generator().manual_seed(1))
    set_random_masks(b, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.mask, b.mask)


def test_random_saliency_prunes_at_random_and_respects_masks():
    torch.manual_seed(0)
    model = MaskedDeepFFN(30, 5, [40])
    first = model.layers[0]
    first.mask = torch.rand_like(first.weight) > 0.2
    before = first.mask.clone()
    set_random_saliency(model, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first.saliency == 0, ~before | (first.saliency == 0))
    prune_network_by_saliency(model, 50, strategy=PruningStrategy.PERCENTAGE)
    assert not (first.mask & ~before).any()  # a masked weight stays masked
    # random saliency: the kept weights are not the largest magnitudes
    kept = first.weight.detach().abs()[first.mask]
    pruned = first.weight.detach().abs()[before & ~first.mask]
    assert kept.min() < pruned.max()
    first.saliency = None  # back to |weight|
    assert torch.equal(first.saliency, first.weight.detach().abs())
    with pytest.raises(MaskError, match=r"saliency of shape \(3,\).*\(40, 30\)"):
        first.saliency = torch.ones(3)


def test_magnitude_pruning_is_unchanged_without_saliency():
    torch.manual_seed(0)
    model = MaskedDeepFFN(10, 3, [10])
    prune_network_by_saliency(model, 50)
    weights = torch.cat([layer.weight.detach().abs().flatten() for layer in maskable_layers(model)])
    masks = torch.cat([layer.mask.flatten() for layer in maskable_layers(model)])
    assert weights[masks].min() >= weights[~masks].max()


# --------------------------------------------------------------------------- models


def test_maskable_children_is_an_iterable_property():
    model = MaskedDeepFFN(4, 2, [3, 3])
    layers = [layer for layer in model.maskable_children]
    assert layers == maskable_layers(model) and len(layers) == 3


def test_dan_with_layer_norm_normalises_every_generation():
    torch.manual_seed(0)
    graph = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d"), ("x", "c")])
    model = MaskedDeepDAN(3, 2, graph, use_layer_norm=True)
    assert [norm.normalized_shape for norm in model.norms] == [(2,), (2,), (1,)]
    assert sum(p.numel() for p in model.parameters()) == dan_parameter_count(graph, 3, 2, use_layer_norm=True)
    x = torch.randn(5, 3)
    with torch.no_grad():
        for norm in model.norms:
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    # by hand: generation 0 = (a, x), 1 = (b, c), 2 = (d)
    w = {}
    for g, block in enumerate(model.layers, start=1):
        for i in range(block.weight.numel()):
            tail = model.node_at_row(int(block.source[i]))
            head = model.node_at_row(model.layer_bounds[g] + int(block.target[i]))
            w[tail, head] = block.weight[i]
    h0 = torch.relu(model.norms[0](model.input_layer(x)))  # [B, 2]: a, x
    a, xx = h0[:, 0], h0[:, 1]
    b1, b2 = model.layers[0].bias, model.layers[1].bias
    pre1 = torch.stack([w["a", "b"] * a + b1[0], w["a", "c"] * a + w["x", "c"] * xx + b1[1]], 1)
    h1 = torch.relu(model.norms[1](pre1))
    pre2 = (w["b", "d"] * h1[:, 0] + w["c", "d"] * h1[:, 1] + w["a", "d"] * a + b2[0]).unsqueeze(1)
    d = torch.relu(model.norms[2](pre2))
    expected = model.output_layer(d)  # the only sink
    torch.testing.assert_close(model(x), expected)
    assert not MaskedDeepDAN(3, 2, graph).norms  # no norms unless asked


def test_float64_inputs_run_through_float32_models_and_float64_models_stay_float64():
    graph = LayeredGraph.load_from(nx.balanced_tree(2, 2), "bfs")
    x = torch.tensor(np.random.default_rng(0).normal(size=(3, 6)))  # float64, as numpy gives
    for model in (MaskedDeepFFN(6, 2, [4]), MaskedDeepDAN(6, 2, graph)):
        out = model(x)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, model(x.float()))
        assert model.double()(x.float()).dtype == torch.float64
    assert MaskedDeepFFN(6, 2, [4])(torch.ones(2, 6, dtype=torch.int64)).dtype == torch.float32


# --------------------------------------------------------------------------- activations and seeds


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_by_name(name):
    graph = nx.DiGraph([(0, 1)])
    for model in (MaskedDeepFFN(3, 2, [4], activation=name), MaskedDeepDAN(3, 2, graph, activation=name)):
        assert type(model.activation) is ACTIVATIONS[name]
        assert model(torch.randn(2, 3)).shape == (2, 2)
    assert type(MaskedDeepFFN(3, 2, [4], activation=nn.Tanh).activation) is nn.Tanh  # a class, as before


def test_an_unknown_activation_names_itself_and_the_choices():
    with pytest.raises(ModelError, match=r"unknown activation 'swish'; choose one of relu, leaky_relu, tanh"):
        MaskedDeepFFN(3, 2, [4], activation="swish")
    with pytest.raises(ModelError, match="unknown activation 'Relu'"):
        MaskedDeepDAN(3, 2, nx.DiGraph([(0, 1)]), activation="Relu")
    with pytest.raises(ModelError, match="an nn.Module class, got 3"):
        MaskedDeepFFN(3, 2, [4], activation=3)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind", ["ffn", "dan", "dan-norm"])
def test_a_seed_gives_bit_identical_weights_and_leaves_the_global_rng_alone(kind):
    graph = wbg.watts_strogatz(30, 4, 0.3, seed=1)

    def build(seed):
        if kind == "ffn":
            return MaskedDeepFFN(8, 3, [16, 8], True, seed=seed)
        return MaskedDeepDAN(8, 3, graph, kind == "dan-norm", seed=seed)

    torch.manual_seed(123)
    rng = torch.get_rng_state()
    first, second, other = _state(build(7)), _state(build(7)), _state(build(8))
    assert torch.equal(torch.get_rng_state(), rng)  # building seeded models drew nothing from it
    assert _same(first, second)
    assert not _same(first, other)
    model = build(None)
    rng = torch.get_rng_state()
    model.reset_parameters(seed=7)
    assert torch.equal(torch.get_rng_state(), rng)
    assert _same(_state(model), first)


def test_reset_parameters_with_a_seed_keeps_masks_when_asked_and_covers_plain_layers():
    model = MaskedDeepFFN(6, 2, [5], seed=0)
    model.layers[0].mask = torch.rand(5, 6) > 0.5
    mask = model.layers[0].mask.clone()
    rng = torch.get_rng_state()
    model.reset_parameters(keep_mask=True, seed=3)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(model.layers[0].mask, mask)
    after = _state(model)
    model.reset_parameters(keep_mask=True, seed=3)
    assert _same(_state(model), after)
    model.reset_parameters(seed=3)
    assert model.layers[0].mask.all()
    # a plain conv inside a maskable model is seeded as well
    net = MaskedDeepFFN(2, 2, [2])
    net.extra = nn.Conv2d(1, 2, 3)
    net.conv = MaskedConv2d(1, 2, 3)
    net.reset_parameters(seed=5)
    snapshot = _state(net)
    net.reset_parameters(seed=5)
    assert _same(_state(net), snapshot)


def test_a_dan_with_layer_norm_survives_a_checkpoint(tmp_path):
    from workbench.io import load_checkpoint, save_checkpoint

    model = MaskedDeepDAN(4, 2, nx.DiGraph([(0, 1), (0, 2), (1, 2)]), use_layer_norm=True, activation="tanh", seed=0)
    with torch.no_grad():
        model.norms[1].weight.fill_(2.0)
    save_checkpoint(model, tmp_path / "dan.pt")
    loaded, _ = load_checkpoint(tmp_path / "dan.pt")
    assert loaded.use_layer_norm and isinstance(loaded.activation, nn.Tanh)
    x = torch.randn(3, 4)
    assert torch.equal(loaded(x), model(x))
