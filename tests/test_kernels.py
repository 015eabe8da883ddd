"""MaskedLinearLayer's sparse kernel (workbench.sparse.kernels) against the dense definition."""

import contextlib
import copy
import functools
import gc
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils import prune

from workbench.sparse import MaskedDeepFFN, MaskedLinearLayer, buffers, kernels, native, pattern
from workbench.sparse.kernels import SparseMaskedLinear, sparse_pattern

PATHS = ["compiled", "torch"]


@contextlib.contextmanager
def products(path):
    """The sparse products on the compiled kernels or on torch's (the fallback where none can be built)."""
    if path == "compiled" and not native.available():
        pytest.skip(f"compiled kernels: {native.status()}")
    previous = native.set_enabled(path == "compiled")
    try:
        yield
    finally:
        native.set_enabled(previous)


@pytest.fixture(params=PATHS)
def small_sparse(monkeypatch, request):
    """Blocks 3 wide and batches in chunks of 2 rows: small layers and batches exercise several of each; on the
    compiled kernels and on torch's products."""
    monkeypatch.setattr(pattern, "BLOCK", 3)
    monkeypatch.setattr(pattern, "BATCH_CHUNK", 2)
    with products(request.param):
        yield request.param


def _reference(layer, x, mask=None):
    """The definition: F.linear with weight * mask, through plain autograd."""
    mask = layer.mask if mask is None else mask
    weight = layer.weight.detach().clone().requires_grad_(True)
    bias = None if layer.bias is None else layer.bias.detach().clone().requires_grad_(True)
    x = x.detach().clone().requires_grad_(True)
    out = F.linear(x, weight * mask, bias)
    (out.square().sum() + out.sum()).backward()
    return out.detach(), x.grad, weight.grad, None if bias is None else bias.grad


def _ours(layer, x):
    layer.zero_grad(set_to_none=True)
    x = x.detach().clone().requires_grad_(True)
    out = layer(x)
    (out.square().sum() + out.sum()).backward()
    return out.detach(), x.grad, layer.weight.grad, None if layer.bias is None else layer.bias.grad


def _assert_matches_definition(layer, x, **tolerance):
    names = ("output", "x grad", "w grad", "b grad")
    for ours, ref, what in zip(_ours(layer, x), _reference(layer, x), names, strict=True):
        if ref is None:
            assert ours is None
        else:
            torch.testing.assert_close(ours, ref, msg=what, **tolerance)
    assert torch.all(layer.weight.grad[~layer.mask] == 0)


def _sparse_layer(n_in, n_out, density, *, seed=0, bias=True, dtype=torch.float32):
    torch.manual_seed(seed)
    layer = MaskedLinearLayer(n_in, n_out, bias=bias, dtype=dtype)
    layer.mask = torch.rand(n_out, n_in) < density
    layer.sparse_threshold = 1.0  # every pruned mask runs on the sparse kernel
    return layer


@settings(max_examples=60, deadline=None)
@given(
    n_in=st.integers(1, 17),
    n_out=st.integers(1, 17),
    density=st.floats(0.0, 0.99),
    lead=st.sampled_from([(), (1,), (5,), (2, 3)]),
    bias=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
    path=st.sampled_from(PATHS),
)
def test_sparse_kernel_equals_the_definition_forward_and_backward(n_in, n_out, density, lead, bias, dtype, seed, path):
    with pytest.MonkeyPatch.context() as patch, products(path):
        patch.setattr(pattern, "BLOCK", 3)
        patch.setattr(pattern, "BATCH_CHUNK", 2)
        layer = _sparse_layer(n_in, n_out, density, seed=seed, bias=bias, dtype=dtype)
        if not layer.mask.all():
            assert layer._mask_state().use_sparse(layer.weight, layer.sparse_threshold, training=True)
        _assert_matches_definition(layer, torch.randn(*lead, n_in, dtype=dtype))


def test_sparse_pattern_indexes_blocks_and_the_transpose():
    mask = torch.tensor([[1, 0, 1, 1], [0, 0, 0, 1], [1, 1, 0, 0]], dtype=torch.bool)
    indexed = sparse_pattern(mask, block=2)
    # block order: columns 0-1 row by row, then columns 2-3 row by row
    assert indexed.flat.tolist() == [0, 8, 9, 2, 3, 7]
    values = torch.arange(1.0, 7.0)  # the kept weights in block order
    dense = torch.zeros(3, 4).view(-1).index_put_((indexed.flat,), values).view(3, 4)
    eye_in, eye_out = torch.eye(4), torch.eye(3)
    torch.testing.assert_close(indexed.product(values, eye_in, None), dense)
    torch.testing.assert_close(indexed.product_t(values, eye_out), dense.t())
    left, right_t = torch.randn(3, 5), torch.randn(4, 5)
    torch.testing.assert_close(indexed.sampled(left, right_t), (left @ right_t.t()).view(-1)[indexed.flat])


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pattern_products_write_every_gradient_entry(path, dtype):
    """linear / linear_backward against the dense definition, into a gradient tensor that starts as garbage."""
    generator = torch.Generator().manual_seed(1)
    mask = torch.rand(7, 10, generator=generator) < 0.4
    mask[:, 4:6] = False  # a column block with nothing kept
    weight = torch.randn(7, 10, generator=generator, dtype=dtype)
    bias = torch.randn(7, generator=generator, dtype=dtype)
    x = torch.randn(70, 10, generator=generator, dtype=dtype)  # one whole strip of the compiled kernels and a tail
    grad_out = torch.randn(70, 7, generator=generator, dtype=dtype)
    masked = weight * mask
    with products(path):
        indexed = sparse_pattern(mask, block=4)
        values = torch.empty(indexed.nnz, dtype=dtype)
        out, x_t = indexed.linear(x, weight, bias, values)
        grad_weight = torch.full_like(weight, float("nan"))
        grad_x = indexed.linear_backward(grad_out, values, x, x_t, grad_weight, need_input=True)
    torch.testing.assert_close(values, weight.view(-1)[indexed.flat], rtol=0, atol=0)
    torch.testing.assert_close(out, x @ masked.t() + bias)
    torch.testing.assert_close(grad_x, grad_out @ masked)
    torch.testing.assert_close(grad_weight, (grad_out.t() @ x) * mask)


@pytest.mark.parametrize("batch", [1, 63, 64, 65, 200])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compiled_and_torch_products_agree_at_full_block_size(batch, dtype):
    """Blocks of the real width (1024 columns: three blocks, the last partial) and batches around a strip."""
    if not native.available():
        pytest.skip(f"compiled kernels: {native.status()}")
    layer = _sparse_layer(2100, 90, 0.1, dtype=dtype)
    x = torch.randn(batch, 2100, dtype=dtype)
    # sums of up to 200 products of both signs: float32 rounding is relative to the terms, not to the result
    tolerance = {"rtol": 1e-5, "atol": 1e-4} if dtype == torch.float32 else {}
    results = {}
    for path in PATHS:
        with products(path):
            results[path] = _ours(layer, x)
            _assert_matches_definition(layer, x, **tolerance)
            with torch.no_grad():
                torch.testing.assert_close(layer(x), results[path][0], rtol=0, atol=0)
    for compiled, fallback in zip(results["compiled"], results["torch"], strict=True):
        torch.testing.assert_close(compiled, fallback, **tolerance)


def test_nan_and_infinity_in_kept_weights_propagate_as_in_torch(small_sparse):
    layer = _sparse_layer(6, 4, 0.6)
    rows, cols = layer.mask.nonzero(as_tuple=True)
    with torch.no_grad():
        layer.weight[rows[0], cols[0]] = float("nan")
        layer.weight[rows[-1], cols[-1]] = float("inf")
    x = torch.rand(3, 6) + 0.5
    expected = F.linear(x, torch.where(layer.mask, layer.weight, 0.0), layer.bias)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected, equal_nan=True)


def test_compiled_kernels_build_where_there_is_a_compiler():
    if shutil.which("cc") is None:
        pytest.skip("no C compiler here")
    assert native.available(), native.status()
    assert native.status() == "on: compiled kernels"


@pytest.mark.parametrize(
    ("env", "expected"),
    [({"WORKBENCH_NATIVE": "0"}, "off"), ({"CC": "false"}, "unavailable, compiling the kernels failed")],
)
def test_without_compiled_kernels_the_layer_falls_back_to_torch(tmp_path, env, expected):
    script = (
        "import torch; from workbench.sparse import MaskedLinearLayer, native\n"
        "layer = MaskedLinearLayer(300, 200); layer.mask = torch.rand(200, 300) < 0.05; layer.sparse_threshold = 1.0\n"
        "x = torch.randn(5, 300); w = layer.weight.detach()\n"
        "torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, w * layer.mask, layer.bias))\n"
        "print(native.status())\n"
    )
    environment = {**os.environ, "WORKBENCH_CACHE_DIR": str(tmp_path), "OMP_NUM_THREADS": "1", **env}
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(expected), done.stdout
    assert not list(tmp_path.glob("*.so"))


def test_the_measured_thresholds_depend_on_size_mode_batch_and_kernels():
    small, medium, large = kernels.SPARSE_MIN_WEIGHTS - 1, kernels.SPARSE_MIN_WEIGHTS, kernels.SPARSE_LARGE_WEIGHTS
    threshold = functools.partial(kernels.sparse_threshold, compiled=True)
    rows = kernels.SPARSE_THRESHOLD
    assert threshold(small) == 0.0  # too small to train on the sparse kernel
    assert threshold(small, training=False) == rows[-1][2] > 0  # inference has no minimum
    for first, train, infer in rows:  # each row from its first batch on
        assert threshold(medium, batch=first) == train
        assert threshold(medium, training=False, batch=first) == infer
    assert threshold(medium, batch=1) < threshold(medium, batch=8) < threshold(medium, batch=1000)
    assert threshold(large, batch=1000) == min(rows[-1][1], kernels.SPARSE_THRESHOLD_LARGE[0])
    assert threshold(large, training=False, batch=1000) == min(rows[-1][2], kernels.SPARSE_THRESHOLD_LARGE[1])
    assert threshold(small, 0.5) == threshold(large, 0.5, training=False, batch=1) == 0.5
    fallback = functools.partial(kernels.sparse_threshold, compiled=False)
    assert fallback(kernels.FALLBACK_MIN_WEIGHTS - 1, training=False) == 0.0
    assert fallback(kernels.FALLBACK_MIN_WEIGHTS) == kernels.FALLBACK_THRESHOLD[0]
    assert fallback(kernels.FALLBACK_MIN_WEIGHTS, training=False, batch=1) == kernels.FALLBACK_THRESHOLD[1]
    assert fallback(large, training=False) == kernels.FALLBACK_THRESHOLD_LARGE[1]


@pytest.mark.parametrize("path", PATHS)
def test_the_switch_is_automatic_below_the_threshold_and_large_enough(monkeypatch, path):
    calls = []
    original = SparseMaskedLinear.apply
    monkeypatch.setattr(SparseMaskedLinear, "apply", lambda *args: calls.append(1) or original(*args))
    side, batch = 200, 64  # 40,000 weights: above both minimum sizes
    with products(path):
        training = kernels.sparse_threshold(side * side, batch=batch)
        inference = kernels.sparse_threshold(side * side, training=False, batch=batch)
        assert training < inference
        layer = MaskedLinearLayer(side, side)
        x = torch.randn(batch, side)
        layer(x).sum().backward()
        assert not calls  # every connection on: F.linear
        layer.mask = torch.rand(side, side) < training / 2
        _assert_matches_definition(layer, x, rtol=1e-5, atol=1e-4)
        assert len(calls) == 1
        layer.mask = torch.rand(side, side) < (training + inference) / 2  # sparse for inference only
        _assert_matches_definition(layer, x, rtol=1e-5, atol=1e-4)
        assert len(calls) == 1
        expected = _reference(layer, x)[0]
        with torch.no_grad():
            torch.testing.assert_close(layer(x), expected)
        state = layer._mask_state()
        assert state.use_sparse(layer.weight, None, training=False, batch=batch)
        assert not state.use_sparse(layer.weight, None, training=True, batch=batch)
        layer.sparse_threshold = 0.0  # turned off on this layer
        layer.mask = torch.rand(side, side) < training / 2
        _assert_matches_definition(layer, x, rtol=1e-5, atol=1e-4)
        assert len(calls) == 1
        small = MaskedLinearLayer(8, 8)
        small.mask = torch.eye(8, dtype=torch.bool)
        small(torch.randn(2, 8)).sum().backward()
        assert len(calls) == 1  # too small to gain
        small.sparse_threshold = 0.5  # a number wins over the size rule
        small(torch.randn(2, 8)).sum().backward()
        assert len(calls) == 2


def test_the_choice_follows_the_batch(monkeypatch):
    calls = []
    original = SparseMaskedLinear.apply
    monkeypatch.setattr(SparseMaskedLinear, "apply", lambda *args: calls.append(args[0].shape[0]) or original(*args))
    if not native.available():
        pytest.skip(f"compiled kernels: {native.status()}")
    layer = MaskedLinearLayer(300, 200)
    density = (kernels.sparse_threshold(60_000, batch=1) + kernels.sparse_threshold(60_000, batch=64)) / 2
    layer.mask = torch.rand(200, 300) < density
    for batch in (1, 64, 1, 64):
        _assert_matches_definition(layer, torch.randn(batch, 300), rtol=1e-5, atol=1e-4)
    assert calls == [64, 64]  # the sparse kernel for the large batch only


def test_inference_follows_every_change_of_the_weights(small_sparse):
    layer = _sparse_layer(7, 5, 0.4)
    x = torch.randn(3, 7)
    expected = _reference(layer, x)[0]
    with torch.no_grad():
        torch.testing.assert_close(layer(x), expected)
        layer.weight.data.mul_(2.0)  # no version counter moves
    doubled = _reference(layer, x)[0]
    with torch.no_grad():
        torch.testing.assert_close(layer(x), doubled)
        layer.weight.mul_(0.5)
        torch.testing.assert_close(layer(x), expected)
        layer.weight.mul_(2.0)
    doubled = _reference(layer, x)[0]
    torch.testing.assert_close(doubled - layer.bias, 2 * (expected - layer.bias))
    with torch.no_grad():
        torch.testing.assert_close(layer(x), doubled)
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), doubled)
    torch.testing.assert_close(layer.eval()(x), doubled)


def test_masked_weights_count_for_nothing_whatever_is_stored(small_sparse):
    layer = _sparse_layer(6, 4, 0.5)
    x = torch.randn(2, 6)
    before = layer(x)
    with torch.no_grad():
        layer.weight[~layer.mask] = float("nan")
    torch.testing.assert_close(layer(x), before)


@pytest.mark.parametrize("density", [0.0, 1e-9])
def test_a_mask_with_nothing_kept_gives_the_bias_and_zero_gradients(small_sparse, density):
    layer = _sparse_layer(5, 3, density)
    assert not layer.mask.any()
    _assert_matches_definition(layer, torch.randn(4, 5))
    torch.testing.assert_close(layer(torch.randn(4, 5)), layer.bias.expand(4, 3))
    assert not layer.weight.grad.any()


def test_the_graph_keeps_the_mask_it_was_built_with(small_sparse):
    layer = _sparse_layer(6, 4, 0.5)
    x = torch.randn(3, 6, requires_grad=True)
    old = layer.mask.clone()
    out = layer(x)
    layer.mask = ~old  # changed between forward and backward
    out.sum().backward()
    expected = torch.autograd.grad(F.linear(x, layer.weight * old, layer.bias).sum(), layer.weight)[0]
    torch.testing.assert_close(layer.weight.grad, expected)
    assert torch.all(layer.weight.grad[~old] == 0)


def test_two_live_graphs_and_retained_graphs(small_sparse):
    layer = _sparse_layer(5, 5, 0.4)
    x1, x2 = torch.randn(3, 5), torch.randn(3, 5)
    out1 = layer(x1)
    with torch.no_grad():
        layer.weight.mul_(3.0)
    out2 = layer(x2)
    out1.sum().backward(retain_graph=True)
    grad1 = layer.weight.grad.clone()
    layer.weight.grad = None
    out2.sum().backward()
    torch.testing.assert_close(grad1, x1.sum(0).expand(5, 5) * layer.mask)
    torch.testing.assert_close(layer.weight.grad, x2.sum(0).expand(5, 5) * layer.mask)
    layer.weight.grad = None
    out1.sum().backward()  # a retained graph runs again
    torch.testing.assert_close(layer.weight.grad, grad1)


def test_double_backward_is_refused_loudly(small_sparse):
    layer = _sparse_layer(4, 4, 0.5)
    x = torch.randn(2, 4, requires_grad=True)
    (grad,) = torch.autograd.grad(layer(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="twice"):
        grad.sum().backward()


def test_optimizers_keep_masked_weights_zero_on_the_sparse_kernel(small_sparse, make_optimizer):
    layer = _sparse_layer(6, 4, 0.3)
    mask = layer.mask.clone()
    layer.apply_mask()
    optimizer = make_optimizer(layer.parameters())
    for step in range(20):
        optimizer.zero_grad(set_to_none=step % 2 == 0)  # fresh and accumulated gradients
        layer(torch.randn(8, 6)).pow(2).sum().backward()
        assert torch.all(layer.weight.grad[~mask] == 0)
        optimizer.step()
    assert torch.all(layer.weight[~mask] == 0)
    assert torch.any(layer.weight[mask] != 0)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense kernel", "sparse kernel"])
def test_large_gradients_reuse_their_memory_only_once_every_tensor_let_it_go(small_sparse, sparse):
    layer = _sparse_layer(1100, 1000, 0.01 if sparse else 0.5)  # 4.4 MB of float32 weights: pooled
    layer.sparse_threshold = 1.0 if sparse else 0.0
    assert layer.weight.numel() * 4 >= buffers.POOL_BYTES
    xs = [torch.randn(3, 1100) for _ in range(4)]

    _assert_matches_definition(layer, xs[0])
    held = layer.weight.grad  # somebody keeps the gradient: its memory must not be written again
    kept_values = held.clone()
    layer.weight.grad = None
    layer(xs[1]).pow(2).sum().backward()
    second = layer.weight.grad
    assert second.data_ptr() != held.data_ptr()
    torch.testing.assert_close(held, kept_values, rtol=0, atol=0)
    assert second.shape == layer.weight.shape and second.stride() == layer.weight.stride()
    torch.testing.assert_close(second, _reference_pow(layer, xs[1]))

    address = second.data_ptr()
    del held, second
    layer.weight.grad = None  # now nobody holds the second gradient: the third is written there
    layer(xs[2]).pow(2).sum().backward()
    assert layer.weight.grad.data_ptr() == address
    torch.testing.assert_close(layer.weight.grad, _reference_pow(layer, xs[2]))

    layer(xs[3]).pow(2).sum().backward()  # accumulates into the held .grad, written to fresh memory
    torch.testing.assert_close(layer.weight.grad, _reference_pow(layer, xs[2]) + _reference_pow(layer, xs[3]))
    assert torch.all(layer.weight.grad[~layer.mask] == 0)
    copied = copy.deepcopy(layer)
    assert copied.__dict__.get("_grads") is not layer.__dict__["_grads"]
    gc.collect()


def _reference_pow(layer, x):
    """The weight gradient of ``layer(x).pow(2).sum()`` by the definition."""
    weight = layer.weight.detach().clone().requires_grad_(True)
    F.linear(x, weight * layer.mask, layer.bias.detach()).pow(2).sum().backward()
    return weight.grad


def test_torch_prune_on_top_of_a_sparse_layer(small_sparse):
    layer = _sparse_layer(8, 6, 0.5)
    prune.l1_unstructured(layer, "weight", amount=0.25)  # weight = weight_orig * weight_mask, before our mask
    x = torch.randn(3, 8)
    both = layer.mask & layer.weight_mask.bool()
    out = layer(x)
    torch.testing.assert_close(out, F.linear(x, layer.weight_orig * both, layer.bias))
    out.sum().backward()
    expected = x.sum(0).expand(6, 8) * both
    torch.testing.assert_close(layer.weight_orig.grad, expected)
    prune.remove(layer, "weight")
    torch.testing.assert_close(layer(x), out)


def test_learnable_masks_stay_on_the_dense_path(small_sparse):
    layer = MaskedLinearLayer(6, 4, mask_as_params=True)
    layer.sparse_threshold = 1.0
    layer.mask = torch.rand(4, 6) < 0.3
    layer(torch.randn(2, 6)).sum().backward()
    assert layer.mask_logits.grad is not None and layer.mask_logits.grad.abs().sum() > 0


def test_a_pruned_ffn_trains_the_same_on_both_kernels(small_sparse):
    models = []
    for threshold in (0.0, 1.0):
        torch.manual_seed(3)
        model = MaskedDeepFFN(12, 3, [10, 8]).double()
        for layer in model.layers:
            layer.mask = torch.rand_like(layer.weight) < 0.4
            layer.sparse_threshold = threshold
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        data = torch.Generator().manual_seed(4)
        for _ in range(5):
            optimizer.zero_grad()
            x = torch.randn(16, 12, generator=data, dtype=torch.float64)
            y = torch.randint(0, 3, (16,), generator=data)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        models.append(model)
    for dense, sparse in zip(models[0].parameters(), models[1].parameters(), strict=True):
        np.testing.assert_allclose(dense.detach().numpy(), sparse.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [1, 64, 130])
def test_a_pruned_ffn_infers_through_the_chain_as_layer_by_layer(monkeypatch, activation, dtype, batch):
    """Under no_grad every layer on the compiled kernel passes [features, batch] on (ReLU inside the kernel); the
    result is the layer-by-layer one."""
    if not native.available():
        pytest.skip(f"compiled kernels: {native.status()}")
    links = []
    original = pattern.SparsePattern.chain_link
    monkeypatch.setattr(pattern.SparsePattern, "chain_link", lambda *a, **k: links.append(k) or original(*a, **k))
    torch.manual_seed(0)
    model = MaskedDeepFFN(40, 5, [30, 20], activation=activation).to(dtype)
    for layer in model.layers:
        layer.mask = torch.rand_like(layer.weight) < 0.1
        layer.sparse_threshold = 1.0  # the sparse kernel at any batch
    x = torch.randn(batch, 40, dtype=dtype)
    x[0, 0] = float("nan") if batch > 1 else x[0, 0]  # a NaN input runs through as in torch
    with torch.no_grad():
        chained = model(x)
    assert [(k["given_t"], k["want_t"], k["relu"]) for k in links] == [
        (False, True, activation == "relu"),
        (True, True, activation == "relu"),
        (True, False, False),
    ]
    expected = model(x)  # grad enabled: each layer's own forward pass
    torch.testing.assert_close(chained, expected.detach(), equal_nan=True)
    h = x[1:]  # the definition, without the NaN (0 * NaN spreads it over every output of F.linear's product)
    for k, layer in enumerate(model.layers):
        h = F.linear(h, layer.weight * layer.mask, layer.bias)
        h = model.activation(h) if k < 2 else h
    torch.testing.assert_close(chained[1:], h.detach())


def test_the_chain_steps_aside_where_a_layer_or_norm_does_not_fit(monkeypatch):
    if not native.available():
        pytest.skip(f"compiled kernels: {native.status()}")
    links = []
    original = pattern.SparsePattern.chain_link
    monkeypatch.setattr(pattern.SparsePattern, "chain_link", lambda *a, **k: links.append(1) or original(*a, **k))
    torch.manual_seed(1)
    dense_middle = MaskedDeepFFN(40, 5, [30, 20])
    for layer in (dense_middle.layers[0], dense_middle.layers[2]):
        layer.mask = torch.rand_like(layer.weight) < 0.05
    normed = MaskedDeepFFN(40, 5, [30, 20], use_layer_norm=True)
    for layer in normed.layers:
        layer.mask = torch.rand_like(layer.weight) < 0.05
    x = torch.randn(8, 40)
    for model in (dense_middle, normed):
        with torch.no_grad():
            out = model(x)
        torch.testing.assert_close(out, model(x).detach())
    assert links == []


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (17, 13), (64, 100)])
def test_the_dense_kernels_masker_multiplies_by_the_mask(path, dtype, shape):
    """Through the packed bit mask on the compiled kernels (any length, in place too), else by the float factor."""
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(2)) < 0.5
    layer = MaskedLinearLayer(shape[1], shape[0], dtype=dtype)
    layer.mask = mask
    source = torch.randn(shape, dtype=dtype)
    with products(path):
        masker = layer._mask_state().masker(layer.mask, dtype)
        assert (masker.bits is not None) == (path == "compiled")
        torch.testing.assert_close(masker.apply(source), source * mask, rtol=0, atol=0)
        out = torch.full_like(source, float("nan"))
        assert masker.apply(source, out) is out
        torch.testing.assert_close(out, source * mask, rtol=0, atol=0)
        inplace = source.clone()
        version = inplace._version
        assert masker.apply_(inplace) is inplace
        assert inplace._version > version  # autograd sees the write
        torch.testing.assert_close(inplace, source * mask, rtol=0, atol=0)
        strided = torch.randn(shape[1], shape[0], dtype=dtype).t()  # not contiguous: the factor
        torch.testing.assert_close(masker.apply(strided), strided * mask, rtol=0, atol=0)


def test_the_maskers_factor_is_made_on_first_use_from_its_own_copy_of_the_mask():
    """With the compiled kernels a layer holds no 0/1 factor (4 bytes a weight) until a tensor they do not take
    needs it, and that factor is the mask the masker was made from, whatever the layer's mask became since."""
    if not native.available():
        pytest.skip(f"compiled kernels: {native.status()}")
    layer = MaskedLinearLayer(600, 500)
    layer.mask = torch.rand(500, 600, generator=torch.Generator().manual_seed(3)) < 0.5
    before = layer.mask.clone()
    x = torch.randn(4, 600, requires_grad=True)
    layer(x).sum().backward()  # the fused products
    masker = layer._mask_state().masker(layer.mask, torch.float32)
    assert masker._factor is None
    layer.mask[:] = True  # in place: a new state from here on; the old masker keeps its copies
    strided = torch.randn(600, 500).t()  # not contiguous: the factor
    torch.testing.assert_close(masker.apply(strided), strided * before, rtol=0, atol=0)
    assert masker._factor is not None and masker._factor.dtype == torch.float32


def test_on_the_compiled_dense_kernel_masked_nan_weights_count_for_nothing():
    if not native.available():
        pytest.skip(f"compiled kernels: {native.status()}")
    layer = MaskedLinearLayer(600, 500)  # 1.2 MB: the dense kernel with its scratch tensor
    layer.mask = torch.rand(500, 600) < 0.5
    layer.sparse_threshold = 0.0
    x = torch.randn(4, 600, requires_grad=True)
    before = layer(x)
    with torch.no_grad():
        layer.weight[~layer.mask] = float("nan")
    after = layer(x)
    torch.testing.assert_close(after, before)
    after.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.all(layer.weight.grad[~layer.mask] == 0)


@pytest.mark.parametrize("copy_with", ["deepcopy", "pickle"])
def test_a_copied_layer_computes_with_its_own_indices(copy_with):
    """The compiled kernels' plan holds addresses of the pattern's index tensors: a copy must not share it."""
    import pickle

    layer = _sparse_layer(50, 40, 0.2)
    x = torch.randn(6, 50)
    expected = _reference(layer, x)
    _ours(layer, x)  # builds the pattern (and its plan)
    copied = copy.deepcopy(layer) if copy_with == "deepcopy" else pickle.loads(pickle.dumps(layer))
    original = layer._mask_state().pattern(layer.mask)
    assert original._plan is not None  # built
    indexed = copy.deepcopy(original) if copy_with == "deepcopy" else pickle.loads(pickle.dumps(original))
    plan = indexed._plan[0]
    assert plan[:, 3].tolist() == [block[4].data_ptr() for block in indexed.blocks]  # its own row pointers
    assert plan[:, 4].tolist() == [block[5].data_ptr() for block in indexed.blocks]  # and columns
    del layer
    gc.collect()
    torch.empty(1 << 20).fill_(-1.0)  # reuse freed memory
    for ours, ref in zip(_ours(copied, x), expected, strict=True):
        torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("copy_with", ["deepcopy", "pickle"])
def test_a_copied_layer_keeps_working_on_the_dense_kernel(copy_with):
    """The dense kernel's masker holds a ctypes function: a copy looks its own up again."""
    import pickle

    layer = MaskedLinearLayer(600, 500)  # 1.2 MB: the dense kernel with its scratch tensor
    layer.mask = torch.rand(500, 600) < 0.5
    layer.sparse_threshold = 0.0
    x = torch.randn(3, 600)
    expected = _reference(layer, x)
    _ours(layer, x)  # builds the masker
    copied = copy.deepcopy(layer) if copy_with == "deepcopy" else pickle.loads(pickle.dumps(layer))
    for ours, ref in zip(_ours(copied, x), expected, strict=True):
        torch.testing.assert_close(ours, ref)
