"""The "Find a ticket" panel: its layout, its per-session state, and pure helpers the callbacks call.

Everything here but :func:`ticket_panel` is a pure function of plain values
or :class:`~workbench.lottery.RoundResult` objects, unit tested without a
browser: the form -> :class:`~workbench.lottery.LotteryConfig`, the accuracy
figure and the ``Patch`` that grows it round by round, density rows, the
round chooser's options and the progress line.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
from dash import Patch, dcc, html
from torch import nn

from workbench.app import ids
from workbench.app.analysis import layer_title
from workbench.app.figures import FONT, MARGIN, add_hint, density_figure, empty_figure
from workbench.app.panels import figure_row, graph
from workbench.errors import PruningError
from workbench.lottery import LotteryConfig, LotteryRunner, RoundResult, load_round

__all__ = [
    "TRACES",
    "TicketState",
    "accuracy_figure",
    "accuracy_patch",
    "accuracy_points",
    "density_rows",
    "find_round",
    "load_into",
    "lottery_config",
    "progress_text",
    "round_density_figure",
    "round_key",
    "round_options",
    "ticket_panel",
]

#: The accuracy figure's traces, in order: (condition, legend name, colour).
TRACES = (
    ("ticket", "winning ticket (rewound)", "#2563eb"),
    ("reinit", "same masks, random init", "#e8710a"),
    ("random", "random masks, same density", "#16a34a"),
)
NAMES = {c: name for c, name, _ in TRACES}


@dataclass
class TicketState:
    """The lottery run of one session: the thread, what the page has drawn, and what to load rounds into.

    Attributes:
        runner: the background experiment.
        template: a CPU copy of the model the run started from (rounds are loaded into copies of it).
        designed: designed connections per layer (round 0's counts), the 100% of the density bars.
        sent: results the page has drawn.
        followed: the last ticket round loaded into the workspace model (-1: none).
    """

    runner: LotteryRunner
    template: nn.Module
    designed: dict[str, int]
    sent: int = 0
    followed: int = -1


# ------------------------------------------------------------------------ form


def _number(value, label: str, *, low: float, high: float | None = None, integer: bool = False) -> float:
    if value is None or value == "" or isinstance(value, bool):
        raise PruningError(f"{label} is empty; enter a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PruningError(f"{label} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < low or (high is not None and number > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise PruningError(f"{label} must be {bound}, got {value!r}")
    if integer and number != int(number):
        raise PruningError(f"{label} must be a whole number, got {value!r}")
    return number


def lottery_config(
    *,
    rounds,
    rate,
    output_rate,
    scope: str,
    rewind,
    iterations,
    controls: Iterable[str] | None,
    seed,
) -> LotteryConfig:
    """The experiment the form describes; rates are percents, an empty output rate means "same as rate".

    Raises:
        PruningError: a field is empty or out of range (named in the message).
    """
    iterations = int(_number(iterations, "Iterations per round", low=1, integer=True))
    out = None if output_rate in (None, "") else _number(output_rate, "Output layer rate", low=0, high=99) / 100
    return LotteryConfig(
        rounds=int(_number(rounds, "Rounds", low=0, high=50, integer=True)),
        rate=_number(rate, "Rate per round", low=0, high=99) / 100,
        output_rate=out,
        scope="global" if scope == "global" else "layer",
        rewind=int(_number(rewind, "Rewind iteration", low=0, high=iterations - 1, integer=True)),
        iterations=iterations,
        eval_every=max(1, iterations // 20),
        controls=tuple(c for c in ("reinit", "random") if c in (controls or ())),
        seed=int(_number(0 if seed in (None, "") else seed, "Seed", low=0, integer=True)),
    )


# ------------------------------------------------------------------------ figures


def accuracy_points(results: Sequence[RoundResult], conditions: Iterable[str] = NAMES) -> dict[str, dict]:
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
            line={"color": colour, "width": 2},
            hovertemplate="round %{customdata}: %{x:.1f}% of weights, %{y:.2f}%<extra>" + name + "</extra>",
        )
        for c, name, colour in TRACES
    ]
    fig = go.Figure(
        traces,
        layout={
            "title": {"text": "Test accuracy vs weights remaining", "x": 0.02, "font": {"size": 14}},
            "font": FONT,
            "margin": MARGIN,
            "height": 320,
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "#ffffff",
            "legend": {"orientation": "h", "y": -0.25, "x": 0},
            "uirevision": "keep",
        },
    )
    fig.update_xaxes(type="log", autorange="reversed", title="% of weights remaining", gridcolor="#e2e8f0")
    fig.update_yaxes(title="test accuracy (%)", gridcolor="#e2e8f0")
    if not results:
        add_hint(fig, "Press ▶ Find a ticket to start")
    return fig


def accuracy_patch(results: Sequence[RoundResult]) -> Patch:
    """A ``Patch`` appending ``results`` to the traces of :func:`accuracy_figure` (no resend of the figure)."""
    patch = Patch()
    points = accuracy_points(results)
    for i, (c, _, _) in enumerate(TRACES):
        if points[c]["x"]:
            patch["data"][i]["x"].extend(points[c]["x"])
            patch["data"][i]["y"].extend(points[c]["y"])
            patch["data"][i]["customdata"].extend(points[c]["round"])
    if any(p["x"] for p in points.values()):
        patch["layout"]["annotations"] = []
    return patch


def density_rows(result: RoundResult, designed: Mapping[str, int], model: nn.Module) -> list[tuple[str, int, int]]:
    """``(layer title, kept, designed)`` per layer of one round, for ``figures.density_figure``."""
    return [(layer_title(name, model), kept, designed.get(name, kept)) for name, kept in result.layer_remaining.items()]


def round_density_figure(result: RoundResult | None, designed: Mapping[str, int], model: nn.Module) -> dict:
    """The density bars of one round (a plain figure dict, titled with the round), or a blank that says why."""
    if result is None:
        return empty_figure("Per-layer density of each round appears here").to_plotly_json()
    fig = density_figure(density_rows(result, designed, model))
    fig["layout"]["title"] = {
        "text": f"Connections kept · round {result.round} ({result.condition})",
        "x": 0.02,
        "font": {"size": 14},
    }
    return fig


# ------------------------------------------------------------------------ rounds


def round_key(result: RoundResult) -> str:
    """The chooser's value for a result: ``"ticket/3"``."""
    return f"{result.condition}/{result.round}"


def find_round(results: Sequence[RoundResult], key: str | None) -> RoundResult | None:
    """The result with :func:`round_key` ``key`` (round 0 under any condition), else None."""
    if not key or "/" not in key:
        return None
    condition, _, number = key.partition("/")
    for r in results:
        if str(r.round) == number and (r.condition == condition or r.round == 0):
            return r
    return None


def round_options(results: Sequence[RoundResult]) -> list[dict]:
    """Dropdown options, one per finished network, newest round first."""
    ordered = sorted(results, key=lambda r: (-r.round, list(NAMES).index(r.condition)))
    return [
        {
            "label": (
                f"round {r.round} · {'dense' if r.round == 0 else NAMES[r.condition]} · "
                f"{r.percent_remaining:.1f}% · acc {100 * r.final_accuracy:.1f}%"
            ),
            "value": round_key(r),
        }
        for r in ordered
    ]


def progress_text(state: str, done: int, total: int, results: Sequence[RoundResult]) -> str:
    """One line: state, iterations done, and the newest ticket round."""
    share = f"{done / total:.0%}" if total else "–"
    line = f"{state} · {done:,} of {total:,} iterations ({share})"
    tickets = [r for r in results if r.condition == "ticket"]
    if tickets:
        last = tickets[-1]
        line += (
            f" · round {last.round}: {last.percent_remaining:.1f}% of weights, "
            f"test accuracy {100 * last.final_accuracy:.2f}%, early stop at {last.early_stop_iteration}"
        )
    return line


def load_into(template: nn.Module, result: RoundResult) -> nn.Module:
    """A copy of ``template`` with the weights and masks of ``result`` (pure)."""
    model = copy.deepcopy(template)
    load_round(model, result)
    return model


# ------------------------------------------------------------------------ layout


def _field(label: str, control, *, hint: str = "") -> html.Div:
    children = [html.Label(label, className="field-label"), control]
    if hint:
        children.append(html.Div(hint, className="field-hint"))
    return html.Div(children, className="field")


def _input(id_: str, value, **kw) -> dcc.Input:
    return dcc.Input(id=id_, type="number", value=value, className="input", **kw)


def ticket_panel() -> html.Div:
    """The "Find a ticket" tab: the experiment form, the growing accuracy plot, density bars, the round chooser."""
    sidebar = html.Div(
        [
            html.Div(
                [
                    html.H3("Find a ticket"),
                    html.Div(
                        "Train the model built on Build & train, prune the smallest weights, rewind the survivors "
                        "and train again, round after round (Frankle & Carbin, 2019).",
                        className="field-hint",
                    ),
                    html.Div(
                        [
                            _field("Rounds", _input(ids.TICKET_ROUNDS, 5, min=0, max=50, step=1)),
                            _field("Rate per round (%)", _input(ids.TICKET_RATE, 20, min=0, max=99, step="any")),
                            _field(
                                "Output layer rate (%)",
                                _input(ids.TICKET_OUTPUT_RATE, 10, min=0, max=99, step="any"),
                                hint="empty: same as the rate",
                            ),
                            _field(
                                "Rewind to iteration",
                                _input(ids.TICKET_REWIND, 0, min=0, step=1),
                                hint="0: the initialisation",
                            ),
                            _field("Iterations per round", _input(ids.TICKET_ITERATIONS, 400, min=1, step=1)),
                            _field("Seed", _input(ids.TICKET_SEED, 0, min=0, step=1)),
                        ],
                        className="grid-2",
                    ),
                    dcc.RadioItems(
                        [{"label": " per layer", "value": "layer"}, {"label": " global", "value": "global"}],
                        "layer",
                        id=ids.TICKET_SCOPE,
                        inline=True,
                        className="radio",
                    ),
                    dcc.Checklist(
                        [
                            {"label": " control: same masks, random init", "value": "reinit"},
                            {"label": " control: random masks, same density", "value": "random"},
                        ],
                        ["reinit", "random"],
                        id=ids.TICKET_CONTROLS,
                        className="radio",
                    ),
                    html.Div(
                        [
                            html.Button(
                                "▶ Find a ticket", id=ids.TICKET_START, n_clicks=0, className="btn btn-primary"
                            ),
                            html.Button("■ Stop", id=ids.TICKET_STOP, n_clicks=0, className="btn"),
                        ],
                        className="btn-row",
                    ),
                    html.Div(id=ids.TICKET_PROGRESS, className="field-hint"),
                ],
                className="section",
            ),
            html.Div(
                [
                    html.H3("Rounds"),
                    dcc.Checklist(
                        [{"label": " Prune & Inspect follow the newest ticket round", "value": "follow"}],
                        ["follow"],
                        id=ids.TICKET_FOLLOW,
                        className="radio",
                    ),
                    _field("Round", dcc.Dropdown(id=ids.TICKET_ROUND, options=[], clearable=False)),
                    html.Button("Load into Prune & Inspect", id=ids.TICKET_LOAD, n_clicks=0, className="btn"),
                ],
                className="section",
            ),
        ],
        className="sidebar",
    )
    main = html.Div(
        [
            html.Div(id=ids.TICKET_ALERT, className="alert-box"),
            figure_row(
                graph(ids.TICKET_ACC_FIG, accuracy_figure()),
                graph(ids.TICKET_DENSITY_FIG, empty_figure("Per-layer density of each round appears here")),
            ),
            dcc.Interval(id=ids.TICKET_POLL, interval=1000, disabled=True, max_intervals=1),  # see ids.POLL
        ],
        className="main",
    )
    return html.Div([sidebar, main], id=ids.TICKET_PANEL, className="panel")
