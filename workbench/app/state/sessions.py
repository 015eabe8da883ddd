"""Sessions by id, in this process's memory (the least recently used are dropped past ``limit``)."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable

from workbench.app.state.session import Session
from workbench.errors import WorkbenchError

__all__ = ["SessionIdError", "SessionStore", "check_session_id"]

_ID = re.compile(r"^[0-9a-f]{32}$")


class SessionIdError(WorkbenchError, ValueError):
    """The page sent no usable session id."""


def check_session_id(session_id) -> str:
    """``session_id`` if it is 32 lower-case hex digits.

    Raises:
        SessionIdError: anything else (None, "", a list, ...).
    """
    if not isinstance(session_id, str) or not _ID.match(session_id):
        raise SessionIdError(f"this page has no valid session id ({str(session_id)[:40]!r}); reload the page")
    return session_id


class SessionStore:
    """Sessions by id, at most ``limit`` of them (the least recently used is dropped first).

    Args:
        factory: makes the session of a new id.
        limit: how many tabs are kept; dropping one stops its threads.
    """

    def __init__(self, factory: Callable[[str], Session], *, limit: int = 32) -> None:
        self._factory = factory
        self._limit = limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        self._creating = threading.Lock()

    def get(self, session_id) -> Session:
        """The session of ``session_id``, made on first use.

        Raises:
            SessionIdError: ``session_id`` is not an id this app made.
        """
        session_id = check_session_id(session_id)
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                self._sessions.move_to_end(session_id)
                return session
        with self._creating:  # a page load fires many callbacks at once: make its session once
            with self._lock:
                session = self._sessions.get(session_id)
            if session is None:
                session = self._factory(session_id)
                with self._lock:
                    self._sessions[session_id] = session
                    while len(self._sessions) > self._limit:
                        _, old = self._sessions.popitem(last=False)
                        old.close()
        return session

    def __len__(self) -> int:
        return len(self._sessions)
