"""BackgroundJob's state machine with a SlotPool: at most N jobs run, the others queue first in, first out."""

from __future__ import annotations

import threading
import time

import pytest

from workbench.errors import TrainingError
from workbench.jobs import BackgroundJob, SlotPool


def wait_for(predicate, timeout: float = 60.0) -> None:
    """Poll until ``predicate()`` holds (a liveness guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


class Gate(BackgroundJob):
    """Runs until its gate opens (or it is stopped); counts how many Gates run at once."""

    active = 0
    peak = 0
    count_lock = threading.Lock()

    def __init__(self, slots: SlotPool | None, name: str = "gate") -> None:
        super().__init__(name=name, started_before="started before ({state!r})", slots=slots)
        self.gate = threading.Event()
        self.ran = False

    def _run(self) -> None:
        cls = type(self)
        with cls.count_lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        try:
            self.ran = True
            while not self.gate.wait(0.005):
                if self._stop.is_set():
                    return
        finally:
            with cls.count_lock:
                cls.active -= 1


@pytest.fixture(autouse=True)
def fresh_counts():
    Gate.active = Gate.peak = 0


# ---------------------------------------------------------------------------- SlotPool


def test_pool_grants_first_in_first_out():
    pool = SlotPool(2)
    assert [pool.request(h) for h in "abcde"] == [True, True, False, False, False]
    assert [pool.position(h) for h in "abcde"] == [None, None, 1, 2, 3]
    assert (pool.running, pool.waiting) == (2, 3)
    pool.release("b")  # the head of the queue gets the slot, nobody overtakes it
    assert pool.holds("c") and [pool.position(h) for h in "de"] == [1, 2]
    assert pool.request("f") is False and pool.position("f") == 3
    pool.cancel("d")  # leaving the queue moves the ones behind it up
    assert [pool.position(h) for h in "ef"] == [1, 2]
    pool.capacity = 4  # more slots start the queue at once
    assert pool.holds("e") and pool.holds("f") and pool.waiting == 0
    assert pool.request("a") is True and pool.running == 4  # asking again while holding changes nothing


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True, "2"])
def test_pool_refuses_a_bad_capacity(capacity):
    with pytest.raises(TrainingError, match="number of training slots must be a positive int, not"):
        SlotPool(capacity)


def test_pool_defaults_to_one_slot_per_core(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 7)
    assert SlotPool().capacity == 7


def test_pool_wait_ends_on_cancel_and_on_stop():
    pool = SlotPool(1)
    pool.request("holder")
    assert pool.request("x") is False
    results = {}
    waiter = threading.Thread(target=lambda: results.setdefault("x", pool.wait("x")))
    waiter.start()
    pool.cancel("x")
    waiter.join(10)
    assert results == {"x": False} and pool.waiting == 0
    stop = threading.Event()
    pool.request("y")
    stop.set()
    assert pool.wait("y", stop) is False and pool.position("y") is None
    pool.release("holder")
    assert pool.request("z") is True and pool.wait("z") is True


# ---------------------------------------------------------------------------- BackgroundJob with slots


def test_a_queued_job_shows_its_position_and_runs_when_a_slot_frees():
    pool = SlotPool(1)
    first, second, third = Gate(pool), Gate(pool), Gate(pool)
    for job in (first, second, third):
        job.start()
    assert [j.state for j in (first, second, third)] == ["running", "queued", "queued"]
    assert [j.queue_position for j in (first, second, third)] == [None, 1, 2]
    with pytest.raises(TrainingError, match="started before \\('queued'\\)"):
        second.start()
    first.gate.set()
    first.join(10)
    assert first.state == "finished"
    wait_for(lambda: second.state == "running")
    assert second.queue_position is None and third.queue_position == 1 and third.state == "queued"
    second.stop()
    third.gate.set()
    third.join(10)
    assert (second.state, third.state) == ("stopped", "finished") and pool.running == 0


def test_stop_takes_a_queued_job_out_of_the_queue_without_running_it():
    pool = SlotPool(1)
    blocker, queued, behind = Gate(pool), Gate(pool), Gate(pool)
    for job in (blocker, queued, behind):
        job.start()
    queued.stop()
    assert queued.state == "stopped" and not queued.is_alive() and not queued.ran
    assert queued.queue_position is None and behind.queue_position == 1
    blocker.stop()
    wait_for(lambda: behind.state == "running")
    behind.gate.set()
    behind.join(10)
    assert behind.state == "finished" and not queued.ran and queued.state == "stopped"


def test_a_failing_job_gives_its_slot_back():
    class Failing(BackgroundJob):
        def _run(self):
            raise ValueError("boom")

    pool = SlotPool(1)
    failing, after = Failing(name="f", started_before="{state}", slots=pool), Gate(pool)
    failing.start()
    after.start()
    failing.join(10)
    assert failing.state == "failed" and failing.error == "ValueError: boom"
    wait_for(lambda: after.state == "running")
    after.stop()
    assert pool.running == 0 and pool.waiting == 0


def test_thirty_jobs_pressing_start_together_all_finish_at_most_n_at_once():
    pool = SlotPool(3)
    jobs = [Gate(pool, name=f"gate-{i}") for i in range(30)]
    barrier = threading.Barrier(len(jobs))

    def press(job):
        barrier.wait()
        job.start()

    pressers = [threading.Thread(target=press, args=(job,)) for job in jobs]
    for t in pressers:
        t.start()
    for t in pressers:
        t.join(10)
    assert sorted(j.state for j in jobs).count("queued") == 27
    assert sorted(j.queue_position for j in jobs if j.state == "queued") == list(range(1, 28))
    while any(j.state in ("queued", "running") for j in jobs):
        for job in jobs:
            if job.state == "running":
                job.gate.set()
        time.sleep(0.002)
    for job in jobs:
        job.join(10)
    assert [j.state for j in jobs] == ["finished"] * 30
    assert Gate.peak <= 3 and pool.running == 0


def test_without_a_pool_jobs_start_at_once():
    jobs = [Gate(None) for _ in range(5)]
    for job in jobs:
        job.start()
    assert {j.state for j in jobs} == {"running"} and {j.queue_position for j in jobs} == {None}
    wait_for(lambda: Gate.active == 5)
    for job in jobs:
        job.stop()


def test_trainings_pause_between_steps_only_while_a_long_request_runs(monkeypatch):
    import workbench.jobs as jobs

    slept = []
    monkeypatch.setattr(jobs.time, "sleep", slept.append)
    clock = [100.0]
    monkeypatch.setattr(jobs.time, "monotonic", lambda: clock[0])
    pool = SlotPool(1)
    pool.pace()
    assert slept == []  # no request
    with pool.serving():
        pool.pace()
        assert slept == []  # a request that has just begun
        clock[0] += 2 * jobs.SLOW_REQUEST_SECONDS
        pool.pace()
        assert slept == [jobs.PACE_SECONDS]
    pool.pace()
    assert slept == [jobs.PACE_SECONDS]  # it ended: no more pauses


def test_the_server_marks_every_request_for_the_trainings():
    from workbench.app.server import Paced

    pool = SlotPool(1)
    seen = []

    def app(environ, start_response):
        seen.append(len(pool._serving))
        start_response("200 OK", [])
        return [b"ok"]

    assert Paced(app, pool)({}, lambda *a: None) == [b"ok"]
    assert seen == [1] and pool._serving == {}
