"""The drawn graph and its undo/redo history (workbench.app.state.design).

Every edit is checked by its effect and by walking the whole history back and
forth: each undo must give back exactly the graph before the edit (vertices
with their attributes, in their order, and the edges), each redo the graph
after it. Refused edits change nothing. The history stays within its byte budget.
"""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.app.state.design import Change, DesignState
from workbench.errors import CycleError, EmptyGraphError, GraphError, UnknownNodeError

ADD_BYTES = Change(added_nodes=[(0, {})]).nbytes  # what one add_vertex record costs


def state(graph: nx.DiGraph) -> tuple:
    """What must come back on undo: vertices with attributes in order, and the edges with attributes."""
    return list(graph.nodes(data=True)), sorted(((repr(u), repr(v)), d) for u, v, d in graph.edges(data=True))


def chain(n: int = 3) -> DesignState:
    design = DesignState()
    for _ in range(n):
        design.add_vertex()
    for u in range(n - 1):
        design.connect(u, u + 1)
    return design


def walk_history(design: DesignState, states: list) -> None:
    """``states[i]`` is the graph after edit i (``states[0]``: before the first): undo to the start, redo to the end."""
    assert state(design.graph) == states[-1]
    for expected in reversed(states[:-1]):
        assert design.undo()
        assert state(design.graph) == expected
    assert not design.undo() and not design.can_undo
    for expected in states[1:]:
        assert design.redo()
        assert state(design.graph) == expected
    assert not design.redo() and not design.can_redo


# ----------------------------------------------------------------------------- edits


def test_add_vertex_takes_the_next_free_int_label():
    design = DesignState()
    assert [design.add_vertex() for _ in range(3)] == [0, 1, 2]
    design.replace(nx.DiGraph([("a", 7), (7, True)]))  # strings and bools are not counted
    assert design.add_vertex() == 8


def test_every_kind_of_edit_undoes_and_redoes_exactly():
    design = DesignState()
    states = [state(design.graph)]

    def edit(fn, *args):
        fn(*args)
        states.append(state(design.graph))

    start = nx.DiGraph()
    start.add_nodes_from([("x", {"layer": 0}), ("y", {"layer": 1}), ("z", {"layer": 1}), ("w", {"layer": 2})])
    start.add_edges_from([("x", "y", {"weight": 0.5}), ("x", "z"), ("y", "w"), ("z", "w"), ("x", "w")])
    edit(design.replace, start)
    edit(design.add_vertex)
    edit(design.connect, "w", 0)
    edit(design.delete, ["y"], [])  # a vertex in the middle of the node order, with its edges
    edit(design.delete, [], [("x", "w")])
    edit(design.delete, ["z", "x"], [("w", 0)])  # vertices and an edge at once
    edit(design.add_vertex)
    edit(design.clear)
    edit(design.add_vertex)
    walk_history(design, states)


def test_undo_of_a_deleted_vertex_puts_it_back_in_its_place_in_the_node_order():
    design = DesignState(nx.DiGraph([(0, 1), (1, 2), (0, 2), (2, 3), (1, 3)]))
    design.graph.nodes[1]["label"] = "middle"
    before = list(design.graph.nodes(data=True))
    design.delete([1])
    assert list(design.graph.nodes) == [0, 2, 3]
    design.undo()
    assert list(design.graph.nodes(data=True)) == before
    assert set(design.graph.edges) == {(0, 1), (1, 2), (0, 2), (2, 3), (1, 3)}


def test_replace_then_delete_then_undo_undo_redo_redo():
    design = chain(3)
    first = state(design.graph)
    design.replace(nx.DiGraph([("a", "b"), ("b", "c"), ("a", "c")]))
    replaced = state(design.graph)
    design.delete(["b"])
    deleted = state(design.graph)
    assert design.undo() and state(design.graph) == replaced
    assert design.undo() and state(design.graph) == first
    assert design.redo() and state(design.graph) == replaced  # the replace's record holds the live graph
    assert design.redo() and state(design.graph) == deleted


def test_replace_copies_the_graph_it_is_given():
    given_graph = nx.DiGraph([(0, 1)])
    design = DesignState()
    design.replace(given_graph)
    design.add_vertex()
    assert list(given_graph.nodes) == [0, 1]


def test_a_new_edit_drops_the_redo_history():
    design = chain(3)
    design.undo()
    assert design.can_redo
    design.add_vertex()
    assert not design.can_redo and not design.redo()


def test_delete_ignores_unknown_elements_and_an_empty_delete_is_no_edit():
    design = chain(3)
    version = design.version
    assert design.delete([99], [(0, 2), (5, 6)]) == 0
    assert design.version == version
    assert design.delete([1, 99, 1], [(0, 1)]) == 1  # (0, 1) goes with vertex 1 and is not counted twice
    assert list(design.graph.nodes) == [0, 2] and design.graph.number_of_edges() == 0


def test_version_counts_edits_undo_and_redo():
    design = DesignState()
    design.add_vertex()
    design.add_vertex()
    design.undo()
    design.redo()
    assert design.version == 4
    design.forget_history()
    assert design.version == 4 and not design.can_undo


# ----------------------------------------------------------------------------- refused edits


def refused(design: DesignState, fn, error, match) -> None:
    before, version, nbytes = state(design.graph), design.version, design.history_nbytes
    can = (design.can_undo, design.can_redo)
    with pytest.raises(error, match=match):
        fn()
    assert state(design.graph) == before
    assert (design.version, design.history_nbytes, (design.can_undo, design.can_redo)) == (version, nbytes, can)


def test_refused_edits_change_nothing_and_say_why():
    design = chain(3)
    design.undo()  # keep a redo record too: a refused edit must not drop it
    design.redo()
    design.undo()
    refused(design, lambda: design.connect(1, 0), CycleError, r"cycle: 1 -> 0 -> 1")
    design.redo()
    refused(design, lambda: design.connect(2, 0), CycleError, r"2 -> 0 -> 1 -> 2")
    refused(design, lambda: design.connect(1, 1), CycleError, r"cycle: 1 -> 1")
    refused(design, lambda: design.connect(0, 1), GraphError, r"the edge 0 -> 1 is there already")
    refused(design, lambda: design.connect(0, 7), UnknownNodeError, r"unknown vertex 7")
    refused(design, lambda: design.connect("a", 0), UnknownNodeError, r"unknown vertex 'a'")
    refused(design, lambda: design.replace(nx.DiGraph([(0, 1), (1, 0)])), CycleError, r"cycle")
    refused(design, lambda: design.replace(nx.DiGraph()), EmptyGraphError, r"no vertices")


def test_the_cycle_error_names_the_cycle():
    design = chain(3)
    with pytest.raises(CycleError) as info:
        design.connect(2, 0)
    assert info.value.cycle == [2, 0, 1]


# ----------------------------------------------------------------------------- the byte budget


def test_history_keeps_the_newest_changes_within_its_budget():
    design = DesignState(history_bytes=10 * ADD_BYTES)
    for _ in range(25):
        design.add_vertex()
        assert 0 <= design.history_nbytes <= design.history_bytes
    steps = 0
    while design.undo():
        steps += 1
        assert 0 <= design.history_nbytes <= design.history_bytes
    assert steps == 10 and design.graph.number_of_nodes() == 15  # the oldest 15 adds are kept for good


def test_a_change_larger_than_the_budget_cannot_be_undone_and_empties_the_history():
    design = DesignState(history_bytes=50 * ADD_BYTES)
    design.add_vertex()
    design.add_vertex()
    design.undo()
    assert design.can_undo and design.can_redo and design.last_undoable
    huge = nx.DiGraph((i, i + 1) for i in range(200))
    design.replace(huge)
    assert not design.last_undoable
    assert not design.can_undo and not design.can_redo and design.history_nbytes == 0
    assert design.graph.number_of_nodes() == 201
    design.add_vertex()  # the next small edit is undoable again
    assert design.last_undoable and design.undo() and design.graph.number_of_nodes() == 201


@pytest.mark.xfail(
    reason=(
        "BUG: Change.nbytes of a replace record is computed from its live graphs (before/after), which later "
        "edits mutate in place; DesignState adds one value when the record enters the history and subtracts "
        "another when it leaves, so history_nbytes drifts (negative here) and the history outgrows its budget"
    ),
    strict=True,
)
def test_history_stays_within_budget_after_editing_a_replaced_graph():
    budget = 20_000
    design = DesignState(history_bytes=budget)
    design.replace(nx.path_graph(50, create_using=nx.DiGraph))
    for _ in range(300):  # each add grows the replaced graph, which the replace's record holds
        design.add_vertex()
        assert 0 <= design.history_nbytes <= budget
    steps = 0
    while design.undo():
        steps += 1
        assert 0 <= design.history_nbytes <= budget
    assert steps * ADD_BYTES <= budget  # every record left is one add
    design.add_vertex()
    assert 0 <= design.history_nbytes <= budget


# ----------------------------------------------------------------------------- random edit sequences

KINDS = ["add", "connect", "delete_vertex", "delete_edge", "replace", "clear"]


def random_dag(seed: int) -> nx.DiGraph:
    n = seed % 6 + 1
    graph = nx.DiGraph()
    graph.add_nodes_from(range(seed % 3, seed % 3 + n))  # labels that may clash with the design's
    graph.add_edges_from((u, v) for u, v in nx.gnp_random_graph(n + 3, 0.4, seed=seed).edges if u < v and v < n)
    return nx.relabel_nodes(graph, {v: v + seed % 3 for v in range(n)}) if seed % 2 else graph


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 10**6)), min_size=1, max_size=25))
def test_any_sequence_of_edits_walks_back_and_forth_exactly(sequence):
    design = DesignState()
    states = [state(design.graph)]
    for kind, pick in sequence:
        nodes, edges = list(design.graph.nodes), list(design.graph.edges)
        version = design.version
        try:
            if kind == "add":
                design.add_vertex()
            elif kind == "connect" and nodes:
                design.connect(nodes[pick % len(nodes)], nodes[(pick // 7) % len(nodes)])
            elif kind == "delete_vertex" and nodes:
                design.delete([nodes[pick % len(nodes)]])
            elif kind == "delete_edge" and edges:
                design.delete([], [edges[pick % len(edges)]])
            elif kind == "replace":
                design.replace(random_dag(pick))
            elif kind == "clear":
                design.clear()
        except GraphError:  # a refused connect: nothing changed
            assert design.version == version and state(design.graph) == states[-1]
            continue
        if design.version != version:
            states.append(state(design.graph))
        else:
            assert state(design.graph) == states[-1]
    walk_history(design, states)
