"""Extraction of the CNNs people use (issue 13): rearrangements, refusals that say where, pruned weights,
scalar factors, merge kinds, the estimate, stochastic depth, the default size guard."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

import workbench.transform.core as core
from workbench.errors import ExtractionError, GraphTooLargeError
from workbench.transform import GraphTransform, ResNet18


def stochastic_depth(input, p, mode, training=True):  # a stand-in for torchvision.ops.stochastic_depth
    if not training or p == 0.0:
        return input
    keep = torch.empty([input.shape[0]] + [1] * (input.dim() - 1)).bernoulli_(1 - p)
    return input * keep / (1 - p)


stochastic_depth.__module__ = "torchvision.ops.stochastic_depth"  # what torchvision's function says
torch.fx.wrap("stochastic_depth")  # as torchvision does: fx records a call, it does not trace into it


def _edges(arrays) -> dict:
    pairs = zip(arrays.source.tolist(), arrays.target.tolist(), arrays.weight.tolist(), strict=True)
    return {(s, t): w for s, t, w in pairs}


def _block(arrays, name):
    return next(b for b in arrays.blocks if b.name == name)


# -- rearrangements ---------------------------------------------------------------------------------


class ChannelShuffle(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1, bias=False)

    def forward(self, x):
        x = self.conv(x)
        n, c, h, w = x.shape
        return x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w).sum(dim=(2, 3))


@pytest.mark.parametrize("granularity", ["neuron", "channel", "module"])
def test_contiguous_is_a_rearrangement(granularity):
    arrays = GraphTransform(torch.randn(1, 4, 2, 2), granularity=granularity).transform_arrays(ChannelShuffle())
    assert [b.kind for b in arrays.blocks] == ["input", "Conv2d", "sum"]
    if granularity == "channel":
        conv, total = arrays.blocks[1:]
        into_sum = {(s - conv.start, t - total.start) for (s, t) in _edges(arrays) if t >= total.start}
        assert into_sum == {(0, 0), (2, 1), (1, 2), (3, 3)}  # channel c of the output is channel (c % 2) * 2 + c // 2


# -- refusals name the module and the op ----------------------------------------------------------


def _refusal(model, x, match) -> ExtractionError:
    with pytest.raises(ExtractionError, match=match) as info:
        GraphTransform(x).transform_arrays(model)
    assert info.value.module is not None and info.value.op  # every refusal says where
    return info.value


def test_a_transformer_encoder_layer_is_refused_naming_the_attention():
    error = _refusal(nn.TransformerEncoderLayer(8, 2, 16), torch.randn(1, 5, 8), r"module 'self_attn' \(Multihead")
    assert error.module == "self_attn" and "multi_head_attention_forward" in error.op


def test_an_embedding_is_refused_as_a_lookup_not_as_a_cast():
    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.fc = nn.Embedding(10, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(self.emb(x.long()))

    error = _refusal(Tokens(), torch.zeros(1, 3), r"Embedding at 'emb' looks up rows .* by the values of its input")
    assert error.module == "emb" and "long" not in str(error)


def test_a_data_dependent_branch_says_where_it_is():
    class Gate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            h = self.fc(x)
            if h.mean() > 0:  # the line the message quotes
                return h
            return -h

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 4), Gate())

        def forward(self, x):
            return self.body(x)

    error = _refusal(Net(), torch.randn(1, 4), r"control flow.*module 'body.1' \(Gate\).*if h.mean\(\) > 0")
    assert error.module == "body.1" and error.op == "Tensor.__bool__"


def test_a_rearrangement_torch_refuses_is_an_extraction_error():
    class Bad(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(6, 6)

        def forward(self, x):  # fails in PyTorch as well: a refusal all the same
            return self.fc(x).view(-1, 2, 3).transpose(1, 2).view(-1, 6)

    error = _refusal(Bad(), torch.randn(1, 6), r"RuntimeError: view size is not compatible.*'view_1' \(Tensor.view\)")
    assert error.module == ""


def test_refusals_of_modules_name_them():
    model = nn.Sequential(nn.Linear(3, 4), nn.LSTM(4, 2))
    error = _refusal(model, torch.randn(1, 3), r"unsupported module LSTM at '1'.*module '1' \(LSTM\), op LSTM")
    assert (error.module, error.op) == ("1", "LSTM")


# -- weights ----------------------------------------------------------------------------------------


def test_weights_pruned_with_torch_prune_are_read_fresh():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2))
    prune.l1_unstructured(net[0], "weight", amount=0.5)
    prune.l1_unstructured(net[2], "weight", amount=0.5)
    x = torch.randn(4, 1, 3, 3)
    F.mse_loss(net(x), torch.randn(4, 2)).backward()
    torch.optim.SGD(net.parameters(), lr=1.0).step()  # weight_orig moves; weight is stale until the next forward
    expected = (net[0].weight_orig * net[0].weight_mask).detach()
    assert not torch.equal(net[0].weight, expected)
    arrays = GraphTransform(x).transform_arrays(net)
    first, second = _block(arrays, "0").start, _block(arrays, "2").start
    conv = [w for (s, t), w in _edges(arrays).items() if first <= t < second]
    np.testing.assert_allclose(sorted(conv), sorted(expected[expected != 0].tolist()), rtol=1e-6)
    assert len(conv) == int(net[0].weight_mask.sum())


def test_scalar_factors_multiply_the_weights_they_reach():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)
            self.c = nn.Linear(2, 1)

        def forward(self, x):
            h = 0.5 * self.a(x) + self.b(x) / 4  # merge weights 0.5 and 0.25
            return self.c(-h)  # linear weights times -1

    torch.manual_seed(0)
    model = Scaled()
    arrays = GraphTransform(torch.randn(1, 3)).transform_arrays(model)
    edges = _edges(arrays)
    a, b, add, c = (_block(arrays, n) for n in ("a", "b", "add", "c"))
    assert {w for (s, t), w in edges.items() if a.start <= s < a.start + 2 and t >= add.start} == {0.5}
    assert {w for (s, t), w in edges.items() if b.start <= s < b.start + 2 and t >= add.start} == {0.25}
    into_c = sorted(w for (s, t), w in edges.items() if t == c.start)
    np.testing.assert_allclose(into_c, sorted((-model.c.weight.detach()).flatten().tolist()))


def test_merges_called_as_methods_have_plain_kind_names():
    class Methods(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.a(x).add(self.b(x)).mul(self.a(x))

    arrays = GraphTransform(torch.randn(1, 2)).transform_arrays(Methods())
    assert [b.kind for b in arrays.blocks if b.name.startswith(("add", "mul"))] == ["add", "mul"]


def test_stochastic_depth_is_the_identity():
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)

        def forward(self, x):
            return x + stochastic_depth(self.conv(x), 0.2, "row", self.training)

    model = Residual().train()
    graph = GraphTransform(torch.randn(1, 2, 4, 4), granularity="module").transform(model)
    assert set(graph.edges) == {("input", "conv"), ("input", "add"), ("conv", "add")}
    assert model.training


# -- the estimate and the default guard ------------------------------------------------------------


@pytest.mark.parametrize("granularity", ["neuron", "channel", "module"])
def test_the_estimate_of_a_resnet_on_small_maps_is_within_half_again(granularity):
    torch.manual_seed(0)
    model = ResNet18(width=4, num_classes=5).eval()
    x = torch.randn(1, 3, 16, 16)  # the last stage runs on 1 x 1 maps
    estimate = GraphTransform(x, granularity=granularity).estimate(model)
    built = GraphTransform(x, granularity=granularity).transform_arrays(model).num_edges
    assert built <= estimate.edges <= 1.5 * built


def test_a_graph_larger_than_memory_is_refused_by_default(monkeypatch):
    model = ResNet18()  # 1.7 billion neuron edges on 224 x 224 images
    x = torch.zeros(1, 3, 224, 224)
    with pytest.raises(GraphTooLargeError, match=r"about 1\d{9} edges.*max_bytes='auto'; None builds it anyway"):
        GraphTransform(x).transform(model)
    monkeypatch.setattr(core, "available_memory", lambda: 10_000)
    small = nn.Sequential(nn.Linear(100, 100), nn.Linear(100, 100))
    with pytest.raises(GraphTooLargeError, match="0.0 MB of memory available"):
        GraphTransform(torch.zeros(1, 100)).transform_arrays(small)
    arrays = GraphTransform(torch.zeros(1, 100), max_bytes=None).transform_arrays(small)  # the opt-out
    assert arrays.num_edges == 20_000
    with pytest.raises(ExtractionError, match="max_bytes must be a number of bytes, 'auto' or None, got 'big'"):
        GraphTransform(x, max_bytes="big")
