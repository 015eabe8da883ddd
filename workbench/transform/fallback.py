"""Fallback when ``torch.fx`` cannot trace a model: one eager forward pass on a traced tensor.

Symbolic tracing fails on Python control flow that asks a tensor for its
shape (``if x.dim() > 2:``). Then the model runs once, in eval mode, on a
``[1, *features]`` tensor of zeros that carries the input's id map
(:class:`_Traced`). Its ``__torch_function__`` applies every function and
method the model calls between modules to the id maps
(:mod:`workbench.transform.ops`); modules that have a rule are opaque: global
forward hooks (this thread only, removed afterwards) replace their output with
the id map of their rule, while their own forward runs on plain zeros.

Asking a traced value for its truth or a Python number (``bool``, ``item``,
``tolist``) means data-dependent control flow: the graph would depend on the
values, so the extraction stops with an :class:`~workbench.errors.ExtractionError`
that names the module running at that moment, the op and the source line.

The model is put back exactly: every module's ``training`` flag is restored,
nothing is assigned to it, and in eval mode no layer updates a buffer.
"""

from __future__ import annotations

import operator
import threading
import traceback
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook

from workbench.errors import ExtractionError
from workbench.transform.blocks import Extraction, Ids
from workbench.transform.ops import LEAF_MODULES, apply_function, apply_method, apply_module
from workbench.transform.trace import locate

__all__ = ["follow_eager"]

_DATA_DEPENDENT = {"__bool__", "item", "tolist", "__int__", "__float__", "__index__", "numpy", "__array__"}
_META = {"__get__", "size", "dim", "numel", "nelement", "ndimension", "__len__", "__format__", "__repr__", "stride"}
_DUNDERS = {
    "__add__": (operator.add, False), "__radd__": (operator.add, True), "__iadd__": (operator.add, False),
    "__sub__": (operator.sub, False), "__rsub__": (operator.sub, True), "__isub__": (operator.sub, False),
    "__mul__": (operator.mul, False), "__rmul__": (operator.mul, True), "__imul__": (operator.mul, False),
    "__truediv__": (operator.truediv, False), "__neg__": (operator.neg, False),
    "__getitem__": (operator.getitem, False),
}  # fmt: skip


class _Traced(torch.Tensor):
    """Zeros shaped like one sample of a tensor, with the :class:`Ids` of that tensor in ``_ids``."""

    _ids: Ids
    _session: _Session

    @staticmethod
    def make(ids: Ids, session: _Session, dtype: torch.dtype) -> _Traced:
        data = torch.zeros(ids.t.shape, dtype=dtype, device=session.device)
        out = torch.Tensor._make_subclass(_Traced, data, False)
        out._ids = ids
        out._session = session
        return out

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        session = _find_session((args, kwargs))
        plain_args, plain_kwargs = _plain(args), _plain(kwargs)
        name = getattr(func, "__name__", "")
        if session is None or session.opaque or name in _META:
            with torch._C.DisableTorchFunctionSubclass():
                return func(*plain_args, **plain_kwargs)
        if name in _DATA_DEPENDENT:
            error = ExtractionError(
                f"data-dependent control flow: Tensor.{name} of a value computed from the input; "
                "the graph would depend on the input's values"
            )
            raise locate(error, *session.where(), f"Tensor.{name}", _user_line())
        return session.apply(func, name, args, kwargs)


def _user_line() -> str | None:
    """``file:line: code`` of the innermost frame outside torch and this package (the model's code)."""
    for frame in reversed(traceback.extract_stack()):
        path = frame.filename.replace("\\", "/")
        if "/torch/" in path or "/workbench/transform/" in path:
            continue
        return f"{path.rsplit('/', 1)[-1]}:{frame.lineno}: {(frame.line or '').strip()}"
    return None


def _user_line_of(error: BaseException) -> str | None:
    """``file:line: code`` of the innermost frame of ``error``'s traceback outside torch and this package."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        path = frame.filename.replace("\\", "/")
        if "/torch/" not in path and "/workbench/transform/" not in path:
            return f"{path.rsplit('/', 1)[-1]}:{frame.lineno}: {(frame.line or '').strip()}"
    return None


def _find_session(value: Any) -> _Session | None:
    if isinstance(value, _Traced):
        return value._session
    if isinstance(value, list | tuple):
        for v in value:
            found = _find_session(v)
            if found is not None:
                return found
    if isinstance(value, dict):
        return _find_session(list(value.values()))
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, _Traced):
        with torch._C.DisableTorchFunctionSubclass():
            return value.as_subclass(torch.Tensor)
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _to_ids(value: Any) -> Any:
    if isinstance(value, _Traced):
        return value._ids
    if isinstance(value, list | tuple):
        return type(value)(_to_ids(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_ids(v) for k, v in value.items()}
    return value


class _Session:
    def __init__(self, ctx: Extraction, model: nn.Module, dtype: torch.dtype) -> None:
        self.ctx = ctx
        self.dtype = dtype
        self.device = next((p.device for p in model.parameters()), torch.device("cpu"))
        self.names = {m: n for n, m in model.named_modules()}
        self.thread = threading.get_ident()
        self.opaque = 0  # depth inside modules that have a rule
        self.counts: dict[str, int] = {}
        self.model_type = type(model).__name__
        self.stack: list[nn.Module] = []  # the modules running now, outermost first
        self.last_op = "the forward pass"

    def where(self) -> tuple[str, str]:
        """``(path, class name)`` of the innermost module running now."""
        if not self.stack:
            return "", self.model_type
        module = self.stack[-1]
        return self.names[module], type(module).__name__

    def node_name(self, base: str) -> str:
        k = self.counts.get(base, 0)
        self.counts[base] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def wrap(self, value: Any) -> Any:
        if isinstance(value, Ids):
            return _Traced.make(value, self, self.dtype)
        if isinstance(value, list | tuple):
            return type(value)(self.wrap(v) for v in value)
        return value

    def apply(self, func, name: str, args: tuple, kwargs: dict) -> Any:
        ids_args, ids_kwargs = _to_ids(args), _to_ids(kwargs)
        if name in _DUNDERS:
            op, swap = _DUNDERS[name]
            if swap:
                ids_args = (ids_args[1], ids_args[0], *ids_args[2:])
            base = name.strip("_").removeprefix("r").removeprefix("i")
            node, call = self.node_name(base), lambda n: apply_function(self.ctx, n, op, ids_args, ids_kwargs)
            shown = name
        elif getattr(torch.Tensor, name, None) is func:
            node, call = self.node_name(name), lambda n: apply_method(self.ctx, n, name, ids_args, ids_kwargs)
            shown = f"Tensor.{name}"
        else:
            node, call = self.node_name(name), lambda n: apply_function(self.ctx, n, func, ids_args, ids_kwargs)
            shown = name
        self.last_op = f"{node!r} ({shown})"
        try:
            return self.wrap(call(node))
        except Exception as err:
            raise locate(err, *self.where(), self.last_op, _user_line()) from err

    # -- module hooks ---------------------------------------------------------------------------

    def _in_model(self, module: nn.Module) -> bool:
        return threading.get_ident() == self.thread and module in self.names

    def pre_hook(self, module: nn.Module, args: tuple) -> None:
        if not self._in_model(module):
            return
        self.stack.append(module)
        if isinstance(module, LEAF_MODULES):
            if self.opaque == 0:
                self.inputs = args
            self.opaque += 1

    def post_hook(self, module: nn.Module, args: tuple, output: Any) -> Any:
        if not self._in_model(module):
            return None
        if self.stack and self.stack[-1] is module:
            self.stack.pop()
        if not isinstance(module, LEAF_MODULES):
            return None
        self.opaque -= 1
        if self.opaque:
            return None
        inputs = _to_ids(self.inputs)
        kind = type(module).__name__
        try:
            result = apply_module(self.ctx, self.names[module], module, inputs, {})
        except Exception as err:
            raise locate(err, self.names[module], kind, kind) from err
        return self.wrap(result)


def follow_eager(ctx: Extraction, model: nn.Module, x: Ids, *, reason: Exception) -> Any:
    """Follow ``model`` with one eager pass on ``x`` (see the module docstring); ``reason``: why fx failed."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    session = _Session(ctx, model, dtype)
    modes = [(m, m.training) for m in model.modules()]
    handles = [register_module_forward_pre_hook(session.pre_hook), register_module_forward_hook(session.post_hook)]
    try:
        for m, _ in modes:
            m.training = False
        with torch.no_grad():
            out = model(_Traced.make(x, session, dtype))
    except ExtractionError:
        raise
    except Exception as err:
        error = ExtractionError(
            f"cannot follow the data flow of {type(model).__name__}: torch.fx tracing failed "
            f"({type(reason).__name__}: {reason}) and so did a forward pass on traced values "
            f"({type(err).__name__}: {err})"
        )
        raise locate(error, *session.where(), f"after {session.last_op}", _user_line_of(err)) from err
    finally:
        for h in handles:
            h.remove()
        for m, training in modes:
            m.training = training
    return _to_ids(out)
