"""Model -> graph extraction (``GraphTransform``)."""

from workbench.transform.core import GraphTransform

__all__ = ["GraphTransform"]
