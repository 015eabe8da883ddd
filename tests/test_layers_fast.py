"""MaskedLinearLayer's fast paths (all-on mask, cached factor, fused products, reused scratch) equal weight * mask."""

import gc

import pytest
import torch
import torch.nn.functional as F

from workbench.sparse import MaskedLinearLayer, buffers, kernels, native


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


#: A layer whose weight is 4 MB: large enough for the dense kernel (from 256 KB) and the gradient buffer.
BIG = 1024


def _big_layer(seed=0):
    torch.manual_seed(seed)
    layer = MaskedLinearLayer(BIG, BIG)
    assert layer.weight.numel() * 4 >= max(buffers.POOL_BYTES, kernels._SMALL_BYTES)
    layer.mask = torch.rand(BIG, BIG) > 0.5
    return layer


def _kernel(out):
    """The autograd function that made ``out``, behind the reshape of an input with more than two dimensions."""
    function = out.grad_fn
    while function.name() in ("ViewBackward0", "UnsafeViewBackward0", "ReshapeAliasBackward0"):
        function = function.next_functions[0][0]
    return function.name()


def _needs_compiled():
    if not native.available():
        pytest.skip(f"compiled kernels: {native.status()}")


@pytest.fixture(params=["torch products", "two threads"])
def unfused(request):
    """The dense kernel on torch's products, with the masked weight in the layer's scratch tensor: where there are
    no compiled kernels, and with more than one torch thread (torch's products use them all; the compiled ones one)."""
    if request.param == "torch products":
        previous = native.set_enabled(False)
        yield request.param
        native.set_enabled(previous)
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(2)
        yield request.param
        torch.set_num_threads(threads)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("lead", "n_in", "n_out"),
    [
        ((2,), 300, 300),  # two rows: a short tile
        ((13,), 37, 20000),  # inputs narrower than a panel; outputs past one block of 1,024
        ((2, 75), 530, 1030),  # 150 rows: past one block of 144; a sum past one block of 512; 3-D input
        ((64,), 784, 1000),  # the benchmark's layer
    ],
)
def test_fused_products_equal_the_definition(dtype, lead, n_in, n_out):
    """Forward, input gradient and weight gradient on the compiled products that apply the mask inside the matrix
    product, at sizes with tails in every loop; masked weights get exactly zero gradient."""
    _needs_compiled()
    torch.manual_seed(0)
    layer = MaskedLinearLayer(n_in, n_out, dtype=dtype)
    layer.mask = torch.rand(n_out, n_in) < 0.5
    x = torch.randn(*lead, n_in, dtype=dtype)
    assert _kernel(layer(x.requires_grad_())) == "FusedMaskedLinearBackward"
    tolerance = {} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}
    for fast, ref in zip(_fast(layer, x), _reference(layer, x), strict=True):
        torch.testing.assert_close(fast, ref, **tolerance)
    assert torch.all(layer.weight.grad[~layer.mask] == 0)


def test_fused_products_without_bias_input_gradient_or_contiguous_gradient():
    _needs_compiled()
    torch.manual_seed(0)
    layer = MaskedLinearLayer(600, 500, bias=False)
    layer.mask = torch.rand(500, 600) < 0.5
    x = torch.randn(7, 600)  # needs no gradient: the input gradient is not computed
    out = layer(x)
    assert out.grad_fn.name() == "FusedMaskedLinearBackward"
    out.sum().backward()  # an expanded gradient: stride 0
    torch.testing.assert_close(out, x @ (layer.weight * layer.mask).t())
    torch.testing.assert_close(layer.weight.grad, x.sum(0).expand(500, 600) * layer.mask)
    with torch.no_grad():  # inference: the same product, no graph
        torch.testing.assert_close(layer(x), out.detach())


def test_a_single_row_takes_the_scratch_kernel_with_the_same_values():
    """One row is a matrix-vector product: the fused products would pack the whole weight for it."""
    _needs_compiled()
    layer = _big_layer(2)
    x = torch.randn(1, BIG)
    assert _kernel(layer(x.requires_grad_())) == "DenseMaskedLinearBackward"
    for fast, ref in zip(_fast(layer, x), _reference(layer, x), strict=True):
        torch.testing.assert_close(fast, ref)


def test_fused_products_refuse_a_weight_changed_before_the_backward_pass():
    """As nn.Linear does: the backward pass would need the weights of the forward pass."""
    _needs_compiled()
    layer = _big_layer(1)
    out = layer(torch.randn(3, BIG))
    with torch.no_grad():
        layer.weight.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_two_live_graphs_on_the_fused_products():
    _needs_compiled()
    layer = _big_layer(1)
    x1, x2 = torch.randn(3, BIG), torch.randn(3, BIG)
    out1, out2 = layer(x1), layer(x2)
    out2.sum().backward()
    grad2 = layer.weight.grad.clone()
    layer.weight.grad = None
    out1.sum().backward()
    torch.testing.assert_close(layer.weight.grad, x1.sum(0).expand(BIG, BIG) * layer.mask)
    torch.testing.assert_close(grad2, x2.sum(0).expand(BIG, BIG) * layer.mask)


def test_scratch_is_not_shared_by_two_live_graphs(unfused):
    layer = _big_layer(1)
    x1, x2 = torch.randn(3, BIG), torch.randn(3, BIG)
    out1 = layer(x1)
    assert out1.grad_fn.name() == "DenseMaskedLinearBackward"
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


def test_scratch_comes_back_when_a_graph_is_dropped(unfused):
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


def test_retained_graph_after_reuse_raises_instead_of_using_changed_values(unfused):
    layer = _big_layer()
    x = torch.randn(2, BIG, requires_grad=True)
    out = layer(x)
    out.sum().backward(retain_graph=True)  # gives the scratch back
    layer(x)  # reuses it
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
