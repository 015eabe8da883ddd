"""DeepCellDAN: one module per vertex, built by the user's cell constructor."""

import networkx as nx
import pytest
import torch
from torch import nn

from workbench.errors import ModelError
from workbench.sparse import DeepCellDAN


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def _unit_classifier(model, x):
    model(x)  # materialise the lazy classifier
    with torch.no_grad():
        model.classifier.weight.fill_(1.0)
        model.classifier.bias.zero_()


def test_cell_constructor_sees_each_vertex_and_the_model_runs():
    calls = []

    def cell(is_input, is_output, in_degree, out_degree, layer, input_channel_size):
        calls.append((is_input, is_output, in_degree, out_degree, layer))
        channels_in = input_channel_size if is_input else 4 * in_degree  # predecessors' channels, concatenated
        return nn.Sequential(nn.Conv2d(channels_in, 4, 3, padding=1), nn.ReLU())

    structure = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)])
    model = DeepCellDAN(5, 3, cell, structure)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 5)
    assert sorted(calls) == sorted(
        [(True, False, 0, 3, 0), (False, False, 1, 1, 1), (False, False, 1, 1, 1), (False, True, 3, 0, 2)]
    )


class Record(nn.Module):
    """Returns one channel: its input's channels weighted 1, 10, 100, ... (so the order shows)."""

    def __init__(self, name, seen):
        super().__init__()
        self.name, self.seen = name, seen

    def forward(self, x):
        self.seen[self.name] = x.shape[1]
        weights = 10.0 ** torch.arange(x.shape[1], dtype=x.dtype).reshape(1, -1, 1, 1)
        return (x * weights).sum(1, keepdim=True)


def test_cells_concatenate_their_predecessors_in_predecessor_order():
    """The paper's convention: a cell reads in_degree channels when every cell gives one channel."""
    structure = nx.DiGraph()
    structure.add_nodes_from(["s", "a", "b", "t"])
    structure.add_edges_from([("s", "b"), ("s", "a"), ("b", "t"), ("a", "t"), ("s", "t")])
    assert list(structure.predecessors("t")) == ["b", "a", "s"]
    seen, factors = {}, {"s": 1.0, "a": 2.0, "b": 3.0}
    names = iter(nx.topological_sort(structure))  # cells are built in this order

    def cell(is_input, is_output, in_degree, out_degree, layer, channels):
        name = next(names)
        return Record(name, seen) if name == "t" else Scale(factors[name])

    model = DeepCellDAN(1, 1, cell, structure)
    x = torch.ones(1, 1, 2, 2)
    _unit_classifier(model, x)
    out = model(x)
    assert seen["t"] == 3  # in_degree channels
    assert list(model.structure.predecessors("t")) == ["b", "a", "s"]
    # s = 1, a = 2 s = 2, b = 3 s = 3; t reads [b, a, s] = [3, 2, 1] weighted 1, 10, 100 (mean over 2x2)
    torch.testing.assert_close(out, torch.tensor([[3.0 + 20.0 + 100.0]]))


def test_the_papers_reduction_cells_build_and_run():
    class ReductionCell(nn.Module):  # a 5x5 convolution, ReLU and batch norm, as the paper describes
        def __init__(self, channels_in, channels_out):
            super().__init__()
            self.conv = nn.Conv2d(channels_in, channels_out, 5)
            self.bn = nn.BatchNorm2d(channels_out)

        def forward(self, x):
            return self.bn(torch.relu(self.conv(x)))

    def my_cell_constructor(is_input, is_output, in_degree, out_degree, layer, input_channel_size):
        return ReductionCell(input_channel_size, 1) if is_input else ReductionCell(in_degree, 1)

    structure = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)])  # 3 reads cells of two spatial sizes
    model = DeepCellDAN(10, 3, my_cell_constructor, structure)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_cells_can_sum_their_predecessors():
    factors = iter([2.0, 3.0, 5.0])

    def cell(is_input, is_output, in_degree, out_degree, layer, channels):
        return Scale(next(factors))

    model = DeepCellDAN(1, 1, cell, nx.DiGraph([("a", "b"), ("a", "c"), ("b", "c")]), merge="sum")
    x = torch.ones(1, 1, 2, 2)
    _unit_classifier(model, x)
    # a = 2x, b = 3a = 6x, c = 5 (a + b) = 40x; the only sink is c
    torch.testing.assert_close(model(x), torch.tensor([[40.0]]))
    with pytest.raises(ModelError, match="'mean'.*concat, sum"):
        DeepCellDAN(1, 1, cell, nx.DiGraph([("a", "b")]), merge="mean")


def test_a_float64_input_runs_through_a_float32_cell_network():
    def cell(is_input, is_output, in_degree, out_degree, layer, channels):
        return nn.Conv2d(channels if is_input else in_degree, 1, 1)

    model = DeepCellDAN(2, 1, cell, nx.DiGraph([(0, 1)]))
    assert model(torch.randn(2, 1, 4, 4, dtype=torch.float64)).dtype == torch.float32
