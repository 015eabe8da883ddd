"""What every supported function and tensor method does to id maps.

Three kinds of ops:

* **element-wise** (activations, dropout, normalisation, dtype casts): the
  output element ``i`` is computed from input element ``i`` only, so the id
  map passes through unchanged. Normalisation (``F.batch_norm``,
  ``F.layer_norm``...) and ``softmax`` count as element-wise: their scale and
  shift are not folded into the edge weights, and the coupling through batch
  or layer statistics is not drawn as edges. A constant scalar factor
  (``0.5 * h``, ``h / 4``, ``-h``) is kept on the id map (``Ids.scale``) and
  multiplies the weights of the edges the next structural op draws from it.
  torchvision's ``stochastic_depth`` is the identity (as in eval mode).
* **rearrangements** (``view``, ``reshape``, ``flatten``, ``permute``,
  ``contiguous``, slicing, ``cat``...): applied to the id map itself.
* **structural** (linear, convolution, pooling, merges, reductions): new
  vertices and edges, see :mod:`workbench.transform.rules`; modules are in
  :mod:`workbench.transform.modules`.

Anything else raises :class:`~workbench.errors.ExtractionError` naming the op.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from workbench.errors import ExtractionError
from workbench.transform import rules
from workbench.transform.blocks import Extraction, Ids
from workbench.transform.modules import (
    LEAF_MODULES,
    LOOKUP_REASON,
    apply_module,
    conv_call,
    has_ids,
    pool_call,
)

__all__ = ["LEAF_MODULES", "apply_function", "apply_method", "apply_module", "has_ids"]

_ELEMENTWISE_FUNCTIONS = {
    torch.relu, torch.relu_, F.relu, F.relu_, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu, F.gelu, F.silu, F.mish,
    F.hardtanh, F.hardswish, F.hardsigmoid, F.softplus, F.softsign, F.logsigmoid, F.tanhshrink, F.prelu,
    torch.sigmoid, F.sigmoid, torch.tanh, F.tanh, torch.exp, torch.abs, torch.square, torch.sqrt, torch.clamp,
    torch.clip, torch.sin, torch.cos, torch.log, torch.erf, operator.pos,
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout, torch.dropout,
    F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm, F.normalize, F.softmax, F.log_softmax,
    torch.softmax, torch.log_softmax, torch.Tensor.float, torch.Tensor.double,
}  # fmt: skip
_ELEMENTWISE_METHODS = {
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "exp", "abs", "clamp", "clamp_", "clip",
    "softmax", "log_softmax", "float", "double", "half", "long", "int", "to", "type", "type_as", "detach",
    "sqrt", "square", "requires_grad_", "cpu", "cuda", "sin", "cos", "log",
}  # fmt: skip
_NEGATE = {torch.neg, operator.neg, "neg", "__neg__"}
_REARRANGE_FUNCTIONS = {
    torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.squeeze, torch.unsqueeze, torch.chunk,
    torch.split, torch.cat, torch.concat, torch.concatenate, torch.stack, torch.narrow, torch.unbind, torch.flip,
    torch.roll, torch.movedim, torch.swapaxes, torch.t, operator.getitem, torch.clone,
}  # fmt: skip
_REARRANGE_METHODS = {
    "view", "reshape", "flatten", "unflatten", "permute", "transpose", "t", "squeeze", "unsqueeze", "chunk",
    "split", "unbind", "narrow", "flip", "roll", "movedim", "swapaxes", "view_as", "reshape_as", "__getitem__",
    "contiguous", "clone",
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
_PRODUCTS = {operator.mul, operator.imul, torch.mul, "mul", "mul_"}
_QUOTIENTS = {operator.truediv, torch.div, "div", "div_"}
_DIFFERENCES = {operator.sub, operator.isub, torch.sub, "sub", "sub_"}


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


def _wrap(value: Any, blocks: frozenset[int] | None, scale: float = 1.0) -> Any:
    if isinstance(value, torch.Tensor) and value.dtype == torch.int64:
        return Ids(value, blocks=blocks, scale=scale)
    if isinstance(value, list | tuple):
        return type(value)(_wrap(v, blocks, scale) for v in value)
    return value


def _flat(args, kwargs):
    for a in (*args, *kwargs.values()):
        if isinstance(a, list | tuple):
            yield from a
        else:
            yield a


def _blocks(args, kwargs) -> frozenset[int] | None:
    """The union of the blocks of every id map among the arguments (``None`` if one is unknown)."""
    found: set[int] = set()
    for a in _flat(args, kwargs):
        if isinstance(a, Ids):
            if a.blocks is None:
                return None
            found |= a.blocks
    return frozenset(found)


def _name(value: Any) -> str:
    if isinstance(value, str):
        return value
    return getattr(value, "__name__", None) or repr(value)


def _arg(args, kwargs, i: int, key: str, default=None):
    return args[i] if len(args) > i else kwargs.get(key, default)


def _scalar(value: Any) -> float | None:
    """``value`` as a Python float when it is a real number or a 0-d constant tensor, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_complex():
        return float(value)
    return None


def _rearrange(ctx: Extraction, name: str, fn: Callable, args: tuple, kwargs: dict) -> Any:
    """Apply a rearrangement to the id maps among ``args``; they must hold one scale (else it is drawn first)."""
    found = [a for a in _flat(args, kwargs) if isinstance(a, Ids)]
    scales = {a.scale for a in found}
    if len(scales) > 1:  # combining maps of different factors: draw each factor as a vertex first
        drawn = {id(a): _draw_scale(ctx, name, a) for a in found}
        args = tuple(_swap(v, drawn) for v in args)
        kwargs = {k: _swap(v, drawn) for k, v in kwargs.items()}
        scales = {1.0}
    like = found[0]
    return _wrap(fn(*_unwrap(args, like), **_unwrap(kwargs, like)), _blocks(args, kwargs), scales.pop())


def _draw_scale(ctx: Extraction, name: str, ids: Ids) -> Ids:
    return ids if ids.scale == 1.0 else rules.merge(ctx, f"{name}_scale", "scale", [ids], [1.0])


def _swap(value: Any, drawn: dict) -> Any:
    if isinstance(value, Ids):
        return drawn.get(id(value), value)
    if isinstance(value, list | tuple):
        return type(value)(_swap(v, drawn) for v in value)
    return value


def _merge_or_pass(ctx, name, target, args, kwargs) -> Any:
    a, b = _arg(args, kwargs, 0, "input"), _arg(args, kwargs, 1, "other")
    if isinstance(a, Ids) and isinstance(b, Ids):
        alpha = kwargs.get("alpha", 1.0)
        signs = _MERGE_SIGNS[target]
        return rules.merge(ctx, name, _name(target), [a, b], [signs[0], signs[1] * float(alpha)])
    ids, other = (a, b) if isinstance(a, Ids) else (b, a)
    factor = _scalar(other)
    if factor is not None:  # a constant number: a factor on the values, or a shift that draws nothing
        if target in _PRODUCTS:
            return ids.scaled(factor)
        if target in _QUOTIENTS and ids is a and factor != 0:
            return ids.scaled(1.0 / factor)
        if target in _DIFFERENCES and ids is b:
            return ids.scaled(-1.0)
        return ids
    if isinstance(other, torch.Tensor) and other.dim() > 0:
        shape = torch.broadcast_shapes(ids.t.shape, other.shape)
        if shape[0] != 1:
            raise ExtractionError(f"{_name(target)} at {name!r} broadcasts the input over a batch of constants")
        return ids.like(ids.t.expand(shape))
    return ids


_POOL_FUNCTIONS = {
    F.max_pool1d: (1, False, F.max_pool1d), F.max_pool2d: (2, False, F.max_pool2d),
    F.max_pool3d: (3, False, F.max_pool3d), F.avg_pool1d: (1, True, F.avg_pool1d),
    F.avg_pool2d: (2, True, F.avg_pool2d), F.avg_pool3d: (3, True, F.avg_pool3d),
}  # fmt: skip
_ADAPTIVE_FUNCTIONS = {
    F.adaptive_avg_pool1d: True, F.adaptive_avg_pool2d: True, F.adaptive_avg_pool3d: True,
    F.adaptive_max_pool1d: False, F.adaptive_max_pool2d: False, F.adaptive_max_pool3d: False,
}  # fmt: skip


def _is_stochastic_depth(target: Any) -> bool:
    """torchvision's ``stochastic_depth`` (matched by name: torchvision need not be installed)."""
    return _name(target) == "stochastic_depth" and str(getattr(target, "__module__", "")).startswith("torchvision")


def _structural_function(ctx: Extraction, name: str, target, args, kwargs):
    x = args[0] if args else kwargs.get("input")
    if target is F.linear:
        weight = _arg(args, kwargs, 1, "weight")
        return rules.linear(ctx, name, "linear", x, rules.weight_numpy(weight))
    if target in (F.conv1d, F.conv2d, F.conv3d):
        get = lambda i, k, d: _arg(args, kwargs, i, k, d)  # noqa: E731
        return conv_call(ctx, name, _name(target), x, get(1, "weight", None), get(3, "stride", 1),
                         get(4, "padding", 0), get(5, "dilation", 1), get(6, "groups", 1))  # fmt: skip
    if target in _POOL_FUNCTIONS:
        nd, average, fn = _POOL_FUNCTIONS[target]
        names = ["kernel_size", "stride", "padding"]
        pos = {k: _arg(args, kwargs, i + 1, k) for i, k in enumerate(names)}
        extra = ["ceil_mode", "count_include_pad", "divisor_override"] if average else ["dilation", "ceil_mode"]
        kw = {k: _arg(args, kwargs, i + 4, k) for i, k in enumerate(extra) if _arg(args, kwargs, i + 4, k) is not None}
        return pool_call(ctx, name, _name(target), x, fn, nd, average, pos["kernel_size"], pos["stride"],
                         pos["padding"] or 0, **kw)  # fmt: skip
    if target in _ADAPTIVE_FUNCTIONS:
        nd = int(_name(target)[-2])
        size = _arg(args, kwargs, 1, "output_size")
        size = tuple(size) if isinstance(size, list | tuple) else (size,) * nd
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
    if target in (F.embedding, F.embedding_bag):
        raise ExtractionError(f"{_name(target)} at {name!r} {LOOKUP_REASON}")
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
        return Ids(stacked, stacked=True, blocks=_blocks(args, kwargs), scale=like.scale)
    if target in _ELEMENTWISE_FUNCTIONS or _is_stochastic_depth(target):
        return next(a for a in (*args, *kwargs.values()) if isinstance(a, Ids))
    if target in _NEGATE:
        return next(a for a in (*args, *kwargs.values()) if isinstance(a, Ids)).scaled(-1.0)
    if target in _MERGE_SIGNS:
        return _merge_or_pass(ctx, name, target, args, kwargs)
    if target in _REARRANGE_FUNCTIONS:
        return _rearrange(ctx, name, target, args, kwargs)
    if target is getattr:
        return getattr(args[0].t, args[1])
    result = _structural_function(ctx, name, target, args, kwargs)
    if result is None:
        raise ExtractionError(f"unsupported function {_name(target)} at {name!r}: no graph rule for it")
    return result


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
    if method in _NEGATE:
        return this.scaled(-1.0)
    if method in _META_METHODS:
        return getattr(this.t, method)(*args[1:], **kwargs)
    if method in _REARRANGE_METHODS:
        return _rearrange(ctx, name, lambda t, *a, **k: getattr(t, method)(*a, **k), args, kwargs)
    if method in _MERGE_SIGNS:
        return _merge_or_pass(ctx, name, method, args, kwargs)
    if method in ("mean", "sum"):
        dims = _arg(args, kwargs, 1, "dim")
        return _reduce(ctx, name, method, this, dims, _arg(args, kwargs, 2, "keepdim", False), method == "mean")
    if method in ("expand", "expand_as", "repeat"):
        return _wrap(getattr(this.t, method)(*_unwrap(args[1:], this), **kwargs), this.blocks, this.scale)
    raise ExtractionError(f"unsupported method Tensor.{method} at {name!r}: no graph rule for it")
