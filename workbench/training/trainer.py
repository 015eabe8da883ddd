"""``Trainer``: training in a daemon thread that the app can pause, resume, stop and poll."""

from __future__ import annotations

import threading

from torch import nn

from workbench.jobs import BackgroundJob, JobState, SlotPool
from workbench.training.datasets import Dataset
from workbench.training.loop import Record, StepCallback, TrainConfig, _Run

__all__ = ["Trainer", "TrainerState"]

TrainerState = JobState


class Trainer(BackgroundJob):
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
    Trainer on a pruned model). With ``slots`` whose slots are all taken,
    :meth:`start` leads to ``"queued"`` (see :attr:`queue_position`) until a
    slot frees; :meth:`stop` on a queued trainer takes it out of the queue.

    Args:
        model, dataset, config, steps, epochs: as for :func:`train`.
        on_step: ``on_step(step, loss)`` called in the thread after every step,
            without the lock; returning ``False`` stops training.
        slots: the :class:`~workbench.jobs.SlotPool` shared by the server's
            training jobs (None: start at once, whatever else runs).

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
        slots: SlotPool | None = None,
    ) -> None:
        self.model, self.dataset = model, dataset
        self.config = TrainConfig() if config is None else config
        self._steps, self._epochs = steps, epochs
        self.on_step = on_step
        super().__init__(
            name="workbench-trainer",
            started_before="this trainer was already started (state {state!r}); make a new Trainer",
            slots=slots,
        )
        self.lock = threading.RLock()
        self._history: list[Record] = []
        self._step = 0
        self._total_steps: int | None = None

    # -- state
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

    # -- control
    def pause(self) -> None:
        """Pause after the current step (no effect unless running)."""
        if self._set_state("paused", only_from=("running",)):
            self._go.clear()

    def resume(self) -> None:
        """Continue a paused run (no effect unless paused)."""
        if self._set_state("running", only_from=("paused",)):
            self._go.set()

    # -- the thread
    def _run(self) -> None:
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
            if self._slots is not None:
                self._slots.pace()  # a long request on the server gets the interpreter first
            if self.on_step is not None and self.on_step(run.step_count, loss) is False:
                self._stop.set()
                self._set_state("stopped", only_from=("running", "paused"))
                break
        if run.has_pending:
            with self.lock:
                record = run.record()
            with self._guard:
                self._history.append(record)
