"""Magnitude pruning: masks computed by pure functions, applied in a separate step.

A set of masks is a ``dict`` from a layer's qualified name (as in
``model.named_modules()``) to a ``torch.bool`` tensor shaped like its weight.
The functions here never change a model except :func:`apply_masks` and the
seed-compatible ``prune_*_by_saliency`` wrappers, which say so.

``amount`` means what it means in ``torch.nn.utils.prune``: a float in
``[0, 1]`` is a fraction, a non-negative int a count, both of the weights
still unmasked. Ties at the cut are broken by position, so exactly the
requested number of weights is pruned.

Non-finite weights (NaN, inf) are refused: every function that ranks or
thresholds magnitudes raises :class:`~workbench.errors.PruningError` naming
the first such layer and how many of its weights are not finite, instead of
ranking NaN as the largest magnitude (and keeping it) or as below every
threshold (and pruning it). Such weights come from diverged training; train
again with a smaller learning rate, or reset the model.

Example:
    >>> weights = weight_snapshot(model)            # keep for previews
    >>> masks = masks_by_amount(weights, 0.5, base=current_masks(model))
    >>> [d.density for d in densities(masks)]        # preview, model unchanged
    >>> apply_masks(model, masks)                    # commit
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from workbench.errors import MaskError, PruningError
from workbench.sparse.layers import MaskedLayer, as_bool_mask
from workbench.sparse.module import named_maskable_layers

__all__ = [
    "LayerDensity",
    "PruningStrategy",
    "apply_masks",
    "check_finite",
    "current_masks",
    "densities",
    "masks_by_amount",
    "masks_by_threshold",
    "prune_layer_by_saliency",
    "prune_network_by_saliency",
    "smallest_k",
    "threshold_for_amount",
    "weight_snapshot",
]

Masks = dict[str, torch.Tensor]
Scope = Literal["global", "layer"]


class PruningStrategy(enum.Enum):
    """How ``value`` of ``prune_*_by_saliency`` is read."""

    PERCENTAGE = "percentage"  # that percent of the remaining weights, 0 to 100
    ABSOLUTE = "absolute"  # that many of the remaining weights


@dataclass(frozen=True)
class LayerDensity:
    """Kept and designed connections of one layer."""

    name: str
    kept: int
    total: int

    @property
    def density(self) -> float:
        return self.kept / self.total if self.total else 0.0


def weight_snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of every maskable layer's weights, by layer name."""
    return {name: layer.weight.detach().clone() for name, layer in named_maskable_layers(model)}


def current_masks(model: nn.Module) -> Masks:
    """Copies of every maskable layer's mask, by layer name."""
    return {name: layer.mask.detach().clone() for name, layer in named_maskable_layers(model)}


def check_finite(weights: Mapping[str, torch.Tensor]) -> None:
    """Refuse weights holding NaN or inf (one sum per layer, no copy).

    A sum is finite only if every term is (NaN and inf propagate; ``inf - inf``
    is NaN), so the common case costs one reduction; only a non-finite sum
    (non-finite weights, or an overflow of finite ones) is looked at closely.

    Raises:
        PruningError: naming the first layer with non-finite weights and how many it has.
    """
    for name, w in weights.items():
        if not w.numel() or not w.is_floating_point() or bool(torch.isfinite(w.detach().sum())):
            continue
        bad = int(w.numel() - torch.isfinite(w.detach()).sum())
        if not bad:
            continue  # the sum overflowed; every weight is finite
        layer = f"layer {name!r}" if name else "the layer"
        raise PruningError(
            f"{layer} has {bad} non-finite weight{'s' if bad != 1 else ''} (NaN or inf) of {w.numel()}; "
            "magnitude pruning cannot rank them (train again with a smaller learning rate, or reset the model)"
        )


def _base(weights: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor] | None) -> Masks:
    if base is None:
        return {name: torch.ones_like(w, dtype=torch.bool) for name, w in weights.items()}
    missing = set(weights) - set(base)
    if missing:
        raise MaskError(f"no base mask for layers {sorted(missing)}")
    return {name: as_bool_mask(base[name], w.shape, what=f"base mask of {name!r}") for name, w in weights.items()}


def masks_by_threshold(
    weights: Mapping[str, torch.Tensor], threshold: float, *, base: Mapping[str, torch.Tensor] | None = None
) -> Masks:
    """Keep the weights with ``|w| > threshold`` that ``base`` keeps (pure).

    Raises:
        PruningError: ``threshold`` is not a finite non-negative number, or a
            layer has non-finite weights (see :func:`check_finite`).
    """
    _check_threshold(threshold)
    check_finite(weights)
    base_masks = _base(weights, base)
    return {name: base_masks[name] & (w.abs() > threshold) for name, w in weights.items()}


def _check_threshold(threshold: float) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not math.isfinite(threshold):
        raise PruningError(f"threshold must be a finite non-negative number, got {threshold!r}")
    if threshold < 0:
        raise PruningError(f"threshold must be a finite non-negative number, got {threshold!r}")


def _count(amount: float | int, remaining: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise PruningError(f"amount must be a float in [0, 1] or a non-negative int, got {amount!r}")
    if isinstance(amount, float):
        if not 0.0 <= amount <= 1.0:
            raise PruningError(f"amount {amount!r} is a float outside [0, 1]")
        return round(amount * remaining)
    if amount < 0 or amount > remaining:
        raise PruningError(f"amount {amount} is not between 0 and the {remaining} remaining weights")
    return amount


def smallest_k(values: torch.Tensor, k: int) -> torch.Tensor:
    """Bool mask of exactly the ``k`` smallest entries of a 1-D tensor (ties by position)."""
    n = values.numel()
    selected = torch.zeros(n, dtype=torch.bool, device=values.device)
    if k <= 0 or n == 0:
        return selected
    if k >= n:
        return ~selected
    cut = torch.kthvalue(values, k).values
    selected = values < cut
    missing = k - int(selected.sum())
    if missing > 0:
        ties = torch.nonzero(values == cut).flatten()[:missing]
        selected[ties] = True
    return selected


def masks_by_amount(
    weights: Mapping[str, torch.Tensor],
    amount: float | int,
    *,
    scope: Scope = "global",
    base: Mapping[str, torch.Tensor] | None = None,
) -> Masks:
    """Prune ``amount`` of the weights that ``base`` keeps, smallest magnitude first (pure).

    Args:
        weights: weights by layer name (see :func:`weight_snapshot`).
        amount: fraction in ``[0, 1]`` or count of the remaining weights.
        scope: ``"global"`` ranks all layers together; ``"layer"`` prunes
            ``amount`` of every layer separately (a count then applies per layer).
        base: masks to start from (default: all on). Masked weights stay masked.

    Raises:
        PruningError: ``amount`` or ``scope`` out of range, or a layer has
            non-finite weights (see :func:`check_finite`).
    """
    check_finite(weights)
    base_masks = _base(weights, base)
    if scope == "layer":
        result = {}
        for name, w in weights.items():
            keep = base_masks[name].flatten()
            alive = w.detach().abs().flatten()[keep]
            pruned = smallest_k(alive, _count(amount, alive.numel()))
            new = keep.clone()
            new[keep.nonzero().flatten()[pruned]] = False
            result[name] = new.view_as(w)
        return result
    if scope != "global":
        raise PruningError(f"unknown scope {scope!r}; expected 'global' or 'layer'")
    fast = _global_masks_on_cpu(weights, base_masks, amount)
    if fast is not None:
        return fast
    names = list(weights)
    alive = [weights[n].detach().abs().flatten()[base_masks[n].flatten()] for n in names]
    flat = torch.cat([a.to(alive[0].dtype) for a in alive]) if alive else torch.zeros(0)
    pruned = smallest_k(flat, _count(amount, flat.numel()))
    result, start = {}, 0
    for name, a in zip(names, alive, strict=True):
        keep = base_masks[name].flatten()
        new = keep.clone()
        new[keep.nonzero().flatten()[pruned[start : start + a.numel()]]] = False
        result[name] = new.view_as(weights[name])
        start += a.numel()
    return result


def _global_masks_on_cpu(weights: Mapping[str, torch.Tensor], base_masks: Masks, amount: float | int) -> Masks | None:
    """Global ``masks_by_amount`` for CPU weights of one float dtype, in numpy; None for other inputs.

    Same result as the general path (the ``k`` smallest magnitudes among the
    kept weights, ties at the cut by position), in a few passes: the kept
    magnitudes are copied once into one array, ``numpy.partition`` finds the
    ``k``-th smallest in place (several times faster than ``torch.kthvalue``
    on CPU), and every layer's new mask is one comparison with that cut. Only
    when some but not all weights equal to the cut are pruned are their
    positions looked up.
    """
    tensors = [w.detach() for w in weights.values()]
    if not tensors or any(w.device.type != "cpu" for w in tensors):
        return None
    if len({w.dtype for w in tensors}) != 1 or tensors[0].dtype not in (torch.float16, torch.float32, torch.float64):
        return None
    values = [w.reshape(-1).numpy() for w in tensors]
    keeps = [base_masks[name].reshape(-1).cpu().numpy() for name in weights]
    full = [bool(keep.all()) for keep in keeps]
    counts = [v.size if f else int(np.count_nonzero(keep)) for v, keep, f in zip(values, keeps, full, strict=True)]
    total = sum(counts)
    k = _count(amount, total)
    if k <= 0:
        return {name: base_masks[name].clone().view_as(w) for name, w in weights.items()}
    if k >= total:
        return {name: torch.zeros(w.shape, dtype=torch.bool) for name, w in weights.items()}
    magnitudes = np.empty(total, dtype=values[0].dtype)  # [total] kept |w|, layer after layer
    start = 0
    for v, keep, f, count in zip(values, keeps, full, counts, strict=True):
        np.abs(v if f else v[keep], out=magnitudes[start : start + count])
        start += count
    magnitudes.partition(k - 1)
    cut = magnitudes[k - 1]  # the k-th smallest kept magnitude
    below = int(np.count_nonzero(magnitudes[: k - 1] < cut))
    ties_to_prune = k - below  # >= 1 weights equal to the cut, earliest first
    all_ties = ties_to_prune >= int(np.count_nonzero(magnitudes == cut))
    del magnitudes
    result = {}
    for (name, w), v, keep, f in zip(weights.items(), values, keeps, full, strict=True):
        if all_ties:  # prune |w| <= cut
            new = ~((v <= cut) & (v >= -cut))
        else:
            new = ~((v < cut) & (v > -cut))  # prune |w| < cut, then the first ties
            ties = np.flatnonzero(((v == cut) | (v == -cut)) & keep)[:ties_to_prune]
            new[ties] = False
            ties_to_prune -= ties.size
        if not f:
            new &= keep
        result[name] = torch.from_numpy(new).view(w.shape)
    return result


def threshold_for_amount(
    weights: Mapping[str, torch.Tensor], amount: float, *, base: Mapping[str, torch.Tensor] | None = None
) -> float:
    """The magnitude below which ``amount`` (a fraction) of the remaining weights lie.

    Raises:
        PruningError: ``amount`` out of range, or a layer has non-finite
            weights (see :func:`check_finite`).
    """
    check_finite(weights)
    base_masks = _base(weights, base)
    flat = torch.cat([w.detach().abs().flatten()[base_masks[n].flatten()] for n, w in weights.items()])
    k = _count(float(amount), flat.numel())
    return float(torch.kthvalue(flat, k).values) if k > 0 else 0.0


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Copy ``masks`` into the model's layers (mutates ``model``).

    Raises:
        MaskError: a name is not a maskable layer of ``model``, or a mask does not fit.
    """
    layers = dict(named_maskable_layers(model))
    unknown = set(masks) - set(layers)
    if unknown:
        raise MaskError(f"not maskable layers of this model: {sorted(unknown)}")
    for name, mask in masks.items():
        layers[name].mask = mask


def densities(masks: Mapping[str, torch.Tensor], base: Mapping[str, torch.Tensor] | None = None) -> list[LayerDensity]:
    """Kept / designed connections per layer, in the order of ``masks``.

    ``base`` gives the designed connections (default: every entry).
    """
    out = []
    for name, mask in masks.items():
        total = int(base[name].sum()) if base is not None else mask.numel()
        out.append(LayerDensity(name, int(mask.sum()), total))
    return out


# ----------------------------------------------------------------- seed-compatible API


def _amount(value: float | int, strategy: PruningStrategy) -> float | int:
    if strategy == PruningStrategy.PERCENTAGE:
        if not 0 <= value <= 100:
            raise PruningError(f"percentage {value!r} is outside [0, 100]")
        return float(value) / 100.0
    if strategy == PruningStrategy.ABSOLUTE:
        if int(value) != value or value < 0:
            raise PruningError(f"absolute amount must be a non-negative int, got {value!r}")
        return int(value)
    raise PruningError(f"unknown pruning strategy {strategy!r}")


def prune_layer_by_saliency(
    layer: MaskedLayer, value: float | int, strategy: PruningStrategy = PruningStrategy.PERCENTAGE
) -> None:
    """Mask ``value`` percent (or that many) of the layer's remaining weights, smallest first.

    Mutates ``layer.mask``; stored weights are left as they are.

    Raises:
        PruningError: ``value`` out of range, or non-finite weights (nothing is changed then).
    """
    if not isinstance(layer, MaskedLayer):
        raise MaskError(f"{type(layer).__name__} is not a maskable layer")
    masks = masks_by_amount({"": layer.weight}, _amount(value, strategy), base={"": layer.mask})
    layer.mask = masks[""]


def prune_network_by_saliency(
    model: nn.Module, value: float | int, strategy: PruningStrategy = PruningStrategy.PERCENTAGE
) -> None:
    """Mask ``value`` percent (or that many) of all remaining weights, ranked across layers.

    Finds maskable layers at any depth. Mutates the masks of ``model``.

    Raises:
        PruningError: ``value`` out of range, or a layer has non-finite
            weights (nothing is changed then).

    Example:
        >>> model = MaskedDeepFFN(784, 10, [200, 100])
        >>> prune_network_by_saliency(model, 10, strategy=PruningStrategy.PERCENTAGE)
    """
    weights = weight_snapshot_view(model)
    if not weights:
        raise MaskError(f"{type(model).__name__} has no maskable layers")
    masks = masks_by_amount(weights, _amount(value, strategy), base=current_masks_view(model))
    apply_masks(model, masks)


def weight_snapshot_view(model: nn.Module) -> dict[str, torch.Tensor]:
    """Like :func:`weight_snapshot` without copying (for immediate use)."""
    return {name: layer.weight.detach() for name, layer in named_maskable_layers(model)}


def current_masks_view(model: nn.Module) -> Masks:
    """Like :func:`current_masks` without copying (for immediate use)."""
    return {name: layer.mask for name, layer in named_maskable_layers(model)}


def layer_names(model: nn.Module) -> Iterable[str]:
    return [name for name, _ in named_maskable_layers(model)]
