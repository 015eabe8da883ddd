"""Small pieces every panel's callbacks share: alerts and the error edge."""

from __future__ import annotations

from dash import html

from workbench.errors import WorkbenchError

__all__ = ["alert", "error_message"]


def alert(message: str, kind: str = "error") -> html.Div:
    """A visible alert box; ``kind`` is ``"error"``, ``"warning"``, ``"success"`` or ``"info"``."""
    return html.Div(message, className=f"alert alert-{kind}", role="alert" if kind == "error" else "status")


def error_message(err: BaseException) -> str:
    """The message a person sees for a failure caught at the callback edge."""
    if isinstance(err, WorkbenchError):
        return str(err)
    return f"Unexpected {type(err).__name__}: {err}"
