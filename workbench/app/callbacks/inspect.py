"""Inspect panel: the graph re-extracted from the (pruned or previewed) model beside the design, and files."""

from __future__ import annotations

import torch
from dash import Input, Output, State, ctx, dcc, html, no_update

from workbench.app import ids
from workbench.app.callbacks.common import alert, error_message
from workbench.app.elements import LARGE_GRAPH, display_label, inspect_stylesheet, parse_node_id
from workbench.app.inspect_view import SESSION_MODEL, incoming, inspect_view, sample_view, view_elements
from workbench.errors import WorkbenchError

__all__ = ["counts_table", "register", "vertex_details"]


def counts_table(counts: dict) -> html.Table:
    rows = [("vertices", "vertices"), ("edges", "edges"), ("depth", "depth"), ("dead vertices", "dead")]
    head = html.Tr([html.Th(""), html.Th("design"), html.Th("extracted")])
    body = [
        html.Tr([html.Td(label), html.Td(f"{counts['design'][k]:,}"), html.Td(f"{counts['extracted'][k]:,}")])
        for label, k in rows
    ]
    return html.Table([html.Thead(head), html.Tbody(body)], className="counts-grid")


def vertex_details(view, vertex) -> html.Div:
    """Degrees before/after and incoming weights of one vertex."""
    if vertex not in view.design:
        return html.Div("Tap a vertex of the extracted graph to see its connections.", className="field-hint")
    rows = incoming(view, vertex)
    body = [
        html.Tr(
            [
                html.Td(display_label(u)),
                html.Td("–" if w is None else f"{w:+.4f}"),
                html.Td("kept" if kept else "removed", className="kept" if kept else "removed"),
            ]
        )
        for u, w, kept in rows[:30]
    ]
    head = html.Thead(html.Tr([html.Th("from"), html.Th("weight"), html.Th("")]))
    table = html.Table([head, html.Tbody(body)], className="weights-table")
    more = html.Div(f"… and {len(rows) - 30} more", className="field-hint") if len(rows) > 30 else None
    state = " · dead" if vertex in view.dead else ""
    return html.Div(
        [
            html.H4(f"Vertex {display_label(vertex)}{state}"),
            html.Div(
                f"in-degree {view.design.in_degree(vertex)} → {view.extracted.in_degree(vertex)} · "
                f"out-degree {view.design.out_degree(vertex)} → {view.extracted.out_degree(vertex)}"
            ),
            table if rows else html.Div("No incoming connections (it reads the input).", className="field-hint"),
            more,
        ]
    )


def session_view(session, granularity: str, show_io: bool):
    """``(view, source line)`` of the session's model (with the previewed masks), or None without a model."""
    ws = session.workspace
    model, design_model = ws.view_model(), ws.design_model()
    if model is None:
        return None
    example = torch.zeros(1, ws.dataset.n_features)
    with ws.weights_lock():
        view = inspect_view(model, design_model, example, granularity=granularity, show_io=show_io)
    previewed = ws.preview is not None and not ws.preview_applied()
    return view, "Showing the previewed masks (not applied yet)." if previewed else "Showing the model's masks."


def register(app, store) -> None:
    @app.callback(
        Output(ids.DESIGN_VIEW, "elements"),
        Output(ids.DESIGN_VIEW, "stylesheet"),
        Output(ids.EXTRACTED_VIEW, "elements"),
        Output(ids.EXTRACTED_VIEW, "stylesheet"),
        Output(ids.INSPECT_COUNTS, "children"),
        Output(ids.INSPECT_SOURCE, "children"),
        Output(ids.INSPECT_ALERT, "children"),
        Input(ids.TABS, "value"),
        Input(ids.MODEL_VERSION, "data"),
        Input(ids.PREVIEW_VERSION, "data"),
        Input(ids.GRANULARITY, "value"),
        Input(ids.SHOW_IO, "value"),
        Input(ids.INSPECT_REFRESH, "n_clicks"),
        Input(ids.INSPECT_MODEL, "value"),
        State(ids.SESSION, "data"),
    )
    def render(tab, _mv, _pv, granularity, show_io, _refresh, which, sid):
        if tab != "inspect":
            return (no_update,) * 7
        session = store.get(sid)
        io = "io" in (show_io or [])
        with session.lock:
            try:
                if which and which != SESSION_MODEL:
                    shown = sample_view(which, granularity=granularity, show_io=io)
                else:
                    shown = session_view(session, granularity, io)
                if shown is None:
                    return [], no_update, [], no_update, None, "Build or load a model first.", None
                view, source = shown
                session.inspect = view
            except WorkbenchError as err:
                return no_update, no_update, no_update, no_update, no_update, no_update, alert(error_message(err))
            large = len(view.shown) + view.design.number_of_edges() > LARGE_GRAPH
            return (
                view_elements(view, which="design"),
                inspect_stylesheet(large=large),
                view_elements(view, which="extracted"),
                inspect_stylesheet(large=large),
                counts_table(view.counts()),
                source,
                None,
            )

    @app.callback(
        Output(ids.INSPECT_VERTEX, "children"),
        Input(ids.EXTRACTED_VIEW, "tapNodeData"),
        Input(ids.DESIGN_VIEW, "tapNodeData"),
        State(ids.SESSION, "data"),
    )
    def vertex(tapped, tapped_design, sid):
        session = store.get(sid)
        view = getattr(session, "inspect", None)
        data = tapped_design if ctx.triggered_id == ids.DESIGN_VIEW else tapped
        if view is None or not data:
            return html.Div("Tap a vertex to see its degrees and incoming weights.", className="field-hint")
        return vertex_details(view, parse_node_id(data["id"]))

    @app.callback(
        Output(ids.DOWNLOAD, "data"),
        Output(ids.INSPECT_ALERT, "children", allow_duplicate=True),
        Input(ids.DL_DESIGN_GRAPHML, "n_clicks"),
        Input(ids.DL_DESIGN_JSON, "n_clicks"),
        Input(ids.DL_EXTRACTED_GRAPHML, "n_clicks"),
        Input(ids.DL_EXTRACTED_JSON, "n_clicks"),
        Input(ids.DL_CHECKPOINT, "n_clicks"),
        State(ids.SESSION, "data"),
        prevent_initial_call=True,
    )
    def download(*args):
        session = store.get(args[-1])
        trigger = ctx.triggered_id
        with session.lock:
            try:
                name, data = session.download(trigger)
            except WorkbenchError as err:
                return no_update, alert(error_message(err))
        return dcc.send_bytes(data, name), None
