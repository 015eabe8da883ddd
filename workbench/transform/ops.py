"""What every supported module, function and tensor method does to id maps.

Three kinds of ops:

* **element-wise** (activations, dropout, normalisation, dtype casts): the
  output element ``i`` is computed from input element ``i`` only, so the id
  map passes through unchanged. Normalisation layers (``BatchNorm``,
  ``LayerNorm``, ``GroupNorm``, ``InstanceNorm``) and ``Softmax`` count as
  element-wise: their per-channel scale ``gamma / sqrt(var + eps)`` and shift
  are not folded into the edge weights, which stay the weights of the layer
  named in the edge's ``module`` attribute, and the coupling through batch or
  layer statistics is not drawn as edges.
* **rearrangements** (``view``, ``reshape``, ``flatten``, ``permute``, slicing,
  ``cat``...): applied to the id map itself.
* **structural** (linear, convolution, pooling, merges, reductions): new
  vertices and edges, see :mod:`workbench.transform.rules`.

Anything else raises :class:`~workbench.errors.ExtractionError` naming the op.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import ExtractionError
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN, MaskedEdgeLayer
from workbench.sparse.layers import MaskedLayer
from workbench.transform import masked, rules
from workbench.transform.blocks import Extraction, Ids

__all__ = ["LEAF_MODULES", "apply_function", "apply_method", "apply_module", "has_ids"]

_ELEMENTWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softsign, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.LogSigmoid,
    nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold, nn.Identity,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LocalResponseNorm,
    nn.Softmax, nn.LogSoftmax,
)  # fmt: skip
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPTIVE = (
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)  # fmt: skip
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)

#: Modules the tracer does not enter: they have a rule here.
LEAF_MODULES = (
    MaskedLayer, MaskedDeepFFN, MaskedDeepDAN, nn.Linear, *_CONVS, *_POOLS, *_ADAPTIVE, nn.Flatten, nn.Unflatten,
    *_ELEMENTWISE_MODULES,
)  # fmt: skip

_ELEMENTWISE_FUNCTIONS = {
    torch.relu, torch.relu_, F.relu, F.relu_, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu, F.gelu, F.silu, F.mish,
    F.hardtanh, F.hardswish, F.hardsigmoid, F.softplus, F.softsign, F.logsigmoid, F.tanhshrink, F.prelu,
    torch.sigmoid, F.sigmoid, torch.tanh, F.tanh, torch.exp, torch.abs, torch.neg, operator.neg, operator.pos,
    torch.square, torch.sqrt, torch.clamp, torch.clip, torch.sin, torch.cos, torch.log, torch.erf,
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout, torch.dropout,
    F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm, F.normalize, F.softmax, F.log_softmax,
    torch.softmax, torch.log_softmax, torch.Tensor.float, torch.Tensor.double,
}  # fmt: skip
_ELEMENTWISE_METHODS = {
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "exp", "abs", "neg", "clamp", "clamp_", "clip",
    "softmax", "log_softmax", "float", "double", "half", "to", "type", "type_as", "contiguous", "clone", "detach",
    "sqrt", "square", "requires_grad_", "cpu", "cuda", "sin", "cos", "log",
}  # fmt: skip
_REARRANGE_FUNCTIONS = {
    torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.squeeze, torch.unsqueeze, torch.chunk,
    torch.split, torch.cat, torch.concat, torch.concatenate, torch.stack, torch.narrow, torch.unbind, torch.flip,
    torch.roll, torch.movedim, torch.swapaxes, torch.t, operator.getitem,
}  # fmt: skip
_REARRANGE_METHODS = {
    "view", "reshape", "flatten", "unflatten", "permute", "transpose", "t", "squeeze", "unsqueeze", "chunk",
    "split", "unbind", "narrow", "flip", "roll", "movedim", "swapaxes", "view_as", "reshape_as", "__getitem__",
}  # fmt: skip
_META_METHODS = {"size", "dim", "numel", "nelement", "ndimension"}
_MERGE_SIGNS = {
    operator.add: (1.0, 1.0), operator.iadd: (1.0, 1.0), torch.add: (1.0, 1.0), "add": (1.0, 1.0),
    "add_": (1.0, 1.0), operator.sub: (1.0, -1.0), operator.isub: (1.0, -1.0), torch.sub: (1.0, -1.0),
    "sub": (1.0, -1.0), operator.mul: (1.0, 1.0), operator.imul: (1.0, 1.0), torch.mul: (1.0, 1.0),
    "mul": (1.0, 1.0), operator.truediv: (1.0, 1.0), torch.div: (1.0, 1.0), "div": (1.0, 1.0),
    torch.maximum: (1.0, 1.0), torch.minimum: (1.0, 1.0), "maximum": (1.0, 1.0), "minimum": (1.0, 1.0),
    operator.gt: (1.0, 1.0), operator.lt: (1.0, 1.0), operator.ge: (1.0, 1.0), operator.le: (1.0, 1.0),
    operator.eq: (1.0, 1.0), operator.ne: (1.0, 1.0), torch.gt: (1.0, 1.0), torch.lt: (1.0, 1.0),
    "gt": (1.0, 1.0), "lt": (1.0, 1.0), "ge": (1.0, 1.0), "le": (1.0, 1.0), "eq": (1.0, 1.0), "ne": (1.0, 1.0),
    "__gt__": (1.0, 1.0), "__lt__": (1.0, 1.0), "__ge__": (1.0, 1.0), "__le__": (1.0, 1.0),
}  # fmt: skip


def has_ids(value: Any) -> bool:
    if isinstance(value, Ids):
        return True
    if isinstance(value, list | tuple):
        return any(has_ids(v) for v in value)
    if isinstance(value, dict):
        return any(has_ids(v) for v in value.values())
    return False


def _unwrap(value: Any, like: Ids | None = None) -> Any:
    """Id maps to their tensors; with ``like``, constant tensors become ``-1`` maps of their shape."""
    if isinstance(value, Ids):
        return value.t
    if like is not None and isinstance(value, torch.Tensor):
        return torch.full(value.shape, -1, dtype=torch.int64)
    if isinstance(value, list | tuple):
        return type(value)(_unwrap(v, like) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, like) for k, v in value.items()}
    return value


def _wrap(value: Any, blocks: frozenset[int] | None) -> Any:
    if isinstance(value, torch.Tensor) and value.dtype == torch.int64:
        return Ids(value, blocks=blocks)
    if isinstance(value, list | tuple):
        return type(value)(_wrap(v, blocks) for v in value)
    return value


def _blocks(args, kwargs) -> frozenset[int] | None:
    """The union of the blocks of every id map among the arguments (``None`` if one is unknown)."""
    found: set[int] = set()
    for a in _flat(args, kwargs):
        if isinstance(a, Ids):
            if a.blocks is None:
                return None
            found |= a.blocks
    return frozenset(found)


def _tuple(value, n: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, list | tuple) else (int(value),) * n


def _name(value: Any) -> str:
    return getattr(value, "__name__", None) or repr(value)


# -- structural modules and functions -------------------------------------------------------------


def _conv_pads(padding, kernel, dilation, nd: int) -> list[tuple[int, int]]:
    if padding == "valid":
        return [(0, 0)] * nd
    if padding == "same":
        return [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation, strict=True)]
    return [(p, p) for p in _tuple(padding, nd)]


def _conv(ctx, name, kind, x: Ids, weight: torch.Tensor, stride, padding, dilation, groups, mode="constant", mask=None):
    nd = weight.dim() - 2
    kernel = tuple(weight.shape[2:])
    stride, dilation = _tuple(stride, nd), _tuple(dilation, nd)
    pads = _conv_pads(padding, kernel, dilation, nd)
    if len(x.features) != nd + 1:
        raise ExtractionError(f"{kind} at {name!r} expects a [C, *spatial] input per sample, got {x.features}")
    spatial = x.features[1:]
    out_size = [
        (s + p[0] + p[1] - d * (k - 1) - 1) // st + 1
        for s, p, d, k, st in zip(spatial, pads, dilation, kernel, stride, strict=True)
    ]
    w = rules.weight_numpy(weight)
    mode = {"zeros": "constant"}.get(mode, mode)
    return rules.conv(
        ctx, name, kind, x, w, stride=stride, pads=pads, dilation=dilation, groups=int(groups),
        out_size=out_size, mode=mode, mask=mask,
    )  # fmt: skip


def _pool(ctx, name, kind, x: Ids, fn: Callable, nd: int, average: bool, kernel_size, stride=None, padding=0, **kw):
    kernel = _tuple(kernel_size, nd)
    stride = kernel if stride is None or stride == [] or stride == () else _tuple(stride, nd)
    dilation = _tuple(kw.get("dilation", 1), nd)
    pads = [(p, p) for p in _tuple(padding, nd)]
    probe = torch.ones(1, 1, *x.features[1:])
    args = {k: v for k, v in kw.items() if k in ("ceil_mode", "count_include_pad", "divisor_override", "dilation")}
    pooled = fn(probe, kernel, stride, _tuple(padding, nd), **args)  # [1, 1, *O]
    out_size = tuple(pooled.shape[2:])
    scale = None
    if average:
        zeros = torch.zeros(1, 1, *x.features[1:], dtype=torch.int64)
        valid = rules._windows(zeros, kernel, stride, pads, dilation, out_size)  # 0 inside, -1 padding
        inside = (valid[0] >= 0).reshape(*out_size, -1).sum(-1)
        scale = pooled[0, 0].numpy() / np.maximum(inside, 1)
    return rules.pool(ctx, name, kind, x, kernel=kernel, stride=stride, pads=pads, dilation=dilation,
                      out_size=out_size, scale=scale)  # fmt: skip


_POOL_FUNCTIONS = {
    F.max_pool1d: (1, False, F.max_pool1d), F.max_pool2d: (2, False, F.max_pool2d),
    F.max_pool3d: (3, False, F.max_pool3d), F.avg_pool1d: (1, True, F.avg_pool1d),
    F.avg_pool2d: (2, True, F.avg_pool2d), F.avg_pool3d: (3, True, F.avg_pool3d),
}  # fmt: skip
_ADAPTIVE_FUNCTIONS = {
    F.adaptive_avg_pool1d: True, F.adaptive_avg_pool2d: True, F.adaptive_avg_pool3d: True,
    F.adaptive_max_pool1d: False, F.adaptive_max_pool2d: False, F.adaptive_max_pool3d: False,
}  # fmt: skip


def _pool_module(ctx, name, module: nn.Module, x: Ids) -> Ids:
    kind = type(module).__name__
    nd = int(kind[-2])
    average = kind.startswith("Avg")
    fn = {(1, False): F.max_pool1d, (2, False): F.max_pool2d, (3, False): F.max_pool3d,
          (1, True): F.avg_pool1d, (2, True): F.avg_pool2d, (3, True): F.avg_pool3d}[(nd, average)]  # fmt: skip
    kw = {"ceil_mode": module.ceil_mode}
    if average:
        kw["count_include_pad"] = module.count_include_pad
        if getattr(module, "divisor_override", None) is not None:
            kw["divisor_override"] = module.divisor_override
    else:
        kw["dilation"] = module.dilation
        if module.return_indices:
            raise ExtractionError(f"{kind} at {name!r} with return_indices=True is not supported")
    return _pool(ctx, name, kind, x, fn, nd, average, module.kernel_size, module.stride, module.padding, **kw)


def apply_module(ctx: Extraction, name: str, module: nn.Module, args: tuple, kwargs: dict, *, top: bool = False):
    """The id map of ``module(*args, **kwargs)``, recording its vertices and edges in ``ctx``."""
    kind = type(module).__name__
    if not args or not isinstance(args[0], Ids):
        if not has_ids((args, kwargs)):
            return module(*args, **kwargs)
        raise ExtractionError(f"{kind} at {name!r}: only its first argument may depend on the input")
    x = args[0]
    if isinstance(module, MaskedDeepFFN):
        return masked.ffn(ctx, name, module, x)
    if isinstance(module, MaskedDeepDAN):
        return masked.dan(ctx, name, module, x, design_labels=top)
    name = name or kind  # the model itself
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters(recurse=False)):
        raise ExtractionError(f"{kind} at {name!r} is not initialised yet: run the model once on an example first")
    if isinstance(module, MaskedEdgeLayer):
        raise ExtractionError(f"MaskedEdgeLayer at {name!r} outside a MaskedDeepDAN is not supported")
    if isinstance(module, nn.Linear):
        mask = module.mask.detach().cpu().numpy() if isinstance(module, MaskedLayer) else None
        return rules.linear(ctx, name, kind, x, rules.weight_numpy(module.weight), mask)
    if isinstance(module, _CONVS):
        mask = module.mask.detach().cpu().numpy() if isinstance(module, MaskedLayer) else None
        return _conv(ctx, name, kind, x, module.weight, module.stride, module.padding, module.dilation, module.groups,
                     module.padding_mode, mask)  # fmt: skip
    if isinstance(module, _POOLS):
        return _pool_module(ctx, name, module, x)
    if isinstance(module, _ADAPTIVE):
        size = module.output_size
        nd = int(kind[-2])
        return rules.adaptive_pool(ctx, name, kind, x, _tuple_none(size, nd), kind.startswith("AdaptiveAvg"))
    if isinstance(module, nn.Flatten):
        return x.like(x.t.flatten(module.start_dim, module.end_dim))
    if isinstance(module, nn.Unflatten):
        return x.like(x.t.unflatten(module.dim, module.unflattened_size))
    if isinstance(module, _ELEMENTWISE_MODULES):
        return x
    raise ExtractionError(f"unsupported module {kind} at {name!r}: no graph rule for it")


def _tuple_none(value, n: int) -> tuple:
    return tuple(value) if isinstance(value, list | tuple) else (value,) * n


# -- functions and methods -------------------------------------------------------------------------


def _arg(args, kwargs, i: int, key: str, default=None):
    return args[i] if len(args) > i else kwargs.get(key, default)


def _merge_or_pass(ctx, name, target, args, kwargs) -> Any:
    a, b = _arg(args, kwargs, 0, "input"), _arg(args, kwargs, 1, "other")
    if isinstance(a, Ids) and isinstance(b, Ids):
        alpha = kwargs.get("alpha", 1.0)
        signs = _MERGE_SIGNS[target]
        return rules.merge(ctx, name, _name(target), [a, b], [signs[0], signs[1] * float(alpha)])
    ids, other = (a, b) if isinstance(a, Ids) else (b, a)
    if isinstance(other, torch.Tensor) and other.dim() > 0:
        shape = torch.broadcast_shapes(ids.t.shape, other.shape)
        if shape[0] != 1:
            raise ExtractionError(f"{_name(target)} at {name!r} broadcasts the input over a batch of constants")
        return ids.like(ids.t.expand(shape))
    return ids


def _structural_function(ctx: Extraction, name: str, target, args, kwargs):
    x = args[0] if args else kwargs.get("input")
    if target is F.linear:
        weight = _arg(args, kwargs, 1, "weight")
        return rules.linear(ctx, name, "linear", x, rules.weight_numpy(weight))
    if target in (F.conv1d, F.conv2d, F.conv3d):
        get = lambda i, k, d: _arg(args, kwargs, i, k, d)  # noqa: E731
        return _conv(ctx, name, _name(target), x, get(1, "weight", None), get(3, "stride", 1), get(4, "padding", 0),
                     get(5, "dilation", 1), get(6, "groups", 1))  # fmt: skip
    if target in _POOL_FUNCTIONS:
        nd, average, fn = _POOL_FUNCTIONS[target]
        names = ["kernel_size", "stride", "padding"]
        pos = {k: _arg(args, kwargs, i + 1, k) for i, k in enumerate(names)}
        extra = ["ceil_mode", "count_include_pad", "divisor_override"] if average else ["dilation", "ceil_mode"]
        kw = {k: _arg(args, kwargs, i + 4, k) for i, k in enumerate(extra) if _arg(args, kwargs, i + 4, k) is not None}
        return _pool(ctx, name, _name(target), x, fn, nd, average, pos["kernel_size"], pos["stride"],
                     pos["padding"] or 0, **kw)  # fmt: skip
    if target in _ADAPTIVE_FUNCTIONS:
        nd = int(_name(target)[-2])
        size = _tuple_none(_arg(args, kwargs, 1, "output_size"), nd)
        return rules.adaptive_pool(ctx, name, _name(target), x, size, _ADAPTIVE_FUNCTIONS[target])
    if target in (torch.mean, torch.sum):
        dims = _arg(args, kwargs, 1, "dim")
        return _reduce(ctx, name, _name(target), x, dims, _arg(args, kwargs, 2, "keepdim", False), target is torch.mean)
    if target is F.pad:
        pad = _arg(args, kwargs, 1, "pad")
        mode = _arg(args, kwargs, 2, "mode", "constant")
        if mode == "constant":
            return x.like(F.pad(x.t, pad, value=-1))
        return x.like(F.pad(x.t.to(torch.float64), pad, mode=mode).to(torch.int64))
    return None


def _refuse_stacked(name: str, what: str, args, kwargs) -> None:
    if what not in ("sum", "mean") and any(isinstance(a, Ids) and a.stacked for a in _flat(args, kwargs)):
        raise ExtractionError(f"{what} at {name!r} on tensors stacked along the batch dimension is not supported")


def _reduce(ctx, name, kind, x: Ids, dims, keepdim, mean) -> Ids:
    if x.stacked:
        if dims not in (0, (0,), [0]) or keepdim:
            raise ExtractionError(f"{kind} at {name!r} of stacked tensors must reduce dimension 0 only")
        n = x.t.shape[0]
        return rules.merge(ctx, name, kind, [x.like(x.t[i]) for i in range(n)], [1.0 / n if mean else 1.0] * n)
    if dims is None:
        dims = tuple(range(1, x.t.dim()))
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    return rules.reduce(ctx, name, kind, x, dims, bool(keepdim), mean)


def apply_function(ctx: Extraction, name: str, target: Callable, args: tuple, kwargs: dict) -> Any:
    """The result of ``target(*args, **kwargs)`` when some argument is an id map."""
    if not has_ids((args, kwargs)):
        return target(*args, **kwargs)
    _refuse_stacked(name, _name(target), args, kwargs)
    if target is torch.stack and _arg(args, kwargs, 1, "dim", 0) == 0:
        like = next(a for a in _flat(args, kwargs) if isinstance(a, Ids))
        stacked = torch.stack(_unwrap(_arg(args, kwargs, 0, "tensors"), like))
        return Ids(stacked, stacked=True, blocks=_blocks(args, kwargs))
    if target in _ELEMENTWISE_FUNCTIONS:
        return next(a for a in (*args, *kwargs.values()) if isinstance(a, Ids))
    if target in _MERGE_SIGNS:
        return _merge_or_pass(ctx, name, target, args, kwargs)
    if target in _REARRANGE_FUNCTIONS:
        like = next(a for a in _flat(args, kwargs) if isinstance(a, Ids))
        return _wrap(target(*_unwrap(args, like), **_unwrap(kwargs, like)), _blocks(args, kwargs))
    if target is getattr:
        return getattr(args[0].t, args[1])
    result = _structural_function(ctx, name, target, args, kwargs)
    if result is None:
        raise ExtractionError(f"unsupported function {_name(target)} at {name!r}: no graph rule for it")
    return result


def _flat(args, kwargs):
    for a in (*args, *kwargs.values()):
        if isinstance(a, list | tuple):
            yield from a
        else:
            yield a


def apply_method(ctx: Extraction, name: str, method: str, args: tuple, kwargs: dict) -> Any:
    """The result of ``args[0].method(*args[1:], **kwargs)`` when ``args[0]`` is an id map."""
    this = args[0]
    _refuse_stacked(name, method, args, kwargs)
    if not isinstance(this, Ids):
        if has_ids((args, kwargs)) and method in _MERGE_SIGNS:
            return _merge_or_pass(ctx, name, method, args, kwargs)
        if has_ids((args, kwargs)):
            raise ExtractionError(f"unsupported method {method} at {name!r} with an input-dependent argument")
        return getattr(this, method)(*args[1:], **kwargs)
    if method in _ELEMENTWISE_METHODS:
        return this
    if method in _META_METHODS:
        return getattr(this.t, method)(*args[1:], **kwargs)
    if method in _REARRANGE_METHODS:
        return _wrap(getattr(this.t, method)(*_unwrap(args[1:], this), **_unwrap(kwargs, this)), _blocks(args, kwargs))
    if method in _MERGE_SIGNS:
        return _merge_or_pass(ctx, name, method, args, kwargs)
    if method in ("mean", "sum"):
        dims = _arg(args, kwargs, 1, "dim")
        return _reduce(ctx, name, method, this, dims, _arg(args, kwargs, 2, "keepdim", False), method == "mean")
    if method in ("expand", "expand_as", "repeat"):
        return _wrap(getattr(this.t, method)(*_unwrap(args[1:], this), **kwargs), this.blocks)
    raise ExtractionError(f"unsupported method Tensor.{method} at {name!r}: no graph rule for it")
