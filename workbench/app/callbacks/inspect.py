"""The Inspect screen: the graph re-extracted from the model beside the design, vertex details, downloads."""

from __future__ import annotations

from dash import Input, Output, ctx, dcc

from workbench.app import ids
from workbench.app.callbacks.design import card_outputs
from workbench.app.callbacks.edge import export_image, session_callback
from workbench.app.state.inspect import SESSION_MODEL, sample_view, session_inspect
from workbench.app.views.elements import inspect_stylesheet, is_large, node_id, parse_node_id
from workbench.app.views.inspect import counts_table, vertex_details, view_elements
from workbench.graph import edge_count

__all__ = ["DOWNLOADS", "register"]

#: Download buttons and what each asks the session for.
DOWNLOADS = {
    ids.DL_DESIGN_GRAPHML: "design.graphml",
    ids.DL_DESIGN_JSON: "design.json",
    ids.DL_EXTRACTED_GRAPHML: "extracted.graphml",
    ids.DL_EXTRACTED_JSON: "extracted.json",
    ids.DL_CHECKPOINT: "model.pt",
}


def register(app, store) -> None:
    """Define the Inspect screen's callbacks on ``app``."""

    @session_callback(
        app,
        store,
        output={
            "design": Output(ids.DESIGN_VIEW, "elements"),
            "design_style": Output(ids.DESIGN_VIEW, "stylesheet"),
            "extracted": Output(ids.EXTRACTED_VIEW, "elements"),
            "extracted_style": Output(ids.EXTRACTED_VIEW, "stylesheet"),
            "counts": Output(ids.INSPECT_COUNTS, "children"),
            "source": Output(ids.INSPECT_SOURCE, "children"),
            "alert": Output(ids.INSPECT_ALERT, "children"),
        },
        inputs={
            "view": Input(ids.VIEW, "value"),
            "model_version": Input(ids.MODEL_VERSION, "data"),
            "masks": Input(ids.MASKS, "data"),
            "granularity": Input(ids.GRANULARITY, "value"),
            "show_io": Input(ids.SHOW_IO, "value"),
            "refresh": Input(ids.INSPECT_REFRESH, "n_clicks"),
            "which": Input(ids.INSPECT_MODEL, "value"),
        },
        alert_to="alert",
    )
    def render(session, *, view, model_version, masks, granularity, show_io, refresh, which):
        if view != "inspect":
            return {}
        granularity = granularity if granularity in ("neuron", "channel", "module") else "neuron"
        io = "io" in (show_io if isinstance(show_io, list) else [])
        if isinstance(which, str) and which != SESSION_MODEL:
            shown = sample_view(which, granularity=granularity, show_io=io)
        else:
            shown = session_inspect(session, granularity=granularity, show_io=io)
        if shown is None:
            return {
                "design": [],
                "extracted": [],
                "counts": None,
                "source": "Build or load a model first.",
                "alert": None,
            }
        inspected, source = shown
        session.inspect = inspected
        large = is_large(len(inspected.shown), edge_count(inspected.design))
        style = inspect_stylesheet(large=large)
        return {
            "design": view_elements(inspected, which="design"),
            "design_style": style,
            "extracted": view_elements(inspected, which="extracted"),
            "extracted_style": style,
            "counts": counts_table(inspected),
            "source": source,
            "alert": None,
        }

    @session_callback(
        app,
        store,
        output={
            "details": Output(ids.INSPECT_VERTEX, "children"),
            "selected": Output(ids.SELECTED, "data", allow_duplicate=True),
            "card": Output(ids.VERTEX_CARD, "children", allow_duplicate=True),
            "card_class": Output(ids.VERTEX_CARD, "className", allow_duplicate=True),
        },
        inputs={"extracted": Input(ids.EXTRACTED_VIEW, "tapNodeData"), "design": Input(ids.DESIGN_VIEW, "tapNodeData")},
        prevent_initial_call=True,
    )
    def vertex(session, *, extracted, design):
        data = design if ctx.triggered_id == ids.DESIGN_VIEW else extracted
        if not isinstance(data, dict):
            return {}
        label = parse_node_id(data.get("id"))
        session.selected = label
        return {"details": vertex_details(session.inspect, label), "selected": node_id(label), **card_outputs(session)}

    @session_callback(
        app,
        store,
        output={
            "file": Output(ids.DOWNLOAD, "data"),
            "alert": Output(ids.INSPECT_ALERT, "children", allow_duplicate=True),
        },
        inputs={"clicks": [Input(button, "n_clicks") for button in DOWNLOADS]},
        alert_to="alert",
        prevent_initial_call=True,
    )
    def download(session, *, clicks):
        what = DOWNLOADS.get(ctx.triggered_id)
        if what is None or not any(clicks or ()):
            return {}
        name, data = session.download(what)
        return {"file": dcc.send_bytes(data, name), "alert": None}

    export_image(app, ids.EXTRACTED_VIEW, ids.EXPORT_INSPECT_PNG, ids.EXPORT_INSPECT_SVG, "extracted")
