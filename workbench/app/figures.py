"""Plotly figure builders (pure): training curves, density bars, weight histogram, decision boundary.

Every builder returns a ``go.Figure`` from plain numbers, so it can be unit
tested without a browser. Curves are built empty once and then grown with
:func:`curve_patch`, which returns a ``dash.Patch`` that appends points
instead of resending the figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from dash import Patch

__all__ = [
    "CURVE_TRACES",
    "boundary_figure",
    "boundary_patch",
    "curve_patch",
    "curves_figure",
    "density_figure",
    "empty_figure",
    "histogram_figure",
    "magnitude_histogram",
]

FONT = {"family": "Inter, system-ui, sans-serif", "size": 12, "color": "#0f172a"}
MARGIN = {"l": 48, "r": 16, "t": 36, "b": 40}
#: Traces of each curve figure, in order: (figure kind, trace name, record field).
CURVE_TRACES = {
    "loss": [("train loss", "loss")],
    "accuracy": [("train", "train_acc"), ("test", "test_acc")],
}
COLOURS = ["#2563eb", "#e8710a", "#16a34a", "#9333ea"]


def _base_layout(title: str, **extra) -> dict:
    layout = {
        "title": {"text": title, "x": 0.02, "font": {"size": 14}},
        "font": FONT,
        "margin": MARGIN,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#ffffff",
        "legend": {"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
        "uirevision": "keep",
    }
    layout.update(extra)
    return layout


def add_hint(fig: go.Figure, text: str, **font) -> go.Figure:
    """Write ``text`` in grey across the middle of ``fig`` (mutates and returns it); ``font``: e.g. ``size=13``."""
    fig.add_annotation(
        text=text, showarrow=False, font={**font, "color": "#64748b"}, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    return fig


def empty_figure(message: str, *, height: int = 260) -> go.Figure:
    """A blank figure that says why it is blank."""
    fig = go.Figure(layout=_base_layout("", height=height))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return add_hint(fig, message, size=13)


def curves_figure(kind: str, *, x: Sequence[float] = (), values: dict | None = None) -> go.Figure:
    """The loss (``kind="loss"``) or accuracy (``"accuracy"``) curves, with ``values[field]`` points.

    Raises:
        KeyError: ``kind`` is neither ``"loss"`` nor ``"accuracy"``.
    """
    values = values or {}
    traces = [
        go.Scatter(
            x=list(x), y=list(values.get(field, [])), name=name, mode="lines", line={"color": COLOURS[i], "width": 2}
        )
        for i, (name, field) in enumerate(CURVE_TRACES[kind])
    ]
    yaxis = {"title": "loss", "rangemode": "tozero"} if kind == "loss" else {"title": "accuracy", "range": [0, 1.02]}
    fig = go.Figure(traces, layout=_base_layout("Loss" if kind == "loss" else "Accuracy", height=260))
    fig.update_layout(xaxis={"title": "epoch", "gridcolor": "#e2e8f0"}, yaxis={**yaxis, "gridcolor": "#e2e8f0"})
    return fig


def curve_patch(kind: str, records: Sequence[dict]) -> Patch:
    """A ``Patch`` appending ``records`` (dicts with ``epoch`` and the fields of ``kind``) to its curves.

    A field that is missing or ``None`` in a record adds no point to that trace.
    """
    patch = Patch()
    for i, (_, field) in enumerate(CURVE_TRACES[kind]):
        xs = [r["epoch"] for r in records if r.get(field) is not None]
        ys = [r[field] for r in records if r.get(field) is not None]
        if xs:
            patch["data"][i]["x"].extend(xs)
            patch["data"][i]["y"].extend(ys)
    return patch


def density_figure(rows: Sequence[tuple[str, int, int]]) -> dict:
    """Kept vs designed connections per layer: ``rows`` of ``(title, kept, total)``, input to output.

    Returns a plain figure dict: it is redrawn on every slider move, and skipping
    Plotly's validation keeps the preview fast.
    """
    if not rows:
        return empty_figure("Build a model to see its layers").to_plotly_json()
    titles = [r[0] for r in rows]
    kept = [r[1] for r in rows]
    pruned = [r[2] - r[1] for r in rows]
    share = [f"{k / t:.0%}" if t else "–" for _, k, t in rows]
    layout = _base_layout("Connections kept per layer", height=max(220, 34 + 22 * len(rows)), barmode="stack")
    layout["yaxis"] = {"autorange": "reversed", "type": "category"}
    layout["xaxis"] = {"title": {"text": "connections"}, "gridcolor": "#e2e8f0"}
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


def magnitude_histogram(magnitudes: np.ndarray, *, bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin edges of ``|w|`` values on ``[0, max]`` (computed once per snapshot)."""
    top = float(magnitudes.max()) if magnitudes.size else 1.0
    return np.histogram(magnitudes, bins=bins, range=(0.0, top if top > 0 else 1.0))


def histogram_figure(counts: np.ndarray, edges: np.ndarray, threshold: float | None) -> dict:
    """Weight-magnitude histogram with the pruning threshold drawn as a vertical line (a plain figure dict).

    Bars left of the threshold (pruned) are grey, the rest blue; ``threshold=None`` draws no line
    (per-layer percent pruning has no single threshold).
    """
    centres = ((edges[:-1] + edges[1:]) / 2).tolist()
    width = float(edges[1] - edges[0]) if len(edges) > 1 else 1.0
    cut = -1.0 if threshold is None else threshold
    colours = ["#cbd5e1" if c <= cut else "#2563eb" for c in centres]
    layout = _base_layout("Weight magnitudes", height=260, bargap=0.02, showlegend=False)
    layout["xaxis"] = {"title": {"text": "|weight|"}, "gridcolor": "#e2e8f0"}
    layout["yaxis"] = {"title": {"text": "weights"}, "gridcolor": "#e2e8f0"}
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
                "y": 1,
                "yref": "paper",
                "text": f"threshold {threshold:.3g}",
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
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
    xs: np.ndarray, ys: np.ndarray, probability: np.ndarray | None, points: np.ndarray, labels: np.ndarray
) -> go.Figure:
    """Decision boundary of a 2-D classifier: a heat map of ``P(class 1)`` (``[len(ys), len(xs)]``) and the data.

    The heat map is always trace 0, so :func:`boundary_patch` can replace its values during training;
    ``probability=None`` (no model yet) draws it blank.
    """
    if probability is None:
        probability = np.full((len(ys), len(xs)), 0.5)
    traces = [
        go.Heatmap(
            x=xs,
            y=ys,
            z=probability,
            zmin=0,
            zmax=1,
            colorscale=[[0, "#1a73e8"], [0.5, "#f8fafc"], [1, "#e8710a"]],
            showscale=False,
            hoverinfo="skip",
        )
    ]
    for k, colour in ((0, "#1a73e8"), (1, "#e8710a")):
        pick = labels == k
        traces.append(
            go.Scatter(
                x=points[pick, 0],
                y=points[pick, 1],
                mode="markers",
                name=f"class {k}",
                marker={"color": colour, "size": 5, "line": {"color": "#ffffff", "width": 0.5}},
            )
        )
    fig = go.Figure(traces, layout=_base_layout("Decision boundary", height=320, showlegend=False))
    fig.update_xaxes(range=[float(xs[0]), float(xs[-1])], showgrid=False, zeroline=False)
    fig.update_yaxes(range=[float(ys[0]), float(ys[-1])], showgrid=False, zeroline=False, scaleanchor="x")
    return fig


def boundary_patch(probability: np.ndarray) -> Patch:
    """A ``Patch`` replacing the heat map of :func:`boundary_figure` with new ``P(class 1)`` values."""
    patch = Patch()
    patch["data"][0]["z"] = np.round(probability, 3).tolist()
    return patch
