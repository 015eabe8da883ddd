"""DeepCellDAN: one module per vertex, built by the user's cell constructor."""

import networkx as nx
import torch
from torch import nn

from workbench.sparse import DeepCellDAN


def test_cell_constructor_sees_each_vertex_and_the_model_runs():
    calls = []

    def cell(is_input, is_output, in_degree, out_degree, layer, input_channel_size):
        calls.append((is_input, is_output, in_degree, out_degree, layer))
        channels_in = input_channel_size if is_input else 4
        return nn.Sequential(nn.Conv2d(channels_in, 4, 3, padding=1), nn.ReLU())

    structure = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)])
    model = DeepCellDAN(5, 3, cell, structure)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 5)
    assert sorted(calls) == sorted(
        [(True, False, 0, 3, 0), (False, False, 1, 1, 1), (False, False, 1, 1, 1), (False, True, 3, 0, 2)]
    )


def test_cells_sum_their_predecessors():
    class Scale(nn.Module):
        def __init__(self, factor):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

    factors = iter([2.0, 3.0, 5.0])

    def cell(is_input, is_output, in_degree, out_degree, layer, channels):
        return Scale(next(factors))

    model = DeepCellDAN(1, 1, cell, nx.DiGraph([("a", "b"), ("a", "c"), ("b", "c")]))
    x = torch.ones(1, 1, 2, 2)
    model(x)  # materialise the lazy classifier
    with torch.no_grad():
        model.classifier.weight.fill_(1.0)
        model.classifier.bias.zero_()
    # a = 2x, b = 3a = 6x, c = 5 (a + b) = 40x; the only sink is c
    torch.testing.assert_close(model(x), torch.tensor([[40.0]]))
