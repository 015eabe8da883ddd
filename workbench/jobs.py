"""``BackgroundJob``: one piece of work in a daemon thread that other threads start, stop and poll.

The base of :class:`~workbench.training.Trainer` and
:class:`~workbench.lottery.LotteryRunner`. It owns the thread (one torch
thread), the state machine, the stop and pause events and the capture of
errors; a subclass writes :meth:`BackgroundJob._run` and its own progress
properties, guarding what the thread writes with ``self._guard``.
"""

from __future__ import annotations

import threading
from typing import Literal

import torch

from workbench.errors import TrainingError

__all__ = ["BackgroundJob", "JobState"]

JobState = Literal["idle", "running", "paused", "stopped", "finished", "failed"]


class BackgroundJob:
    """A job that runs once in a daemon thread.

    States: ``"idle"`` -> ``"running"`` (<-> ``"paused"``, for jobs that
    pause) -> ``"finished"`` (:meth:`_run` returned), ``"stopped"``
    (:meth:`stop`) or ``"failed"`` (:meth:`_run` raised; see :attr:`error`).

    :meth:`_run` should end soon after ``self._stop`` is set; a job that
    pauses waits on ``self._go`` (set while running, cleared while paused)
    between units of work.

    Args:
        name: the thread's name.
        started_before: the message of the error :meth:`start` raises on a
            second call, with ``{state!r}`` where the state goes.
    """

    def __init__(self, *, name: str, started_before: str) -> None:
        self._started_before = started_before
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
        """Start the job in the background.

        Raises:
            TrainingError: the job was started before.
        """
        if not self._set_state("running", only_from=("idle",)):
            raise TrainingError(self._started_before.format(state=self.state))
        self._go.set()
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop after the current unit of work and wait for the thread (at most ``timeout`` seconds).

        No effect on a job that has ended; an idle job becomes ``"stopped"``.
        """
        self._set_state("stopped", only_from=("idle", "running", "paused"))
        self._stop.set()
        self._go.set()
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
        torch.set_num_threads(1)
        try:
            self._run()
            self._set_state("finished", only_from=("running", "paused"))
        except Exception as exc:  # the thread must report every failure, not die silently
            message = str(exc) if isinstance(exc, TrainingError) else f"{type(exc).__name__}: {exc}"
            with self._guard:
                self._error = message
                self._state = "failed"
