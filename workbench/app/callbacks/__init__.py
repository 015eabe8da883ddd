"""The app's callbacks, one module per screen area; :func:`register_callbacks` defines them all on one app.

Every server callback goes through :func:`~workbench.app.callbacks.edge.session_callback`
(session lookup, locking, errors as messages) and translates: it reads the
page's values, calls the state (:mod:`workbench.app.state`), and returns what
the views (:mod:`workbench.app.views`) draw.
"""

from __future__ import annotations

from workbench.app.callbacks import design, inspect, page, prune, ticket, train

__all__ = ["register_callbacks"]


def register_callbacks(app, store) -> None:
    """Define every callback on ``app`` with ``@app.callback`` (never module-level), reading sessions from ``store``."""
    page.register(app, store)
    design.register(app, store)
    train.register(app, store)
    prune.register(app, store)
    inspect.register(app, store)
    ticket.register(app, store)
