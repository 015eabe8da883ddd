"""Model -> graph extraction (``GraphTransform``) at neuron, channel or module granularity."""

from workbench.transform.blocks import GRANULARITIES
from workbench.transform.core import GraphEstimate, GraphTransform, available_memory
from workbench.transform.output import EdgeArrays, EdgeAttrs
from workbench.transform.samples import CONV_SAMPLES, ResidualCNN, ResNet18, conv_sample, sample_input, small_cnn

__all__ = [
    "CONV_SAMPLES",
    "GRANULARITIES",
    "EdgeArrays",
    "EdgeAttrs",
    "GraphEstimate",
    "GraphTransform",
    "ResNet18",
    "ResidualCNN",
    "available_memory",
    "conv_sample",
    "sample_input",
    "small_cnn",
]
