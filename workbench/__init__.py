"""workbench: see and shape the structure of neural networks.

The library turns a directed acyclic graph into a masked PyTorch model, prunes
it, and turns the model back into a graph. The app (``workbench.app``) puts a
browser workbench on top of it.
"""

from workbench import errors, graph, limits, pruning, sparse, transform
from workbench.graph import CachedLayeredGraph, LayeredGraph
from workbench.limits import Limits
from workbench.pruning import PruningStrategy, prune_layer_by_saliency, prune_network_by_saliency
from workbench.sparse import (
    DeepCellDAN,
    MaskableModule,
    MaskedDeepDAN,
    MaskedDeepFFN,
    MaskedLinearLayer,
    maskable_layers,
)
from workbench.transform import GraphTransform

__version__ = "0.1.0"

__all__ = [
    "CachedLayeredGraph",
    "DeepCellDAN",
    "GraphTransform",
    "LayeredGraph",
    "Limits",
    "MaskableModule",
    "MaskedDeepDAN",
    "MaskedDeepFFN",
    "MaskedLinearLayer",
    "PruningStrategy",
    "__version__",
    "errors",
    "graph",
    "limits",
    "maskable_layers",
    "prune_layer_by_saliency",
    "prune_network_by_saliency",
    "pruning",
    "sparse",
    "transform",
]
