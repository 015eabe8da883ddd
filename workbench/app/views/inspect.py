"""The Inspect screen: the design and the graph re-extracted from the model side by side, with the
counts of both, the tapped vertex's connections beside them, and the downloads."""

from __future__ import annotations

import dash_cytoscape as cyto
import numpy as np
from dash import dcc, html

from workbench.app import ids
from workbench.app.state.inspect import SESSION_MODEL, InspectView, conv_sample_options, incoming
from workbench.app.state.overlay import edge_codes
from workbench.app.views.elements import canvas_stylesheet, display_label, graph_to_elements
from workbench.app.views.widgets import button, field
from workbench.app.views.workbench import PRESET

__all__ = ["counts_table", "inspect_screen", "vertex_details", "view_elements"]


def view_elements(view: InspectView, *, which: str) -> list[dict]:
    """Cytoscape elements of the ``"design"`` or the ``"extracted"`` side of ``view``.

    Both sides draw every designed edge at the same place; the extracted side codes each edge by its
    weight when kept and as pruned when the model no longer has it, and marks dead vertices.
    """
    graph = view.design.subgraph([v for v in view.design.nodes if v in view.shown])
    edges = list(graph.edges)
    weights = np.array([view.weights.get(e, 0.0) for e in edges], dtype=np.float64)
    if which == "design":
        codes = edge_codes(np.ones(len(edges), bool), np.ones(len(edges), bool), weights)
        dead = None
    else:
        kept = np.array([view.extracted.has_edge(*e) for e in edges], dtype=bool)
        codes = edge_codes(np.ones(len(edges), bool), kept, weights)
        dead = "".join("1" if v in view.dead else "0" for v in graph.nodes)
    data = {
        e: {"weight": round(float(w), 4)} for e, w in zip(edges, weights.tolist(), strict=True) if e in view.weights
    }
    return graph_to_elements(graph, view.drawing, codes=codes, dead=dead, edge_data=data)


def counts_table(view: InspectView) -> html.Table:
    """Design and extracted counts, each row saying what it counts."""
    counts = view.counts()
    n_io = len(view.inputs) + len(view.outputs)
    rows = [
        (f"neurons ({len(view.inputs)} inputs and {len(view.outputs)} outputs included)", "vertices"),
        ("connections", "edges"),
        ("depth (columns, inputs and outputs included)" if n_io else "depth (columns)", "depth"),
        ("dead neurons", "dead"),
    ]
    head = html.Tr([html.Th("model graph"), html.Th("designed"), html.Th("kept")])
    body = [
        html.Tr([html.Td(label), html.Td(f"{counts['design'][k]:,}"), html.Td(f"{counts['extracted'][k]:,}")])
        for label, k in rows
    ]
    note = html.Caption(
        f"The header's design counts leave out the {n_io} input and output neurons, and their columns from the depth."
        if n_io
        else "",
        className="field-hint",
    )
    return html.Table([note, html.Thead(head), html.Tbody(body)], className="counts-grid")


def vertex_details(view: InspectView | None, vertex) -> html.Div:
    """Degrees before and after, and the incoming weights of one vertex."""
    if view is None or vertex not in view.design:
        return html.Div("Tap a vertex to see its connections here.", className="field-hint")
    rows = incoming(view, vertex)
    body = [
        html.Tr(
            [
                html.Td(display_label(u)),
                html.Td("–" if w is None else f"{w:+.4f}"),
                html.Td("kept" if kept else "pruned", className="kept" if kept else "removed"),
            ]
        )
        for u, w, kept in rows[:30]
    ]
    table = html.Table(
        [html.Thead(html.Tr([html.Th("from"), html.Th("weight"), html.Th("")])), html.Tbody(body)],
        className="weights-table",
    )
    more = html.Div(f"… and {len(rows) - 30} more", className="field-hint") if len(rows) > 30 else None
    state = " · dead" if vertex in view.dead else ""
    return html.Div(
        [
            html.H4(f"Vertex {display_label(vertex)}{state}"),
            html.Div(
                f"in-degree {view.design.in_degree(vertex)} → {view.extracted.in_degree(vertex)} · "
                f"out-degree {view.design.out_degree(vertex)} → {view.extracted.out_degree(vertex)}"
            ),
            table if rows else html.Div("No incoming connections: it is an input.", className="field-hint"),
            more,
        ]
    )


def _view(id_: str, title: str) -> html.Div:
    return html.Div(
        [
            html.H4(title),
            cyto.Cytoscape(
                id=id_,
                elements=[],
                layout=PRESET,
                stylesheet=canvas_stylesheet(),
                style={"width": "100%", "height": "100%"},
                minZoom=0.02,
                maxZoom=4,
                autoRefreshLayout=True,
            ),
        ],
        className="inspect-canvas",
    )


def inspect_screen() -> html.Div:
    """The Inspect screen."""
    toolbar = html.Div(
        [
            field(
                "Model",
                dcc.Dropdown(
                    conv_sample_options(), SESSION_MODEL, id=ids.INSPECT_MODEL, clearable=False, className="select wide"
                ),
            ),
            field(
                "Granularity",
                dcc.RadioItems(
                    ["neuron", "channel", "module"], "neuron", id=ids.GRANULARITY, inline=True, className="radio seg"
                ),
            ),
            dcc.Checklist([{"label": "inputs and outputs", "value": "io"}], ["io"], id=ids.SHOW_IO, className="radio"),
            button("Refresh", ids.INSPECT_REFRESH, kind="small"),
            html.Div(
                [
                    html.Span("Download:", className="field-label inline"),
                    button("design .graphml", ids.DL_DESIGN_GRAPHML, kind="small"),
                    button("design .json", ids.DL_DESIGN_JSON, kind="small"),
                    button("extracted .graphml", ids.DL_EXTRACTED_GRAPHML, kind="small"),
                    button("extracted .json", ids.DL_EXTRACTED_JSON, kind="small"),
                    button("model .pt", ids.DL_CHECKPOINT, kind="small"),
                    button("PNG", ids.EXPORT_INSPECT_PNG, kind="small", title="The extracted view as PNG"),
                    button("SVG", ids.EXPORT_INSPECT_SVG, kind="small", title="The extracted view as SVG"),
                ],
                className="btn-row downloads",
            ),
        ],
        className="toolbar",
    )
    return html.Div(
        [
            toolbar,
            html.Div(id=ids.INSPECT_ALERT),
            html.Div(id=ids.INSPECT_SOURCE, className="inspect-source"),
            html.Div(
                [
                    _view(ids.DESIGN_VIEW, "Design: every designed connection"),
                    _view(ids.EXTRACTED_VIEW, "Extracted from the model"),
                    html.Div(
                        [
                            html.Div(id=ids.INSPECT_COUNTS),
                            html.Div(vertex_details(None, None), id=ids.INSPECT_VERTEX),
                        ],
                        className="vertex-info",
                    ),
                ],
                className="inspect-row",
            ),
        ],
        className="screen screen-inspect hidden",
        id="screen-inspect",
    )
