"""Oracle for whole CNN blocks: every extracted edge and weight is a direct autograd Jacobian entry.

The blocks are our own definitions of the structures of common CNNs (a
ShuffleNet unit with its channel shuffle, a ResNet basic block with a
downsampling shortcut, depthwise-separable and inverted-residual blocks, an
Inception-style concat, a DenseNet-style dense block), run on small maps too,
where kernel taps fall into padding.

The oracle runs a linearised copy of the block (ReLUs and batch norms as the
identity, max pooling as a sum over its window: what the graph draws) with a
forward hook on every structural op that returns ``output.detach() + z`` for a
zero tensor ``z``. The Jacobian of an op's output with respect to the ``z`` of
an earlier op is then the *direct* dependence between their neurons, through
rearrangements only: its nonzero entries are the neuron edges and their
values the edge weights. Channel and module edges follow: an edge wherever
some neuron edge joins the two vertices, weighted by the L2 norm of the
distinct weights of those neuron edges.
"""

from __future__ import annotations

import copy
from collections import defaultdict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.functional import jacobian

from workbench.transform import GraphTransform


class Add(nn.Module):
    """``a + b`` as a module, so that the oracle's hooks see the merge (the extraction traces through it)."""

    def forward(self, a, b):
        return a + b


class SumPool(nn.Module):
    """Max pooling read as its window: the sum of the window (padding adds nothing)."""

    def __init__(self, pool: nn.MaxPool2d) -> None:
        super().__init__()
        self.kernel, self.stride, self.padding, self.ceil = pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel, self.stride, self.padding, self.ceil, True, divisor_override=1)


def conv_bn(cin, cout, k, stride=1, groups=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([nn.ReLU()] if relu else []))


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit (stride 1): split the channels, transform one half, concatenate, shuffle."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        half = channels // 2
        self.branch = nn.Sequential(
            conv_bn(half, half, 1), conv_bn(half, half, 3, groups=half, relu=False), conv_bn(half, half, 1)
        )

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        x = torch.cat([a, self.branch(b)], dim=1)
        n, c, h, w = x.shape
        return x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


class BasicBlock(nn.Module):
    """ResNet basic block with a strided, projected shortcut."""

    def __init__(self, cin: int = 4, cout: int = 6) -> None:
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride=2)
        self.conv2 = conv_bn(cout, cout, 3, relu=False)
        self.down = conv_bn(cin, cout, 1, stride=2, relu=False)
        self.add, self.relu = Add(), nn.ReLU()

    def forward(self, x):
        return self.relu(self.add(self.conv2(self.conv1(x)), self.down(x)))


class DepthwiseSeparable(nn.Module):
    """MobileNetV1 block: depthwise 3x3, then pointwise 1x1."""

    def __init__(self, cin: int = 4, cout: int = 6) -> None:
        super().__init__()
        self.depthwise = conv_bn(cin, cin, 3, stride=2, groups=cin)
        self.pointwise = conv_bn(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand 1x1, depthwise 3x3, linear projection 1x1, scaled residual."""

    def __init__(self, channels: int = 4, expand: int = 3) -> None:
        super().__init__()
        hidden = channels * expand
        self.expand = conv_bn(channels, hidden, 1)
        self.depthwise = conv_bn(hidden, hidden, 3, groups=hidden)
        self.project = conv_bn(hidden, channels, 1, relu=False)
        self.add = Add()

    def forward(self, x):
        return self.add(x, 0.5 * self.project(self.depthwise(self.expand(x))))


class InceptionBlock(nn.Module):
    """Parallel 1x1, 3x3, 5x5 and pooled 1x1 branches, concatenated."""

    def __init__(self, cin: int = 3) -> None:
        super().__init__()
        self.b1 = conv_bn(cin, 2, 1)
        self.b3 = nn.Sequential(conv_bn(cin, 2, 1), conv_bn(2, 3, 3))
        self.b5 = nn.Sequential(conv_bn(cin, 1, 1), conv_bn(1, 2, 5))
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.bp = conv_bn(cin, 2, 1)

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(self.pool(x))], dim=1)


class DenseBlock(nn.Module):
    """DenseNet block: every layer reads all earlier feature maps, concatenated; then a transition."""

    def __init__(self, cin: int = 3, growth: int = 2, layers: int = 3) -> None:
        super().__init__()
        widths = [cin + i * growth for i in range(layers)]
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, growth, 3, padding=1)) for c in widths
        )
        self.transition = nn.Sequential(nn.Conv2d(cin + layers * growth, 4, 1), nn.MaxPool2d(2, ceil_mode=True))
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(4, 3)

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        h = self.transition(torch.cat(features, dim=1))
        return self.fc(torch.flatten(self.pool(h), 1))


BLOCKS = {
    "shufflenet unit": (ShuffleUnit, 8),
    "resnet basic block, downsampling": (BasicBlock, 4),
    "depthwise separable": (DepthwiseSeparable, 4),
    "inverted residual": (InvertedResidual, 4),
    "inception concat": (InceptionBlock, 3),
    "densenet dense block": (DenseBlock, 3),
}
SIZES = [(1, 1), (2, 3), (5, 5)]
_STRUCTURAL = (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, Add, SumPool)


def _linearised(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model).double().eval()
    for parent in list(twin.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU | nn.BatchNorm2d):
                setattr(parent, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(parent, name, SumPool(child))
    return twin


def neuron_oracle(model: nn.Module, x: torch.Tensor) -> tuple[list[tuple[int, ...]], dict]:
    """``(output shape of every op, input first; {((op, element), (op, element)): weight})``."""
    twin = _linearised(model)
    shapes: list[tuple[int, ...]] = [tuple(x.shape[1:])]
    modules = [m for m in twin.modules() if isinstance(m, _STRUCTURAL)]

    def run(*zs):
        raws, extra = [], iter(zs[1:])

        def hook(module, args, output):
            raws.append(output)
            return output.detach() + next(extra)

        handles = [m.register_forward_hook(hook) for m in modules]
        try:
            twin(zs[0])
        finally:
            for h in handles:
                h.remove()
        return tuple(raws)

    with torch.no_grad():
        outputs = run(x, *[0.0] * 1000)  # shapes of every op's output (a float adds nothing)
    shapes += [tuple(o.shape[1:]) for o in outputs]
    zs = (x, *(torch.zeros_like(o) for o in outputs))
    jac = jacobian(run, zs, vectorize=True)  # jac[i][j]: d raw_i / d z_j
    edges = {}
    for i, row in enumerate(jac):
        for j, block in enumerate(row):
            matrix = block.reshape(int(np.prod(shapes[i + 1])), int(np.prod(shapes[j]))).numpy()
            for b, a in zip(*np.nonzero(matrix), strict=True):
                edges[(j, int(a)), (i + 1, int(b))] = float(matrix[b, a])
    return shapes, edges


def coarse_oracle(shapes, neuron_edges, arrays) -> dict:
    """Channel or module edges of the neuron oracle, in the extraction's vertex ids."""

    def vertex(op: int, element: int) -> int:
        block = arrays.blocks[op]
        if block.unit == "module":
            return block.start
        shape = shapes[op]
        channel = np.unravel_index(element, shape)[block.channel_dim % len(shape)] if shape else 0
        return block.start + int(channel)

    weights: dict = defaultdict(set)
    for (u, v), w in neuron_edges.items():
        weights[vertex(*u), vertex(*v)].add(w)
    return {edge: float(np.sqrt(sum(w * w for w in values))) for edge, values in weights.items()}


def extracted(arrays) -> dict:
    return {
        (int(s), int(t)): float(w)
        for s, t, w in zip(arrays.source.tolist(), arrays.target.tolist(), arrays.weight.tolist(), strict=True)
    }


def _build(name: str, size: tuple[int, int]):
    make, channels = BLOCKS[name]
    torch.manual_seed(0)
    model = make().double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):  # batch norm is element-wise: its statistics must not matter
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return model, torch.randn(2, channels, *size, dtype=torch.float64)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_neuron_edges_and_weights_are_the_direct_jacobian(name, size):
    model, x = _build(name, size)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    shapes, oracle = neuron_oracle(model, x[:1])
    arrays = GraphTransform(x).transform_arrays(model)
    assert [b.shape for b in arrays.blocks] == shapes
    ids = {(op, e): arrays.blocks[op].start + e for op in range(len(shapes)) for e in range(int(np.prod(shapes[op])))}
    expected = {(ids[u], ids[v]): w for (u, v), w in oracle.items()}
    found = extracted(arrays)
    assert found.keys() == expected.keys()
    np.testing.assert_allclose([found[e] for e in expected], list(expected.values()), rtol=1e-6)  # float32 pool factors
    estimate = GraphTransform(x).estimate(model)
    assert estimate.edges == arrays.num_edges  # exact: no constants in these inputs
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize("granularity", ["channel", "module"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_coarse_edges_join_vertices_that_some_neuron_edge_joins(name, size, granularity):
    model, x = _build(name, size)
    shapes, oracle = neuron_oracle(model, x[:1])
    arrays = GraphTransform(x, granularity=granularity).transform_arrays(model)
    expected = coarse_oracle(shapes, oracle, arrays)
    found = extracted(arrays)
    assert found.keys() == expected.keys()
    np.testing.assert_allclose([found[e] for e in expected], list(expected.values()), rtol=1e-6)  # float32 pool factors
    estimate = GraphTransform(x, granularity=granularity).estimate(model)
    assert arrays.num_edges <= estimate.edges <= 1.5 * arrays.num_edges + 1
