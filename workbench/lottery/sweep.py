"""Lottery sweeps: many seeds and settings of one experiment, on Ray or in this process, with error bars.

A :class:`Sweep` is a grid: every pruning rate times every rewinding
iteration is a *setting*, named readably and stably after them
(``rate0.2-rewind0``), and every setting runs one chain per seed.
:func:`run_sweep` trains the chains (see :mod:`workbench.lottery.distributed`),
writes each into ``OUT/<setting>/seed-<s>/`` as its networks finish (see
:mod:`workbench.lottery.chain`: a rerun skips finished chains and resumes
interrupted ones), and ends with ``OUT/summary.csv`` and plots of mean ± std
across seeds (:mod:`workbench.lottery.summary`).

Example:
    >>> sweep = Sweep(LotteryConfig(rounds=12, output_rate=0.1, iterations=2500), seeds=(0, 1, 2),
    ...               dataset="mnist", arch=(300, 100))
    >>> outcome = run_sweep(sweep, "results/sweep", workers=2)   # Ray if installed
    >>> print(markdown_summary(open_sweep("results/sweep")))
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from torch import nn

from workbench.errors import PruningError, SweepError
from workbench.lottery.chain import ChainFolder, ChainSpec
from workbench.lottery.distributed import INSTALL_HINT, process_events, ray_available, ray_events, ray_session
from workbench.lottery.imp import LotteryConfig, networks_in
from workbench.lottery.report import write_text
from workbench.lottery.summary import SweepSummary, open_sweep, write_summary

__all__ = ["Sweep", "SweepEvent", "SweepOutcome", "run_sweep", "setting_name"]

Backend = Literal["auto", "ray", "process"]


def setting_name(rate: float, rewind: int) -> str:
    """The folder name of a setting, e.g. ``setting_name(0.2, 0) == "rate0.2-rewind0"`` (``repr`` of the rate)."""
    return f"rate{float(rate)!r}-rewind{int(rewind)}"


@dataclass(frozen=True)
class Sweep:
    """A grid of lottery experiments: ``rates`` × ``rewinds`` settings, each run once per seed.

    Attributes:
        config: the experiment; its ``rate``, ``rewind`` and ``seed`` are
            replaced by each chain's.
        seeds: one chain per seed of every setting.
        rates, rewinds: the grid (empty: the config's value only).
        dataset, n_samples, arch, device, threads, model_fn: as in
            :class:`~workbench.lottery.chain.ChainSpec`.

    Raises:
        SweepError: no seeds, repeated seeds, rates or rewinds.
        PruningError: a rate or rewind that :class:`LotteryConfig` rejects.
    """

    config: LotteryConfig = field(default_factory=LotteryConfig)
    seeds: tuple[int, ...] = (0,)
    rates: tuple[float, ...] = ()
    rewinds: tuple[int, ...] = ()
    dataset: str = "mnist"
    n_samples: int | None = None
    arch: tuple[int, ...] = (300, 100)
    device: str = "cpu"
    threads: int = 1
    model_fn: Callable[[object], nn.Module] | None = None

    def __post_init__(self) -> None:
        for name in ("seeds", "rates", "rewinds"):
            values = tuple(getattr(self, name))
            object.__setattr__(self, name, values)
            if len(set(values)) != len(values):
                raise SweepError(f"{name} must not repeat a value, got {list(values)}")
        if not self.seeds:
            raise SweepError("a sweep needs at least one seed, got none")
        if any(isinstance(s, bool) or not isinstance(s, int) for s in self.seeds):
            raise SweepError(f"seeds must be ints, got {list(self.seeds)}")
        self.settings()  # every combination must be a valid LotteryConfig

    def settings(self) -> dict[str, LotteryConfig]:
        """Every setting by name, in grid order (rates outer, rewinds inner), with seed 0."""
        out = {}
        for rate in self.rates or (self.config.rate,):
            for rewind in self.rewinds or (self.config.rewind,):
                try:
                    out[setting_name(rate, rewind)] = dataclasses.replace(self.config, rate=rate, rewind=rewind, seed=0)
                except PruningError as exc:
                    raise PruningError(f"setting rate={rate!r}, rewind={rewind!r}: {exc}") from None
        return out

    def chains(self) -> list[ChainSpec]:
        """One :class:`ChainSpec` per setting and seed (settings outer, seeds inner)."""
        return [
            ChainSpec(
                setting=name,
                seed=seed,
                config=dataclasses.replace(config, seed=seed),
                dataset=self.dataset,
                n_samples=self.n_samples,
                arch=tuple(self.arch),
                device=self.device,
                threads=self.threads,
                model_fn=self.model_fn,
            )
            for name, config in self.settings().items()
            for seed in self.seeds
        ]


@dataclass(frozen=True)
class SweepEvent:
    """Progress of a sweep, for progress bars.

    ``kind`` is ``"planned"`` (once, first: ``networks`` to train,
    ``networks_done`` already on disk, ``backend`` chosen), ``"started"``,
    ``"network"`` (one more network of ``chain`` finished; ``result`` is it),
    ``"finished"`` or ``"failed"`` (``error``: its first line is the message).
    """

    kind: Literal["planned", "started", "network", "finished", "failed"]
    chain: str = ""
    result: object = None
    error: str = ""
    networks: int = 0
    networks_done: int = 0
    chains: int = 0
    backend: str = ""


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did: chains by name, and the summary of the folder at the end."""

    finished: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    backend: str = ""
    seconds: float = 0.0
    summary: SweepSummary | None = None
    paths: dict[str, Path] = field(default_factory=dict)


def _choose_backend(backend: Backend, address: str | None) -> str:
    if backend not in ("auto", "ray", "process"):
        raise SweepError(f"unknown backend {backend!r}; expected 'auto', 'ray' or 'process'")
    if backend == "process" and address:
        raise SweepError(f"address {address!r} needs Ray; the 'process' backend runs here")
    if backend != "process" and ray_available():
        return "ray"
    if backend == "ray" or address:
        raise SweepError(f"Ray is not installed (asked for backend {backend!r}, address {address!r}); {INSTALL_HINT}")
    return "process"


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    *,
    backend: Backend = "auto",
    workers: int | None = None,
    address: str | None = None,
    on_event: Callable[[SweepEvent], None] | None = None,
    extra: dict | None = None,
) -> SweepOutcome:
    """Train every chain of ``sweep`` not yet finished in ``out``, write its files, then the summary.

    Args:
        out: the sweep folder (created). Chains there are skipped when
            finished and resumed from their last finished round otherwise.
        backend: ``"ray"`` (Ray tasks), ``"process"`` (one after another,
            here), or ``"auto"``: Ray if it is installed.
        workers: CPUs of the local Ray instance started for the run (default:
            the cores); not used with ``address`` or an initialised Ray.
        address: ``"HOST:PORT"`` of a running Ray cluster to join.
        on_event: called with a :class:`SweepEvent` as chains start and networks finish.
        extra: stored under ``"run"`` in every chain's ``results.json``.

    Returns:
        The chains finished, skipped and failed (a failing chain does not stop
        the others), and the folder's summary.

    Raises:
        SweepError: ``out`` holds chains of another experiment, or Ray is asked for and missing.
    """
    began = time.perf_counter()
    emit = on_event or (lambda event: None)
    out = Path(out)
    chosen = _choose_backend(backend, address)
    specs = sweep.chains()
    folders = [ChainFolder.open(out / spec.name, spec.config) for spec in specs]
    out.mkdir(parents=True, exist_ok=True)
    settings = {name: {"rate": c.rate, "rewind": c.rewind} for name, c in sweep.settings().items()}
    document = {
        "config": {k: v for k, v in dataclasses.asdict(sweep.config).items() if k not in ("rate", "rewind", "seed")},
        "settings": settings,
        "seeds": list(sweep.seeds),
        "dataset": sweep.dataset,
        "n_samples": sweep.n_samples,
        "arch": list(sweep.arch),
    }
    write_text(out / "sweep.json", json.dumps(document, indent=1) + "\n")
    outcome = SweepOutcome(backend=chosen)
    todo = []
    for spec, folder in zip(specs, folders, strict=True):
        if folder.finished:
            outcome.skipped.append(spec.name)
        else:
            folder.restart()
            todo.append((spec, folder))
    # Longest first: the chains that have the most networks left start first, so the last ones to finish
    # are short (a resumed sweep ends sooner on a few workers).
    todo.sort(key=lambda chain: chain[1].networks_done - networks_in(chain[0].config))
    total = sum(networks_in(spec.config) for spec in specs)
    done = sum(folder.networks_done for folder in folders)
    emit(SweepEvent("planned", networks=total, networks_done=done, chains=len(todo), backend=chosen))
    if todo:
        chains = [(spec, folder.checkpoint) for spec, folder in todo]
        if chosen == "ray":
            with ray_session(workers=workers, address=address):
                _collect(ray_events(chains), todo, outcome, emit, extra)
        else:
            _collect(process_events(chains), todo, outcome, emit, extra)
    outcome.summary = open_sweep(out)
    outcome.paths = write_summary(outcome.summary)
    outcome.seconds = time.perf_counter() - began
    return outcome


def _collect(events, todo, outcome: SweepOutcome, emit, extra: dict | None) -> None:
    """Write every chain's steps into its folder as they come, and report them."""
    started: dict[int, float] = {}
    hosts: dict[int, str] = {}
    for event in events:
        spec, folder = todo[event.index]
        if event.kind == "failed":
            folder.fail(event.error)
            outcome.failed[spec.name] = event.error.splitlines()[0] if event.error else "failed"
            emit(SweepEvent("failed", chain=spec.name, error=event.error))
        elif event.kind == "done":
            outcome.finished.append(spec.name)
            emit(SweepEvent("finished", chain=spec.name))
        elif event.step is not None and event.step.result is None:
            started[event.index] = time.perf_counter()
            hosts[event.index] = event.step.host
            emit(SweepEvent("started", chain=spec.name))
        elif event.step is not None:
            run = {**(extra or {}), "setting": spec.setting, "seed": spec.seed, "host": hosts.get(event.index, "")}
            seconds = time.perf_counter() - started.get(event.index, time.perf_counter())
            folder.add(event.step, seconds=seconds, extra=run)
            emit(SweepEvent("network", chain=spec.name, result=event.step.result))
