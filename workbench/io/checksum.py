"""Checksums of saved model files, so that a corrupted file is refused instead of loaded.

A file of this package (a checkpoint, a convolutional sample) is a dict of
plain values and a ``"state_dict"`` of tensors, written by ``torch.save``.
:func:`document_checksum` hashes every field but ``"checksum"`` itself: plain
values as canonical JSON, tensors by name, dtype, shape and bytes. Writers
store it under ``"checksum"``; readers compare with :func:`verify_checksum`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import torch

from workbench.errors import CheckpointError
from workbench.io.jsonsafe import nesting_depth
from workbench.limits import DEFAULT_LIMITS

__all__ = ["CHECKSUM_KEY", "document_checksum", "verify_checksum"]

CHECKSUM_KEY = "checksum"
STATE_KEY = "state_dict"


def _tensor_bytes(tensor: torch.Tensor) -> memoryview:
    """The bytes of ``tensor`` in memory order (a zero-copy view for contiguous CPU tensors)."""
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data


def document_checksum(doc: Mapping) -> str:
    """``"sha256:<hex>"`` of every field of ``doc`` but ``"checksum"``.

    Plain fields are hashed as canonical JSON (sorted keys); each tensor of
    ``doc["state_dict"]`` by its name, dtype, shape and bytes, in name order.
    Every part is length-prefixed, so no two different documents hash alike by
    running parts into each other.

    Raises:
        CheckpointError: a field is not plain JSON (or nested deeper than
            ``max_json_depth``), or ``"state_dict"`` is not a dict of named tensors.
    """
    digest = hashlib.sha256()

    def add(data: bytes | memoryview) -> None:
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)

    if not all(isinstance(key, str) for key in doc):
        raise CheckpointError("the file's fields must have string names")
    depth = DEFAULT_LIMITS.max_json_depth
    for key in sorted(doc):
        if key == CHECKSUM_KEY:
            continue
        value = doc[key]
        add(key.encode("utf-8", "surrogatepass"))
        if key == STATE_KEY:
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()
            ):
                raise CheckpointError(f"the file's {STATE_KEY!r} must be a dict of named tensors")
            for name in sorted(value):
                tensor = value[name]
                add(name.encode("utf-8", "surrogatepass"))
                add(f"{tensor.dtype}{list(tensor.shape)}".encode())
                try:
                    add(_tensor_bytes(tensor))
                except (RuntimeError, TypeError) as exc:  # sparse, quantized or other unusual tensors
                    raise CheckpointError(f"tensor {name!r} cannot be checksummed: {exc}") from exc
            continue
        if nesting_depth(value, depth) > depth:
            raise CheckpointError(f"the file's {key!r} is nested deeper than {depth} levels")
        try:
            add(json.dumps(value, sort_keys=True, allow_nan=False).encode("utf-8", "surrogatepass"))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"the file's {key!r} is not plain JSON: {exc}") from exc
    return f"sha256:{digest.hexdigest()}"


def verify_checksum(doc: Mapping, where: str = "") -> None:
    """Refuse ``doc`` unless its ``"checksum"`` matches its contents.

    Raises:
        CheckpointError: no checksum, or one that does not match (a corrupted
            file); ``where`` (e.g. `` in model.pt``) is added to the message.
    """
    stored = doc.get(CHECKSUM_KEY)
    if not isinstance(stored, str):
        raise CheckpointError(f"the file{where} has no checksum")
    try:
        actual = document_checksum(doc)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}{where}") from exc
    if stored != actual:
        shown = stored if len(stored) <= 80 else f"{stored[:77]}..."
        raise CheckpointError(f"the file{where} is corrupted: its checksum {shown!r} does not match its contents")
