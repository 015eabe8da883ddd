"""graph_arrays: the array path gives exactly what to_dag / layer_index give, errors included."""

import random

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.errors import CycleError, EmptyGraphError, GraphError
from workbench.graph import layer_index, to_dag
from workbench.graph_arrays import _bfs_distances, _bfs_distances_python, dag_arrays, generations


def _same_as_to_dag(graph, orientation="bfs"):
    arrays = dag_arrays(graph, orientation)
    expected = to_dag(graph, orientation)
    built = arrays.to_networkx()
    assert type(built) is type(expected)
    assert built.graph == expected.graph
    assert list(built.nodes(data=True)) == list(expected.nodes(data=True))
    assert list(built.edges(data=True)) == list(expected.edges(data=True))
    assert [list(p) for p in built.pred.values()] == [list(p) for p in expected.pred.values()]
    layers = layer_index(expected)
    assert arrays.layer.tolist() == [layers[v] for v in arrays.nodes]


@st.composite
def graphs(draw, max_nodes=60):
    n = draw(st.integers(1, max_nodes))
    p = draw(st.floats(0.0, min(1.0, 5.0 / n)))
    seed = draw(st.integers(0, 2**16))
    directed = draw(st.booleans())
    labels = draw(st.sampled_from(["int", "shuffled int", "sparse int", "str", "tuple"]))
    base = nx.gnp_random_graph(n, p, seed=seed)
    order = list(range(n))
    if labels != "int":
        random.Random(seed).shuffle(order)
    graph = nx.DiGraph() if directed else nx.Graph()
    graph.add_nodes_from(order)
    graph.add_edges_from((u, v) if u < v else (v, u) for u, v in base.edges)
    relabel = {
        "int": lambda v: v,
        "shuffled int": lambda v: v,
        "sparse int": lambda v: 7 * v - 50,
        "str": lambda v: f"n{v}",
        "tuple": lambda v: (v // 10, v % 10),
    }[labels]
    return nx.relabel_nodes(graph, {v: relabel(v) for v in graph.nodes})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.sampled_from(["random", "bfs", "index"]))
def test_dag_arrays_equal_to_dag(graph, orientation):
    _same_as_to_dag(graph, orientation)


@pytest.mark.parametrize(
    "graph",
    [
        nx.path_graph(400),  # more BFS levels than the numpy search takes: the Python search
        nx.disjoint_union_all([nx.path_graph(3)] * 300),  # many components
        nx.grid_2d_graph(7, 9),
        nx.watts_strogatz_graph(500, 4, 0.5, seed=1),
        nx.empty_graph(4),
    ],
)
def test_orientations_on_shaped_graphs(graph):
    for orientation in ("random", "bfs", "index"):
        _same_as_to_dag(graph, orientation)


def test_numpy_and_python_breadth_first_searches_agree():
    graph = nx.disjoint_union(nx.watts_strogatz_graph(300, 4, 0.3, seed=2), nx.path_graph(40))
    graph.add_nodes_from([1000, 1001])
    n = graph.number_of_nodes()
    index = {v: i for i, v in enumerate(graph)}
    degree = np.array([len(graph.adj[v]) for v in graph])
    starts = np.concatenate([[0], np.cumsum(degree)])
    neighbours = np.array([index[w] for v in graph for w in graph.adj[v]], dtype=np.int64)
    numpy_search = _bfs_distances(n, starts, neighbours, max_steps=10_000)
    assert numpy_search.tolist() == _bfs_distances_python(n, starts, neighbours).tolist()
    assert numpy_search[index[1000]] == 0 and numpy_search[index[301]] == 1


def test_attributes_are_snapshots():
    graph = nx.Graph()
    graph.add_node("a", colour="red")
    graph.add_edge("a", "b", kind="skip")
    graph.graph["name"] = "g"
    arrays = dag_arrays(graph)
    graph.nodes["a"]["colour"] = "blue"
    graph.edges["a", "b"]["kind"] = "plain"
    built = arrays.to_networkx()
    assert built.nodes["a"]["colour"] == "red" and built.edges["a", "b"]["kind"] == "skip"
    assert built.graph == {"name": "g"}


def test_generations_mark_cycles():
    source, target = np.array([0, 1, 2, 3]), np.array([1, 2, 1, 4])  # 1 -> 2 -> 1
    assert generations(5, source, target).tolist() == [0, -1, -1, 0, 1]


def test_errors_are_those_of_to_dag():
    with pytest.raises(CycleError, match=r"cycle: .*1.*2.*3"):
        dag_arrays(nx.DiGraph([(1, 2), (2, 3), (3, 1)]))
    with pytest.raises(EmptyGraphError, match="no vertices"):
        dag_arrays(nx.Graph())
    with pytest.raises(GraphError, match="self-loop at vertex 2"):
        dag_arrays(nx.Graph([(1, 2), (2, 2)]))
    with pytest.raises(GraphError, match="unknown orientation 'dfs'"):
        dag_arrays(nx.path_graph(3), "dfs")


def test_multigraphs_take_the_networkx_path():
    graph = nx.MultiDiGraph([(0, 1), (0, 1), (1, 2)])
    arrays = dag_arrays(graph)
    assert arrays.source.tolist() == [0, 1] and arrays.target.tolist() == [1, 2]


def test_dan_structure_is_built_on_first_use_from_a_snapshot():
    from workbench.graph import LayeredGraph
    from workbench.sparse import MaskedDeepDAN

    graph = nx.watts_strogatz_graph(60, 4, 0.3, seed=3)
    model = MaskedDeepDAN(3, 2, graph)
    graph.add_edge(0, 59)
    graph.add_node("late")
    expected = to_dag(nx.watts_strogatz_graph(60, 4, 0.3, seed=3))
    assert list(model.structure.edges) == list(expected.edges)
    assert model.structure is model.structure
    layered = LayeredGraph.load_from(nx.path_graph(4))
    assert MaskedDeepDAN(3, 2, layered).structure is layered
