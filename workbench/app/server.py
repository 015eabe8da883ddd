"""Serve the app from a thread of this process, for browser tests, benchmarks and screenshots.

:func:`serve_in_thread` runs werkzeug's threaded server in a daemon thread, so
the caller keeps the app (and its sessions) in reach while a headless browser
drives it. :data:`CHROMIUM_ARGS` are the flags those callers launch Chromium with.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dash import Dash
from werkzeug.serving import make_server

__all__ = ["CHROMIUM_ARGS", "serve_in_thread"]

#: Headless Chromium flags for a shared machine without a GPU or a sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def serve_in_thread(app: Dash, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` from a daemon thread for the duration of the ``with`` block.

    Args:
        app: the Dash app (see :func:`~workbench.app.create_app`).
        host: the address to listen on.
        port: the port; 0 picks a free one.

    Returns:
        A context manager that yields the app's URL, e.g. ``"http://127.0.0.1:41234/"``,
        and shuts the server down and closes its socket on leaving.

    Example:
        >>> with serve_in_thread(create_app()) as url:
        ...     page.goto(url)
    """
    server = make_server(host, port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="workbench-server", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
