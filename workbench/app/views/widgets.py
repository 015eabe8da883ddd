"""Small building blocks every screen area uses: buttons, labelled fields, cards, plots, alerts."""

from __future__ import annotations

import itertools

from dash import dcc, html

from workbench.app.views.figures import PLOT_CONFIG

__all__ = ["alert", "button", "card", "field", "number_input", "plot", "select"]


def button(label: str, id_: str, *, kind: str = "", title: str = "", **props) -> html.Button:
    """A button; ``kind`` adds ``btn-primary``, ``btn-quiet`` or ``btn-small`` styling."""
    classes = " ".join(f"btn-{k}" for k in kind.split()) if kind else ""
    return html.Button(label, id=id_, n_clicks=0, className=f"btn {classes}".strip(), title=title or None, **props)


def field(label: str, control, *, hint: str = "", className: str = "") -> html.Div:
    """``control`` with a label above it and an optional grey hint below."""
    children = [html.Label(label, className="field-label"), control]
    if hint:
        children.append(html.Div(hint, className="field-hint"))
    return html.Div(children, className=f"field {className}".strip())


def number_input(id_, value, *, step="any", minimum=None, maximum=None, debounce: bool = True) -> dcc.Input:
    """A number box (``id_`` may be a dict id)."""
    return dcc.Input(
        id=id_, type="number", value=value, step=step, min=minimum, max=maximum, debounce=debounce, className="input"
    )


def select(id_: str, options, value, **props) -> dcc.Dropdown:
    """A compact dropdown that cannot be emptied."""
    return dcc.Dropdown(options, value, id=id_, clearable=False, searchable=False, className="select", **props)


def card(title: str | None, *children, className: str = "", **props) -> html.Div:
    """A white card with a small upper-case title."""
    head = [html.H3(title)] if title else []
    return html.Div([*head, *children], className=f"card {className}".strip(), **props)


def plot(id_: str, figure=None, *, className: str = "") -> dcc.Graph:
    """A plot (toolbar on hover only), optionally with a first figure."""
    extra = {} if figure is None else {"figure": figure}
    return dcc.Graph(id=id_, config=PLOT_CONFIG, className=f"fig {className}".strip(), **extra)


#: A new React key for every alert made: the browser draws each alert as a new element, so one that has
#: faded out (and been put away by assets/workbench.js) never hides or colours the next one in its place.
_alert_keys = itertools.count()


def alert(message, level: str = "error") -> html.Div:
    """A visible alert box; ``level`` is ``"error"``, ``"warning"``, ``"success"`` or ``"info"``.

    Success and info alerts fade out after a while (assets/workbench.css), then give up their space.
    """
    role = "alert" if level == "error" else "status"
    return html.Div(message, className=f"alert alert-{level}", role=role, key=f"alert-{next(_alert_keys)}")
