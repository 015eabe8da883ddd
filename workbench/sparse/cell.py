"""``DeepCellDAN``: a DAG whose vertices are whole modules ("cells"), e.g. convolution blocks."""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import torch
from torch import nn

from workbench.graph import DEFAULT_ORIENTATION, Orientation, layer_index, to_dag

__all__ = ["DeepCellDAN"]

CellConstructor = Callable[[bool, bool, int, int, int, int], nn.Module]


class DeepCellDAN(nn.Module):
    """A network whose vertices are cells and whose edges carry feature maps.

    A source cell reads the input; every other cell reads the sum of its
    predecessors' outputs. The outputs of all sinks are averaged over their
    spatial dimensions, concatenated and classified by a linear layer.

    Args:
        num_classes: number of outputs.
        input_channel_size: channels of the input (passed to every cell).
        cell_constructor: ``f(is_input, is_output, in_degree, out_degree, layer,
            input_channel_size) -> nn.Module`` building the cell of one vertex.
            Cells of vertices joined by an edge must produce outputs that can
            be summed.
        structure: a DAG, or an undirected graph oriented with ``orientation``.

    Example:
        >>> def cell(is_input, is_output, in_degree, out_degree, layer, channels):
        ...     return nn.Sequential(nn.Conv2d(channels if is_input else 8, 8, 3, padding=1), nn.ReLU())
        >>> model = DeepCellDAN(10, 3, cell, nx.balanced_tree(2, 2))
        >>> model(torch.randn(4, 3, 16, 16)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        num_classes: int,
        input_channel_size: int,
        cell_constructor: CellConstructor,
        structure: nx.Graph,
        *,
        orientation: Orientation = DEFAULT_ORIENTATION,
    ) -> None:
        super().__init__()
        self.structure = to_dag(structure, orientation)
        layers = layer_index(self.structure)
        self._nodes = list(nx.topological_sort(self.structure))
        self._slot = {v: i for i, v in enumerate(self._nodes)}
        self.cells = nn.ModuleList(
            cell_constructor(
                self.structure.in_degree(v) == 0,
                self.structure.out_degree(v) == 0,
                self.structure.in_degree(v),
                self.structure.out_degree(v),
                layers[v],
                input_channel_size,
            )
            for v in self._nodes
        )
        self.classifier = nn.LazyLinear(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, ...] -> [B, classes]
        outputs: dict = {}
        pooled = []
        for v, cell in zip(self._nodes, self.cells, strict=True):
            preds = list(self.structure.predecessors(v))
            inp = x if not preds else torch.stack([outputs[u] for u in preds]).sum(0)
            outputs[v] = cell(inp)
            if self.structure.out_degree(v) == 0:
                out = outputs[v]
                pooled.append(out.flatten(2).mean(-1) if out.dim() > 2 else out)
        return self.classifier(torch.cat(pooled, dim=1))
