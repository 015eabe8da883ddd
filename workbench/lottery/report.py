"""Writing a lottery experiment to disk: JSON, CSV, masks, and SVG plots drawn without a plotting library.

The plots are the paper's: test accuracy and early-stopping iteration
against the percent of weights remaining, on a log axis that runs from 100%
down, one line per condition. SVG is written by hand so that the core needs
no plotting package.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from xml.sax.saxutils import escape

import torch

from workbench.lottery.results import LotteryResult

__all__ = ["CSV_FIELDS", "line_chart_svg", "markdown_table", "save_atomic", "table_rows", "write_results", "write_text"]

CSV_FIELDS = (
    "round",
    "condition",
    "remaining",
    "total",
    "percent_remaining",
    "final_accuracy",
    "best_accuracy",
    "early_stop_iteration",
    "early_stop_accuracy",
    "min_val_loss",
    "seconds",
)
#: Line colours per condition (colour-blind safe: blue, orange, grey-green).
COLORS = {"ticket": "#1f77b4", "reinit": "#ff7f0e", "random": "#2ca02c"}
LABELS = {"ticket": "winning ticket", "reinit": "random reinit", "random": "random mask"}
#: Colours of further series (several settings in one plot).
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file renamed over it)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_atomic(obj, path: Path) -> None:
    """``torch.save(obj, path)`` whole or not at all (a killed run never leaves half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def table_rows(result: LotteryResult, metric: str = "final_accuracy") -> list[dict]:
    """One row per round: percent remaining and ``metric`` of every condition (``None`` if not run)."""
    by = result.by_condition()
    rounds = sorted({r.round for r in result.rounds})
    rows = []
    for k in rounds:
        row = {"round": k, "percent_remaining": None}
        for condition, results in by.items():
            match = [r for r in results if r.round == k]
            row[condition] = getattr(match[0], metric) if match else None
            if match:
                row["percent_remaining"] = match[0].percent_remaining
        rows.append(row)
    return rows


def write_results(result: LotteryResult, out: str | Path, *, extra: dict | None = None) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv``, ``masks.pt``, ``accuracy.svg`` and ``early_stop.svg`` into ``out``.

    ``masks.pt`` holds ``{"ticket/3": {layer: bool mask}, ...}`` for every
    trained network and ``"rewind_state"``. ``extra`` (the command line, the
    dataset, the machine) is stored under ``"run"`` in the JSON.

    Returns:
        The paths written, by kind.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out / "results.json",
        "csv": out / "results.csv",
        "masks": out / "masks.pt",
        "accuracy": out / "accuracy.svg",
        "early_stop": out / "early_stop.svg",
    }
    document = {
        "config": asdict(result.config),
        "seconds": round(result.seconds, 3),
        "stopped": result.stopped,
        "run": extra or {},
        "rounds": [r.summary() for r in result.rounds],
    }
    write_text(paths["json"], json.dumps(document, indent=1) + "\n")
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for r in result.rounds:
        summary = r.summary()
        writer.writerow({k: summary[k] for k in CSV_FIELDS})
    write_text(paths["csv"], table.getvalue())
    masks = {f"{r.condition}/{r.round}": r.masks for r in result.rounds}
    save_atomic({"masks": masks, "rewind_state": result.rewind_state}, paths["masks"])
    series = {
        c: [(r.percent_remaining, 100.0 * r.final_accuracy) for r in rs] for c, rs in result.by_condition().items()
    }
    write_text(
        paths["accuracy"],
        line_chart_svg(series, title="Test accuracy at the end of training", y_label="test accuracy (%)"),
    )
    series = {c: [(r.percent_remaining, r.early_stop_iteration) for r in rs] for c, rs in result.by_condition().items()}
    write_text(
        paths["early_stop"],
        line_chart_svg(series, title="Early-stopping iteration (lowest validation loss)", y_label="iteration"),
    )
    return paths


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for factor in (1, 2, 5, 10):
        if (hi - lo) / (step * factor) <= n:
            step *= factor
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def line_chart_svg(
    series: dict[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    y_label: str,
    x_label: str = "percent of weights remaining (log scale)",
    width: int = 640,
    height: int = 400,
    bands: dict[str, Sequence[tuple[float, float, float]]] | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """An SVG line chart of ``{name: [(percent remaining, y), ...]}`` with a reversed log x axis.

    The x axis runs from 100 on the left to the smallest percent on the
    right, as in Frankle & Carbin's figures. ``bands`` adds a shaded band
    ``{name: [(percent remaining, low, high), ...]}`` behind a series (mean ±
    std); ``labels`` names series in the legend (default: the condition's
    label, or the name). Pure; returns the SVG text.
    """
    bands = bands or {}
    names = list(series)
    known = all(n in COLORS for n in names)
    colors = {n: COLORS[n] if known else PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}
    points = [p for s in series.values() for p in s if p[0] > 0 and math.isfinite(p[1])]
    points += [(x, y) for b in bands.values() for x, lo, hi in b for y in (lo, hi) if x > 0 and math.isfinite(y)]
    left, right, top, bottom = 64, 150, 36, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    x_lo = min((p[0] for p in points), default=1.0)
    x_lo = 10 ** (math.floor(math.log10(x_lo) * 4) / 4) if x_lo > 0 else 1.0  # a quarter decade below
    x_lo = min(x_lo, 50.0)
    y_vals = [p[1] for p in points] or [0.0, 1.0]
    pad = (max(y_vals) - min(y_vals)) * 0.08 or 1.0
    y_lo, y_hi = min(y_vals) - pad, max(y_vals) + pad

    def sx(x: float) -> float:
        return left + plot_w * (math.log10(100.0) - math.log10(x)) / (math.log10(100.0) - math.log10(x_lo))

    def sy(y: float) -> float:
        return top + plot_h * (y_hi - y) / (y_hi - y_lo)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left + plot_w / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>',
    ]
    x_ticks = [t for t in (100, 50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1) if t >= x_lo * 0.999]
    for t in x_ticks:
        x = sx(t)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{t:g}</text>')
    for t in _nice_ticks(y_lo, y_hi):
        y = sy(t)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>')
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 12}" text-anchor="middle">{escape(x_label)}</text>'
        f'<text transform="translate(16 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">{escape(y_label)}</text>'
    )
    for name, band in bands.items():
        kept = [(x, lo, hi) for x, lo, hi in band if x > 0 and math.isfinite(lo) and math.isfinite(hi)]
        if len(kept) > 1:
            outline = [(sx(x), sy(hi)) for x, _, hi in kept] + [(sx(x), sy(lo)) for x, lo, _ in reversed(kept)]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in outline)
            parts.append(
                f'<polygon points="{path}" fill="{colors.get(name, "#555")}" fill-opacity="0.18" stroke="none"/>'
            )
    for i, (name, data) in enumerate(series.items()):
        color = colors[name]
        kept = [(sx(x), sy(y)) for x, y in data if x > 0 and math.isfinite(y)]
        if kept:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in kept)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
            parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>' for x, y in kept)
        ly = top + 14 + 20 * i
        parts.append(
            f'<line x1="{width - right + 12}" y1="{ly}" x2="{width - right + 36}" y2="{ly}" '
            f'stroke="{color}" stroke-width="2"/>'
            f'<text x="{width - right + 42}" y="{ly + 4}">{escape((labels or LABELS).get(name, name))}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def markdown_table(result: LotteryResult) -> str:
    """A Markdown table: per round, percent remaining and accuracy (final; at early stop) of every condition."""
    by = result.by_condition()
    conditions = list(by)
    head = ["round", "% remaining"]
    for c in conditions:
        head += [f"{LABELS.get(c, c)} acc", f"{LABELS.get(c, c)} early-stop it (acc)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in sorted({r.round for r in result.rounds}):
        cells = [str(k), ""]
        for c in conditions:
            match = [r for r in by[c] if r.round == k]
            if match:
                r = match[0]
                cells[1] = f"{r.percent_remaining:.1f}"
                early = f"{r.early_stop_iteration} ({100 * r.early_stop_accuracy:.2f})"
                cells += [f"{100 * r.final_accuracy:.2f}", early]
            else:
                cells += ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
