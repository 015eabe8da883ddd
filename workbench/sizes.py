"""Sizes of graphs and models, computed before anything is built (constant time, no allocation).

Every function here does a few arithmetic operations on its arguments, so a
caller can refuse an oversized request before spending time or memory on it
(see :mod:`workbench.limits`). Counts are exact Python ints where that is
cheap; a count too large to compute exactly cheaply (a balanced tree of height
``10**7``) is a ``float``, ``math.inf`` beyond ``10**308``. The random
generators give their expected number of edges.

Example:
    >>> tree_size(2, 3)
    GraphSize(vertices=15, edges=14)
    >>> tree_size(10**6, 3 * 10**6).vertices  # from logarithms, no big powers
    inf
    >>> ffn_parameter_count(64, [32, 16], 10)
    2778
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "GENERATOR_SIZES",
    "GraphSize",
    "barabasi_albert_size",
    "erdos_renyi_size",
    "ffn_parameter_count",
    "generator_size",
    "grid_size",
    "layered_size",
    "tree_size",
    "watts_strogatz_size",
]

Count = int | float  # an exact int, or a float (possibly inf) for sizes beyond cheap exact arithmetic

#: Above this many decimal digits a count is given as a float instead of computed exactly.
EXACT_DIGITS = 30


@dataclass(frozen=True)
class GraphSize:
    """Vertices and edges of a graph that is not built yet (expected edges for random graphs)."""

    vertices: Count
    edges: Count


def _times(count: int, p: float) -> Count:
    """``count * p`` rounded, or ``inf`` when ``count`` is too large for a float."""
    if p <= 0:
        return 0
    try:
        return round(count * p)
    except OverflowError:
        return math.inf


def layered_size(sizes: Sequence[int]) -> GraphSize:
    """:func:`workbench.graph.layered_ffn`: ``sum(sizes)`` vertices, ``sum(a * b)`` over consecutive layers."""
    sizes = [int(s) for s in sizes]
    return GraphSize(sum(sizes), sum(a * b for a, b in itertools.pairwise(sizes)))


def tree_size(r: int, h: int) -> GraphSize:
    """:func:`workbench.graph.balanced_tree`: ``(r**(h+1) - 1) / (r - 1)`` vertices, one edge fewer.

    Computed from logarithms first, so a huge ``r`` or ``h`` costs no big-int power.
    """
    r, h = int(r), int(h)
    if r <= 1 or h <= 0:
        vertices = h + 1 if r == 1 else 1
        return GraphSize(max(vertices, 0), max(vertices - 1, 0))
    digits = (h + 1) * math.log10(r) - math.log10(r - 1)  # log10 of the vertex count, within 1e-9
    if digits > EXACT_DIGITS:
        vertices = 10.0**digits if digits < 308 else math.inf
        return GraphSize(vertices, vertices)
    vertices = (r ** (h + 1) - 1) // (r - 1)  # at most EXACT_DIGITS digits: a small power
    return GraphSize(vertices, vertices - 1)


def grid_size(m: int, n: int) -> GraphSize:
    """:func:`workbench.graph.grid_2d`: ``m * n`` vertices, ``m (n - 1) + n (m - 1)`` edges."""
    m, n = int(m), int(n)
    return GraphSize(m * n, max(m * (n - 1) + n * (m - 1), 0))


def watts_strogatz_size(n: int, k: int) -> GraphSize:
    """:func:`workbench.graph.watts_strogatz`: ``n`` vertices, ``n * (k // 2)`` edges (rewiring keeps the count).

    ``k >= n`` gives the complete graph, as networkx does.
    """
    n, k = int(n), int(k)
    complete = n * (n - 1) // 2
    return GraphSize(n, complete if k >= n else min(n * (k // 2), complete))


def erdos_renyi_size(n: int, p: float) -> GraphSize:
    """:func:`workbench.graph.erdos_renyi`: ``n`` vertices, ``n (n - 1) / 2 * p`` edges expected."""
    n = int(n)
    return GraphSize(n, _times(n * (n - 1) // 2, float(p)))


def barabasi_albert_size(n: int, m: int) -> GraphSize:
    """:func:`workbench.graph.barabasi_albert`: ``n`` vertices, ``(n - m) * m`` edges (a star of ``m + 1``
    vertices, then ``m`` edges per further vertex)."""
    n, m = int(n), int(m)
    return GraphSize(n, max((n - m) * m, 0))


#: The size function of every generator, by the names of :mod:`workbench.app.generators`,
#: with the parameters it reads.
GENERATOR_SIZES = {
    "layered": (layered_size, ("sizes",)),
    "tree": (tree_size, ("r", "h")),
    "grid": (grid_size, ("m", "n")),
    "watts_strogatz": (watts_strogatz_size, ("n", "k")),
    "erdos_renyi": (erdos_renyi_size, ("n", "p")),
    "barabasi_albert": (barabasi_albert_size, ("n", "m")),
}


def generator_size(name: str, params: Mapping[str, object]) -> GraphSize:
    """The size of generator ``name``'s graph for already validated ``params``.

    Raises:
        KeyError: an unknown generator or a missing parameter.
    """
    size, names = GENERATOR_SIZES[name]
    return size(*(params[p] for p in names))


def ffn_parameter_count(size_input: int, hidden: Sequence[int], size_output: int, *, layer_norm: bool = False) -> int:
    """Trainable parameters of ``MaskedDeepFFN(size_input, size_output, hidden, layer_norm)``.

    ``a * b + b`` per linear layer ``a -> b``, plus ``2 * h`` per hidden layer with layer norm.
    """
    sizes = [int(size_input), *(int(h) for h in hidden), int(size_output)]
    linear = sum(a * b + b for a, b in itertools.pairwise(sizes))
    return linear + (2 * sum(sizes[1:-1]) if layer_norm else 0)
