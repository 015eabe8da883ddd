"""Model -> graph extraction (``GraphTransform``) at neuron, channel or module granularity."""

from workbench.transform.blocks import GRANULARITIES
from workbench.transform.core import GraphEstimate, GraphTransform
from workbench.transform.output import EdgeArrays, EdgeAttrs
from workbench.transform.samples import CONV_SAMPLES, ResidualCNN, conv_sample, sample_input, small_cnn

__all__ = [
    "CONV_SAMPLES",
    "GRANULARITIES",
    "EdgeArrays",
    "EdgeAttrs",
    "GraphEstimate",
    "GraphTransform",
    "ResidualCNN",
    "conv_sample",
    "sample_input",
    "small_cnn",
]
