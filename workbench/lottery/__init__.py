"""Lottery tickets: iterative magnitude pruning with rewinding, its controls, and torch.prune interop.

Example:
    >>> from workbench.lottery import LotteryConfig, run_lottery
    >>> result = run_lottery(MaskedDeepFFN(784, 10, [300, 100]), load_dataset("mnist"),
    ...                      LotteryConfig(rounds=10, rate=0.2, output_rate=0.1, iterations=3000))
    >>> for r in result.by_condition()["ticket"]:
    ...     print(f"{r.percent_remaining:5.1f}% {r.final_accuracy:.4f}")
"""

from workbench.lottery.imp import CONDITIONS, LotteryConfig, iterate_lottery, networks_in, run_lottery, runs_in
from workbench.lottery.loop import Evaluation, RoundTraining, Splits, splits_of, train_round
from workbench.lottery.results import LotteryResult, RoundResult, load_round
from workbench.lottery.runner import LotteryRunner
from workbench.lottery.steps import output_layer_name, prune_masks, random_masks, reinitialize, rewind
from workbench.lottery.torch_prune import (
    from_torch_pruned,
    from_torch_sequential,
    load_prune_state_dict,
    to_prune_state_dict,
    to_torch_pruned,
    to_torch_sequential,
    torch_prune_masks,
)

__all__ = [
    "CONDITIONS",
    "Evaluation",
    "LotteryConfig",
    "LotteryResult",
    "LotteryRunner",
    "RoundResult",
    "RoundTraining",
    "Splits",
    "from_torch_pruned",
    "from_torch_sequential",
    "iterate_lottery",
    "load_prune_state_dict",
    "load_round",
    "networks_in",
    "output_layer_name",
    "prune_masks",
    "random_masks",
    "reinitialize",
    "rewind",
    "run_lottery",
    "runs_in",
    "splits_of",
    "to_prune_state_dict",
    "to_torch_pruned",
    "to_torch_sequential",
    "torch_prune_masks",
    "train_round",
]
