"""JSON from untrusted input: nesting depth and element counts measured before parsing.

``json.loads`` recurses once per level of nesting, so ``[[[[...]]]]`` a few
thousand levels deep raises ``RecursionError``, and a value a few hundred
levels deep breaks later code that walks it (copies, ``repr``, writers).
:func:`json_depth` measures the depth of JSON text without parsing it (string
contents are skipped; a C-speed scan), so :func:`loads` refuses deep input
with the caller's own error before ``json.loads`` sees it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from workbench.errors import LimitError, WorkbenchError
from workbench.limits import DEFAULT_LIMITS, Limits, check_json_depth

__all__ = ["json_depth", "json_elements", "loads", "nesting_depth"]

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string (unrolled: no backtracking)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = (ord("["), ord("{"))


def _bytes(text: str | bytes | bytearray | memoryview) -> bytes:
    return text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (0 for a scalar), without parsing it.

    Brackets inside strings do not count. For malformed text the result is
    still an upper bound of what a parser would reach.
    """
    brackets = _STRING.sub(b'""', _bytes(text)).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == _OPEN[0]) | (codes == _OPEN[1]), 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


def json_elements(text: str | bytes) -> int:
    """An upper bound of the number of values in JSON text: its commas, brackets and braces, plus one."""
    data = _bytes(text)
    return data.count(b",") + data.count(b"[") + data.count(b"{") + 1


def nesting_depth(value: Any, limit: int) -> int:
    """The nesting depth of lists, tuples and dicts in an already parsed ``value`` (without recursion).

    Stops at the first container deeper than ``limit`` and returns its depth.
    """
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, list | tuple | dict):
            continue
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def loads(
    text: str | bytes,
    *,
    error: type[WorkbenchError],
    what: str,
    limits: Limits = DEFAULT_LIMITS,
) -> Any:
    """``json.loads`` of untrusted text, refusing nesting deeper than ``limits.max_json_depth`` first.

    Raises:
        error: the text is nested too deeply, is not UTF-8, or is not JSON;
            the message names ``what``.
    """
    nested = not isinstance(text, str) or "[" in text or "{" in text  # a scalar needs no scan
    try:
        check_json_depth(json_depth(text) if nested else 0, limits, what=what)
    except LimitError as exc:
        raise error(str(exc)) from exc
    try:
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise error(f"invalid JSON in {what}: {exc}") from exc
    except RecursionError as exc:  # not reached below max_json_depth; kept as a guard
        raise error(f"{what} is nested too deeply") from exc
