"""MaskedLinearLayer's fast paths (all-on mask, cached factor, reused scratch) equal weight * mask."""

import gc

import pytest
import torch
import torch.nn.functional as F

from workbench.sparse import MaskedLinearLayer, buffers, kernels


def _reference(layer, x):
    """The definition: F.linear with weight * mask, through plain autograd."""
    weight = layer.weight.detach().clone().requires_grad_(True)
    bias = layer.bias.detach().clone().requires_grad_(True)
    x = x.detach().clone().requires_grad_(True)
    out = F.linear(x, weight * layer.mask, bias)
    (out.square().sum() + out.sum()).backward()
    return out.detach(), x.grad, weight.grad, bias.grad


def _fast(layer, x):
    layer.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    out = layer(x)
    (out.square().sum() + out.sum()).backward()
    return out.detach(), x.grad, layer.weight.grad, layer.bias.grad


@pytest.mark.parametrize("density", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("shape", [(3, 7), (5, 2, 7)])
def test_masked_linear_equals_the_definition(density, shape):
    torch.manual_seed(0)
    layer = MaskedLinearLayer(7, 4)
    layer.mask = torch.rand(4, 7) < density
    x = torch.randn(*shape)
    for fast, ref in zip(_fast(layer, x), _reference(layer, x), strict=True):
        torch.testing.assert_close(fast, ref)
    assert (layer.weight.grad[~layer.mask] == 0).all()


def test_factor_follows_in_place_mask_changes_and_dtype():
    layer = MaskedLinearLayer(6, 3)
    x = torch.randn(2, 6)
    dense = layer(x)
    layer.mask = torch.zeros(3, 6)  # copied in place: the version counter moves
    torch.testing.assert_close(layer(x), layer.bias.expand(2, 3))
    layer.reset_mask()
    torch.testing.assert_close(layer(x), dense)
    layer.double()
    assert layer(x.double()).dtype == torch.float64


#: A layer whose weight is 4 MB: large enough for the scratch kernel (from 256 KB) and the gradient buffer.
BIG = 1024


def _big_layer(seed=0):
    torch.manual_seed(seed)
    layer = MaskedLinearLayer(BIG, BIG)
    assert layer.weight.numel() * 4 >= max(buffers.POOL_BYTES, kernels._SMALL_BYTES)
    layer.mask = torch.rand(BIG, BIG) > 0.5
    return layer


def test_scratch_is_not_shared_by_two_live_graphs():
    layer = _big_layer(1)
    x1, x2 = torch.randn(3, BIG), torch.randn(3, BIG)
    out1 = layer(x1)
    with torch.no_grad():
        layer.weight.mul_(2.0)  # the second pass sees other weights
    out2 = layer(x2)
    torch.testing.assert_close(out2, F.linear(x2, layer.weight * layer.mask, layer.bias))
    out1.sum().backward()
    grad1 = layer.weight.grad.clone()
    layer.weight.grad = None
    out2.sum().backward()
    torch.testing.assert_close(grad1, x1.sum(0).expand(BIG, BIG) * layer.mask)
    torch.testing.assert_close(layer.weight.grad, x2.sum(0).expand(BIG, BIG) * layer.mask)
    assert torch.all(layer.weight.grad[~layer.mask] == 0)


def test_scratch_comes_back_when_a_graph_is_dropped():
    layer = _big_layer()
    out = layer(torch.randn(2, BIG, requires_grad=True))
    assert layer._scratch.lent
    del out
    gc.collect()
    assert not layer._scratch.lent


def test_small_layers_train_on_autograds_own_product_with_the_same_values():
    layer = MaskedLinearLayer(7, 4)
    layer.mask = torch.rand(4, 7) < 0.5
    x = torch.randn(3, 7, requires_grad=True)
    out = layer(x)
    assert "_scratch" not in layer.__dict__ and out.grad_fn.name() == "AddmmBackward0"
    for fast, ref in zip(_fast(layer, x), _reference(layer, x), strict=True):
        torch.testing.assert_close(fast, ref, rtol=0, atol=0)


def test_retained_graph_after_reuse_raises_instead_of_using_changed_values():
    layer = _big_layer()
    x = torch.randn(2, BIG, requires_grad=True)
    out = layer(x)
    out.sum().backward(retain_graph=True)  # gives the scratch back
    layer(x)  # reuses it
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
