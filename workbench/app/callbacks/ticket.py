"""The ticket screen: start and stop a lottery run, poll it, and load a round into the model."""

from __future__ import annotations

from dash import Input, Output, State, ctx, no_update

from workbench.app import ids
from workbench.app.callbacks.edge import session_callback
from workbench.app.callbacks.train import STATUS_OUTPUTS, status_outputs
from workbench.app.state.ticket import (
    find_round,
    find_sweeps,
    load_chosen_round,
    lottery_config,
    open_sweep_in,
    poll_ticket,
    progress_text,
    round_key,
    start_ticket,
)
from workbench.app.views.ticket import (
    SWEEP_METRICS,
    accuracy_figure,
    accuracy_patch,
    round_density_figure,
    round_options,
    sweep_figure,
)
from workbench.app.views.widgets import alert
from workbench.errors import WorkbenchError

__all__ = ["register"]

#: What drawing a run writes: accuracy plot, round list and choice, density plot, progress line, poll switch.
RUN_OUTPUTS = {
    "accuracy": Output(ids.TICKET_ACC_FIG, "figure", allow_duplicate=True),
    "options": Output(ids.TICKET_ROUND, "options", allow_duplicate=True),
    "round": Output(ids.TICKET_ROUND, "value", allow_duplicate=True),
    "density": Output(ids.TICKET_DENSITY_FIG, "figure", allow_duplicate=True),
    "progress": Output(ids.TICKET_PROGRESS, "children", allow_duplicate=True),
    "poll_off": Output(ids.TICKET_POLL, "disabled", allow_duplicate=True),
}


def _drawn(session, p, *, whole: bool) -> dict:
    """The outputs of a look at the run: the whole plot (``whole``) or a patch with the new rounds."""
    state = session.ticket
    out = {"progress": p.progress, "poll_off": p.status != "running"}
    if whole or p.fresh:
        out["accuracy"] = accuracy_figure(p.results) if whole else accuracy_patch(p.fresh)
        out["options"] = round_options(p.results)
        out["density"] = round_density_figure(p.newest, state.designed, state.template)
        if p.newest is not None:
            out["round"] = round_key(p.newest)
    return out


def register(app, store) -> None:
    """Define the ticket screen's callbacks on ``app``."""
    register_sweeps(app, app.workbench_config.sweeps_dir)

    @session_callback(
        app,
        store,
        output=dict(RUN_OUTPUTS),
        inputs={"page": Input(ids.PAGE, "data")},
        prevent_initial_call="initial_duplicate",
    )
    def ticket_on_load(session, *, page):
        """A page load (a reload too) draws the tab's run whole and resumes polling while it runs."""
        p = poll_ticket(session, follow=False, redraw=True)
        return {} if p is None else _drawn(session, p, whole=True)

    @session_callback(
        app,
        store,
        output={
            **RUN_OUTPUTS,
            "alert": Output(ids.TICKET_ALERT, "children"),
            **STATUS_OUTPUTS,
        },
        inputs={"start": Input(ids.TICKET_START, "n_clicks"), "stop": Input(ids.TICKET_STOP, "n_clicks")},
        state={
            "rounds": State(ids.TICKET_ROUNDS, "value"),
            "rate": State(ids.TICKET_RATE, "value"),
            "output_rate": State(ids.TICKET_OUTPUT_RATE, "value"),
            "scope": State(ids.TICKET_SCOPE, "value"),
            "rewind": State(ids.TICKET_REWIND, "value"),
            "iterations": State(ids.TICKET_ITERATIONS, "value"),
            "controls": State(ids.TICKET_CONTROLS, "value"),
            "seed": State(ids.TICKET_SEED, "value"),
            "device": State(ids.DEVICE, "value"),
        },
        alert_to="alert",
        prevent_initial_call=True,
    )
    def ticket_control(session, *, start, stop, device, **form):
        out: dict = {}
        if ctx.triggered_id == ids.TICKET_START:
            config = lottery_config(**form)
            state = start_ticket(session, config, device if device in ("auto", "cpu", "cuda") else "cpu")
            out.update(
                accuracy=accuracy_figure(),
                options=[],
                round=None,
                progress=progress_text("running", 0, state.runner.total, []),
                poll_off=False,
                alert=None,
            )
        elif session.ticket is not None:
            session.ticket.runner.stop()
            out["alert"] = alert("Stopped; the finished rounds are kept.", "info")
            out["poll_off"] = False  # one more look draws what finished
        out.update(status_outputs(session))
        return out

    @session_callback(
        app,
        store,
        output={
            **RUN_OUTPUTS,
            "alert": Output(ids.TICKET_ALERT, "children", allow_duplicate=True),
            "model_version": Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
            "next_tick": Output(ids.TICKET_POLL, "max_intervals"),
            **STATUS_OUTPUTS,
        },
        inputs={"n": Input(ids.TICKET_POLL, "n_intervals")},
        state={"follow": State(ids.TICKET_FOLLOW, "value")},
        alert_to="alert",
        prevent_initial_call=True,
    )
    def ticket_poll(session, *, n, follow):
        p = poll_ticket(session, follow="follow" in (follow if isinstance(follow, list) else []))
        out: dict = {"next_tick": (n if isinstance(n, int) else 0) + 1}  # one tick per answered poll
        if p is None:
            return {**out, "poll_off": True}
        out.update(_drawn(session, p, whole=False))
        if p.status == "failed":
            out["alert"] = alert(f"The ticket search failed: {p.error}", "error")
        elif p.status in ("finished", "stopped"):
            out["alert"] = alert(
                f"{'Done' if p.status == 'finished' else 'Stopped'}: {len(p.results)} networks "
                "trained. Choose a round to load it into the model.",
                "success",
            )
        if p.loaded:
            out["model_version"] = session.workspace.version
        out.update(status_outputs(session))
        return out

    @session_callback(
        app,
        store,
        output={"density": Output(ids.TICKET_DENSITY_FIG, "figure", allow_duplicate=True)},
        inputs={"key": Input(ids.TICKET_ROUND, "value")},
        prevent_initial_call=True,
    )
    def show_round(session, *, key):
        state = session.ticket
        if state is None:
            return {}
        return {
            "density": round_density_figure(
                find_round(state.runner.results_since(0), key), state.designed, state.template
            )
        }

    @session_callback(
        app,
        store,
        output={
            "alert": Output(ids.TICKET_ALERT, "children", allow_duplicate=True),
            "model_version": Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
        },
        inputs={"n": Input(ids.TICKET_LOAD, "n_clicks")},
        state={"key": State(ids.TICKET_ROUND, "value")},
        alert_to="alert",
        prevent_initial_call=True,
    )
    def load_chosen(session, *, n, key):
        load_chosen_round(session, key)
        note = session.workspace.note
        return {
            "alert": alert(f"Loaded the {note} into the model: the main screen shows it.", "success"),
            "model_version": session.workspace.version,
        }


def register_sweeps(app, root) -> None:
    """The sweep card: list the sweeps below ``root`` when the screen opens, and plot the chosen one."""

    @app.callback(
        Output(ids.TICKET_SWEEP, "options"),
        Input(ids.VIEW, "value"),
        prevent_initial_call=True,
    )
    def sweep_options(view):
        return find_sweeps(root) if view == "ticket" else no_update

    @app.callback(
        Output(ids.TICKET_SWEEP_FIG, "figure"),
        Output(ids.TICKET_SWEEP_BOX, "className"),
        Output(ids.TICKET_SWEEP_INFO, "children"),
        Input(ids.TICKET_SWEEP_OPEN, "n_clicks"),
        Input(ids.TICKET_SWEEP_METRIC, "value"),
        State(ids.TICKET_SWEEP, "value"),
        prevent_initial_call=True,
    )
    def open_sweep(_n, metric, name):
        try:
            summary = open_sweep_in(root, name)
            figure = sweep_figure(summary, metric if metric in SWEEP_METRICS else "accuracy")
        except WorkbenchError as err:
            return no_update, no_update, alert(str(err), "error")
        seeds = {len(c.seeds) for conditions in summary.settings.values() for c in conditions.values()}
        notes = [
            f"{len(summary.settings)} setting(s), {max(seeds, default=0)} seed(s); click a seed in the "
            "legend to show its own curve."
        ]
        if summary.failed:
            notes.append(f"Failed chains: {', '.join(summary.failed)}.")
        if summary.unfinished:
            notes.append(f"Still running or stopped: {', '.join(summary.unfinished)}.")
        return figure, "card", " ".join(notes)
