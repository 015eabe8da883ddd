"""A lottery experiment in a background thread, for the app: start, stop, and poll results as rounds finish.

:class:`LotteryRunner` runs :func:`~workbench.lottery.imp.iterate_lottery`
in a daemon thread (one torch thread) on a copy of the model, so the caller's
model is never touched. Finished networks are appended to a list that other
threads read with :meth:`LotteryRunner.results_since`; :meth:`stop` ends the
run after the current training iteration.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from workbench.jobs import BackgroundJob, SlotPool
from workbench.lottery.imp import LotteryConfig, iterate_lottery, runs_in
from workbench.lottery.results import LotteryResult, RoundResult

__all__ = ["LotteryRunner", "RunnerState"]

RunnerState = Literal["idle", "queued", "running", "stopped", "finished", "failed"]


class LotteryRunner(BackgroundJob):
    """Runs one lottery experiment in a daemon thread.

    States: ``"idle"`` -> ``"running"`` -> ``"finished"``, ``"stopped"``
    (:meth:`stop`) or ``"failed"`` (see :attr:`error`). A runner runs once.
    With ``slots`` whose slots are all taken, it is ``"queued"`` until one frees.

    Args:
        model, data, config, device: as for :func:`~workbench.lottery.imp.iterate_lottery`.
        slots: the :class:`~workbench.jobs.SlotPool` shared with the server's trainers (None: no bound).

    Example:
        >>> runner = LotteryRunner(model, load_dataset("digits"), LotteryConfig(rounds=3))
        >>> runner.start()
        >>> fresh = runner.results_since(0)   # poll from another thread
        >>> runner.stop()
    """

    def __init__(
        self,
        model: nn.Module,
        data,
        config: LotteryConfig,
        *,
        device: torch.device | str | None = None,
        slots: SlotPool | None = None,
    ) -> None:
        super().__init__(
            name="workbench-lottery",
            started_before="this lottery run was started before (state {state!r}); make a new one",
            slots=slots,
        )
        self.config = config
        self._model, self._data, self._device = model, data, device
        self._results: list[RoundResult] = []
        self._rewind_state: dict[str, torch.Tensor] = {}
        self._done = 0
        self.total = runs_in(config)

    @property
    def done(self) -> int:
        """Training iterations done so far (of :attr:`total`)."""
        with self._guard:
            return self._done

    @property
    def running(self) -> bool:
        return self.state == "running"

    def results_since(self, n: int) -> list[RoundResult]:
        """Finished networks after the first ``n`` (the caller has ``n`` already)."""
        with self._guard:
            return list(self._results[max(0, n) :])

    def result(self) -> LotteryResult:
        """Everything finished so far as a :class:`LotteryResult`."""
        with self._guard:
            rounds, rewind_state, state = list(self._results), self._rewind_state, self._state
        return LotteryResult(self.config, rounds, rewind_state, stopped=state in ("stopped", "failed"))

    def _progress(self, n: int) -> None:
        with self._guard:
            self._done += n

    def _keep_rewind_state(self, state: dict[str, torch.Tensor]) -> None:
        with self._guard:
            self._rewind_state = state

    def _run(self) -> None:
        for r in iterate_lottery(
            self._model,
            self._data,
            self.config,
            device=self._device,
            stop=self._stop,
            progress=self._progress,
            on_rewind_state=self._keep_rewind_state,
        ):
            with self._guard:
                self._results.append(r)
