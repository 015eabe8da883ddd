"""Model -> graph extraction (``GraphTransform``) at neuron, channel or module granularity."""

from workbench.transform.core import GraphEstimate, GraphTransform
from workbench.transform.output import EdgeArrays, EdgeAttrs

__all__ = ["EdgeArrays", "EdgeAttrs", "GraphEstimate", "GraphTransform"]
