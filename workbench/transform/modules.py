"""What every supported module does to id maps, and the convolution and pooling calls they share with
their functional forms (``F.conv2d``, ``F.max_pool2d``...).

A module is a leaf of the extraction when it has a rule here (:data:`LEAF_MODULES`);
the tracer follows the data flow through every other module. Weights are read
as the forward pass would use them: ``weight * mask`` for this package's
masked layers, and ``weight_orig * weight_mask`` for a layer pruned with
``torch.nn.utils.prune`` (its ``weight`` attribute is only refreshed by the
next forward pass, so after an optimizer step it is stale).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import ExtractionError
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN, MaskedEdgeLayer
from workbench.sparse.layers import MaskedLayer
from workbench.transform import masked, rules
from workbench.transform.blocks import Extraction, Ids
from workbench.transform.geometry import windows

__all__ = ["LEAF_MODULES", "apply_module", "conv_call", "has_ids", "pool_call", "tuple_of"]

ELEMENTWISE_MODULES = (
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
#: Modules that read their input as indices: refused with a message that says so.
LOOKUPS = (nn.Embedding, nn.EmbeddingBag)

#: Modules the tracer does not enter: they have a rule here.
LEAF_MODULES = (
    MaskedLayer, MaskedDeepFFN, MaskedDeepDAN, nn.Linear, *_CONVS, *_POOLS, *_ADAPTIVE, nn.Flatten, nn.Unflatten,
    *ELEMENTWISE_MODULES, *LOOKUPS,
)  # fmt: skip

LOOKUP_REASON = (
    "looks up rows of its weight by the values of its input (indices), so its graph would depend on the input's "
    "values; extract the part after it, with an example of its output as the input"
)


def has_ids(value) -> bool:
    if isinstance(value, Ids):
        return True
    if isinstance(value, list | tuple):
        return any(has_ids(v) for v in value)
    if isinstance(value, dict):
        return any(has_ids(v) for v in value.values())
    return False


def tuple_of(value, n: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, list | tuple) else (int(value),) * n


def _tuple_none(value, n: int) -> tuple:
    return tuple(value) if isinstance(value, list | tuple) else (value,) * n


def weight_of(module: nn.Module) -> tuple[torch.Tensor, np.ndarray | None]:
    """``(weight the forward pass uses, mask or None)`` of a linear or conv module.

    ``torch.nn.utils.prune`` keeps ``weight_orig`` and ``weight_mask`` and
    recomputes ``weight`` before each forward: read those instead.
    """
    if isinstance(module, MaskedLayer):
        return module.weight, module.mask.detach().cpu().numpy()
    orig, prune_mask = getattr(module, "weight_orig", None), getattr(module, "weight_mask", None)
    if isinstance(orig, torch.Tensor) and isinstance(prune_mask, torch.Tensor):
        return orig.detach() * prune_mask.detach(), None
    return module.weight, None


def _conv_pads(padding, kernel, dilation, nd: int) -> list[tuple[int, int]]:
    if padding == "valid":
        return [(0, 0)] * nd
    if padding == "same":
        return [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation, strict=True)]
    return [(p, p) for p in tuple_of(padding, nd)]


def conv_call(ctx, name, kind, x: Ids, weight: torch.Tensor, stride, padding, dilation, groups, mode="constant",
              mask=None):  # fmt: skip
    """The id map of a convolution with these arguments (a module's or ``F.conv*d``'s)."""
    nd = weight.dim() - 2
    kernel = tuple(weight.shape[2:])
    stride, dilation = tuple_of(stride, nd), tuple_of(dilation, nd)
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


def pool_call(ctx, name, kind, x: Ids, fn: Callable, nd: int, average: bool, kernel_size, stride=None, padding=0, **kw):
    """The id map of a pooling op with these arguments (a module's or ``F.*_pool*d``'s)."""
    kernel = tuple_of(kernel_size, nd)
    stride = kernel if stride is None or stride == [] or stride == () else tuple_of(stride, nd)
    dilation = tuple_of(kw.get("dilation", 1), nd)
    pads = [(p, p) for p in tuple_of(padding, nd)]
    probe = torch.ones(1, 1, *x.features[1:])
    args = {k: v for k, v in kw.items() if k in ("ceil_mode", "count_include_pad", "divisor_override", "dilation")}
    pooled = fn(probe, kernel, stride, tuple_of(padding, nd), **args)  # [1, 1, *O]
    out_size = tuple(pooled.shape[2:])
    scale = None
    if average:
        zeros = torch.zeros(1, 1, *x.features[1:], dtype=torch.int64)
        valid = windows(zeros, kernel, stride, pads, dilation, out_size)  # 0 inside, -1 padding
        inside = (valid[0] >= 0).reshape(*out_size, -1).sum(-1)
        scale = pooled[0, 0].numpy() / np.maximum(inside, 1)
    return rules.pool(ctx, name, kind, x, kernel=kernel, stride=stride, pads=pads, dilation=dilation,
                      out_size=out_size, scale=scale)  # fmt: skip


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
    return pool_call(ctx, name, kind, x, fn, nd, average, module.kernel_size, module.stride, module.padding, **kw)


def apply_module(ctx: Extraction, name: str, module: nn.Module, args: tuple, kwargs: dict, *, top: bool = False):
    """The id map of ``module(*args, **kwargs)``, recording its vertices and edges in ``ctx``."""
    kind = type(module).__name__
    if not args or not isinstance(args[0], Ids):
        if not has_ids((args, kwargs)):
            return module(*args, **kwargs)
        raise ExtractionError(f"{kind} at {name!r}: only its first argument may depend on the input")
    x = args[0]
    if isinstance(module, LOOKUPS):
        raise ExtractionError(f"{kind} at {name or kind!r} {LOOKUP_REASON}")
    if isinstance(module, MaskedDeepFFN | MaskedDeepDAN):
        if x.scale != 1.0:
            x = rules.merge(ctx, f"{name}.input" if name else "input", "scale", [x], [1.0])
        if isinstance(module, MaskedDeepFFN):
            return masked.ffn(ctx, name, module, x)
        return masked.dan(ctx, name, module, x, design_labels=top)
    name = name or kind  # the model itself
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters(recurse=False)):
        raise ExtractionError(f"{kind} at {name!r} is not initialised yet: run the model once on an example first")
    if isinstance(module, MaskedEdgeLayer):
        raise ExtractionError(f"MaskedEdgeLayer at {name!r} outside a MaskedDeepDAN is not supported")
    if isinstance(module, nn.Linear):
        weight, mask = weight_of(module)
        return rules.linear(ctx, name, kind, x, rules.weight_numpy(weight), mask)
    if isinstance(module, _CONVS):
        weight, mask = weight_of(module)
        return conv_call(ctx, name, kind, x, weight, module.stride, module.padding, module.dilation, module.groups,
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
    if isinstance(module, ELEMENTWISE_MODULES):
        return x
    raise ExtractionError(f"unsupported module {kind} at {name!r}: no graph rule for it")
