"""The training bar and the curves: settings, Build/Start/Pause/Stop/Reset, the poll of the trainer thread,
and a change of data set (which asks first when it would throw a trained model away).

The poll appends new history records to the curves with ``dash.Patch`` and
turns itself off when the run ends. Each answered poll allows the interval one
more tick (``max_intervals``), so polls never overlap: Dash drops the answer
of a callback call that a newer call of it overtakes, and on a loaded machine
a 300 ms tick would overtake every poll. How many records the page has drawn
lives in the page (``ids.SEEN``), so an answer that never arrives loses none.
"""

from __future__ import annotations

from dash import Input, Output, State, ctx, html, no_update

from workbench.app import ids
from workbench.app.callbacks.design import mask_outputs
from workbench.app.callbacks.edge import session_callback
from workbench.app.state.session import Session
from workbench.app.state.settings import read_settings
from workbench.app.views.figures import boundary_figure, boundary_patch, class_figure, curve_patch, curves_figure
from workbench.app.views.widgets import alert
from workbench.app.views.workbench import DATASET_TITLES, SETTINGS_IDS
from workbench.errors import WorkbenchError

__all__ = [
    "SETTINGS_STATE",
    "STATUS_OUTPUTS",
    "epoch_text",
    "output_figure",
    "register",
    "run_line",
    "run_line_parts",
    "status",
    "status_outputs",
]

#: The settings fields of the training bar, by Settings field name.
SETTINGS_STATE = {name: State(id_, "value") for name, id_ in SETTINGS_IDS.items()}
#: The header's status pill, which every callback that starts, stops or polls a run updates.
STATUS_OUTPUTS = {
    "status": Output(ids.STATUS, "children", allow_duplicate=True),
    "status_class": Output(ids.STATUS, "className", allow_duplicate=True),
}
#: What shows a run's progress: the curves, the output plot, Pause/Resume, polling, the run line and how many
#: history records the page has drawn (render_training and the poll both write all of them).
TRAINING_VIEW_OUTPUTS = {
    "curves": Output(ids.CURVES_FIG, "figure", allow_duplicate=True),
    "output": Output(ids.BOUNDARY_FIG, "figure", allow_duplicate=True),
    "pause": Output(ids.PAUSE, "children", allow_duplicate=True),
    "poll_off": Output(ids.POLL, "disabled", allow_duplicate=True),
    **STATUS_OUTPUTS,
    "run_line": Output(ids.RUN_LINE, "children", allow_duplicate=True),
    "seen": Output(ids.SEEN, "data", allow_duplicate=True),
}
STATUS_CLASS = {
    "queued": "status-paused",
    "running": "status-running",
    "paused": "status-paused",
    "failed": "status-failed",
    "finished": "status-done",
    "stopped": "status-done",
}


def epoch_text(epoch: float) -> str:
    """``44.0 -> "44"``, ``12.34 -> "12.3"``: whole epochs without a decimal."""
    return f"{round(epoch)}" if abs(epoch - round(epoch)) < 0.05 else f"{epoch:.1f}"


def pause_label(state: str) -> str:
    """The Pause button's text in a run's ``state``: it resumes a paused run."""
    return "▶ Resume" if state == "paused" else "❚❚ Pause"


def status(session: Session) -> tuple[str, str]:
    """The header's status pill, text and CSS class: the training run, or a ticket search while one runs."""
    ticket = session.ticket
    if ticket is not None and ticket.runner.running:
        tickets = [r for r in ticket.runner.results_since(0) if r.condition == "ticket"]
        return f"ticket search · round {tickets[-1].round if tickets else 0}", "status status-running"
    ws = session.workspace
    state = ws.state
    if state in ("running", "paused") and ws.history:
        text = f"{ws.run_note} · epoch {epoch_text(ws.epoch)}"
        return (text if state == "running" else f"paused · {text}"), f"status {STATUS_CLASS[state]}"
    if state == "queued":
        position = ws.trainer.queue_position
        where = f" · {position} in line" if position is not None else ""
        return f"waiting for a free slot{where}", "status status-paused"
    return state, f"status {STATUS_CLASS.get(state, 'status-idle')}"


def status_outputs(session: Session) -> dict:
    """The :data:`STATUS_OUTPUTS` of the session's state."""
    text, cls = status(session)
    return {"status": text, "status_class": cls}


def run_line(session: Session) -> str:
    """``"epoch 12 of 20 · loss 0.312 · train 91% · test 89%"`` for the run, or what the model is."""
    ws = session.workspace
    if ws.model is None:
        return "no model yet"
    if not ws.history:
        return f"{ws.note} · not trained yet"
    last = ws.history[-1]
    parts = [f"epoch {epoch_text(last['epoch'])}"]
    if last.get("loss") is not None:
        parts.append(f"loss {last['loss']:.3f}")
    if last.get("train_acc") is not None:
        parts.append(f"train {last['train_acc']:.0%}")
    if last.get("test_acc") is not None:
        parts.append(f"test {last['test_acc']:.0%}")
    return " · ".join(parts)


def run_line_parts(session: Session) -> list:
    """:func:`run_line` as one span per part, so that a narrow bar wraps it between parts, never inside one."""
    children = []
    for part in run_line(session).split(" · "):
        children += [" · "] if children else []  # the text between parts is where the line may break
        children.append(html.Span(part, className="run-part"))
    return children


def output_figure(session: Session, *, patch: bool = False):
    """The Output plot: the decision boundary of the viewed model on 2-D data, else accuracy per class.

    With ``patch`` a 2-D boundary comes as a ``Patch`` of its heat map only (the plot already shows the data).
    """
    ws = session.workspace
    data = ws.dataset
    if data.is_2d:
        grid = ws.boundary()
        if patch:
            return boundary_patch(grid[2]) if grid is not None else no_update
        xs, ys, prob = grid if grid is not None else (*ws.boundary_axes(), None)
        return boundary_figure(xs, ys, prob, data.x_train.numpy(), data.y_train.numpy())
    return class_figure(ws.class_accuracy())


def _finished_alert(session: Session, state: str, error: str | None):
    ws = session.workspace
    if state == "failed":
        return alert(f"Training stopped: {error}. The design and the model are kept.", "error")
    flat = ws.flat_loss()
    if flat:
        return alert(flat, "warning")
    if state == "finished":
        what = "Fine-tuning" if ws.run_note == "fine-tuning" else "Training"
        total = "" if ws.run_epochs >= ws.epoch - 0.05 else f" ({epoch_text(ws.epoch)} in all)"
        results = " · ".join(run_line(session).split(" · ")[1:])  # the run line without its epoch
        return alert(f"{what} finished: {epoch_text(ws.run_epochs)} epochs{total}; {results}.", "success")
    if state == "stopped":
        return alert(f"Stopped at epoch {epoch_text(ws.epoch)}; the model keeps what it learned.", "info")
    return None


def register(app, store) -> None:
    """Define the training bar's and the curves' callbacks on ``app``."""

    @session_callback(
        app,
        store,
        output={
            **{name: Output(state.component_id, "value") for name, state in SETTINGS_STATE.items()},
        },
        inputs={"page": Input(ids.PAGE, "data")},
    )
    def settings_on_load(session: Session, *, page):
        """A page load (a reload too) shows the session's settings."""
        return session.settings.as_dict()

    @session_callback(
        app,
        store,
        output={"alert": Output(ids.TRAIN_ALERT, "children", allow_duplicate=True)},
        inputs={
            name: Input(state.component_id, "value") for name, state in SETTINGS_STATE.items() if name != "dataset"
        },
        alert_to="alert",
        prevent_initial_call=True,
    )
    def settings_changed(session: Session, **values):
        """Keep the session's settings as the page shows them (share links and session files use them)."""
        session.settings = read_settings(values, base=session.settings)
        return {"alert": None}

    @session_callback(
        app,
        store,
        output={
            "alert": Output(ids.TRAIN_ALERT, "children", allow_duplicate=True),
            "poll_off": Output(ids.POLL, "disabled", allow_duplicate=True),
            "model_version": Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
            **STATUS_OUTPUTS,
            "pause": Output(ids.PAUSE, "children", allow_duplicate=True),
        },
        inputs={
            "build": Input(ids.BUILD, "n_clicks"),
            "start": Input(ids.START, "n_clicks"),
            "pause": Input(ids.PAUSE, "n_clicks"),
            "stop": Input(ids.STOP, "n_clicks"),
            "reset": Input(ids.RESET, "n_clicks"),
        },
        state=SETTINGS_STATE,
        alert_to="alert",
        prevent_initial_call=True,
    )
    def train_control(session: Session, *, build, start, pause, stop, reset, **values):
        ws = session.workspace
        trigger = ctx.triggered_id
        out: dict = {"alert": None}
        if trigger in (ids.BUILD, ids.START, ids.RESET):
            session.settings = read_settings({k: v for k, v in values.items() if k != "dataset"}, base=session.settings)
        version = ws.version
        if trigger == ids.BUILD or (
            trigger == ids.START and (ws.model is None or not ws.fits() or not _model_is_design(session))
        ):
            if ws.running:
                raise WorkbenchError("training is running; stop it before building a new model")
            ws.build(session.design.graph, session.settings)
            out["alert"] = alert(
                f"Built the {ws.note} for {DATASET_TITLES.get(ws.dataset_name, ws.dataset_name)}.", "success"
            )
        if trigger == ids.START:
            ws.start(session.settings)
            out["alert"] = None
            out["poll_off"] = False
        elif trigger == ids.PAUSE and ws.state == "paused":
            ws.resume()
        elif trigger == ids.PAUSE:
            ws.pause()
        elif trigger == ids.STOP:
            ws.stop()
            out["poll_off"] = False  # one more poll reports the end
        elif trigger == ids.RESET:
            ws.reset(session.settings)
            out["alert"] = alert(
                f"New weights from seed {session.settings.init_seed}; every designed connection "
                "is on again and the curves start over.",
                "success",
            )
        if ws.version != version:
            out["model_version"] = ws.version
        out.update(status_outputs(session))
        out["pause"] = pause_label(ws.state)
        return out

    @session_callback(
        app,
        store,
        output={
            **TRAINING_VIEW_OUTPUTS,
        },
        inputs={"model_version": Input(ids.MODEL_VERSION, "data")},
        prevent_initial_call="initial_duplicate",
    )
    def render_training(session: Session, *, model_version):
        """Whole curves and the run's state; on a page load (a reload too) polling resumes while a run is going."""
        ws = session.workspace
        out = {
            "curves": curves_figure(ws.history, epochs=session.settings.epochs),
            "output": output_figure(session),
            "pause": pause_label(ws.state),
            "run_line": run_line_parts(session),
            "seen": len(ws.history),
        }
        if ws.running:
            out["poll_off"] = False  # only turns polling on: the poll turns itself off
        out.update(status_outputs(session))
        return out

    @session_callback(
        app,
        store,
        output={
            **TRAINING_VIEW_OUTPUTS,
            "alert": Output(ids.TRAIN_ALERT, "children", allow_duplicate=True),
            "model_version": Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
            "next_tick": Output(ids.POLL, "max_intervals"),
            "masks": Output(ids.MASKS, "data", allow_duplicate=True),
            "overview": Output(ids.OVERVIEW, "src", allow_duplicate=True),
        },
        inputs={"n": Input(ids.POLL, "n_intervals")},
        state={"seen": State(ids.SEEN, "data")},
        alert_to="alert",
        prevent_initial_call=True,
    )
    def poll(session: Session, *, n, seen):
        ws = session.workspace
        _, state, error = ws.poll()
        seen = seen if isinstance(seen, int) and seen >= 0 else 0
        fresh = ws.history[min(seen, len(ws.history)) :]  # what this page has not drawn yet
        done = state not in ("queued", "running", "paused")
        out = {
            "poll_off": done,
            "run_line": run_line_parts(session),
            "pause": pause_label(state),
            "next_tick": (n if isinstance(n, int) else 0) + 1,  # the next tick, once this answer is in
        }
        out.update(status_outputs(session))
        if fresh:
            out["curves"] = curve_patch(fresh)
            out["seen"] = len(ws.history)
            grid = ws.boundary() if ws.dataset.is_2d else None
            if grid is not None:
                out["output"] = boundary_patch(grid[2])
            if not done:
                out.update(mask_outputs(session))  # the weights as they train, on the graph
            if not done:  # the not-learning warning comes and goes with the curve
                flat = ws.flat_loss()
                out["alert"] = alert(flat, "warning") if flat else None
        if done:
            out["alert"] = _finished_alert(session, state, error)
            out["model_version"] = ws.version
        return out

    @session_callback(
        app,
        store,
        output={
            "confirm": Output(ids.DATASET_CONFIRM, "displayed"),
            "message": Output(ids.DATASET_CONFIRM, "message"),
            "value": Output(ids.DATASET, "value", allow_duplicate=True),
            "model_version": Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
            "alert": Output(ids.TRAIN_ALERT, "children", allow_duplicate=True),
        },
        inputs={
            "dataset": Input(ids.DATASET, "value"),
            "submit": Input(ids.DATASET_CONFIRM, "submit_n_clicks"),
            "cancel": Input(ids.DATASET_CONFIRM, "cancel_n_clicks"),
        },
        alert_to="alert",
        prevent_initial_call=True,
    )
    def change_dataset(session: Session, *, dataset, submit, cancel):
        """Another data set means another model: ask first when a trained model (and its curves) would go."""
        ws = session.workspace
        trigger = ctx.triggered_id
        if trigger == ids.DATASET_CONFIRM and ctx.triggered_prop_ids and "cancel" in next(iter(ctx.triggered_prop_ids)):
            return {"value": ws.dataset_name}
        if dataset == ws.dataset_name:
            return {}
        if trigger == ids.DATASET and ws.history:
            title = DATASET_TITLES.get(dataset, dataset)
            return {
                "confirm": True,
                "message": f"Switch to {title}? The model trained on {ws.dataset_name} and its curves are "
                "replaced by a fresh model for the new data (save a session file first to keep them).",
            }
        session.settings = read_settings({"dataset": dataset}, base=session.settings)
        replaced = ws.set_dataset(dataset, session.design.graph, session.settings)
        note = " A fresh model was built for it; press ▶ Start to train." if replaced else ""
        title = DATASET_TITLES.get(dataset, dataset)
        return {"model_version": ws.version, "alert": alert(f"Data: {title}.{note}", "info")}


def _model_is_design(session: Session) -> bool:
    """Whether Start may train the current model: it is the design's DAN (or a loaded net the canvas shows)."""
    return session.workspace.is_ffn() or session.design_matches_model()
