"""``DeepCellDAN``: a DAG whose vertices are whole modules ("cells"), e.g. convolution blocks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import networkx as nx
import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import ModelError
from workbench.graph import DEFAULT_ORIENTATION, Orientation, layer_index, to_dag
from workbench.sparse.ffn import cast_input

__all__ = ["MERGES", "DeepCellDAN"]

CellConstructor = Callable[[bool, bool, int, int, int, int], nn.Module]
Merge = Literal["concat", "sum"]
#: How a cell combines its predecessors' outputs.
MERGES = ("concat", "sum")


def pad_to_common_size(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Zero-pad ``[B, C, *spatial]`` tensors at the end of every spatial dimension to the largest size."""
    if len({t.shape[2:] for t in tensors}) <= 1:
        return list(tensors)
    sizes = [max(t.shape[d] for t in tensors) for d in range(2, tensors[0].dim())]
    padded = []
    for t in tensors:
        pad: list[int] = []
        for d in reversed(range(2, t.dim())):
            pad += [0, sizes[d - 2] - t.shape[d]]
        padded.append(F.pad(t, pad))
    return padded


class DeepCellDAN(nn.Module):
    """A network whose vertices are cells and whose edges carry feature maps.

    A source cell reads the input. Every other cell reads its predecessors'
    outputs, in the order of ``structure.predecessors(v)`` (of the graph
    passed in; ``model.structure`` keeps that order), concatenated along
    the channels (``merge="concat"``, the seed's and the paper's convention: a
    cell whose predecessors each give one channel gets ``in_degree``
    channels) or summed (``merge="sum"``). Outputs of different spatial sizes
    are zero-padded at the end of each spatial dimension to the largest one
    first, as the seed did. The outputs of all sinks are averaged over their
    spatial dimensions, concatenated and classified by a linear layer.

    Args:
        num_classes: number of outputs.
        input_channel_size: channels of the input (passed to every cell).
        cell_constructor: ``f(is_input, is_output, in_degree, out_degree, layer,
            input_channel_size) -> nn.Module`` building the cell of one vertex.
        structure: a DAG, or an undirected graph oriented with ``orientation``.
        merge: ``"concat"`` (default) or ``"sum"``.

    Raises:
        ModelError: ``merge`` is unknown.
        EmptyGraphError, CycleError: ``structure`` is empty or cyclic.

    Example:
        >>> def cell(is_input, is_output, in_degree, out_degree, layer, channels):
        ...     return nn.Conv2d(channels if is_input else in_degree, 1, 3, padding=1)
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
        merge: Merge = "concat",
        orientation: Orientation = DEFAULT_ORIENTATION,
    ) -> None:
        super().__init__()
        if merge not in MERGES:
            raise ModelError(f"unknown merge {merge!r}; choose one of {', '.join(MERGES)}")
        self.merge = merge
        self.structure = to_dag(structure, orientation)
        if structure.is_directed() and self.structure is not structure:
            # a copy lists predecessors in the order their edges were copied; keep the caller's order
            for v, preds in structure.pred.items():
                self.structure._pred[v] = {u: self.structure._pred[v][u] for u in preds}
        layers = layer_index(self.structure)
        self._nodes = list(nx.topological_sort(self.structure))
        self._predecessors = [list(self.structure.predecessors(v)) for v in self._nodes]
        self._sinks = [self.structure.out_degree(v) == 0 for v in self._nodes]
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

    def _dtype_source(self) -> torch.Tensor | None:
        for p in self.cells.parameters():
            if p.is_floating_point():
                return p
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, ...] -> [B, classes]
        like = self._dtype_source()
        if like is not None:
            x = cast_input(x, like)
        outputs: dict = {}
        pooled = []
        for v, cell, preds, sink in zip(self._nodes, self.cells, self._predecessors, self._sinks, strict=True):
            if not preds:
                inp = x
            else:
                parts = pad_to_common_size([outputs[u] for u in preds])
                inp = torch.cat(parts, dim=1) if self.merge == "concat" else torch.stack(parts).sum(0)
            outputs[v] = out = cell(inp)
            if sink:
                pooled.append(out.flatten(2).mean(-1) if out.dim() > 2 else out)
        return self.classifier(torch.cat(pooled, dim=1))
