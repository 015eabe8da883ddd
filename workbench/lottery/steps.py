"""The steps of iterative magnitude pruning: next masks, random masks, rewinding, reinitialising.

:func:`prune_masks` and :func:`random_masks` are pure: they compute masks from
weights and never touch a model. :func:`rewind` and :func:`reinitialize`
mutate the model they are given, and say so.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from workbench.errors import MaskError
from workbench.pruning import Scope, apply_masks, masks_by_amount
from workbench.sparse.layers import MaskedLayer
from workbench.sparse.module import named_maskable_layers

__all__ = ["output_layer_name", "prune_masks", "random_masks", "reinitialize", "rewind"]

Masks = dict[str, torch.Tensor]


# ------------------------------------------------------------------------ pure mask steps


def output_layer_name(model: nn.Module, name: str | None = None) -> str:
    """``name`` checked against the model's maskable layers, or the last maskable layer.

    Raises:
        MaskError: the model has no maskable layers, or ``name`` is not one of them.
    """
    names = [n for n, _ in named_maskable_layers(model)]
    if not names:
        raise MaskError(f"{type(model).__name__} has no maskable layers")
    if name is None:
        return names[-1]
    if name not in names:
        raise MaskError(f"output layer {name!r} is not a maskable layer; layers are {names}")
    return name


def prune_masks(
    weights: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    *,
    rate: float,
    output_rate: float | None = None,
    output_layer: str | None = None,
    scope: Scope = "layer",
) -> Masks:
    """The masks of the next round: prune ``rate`` of the weights ``masks`` keeps (pure).

    Smallest magnitude first, with exact counts (``round(rate * remaining)``
    per layer, or of all layers but the output layer together for
    ``scope="global"``). With ``output_rate`` the output layer (``output_layer``,
    default the last key of ``weights``) loses ``round(output_rate * its remaining)``.

    Example:
        >>> masks = prune_masks(weight_snapshot(model), current_masks(model), rate=0.2, output_rate=0.1)
    """
    if output_rate is None:
        return masks_by_amount(weights, float(rate), scope=scope, base=masks)
    out = output_layer if output_layer is not None else list(weights)[-1]
    if out not in weights:
        raise MaskError(f"output layer {out!r} is not among the layers {list(weights)}")
    hidden = {n: w for n, w in weights.items() if n != out}
    result = masks_by_amount(hidden, float(rate), scope=scope, base={n: masks[n] for n in hidden}) if hidden else {}
    result.update(masks_by_amount({out: weights[out]}, float(output_rate), base={out: masks[out]}))
    return {n: result[n] for n in weights}


def random_masks(
    masks: Mapping[str, torch.Tensor],
    *,
    base: Mapping[str, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> Masks:
    """Masks with the same number of weights on per layer as ``masks``, placed at random (pure).

    Args:
        base: the connections that may be chosen (default: every entry); the
            designed connections of a sparse design.
        generator: a CPU generator for reproducible masks.
    """
    out = {}
    for name, mask in masks.items():
        allowed = (base[name] if base is not None else torch.ones_like(mask)).flatten().cpu()
        slots = allowed.nonzero().flatten()
        kept = int(mask.sum())
        if kept > slots.numel():
            raise MaskError(f"layer {name!r} keeps {kept} weights but only {slots.numel()} are designed")
        chosen = slots[torch.randperm(slots.numel(), generator=generator)[:kept]]
        new = torch.zeros(mask.numel(), dtype=torch.bool)
        new[chosen] = True
        out[name] = new.view(mask.shape).to(mask.device)
    return out


# ----------------------------------------------------------------------- model steps


def rewind(model: nn.Module, state: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]) -> None:
    """Load ``state`` into ``model``, set ``masks`` and zero the pruned weights (mutates ``model``).

    The survivors hold exactly the values of ``state``, bit for bit.
    """
    model.load_state_dict(dict(state))
    apply_masks(model, masks)
    for _, layer in named_maskable_layers(model):
        layer.apply_mask()


@torch.no_grad()
def reinitialize(model: nn.Module, *, seed: int) -> None:
    """Draw fresh weights for every layer from its own initialiser, keeping masks (mutates ``model``).

    Uses ``seed`` without disturbing the global random state; pruned weights are zeroed.
    """
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for module in model.modules():
            if isinstance(module, MaskedLayer):
                module.reset_parameters(keep_mask=True)
                module.apply_mask()
            elif module is not model and hasattr(module, "reset_parameters"):
                module.reset_parameters()
