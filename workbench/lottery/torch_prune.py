"""Masks to and from ``torch.nn.utils.prune``: ``weight_orig`` + ``weight_mask``.

PyTorch's pruning keeps a pruned ``weight`` as a parameter ``weight_orig``
and a buffer ``weight_mask`` (same dtype as the weight, 0 or 1), and
recomputes ``weight = weight_orig * weight_mask`` before every forward. This
module converts between that format and workbench's boolean ``mask`` buffers:

- :func:`to_prune_state_dict` / :func:`load_prune_state_dict` work on any
  model with maskable layers (FFN, DAN): the state dict keys of every
  maskable layer ``X`` become ``X.weight_orig`` and ``X.weight_mask``.
- :func:`to_torch_sequential` turns a :class:`~workbench.sparse.MaskedDeepFFN`
  into a plain ``nn.Sequential`` of ``nn.Linear`` layers pruned with
  ``prune.custom_from_mask``, so a ticket runs without workbench;
  :func:`from_torch_sequential` reads such a network back (pruned or not,
  for example by ``prune.l1_unstructured``).

Outputs agree bit for bit: both multiply the stored weight by 0/1 and call
the same ``F.linear``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.utils import prune

from workbench.errors import CheckpointError
from workbench.sparse.ffn import MaskedDeepFFN
from workbench.sparse.layers import as_bool_mask
from workbench.sparse.module import named_maskable_layers

__all__ = ["from_torch_sequential", "load_prune_state_dict", "to_prune_state_dict", "to_torch_sequential"]


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def to_prune_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` in the format of ``torch.nn.utils.prune`` (pure).

    For every maskable layer ``X``: ``X.weight_orig`` (the stored weights) and
    ``X.weight_mask`` (the mask as 0/1 of the weight's dtype) replace
    ``X.weight`` and ``X.mask``; a learnable mask's ``X.mask_logits`` is left
    out. Every other entry is copied as it is.

    Example:
        >>> state = to_prune_state_dict(ticket)
        >>> torch.save(state, "ticket.pt")   # loads into a module pruned with prune.custom_from_mask
    """
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for name, layer in named_maskable_layers(model):
        weight = state.pop(_key(name, "weight"))
        state.pop(_key(name, "mask"))
        state.pop(_key(name, "mask_logits"), None)
        state[_key(name, "weight_orig")] = weight
        state[_key(name, "weight_mask")] = layer.mask.detach().to(weight.dtype)
    return state


def load_prune_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load a state dict in ``torch.nn.utils.prune`` format into ``model`` (mutates ``model``).

    A maskable layer ``X`` takes ``X.weight_orig`` and ``X.weight_mask``, or a
    plain ``X.weight`` (a layer PyTorch did not prune: every connection on).

    Raises:
        CheckpointError: keys are missing or left over, or a mask is not 0/1
            or has the wrong shape (the message names them).
    """
    state = dict(state)
    plain: dict[str, torch.Tensor] = {}
    masks: dict[str, torch.Tensor] = {}
    for name, layer in named_maskable_layers(model):
        orig, mask_key, weight = _key(name, "weight_orig"), _key(name, "weight_mask"), _key(name, "weight")
        if orig in state and mask_key in state:
            plain[weight] = state.pop(orig)
            raw = state.pop(mask_key)
        elif weight in state:
            plain[weight] = state.pop(weight)
            raw = torch.ones_like(layer.mask)
        else:
            raise CheckpointError(f"no {orig!r} + {mask_key!r} (or {weight!r}) for maskable layer {name or 'model'!r}")
        try:
            masks[name] = as_bool_mask(raw, layer.mask.shape, what=f"{mask_key!r}")
        except ValueError as exc:
            raise CheckpointError(str(exc)) from None
        plain[_key(name, "mask")] = masks[name]
        if layer.mask_as_params:
            plain[_key(name, "mask_logits")] = layer.mask_logits.detach().clone()
    plain.update(state)
    missing, unexpected = model.load_state_dict(plain, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"state does not fit {type(model).__name__}: missing {missing}, unexpected {unexpected}")
    for name, layer in named_maskable_layers(model):
        layer.mask = masks[name]  # also sets learnable masks' logits


def to_torch_sequential(model: MaskedDeepFFN) -> nn.Sequential:
    """A plain ``nn.Sequential`` computing what ``model`` computes, pruned with ``torch.nn.utils.prune`` (pure).

    Layout: ``[Flatten]`` (for multi-dimensional inputs), then per hidden
    layer ``Linear, [LayerNorm], activation``, then the output ``Linear``.
    Every ``Linear`` carries ``weight_orig`` and ``weight_mask`` from
    ``prune.custom_from_mask``; ``prune.remove`` makes the pruning permanent.

    Raises:
        CheckpointError: ``model`` is not a ``MaskedDeepFFN`` or has a learnable mask.
    """
    if not isinstance(model, MaskedDeepFFN):
        raise CheckpointError(f"to_torch_sequential needs a MaskedDeepFFN, got {type(model).__name__}")
    modules: list[nn.Module] = [nn.Flatten()] if len(model.input_shape) > 1 else []
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        if layer.mask_as_params:
            raise CheckpointError(f"layer {i} has a learnable mask; fix it first (layer.mask_as_params is True)")
        linear = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
        linear.to(device=layer.weight.device, dtype=layer.weight.dtype)
        with torch.no_grad():
            linear.weight.copy_(layer.weight)
            if layer.bias is not None:
                linear.bias.copy_(layer.bias)
        prune.custom_from_mask(linear, "weight", layer.mask.detach().clone())
        modules.append(linear)
        if i < last:
            norm = model.norms[i]
            if not isinstance(norm, nn.Identity):
                modules.append(copy.deepcopy(norm))
            modules.append(copy.deepcopy(model.activation))
    return nn.Sequential(*modules)


def from_torch_sequential(module: nn.Module, *, input_shape: tuple[int, ...] | None = None) -> MaskedDeepFFN:
    """A :class:`MaskedDeepFFN` with the weights and masks of a plain PyTorch MLP (pure).

    Reads ``module``'s leaf modules in order: an optional leading ``Flatten``,
    then ``Linear`` layers separated by one activation each (all of one class)
    and optionally a ``LayerNorm``. A ``Linear`` pruned by
    ``torch.nn.utils.prune`` gives ``weight_orig`` and ``weight_mask``; an
    unpruned one is kept whole.

    Args:
        input_shape: the model's input shape (default: ``(in_features,)``).

    Raises:
        CheckpointError: a module that does not fit this layout (named in the message).

    Example:
        >>> net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        >>> prune.l1_unstructured(net[0], "weight", amount=0.5)
        >>> model = from_torch_sequential(net)   # model.layers[0].density == 0.5
    """
    leaves = [(n, m) for n, m in module.named_modules() if not list(m.children())]
    if leaves and isinstance(leaves[0][1], nn.Flatten):
        leaves = leaves[1:]
    linears: list[nn.Linear] = []
    norms: list[nn.Module] = []
    activation: nn.Module | None = None
    expect = "linear"
    for name, m in leaves:
        if isinstance(m, nn.Linear):
            if expect == "activation":
                raise CheckpointError(f"module {name!r}: two Linear layers without an activation between them")
            linears.append(m)
            norms.append(nn.Identity())
            expect = "activation"
        elif isinstance(m, nn.LayerNorm) and expect == "activation":
            norms[-1] = m
        elif expect == "activation" and not isinstance(m, nn.Dropout) and not any(True for _ in m.parameters()):
            if activation is not None and type(m) is not type(activation):
                raise CheckpointError(
                    f"module {name!r} is a {type(m).__name__}, but earlier activations are {type(activation).__name__}"
                )
            activation = m
            expect = "linear"
        elif not isinstance(m, nn.Identity | nn.Dropout):
            raise CheckpointError(f"module {name!r} ({type(m).__name__}) does not fit Linear/activation layers")
    if not linears or expect != "activation" or any(not isinstance(n, nn.Identity) for n in norms[-1:]):
        raise CheckpointError(f"{type(module).__name__} must end in a Linear layer and contain at least one")
    shape = input_shape if input_shape is not None else (linears[0].in_features,)
    if math.prod(shape) != linears[0].in_features:
        raise CheckpointError(f"input shape {shape} does not give the {linears[0].in_features} inputs of layer 0")
    use_norm = any(isinstance(n, nn.LayerNorm) for n in norms[:-1])
    model = MaskedDeepFFN(
        shape,
        linears[-1].out_features,
        [m.out_features for m in linears[:-1]],
        use_layer_norm=use_norm,
        activation=type(activation) if activation is not None else nn.ReLU,
    )
    if activation is not None:
        model.activation = copy.deepcopy(activation)
    first = linears[0].weight
    model.to(device=first.device, dtype=first.dtype)
    with torch.no_grad():
        for i, (target, source) in enumerate(zip(model.layers, linears, strict=True)):
            orig = getattr(source, "weight_orig", source.weight)
            mask = getattr(source, "weight_mask", None)
            target.weight.copy_(orig)
            if (target.bias is None) != (source.bias is None):
                raise CheckpointError(f"layer {i}: bias presence differs")
            if source.bias is not None:
                target.bias.copy_(source.bias)
            target.mask = torch.ones_like(target.mask) if mask is None else mask.detach()
            if use_norm and i < len(model.norms):
                model.norms[i] = copy.deepcopy(norms[i]) if isinstance(norms[i], nn.LayerNorm) else model.norms[i]
    return model
