"""Running the chains of a sweep: one after another in this process, or as Ray tasks.

Both runners take the chains to train and yield :class:`ChainEvent` values as
the chains report, so the caller writes files and draws progress the same way
for both. A failing chain becomes a ``"failed"`` event with its error, and
the others go on. Ray is optional (``pip install -e ".[cluster]"``); it is
imported only by :func:`ray_events` and :func:`ray_session`.

On Ray every chain is a generator task (``num_cpus`` = its torch threads,
and ``num_gpus=1`` when it trains on CUDA) that streams one step per trained network back to
the process that started the sweep; only that process writes files, so a
cluster needs no shared file system. Tasks are not retried: a rerun of the
sweep resumes an interrupted chain from its files instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from workbench.lottery.chain import ChainSpec, ChainStep, run_chain
from workbench.lottery.imp import Checkpoint

__all__ = ["INSTALL_HINT", "ChainEvent", "process_events", "ray_available", "ray_events", "ray_session"]

INSTALL_HINT = 'Ray is not installed: chains run one after another; pip install -e ".[cluster]" runs them in parallel'

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class ChainEvent:
    """What one chain reported: ``"step"`` (see ``step``), ``"done"``, or ``"failed"`` (see ``error``).

    ``index`` is the chain's position in the list given to the runner. A
    ``step`` without a result means the chain started.
    """

    index: int
    kind: Literal["step", "done", "failed"]
    step: ChainStep | None = None
    error: str = ""


def ray_available() -> bool:
    """Whether ``import ray`` would work."""
    return importlib.util.find_spec("ray") is not None


def _error_text(exc: BaseException, details: str | None = None) -> str:
    """``"Type: message"`` on the first line, then the traceback (or ``details``)."""
    trace = details if details is not None else "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{type(exc).__name__}: {exc}\n\n{trace}"


def process_events(chains: Sequence[tuple[ChainSpec, Checkpoint | None]]) -> Iterator[ChainEvent]:
    """Train the chains one after another in this process.

    An exception of a chain ends that chain with a ``"failed"`` event;
    ``KeyboardInterrupt`` ends them all.
    """
    for index, (spec, resume) in enumerate(chains):
        try:
            for step in run_chain(spec, resume):
                yield ChainEvent(index, "step", step)
        except Exception as exc:  # a failing chain is reported and the others go on
            yield ChainEvent(index, "failed", error=_error_text(exc))
        else:
            yield ChainEvent(index, "done")


@contextmanager
def ray_session(*, workers: int | None = None, address: str | None = None):
    """Ray for the length of a ``with`` block: joins ``address``, or starts a local instance.

    A local instance gets ``workers`` CPUs (default: the cores), listens on
    127.0.0.1 only, has no dashboard, and is stopped when the block ends. If
    Ray is already initialised in this process it is used as it is and left
    running.

    Example:
        >>> with ray_session(workers=2):
        ...     for event in ray_events(chains): ...
    """
    import ray

    if ray.is_initialized():
        yield ray
        return
    quiet = {"logging_level": "WARNING", "log_to_driver": False}
    if address:
        ray.init(address=address, **quiet)
    else:
        cpus = workers or os.cpu_count() or 1
        # address="local": a new instance even where `ray start` left one running on this machine
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
    try:
        yield ray
    finally:
        ray.shutdown()


def _gpus(device: str, cluster_gpus: float) -> int:
    if device.startswith("cuda"):
        return 1
    return 1 if device == "auto" and cluster_gpus > 0 else 0


def ray_events(chains: Sequence[tuple[ChainSpec, Checkpoint | None]]) -> Iterator[ChainEvent]:
    """Train the chains as Ray tasks (Ray must be initialised, see :func:`ray_session`), events as they come.

    Each task asks for a CPU per torch thread of its chain (one by default)
    and, for ``device="cuda"`` (or ``"auto"`` on a cluster with GPUs), one
    GPU, which it sees as ``cuda``.
    """
    import dataclasses

    import ray
    from ray.exceptions import RayError

    task = ray.remote(run_chain)
    cluster_gpus = ray.cluster_resources().get("GPU", 0)
    running = {}
    for index, (spec, resume) in enumerate(chains):
        gpus = _gpus(spec.device, cluster_gpus)
        if gpus:
            spec = dataclasses.replace(spec, device="cuda")  # the task sees its GPU as the only one
        options = {"num_cpus": max(1, spec.threads), "num_gpus": gpus, "max_retries": 0}
        running[task.options(**options).remote(spec, resume)] = index
    try:
        while running:
            # A timeout, so that Ctrl-C reaches Python while every chain is still training.
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for generator in ready:
                index = running[generator]
                try:
                    ref = next(generator)
                except StopIteration:
                    del running[generator]
                    yield ChainEvent(index, "done")
                    continue
                try:
                    step = ray.get(ref)
                except RayError as exc:
                    del running[generator]
                    cause = getattr(exc, "cause", None)
                    details = _ANSI.sub("", str(exc))  # Ray colours the task's name
                    text = _error_text(cause if isinstance(cause, BaseException) else exc, details=details)
                    yield ChainEvent(index, "failed", error=text)
                    continue
                yield ChainEvent(index, "step", step)
    finally:
        for generator in running:  # interrupted: stop what is still running
            with contextlib.suppress(RayError, TypeError, ValueError):
                ray.cancel(generator, force=True)
