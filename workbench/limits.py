"""Size limits for work a user can ask for, checked in constant time before the work starts.

A shared server must refuse a request that would take minutes or gigabytes
*before* it spends them. :class:`Limits` holds every limit (a frozen dataclass,
one per server; the command line sets its fields), and each ``check_*``
function compares one requested size with one field and raises
:class:`~workbench.errors.LimitError` naming the value, the field and the
limit, and a coarser alternative where one exists. The sizes come from
:mod:`workbench.sizes` (arithmetic on the request's parameters), so a check
costs microseconds whatever was asked for.

The library's upload paths (:func:`workbench.io.graph_from_bytes`,
:func:`workbench.io.checkpoint_from_bytes` and the file loaders) apply
:data:`DEFAULT_LIMITS` unless given other limits; pass
:meth:`Limits.unlimited` to read large trusted files.

Example:
    >>> limits = Limits(max_edges=50_000)
    >>> check_generator("erdos_renyi", {"n": 5000, "p": 1.0}, limits)
    Traceback (most recent call last):
    workbench.errors.LimitError: Erdős–Rényi would have 12,497,500 edges; the limit is max_edges=50,000; ...
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx

from workbench.errors import LimitError
from workbench.sizes import Count, GraphSize, ffn_parameter_count, generator_size

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "check_dan",
    "check_extraction_edges",
    "check_ffn",
    "check_generator",
    "check_graph_size",
    "check_json_depth",
    "check_parameters",
    "check_upload_bytes",
    "check_upload_elements",
]

MiB = 2**20
GiB = 2**30

#: Title and advice of every generator in messages (keys of :data:`workbench.sizes.GENERATOR_SIZES`).
GENERATOR_TITLES = {
    "layered": ("the layered feed-forward graph", "choose smaller layer sizes"),
    "tree": ("the balanced tree", "choose a smaller r or h"),
    "grid": ("the 2-D grid", "choose a smaller m or n"),
    "watts_strogatz": ("Watts–Strogatz", "choose a smaller n or k"),
    "erdos_renyi": ("Erdős–Rényi", "choose a smaller n or p"),
    "barabasi_albert": ("Barabási–Albert", "choose a smaller n or m"),
}
#: The next coarser graph granularity of :class:`workbench.transform.GraphTransform`.
COARSER = {"neuron": "channel", "channel": "module"}


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Limits:
    """Every size limit of a server (all positive ints; see the module docstring).

    Attributes:
        max_vertices: vertices of a design, generated or uploaded (also of a
            DAN's structure in a checkpoint).
        max_edges: edges of a design, generated or uploaded; for random
            generators the expected count is checked first, then the graph made.
        max_parameters: trainable parameters of a model to build (from hidden
            sizes, a design, or a checkpoint's spec), counted before building.
        max_hidden_layers: hidden layers of a feed-forward model (each is a module).
        max_upload_bytes: size of an uploaded graph file or checkpoint, checked
            before parsing.
        max_upload_elements: XML elements of a GraphML upload (its ``<``
            characters) or JSON values of a node-link upload (its commas,
            brackets and braces), counted before parsing.
        max_json_depth: nesting depth of JSON in uploads (node-link files,
            GraphML labels, checkpoint metadata and structures).
        max_extraction_edges: edges of a graph extracted from a model for the
            Inspect panel (estimated before extraction); a coarser granularity
            extracts fewer.
        history_bytes: bytes of a session's undo history (older steps are
            dropped first).
        session_memory_bytes: bytes of all sessions held in memory by a server
            (idle ones are moved to disk beyond it).
        training_slots: training jobs that run at once (default: the number of
            CPU cores); others wait in a queue.
        training_queue: training jobs that may wait for a slot.
    """

    max_vertices: int = 10_000
    max_edges: int = 25_000  # the largest design request then takes about 1 s on an idle 2-core server
    max_parameters: int = 2_000_000
    max_hidden_layers: int = 64
    max_upload_bytes: int = 16 * MiB
    max_upload_elements: int = 1_000_000
    max_json_depth: int = 32
    max_extraction_edges: int = 500_000
    history_bytes: int = 16 * MiB
    session_memory_bytes: int = 2 * GiB
    training_slots: int = field(default_factory=_cores)
    training_queue: int = 100

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LimitError(f"limit {f.name} must be a positive int, got {value!r}", field=f.name)

    @classmethod
    def unlimited(cls) -> Limits:
        """Limits that refuse nothing (for large trusted files); the JSON depth stays bounded."""
        return cls(**{f.name: sys.maxsize for f in dataclasses.fields(cls) if f.name != "max_json_depth"})

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names of the fields, in order (for command-line flags)."""
        return tuple(f.name for f in dataclasses.fields(cls))


#: The limits used where none are given.
DEFAULT_LIMITS = Limits()


def _text(count: Count) -> str:
    """A count for a message: ``12,345``, or ``about 1.2e+40`` / ``more than 10^308`` for huge floats."""
    if isinstance(count, float):
        return "more than 10^308" if math.isinf(count) else f"about {count:.2g}"
    return f"{count:,}"


def _refuse(
    what: str, count: Count, unit: str, limits: Limits, name: str, hint: str = "", verb: str = "would have"
) -> None:
    limit = getattr(limits, name)
    if count > limit:
        hint = f"; {hint}" if hint else ""
        raise LimitError(
            f"{what} {verb} {_text(count)} {unit}; the limit is {name}={limit:,}{hint}",
            field=name,
            value=count,
            limit=limit,
        )


def check_graph_size(
    vertices: Count, edges: Count, limits: Limits = DEFAULT_LIMITS, *, what: str = "the graph", hint: str = ""
) -> None:
    """Refuse a graph over ``max_vertices`` or ``max_edges`` (vertices are checked first).

    Raises:
        LimitError: naming the count, the field and the limit (and ``hint``).
    """
    _refuse(what, vertices, "vertices", limits, "max_vertices", hint)
    _refuse(what, edges, "edges", limits, "max_edges", hint)


def check_generator(name: str, params: Mapping[str, object], limits: Limits = DEFAULT_LIMITS) -> GraphSize:
    """Refuse generator ``name`` with validated ``params`` if its graph is over the limits.

    Returns:
        the estimated :class:`~workbench.sizes.GraphSize` (expected edges for random graphs).

    Raises:
        LimitError: over ``max_vertices`` or ``max_edges``.
        KeyError: an unknown generator or a missing parameter.
    """
    size = generator_size(name, params)
    title, hint = GENERATOR_TITLES.get(name, (name, ""))
    check_graph_size(size.vertices, size.edges, limits, what=title, hint=hint)
    return size


def check_parameters(count: Count, limits: Limits = DEFAULT_LIMITS, *, what: str = "the model", hint: str = "") -> None:
    """Refuse a model with more than ``max_parameters`` trainable parameters.

    Raises:
        LimitError: naming the count and the limit.
    """
    _refuse(what, count, "trainable parameters", limits, "max_parameters", hint)


def check_ffn(
    size_input: int,
    hidden: Sequence[int],
    size_output: int,
    limits: Limits = DEFAULT_LIMITS,
    *,
    layer_norm: bool = False,
) -> int:
    """Refuse a ``MaskedDeepFFN`` over ``max_hidden_layers`` or ``max_parameters``, before building it.

    Returns:
        its number of trainable parameters.

    Raises:
        LimitError: too many hidden layers or parameters.
    """
    sizes = "-".join(str(s) for s in [size_input, *hidden[:8], *(["..."] if len(hidden) > 8 else []), size_output])
    what = f"the feed-forward network {sizes}"
    _refuse(what, len(hidden), "hidden layers", limits, "max_hidden_layers")
    count = ffn_parameter_count(size_input, hidden, size_output, layer_norm=layer_norm)
    check_parameters(count, limits, what=what, hint="choose smaller hidden sizes")
    return count


def check_dan(structure: nx.Graph, size_input: int, size_output: int, limits: Limits = DEFAULT_LIMITS) -> int:
    """Refuse a ``MaskedDeepDAN`` of ``structure`` over the graph or parameter limits, before building it.

    Returns:
        its number of trainable parameters.

    Raises:
        LimitError: too many vertices, edges or parameters.
    """
    from workbench.sparse.dan import dan_parameter_count

    check_graph_size(structure.number_of_nodes(), structure.number_of_edges(), limits, what="the design")
    count = dan_parameter_count(structure, int(size_input), int(size_output)) if len(structure) else 0
    check_parameters(count, limits, what="the DAN of this design", hint="choose a smaller design")
    return count


def check_upload_bytes(size: int, limits: Limits = DEFAULT_LIMITS, *, name: str | None = None) -> None:
    """Refuse an upload larger than ``max_upload_bytes`` (before parsing it).

    Raises:
        LimitError: naming the size in MB and the limit.
    """
    limit = limits.max_upload_bytes
    if size > limit:
        what = f"the file {name}" if name else "the file"
        raise LimitError(
            f"{what} has {size / MiB:.1f} MiB ({size:,} bytes); the limit is max_upload_bytes={limit:,}",
            field="max_upload_bytes",
            value=size,
            limit=limit,
        )


def check_upload_elements(count: int, limits: Limits = DEFAULT_LIMITS, *, name: str | None = None) -> None:
    """Refuse an upload with more than ``max_upload_elements`` XML elements or JSON values (before parsing).

    Raises:
        LimitError: naming the count and the limit.
    """
    what = f"the file {name}" if name else "the file"
    _refuse(what, count, "elements", limits, "max_upload_elements", verb="has up to")


def check_json_depth(depth: int, limits: Limits = DEFAULT_LIMITS, *, what: str = "the JSON") -> None:
    """Refuse JSON nested deeper than ``max_json_depth``.

    Raises:
        LimitError: naming the depth and the limit.
    """
    _refuse(what, depth, "levels of nesting", limits, "max_json_depth", verb="has")


def check_extraction_edges(edges: Count, limits: Limits = DEFAULT_LIMITS, *, granularity: str = "neuron") -> None:
    """Refuse extracting a graph of more than ``max_extraction_edges`` edges (from its estimate).

    The message suggests the next coarser granularity (neuron -> channel -> module).

    Raises:
        LimitError: naming the estimate, the limit and a coarser granularity.
    """
    coarser = COARSER.get(granularity)
    hint = f"try the {coarser} granularity, which draws fewer vertices and edges" if coarser else ""
    _refuse(f"the {granularity}-level graph", edges, "edges", limits, "max_extraction_edges", hint)
