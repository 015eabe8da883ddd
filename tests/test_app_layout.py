"""The layered drawing (workbench.app.state.layout): no edge drawn across a vertex that is not its end.

:func:`crossings` is the oracle of issue 11's "honest drawing": it is checked
first on hand-made drawings (it must find a crossing when there is one), then
run on every shipped graph sample as the canvas draws it (with the inputs and
outputs of its data set), on generated graphs, and on random DAGs.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench import samples
from workbench.app.generators import generate
from workbench.app.state.layout import STUB, Drawing, crossings, layered_drawing
from workbench.app.state.overlay import with_io
from workbench.app.state.session import Session
from workbench.app.state.start import open_sample
from workbench.app.state.workspace import DatasetCache, Workspace

DATASETS = DatasetCache()


def check_drawing(graph: nx.DiGraph, drawing: Drawing) -> None:
    """Every property the module docstring promises, on one drawing."""
    assert list(drawing.positions) == list(graph.nodes)
    assert drawing.edges == list(graph.edges)
    assert crossings(drawing.positions, drawing.routes) == []
    # one x per column, columns left to right in order, distinct rows within a column
    column_x: dict[int, set] = {}
    for v, (x, _) in drawing.positions.items():
        column_x.setdefault(drawing.layers[v], set()).add(x)
    assert all(len(xs) == 1 for xs in column_x.values()), column_x
    columns = sorted(column_x)
    xs = [next(iter(column_x[c])) for c in columns]
    rows = [(drawing.layers[v], y) for v, (_, y) in drawing.positions.items()]
    assert len(set(rows)) == len(rows)
    # columns (those of vertices and those only waypoints pass) are evenly spaced, left to right
    width = (xs[-1] - xs[0]) / (columns[-1] - columns[0]) if len(columns) > 1 else 1.0
    assert len(columns) == 1 or width > 2 * STUB
    assert xs == pytest.approx([xs[0] + (c - columns[0]) * width for c in columns])
    lines = [xs[0] + k * width for k in range(columns[-1] - columns[0] + 1)]
    gaps = list(itertools.pairwise(lines))
    for (u, v), bends in drawing.routes.items():
        assert drawing.layers[u] < drawing.layers[v] and drawing.positions[u][0] < drawing.positions[v][0]
        points = [drawing.positions[u], *bends, drawing.positions[v]]
        along = [p[0] for p in points]
        assert along == sorted(along), f"edge {u!r} -> {v!r} goes back left: {points}"
        for a, b in itertools.pairwise(points):
            if a[1] == b[1]:
                continue  # a horizontal stub through a column: crossings() checks it misses every vertex
            # a slanted run lies inside one gap between columns, clear of both columns' vertices
            assert any(x0 + STUB - 1e-6 <= a[0] and b[0] <= x1 - STUB + 1e-6 for x0, x1 in gaps), (u, v, a, b)


# ----------------------------------------------------------------------------- crossings() itself


def test_crossings_finds_an_edge_drawn_through_a_vertex():
    positions = {0: (0.0, 0.0), 1: (100.0, 0.0), 2: (200.0, 0.0)}
    routes = {(0, 1): [], (1, 2): [], (0, 2): []}  # 0 -> 2 drawn straight runs through 1
    assert crossings(positions, routes) == [((0, 2), 1)]


def test_crossings_finds_a_bend_that_passes_a_vertex_and_respects_the_radius():
    positions = {"a": (0.0, 0.0), "b": (100.0, 50.0), "c": (200.0, 0.0)}
    through = {("a", "c"): [(100.0, 45.0)]}  # bends 5 px from b
    assert set(crossings(positions, through)) == {(("a", "c"), "b")}
    assert crossings(positions, through, radius=4.0) == []
    around = {("a", "c"): [(100.0, -40.0)]}
    assert crossings(positions, around) == []
    assert crossings(positions, {("a", "b"): [], ("b", "c"): []}) == []  # an edge's own ends do not count


def test_layered_drawing_routes_the_textbook_case_around_the_middle_vertex():
    graph = nx.DiGraph([(0, 1), (1, 2), (0, 2)])
    drawing = layered_drawing(graph)
    check_drawing(graph, drawing)
    assert len(drawing.routes[(0, 2)]) == 4  # out of 0, in and out of its waypoint beside 1, into 2


def test_layered_drawing_of_an_empty_graph_and_a_single_vertex():
    assert layered_drawing(nx.DiGraph()).positions == {}
    one = nx.DiGraph()
    one.add_node("x")
    drawing = layered_drawing(one)
    assert drawing.positions == {"x": (0.0, 0.0)} and drawing.routes == {}


def test_layered_drawing_refuses_a_cycle_and_backward_layers():
    with pytest.raises(nx.NetworkXUnfeasible):
        layered_drawing(nx.DiGraph([(0, 1), (1, 0)]))
    with pytest.raises(ValueError, match=r"edge 0 -> 1 goes from column 1 to column 1"):
        layered_drawing(nx.DiGraph([(0, 1)]), layers={0: 1, 1: 1})


def test_given_layers_are_used_as_columns():
    graph = nx.DiGraph([("a", "b"), ("b", "c")])
    drawing = layered_drawing(graph, layers={"a": 0, "b": 2, "c": 5})
    assert drawing.layers == {"a": 0, "b": 2, "c": 5}
    check_drawing(graph, drawing)


def test_trunk_edges_share_their_waypoints():
    # vertex 0 feeds 1 (next column) and 3, 4 (two columns on): one trunk past column 2
    graph = nx.DiGraph([(0, 1), (1, 2), (2, 3), (2, 4), (0, 3), (0, 4)])
    drawing = layered_drawing(graph)
    check_drawing(graph, drawing)
    assert drawing.routes[(0, 3)][:-1] == drawing.routes[(0, 4)][:-1]  # the same until they leave the trunk


# ----------------------------------------------------------------------------- what the app draws


@pytest.mark.parametrize("name", samples.list_samples(kind="graph"))
def test_no_edge_crosses_a_vertex_on_a_shipped_sample(name):
    session = Session("layout", Workspace(DATASETS))
    open_sample(session, name)
    canvas = session.canvas()
    data = session.workspace.dataset
    inputs = [v for v in canvas.graph if isinstance(v, tuple) and v[0] == "input"]
    outputs = [v for v in canvas.graph if isinstance(v, tuple) and v[0] == "output"]
    assert len(outputs) == data.n_classes and len(inputs) == (data.n_features if data.n_features <= 16 else 1)
    check_drawing(canvas.graph, canvas.drawing)


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("watts_strogatz", {}),
        ("watts_strogatz", {"n": 80, "k": 6, "p": 0.3}),
        ("erdos_renyi", {}),
        ("erdos_renyi", {"n": 50, "p": 0.1}),
        ("layered", {}),
        ("layered", {"sizes": "3, 8, 8, 8, 2"}),
        ("tree", {"r": 3, "h": 3}),
        ("grid", {"m": 5, "n": 6}),
        ("barabasi_albert", {"n": 60, "m": 3}),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_no_edge_crosses_a_vertex_on_a_generated_graph(name, values, seed):
    for n_in, n_out in ((2, 2), (64, 10)):  # inputs drawn one by one, or as one bundle
        graph = with_io(generate(name, values, seed), n_in, n_out)
        check_drawing(graph, layered_drawing(graph))


@st.composite
def dags(draw):
    """A random DAG: n vertices in a random order, each forward pair an edge with probability p."""
    n = draw(st.integers(1, 25))
    p = draw(st.floats(0.0, 0.6))
    order = draw(st.permutations(list(range(n))))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    graph = nx.DiGraph()
    graph.add_nodes_from(order)
    graph.add_edges_from((order[i], order[j]) for i in range(n) for j in range(i + 1, n) if rng.random() < p)
    return graph


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(), st.booleans())
def test_no_edge_crosses_a_vertex_on_random_dags(graph, io):
    if io:
        graph = with_io(graph, 3, 2)
    check_drawing(graph, layered_drawing(graph))
