"""Iterative magnitude pruning with rewinding: lottery tickets and the controls that test them.

One experiment (Frankle & Carbin, ICLR 2019; rewinding to iteration ``k``,
Frankle et al., ICML 2020):

1. round 0 trains the model as it is and keeps a copy of its weights after
   ``rewind`` iterations (``rewind=0``: the initialisation);
2. every later round prunes ``rate`` of the weights that are still on,
   smallest trained magnitude first (per layer or globally; the output layer
   at its own ``output_rate``), sets the survivors back to the copy, and
   trains again from iteration ``rewind`` to ``iterations``.

Two controls train beside each ticket with the same number of weights:
``"reinit"`` keeps the ticket's masks with freshly drawn weights, and
``"random"`` keeps the rewound weights with masks drawn at random with the
ticket's per-layer counts. Round 0 (the dense network) is shared by all three.

The pure mask steps (:func:`prune_masks`, :func:`random_masks`) never touch a
model; :func:`rewind`, :func:`reinitialize` and :func:`load_round` say that
they mutate theirs. :func:`iterate_lottery` works on copies, so the model it
is given is left as it was.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from workbench.errors import PruningError
from workbench.lottery.loop import RoundTraining, Splits, splits_of, state_copy, train_round
from workbench.lottery.results import LotteryResult, RoundResult
from workbench.lottery.steps import output_layer_name, prune_masks, random_masks, reinitialize, rewind
from workbench.pruning import Scope, current_masks, weight_snapshot

__all__ = ["CONDITIONS", "Checkpoint", "LotteryConfig", "iterate_lottery", "networks_in", "run_lottery", "runs_in"]

#: The ticket and its two controls, in the order each round trains them.
CONDITIONS = ("ticket", "reinit", "random")


@dataclass(frozen=True)
class LotteryConfig:
    """Settings of one lottery experiment (defaults: the paper's LeNet-300-100, shorter).

    Attributes:
        rounds: pruning rounds after the dense round 0.
        rate: fraction of the remaining weights pruned per round.
        output_rate: fraction pruned from the output layer per round; ``None``
            treats it like any other layer (paper: 0.2 hidden, 0.1 output).
        scope: ``"layer"`` prunes ``rate`` of every layer; ``"global"`` ranks
            all layers but the output layer together (and the output layer too
            when ``output_rate`` is ``None``).
        rewind: iteration whose weights the survivors are set back to (0: init).
        iterations: training iterations of round 0; later rounds train from
            ``rewind`` to ``iterations``.
        batch_size, lr: minibatch size and Adam learning rate.
        eval_every: iterations between evaluations (early-stopping resolution).
        controls: which of ``"reinit"`` and ``"random"`` to train each round.
        output_layer: name of the output layer (default: the last maskable one).
        seed: seeds minibatches, fresh initialisations, random masks and the hold-out.
        validation: examples held out of the training set for the validation
            loss (a count or a fraction), unless the dataset has ``x_val``.
    """

    rounds: int = 10
    rate: float = 0.2
    output_rate: float | None = None
    scope: Scope = "layer"
    rewind: int = 0
    iterations: int = 1000
    batch_size: int = 60
    lr: float = 1.2e-3
    eval_every: int = 100
    controls: tuple[str, ...] = ("reinit", "random")
    output_layer: str | None = None
    seed: int = 0
    validation: float | int = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 0:
            raise PruningError(f"rounds must be a non-negative int, got {self.rounds!r}")
        for name in ("rate", "output_rate"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and 0.0 <= value < 1.0):
                raise PruningError(f"{name} must be a fraction in [0, 1), got {value!r}")
        if self.scope not in ("layer", "global"):
            raise PruningError(f"unknown scope {self.scope!r}; expected 'layer' or 'global'")
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise PruningError(f"iterations must be a positive int, got {self.iterations!r}")
        if not isinstance(self.rewind, int) or not 0 <= self.rewind < self.iterations:
            raise PruningError(f"rewind iteration {self.rewind!r} is not in [0, iterations={self.iterations})")
        if self.batch_size < 1 or self.eval_every < 1 or not self.lr > 0:
            raise PruningError(
                f"batch_size {self.batch_size!r}, eval_every {self.eval_every!r} and lr {self.lr!r} must be positive"
            )
        unknown = set(self.controls) - set(CONDITIONS[1:])
        if unknown:
            raise PruningError(f"unknown controls {sorted(unknown)}; expected some of {list(CONDITIONS[1:])}")


@dataclass(frozen=True)
class Checkpoint:
    """What an experiment needs to go on after ``round``: the ticket's trained state and the rewinding state.

    The next round prunes the ticket's trained weights (``ticket_state`` holds
    them and the ticket's masks) and sets the survivors back to
    ``rewind_state``. Every random draw of a round is seeded from the config,
    so an experiment resumed from a checkpoint trains bit for bit the same
    networks as one that ran through.

    Attributes:
        round: the last round whose networks all finished (0: the dense one).
        ticket_state: the ticket's ``state_dict`` after training ``round`` (CPU tensors).
        rewind_state: the state that survivors are rewound to (CPU tensors).
    """

    round: int
    ticket_state: dict[str, torch.Tensor]
    rewind_state: dict[str, torch.Tensor]


# ----------------------------------------------------------------------- the experiment


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _record(
    round: int, condition: str, model: nn.Module, trained: RoundTraining, total: int, seconds: float, keep_state: bool
) -> RoundResult:
    masks = {n: m.detach().cpu().clone() for n, m in current_masks(model).items()}
    early = trained.early_stop
    return RoundResult(
        round=round,
        condition=condition,
        remaining=sum(int(m.sum()) for m in masks.values()),
        total=total,
        layer_remaining={n: int(m.sum()) for n, m in masks.items()},
        final_accuracy=trained.final.test_accuracy,
        best_accuracy=trained.best_accuracy,
        early_stop_iteration=early.iteration,
        early_stop_accuracy=early.test_accuracy,
        min_val_loss=early.val_loss,
        seconds=seconds,
        curve=[(e.iteration, e.val_loss, e.test_accuracy) for e in trained.curve],
        masks=masks,
        state={k: v.cpu() for k, v in state_copy(model).items()} if keep_state else None,
    )


def iterate_lottery(
    model: nn.Module,
    data,
    config: LotteryConfig = LotteryConfig(),
    *,
    device: torch.device | str | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
    keep_states: bool = True,
    on_rewind_state: Callable[[dict[str, torch.Tensor]], None] | None = None,
    resume: Checkpoint | None = None,
) -> Iterator[RoundResult]:
    """Run the experiment on a copy of ``model``, yielding each trained network as it finishes.

    Yields round 0 (condition ``"ticket"``), then per round the ticket and its
    controls in :data:`CONDITIONS` order. Stops early, without yielding the
    unfinished network, when ``stop`` is set.

    Args:
        model: a model with maskable layers (``MaskedDeepFFN``, ``MaskedDeepDAN``, ...);
            its current masks are the design that round 0 trains. Not modified.
        data: a :class:`~workbench.lottery.loop.Splits` or a dataset for
            :func:`~workbench.lottery.loop.splits_of`.
        device: where to train (default: the model's device).
        progress: called with training iterations done (for progress bars).
        keep_states: keep every round's trained weights (for :func:`load_round`).
        on_rewind_state: receives the saved rewinding state once round 0 has it
            (or at once, when resuming).
        resume: go on after this checkpoint's round instead of starting from
            round 0 (``model`` must be the one the experiment started with, for
            its design); yields only the later rounds.

    Example:
        >>> for result in iterate_lottery(MaskedDeepFFN(64, 10, [32]), load_dataset("digits"), LotteryConfig(rounds=3)):
        ...     print(result.round, result.condition, result.percent_remaining, result.final_accuracy)
    """
    device = torch.device(device) if device is not None else _device_of(model)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    if not isinstance(data, Splits):
        data = splits_of(data, validation=config.validation, seed=config.seed)
    splits = data.to(device, dtype)
    ticket = copy.deepcopy(model).to(device)
    out_name = output_layer_name(ticket, config.output_layer)
    designed = current_masks(ticket)
    total = sum(int(m.sum()) for m in designed.values())
    train = {
        "batch_size": config.batch_size,
        "lr": config.lr,
        "eval_every": config.eval_every,
        "stop": stop,
        "progress": progress,
    }

    def batches(round: int, condition: str) -> torch.Generator:
        return torch.Generator().manual_seed(config.seed * 100_003 + round * 10 + CONDITIONS.index(condition))

    if resume is None:
        began = time.perf_counter()
        trained = train_round(
            ticket, splits, stop_at=config.iterations, save_at=config.rewind, generator=batches(0, "ticket"), **train
        )
        if trained.stopped or trained.saved is None:
            return
        rewind_state = trained.saved
        if on_rewind_state is not None:
            on_rewind_state({k: v.cpu() for k, v in rewind_state.items()})
        yield _record(0, "ticket", ticket, trained, total, time.perf_counter() - began, keep_states)
        first = 1
    else:
        ticket.load_state_dict(resume.ticket_state)
        rewind_state = {k: v.to(device) for k, v in resume.rewind_state.items()}
        if on_rewind_state is not None:
            on_rewind_state({k: v.cpu() for k, v in rewind_state.items()})
        first = resume.round + 1

    masks = current_masks(ticket)
    for r in range(first, config.rounds + 1):
        masks = prune_masks(
            weight_snapshot(ticket),
            masks,
            rate=config.rate,
            output_rate=config.output_rate,
            output_layer=out_name,
            scope=config.scope,
        )
        for condition in ("ticket", *[c for c in CONDITIONS[1:] if c in config.controls]):
            began = time.perf_counter()
            net = ticket if condition == "ticket" else copy.deepcopy(ticket)
            if condition == "random":
                chosen = random_masks(masks, base=designed, generator=batches(r, "random"))
                rewind(net, rewind_state, chosen)
            else:
                rewind(net, rewind_state, masks)
            if condition == "reinit":
                reinitialize(net, seed=config.seed * 100_003 + r)
            trained = train_round(
                net, splits, start=config.rewind, stop_at=config.iterations, generator=batches(r, condition), **train
            )
            if trained.stopped:
                return
            yield _record(r, condition, net, trained, total, time.perf_counter() - began, keep_states)


def run_lottery(
    model: nn.Module,
    data,
    config: LotteryConfig = LotteryConfig(),
    *,
    device: torch.device | str | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
    keep_states: bool = True,
) -> LotteryResult:
    """Run :func:`iterate_lottery` to the end and collect its results (``model`` is not modified).

    Example:
        >>> result = run_lottery(MaskedDeepFFN(784, 10, [300, 100]), load_dataset("mnist"),
        ...                      LotteryConfig(rounds=10, rate=0.2, output_rate=0.1, iterations=5000))
        >>> [(r.percent_remaining, r.final_accuracy) for r in result.by_condition()["ticket"]]
    """
    began = time.perf_counter()
    saved: list[dict[str, torch.Tensor]] = []
    rounds = list(
        iterate_lottery(
            model,
            data,
            config,
            device=device,
            stop=stop,
            progress=progress,
            keep_states=keep_states,
            on_rewind_state=saved.append,
        )
    )
    return LotteryResult(
        config=config,
        rounds=rounds,
        rewind_state=saved[0] if saved else {},
        seconds=time.perf_counter() - began,
        stopped=len(rounds) < networks_in(config),
    )


def runs_in(config: LotteryConfig) -> int:
    """Training iterations an experiment with ``config`` runs in all (for progress bars)."""
    per_round = config.iterations - config.rewind  # every network after round 0 trains from the rewind point
    return config.iterations + (networks_in(config) - 1) * per_round


def networks_in(config: LotteryConfig) -> int:
    """Networks an experiment with ``config`` trains: round 0, then per round the ticket and its controls."""
    return 1 + config.rounds * (1 + len(set(config.controls)))
