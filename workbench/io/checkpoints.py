"""Model checkpoints that load without running code, and refuse corrupted files.

A checkpoint is one file written by ``torch.save`` holding only plain types
and tensors, so ``torch.load(path, weights_only=True)`` reads it without
running code::

    {
        "format": "workbench-checkpoint",
        "version": 2,
        "kind": "MaskedDeepFFN" | "MaskedDeepDAN",
        "spec": {                              # constructor arguments
            "input_shape": [64],
            "size_output": 10,
            "activation": "ReLU",              # a torch.nn class name
            # MaskedDeepFFN:
            "hidden_layers": [32, 16], "use_layer_norm": False,
            # MaskedDeepDAN:
            "structure": "<node-link JSON text of model.structure>",
        },
        "state_dict": {name: tensor, ...},     # weights, biases, bool masks
        "extra": "<JSON text of an object>",   # caller's metadata (dataset, accuracy...)
        "checksum": "sha256:<hex>",            # see checkpoint_checksum
    }

Tensors are stored on the CPU. The checksum (:func:`checkpoint_checksum`, see
:mod:`workbench.io.checksum`) covers the format, version, kind, spec, extra
metadata and every tensor's name, dtype, shape and bytes, so a
corrupted file (a flipped byte anywhere) is refused on load instead of
loading with changed weights or masks. Loading then checks the spec against
the size limits (:class:`~workbench.limits.Limits`) *before* building the model,
rebuilds the model from ``spec`` and loads ``state_dict`` strictly; the DAN's
edge index buffers must equal those rebuilt from the structure and masks must
be ``torch.bool``. Version-1 files (without a checksum) load only with
``allow_unverified=True``. Learnable masks (``mask_as_params``) are not supported.
"""

from __future__ import annotations

import io
import json
import math
import os
import reprlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.errors import CheckpointError, GraphFileError, LimitError
from workbench.graph import check_dag
from workbench.io import jsonsafe
from workbench.io.checksum import CHECKSUM_KEY, verify_checksum
from workbench.io.checksum import document_checksum as checkpoint_checksum
from workbench.io.graphs import file_note, graph_from_bytes, graph_to_bytes
from workbench.limits import DEFAULT_LIMITS, Limits, check_dan, check_ffn, check_upload_bytes
from workbench.sparse.dan import MaskedDeepDAN
from workbench.sparse.ffn import MaskedDeepFFN
from workbench.sparse.layers import MaskedLayer
from workbench.sparse.module import maskable_layers

__all__ = [
    "ACTIVATIONS",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "checkpoint_checksum",
    "checkpoint_from_bytes",
    "checkpoint_to_bytes",
    "load_checkpoint",
    "model_from_spec",
    "model_spec",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "workbench-checkpoint"
CHECKPOINT_VERSION = 2
#: Versions that are still read; version 1 has no checksum (see ``allow_unverified``).
UNVERIFIED_VERSION = 1
#: Activation classes a checkpoint may name (built with no arguments).
ACTIVATIONS: tuple[str, ...] = (
    "ReLU",
    "Tanh",
    "Sigmoid",
    "GELU",
    "SiLU",
    "ELU",
    "LeakyReLU",
    "Softplus",
    "Identity",
)


def _activation_name(model: nn.Module) -> str:
    name = type(model.activation).__name__
    if name not in ACTIVATIONS or type(model.activation) is not getattr(nn, name):
        raise CheckpointError(f"activation {name} cannot be stored; supported: {ACTIVATIONS}")
    return name


def model_spec(model: nn.Module) -> dict:
    """The constructor arguments of a ``MaskedDeepFFN`` or ``MaskedDeepDAN`` as plain types.

    ``model_from_spec(model_spec(model))`` builds a fresh model of the same
    architecture (new weights, all masks on).

    Raises:
        CheckpointError: another kind of model, learnable masks, or an
            activation outside :data:`ACTIVATIONS`.
    """
    if any(layer.mask_as_params for layer in maskable_layers(model)):
        raise CheckpointError("models with learnable masks (mask_as_params) cannot be stored")
    if isinstance(model, MaskedDeepFFN):
        return {
            "kind": "MaskedDeepFFN",
            "input_shape": list(model.input_shape),
            "size_output": model.sizes[-1],
            "hidden_layers": list(model.sizes[1:-1]),
            "use_layer_norm": any(isinstance(n, nn.LayerNorm) for n in model.norms),
            "activation": _activation_name(model),
        }
    if isinstance(model, MaskedDeepDAN):
        return {
            "kind": "MaskedDeepDAN",
            "input_shape": list(model.input_shape),
            "size_output": model.output_layer.out_features,
            "structure": graph_to_bytes(model.structure, "json").decode("utf-8"),
            "activation": _activation_name(model),
        }
    raise CheckpointError(f"cannot store a {type(model).__name__}; expected MaskedDeepFFN or MaskedDeepDAN")


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 60, 60, 8, 8


def _short(value: Any) -> str:
    """``repr(value)`` cut short (values from a file may be huge or deeply nested)."""
    return _REPR.repr(value)


def _field(spec: Mapping, key: str, types, what: str):
    if key not in spec:
        raise CheckpointError(f"{what} has no {key!r}")
    value = spec[key]
    if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
        raise CheckpointError(f"{what}: {key!r} = {_short(value)} has the wrong type")
    return value


def _int_list(spec: Mapping, key: str, what: str) -> list[int]:
    value = _field(spec, key, list, what)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        raise CheckpointError(f"{what}: {key!r} = {_short(value)} must be a list of positive ints")
    return value


def model_from_spec(spec: Mapping, *, limits: Limits | None = None) -> nn.Module:
    """Build a fresh model from :func:`model_spec` output, after checking its size.

    The number of parameters (and for a DAN the structure's vertices and edges)
    is computed from ``spec`` and checked against ``limits`` before anything
    is allocated.

    Args:
        spec: the output of :func:`model_spec` (with its ``"kind"``).
        limits: default :data:`~workbench.limits.DEFAULT_LIMITS`.

    Raises:
        CheckpointError: unknown kind, missing or mistyped fields, or a
            structure that is not a DAG.
        LimitError: the model (or its structure) is over ``limits``.
    """
    what = "model spec"
    limits = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(spec, Mapping):
        raise CheckpointError(f"{what} must be a dict, got {type(spec).__name__}")
    kind = _field(spec, "kind", str, what)
    activation = _field(spec, "activation", str, what)
    if activation not in ACTIVATIONS:
        raise CheckpointError(f"{what}: unknown activation {_short(activation)}; supported: {ACTIVATIONS}")
    act = getattr(nn, activation)
    input_shape = _int_list(spec, "input_shape", what)
    size_output = _field(spec, "size_output", int, what)
    if size_output < 1:
        raise CheckpointError(f"{what}: 'size_output' = {size_output} must be a positive int")
    if kind == "MaskedDeepFFN":
        hidden = _int_list(spec, "hidden_layers", what)
        norm = _field(spec, "use_layer_norm", bool, what)
        check_ffn(math.prod(input_shape), hidden, size_output, limits, layer_norm=norm)
        return MaskedDeepFFN(input_shape, size_output, hidden, norm, activation=act)
    if kind == "MaskedDeepDAN":
        text = _field(spec, "structure", str, what)
        try:
            structure = graph_from_bytes(text.encode("utf-8"), "json", name="the checkpoint's structure", limits=limits)
            check_dag(structure)
        except LimitError:
            raise
        except (GraphFileError, ValueError) as exc:
            raise CheckpointError(f"{what}: bad structure: {exc}") from exc
        check_dan(structure, math.prod(input_shape), size_output, limits)
        return MaskedDeepDAN(input_shape, size_output, structure, activation=act)
    raise CheckpointError(f"{what}: unknown model kind {_short(kind)}; expected MaskedDeepFFN or MaskedDeepDAN")


def _checkpoint_dict(model: nn.Module, extra: Mapping | None) -> dict:
    spec = model_spec(model)
    try:
        extra_text = json.dumps({} if extra is None else dict(extra), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"extra metadata must be JSON-serializable: {exc}") from exc
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    doc = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "kind": spec.pop("kind"),
        "spec": spec,
        "state_dict": state,
        "extra": extra_text,
    }
    doc[CHECKSUM_KEY] = checkpoint_checksum(doc)
    return doc


def checkpoint_to_bytes(model: nn.Module, *, extra: Mapping | None = None) -> bytes:
    """The bytes of :func:`save_checkpoint` (for downloads).

    Raises:
        CheckpointError: see :func:`model_spec`; ``extra`` is not JSON-serializable.
    """
    buffer = io.BytesIO()
    torch.save(_checkpoint_dict(model, extra), buffer)
    return buffer.getvalue()


def save_checkpoint(model: nn.Module, path: str | os.PathLike, *, extra: Mapping | None = None) -> None:
    """Write ``model`` (architecture, weights, masks) and ``extra`` metadata to ``path``.

    Args:
        model: a ``MaskedDeepFFN`` or ``MaskedDeepDAN`` (on any device).
        path: the file to write (conventionally ``.pt``).
        extra: JSON-serializable metadata, e.g. ``{"dataset": "digits", "test_accuracy": 0.95}``.

    Raises:
        CheckpointError: unsupported model, non-JSON ``extra``, or an OS error.

    Example:
        >>> save_checkpoint(model, "model.pt", extra={"dataset": "digits"})
        >>> model, extra = load_checkpoint("model.pt")
    """
    data = checkpoint_to_bytes(model, extra=extra)
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise CheckpointError(f"cannot write {os.fspath(path)!r}: {exc}") from exc


def checkpoint_from_bytes(
    data: bytes, *, name: str | None = None, limits: Limits | None = None, allow_unverified: bool = False
) -> tuple[nn.Module, dict]:
    """Read a checkpoint from bytes (for uploads); see :func:`load_checkpoint`."""
    where = file_note(name)
    limits = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(data, bytes | bytearray | memoryview) or not len(data):
        raise CheckpointError(f"the checkpoint{where} is empty")
    check_upload_bytes(len(data), limits, name=name)
    try:
        doc = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for bad input (pickle, zip, EOF, runtime)
        raise CheckpointError(f"not a readable checkpoint{where}: {type(exc).__name__}: {_short(str(exc))}") from exc
    return _model_from_checkpoint(doc, where, limits, allow_unverified)


def _verify(doc: dict, where: str, allow_unverified: bool) -> None:
    """Refuse a checkpoint of another version, or whose checksum does not match its contents."""
    version = doc.get("version")
    if version == UNVERIFIED_VERSION and allow_unverified:
        return
    if version == UNVERIFIED_VERSION:
        raise CheckpointError(
            f"the checkpoint{where} is version {UNVERIFIED_VERSION}, which has no checksum, so corruption "
            f"cannot be detected; load it with allow_unverified=True if you trust it, and save it again"
        )
    if version != CHECKPOINT_VERSION or isinstance(version, bool):
        raise CheckpointError(f"unsupported checkpoint version {_short(version)}{where}; expected {CHECKPOINT_VERSION}")
    verify_checksum(doc, where)


def _model_from_checkpoint(
    doc: Any, where: str, limits: Limits = DEFAULT_LIMITS, allow_unverified: bool = False
) -> tuple[nn.Module, dict]:
    """Validate everything first (checksum, metadata, sizes), then build the model and load its weights."""
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"not a workbench checkpoint{where}: no format marker {CHECKPOINT_FORMAT!r}")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise CheckpointError(f"the checkpoint{where} has no 'spec' dict")
    state = doc.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"the checkpoint{where} has no 'state_dict' of tensors")
    _verify(doc, where, allow_unverified)
    extra_text = doc.get("extra", "{}")
    if not isinstance(extra_text, str):
        raise CheckpointError(
            f"the checkpoint's extra metadata{where} must be JSON text, got {type(extra_text).__name__}"
        )
    what = f"the checkpoint's extra metadata{where}"
    extra = jsonsafe.loads(extra_text, error=CheckpointError, what=what, limits=limits)
    if not isinstance(extra, dict):
        raise CheckpointError(f"{what} must be a JSON object, got {type(extra).__name__}")
    model = model_from_spec({**spec, "kind": doc.get("kind")}, limits=limits)
    _check_state(model, state, where)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"the weights{where} do not fit the {doc['kind']}: {exc}") from exc
    return model, extra


def _check_state(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    masks = {f"{name}.mask" if name else "mask" for name, m in model.named_modules() if isinstance(m, MaskedLayer)}
    own = model.state_dict()
    for key, value in state.items():
        if key in masks and value.dtype != torch.bool:
            raise CheckpointError(f"mask {key!r}{where} has dtype {value.dtype}; expected torch.bool")
        expected = own.get(key)
        if expected is None or expected.is_floating_point() or expected.dtype == torch.bool:
            continue
        # index buffers (the DAN's edge sources and targets) are rebuilt from the structure
        if expected.shape != value.shape or not torch.equal(expected, value.to(expected.dtype)):
            raise CheckpointError(f"buffer {key!r}{where} does not match the stored structure")


def load_checkpoint(
    path: str | os.PathLike, *, limits: Limits | None = None, allow_unverified: bool = False
) -> tuple[nn.Module, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`, without running code.

    Args:
        path: the ``.pt`` file.
        limits: size limits (default :data:`~workbench.limits.DEFAULT_LIMITS`;
            :meth:`~workbench.limits.Limits.unlimited` for large trusted
            files): the file's size is checked before it is read, the model's
            size before it is built.
        allow_unverified: also read version-1 files, which carry no checksum.

    Returns:
        ``(model, extra)``: the rebuilt model on the CPU (in train mode) with
        its weights and masks, and the stored metadata (a dict).

    Raises:
        CheckpointError: missing file, not a checkpoint, unknown kind or
            version, a checksum that does not match (a corrupted file),
            metadata that is not a JSON object, or weights that do not fit the
            stored architecture.
        LimitError: the file or the model it describes is over ``limits``.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    try:
        check_upload_bytes(Path(path).stat().st_size, limits, name=Path(path).name)
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read {os.fspath(path)!r}: {exc}") from exc
    return checkpoint_from_bytes(data, name=Path(path).name, limits=limits, allow_unverified=allow_unverified)
