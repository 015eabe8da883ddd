"""``BackgroundJob``: one piece of work in a daemon thread that other threads start, stop and poll.

The base of :class:`~workbench.training.Trainer` and
:class:`~workbench.lottery.LotteryRunner`. It owns the thread (one torch
thread), the state machine, the stop and pause events and the capture of
errors; a subclass writes :meth:`BackgroundJob._run` and its own progress
properties, guarding what the thread writes with ``self._guard``.

A :class:`SlotPool` bounds how many jobs run at once: a job started with
``slots=pool`` while every slot is taken waits, in state ``"queued"``, in a
first-in first-out queue whose :meth:`SlotPool.position` can be read, and
runs when a slot frees. One pool is shared by every job of a server (one
slot per core by default), so 30 people pressing Start at once make
``N`` runs and a queue, not 30 threads fighting for the cores.

Example:
    >>> pool = SlotPool(2)
    >>> jobs = [Trainer(model_i, data, config, slots=pool) for model_i in models]
    >>> for job in jobs:
    ...     job.start()
    >>> [job.state for job in jobs[:3]], pool.position(jobs[2])
    (['running', 'running', 'queued'], 1)
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch

from workbench.errors import TrainingError

__all__ = ["PACE_SECONDS", "SLOW_REQUEST_SECONDS", "BackgroundJob", "JobState", "SlotPool"]

JobState = Literal["idle", "queued", "running", "paused", "stopped", "finished", "failed"]

#: A request running longer than this makes trainings pause between steps (:meth:`SlotPool.pace`).
SLOW_REQUEST_SECONDS = 0.05
#: How long a training sleeps between steps while such a request runs.
PACE_SECONDS = 0.01


class SlotPool:
    """At most ``capacity`` holders at once; the others wait in a first-in first-out queue.

    The pool hands a freed slot straight to the head of the queue, so a job
    that asks later never overtakes one that waits. It knows nothing about
    jobs beyond their identity; :class:`BackgroundJob` uses it through
    :meth:`request`, :meth:`wait`, :meth:`release` and :meth:`cancel`.

    Args:
        capacity: how many may hold a slot at once (default: the number of
            cores, :func:`os.cpu_count`).

    Raises:
        TrainingError: ``capacity`` is not a positive int.
    """

    def __init__(self, capacity: int | None = None) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._holders: set[object] = set()
        self._queue: deque[object] = deque()
        self._serving: dict[int, float] = {}  # request number -> its start (time.monotonic)
        self._requests = itertools.count()
        self._capacity = 0
        self.capacity = (os.cpu_count() or 1) if capacity is None else capacity

    @property
    def capacity(self) -> int:
        """How many may hold a slot at once; raising it lets queued ones start at once."""
        with self._cond:
            return self._capacity

    @capacity.setter
    def capacity(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise TrainingError(f"the number of training slots must be a positive int, not {value!r}")
        with self._cond:
            self._capacity = value
            self._grant()

    @property
    def running(self) -> int:
        """How many hold a slot now."""
        with self._cond:
            return len(self._holders)

    @property
    def waiting(self) -> int:
        """How many wait in the queue now."""
        with self._cond:
            return len(self._queue)

    # -- trainings defer to requests
    @contextmanager
    def serving(self) -> Iterator[None]:
        """Mark a request being answered (the server wraps every request in it), for :meth:`pace`."""
        number = next(self._requests)
        with self._cond:
            self._serving[number] = time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                del self._serving[number]

    def pace(self) -> None:
        """Called by a training between steps: sleep :data:`PACE_SECONDS` while a request has been running
        for over :data:`SLOW_REQUEST_SECONDS`.

        Python runs one thread at a time; training threads that step without a pause leave a
        long request (a large design being generated and drawn) a third of the interpreter
        with two trainings running. The pause hands it over; a short request never causes one.
        """
        with self._cond:
            oldest = min(self._serving.values(), default=None)
        if oldest is not None and time.monotonic() - oldest > SLOW_REQUEST_SECONDS:
            time.sleep(PACE_SECONDS)

    def _grant(self) -> None:
        """Move the head of the queue to the free slots (call with the lock held)."""
        while self._queue and len(self._holders) < self._capacity:
            self._holders.add(self._queue.popleft())
        self._cond.notify_all()

    def request(self, holder: object) -> bool:
        """Take a slot now if one is free and nobody waits (True), else join the end of the queue (False).

        Asking again while holding or waiting changes nothing.
        """
        with self._cond:
            if holder in self._holders:
                return True
            if holder not in self._queue:
                self._queue.append(holder)
                self._grant()
            return holder in self._holders

    def wait(self, holder: object, stop: threading.Event | None = None) -> bool:
        """Block until ``holder`` (who asked with :meth:`request`) holds a slot.

        Returns:
            True once it holds one; False when it was cancelled first
            (:meth:`cancel`) or ``stop`` is set, and then it holds no slot.
        """
        with self._cond:
            while holder not in self._holders:
                if holder not in self._queue or (stop is not None and stop.is_set()):
                    self._drop(holder)
                    return False
                self._cond.wait(0.5)  # ``stop`` has no way to notify us: look again now and then
            if stop is not None and stop.is_set():
                self._drop(holder)
                return False
            return True

    def position(self, holder: object) -> int | None:
        """1 for the head of the queue, 2 for the next...; None when ``holder`` does not wait."""
        with self._cond:
            try:
                return self._queue.index(holder) + 1
            except ValueError:
                return None

    def holds(self, holder: object) -> bool:
        """Whether ``holder`` holds a slot now."""
        with self._cond:
            return holder in self._holders

    def release(self, holder: object) -> None:
        """Give back ``holder``'s slot, or its place in the queue; the next in the queue gets the slot."""
        with self._cond:
            self._drop(holder)

    cancel = release

    def _drop(self, holder: object) -> None:
        self._holders.discard(holder)
        if holder in self._queue:
            self._queue.remove(holder)
        self._grant()


class BackgroundJob:
    """A job that runs once in a daemon thread.

    States: ``"idle"`` -> ``"running"`` (<-> ``"paused"``, for jobs that
    pause) -> ``"finished"`` (:meth:`_run` returned), ``"stopped"``
    (:meth:`stop`) or ``"failed"`` (:meth:`_run` raised; see :attr:`error`).
    With a :class:`SlotPool` whose slots are all taken, :meth:`start` leads to
    ``"queued"`` instead, and the job moves on to ``"running"`` when a slot
    frees (see :attr:`queue_position`); :meth:`stop` on a queued job takes it
    out of the queue.

    :meth:`_run` should end soon after ``self._stop`` is set; a job that
    pauses waits on ``self._go`` (set while running, cleared while paused)
    between units of work.

    Args:
        name: the thread's name.
        started_before: the message of the error :meth:`start` raises on a
            second call, with ``{state!r}`` where the state goes.
        slots: the pool that bounds how many jobs run at once (None: no bound).
    """

    def __init__(self, *, name: str, started_before: str, slots: SlotPool | None = None) -> None:
        self._started_before = started_before
        self._slots = slots
        self._guard = threading.Lock()  # protects the state, the error and what the subclass's thread writes
        self._state: JobState = "idle"
        self._error: str | None = None
        self._stop = threading.Event()
        self._go = threading.Event()  # set while running, cleared while paused
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    @property
    def state(self) -> JobState:
        with self._guard:
            return self._state

    @property
    def error(self) -> str | None:
        """Why the job failed (state ``"failed"``), else None."""
        with self._guard:
            return self._error

    @property
    def queue_position(self) -> int | None:
        """While waiting for a slot: 1 if this job runs next, 2 after that...; otherwise None.

        None as soon as the job has its slot, which can be a moment before its state leaves ``"queued"``.
        """
        return self._slots.position(self) if self._slots is not None else None

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _set_state(self, state: JobState, *, only_from: tuple[str, ...] | None = None) -> bool:
        """Move to ``state`` (only from one of ``only_from``, if given); True if it moved."""
        with self._guard:
            if only_from is not None and self._state not in only_from:
                return False
            self._state = state
            return True

    def start(self) -> None:
        """Start the job in the background: ``"running"`` now, or ``"queued"`` until a slot frees.

        Raises:
            TrainingError: the job was started before.
        """
        with self._guard:
            if self._state != "idle":
                raise TrainingError(self._started_before.format(state=self._state))
            granted = self._slots is None or self._slots.request(self)
            self._state = "running" if granted else "queued"
        self._go.set()
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop after the current unit of work and wait for the thread (at most ``timeout`` seconds).

        No effect on a job that has ended; an idle job becomes ``"stopped"``, and a queued one
        leaves the queue.
        """
        self._set_state("stopped", only_from=("idle", "queued", "running", "paused"))
        self._stop.set()
        self._go.set()
        if self._slots is not None:
            self._slots.cancel(self)
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (it ends when the job finishes, stops or fails)."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        """The work, in the thread; ends early once ``self._stop`` is set."""
        raise NotImplementedError

    def _main(self) -> None:
        if self._slots is not None:
            if not self._slots.wait(self, self._stop):  # stopped while queued
                return
            self._set_state("running", only_from=("queued",))
        torch.set_num_threads(1)
        try:
            self._run()
            self._set_state("finished", only_from=("running", "paused"))
        except Exception as exc:  # the thread must report every failure, not die silently
            message = str(exc) if isinstance(exc, TrainingError) else f"{type(exc).__name__}: {exc}"
            with self._guard:
                self._error = message
                self._state = "failed"
        finally:
            if self._slots is not None:
                self._slots.release(self)
