"""The "Find a ticket" screen: the experiment form, the accuracy plot that grows round by round, the
density bars of a chosen round, and the round chooser."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import plotly.graph_objects as go
from dash import Patch, dcc, html
from torch import nn

from workbench.app import ids
from workbench.app.state.ticket import CONDITION_NAMES, density_rows, round_key, round_label
from workbench.app.views.figures import FONT, GRID, MARGIN, add_hint, density_figure, empty_figure
from workbench.app.views.widgets import button, card, field, number_input, plot
from workbench.lottery import RoundResult
from workbench.lottery.summary import SweepSummary

__all__ = [
    "SWEEP_METRICS",
    "accuracy_figure",
    "accuracy_patch",
    "accuracy_points",
    "round_density_figure",
    "round_options",
    "sweep_figure",
    "ticket_screen",
]

COLOURS = {"ticket": "#2563eb", "reinit": "#e8710a", "random": "#16a34a"}


def accuracy_points(results: Sequence[RoundResult], conditions: Iterable[str] = CONDITION_NAMES) -> dict[str, dict]:
    """``{condition: {"x": % remaining, "y": test accuracy %, "round": round}}`` for each trace.

    Round 0 (the dense network, shared) is a point of every condition.
    """
    points = {c: {"x": [], "y": [], "round": []} for c in conditions}
    for r in results:
        for c in points if r.round == 0 else [r.condition]:
            if c in points:
                points[c]["x"].append(round(r.percent_remaining, 3))
                points[c]["y"].append(round(100 * r.final_accuracy, 3))
                points[c]["round"].append(r.round)
    return points


def accuracy_figure(results: Sequence[RoundResult] = ()) -> go.Figure:
    """Test accuracy against percent of weights remaining (log axis, 100% on the left), one trace per condition."""
    points = accuracy_points(results)
    traces = [
        go.Scatter(
            x=points[c]["x"],
            y=points[c]["y"],
            customdata=points[c]["round"],
            name=name,
            mode="lines+markers",
            line={"color": COLOURS[c], "width": 2},
            hovertemplate="round %{customdata}: %{x:.1f}% of weights, %{y:.2f}%<extra>" + name + "</extra>",
        )
        for c, name in CONDITION_NAMES.items()
    ]
    layout = {
        "title": {"text": "Test accuracy vs weights remaining", "x": 0.01, "font": {"size": 13}},
        "font": FONT,
        "margin": MARGIN,
        "height": 320,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#ffffff",
        "legend": {"orientation": "h", "y": -0.25, "x": 0},
        "uirevision": "keep",
    }
    fig = go.Figure(traces, layout=layout)
    fig.update_xaxes(type="log", autorange="reversed", title="% of weights remaining", gridcolor=GRID)
    fig.update_yaxes(title="test accuracy (%)", gridcolor=GRID)
    if not results:
        fig.update_xaxes(autorange=False, range=[2, 0])  # 100% to 1%, reversed, before any point
        fig.update_yaxes(range=[0, 100])
        add_hint(fig, "Press ▶ Find a ticket to start")
    return fig


def accuracy_patch(results: Sequence[RoundResult]) -> Patch:
    """A ``Patch`` appending ``results`` to the traces of :func:`accuracy_figure` (no resend of the figure)."""
    patch = Patch()
    points = accuracy_points(results)
    for i, c in enumerate(CONDITION_NAMES):
        if points[c]["x"]:
            patch["data"][i]["x"].extend(points[c]["x"])
            patch["data"][i]["y"].extend(points[c]["y"])
            patch["data"][i]["customdata"].extend(points[c]["round"])
    if any(p["x"] for p in points.values()):
        patch["layout"]["annotations"] = []
        patch["layout"]["xaxis"]["autorange"] = "reversed"
        patch["layout"]["yaxis"]["autorange"] = True
    return patch


def round_density_figure(result: RoundResult | None, designed: Mapping[str, int], model: nn.Module) -> dict:
    """The density bars of one round (a plain figure dict, titled with the round), or an empty plot saying why."""
    if result is None:
        return empty_figure(
            "The connections kept in each round appear here", x_title="connections", height=320
        ).to_plotly_json()
    fig = density_figure(density_rows(result, designed, model), height=320)
    name = "dense" if result.round == 0 else result.condition
    fig["layout"]["title"]["text"] = f"Connections kept · round {result.round} ({name})"
    return fig


#: What the sweep plot can show: (mean field, std field, seed field, axis title, scale to percent).
SWEEP_METRICS = {
    "accuracy": ("accuracy_mean", "accuracy_std", "accuracy", "test accuracy (%)", 100.0),
    "early_stop": (
        "early_stop_iteration_mean",
        "early_stop_iteration_std",
        "early_stop_iteration",
        "early-stop iteration",
        1.0,
    ),
}
DASHES = ("solid", "dash", "dot", "dashdot")


def _band_colour(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def _line(x, y, *, group: str, **style) -> dict:
    return {"type": "scatter", "x": list(x), "y": list(y), "mode": "lines", "legendgroup": group, **style}


def sweep_figure(summary: SweepSummary, metric: str = "accuracy") -> dict:
    """Mean ± std across seeds against weights remaining, per setting and condition; each seed's own curve
    is in the legend, hidden until clicked (a plain figure dict).

    Raises:
        KeyError: ``metric`` is not a key of :data:`SWEEP_METRICS`.
    """
    mean_field, std_field, seed_field, title, scale = SWEEP_METRICS[metric]
    traces = []
    several = len(summary.settings) > 1
    for k, (setting, conditions) in enumerate(summary.settings.items()):
        dash = DASHES[k % len(DASHES)]
        for condition, curve in conditions.items():
            colour = COLOURS.get(condition, "#64748b")
            name = CONDITION_NAMES.get(condition, condition) + (f" · {setting}" if several else "")
            group = f"{setting}/{condition}"
            x = curve.percent_remaining
            mean = [m * scale for m in getattr(curve, mean_field)]
            std = [0.0 if s != s else s * scale for s in getattr(curve, std_field)]  # nan (one seed): no band
            low = [m - s for m, s in zip(mean, std, strict=True)]
            high = [m + s for m, s in zip(mean, std, strict=True)]
            band = {"line": {"width": 0}, "showlegend": False, "hoverinfo": "skip"}
            traces.append(_line(x, low, group=group, **band))
            traces.append(_line(x, high, group=group, fill="tonexty", fillcolor=_band_colour(colour, 0.18), **band))
            traces.append(
                _line(
                    x,
                    mean,
                    group=group,
                    mode="lines+markers",
                    name=f"{name} (mean ± std)",
                    line={"color": colour, "width": 2, "dash": dash},
                    customdata=[[n, s] for n, s in zip(curve.n_seeds, std, strict=True)],
                    hovertemplate="%{x:.1f}% of weights: %{y:.2f} ± %{customdata[1]:.2f} (%{customdata[0]} seeds)"
                    "<extra>" + name + "</extra>",
                )
            )
            for seed in curve.seeds:
                values = [v * scale for v in getattr(seed, seed_field)]
                style = {"color": colour, "width": 1, "dash": "dot"}
                own = {"name": f"seed {seed.seed} · {name}", "visible": "legendonly", "line": style}
                traces.append(_line(seed.percent_remaining, values, group=group, **own))
    layout = {
        "title": {"text": f"Sweep {summary.folder.name}: {title} across seeds", "x": 0.01, "font": {"size": 13}},
        "font": FONT,
        "margin": {**MARGIN, "b": 40},
        "height": 360,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "#ffffff",
        "legend": {"orientation": "v", "x": 1.02, "y": 1, "font": {"size": 10}, "traceorder": "grouped"},
        "xaxis": {
            "type": "log",
            "autorange": "reversed",
            "title": {"text": "% of weights remaining"},
            "gridcolor": GRID,
        },
        "yaxis": {"title": {"text": title}, "gridcolor": GRID},
        "uirevision": "sweep",
    }
    return {"data": traces, "layout": layout}


def round_options(results: Sequence[RoundResult]) -> list[dict]:
    """Dropdown options, one per finished network, newest round first."""
    ordered = sorted(results, key=lambda r: (-r.round, list(CONDITION_NAMES).index(r.condition)))
    return [{"label": round_label(r), "value": round_key(r)} for r in ordered]


def ticket_screen() -> html.Div:
    """The "Find a ticket" screen."""
    form = card(
        "Find a ticket",
        html.Div(
            "Train the model, prune the smallest weights, rewind the survivors and train again, round after round "
            "(Frankle & Carbin, 2019). The model on the main screen is untouched until a round is loaded.",
            className="field-hint",
        ),
        html.Div(
            [
                field("Rounds", number_input(ids.TICKET_ROUNDS, 5, step=1, minimum=0, maximum=50)),
                field("Rate per round (%)", number_input(ids.TICKET_RATE, 20, minimum=0, maximum=99)),
                field(
                    "Output layer rate (%)",
                    number_input(ids.TICKET_OUTPUT_RATE, 10, minimum=0, maximum=99),
                    hint="empty: same as the rate",
                ),
                field(
                    "Rewind to iteration",
                    number_input(ids.TICKET_REWIND, 0, step=1, minimum=0),
                    hint="0: the initialisation",
                ),
                field("Iterations per round", number_input(ids.TICKET_ITERATIONS, 400, step=1, minimum=1)),
                field("Seed", number_input(ids.TICKET_SEED, 0, step=1, minimum=0)),
            ],
            className="grid-2",
        ),
        dcc.RadioItems(
            [{"label": "per layer", "value": "layer"}, {"label": "global", "value": "global"}],
            "layer",
            id=ids.TICKET_SCOPE,
            inline=True,
            className="radio seg",
        ),
        dcc.Checklist(
            [
                {"label": "control: same masks, random init", "value": "reinit"},
                {"label": "control: random masks, same density", "value": "random"},
            ],
            ["reinit", "random"],
            id=ids.TICKET_CONTROLS,
            className="radio",
        ),
        html.Div(
            [button("▶ Find a ticket", ids.TICKET_START, kind="primary"), button("■ Stop", ids.TICKET_STOP)],
            className="btn-row",
        ),
        html.Div(id=ids.TICKET_PROGRESS, className="field-hint"),
    )
    rounds = card(
        "Rounds",
        dcc.Checklist(
            [{"label": "the main screen follows the newest ticket round", "value": "follow"}],
            ["follow"],
            id=ids.TICKET_FOLLOW,
            className="radio",
        ),
        field("Round", dcc.Dropdown(id=ids.TICKET_ROUND, options=[], clearable=False, placeholder="no round yet")),
        button("Load into the model", ids.TICKET_LOAD),
    )
    sweeps = card(
        "Sweeps (several seeds)",
        html.Div(
            "Open a finished (or running) sweep of `workbench lottery --seeds ...` from the server's sweeps folder.",
            className="field-hint",
        ),
        dcc.Dropdown(id=ids.TICKET_SWEEP, options=[], clearable=False, placeholder="no sweep found"),
        dcc.RadioItems(
            [{"label": "accuracy", "value": "accuracy"}, {"label": "early stop", "value": "early_stop"}],
            "accuracy",
            id=ids.TICKET_SWEEP_METRIC,
            inline=True,
            className="radio seg",
        ),
        button("Open the sweep", ids.TICKET_SWEEP_OPEN),
        html.Div(id=ids.TICKET_SWEEP_INFO, className="field-hint"),
    )
    main = html.Div(
        [
            html.Div(id=ids.TICKET_ALERT),
            html.Div(
                [
                    plot(ids.TICKET_ACC_FIG, accuracy_figure()),
                    plot(ids.TICKET_DENSITY_FIG, round_density_figure(None, {}, nn.Identity())),
                ],
                className="fig-row",
            ),
            html.Div(plot(ids.TICKET_SWEEP_FIG), id=ids.TICKET_SWEEP_BOX, className="hidden"),
            dcc.Interval(id=ids.TICKET_POLL, interval=1000, disabled=True, max_intervals=1),
        ],
        className="main",
    )
    return html.Div(
        [html.Div([form, rounds, sweeps], className="sidebar"), main],
        className="screen screen-ticket hidden",
        id="screen-ticket",
    )
