"""The browser workbench: a Dash app over the workbench library.

``create_app()`` builds the page and its callbacks; ``run_server()`` serves it.
All state of a browser tab lives in a :class:`~workbench.app.session.Session`
in this process's memory (training runs in a thread of this process), so the
app must run as a single server process: several worker processes would each
hold different sessions and a tab's requests would land on the wrong one.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from dash import Dash

__all__ = ["assets_folder", "create_app", "run_server"]

log = logging.getLogger(__name__)

#: Runs in the browser on each served layout before any callback: a reloaded tab takes back its
#: session id from sessionStorage (``workbench.keepSession`` in assets/workbench.js).
LAYOUT_POST_HOOK = "function (layout) { if (window.workbench) { window.workbench.keepSession(layout); } }"


def assets_folder() -> str:
    """The ``assets/`` directory: the repository's when run from a checkout, else the installed copy."""
    here = Path(__file__).resolve().parent
    repo = here.parents[1] / "assets"
    if (repo / "workbench.css").is_file():
        return str(repo)
    return str(here / "assets")


def _warm_up(datasets, names) -> None:
    """Load the data sets a first page needs and import what the first optimizer pulls in (seconds each)."""
    import torch

    for name in names:
        datasets.get(name)
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])


def create_app(sample: str | None = None, *, session_limit: int = 32) -> Dash:
    """The Dash app, with one session per browser tab.

    Args:
        sample: name of the sample model every new session opens on (default: the first sample).
        session_limit: how many tabs are kept in memory (the least recently used is dropped).

    Raises:
        ValueError: ``sample`` is not one of :func:`workbench.samples.list_samples`.
    """
    from workbench.app.callbacks import register_callbacks
    from workbench.app.state.sessions import SessionStore
    from workbench.app.state.start import session_factory
    from workbench.app.state.workspace import DatasetCache
    from workbench.app.views.page import serve_layout

    if sample is not None:
        from workbench.samples import list_samples

        names = list(list_samples(kind="graph"))
        if sample not in names:
            raise ValueError(f"unknown sample {sample!r}; choose one of {names}")
    app = Dash(
        __name__,
        title="workbench",
        assets_folder=assets_folder(),
        suppress_callback_exceptions=False,
        update_title=None,
        hooks={"layout_post": LAYOUT_POST_HOOK},
    )
    datasets = DatasetCache()
    store = SessionStore(session_factory(datasets, sample), limit=session_limit)
    app.layout = serve_layout
    register_callbacks(app, store)
    app.workbench_sessions = store  # for tests and benchmarks
    threading.Thread(target=_warm_up, args=(datasets, ["moons"]), name="workbench-warm-up", daemon=True).start()
    return app


def run_server(host: str = "127.0.0.1", port: int = 8050, debug: bool = False, sample: str | None = None) -> None:
    """Serve the app in this process (single process: sessions and training live in memory).

    Raises:
        SystemExit: ``sample`` is unknown (the message lists the samples).
    """
    try:
        app = create_app(sample)
    except ValueError as err:
        raise SystemExit(f"workbench: {err}") from None
    print(f"workbench: serving on http://{host}:{port}/ (Ctrl+C to stop)", flush=True)
    app.run(host=host, port=port, debug=debug, use_reloader=False, threaded=True)
