"""The page: a header with the screen switch, live counts and the run's status, and the three screens.

``serve_layout`` is a function so every page load gets a fresh session id in
its ``dcc.Store``: two tabs (or two browser contexts) never share a session.
The store keeps the id in the tab's ``sessionStorage``, and the renderer's
``layout_post`` hook (``workbench.keepSession`` in ``assets/workbench.js``)
puts a saved id back into the layout before the first callback, so reloading
the tab reattaches to its server-side session. ``ids.PAGE`` is new on every
load (Cytoscape's tap time stamps restart with the page).

All three screens stay mounted; the switch only shows one (so the canvas keeps
its zoom and the plots their data).
"""

from __future__ import annotations

import uuid

from dash import dcc, html

from workbench.app import ids
from workbench.app.state.settings import Settings
from workbench.app.views.inspect import inspect_screen
from workbench.app.views.ticket import ticket_screen
from workbench.app.views.workbench import workbench_screen

__all__ = ["SCREENS", "header", "serve_layout"]

SCREENS = {"workbench": "Workbench", "inspect": "Inspect", "ticket": "Find a ticket"}


def header() -> html.Header:
    def count(label: str, id_: str) -> html.Div:
        return html.Div(
            [html.Span(label, className="count-label"), html.Span("–", id=id_, className="count-value")],
            className="count",
        )

    return html.Header(
        [
            html.Div(
                [html.Span("◆", className="logo"), html.Span("workbench", className="brand")], className="brand-box"
            ),
            dcc.RadioItems(
                [{"label": title, "value": name} for name, title in SCREENS.items()],
                "workbench",
                id=ids.VIEW,
                inline=True,
                className="screen-switch",
            ),
            html.Div(
                [
                    count("design", ids.COUNT_DESIGN),
                    count("model · inputs and outputs included", ids.COUNT_MODEL),
                    html.Span("idle", id=ids.STATUS, className="status status-idle"),
                ],
                className="counts",
            ),
        ],
        className="header",
    )


def serve_layout() -> html.Div:
    """The whole page, with a new session id (called by Dash on every page load)."""
    settings = Settings()
    return html.Div(
        [
            dcc.Store(id=ids.SESSION, data=uuid.uuid4().hex, storage_type="session"),
            dcc.Store(id=ids.PAGE, data=uuid.uuid4().hex, storage_type="memory"),
            dcc.Store(id=ids.DESIGN_VERSION, data=0),
            dcc.Store(id=ids.MODEL_VERSION, data=0),
            dcc.Store(id=ids.MASKS),
            dcc.Store(id=ids.MASKS_APPLIED),
            dcc.Store(id=ids.SELECTED),
            dcc.Store(id=ids.SELECTED_MARKED),
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Download(id=ids.DOWNLOAD),
            header(),
            html.Div(id=ids.NOTICE, className="notice"),
            html.Main([workbench_screen(settings), inspect_screen(), ticket_screen()], className="screens"),
        ],
        className="app",
    )
