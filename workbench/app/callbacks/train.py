"""Build & train panel: dataset, model, and the trainer thread, polled by a ``dcc.Interval``.

The poll callback appends new history records to the curves with
``dash.Patch`` (never resending whole figures) and turns itself off when the
run ends; a failure in the thread shows its message and leaves the model.
Each answered poll allows the interval one more tick (``max_intervals``), so
polls never overlap: Dash drops the answer of a callback call that a newer
call of it overtakes, and on a loaded machine a 300 ms tick would overtake
every poll. How many records the page has drawn lives in the page
(``ids.SEEN``), so an answer that never arrives loses no records.
"""

from __future__ import annotations

from dash import Input, Output, State, ctx, no_update

from workbench.app import ids
from workbench.app.callbacks.common import alert, error_message
from workbench.app.figures import add_hint, boundary_figure, boundary_patch, curve_patch, curves_figure
from workbench.app.workspace import Workspace
from workbench.errors import WorkbenchError

__all__ = ["curve_figures", "model_info", "register", "status_text"]

STATUS_CLASS = {
    "running": "status-running",
    "paused": "status-paused",
    "failed": "status-failed",
    "finished": "status-done",
    "stopped": "status-done",
}


def curve_figures(ws: Workspace):
    """Full loss and accuracy figures from everything recorded so far, and how many records they hold."""
    records = list(ws.history)
    x = [r["epoch"] for r in records]

    def series(field):
        return [r.get(field) for r in records]

    loss = curves_figure("loss", x=x, values={"loss": series("loss")})
    acc = curves_figure("accuracy", x=x, values={"train_acc": series("train_acc"), "test_acc": series("test_acc")})
    return loss, acc, len(records)


def status_text(ws: Workspace) -> tuple[str, str]:
    """The header's status pill: text and CSS class."""
    state = ws.state
    text = state
    if state in ("running", "paused") and ws.history:
        text = f"{state} · epoch {ws.history[-1]['epoch']:.1f}"
    return text, f"status {STATUS_CLASS.get(state, 'status-idle')}"


def model_info(ws: Workspace, drawn=None) -> str:
    """One line about the model; says so when the drawn graph differs from the DAN's."""
    if ws.model is None:
        return "No model yet: build one."
    from workbench.app.analysis import trainable_parameters

    line = f"Model: {ws.note} · {trainable_parameters(ws.model):,} trainable parameters · data: {ws.dataset_name}"
    if drawn is not None and ws.graph is not None and not _same_graph(drawn, ws.graph):
        line += " · the drawn graph has changed since: Build to train it"
    elif not ws.fits():
        line += f" · it does not fit {ws.dataset_name}: Build (or Start) makes a new one"
    return line


def _same_graph(a, b) -> bool:
    return list(a.nodes) == list(b.nodes) and set(a.edges) == set(b.edges)


def boundary(ws: Workspace):
    """The decision-boundary figure and its box's style (hidden unless the data are 2-D)."""
    data = ws.dataset
    if not data.is_2d:
        return no_update, {"display": "none"}
    grid = ws.boundary()
    xs, ys, prob = grid if grid is not None else (*ws.boundary_axes(), None)
    return boundary_figure(xs, ys, prob, data.x_train.numpy(), data.y_train.numpy()), {"display": "block"}


def boundary_update(ws: Workspace):
    """A patch with the current heat map while training on 2-D data, else no update."""
    grid = ws.boundary() if ws.dataset.is_2d else None
    return boundary_patch(grid[2]) if grid is not None else no_update


def register(app, store) -> None:
    @app.callback(Output(ids.DATASET, "value"), Input(ids.SESSION, "data"), Input(ids.MODEL_VERSION, "data"))
    def dataset_of_session(sid, _version):
        return store.get(sid).workspace.dataset_name

    @app.callback(Output(ids.DATASET_INFO, "children"), Input(ids.DATASET, "value"), State(ids.SESSION, "data"))
    def dataset_info(name, sid):
        session = store.get(sid)
        ws = session.workspace
        try:
            with session.lock:
                if ctx.triggered_id is not None:
                    ws.set_dataset(name)
                d = ws.dataset
        except WorkbenchError as err:
            return alert(error_message(err))
        kind = "points in the plane" if d.is_2d else f"{d.n_features} features"
        return f"{d.n_train:,} train / {d.n_test:,} test samples · {kind} · {d.n_classes} classes"

    @app.callback(
        Output(ids.TRAIN_ALERT, "children"),
        Output(ids.POLL, "disabled"),
        Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
        Output(ids.STATUS, "children", allow_duplicate=True),
        Output(ids.STATUS, "className", allow_duplicate=True),
        Input(ids.BUILD, "n_clicks"),
        Input(ids.START, "n_clicks"),
        Input(ids.PAUSE, "n_clicks"),
        Input(ids.STOP, "n_clicks"),
        Input(ids.RESET, "n_clicks"),
        State(ids.SESSION, "data"),
        State(ids.MODEL_KIND, "value"),
        State(ids.FFN_SIZES, "value"),
        State(ids.OPTIMIZER, "value"),
        State(ids.LR, "value"),
        State(ids.BATCH, "value"),
        State(ids.EPOCHS, "value"),
        State(ids.DEVICE, "value"),
        prevent_initial_call=True,
    )
    def train_control(_b, _s, _p, _t, _r, sid, kind, sizes, optimizer, lr, batch, epochs, device):
        session = store.get(sid)
        ws = session.workspace
        message, level, started = None, "info", False
        with session.lock:
            version = ws.version
            try:
                trigger = ctx.triggered_id
                if trigger == ids.BUILD or (trigger == ids.START and (ws.model is None or not ws.fits())):
                    ws.build(kind, session.design.graph, sizes)
                    message, level = f"Built the {ws.note}.", "success"
                if trigger == ids.START:
                    config = {"optimizer": optimizer, "lr": lr, "batch_size": batch, "epochs": epochs, "device": device}
                    ws.start(**config)
                    message, started = None, True
                elif trigger == ids.PAUSE:
                    ws.resume() if ws.state == "paused" else ws.pause()
                elif trigger == ids.STOP:
                    ws.stop()
                elif trigger == ids.RESET:
                    ws.reset()
                    message, level = "New random weights; every designed connection is on again.", "success"
            except WorkbenchError as err:
                message, level = error_message(err), "error"
            text, cls = status_text(ws)
            # a run that fails at once has ended before this line: poll anyway, the poll reports it
            changed = ws.version if ws.version != version else no_update  # redraw the curves only for a new model
            return (alert(message, level) if message else None, not (started or ws.running), changed, text, cls)

    @app.callback(
        Output(ids.LOSS_FIG, "figure"),
        Output(ids.ACC_FIG, "figure"),
        Output(ids.PAUSE, "children"),
        Output(ids.BOUNDARY_FIG, "figure"),
        Output(ids.BOUNDARY_BOX, "style"),
        Output(ids.POLL, "disabled", allow_duplicate=True),
        Output(ids.STATUS, "children", allow_duplicate=True),
        Output(ids.STATUS, "className", allow_duplicate=True),
        Output(ids.SEEN, "data", allow_duplicate=True),
        Input(ids.MODEL_VERSION, "data"),
        Input(ids.DATASET, "value"),
        State(ids.SESSION, "data"),
        prevent_initial_call="initial_duplicate",
    )
    def render_training(_version, _dataset, sid):
        """Whole curves and the run's state; on a page load (a reload too) polling resumes while a run is going."""
        session = store.get(sid)
        ws = session.workspace
        with session.lock:
            loss, acc, drawn = curve_figures(ws)
            if not ws.history:
                add_hint(loss, "Press ▶ Start to train")
            fig, style = boundary(ws)
            pause = "▶ Resume" if ws.state == "paused" else "❚❚ Pause"
            resume = False if ws.running else no_update  # only turns polling on: the poll turns itself off
            return loss, acc, pause, fig, style, resume, *status_text(ws), drawn

    @app.callback(
        Output(ids.MODEL_INFO, "children"),
        Input(ids.MODEL_VERSION, "data"),
        Input(ids.DESIGN_VERSION, "data"),
        Input(ids.DATASET_INFO, "children"),
        State(ids.SESSION, "data"),
    )
    def info(_mv, _dv, _data, sid):
        session = store.get(sid)
        with session.lock:
            return model_info(session.workspace, session.design.graph)

    @app.callback(
        Output(ids.LOSS_FIG, "figure", allow_duplicate=True),
        Output(ids.ACC_FIG, "figure", allow_duplicate=True),
        Output(ids.BOUNDARY_FIG, "figure", allow_duplicate=True),
        Output(ids.POLL, "disabled", allow_duplicate=True),
        Output(ids.STATUS, "children", allow_duplicate=True),
        Output(ids.STATUS, "className", allow_duplicate=True),
        Output(ids.TRAIN_ALERT, "children", allow_duplicate=True),
        Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
        Output(ids.PAUSE, "children", allow_duplicate=True),
        Output(ids.SEEN, "data", allow_duplicate=True),
        Output(ids.POLL, "max_intervals"),
        Input(ids.POLL, "n_intervals"),
        State(ids.SESSION, "data"),
        State(ids.SEEN, "data"),
        prevent_initial_call=True,
    )
    def poll(n, sid, seen):
        session = store.get(sid)
        ws = session.workspace
        with session.lock:
            _, state, error = ws.poll()
            fresh = ws.history[min(seen or 0, len(ws.history)) :]  # what this page has not drawn yet
            loss = curve_patch("loss", fresh) if fresh else no_update
            acc = curve_patch("accuracy", fresh) if fresh else no_update
            fig = boundary_update(ws) if fresh else no_update
            done = state not in ("running", "paused")
            text, cls = status_text(ws)
            message = None
            if state == "failed":
                message = alert(f"Training stopped: {error}. The graph and the model are kept.", "error")
            elif done and state == "finished":
                message = alert(
                    f"Training finished at epoch {ws.history[-1]['epoch']:.1f}."
                    if ws.history
                    else "Training finished.",
                    "success",
                )
            pause = "▶ Resume" if state == "paused" else "❚❚ Pause"
            return (
                loss,
                acc,
                fig,
                done,
                text,
                cls,
                message if done else no_update,
                ws.version if done else no_update,
                pause,
                len(ws.history) if fresh else no_update,
                (n or 0) + 1,  # the next tick, once this answer is in
            )

    @app.callback(
        Output(ids.COUNT_VERTICES, "children"),
        Output(ids.COUNT_EDGES, "children"),
        Output(ids.COUNT_DEPTH, "children"),
        Output(ids.COUNT_PARAMS, "children"),
        Input(ids.DESIGN_VERSION, "data"),
        Input(ids.MODEL_VERSION, "data"),
        Input(ids.DATASET, "value"),
        Input(ids.MODEL_KIND, "value"),
        Input(ids.FFN_SIZES, "value"),
        State(ids.SESSION, "data"),
    )
    def counts(_dv, _mv, _dataset, kind, sizes, sid):
        session = store.get(sid)
        with session.lock:
            c = session.counts(kind, sizes)
        return f"{c['vertices']:,}", f"{c['edges']:,}", f"{c['depth']:,}", c["params"]
