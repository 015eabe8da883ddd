"""The on-disk half of :class:`~workbench.app.store.SessionStore`: spilled sessions in one SQLite file,
and the :class:`Notice` a tab gets when its session could not be kept whole.

Two tables: ``sessions`` holds each spilled session's bytes with the time it
was last used (and a notice to show when it comes back), ``dropped`` holds
why a session could not be kept. Every write is one transaction, so a crash
or a full disk leaves the previous copy. One connection is shared by the
store's threads behind a lock; sqlite3 releases the GIL while it reads and
writes, so other requests go on meanwhile.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Notice", "SessionDisk"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    data BLOB NOT NULL,
    size INTEGER NOT NULL,
    used REAL NOT NULL,
    notice_since REAL,
    notice TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_use ON sessions (used);
CREATE TABLE IF NOT EXISTS dropped (
    id TEXT PRIMARY KEY,
    since REAL NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Notice:
    """Something a tab should be told about its session.

    Attributes:
        session_id: the tab's session id.
        since: when the session was last used (seconds since the epoch).
        reason: why, in words (e.g. "the server's disk store was full").
        kept: True when the design and model came back and only the training was stopped;
            False when the session was dropped and the tab has a new one.
    """

    session_id: str
    since: float
    reason: str
    kept: bool = False

    @property
    def message(self) -> str:
        """A sentence for the tab."""
        when = time.strftime("%d %b %H:%M", time.localtime(self.since))
        if self.kept:
            return f"Your training from {when} was stopped because {self.reason}; the design and model were kept."
        return f"Your session from {when} was dropped because {self.reason}; this is a new one."


class SessionDisk:
    """Spilled sessions and drop records in the SQLite file ``path`` (made if missing).

    Raises:
        sqlite3.Error: the file cannot be opened or is not a database.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)

    def write(self, sid: str, data: bytes, used: float, notice: tuple[float, str] | None = None) -> None:
        """Store ``data`` as the copy of ``sid`` (replacing any older one) and forget an old drop."""
        since, reason = notice if notice is not None else (None, None)
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO sessions (id, data, size, used, notice_since, notice)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (sid, sqlite3.Binary(data), len(data), used, since, reason),
            )

    def read(self, sid: str) -> tuple[bytes, float, tuple[float, str] | None] | None:
        """``(data, last used, (since, notice) or None)`` of ``sid``, or None when it has no copy."""
        with self._lock:
            row = self._db.execute(
                "SELECT data, used, notice_since, notice FROM sessions WHERE id = ?", (sid,)
            ).fetchone()
        if row is None:
            return None
        data, used, since, notice = row
        return bytes(data), used, (since, notice) if notice is not None else None

    def delete(self, sid: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE id = ?", (sid,))

    def record_drop(self, sid: str, since: float, reason: str, at: float) -> None:
        """Remember that ``sid`` (last used at ``since``) was dropped, and why."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO dropped (id, since, reason, at) VALUES (?, ?, ?, ?)", (sid, since, reason, at)
            )

    def dropped(self, sid: str) -> tuple[float, str] | None:
        """``(since, reason)`` if ``sid`` was dropped, else None."""
        with self._lock:
            row = self._db.execute("SELECT since, reason FROM dropped WHERE id = ?", (sid,)).fetchone()
        return None if row is None else (row[0], row[1])

    def forget_notice(self, sid: str) -> None:
        """Forget the drop record and the stored notice of ``sid``."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM dropped WHERE id = ?", (sid,))
            self._db.execute("UPDATE sessions SET notice_since = NULL, notice = NULL WHERE id = ?", (sid,))

    def forget_drops_before(self, at: float) -> None:
        with self._lock:
            self._db.execute("DELETE FROM dropped WHERE at < ?", (at,))

    def older_than(self, used: float) -> list[tuple[str, float]]:
        """``(id, last used)`` of the copies last used before ``used``."""
        with self._lock:
            return self._db.execute("SELECT id, used FROM sessions WHERE used < ? ORDER BY used", (used,)).fetchall()

    def oldest(self, *, exclude: str) -> list[tuple[str, float, int]]:
        """``(id, last used, bytes)`` of every copy but ``exclude``, least recently used first."""
        with self._lock:
            return self._db.execute(
                "SELECT id, used, size FROM sessions WHERE id != ? ORDER BY used", (exclude,)
            ).fetchall()

    def counts(self) -> tuple[int, int, int]:
        """``(copies, their bytes, drop records)``."""
        with self._lock:
            copies, size = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM sessions").fetchone()
            (dropped,) = self._db.execute("SELECT COUNT(*) FROM dropped").fetchone()
        return copies, size, dropped

    def close(self) -> None:
        with self._lock:
            self._db.close()
