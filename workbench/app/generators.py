"""The graph generators offered on the Design panel, with their parameters (pure).

Each generator is a core function of :mod:`workbench.graph`; this module only
describes its parameters for the form and turns the form's values into a
call, so bad values (text that is not a number, inf, NaN, bools, lists, None,
numbers out of range) raise :class:`~workbench.errors.GraphError` naming the
field. The size of the graph is checked against
:class:`~workbench.limits.Limits` from the parameters alone
(:func:`workbench.limits.check_generator`), before anything is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import networkx as nx

from workbench import graph as wbg
from workbench.errors import GraphError
from workbench.graph import edge_count
from workbench.limits import DEFAULT_LIMITS, Limits, check_generator, check_graph_size

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


def _sizes(text: object) -> list[int]:
    message = f"layer sizes must be comma-separated positive ints, got {_short(text)}"
    if not isinstance(text, str | int) or isinstance(text, bool):
        raise GraphError(message)
    try:
        sizes = [int(s) for s in str(text).replace(" ", "").split(",") if s]
    except ValueError as err:
        raise GraphError(message) from err
    if not sizes or any(s < 1 for s in sizes):
        raise GraphError(message)
    return sizes


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


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


def _number(label: str, raw: object) -> float | int:
    """A finite number from the form: an int, a float, or text holding one."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise GraphError(f"{label} must be a number, got {_short(raw)}")
    if isinstance(raw, int):
        return raw
    try:
        value = float(raw)
    except ValueError as err:
        raise GraphError(f"{label} must be a number, got {_short(raw)}") from err
    if not math.isfinite(value):
        raise GraphError(f"{label} must be a finite number, got {_short(raw)}")
    return value


def _value(param: Param, raw: object) -> int | float | list[int]:
    if param.kind == "sizes":
        return _sizes(raw)
    value = _number(param.label, raw)
    if param.kind == "float":
        if not 0.0 <= value <= 1.0:
            raise GraphError(f"{param.label} must be between 0 and 1, got {_short(raw)}")
        return float(value)
    if value != int(value) or value < param.low:
        raise GraphError(f"{param.label} must be an integer of at least {param.low:g}, got {_short(raw)}")
    return int(value)


#: Seeds are ints in ``[0, MAX_SEED]`` (numpy's generators take no negative seeds).
MAX_SEED = 2**64 - 1


def _seed(raw: object) -> int | None:
    if raw is None or raw == "":
        return None
    value = _number("seed", raw)
    if value != int(value) or not 0 <= value <= MAX_SEED:
        raise GraphError(f"seed must be an integer between 0 and 2^64 - 1, got {_short(raw)}")
    return int(value)


def generate(
    name: str, values: Mapping[str, object], seed: object = None, *, limits: Limits | None = None
) -> nx.DiGraph:
    """Call generator ``name`` with the form's ``values`` (missing ones take their defaults).

    Args:
        name: a key of :data:`GENERATORS`.
        values: the form's values by parameter name (numbers or text).
        seed: the random seed of a seeded generator (an int, its text, or None/"" for a random one).
        limits: size limits (default :data:`~workbench.limits.DEFAULT_LIMITS`),
            checked from the parameters before the graph is built.

    Raises:
        GraphError: unknown generator, or a value that is not a number or out of
            range (the message names the field).
        LimitError: a graph over ``limits.max_vertices`` or ``limits.max_edges``.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(name, str) or name not in GENERATORS:
        raise GraphError(f"unknown generator {_short(name)}; choose one of {sorted(GENERATORS)}")
    if not isinstance(values, Mapping):
        raise GraphError(f"the generator's values must be a mapping, got {type(values).__name__}")
    gen = GENERATORS[name]
    kwargs = {p.name: _value(p, values.get(p.name, p.default)) for p in gen.params}
    check_generator(name, kwargs, limits)  # constant time: from the parameters only
    if gen.seeded:
        kwargs["seed"] = _seed(seed)
    try:
        graph = gen.build(**kwargs)
    except nx.NetworkXError as err:
        raise GraphError(f"{gen.title}: {err}") from err
    check_graph_size(graph.number_of_nodes(), edge_count(graph), limits, what=gen.title)  # random ones vary
    return graph
