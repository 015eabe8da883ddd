"""Masks to and from ``torch.nn.utils.prune``: ``weight_orig`` + ``weight_mask``.

PyTorch's pruning keeps a pruned ``weight`` as a parameter ``weight_orig``
and a buffer ``weight_mask`` (same dtype as the weight, 0 or 1), and
recomputes ``weight = weight_orig * weight_mask`` before every forward. This
module converts between that format and workbench's boolean ``mask`` buffers:

- :func:`from_torch_pruned` makes a maskable copy of *any* model: every
  ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d`` / ``nn.Conv3d`` becomes its
  maskable twin, carrying the weights and, where PyTorch pruned it, the mask;
  :func:`to_torch_pruned` goes back. :func:`torch_prune_masks` reads the masks
  of a pruned model by layer name (for :func:`workbench.pruning.apply_masks`).
- :func:`to_torch_sequential` turns a :class:`~workbench.sparse.MaskedDeepFFN`
  into a plain ``nn.Sequential`` of ``nn.Linear`` layers pruned with
  ``prune.custom_from_mask``, so a ticket runs without workbench;
  :func:`from_torch_sequential` reads such a network back (pruned or not,
  for example by ``prune.l1_unstructured``; a network with convolutions
  comes back as :func:`from_torch_pruned` gives it).
- :func:`to_prune_state_dict` / :func:`load_prune_state_dict` work on any
  model with maskable layers: the entries of every maskable layer ``X``
  become ``X.weight_orig`` and ``X.weight_mask``. For a ``MaskedDeepFFN`` the
  keys are those of :func:`to_torch_sequential`'s module (``1.weight_orig``),
  so the state loads straight into it.

Outputs agree bit for bit: both multiply the stored weight by 0/1 and call
the same ``F.linear`` / ``F.conv*d``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn.utils import prune

from workbench.errors import CheckpointError
from workbench.sparse.conv import MASKED_TWINS
from workbench.sparse.ffn import MaskedDeepFFN
from workbench.sparse.init import global_rng_untouched
from workbench.sparse.layers import MaskedLinearLayer, as_bool_mask
from workbench.sparse.module import named_maskable_layers

__all__ = [
    "from_torch_pruned",
    "from_torch_sequential",
    "load_prune_state_dict",
    "to_prune_state_dict",
    "to_torch_pruned",
    "to_torch_sequential",
    "torch_prune_masks",
]

_PLAIN = (nn.Linear, *MASKED_TWINS)  # exactly these classes get a twin (not subclasses such as MHA's out_proj)


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# ---------------------------------------------------------------- any model


def _pruned(module: nn.Module, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(stored tensor, 0/1 mask or None)`` of ``module.<name>``, reading ``<name>_orig`` where PyTorch pruned it."""
    orig, mask = getattr(module, f"{name}_orig", None), getattr(module, f"{name}_mask", None)
    if orig is not None and mask is not None:
        return orig, mask
    return getattr(module, name), None


def torch_prune_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """The ``weight_mask`` of every module ``torch.nn.utils.prune`` pruned, as ``torch.bool``, by module name (pure).

    Example:
        >>> prune.l1_unstructured(plain.conv1, "weight", amount=0.5)
        >>> apply_masks(masked, torch_prune_masks(plain))  # a maskable model with the same module names
    """
    return {
        name: module.weight_mask.detach() != 0
        for name, module in model.named_modules()
        if hasattr(module, "weight_orig") and hasattr(module, "weight_mask")
    }


def _twin(module: nn.Module) -> nn.Module:
    """The maskable twin of a plain ``Linear`` / ``ConvNd`` with its effective weights and mask."""
    weight, mask = _pruned(module, "weight")
    has_bias = module.bias is not None or hasattr(module, "bias_orig")
    bias, bias_mask = _pruned(module, "bias") if has_bias else (None, None)
    factory = {"device": weight.device, "dtype": weight.dtype}
    with global_rng_untouched():
        if isinstance(module, nn.Linear):
            twin = MaskedLinearLayer(module.in_features, module.out_features, bias=bias is not None, **factory)
        else:
            twin = MASKED_TWINS[type(module)](
                module.in_channels, module.out_channels, module.kernel_size, module.stride, module.padding,
                module.dilation, module.groups, bias is not None, module.padding_mode, **factory,
            )  # fmt: skip
    with torch.no_grad():
        twin.weight.copy_(weight)
        if bias is not None:
            twin.bias.copy_(bias if bias_mask is None else bias * bias_mask)  # a pruned bias is folded in
    twin.mask = torch.ones_like(twin.mask) if mask is None else mask.detach()
    twin.train(module.training)
    return twin


def from_torch_pruned(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ``Linear`` and ``Conv1d/2d/3d`` layers are maskable (pure).

    Every such layer (exactly those classes; subclasses and layers that are
    already maskable are kept) becomes a :class:`~workbench.sparse.MaskedLinearLayer`
    or :class:`~workbench.sparse.MaskedConv2d` (...) holding its weights; a
    layer pruned by ``torch.nn.utils.prune`` gives ``weight_orig`` as the
    weight and ``weight_mask`` as the mask (a pruned bias is folded into the
    bias). The copy computes what ``model`` computes, keeps its module names,
    and prunes, trains and makes lottery tickets like any workbench model.
    Hooks registered on the replaced layers are not carried over.

    Example:
        >>> prune.l1_unstructured(net.conv1, "weight", amount=0.5)
        >>> masked = from_torch_pruned(net)   # masked.conv1.density == 0.5
    """
    return _copy_replacing(model, _PLAIN, _twin)


def _copy_replacing(model: nn.Module, classes: tuple[type, ...], replace) -> nn.Module:
    """A deep copy of ``model`` in which every module of exactly one of ``classes`` is ``replace(module)``.

    The replacements go in through ``deepcopy``'s memo, so the replaced modules
    are never copied (a pruned layer's computed ``weight`` cannot be).
    """
    memo = {id(m): replace(m) for m in model.modules() if type(m) in classes}
    return memo[id(model)] if id(model) in memo else copy.deepcopy(model, memo)


def _plain(layer: nn.Module, *, learnable: bool = False) -> nn.Module:
    """The plain torch layer of a maskable one, pruned with ``prune.custom_from_mask``."""
    if layer.mask_as_params and not learnable:
        raise CheckpointError(f"{type(layer).__name__} has a learnable mask; fix it first (mask_as_params is True)")
    factory = {"device": layer.weight.device, "dtype": layer.weight.dtype}
    with global_rng_untouched():
        if isinstance(layer, MaskedLinearLayer):
            plain = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None, **factory)
        else:
            cls = next(k for k, v in MASKED_TWINS.items() if isinstance(layer, v))
            plain = cls(
                layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                layer.dilation, layer.groups, layer.bias is not None, layer.padding_mode, **factory,
            )  # fmt: skip
    with torch.no_grad():
        plain.weight.copy_(layer.weight)
        if layer.bias is not None:
            plain.bias.copy_(layer.bias)
    prune.custom_from_mask(plain, "weight", layer.mask.detach().clone())
    plain.train(layer.training)
    return plain


def to_torch_pruned(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose maskable linear and conv layers are plain, pruned by ``torch.nn.utils.prune`` (pure).

    The inverse of :func:`from_torch_pruned`: every ``MaskedLinearLayer`` and
    ``MaskedConv1d/2d/3d`` becomes ``nn.Linear`` / ``nn.ConvNd`` with
    ``weight_orig`` and ``weight_mask`` (``prune.remove`` makes it permanent).
    Other modules, a ``MaskedDeepDAN``'s edge layers included, are copied as
    they are.

    Raises:
        CheckpointError: a layer has a learnable mask.
    """
    return _copy_replacing(model, (MaskedLinearLayer, *MASKED_TWINS.values()), _plain)


# ---------------------------------------------------------------- state dicts


def to_prune_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` in the format of ``torch.nn.utils.prune`` (pure).

    For every maskable layer ``X``: ``X.weight_orig`` (the stored weights) and
    ``X.weight_mask`` (the mask as 0/1 of the weight's dtype) replace
    ``X.weight`` and ``X.mask``; a learnable mask's ``X.mask_logits`` is left
    out. Every other entry is copied as it is. For a ``MaskedDeepFFN`` the keys
    are those of :func:`to_torch_sequential`'s module (``layers.0`` is ``0``,
    or ``1`` after a ``Flatten``), so ``to_torch_sequential(model).load_state_dict(state)``
    takes it as it is.

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
    if isinstance(model, MaskedDeepFFN):
        return {k: v.detach().clone() for k, v in _sequential(model, learnable=True).state_dict().items()}
    return state


def load_prune_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load a state dict in ``torch.nn.utils.prune`` format into ``model`` (mutates ``model``).

    A maskable layer ``X`` takes ``X.weight_orig`` and ``X.weight_mask``, or a
    plain ``X.weight`` (a layer PyTorch did not prune: every connection on). A
    ``MaskedDeepFFN`` takes either its own keys or those of
    :func:`to_torch_sequential`'s module (what :func:`to_prune_state_dict` writes).

    Raises:
        CheckpointError: keys are missing or left over, or a mask is not 0/1
            or has the wrong shape (the message names them).
    """
    state = dict(state)
    if isinstance(model, MaskedDeepFFN) and not any(k.startswith("layers.") for k in state):
        state = _ffn_state_from_sequential(model, state)
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


def _ffn_state_from_sequential(model: MaskedDeepFFN, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state of :func:`to_torch_sequential`'s module under ``model``'s keys (``1.weight_orig`` -> ``layers.0``)."""
    plain = _sequential(model, learnable=True)
    try:
        plain.load_state_dict(dict(state))
    except RuntimeError as exc:
        raise CheckpointError(
            f"state fits neither {type(model).__name__} nor its to_torch_sequential module: {exc}"
        ) from exc
    linears = [m for m in plain if isinstance(m, nn.Linear)]
    norms = [m for m in plain if isinstance(m, nn.LayerNorm)]
    activations = [m for m in plain if type(m) is type(model.activation)]
    out: dict[str, torch.Tensor] = {}
    for k, linear in enumerate(linears):
        for key, value in linear.state_dict().items():
            out[f"layers.{k}.{key}"] = value
    for k, norm in zip((i for i, n in enumerate(model.norms) if isinstance(n, nn.LayerNorm)), norms, strict=True):
        for key, value in norm.state_dict().items():
            out[f"norms.{k}.{key}"] = value
    if activations:
        out.update({f"activation.{key}": value for key, value in activations[0].state_dict().items()})
    return out


# ---------------------------------------------------------------- feed-forward networks


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
    return _sequential(model)


def _sequential(model: MaskedDeepFFN, *, learnable: bool = False) -> nn.Sequential:
    """:func:`to_torch_sequential`; with ``learnable``, a learnable mask is taken as it is now."""
    modules: list[nn.Module] = [nn.Flatten()] if len(model.input_shape) > 1 else []
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        if layer.mask_as_params and not learnable:
            raise CheckpointError(f"layer {i} has a learnable mask; fix it first (layer.mask_as_params is True)")
        modules.append(_plain(layer, learnable=learnable))
        if i < last:
            norm = model.norms[i]
            if not isinstance(norm, nn.Identity):
                modules.append(copy.deepcopy(norm))
            modules.append(copy.deepcopy(model.activation))
    return nn.Sequential(*modules)


def from_torch_sequential(module: nn.Module, *, input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """A :class:`MaskedDeepFFN` with the weights and masks of a plain PyTorch MLP (pure).

    Reads ``module``'s leaf modules in order: an optional leading ``Flatten``,
    then ``Linear`` layers separated by one activation each (all of one class)
    and optionally a ``LayerNorm``. A ``Linear`` pruned by
    ``torch.nn.utils.prune`` gives ``weight_orig`` and ``weight_mask``; an
    unpruned one is kept whole. A network with a convolution is no MLP: it
    comes back as :func:`from_torch_pruned` gives it (a copy with maskable
    layers and the same masks).

    Args:
        input_shape: the model's input shape (default: ``(in_features,)``).

    Raises:
        CheckpointError: an MLP's module that does not fit this layout (named in the message).

    Example:
        >>> net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        >>> prune.l1_unstructured(net[0], "weight", amount=0.5)
        >>> model = from_torch_sequential(net)   # model.layers[0].density == 0.5
    """
    leaves = [(n, m) for n, m in module.named_modules() if not list(m.children())]
    if any(type(m) in MASKED_TWINS for _, m in leaves):
        return from_torch_pruned(module)
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
    with global_rng_untouched():
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
            orig, mask = _pruned(source, "weight")
            target.weight.copy_(orig)
            if (target.bias is None) != (source.bias is None):
                raise CheckpointError(f"layer {i}: bias presence differs")
            if source.bias is not None:
                target.bias.copy_(source.bias)
            target.mask = torch.ones_like(target.mask) if mask is None else mask.detach()
            if use_norm and i < len(model.norms):
                model.norms[i] = copy.deepcopy(norms[i]) if isinstance(norms[i], nn.LayerNorm) else model.norms[i]
    return model
