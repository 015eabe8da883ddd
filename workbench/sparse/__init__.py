"""Masked models: layers with boolean masks and networks shaped by graphs."""

from workbench.layered import CachedLayeredGraph, LayeredGraph
from workbench.sparse.activations import ACTIVATIONS, resolve_activation
from workbench.sparse.cell import DeepCellDAN
from workbench.sparse.conv import MaskedConv1d, MaskedConv2d, MaskedConv3d
from workbench.sparse.dan import MaskedDeepDAN, dan_parameter_count
from workbench.sparse.ffn import MaskedDeepFFN
from workbench.sparse.layers import MaskedEdgeLayer, MaskedLayer, MaskedLinearLayer
from workbench.sparse.module import MaskableModule, maskable_layers, named_maskable_layers

__all__ = [
    "ACTIVATIONS",
    "CachedLayeredGraph",
    "DeepCellDAN",
    "LayeredGraph",
    "MaskableModule",
    "MaskedConv1d",
    "MaskedConv2d",
    "MaskedConv3d",
    "MaskedDeepDAN",
    "MaskedDeepFFN",
    "MaskedEdgeLayer",
    "MaskedLayer",
    "MaskedLinearLayer",
    "dan_parameter_count",
    "maskable_layers",
    "named_maskable_layers",
    "resolve_activation",
]
