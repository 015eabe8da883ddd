"""MaskedLinearLayer, MaskedEdgeLayer, MaskableModule and maskable_layers."""

import numpy as np
import pytest
import torch
from torch import nn

from workbench.errors import MaskError, PruningError
from workbench.sparse import (
    MaskableModule,
    MaskedDeepFFN,
    MaskedEdgeLayer,
    MaskedLayer,
    MaskedLinearLayer,
    maskable_layers,
    named_maskable_layers,
)


def test_all_ones_mask_equals_nn_linear():
    torch.manual_seed(0)
    layer = MaskedLinearLayer(7, 5)
    reference = nn.Linear(7, 5)
    reference.load_state_dict({"weight": layer.weight, "bias": layer.bias})
    x = torch.randn(11, 7)
    torch.testing.assert_close(layer(x), reference(x), rtol=0, atol=0)


def test_mask_is_a_persistent_bool_buffer_shaped_like_weight():
    layer = MaskedLinearLayer(4, 3)
    assert layer.mask.dtype == torch.bool
    assert layer.mask.shape == layer.weight.shape
    assert "mask" in dict(layer.named_buffers())
    assert layer.state_dict()["mask"].dtype == torch.bool


def test_setting_mask_copies_in_place_and_accepts_binary_numbers():
    layer = MaskedLinearLayer(784, 100)
    buffer = layer.mask
    layer.mask = torch.zeros(100, 784)  # the seed's documented example: float zeros
    assert layer.mask is buffer
    assert not layer.mask.any()
    layer.mask = torch.ones(100, 784)
    assert layer.mask is buffer and layer.mask.all()
    assert layer.mask.dtype == torch.bool


def test_wrong_mask_shape_names_both_shapes():
    layer = MaskedLinearLayer(4, 3)
    with pytest.raises(MaskError, match=r"shape \(4, 3\).*expected shape \(3, 4\)"):
        layer.mask = torch.ones(4, 3, dtype=torch.bool)


def test_non_binary_mask_names_its_dtype():
    layer = MaskedLinearLayer(4, 3)
    with pytest.raises(MaskError, match=r"torch.float32.*0 and 1"):
        layer.mask = torch.full((3, 4), 0.5)
    with pytest.raises(MaskError, match="must be a torch.Tensor, got list"):
        layer.mask = [[1, 0]]


def test_masked_weights_do_not_contribute_to_the_output():
    layer = MaskedLinearLayer(3, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    layer.mask = torch.tensor([[True, False, True], [False, False, True]])
    out = layer(torch.tensor([[1.0, 1.0, 1.0]]))
    torch.testing.assert_close(out, torch.tensor([[4.0, 6.0]]))


def test_float64_model_and_1d_input():
    layer = MaskedLinearLayer(3, 2).double()
    assert layer.mask.dtype == torch.bool  # .double() does not turn the mask into numbers
    out = layer(torch.randn(3, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (2,)


def test_recompute_mask_never_revives_and_reset_mask_does():
    layer = MaskedLinearLayer(3, 2)
    mask = torch.ones(2, 3, dtype=torch.bool)
    mask[0, 0] = False
    layer.mask = mask
    with torch.no_grad():
        layer.weight.fill_(10.0)
        layer.weight[1, 1] = 1e-5
    layer.recompute_mask(theta=0.001)
    assert not layer.mask[0, 0], "a masked weight with a large value came back"
    assert not layer.mask[1, 1]
    assert int(layer.mask.sum()) == 4
    layer.reset_mask()
    assert layer.mask.all()


def test_apply_mask_zeroes_masked_weights_only():
    layer = MaskedLinearLayer(3, 2)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    layer.mask = torch.tensor([[1, 0, 1], [0, 1, 1]])
    layer.apply_mask()
    assert torch.equal(layer.weight, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]))


def test_masked_weights_get_zero_gradient_and_stay_zero(make_optimizer):
    torch.manual_seed(0)
    layer = MaskedLinearLayer(6, 4)
    mask = torch.rand(4, 6) > 0.5
    layer.mask = mask
    layer.apply_mask()
    optimizer = make_optimizer(layer.parameters())
    for _ in range(20):
        optimizer.zero_grad()
        layer(torch.randn(8, 6)).pow(2).sum().backward()
        assert torch.all(layer.weight.grad[~mask] == 0)
        optimizer.step()
    assert torch.all(layer.weight[~mask] == 0)
    assert torch.any(layer.weight[mask] != 0)


def test_learnable_mask_starts_on_and_receives_gradients():
    layer = MaskedLinearLayer(5, 3, mask_as_params=True)
    assert layer.mask.all()
    layer(torch.randn(4, 5)).sum().backward()
    assert layer.mask_logits.grad is not None
    assert layer.mask_logits.grad.abs().sum() > 0


def test_learnable_mask_learns_a_sparser_mask_under_a_sparsity_penalty():
    torch.manual_seed(0)
    teacher = torch.zeros(4, 16)
    teacher[:, :3] = torch.randn(4, 3) * 2  # only 3 inputs matter
    x = torch.randn(256, 16)
    y = x @ teacher.T
    layer = MaskedLinearLayer(16, 4, mask_as_params=True)
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.05)
    before = int(layer.mask.sum())
    for _ in range(300):
        optimizer.zero_grad()
        loss = (layer(x) - y).pow(2).mean() + 0.01 * layer.mask_penalty()
        loss.backward()
        optimizer.step()
    after = int(layer.mask.sum())
    assert after < before / 2, f"mask went from {before} to {after} active connections"
    assert layer.mask[:, :3].float().mean() > 0.5, "the connections that matter were dropped"


def test_setting_a_learnable_mask_keeps_the_parameter_object():
    layer = MaskedLinearLayer(5, 3, mask_as_params=True)
    logits = layer.mask_logits
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    new = torch.ones(3, 5, dtype=torch.bool)
    new[0] = False
    layer.mask = new
    assert layer.mask_logits is logits
    assert torch.equal(layer.mask, new)
    assert any(p is logits for group in optimizer.param_groups for p in group["params"])


def test_edge_layer_gathers_and_scatters():
    # two targets: t0 <- h0 (w=2), h2 (w=3); t1 <- h1 (w=-1)
    layer = MaskedEdgeLayer(torch.tensor([0, 2, 1]), torch.tensor([0, 0, 1]), 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([2.0, 3.0, -1.0]))
        layer.bias.copy_(torch.tensor([0.5, 0.0]))
    h = torch.tensor([[1.0, 10.0, 100.0]])
    torch.testing.assert_close(layer(h), torch.tensor([[302.5, -10.0]]))
    layer.mask = torch.tensor([True, False, True])
    torch.testing.assert_close(layer(h), torch.tensor([[2.5, -10.0]]))


class _Custom(MaskedLinearLayer):
    pass


def test_maskable_layers_finds_layers_at_any_depth():
    model = nn.Sequential(
        nn.Sequential(MaskedLinearLayer(2, 3), nn.ReLU()),
        nn.ModuleDict({"a": _Custom(3, 3), "b": nn.ModuleList([nn.Linear(3, 3), MaskedLinearLayer(3, 1)])}),
    )
    names = [name for name, _ in named_maskable_layers(model)]
    assert names == ["0.0", "1.a", "1.b.1"]
    assert all(isinstance(layer, MaskedLayer) for layer in maskable_layers(model))


def test_maskable_module_applies_and_resets_over_all_layers():
    torch.manual_seed(0)
    model = MaskedDeepFFN(4, 2, [5])
    for layer in maskable_layers(model):
        layer.mask = torch.rand(layer.weight.shape) > 0.5
    masks = [layer.mask.clone() for layer in maskable_layers(model)]
    weights = [layer.weight.detach().clone() for layer in maskable_layers(model)]
    model.reset_parameters(keep_mask=True)
    for layer, mask, weight in zip(maskable_layers(model), masks, weights, strict=True):
        assert torch.equal(layer.mask, mask)
        assert not torch.equal(layer.weight, weight)
    model.reset_parameters(keep_mask=False)
    assert all(layer.mask.all() for layer in maskable_layers(model))
    assert isinstance(model, MaskableModule)


def test_mask_survives_state_dict_round_trip():
    layer = MaskedLinearLayer(4, 3)
    layer.mask = torch.rand(3, 4) > 0.5
    other = MaskedLinearLayer(4, 3)
    other.load_state_dict(layer.state_dict())
    assert torch.equal(other.mask, layer.mask)
    assert other.mask.dtype == torch.bool


def _layers():
    torch.manual_seed(0)
    edge = MaskedEdgeLayer(torch.tensor([0, 1, 2, 0]), torch.tensor([0, 0, 1, 1]), 2)
    return [MaskedLinearLayer(4, 3), edge]


@pytest.mark.parametrize("theta", [float("nan"), float("inf"), float("-inf"), -0.1, True, "0.001", None])
@pytest.mark.parametrize("index", range(2))
def test_recompute_mask_refuses_thresholds_that_are_not_finite_non_negative_numbers(theta, index):
    layer = _layers()[index]
    before = layer.mask.clone()
    with pytest.raises(PruningError, match="theta must be a finite non-negative number"):
        layer.recompute_mask(theta)
    assert torch.equal(layer.mask, before)  # before the fix NaN masked every weight silently


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
@pytest.mark.parametrize("index", range(2))
def test_recompute_mask_refuses_non_finite_weights(value, index):
    layer = _layers()[index]
    with torch.no_grad():
        layer.weight.view(-1)[:2] = value
    before = layer.mask.clone()
    with pytest.raises(PruningError, match=r"has 2 non-finite weights \(NaN or inf\)"):
        layer.recompute_mask(0.001)
    assert torch.equal(layer.mask, before)


def test_recompute_mask_takes_numpy_and_int_thresholds():
    layer = _layers()[0]
    layer.recompute_mask(np.float32(10.0))
    assert not layer.mask.any()
    layer.reset_mask()
    layer.recompute_mask(0)
    assert layer.mask.all()


def test_model_recompute_mask_names_the_layer_and_changes_no_mask():
    torch.manual_seed(0)
    model = MaskedDeepFFN(4, 2, [3])
    with torch.no_grad():
        model.layers[1].weight[0, 0] = float("nan")
    before = [layer.mask.clone() for layer in maskable_layers(model)]
    with pytest.raises(PruningError, match=r"layer 'layers\.1' has 1 non-finite weight \(NaN or inf\)"):
        model.recompute_mask(10.0)  # would mask every weight of layers.0 if it ran layer by layer
    assert all(torch.equal(a, layer.mask) for a, layer in zip(before, maskable_layers(model), strict=True))
