"""Graph files and model checkpoints.

Graph files
-----------
Two formats, chosen by name (``"graphml"``, ``"json"``) or by a path's suffix
(``.graphml``, ``.json``):

* **GraphML** (``.graphml``), as written by ``nx.write_graphml``. GraphML ids
  are strings, so every node also carries a ``wb_label`` attribute holding its
  label as JSON text (tuples as lists: ``(0, 1)`` is ``[0, 1]``); node ids are
  ``str(label)`` where those are unique, else ``n0, n1, ...``. Files from other
  tools (without ``wb_label``) load with their string ids. Attribute values
  must be ``str``, ``int``, ``float`` or ``bool``.
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
unreadable raises :class:`GraphFileError` naming the problem and the file.

Checkpoints
-----------
A checkpoint is one file written by ``torch.save`` holding only plain types
and tensors, so ``torch.load(path, weights_only=True)`` reads it without
running code::

    {
        "format": "workbench-checkpoint",
        "version": 1,
        "kind": "MaskedDeepFFN" | "MaskedDeepDAN",
        "spec": {                              # constructor arguments
            "input_shape": [64],
            "size_output": 10,
            "activation": "ReLU",              # a torch.nn class name
            # MaskedDeepFFN:
            "hidden_layers": [32, 16], "use_layer_norm": False,
            # MaskedDeepDAN:
            "structure": "<node-link JSON text of model.structure>",
        },
        "state_dict": {name: tensor, ...},     # weights, biases, bool masks
        "extra": "<JSON text>",                # caller's metadata (dataset, accuracy...)
    }

Tensors are stored on the CPU. Loading rebuilds the model from ``spec`` and
loads ``state_dict`` strictly; the DAN's edge index buffers must equal those
rebuilt from the structure and masks must be ``torch.bool``. Learnable masks
(``mask_as_params``) are not supported.
"""

from __future__ import annotations

import io as _io
import json
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import torch
from torch import nn

from workbench.errors import CheckpointError, GraphFileError
from workbench.graph import check_dag
from workbench.sparse.dan import MaskedDeepDAN
from workbench.sparse.ffn import MaskedDeepFFN
from workbench.sparse.layers import MaskedLayer
from workbench.sparse.module import maskable_layers

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "GRAPH_FORMATS",
    "LABEL_ATTRIBUTE",
    "checkpoint_from_bytes",
    "checkpoint_to_bytes",
    "decode_label",
    "encode_label",
    "format_of",
    "graph_from_bytes",
    "graph_to_bytes",
    "load_checkpoint",
    "load_graph",
    "model_from_spec",
    "model_spec",
    "save_checkpoint",
    "save_graph",
]

GraphFormat = Literal["graphml", "json"]
GRAPH_FORMATS: tuple[str, ...] = ("graphml", "json")
#: GraphML node attribute holding the node's label as JSON text.
LABEL_ATTRIBUTE = "wb_label"
CHECKPOINT_FORMAT = "workbench-checkpoint"
CHECKPOINT_VERSION = 1
#: Activation classes a checkpoint may name (built with no arguments).
ACTIVATIONS: tuple[str, ...] = (
    "ReLU",
    "Tanh",
    "Sigmoid",
    "GELU",
    "SiLU",
    "ELU",
    "LeakyReLU",
    "Softplus",
    "Identity",
)
_SCALARS = (str, int, float, bool)


# ------------------------------------------------------------------------- labels


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
        raise GraphFileError(f"a JSON object {value!r} is not a node label")
    return value


def _where(name: str | None) -> str:
    return f" in {name}" if name else ""


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


def _to_json(graph: nx.Graph) -> bytes:
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
    _check_scalars([("", graph.graph)], "graph")
    _check_scalars(((f" of vertex {v!r}", a) for v, a in graph.nodes(data=True)), "vertex")
    _check_scalars(((f" of edge {u!r} -> {v!r}", a) for u, v, a in graph.edges(data=True)), "edge")
    for v, attrs in graph.nodes(data=True):
        if LABEL_ATTRIBUTE in attrs:
            raise GraphFileError(f"vertex {v!r} has an attribute named {LABEL_ATTRIBUTE!r}, reserved in GraphML")
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
    buffer = _io.BytesIO()
    try:
        nx.write_graphml(out, buffer)
    except (nx.NetworkXError, TypeError, ValueError) as exc:
        raise GraphFileError(f"cannot write GraphML: {exc}") from exc
    return buffer.getvalue()


# ------------------------------------------------------------------------- reading


def graph_from_bytes(data: bytes, fmt: GraphFormat | str, *, name: str | None = None) -> nx.Graph:
    """Read a graph written by :func:`graph_to_bytes` (or another GraphML/node-link writer).

    Args:
        data: the file's bytes.
        fmt: ``"graphml"`` or ``"json"``.
        name: the file name, used in error messages.

    Returns:
        ``nx.DiGraph`` for a directed file, ``nx.Graph`` for an undirected
        one, with labels, attributes and node order as stored.

    Raises:
        GraphFileError: empty or malformed data, or not a graph; the message
            names the problem and ``name``.
    """
    fmt = _check_format(fmt)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise GraphFileError(f"expected bytes{_where(name)}, got {type(data).__name__}")
    data = bytes(data)
    if not data.strip():
        raise GraphFileError(f"the graph file{_where(name)} is empty")
    graph = _from_json(data, name) if fmt == "json" else _from_graphml(data, name)
    return graph


def _from_json(data: bytes, name: str | None) -> nx.Graph:
    where = _where(name)
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise GraphFileError(f"the graph file{where} is not UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise GraphFileError(f"invalid JSON{where}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        raise GraphFileError(f"not a node-link graph{where}: expected a JSON object with a 'nodes' list")
    edges = doc.get("edges", doc.get("links", []))
    if not isinstance(edges, list):
        raise GraphFileError(f"not a node-link graph{where}: 'edges' must be a list")
    if doc.get("multigraph"):
        raise GraphFileError(f"the graph{where} is a multigraph; parallel edges are not supported")
    attrs = doc.get("graph", {})
    if not isinstance(attrs, dict):
        raise GraphFileError(f"not a node-link graph{where}: 'graph' must be an object")
    graph = nx.DiGraph() if doc.get("directed", True) else nx.Graph()
    graph.graph.update(attrs)
    for i, node in enumerate(doc["nodes"]):
        if not isinstance(node, dict) or "id" not in node:
            raise GraphFileError(f"node #{i}{where} must be an object with an 'id', got {node!r}")
        label = _json_label(node["id"], f"node #{i}", where)
        if label in graph:
            raise GraphFileError(f"node {label!r} appears twice{where}")
        graph.add_node(label, **{k: v for k, v in node.items() if k != "id"})
    for i, edge in enumerate(edges):
        if not isinstance(edge, dict) or "source" not in edge or "target" not in edge:
            raise GraphFileError(f"edge #{i}{where} must be an object with 'source' and 'target', got {edge!r}")
        u = _json_label(edge["source"], f"edge #{i}", where)
        v = _json_label(edge["target"], f"edge #{i}", where)
        for end in (u, v):
            if end not in graph:
                raise GraphFileError(f"edge #{i} ({u!r} -> {v!r}){where} names the unknown node {end!r}")
        if graph.has_edge(u, v):
            raise GraphFileError(f"edge {u!r} -> {v!r} appears twice{where}; parallel edges are not supported")
        graph.add_edge(u, v, **{k: val for k, val in edge.items() if k not in ("source", "target")})
    return graph


def _json_label(value: Any, what: str, where: str) -> Hashable:
    try:
        label = decode_label(value)
        hash(label)
    except (GraphFileError, TypeError) as exc:
        raise GraphFileError(f"{what}{where} has an unusable id {value!r}: {exc}") from exc
    return label


def _from_graphml(data: bytes, name: str | None) -> nx.Graph:
    where = _where(name)
    try:
        raw = nx.read_graphml(_io.BytesIO(data))
    except ET.ParseError as exc:
        raise GraphFileError(f"invalid XML{where}: {exc}") from exc
    except (nx.NetworkXError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise GraphFileError(f"invalid GraphML{where}: {exc}") from exc
    if raw.is_multigraph():
        raise GraphFileError(f"the graph{where} has parallel edges, which are not supported")
    labels = {}
    for node, attrs in raw.nodes(data=True):
        if LABEL_ATTRIBUTE not in attrs:
            labels[node] = node
            continue
        text = attrs[LABEL_ATTRIBUTE]
        try:
            labels[node] = _json_label(json.loads(str(text)), f"vertex {node!r}", where)
        except json.JSONDecodeError as exc:
            raise GraphFileError(f"vertex {node!r}{where} has a malformed {LABEL_ATTRIBUTE} {text!r}: {exc}") from exc
    if len(set(labels.values())) != len(labels):
        raise GraphFileError(f"two vertices{where} have the same {LABEL_ATTRIBUTE}")
    graph = nx.DiGraph() if raw.is_directed() else nx.Graph()
    graph.graph.update({k: v for k, v in raw.graph.items() if not (k in ("node_default", "edge_default") and v == {})})
    graph.add_nodes_from(
        (labels[v], {k: x for k, x in attrs.items() if k != LABEL_ATTRIBUTE}) for v, attrs in raw.nodes(data=True)
    )
    graph.add_edges_from((labels[u], labels[v], attrs) for u, v, attrs in raw.edges(data=True))
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


def load_graph(path: str | os.PathLike, *, require_dag: bool = False) -> nx.Graph:
    """Read a graph file written by :func:`save_graph` (format from the suffix).

    Args:
        path: a ``.graphml`` or ``.json`` file.
        require_dag: also run :func:`workbench.graph.check_dag` on the result.

    Raises:
        GraphFileError: unknown suffix, missing file, malformed content.
        GraphError, CycleError, EmptyGraphError: with ``require_dag``, the
            graph is undirected, empty or cyclic.

    Example:
        >>> save_graph(workbench.graph.grid_2d(2, 2), "grid.graphml")
        >>> list(load_graph("grid.graphml", require_dag=True))
        [(0, 0), (0, 1), (1, 0), (1, 1)]
    """
    fmt = format_of(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise GraphFileError(f"cannot read {os.fspath(path)!r}: {exc}") from exc
    graph = graph_from_bytes(data, fmt, name=Path(path).name)
    if require_dag:
        check_dag(graph)
    return graph


# --------------------------------------------------------------------- checkpoints


def _activation_name(model: nn.Module) -> str:
    name = type(model.activation).__name__
    if name not in ACTIVATIONS or type(model.activation) is not getattr(nn, name):
        raise CheckpointError(f"activation {name} cannot be stored; supported: {ACTIVATIONS}")
    return name


def model_spec(model: nn.Module) -> dict:
    """The constructor arguments of a ``MaskedDeepFFN`` or ``MaskedDeepDAN`` as plain types.

    ``model_from_spec(model_spec(model))`` builds a fresh model of the same
    architecture (new weights, all masks on).

    Raises:
        CheckpointError: another kind of model, learnable masks, or an
            activation outside :data:`ACTIVATIONS`.
    """
    if any(layer.mask_as_params for layer in maskable_layers(model)):
        raise CheckpointError("models with learnable masks (mask_as_params) cannot be stored")
    if isinstance(model, MaskedDeepFFN):
        return {
            "kind": "MaskedDeepFFN",
            "input_shape": list(model.input_shape),
            "size_output": model.sizes[-1],
            "hidden_layers": list(model.sizes[1:-1]),
            "use_layer_norm": any(isinstance(n, nn.LayerNorm) for n in model.norms),
            "activation": _activation_name(model),
        }
    if isinstance(model, MaskedDeepDAN):
        return {
            "kind": "MaskedDeepDAN",
            "input_shape": list(model.input_shape),
            "size_output": model.output_layer.out_features,
            "structure": graph_to_bytes(model.structure, "json").decode("utf-8"),
            "activation": _activation_name(model),
        }
    raise CheckpointError(f"cannot store a {type(model).__name__}; expected MaskedDeepFFN or MaskedDeepDAN")


def _field(spec: Mapping, key: str, types, what: str):
    if key not in spec:
        raise CheckpointError(f"{what} has no {key!r}")
    value = spec[key]
    if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
        raise CheckpointError(f"{what}: {key!r} = {value!r} has the wrong type")
    return value


def _int_list(spec: Mapping, key: str, what: str) -> list[int]:
    value = _field(spec, key, list, what)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        raise CheckpointError(f"{what}: {key!r} = {value!r} must be a list of positive ints")
    return value


def model_from_spec(spec: Mapping) -> nn.Module:
    """Build a fresh model from :func:`model_spec` output.

    Raises:
        CheckpointError: unknown kind, missing or mistyped fields, or a
            structure that is not a DAG.
    """
    what = "model spec"
    if not isinstance(spec, Mapping):
        raise CheckpointError(f"{what} must be a dict, got {type(spec).__name__}")
    kind = _field(spec, "kind", str, what)
    activation = _field(spec, "activation", str, what)
    if activation not in ACTIVATIONS:
        raise CheckpointError(f"{what}: unknown activation {activation!r}; supported: {ACTIVATIONS}")
    act = getattr(nn, activation)
    input_shape = _int_list(spec, "input_shape", what)
    size_output = _field(spec, "size_output", int, what)
    if kind == "MaskedDeepFFN":
        hidden = _int_list(spec, "hidden_layers", what)
        norm = _field(spec, "use_layer_norm", bool, what)
        return MaskedDeepFFN(input_shape, size_output, hidden, norm, activation=act)
    if kind == "MaskedDeepDAN":
        text = _field(spec, "structure", str, what)
        try:
            structure = graph_from_bytes(text.encode("utf-8"), "json", name="the checkpoint's structure")
            check_dag(structure)
        except (GraphFileError, ValueError) as exc:
            raise CheckpointError(f"{what}: bad structure: {exc}") from exc
        return MaskedDeepDAN(input_shape, size_output, structure, activation=act)
    raise CheckpointError(f"{what}: unknown model kind {kind!r}; expected MaskedDeepFFN or MaskedDeepDAN")


def _checkpoint_dict(model: nn.Module, extra: Mapping | None) -> dict:
    spec = model_spec(model)
    try:
        extra_text = json.dumps({} if extra is None else dict(extra), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"extra metadata must be JSON-serializable: {exc}") from exc
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "kind": spec.pop("kind"),
        "spec": spec,
        "state_dict": state,
        "extra": extra_text,
    }


def checkpoint_to_bytes(model: nn.Module, *, extra: Mapping | None = None) -> bytes:
    """The bytes of :func:`save_checkpoint` (for downloads).

    Raises:
        CheckpointError: see :func:`model_spec`; ``extra`` is not JSON-serializable.
    """
    buffer = _io.BytesIO()
    torch.save(_checkpoint_dict(model, extra), buffer)
    return buffer.getvalue()


def save_checkpoint(model: nn.Module, path: str | os.PathLike, *, extra: Mapping | None = None) -> None:
    """Write ``model`` (architecture, weights, masks) and ``extra`` metadata to ``path``.

    Args:
        model: a ``MaskedDeepFFN`` or ``MaskedDeepDAN`` (on any device).
        path: the file to write (conventionally ``.pt``).
        extra: JSON-serializable metadata, e.g. ``{"dataset": "digits", "test_accuracy": 0.95}``.

    Raises:
        CheckpointError: unsupported model, non-JSON ``extra``, or an OS error.

    Example:
        >>> save_checkpoint(model, "model.pt", extra={"dataset": "digits"})
        >>> model, extra = load_checkpoint("model.pt")
    """
    data = checkpoint_to_bytes(model, extra=extra)
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise CheckpointError(f"cannot write {os.fspath(path)!r}: {exc}") from exc


def checkpoint_from_bytes(data: bytes, *, name: str | None = None) -> tuple[nn.Module, dict]:
    """Read a checkpoint from bytes (for uploads); see :func:`load_checkpoint`."""
    where = _where(name)
    if not isinstance(data, bytes | bytearray | memoryview) or not len(data):
        raise CheckpointError(f"the checkpoint{where} is empty")
    try:
        doc = torch.load(_io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for bad input (pickle, zip, EOF, runtime)
        raise CheckpointError(f"not a readable checkpoint{where}: {type(exc).__name__}: {exc}") from exc
    return _model_from_checkpoint(doc, where)


def _model_from_checkpoint(doc: Any, where: str) -> tuple[nn.Module, dict]:
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"not a workbench checkpoint{where}: no format marker {CHECKPOINT_FORMAT!r}")
    version = doc.get("version")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(f"unsupported checkpoint version {version!r}{where}; expected {CHECKPOINT_VERSION}")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        raise CheckpointError(f"the checkpoint{where} has no 'spec' dict")
    model = model_from_spec({**spec, "kind": doc.get("kind")})
    state = doc.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"the checkpoint{where} has no 'state_dict' of tensors")
    _check_state(model, state, where)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"the weights{where} do not fit the {doc['kind']}: {exc}") from exc
    try:
        extra = json.loads(doc.get("extra", "{}"))
    except (TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"the checkpoint's extra metadata{where} is not JSON: {exc}") from exc
    return model, extra


def _check_state(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    masks = {f"{name}.mask" if name else "mask" for name, m in model.named_modules() if isinstance(m, MaskedLayer)}
    own = model.state_dict()
    for key, value in state.items():
        if key in masks and value.dtype != torch.bool:
            raise CheckpointError(f"mask {key!r}{where} has dtype {value.dtype}; expected torch.bool")
        expected = own.get(key)
        if expected is None or expected.is_floating_point() or expected.dtype == torch.bool:
            continue
        # index buffers (the DAN's edge sources and targets) are rebuilt from the structure
        if expected.shape != value.shape or not torch.equal(expected, value.to(expected.dtype)):
            raise CheckpointError(f"buffer {key!r}{where} does not match the stored structure")


def load_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`, without running code.

    Returns:
        ``(model, extra)``: the rebuilt model on the CPU (in train mode) with
        its weights and masks, and the stored metadata.

    Raises:
        CheckpointError: missing file, not a checkpoint, unknown kind or
            version, or weights that do not fit the stored architecture.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read {os.fspath(path)!r}: {exc}") from exc
    return checkpoint_from_bytes(data, name=Path(path).name)
