"""The exception tree of workbench.

Every error a user can cause (a bad graph, a wrong mask, a malformed file, a
training failure) is a :class:`WorkbenchError`. Subclasses also derive from the
matching builtin (``ValueError``, ``KeyError``, ``RuntimeError``) so callers that
catch those keep working. Messages name the offending value.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence


class WorkbenchError(Exception):
    """Base class of every error raised on purpose by workbench."""


class GraphError(WorkbenchError, ValueError):
    """A graph is unusable as a network structure."""


class EmptyGraphError(GraphError):
    """A graph has no vertices."""


class CycleError(GraphError):
    """A graph that must be acyclic has a cycle.

    Attributes:
        cycle: the vertices of one cycle, in order; the last one has an edge
            back to the first.
    """

    def __init__(self, cycle: Sequence[Hashable], what: str = "graph") -> None:
        self.cycle = list(cycle)
        path = " -> ".join(repr(v) for v in [*self.cycle, self.cycle[0]]) if self.cycle else "?"
        super().__init__(f"the {what} has a cycle: {path}")


class UnknownNodeError(GraphError, KeyError):
    """A vertex label is not in the graph."""

    def __init__(self, node: Hashable) -> None:
        self.node = node
        super().__init__(f"unknown vertex {node!r}")

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return self.args[0]


class MaskError(WorkbenchError, ValueError):
    """A mask has the wrong shape or dtype, or does not fit its weights."""


class PruningError(WorkbenchError, ValueError):
    """A pruning request is out of range (amount, threshold, strategy)."""


class GraphFileError(WorkbenchError, ValueError):
    """A graph file cannot be read or written."""


class SessionError(WorkbenchError, ValueError):
    """A browser tab's session cannot be found or kept (a malformed session id, a closed store)."""


class CheckpointError(WorkbenchError, ValueError):
    """A model checkpoint cannot be read, or does not fit the model."""


class DatasetError(WorkbenchError, ValueError):
    """A dataset name or split is unknown, or its data are unusable."""


class TrainingError(WorkbenchError, RuntimeError):
    """Training stopped because of a failure (NaN loss, out of memory, shape error)."""


class ExtractionError(WorkbenchError, ValueError):
    """A graph cannot be extracted from a model (unsupported op, control flow)."""


class LimitError(WorkbenchError, ValueError):
    """A request is over a size limit (see :class:`workbench.limits.Limits`); refused before any work.

    Attributes:
        field: the name of the :class:`~workbench.limits.Limits` field that was
            exceeded (``"max_edges"``...), or None for a limit the caller set.
        value: the size that was asked for (an int, or a float for sizes
            estimated beyond exact arithmetic), or None.
        limit: the limit, or None.
    """

    def __init__(self, message: str, *, field: str | None = None, value=None, limit: int | None = None) -> None:
        self.field = field
        self.value = value
        self.limit = limit
        super().__init__(message)


class GraphTooLargeError(ExtractionError, LimitError):
    """The extracted graph would exceed the limit the caller set."""


class SweepError(WorkbenchError, ValueError):
    """A sweep cannot run as asked: a bad grid, or an output folder that holds another experiment."""
