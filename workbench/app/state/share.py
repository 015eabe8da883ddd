"""Share links: the design's recipe and the settings in a URL fragment, as TensorFlow Playground does.

A link holds how the design was made, not the design itself: a generator
with its parameters and seed (``g=watts_strogatz&n=30&k=4&p=0.2&seed=0``),
a sample (``sample=skip_dag``), or, for a small graph drawn by hand, its edge
list (``edges=0-1.1-2``); then the settings (``data=moons&act=leaky_relu&...``).
Opening the link in a fresh browser makes the same design and model.
Weights are not in a link; a session file keeps them.

:func:`share_fragment` writes a fragment and :func:`read_fragment` reads one
back, checking every value (a bad one raises :class:`FormError` naming it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

import networkx as nx

from workbench.app.state.settings import FormError, Settings, read_number, read_settings
from workbench.graph import edge_count

__all__ = ["MAX_LINK_EDGES", "DesignSource", "Shared", "read_fragment", "share_fragment"]

#: A hand-drawn design with more edges than this is not put into a link (a session file keeps it).
MAX_LINK_EDGES = 300
#: Settings fields and their short names in a link.
KEYS = {
    "dataset": "data",
    "activation": "act",
    "init_seed": "init",
    "optimizer": "opt",
    "lr": "lr",
    "batch_size": "batch",
    "epochs": "epochs",
    "device": "device",
}


@dataclass(frozen=True)
class DesignSource:
    """How the design was made: ``kind`` is ``"generator"`` (with ``name``, ``values``, ``seed``),
    ``"sample"`` (with ``name``) or ``"drawn"`` (by hand, uploaded or edited)."""

    kind: str = "drawn"
    name: str = ""
    values: Mapping = field(default_factory=dict)
    seed: int | None = None


@dataclass(frozen=True)
class Shared:
    """What a link restores: the design's recipe (or edge list) and the settings."""

    source: DesignSource
    settings: Settings
    edges: tuple = ()


def share_fragment(source: DesignSource, settings: Settings, design: nx.DiGraph) -> str:
    """The URL fragment (``"#..."``) that restores ``source`` (or ``design``, drawn by hand) and ``settings``.

    Raises:
        FormError: a hand-drawn design with more than :data:`MAX_LINK_EDGES` edges or non-int vertices.
    """
    pairs: list[tuple[str, object]] = []
    if source.kind == "generator":
        pairs += [("g", source.name), *((k, v) for k, v in source.values.items())]
        if source.seed is not None:
            pairs.append(("seed", source.seed))
    elif source.kind == "sample":
        pairs.append(("sample", source.name))
    else:
        if edge_count(design) > MAX_LINK_EDGES:
            raise FormError(
                "Share link", f"a hand-drawn design of over {MAX_LINK_EDGES} edges does not fit; save a session file"
            )
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in design.nodes):
            raise FormError("Share link", "only designs with numbered vertices fit in a link; save a session file")
        pairs.append(("nodes", ".".join(str(v) for v in design.nodes)))
        pairs.append(("edges", ".".join(f"{u}-{v}" for u, v in design.edges)))
    values = settings.as_dict()
    pairs += [(short, values[name]) for name, short in KEYS.items()]
    return "#" + urlencode([(k, str(v)) for k, v in pairs])


def _int_list(text: str, field: str) -> list[int]:
    return [read_number(x, field, low=0, high=10**9, integer=True) for x in text.split(".") if x]


def read_fragment(fragment: str | None, *, base: Settings | None = None) -> Shared | None:
    """What the URL fragment ``fragment`` asks for, or None when it asks for nothing.

    Raises:
        FormError: a value is malformed or out of range (the message names it).
    """
    if not isinstance(fragment, str) or not fragment.strip("#"):
        return None
    params = dict(parse_qsl(fragment.lstrip("#"), keep_blank_values=True))
    settings = read_settings({name: params[short] for name, short in KEYS.items() if short in params}, base=base)
    edges: tuple = ()
    if "g" in params:
        reserved = {"g", "seed", *KEYS.values()}
        seed = params.get("seed")
        source = DesignSource(
            "generator",
            params["g"],
            {k: v for k, v in params.items() if k not in reserved},
            None if seed in (None, "") else read_number(seed, "seed", low=0, high=2**31 - 1, integer=True),
        )
    elif "sample" in params:
        source = DesignSource("sample", params["sample"])
    elif "edges" in params or "nodes" in params:
        nodes = _int_list(params.get("nodes", ""), "nodes")
        pairs = [p.split("-") for p in params.get("edges", "").split(".") if p]
        if any(len(p) != 2 for p in pairs) or len(pairs) > MAX_LINK_EDGES:
            raise FormError("edges", f"must be up to {MAX_LINK_EDGES} pairs like 0-1.1-2, got {params['edges']!r}")
        edges = tuple(
            (int(read_number(u, "edges", low=0, integer=True)), int(read_number(v, "edges", low=0, integer=True)))
            for u, v in pairs
        )
        source = DesignSource("drawn", values={"nodes": nodes})
    else:
        return Shared(DesignSource(), settings) if any(short in params for short in KEYS.values()) else None
    return Shared(source, settings, edges)
