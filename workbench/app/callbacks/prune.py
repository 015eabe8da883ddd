"""Prune panel: a slider that previews masks from a weight snapshot, and Apply / Fine-tune / Reset masks."""

from __future__ import annotations

import math

from dash import Input, Output, State, ctx, no_update

from workbench.app import ids
from workbench.app.callbacks.common import alert, error_message
from workbench.app.callbacks.train import status_text
from workbench.app.figures import density_figure, empty_figure, histogram_figure
from workbench.app.workspace import PREVIEW_SAMPLES, Preview, Workspace
from workbench.errors import WorkbenchError

__all__ = ["register", "slider_range", "summary_text"]


def slider_range(ws: Workspace, mode: str) -> tuple[float, float, float, dict]:
    """``min, max, step, marks`` of the slider for ``mode`` on the current snapshot."""
    if mode == "percent":
        return 0.0, 100.0, 0.5, {k: f"{k}%" for k in (0, 25, 50, 75, 100)}
    snap = ws.take_snapshot()
    top = float(snap.magnitudes.max()) if snap.magnitudes.size else 1.0
    top = float(f"{top * 1.001:.3g}") if top > 0 else 1.0
    marks = {float(f"{top * f:.3g}"): f"{top * f:.3g}" for f in (0, 0.25, 0.5, 0.75, 1.0)}
    return 0.0, top, top / 500, marks


def summary_text(preview: Preview, *, unpruned_accuracy: float | None, test_samples: int | None = None) -> list[str]:
    """Lines under the slider: parameters left, share pruned, test accuracy at this setting."""
    kept = sum(r[1] for r in preview.rows)
    designed = sum(r[2] for r in preview.rows)
    pruned = designed - kept
    lines = [
        f"{preview.remaining:,} of {preview.total:,} parameters remain",
        f"{pruned:,} of {designed:,} connections pruned ({pruned / designed:.1%})" if designed else "no connections",
    ]
    if preview.accuracy is not None and not math.isnan(preview.accuracy):
        base = f" (unpruned {unpruned_accuracy:.1%})" if unpruned_accuracy is not None else ""
        on = f" on {test_samples:,} test samples" if test_samples else ""
        lines.append(f"test accuracy{on} at this setting: {preview.accuracy:.1%}{base}")
    return lines


def register(app, store) -> None:
    @app.callback(
        Output(ids.PRUNE_SLIDER, "min"),
        Output(ids.PRUNE_SLIDER, "max"),
        Output(ids.PRUNE_SLIDER, "step"),
        Output(ids.PRUNE_SLIDER, "marks"),
        Output(ids.PRUNE_SLIDER, "value"),
        Output(ids.PRUNE_SCOPE, "options"),
        Input(ids.PRUNE_MODE, "value"),
        Input(ids.MODEL_VERSION, "data"),
        State(ids.PRUNE_SLIDER, "value"),
        State(ids.SESSION, "data"),
    )
    def slider_config(mode, _version, value, sid):
        session = store.get(sid)
        scope = [
            {"label": " global", "value": "global"},
            {"label": " per layer", "value": "layer", "disabled": mode != "percent"},
        ]
        with session.lock:
            try:
                low, high, step, marks = slider_range(session.workspace, mode)
            except WorkbenchError:
                return no_update, no_update, no_update, no_update, no_update, scope
        keep = ctx.triggered_id == ids.MODEL_VERSION and value is not None
        return low, high, step, marks, (min(value, high) if keep else 0.0), scope

    @app.callback(
        Output(ids.DENSITY_FIG, "figure"),
        Output(ids.HIST_FIG, "figure"),
        Output(ids.PRUNE_VALUE, "children"),
        Output(ids.PRUNE_SUMMARY, "children"),
        Output(ids.PRUNE_ALERT, "children"),
        Output(ids.PREVIEW_VERSION, "data"),
        Input(ids.PRUNE_SLIDER, "value"),
        Input(ids.PRUNE_SCOPE, "value"),
        Input(ids.PRUNE_MODE, "value"),
        State(ids.SESSION, "data"),
    )
    def preview(value, scope, mode, sid):
        session = store.get(sid)
        ws = session.workspace
        with session.lock:
            try:
                scope = scope if mode == "percent" else "global"
                p = ws.preview_masks(mode, scope, float(value or 0.0))
                snap = ws.snapshot
            except WorkbenchError as err:
                empty = empty_figure(error_message(err))
                return empty, empty, "", "", alert(error_message(err), "warning"), no_update
            hist = histogram_figure(snap.counts, snap.edges, p.threshold)
            if mode == "percent":
                cut = f" · threshold {p.threshold:.4g}" if p.threshold is not None else " in every layer"
                label = f"prune {float(value or 0):.1f}% of weights{cut}"
            else:
                label = f"threshold |w| ≤ {float(value or 0):.4g} is pruned"
            samples = ws.dataset.n_test
            capped = samples if samples > PREVIEW_SAMPLES else None
            lines = summary_text(p, unpruned_accuracy=ws.unpruned_accuracy(), test_samples=capped and PREVIEW_SAMPLES)
            return (
                density_figure(p.rows),
                hist,
                label,
                [html_line(s) for s in lines],
                None,
                hash(p.key) % 1_000_000_007,
            )

    @app.callback(
        Output(ids.PRUNE_ALERT, "children", allow_duplicate=True),
        Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
        Output(ids.POLL, "disabled", allow_duplicate=True),
        Output(ids.STATUS, "children", allow_duplicate=True),
        Output(ids.STATUS, "className", allow_duplicate=True),
        Input(ids.PRUNE_APPLY, "n_clicks"),
        Input(ids.PRUNE_FINETUNE, "n_clicks"),
        Input(ids.PRUNE_RESET, "n_clicks"),
        State(ids.PRUNE_FT_EPOCHS, "value"),
        State(ids.OPTIMIZER, "value"),
        State(ids.LR, "value"),
        State(ids.BATCH, "value"),
        State(ids.DEVICE, "value"),
        State(ids.SESSION, "data"),
        prevent_initial_call=True,
    )
    def prune_action(_a, _f, _r, epochs, optimizer, lr, batch, device, sid):
        session = store.get(sid)
        ws = session.workspace
        started = False
        with session.lock:
            try:
                if ctx.triggered_id == ids.PRUNE_APPLY:
                    masked = ws.apply()
                    message = alert(f"Applied: {masked:,} weights are masked in the model.", "success")
                elif ctx.triggered_id == ids.PRUNE_FINETUNE:
                    note = ""
                    if ws.preview is not None and not ws.preview_applied():
                        ws.apply()
                        note = "Applied the previewed masks. "
                    ws.start(optimizer=optimizer, lr=lr, batch_size=batch, epochs=epochs, device=device)
                    started = True
                    message = alert(f"{note}Fine-tuning with the masks held; curves on the Build & train tab.", "info")
                else:
                    ws.reset_masks()
                    message = alert("Masks reset: every designed connection is on again.", "success")
            except WorkbenchError as err:
                message = alert(error_message(err))
            text, cls = status_text(ws)
            return message, ws.version, not (started or ws.running), text, cls  # poll even a run that ended at once


def html_line(text: str):
    from dash import html

    return html.Div(text)
