"""MaskedDeepFFN: shapes, masks, and the structure it generates."""

import pytest
import torch

from workbench.errors import GraphError
from workbench.sparse import MaskedDeepFFN, maskable_layers


@pytest.mark.parametrize("size_input", [784, (1, 28, 28), torch.Size([1, 28, 28])])
def test_input_size_as_int_tuple_or_size(size_input):
    model = MaskedDeepFFN(size_input, 10, [100, 100])
    x = torch.randn(3, 784) if size_input == 784 else torch.randn(3, 1, 28, 28)
    assert model(x).shape == (3, 10)


def test_layer_norm_and_unbatched_input():
    model = MaskedDeepFFN(5, 2, [4, 3], use_layer_norm=True)
    assert sum(isinstance(m, torch.nn.LayerNorm) for m in model.modules()) == 2
    assert model(torch.randn(5)).shape == (2,)


def test_gradients_of_masked_weights_are_zero():
    torch.manual_seed(0)
    model = MaskedDeepFFN(6, 3, [5, 4])
    for layer in maskable_layers(model):
        layer.mask = torch.rand(layer.weight.shape) > 0.5
    model(torch.randn(8, 6)).sum().backward()
    for layer in maskable_layers(model):
        assert torch.all(layer.weight.grad[~layer.mask] == 0)


def test_generate_structure_counts_and_keeps_fully_masked_neurons():
    model = MaskedDeepFFN(4, 2, [3, 5])
    graph = model.generate_structure()
    assert graph.number_of_nodes() == 3 + 5
    assert graph.number_of_edges() == 3 * 5
    mask = model.layers[1].mask.clone()
    mask[:, 0] = False  # hidden neuron 0 of the first hidden layer loses every out-edge
    mask[2, :] = False  # neuron 2 of the second loses every in-edge
    model.layers[1].mask = mask
    graph = model.generate_structure()
    assert graph.number_of_nodes() == 8, "fully masked neurons must stay as vertices"
    assert graph.out_degree(0) == 0
    assert graph.in_degree(3 + 2) == 0
    assert graph.number_of_edges() == int(mask.sum())


def test_generate_structure_with_input_and_output():
    model = MaskedDeepFFN(4, 2, [3])
    graph = model.generate_structure(include_input=True, include_output=True)
    assert graph.number_of_nodes() == 4 + 3 + 2
    assert graph.number_of_edges() == 4 * 3 + 3 * 2
    assert [graph.nodes[v]["layer"] for v in (0, 4, 7)] == [0, 1, 2]
    assert all(graph.has_edge(i, 4 + j) for i in range(4) for j in range(3))


def test_bad_sizes_are_refused():
    with pytest.raises(GraphError, match=r"layer sizes must be positive, got \[4, 0, 2\]"):
        MaskedDeepFFN(4, 2, [0])
    with pytest.raises(GraphError, match="input size must be a positive int or shape, got -3"):
        MaskedDeepFFN(-3, 2, [4])
