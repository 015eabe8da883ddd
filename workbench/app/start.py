"""What a new session opens on: a sample model (graph + trained weights), or a small generated DAN."""

from __future__ import annotations

import logging
from collections.abc import Callable

from workbench.app.session import Session
from workbench.app.workspace import DatasetCache, Workspace
from workbench.errors import WorkbenchError
from workbench.graph import watts_strogatz

__all__ = ["open_first", "session_factory"]

log = logging.getLogger(__name__)


def open_first(session: Session, sample: str | None = None) -> None:
    """Load ``sample`` (default: the first sample) into ``session``; fall back to a generated DAN."""
    try:
        from workbench import samples

        names = list(samples.list_samples(kind="graph"))
        default = getattr(samples, "DEFAULT_SAMPLE", None)
        name = sample if sample is not None else (default if default in names else (names[0] if names else None))
        if name is not None:
            loaded = samples.load_sample(name)
            session.design.replace(loaded.graph)
            session.workspace.set_model(
                loaded.model, dataset=loaded.metadata.get("dataset"), note=f"sample {loaded.name}"
            )
            session.design.forget_history()
            return
    except (ImportError, WorkbenchError, OSError) as err:
        if sample is not None:
            raise
        log.warning("no sample model to open (%s); starting from a generated graph", err)
    session.design.replace(watts_strogatz(24, 4, 0.2, seed=0))
    session.design.forget_history()
    session.workspace.build("dan", session.design.graph)


def session_factory(datasets: DatasetCache, sample: str | None = None) -> Callable[[str], Session]:
    def make(session_id: str) -> Session:
        session = Session(session_id, Workspace(datasets))
        open_first(session, sample)
        return session

    return make
