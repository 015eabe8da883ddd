"""The graph generators offered on the Design panel, with their parameters (pure).

Each generator is a core function of :mod:`workbench.graph`; this module only
describes its parameters for the form and turns the form's values into a
call, so bad values raise :class:`~workbench.errors.GraphError` naming them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import networkx as nx

from workbench import graph as wbg
from workbench.errors import GraphError

__all__ = ["GENERATORS", "Param", "generate"]


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    default: int | float | str
    kind: str = "int"  # "int", "float" (probability in [0, 1]) or "sizes"
    low: float = 1


@dataclass(frozen=True)
class Generator:
    title: str
    params: tuple[Param, ...]
    build: Callable[..., nx.DiGraph]
    seeded: bool = False


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in str(text).replace(" ", "").split(",") if s]
    except ValueError as err:
        raise GraphError(f"layer sizes must be comma-separated positive ints, got {text!r}") from err
    if not sizes:
        raise GraphError(f"layer sizes must be comma-separated positive ints, got {text!r}")
    return sizes


GENERATORS: dict[str, Generator] = {
    "layered": Generator(
        "Layered feed-forward",
        (Param("sizes", "layer sizes", "4, 6, 6, 3", "sizes"),),
        lambda sizes: wbg.layered_ffn(sizes),
    ),
    "tree": Generator(
        "Balanced tree",
        (Param("r", "branching r", 2), Param("h", "height h", 3)),
        lambda r, h: wbg.balanced_tree(r, h),
    ),
    "grid": Generator(
        "2-D grid", (Param("m", "rows m", 4), Param("n", "columns n", 5)), lambda m, n: wbg.grid_2d(m, n)
    ),
    "watts_strogatz": Generator(
        "Watts–Strogatz",
        (
            Param("n", "vertices n", 30, low=3),
            Param("k", "neighbours k", 4, low=2),
            Param("p", "rewiring p", 0.2, "float"),
        ),
        lambda n, k, p, seed: wbg.watts_strogatz(n, k, p, seed=seed),
        seeded=True,
    ),
    "erdos_renyi": Generator(
        "Erdős–Rényi",
        (Param("n", "vertices n", 30), Param("p", "edge probability p", 0.12, "float")),
        lambda n, p, seed: wbg.erdos_renyi(n, p, seed=seed),
        seeded=True,
    ),
    "barabasi_albert": Generator(
        "Barabási–Albert",
        (Param("n", "vertices n", 30, low=2), Param("m", "edges per vertex m", 2)),
        lambda n, m, seed: wbg.barabasi_albert(n, m, seed=seed),
        seeded=True,
    ),
}

#: Largest graph a generator may make from the form (the canvas stays usable).
MAX_VERTICES = 5000


def _value(param: Param, raw) -> int | float | list[int]:
    if param.kind == "sizes":
        return _sizes(raw)
    try:
        value = float(raw)
    except (TypeError, ValueError) as err:
        raise GraphError(f"{param.label} must be a number, got {raw!r}") from err
    if param.kind == "float":
        if not 0.0 <= value <= 1.0:
            raise GraphError(f"{param.label} must be between 0 and 1, got {raw!r}")
        return value
    if value != int(value) or value < param.low:
        raise GraphError(f"{param.label} must be an integer of at least {param.low:g}, got {raw!r}")
    return int(value)


def generate(name: str, values: Mapping[str, object], seed: int | None = None) -> nx.DiGraph:
    """Call generator ``name`` with the form's ``values`` (missing ones take their defaults).

    Raises:
        GraphError: unknown generator, a value out of range, or a graph over :data:`MAX_VERTICES`.
    """
    if name not in GENERATORS:
        raise GraphError(f"unknown generator {name!r}; choose one of {sorted(GENERATORS)}")
    gen = GENERATORS[name]
    kwargs = {p.name: _value(p, values.get(p.name, p.default)) for p in gen.params}
    if gen.seeded:
        kwargs["seed"] = None if seed in (None, "") else int(seed)
    size = _estimate(name, kwargs)
    if size > MAX_VERTICES:
        raise GraphError(f"that would make about {size} vertices; the canvas takes at most {MAX_VERTICES}")
    try:
        return gen.build(**kwargs)
    except nx.NetworkXError as err:
        raise GraphError(f"{gen.title}: {err}") from err


def _estimate(name: str, kwargs: Mapping) -> int:
    if name == "layered":
        return sum(kwargs["sizes"])
    if name == "tree":
        r, h = kwargs["r"], kwargs["h"]
        return h + 1 if r == 1 else (r ** (h + 1) - 1) // (r - 1)
    if name == "grid":
        return kwargs["m"] * kwargs["n"]
    return int(kwargs["n"])
