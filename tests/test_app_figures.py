"""Plotly figure builders (workbench.app.views.figures): curves grown by Patch, density bars, weight histogram,
decision boundary, accuracy per class, and empty plots that keep their axes and say what will appear."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from workbench.app.state.workspace import magnitude_histogram
from workbench.app.views.figures import (
    CURVE_TRACES,
    PLOT_CONFIG,
    boundary_figure,
    boundary_patch,
    class_figure,
    curve_patch,
    curves_figure,
    density_figure,
    empty_figure,
    histogram_figure,
)


def operations(patch) -> dict:
    """``{(location, operation): value}`` of a ``dash.Patch``."""
    return {
        (tuple(op["location"]), op["operation"]): op["params"].get("value")
        for op in patch.to_plotly_json()["operations"]
    }


def texts(layout) -> list[str]:
    annotations = layout["annotations"] if isinstance(layout, dict) else layout.annotations
    return [a["text"] for a in annotations or []]


RECORDS = [
    {"epoch": 0.5, "loss": 0.7, "train_acc": 0.6, "test_acc": None},
    {"epoch": 1.0, "loss": 0.5, "train_acc": 0.7, "test_acc": 0.65},
]


# ----------------------------------------------------------------------------- curves


def test_empty_curves_show_the_run_ahead_and_a_hint():
    fig = curves_figure(epochs=30)
    names = ["train loss", "train accuracy", "test accuracy"]
    assert [t.name for t in fig.data] == [name for name, _, _, _ in CURVE_TRACES] == names
    assert [(t.xaxis, t.yaxis) for t in fig.data] == [("x", "y"), ("x2", "y2"), ("x2", "y2")]
    assert all(len(t.x) == 0 for t in fig.data)
    assert list(fig.layout.xaxis.range) == [0, 30] and list(fig.layout.xaxis2.range) == [0, 30]
    assert "Press ▶ Start to train" in texts(fig.layout)
    assert any("loss" in t for t in texts(fig.layout)) and any("accuracy" in t for t in texts(fig.layout))


def test_curves_of_records_have_their_points_and_no_hint():
    fig = curves_figure(RECORDS)
    assert list(fig.data[0].x) == [0.5, 1.0] and list(fig.data[0].y) == [0.7, 0.5]
    assert list(fig.data[2].x) == [1.0] and list(fig.data[2].y) == [0.65]  # a missing value adds no point
    assert not any("Start" in t for t in texts(fig.layout))
    assert fig.layout.xaxis.range is None  # the axes follow the points


def test_curve_patch_appends_to_the_right_traces_and_removes_the_hint():
    ops = operations(curve_patch(RECORDS))
    assert ops[(("data", 0, "x"), "Extend")] == [0.5, 1.0]
    assert ops[(("data", 0, "y"), "Extend")] == [0.7, 0.5]
    assert ops[(("data", 1, "y"), "Extend")] == [0.6, 0.7]
    assert ops[(("data", 2, "x"), "Extend")] == [1.0] and ops[(("data", 2, "y"), "Extend")] == [0.65]
    titles = ops[(("layout", "annotations"), "Assign")]
    assert len(titles) == 2 and not any("Start" in a["text"] for a in titles)
    for axis in ("xaxis", "xaxis2", "yaxis"):
        assert ops[(("layout", axis, "autorange"), "Assign")] is True
    assert curve_patch([]).to_plotly_json()["operations"] == []


def test_a_patched_empty_figure_equals_the_figure_of_the_records():
    fig = curves_figure().to_plotly_json()
    for (location, operation), value in operations(curve_patch(RECORDS)).items():
        target = fig
        for key in location[:-1]:
            target = target[key]
        if operation == "Extend":
            target[location[-1]] = list(target[location[-1]]) + value
        else:
            target[location[-1]] = value
    direct = curves_figure(RECORDS)
    for patched, built in zip(fig["data"], direct.data, strict=True):
        assert list(patched["x"]) == list(built.x) and list(patched["y"]) == list(built.y)
    assert texts(fig["layout"]) == texts(direct.layout)


# ----------------------------------------------------------------------------- pruning plots


def test_density_bars_show_kept_and_pruned_per_layer():
    fig = density_figure([("inputs → 1", 6, 8), ("→ 2", 0, 4), ("→ outputs", 3, 3)])
    kept, pruned = fig["data"]
    assert kept["x"] == [6, 0, 3] and pruned["x"] == [2, 4, 0]
    assert kept["text"] == ["75%", "0%", "100%"] and kept["y"] == ["inputs → 1", "→ 2", "→ outputs"]
    go.Figure(fig)  # a valid Plotly figure
    empty = density_figure([])
    assert any("Build a model" in t for t in texts(empty["layout"]))


def test_histogram_with_a_threshold_line_and_grey_pruned_bars():
    counts, edges = magnitude_histogram(np.array([0.1, 0.2, 0.3, 0.9]), bins=4)
    assert counts.sum() == 4 and edges[0] == 0 and edges[-1] == pytest.approx(0.9)
    fig = histogram_figure(counts, edges, 0.45)
    assert len(fig["layout"]["shapes"]) == 1 and fig["layout"]["shapes"][0]["x0"] == 0.45
    assert "cut 0.45" in texts(fig["layout"])[0]
    colours = fig["data"][0]["marker"]["color"]
    assert colours[0] == colours[1] != colours[-1]  # below the cut grey, above it blue
    assert histogram_figure(counts, edges, None)["layout"]["shapes"] == []
    go.Figure(fig)
    zero_counts, zero_edges = magnitude_histogram(np.zeros(3))
    assert zero_counts.sum() == 3 and zero_edges[-1] == 1.0  # all weights zero: still a usable axis


# ----------------------------------------------------------------------------- the output


def test_boundary_heat_map_and_points():
    xs, ys = np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)
    points = np.array([[0.0, 0.0], [0.5, 0.5], [-0.5, 0.2]])
    labels = np.array([0, 1, 1])
    fig = boundary_figure(xs, ys, np.full((4, 5), 0.5), points, labels)
    assert fig["data"][0]["type"] == "heatmap" and np.asarray(fig["data"][0]["z"]).shape == (4, 5)
    assert [len(t["x"]) for t in fig["data"][1:]] == [1, 2]
    assert fig["layout"]["xaxis"]["range"] == [-1.0, 1.0]
    go.Figure(fig)
    blank = boundary_figure(xs, ys, None, points, labels)
    assert np.allclose(np.asarray(blank["data"][0]["z"]), 0.5)
    ops = operations(boundary_patch(np.full((4, 5), 0.25)))
    assert np.allclose(ops[(("data", 0, "z"), "Assign")], 0.25)


def test_accuracy_per_class_and_its_empty_plot():
    fig = class_figure([0.5, 1.0, 0.25])
    assert fig["data"][0]["x"] == ["0", "1", "2"] and fig["data"][0]["y"] == [0.5, 1.0, 0.25]
    go.Figure(fig)
    empty = class_figure(None)
    assert any("Build a model" in t for t in texts(empty["layout"]))


def test_an_empty_plot_has_titled_axes_and_a_hint():
    fig = empty_figure("Nothing yet: press Build", title="Output", x_title="class", y_title="accuracy")
    assert list(fig.layout.xaxis.range) == [0, 1] and list(fig.layout.yaxis.range) == [0, 1]
    assert fig.layout.xaxis.title.text == "class" and fig.layout.yaxis.title.text == "accuracy"
    assert fig.layout.xaxis.showticklabels and fig.layout.title.text == "Output"
    assert texts(fig.layout) == ["Nothing yet: press Build"]
    bare = empty_figure("hint")
    assert bare.layout.xaxis.showticklabels is False and bare.layout.xaxis.title.text is None


def test_the_toolbar_shows_only_on_hover():
    assert PLOT_CONFIG["displayModeBar"] == "hover" and PLOT_CONFIG["displaylogo"] is False
