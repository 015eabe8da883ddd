"""The browser workbench: a Dash app over the workbench library.

``create_app()`` builds the page and its callbacks; ``run_server()`` serves it.
All state of a browser tab lives in a :class:`~workbench.app.state.session.Session`
held by this process's :class:`~workbench.app.store.SessionStore` (idle ones
spill to disk under a byte budget; training runs in threads of this process),
so the app runs as a single server process: several worker processes would
each hold different sessions and a tab's requests would land on the wrong one.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from dash import Dash

if TYPE_CHECKING:
    from workbench.app.server import ServerConfig

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


def create_app(sample: str | None = None, *, config: ServerConfig | None = None) -> Dash:
    """The Dash app, with one session per browser tab.

    Args:
        sample: name of the sample model every new session opens on (default: ``config.sample``, else the
            default sample).
        config: how the server runs (:class:`~workbench.app.server.ServerConfig`). Without one, the
            defaults with sessions kept in a new temporary directory (for tests and notebooks; the command
            line always passes one). The app keeps it as ``app.workbench_config``, its session store as
            ``app.workbench_sessions`` and the training slots every session shares as ``app.workbench_slots``
            (a :class:`~workbench.jobs.SlotPool` of ``config.training_slots``).

    Raises:
        ValueError: ``sample`` is not one of :func:`workbench.samples.list_samples`.
    """
    from workbench.app.callbacks import register_callbacks
    from workbench.app.server import RequestJSON, ServerConfig
    from workbench.app.state.session import load_session
    from workbench.app.state.start import session_factory
    from workbench.app.state.workspace import DatasetCache
    from workbench.app.store import SessionStore
    from workbench.app.views.page import serve_layout
    from workbench.jobs import SlotPool
    from workbench.limits import DEFAULT_LIMITS

    config = ServerConfig(data_dir=Path(tempfile.mkdtemp(prefix="workbench-sessions-"))) if config is None else config
    sample = sample if sample is not None else config.sample
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
    app.server.json = RequestJSON(app.server)  # deeply nested JSON gets a 400, not a RecursionError
    datasets = DatasetCache()
    slots = SlotPool(config.training_slots)
    limits = config.limits if config.limits is not None else DEFAULT_LIMITS
    store = SessionStore(
        config.data_dir,
        new=session_factory(datasets, sample, slots=slots, limits=limits),
        load=lambda session_id, data: load_session(session_id, data, datasets, slots=slots, limits=limits),
        memory_budget=config.memory_budget,
    )
    app.layout = serve_layout
    app.workbench_sessions = store
    app.workbench_config = config
    app.workbench_slots = slots
    register_callbacks(app, store)
    threading.Thread(target=_warm_up, args=(datasets, ["moons"]), name="workbench-warm-up", daemon=True).start()
    return app


def run_server(config: ServerConfig | None = None, /, **changes) -> None:
    """Serve the app in this process with waitress until Ctrl+C or SIGTERM (single process: sessions live here).

    With ``config.debug`` it runs on Dash's development server in debug mode instead.

    Args:
        config: how to serve (default: :class:`~workbench.app.server.ServerConfig`'s defaults).
        changes: fields of ``config`` to change, e.g. ``run_server(port=9000, sample="skip_dag")``.

    Raises:
        SystemExit: an unknown sample, a bad setting or an address in use (the message says which).
    """
    from workbench.app.server import ServerConfig, make_server, tune_gc

    try:
        config = (ServerConfig() if config is None else config).replace(**changes)
        app = create_app(config.sample, config=config)
    except ValueError as err:
        raise SystemExit(f"workbench: {err}") from None
    logging.basicConfig(
        level=logging.INFO if config.access_log else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    url = f"http://{config.host}:{config.port}/"
    if config.debug:
        print(f"workbench: serving on {url} in debug mode (Ctrl+C to stop)", flush=True)
        app.run(host=config.host, port=config.port, debug=True, use_reloader=False, threaded=True)
        return
    tune_gc()  # this process is the server from now on (not done for servers in a test's thread)
    try:
        server = make_server(app, config)
    except OSError as err:
        raise SystemExit(f"workbench: cannot listen on {config.host}:{config.port}: {err}") from None
    print(
        f"workbench: serving on http://{config.host}:{server.effective_port}/ with {config.threads} threads and "
        f"{config.training_slots} training slots (Ctrl+C to stop)",
        flush=True,
    )
    _stop_on_sigterm()
    try:
        server.run()  # returns on Ctrl+C (waitress catches it and stops its threads)
    finally:
        server.close()
        close = getattr(app.workbench_sessions, "close", None)
        if close is not None:  # a store that keeps sessions on disk writes them out
            close()


def _stop_on_sigterm() -> None:
    """Let SIGTERM end :func:`run_server` like Ctrl+C (so sessions are written out), from the main thread."""
    import signal

    if threading.current_thread() is threading.main_thread():

        def interrupt(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupt)
