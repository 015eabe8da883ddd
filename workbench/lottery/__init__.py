"""Lottery tickets: iterative magnitude pruning with rewinding, its controls, and torch.prune interop.

Example:
    >>> from workbench.lottery import LotteryConfig, run_lottery
    >>> result = run_lottery(MaskedDeepFFN(784, 10, [300, 100]), load_dataset("mnist"),
    ...                      LotteryConfig(rounds=10, rate=0.2, output_rate=0.1, iterations=3000))
    >>> for r in result.by_condition()["ticket"]:
    ...     print(f"{r.percent_remaining:5.1f}% {r.final_accuracy:.4f}")

Many seeds and settings, on Ray when it is installed (see :mod:`workbench.lottery.sweep`):
    >>> run_sweep(Sweep(LotteryConfig(rounds=12, output_rate=0.1), seeds=(0, 1, 2)), "results/sweep", workers=2)
    >>> open_sweep("results/sweep").settings["rate0.2-rewind0"]["ticket"].accuracy_mean
"""

from workbench.lottery.imp import (
    CONDITIONS,
    Checkpoint,
    LotteryConfig,
    iterate_lottery,
    networks_in,
    run_lottery,
    runs_in,
)
from workbench.lottery.loop import Evaluation, RoundTraining, Splits, splits_of, train_round
from workbench.lottery.results import LotteryResult, RoundResult, load_round
from workbench.lottery.runner import LotteryRunner
from workbench.lottery.steps import output_layer_name, prune_masks, random_masks, reinitialize, rewind
from workbench.lottery.summary import ConditionCurve, SeedCurve, SweepSummary, markdown_summary, open_sweep
from workbench.lottery.sweep import Sweep, SweepEvent, SweepOutcome, run_sweep, setting_name
from workbench.lottery.torch_prune import (
    from_torch_sequential,
    load_prune_state_dict,
    to_prune_state_dict,
    to_torch_sequential,
)

__all__ = [
    "CONDITIONS",
    "Checkpoint",
    "ConditionCurve",
    "Evaluation",
    "LotteryConfig",
    "LotteryResult",
    "LotteryRunner",
    "RoundResult",
    "RoundTraining",
    "SeedCurve",
    "Splits",
    "Sweep",
    "SweepEvent",
    "SweepOutcome",
    "SweepSummary",
    "from_torch_sequential",
    "iterate_lottery",
    "load_prune_state_dict",
    "load_round",
    "markdown_summary",
    "networks_in",
    "open_sweep",
    "output_layer_name",
    "prune_masks",
    "random_masks",
    "reinitialize",
    "rewind",
    "run_lottery",
    "run_sweep",
    "runs_in",
    "setting_name",
    "splits_of",
    "to_prune_state_dict",
    "to_torch_sequential",
    "train_round",
]
