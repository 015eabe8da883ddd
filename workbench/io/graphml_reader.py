"""Reading GraphML: networkx's reader, bounded and strict, building the graph once.

The element count and the node and edge tags are counted in the raw bytes
(C-speed scans) and checked against :class:`~workbench.limits.Limits` before
the XML is parsed. networkx's ``GraphMLReader`` then reads keys, data types,
defaults and nested graphs; a subclass refuses a node without an ``id`` and
an edge without a ``source`` or ``target`` where networkx would name them
``'None'``, and collects the edges in a list, from which the graph is built
once (networkx adds them to a multigraph one call at a time and copies that
into a ``DiGraph``). Node labels come from the ``wb_label`` attribute
(:mod:`workbench.io.labels`).
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET

import networkx as nx
from networkx.readwrite.graphml import GraphMLReader

from workbench.errors import GraphFileError
from workbench.io import jsonsafe
from workbench.io.labels import LABEL_ATTRIBUTE, file_note, json_label, short_repr
from workbench.limits import DEFAULT_LIMITS, Limits, check_graph_size, check_upload_elements

__all__ = ["read_graphml_bytes"]

#: A GraphML node or edge start tag, with or without a namespace prefix.
_NODE_TAG = re.compile(rb"<(?:[\w.-]+:)?node[\s/>]")
_EDGE_TAG = re.compile(rb"<(?:[\w.-]+:)?edge[\s/>]")


class _GraphMLReader(GraphMLReader):
    """networkx's GraphML reader, refusing missing ids, with the edges collected in a list.

    networkx adds every edge to a multigraph one call at a time and then copies
    it into a ``DiGraph``; collecting the edges and building the graph once
    takes about a third less time. Keys, data types, defaults and nested graphs
    are read by networkx as before.
    """

    def __init__(self, where: str) -> None:
        super().__init__(node_type=str, force_multigraph=True)
        self.where = where
        self.edges: list[tuple[str, str, dict]] = []
        self.parallel = False
        self._pairs: set = set()
        self._nodes = 0

    def add_node(self, G, node_xml, graphml_keys, defaults):
        if node_xml.get("id") is None:
            raise GraphFileError(f"node #{self._nodes}{self.where} has no 'id'")
        self._nodes += 1
        super().add_node(G, node_xml, graphml_keys, defaults)

    def add_edge(self, G, edge_element, graphml_keys):
        if edge_element.find(f"{{{self.NS_GRAPHML}}}port") is not None:
            warnings.warn("GraphML port tag not supported.", stacklevel=2)  # as networkx's reader does
        directed = edge_element.get("directed")
        if directed == ("false" if G.is_directed() else "true"):
            raise nx.NetworkXError(f"directed={directed} edge found in a graph with the other edgedefault")
        source, target = edge_element.get("source"), edge_element.get("target")
        if source is None or target is None:
            missing = " and no ".join(repr(end) for end, v in (("source", source), ("target", target)) if v is None)
            raise GraphFileError(f"edge #{len(self.edges)}{self.where} has no {missing}")
        pair = (source, target) if G.is_directed() else frozenset((source, target))
        self.parallel = self.parallel or pair in self._pairs
        self._pairs.add(pair)
        data = self.decode_data_elements(graphml_keys, edge_element)
        edge_id = edge_element.get("id")
        if edge_id:  # kept as an attribute, as networkx does for graphs without parallel edges
            data["id"] = edge_id
        self.edges.append((source, target, data))


def read_graphml_bytes(data: bytes, name: str | None = None, limits: Limits = DEFAULT_LIMITS) -> nx.Graph:
    """A GraphML file's graph (see :func:`workbench.io.graph_from_bytes`, which checks the file's size first).

    Raises:
        GraphFileError: malformed XML or GraphML, a node without an id, an edge
            without a source or target, parallel edges, or a bad ``wb_label``.
        LimitError: more XML elements, vertices or edges than ``limits`` allow.
    """
    where = file_note(name)
    check_upload_elements(data.count(b"<"), limits, name=name)  # every XML element starts with one
    nodes, edges = len(_NODE_TAG.findall(data)), len(_EDGE_TAG.findall(data))
    check_graph_size(nodes, edges, limits, what=f"the graph{where}")
    reader = _GraphMLReader(where)
    try:
        graphs = list(reader(string=data))
    except GraphFileError:
        raise
    except ET.ParseError as exc:
        raise GraphFileError(f"invalid XML{where}: {exc}") from exc
    except (nx.NetworkXError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise GraphFileError(f"invalid GraphML{where}: {exc}") from exc
    except RecursionError as exc:  # nested graphs (yfiles groups), read recursively by networkx
        raise GraphFileError(f"the GraphML{where} nests graphs too deeply") from exc
    if len(graphs) != 1:
        raise GraphFileError(f"invalid GraphML{where}: expected one <graph> element, found {len(graphs)}")
    if reader.parallel:
        raise GraphFileError(f"the graph{where} has parallel edges, which are not supported")
    raw = graphs[0]
    labels = {}
    for node, attrs in raw.nodes(data=True):
        if LABEL_ATTRIBUTE not in attrs:
            labels[node] = node
            continue
        text = str(attrs[LABEL_ATTRIBUTE])
        what = f"the {LABEL_ATTRIBUTE} of vertex {short_repr(node)}{where}"
        value = jsonsafe.loads(text, error=GraphFileError, what=what, limits=limits)
        labels[node] = json_label(value, f"vertex {short_repr(node)}", where)
    if len(set(labels.values())) != len(labels):
        raise GraphFileError(f"two vertices{where} have the same {LABEL_ATTRIBUTE}")
    graph = nx.DiGraph() if raw.is_directed() else nx.Graph()
    graph.graph.update({k: v for k, v in raw.graph.items() if not (k in ("node_default", "edge_default") and v == {})})
    graph.add_nodes_from(
        (labels[v], {k: x for k, x in attrs.items() if k != LABEL_ATTRIBUTE}) for v, attrs in raw.nodes(data=True)
    )
    # an edge may name a vertex no <node> declares (GraphML allows it): it is added with its id as label
    graph.add_edges_from((labels.get(u, u), labels.get(v, v), attrs) for u, v, attrs in reader.edges)
    return graph
