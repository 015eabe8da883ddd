"""Sessions by id under a byte budget: idle ones spill to an SQLite file and come back when their tab does.

:class:`SessionStore` keeps the sessions of a server's tabs in memory up to
``memory_budget`` bytes (each session tells its size with ``nbytes()``). Past
it, the least recently used idle session is written to ``sessions.sqlite3``
under the data directory (its ``dump()``: the design and the model in the
safe checkpoint format) and leaves memory; the next request of its tab reads
it back with ``load(session_id, data)``. A new store on the same directory
(after a server restart) finds every spilled session, and :meth:`close`
spills them all, so a restart loses nothing. A copy on disk stays while its
session is back in memory, so even a crash loses only what changed since.

A session is never spilled while ``busy()`` (training) or while a request
uses it (:meth:`SessionStore.use`, or within ``grace`` seconds of
:meth:`SessionStore.get`). Only when busy sessions alone overflow the budget
is the least recently used of them stopped and spilled, with a notice. When a
session cannot be kept at all (its record is unreadable, the disk is full,
it expired), the store records why, and the tab's next request gets a fresh
session and a :class:`Notice` it can show until :meth:`SessionStore.dismiss`.

The store is generic: anything with the methods of :class:`Spillable` is a
session. Why SQLite (standard library) and not diskcache: one file, atomic
transactions (a crash mid-write leaves the old copy), no new dependency, and
the records are plain bytes we serialize ourselves, so diskcache's eviction
policies and pickling would add nothing we need.

Example:
    >>> store = SessionStore(data_dir, new=make_session, load=load_session, memory_budget=2**30)
    >>> session, notice = store.get(session_id)
    >>> with store.use(session_id) as (session, notice):  # pinned in memory while the callback runs
    ...     session.design.add_vertex()
    >>> store.close()  # every session to disk
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from workbench.app.session_disk import Notice, SessionDisk
from workbench.errors import SessionError

__all__ = ["Notice", "SessionStore", "Spillable", "StoreStats", "check_session_id"]

log = logging.getLogger(__name__)

DAY = 86_400.0
SESSION_ID = re.compile(r"[0-9a-f]{32}")


def check_session_id(value: object) -> str:
    """``value`` if it is a session id (32 lowercase hex digits, as ``uuid4().hex``).

    Raises:
        SessionError: naming the value (shortened) and saying to reload the page.
    """
    if isinstance(value, str) and SESSION_ID.fullmatch(value):
        return value
    shown = repr(value)
    shown = shown if len(shown) <= 48 else shown[:45] + "..."
    raise SessionError(f"this page's session id must be 32 hexadecimal digits, not {shown}; reload the page")


class Spillable(Protocol):
    """What the store needs of a session."""

    def nbytes(self) -> int:
        """About how many bytes the session holds in memory (called often: keep it cheap)."""
        ...

    def busy(self) -> bool:
        """Whether work runs on it (training, a ticket search): then it is not spilled."""
        ...

    def dump(self) -> bytes:
        """Everything to bring it back with the store's ``load`` (safe to call while busy)."""
        ...

    def close(self) -> None:
        """Stop its work and let go of its resources (it is not used afterwards)."""
        ...


S = TypeVar("S", bound=Spillable)


@dataclass(frozen=True)
class StoreStats:
    """How many sessions a store keeps, and their bytes."""

    in_memory: int
    memory_bytes: int
    on_disk: int
    disk_bytes: int
    dropped: int


@dataclass
class _Entry(Generic[S]):
    session: S
    size: int
    last_used: float
    pins: int = 0


class SessionStore(Generic[S]):
    """Sessions by id, in memory up to a byte budget, the rest on disk. See the module docstring.

    Every method is thread-safe. The many callbacks of one page load that ask
    for a new id at once make one session; other ids are made, loaded and
    spilled in parallel (``new``, ``load`` and ``dump`` run outside the store's lock).

    Args:
        data_dir: the directory of ``sessions.sqlite3`` (made if missing).
        new: ``new(session_id)`` makes the session of an id seen for the first time.
        load: ``load(session_id, data)`` brings back a session from its ``dump()``.
        memory_budget: bytes of sessions kept in memory before idle ones spill.
        disk_budget: bytes of spilled sessions kept on disk; past it the oldest are dropped.
        max_age: seconds after its last use that a spilled session is dropped (default 30 days).
        grace: seconds after :meth:`get` during which a session is not spilled
            (a callback that did not use :meth:`use` may still work on it).
        clock: the time in seconds since the epoch (for tests).

    Raises:
        SessionError: a budget is not a positive int.
        OSError, sqlite3.Error: ``data_dir`` cannot be made or its file opened.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        new: Callable[[str], S],
        load: Callable[[str, bytes], S],
        memory_budget: int = 2 * 2**30,
        disk_budget: int = 20 * 2**30,
        max_age: float = 30 * DAY,
        grace: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("memory_budget", memory_budget), ("disk_budget", disk_budget)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SessionError(f"{name} must be a positive number of bytes, not {value!r}")
        self.data_dir = Path(data_dir).expanduser()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.memory_budget, self.disk_budget = memory_budget, disk_budget
        self.max_age, self.grace = float(max_age), float(grace)
        self._new, self._load, self._clock = new, load, clock
        self._disk = SessionDisk(self.data_dir / "sessions.sqlite3")
        self._lock = threading.Lock()
        self._mem: OrderedDict[str, _Entry[S]] = OrderedDict()  # least recently used first
        self._pending: dict[str, Future] = {}  # ids being made, loaded or spilled right now
        self._notices: dict[str, Notice] = {}  # also on disk, unless the disk failed
        self._closed = False
        self._next_expiry = 0.0
        self.expire()

    # ------------------------------------------------------------------ reading
    def get(self, session_id: object) -> tuple[S, Notice | None]:
        """The session of ``session_id`` and its notice (None if there is nothing to tell).

        A new id gets a new session; a spilled one is read back. The notice stays
        until :meth:`dismiss`.

        Raises:
            SessionError: ``session_id`` is not 32 hex digits, or the store is closed.
        """
        sid = check_session_id(session_id)
        session, notice = self._checkout(sid, pin=False)
        self._settle(sid, session)
        return session, notice

    @contextmanager
    def use(self, session_id: object) -> Iterator[tuple[S, Notice | None]]:
        """Like :meth:`get`, and the session is not spilled before the ``with`` block ends.

        Raises:
            SessionError: as :meth:`get`.
        """
        sid = check_session_id(session_id)
        session, notice = self._checkout(sid, pin=True)
        try:
            yield session, notice
        finally:
            with self._lock:
                entry = self._mem.get(sid)
                if entry is not None and entry.session is session:
                    entry.pins -= 1
            self._settle(sid, session)

    def dismiss(self, session_id: object) -> None:
        """Forget the notice of ``session_id`` (the tab has shown it)."""
        sid = check_session_id(session_id)
        with self._lock:
            self._notices.pop(sid, None)
        self._disk_call(self._disk.forget_notice, sid)

    def stats(self) -> StoreStats:
        """How many sessions are in memory and on disk now (the on-disk ones include copies of in-memory ones)."""
        with self._lock:
            in_memory, memory_bytes = len(self._mem), sum(e.size for e in self._mem.values())
        on_disk, disk_bytes, dropped = self._disk.counts()
        return StoreStats(in_memory, memory_bytes, on_disk, disk_bytes, dropped)

    def __len__(self) -> int:
        """Sessions in memory."""
        with self._lock:
            return len(self._mem)

    def _checkout(self, sid: str, *, pin: bool) -> tuple[S, Notice | None]:
        while True:
            with self._lock:
                if self._closed:
                    raise SessionError("the session store is closed (the server is stopping); reload the page")
                entry = self._mem.get(sid)
                if entry is not None:
                    self._mem.move_to_end(sid)
                    entry.last_used = self._clock()
                    entry.pins += pin
                    return entry.session, self._notices.get(sid)
                waiting = self._pending.get(sid)
                if waiting is None:
                    mine = self._pending[sid] = Future()
            if waiting is not None:
                waiting.result()  # another thread makes, loads or spills it; then look again
                continue
            try:
                entry = self._bring(sid)
            except BaseException as err:
                with self._lock:
                    del self._pending[sid]
                mine.set_exception(err)
                raise
            with self._lock:
                entry.pins += pin
                self._mem[sid] = entry
                del self._pending[sid]
                notice = self._notices.get(sid)
            mine.set_result(None)
            return entry.session, notice

    def _bring(self, sid: str) -> _Entry[S]:
        """Read ``sid`` back from disk, or make it new (with a notice if it was dropped)."""
        now = self._clock()
        if now >= self._next_expiry:
            self.expire()
        record = self._disk_call(self._disk.read, sid)
        session = None
        if record is not None:
            data, last_used, notice = record
            try:
                session = self._load(sid, data)
            except Exception as err:  # any failure of a stored record must end in a notice, not a 500 forever
                log.warning("session %s: its saved copy could not be read", sid, exc_info=True)
                self._disk_call(self._disk.delete, sid)
                self._drop(sid, last_used, f"its saved copy could not be read ({type(err).__name__}: {err})")
            else:
                if notice is not None:
                    with self._lock:
                        self._notices[sid] = Notice(sid, notice[0], notice[1], kept=True)
        else:
            dropped = self._disk_call(self._disk.dropped, sid)
            if dropped is not None:
                with self._lock:
                    self._notices.setdefault(sid, Notice(sid, *dropped))
        if session is None:
            session = self._new(sid)
        return _Entry(session, _size(session), now)

    # ------------------------------------------------------------------ spilling
    def _settle(self, sid: str, session: S) -> None:
        """Take the new size of ``session`` and spill others while over the budget."""
        size = _size(session)
        with self._lock:
            entry = self._mem.get(sid)
            if entry is not None and entry.session is session:
                entry.size = size
        while (victim := self._pick_victim(keep=sid)) is not None:
            self._spill(*victim)

    def _pick_victim(self, *, keep: str) -> tuple[str, _Entry[S], Future, bool] | None:
        """Take the session to spill out of memory, or None when within budget (or nothing can go now).

        ``busy()`` is asked outside the store's lock, so a session may take its own lock to answer.
        """
        for _ in range(8):  # the sessions change while we look: a few tries, then wait for the next request
            with self._lock:
                if self._closed or sum(e.size for e in self._mem.values()) <= self.memory_budget:
                    return None
                now = self._clock()
                candidates = [(sid, e) for sid, e in self._mem.items() if sid != keep and e.pins == 0]
            chosen, first_busy = None, None
            for sid, entry in candidates:  # least recently used first
                if _busy(entry.session):
                    first_busy = first_busy or (sid, entry)
                elif now - entry.last_used >= self.grace:
                    chosen = (sid, entry)
                    break
            stop_training = chosen is None
            chosen = chosen or first_busy  # only busy sessions left to spill: the least recently used one stops
            if chosen is None:
                return None  # all in use right now: over budget until they are done
            sid, entry = chosen
            with self._lock:
                if self._mem.get(sid) is entry and entry.pins == 0 and not self._closed:
                    del self._mem[sid]
                    self._pending[sid] = future = Future()
                    return sid, entry, future, stop_training
        return None

    def _spill(self, sid: str, entry: _Entry[S], future: Future, stop_training: bool) -> None:
        """Write ``entry`` to disk and close it; if that fails, drop it with a notice. Never raises."""
        try:
            self._write(sid, entry, stop_training, reason="the server's memory for sessions was full")
        finally:
            with self._lock:
                del self._pending[sid]
            future.set_result(None)

    def _write(self, sid: str, entry: _Entry[S], stop_training: bool, *, reason: str) -> None:
        session = entry.session
        try:
            data = session.dump()
        except Exception as err:
            log.warning("session %s could not be saved", sid, exc_info=True)
            _close(session)
            self._drop(sid, entry.last_used, f"it could not be saved ({type(err).__name__}: {err})")
            return
        _close(session)
        with self._lock:
            old = self._notices.get(sid)
        notice = Notice(sid, entry.last_used, reason, kept=True) if stop_training else old if old and old.kept else None
        try:
            if len(data) > self.disk_budget:
                too_big = f"it is larger than the server's disk store ({self.disk_budget:,} bytes)"
                self._drop(sid, entry.last_used, too_big)
                return
            self._make_room(len(data), but=sid)
            self._disk.write(sid, data, entry.last_used, (notice.since, notice.reason) if notice else None)
        except (sqlite3.Error, OSError) as err:
            log.error("session %s could not be written to %s", sid, self.data_dir, exc_info=True)
            self._drop(sid, entry.last_used, f"the server could not write it to disk ({err})")
            return
        if notice is not None:
            with self._lock:
                self._notices[sid] = notice

    def _make_room(self, nbytes: int, *, but: str) -> None:
        """Drop the least recently used records on disk until ``nbytes`` more fit in the disk budget."""
        others = self._disk.oldest(exclude=but)  # the old copy of ``but`` itself is replaced
        over = sum(size for _, _, size in others) + nbytes - self.disk_budget
        if over <= 0:
            return
        for sid, last_used, size in others:
            self._disk.delete(sid)
            with self._lock:
                alive = sid in self._mem or sid in self._pending  # only its spare copy goes: no notice
            if not alive:
                self._drop(sid, last_used, "the server's disk store was full and it was among the least recently used")
            over -= size
            if over <= 0:
                return

    def _drop(self, sid: str, since: float, reason: str) -> Notice:
        """Remember that ``sid`` was dropped and why (in memory, and on disk if the disk takes it)."""
        notice = Notice(sid, since, reason)
        with self._lock:
            self._notices[sid] = notice
        log.warning("session %s dropped: %s", sid, reason)
        self._disk_call(self._disk.record_drop, sid, since, reason, self._clock())
        return notice

    def _disk_call(self, method, *args):
        """``method(*args)`` on the disk store; on a disk error, log it and return None."""
        try:
            return method(*args)
        except (sqlite3.Error, OSError):
            log.error("the session store in %s failed", self.data_dir, exc_info=True)
            return None

    # ------------------------------------------------------------------ upkeep
    def expire(self) -> int:
        """Drop spilled sessions unused for ``max_age`` seconds (their tabs are told); returns how many."""
        now = self._clock()
        self._next_expiry = now + min(3600.0, self.max_age / 10)
        old = self._disk_call(self._disk.older_than, now - self.max_age) or []
        days = self.max_age / DAY
        for sid, last_used in old:
            with self._lock:
                if sid in self._mem or sid in self._pending:
                    continue  # back in memory: the copy on disk is rewritten when it spills again
            self._disk_call(self._disk.delete, sid)
            self._drop(sid, last_used, f"it was not used for {days:g} days")
        self._disk_call(self._disk.forget_drops_before, now - self.max_age)
        return len(old)

    def close(self) -> None:
        """Write every session in memory to disk and close the file; later calls raise :class:`SessionError`.

        Running trainings stop; their tabs are told when they come back.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending.values())
        for future in pending:
            future.exception()  # let loads and spills in flight end
        with self._lock:
            entries = list(self._mem.items())
            self._mem.clear()
        for sid, entry in entries:
            self._write(sid, entry, _busy(entry.session), reason="the server was stopped")
        self._disk.close()


def _ask(session: Spillable, method: str, fallback):
    """``session.<method>()``, or ``fallback`` (logged) if it raises: one broken session must not stop the store."""
    try:
        return getattr(session, method)()
    except Exception:
        log.warning("a session's %s() failed", method, exc_info=True)
        return fallback


def _size(session: Spillable) -> int:
    return max(0, int(_ask(session, "nbytes", 0)))  # a session that cannot tell its size counts as small


def _busy(session: Spillable) -> bool:
    return bool(_ask(session, "busy", True))  # ... and as busy: it is not spilled


def _close(session: Spillable) -> None:
    _ask(session, "close", None)
