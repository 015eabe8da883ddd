"""Node labels in graph files, and the helpers of every file reader's messages.

A node label is any hashable of str, int, float, bool, None and tuples of
those. Both graph formats store it as a JSON value, with tuples as lists
(GraphML in a ``wb_label`` attribute, node-link JSON as the ``id``); a list
read back is a tuple again.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

from workbench.errors import GraphFileError

__all__ = ["LABEL_ATTRIBUTE", "decode_label", "encode_label", "file_note", "json_label", "short_repr"]

#: GraphML node attribute holding the node's label as JSON text.
LABEL_ATTRIBUTE = "wb_label"
_SCALARS = (str, int, float, bool)


def encode_label(label: Hashable) -> Any:
    """A node label as a JSON value: tuples become lists, recursively.

    Raises:
        GraphFileError: the label holds something other than str, int, float,
            bool, None or tuples of those.
    """
    if label is None or isinstance(label, _SCALARS):
        if isinstance(label, float) and not math.isfinite(label):
            raise GraphFileError(f"node label {label!r} is not a finite number")
        return label
    if isinstance(label, tuple):
        return [encode_label(x) for x in label]
    raise GraphFileError(f"node label {label!r} of type {type(label).__name__} cannot be stored in a graph file")


def decode_label(value: Any) -> Hashable:
    """Inverse of :func:`encode_label`: lists become tuples, recursively.

    Raises:
        GraphFileError: ``value`` is a JSON object (not a possible label).
    """
    if isinstance(value, list):
        return tuple(decode_label(x) for x in value)
    if isinstance(value, dict):
        raise GraphFileError(f"a JSON object {short_repr(value)} is not a node label")
    return value


def file_note(name: str | None) -> str:
    """`` in <name>`` for error messages, or nothing."""
    return f" in {name}" if name else ""


def short_repr(value: Any) -> str:
    """``repr(value)``, cut to 80 characters (values from a file may be long)."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def json_label(value: Any, what: str, where: str) -> Hashable:
    """``value`` (an id, source or target read from a file) as a hashable label, or a GraphFileError."""
    try:
        label = decode_label(value)
        hash(label)
    except (GraphFileError, TypeError) as exc:
        raise GraphFileError(f"{what}{where} has an unusable id {short_repr(value)}: {exc}") from exc
    return label
