"""Magnitude pruning: the pure mask functions and the seed-compatible wrappers."""

import networkx as nx
import pytest
import torch
from torch import nn

from workbench.errors import MaskError, PruningError
from workbench.pruning import (
    PruningStrategy,
    apply_masks,
    current_masks,
    densities,
    masks_by_amount,
    masks_by_threshold,
    prune_layer_by_saliency,
    prune_network_by_saliency,
    smallest_k,
    threshold_for_amount,
    weight_snapshot,
)
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN, MaskedLinearLayer, maskable_layers


def _kept(model):
    return sum(int(layer.mask.sum()) for layer in maskable_layers(model))


def test_percentage_prunes_that_percent_of_the_remaining_weights():
    torch.manual_seed(0)
    model = MaskedDeepFFN(784, 10, [200, 100])
    total = _kept(model)
    prune_network_by_saliency(model, 50, strategy=PruningStrategy.PERCENTAGE)
    assert _kept(model) == total - round(0.5 * total)
    remaining = _kept(model)
    prune_network_by_saliency(model, 50)  # half of what remains, not 50 % of the original
    assert _kept(model) == remaining - round(0.5 * remaining)
    assert all(layer.mask.dtype == torch.bool for layer in maskable_layers(model))


def test_absolute_prunes_that_many_and_the_smallest_ones():
    layer = MaskedLinearLayer(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -0.1, 3.0], [-0.2, 1.0, 0.05]]))
    prune_layer_by_saliency(layer, 3, strategy=PruningStrategy.ABSOLUTE)
    assert layer.mask.tolist() == [[True, False, True], [False, True, False]]


def test_pruning_finds_nested_layers():
    model = nn.Sequential(nn.Sequential(MaskedLinearLayer(10, 10)), nn.ModuleDict({"x": MaskedLinearLayer(10, 5)}))
    prune_network_by_saliency(model, 40)
    assert _kept(model) == 150 - 60


def test_pruning_everything_is_allowed():
    model = MaskedDeepFFN(8, 2, [4])
    prune_network_by_saliency(model, 100)
    assert _kept(model) == 0
    assert torch.all(model(torch.randn(3, 8)) == model.layers[-1].bias)
    prune_network_by_saliency(model, 50)  # nothing left: still no crash
    assert _kept(model) == 0


def test_ties_at_the_cut_still_prune_the_exact_count():
    weights = {"a": torch.ones(4, 5), "b": torch.ones(3)}
    masks = masks_by_amount(weights, 7)
    assert sum(int(m.sum()) for m in masks.values()) == 23 - 7
    assert smallest_k(torch.tensor([2.0, 1.0, 1.0, 1.0, 0.5]), 2).tolist() == [False, True, False, False, True]


def test_masks_by_amount_per_layer_and_global():
    weights = {"a": torch.arange(1.0, 11.0), "b": torch.arange(100.0, 104.0)}
    per_layer = masks_by_amount(weights, 0.5, scope="layer")
    assert int(per_layer["a"].sum()) == 5 and int(per_layer["b"].sum()) == 2
    global_ = masks_by_amount(weights, 0.5, scope="global")
    assert int(global_["a"].sum()) == 3 and int(global_["b"].sum()) == 4


def test_masks_are_pure_and_respect_the_base():
    torch.manual_seed(0)
    model = MaskedDeepFFN(6, 2, [5])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    weights = weight_snapshot(model)
    base = current_masks(model)
    base["layers.0"][0, 0] = False
    masks = masks_by_threshold(weights, 0.0, base=base)
    assert not masks["layers.0"][0, 0], "a weight masked in the base came back"
    masks_by_amount(weights, 0.3, base=base)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_preview_from_a_snapshot_can_drag_back():
    torch.manual_seed(0)
    model = MaskedDeepFFN(6, 2, [5])
    snapshot, base = weight_snapshot(model), current_masks(model)
    apply_masks(model, masks_by_threshold(snapshot, 0.3, base=base))
    assert _kept(model) < sum(m.numel() for m in base.values())
    apply_masks(model, masks_by_threshold(snapshot, 0.0, base=base))
    assert _kept(model) == sum(m.numel() for m in base.values())


def test_densities_count_kept_over_designed():
    model = MaskedDeepDAN(4, 2, nx.DiGraph([(0, 1), (1, 2), (0, 2)]))
    base = current_masks(model)
    masks = masks_by_amount(weight_snapshot(model), 0.5, base=base)
    rows = densities(masks, base)
    assert [r.name for r in rows] == ["input_layer", "layers.0", "layers.1", "output_layer"]
    assert sum(r.kept for r in rows) == sum(int(m.sum()) for m in masks.values())
    assert all(r.total == int(base[r.name].sum()) for r in rows)
    assert all(0.0 <= r.density <= 1.0 for r in rows)


def test_threshold_for_amount_matches_masks_by_threshold():
    torch.manual_seed(0)
    weights = {"a": torch.randn(50, 20), "b": torch.randn(30)}
    theta = threshold_for_amount(weights, 0.25)
    masks = masks_by_threshold(weights, theta)
    pruned = sum(int((~m).sum()) for m in masks.values())
    assert pruned == round(0.25 * 1030)


def test_error_paths_name_the_value():
    weights = {"a": torch.randn(3, 3)}
    with pytest.raises(PruningError, match=r"amount 1\.5 is a float outside \[0, 1\]"):
        masks_by_amount(weights, 1.5)
    with pytest.raises(PruningError, match="amount 20 is not between 0 and the 9 remaining"):
        masks_by_amount(weights, 20)
    with pytest.raises(PruningError, match="amount must be a float in"):
        masks_by_amount(weights, "half")
    with pytest.raises(PruningError, match="unknown scope 'all'"):
        masks_by_amount(weights, 0.1, scope="all")
    with pytest.raises(PruningError, match="threshold must be a finite non-negative number, got -1"):
        masks_by_threshold(weights, -1)
    with pytest.raises(PruningError, match=r"percentage 120 is outside \[0, 100\]"):
        prune_network_by_saliency(MaskedDeepFFN(3, 2, [2]), 120)
    with pytest.raises(MaskError, match="not maskable layers of this model: \\['nope'\\]"):
        apply_masks(MaskedDeepFFN(3, 2, [2]), {"nope": torch.ones(2, 3)})
    with pytest.raises(MaskError, match="Linear has no maskable layers"):
        prune_network_by_saliency(nn.Linear(3, 3), 10)
    with pytest.raises(MaskError, match="base mask of 'a' has shape \\(2,\\)"):
        masks_by_threshold(weights, 0.1, base={"a": torch.ones(2, dtype=torch.bool)})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_pruning_works_on_cuda_tensors():
    model = MaskedDeepFFN(20, 3, [10]).cuda()
    prune_network_by_saliency(model, 30)
    assert all(layer.mask.is_cuda for layer in maskable_layers(model))


# ----------------------------------------------------------------- non-finite weights


def _poisoned(value: float, count: int = 2) -> MaskedDeepFFN:
    torch.manual_seed(0)
    model = MaskedDeepFFN(6, 3, [5])
    with torch.no_grad():
        model.layers[1].weight.view(-1)[:count] = value
    return model


NON_FINITE = [float("nan"), float("inf"), float("-inf")]
CALLS = {
    "masks_by_amount (global)": lambda w, b: masks_by_amount(w, 0.3, base=b),
    "masks_by_amount (layer)": lambda w, b: masks_by_amount(w, 0.3, scope="layer", base=b),
    "masks_by_amount (count)": lambda w, b: masks_by_amount(w, 4, base=b),
    "masks_by_threshold": lambda w, b: masks_by_threshold(w, 0.1, base=b),
    "threshold_for_amount": lambda w, b: threshold_for_amount(w, 0.3, base=b),
}


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_preview_functions_refuse_non_finite_weights_naming_the_layer(call, value):
    model = _poisoned(value)
    with pytest.raises(PruningError, match=r"layer 'layers\.1' has 2 non-finite weights \(NaN or inf\) of 15"):
        CALLS[call](weight_snapshot(model), current_masks(model))


@pytest.mark.parametrize("value", NON_FINITE)
def test_pruning_a_model_with_non_finite_weights_raises_and_changes_nothing(value):
    model = _poisoned(value, count=1)
    before = current_masks(model)
    with pytest.raises(PruningError, match=r"layer 'layers\.1' has 1 non-finite weight \(NaN or inf\)"):
        prune_network_by_saliency(model, 50)
    with pytest.raises(PruningError, match=r"the layer has 1 non-finite weight"):
        prune_layer_by_saliency(model.layers[1], 50)
    assert all(torch.equal(before[k], v) for k, v in current_masks(model).items())


def test_the_issue_case_nan_is_not_kept_as_the_largest_weight():
    # before: masks_by_amount ranked NaN above every magnitude, kept it, and the output was NaN
    model = _poisoned(float("nan"), count=1)
    with pytest.raises(PruningError, match="NaN"):
        masks_by_amount(weight_snapshot(model), 0.9)
    healthy = MaskedDeepFFN(6, 3, [5])
    apply_masks(healthy, masks_by_amount(weight_snapshot(healthy), 0.9))
    assert torch.isfinite(healthy(torch.randn(4, 6))).all()


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), -0.5, True, "0.1", None])
def test_thresholds_must_be_finite_non_negative_numbers(threshold):
    weights = weight_snapshot(MaskedDeepFFN(3, 2, [2]))
    with pytest.raises(PruningError, match="threshold must be a finite non-negative number"):
        masks_by_threshold(weights, threshold)
