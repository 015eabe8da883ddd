"""The fused DAN pass (workbench.sparse.propagate) equals the per-block pass it replaces."""

import networkx as nx
import pytest
import torch
from torch import nn

from workbench.sparse import MaskedDeepDAN


def _model(graph, **kwargs):
    torch.manual_seed(0)
    model = MaskedDeepDAN(5, 3, graph, **kwargs)
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
    else:
        out = model._forward_blocks(model.activation(model.input_layer(x)))
    (out.square().sum() + out.sum()).backward()
    return out.detach(), x.grad, {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("orientation", ["random", "bfs", "index"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_pass_equals_blocks(orientation, dtype):
    model = _model(nx.watts_strogatz_graph(300, 4, 0.3, seed=2), orientation=orientation).to(dtype)
    x = torch.randn(7, 5, dtype=dtype)
    out, grad_x, grads = _outputs_and_grads(model, x, fused=True)
    out_ref, grad_x_ref, grads_ref = _outputs_and_grads(model, x, fused=False)
    torch.testing.assert_close(out, out_ref)
    torch.testing.assert_close(grad_x, grad_x_ref)
    assert grads.keys() == grads_ref.keys()
    for name in grads:
        torch.testing.assert_close(grads[name], grads_ref[name], msg=name)
    for block in model.layers:
        assert (block.weight.grad[~block.mask] == 0).all()


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
    assert not _model(graph, activation=nn.Tanh)._can_fuse()
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
