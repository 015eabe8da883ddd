"""The extracted graph as arrays (:class:`EdgeArrays`) or as an ``nx.DiGraph``, built in bulk.

Building a networkx graph edge by edge (``add_edges_from``) costs a Python
loop per edge and an attribute dict per edge. Here the adjacency dicts are
filled one vertex at a time (``dict.update`` over zipped lists), the same way
networkx lays them out (``G._succ[u][v] is G._pred[v][u]``, one data object
per edge), with the garbage collector paused. Edge data are
:class:`EdgeAttrs`: a mapping with the keys ``weight``, ``module`` and
``index`` that reads them from shared arrays, so an edge costs about as much
memory as an edge with no attributes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
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
        source, target: ``[E]`` int64 vertex ids (``0 .. num_vertices - 1``).
        weight: ``[E]`` the weight of each edge (the kernel norm at channel
            and module granularity, the averaging factor for average pooling,
            1 for max pooling and merges).
        index: ``[E]`` int64 flat index into the weight of the edge's module,
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
            for local in range(b.size):
                yield {
                    "module": b.modules[local] if b.modules is not None else b.name,
                    "layer": int(b.layers[local]) if b.layers is not None else b.layer,
                    "position": b.position(local),
                }

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
    """The shared columns :class:`EdgeAttrs` read, plus per-edge overrides."""

    __slots__ = ("arrays", "overrides")

    def __init__(self, arrays: EdgeArrays) -> None:
        self.arrays = arrays
        self.overrides: dict[int, dict] = {}


class EdgeAttrs(MutableMapping):
    """The data of one edge: ``weight``, ``module``, ``index`` (when the edge has one), and anything set later.

    Reads come from the extraction's arrays; writes and deletions are kept per
    edge. ``copy()`` returns a plain dict (what ``G.copy()`` stores).
    """

    __slots__ = ("_k", "_table")

    def __init__(self, table: _EdgeTable, k: int) -> None:
        self._table = table
        self._k = k

    def _base(self, key: str) -> Any:
        arrays = self._table.arrays
        if key == "weight":
            return float(arrays.weight[self._k])
        if key == "module":
            return arrays.module_of(self._k)
        if key == "index":
            i = int(arrays.index[self._k])
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
            elif key != "index" or self._table.arrays.index[self._k] >= 0:
                yield key
        yield from (k for k, v in over.items() if k not in _KEYS and v is not _DELETED)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict:
        return dict(self)

    def __repr__(self) -> str:
        return repr(dict(self))


def _edge_objects(arrays: EdgeArrays, order: np.ndarray | None, edge_data: str) -> list:
    """One data object per edge, in ``order`` (``None``: edge order)."""
    e = arrays.num_edges
    ks = order.tolist() if order is not None else range(e)
    if edge_data == "lazy":
        return list(map(EdgeAttrs, repeat(_EdgeTable(arrays)), ks))
    if edge_data == "none":
        return [{} for _ in range(e)]
    weight, index = arrays.weight.tolist(), arrays.index.tolist()
    module = np.repeat(np.arange(len(arrays.modules)), np.diff(arrays.offsets)).tolist()
    names = arrays.modules
    out = []
    for k in ks:
        d = {"weight": weight[k], "module": names[module[k]]}
        if index[k] >= 0:
            d["index"] = index[k]
        out.append(d)
    return out


def _sorted_order(values: np.ndarray) -> np.ndarray | None:
    """A stable order sorting ``values``, or ``None`` when they already are sorted."""
    if values.size < 2 or bool(np.all(values[1:] >= values[:-1])):
        return None
    return np.argsort(values, kind="stable")


def _fill(adjacency: dict, keys: np.ndarray, key_labels, value_labels: list, objects) -> None:
    """``adjacency[key][value] = object`` for runs of equal ``keys`` (sorted)."""
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    ends = np.append(starts[1:], keys.size).tolist()
    firsts = keys[starts]
    labels = firsts.tolist() if key_labels is None else key_labels[firsts].tolist()
    for label, a, b in zip(labels, starts.tolist(), ends, strict=True):
        adjacency[label].update(zip(value_labels[a:b], objects[a:b], strict=True))


def to_networkx(arrays: EdgeArrays, *, edge_data: str = "lazy", graph_attrs: dict | None = None) -> nx.DiGraph:
    """An ``nx.DiGraph`` of ``arrays``: vertices with ``module``/``layer``/``position``, edges with their data.

    Duplicate ``(source, target)`` pairs collapse to one edge (the last one).
    """
    graph = nx.DiGraph(**(graph_attrs or {}))
    labels = arrays.labels()
    graph.add_nodes_from(zip(labels, arrays.vertex_data(), strict=True))
    if arrays.num_edges == 0:
        return graph
    plain = arrays.granularity != "module" and all(b.labels is None for b in arrays.blocks)
    label_of = None
    if not plain:
        label_of = np.empty(len(labels), dtype=object)
        for i, label in enumerate(labels):
            label_of[i] = label
    src, dst = arrays.source, arrays.target
    enabled = gc.isenabled()
    gc.disable()  # millions of new containers: the collector would rescan them again and again
    try:
        by_src = _sorted_order(src)
        objects = _edge_objects(arrays, by_src, edge_data)  # in source order
        s = src if by_src is None else src[by_src]
        d = dst if by_src is None else dst[by_src]
        _fill(graph._succ, s, label_of, d.tolist() if plain else label_of[d].tolist(), objects)
        by_dst = _sorted_order(dst)
        if by_src is None and by_dst is None:
            pred_objects = objects
        else:
            position = np.arange(src.size) if by_src is None else np.empty(src.size, dtype=np.int64)
            if by_src is not None:
                position[by_src] = np.arange(src.size)
            picks = position if by_dst is None else position[by_dst]
            pred_objects = itemgetter(*picks.tolist())(objects) if picks.size > 1 else [objects[int(picks[0])]]
        s = src if by_dst is None else src[by_dst]
        d = dst if by_dst is None else dst[by_dst]
        _fill(graph._pred, d, label_of, s.tolist() if plain else label_of[s].tolist(), pred_objects)
    finally:
        if enabled:
            gc.enable()
    nx._clear_cache(graph)
    return graph
