"""The browser workbench (Dash). Placeholder until the app lands."""

from __future__ import annotations

from dash import Dash, html


def create_app() -> Dash:
    app = Dash(__name__)
    app.layout = html.Div([html.H1("workbench"), html.P("The app is being built.")])
    return app


def run_server(host: str = "127.0.0.1", port: int = 8050, debug: bool = False, sample: str | None = None) -> None:
    create_app().run(host=host, port=port, debug=debug)
