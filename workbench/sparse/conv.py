"""Maskable convolutions: ``nn.Conv1d`` / ``nn.Conv2d`` / ``nn.Conv3d`` whose kernels carry a boolean mask.

They share everything about masks with :class:`~workbench.sparse.MaskedLinearLayer`
through :class:`~workbench.sparse.layers.MaskedLayer`: ``mask`` is a persistent
``torch.bool`` buffer shaped like ``weight`` (``[C_out, C_in / groups, *kernel]``),
assigning it validates and copies in place, the forward pass convolves with
``weight * mask`` (a masked weight neither acts nor receives a gradient),
``apply_mask``, ``recompute_mask``, ``reset_mask``, ``mask_as_params`` and
``saliency`` work the same, and :func:`~workbench.sparse.maskable_layers`
finds them, so pruning and lottery tickets work on convolutional networks.
With every connection on, the layer computes exactly what the plain
convolution computes.

Example:
    >>> conv = MaskedConv2d(3, 8, 3, padding=1)
    >>> conv.mask[:, :, 0, 0] = False           # no top-left tap in any kernel
    >>> conv(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 8, 16, 16])
"""

from __future__ import annotations

import torch
from torch import nn

from workbench.sparse.layers import MaskedLayer

__all__ = ["MASKED_TWINS", "MaskedConv1d", "MaskedConv2d", "MaskedConv3d"]


class _MaskedConvNd(MaskedLayer):
    """What the maskable convolutions add to their torch class: a mask, and ``weight * mask`` in ``forward``."""

    def __init__(self, *args, mask_as_params: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_mask(mask_as_params)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C_in, *S] -> [B, C_out, *S']
        return self._conv_forward(x, self.masked_weight(), self.bias)


class MaskedConv1d(_MaskedConvNd, nn.Conv1d):
    """An ``nn.Conv1d`` (same arguments) whose weights are multiplied by a boolean mask.

    ``mask_as_params=True`` (keyword) learns the mask, as for ``MaskedLinearLayer``.
    """


class MaskedConv2d(_MaskedConvNd, nn.Conv2d):
    """An ``nn.Conv2d`` (same arguments) whose weights are multiplied by a boolean mask.

    ``mask_as_params=True`` (keyword) learns the mask, as for ``MaskedLinearLayer``.
    """


class MaskedConv3d(_MaskedConvNd, nn.Conv3d):
    """An ``nn.Conv3d`` (same arguments) whose weights are multiplied by a boolean mask.

    ``mask_as_params=True`` (keyword) learns the mask, as for ``MaskedLinearLayer``.
    """


#: The maskable twin of each plain torch layer (see :func:`workbench.lottery.from_torch_pruned`).
MASKED_TWINS: dict[type[nn.Module], type[nn.Module]] = {
    nn.Conv1d: MaskedConv1d,
    nn.Conv2d: MaskedConv2d,
    nn.Conv3d: MaskedConv3d,
}
