"""Layered graphs: a DAG that knows the layer of every vertex (the seed library's ``LayeredGraph``).

``LayeredGraph`` computes layers (topological generations, see
:func:`workbench.graph.layer_index`) on every query; ``CachedLayeredGraph``
caches them until a vertex or edge changes. Both are ``nx.DiGraph`` s, are
importable from :mod:`workbench.graph` as well, and save to and load from
GraphML or node-link JSON files (:mod:`workbench.io`).
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from pathlib import Path

import networkx as nx

from workbench.errors import GraphError, GraphFileError, UnknownNodeError
from workbench.graph import DEFAULT_ORIENTATION, Orientation, check_dag, layer_index, orient

__all__ = ["CachedLayeredGraph", "LayeredGraph"]


def _file_format(path: str | os.PathLike) -> str:
    return "json" if Path(path).suffix.lower() == ".json" else "graphml"


class LayeredGraph(nx.DiGraph):
    """A DAG that knows the layer of each vertex.

    The layer of a vertex is its topological generation. ``LayeredGraph``
    recomputes layers on every query; :class:`CachedLayeredGraph` caches them
    and drops the cache whenever a vertex or edge is added or removed.

    Example:
        >>> g = LayeredGraph.load_from(nx.balanced_tree(2, 2), "bfs")
        >>> g.num_layers, g.layers
        (3, [0, 1, 2])
    """

    @classmethod
    def load_from(
        cls, graph: nx.Graph, orientation: Orientation = DEFAULT_ORIENTATION, *, seed: int = 0
    ) -> CachedLayeredGraph:
        """Copy ``graph`` (oriented with :func:`orient` if undirected) into a layered graph.

        Node labels, node order and all attributes are kept. Calling it on
        ``LayeredGraph`` gives a :class:`CachedLayeredGraph`.

        Raises:
            EmptyGraphError, CycleError: the result would not be a DAG.
        """
        target = CachedLayeredGraph if cls is LayeredGraph else cls
        dag = graph if graph.is_directed() else orient(graph, orientation, seed=seed)
        layered = target()
        layered.graph.update(dag.graph)
        layered.add_nodes_from(dag.nodes(data=True))
        layered.add_edges_from(dag.edges(data=True))
        check_dag(layered)
        return layered

    def save(self, path: str | os.PathLike) -> None:
        """Write the graph to ``path``: node-link JSON for a ``.json`` path, else GraphML.

        Labels (ints, strings, tuples), node order and scalar attributes come
        back exactly with :meth:`load` (see :mod:`workbench.io`).

        Raises:
            GraphFileError: a label or attribute cannot be stored, or an OS error.
        """
        from workbench.io.graphs import graph_to_bytes

        data = graph_to_bytes(self, _file_format(path))
        try:
            Path(path).write_bytes(data)
        except OSError as exc:
            raise GraphFileError(f"cannot write {os.fspath(path)!r}: {exc}") from exc

    @classmethod
    def load(cls, path: str | os.PathLike) -> CachedLayeredGraph:
        """Read a graph written by :meth:`save` (or any GraphML / node-link JSON DAG file).

        Returns a :class:`CachedLayeredGraph` (as :meth:`load_from`). A GraphML
        file of another tool keeps its string node ids.

        Raises:
            GraphFileError: missing or malformed file.
            GraphError, CycleError, EmptyGraphError: the file holds no DAG.
        """
        from workbench.io.graphs import graph_from_bytes

        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise GraphFileError(f"cannot read {os.fspath(path)!r}: {exc}") from exc
        graph = graph_from_bytes(data, _file_format(path), name=Path(path).name)
        if not graph.is_directed():
            raise GraphError(f"{os.fspath(path)!r} holds an undirected graph; orient it with LayeredGraph.load_from")
        return cls.load_from(graph)

    def _layer_map(self) -> dict:
        return layer_index(self)

    def get_layer(self, node: Hashable) -> int:
        """The seed's name for :meth:`layer`."""
        return self.layer(node)

    @property
    def first_layer(self) -> int:
        return 0

    @property
    def last_layer(self) -> int:
        return self.num_layers - 1

    def layer_connection_size(self, layer_a: int, layer_b: int) -> int:
        """Number of edges between two different layers (in either order)."""
        if layer_a == layer_b:
            raise GraphError(f"layer {layer_a} has no edges within itself; give two different layers")
        low, high = sorted((layer_a, layer_b))
        targets = set(self.get_vertices(high))
        return sum(1 for u in self.get_vertices(low) for v in self.successors(u) if v in targets)

    def layer_connected(self, layer_a: int, layer_b: int) -> bool:
        """Whether some edge joins two different layers."""
        return self.layer_connection_size(layer_a, layer_b) > 0

    def layer(self, node: Hashable) -> int:
        """The layer of ``node``; raises :class:`UnknownNodeError` if absent."""
        layers = self._layer_map()
        if node not in layers:
            raise UnknownNodeError(node)
        return layers[node]

    @property
    def layers(self) -> list[int]:
        """Layer indices ``[0, 1, ..., num_layers - 1]``."""
        return list(range(self.num_layers))

    @property
    def num_layers(self) -> int:
        layers = self._layer_map()
        return max(layers.values()) + 1 if layers else 0

    def get_vertices(self, layer: int) -> list:
        """Vertices of ``layer`` in node order."""
        self._check_layer(layer)
        return [v for v, i in self._layer_map().items() if i == layer]

    def get_layer_size(self, layer: int) -> int:
        return len(self.get_vertices(layer))

    @property
    def first_layer_size(self) -> int:
        return self.get_layer_size(0)

    @property
    def last_layer_size(self) -> int:
        return self.get_layer_size(self.num_layers - 1)

    @property
    def layer_sizes(self) -> list[int]:
        return [self.get_layer_size(i) for i in self.layers]

    def _check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.num_layers:
            raise GraphError(f"layer {layer} out of range; the graph has {self.num_layers} layers")


class CachedLayeredGraph(LayeredGraph):
    """A :class:`LayeredGraph` that caches its layering between changes.

    Every networkx method that adds or removes vertices or edges goes through
    the overridden methods below, which drop the cache.
    """

    def __init__(self, incoming_graph_data=None, **attr) -> None:
        self._layers_cache: dict | None = None
        super().__init__(incoming_graph_data, **attr)

    def _invalidate(self) -> None:
        self._layers_cache = None

    def _layer_map(self) -> dict:
        if self._layers_cache is None:
            self._layers_cache = layer_index(self)
        return self._layers_cache

    def add_node(self, node_for_adding, **attr):
        self._invalidate()
        super().add_node(node_for_adding, **attr)

    def add_nodes_from(self, nodes_for_adding, **attr):
        self._invalidate()
        super().add_nodes_from(nodes_for_adding, **attr)

    def remove_node(self, n):
        self._invalidate()
        super().remove_node(n)

    def remove_nodes_from(self, nodes):
        self._invalidate()
        super().remove_nodes_from(nodes)

    def add_edge(self, u_of_edge, v_of_edge, **attr):
        self._invalidate()
        super().add_edge(u_of_edge, v_of_edge, **attr)

    def add_edges_from(self, ebunch_to_add, **attr):
        self._invalidate()
        super().add_edges_from(ebunch_to_add, **attr)

    def remove_edge(self, u, v):
        self._invalidate()
        super().remove_edge(u, v)

    def remove_edges_from(self, ebunch):
        self._invalidate()
        super().remove_edges_from(ebunch)

    def clear(self):
        self._invalidate()
        super().clear()

    def clear_edges(self):
        self._invalidate()
        super().clear_edges()
