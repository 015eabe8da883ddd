"""``Trainer``: training in a daemon thread that the app can pause, resume, stop and poll."""

from __future__ import annotations

import threading
from typing import Literal

import torch
from torch import nn

from workbench.errors import TrainingError
from workbench.training.datasets import Dataset
from workbench.training.loop import Record, StepCallback, TrainConfig, _Run

__all__ = ["Trainer", "TrainerState"]

TrainerState = Literal["idle", "running", "paused", "stopped", "finished", "failed"]


class Trainer:
    """Trains a model in a daemon thread that can be paused, resumed and stopped.

    The thread calls ``torch.set_num_threads(1)`` and holds :attr:`lock` while
    it steps or evaluates, so other threads can read or change the model
    safely between steps with ``with trainer.lock: ...``. History records are
    appended at least every ``config.record_interval`` seconds of training;
    poll them with :meth:`history_since`.

    States: ``"idle"`` -> ``"running"`` <-> ``"paused"`` -> ``"finished"``
    (all epochs done), ``"stopped"`` (:meth:`stop`) or ``"failed"`` (see
    :attr:`error`; the model keeps its weights and masks). A trainer runs
    once; to go on, make a new one on the same model (a fine-tune is just a
    Trainer on a pruned model).

    Args:
        model, dataset, config, steps, epochs: as for :func:`train`.
        on_step: ``on_step(step, loss)`` called in the thread after every step,
            without the lock; returning ``False`` stops training.

    Example:
        >>> trainer = Trainer(model, load_dataset("moons"), TrainConfig(epochs=50))
        >>> trainer.start()
        >>> records = trainer.history_since(0)
        >>> trainer.stop()
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset,
        config: TrainConfig | None = None,
        *,
        steps: int | None = None,
        epochs: int | None = None,
        on_step: StepCallback | None = None,
    ) -> None:
        self.model, self.dataset = model, dataset
        self.config = TrainConfig() if config is None else config
        self._steps, self._epochs = steps, epochs
        self.on_step = on_step
        self.lock = threading.RLock()
        self._guard = threading.Lock()  # protects state, error and history
        self._history: list[Record] = []
        self._state: TrainerState = "idle"
        self._error: str | None = None
        self._step = 0
        self._total_steps: int | None = None
        self._stop = threading.Event()
        self._go = threading.Event()  # set while running, cleared while paused
        self._thread = threading.Thread(target=self._main, name="workbench-trainer", daemon=True)

    # -- state
    @property
    def state(self) -> TrainerState:
        with self._guard:
            return self._state

    @property
    def error(self) -> str | None:
        """Why training failed (state ``"failed"``), else None."""
        with self._guard:
            return self._error

    @property
    def step(self) -> int:
        """Optimizer steps done so far."""
        with self._guard:
            return self._step

    @property
    def total_steps(self) -> int | None:
        """Steps the run will take (known once the thread has started)."""
        with self._guard:
            return self._total_steps

    @property
    def history(self) -> list[Record]:
        """A copy of every record so far."""
        return self.history_since(0)

    def history_since(self, n: int) -> list[Record]:
        """Records after the first ``n`` (copies; ``n`` is how many the caller already has)."""
        with self._guard:
            return [dict(r) for r in self._history[max(0, n) :]]

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _set_state(self, state: TrainerState, *, only_from: tuple[str, ...] | None = None) -> bool:
        with self._guard:
            if only_from is not None and self._state not in only_from:
                return False
            self._state = state
            return True

    # -- control
    def start(self) -> None:
        """Start training in the background.

        Raises:
            TrainingError: the trainer was started before.
        """
        if not self._set_state("running", only_from=("idle",)):
            raise TrainingError(f"this trainer was already started (state {self.state!r}); make a new Trainer")
        self._go.set()
        self._thread.start()

    def pause(self) -> None:
        """Pause after the current step (no effect unless running)."""
        if self._set_state("paused", only_from=("running",)):
            self._go.clear()

    def resume(self) -> None:
        """Continue a paused run (no effect unless paused)."""
        if self._set_state("running", only_from=("paused",)):
            self._go.set()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop after the current step and wait for the thread (at most ``timeout`` seconds).

        No effect on a trainer that has ended; an idle trainer becomes ``"stopped"``.
        """
        self._set_state("stopped", only_from=("idle", "running", "paused"))
        self._stop.set()
        self._go.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (it ends when training finishes, stops or fails)."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- the thread
    def _main(self) -> None:
        torch.set_num_threads(1)
        try:
            with self.lock:
                run = _Run(self.model, self.dataset, self.config, steps=self._steps, epochs=self._epochs)
            with self._guard:
                self._total_steps = run.total_steps
            while not run.done:
                self._go.wait()
                if self._stop.is_set():
                    break
                with self.lock:
                    loss = run.step()
                    record = run.record() if run.record_due() else None
                with self._guard:
                    self._step = run.step_count
                    if record is not None:
                        self._history.append(record)
                if self.on_step is not None and self.on_step(run.step_count, loss) is False:
                    self._stop.set()
                    self._set_state("stopped", only_from=("running", "paused"))
                    break
            if run.has_pending:
                with self.lock:
                    record = run.record()
                with self._guard:
                    self._history.append(record)
            self._set_state("finished", only_from=("running", "paused"))
        except Exception as exc:  # the thread must report every failure, not die silently
            message = str(exc) if isinstance(exc, TrainingError) else f"{type(exc).__name__}: {exc}"
            with self._guard:
                self._error = message
                self._state = "failed"
