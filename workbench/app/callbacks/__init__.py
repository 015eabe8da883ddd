"""The app's callbacks, one module per panel; :func:`register_callbacks` defines them all on one app."""

from __future__ import annotations

from workbench.app.callbacks import design, inspect, lottery, prune, train

__all__ = ["register_callbacks"]


def register_callbacks(app, store) -> None:
    """Define every callback on ``app`` with ``@app.callback`` (never module-level), reading sessions from ``store``."""
    design.register(app, store)
    train.register(app, store)
    prune.register(app, store)
    inspect.register(app, store)
    lottery.register(app, store)  # the "Find a ticket" panel
