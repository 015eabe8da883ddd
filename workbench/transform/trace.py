"""Following a model's data flow: ``torch.fx`` symbolic tracing, interpreted on id maps.

The model is traced, never run: every node of the fx graph is applied to the
id maps of its inputs (:mod:`workbench.transform.ops`). Modules with a rule
(this package's masked models and layers, ``nn.Linear``, convolutions,
pooling, activations, normalisation...) are leaves; containers and custom
modules are traced through, so functional calls (``F.relu``,
``torch.flatten``, ``x + y``, ``torch.cat``) are seen. Where symbolic tracing
fails (shape-dependent Python control flow, iteration over a tensor, a
``forward`` with optional tensor arguments) the extraction falls back to
:mod:`workbench.transform.fallback`, a forward pass in eval mode on an id
tensor that refuses data-dependent control flow.

Every refusal is an :class:`~workbench.errors.ExtractionError` that names the
module (its path in the model and its class) and the op where the data flow
could not be followed; the error's ``module`` and ``op`` attributes hold them.

Note: ``torch.fx`` patches ``nn.Module.__call__`` process-wide while it
traces; do not trace while another thread runs a model.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx as fx
from torch import nn

from workbench.errors import ExtractionError
from workbench.transform.blocks import Extraction, Ids
from workbench.transform.ops import LEAF_MODULES, apply_function, apply_method, apply_module

__all__ = ["follow", "locate"]


def locate(error: Exception, module: str, module_type: str, op: str, line: str | None = None) -> ExtractionError:
    """``error`` as an :class:`ExtractionError` that names where it happened (unless it already does).

    Args:
        module: the qualified name of the innermost module (``""``: the model itself).
        module_type: that module's class name.
        op: the op (``'add_1' (add)``, ``Tensor.view``, the module class of a leaf).
        line: the source line, where known.
    """
    if isinstance(error, ExtractionError) and getattr(error, "op", None) is not None:
        return error
    reason = str(error) if isinstance(error, ExtractionError) else f"{type(error).__name__}: {error}"
    where = f"module {module!r} ({module_type})" if module else f"the model ({module_type})"
    located = ExtractionError(f"{reason} [in {where}, op {op}{f', {line}' if line else ''}]")
    located.module, located.op = module, op
    return located


class _Tracer(fx.Tracer):
    """Stops at every module that has a rule."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, LEAF_MODULES) or super().is_leaf_module(m, module_qualified_name)


def follow(ctx: Extraction, model: nn.Module, x: Ids) -> Any:
    """Apply ``model`` to the id map ``x``, recording vertices and edges in ``ctx``; return the output's ids."""
    if isinstance(model, LEAF_MODULES):
        try:
            return apply_module(ctx, "", model, (x,), {}, top=True)
        except Exception as err:
            raise locate(err, "", type(model).__name__, type(model).__name__) from err
    try:
        graph = _Tracer().trace(model)
    except ExtractionError:
        raise
    except Exception as err:  # symbolic tracing fails in many ways (TraceError, TypeError, RuntimeError...)
        from workbench.transform.fallback import follow_eager

        return follow_eager(ctx, model, x, reason=err)
    return interpret(ctx, model, graph, x)


def _fetch(model: nn.Module, target: str) -> Any:
    value: Any = model
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _where(node: fx.Node, model: nn.Module, modules: dict[str, nn.Module]) -> tuple[str, str, str]:
    """``(module path, module class, op)`` of an fx node."""
    if node.op == "call_module":
        kind = type(modules[node.target]).__name__
        return node.target, kind, kind
    stack = node.meta.get("nn_module_stack") or {}
    path, kind = "", type(model).__name__
    if stack:
        path, cls = list(stack.values())[-1]
        kind = getattr(cls, "__name__", str(cls))
    if node.op == "call_method":
        return path, kind, f"{node.name!r} (Tensor.{node.target})"
    target = getattr(node.target, "__name__", None) or str(node.target)
    return path, kind, f"{node.name!r} ({target})"


def interpret(ctx: Extraction, model: nn.Module, graph: fx.Graph, x: Ids) -> Any:
    """Run the fx ``graph`` of ``model`` on id maps."""
    env: dict[fx.Node, Any] = {}
    modules = dict(model.named_modules())
    inputs = 0
    for node in graph.nodes:
        try:
            args = fx.node.map_arg(node.args, env.__getitem__)
            kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
            if node.op == "placeholder":
                if inputs == 0:
                    env[node] = x
                elif args:
                    env[node] = args[0]  # the default value
                else:
                    raise ExtractionError(f"forward of {type(model).__name__} takes a second input {node.target!r}")
                inputs += 1
            elif node.op == "get_attr":
                env[node] = _fetch(model, node.target)
            elif node.op == "call_module":
                env[node] = apply_module(ctx, node.target, modules[node.target], args, kwargs)
            elif node.op == "call_function":
                env[node] = apply_function(ctx, node.name, node.target, args, kwargs)
            elif node.op == "call_method":
                if node.target.endswith("_") and not isinstance(args[0], Ids) and isinstance(args[0], torch.Tensor):
                    raise ExtractionError(f"in-place Tensor.{node.target} at {node.name!r} would change the model")
                env[node] = apply_method(ctx, node.name, node.target, args, kwargs)
            elif node.op == "output":
                return args[0]
        except Exception as err:  # a rearrangement torch refuses (RuntimeError), a bad argument...
            raise locate(err, *_where(node, model, modules)) from err
    return None
