"""Oracle: the neuron-level edges are the sparsity pattern of the autograd Jacobian of each op."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.functional import jacobian

from workbench.transform import GraphTransform


def jacobian_edges(fn, x: torch.Tensor, src_start: int = 0, dst_start: int = 0) -> set[tuple[int, int]]:
    """``{(src_start + i, dst_start + j)}`` where ``d fn(x)_j / d x_i != 0`` for one sample ``x`` ``[1, ...]``."""
    jac = jacobian(fn, x.double())  # [1, *out, 1, *in]
    n_in = x[0].numel()
    jac = jac.reshape(-1, n_in)  # [out, in]
    rows, cols = np.nonzero(jac.numpy())
    return set(zip((cols + src_start).tolist(), (rows + dst_start).tolist(), strict=True))


def extracted_edges(model: nn.Module, x: torch.Tensor) -> set[tuple[int, int]]:
    arrays = GraphTransform(x).transform_arrays(model)
    return set(zip(arrays.source.tolist(), arrays.target.tolist(), strict=True))


def _zero_some(module: nn.Module, seed: int = 0) -> nn.Module:
    """Zero about a third of the weights: zero weights must give no edge."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = module.weight
        w.mul_((torch.rand(w.shape, generator=gen) > 0.33).to(w.dtype))
    return module.double()


SINGLE_OPS = {
    "conv2d non-square input and kernel, padding": (lambda: nn.Conv2d(2, 3, (3, 2), padding=(2, 1)), (2, 5, 7)),
    "conv2d strided": (lambda: nn.Conv2d(2, 2, 3, stride=(2, 3), padding=1), (2, 7, 8)),
    "conv2d dilated": (lambda: nn.Conv2d(1, 2, (2, 3), dilation=(2, 2), padding=(1, 2)), (1, 6, 7)),
    "conv2d grouped": (lambda: nn.Conv2d(4, 6, 3, groups=2, padding=1, bias=False), (4, 5, 4)),
    "conv2d depthwise strided dilated": (lambda: nn.Conv2d(3, 3, 3, groups=3, stride=2, dilation=2), (3, 9, 8)),
    "conv2d padding same": (lambda: nn.Conv2d(2, 2, (4, 3), padding="same"), (2, 6, 5)),
    "conv2d reflect padding": (lambda: nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect"), (1, 5, 6)),
    "conv2d circular padding": (lambda: nn.Conv2d(1, 2, 3, padding=(1, 2), padding_mode="circular"), (1, 5, 6)),
    "conv1d strided padded": (lambda: nn.Conv1d(2, 3, 4, stride=2, padding=3, dilation=1), (2, 11)),
    "conv1d grouped dilated": (lambda: nn.Conv1d(4, 2, 3, groups=2, dilation=3), (4, 12)),
    "linear": (lambda: nn.Linear(7, 5), (7,)),
    "linear on a sequence": (lambda: nn.Linear(4, 3), (3, 4)),
}

POOLS = {
    "avg pool 2d": (nn.AvgPool2d(2), (2, 4, 6)),
    "avg pool 2d strided padded, no pad count": (
        nn.AvgPool2d((3, 2), stride=(2, 1), padding=1, count_include_pad=False),
        (2, 5, 4),
    ),
    "avg pool 2d ceil mode": (nn.AvgPool2d(2, ceil_mode=True), (1, 5, 5)),
    "avg pool 1d": (nn.AvgPool1d(3, stride=2, padding=1), (2, 9)),
    "adaptive avg pool 2d": (nn.AdaptiveAvgPool2d((2, 3)), (2, 5, 7)),
    "adaptive avg pool 1d": (nn.AdaptiveAvgPool1d(4), (3, 10)),
}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")  # torch's own note
@pytest.mark.parametrize("name", sorted(SINGLE_OPS))
def test_weighted_op_edges_are_the_jacobian_pattern(name):
    make, shape = SINGLE_OPS[name]
    torch.manual_seed(0)
    op = _zero_some(make())
    x = torch.randn(1, *shape, dtype=torch.float64)
    n_in = math.prod(shape)
    assert extracted_edges(op, x) == jacobian_edges(op, x, 0, n_in)


@pytest.mark.parametrize("name", sorted(POOLS))
def test_average_pooling_edges_and_weights_are_the_jacobian(name):
    op, shape = POOLS[name]
    x = torch.randn(1, *shape, dtype=torch.float64)
    n_in = math.prod(shape)
    arrays = GraphTransform(x).transform_arrays(op)
    assert set(zip(arrays.source.tolist(), arrays.target.tolist(), strict=True)) == jacobian_edges(op, x, 0, n_in)
    jac = jacobian(op, x).reshape(-1, n_in).numpy()  # [out, in]
    np.testing.assert_allclose(arrays.weight, jac[arrays.target - n_in, arrays.source], rtol=1e-6)


def test_max_pooling_connects_whole_windows():
    """Max pooling is drawn structurally: every window element, not just the argmax the Jacobian picks."""
    op = nn.MaxPool2d(3, stride=2, padding=1, dilation=1)
    x = torch.randn(1, 1, 5, 6)
    avg = nn.AvgPool2d(3, stride=2, padding=1)  # same windows, the Jacobian sees all of them
    assert extracted_edges(op, x) == jacobian_edges(avg, x, 0, 30)


class ResidualBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.conv2 = nn.Conv2d(2, 2, (1, 3), padding=(0, 1), bias=False)

    def forward(self, x):
        h = F.relu(self.bn(self.conv1(x)))
        return torch.relu(x + self.conv2(h))


def test_residual_block_is_the_union_of_the_jacobians_of_its_ops():
    torch.manual_seed(0)
    model = ResidualBlock().double()
    _zero_some(model.conv1)
    _zero_some(model.conv2, seed=1)
    model.eval()
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64)
    arrays = GraphTransform(x).transform_arrays(model)
    starts = {b.name: b.start for b in arrays.blocks}
    assert list(starts) == ["input", "conv1", "conv2", "add"]
    h = torch.randn(1, 2, 4, 5, dtype=torch.float64)
    expected = (
        jacobian_edges(model.conv1, x, starts["input"], starts["conv1"])
        | jacobian_edges(model.conv2, h, starts["conv1"], starts["conv2"])
        | jacobian_edges(lambda a: a + h, x, starts["input"], starts["add"])
        | jacobian_edges(lambda b: x + b, h, starts["conv2"], starts["add"])
    )
    assert set(zip(arrays.source.tolist(), arrays.target.tolist(), strict=True)) == expected
    assert arrays.num_vertices == 4 * 40


class CatFlattenNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 2, 2)
        self.b = nn.Conv2d(1, 1, 2, stride=2)
        self.fc = nn.Linear(2 * 3 * 3 + 1 * 2 * 2, 3)

    def forward(self, x):
        left = self.a(x).flatten(1)
        right = torch.flatten(self.b(x), 1)
        return self.fc(torch.cat([left, right], dim=1))


def test_cat_and_flatten_route_vertices_to_the_linear_layer():
    torch.manual_seed(0)
    model = CatFlattenNet().double()
    _zero_some(model.fc)
    x = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    arrays = GraphTransform(x).transform_arrays(model)
    starts = {b.name: b.start for b in arrays.blocks}
    # the linear layer's inputs are the conv outputs in cat order: a's 18 vertices, then b's 4
    feats = torch.randn(1, 22, dtype=torch.float64)
    expected_fc = {
        (u + starts["a"] if u < 18 else u - 18 + starts["b"], v)
        for u, v in jacobian_edges(model.fc, feats, 0, starts["fc"])
    }
    edges = set(zip(arrays.source.tolist(), arrays.target.tolist(), strict=True))
    assert {e for e in edges if e[1] >= starts["fc"]} == expected_fc
    expected_a = jacobian_edges(model.a, x, 0, starts["a"])
    assert {e for e in edges if starts["a"] <= e[1] < starts["b"]} == expected_a


def test_conv3d_edges_are_the_jacobian_pattern():
    torch.manual_seed(0)
    op = _zero_some(nn.Conv3d(2, 2, (2, 3, 2), stride=(1, 2, 1), padding=(1, 0, 1), dilation=(2, 1, 1)))
    x = torch.randn(1, 2, 4, 5, 3, dtype=torch.float64)
    assert extracted_edges(op, x) == jacobian_edges(op, x, 0, x[0].numel())


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv(x)), 2, ceil_mode=True)
        h = F.avg_pool2d(h, 3, stride=1, padding=1, count_include_pad=False)
        h = F.adaptive_avg_pool2d(h, (2, 1))
        return self.fc(h.mean(dim=(2, 3)))


class Modules(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.max = nn.MaxPool2d(2, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
        self.adaptive = nn.AdaptiveAvgPool2d((2, 1))
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = self.adaptive(self.avg(self.max(torch.relu(self.conv(x)))))
        return self.fc(torch.mean(h, (2, 3)))


def test_functional_calls_give_the_graph_of_the_modules():
    torch.manual_seed(0)
    functional, modules = Functional(), Modules()
    modules.conv.load_state_dict(functional.conv.state_dict())
    modules.fc.load_state_dict(functional.fc.state_dict())
    x = torch.randn(2, 2, 5, 7)
    a = GraphTransform(x).transform_arrays(functional)
    b = GraphTransform(x).transform_arrays(modules)
    for name in ("source", "target", "weight"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # the mean over (2, 3) of a [3, 2, 1] map feeds each output channel from its 2 positions, weight 1/2
    mean = next(blk for blk in a.blocks if blk.name.startswith("mean"))
    into_mean = a.target >= mean.start
    into_mean &= a.target < mean.start + mean.size
    assert into_mean.sum() == 6 and np.allclose(a.weight[into_mean], 0.5)


def test_merge_weights_are_the_jacobian_of_the_merge():
    class Diff(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x) - self.b(x)

    x = torch.randn(1, 3)
    arrays = GraphTransform(x).transform_arrays(Diff())
    starts = {b.name: b.start for b in arrays.blocks}
    into = arrays.target >= starts["sub"]
    edges = zip(arrays.source[into].tolist(), arrays.target[into].tolist(), arrays.weight[into].tolist(), strict=True)
    found = {(s, t): w for s, t, w in edges}
    jac_a, jac_b = jacobian(lambda a, b: a - b, (torch.zeros(1, 2), torch.zeros(1, 2)))  # [1, 2, 1, 2] each
    expected = {}
    for block, jac in (("a", jac_a), ("b", jac_b)):
        for j, i in zip(*np.nonzero(jac.reshape(2, 2).numpy()), strict=True):
            expected[(starts[block] + int(i), starts["sub"] + int(j))] = float(jac.reshape(2, 2)[j, i])
    assert found == expected
