"""Serving the app: waitress for a class (:func:`make_server`), or from a thread for tests (:func:`serve_in_thread`).

The server is one process with a pool of ``threads`` request threads
(waitress), because every tab's session and training thread live in this
process's memory. :class:`ServerConfig` holds everything a server is started
with (the command line fills it). Per-request access logging is off unless
``access_log`` is set. :func:`serve_in_thread` runs the same waitress server
in a daemon thread, so the caller keeps the app (and its sessions) in reach
while a headless browser or a load test drives it. :data:`CHROMIUM_ARGS` are
the flags those callers launch Chromium with.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

if TYPE_CHECKING:
    from dash import Dash

__all__ = [
    "CHROMIUM_ARGS",
    "AccessLog",
    "Paced",
    "RequestJSON",
    "ServerConfig",
    "default_data_dir",
    "make_server",
    "serve_in_thread",
    "tune_gc",
]

MiB = 2**20
GiB = 2**30

#: Headless Chromium flags for a shared machine without a GPU or a sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def default_data_dir() -> Path:
    """Where sessions are kept on disk: ``$XDG_DATA_HOME/workbench``, else ``~/.local/share/workbench``.

    The XDG data directory, not the working directory, so the installed ``workbench`` command finds
    its sessions again wherever it is started from.
    """
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "workbench"


def _cores() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class ServerConfig:
    """How a server runs.

    Attributes:
        host: the interface to listen on (127.0.0.1: this machine only).
        port: the port (0 picks a free one).
        threads: request threads; a request waits for a free one.
        data_dir: where idle sessions are kept on disk (see :class:`~workbench.app.store.SessionStore`).
        memory_budget: bytes of sessions kept in memory before idle ones go to disk.
        training_slots: training jobs that run at once; the others queue (default: one per core).
        access_log: log one line per request (logger ``workbench.access``).
        connection_limit: open connections at once (each browser tab keeps a few).
        max_request_bytes: the largest request body; larger ones get HTTP 413 before the app reads them
            (default: room for the largest upload the limits allow, base64-encoded).
        limits: the size limits of requests (a :class:`workbench.limits.Limits`), or None for the defaults.
        sample: the sample model new sessions open on (None: the first).
        sweeps_dir: the folder whose lottery sweeps (``workbench lottery --seeds ... --out``) the ticket
            screen can open; nothing outside it is read.
        debug: Dash's debug mode, on Dash's development server instead of waitress.
    """

    host: str = "127.0.0.1"
    port: int = 8050
    threads: int = 16
    data_dir: Path = field(default_factory=default_data_dir)
    memory_budget: int = 2 * GiB
    training_slots: int = field(default_factory=_cores)
    access_log: bool = False
    connection_limit: int = 500
    max_request_bytes: int | None = None
    limits: Any = None
    sample: str | None = None
    sweeps_dir: Path = Path("results")
    debug: bool = False

    def __post_init__(self) -> None:
        for name in ("threads", "memory_budget", "training_slots", "connection_limit", "max_request_bytes"):
            value = getattr(self, name)
            if value is None and name == "max_request_bytes":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"the server's {name} must be a positive int, not {value!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"the port must be an int from 0 to 65535, not {self.port!r}")
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser())

    @property
    def request_bytes(self) -> int:
        """The largest request body: ``max_request_bytes``, or a base64-encoded largest upload plus 1 MiB."""
        if self.max_request_bytes is not None:
            return self.max_request_bytes
        upload = getattr(self.limits, "max_upload_bytes", 16 * MiB)
        return upload * 4 // 3 + MiB

    def replace(self, **changes) -> ServerConfig:
        return dataclasses.replace(self, **changes)


class Paced:
    """WSGI middleware: every request is marked in the app's training slots while it runs, so that
    trainings pause between steps while a long one is answered (:meth:`workbench.jobs.SlotPool.pace`).

    Args:
        app: the WSGI application to wrap.
        slots: the :class:`~workbench.jobs.SlotPool` the app's trainings run in.
    """

    def __init__(self, app: Callable, slots) -> None:
        self.app, self.slots = app, slots

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        with self.slots.serving():
            return self.app(environ, start_response)  # Flask builds the whole response here


class AccessLog:
    """WSGI middleware: one log line per request (client, method, path, status, milliseconds).

    Args:
        app: the WSGI application to wrap.
        logger: where the lines go (INFO).
    """

    def __init__(self, app: Callable, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.log = logger or logging.getLogger("workbench.access")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        start = time.perf_counter()
        status: list[str] = []

        def record(code: str, headers: list, *exc_info) -> Callable:
            status.append(code.split(" ", 1)[0])
            return start_response(code, headers, *exc_info)

        try:
            return self.app(environ, record)
        finally:
            self.log.info(
                "%s %s %s %s %.1f ms",
                environ.get("REMOTE_ADDR", "-"),
                environ.get("REQUEST_METHOD", "-"),
                environ.get("PATH_INFO", "-"),
                status[0] if status else "-",
                (time.perf_counter() - start) * 1000,
            )


#: Allocations between young-generation collections of a server (Python's default is 700).
GC_YOUNG = 50_000


def tune_gc() -> None:
    """Collect cyclic garbage less often in a server process.

    Sessions hold many small objects (a 50,000-edge design is ~10^5 dicts), and
    building one triggers hundreds of collections with the default thresholds,
    some of them passes over every object of every session: generating a
    10,000-vertex graph took 0.5 s instead of 0.3 s with garbage collection off.
    Reference counting still frees everything that is not in a cycle at once.
    What exists at start-up (modules, the app) is frozen out of the passes.

    :func:`workbench.app.run_server` calls it; servers started in a test's or benchmark's thread
    (:func:`serve_in_thread`) leave the collector of their process as it was.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG, 20, 20)


def make_server(app: Dash, config: ServerConfig):
    """A waitress server of ``app`` as ``config`` says, bound and ready to ``run()``.

    Returns:
        the waitress server: ``server.run()`` serves until interrupted, ``server.effective_port`` is
        the port, ``server.close()`` closes the socket.

    Raises:
        OSError: the address is in use or not available.
    """
    from waitress.server import create_server

    wsgi = app.server
    slots = getattr(app, "workbench_slots", None)
    if slots is not None:
        wsgi = Paced(wsgi, slots)
    if config.access_log:
        wsgi = AccessLog(wsgi)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" under load is expected
    return create_server(
        wsgi,
        host=config.host,
        port=config.port,
        threads=config.threads,
        connection_limit=config.connection_limit,
        max_request_body_size=config.request_bytes,
        channel_timeout=120,
        ident="workbench",
        expose_tracebacks=False,
    )


def _stop(server, thread: threading.Thread) -> None:
    """End ``server.run()`` in ``thread``, then close its sockets.

    The loop ends once its map of channels is empty: the map is cleared from the loop's own thread through
    the trigger (at once), or, if the trigger's pipe is already closed (seen under load in the test suite:
    its file descriptor was closed elsewhere), from here, and the loop ends after its current wait of at
    most a second. The sockets are closed only after the loop has ended, never while it selects on them.
    """
    channels = list(server._map.values())
    try:
        server.trigger.pull_trigger(server._map.clear)
    except OSError:
        server._map.clear()
    thread.join(timeout=10)
    for channel in channels:  # the listening socket, open keep-alive connections and the trigger
        channel.close()
    server.task_dispatcher.shutdown(timeout=5)


@contextmanager
def serve_in_thread(
    app: Dash, host: str = "127.0.0.1", port: int = 0, *, threads: int = 8, **config: Any
) -> Iterator[str]:
    """Serve ``app`` with waitress from a daemon thread for the duration of the ``with`` block.

    Args:
        app: the Dash app (see :func:`~workbench.app.create_app`).
        host: the address to listen on.
        port: the port; 0 picks a free one.
        threads: request threads.
        config: other fields of :class:`ServerConfig` (``access_log``, ``max_request_bytes``...).

    Returns:
        A context manager that yields the app's URL, e.g. ``"http://127.0.0.1:41234/"``,
        and shuts the server down and closes its socket on leaving.

    Example:
        >>> with serve_in_thread(create_app()) as url:
        ...     page.goto(url)
    """
    server = make_server(app, ServerConfig(host=host, port=port, threads=threads, **config))
    thread = threading.Thread(target=server.run, name="workbench-server", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.effective_port}/"
    finally:
        _stop(server, thread)


class RequestJSON(DefaultJSONProvider):
    """Flask's JSON provider, except that a request body nested too deeply for Python's parser is a
    400 Bad Request naming the problem, not a RecursionError and an HTTP 500."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise BadRequest("the request's JSON is nested too deeply") from None
