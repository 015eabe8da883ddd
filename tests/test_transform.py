"""GraphTransform on this package's models: exact counts, labels, attributes, an unchanged model, errors."""

from __future__ import annotations

import copy
import pickle

import networkx as nx
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from workbench.errors import ExtractionError, GraphTooLargeError
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN, maskable_layers
from workbench.transform import CONV_SAMPLES, EdgeAttrs, GraphTransform, conv_sample

SKIP_DAG = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("a", "d"), ("e", "d")])


def _prune_randomly(model: nn.Module, keep: float = 0.5, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for layer in maskable_layers(model):
        layer.mask = torch.rand(layer.mask.shape, generator=gen) < keep


def _edge_set(graph: nx.DiGraph) -> set:
    return set(graph.edges)


# -- exact counts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("pruned", [False, True])
def test_ffn_one_vertex_per_neuron_one_edge_per_unmasked_weight(pruned):
    torch.manual_seed(0)
    model = MaskedDeepFFN(6, 3, [5, 4])
    if pruned:
        _prune_randomly(model)
    graph = GraphTransform(torch.randn(2, 6)).transform(model)
    assert graph.number_of_nodes() == 6 + 5 + 4 + 3
    expected = sum(int(layer.mask.sum()) for layer in model.layers)
    assert graph.number_of_edges() == expected
    if not pruned:
        assert expected == 6 * 5 + 5 * 4 + 4 * 3
    design = model.generate_structure(include_input=True, include_output=True)
    assert set(graph.nodes) == set(design.nodes)
    assert _edge_set(graph) == _edge_set(design)


@pytest.mark.parametrize("pruned", [False, True])
def test_dan_vertices_carry_the_design_labels(pruned):
    torch.manual_seed(0)
    model = MaskedDeepDAN(3, 2, SKIP_DAG)
    if pruned:
        _prune_randomly(model, keep=0.6, seed=3)
    graph = GraphTransform(torch.randn(4, 3)).transform(model)
    design = model.generate_structure(include_input=True, include_output=True)
    assert set(graph.nodes) == set(design.nodes)
    assert set(graph.nodes) == {*SKIP_DAG.nodes, ("input", 0), ("input", 1), ("input", 2), ("output", 0), ("output", 1)}
    assert _edge_set(graph) == _edge_set(design)
    masks = sum(int(layer.mask.sum()) for layer in maskable_layers(model))
    assert graph.number_of_edges() == masks
    if not pruned:
        sources, sinks = 2, 1  # a, e feed from the input; d is the only sink
        assert masks == 3 * sources + SKIP_DAG.number_of_edges() + sinks * 2


def test_an_unmasked_zero_weight_is_an_edge_a_masked_weight_is_not():
    model = MaskedDeepFFN(2, 1, [2])
    with torch.no_grad():
        model.layers[0].weight.zero_()
    model.layers[1].mask = torch.tensor([[True, False]])
    graph = GraphTransform(torch.randn(1, 2)).transform(model)
    assert graph.number_of_edges() == 4 + 1
    assert graph.edges[0, 2]["weight"] == 0.0
    assert not graph.has_edge(3, 4)


def test_zero_weights_of_plain_layers_give_no_edge():
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight[0, 1] = 0.0
    graph = GraphTransform(torch.randn(1, 3)).transform(layer)
    assert graph.number_of_edges() == 5
    assert not graph.has_edge(1, 3)


def test_no_hidden_threshold_and_an_explicit_one():
    model = MaskedDeepFFN(3, 2, [2])
    with torch.no_grad():
        model.layers[0].weight.fill_(1e-6)
        model.layers[1].weight.fill_(0.5)
    assert GraphTransform(torch.randn(1, 3)).transform(model).number_of_edges() == 6 + 4
    assert GraphTransform(torch.randn(1, 3), threshold=1e-3).transform(model).number_of_edges() == 4


@pytest.mark.parametrize("shape", [(6,), (1, 6), (7, 6)])
def test_batch_size_of_the_example_does_not_matter(shape):
    torch.manual_seed(0)
    model = MaskedDeepFFN(6, 2, [4])
    reference = GraphTransform(torch.randn(3, 6)).transform(model)
    graph = GraphTransform(torch.randn(*shape)).transform(model)
    assert nx.utils.graphs_equal(graph, reference)


def test_batch_size_does_not_matter_for_a_cnn():
    model = small_cnn()
    one = GraphTransform(torch.randn(1, 1, 8, 8)).transform_arrays(model)
    many = GraphTransform(torch.randn(9, 1, 8, 8)).transform_arrays(model)
    assert one.num_vertices == many.num_vertices == 64 + 4 * 64 + 4 * 16 + 8 * 16 + 8 + 10
    np.testing.assert_array_equal(one.source, many.source)
    np.testing.assert_array_equal(one.target, many.target)


# -- attributes -------------------------------------------------------------------------------------


def test_edge_and_vertex_attributes():
    torch.manual_seed(0)
    model = MaskedDeepFFN(3, 2, [4])
    graph = GraphTransform(torch.randn(1, 3)).transform(model)
    w1 = model.layers[1].weight.detach()
    data = graph.edges[3 + 2, 3 + 4 + 1]  # hidden neuron 2 -> output 1
    assert data == {"weight": pytest.approx(float(w1[1, 2])), "module": "layers.1", "index": 1 * 4 + 2}
    assert graph.nodes[0] == {"module": "input", "layer": 0, "position": 0}
    assert graph.nodes[3 + 4 + 1] == {"module": "layers.1", "layer": 2, "position": 1}
    assert graph.graph["granularity"] == "neuron"


def test_conv_vertices_have_tuple_positions_and_kernel_indices():
    conv = nn.Conv2d(1, 2, 2).requires_grad_(False)
    graph = GraphTransform(torch.randn(1, 1, 3, 3)).transform(conv)
    out = 9 + 1 * 4 + 0 * 2 + 1  # channel 1, row 0, column 1
    assert graph.nodes[out] == {"module": "Conv2d", "layer": 1, "position": (1, 0, 1)}
    data = graph.edges[0 * 3 + 2, out]  # input (0, 2) is kernel element (1, 0, 0, 1) of output (1, 0, 1)
    assert data["index"] == int(np.ravel_multi_index((1, 0, 0, 1), conv.weight.shape))
    assert data["weight"] == pytest.approx(float(conv.weight[1, 0, 0, 1]))


def test_lazy_edge_data_behaves_like_a_dict():
    torch.manual_seed(0)
    model = MaskedDeepFFN(3, 2, [2])
    lazy = GraphTransform(torch.randn(1, 3)).transform(model)
    plain = GraphTransform(torch.randn(1, 3), edge_data="dict").transform(model)
    assert nx.utils.graphs_equal(lazy, plain)
    data = lazy.edges[0, 3]
    assert isinstance(data, EdgeAttrs)
    assert lazy.pred[3][0] == data
    data["color"] = "red"
    data["weight"] = 2.0
    del data["index"]
    assert dict(lazy.edges[0, 3]) == {"weight": 2.0, "module": "layers.0", "color": "red"}
    assert dict(lazy.pred[3][0]) == dict(lazy.edges[0, 3])  # both rows read the same edge
    assert {**lazy.succ[0]}[3] == lazy.edges[0, 3]
    with pytest.raises(KeyError, match="index"):
        del data["index"]
    copied = lazy.copy()
    assert type(copied.edges[0, 3]) is dict
    assert copied.edges[0, 3] == {"weight": 2.0, "module": "layers.0", "color": "red"}
    restored = pickle.loads(pickle.dumps(lazy))
    assert nx.utils.graphs_equal(restored, lazy)
    assert nx.to_numpy_array(lazy, weight="weight").shape == (7, 7)
    bare = GraphTransform(torch.randn(1, 3), edge_data="none").transform(model)
    assert _edge_set(bare) == _edge_set(plain) and bare.edges[0, 3] == {}


@pytest.mark.parametrize("edge_data", ["lazy", "dict"])
def test_adjacency_rows_share_the_vertex_labels(edge_data):
    # a fresh int per adjacency entry (ids above 256 are not cached) costs 32 bytes an edge on each side
    torch.manual_seed(0)
    model = MaskedDeepFFN(300, 2, [300])
    graph = GraphTransform(torch.randn(1, 300), edge_data=edge_data).transform(model)
    nodes = {id(u) for u in graph}
    assert all(id(v) in nodes for row in graph._succ.values() for v in row)
    assert all(id(u) in nodes for row in graph._pred.values() for u in row)


def test_arrays_and_sparse_matrix_agree_with_the_graph():
    torch.manual_seed(0)
    model = MaskedDeepFFN(5, 2, [4, 3])
    _prune_randomly(model)
    transform = GraphTransform(torch.randn(1, 5))
    arrays = transform.transform_arrays(model)
    graph = transform.transform(model)
    assert set(zip(arrays.source.tolist(), arrays.target.tolist(), strict=True)) == _edge_set(graph)
    assert arrays.modules == ("layers.0", "layers.1", "layers.2")
    assert arrays.module_of(int(arrays.offsets[1])) == "layers.1"
    matrix = transform.transform_sparse(model)
    assert matrix.shape == (14, 14) and matrix.nnz == graph.number_of_edges()
    u, v = next(iter(graph.edges))
    assert matrix[u, v] == pytest.approx(graph.edges[u, v]["weight"])


def test_estimate_counts_before_building():
    model = MaskedDeepFFN(6, 2, [4])
    estimate = GraphTransform(torch.randn(1, 6)).estimate(model)
    assert (estimate.vertices, estimate.edges) == (12, 32)
    assert estimate.networkx_bytes > estimate.array_bytes > 0


# -- the model is left alone ------------------------------------------------------------------------


def _snapshot(model: nn.Module):
    state = {k: v.clone() for k, v in model.state_dict(keep_vars=False).items()}
    modes = [m.training for m in model.modules()]
    dicts = [sorted(m.__dict__) for m in model.modules()]
    return state, modes, dicts


def _assert_unchanged(model: nn.Module, before) -> None:
    state, modes, dicts = before
    after = model.state_dict()
    assert after.keys() == state.keys()
    for key, value in state.items():
        assert after[key].dtype == value.dtype
        assert torch.equal(after[key], value), key
    assert [m.training for m in model.modules()] == modes
    assert [sorted(m.__dict__) for m in model.modules()] == dicts
    assert all("forward" not in m.__dict__ for m in model.modules())


@pytest.mark.parametrize("granularity", ["neuron", "channel", "module"])
@pytest.mark.parametrize("which", ["ffn", "dan", "cnn"])
def test_model_is_unchanged_bit_for_bit(which, granularity):
    torch.manual_seed(0)
    if which == "ffn":
        model, x = MaskedDeepFFN(5, 2, [4], use_layer_norm=True), torch.randn(3, 5)
        _prune_randomly(model)
    elif which == "dan":
        model, x = MaskedDeepDAN(3, 2, SKIP_DAG), torch.randn(3, 3)
        _prune_randomly(model)
    else:
        model, x = small_cnn(batch_norm=True), torch.randn(3, 1, 8, 8)
    model.train()
    model.layers[0].eval() if which == "ffn" else None
    before = _snapshot(model)
    GraphTransform(x, granularity=granularity).transform(model)
    GraphTransform(x, granularity=granularity).transform_arrays(model)
    _assert_unchanged(model, before)


# -- channel and module granularity -----------------------------------------------------------------


def small_cnn(batch_norm: bool = False) -> nn.Sequential:
    """1x8x8 -> conv(4, 3x3, pad 1) -> pool 2 -> conv(8, 3x3, pad 1) -> pool 2 -> flatten -> linear 10."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4) if batch_norm else nn.Identity(),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1, groups=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


def test_channel_graph_of_a_small_cnn_by_hand():
    model = small_cnn()
    with torch.no_grad():
        model[4].weight[5, 1].zero_()  # out channel 5 (group 1) loses in channel 2 + 1 = 3
        model[8].weight[:, 7] = 0.0  # feature 7 feeds nothing
    graph = GraphTransform(torch.randn(2, 1, 8, 8), granularity="channel").transform(model)
    # vertices: input 1 channel, conv0 4, pool 4, conv4 8, adaptive pool 8, linear 10
    assert graph.number_of_nodes() == 1 + 4 + 4 + 8 + 8 + 10
    inp, conv0, pool, conv4, gap, fc = 0, 1, 5, 9, 17, 25
    expected = {(inp, conv0 + c) for c in range(4)}
    expected |= {(conv0 + c, pool + c) for c in range(4)}
    expected |= {(pool + g * 2 + i, conv4 + g * 4 + o) for g in range(2) for i in range(2) for o in range(4)}
    expected.discard((pool + 3, conv4 + 5))
    expected |= {(conv4 + c, gap + c) for c in range(8)}
    expected |= {(gap + c, fc + j) for c in range(7) for j in range(10)}
    assert _edge_set(graph) == expected
    kernel = model[4].weight[2, 1].detach()
    assert graph.edges[pool + 1, conv4 + 2]["weight"] == pytest.approx(float(kernel.norm()))
    assert graph.nodes[conv4 + 3] == {"module": "4", "layer": 3, "position": 3}


def test_module_graph_of_a_residual_cnn():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(1, 2, 3, padding=1)
            self.body = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 1))
            self.head = nn.Linear(2, 3)

        def forward(self, x):
            x = F.relu(self.stem(x))
            x = x + self.body(x)
            return self.head(x.mean((2, 3)))

    graph = GraphTransform(torch.randn(1, 1, 5, 5), granularity="module").transform(Net())
    assert set(graph.nodes) == {"input", "stem", "body.0", "body.2", "add", "mean", "head"}
    assert _edge_set(graph) == {
        ("input", "stem"),
        ("stem", "body.0"),
        ("body.0", "body.2"),
        ("body.2", "add"),
        ("stem", "add"),
        ("add", "mean"),
        ("mean", "head"),
    }
    assert graph.nodes["head"]["layer"] == 6


def test_module_graph_of_an_ffn_weights_are_layer_norms():
    torch.manual_seed(0)
    model = MaskedDeepFFN(4, 2, [3])
    _prune_randomly(model)
    graph = GraphTransform(torch.randn(1, 4), granularity="module").transform(model)
    assert list(graph.edges) == [("input", "layers.0"), ("layers.0", "layers.1")]
    w = (model.layers[1].weight * model.layers[1].mask).detach()
    assert graph.edges["layers.0", "layers.1"]["weight"] == pytest.approx(float(w.norm()))


# -- errors -----------------------------------------------------------------------------------------


def test_limits_refuse_with_the_estimate_and_a_coarser_granularity():
    model = MaskedDeepFFN(100, 10, [50])
    with pytest.raises(GraphTooLargeError, match=r"about 5500 edges.*max_edges=1000.*granularity='channel'"):
        GraphTransform(torch.randn(1, 100), max_edges=1000).transform(model)
    with pytest.raises(GraphTooLargeError, match=r"max_bytes=1000; try granularity='module'"):
        GraphTransform(torch.randn(1, 100), granularity="channel", max_bytes=1000).transform_arrays(model)


def test_unsupported_module_is_named():
    model = nn.Sequential(nn.Linear(3, 4), nn.LSTM(4, 2))
    with pytest.raises(ExtractionError, match="unsupported module LSTM at '1'"):
        GraphTransform(torch.randn(1, 3)).transform(model)


def test_unsupported_function_is_named():
    class Net(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, 1)

    with pytest.raises(ExtractionError, match="unsupported function cumsum"):
        GraphTransform(torch.randn(1, 3)).transform(Net())


def test_data_dependent_control_flow_is_refused():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x) if x.sum() > 0 else self.b(x)

    model = Net()
    before = _snapshot(model)
    with pytest.raises(ExtractionError, match="control flow"):
        GraphTransform(torch.randn(1, 3)).transform(model)
    _assert_unchanged(model, before)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"granularity": "layer"}, "granularity must be one of .* got 'layer'"),
        ({"edge_data": "full"}, "edge_data must be one of .* got 'full'"),
        ({"threshold": -1.0}, "threshold must be a non-negative number or None, got -1.0"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ExtractionError, match=match):
        GraphTransform(torch.randn(1, 3), **kwargs)


def test_input_that_does_not_fit_the_model():
    with pytest.raises(ExtractionError, match=r"random_input of shape \(1, 5\) does not fit MaskedDeepFFN"):
        GraphTransform(torch.randn(1, 5)).transform(MaskedDeepFFN(4, 2, [3]))
    with pytest.raises(ExtractionError, match=r"needs a batch dimension.*\(3,\)"):
        GraphTransform(torch.randn(3)).transform(nn.Linear(3, 2))


def test_extraction_of_a_deep_copy_is_the_same():
    torch.manual_seed(0)
    model = MaskedDeepDAN(3, 2, SKIP_DAG)
    _prune_randomly(model)
    a = GraphTransform(torch.randn(1, 3)).transform(model)
    b = GraphTransform(torch.randn(1, 3)).transform(copy.deepcopy(model))
    assert nx.utils.graphs_equal(a, b)


# -- the eager fallback -----------------------------------------------------------------------------


class ShapeBranch(nn.Module):
    """``if x.dim() > 2`` stops torch.fx; the eager fallback follows it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 3)
        self.conv = nn.Conv1d(1, 2, 2)
        self.bn = nn.BatchNorm1d(2)

    def forward(self, x):
        if x.dim() > 2:
            x = x.flatten(1)
        h = F.relu(self.fc(x))
        return self.bn(self.conv(h.unsqueeze(1))) * 2


class NoBranch(ShapeBranch):
    def forward(self, x):
        h = F.relu(self.fc(x.flatten(1)))
        return self.bn(self.conv(h.unsqueeze(1))) * 2


@pytest.mark.parametrize("granularity", ["neuron", "channel", "module"])
def test_fallback_gives_the_graph_fx_gives(granularity):
    torch.manual_seed(0)
    model = ShapeBranch()
    model.train()
    twin = NoBranch()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(4, 2, 3)
    before = _snapshot(model)
    eager = GraphTransform(x, granularity=granularity).transform(model)
    _assert_unchanged(model, before)
    traced = GraphTransform(x, granularity=granularity).transform(twin)
    assert nx.utils.graphs_equal(eager, traced)
    assert eager.number_of_edges() > 0


def test_fallback_follows_a_deep_cell_dan():
    from workbench.sparse import DeepCellDAN

    def cell(is_input, is_output, in_degree, out_degree, layer, channels):
        return nn.Sequential(nn.Conv2d(channels if is_input else 4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())

    torch.manual_seed(0)
    model = DeepCellDAN(5, 3, cell, nx.DiGraph([(0, 1), (0, 2)]))
    model(torch.randn(2, 3, 6, 6))  # materialises the lazy classifier
    before = _snapshot(model)
    graph = GraphTransform(torch.randn(2, 3, 6, 6), granularity="module").transform(model)
    _assert_unchanged(model, before)
    assert _edge_set(graph) == {  # a cell reads its predecessors concatenated: no vertex in between
        ("input", "cells.0.0"),
        ("cells.0.0", "cells.1.0"),
        ("cells.0.0", "cells.2.0"),
        ("cells.1.0", "mean"),
        ("cells.2.0", "mean_1"),
        ("mean", "classifier"),
        ("mean_1", "classifier"),
    }


@pytest.mark.parametrize("which", ["ffn", "dan", "cnn-module"])
def test_lazy_graph_works_with_networkx(which, tmp_path):
    import json

    torch.manual_seed(0)
    if which == "ffn":
        model, x, granularity = MaskedDeepFFN(4, 2, [3]), torch.randn(1, 4), "neuron"
        _prune_randomly(model)
    elif which == "dan":
        model, x, granularity = MaskedDeepDAN(3, 2, SKIP_DAG), torch.randn(1, 3), "neuron"
        _prune_randomly(model, keep=0.7)
    else:
        model, x, granularity = small_cnn(), torch.randn(1, 1, 8, 8), "module"
    lazy = GraphTransform(x, granularity=granularity).transform(model)
    plain = GraphTransform(x, granularity=granularity, edge_data="dict").transform(model)
    assert nx.utils.graphs_equal(lazy, plain)
    assert sorted(lazy.edges(data="weight"), key=str) == sorted(plain.edges(data="weight"), key=str)
    assert nx.utils.graphs_equal(lazy.reverse(), plain.reverse())
    assert nx.utils.graphs_equal(lazy.subgraph(list(lazy)[:5]), plain.subgraph(list(plain)[:5]))
    link = json.dumps(nx.node_link_data(lazy, edges="links"), default=str)
    assert json.loads(link)["links"]
    nx.write_graphml(lazy.copy(), tmp_path / "g.graphml")  # plain dicts after copy
    u, v = next(iter(lazy.edges))
    lazy.add_edge(u, v, color="blue")
    assert lazy.edges[u, v]["color"] == "blue" and lazy.pred[v][u]["color"] == "blue"
    lazy.remove_edge(u, v)
    assert not lazy.has_edge(u, v) and u not in lazy.pred[v]
    lazy.add_edge(u, v)
    assert lazy.edges[u, v] == {}  # a new edge, as networkx makes it


@pytest.mark.parametrize("name", sorted(CONV_SAMPLES))
@pytest.mark.parametrize("granularity", ["channel", "module"])
def test_conv_samples_extract_at_coarse_granularity(name, granularity):
    model, example = conv_sample(name)
    graph = GraphTransform(example, granularity=granularity).transform(model)
    assert nx.is_directed_acyclic_graph(graph)
    sources = [v for v, d in graph.in_degree() if d == 0]
    assert len(sources) == 1 and graph.nodes[sources[0]]["module"] == "input"
    assert graph.number_of_edges() > 0


def test_unknown_conv_sample():
    with pytest.raises(ExtractionError, match="unknown convolutional sample 'vgg'"):
        conv_sample("vgg")


def test_uninitialised_lazy_module_is_named():
    with pytest.raises(ExtractionError, match="LazyLinear at '0' is not initialised yet"):
        GraphTransform(torch.randn(1, 4)).transform(nn.Sequential(nn.LazyLinear(3)))


def test_a_dan_inside_a_model_keeps_its_design_labels_under_its_name():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.dan = MaskedDeepDAN(2 * 4 * 4, 3, nx.DiGraph([("x", "y"), ("y", "z")]))

        def forward(self, x):
            return self.dan(torch.relu(self.conv(x)).view(x.size(0), -1))

    model = Net()
    graph = GraphTransform(torch.randn(2, 1, 6, 6)).transform(model)
    assert {("dan", "x"), ("dan", "y"), ("dan", "z")} <= set(graph.nodes)
    conv_out = range(36, 36 + 32)
    assert {u for u, v in graph.in_edges(("dan", "x"))} == set(conv_out)
    assert graph.number_of_edges() == 2 * 9 * 16 + 32 + 2 + 3


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 30),
    p=st.floats(0.0, 0.5),
    keep=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    granularity=st.sampled_from(["neuron", "channel"]),
)
def test_dan_extraction_is_generate_structure_on_random_dags(n, p, keep, seed, granularity):
    """A DAN's neuron (= channel) graph is exactly its unmasked design, inputs and outputs included."""
    dag = nx.DiGraph(nx.gnp_random_graph(n, p, seed=seed, directed=True).edges)
    dag = nx.DiGraph((u, v) for u, v in dag.edges if u < v)
    dag.add_nodes_from(range(n))
    torch.manual_seed(seed)
    model = MaskedDeepDAN(3, 2, dag)
    _prune_randomly(model, keep=keep, seed=seed)
    graph = GraphTransform(torch.randn(1, 3), granularity=granularity).transform(model)
    design = model.generate_structure(include_input=True, include_output=True)
    assert set(graph.nodes) == set(design.nodes)
    assert _edge_set(graph) == _edge_set(design)


def test_arrays_are_compact_unless_asked():
    model = MaskedDeepFFN(3, 2, [2])
    compact = GraphTransform(torch.randn(1, 3)).transform_arrays(model)
    wide = GraphTransform(torch.randn(1, 3)).transform_arrays(model, compact=False)
    assert compact.source.dtype == compact.index.dtype == np.int32
    assert wide.source.dtype == wide.target.dtype == wide.index.dtype == np.int64
    np.testing.assert_array_equal(compact.source, wide.source)
