"""SessionStore: a byte budget in memory, idle sessions spilled to SQLite and back, notices for dropped ones."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid

import pytest

from workbench.app.store import Notice, SessionStore, check_session_id
from workbench.errors import SessionError

DAY = 86_400.0


class FakeSession:
    """A session of ``size`` bytes whose work is a list of ints."""

    def __init__(self, sid: str, work=(), size: int = 100) -> None:
        self.id, self.work, self.size = sid, list(work), size
        self.training = False
        self.closed = False
        self.broken_dump = False

    def nbytes(self) -> int:
        return self.size

    def busy(self) -> bool:
        return self.training

    def dump(self) -> bytes:
        if self.broken_dump:
            raise OSError("no space for the checkpoint")
        return json.dumps({"work": self.work, "size": self.size}).encode()

    def close(self) -> None:
        self.training = False
        self.closed = True


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Factory:
    """``new`` and ``load`` for FakeSession, counting their calls."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self.loaded: list[str] = []
        self.lock = threading.Lock()

    def new(self, sid: str) -> FakeSession:
        with self.lock:
            self.made.append(sid)
        return FakeSession(sid)

    def load(self, sid: str, data: bytes) -> FakeSession:
        record = json.loads(data)
        with self.lock:
            self.loaded.append(sid)
        return FakeSession(sid, record["work"], record["size"])


def sid(n: int) -> str:
    return f"{n:032x}"


@pytest.fixture
def factory() -> Factory:
    return Factory()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_store(tmp_path, factory, clock):
    stores = []

    def make(**kwargs) -> SessionStore:
        kwargs = {"memory_budget": 250, "grace": 0.0, "clock": clock, **kwargs}
        store = SessionStore(tmp_path / "data", new=factory.new, load=factory.load, **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


# ---------------------------------------------------------------------------- ids


@pytest.mark.parametrize("good", [uuid.uuid4().hex, "0" * 32, "abcdef0123456789" * 2])
def test_session_ids_are_32_lowercase_hex_digits(good):
    assert check_session_id(good) == good


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        ("", "''"),
        (None, "None"),
        ([], r"\[\]"),
        (["a" * 32], r"\['aaaa"),
        ("A" * 32, "'AAAA"),
        ("a" * 31, "'aaaa"),
        ("a" * 33, "'aaaa"),
        ("g" * 32, "'gggg"),
        ("../" * 20, r"'\.\./\.\./.*\.\.\.; reload"),
        (b"a" * 32, "b'aaaa"),
        (12, "12"),
    ],
)
def test_a_bad_session_id_is_a_message_not_a_crash(make_store, bad, shown):
    store = make_store()
    with pytest.raises(SessionError, match=f"session id must be 32 hexadecimal digits, not {shown}"):
        store.get(bad)
    with pytest.raises(SessionError, match="reload the page"), store.use(bad):
        pass
    assert len(store) == 0


@pytest.mark.parametrize("budget", [0, -5, 1.5, True, None])
def test_budgets_must_be_positive_byte_counts(tmp_path, factory, budget):
    with pytest.raises(SessionError, match="memory_budget must be a positive number of bytes, not"):
        SessionStore(tmp_path, new=factory.new, load=factory.load, memory_budget=budget)
    with pytest.raises(SessionError, match="disk_budget must be a positive number of bytes, not"):
        SessionStore(tmp_path, new=factory.new, load=factory.load, disk_budget=budget)


# ---------------------------------------------------------------------------- memory budget and spilling


def test_a_new_id_makes_a_session_once_and_keeps_it(make_store, factory):
    store = make_store()
    first, notice = store.get(sid(1))
    again, _ = store.get(sid(1))
    assert again is first and notice is None and factory.made == [sid(1)]
    assert store.stats().in_memory == 1 and store.stats().memory_bytes == 100


def test_over_the_budget_the_least_recently_used_session_spills_and_comes_back(make_store, factory):
    store = make_store()  # room for two sessions of 100 bytes
    a, _ = store.get(sid(1))
    a.work.append(7)
    b, _ = store.get(sid(2))
    store.get(sid(1))  # a is used again: b is now the least recently used
    store.get(sid(3))
    assert b.closed and not a.closed and len(store) == 2
    stats = store.stats()
    assert (stats.in_memory, stats.memory_bytes, stats.on_disk) == (2, 200, 1)
    back, notice = store.get(sid(2))  # 2 comes back; 1, least recently used now, goes
    assert back is not b and back.work == [] and notice is None and factory.loaded == [sid(2)]
    assert a.closed
    again, _ = store.get(sid(1))
    assert again.work == [7] and factory.made == [sid(1), sid(2), sid(3)] and factory.loaded == [sid(2), sid(1)]


def test_the_budget_counts_bytes_not_sessions(make_store):
    store = make_store(memory_budget=1000)
    big, _ = store.get(sid(1))
    big.size = 900
    for n in range(2, 12):
        store.get(sid(n))  # ten small sessions after one big one: the big one has to go
    assert big.closed and store.stats().memory_bytes <= 1000 and len(store) == 10


def test_a_growing_session_is_measured_again_when_used(make_store):
    store = make_store(memory_budget=1000)
    a, _ = store.get(sid(1))
    store.get(sid(2))
    a.size = 950
    store.get(sid(1))  # a's new size is taken; b goes to make room
    assert store.stats().memory_bytes == 950 and len(store) == 1


def test_a_training_session_is_never_spilled_while_idle_ones_can_go(make_store):
    store = make_store()
    training, _ = store.get(sid(1))
    training.training = True
    store.get(sid(2))
    store.get(sid(3))  # 1 is least recently used, but busy: 2 goes
    again, notice = store.get(sid(1))
    assert again is training and not training.closed and notice is None


def test_busy_sessions_overflowing_the_budget_stop_the_oldest_run_and_keep_its_work(make_store, factory):
    store = make_store()
    sessions = []
    for n in (1, 2, 3):
        session, _ = store.get(sid(n))
        session.work.append(n)
        session.training = True
        sessions.append(session)
        store.get(sid(n))  # takes the new state
    assert sessions[0].closed and not sessions[1].closed  # only the oldest run stopped
    back, notice = store.get(sid(1))
    assert back.work == [1] and notice.kept and notice.session_id == sid(1)
    assert "training from" in notice.message and "was stopped because the server's memory" in notice.message
    assert "design and model were kept" in notice.message
    assert store.get(sid(1))[1] == notice  # shown until the tab dismisses it
    store.dismiss(sid(1))
    assert store.get(sid(1))[1] is None


def test_a_session_in_use_is_not_spilled_until_the_block_ends(make_store):
    store = make_store()
    with store.use(sid(1)) as (held, notice):
        assert notice is None
        for n in (2, 3, 4):
            store.get(sid(n))
        assert not held.closed and store.get(sid(1))[0] is held
    store.get(sid(5))
    store.get(sid(6))
    assert held.closed


def test_a_session_just_handed_out_has_a_grace_period(make_store, clock):
    store = make_store(grace=5.0)
    a, _ = store.get(sid(1))
    clock.now += 1
    store.get(sid(2))
    clock.now += 1
    store.get(sid(3))  # over budget, but everyone was used within 5 s
    assert not a.closed and len(store) == 3
    clock.now += 10
    store.get(sid(3))
    assert a.closed and len(store) == 2


def test_many_callbacks_of_one_page_load_make_one_session(make_store, factory):
    store = make_store(memory_budget=10_000)
    barrier = threading.Barrier(24)
    got = []

    def callback():
        barrier.wait()
        got.append(store.get(sid(42))[0])

    threads = [threading.Thread(target=callback) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(got) == 24 and all(s is got[0] for s in got) and factory.made == [sid(42)]


def test_a_failing_factory_fails_every_waiting_callback_and_the_next_call_tries_again(make_store, factory):
    store = make_store()
    calls = []

    def broken(session_id):
        calls.append(session_id)
        if len(calls) == 1:
            raise RuntimeError("no sample model")
        return FakeSession(session_id)

    store._new = broken
    with pytest.raises(RuntimeError, match="no sample model"):
        store.get(sid(1))
    assert store.get(sid(1))[0].id == sid(1) and len(calls) == 2


def test_a_hundred_concurrent_sessions_keep_their_work(make_store, factory):
    store = make_store(memory_budget=1_000)  # room for 10 of the 100 sessions
    rounds = 12
    errors = []
    barrier = threading.Barrier(100, timeout=60)

    def student(n: int) -> None:
        try:
            for i in range(rounds):
                barrier.wait()  # every round touches all 100 sessions: about 90 spill and come back
                with store.use(sid(n)) as (session, notice):
                    assert notice is None and session.work == [n * 100 + j for j in range(i)]
                    session.work.append(n * 100 + i)
        except Exception as err:  # report in the main thread
            errors.append(err)

    threads = [threading.Thread(target=student, args=(n,)) for n in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(factory.made) == 100
    assert len(factory.loaded) >= 100 and store.stats().memory_bytes <= 1_000  # they did spill and come back
    for n in range(100):
        assert store.get(sid(n))[0].work == [n * 100 + j for j in range(rounds)]


# ---------------------------------------------------------------------------- on disk: restarts, drops, expiry


def test_every_session_comes_back_after_a_restart(make_store, factory):
    store = make_store(memory_budget=10_000)
    for n in range(5):
        store.get(sid(n))[0].work.append(n)
    training, _ = store.get(sid(9))
    training.training = True
    store.close()
    assert training.closed
    with pytest.raises(SessionError, match="session store is closed"):
        store.get(sid(1))
    restarted = make_store(memory_budget=10_000)
    assert [restarted.get(sid(n))[0].work for n in range(5)] == [[n] for n in range(5)]
    assert restarted.get(sid(0))[1] is None
    assert "stopped because the server was stopped" in restarted.get(sid(9))[1].message
    assert factory.made == [*(sid(n) for n in range(5)), sid(9)]


def test_an_unreadable_record_gives_a_new_session_and_says_why(make_store, factory, tmp_path):
    store = make_store()
    store.get(sid(1))[0].work.append(1)
    store.close()
    with sqlite3.connect(tmp_path / "data" / "sessions.sqlite3") as db:
        db.execute("UPDATE sessions SET data = ? WHERE id = ?", (b"\x80not json", sid(1)))
    restarted = make_store()
    session, notice = restarted.get(sid(1))
    assert session.work == [] and factory.made == [sid(1), sid(1)]
    assert not notice.kept and "could not be read (UnicodeDecodeError" in notice.reason
    assert notice.message.startswith("Your session from ") and notice.message.endswith("; this is a new one.")
    assert restarted.get(sid(1))[1] == notice
    restarted.dismiss(sid(1))
    assert restarted.get(sid(1))[1] is None


def test_a_drop_notice_survives_a_restart_until_dismissed(make_store):
    store = make_store()
    broken, _ = store.get(sid(1))
    broken.broken_dump = True
    store.get(sid(2))
    store.get(sid(3))
    store.close()
    restarted = make_store()
    _, notice = restarted.get(sid(1))
    assert notice.reason == "it could not be saved (OSError: no space for the checkpoint)"
    restarted.dismiss(sid(1))
    restarted.close()
    assert make_store().get(sid(1))[1] is None


def test_a_full_disk_drops_the_session_with_a_notice(make_store, monkeypatch):
    store = make_store()
    store.get(sid(1))[0].work.append(1)

    def full(*args):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store._disk, "write", full)
    store.get(sid(2))
    store.get(sid(3))
    session, notice = store.get(sid(1))
    assert session.work == [] and notice.reason == "the server could not write it to disk (database or disk is full)"


def test_the_disk_budget_drops_the_least_recently_used_copies_first(make_store, clock):
    record = len(FakeSession(sid(0)).dump())
    store = make_store(memory_budget=100, disk_budget=2 * record)
    for n in range(4):  # each new one spills the one before: 0, 1, 2 go to disk; 0 makes room
        clock.now += 1
        store.get(sid(n))
    stats = store.stats()
    assert (stats.on_disk, stats.dropped) == (2, 1)
    assert "disk store was full" in store.get(sid(0))[1].reason
    assert store.get(sid(2))[1] is None


def test_making_room_on_disk_deletes_a_spare_copy_of_a_session_in_memory_silently(make_store, clock):
    record = len(FakeSession(sid(0)).dump())
    store = make_store(memory_budget=200, disk_budget=2 * record)
    for n in (0, 1, 2, 0, 3):  # 0 spills, comes back (its copy stays), 1 and then 2 spill: 0's copy makes room
        clock.now += 1
        store.get(sid(n))
    stats = store.stats()
    assert (stats.in_memory, stats.on_disk, stats.dropped) == (2, 2, 0)
    assert store.get(sid(0))[1] is None and store.get(sid(1))[1] is None


def test_a_session_larger_than_the_disk_budget_is_dropped(make_store):
    store = make_store(memory_budget=100, disk_budget=10)
    store.get(sid(1))
    store.get(sid(2))
    assert "larger than the server's disk store (10 bytes)" in store.get(sid(1))[1].reason


def test_copies_unused_for_max_age_expire_with_a_notice(make_store, clock):
    store = make_store(max_age=30 * DAY)
    store.get(sid(1))[0].work.append(1)
    store.get(sid(2))
    store.get(sid(3))  # 1 is on disk now
    clock.now += 31 * DAY
    assert store.expire() == 1
    session, notice = store.get(sid(1))
    assert session.work == [] and notice.reason == "it was not used for 30 days"
    clock.now += 31 * DAY
    store.expire()  # drop records expire too
    assert store._disk.dropped(sid(1)) is None


def test_notice_message_says_when_and_why():
    notice = Notice(sid(1), 1_700_000_000.0, "the disk was full")
    assert notice.message.startswith("Your session from ")
    assert notice.message.endswith("was dropped because the disk was full; this is a new one.")
