"""Plotly figure builders (pure): training curves, density bars, weight histogram, decision boundary.

Every builder returns a figure from plain numbers, so it can be unit tested
without a browser. The curves are built once and then grown with
:func:`curve_patch`, a ``dash.Patch`` that appends points instead of
resending the figure. An empty plot keeps sensible axes and says in grey what
will appear there; the hint goes as soon as the first point does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from dash import Patch

__all__ = [
    "CURVE_TRACES",
    "PLOT_CONFIG",
    "add_hint",
    "boundary_figure",
    "boundary_patch",
    "class_figure",
    "curve_patch",
    "curves_figure",
    "density_figure",
    "empty_figure",
    "histogram_figure",
]

FONT = {"family": "Inter, system-ui, sans-serif", "size": 11, "color": "#0f172a"}
MARGIN = {"l": 44, "r": 10, "t": 30, "b": 34}
#: The traces of the curves figure, in order: (name, record field, colour, axis).
CURVE_TRACES = [
    ("train loss", "loss", "#2563eb", 1),
    ("train accuracy", "train_acc", "#2563eb", 2),
    ("test accuracy", "test_acc", "#e8710a", 2),
]
GRID = "#e2e8f0"
#: dcc.Graph config of every plot: the toolbar only on hover, and only what helps here.
PLOT_CONFIG = {
    "displaylogo": False,
    "displayModeBar": "hover",
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines", "zoomIn2d", "zoomOut2d"],
    "responsive": True,
}


def _base_layout(title: str, **extra) -> dict:
    layout = {
        "title": {"text": title, "x": 0.01, "y": 0.98, "yanchor": "top", "font": {"size": 12}},
        "font": FONT,
        "margin": MARGIN,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#ffffff",
        "legend": {"orientation": "h", "y": -0.28, "x": 0, "font": {"size": 10}},
        "uirevision": "keep",
    }
    layout.update(extra)
    return layout


def add_hint(fig: go.Figure, text: str, **font) -> go.Figure:
    """Write ``text`` in grey across the middle of ``fig`` (mutates and returns it); ``font``: e.g. ``size=13``."""
    fig.add_annotation(
        text=text,
        showarrow=False,
        font={**font, "color": "#475569"},
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        bgcolor="rgba(255, 255, 255, 0.95)",
        borderpad=4,
    )
    return fig


def empty_figure(
    message: str, *, title: str = "", x_title: str = "", y_title: str = "", height: int = 200
) -> go.Figure:
    """An empty plot with its axes (titled, 0 to 1) and a grey hint saying what will appear and how."""
    fig = go.Figure(layout=_base_layout(title, height=height, showlegend=False))
    fig.update_xaxes(title=x_title or None, range=[0, 1], gridcolor=GRID, showticklabels=bool(x_title))
    fig.update_yaxes(title=y_title or None, range=[0, 1], gridcolor=GRID, showticklabels=bool(y_title))
    return add_hint(fig, message, size=12)


def _curve_titles() -> list[dict]:
    """The small titles over the two halves of the curves figure."""
    return [
        {
            "text": text,
            "x": x,
            "xref": "paper",
            "y": 1.0,
            "yref": "paper",
            "yanchor": "bottom",
            "xanchor": "left",
            "showarrow": False,
            "font": {"size": 12},
        }
        for text, x in (
            ("<b>loss</b> <span style='color:#2563eb'>train</span>", 0.0),
            (
                "<b>accuracy</b> <span style='color:#e8710a'>― test</span> "
                "<span style='color:#2563eb'>··· train</span>",
                0.5,
            ),
        )
    ]


def curves_figure(records: Sequence[dict] = (), *, epochs: float = 20, height: int = 150) -> go.Figure:
    """Loss (left) and train/test accuracy (right) against epochs, from history ``records``.

    With no records the axes still show the run ahead (0 to ``epochs``) and a hint says how to start.
    """
    traces = [
        go.Scatter(
            x=[r["epoch"] for r in records if r.get(field) is not None],
            y=[r[field] for r in records if r.get(field) is not None],
            name=name,
            mode="lines",
            line={"color": colour, "width": 2, "dash": "dot" if field == "train_acc" else "solid"},
            xaxis="x" if axis == 1 else "x2",
            yaxis="y" if axis == 1 else "y2",
            hovertemplate="epoch %{x:.1f}: %{y:.3f}<extra>" + name + "</extra>",
        )
        for name, field, colour, axis in CURVE_TRACES
    ]
    layout = _base_layout("", height=height, showlegend=False)
    layout["margin"] = {"l": 34, "r": 8, "t": 22, "b": 22}
    upper = max(float(epochs), 1.0)
    fixed = {"range": [0, upper]} if not records else {}
    layout["xaxis"] = {"gridcolor": GRID, "zeroline": False, "domain": [0, 0.42], **fixed}
    layout["xaxis2"] = {"gridcolor": GRID, "zeroline": False, "domain": [0.58, 1], **fixed}
    layout["yaxis"] = {"gridcolor": GRID, "rangemode": "tozero", **({"range": [0, 1]} if not records else {})}
    layout["yaxis2"] = {"gridcolor": GRID, "range": [0, 1.02], "anchor": "x2", "tickformat": ".0%"}
    layout["annotations"] = _curve_titles()
    if not records:
        # Plotly keeps what its inputs did not change: a run that grew from this figure leaves these fixed
        # ranges in its input (the points only switched autorange on), so an empty figure after it would keep
        # the run's autoranged axes. A revision of its own makes Plotly take the empty figure's axes whole.
        layout["uirevision"] = "empty"
    fig = go.Figure(traces, layout=layout)
    if not records:
        add_hint(fig, "Press ▶ Start to train", size=12)
    return fig


def curve_patch(records: Sequence[dict]) -> Patch:
    """A ``Patch`` appending ``records`` (dicts with ``epoch`` and the curve fields) to :func:`curves_figure`.

    A field that is missing or ``None`` in a record adds no point to its trace. The start hint and the
    fixed axis ranges of the empty figure go with the points.
    """
    patch = Patch()
    for i, (_, field, _, _) in enumerate(CURVE_TRACES):
        xs = [r["epoch"] for r in records if r.get(field) is not None]
        ys = [r[field] for r in records if r.get(field) is not None]
        if xs:
            patch["data"][i]["x"].extend(xs)
            patch["data"][i]["y"].extend(ys)
    if records:
        patch["layout"]["annotations"] = _curve_titles()
        patch["layout"]["uirevision"] = "keep"  # the revision of a figure with points (see curves_figure)
        for axis in ("xaxis", "xaxis2", "yaxis"):
            patch["layout"][axis]["autorange"] = True
    return patch


def density_figure(rows: Sequence[tuple[str, int, int]], *, height: int = 185) -> dict:
    """Kept vs designed connections per layer: ``rows`` of ``(title, kept, total)``, input to output.

    Returns a plain figure dict: it is redrawn on every slider move, and skipping
    Plotly's validation keeps the preview fast.
    """
    if not rows:
        return empty_figure(
            "Build a model to see its connections", title="Connections kept", x_title="connections", height=height
        ).to_plotly_json()
    titles = [r[0] for r in rows]
    kept = [r[1] for r in rows]
    pruned = [r[2] - r[1] for r in rows]
    share = [f"{k / t:.0%}" if t else "–" for _, k, t in rows]
    layout = _base_layout("Connections kept, by the column they go into", height=height, barmode="stack")
    layout["margin"] = {**MARGIN, "l": 78, "b": 30}
    layout["yaxis"] = {"autorange": "reversed", "type": "category"}
    layout["xaxis"] = {"gridcolor": GRID}
    layout["showlegend"] = False
    return {
        "data": [
            {
                "type": "bar",
                "y": titles,
                "x": kept,
                "name": "kept",
                "orientation": "h",
                "marker": {"color": "#2563eb"},
                "text": share,
                "textposition": "inside",
                "textangle": 0,
                "constraintext": "none",
                "insidetextanchor": "start",
                "hovertemplate": "%{y}: %{x} kept<extra></extra>",
            },
            {
                "type": "bar",
                "y": titles,
                "x": pruned,
                "name": "pruned",
                "orientation": "h",
                "marker": {"color": "#e2e8f0"},
                "hovertemplate": "%{y}: %{x} pruned<extra></extra>",
            },
        ],
        "layout": layout,
    }


def histogram_figure(counts: np.ndarray, edges: np.ndarray, threshold: float | None, *, height: int = 185) -> dict:
    """Weight-magnitude histogram with the pruning threshold drawn as a vertical line (a plain figure dict).

    Bars left of the threshold (pruned) are grey, the rest blue; ``threshold=None`` draws no line
    (per-layer percent pruning has no single threshold).
    """
    centres = ((edges[:-1] + edges[1:]) / 2).tolist()
    width = float(edges[1] - edges[0]) if len(edges) > 1 else 1.0
    cut = -1.0 if threshold is None else threshold
    colours = ["#cbd5e1" if c <= cut else "#2563eb" for c in centres]
    layout = _base_layout("Magnitudes of the kept weights", height=height, bargap=0.02, showlegend=False)
    layout["xaxis"] = {"title": {"text": "|weight|", "standoff": 2}, "gridcolor": GRID}
    layout["yaxis"] = {"title": {"text": "weights"}, "gridcolor": GRID}
    layout["shapes"], layout["annotations"] = [], []
    if threshold is not None:
        layout["shapes"].append(
            {
                "type": "line",
                "x0": threshold,
                "x1": threshold,
                "xref": "x",
                "y0": 0,
                "y1": 1,
                "yref": "paper",
                "line": {"color": "#dc2626", "width": 2, "dash": "dash"},
            }
        )
        layout["annotations"].append(
            {
                "x": threshold,
                "xref": "x",
                "y": 0.92,
                "yref": "paper",
                "text": f" cut {threshold:.3g}",
                "showarrow": False,
                "xanchor": "left",
                "font": {"color": "#dc2626"},
            }
        )
    bars = {
        "type": "bar",
        "x": centres,
        "y": np.asarray(counts).tolist(),
        "width": width,
        "marker": {"color": colours},
        "hovertemplate": "|w|≈%{x:.3f}: %{y}<extra></extra>",
    }
    return {"data": [bars], "layout": layout}


def boundary_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    probability: np.ndarray | None,
    points: np.ndarray,
    labels: np.ndarray,
    *,
    height: int = 185,
) -> dict:
    """Decision boundary of a 2-D classifier: a heat map of ``P(class 1)`` (``[len(ys), len(xs)]``) and the data.

    A plain figure dict (it is redrawn while training and on slider moves; skipping Plotly's validation keeps
    that fast). The heat map is trace 0, so :func:`boundary_patch` can replace its values;
    ``probability=None`` (no model yet) draws it blank.
    """
    if probability is None:
        probability = np.full((len(ys), len(xs)), 0.5)
    traces = [
        {
            "type": "heatmap",
            "x": np.round(xs, 4).tolist(),
            "y": np.round(ys, 4).tolist(),
            "z": np.round(probability, 3).tolist(),
            "zmin": 0,
            "zmax": 1,
            "colorscale": [[0, "#1a73e8"], [0.5, "#f8fafc"], [1, "#e8710a"]],
            "showscale": False,
            "hoverinfo": "skip",
        }
    ]
    for k, colour in ((0, "#1a73e8"), (1, "#e8710a")):
        pick = labels == k
        traces.append(
            {
                "type": "scattergl",
                "x": np.round(points[pick, 0], 3).tolist(),
                "y": np.round(points[pick, 1], 3).tolist(),
                "mode": "markers",
                "name": f"class {k}",
                "marker": {"color": colour, "size": 4, "line": {"color": "#ffffff", "width": 0.5}},
                "hoverinfo": "skip",
            }
        )
    layout = _base_layout("Output: P(class 1) over the plane", height=height, showlegend=False)
    layout["margin"] = {"l": 28, "r": 8, "t": 24, "b": 22}
    layout["xaxis"] = {"range": [float(xs[0]), float(xs[-1])], "showgrid": False, "zeroline": False}
    layout["yaxis"] = {"range": [float(ys[0]), float(ys[-1])], "showgrid": False, "zeroline": False, "scaleanchor": "x"}
    return {"data": traces, "layout": layout}


def boundary_patch(probability: np.ndarray) -> Patch:
    """A ``Patch`` replacing the heat map of :func:`boundary_figure` with new ``P(class 1)`` values."""
    patch = Patch()
    patch["data"][0]["z"] = np.round(probability, 3).tolist()
    return patch


def class_figure(accuracy: Sequence[float] | None, *, height: int = 185) -> dict:
    """Test accuracy per class as bars (the output view of data that is not 2-D); None draws an empty plot."""
    if accuracy is None:
        return empty_figure(
            "Build a model to see its accuracy per class", title="Output", x_title="class", height=height
        ).to_plotly_json()
    layout = _base_layout("Output: test accuracy per class", height=height, showlegend=False)
    layout["xaxis"] = {"type": "category", "title": {"text": "class", "standoff": 2}}
    layout["yaxis"] = {"range": [0, 1.02], "tickformat": ".0%", "gridcolor": GRID}
    bars = {
        "type": "bar",
        "x": [str(i) for i in range(len(accuracy))],
        "y": [round(float(a), 4) for a in accuracy],
        "marker": {"color": "#2563eb"},
        "hovertemplate": "class %{x}: %{y:.1%}<extra></extra>",
    }
    return {"data": [bars], "layout": layout}
