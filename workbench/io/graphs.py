"""Graph files: GraphML and node-link JSON.

Two formats, chosen by name (``"graphml"``, ``"json"``) or by a path's suffix
(``.graphml``, ``.json``):

* **GraphML** (``.graphml``), as written by ``nx.write_graphml``. GraphML ids
  are strings, so every node also carries a ``wb_label`` attribute holding its
  label as JSON text (tuples as lists: ``(0, 1)`` is ``[0, 1]``); node ids are
  ``str(label)`` where those are unique, else ``n0, n1, ...``. Files from other
  tools (without ``wb_label``) load with their string ids. Attribute values
  must be ``str``, ``int``, ``float`` or ``bool``, and strings free of
  control characters other than tab and newline (XML cannot hold them).
* **Node-link JSON** (``.json``), networkx's ``node_link_data`` layout:
  ``{"directed", "multigraph", "graph", "nodes": [{"id", ...}], "edges":
  [{"source", "target", ...}]}`` (``"links"`` is read too). Tuples in labels
  are written as lists; since a list cannot be a node label, every list in an
  id, source or target is read back as a tuple. Attribute values may be any
  JSON value (tuples in attribute values come back as lists).

In both formats int, str and tuple labels survive a round trip exactly, as do
str/int/float/bool node, edge and graph attributes, the node order and the
edge order. A directed file loads as ``nx.DiGraph``, an undirected one as
``nx.Graph`` (orient it with :func:`workbench.graph.to_dag`). Anything
unreadable raises :class:`GraphFileError` naming the problem and the file:
among others a GraphML node without an ``id`` or an edge without a ``source``
or ``target``, a node-link ``"directed"`` or ``"multigraph"`` that is not a
JSON ``true``/``false``, and JSON (a node-link file, a ``wb_label``) nested
deeper than ``max_json_depth``.

Reading is bounded by :class:`~workbench.limits.Limits` (default
:data:`~workbench.limits.DEFAULT_LIMITS`): the file's bytes are checked before
it is parsed, its XML elements or JSON values (counted with a byte scan) and
its vertex and edge tags or entries before the graph is built; a file over a
limit raises :class:`~workbench.errors.LimitError` naming the limit.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Literal

import networkx as nx

from workbench.errors import GraphFileError
from workbench.graph import check_dag
from workbench.io import jsonsafe
from workbench.io.graphml_reader import read_graphml_bytes
from workbench.io.labels import (
    LABEL_ATTRIBUTE,
    decode_label,
    encode_label,
    file_note,
    json_label,
    short_repr,
)
from workbench.limits import DEFAULT_LIMITS, Limits, check_graph_size, check_upload_bytes, check_upload_elements

__all__ = [
    "GRAPH_FORMATS",
    "LABEL_ATTRIBUTE",
    "GraphFormat",
    "decode_label",
    "encode_label",
    "format_of",
    "graph_from_bytes",
    "graph_to_bytes",
    "load_graph",
    "save_graph",
]

GraphFormat = Literal["graphml", "json"]
GRAPH_FORMATS: tuple[str, ...] = ("graphml", "json")
_SCALARS = (str, int, float, bool)


def format_of(path: str | os.PathLike) -> GraphFormat:
    """The graph format of ``path`` from its suffix.

    Raises:
        GraphFileError: the suffix is neither ``.graphml`` nor ``.json``.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".graphml":
        return "graphml"
    if suffix == ".json":
        return "json"
    raise GraphFileError(f"cannot tell the graph format of {os.fspath(path)!r}: expected a .graphml or .json file")


def _check_format(fmt: str) -> GraphFormat:
    fmt = str(fmt).lower().lstrip(".")
    if fmt not in GRAPH_FORMATS:
        raise GraphFileError(f"unknown graph format {fmt!r}; expected one of {GRAPH_FORMATS}")
    return fmt  # type: ignore[return-value]


# ------------------------------------------------------------------------- writing


def graph_to_bytes(graph: nx.Graph, fmt: GraphFormat | str) -> bytes:
    """Serialize ``graph`` as GraphML or node-link JSON (UTF-8).

    Args:
        graph: an ``nx.DiGraph`` or ``nx.Graph`` (not a multigraph).
        fmt: ``"graphml"`` or ``"json"``.

    Raises:
        GraphFileError: unknown format, a multigraph, a label or attribute
            value the format cannot hold.

    Example:
        >>> graph_from_bytes(graph_to_bytes(nx.DiGraph([((0, 1), "a")]), "json"), "json").edges
        OutEdgeView([((0, 1), 'a')])
    """
    fmt = _check_format(fmt)
    if graph.is_multigraph():
        raise GraphFileError(f"cannot store a {type(graph).__name__}: parallel edges are not supported")
    if fmt == "json":
        return _to_json(graph)
    return _to_graphml(graph)


def _check_keys(graph: nx.Graph, *, node_reserved: tuple[str, ...] = (), edge_reserved: tuple[str, ...] = ()) -> None:
    """Attribute names must be strings (both formats write them as text) and not reserved."""
    groups = [("graph", "", graph.graph, ())]
    groups += [("vertex", f" of vertex {v!r}", a, node_reserved) for v, a in graph.nodes(data=True)]
    groups += [("edge", f" of edge {u!r} -> {v!r}", a, edge_reserved) for u, v, a in graph.edges(data=True)]
    for what, owner, attrs, reserved in groups:
        for key in attrs:
            if not isinstance(key, str):
                raise GraphFileError(f"{what} attribute name {key!r}{owner} is not a string")
            if key in reserved:
                raise GraphFileError(f"{what} attribute {key!r}{owner} is reserved by the file format")


def _to_json(graph: nx.Graph) -> bytes:
    _check_keys(graph, node_reserved=("id",), edge_reserved=("source", "target"))
    data = {
        "directed": graph.is_directed(),
        "multigraph": False,
        "graph": dict(graph.graph),
        "nodes": [{**attrs, "id": encode_label(v)} for v, attrs in graph.nodes(data=True)],
        "edges": [
            {**attrs, "source": encode_label(u), "target": encode_label(v)} for u, v, attrs in graph.edges(data=True)
        ],
    }
    try:
        return json.dumps(data, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise GraphFileError(f"graph attributes cannot be written as JSON: {exc}") from exc


def _xml_safe(text: str) -> bool:
    """Whether ``text`` survives XML 1.0 unchanged (no control characters but tab and newline)."""
    return not any((ord(c) < 32 and c not in "\t\n") or 0xD800 <= ord(c) <= 0xDFFF or c in "\ufffe\uffff" for c in text)


def _check_scalars(items, what: str) -> None:
    for owner, attrs in items:
        for key, value in attrs.items():
            if not isinstance(value, _SCALARS):
                raise GraphFileError(
                    f"{what} attribute {key!r}{owner} = {value!r} of type {type(value).__name__} "
                    "cannot be stored in GraphML (use str, int, float or bool, or the JSON format)"
                )
            if not _xml_safe(str(key)) or (isinstance(value, str) and not _xml_safe(value)):
                raise GraphFileError(
                    f"{what} attribute {key!r}{owner} = {value!r} holds control characters, "
                    "which GraphML cannot store (use the JSON format)"
                )


def _to_graphml(graph: nx.Graph) -> bytes:
    _check_keys(graph, node_reserved=(LABEL_ATTRIBUTE,))
    _check_scalars([("", graph.graph)], "graph")
    _check_scalars(((f" of vertex {v!r}", a) for v, a in graph.nodes(data=True)), "vertex")
    _check_scalars(((f" of edge {u!r} -> {v!r}", a) for u, v, a in graph.edges(data=True)), "edge")
    ids = [str(v) for v in graph.nodes]
    if len(set(ids)) != len(ids) or not all(_xml_safe(i) for i in ids):
        ids = [f"n{i}" for i in range(len(ids))]
    rename = dict(zip(graph.nodes, ids, strict=True))
    out = nx.DiGraph() if graph.is_directed() else nx.Graph()
    out.graph.update(graph.graph)
    out.add_nodes_from(
        (rename[v], {**attrs, LABEL_ATTRIBUTE: json.dumps(encode_label(v))}) for v, attrs in graph.nodes(data=True)
    )
    out.add_edges_from((rename[u], rename[v], attrs) for u, v, attrs in graph.edges(data=True))
    buffer = io.BytesIO()
    try:
        nx.write_graphml(out, buffer)
    except (nx.NetworkXError, TypeError, ValueError) as exc:
        raise GraphFileError(f"cannot write GraphML: {exc}") from exc
    return buffer.getvalue()


# ------------------------------------------------------------------------- reading


def graph_from_bytes(
    data: bytes, fmt: GraphFormat | str, *, name: str | None = None, limits: Limits | None = None
) -> nx.Graph:
    """Read a graph written by :func:`graph_to_bytes` (or another GraphML/node-link writer).

    Args:
        data: the file's bytes.
        fmt: ``"graphml"`` or ``"json"``.
        name: the file name, used in error messages.
        limits: size limits checked before parsing and before building
            (default :data:`~workbench.limits.DEFAULT_LIMITS`).

    Returns:
        ``nx.DiGraph`` for a directed file, ``nx.Graph`` for an undirected
        one, with labels, attributes and node order as stored.

    Raises:
        GraphFileError: empty or malformed data, or not a graph; the message
            names the problem and ``name``.
        LimitError: more bytes, elements, vertices or edges than ``limits`` allow.
    """
    fmt = _check_format(fmt)
    limits = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(data, bytes | bytearray | memoryview):
        raise GraphFileError(f"expected bytes{file_note(name)}, got {type(data).__name__}")
    check_upload_bytes(len(data), limits, name=name)
    data = bytes(data)
    if not data.strip():
        raise GraphFileError(f"the graph file{file_note(name)} is empty")
    if fmt == "json":
        return _from_json(data, name, limits)
    return read_graphml_bytes(data, name, limits)


def _flag(doc: dict, key: str, default: bool, where: str) -> bool:
    """``doc[key]`` as a JSON boolean (``true``/``false``), ``default`` when absent."""
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise GraphFileError(f"{key!r}{where} must be true or false, got {short_repr(value)}")
    return value


def _from_json(data: bytes, name: str | None, limits: Limits = DEFAULT_LIMITS) -> nx.Graph:
    where = file_note(name)
    check_upload_elements(jsonsafe.json_elements(data), limits, name=name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GraphFileError(f"the graph file{where} is not UTF-8 text: {exc}") from exc
    doc = jsonsafe.loads(text, error=GraphFileError, what=f"the graph file{where}", limits=limits)
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        raise GraphFileError(f"not a node-link graph{where}: expected a JSON object with a 'nodes' list")
    edges = doc.get("edges", doc.get("links", []))
    if not isinstance(edges, list):
        raise GraphFileError(f"not a node-link graph{where}: 'edges' must be a list")
    if _flag(doc, "multigraph", False, where):
        raise GraphFileError(f"the graph{where} is a multigraph; parallel edges are not supported")
    directed = _flag(doc, "directed", True, where)
    attrs = doc.get("graph", {})
    if not isinstance(attrs, dict):
        raise GraphFileError(f"not a node-link graph{where}: 'graph' must be an object")
    check_graph_size(len(doc["nodes"]), len(edges), limits, what=f"the graph{where}")
    graph = nx.DiGraph() if directed else nx.Graph()
    graph.graph.update(attrs)
    for i, node in enumerate(doc["nodes"]):
        if not isinstance(node, dict) or "id" not in node:
            raise GraphFileError(f"node #{i}{where} must be an object with an 'id', got {short_repr(node)}")
        label = json_label(node["id"], f"node #{i}", where)
        if label in graph:
            raise GraphFileError(f"node {label!r} appears twice{where}")
        graph.add_node(label, **{k: v for k, v in node.items() if k != "id"})
    for i, edge in enumerate(edges):
        if not isinstance(edge, dict) or "source" not in edge or "target" not in edge:
            raise GraphFileError(
                f"edge #{i}{where} must be an object with 'source' and 'target', got {short_repr(edge)}"
            )
        u = json_label(edge["source"], f"edge #{i}", where)
        v = json_label(edge["target"], f"edge #{i}", where)
        for end in (u, v):
            if end not in graph:
                raise GraphFileError(f"edge #{i} ({u!r} -> {v!r}){where} names the unknown node {end!r}")
        if graph.has_edge(u, v):
            raise GraphFileError(f"edge {u!r} -> {v!r} appears twice{where}; parallel edges are not supported")
        graph.add_edge(u, v, **{k: val for k, val in edge.items() if k not in ("source", "target")})
    return graph


def save_graph(graph: nx.Graph, path: str | os.PathLike) -> None:
    """Write ``graph`` to ``path`` in the format of its suffix (see :func:`format_of`).

    Raises:
        GraphFileError: unknown suffix, unstorable labels/attributes, or an OS error.
    """
    data = graph_to_bytes(graph, format_of(path))
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise GraphFileError(f"cannot write {os.fspath(path)!r}: {exc}") from exc


def load_graph(path: str | os.PathLike, *, require_dag: bool = False, limits: Limits | None = None) -> nx.Graph:
    """Read a graph file written by :func:`save_graph` (format from the suffix).

    Args:
        path: a ``.graphml`` or ``.json`` file.
        require_dag: also run :func:`workbench.graph.check_dag` on the result.
        limits: size limits (default :data:`~workbench.limits.DEFAULT_LIMITS`;
            :meth:`~workbench.limits.Limits.unlimited` for large trusted files).
            The file's size is checked before it is read.

    Raises:
        GraphFileError: unknown suffix, missing file, malformed content.
        LimitError: a file over ``limits``.
        GraphError, CycleError, EmptyGraphError: with ``require_dag``, the
            graph is undirected, empty or cyclic.

    Example:
        >>> save_graph(workbench.graph.grid_2d(2, 2), "grid.graphml")
        >>> list(load_graph("grid.graphml", require_dag=True))
        [(0, 0), (0, 1), (1, 0), (1, 1)]
    """
    fmt = format_of(path)
    limits = DEFAULT_LIMITS if limits is None else limits
    try:
        check_upload_bytes(Path(path).stat().st_size, limits, name=Path(path).name)
        data = Path(path).read_bytes()
    except OSError as exc:
        raise GraphFileError(f"cannot read {os.fspath(path)!r}: {exc}") from exc
    graph = graph_from_bytes(data, fmt, name=Path(path).name, limits=limits)
    if require_dag:
        check_dag(graph)
    return graph
