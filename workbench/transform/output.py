"""The extracted graph as arrays (:class:`EdgeArrays`) or as an ``nx.DiGraph``, built in bulk.

Building a networkx graph edge by edge (``add_edges_from``) costs a Python
loop per edge and an attribute dict per edge. Here the adjacency dicts are
filled one vertex at a time (``dict.update`` over zipped lists), the same way
networkx lays them out (``G._succ[u][v] is G._pred[v][u]``, one data object
per edge), with the garbage collector paused. By default an adjacency row
stores each edge's number and hands out :class:`EdgeAttrs` on access: a
mapping with the keys ``weight``, ``module`` and ``index`` read from shared
arrays, so an edge costs less memory than an edge with an empty dict.
"""

from __future__ import annotations

import gc
from collections.abc import ItemsView, Iterator, MutableMapping, ValuesView
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from workbench.transform.blocks import VertexBlock

__all__ = ["EDGE_DATA", "EdgeArrays", "EdgeAttrs", "to_networkx"]

EDGE_DATA = ("lazy", "dict", "none")


@dataclass(frozen=True, eq=False)
class EdgeArrays:
    """Edges as arrays, for graphs too large for networkx.

    Attributes:
        source, target: ``[E]`` vertex ids (``0 .. num_vertices - 1``), int32 or int64.
        weight: ``[E]`` the weight of each edge (the kernel norm at channel
            and module granularity, the averaging factor for average pooling,
            1 for max pooling and merges).
        index: ``[E]`` flat index into the weight of the edge's module,
            ``-1`` where none (pooling, merges, coarse granularities).
        modules, offsets: edges ``offsets[i]:offsets[i + 1]`` come from
            ``modules[i]``.
        blocks: the vertex blocks; :meth:`labels` gives each id's label.
    """

    source: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    index: np.ndarray
    modules: tuple[str, ...]
    offsets: np.ndarray
    num_vertices: int
    blocks: tuple[VertexBlock, ...]
    granularity: str

    @property
    def num_edges(self) -> int:
        return int(self.source.size)

    def labels(self) -> list:
        """The networkx label of every vertex id.

        The id itself, unless a block names its vertices (a DAN's design
        labels); at module granularity the op's name (``name#2`` for its
        second call).
        """
        if self.granularity == "module":
            seen: dict[str, int] = {}
            out = []
            for b in self.blocks:
                seen[b.name] = seen.get(b.name, 0) + 1
                out.append(b.name if seen[b.name] == 1 else f"{b.name}#{seen[b.name]}")
            return out
        if all(b.labels is None for b in self.blocks):
            return list(range(self.num_vertices))
        out: list = []
        for b in self.blocks:
            out.extend(b.labels if b.labels is not None else range(b.start, b.start + b.size))
        return out

    def module_of(self, edge: int) -> str:
        return self.modules[int(np.searchsorted(self.offsets, edge, side="right")) - 1]

    def vertex_data(self) -> Iterator[dict]:
        """``module``, ``layer`` and ``position`` of every vertex, in id order."""
        for b in self.blocks:
            modules = b.modules if b.modules is not None else [b.name] * b.size
            layers = b.layers.tolist() if b.layers is not None else [b.layer] * b.size
            for module, layer, position in zip(modules, layers, b.all_positions(), strict=True):
                yield {"module": module, "layer": layer, "position": position}

    def to_scipy(self, format: str = "csr"):
        """The weighted adjacency matrix ``A[source, target] = weight`` as a ``scipy.sparse`` array.

        Duplicate edges are summed. Imports scipy on first use.
        """
        import scipy.sparse

        n = self.num_vertices
        matrix = scipy.sparse.coo_array((self.weight, (self.source, self.target)), shape=(n, n))
        return matrix.asformat(format)


class _Deleted:
    """Marks a deleted edge attribute (a singleton that survives pickling)."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "_DELETED"


_DELETED = _Deleted()
_KEYS = ("weight", "module", "index")


class _EdgeTable:
    """The columns :class:`EdgeAttrs` read (weight, index, module ranges), per-edge overrides,
    and the lookup from a vertex pair to its edge number (sorted ``target * n + source`` keys)."""

    __slots__ = ("ids", "index", "keys", "modules", "n", "offsets", "order", "overrides", "weight")

    def __init__(self, arrays: EdgeArrays, labels: list | None) -> None:
        self.weight = arrays.weight
        small = arrays.index.size == 0 or int(arrays.index.max()) < 2**31
        self.index = arrays.index.astype(np.int32, copy=False) if small else arrays.index
        self.modules = arrays.modules
        self.offsets = arrays.offsets
        self.overrides: dict[int, dict] = {}
        self.n = max(arrays.num_vertices, 1)
        keys = arrays.target.astype(np.int64) * self.n + arrays.source
        self.order = _sorted_order(keys)  # None when the edges already come sorted (dense layers)
        self.keys = keys if self.order is None else keys[self.order]
        self.ids = None if labels is None else {label: i for i, label in enumerate(labels)}

    def module_of(self, k: int) -> str:
        return self.modules[int(np.searchsorted(self.offsets, k, side="right")) - 1]

    def edge(self, u: Any, v: Any) -> int:
        """The number of the (last) edge ``u -> v`` (labels)."""
        if self.ids is not None:
            u, v = self.ids[u], self.ids[v]
        key = v * self.n + u
        pos = int(np.searchsorted(self.keys, key, side="right")) - 1
        if pos < 0 or self.keys[pos] != key:
            raise KeyError((u, v))
        return pos if self.order is None else int(self.order[pos])


class _Lazy:
    """The value an extracted edge has in its adjacency rows until it is read (a singleton)."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "_LAZY"

    def __repr__(self) -> str:
        return "<lazy edge data>"


_LAZY = _Lazy()


class EdgeAttrs(MutableMapping):
    """The data of one extracted edge: ``weight``, ``module``, ``index`` (where one weight makes the edge).

    A mapping read from the extraction's arrays; values set or deleted are
    kept per edge, so ``G.edges[u, v]["color"] = "red"`` sticks. ``copy()``
    returns a plain dict (what ``G.copy()`` stores). Not a ``dict``: use
    ``dict(data)`` where a real dict is needed (``json.dumps``).
    """

    __slots__ = ("_k", "_table")

    def __init__(self, table: _EdgeTable, k: int) -> None:
        self._table = table
        self._k = k

    def _base(self, key: str) -> Any:
        table = self._table
        if key == "weight":
            return float(table.weight[self._k])
        if key == "module":
            return table.module_of(self._k)
        if key == "index":
            i = int(table.index[self._k])
            if i >= 0:
                return i
        raise KeyError(key)

    def __getitem__(self, key: str) -> Any:
        over = self._table.overrides.get(self._k)
        if over is not None and key in over:
            value = over[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        return self._base(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._table.overrides.setdefault(self._k, {})[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._table.overrides.setdefault(self._k, {})[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        over = self._table.overrides.get(self._k, {})
        for key in _KEYS:
            if key in over:
                if over[key] is not _DELETED:
                    yield key
            elif key != "index" or self._table.index[self._k] >= 0:
                yield key
        yield from (k for k, v in over.items() if k not in _KEYS and v is not _DELETED)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict:
        return dict(self)

    def __repr__(self) -> str:
        return repr(dict(self))


class _LazyRow(dict):
    """One vertex's adjacency dict in an extracted graph: ``{neighbour: _LAZY}`` until read.

    Reading a value (``row[v]``, ``get``, ``items``, ``values``) gives the
    edge's :class:`EdgeAttrs`, found by the vertex pair; values networkx
    stores later (plain dicts) are returned as they are. A row holds one
    shared marker instead of a data object per edge, so the graph is smaller
    than one built with ``add_edges_from`` and no attributes.
    """

    __slots__ = ("_out", "_table", "_vertex")

    @classmethod
    def of(cls, table: _EdgeTable, vertex: Any, out: bool, neighbours: list) -> _LazyRow:
        row = cls.fromkeys(neighbours, _LAZY)
        row._table, row._vertex, row._out = table, vertex, out
        return row

    def _resolve(self, key: Any, value: Any) -> Any:
        if value is not _LAZY:
            return value
        u, v = (self._vertex, key) if self._out else (key, self._vertex)
        return EdgeAttrs(self._table, self._table.edge(u, v))

    def __getitem__(self, key: Any) -> Any:
        return self._resolve(key, dict.__getitem__(self, key))

    def get(self, key: Any, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return self[key]
        return default

    def __iter__(self) -> Iterator:  # defined so that dict(row) and {**row} go through __getitem__
        return dict.__iter__(self)

    def items(self):
        return ItemsView(self)

    def values(self):
        return ValuesView(self)

    def pop(self, key: Any, *default: Any) -> Any:
        return self._resolve(key, dict.pop(self, key, *default))

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return self._resolve(key, dict.setdefault(self, key, default))

    def popitem(self):
        key, value = dict.popitem(self)
        return key, self._resolve(key, value)

    def copy(self) -> dict:
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        return dict(self.items()) == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    def __reduce__(self):
        return dict, (dict(self.items()),)


def _sorted_order(values: np.ndarray) -> np.ndarray | None:
    """A stable order sorting ``values`` (non-negative), or ``None`` when they already are sorted."""
    if values.size < 2 or bool(np.all(values[1:] >= values[:-1])):
        return None
    if int(values.max()) < 1 << 16:  # numpy sorts 16-bit integers by radix: linear time
        return np.argsort(values.astype(np.uint16), kind="stable")
    return np.argsort(values, kind="stable")


def _gather(items: list, index: np.ndarray, chunk: int = 1 << 16) -> list:
    """``[items[i] for i in index]`` (the same objects), in C, a chunk at a time.

    The result holds references to ``items``' own objects, never new ones: an
    int label made afresh per edge (``index.tolist()``) would cost 32 bytes for
    each of the millions of adjacency entries that hold it.
    """
    table = np.fromiter(items, dtype=object, count=len(items))  # takes keep the objects
    out: list = []
    for start in range(0, index.size, chunk):
        out.extend(table.take(index[start : start + chunk]).tolist())
    return out


def _runs(keys: np.ndarray, labels: list, values: np.ndarray) -> Iterator[tuple[Any, list]]:
    """``(labels[key], [labels[value], ...])`` for every run of equal ``keys`` (sorted)."""
    if keys.size == 0:
        return
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    ends = np.append(starts[1:], keys.size).tolist()
    value_labels = _gather(labels, values)
    key_labels = _gather(labels, keys[starts])
    for label, a, b in zip(key_labels, starts.tolist(), ends, strict=True):
        yield label, value_labels[a:b]


def _fill(adjacency: dict, keys: np.ndarray, labels: list, values: np.ndarray, data: list) -> None:
    """``adjacency[labels[key]][labels[value]] = data`` for runs of equal ``keys`` (sorted)."""
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    ends = np.append(starts[1:], keys.size).tolist()
    value_labels = _gather(labels, values)
    key_labels = _gather(labels, keys[starts])
    for label, a, b in zip(key_labels, starts.tolist(), ends, strict=True):
        adjacency[label].update(zip(value_labels[a:b], data[a:b], strict=True))


def _edge_data(arrays: EdgeArrays, edge_data: str) -> list:
    """One data dict per edge in edge order (``"dict"``: weight, module, index; ``"none"``: empty)."""
    e = arrays.num_edges
    if edge_data == "none":
        return [{} for _ in range(e)]
    weight, index = arrays.weight.tolist(), arrays.index.tolist()
    module = np.repeat(np.arange(len(arrays.modules)), np.diff(arrays.offsets)).tolist()
    names = arrays.modules
    out = []
    for k in range(e):
        d = {"weight": weight[k], "module": names[module[k]]}
        if index[k] >= 0:
            d["index"] = index[k]
        out.append(d)
    return out


def to_networkx(arrays: EdgeArrays, *, edge_data: str = "lazy", graph_attrs: dict | None = None) -> nx.DiGraph:
    """An ``nx.DiGraph`` of ``arrays``: vertices with ``module``/``layer``/``position``, edges with their data.

    With ``edge_data="lazy"`` the adjacency rows are :class:`_LazyRow` dicts and
    edge data are :class:`EdgeAttrs` made on access (so ``G.succ[u][v] is
    G.pred[v][u]`` does not hold; both read and write the same values).
    Duplicate ``(source, target)`` pairs collapse to one edge (the last one).
    """
    graph = nx.DiGraph(**(graph_attrs or {}))
    labels = arrays.labels()
    graph.add_nodes_from(zip(labels, arrays.vertex_data(), strict=True))
    plain = arrays.granularity != "module" and all(b.labels is None for b in arrays.blocks)
    src, dst = arrays.source, arrays.target
    enabled = gc.isenabled()
    gc.disable()  # millions of new objects: the collector would rescan them again and again
    try:
        if edge_data == "lazy":
            table = _EdgeTable(arrays, None if plain else labels)
            for adjacency, keys, values, out in ((graph._succ, src, dst, True), (graph._pred, dst, src, False)):
                for label in labels:
                    adjacency[label] = _LazyRow.of(table, label, out, [])
                order = _sorted_order(keys)
                sorted_keys = keys if order is None else keys[order]
                sorted_values = values if order is None else values[order]
                for label, neighbours in _runs(sorted_keys, labels, sorted_values):
                    adjacency[label] = _LazyRow.of(table, label, out, neighbours)
        elif arrays.num_edges:
            data = _edge_data(arrays, edge_data)  # in edge order
            for adjacency, keys, values in ((graph._succ, src, dst), (graph._pred, dst, src)):
                order = _sorted_order(keys)
                if order is None:
                    _fill(adjacency, keys, labels, values, data)
                else:
                    _fill(adjacency, keys[order], labels, values[order], _gather(data, order))
    finally:
        if enabled:
            gc.enable()
    nx._clear_cache(graph)
    return graph
