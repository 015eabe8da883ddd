"""The main screen: the whole loop at once, at 1280 x 720.

Three columns under a training bar (TensorFlow Playground's arrangement):

* left, the design: generators, samples, files;
* centre, the graph on a Cytoscape canvas with its inputs and outputs, the masks drawn on it
  (pruned edges dashed, kept ones by sign and size, dead vertices red) and the tapped vertex's card;
* right, the training curves, the pruning card (slider, Apply, Fine-tune, Reset masks) and one
  detail plot at a time (the output, the connections kept per column, the weight histogram).
"""

from __future__ import annotations

import dash_cytoscape as cyto
from dash import dcc, html

from workbench.app import ids
from workbench.app.generators import GENERATORS
from workbench.app.state.settings import ACTIVATION_TITLES, Settings
from workbench.app.views.elements import canvas_stylesheet
from workbench.app.views.figures import curves_figure, density_figure, empty_figure
from workbench.app.views.widgets import button, card, field, number_input, plot, select
from workbench.training import DATASETS

__all__ = ["CONTEXT_MENU", "DATASET_TITLES", "PRESET", "workbench_screen"]

DATASET_TITLES = {
    "digits": "Digits (8×8)",
    "moons": "Moons (2-D)",
    "circles": "Circles (2-D)",
    "spirals": "Spirals (2-D)",
    "xor": "XOR (2-D)",
    "mnist": "MNIST (28×28)",
}
CONTEXT_MENU = [
    {"id": "connect-from", "label": "Connect from here", "availableOn": ["node"]},
    {"id": "connect-to", "label": "Connect to here", "availableOn": ["node"]},
    {"id": "delete", "label": "Delete", "availableOn": ["node", "edge"]},
    {"id": "add-vertex", "label": "Add a vertex", "availableOn": ["canvas"]},
]
PRESET = {"name": "preset", "fit": True, "padding": 24, "animate": False}


def training_bar(settings: Settings) -> html.Div:
    """Start/Pause/Stop/Reset, the run line, and the settings of the next build and run."""
    datasets = [{"label": DATASET_TITLES.get(d, d), "value": d} for d in DATASETS]
    activations = [{"label": title, "value": name} for name, title in ACTIVATION_TITLES.items()]
    optimizers = [{"label": "Adam", "value": "adam"}, {"label": "SGD", "value": "sgd"}]
    return html.Div(
        [
            html.Div(
                [
                    button("▶ Start", ids.START, kind="primary", title="Train the model (builds it first if needed)"),
                    button("❚❚ Pause", ids.PAUSE, title="Pause or resume"),
                    button("■ Stop", ids.STOP),
                    button("↺ Reset", ids.RESET, kind="quiet", title="New weights from the seed, every connection on"),
                    html.Div(id=ids.RUN_LINE, className="run-line"),
                ],
                className="run-controls",
            ),
            html.Div(
                [
                    field("Data", select(ids.DATASET, datasets, settings.dataset), className="w-data"),
                    field("Activation", select(ids.ACTIVATION, activations, settings.activation), className="w-act"),
                    field(
                        "Seed", number_input(ids.INIT_SEED, settings.init_seed, step=1, minimum=0), className="w-num"
                    ),
                    field("Learning rate", number_input(ids.LR, settings.lr, minimum=0), className="w-lr"),
                    field("Optimizer", select(ids.OPTIMIZER, optimizers, settings.optimizer), className="w-opt"),
                    field("Batch", number_input(ids.BATCH, settings.batch_size, step=1, minimum=1), className="w-num"),
                    field("Epochs", number_input(ids.EPOCHS, settings.epochs, step=1, minimum=1), className="w-num"),
                    field(
                        "Device",
                        select(
                            ids.DEVICE, [{"label": d, "value": d} for d in ("auto", "cpu", "cuda")], settings.device
                        ),
                        className="w-opt",
                    ),
                    button("⟳ Build", ids.BUILD, title="A fresh model of the design with these settings"),
                ],
                className="settings-row",
            ),
            dcc.ConfirmDialog(id=ids.DATASET_CONFIRM),
        ],
        className="training-bar",
    )


def design_sidebar() -> html.Div:
    """Generators, samples and files."""
    generators = [{"label": g.title, "value": name} for name, g in GENERATORS.items()]
    return html.Div(
        [
            card(
                "Design",
                field("Generator", select(ids.GENERATOR, generators, "watts_strogatz")),
                html.Div(id=ids.GEN_PARAMS, className="grid-2"),
                html.Div(
                    [
                        field("Seed", number_input(ids.GEN_SEED, 0, step=1, minimum=0), hint="empty: new each time"),
                        button("Generate", ids.GENERATE, kind="primary"),
                    ],
                    className="generate-row",
                ),
            ),
            card(
                "Samples",
                html.Div(
                    [select(ids.SAMPLE, [], None), button("Open", ids.LOAD_SAMPLE)],
                    className="sample-row",
                ),
            ),
            card(
                "Files",
                dcc.Upload(
                    html.Div(
                        [
                            "Drop a file or ",
                            html.A("choose one"),
                            html.Div(".graphml · .json · .pt · .wbsession", className="field-hint"),
                        ]
                    ),
                    id=ids.UPLOAD,
                    className="upload",
                    multiple=False,
                    max_size=-1,
                ),
                html.Div(
                    [
                        button("Save session", ids.SAVE_SESSION, kind="small", title="Design, model, masks and curves"),
                        button("Share link", ids.SHARE, kind="small", title="A link to this design and settings"),
                    ],
                    className="btn-row",
                ),
                html.Div(
                    [
                        dcc.Input(id=ids.SHARE_LINK, readOnly=True, className="input share-link"),
                        html.Div("Copied to the clipboard.", className="field-hint"),
                    ],
                    id=ids.SHARE_BOX,
                    className="hidden",
                ),
            ),
        ],
        className="sidebar",
    )


def canvas_area() -> html.Div:
    """The graph canvas with its toolbar, legend, hints and the tapped vertex's card."""
    toolbar = html.Div(
        [
            button("+ Vertex", ids.ADD_VERTEX, kind="small", title="Add a vertex"),
            button("Delete", ids.DELETE, kind="small", title="Delete the selection (Del)"),
            button("Undo", ids.UNDO, kind="small", title="Undo (Ctrl+Z)"),
            button("Redo", ids.REDO, kind="small", title="Redo (Ctrl+Shift+Z)"),
            button("Fit", ids.FIT, kind="small", title="Fit the graph in view"),
            button("Clear", ids.CLEAR, kind="small quiet", title="Remove every vertex"),
            html.Span(className="toolbar-gap"),
            button("PNG", ids.EXPORT_PNG, kind="small", title="Save the drawing as PNG"),
            button("SVG", ids.EXPORT_SVG, kind="small", title="Save the drawing as SVG"),
            html.Button("Cancel", id=ids.CANCEL, n_clicks=0, className="hidden"),
        ],
        className="canvas-toolbar",
    )
    legend = html.Div(
        [
            html.Span("■ input", className="legend l-input"),
            html.Span("■ output", className="legend l-output"),
            html.Span("— w > 0", className="legend l-pos"),
            html.Span("— w < 0", className="legend l-neg"),
            html.Span("┄ pruned", className="legend l-removed"),
            html.Span("● dead", className="legend l-dead"),
        ],
        className="canvas-legend",
        title="Edge width grows with |w|. Dead: no kept path from an input or to an output.",
    )
    return html.Div(
        [
            toolbar,
            html.Div(
                [html.Div(id=ids.DESIGN_ALERT), html.Div(id=ids.TRAIN_ALERT), html.Div(id=ids.PRUNE_ALERT)],
                className="canvas-alert",
                role="status",
            ),
            cyto.Cytoscape(
                id=ids.CANVAS,
                elements=[],
                layout=PRESET,
                stylesheet=canvas_stylesheet(),
                style={"width": "100%", "height": "100%"},
                contextMenu=CONTEXT_MENU,
                boxSelectionEnabled=True,
                autoRefreshLayout=False,
                minZoom=0.02,
                maxZoom=4,
            ),
            html.Div(
                [
                    html.Img(id=ids.OVERVIEW, alt="picture of the design", className="overview-img"),
                    html.Div(
                        [html.Span(id=ids.OVERVIEW_TEXT), button("Edit in the canvas", ids.OPEN_CANVAS, kind="small")],
                        className="overview-bar",
                    ),
                ],
                id=ids.OVERVIEW_BOX,
                className="overview-box",
                style={"visibility": "hidden"},
            ),
            html.Div(id=ids.VERTEX_CARD, className="vertex-card hidden"),
            html.Div([html.Div(id=ids.DESIGN_HINT, className="hint"), legend], className="canvas-foot"),
            dcc.Store(id=ids.CANVAS_KEY),
        ],
        className="canvas-box",
    )


def right_column(settings: Settings) -> html.Div:
    """Training curves, the pruning card, and one detail plot at a time."""
    prune = card(
        "Prune",
        html.Div(
            [
                dcc.RadioItems(
                    [{"label": "% of weights", "value": "percent"}, {"label": "|w| threshold", "value": "threshold"}],
                    "percent",
                    id=ids.PRUNE_MODE,
                    inline=True,
                    className="radio seg",
                ),
                dcc.RadioItems(
                    [{"label": "global", "value": "global"}, {"label": "per layer", "value": "layer"}],
                    "global",
                    id=ids.PRUNE_SCOPE,
                    inline=True,
                    className="radio seg",
                ),
            ],
            className="prune-modes",
        ),
        html.Div(
            dcc.Slider(0, 100, value=0, id=ids.PRUNE_SLIDER, updatemode="drag", marks=None, allow_direct_input=False),
            className="slider-box",
        ),
        html.Div(id=ids.PRUNE_VALUE, className="prune-value"),
        html.Div(id=ids.PRUNE_SUMMARY, className="prune-summary"),
        html.Div(
            [
                button(
                    "Apply", ids.PRUNE_APPLY, kind="primary small", title="Write the previewed masks into the model"
                ),
                button("Fine-tune", ids.PRUNE_FINETUNE, kind="small", title="Apply, then train on with the masks held"),
                number_input(ids.PRUNE_FT_EPOCHS, 5, step=1, minimum=1),
                html.Span("epochs", className="field-hint inline"),
                button("Reset masks", ids.PRUNE_RESET, kind="small quiet", title="Every designed connection on again"),
            ],
            className="btn-row prune-actions",
        ),
        className="prune-card",
    )
    details = dcc.Tabs(
        id=ids.DETAIL_TABS,
        value="output",
        className="detail-tabs",
        children=[
            dcc.Tab(
                plot(ids.BOUNDARY_FIG, empty_figure("The model's output appears here")),
                label="Output",
                value="output",
                className="dtab",
                selected_className="dtab--on",
            ),
            dcc.Tab(
                plot(ids.DENSITY_FIG, density_figure([])),
                label="Connections",
                value="layers",
                className="dtab",
                selected_className="dtab--on",
            ),
            dcc.Tab(
                plot(ids.HIST_FIG, empty_figure("Weight magnitudes appear here", x_title="|weight|")),
                label="Weights",
                value="weights",
                className="dtab",
                selected_className="dtab--on",
            ),
        ],
    )
    return html.Div(
        [
            card(None, plot(ids.CURVES_FIG, curves_figure(epochs=settings.epochs)), className="curves-card"),
            prune,
            card(None, details, className="detail-card"),
            dcc.Interval(id=ids.POLL, interval=300, disabled=True, max_intervals=1),  # one tick per answered poll
            dcc.Store(id=ids.SEEN, data=0),
        ],
        className="right-column",
    )


def workbench_screen(settings: Settings) -> html.Div:
    """The main screen (see the module docstring)."""
    return html.Div(
        [
            training_bar(settings),
            html.Div([design_sidebar(), canvas_area(), right_column(settings)], className="workbench-grid"),
        ],
        className="screen screen-workbench",
        id="screen-workbench",
    )


def vertex_card(vertex, info: dict | None, graph=None) -> list:
    """The tapped vertex's card over the canvas: column, kept/designed degrees, strongest incoming weights."""
    from workbench.app.views.elements import display_label

    if info is None:
        return []
    name = display_label(vertex, graph)
    state = " · dead" if info["dead"] else ""
    rows = [
        html.Tr(
            [
                html.Td(display_label(u, graph)),
                html.Td("–" if w is None else f"{w:+.3f}"),
                html.Td("kept" if kept else "pruned", className="kept" if kept else "removed"),
            ]
        )
        for u, w, kept in info["incoming"][:6]
    ]
    more = len(info["incoming"]) - len(rows)
    return [
        html.H4(f"{name}{state}"),
        html.Div(
            f"column {info['column']} · in {info['in_kept']}/{info['in_degree']} · out {info['out_kept']}/"
            f"{info['out_degree']} kept",
            className="field-hint",
        ),
        html.Table(html.Tbody(rows), className="weights-table") if rows else None,
        html.Div(f"… and {more} more", className="field-hint") if more > 0 else None,
    ]
