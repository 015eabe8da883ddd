"""Maskable convolutions: the semantics of MaskedLinearLayer on Conv1d/2d, and conv nets that prune."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import MaskError
from workbench.lottery import LotteryConfig, run_lottery, splits_of
from workbench.pruning import masks_by_amount, prune_network_by_saliency, weight_snapshot
from workbench.samples import load_sample
from workbench.sparse import (
    MaskableModule,
    MaskedConv1d,
    MaskedConv2d,
    MaskedLinearLayer,
    maskable_layers,
    named_maskable_layers,
)
from workbench.training import load_dataset
from workbench.transform import GraphTransform, small_cnn

CONVS = {
    "conv1d": (lambda: MaskedConv1d(3, 4, 3, padding=1), nn.Conv1d, (2, 3, 9)),
    "conv2d strided grouped": (lambda: MaskedConv2d(4, 6, 3, stride=2, groups=2, bias=False), nn.Conv2d, (2, 4, 7, 7)),
    "conv2d reflect": (lambda: MaskedConv2d(2, 3, (3, 2), padding=1, padding_mode="reflect"), nn.Conv2d, (1, 2, 5, 6)),
}


def _plain(layer, cls):
    plain = cls(
        layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
        layer.dilation, layer.groups, layer.bias is not None, layer.padding_mode,
    )  # fmt: skip
    plain.load_state_dict({k: v for k, v in layer.state_dict().items() if k != "mask"})
    return plain


@pytest.mark.parametrize("name", sorted(CONVS))
def test_an_all_on_mask_computes_the_plain_convolution(name):
    make, cls, shape = CONVS[name]
    torch.manual_seed(0)
    layer = make()
    assert layer.mask.dtype == torch.bool and layer.mask.shape == layer.weight.shape and layer.mask.all()
    plain = _plain(layer, cls)
    x = torch.randn(shape)
    assert torch.equal(layer(x), plain(x))


@pytest.mark.parametrize("name", sorted(CONVS))
def test_masked_taps_neither_act_nor_get_gradients(name):
    make, _, shape = CONVS[name]
    torch.manual_seed(1)
    layer = make()
    layer.mask = torch.rand(layer.weight.shape) > 0.5
    x = torch.randn(shape, requires_grad=True)
    out = layer(x)
    expected = layer._conv_forward(x, layer.weight * layer.mask, layer.bias)
    torch.testing.assert_close(out, expected)
    out.square().sum().backward()
    assert (layer.weight.grad[~layer.mask] == 0).all()
    assert (layer.weight.grad[layer.mask] != 0).any()


def test_conv_masks_are_checked_and_copied_in_place_like_linear_ones():
    layer = MaskedConv2d(2, 3, 3)
    buffer = layer.mask
    layer.mask = torch.zeros(3, 2, 3, 3)  # 0/1 numbers are accepted
    assert layer.mask is buffer and not layer.mask.any()
    with pytest.raises(MaskError, match=r"shape \(3, 2\).*expected shape \(3, 2, 3, 3\)"):
        layer.mask = torch.ones(3, 2)
    with pytest.raises(MaskError, match="hold only 0 and 1"):
        layer.mask = torch.full((3, 2, 3, 3), 0.5)
    layer.reset_mask()
    with torch.no_grad():
        layer.weight[0, 0, 0, 0] = 1e-5
    layer.recompute_mask(theta=1e-3)
    assert not layer.mask[0, 0, 0, 0] and layer.mask.sum() == layer.mask.numel() - 1
    layer.apply_mask()
    assert layer.weight[0, 0, 0, 0] == 0
    kept = layer.mask.clone()
    layer.reset_parameters(keep_mask=True)
    assert torch.equal(layer.mask, kept)
    layer.reset_parameters()
    assert layer.mask.all()
    assert "mask" in layer.state_dict()


def test_learnable_conv_mask():
    torch.manual_seed(0)
    layer = MaskedConv2d(1, 2, 3, mask_as_params=True)
    layer.mask = torch.rand(2, 1, 3, 3) > 0.5
    out = layer(torch.randn(1, 1, 5, 5))
    (out.sum() + layer.mask_penalty()).backward()
    assert layer.mask_logits.grad is not None and layer.mask_logits.grad.abs().sum() > 0


def test_maskable_layers_find_convolutions_at_any_depth():
    class Net(MaskableModule):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(MaskedConv2d(1, 2, 3), nn.ReLU(), nn.ModuleList([MaskedConv1d(2, 2, 1)]))
            self.fc = MaskedLinearLayer(4, 2)

    net = Net()
    assert [n for n, _ in named_maskable_layers(net)] == ["features.0", "features.2.0", "fc"]
    assert net.maskable_children == maskable_layers(net)


def test_pruning_counts_are_exact_on_a_conv_net():
    torch.manual_seed(0)
    model = small_cnn()
    total = sum(layer.weight.numel() for layer in maskable_layers(model))
    prune_network_by_saliency(model, 30)
    assert sum(int(layer.mask.sum()) for layer in maskable_layers(model)) == total - round(0.3 * total)
    masks = masks_by_amount(weight_snapshot(model), 0.5, scope="layer")
    assert {name: mask.shape for name, mask in masks.items()} == {
        "0": (8, 1, 3, 3),
        "3": (16, 4, 3, 3),
        "7": (10, 64),
    }


def test_extraction_reads_conv_masks():
    torch.manual_seed(0)
    model = small_cnn()
    conv = model[0]
    conv.mask = torch.zeros_like(conv.mask)
    conv.mask[:, :, 1, 1] = True  # the centre tap only
    arrays = GraphTransform(torch.zeros(1, 1, 8, 8)).transform_arrays(model)
    into_conv = next(i for i, m in enumerate(arrays.modules) if m == "0")
    count = arrays.offsets[into_conv + 1] - arrays.offsets[into_conv]
    assert count == 8 * 64  # one edge per output neuron: its own pixel


def test_the_shipped_small_cnn_has_masks_and_prunes():
    sample = load_sample("small_cnn")
    layers = maskable_layers(sample.model)
    assert [type(layer) for layer in layers] == [MaskedConv2d, MaskedConv2d, MaskedLinearLayer]
    assert all(layer.mask.all() for layer in layers)
    prune_network_by_saliency(sample.model, 50)
    assert sample.model(sample.example_input(2)).shape == (2, 10)


def test_lottery_tickets_on_a_conv_net():
    flat = load_dataset("digits", test_fraction=0.25, seed=0)
    images = dataclasses.replace(
        flat,
        x_train=flat.x_train.reshape(-1, 1, 8, 8),
        x_test=flat.x_test.reshape(-1, 1, 8, 8),
        input_shape=(1, 8, 8),
    )
    data = splits_of(images, validation=200, seed=0)
    assert data.x_train.shape[1:] == (1, 8, 8)
    config = LotteryConfig(rounds=1, rate=0.5, iterations=20, eval_every=10, batch_size=32, controls=("random",))
    result = run_lottery(small_cnn(), data, config)
    ticket = result.get(1, "ticket")
    assert ticket.percent_remaining == pytest.approx(100 * (1 - sum(round(0.5 * n) for n in (72, 576, 640)) / 1288))
    assert 0.0 <= ticket.final_accuracy <= 1.0


def test_a_seeded_conv_layer_matches_torch_draws():
    from workbench.sparse.init import default_init_

    torch.manual_seed(3)
    plain = nn.Conv2d(2, 3, 3)
    generator = torch.Generator().manual_seed(0)
    masked = MaskedConv2d(2, 3, 3)
    masked.reset_parameters(generator=generator)
    again = nn.Conv2d(2, 3, 3)
    default_init_(again.weight, again.bias, torch.Generator().manual_seed(0))
    assert torch.equal(masked.weight, again.weight) and torch.equal(masked.bias, again.bias)
    bound = 1 / (2 * 9) ** 0.5
    assert masked.weight.abs().max() <= bound and plain.weight.abs().max() <= bound
    assert F.conv2d(torch.zeros(1, 2, 3, 3), masked.weight).shape == (1, 3, 1, 1)
