"""Results of a lottery experiment: one record per trained network, and loading one back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from workbench.errors import MaskError
from workbench.pruning import apply_masks

if TYPE_CHECKING:
    from workbench.lottery.imp import LotteryConfig

__all__ = ["LotteryResult", "RoundResult", "load_round"]

Masks = dict[str, torch.Tensor]


@dataclass
class RoundResult:
    """One trained network of an experiment: a round of the ticket or of a control.

    Attributes:
        round, condition: round number (0 = dense) and one of :data:`CONDITIONS`.
        remaining, total: weights on after pruning, and designed at the start.
        layer_remaining: weights on per layer, by layer name.
        final_accuracy: test accuracy after the last iteration.
        best_accuracy: highest test accuracy over the evaluations.
        early_stop_iteration: iteration of the lowest validation loss.
        early_stop_accuracy: test accuracy at that iteration.
        min_val_loss: the lowest validation loss.
        seconds: wall time of this round's training.
        curve: ``(iteration, validation loss, test accuracy)`` per evaluation.
        masks: the masks it trained with (CPU tensors).
        state: its trained ``state_dict`` (CPU tensors), or ``None``.
    """

    round: int
    condition: str
    remaining: int
    total: int
    layer_remaining: dict[str, int]
    final_accuracy: float
    best_accuracy: float
    early_stop_iteration: int
    early_stop_accuracy: float
    min_val_loss: float
    seconds: float
    curve: list[tuple[int, float, float]]
    masks: Masks = field(repr=False)
    state: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def percent_remaining(self) -> float:
        return 100.0 * self.remaining / self.total if self.total else 0.0

    @classmethod
    def from_summary(cls, summary: dict, masks: Masks) -> RoundResult:
        """The inverse of :meth:`summary`, given the masks it trained with (no trained weights).

        Floats written by :meth:`summary` to JSON read back bit for bit.
        """
        return cls(
            round=int(summary["round"]),
            condition=str(summary["condition"]),
            remaining=int(summary["remaining"]),
            total=int(summary["total"]),
            layer_remaining={str(k): int(v) for k, v in summary["layer_remaining"].items()},
            final_accuracy=float(summary["final_accuracy"]),
            best_accuracy=float(summary["best_accuracy"]),
            early_stop_iteration=int(summary["early_stop_iteration"]),
            early_stop_accuracy=float(summary["early_stop_accuracy"]),
            min_val_loss=float(summary["min_val_loss"]),
            seconds=float(summary["seconds"]),
            curve=[(int(i), float(v), float(a)) for i, v, a in summary["curve"]],
            masks=dict(masks),
        )

    def summary(self) -> dict:
        """The JSON-ready fields (no tensors)."""
        return {
            "round": self.round,
            "condition": self.condition,
            "remaining": self.remaining,
            "total": self.total,
            "percent_remaining": round(self.percent_remaining, 4),
            "layer_remaining": dict(self.layer_remaining),
            "final_accuracy": self.final_accuracy,
            "best_accuracy": self.best_accuracy,
            "early_stop_iteration": self.early_stop_iteration,
            "early_stop_accuracy": self.early_stop_accuracy,
            "min_val_loss": self.min_val_loss,
            "seconds": round(self.seconds, 3),
            "curve": [list(c) for c in self.curve],
        }


@dataclass
class LotteryResult:
    """Every round of an experiment, the rewinding point and the time it took."""

    config: LotteryConfig
    rounds: list[RoundResult]
    rewind_state: dict[str, torch.Tensor] = field(repr=False)
    seconds: float = 0.0
    stopped: bool = False

    def get(self, round: int, condition: str = "ticket") -> RoundResult:
        """The result of ``condition`` at ``round`` (round 0 is the dense network for every condition).

        Raises:
            KeyError: that round was not trained.
        """
        for r in self.rounds:
            if r.round == round and (r.condition == condition or round == 0):
                return r
        raise KeyError(f"no {condition!r} result for round {round}")

    def by_condition(self) -> dict[str, list[RoundResult]]:
        """Results per condition in round order, each starting with the shared dense round 0."""
        out: dict[str, list[RoundResult]] = {c: [] for c in ("ticket", *self.config.controls)}
        dense = [r for r in self.rounds if r.round == 0]
        for c in out:
            out[c] = dense + [r for r in self.rounds if r.round > 0 and r.condition == c]
        return out


def load_round(model: nn.Module, result: RoundResult) -> None:
    """Load a round's trained weights and masks into ``model`` (mutates ``model``).

    Raises:
        MaskError: the round kept no weights (``keep_states=False``); its masks are still set.
    """
    if result.state is None:
        apply_masks(model, result.masks)
        raise MaskError(f"round {result.round} ({result.condition}) kept no weights; only its masks were loaded")
    model.load_state_dict(result.state)
    apply_masks(model, result.masks)
