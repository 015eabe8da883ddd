"""Figure builders, inspect-view comparisons and the callbacks' pure helpers (no browser)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from workbench.app.analysis import dead_vertices, edge_weights, graph_counts, layer_title
from workbench.app.callbacks.inspect import counts_table, vertex_details
from workbench.app.callbacks.prune import summary_text
from workbench.app.figures import (
    boundary_figure,
    boundary_patch,
    curve_patch,
    curves_figure,
    density_figure,
    histogram_figure,
    magnitude_histogram,
)
from workbench.app.inspect_view import (
    SESSION_MODEL,
    conv_sample_options,
    incoming,
    inspect_view,
    sample_view,
    view_elements,
)
from workbench.app.workspace import Preview
from workbench.errors import CheckpointError
from workbench.pruning import apply_masks, masks_by_amount, weight_snapshot
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN
from workbench.transform import GraphTransform


def test_curves_start_empty_and_grow_by_patch():
    fig = curves_figure("accuracy")
    assert [t.name for t in fig.data] == ["train", "test"] and len(fig.data[0].x) == 0
    records = [{"epoch": 0.5, "train_acc": 0.6, "test_acc": None}, {"epoch": 1.0, "train_acc": 0.7, "test_acc": 0.65}]
    patch = curve_patch("accuracy", records).to_plotly_json()
    ops = {(tuple(op["location"]), op["operation"]): op["params"]["value"] for op in patch["operations"]}
    assert ops[(("data", 0, "x"), "Extend")] == [0.5, 1.0]
    assert ops[(("data", 1, "y"), "Extend")] == [0.65]  # a missing value adds no point
    assert curve_patch("loss", []).to_plotly_json()["operations"] == []
    with pytest.raises(KeyError):
        curves_figure("speed")


def test_curves_from_values():
    fig = curves_figure("loss", x=[1, 2], values={"loss": [2.0, 1.0]})
    assert list(fig.data[0].y) == [2.0, 1.0]


def test_density_bars_show_kept_and_pruned_per_layer():
    fig = density_figure([("input", 6, 8), ("gen 1", 0, 4), ("output", 3, 3)])
    kept, pruned = fig["data"]
    assert kept["x"] == [6, 0, 3] and pruned["x"] == [2, 4, 0]
    assert kept["text"] == ["75%", "0%", "100%"] and kept["y"] == ["input", "gen 1", "output"]
    assert "Build" in density_figure([])["layout"]["annotations"][0]["text"]
    go.Figure(fig)  # a valid Plotly figure


def test_histogram_with_threshold_line_and_grey_pruned_bars():
    counts, edges = magnitude_histogram(np.array([0.1, 0.2, 0.3, 0.9]), bins=4)
    assert counts.sum() == 4 and edges[-1] == pytest.approx(0.9)
    fig = histogram_figure(counts, edges, 0.45)
    assert len(fig["layout"]["shapes"]) == 1 and fig["layout"]["shapes"][0]["x0"] == 0.45
    colours = fig["data"][0]["marker"]["color"]
    assert colours[0] != colours[-1]
    assert histogram_figure(counts, edges, None)["layout"]["shapes"] == []
    go.Figure(fig)  # a valid Plotly figure


def test_boundary_heat_map_and_points():
    xs, ys = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    points = np.array([[0.0, 0.0], [0.5, 0.5], [-0.5, 0.2]])
    labels = np.array([0, 1, 1])
    fig = boundary_figure(xs, ys, np.full((4, 5), 0.5), points, labels)
    assert fig.data[0].type == "heatmap" and np.asarray(fig.data[0].z).shape == (4, 5)
    assert [len(t.x) for t in fig.data[1:]] == [1, 2]
    blank = boundary_figure(xs, ys, None, points, labels)
    assert blank.data[0].type == "heatmap" and np.allclose(np.asarray(blank.data[0].z), 0.5)
    patch = boundary_patch(np.full((4, 5), 0.25)).to_plotly_json()["operations"]
    assert patch[0]["location"] == ["data", 0, "z"] and patch[0]["params"]["value"][0][0] == 0.25


def test_dead_vertices():
    g = nx.DiGraph([("i", "a"), ("a", "o"), ("i", "b"), ("c", "o")])
    assert dead_vertices(g, ["i"], ["o"]) == {"b", "c"}
    assert dead_vertices(g, ["i"], []) == set(g.nodes)


def test_graph_counts():
    assert graph_counts(nx.DiGraph()) == {"vertices": 0, "edges": 0, "depth": 0}
    assert graph_counts(nx.DiGraph([(0, 1), (1, 2)]))["depth"] == 3


def dan() -> MaskedDeepDAN:
    torch.manual_seed(0)
    return MaskedDeepDAN(3, 2, nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d")]))


def test_edge_weights_cover_every_extracted_edge_of_a_dan_and_an_ffn():
    for model in (dan(), MaskedDeepFFN(3, 2, [4])):
        graph = GraphTransform(torch.zeros(1, 3)).transform(model)
        weights = edge_weights(model)
        assert set(graph.edges) <= set(weights)
        assert len(weights) == sum(layer.weight.numel() for layer in model.modules() if hasattr(layer, "mask"))


def test_edge_weights_match_the_parameters_of_a_dan():
    model = dan()
    weights = edge_weights(model)
    source, target, w = model.edge_arrays(masked=False)
    nodes = list(model.structure.nodes)
    for u, v, x in zip(source.tolist(), target.tolist(), w.tolist(), strict=True):
        assert weights[(nodes[u], nodes[v])] == pytest.approx(x)
    assert weights[(("input", 2), "a")] == pytest.approx(float(model.input_layer.weight.detach()[0, 2]))


def test_layer_titles():
    model = dan()
    assert [layer_title(n, model) for n, _ in model.named_modules() if hasattr(_, "mask")] == [
        "input",
        "gen 1",
        "gen 2",
        "output",
    ]
    assert layer_title("layers.1", MaskedDeepFFN(3, 2, [4])) == "layer 1→2"


def pruned_view(show_io: bool = True):
    model = dan()
    design = dan()
    weights = weight_snapshot(model)
    masks = masks_by_amount(weights, 1.0, scope="layer")  # prune everything in every layer ...
    masks["output_layer"] = torch.ones_like(masks["output_layer"])  # ... but the output layer
    masks["layers.0"] = torch.ones_like(masks["layers.0"])
    apply_masks(model, masks)
    return inspect_view(model, design, torch.zeros(1, 3), show_io=show_io)


def test_inspect_view_marks_removed_edges_and_dead_vertices():
    view = pruned_view()
    counts = view.counts()
    assert counts["design"]["edges"] > counts["extracted"]["edges"]
    assert counts["design"]["dead"] == 0 and counts["extracted"]["dead"] == len(view.dead) > 0
    assert {"a", "b", "c"} <= view.dead  # the input layer is fully pruned
    extracted = view_elements(view, which="extracted")
    classes = {e["data"]["id"]: e.get("classes", "") for e in extracted}
    assert any("removed" in c for c in classes.values())
    assert any(c in ("pos", "neg") for c in classes.values())
    assert "dead" in classes['"a"']
    widths = [e["data"]["w"] for e in extracted if "w" in e["data"]]
    assert widths and all(0.5 <= w <= 5.0 for w in widths)
    design = view_elements(view, which="design")
    assert not any("removed" in e.get("classes", "") or "dead" in e.get("classes", "") for e in design)


def test_inspect_view_can_leave_out_inputs_and_outputs():
    view = pruned_view(show_io=False)
    ids = {e["data"]["id"] for e in view_elements(view, which="design") if "source" not in e["data"]}
    assert ids == {'"a"', '"b"', '"c"', '"d"'}


def test_vertex_details_and_incoming_weights():
    view = pruned_view()
    rows = incoming(view, "d")
    assert {r[0] for r in rows} == {"a", "b", "c"}
    assert [abs(r[1]) for r in rows] == sorted((abs(r[1]) for r in rows), reverse=True)
    text = str(vertex_details(view, "d").to_plotly_json())
    assert "in-degree 3 → 0" in text and "removed" in text and "dead" in text
    assert "Tap a vertex" in str(vertex_details(view, "zzz").to_plotly_json())


def test_counts_table_and_summary_text():
    table = str(
        counts_table(
            {
                "design": {"vertices": 5, "edges": 7, "depth": 3, "dead": 0},
                "extracted": {"vertices": 5, "edges": 2, "depth": 2, "dead": 1},
            }
        ).to_plotly_json()
    )
    assert "dead vertices" in table and "'7'" in table
    preview = Preview(
        masks={}, threshold=0.1, rows=[("input", 3, 4), ("output", 1, 4)], remaining=10, total=14, accuracy=0.5
    )
    lines = summary_text(preview, unpruned_accuracy=0.9)
    assert lines[0] == "10 of 14 parameters remain"
    assert "4 of 8 connections pruned (50.0%)" in lines[1]
    assert "50.0%" in lines[2] and "unpruned 90.0%" in lines[2]


@pytest.mark.parametrize("granularity", ["channel", "module"])
def test_inspect_view_at_coarser_granularity(granularity):
    model = dan()
    view = inspect_view(model, dan(), torch.zeros(1, 3), granularity=granularity)
    assert view.design.number_of_nodes() > 0 and not view.dead
    assert set(view.weights) == set(view.design.edges)
    assert view_elements(view, which="extracted")


def test_summary_names_a_capped_test_set():
    preview = Preview(masks={}, threshold=None, rows=[("input", 1, 2)], remaining=3, total=4, accuracy=0.25)
    assert "on 2,048 test samples" in summary_text(preview, unpruned_accuracy=None, test_samples=2048)[2]


@pytest.mark.parametrize(("granularity", "vertices"), [("neuron", 1034), ("channel", 59), ("module", 6)])
def test_the_conv_sample_is_shown_at_every_granularity(granularity, vertices):
    view, source = sample_view("small_cnn", granularity=granularity)
    assert view.design.number_of_nodes() == vertices
    assert set(view.design.edges) == set(view.extracted.edges) and not view.dead  # no masks: both sides agree
    assert f"at {granularity} level" in source and "small_cnn" in source and "1×8×8" in source
    elements = view_elements(view, which="extracted")
    assert not any("removed" in e.get("classes", "") for e in elements)
    if granularity != "neuron":
        assert set(view.weights) == set(view.design.edges)


def test_the_inspect_model_choices_are_the_session_model_and_the_conv_samples():
    options = conv_sample_options()
    assert options[0]["value"] == SESSION_MODEL
    assert [o["value"] for o in options[1:]] == ["small_cnn"]
    with pytest.raises(CheckpointError, match="unknown sample 'nope'"):
        sample_view("nope")
