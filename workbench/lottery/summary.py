"""Reading a sweep folder back: mean ± std across seeds per setting, round and condition.

:func:`open_sweep` reads ``OUT/<setting>/seed-<s>/results.json`` of every
chain (finished, interrupted or failed: the rounds each has) into plain data,
:class:`SweepSummary`, that the app plots and :func:`write_summary` turns
into ``summary.csv`` and SVG plots with mean ± std bands. Round 0, the dense
network, starts the curve of every condition, as in
:meth:`LotteryResult.by_condition <workbench.lottery.results.LotteryResult.by_condition>`.

Accuracy is the test accuracy at the end of training; the standard
deviation is the sample standard deviation across seeds (``nan`` for one seed).

Example:
    >>> sweep = open_sweep("results/sweep")
    >>> curve = sweep.settings["rate0.2-rewind0"]["ticket"]
    >>> curve.percent_remaining, curve.accuracy_mean, curve.accuracy_std
    >>> [seed.accuracy for seed in curve.seeds]  # each seed's own curve
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import SweepError
from workbench.lottery.report import LABELS, line_chart_svg, write_text

__all__ = [
    "SUMMARY_FIELDS",
    "ConditionCurve",
    "SeedCurve",
    "SweepSummary",
    "markdown_summary",
    "open_sweep",
    "write_summary",
]

#: Columns of ``summary.csv``, one row per setting, round and condition.
SUMMARY_FIELDS = (
    "setting",
    "round",
    "condition",
    "percent_remaining",
    "n_seeds",
    "accuracy_mean",
    "accuracy_std",
    "early_stop_iteration_mean",
    "early_stop_iteration_std",
)


@dataclass(frozen=True)
class SeedCurve:
    """One seed's curve of one condition: a value per round it finished (lists share their index)."""

    seed: int
    rounds: list[int]
    percent_remaining: list[float]
    accuracy: list[float]
    early_stop_iteration: list[int]
    early_stop_accuracy: list[float]


@dataclass(frozen=True)
class ConditionCurve:
    """Mean and sample std across seeds of one condition of one setting, a value per round.

    Lists share their index (one entry per round that at least one seed
    finished); ``n_seeds`` says how many seeds each entry averages; ``seeds``
    holds each seed's own curve.
    """

    condition: str
    rounds: list[int]
    percent_remaining: list[float]
    n_seeds: list[int]
    accuracy_mean: list[float]
    accuracy_std: list[float]
    early_stop_iteration_mean: list[float]
    early_stop_iteration_std: list[float]
    early_stop_accuracy_mean: list[float]
    early_stop_accuracy_std: list[float]
    seeds: list[SeedCurve]


@dataclass(frozen=True)
class SweepSummary:
    """Everything :func:`open_sweep` read from a sweep folder.

    Attributes:
        folder: the sweep folder.
        settings: ``{setting: {condition: ConditionCurve}}``, settings in the
            order of ``sweep.json`` (else by name), conditions ticket first.
        configs: each setting's experiment (``LotteryConfig`` fields, seed left out).
        failed: ``{"<setting>/seed-<s>": first line of its error}`` for chains that failed.
        unfinished: chains whose files stop before their last round.
    """

    folder: Path
    settings: dict[str, dict[str, ConditionCurve]]
    configs: dict[str, dict] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)

    def rows(self) -> list[dict]:
        """The rows of ``summary.csv`` (keys: :data:`SUMMARY_FIELDS`)."""
        rows = []
        for setting, curves in self.settings.items():
            for condition, c in curves.items():
                for i, k in enumerate(c.rounds):
                    rows.append(
                        {
                            "setting": setting,
                            "round": k,
                            "condition": condition,
                            "percent_remaining": round(c.percent_remaining[i], 4),
                            "n_seeds": c.n_seeds[i],
                            "accuracy_mean": c.accuracy_mean[i],
                            "accuracy_std": c.accuracy_std[i],
                            "early_stop_iteration_mean": c.early_stop_iteration_mean[i],
                            "early_stop_iteration_std": c.early_stop_iteration_std[i],
                        }
                    )
        return sorted(rows, key=lambda r: (list(self.settings).index(r["setting"]), r["round"]))


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else math.nan


def _seed_curves(document: dict, seed: int, conditions: list[str]) -> dict[str, SeedCurve]:
    networks = document["rounds"]
    dense = [n for n in networks if n["round"] == 0]
    out = {}
    for condition in conditions:
        picked = sorted(dense + [n for n in networks if n["round"] > 0 and n["condition"] == condition], key=_round)
        out[condition] = SeedCurve(
            seed=seed,
            rounds=[n["round"] for n in picked],
            percent_remaining=[float(n["percent_remaining"]) for n in picked],
            accuracy=[float(n["final_accuracy"]) for n in picked],
            early_stop_iteration=[int(n["early_stop_iteration"]) for n in picked],
            early_stop_accuracy=[float(n["early_stop_accuracy"]) for n in picked],
        )
    return out


def _round(network: dict) -> int:
    return int(network["round"])


def _condition_curve(condition: str, seeds: list[SeedCurve]) -> ConditionCurve:
    rounds = sorted({k for s in seeds for k in s.rounds})
    columns: dict[str, list[float]] = {}
    n_seeds, percent = [], []
    for k in rounds:
        at = [(s, s.rounds.index(k)) for s in seeds if k in s.rounds]
        n_seeds.append(len(at))
        percent.append(statistics.fmean(s.percent_remaining[i] for s, i in at))
        for name in ("accuracy", "early_stop_iteration", "early_stop_accuracy"):
            mean, std = _mean_std([float(getattr(s, name)[i]) for s, i in at])
            columns.setdefault(f"{name}_mean", []).append(mean)
            columns.setdefault(f"{name}_std", []).append(std)
    return ConditionCurve(condition, rounds, percent, n_seeds, **columns, seeds=seeds)


def open_sweep(folder: str | Path) -> SweepSummary:
    """Read a sweep folder written by :func:`~workbench.lottery.sweep.run_sweep` (or the command line).

    Reads every ``<setting>/seed-<s>/results.json`` below ``folder``; chains
    with no finished network yet are left out. Needs no model and no torch
    tensors: the result is plain lists of numbers.

    Raises:
        SweepError: ``folder`` holds no chain, or a ``results.json`` cannot be read.
    """
    folder = Path(folder)
    files = sorted(folder.glob("*/seed-*/results.json"))
    if not files:
        raise SweepError(f"{folder} holds no sweep: no <setting>/seed-<s>/results.json below it")
    order: list[str] = []
    if (folder / "sweep.json").exists():
        order = list(json.loads((folder / "sweep.json").read_text()).get("settings", {}))
    names = sorted(
        {f.parent.parent.name for f in files}, key=lambda n: (order.index(n) if n in order else len(order), n)
    )
    settings, configs, failed, unfinished = {}, {}, {}, []
    for setting in names:
        per_condition: dict[str, list[SeedCurve]] = {}
        chains = sorted((f for f in files if f.parent.parent.name == setting), key=_seed_of)
        for path in chains:
            try:
                document = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise SweepError(f"cannot read {path}: {exc}") from exc
            config = document["config"]
            configs.setdefault(setting, {k: v for k, v in config.items() if k != "seed"})
            conditions = ["ticket", *config.get("controls", [])]
            for condition, curve in _seed_curves(document, _seed_of(path), conditions).items():
                if curve.rounds:
                    per_condition.setdefault(condition, []).append(curve)
            name = f"{setting}/{path.parent.name}"
            error = path.parent / "error.txt"
            if error.exists():
                failed[name] = (error.read_text().splitlines() or ["failed"])[0]
            elif document.get("stopped"):
                unfinished.append(name)
        settings[setting] = {c: _condition_curve(c, seeds) for c, seeds in per_condition.items()}
    return SweepSummary(folder, settings, configs, failed, unfinished)


def _seed_of(path: Path) -> int:
    return int(path.parent.name.removeprefix("seed-"))


def _fmt(mean: float, std: float, digits: int) -> str:
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_summary(summary: SweepSummary) -> str:
    """A Markdown table: per setting and round, accuracy (%) and early-stop iteration, mean ± std per condition."""
    conditions = list(dict.fromkeys(c for curves in summary.settings.values() for c in curves))
    head = ["setting", "round", "% remaining", "seeds"]
    for c in conditions:
        head += [f"{LABELS.get(c, c)} acc (%)", f"{LABELS.get(c, c)} early-stop it"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for setting, curves in summary.settings.items():
        for k in sorted({k for c in curves.values() for k in c.rounds}):
            cells = [setting, str(k), "", ""]
            for condition in conditions:
                c = curves.get(condition)
                if c is None or k not in c.rounds:
                    cells += ["", ""]
                    continue
                i = c.rounds.index(k)
                cells[2], cells[3] = f"{c.percent_remaining[i]:.1f}", str(c.n_seeds[i])
                cells.append(_fmt(100 * c.accuracy_mean[i], 100 * c.accuracy_std[i], 2))
                cells.append(_fmt(c.early_stop_iteration_mean[i], c.early_stop_iteration_std[i], 0))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _band_chart(curves: dict[str, ConditionCurve], metric: str, scale: float, labels: dict[str, str], **kw) -> str:
    series, bands = {}, {}
    for name, c in curves.items():
        mean, std = getattr(c, f"{metric}_mean"), getattr(c, f"{metric}_std")
        series[name] = [(x, scale * m) for x, m in zip(c.percent_remaining, mean, strict=True)]
        bands[name] = [
            (x, scale * (m - s), scale * (m + s))
            for x, m, s in zip(c.percent_remaining, mean, std, strict=True)
            if not math.isnan(s)
        ]
    return line_chart_svg(series, bands=bands, labels=labels, **kw)


def write_summary(summary: SweepSummary) -> dict[str, Path]:
    """Write ``summary.csv``, ``accuracy.svg`` and ``early_stop.svg`` into the sweep folder, and plots per setting.

    The per-setting plots (``<setting>/accuracy.svg``, ...) show every
    condition; the sweep's show the ticket of every setting (or, for one
    setting, every condition). Bands are mean ± one std across seeds.

    Returns:
        The paths written, by kind (``"csv"``, ``"accuracy"``, ``"early_stop"``).
    """
    out = summary.folder
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=SUMMARY_FIELDS)
    writer.writeheader()
    writer.writerows(summary.rows())
    paths = {"csv": out / "summary.csv", "accuracy": out / "accuracy.svg", "early_stop": out / "early_stop.svg"}
    write_text(paths["csv"], table.getvalue())
    plots = {
        "accuracy": ("accuracy", 100.0, "Test accuracy at the end of training (mean ± std)", "test accuracy (%)"),
        "early_stop": ("early_stop_iteration", 1.0, "Early-stopping iteration (mean ± std)", "iteration"),
    }
    for kind, (metric, scale, title, y_label) in plots.items():
        for setting, curves in summary.settings.items():
            svg = _band_chart(curves, metric, scale, LABELS, title=f"{setting}: {title}", y_label=y_label)
            write_text(out / setting / f"{kind}.svg", svg)
        if len(summary.settings) == 1:
            (setting, curves), *_ = summary.settings.items()
            svg = _band_chart(curves, metric, scale, LABELS, title=title, y_label=y_label)
        else:
            tickets = {s: curves["ticket"] for s, curves in summary.settings.items() if "ticket" in curves}
            labels = {s: s for s in tickets}
            svg = _band_chart(tickets, metric, scale, labels, title=f"Winning tickets: {title}", y_label=y_label)
        write_text(paths[kind], svg)
    return paths
