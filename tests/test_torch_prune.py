"""torch.nn.utils.prune interop for any model: conv and linear masks in, plain pruned modules out."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from workbench.errors import CheckpointError
from workbench.lottery import (
    from_torch_pruned,
    from_torch_sequential,
    load_prune_state_dict,
    to_prune_state_dict,
    to_torch_pruned,
    to_torch_sequential,
    torch_prune_masks,
)
from workbench.pruning import apply_masks, current_masks
from workbench.sparse import MaskedConv1d, MaskedConv2d, MaskedDeepFFN, MaskedLinearLayer, named_maskable_layers


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.BatchNorm2d(4), nn.ReLU())
        self.seq = nn.Conv1d(4, 4, 2)
        self.fc = nn.Linear(4 * 15, 3)

    def forward(self, x):  # [B, 1, 4, 4]
        h = self.body(F.relu(self.stem(x)))
        h = self.seq(h.flatten(2))  # [B, 4, 15]
        return self.fc(h.flatten(1))


def _pruned_conv_net():
    torch.manual_seed(0)
    net = ConvNet().eval()
    prune.l1_unstructured(net.stem, "weight", amount=0.5)
    prune.random_unstructured(net.body[0], "weight", amount=0.3)
    prune.global_unstructured([(net.seq, "weight"), (net.fc, "weight")], prune.L1Unstructured, amount=0.4)
    prune.l1_unstructured(net.fc, "bias", amount=0.5)
    return net


def _same_masks(a, b):
    a, b = current_masks(a), current_masks(b)
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_masks_of_a_pytorch_pruned_conv_net_are_imported():
    net = _pruned_conv_net()
    masked = from_torch_pruned(net)
    assert isinstance(masked.stem, MaskedConv2d) and isinstance(masked.seq, MaskedConv1d)
    assert isinstance(masked.fc, MaskedLinearLayer) and isinstance(masked.body[1], nn.BatchNorm2d)
    expected = torch_prune_masks(net)
    assert sorted(expected) == ["body.0", "fc", "seq", "stem"]
    assert all(m.dtype == torch.bool for m in expected.values())
    assert all(torch.equal(current_masks(masked)[name], mask) for name, mask in expected.items())
    x = torch.randn(5, 1, 4, 4)
    assert torch.equal(masked(x), net(x))
    assert net.stem.weight_orig is not masked.stem.weight  # a copy: the original is untouched
    assert prune.is_pruned(net.stem)


def test_torch_prune_masks_apply_to_a_workbench_model_of_the_same_names():
    net = _pruned_conv_net()
    target = from_torch_pruned(ConvNet())
    apply_masks(target, torch_prune_masks(net))
    assert torch.equal(target.stem.mask, net.stem.weight_mask.bool())


def test_from_torch_sequential_takes_a_conv_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    prune.l1_unstructured(net[0], "weight", amount=0.5)
    model = from_torch_sequential(net)
    assert isinstance(model[0], MaskedConv2d) and torch.equal(model[0].mask, net[0].weight_mask.bool())
    x = torch.randn(2, 1, 6, 6)
    assert torch.equal(model(x), net(x))


def test_to_torch_pruned_is_the_inverse():
    masked = from_torch_pruned(_pruned_conv_net())
    plain = to_torch_pruned(masked)
    assert type(plain.stem) is nn.Conv2d and prune.is_pruned(plain.stem)
    assert not any(True for _ in named_maskable_layers(plain))
    x = torch.randn(3, 1, 4, 4)
    assert torch.equal(plain(x), masked(x))
    back = from_torch_pruned(plain)
    assert _same_masks(back, masked)
    learnable = MaskedLinearLayer(2, 2, mask_as_params=True)
    with pytest.raises(CheckpointError, match="learnable mask"):
        to_torch_pruned(learnable)


def test_subclasses_of_linear_are_kept():
    attention = nn.MultiheadAttention(4, 2)
    masked = from_torch_pruned(attention)
    assert type(masked.out_proj) is type(attention.out_proj)  # read directly by F.multi_head_attention_forward


@pytest.mark.parametrize(
    "build",
    [
        lambda: MaskedDeepFFN(12, 3, [8, 5]),
        lambda: MaskedDeepFFN((1, 3, 4), 3, [8, 5], True),
        lambda: MaskedDeepFFN(12, 3, [8, 5], activation=nn.PReLU),
    ],
    ids=["flat", "image-layer-norm", "prelu"],
)
def test_prune_state_dict_loads_into_the_torch_sequential_module(build):
    torch.manual_seed(0)
    model = build()
    for _, layer in named_maskable_layers(model):
        layer.mask = torch.rand_like(layer.weight) > 0.4
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)  # norms and activations differ from a fresh module's
    state = to_prune_state_dict(model)
    plain = to_torch_sequential(build())
    plain.load_state_dict(state)  # strict: the same keys
    x = torch.randn(4, *model.input_shape)
    assert torch.equal(plain(x), model(x))
    fresh = build()
    load_prune_state_dict(fresh, state)
    assert torch.equal(fresh(x), model(x))
    assert _same_masks(fresh, model)
    load_prune_state_dict(fresh, model.state_dict())  # its own keys still load
    with pytest.raises(CheckpointError, match="fits neither MaskedDeepFFN"):
        load_prune_state_dict(fresh, {k: v for k, v in state.items() if "weight_mask" not in k})
