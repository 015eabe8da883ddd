"""LayeredGraph / CachedLayeredGraph, orientation, validation and generators."""

import networkx as nx
import pytest

from workbench import graph as wbg
from workbench.errors import CycleError, EmptyGraphError, GraphError, UnknownNodeError
from workbench.graph import CachedLayeredGraph, LayeredGraph


def test_layers_are_longest_path_generations():
    g = LayeredGraph.load_from(nx.DiGraph([(0, 1), (1, 2), (0, 2), (3, 2)]))
    assert isinstance(g, CachedLayeredGraph)
    assert [g.layer(v) for v in (0, 1, 2, 3)] == [0, 1, 2, 0]
    assert g.layers == [0, 1, 2]
    assert g.num_layers == 3
    assert (g.first_layer_size, g.get_layer_size(1), g.last_layer_size) == (2, 1, 1)
    assert g.get_vertices(0) == [0, 3]


def test_seed_examples_balanced_tree_grid_smallworld():
    btree = LayeredGraph.load_from(nx.balanced_tree(r=2, h=3), "bfs")
    assert btree.num_layers == 4 and btree.layer_sizes == [1, 2, 4, 8]
    grid = LayeredGraph.load_from(nx.grid_2d_graph(3, 30, periodic=False), "bfs")
    assert (0, 0) in grid and grid.num_layers == 3 + 30 - 1
    assert LayeredGraph.load_from(nx.balanced_tree(r=2, h=3)).number_of_edges() == 14
    smallworld = LayeredGraph.load_from(nx.watts_strogatz_graph(100, 3, 0.8))
    assert smallworld.number_of_nodes() == 100
    assert nx.is_directed_acyclic_graph(smallworld)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda g: g.add_edge(2, 3),
        lambda g: g.add_edges_from([(2, 3), (3, 4)]),
        lambda g: g.add_node(9),
        lambda g: g.add_nodes_from([9, 10]),
        lambda g: g.remove_edge(1, 2),
        lambda g: g.remove_edges_from([(1, 2)]),
        lambda g: g.remove_node(1),
        lambda g: g.remove_nodes_from([1]),
        lambda g: g.clear_edges(),
        lambda g: g.clear(),
        lambda g: g.add_weighted_edges_from([(2, 3, 0.5)]),
    ],
)
def test_cache_stays_right_after_every_change(mutate):
    g = CachedLayeredGraph([(0, 1), (1, 2)])
    assert g.num_layers == 3  # fills the cache
    mutate(g)
    fresh = LayeredGraph(g)
    assert g.num_layers == fresh.num_layers
    assert {v: g.layer(v) for v in g} == {v: fresh.layer(v) for v in fresh}


def test_cycle_error_names_a_cycle_even_in_a_deep_graph():
    chain = CachedLayeredGraph(nx.path_graph(5000, create_using=nx.DiGraph))
    chain.add_edge(4999, 4997)  # the seed overflows the recursion limit here
    with pytest.raises(CycleError, match=r"4997 -> 4998 -> 4999 -> 4997") as info:
        _ = chain.num_layers
    assert set(info.value.cycle) == {4997, 4998, 4999}


def test_load_from_keeps_labels_attributes_and_node_order():
    g = nx.Graph()
    g.add_node("z", size=3)
    g.add_edge("z", "a", weight=0.5)
    layered = LayeredGraph.load_from(g)
    assert list(layered.nodes) == ["z", "a"]
    assert layered.nodes["z"]["size"] == 3
    assert layered.edges["z", "a"]["weight"] == 0.5


def test_errors_name_the_value():
    g = LayeredGraph.load_from(nx.DiGraph([(0, 1)]))
    with pytest.raises(UnknownNodeError, match="unknown vertex 'q'"):
        g.layer("q")
    with pytest.raises(GraphError, match="layer 5 out of range; the graph has 2 layers"):
        g.get_layer_size(5)
    with pytest.raises(EmptyGraphError, match="no vertices"):
        LayeredGraph.load_from(nx.DiGraph())
    with pytest.raises(GraphError, match="unknown orientation 'colour'; expected one of 'random', 'bfs', 'index'"):
        wbg.orient(nx.path_graph(3), "colour")
    with pytest.raises(GraphError, match="self-loop at vertex 1"):
        wbg.orient(nx.Graph([(1, 1)]))
    with pytest.raises(GraphError, match="layer sizes must be positive integers"):
        wbg.layered_ffn([3, 0])


def test_default_orientation_is_shallow_with_many_sources_and_sinks():
    ws = nx.watts_strogatz_graph(1000, 4, 0.1, seed=0)
    dag = wbg.orient(ws)
    assert nx.is_directed_acyclic_graph(dag)
    assert set(map(frozenset, dag.edges)) == set(map(frozenset, ws.edges))
    assert wbg.depth(dag) < 30
    assert sum(1 for _, d in dag.in_degree() if d == 0) > 100
    assert sum(1 for _, d in dag.out_degree() if d == 0) > 100
    assert list(wbg.orient(ws, seed=3).edges) == list(wbg.orient(ws, seed=3).edges)
    assert list(wbg.orient(ws, seed=3).edges) != list(wbg.orient(ws, seed=4).edges)


def test_bfs_orientation_is_shallow_and_index_orientation_follows_node_order():
    ws = nx.watts_strogatz_graph(1000, 4, 0.1, seed=0)
    shallow = wbg.orient(ws, "bfs")
    assert nx.is_directed_acyclic_graph(shallow)
    assert shallow.number_of_edges() == ws.number_of_edges()
    assert wbg.depth(shallow) < 100
    assert sum(1 for _, d in shallow.in_degree() if d == 0) == 1  # one root per component
    lattice = wbg.orient(nx.watts_strogatz_graph(1000, 4, 0.0, seed=0), "index")
    assert wbg.depth(lattice) == 1000


def test_tree_points_from_root_to_leaves():
    tree = wbg.balanced_tree(2, 3)
    assert list(tree.predecessors(0)) == []
    assert all(tree.in_degree(v) == 1 for v in tree if v != 0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: wbg.layered_ffn([3, 4, 2]),
        lambda: wbg.balanced_tree(3, 2),
        lambda: wbg.grid_2d(4, 5),
        lambda: wbg.watts_strogatz(60, 4, 0.3, seed=1),
        lambda: wbg.erdos_renyi(60, 0.1, seed=1),
        lambda: wbg.barabasi_albert(60, 2, seed=1),
    ],
)
def test_generators_give_dags(make):
    g = make()
    assert g.is_directed() and g.number_of_nodes() > 0
    wbg.check_dag(g)


def test_seeded_generators_are_reproducible():
    assert list(wbg.watts_strogatz(50, 4, 0.5, seed=7).edges) == list(wbg.watts_strogatz(50, 4, 0.5, seed=7).edges)


def test_layered_ffn_is_fully_connected_between_consecutive_layers():
    g = wbg.layered_ffn([3, 4, 2])
    assert g.number_of_edges() == 3 * 4 + 4 * 2
    assert wbg.depth(g) == 3


def test_find_cycle_through_names_the_cycle_an_edge_would_close():
    g = nx.DiGraph([("a", "b"), ("b", "c")])
    assert wbg.find_cycle_through(g, "c", "a") == ["c", "a", "b"]
    assert wbg.find_cycle_through(g, "a", "c") is None
    assert wbg.find_cycle_through(g, "a", "a") == ["a"]
    with pytest.raises(UnknownNodeError, match="unknown vertex 'x'"):
        wbg.find_cycle_through(g, "x", "a")
