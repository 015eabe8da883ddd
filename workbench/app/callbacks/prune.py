"""The pruning card: a slider that previews masks on the graph itself, and Apply / Fine-tune / Reset masks.

The slider's range and position come from the session (the workspace's
:class:`~workbench.app.state.workspace.PruneSetting`), so after Apply,
Fine-tune, Reset masks, a loaded round or checkpoint, the slider stands at
zero on top of the model's current masks. Each move restyles the canvas (the
mask codes), redraws the detail plots and the output, and updates the counts.
"""

from __future__ import annotations

import math

from dash import Input, Output, State, ctx, html

from workbench.app import ids
from workbench.app.callbacks.design import card_outputs, mask_outputs
from workbench.app.callbacks.edge import session_callback
from workbench.app.callbacks.train import STATUS_OUTPUTS, output_figure, status_outputs
from workbench.app.state.settings import read_number
from workbench.app.state.workspace import PREVIEW_SAMPLES, Preview, PruneSetting, Workspace
from workbench.app.views.figures import density_figure, empty_figure, histogram_figure
from workbench.app.views.widgets import alert
from workbench.errors import WorkbenchError

__all__ = ["preview_outputs", "preview_value", "register", "slider_marks", "summary_lines"]


def slider_marks(ws: Workspace, mode: str) -> tuple[float, float, float, dict]:
    """``min, max, step, marks`` of the slider for ``mode`` on the current snapshot."""
    low, high = ws.slider_range(mode)
    if mode == "percent":
        return low, high, 0.5, {k: f"{k}%" for k in (0, 25, 50, 75, 100)}
    marks = {float(f"{high * f:.3g}"): f"{high * f:.3g}" for f in (0, 0.5, 1.0)}
    return low, high, high / 500, marks


def summary_lines(preview: Preview, *, unpruned: float | None, test_samples: int | None = None) -> list[str]:
    """Lines under the slider: weights left, share pruned, test accuracy at this setting."""
    kept = sum(r[1] for r in preview.rows)
    designed = sum(r[2] for r in preview.rows)
    pruned = designed - kept
    share = f" ({pruned / designed:.0%} pruned)" if designed else ""
    lines = [f"{kept:,}/{designed:,} connections{share} · {preview.remaining:,}/{preview.total:,} parameters"]
    if preview.accuracy is not None and not math.isnan(preview.accuracy):
        base = f", before {unpruned:.1%}" if unpruned is not None else ""
        on = f" on {test_samples:,} samples" if test_samples else ""
        lines.append(f"test accuracy{on}: {preview.accuracy:.1%}{base}")
    return lines


def preview_outputs(session, setting: PruneSetting, *, whole: bool = True) -> dict:
    """Everything a slider move redraws: the mask codes on the graph (or its picture), the detail plots,
    the output, the lines under the slider and the tapped vertex's card.

    ``whole=False`` (a move of the slider, not a new model) sends the decision boundary as a patch.
    """
    ws = session.workspace
    try:
        p = ws.preview_masks(setting)
    except WorkbenchError as err:
        hint = "Build or load a model to prune it" if ws.model is None else str(err)
        empty = empty_figure(hint, title="Connections kept", x_title="connections").to_plotly_json()
        return {
            "density": empty,
            "histogram": empty_figure(hint, x_title="|weight|").to_plotly_json(),
            "label": "",
            "summary": "",
            "alert": None,
        }
    snap = ws.snapshot
    number = setting.value
    if setting.mode == "percent":
        cut = f" · |w| ≤ {p.threshold:.3g}" if p.threshold is not None and number > 0 else ""
        scope = " in every layer" if setting.scope == "layer" else ""
        label = f"prune {number:.1f}% of the remaining weights{cut}{scope}"
    else:
        label = f"prune every weight with |w| ≤ {number:.4g}"
    samples = ws.dataset.n_test
    lines = summary_lines(
        p, unpruned=ws.unpruned_accuracy(), test_samples=PREVIEW_SAMPLES if samples > PREVIEW_SAMPLES else None
    )
    if ws.previewing:
        lines[-1] += " · a preview: Apply writes it"
    out = {
        "density": density_figure(p.rows),
        "histogram": histogram_figure(snap.counts, snap.edges, p.threshold),
        "label": label,
        "summary": [html.Div(line) for line in lines],
        "output": output_figure(session, patch=not whole),
        **mask_outputs(session),
    }
    if not whole:  # a move of the slider replaces the last pruning message; a new model keeps it
        out["alert"] = None
    if session.selected is not None:
        out["card"] = card_outputs(session)["card"]
    return out


_NEW_MODEL, _SLIDER_MOVED = f"{ids.MODEL_VERSION}.data", f"{ids.PRUNE_SLIDER}.value"


def preview_value(triggered: set[str], value, stored: float):
    """The setting the preview shows, given the inputs that fired (``"id.prop"``): a new model alone starts again
    from the session's setting (zero); a slider move counts, even when it came in the same call as a new model
    (a key pressed while the new model's callbacks were on their way), so the label never contradicts the
    slider."""
    return stored if _NEW_MODEL in triggered and _SLIDER_MOVED not in triggered else value


def register(app, store) -> None:
    """Define the pruning card's callbacks on ``app``."""

    @session_callback(
        app,
        store,
        output={
            "min": Output(ids.PRUNE_SLIDER, "min"),
            "max": Output(ids.PRUNE_SLIDER, "max"),
            "step": Output(ids.PRUNE_SLIDER, "step"),
            "marks": Output(ids.PRUNE_SLIDER, "marks"),
            "value": Output(ids.PRUNE_SLIDER, "value"),
            "disabled": Output(ids.PRUNE_SLIDER, "disabled"),
            "mode": Output(ids.PRUNE_MODE, "value"),
            "scope_options": Output(ids.PRUNE_SCOPE, "options"),
            "scope": Output(ids.PRUNE_SCOPE, "value"),
        },
        inputs={"model_version": Input(ids.MODEL_VERSION, "data"), "mode": Input(ids.PRUNE_MODE, "value")},
    )
    def slider_config(session, *, model_version, mode):
        """The slider as the session has it: its range on the current masks, and where it stands."""
        ws = session.workspace
        if ctx.triggered_id == ids.PRUNE_MODE and mode in ("percent", "threshold"):
            ws.prune = PruneSetting(mode, ws.prune.scope if mode == "percent" else "global", 0.0)
        setting = ws.prune
        out = {
            "mode": setting.mode,
            "scope": setting.scope,
            "scope_options": [
                {"label": "global", "value": "global"},
                {"label": "per layer", "value": "layer", "disabled": setting.mode != "percent"},
            ],
        }
        try:
            low, high, step, marks = slider_marks(ws, setting.mode)
        except WorkbenchError:  # no model, or training: the slider waits
            return {**out, "disabled": True, "value": 0}
        return {**out, "min": low, "max": high, "step": step, "marks": marks, "value": setting.value, "disabled": False}

    @session_callback(
        app,
        store,
        output={
            "density": Output(ids.DENSITY_FIG, "figure"),
            "histogram": Output(ids.HIST_FIG, "figure"),
            "label": Output(ids.PRUNE_VALUE, "children"),
            "summary": Output(ids.PRUNE_SUMMARY, "children"),
            "alert": Output(ids.PRUNE_ALERT, "children"),
            "masks": Output(ids.MASKS, "data", allow_duplicate=True),
            "overview": Output(ids.OVERVIEW, "src", allow_duplicate=True),
            "output": Output(ids.BOUNDARY_FIG, "figure", allow_duplicate=True),
            "card": Output(ids.VERTEX_CARD, "children", allow_duplicate=True),
        },
        inputs={
            "value": Input(ids.PRUNE_SLIDER, "value"),
            "scope": Input(ids.PRUNE_SCOPE, "value"),
            "model_version": Input(ids.MODEL_VERSION, "data"),
        },
        state={"mode": State(ids.PRUNE_MODE, "value")},
        alert_to="alert",
        prevent_initial_call="initial_duplicate",
    )
    def preview(session, *, value, scope, model_version, mode):
        """Masks at the slider's setting, drawn on the graph and in the plots; the model is not changed."""
        ws = session.workspace
        triggered = {item["prop_id"] for item in ctx.triggered if item.get("prop_id") != "."}
        value = preview_value(triggered, value, ws.prune.value)
        mode = mode if mode in ("percent", "threshold") else "percent"
        number = read_number(0 if value is None else value, "Pruning slider", low=0)
        setting = PruneSetting(mode, scope if scope in ("global", "layer") and mode == "percent" else "global", number)
        return preview_outputs(session, setting, whole=not triggered or _NEW_MODEL in triggered)

    @session_callback(
        app,
        store,
        output={
            "alert": Output(ids.PRUNE_ALERT, "children", allow_duplicate=True),
            "model_version": Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
            "poll_off": Output(ids.POLL, "disabled", allow_duplicate=True),
            **STATUS_OUTPUTS,
        },
        inputs={
            "apply": Input(ids.PRUNE_APPLY, "n_clicks"),
            "finetune": Input(ids.PRUNE_FINETUNE, "n_clicks"),
            "reset": Input(ids.PRUNE_RESET, "n_clicks"),
        },
        state={"epochs": State(ids.PRUNE_FT_EPOCHS, "value")},
        alert_to="alert",
        prevent_initial_call=True,
    )
    def prune_action(session, *, apply, finetune, reset, epochs):
        ws = session.workspace
        trigger = ctx.triggered_id
        out: dict = {}
        if trigger == ids.PRUNE_APPLY:
            masked = ws.apply()
            out["alert"] = alert(
                f"Applied: {masked:,} weights are masked in the model. The slider now prunes the remaining ones.",
                "success",
            )
        elif trigger == ids.PRUNE_FINETUNE:
            epochs = read_number(epochs, "Fine-tune epochs", low=1, high=10000, integer=True)
            note = ""
            if ws.previewing:
                ws.apply()
                note = "Applied the previewed masks. "
            ws.start(session.settings, epochs=epochs, note="fine-tuning")
            out["poll_off"] = False
            out["alert"] = alert(
                f"{note}Fine-tuning for {epochs} epochs with the masks held: the curves above "
                "go on; ❚❚ Pause and ■ Stop are in the bar at the top.",
                "info",
            )
        elif trigger == ids.PRUNE_RESET:
            ws.reset_masks()
            out["alert"] = alert("Masks reset: every designed connection is on again.", "success")
        out["model_version"] = ws.version
        out.update(status_outputs(session))
        return out
