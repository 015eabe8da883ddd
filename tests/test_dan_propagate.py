"""The fused DAN pass (workbench.sparse.propagate) equals the per-block pass it replaces."""

import networkx as nx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from workbench.sparse import MaskedDeepDAN, native
from workbench.sparse.propagate import WORKSPACES, fused_activation


@pytest.fixture(autouse=True, params=["compiled", "torch"])
def products(request):
    """Every test on the compiled kernels and on torch's sparse products (the fallback without a compiler)."""
    if request.param == "compiled" and not native.available():
        pytest.skip(f"compiled kernels: {native.status()}")
    previous = native.set_enabled(request.param == "compiled")
    yield request.param
    native.set_enabled(previous)


ACTIVATIONS = {
    "relu": nn.ReLU(),
    "leaky_relu": nn.LeakyReLU(),
    "leaky_relu_0.3": nn.LeakyReLU(0.3),
    "leaky_relu_0": nn.LeakyReLU(0.0),
    "tanh": nn.Tanh(),
}


def _model(graph, activation: nn.Module | None = None, **kwargs):
    torch.manual_seed(0)
    model = MaskedDeepDAN(5, 3, graph, **kwargs)
    if activation is not None:
        model.activation = activation
    generator = torch.Generator().manual_seed(1)
    for block in model.layers:
        block.mask = torch.rand(block.mask.shape, generator=generator) > 0.3
    return model


def _outputs_and_grads(model, x, fused: bool):
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    if fused:
        assert model._can_fuse()
        out = model(x)
        space = model._plan().workspace
        assert (space.compiled is not None) == native.enabled()  # the path the test means
    else:
        out = model._forward_blocks(model.activation(model.input_layer(x)))
    (out.square().sum() + out.sum()).backward()
    return out.detach(), x.grad, {n: p.grad.clone() for n, p in model.named_parameters()}


def _assert_fused_equals_blocks(model, x):
    out, grad_x, grads = _outputs_and_grads(model, x, fused=True)
    out_ref, grad_x_ref, grads_ref = _outputs_and_grads(model, x, fused=False)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(grad_x, grad_x_ref)
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], grads_ref[name], msg=name)
    for block in model.layers:
        assert (block.weight.grad[~block.mask] == 0).all()


@pytest.mark.parametrize("orientation", ["random", "bfs", "index"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_pass_equals_blocks(orientation, dtype):
    model = _model(nx.watts_strogatz_graph(300, 4, 0.3, seed=2), orientation=orientation).to(dtype)
    _assert_fused_equals_blocks(model, torch.randn(7, 5, dtype=dtype))


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_activations_equal_blocks_with_exact_derivatives(name, dtype):
    model = _model(nx.watts_strogatz_graph(200, 4, 0.3, seed=3), activation=ACTIVATIONS[name]).to(dtype)
    assert fused_activation(model.activation) is not None
    _assert_fused_equals_blocks(model, torch.randn(6, 5, dtype=dtype))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(2, 40),
    p=st.floats(0.05, 0.6),
    seed=st.integers(0, 2**16),
    name=st.sampled_from(sorted(ACTIVATIONS)),
    batch=st.integers(1, 5),
)
def test_fused_pass_equals_blocks_on_random_dags(n, p, seed, name, batch):
    graph = nx.gnp_random_graph(n, p, seed=seed, directed=True)
    dag = nx.DiGraph((u, v) for u, v in graph.edges if u < v)
    dag.add_nodes_from(range(n))
    model = _model(dag, activation=ACTIVATIONS[name]).double()
    _assert_fused_equals_blocks(model, torch.randn(batch, 5, dtype=torch.float64))


def test_leaky_relu_backward_from_the_output_matches_autograd_at_zero():
    """At an input of exactly 0 autograd's leaky ReLU uses the negative slope; so does the fused pass."""
    activation = fused_activation(nn.LeakyReLU(0.25))
    x = torch.tensor([[-2.0, -0.0, 0.0, 3.0]], requires_grad=True)
    torch.nn.functional.leaky_relu(x, 0.25).backward(torch.ones_like(x))
    out = x.detach().clone()
    activation.forward_(out)
    grad = torch.ones_like(out)
    activation.backward_(grad, out)
    assert torch.equal(grad, x.grad)


def test_masked_weights_do_not_count_whatever_is_stored():
    model = _model(nx.watts_strogatz_graph(50, 4, 0.3, seed=2))
    x = torch.randn(4, 5)
    before = model(x)
    with torch.no_grad():
        for block in model.layers:
            block.weight[~block.mask] = float("nan")
    torch.testing.assert_close(model(x), before)


def test_other_activations_and_hooks_take_the_block_path():
    graph = nx.watts_strogatz_graph(40, 4, 0.3, seed=2)
    for activation in (nn.GELU(), nn.Sigmoid(), nn.LeakyReLU(-0.1)):
        assert fused_activation(activation) is None
        assert not _model(graph, activation=activation)._can_fuse()
    hooked = nn.Tanh()
    hooked.register_forward_hook(lambda module, args, out: None)
    assert not _model(graph, activation=hooked)._can_fuse()
    model = _model(graph)
    seen = []
    model.layers[0].register_forward_hook(lambda module, args, out: seen.append(out.shape))
    assert not model._can_fuse()
    model(torch.randn(2, 5))
    assert seen


def test_plan_follows_a_move_of_the_indices():
    model = _model(nx.watts_strogatz_graph(40, 4, 0.3, seed=2))
    x = torch.randn(3, 5)
    first = model._plan()
    assert model._plan() is first
    model.double()  # parameters only; index buffers stay, the plan too
    assert model._plan() is first
    copy = MaskedDeepDAN(5, 3, nx.watts_strogatz_graph(40, 4, 0.3, seed=2))
    copy.load_state_dict(model.float().state_dict())  # copies into the same index tensors
    torch.testing.assert_close(copy(x), model(x))


def test_double_backward_is_refused_loudly():
    model = _model(nx.watts_strogatz_graph(30, 4, 0.3, seed=2))
    x = torch.randn(3, 5, requires_grad=True)
    (grad,) = torch.autograd.grad(model(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="twice"):
        grad.sum().backward()


def test_two_forward_passes_before_one_backward_use_separate_workspaces():
    model = _model(nx.watts_strogatz_graph(60, 4, 0.3, seed=2))
    a, b = torch.randn(3, 5), torch.randn(4, 5)
    (model(a).square().sum() + model(b).sum()).backward()
    fused = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    first = model.activation(model.input_layer(a))
    second = model.activation(model.input_layer(b))
    (model._forward_blocks(first).square().sum() + model._forward_blocks(second).sum()).backward()
    for name, grad in fused.items():
        torch.testing.assert_close(grad, model.get_parameter(name).grad, msg=name)


def test_workspace_is_reused_and_guarded_by_autograd():
    model = _model(nx.watts_strogatz_graph(60, 4, 0.3, seed=2))
    x = torch.randn(3, 5)
    with torch.no_grad():
        expected = model(x)
    space = model._plan().workspace
    assert space is not None and not space.lent  # no graph: given back at once
    out = model(x)
    assert model._plan().workspace is space and space.lent
    out.sum().backward(retain_graph=True)
    assert not space.lent
    torch.testing.assert_close(out.detach(), expected)
    model(torch.randn(3, 5))  # reuses the workspace the retained graph saved
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    assert model(torch.randn(7, 5)).shape == (7, 3)  # another batch size


def test_alternating_batch_sizes_reuse_one_workspace_each():
    model = _model(nx.watts_strogatz_graph(60, 4, 0.3, seed=2))
    small, large = torch.randn(3, 5), torch.randn(11, 5)
    with torch.no_grad():
        expected = (model(small), model(large))
        spaces = {3: None, 11: None}
        for _ in range(3):  # test set, grid, test set, ... as the app's previews evaluate
            for x, want in zip((small, large), expected, strict=True):
                torch.testing.assert_close(model(x), want)
                space = model._plan().workspace
                assert spaces[x.shape[0]] in (None, space), "a workspace was rebuilt for a batch size seen before"
                spaces[x.shape[0]] = space
    assert spaces[3] is not spaces[11]
    for batch in range(20, 20 + WORKSPACES + 1):  # more shapes than are kept: the oldest goes
        with torch.no_grad():
            model(torch.randn(batch, 5))
    assert len(model._plan().workspaces) == WORKSPACES


def test_copies_and_pickles_of_a_model_gather_their_own_plan():
    import copy
    import io

    model = _model(nx.watts_strogatz_graph(40, 4, 0.3, seed=2))
    x = torch.randn(3, 5)
    expected = model(x)
    twin = copy.deepcopy(model)
    torch.testing.assert_close(twin(x), expected)
    assert twin._plan() is not model._plan()
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    torch.testing.assert_close(torch.load(buffer, weights_only=False)(x), expected)


def test_the_output_layer_on_the_sinks_columns_equals_its_own_forward_pass():
    """The fused pass feeds the output layer [S, B] and computes bias + W @ sinks: the same values and gradients
    as the layer's own forward pass on [B, S], with a pruned output mask too; a hook on it still runs."""
    model = _model(nx.watts_strogatz_graph(300, 4, 0.3, seed=5))
    model.output_layer.mask = (
        torch.rand(model.output_layer.mask.shape, generator=torch.Generator().manual_seed(3)) < 0.5
    )
    _assert_fused_equals_blocks(model, torch.randn(9, 5))
    seen = []
    model.output_layer.register_forward_hook(lambda module, args, out: seen.append(args[0].shape))
    _assert_fused_equals_blocks(model, torch.randn(4, 5))
    assert seen and all(shape[0] == 4 for shape in seen)  # called with [B, S], as the blocks path calls it
