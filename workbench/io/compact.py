"""A pruned model in a compact file that stores only its kept weights.

:func:`save_compact` writes a `safetensors <https://huggingface.co/docs/safetensors>`_
file (an 8-byte little-endian header length, a JSON header naming every
tensor's dtype, shape and byte range, then the raw bytes; written and read
here with the standard library, so it needs no new dependency, and the
``safetensors`` package reads it too). For every maskable layer ``name``:

* ``name.weight.values``: the kept weights, in row-major order;
* ``name.weight.index`` (int32 or int64 flat positions) or
  ``name.weight.bitmask`` (the mask as packed bits, little bit order),
  whichever is smaller: positions below about 1/32 of the weights kept;
* the layer's other tensors (bias, learnable-mask logits) as they are.

Every other tensor of the model's ``state_dict`` is stored as it is, except
the edge index buffers of a DAN's blocks (``source``, ``target``): they follow
from the design the model is built from, so the file keeps a CRC-32 of them
instead and loading checks it. The header's ``__metadata__`` holds the format
name and version and the list of compacted layers.

:func:`load_compact` fills a model of the same architecture (masked weights
become 0) and :func:`compact_report` counts the bytes and multiply-adds
before and after.

Example:
    >>> report = save_compact(model, "pruned.safetensors")
    >>> print(report)                      # bytes and multiply-adds, dense vs kept
    >>> twin = load_compact(MaskedDeepFFN(784, 10, [300, 100]), "pruned.safetensors")
    >>> torch.equal(twin(x), model(x))
    True
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from workbench.errors import CheckpointError
from workbench.sparse.layers import MaskedEdgeLayer, MaskedLayer
from workbench.sparse.module import named_maskable_layers

__all__ = ["COMPACT_FORMAT", "COMPACT_VERSION", "CompactReport", "compact_report", "load_compact", "save_compact"]

COMPACT_FORMAT = "workbench-compact"
COMPACT_VERSION = 1
#: safetensors dtype names.
_DTYPES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
_TORCH = {name: dtype for dtype, name in _DTYPES.items()}
_STRUCTURE = ("source", "target")  # a DAN block's edge indices: fixed by the design


@dataclass(frozen=True)
class CompactReport:
    """Bytes and multiply-adds of a model, dense and as compacted.

    Attributes:
        weights, kept: entries of the maskable weights, and those kept.
        dense_bytes: bytes of every ``state_dict`` tensor (what a plain checkpoint stores).
        compact_bytes: bytes of the compact file (header included).
        dense_macs, kept_macs: multiply-adds per sample through the maskable
            layers (every weight, kept weights only) plus the dense ``nn.Linear``
            and ``nn.Conv*`` layers; ``None`` when they could not be counted.
        layers: ``(name, weights, kept, encoding)`` per maskable layer.
    """

    weights: int
    kept: int
    dense_bytes: int
    compact_bytes: int
    dense_macs: int | None
    kept_macs: int | None
    layers: list[tuple[str, int, int, str]] = field(default_factory=list)

    def __str__(self) -> str:
        macs = "n/a"
        if self.dense_macs is not None and self.kept_macs is not None:
            macs = f"{self.dense_macs:,} -> {self.kept_macs:,} ({self.dense_macs / max(self.kept_macs, 1):.1f}x fewer)"
        return (
            f"weights kept: {self.kept:,} of {self.weights:,}; "
            f"bytes: {self.dense_bytes:,} -> {self.compact_bytes:,} "
            f"({self.dense_bytes / max(self.compact_bytes, 1):.1f}x smaller); multiply-adds per sample: {macs}"
        )


def _index_encoding(mask: torch.Tensor) -> tuple[str, torch.Tensor]:
    """The smaller of flat positions and a packed bit mask for a bool ``mask``."""
    flat = mask.reshape(-1)
    kept = int(flat.sum())
    index_dtype = torch.int32 if flat.numel() < 2**31 else torch.int64
    if kept * (4 if index_dtype == torch.int32 else 8) < math.ceil(flat.numel() / 8):
        return "index", flat.nonzero().squeeze(1).to(index_dtype)
    return "bitmask", torch.from_numpy(np.packbits(flat.numpy(), bitorder="little"))


def _crc(tensors: list[torch.Tensor]) -> str:
    crc = 0
    for tensor in tensors:
        crc = zlib.crc32(tensor.detach().cpu().contiguous().numpy().tobytes(), crc)
    return f"{crc:08x}"


def _compact_tensors(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str], list[tuple]]:
    """(tensors to write, metadata, per-layer rows) of ``model``."""
    state = {name: t.detach().cpu() for name, t in model.state_dict().items()}
    tensors: dict[str, torch.Tensor] = {}
    layers, rows, structure = [], [], {}
    skip = set()
    for name, layer in named_maskable_layers(model):
        prefix = f"{name}." if name else ""
        mask = layer.mask.detach().cpu()  # the property: fresh for a learnable mask
        weight = state[f"{prefix}weight"]
        encoding, index = _index_encoding(mask)
        tensors[f"{prefix}weight.values"] = weight.reshape(-1)[mask.reshape(-1)].contiguous()
        tensors[f"{prefix}weight.{encoding}"] = index
        skip.update({f"{prefix}weight", f"{prefix}mask"})
        if isinstance(layer, MaskedEdgeLayer):
            keys = [f"{prefix}{buffer}" for buffer in _STRUCTURE if f"{prefix}{buffer}" in state]
            structure[name] = _crc([state[k] for k in keys])
            skip.update(keys)
        layers.append(name)
        rows.append((name, mask.numel(), int(mask.sum()), encoding))
    for key, tensor in state.items():
        if key not in skip:
            tensors[key] = tensor
    meta = {
        "format": COMPACT_FORMAT,
        "version": str(COMPACT_VERSION),
        "layers": json.dumps(layers),
        "structure": json.dumps(structure),
    }
    return tensors, meta, rows


def _encode(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, str]) -> bytes:
    header: dict = {"__metadata__": dict(meta)}
    chunks, offset = [], 0
    for name, tensor in tensors.items():
        if tensor.dtype not in _DTYPES:
            raise CheckpointError(f"tensor {name!r} has dtype {tensor.dtype}, which a compact file cannot store")
        data = tensor.contiguous().view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        header[name] = {
            "dtype": _DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data start on an 8-byte boundary
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def _decode(data: bytes, where: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if len(data) < 8:
        raise CheckpointError(f"{where}: {len(data)} bytes is too short for a compact file")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise CheckpointError(f"{where}: header of {size} bytes in a file of {len(data)} bytes")
    try:
        header = json.loads(data[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{where}: the header is not JSON ({error})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where}: the header is {type(header).__name__}, not an object")
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or meta.get("format") != COMPACT_FORMAT:
        raise CheckpointError(f"{where}: not a {COMPACT_FORMAT} file (format {meta.get('format')!r})")
    if meta.get("version") != str(COMPACT_VERSION):
        raise CheckpointError(f"{where}: version {meta.get('version')!r}; this library reads {COMPACT_VERSION}")
    body = memoryview(data)[8 + size :]
    tensors = {}
    for name, entry in header.items():
        try:
            dtype, shape, (begin, end) = _TORCH[entry["dtype"]], [int(s) for s in entry["shape"]], entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{where}: malformed header entry for {name!r}: {entry!r}") from None
        itemsize = torch.empty(0, dtype=dtype).element_size()
        if not 0 <= begin <= end <= len(body) or end - begin != math.prod(shape) * itemsize:
            raise CheckpointError(f"{where}: tensor {name!r} ({dtype}, {shape}) has byte range {[begin, end]}")
        raw = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.uint8) if end > begin else torch.zeros(0)
        tensors[name] = raw.view(dtype).reshape(shape) if end > begin else torch.zeros(shape, dtype=dtype)
    return tensors, meta


def save_compact(model: nn.Module, path: str | os.PathLike, *, example: torch.Tensor | None = None) -> CompactReport:
    """Write ``model`` to ``path`` keeping only its kept weights (see the module docstring).

    Args:
        model: any module; its maskable layers are compacted.
        path: the file to write (``.safetensors`` by convention).
        example: an input for counting multiply-adds (see :func:`compact_report`).

    Returns:
        The :class:`CompactReport`, ``compact_bytes`` being the file's size.

    Raises:
        CheckpointError: a tensor has a dtype the format cannot store.
    """
    tensors, meta, rows = _compact_tensors(model)
    data = _encode(tensors, meta)
    Path(path).write_bytes(data)
    return _report(model, rows, len(data), example)


def load_compact(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a compact file into ``model`` (same architecture) in place and return it.

    Masked weights become 0; masks, kept weights and every other tensor are
    restored exactly, so the model computes what the saved one computed.

    Raises:
        CheckpointError: the file is malformed, or does not fit ``model``
            (another architecture, another DAN design, a missing tensor);
            the message names the file and the tensor.
    """
    where = os.fspath(path)
    tensors, meta = _decode(Path(path).read_bytes(), where)
    try:
        layers, structure = json.loads(meta.get("layers", "")), json.loads(meta.get("structure", ""))
    except json.JSONDecodeError:
        raise CheckpointError(f"{where}: malformed metadata {meta!r}") from None
    own = dict(named_maskable_layers(model))
    if sorted(layers) != sorted(own):
        raise CheckpointError(f"{where}: maskable layers {layers} do not match the model's {sorted(own)}")
    state = dict(tensors)
    for name in layers:
        layer: MaskedLayer = own[name]
        prefix = f"{name}." if name else ""
        values = state.pop(f"{prefix}weight.values", None)
        if values is None:
            raise CheckpointError(f"{where}: {prefix}weight.values is missing")
        mask = _mask_from(state, prefix, layer.weight.shape, where)
        if int(mask.sum()) != values.numel():
            raise CheckpointError(f"{where}: {values.numel()} values for {int(mask.sum())} kept weights of {name!r}")
        weight = torch.zeros(layer.weight.shape, dtype=values.dtype)
        weight.view(-1)[mask.view(-1)] = values
        state[f"{prefix}weight"], state[f"{prefix}mask"] = weight, mask
        if isinstance(layer, MaskedEdgeLayer):
            keys = [b for b in _STRUCTURE if b in layer._buffers]
            if _crc([layer._buffers[b] for b in keys]) != structure.get(name):
                raise CheckpointError(f"{where}: the edges of {name!r} differ from the model's (another design?)")
            state.update({f"{prefix}{b}": layer._buffers[b] for b in keys})
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"{where}: does not fit the model: {error}") from None
    return model


def _mask_from(state: dict, prefix: str, shape: torch.Size, where: str) -> torch.Tensor:
    numel = math.prod(shape)
    index, bits = state.pop(f"{prefix}weight.index", None), state.pop(f"{prefix}weight.bitmask", None)
    if index is not None:
        mask = torch.zeros(numel, dtype=torch.bool)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= numel):
            raise CheckpointError(f"{where}: {prefix}weight.index points outside {numel} weights")
        mask[index.long()] = True
    elif bits is not None and bits.dtype == torch.uint8 and bits.numel() == math.ceil(numel / 8):
        mask = torch.from_numpy(np.unpackbits(bits.numpy(), count=numel, bitorder="little").astype(bool))
    else:
        raise CheckpointError(f"{where}: no usable index or bitmask for {prefix}weight")
    return mask.view(shape)


def compact_report(model: nn.Module, example: torch.Tensor | None = None) -> CompactReport:
    """Bytes and multiply-adds of ``model`` now, dense and as :func:`save_compact` would store it.

    Multiply-adds are counted per sample from one forward pass of ``example``
    (default: one zero sample of ``model.input_shape`` when the model has one):
    a maskable layer costs ``positions * weights`` dense and ``positions * kept``
    compacted, ``positions`` being the output positions per output channel
    (1 for a linear or edge layer); dense ``nn.Linear`` and ``nn.Conv*``
    layers cost the same in both.
    """
    tensors, meta, rows = _compact_tensors(model)
    return _report(model, rows, len(_encode(tensors, meta)), example)


def _report(model: nn.Module, rows: list[tuple], compact_bytes: int, example: torch.Tensor | None) -> CompactReport:
    dense_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    dense_macs, kept_macs = _multiply_adds(model, example)
    return CompactReport(
        weights=sum(r[1] for r in rows),
        kept=sum(r[2] for r in rows),
        dense_bytes=dense_bytes,
        compact_bytes=compact_bytes,
        dense_macs=dense_macs,
        kept_macs=kept_macs,
        layers=rows,
    )


def _multiply_adds(model: nn.Module, example: torch.Tensor | None) -> tuple[int | None, int | None]:
    if example is None:
        shape = getattr(model, "input_shape", None)
        if shape is None:
            return None, None
        parameter = next(model.parameters(), None)
        example = torch.zeros(1, *shape, dtype=parameter.dtype if parameter is not None else None)
    batch = example.shape[0] if example.dim() > 1 else 1
    counts = [0, 0]

    def count(module: nn.Module, _args, out: torch.Tensor) -> None:
        weight = module.weight
        if isinstance(module, MaskedEdgeLayer):
            positions = 1
        else:
            channels = out.shape[-1] if isinstance(module, nn.Linear) else out.shape[1] if out.dim() > 1 else 1
            positions = out.numel() // max(channels, 1) // batch
        kept = int(module.mask.sum()) if isinstance(module, MaskedLayer) else weight.numel()
        counts[0] += positions * weight.numel()
        counts[1] += positions * kept

    kinds = (MaskedLayer, nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return counts[0], counts[1]
