"""Find-a-ticket panel: start and stop a lottery run in a background thread, poll it, load rounds into the model.

The run trains a fresh copy of the session's model (every designed
connection on, new weights from the seed), so the model on Build & train is
untouched until a round is loaded into it: automatically for each new ticket
round while "follow" is ticked, or the round chosen in the dropdown on
"Load". Loading replaces the workspace model, which bumps ``MODEL_VERSION``,
so the Prune and Inspect panels redraw for that round.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from dash import Input, Output, State, ctx, no_update

from workbench.app import ids
from workbench.app.callbacks.common import alert, error_message
from workbench.app.lottery_view import (
    TicketState,
    accuracy_figure,
    accuracy_patch,
    find_round,
    load_into,
    lottery_config,
    progress_text,
    round_density_figure,
    round_options,
)
from workbench.errors import TrainingError, WorkbenchError
from workbench.lottery import LotteryConfig, LotteryRunner, RoundResult, reinitialize
from workbench.sparse import named_maskable_layers
from workbench.training import resolve_device

__all__ = ["TicketPoll", "load_round_into_workspace", "poll_ticket", "redraw_ticket", "register", "start_ticket"]


def start_ticket(session, config: LotteryConfig, device: str | None = "cpu") -> TicketState:
    """Start a lottery run on a fresh copy of the session's model (mutates ``session.lottery``).

    Raises:
        TrainingError: no model, a training or lottery run is going on, or the model does not fit the data.
    """
    ws = session.workspace
    old = getattr(session, "lottery", None)
    if old is not None and old.runner.running:
        raise TrainingError("a ticket search is running already; stop it first")
    if ws.model is None:
        raise TrainingError("build a model on Build & train first")
    if ws.running:
        raise TrainingError("training is running on Build & train; stop it first")
    if not ws.fits():
        raise TrainingError(f"the model does not fit the {ws.dataset_name} dataset; build it again")
    with ws.weights_lock():
        template = copy.deepcopy(ws.model).cpu()
    model = copy.deepcopy(template)
    for _, layer in named_maskable_layers(model):
        layer.reset_mask()
    reinitialize(model, seed=config.seed)
    designed = {name: int(layer.mask.sum()) for name, layer in named_maskable_layers(model)}
    runner = LotteryRunner(model, ws.dataset, config, device=resolve_device(device or "cpu"))
    runner.start()
    session.lottery = TicketState(runner, template, designed)
    return session.lottery


def load_round_into_workspace(session, result: RoundResult) -> int:
    """Make ``result`` the session's model (Prune and Inspect follow); returns the new model version."""
    state = session.lottery
    label = "dense" if result.round == 0 else result.condition
    note = f"lottery round {result.round} ({label}, {result.percent_remaining:.1f}% of weights)"
    session.workspace.set_model(load_into(state.template, result), note=note)
    return session.workspace.version


@dataclass
class TicketPoll:
    """What one poll of the run found: its state, every result, the new ones, and what to redraw."""

    status: str
    error: str | None
    results: list[RoundResult]
    fresh: list[RoundResult]
    progress: str
    density: dict
    version: int | None  # the workspace model's version when a round was loaded into it


def poll_ticket(session, *, follow: bool) -> TicketPoll | None:
    """Collect the run's new results (mutates ``session.lottery.sent``); with ``follow`` load a new ticket round.

    Returns None when the session has no run.
    """
    state = getattr(session, "lottery", None)
    if state is None:
        return None
    runner = state.runner
    status = runner.state  # read before the results, so a run that just ended is read in full
    results = runner.results_since(0)
    fresh = results[state.sent :]
    state.sent = len(results)
    newest = next((r for r in reversed(results) if r.condition == "ticket"), None)
    version = None
    if follow and newest is not None and newest.round > state.followed:
        state.followed = newest.round
        version = load_round_into_workspace(session, newest)
    return TicketPoll(
        status=status,
        error=runner.error,
        results=results,
        fresh=fresh,
        progress=progress_text(status, runner.done, runner.total, results),
        density=round_density_figure(newest, state.designed, state.template),
        version=version,
    )


def redraw_ticket(session) -> TicketPoll | None:
    """Every result of the session's run, all marked fresh (a page load, a reload too, draws the run whole).

    Returns None when the session has no run.
    """
    state = getattr(session, "lottery", None)
    if state is None:
        return None
    state.sent = 0
    return poll_ticket(session, follow=False)


def run_outputs() -> list[Output]:
    """What drawing a run writes: accuracy plot, round list, density plot, progress line, poll switch."""
    return [
        Output(ids.TICKET_ACC_FIG, "figure", allow_duplicate=True),
        Output(ids.TICKET_ROUND, "options", allow_duplicate=True),
        Output(ids.TICKET_DENSITY_FIG, "figure", allow_duplicate=True),
        Output(ids.TICKET_PROGRESS, "children", allow_duplicate=True),
        Output(ids.TICKET_POLL, "disabled", allow_duplicate=True),
    ]


def register(app, store) -> None:
    @app.callback(
        *run_outputs(),
        Input(ids.PAGE, "data"),
        State(ids.SESSION, "data"),
        prevent_initial_call="initial_duplicate",
    )
    def ticket_on_load(_page, sid):
        session = store.get(sid)
        with session.lock:
            p = redraw_ticket(session)
        if p is None:
            return (no_update,) * 5
        return accuracy_figure(p.results), round_options(p.results), p.density, p.progress, p.status != "running"

    @app.callback(
        Output(ids.TICKET_ALERT, "children"),
        Output(ids.TICKET_POLL, "disabled"),
        Output(ids.TICKET_ACC_FIG, "figure"),
        Output(ids.TICKET_ROUND, "options"),
        Output(ids.TICKET_PROGRESS, "children"),
        Input(ids.TICKET_START, "n_clicks"),
        Input(ids.TICKET_STOP, "n_clicks"),
        State(ids.TICKET_ROUNDS, "value"),
        State(ids.TICKET_RATE, "value"),
        State(ids.TICKET_OUTPUT_RATE, "value"),
        State(ids.TICKET_SCOPE, "value"),
        State(ids.TICKET_REWIND, "value"),
        State(ids.TICKET_ITERATIONS, "value"),
        State(ids.TICKET_CONTROLS, "value"),
        State(ids.TICKET_SEED, "value"),
        State(ids.DEVICE, "value"),
        State(ids.SESSION, "data"),
        prevent_initial_call=True,
    )
    def ticket_control(_start, _stop, rounds, rate, out, scope, rewind, iterations, controls, seed, device, sid):
        session = store.get(sid)
        with session.lock:
            try:
                if ctx.triggered_id == ids.TICKET_START:
                    config = lottery_config(
                        rounds=rounds,
                        rate=rate,
                        output_rate=out,
                        scope=scope,
                        rewind=rewind,
                        iterations=iterations,
                        controls=controls,
                        seed=seed,
                    )
                    state = start_ticket(session, config, device)
                    line = progress_text("running", 0, state.runner.total, [])
                    return None, False, accuracy_figure(), [], line
                state = getattr(session, "lottery", None)
                if state is not None:
                    state.runner.stop()
                stopped = alert("Stopped; the finished rounds are kept.", "info")
                return stopped, no_update, no_update, no_update, no_update
            except WorkbenchError as err:
                return alert(error_message(err)), no_update, no_update, no_update, no_update

    @app.callback(
        *run_outputs(),
        Output(ids.TICKET_ALERT, "children", allow_duplicate=True),
        Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
        Output(ids.TICKET_POLL, "max_intervals"),
        Input(ids.TICKET_POLL, "n_intervals"),
        State(ids.TICKET_FOLLOW, "value"),
        State(ids.SESSION, "data"),
        prevent_initial_call=True,
    )
    def ticket_poll(n, follow, sid):
        session = store.get(sid)
        after = (n or 0) + 1  # one tick per answered poll (see the train panel's poll)
        with session.lock:
            try:
                p = poll_ticket(session, follow="follow" in (follow or ()))
            except WorkbenchError as err:
                return no_update, no_update, no_update, no_update, True, alert(error_message(err)), no_update, after
        if p is None:
            return no_update, no_update, no_update, no_update, True, no_update, no_update, after
        message = no_update
        if p.status == "failed":
            message = alert(f"The ticket search failed: {p.error}", "error")
        elif p.status == "finished":
            message = alert(f"Done: {len(p.results)} networks trained.", "success")
        fresh = bool(p.fresh)
        return (
            accuracy_patch(p.fresh) if fresh else no_update,
            round_options(p.results) if fresh else no_update,
            p.density if fresh else no_update,
            p.progress,
            p.status != "running",
            message,
            p.version if p.version is not None else no_update,
            after,
        )

    @app.callback(
        Output(ids.TICKET_DENSITY_FIG, "figure", allow_duplicate=True),
        Input(ids.TICKET_ROUND, "value"),
        State(ids.SESSION, "data"),
        prevent_initial_call=True,
    )
    def show_round(key, sid):
        session = store.get(sid)
        with session.lock:
            state = getattr(session, "lottery", None)
            if state is None:
                return no_update
            chosen = find_round(state.runner.results_since(0), key)
            return round_density_figure(chosen, state.designed, state.template)

    @app.callback(
        Output(ids.TICKET_ALERT, "children", allow_duplicate=True),
        Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
        Input(ids.TICKET_LOAD, "n_clicks"),
        State(ids.TICKET_ROUND, "value"),
        State(ids.SESSION, "data"),
        prevent_initial_call=True,
    )
    def load_chosen(_n, key, sid):
        session = store.get(sid)
        with session.lock:
            state = getattr(session, "lottery", None)
            result = find_round(state.runner.results_since(0), key) if state is not None else None
            if result is None:
                return alert("Choose a finished round first.", "warning"), no_update
            try:
                version = load_round_into_workspace(session, result)
            except WorkbenchError as err:
                return alert(error_message(err)), no_update
            note = session.workspace.note
            return alert(f"Loaded {note}: see Prune and Inspect.", "success"), version
