"""The callbacks' edge: one decorator for session lookup, locking, and turning errors into messages.

Every server callback of the app is a function ``fn(session, **values) -> dict``
registered with :func:`session_callback`: it receives the tab's
:class:`~workbench.app.state.session.Session` (looked up in the store and
locked for the call) and the callback's inputs and states by name, and returns
the outputs it changes by name (the rest stay as they are). A
:class:`~workbench.errors.WorkbenchError` becomes a message in the callback's
alert output; any other exception is logged with its traceback and shown as an
unexpected error, so no input, however malformed, turns into an HTTP 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dash import Input, Output, State, no_update

from workbench.app import ids
from workbench.app.views.widgets import alert
from workbench.errors import WorkbenchError

__all__ = ["error_message", "export_image", "session_callback"]

log = logging.getLogger("workbench.app")


def error_message(err: BaseException) -> str:
    """The message a person sees for a failure caught at the callback edge."""
    if isinstance(err, WorkbenchError):
        return str(err)
    return f"Unexpected {type(err).__name__}: {err}. The design and the model are kept."


def session_callback(
    app,
    store,
    *,
    output: dict[str, Output],
    inputs: dict,
    state: dict | None = None,
    alert_to: str | None = None,
    **options,
) -> Callable:
    """Register ``fn(session, **values) -> dict`` as a Dash callback of ``app`` (see the module docstring).

    Args:
        app: the Dash app.
        store: the session store (:class:`~workbench.app.store.SessionStore`; ``store.use(session_id)``
            keeps the session in memory while the callback runs).
        output, inputs, state: Dash dependencies by name, as in Dash's flexible callback signatures.
        alert_to: the name of the output an error message goes to (errors are only logged without one).
        options: passed on to ``app.callback`` (``prevent_initial_call`` and the like).

    Example:
        >>> @session_callback(app, store, output={"text": Output("a", "children")},
        ...                   inputs={"n": Input("b", "n_clicks")}, alert_to="text")
        ... def show(session, n):
        ...     return {"text": f"{session.design.graph.number_of_nodes()} vertices"}
    """
    state = {**(state or {}), "_session_id": State(ids.SESSION, "data")}

    def register(fn: Callable) -> Callable:
        def callback(_session_id, **values):
            outputs = dict.fromkeys(output, no_update)
            try:
                with store.use(_session_id) as (session, _notice), session.lock:
                    result = fn(session, **values)
            except WorkbenchError as err:
                result = {alert_to: alert(error_message(err), "error")} if alert_to else {}
            except Exception as err:  # the edge: every failure becomes a message, never an HTTP 500
                log.exception("callback %s failed", fn.__name__)
                result = {alert_to: alert(error_message(err), "error")} if alert_to else {}
            outputs.update((k, v) for k, v in (result or {}).items() if k in outputs)
            return outputs

        callback.__name__ = fn.__name__
        app.callback(output=output, inputs=inputs, state=state, **options)(callback)
        return fn

    return register


def export_image(app, canvas: str, png_button: str, svg_button: str, filename: str) -> None:
    """Let two buttons download Cytoscape view ``canvas`` as PNG or SVG, in the browser (no server call)."""
    app.clientside_callback(
        "function (png, svg) { return window.workbench.exportImage(" + repr(filename).replace("'", '"') + "); }",
        Output(canvas, "generateImage", allow_duplicate=True),
        Input(png_button, "n_clicks"),
        Input(svg_button, "n_clicks"),
        prevent_initial_call=True,
    )
