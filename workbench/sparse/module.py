"""``MaskableModule``: a model whose maskable layers can be masked, pruned and reset together."""

from __future__ import annotations

from collections.abc import Iterator

import networkx as nx
from torch import nn

from workbench.sparse.layers import DEFAULT_THETA, MaskedLayer

__all__ = ["MaskableModule", "maskable_layers", "named_maskable_layers"]


def named_maskable_layers(model: nn.Module) -> Iterator[tuple[str, MaskedLayer]]:
    """``(qualified name, layer)`` for every maskable layer in ``model``, at any depth.

    Finds every module that is an instance of :class:`MaskedLayer` (subclasses
    included) inside nested ``Sequential``, ``ModuleList``, ``ModuleDict`` and
    custom containers, in registration order. ``model`` itself counts.
    """
    for name, module in model.named_modules():
        if isinstance(module, MaskedLayer):
            yield name, module


def maskable_layers(model: nn.Module) -> list[MaskedLayer]:
    """Every maskable layer in ``model`` (see :func:`named_maskable_layers`)."""
    return [layer for _, layer in named_maskable_layers(model)]


class MaskableModule(nn.Module):
    """Base class of models made of maskable layers."""

    def maskable_children(self) -> list[MaskedLayer]:
        return maskable_layers(self)

    def apply_mask(self) -> None:
        """Zero the stored values of every masked weight."""
        for layer in maskable_layers(self):
            layer.apply_mask()

    def recompute_mask(self, theta: float = DEFAULT_THETA) -> None:
        """Mask every weight with ``|w| <= theta`` in every layer; masked weights stay masked.

        Raises:
            PruningError: ``theta`` is not a finite non-negative number, or a
                layer (named in the message) holds NaN or inf weights; no mask
                changes then.
        """
        layers = list(named_maskable_layers(self))
        for name, layer in layers:  # every layer is checked before any mask changes
            layer.check_recompute(theta, name)
        for _, layer in layers:
            layer.recompute_mask(theta)

    def reset_mask(self) -> None:
        """Turn every designed connection on again."""
        for layer in maskable_layers(self):
            layer.reset_mask()

    def reset_parameters(self, keep_mask: bool = False) -> None:
        """Draw new weights in every layer; keep the masks only if ``keep_mask``."""
        for module in self.modules():
            if module is self:
                continue
            if isinstance(module, MaskedLayer):
                module.reset_parameters(keep_mask=keep_mask)
            elif hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def mask_penalty(self):
        """Sum of :meth:`MaskedLayer.mask_penalty` over all layers (learnable masks)."""
        return sum(layer.mask_penalty() for layer in maskable_layers(self))

    def generate_structure(self, include_input: bool = False, include_output: bool = False) -> nx.DiGraph:
        raise NotImplementedError
