"""The ticket search of a session: a lottery run in a background thread, its rounds, and loading one.

The run trains a fresh copy of the session's model (every designed
connection on, new weights from the seed), so the workspace's model is
untouched until a round is loaded into it: automatically for each new ticket
round while "follow" is on, or the round chosen on "Load". Loading a round
makes it the workspace's model (the model has settled: the pruning slider
starts again from its masks).

Everything here is free of Dash; the views draw :class:`TicketPoll` results.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from workbench.app.state.analysis import layer_title
from workbench.app.state.settings import read_number
from workbench.errors import SweepError, TrainingError
from workbench.lottery import LotteryConfig, LotteryRunner, RoundResult, load_round, reinitialize
from workbench.lottery.summary import SweepSummary, open_sweep
from workbench.sparse import named_maskable_layers
from workbench.training import resolve_device

__all__ = [
    "CONDITION_NAMES",
    "TicketPoll",
    "TicketState",
    "density_rows",
    "find_round",
    "find_sweeps",
    "load_chosen_round",
    "lottery_config",
    "open_sweep_in",
    "poll_ticket",
    "progress_text",
    "round_key",
    "round_label",
    "start_ticket",
]

#: The conditions of a run, in drawing order, with their names on the page.
CONDITION_NAMES = {
    "ticket": "winning ticket (rewound)",
    "reinit": "same masks, random init",
    "random": "random masks, same density",
}


@dataclass
class TicketState:
    """The ticket search of one session.

    Attributes:
        runner: the background experiment.
        template: a CPU copy of the model the run started from (rounds are loaded into copies of it).
        designed: designed connections per layer (round 0's counts), the 100% of the density bars.
        sent: results the page has drawn.
        followed: the last ticket round loaded into the workspace model (-1: none).
    """

    runner: LotteryRunner
    template: nn.Module
    designed: dict[str, int]
    sent: int = 0
    followed: int = -1


def lottery_config(*, rounds, rate, output_rate, scope, rewind, iterations, controls: Iterable[str] | None, seed):
    """The experiment the form describes; rates are percents, an empty output rate means "same as rate".

    Raises:
        FormError: a field is empty or out of range (named in the message).
    """
    iterations = read_number(iterations, "Iterations per round", low=1, high=10**7, integer=True)
    out = None if output_rate in (None, "") else read_number(output_rate, "Output layer rate", low=0, high=99) / 100
    return LotteryConfig(
        rounds=read_number(rounds, "Rounds", low=0, high=50, integer=True),
        rate=read_number(rate, "Rate per round", low=0, high=99) / 100,
        output_rate=out,
        scope="global" if scope == "global" else "layer",
        rewind=read_number(rewind, "Rewind iteration", low=0, high=iterations - 1, integer=True),
        iterations=iterations,
        eval_every=max(1, iterations // 20),
        controls=tuple(c for c in ("reinit", "random") if c in (controls or ())),
        seed=read_number(0 if seed in (None, "") else seed, "Seed", low=0, high=2**31 - 1, integer=True),
    )


def start_ticket(session, config: LotteryConfig, device: str = "cpu") -> TicketState:
    """Start a lottery run on a fresh copy of the session's model (sets ``session.ticket``).

    Raises:
        TrainingError: no model, a training or ticket run is going on, or the model does not fit the data.
    """
    ws = session.workspace
    old = session.ticket
    if old is not None and old.runner.running:
        raise TrainingError("a ticket search is running already; stop it first")
    if ws.model is None:
        raise TrainingError("build a model first")
    if ws.running:
        raise TrainingError("training is running; stop it first")
    if not ws.fits():
        raise TrainingError(f"the model does not fit the {ws.dataset_name} data; build it again")
    with ws.weights_lock():
        template = copy.deepcopy(ws.model).cpu()
    model = copy.deepcopy(template)
    for _, layer in named_maskable_layers(model):
        layer.reset_mask()
    reinitialize(model, seed=config.seed)
    designed = {name: int(layer.mask.sum()) for name, layer in named_maskable_layers(model)}
    runner = LotteryRunner(model, ws.dataset, config, device=resolve_device(device or "cpu"), slots=ws.slots)
    runner.start()
    session.ticket = TicketState(runner, template, designed)
    return session.ticket


def load_round_into(session, result: RoundResult) -> None:
    """Make ``result`` the session's model (the pruning slider and every view follow)."""
    state = session.ticket
    label = "dense" if result.round == 0 else result.condition
    note = f"ticket round {result.round} ({label}, {result.percent_remaining:.1f}% of weights)"
    model = copy.deepcopy(state.template)
    load_round(model, result)
    session.workspace.set_model(model, note=note)


def round_key(result: RoundResult) -> str:
    """The chooser's value for a result: ``"ticket/3"``."""
    return f"{result.condition}/{result.round}"


def round_label(result: RoundResult) -> str:
    """``"round 3 · winning ticket (rewound) · 51.2% · acc 97.1%"``."""
    name = "dense" if result.round == 0 else CONDITION_NAMES[result.condition]
    return f"round {result.round} · {name} · {result.percent_remaining:.1f}% · acc {100 * result.final_accuracy:.1f}%"


def find_round(results: Sequence[RoundResult], key: str | None) -> RoundResult | None:
    """The result with :func:`round_key` ``key`` (round 0 under any condition), else None."""
    if not isinstance(key, str) or "/" not in key:
        return None
    condition, _, number = key.partition("/")
    for r in results:
        if str(r.round) == number and (r.condition == condition or r.round == 0):
            return r
    return None


def load_chosen_round(session, key: str | None) -> RoundResult:
    """Load the round ``key`` of the session's run into the workspace.

    Raises:
        TrainingError: no run, or no finished round with that key.
    """
    state = session.ticket
    result = find_round(state.runner.results_since(0), key) if state is not None else None
    if result is None:
        raise TrainingError("choose a finished round first")
    load_round_into(session, result)
    return result


def density_rows(result: RoundResult, designed: Mapping[str, int], model: nn.Module) -> list[tuple[str, int, int]]:
    """``(layer title, kept, designed)`` per layer of one round, for the density bars."""
    return [(layer_title(name, model), kept, designed.get(name, kept)) for name, kept in result.layer_remaining.items()]


def progress_text(state: str, done: int, total: int, results: Sequence[RoundResult]) -> str:
    """One line: state, iterations done, and the newest ticket round."""
    share = f"{done / total:.0%}" if total else "–"
    line = f"{state} · {done:,} of {total:,} iterations ({share})"
    tickets = [r for r in results if r.condition == "ticket"]
    if tickets:
        last = tickets[-1]
        line += (
            f" · round {last.round}: {last.percent_remaining:.1f}% of weights, "
            f"test accuracy {100 * last.final_accuracy:.2f}%, early stop at iteration {last.early_stop_iteration}"
        )
    return line


@dataclass
class TicketPoll:
    """What one look at the run found: its state, every result, the new ones, the newest ticket round."""

    status: str
    error: str | None
    results: list[RoundResult]
    fresh: list[RoundResult]
    progress: str
    newest: RoundResult | None
    loaded: bool  # a new round was loaded into the workspace


def poll_ticket(session, *, follow: bool, redraw: bool = False) -> TicketPoll | None:
    """Collect the run's new results; with ``follow`` load a new ticket round into the workspace.

    ``redraw`` marks every result fresh (a page load draws the run whole). Returns None without a run.
    """
    state = session.ticket
    if state is None:
        return None
    if redraw:
        state.sent = 0
    runner = state.runner
    status = runner.state  # read before the results, so a run that just ended is read in full
    results = runner.results_since(0)
    fresh = results[state.sent :]
    state.sent = len(results)
    newest = next((r for r in reversed(results) if r.condition == "ticket"), None)
    loaded = False
    if follow and not redraw and newest is not None and newest.round > state.followed:
        state.followed = newest.round
        load_round_into(session, newest)
        loaded = True
    return TicketPoll(
        status=status,
        error=runner.error,
        results=results,
        fresh=fresh,
        progress=progress_text(status, runner.done, runner.total, results),
        newest=newest,
        loaded=loaded,
    )


def find_sweeps(root: Path) -> list[str]:
    """The sweep folders below ``root`` (those holding ``<setting>/seed-<s>/results.json``), relative, sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = {path.parent.parent.parent for path in root.glob("**/seed-*/results.json")}
    return sorted(str(folder.relative_to(root)) for folder in found if folder != root.parent)


def open_sweep_in(root: Path, name: str) -> SweepSummary:
    """The sweep ``name`` below ``root``; nothing outside ``root`` is read.

    Raises:
        SweepError: ``name`` is not a sweep folder below ``root``, or its files cannot be read.
    """
    if not isinstance(name, str) or not name:
        raise SweepError("choose a sweep folder first")
    root = Path(root).resolve()
    folder = (root / name).resolve()
    if folder != root and root not in folder.parents:
        raise SweepError(f"{name!r} is not a folder below {root}")
    return open_sweep(folder)
