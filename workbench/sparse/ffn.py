"""``MaskedDeepFFN``: a feed-forward network of masked linear layers."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import networkx as nx
import numpy as np
import torch
from torch import nn

from workbench.errors import GraphError
from workbench.sparse.activations import ACTIVATIONS, Activation, resolve_activation
from workbench.sparse.init import global_rng_untouched
from workbench.sparse.layers import MaskedLinearLayer
from workbench.sparse.module import MaskableModule

__all__ = ["MaskedDeepFFN", "cast_input", "flatten_input", "input_shape_of"]


def input_shape_of(size_input: int | Sequence[int] | torch.Size) -> tuple[int, ...]:
    """``size_input`` (an int, a tuple or a ``torch.Size``) as a shape tuple."""
    shape = (int(size_input),) if isinstance(size_input, int | np.integer) else tuple(int(s) for s in size_input)
    if not shape or any(s < 1 for s in shape):
        raise GraphError(f"input size must be a positive int or shape, got {size_input!r}")
    return shape


def flatten_input(x: torch.Tensor, shape: tuple[int, ...]) -> tuple[torch.Tensor, bool]:
    """Reshape ``x`` of shape ``[*batch, *shape]`` or ``shape`` to ``[B, prod(shape)]``.

    Returns the flat tensor and whether ``x`` was unbatched.
    """
    if x.dim() == 2 and len(shape) == 1 and x.shape[1] == shape[0]:  # already flat and batched
        return x, False
    features = math.prod(shape)
    if tuple(x.shape) == shape:
        return x.reshape(1, features), True
    return x.reshape(-1, features), False


def cast_input(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``x`` in the dtype of ``like`` (the model's weights) when ``x`` holds real numbers of another dtype.

    A float64 array from numpy then runs through a float32 model, and a
    float64 model keeps float64 inputs; bool and complex inputs are left as
    they are (torch refuses them with its own message).
    """
    if x.dtype == like.dtype or x.dtype == torch.bool or x.is_complex():
        return x
    return x.to(like.dtype)


#: Activations that act on each number alone, so that they apply to ``[features, batch]`` as well.
_ELEMENTWISE = frozenset(ACTIVATIONS.values())


def _sparse_chain(h: torch.Tensor, layers, norms, activation: nn.Module) -> torch.Tensor | None:
    """Inference through layers that all run on the compiled sparse kernel, or None where one does not.

    The layers pass ``[features, batch]`` to each other (two transposes fewer per
    layer than their own forward passes) and ReLU runs inside the kernel. Norms
    must be identities and the activation elementwise.
    """
    batch = h.shape[0]
    links = []
    for layer in layers:
        if layer.mask_as_params:
            return None
        state, weight = layer._mask_state(), layer.weight
        if state.all_on or not state.use_sparse(weight, layer.sparse_threshold, training=False, batch=batch):
            return None
        pattern = state.pattern(layer._buffers["mask"])
        if not pattern.compiled(weight.dtype) or weight.dtype != h.dtype:
            return None
        links.append((layer, pattern))
    kind = type(activation)
    if kind not in _ELEMENTWISE or any(type(norm) is not nn.Identity for norm in norms):
        return None
    last = len(links) - 1
    for k, (layer, pattern) in enumerate(links):
        relu = k < last and kind is nn.ReLU
        h = pattern.chain_link(h, layer.weight, layer.bias, given_t=k > 0, want_t=k < last, relu=relu)
        if k < last and not relu:
            h = activation(h)
    return h


class MaskedDeepFFN(MaskableModule):
    """A multilayer perceptron whose every linear layer is a :class:`MaskedLinearLayer`.

    Args:
        size_input: number of input features, or an input shape such as
            ``(1, 28, 28)`` (inputs are flattened).
        size_output: number of outputs (logits; no final activation).
        hidden_layers: sizes of the hidden layers.
        use_layer_norm: put a ``LayerNorm`` before each hidden activation.
        activation: used after each hidden layer: a name in
            :data:`~workbench.sparse.ACTIVATIONS` (``"relu"``, ``"leaky_relu"``,
            ``"tanh"``, ...) or an ``nn.Module`` class.
        seed: draw the initial weights from ``torch.Generator().manual_seed(seed)``
            without touching the global random state (same seed, same weights).

    Inputs of another real dtype (a float64 numpy array) are cast to the weights' dtype.

    Raises:
        GraphError: a layer size is not positive.
        ModelError: an unknown activation name.

    Example:
        >>> model = MaskedDeepFFN((1, 28, 28), 10, [100, 100], activation="tanh", seed=0)
        >>> model(torch.randn(8, 1, 28, 28)).shape
        torch.Size([8, 10])
    """

    def __init__(
        self,
        size_input: int | Sequence[int] | torch.Size,
        size_output: int,
        hidden_layers: Sequence[int],
        use_layer_norm: bool = False,
        *,
        activation: Activation = nn.ReLU,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.input_shape = input_shape_of(size_input)
        sizes = [math.prod(self.input_shape), *(int(h) for h in hidden_layers), int(size_output)]
        if any(s < 1 for s in sizes):
            raise GraphError(f"layer sizes must be positive, got {sizes}")
        act = resolve_activation(activation)
        self.sizes = sizes
        with global_rng_untouched(seed is not None):
            self.layers = nn.ModuleList(MaskedLinearLayer(a, b) for a, b in itertools.pairwise(sizes))
        self.norms = nn.ModuleList(nn.LayerNorm(s) if use_layer_norm else nn.Identity() for s in sizes[1:-1])
        self.activation = act()
        if seed is not None:
            self.reset_parameters(seed=seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, *input_shape] -> [B, out]
        # Plain loops over the submodule dicts: on a pruned model a few microseconds of nn.Module attribute
        # look-ups and identity calls weigh as much as a layer's sparse product.
        modules = self._modules
        layers = tuple(modules["layers"]._modules.values())
        norms = tuple(modules["norms"]._modules.values())
        activation = modules["activation"]
        h, unbatched = flatten_input(cast_input(x, layers[0].weight), self.input_shape)
        out = None if torch.is_grad_enabled() else _sparse_chain(h, layers, norms, activation)
        if out is None:
            for layer, norm in zip(layers, norms, strict=False):  # all but the last
                h = layer(h)
                if type(norm) is not nn.Identity:
                    h = norm(h)
                h = activation(h)
            out = layers[-1](h)
        return out[0] if unbatched else out

    def generate_structure(self, include_input: bool = False, include_output: bool = False) -> nx.DiGraph:
        """The network's neurons and unmasked connections as a DAG.

        Vertices are consecutive ints, layer by layer (input layer first when
        included), with attributes ``layer`` (0 = input) and ``position``.
        A neuron whose every connection is masked stays as an isolated vertex.
        """
        first = 0 if include_input else 1
        last = len(self.sizes) - (0 if include_output else 1)
        offsets = np.cumsum([0] + [self.sizes[i] for i in range(first, last)])
        graph = nx.DiGraph()
        for k, layer in enumerate(range(first, last)):
            graph.add_nodes_from(
                (int(offsets[k]) + i, {"layer": layer, "position": i}) for i in range(self.sizes[layer])
            )
        for k, layer in enumerate(range(first, last - 1)):
            mask = self.layers[layer].mask.detach().cpu().numpy()  # [out, in]
            rows, cols = np.nonzero(mask)
            graph.add_edges_from(zip((cols + offsets[k]).tolist(), (rows + offsets[k + 1]).tolist(), strict=True))
        return graph
