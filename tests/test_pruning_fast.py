"""Global masks_by_amount on CPU (numpy partition path) equals the general torch path exactly."""

import pytest
import torch

import workbench.pruning as pruning
from workbench.errors import PruningError


def _general(weights, amount, base):
    original = pruning._global_masks_on_cpu
    pruning._global_masks_on_cpu = lambda *args: None
    try:
        return pruning.masks_by_amount(weights, amount, base=base)
    finally:
        pruning._global_masks_on_cpu = original


@pytest.mark.parametrize("trial", range(60))
def test_fast_global_masks_equal_the_general_path(trial):
    generator = torch.Generator().manual_seed(trial)
    dtype = [torch.float32, torch.float64, torch.float16][trial % 3]
    weights = {}
    for i in range(1 + trial % 3):
        shape = tuple(int(s) for s in torch.randint(1, 6, (2,), generator=generator))
        if trial % 4 == 0:  # small integers: many ties and zeros
            w = torch.randint(-3, 4, shape, generator=generator).to(dtype)
        else:
            w = torch.randn(shape, generator=generator).to(dtype)
        if trial % 7 == 0:
            w.view(-1)[0] = float("nan")
        weights[f"layer{i}"] = w
    base = None if trial % 2 else {n: torch.rand(w.shape, generator=generator) > 0.3 for n, w in weights.items()}
    if trial % 7 == 0:  # both paths refuse NaN weights alike
        with pytest.raises(PruningError, match="layer 'layer0' has 1 non-finite weight"):
            pruning.masks_by_amount(weights, 0.5, base=base)
        with pytest.raises(PruningError, match="layer 'layer0' has 1 non-finite weight"):
            _general(weights, 0.5, base)
        return
    assert pruning._global_masks_on_cpu(weights, pruning._base(weights, base), 0.5) is not None
    alive = sum(int(pruning._base(weights, base)[n].sum()) for n in weights)
    for amount in [0.0, 0.1, 0.5, 0.9, 1.0, 0, min(3, alive), max(alive - 1, 0), alive]:
        fast, general = pruning.masks_by_amount(weights, amount, base=base), _general(weights, amount, base)
        assert fast.keys() == general.keys()
        for name in fast:
            assert fast[name].dtype == torch.bool
            assert torch.equal(fast[name], general[name]), (amount, name)


def test_other_dtypes_take_the_general_path():
    weights = {"a": torch.randn(3, 3, dtype=torch.bfloat16)}
    assert pruning._global_masks_on_cpu(weights, pruning._base(weights, None), 0.5) is None
    assert int(pruning.masks_by_amount(weights, 4)["a"].sum()) == 5
