"""The four working panels of the page (design, build & train, prune, inspect) and their widgets."""

from __future__ import annotations

import dash_cytoscape as cyto
from dash import dcc, html

from workbench.app import ids
from workbench.app.elements import design_stylesheet
from workbench.app.generators import GENERATORS
from workbench.training import DATASETS

__all__ = [
    "CONTEXT_MENU",
    "PRESET",
    "count",
    "design_panel",
    "figure_row",
    "graph",
    "inspect_panel",
    "prune_panel",
    "train_panel",
]

DATASET_TITLES = {
    "digits": "Digits (scikit-learn, 8×8)",
    "moons": "Moons (2-D)",
    "circles": "Circles (2-D)",
    "spirals": "Spirals (2-D)",
    "xor": "XOR (2-D)",
    "mnist": "MNIST (28×28, offline)",
}
CONTEXT_MENU = [
    {"id": "connect-from", "label": "Connect from here", "availableOn": ["node"]},
    {"id": "connect-to", "label": "Connect to here", "availableOn": ["node"]},
    {"id": "delete", "label": "Delete", "availableOn": ["node", "edge"]},
    {"id": "add-vertex", "label": "Add vertex here", "availableOn": ["canvas"]},
    {"id": "relayout", "label": "Tidy layout", "availableOn": ["canvas"]},
]
PRESET = {"name": "preset", "fit": True, "padding": 30, "animate": False}


def _button(label: str, id_: str, *, kind: str = "", title: str = "") -> html.Button:
    return html.Button(label, id=id_, n_clicks=0, className=f"btn {kind}".strip(), title=title)


def _field(label: str, control, *, hint: str = "") -> html.Div:
    children = [html.Label(label, className="field-label"), control]
    if hint:
        children.append(html.Div(hint, className="field-hint"))
    return html.Div(children, className="field")


def _section(title: str, *children) -> html.Div:
    return html.Div([html.H3(title), *children], className="section")


def graph(id_: str, figure=None) -> dcc.Graph:
    """A plot of a panel (no Plotly logo), optionally with a first figure."""
    extra = {} if figure is None else {"figure": figure}
    return dcc.Graph(id=id_, config={"displaylogo": False}, className="fig", **extra)


def figure_row(*graphs: dcc.Graph) -> html.Div:
    """Plots side by side."""
    return html.Div(list(graphs), className="fig-row")


def count(label: str, id_: str) -> html.Div:
    return html.Div(
        [html.Span("–", id=id_, className="count-value"), html.Span(label, className="count-label")], className="count"
    )


def design_panel() -> html.Div:
    generators = [{"label": g.title, "value": name} for name, g in GENERATORS.items()]
    sidebar = html.Div(
        [
            _section(
                "Edit",
                html.Div(
                    [
                        _button("+ Vertex", ids.ADD_VERTEX, title="Add a vertex"),
                        _button("Delete", ids.DELETE, title="Delete the selection (Del)"),
                        _button("Undo", ids.UNDO, title="Undo (Ctrl+Z)"),
                        _button("Redo", ids.REDO, title="Redo (Ctrl+Shift+Z)"),
                    ],
                    className="btn-row",
                ),
                html.Div(
                    [
                        _button("Tidy layout", ids.RELAYOUT, title="Lay out by topological generation"),
                        _button("Fit", ids.FIT, title="Fit the graph in view"),
                        _button("Clear", ids.CLEAR, kind="btn-quiet", title="Remove every vertex"),
                        html.Button("Cancel", id=ids.CANCEL, n_clicks=0, className="hidden"),
                    ],
                    className="btn-row",
                ),
                html.Div(
                    "Tap a vertex, then another, to connect them. Right-click for more. Shift-drag to select several.",
                    className="field-hint",
                ),
            ),
            _section(
                "Generate",
                _field("Generator", dcc.Dropdown(generators, "watts_strogatz", id=ids.GENERATOR, clearable=False)),
                html.Div(id=ids.GEN_PARAMS),
                _field(
                    "Seed",
                    dcc.Input(id=ids.GEN_SEED, type="number", value=0, debounce=True, className="input"),
                    hint="same seed, same graph; empty for a new one each time",
                ),
                _button("Generate", ids.GENERATE, kind="btn-primary"),
            ),
            _section(
                "Open",
                _field("Sample model", dcc.Dropdown(id=ids.SAMPLE, clearable=False)),
                _button("Load sample", ids.LOAD_SAMPLE),
                dcc.Upload(
                    html.Div(
                        [
                            "Drop a graph file or ",
                            html.A("choose one"),
                            html.Div(".graphml, .json (node-link) or a .pt checkpoint", className="field-hint"),
                        ]
                    ),
                    id=ids.UPLOAD,
                    className="upload",
                    multiple=False,
                ),
            ),
        ],
        className="sidebar",
    )
    canvas = html.Div(
        [
            html.Div(id=ids.DESIGN_ALERT, className="alert-box"),
            html.Div(id=ids.DESIGN_HINT, className="hint"),
            cyto.Cytoscape(
                id=ids.CANVAS,
                elements=[],
                layout=PRESET,
                stylesheet=design_stylesheet(),
                style={"width": "100%", "height": "100%"},
                contextMenu=CONTEXT_MENU,
                boxSelectionEnabled=True,
                autoRefreshLayout=False,
                minZoom=0.02,
                maxZoom=4,
            ),
            html.Div(
                [
                    html.Img(id=ids.OVERVIEW, alt="overview of the design", className="overview-img"),
                    html.Div(
                        [
                            html.Span(id=f"{ids.OVERVIEW_BOX}-text"),
                            html.Button("Edit in the canvas", id=ids.OPEN_CANVAS, className="btn"),
                        ],
                        className="overview-bar",
                    ),
                ],
                id=ids.OVERVIEW_BOX,
                className="overview-box",
                style={"visibility": "hidden"},
            ),
        ],
        className="canvas-box",
    )
    return html.Div([sidebar, canvas], className="panel panel-design")


def train_panel() -> html.Div:
    datasets = [{"label": DATASET_TITLES.get(d, d), "value": d} for d in DATASETS]
    sidebar = html.Div(
        [
            _section(
                "Data",
                _field("Dataset", dcc.Dropdown(datasets, "digits", id=ids.DATASET, clearable=False)),
                html.Div(id=ids.DATASET_INFO, className="field-hint"),
            ),
            _section(
                "Model",
                dcc.RadioItems(
                    [
                        {"label": " DAN of the drawn graph", "value": "dan"},
                        {"label": " Feed-forward net", "value": "ffn"},
                    ],
                    "dan",
                    id=ids.MODEL_KIND,
                    className="radio",
                ),
                _field(
                    "Hidden layer sizes (feed-forward)",
                    dcc.Input(id=ids.FFN_SIZES, value="32, 16", type="text", className="input", debounce=True),
                ),
                _button("Build model", ids.BUILD, kind="btn-primary"),
                html.Div(id=ids.MODEL_INFO, className="field-hint model-info"),
            ),
            _section(
                "Training",
                html.Div(
                    [
                        _field(
                            "Optimizer",
                            dcc.Dropdown(
                                [{"label": "Adam", "value": "adam"}, {"label": "SGD (momentum)", "value": "sgd"}],
                                "adam",
                                id=ids.OPTIMIZER,
                                clearable=False,
                            ),
                        ),
                        _field(
                            "Learning rate",
                            dcc.Input(id=ids.LR, type="number", value=0.01, min=0, step="any", className="input"),
                        ),
                        _field(
                            "Batch size",
                            dcc.Input(id=ids.BATCH, type="number", value=32, min=1, step=1, className="input"),
                        ),
                        _field(
                            "Epochs",
                            dcc.Input(id=ids.EPOCHS, type="number", value=20, min=1, step=1, className="input"),
                        ),
                    ],
                    className="grid-2",
                ),
                _field(
                    "Device",
                    dcc.RadioItems(["auto", "cpu", "cuda"], "auto", id=ids.DEVICE, inline=True, className="radio"),
                ),
                html.Div(
                    [
                        _button("▶ Start", ids.START, kind="btn-primary"),
                        _button("❚❚ Pause", ids.PAUSE),
                        _button("■ Stop", ids.STOP),
                        _button("↺ Reset", ids.RESET, kind="btn-quiet", title="New random weights, all connections on"),
                    ],
                    className="btn-row",
                ),
            ),
        ],
        className="sidebar",
    )
    main = html.Div(
        [
            html.Div(id=ids.TRAIN_ALERT, className="alert-box"),
            figure_row(graph(ids.LOSS_FIG), graph(ids.ACC_FIG)),
            html.Div(
                dcc.Graph(id=ids.BOUNDARY_FIG, config={"displaylogo": False}),
                id=ids.BOUNDARY_BOX,
                className="fig boundary",
                style={"display": "none"},
            ),
            # one tick per answered poll: each poll allows the next tick (max_intervals), so a slow poll is
            # never overtaken by the next one (Dash drops the answer of a callback that a newer call overtakes)
            dcc.Interval(id=ids.POLL, interval=300, disabled=True, max_intervals=1),
            dcc.Store(id=ids.SEEN, data=0),
        ],
        className="main",
    )
    return html.Div([sidebar, main], className="panel")


def prune_panel() -> html.Div:
    sidebar = html.Div(
        [
            _section(
                "Prune by",
                dcc.RadioItems(
                    [
                        {"label": " weight magnitude threshold", "value": "threshold"},
                        {"label": " percent of weights pruned", "value": "percent"},
                    ],
                    "threshold",
                    id=ids.PRUNE_MODE,
                    className="radio",
                ),
                dcc.RadioItems(
                    [{"label": " global", "value": "global"}, {"label": " per layer", "value": "layer"}],
                    "global",
                    id=ids.PRUNE_SCOPE,
                    inline=True,
                    className="radio",
                ),
                html.Div(
                    dcc.Slider(
                        0,
                        1,
                        value=0,
                        id=ids.PRUNE_SLIDER,
                        updatemode="drag",
                        marks=None,
                    ),
                    className="slider-box",
                ),
                html.Div(id=ids.PRUNE_VALUE, className="prune-value"),
                html.Div(id=ids.PRUNE_SUMMARY, className="prune-summary"),
            ),
            _section(
                "Commit",
                html.Div("The slider only previews. Apply writes the masks into the model.", className="field-hint"),
                html.Div(
                    [
                        _button("Apply", ids.PRUNE_APPLY, kind="btn-primary"),
                        _button("Reset masks", ids.PRUNE_RESET, kind="btn-quiet"),
                    ],
                    className="btn-row",
                ),
                _field(
                    "Fine-tune epochs",
                    dcc.Input(id=ids.PRUNE_FT_EPOCHS, type="number", value=5, min=1, step=1, className="input"),
                ),
                _button("Fine-tune (masks held)", ids.PRUNE_FINETUNE),
            ),
        ],
        className="sidebar",
    )
    main = html.Div(
        [
            html.Div(id=ids.PRUNE_ALERT, className="alert-box"),
            figure_row(graph(ids.DENSITY_FIG), graph(ids.HIST_FIG)),
        ],
        className="main",
    )
    return html.Div([sidebar, main], className="panel")


def _inspect_canvas(id_: str, title: str) -> html.Div:
    return html.Div(
        [
            html.H4(title),
            cyto.Cytoscape(
                id=id_,
                elements=[],
                layout=PRESET,
                stylesheet=design_stylesheet(),
                style={"width": "100%", "height": "100%"},
                minZoom=0.02,
                maxZoom=4,
                autoRefreshLayout=True,
            ),
        ],
        className="inspect-canvas",
    )


def inspect_panel() -> html.Div:
    from workbench.app.inspect_view import SESSION_MODEL, conv_sample_options

    controls = html.Div(
        [
            _field(
                "Model",
                dcc.Dropdown(conv_sample_options(), SESSION_MODEL, id=ids.INSPECT_MODEL, clearable=False),
            ),
            _field(
                "Granularity",
                dcc.RadioItems(
                    ["neuron", "channel", "module"], "neuron", id=ids.GRANULARITY, inline=True, className="radio"
                ),
            ),
            dcc.Checklist(
                [{"label": " show input and output neurons", "value": "io"}], ["io"], id=ids.SHOW_IO, className="radio"
            ),
            _button("Refresh", ids.INSPECT_REFRESH),
            html.Div(
                [
                    html.Span("Download:", className="field-label"),
                    _button("design .graphml", ids.DL_DESIGN_GRAPHML, kind="btn-small"),
                    _button("design .json", ids.DL_DESIGN_JSON, kind="btn-small"),
                    _button("extracted .graphml", ids.DL_EXTRACTED_GRAPHML, kind="btn-small"),
                    _button("extracted .json", ids.DL_EXTRACTED_JSON, kind="btn-small"),
                    _button("model + masks .pt", ids.DL_CHECKPOINT, kind="btn-small"),
                    dcc.Download(id=ids.DOWNLOAD),
                ],
                className="btn-row downloads",
            ),
        ],
        className="toolbar",
    )
    legend = html.Div(
        [
            html.Span("● dead (no path from input or to output)", className="legend dead"),
            html.Span("— positive weight", className="legend pos"),
            html.Span("— negative weight", className="legend neg"),
            html.Span("┄ removed", className="legend removed"),
        ],
        className="legend-row",
    )
    return html.Div(
        [
            controls,
            html.Div(id=ids.INSPECT_ALERT, className="alert-box"),
            html.Div([html.Div(id=ids.INSPECT_SOURCE, className="hint"), legend], className="inspect-head"),
            html.Div(id=ids.INSPECT_COUNTS, className="counts-table"),
            html.Div(
                [
                    _inspect_canvas(ids.DESIGN_VIEW, "Design (every designed connection)"),
                    _inspect_canvas(ids.EXTRACTED_VIEW, "Extracted from the model (pruned)"),
                ],
                className="inspect-row",
            ),
            html.Div(id=ids.INSPECT_VERTEX, className="vertex-info"),
        ],
        className="panel panel-inspect",
    )
