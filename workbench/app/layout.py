"""The page: a header with live counts, and one tab per step (design, build & train, prune, inspect, ticket).

``serve_layout`` is a function so every page load gets a fresh session id in
its ``dcc.Store``: two tabs (or two browser contexts) never share a session.
The store keeps the id in the tab's ``sessionStorage``, and the renderer's
``layout_post`` hook (``workbench.keepSession`` in ``assets/workbench.js``)
puts a saved id back into the layout before the first callback, so reloading
the tab reattaches to its server-side session (graph, model, curves). A second
id, ``ids.PAGE``, is new on every load (Cytoscape's tap time stamps restart
with the page).
The panels themselves are built in :mod:`workbench.app.panels`.
"""

from __future__ import annotations

from dash import dcc, html

from workbench.app import ids
from workbench.app.panels import count, design_panel, inspect_panel, prune_panel, train_panel
from workbench.app.session import SessionStore

__all__ = ["serve_layout"]


def header() -> html.Header:
    return html.Header(
        [
            html.Div(
                [
                    html.Span("◆", className="logo"),
                    html.Span("workbench", className="brand"),
                    html.Span("see and shape the structure of neural networks", className="tagline"),
                ],
                className="brand-box",
            ),
            html.Div(
                [
                    count("vertices", ids.COUNT_VERTICES),
                    count("edges", ids.COUNT_EDGES),
                    count("depth", ids.COUNT_DEPTH),
                    count("parameters", ids.COUNT_PARAMS),
                    html.Span("idle", id=ids.STATUS, className="status status-idle"),
                ],
                className="counts",
            ),
        ],
        className="header",
    )


def ticket_panel() -> html.Div:
    """The "Find a ticket" (lottery) panel, built by :mod:`workbench.app.lottery_view`."""
    from workbench.app.lottery_view import ticket_panel as lottery_panel

    return lottery_panel()


def serve_layout() -> html.Div:
    """The whole page, with a new session id (called by Dash on every page load)."""
    return html.Div(
        [
            dcc.Store(id=ids.SESSION, data=SessionStore.new_id(), storage_type="session"),
            dcc.Store(id=ids.PAGE, data=SessionStore.new_id(), storage_type="memory"),
            dcc.Store(id=ids.DESIGN_VERSION, data=0),
            dcc.Store(id=ids.MODEL_VERSION, data=0),
            dcc.Store(id=ids.PREVIEW_VERSION, data=0),
            header(),
            dcc.Tabs(
                id=ids.TABS,
                value="design",
                className="tabs",
                children=[
                    dcc.Tab(design_panel(), label="1 · Design", value="design"),
                    dcc.Tab(train_panel(), label="2 · Build & train", value="train"),
                    dcc.Tab(prune_panel(), label="3 · Prune", value="prune"),
                    dcc.Tab(inspect_panel(), label="4 · Inspect", value="inspect"),
                    dcc.Tab(ticket_panel(), label="5 · Find a ticket", value="ticket", id=ids.TICKET_TAB),
                ],
            ),
        ],
        className="app",
    )
