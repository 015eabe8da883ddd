"""``GraphTransform``: the graph of neurons and connections of a model.

Provisional: exact for this package's masked models and ``nn.Linear`` stacks.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch
from torch import nn

from workbench.errors import ExtractionError
from workbench.sparse.module import MaskableModule

__all__ = ["GraphTransform"]


class GraphTransform:
    """Extract the neuron-level graph of a model.

    Args:
        random_input: an example input (any batch size); used for its shape.
        threshold: if given, weights with ``|w| <= threshold`` are left out.
            No threshold is applied unless the caller passes one.
    """

    def __init__(self, random_input: torch.Tensor, threshold: float | None = None) -> None:
        self.random_input = random_input
        self.threshold = threshold

    def transform(self, model: nn.Module) -> nx.DiGraph:
        """The model's neurons as vertices, its unmasked nonzero weights as edges; ``model`` is not changed."""
        if isinstance(model, MaskableModule) and hasattr(model, "generate_structure"):
            graph = model.generate_structure(include_input=True, include_output=True)
            return graph
        if isinstance(model, nn.Sequential) and all(
            isinstance(m, nn.Linear | nn.ReLU | nn.Tanh | nn.Sigmoid | nn.Identity | nn.Flatten) for m in model
        ):
            linears = [m for m in model if isinstance(m, nn.Linear)]
            graph = nx.DiGraph()
            offset = 0
            for k, lin in enumerate(linears):
                w = lin.weight.detach().cpu().numpy()
                if k == 0:
                    graph.add_nodes_from(range(lin.in_features))
                nxt = offset + lin.in_features
                graph.add_nodes_from(range(nxt, nxt + lin.out_features))
                keep = np.abs(w) > self.threshold if self.threshold is not None else w != 0
                rows, cols = np.nonzero(keep)
                graph.add_edges_from(zip((cols + offset).tolist(), (rows + nxt).tolist(), strict=True))
                offset = nxt
            return graph
        raise ExtractionError(f"cannot extract a graph from {type(model).__name__} yet")
