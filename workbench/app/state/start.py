"""What a new session opens on: the default sample model (graph, trained weights, curves), or a link's design."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from workbench import samples
from workbench.app.state.session import Session
from workbench.app.state.share import DesignSource
from workbench.app.state.workspace import DatasetCache, Workspace
from workbench.errors import GraphError, WorkbenchError
from workbench.graph import check_dag, watts_strogatz
from workbench.jobs import SlotPool
from workbench.limits import DEFAULT_LIMITS, Limits

__all__ = ["default_sample", "open_first", "open_sample", "session_factory"]

log = logging.getLogger(__name__)


def default_sample() -> str | None:
    """The sample a new session opens on: :data:`workbench.samples.DEFAULT_SAMPLE` when shipped, else the first."""
    names = list(samples.list_samples(kind="graph"))
    return samples.DEFAULT_SAMPLE if samples.DEFAULT_SAMPLE in names else (names[0] if names else None)


def open_sample(session: Session, name: str) -> None:
    """Load sample ``name`` into ``session``: its graph, its trained model, data set and training curves.

    Raises:
        CheckpointError: unknown or broken sample; GraphError: a convolutional sample (Inspect only).
    """
    sample = samples.load_sample(name)
    if sample.kind != "graph":
        raise GraphError(f"{sample.name!r} is a convolutional sample: open it on the Inspect tab")
    check_dag(sample.graph)  # validate first: nothing changes when the sample is broken
    dataset = sample.metadata.get("dataset")
    session.workspace.set_model(sample.model, dataset=dataset, note=f"sample {sample.name}")
    session.design.replace(sample.graph)
    session.workspace.history = [dict(r) for r in sample.metadata.get("history", [])]
    session.source = DesignSource("sample", name)
    session.settings = replace(session.settings, dataset=session.workspace.dataset_name)


def open_first(session: Session, sample: str | None = None) -> None:
    """Open ``sample`` (default: :func:`default_sample`) in a new session; fall back to a generated DAN."""
    try:
        name = sample if sample is not None else default_sample()
        if name is not None:
            open_sample(session, name)
            session.design.forget_history()
            return
    except (WorkbenchError, OSError) as err:
        if sample is not None:
            raise
        log.warning("no sample model to open (%s); starting from a generated graph", err)
    session.design.replace(watts_strogatz(30, 4, 0.2, seed=0))
    session.design.forget_history()
    session.workspace.build(session.design.graph, session.settings)


def session_factory(
    datasets: DatasetCache, sample: str | None = None, *, slots: SlotPool | None = None, limits: Limits = DEFAULT_LIMITS
) -> Callable[[str], Session]:
    """``make(session_id) -> Session`` opening on ``sample``; training waits for one of ``slots``, and
    everything the session reads or builds is held to ``limits``."""

    def make(session_id: str) -> Session:
        session = Session(session_id, Workspace(datasets, slots=slots, limits=limits))
        open_first(session, sample)
        return session

    return make
