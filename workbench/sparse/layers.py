"""Maskable layers: weights with a boolean mask of the same shape.

A mask is a persistent ``torch.bool`` buffer named ``mask``. Assigning to
``layer.mask`` validates shape and values and copies in place, so optimizers,
views and ``state_dict`` entries stay valid. The forward pass multiplies the
weights by the mask, so a masked weight neither contributes to the output nor
receives a gradient, whatever value is stored for it; ``apply_mask()`` also
zeroes the stored values.

Two layers share this behaviour through :class:`MaskedLayer`:
:class:`MaskedLinearLayer` (a dense ``nn.Linear``) and :class:`MaskedEdgeLayer`
(one weight per edge of a graph, used by :class:`~workbench.sparse.MaskedDeepDAN`).
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import MaskError, PruningError
from workbench.sparse.init import default_init_, uniform_
from workbench.sparse.kernels import MaskState, masked_linear

__all__ = ["MaskedEdgeLayer", "MaskedLayer", "MaskedLinearLayer", "as_bool_mask"]

#: Default threshold of ``recompute_mask``: weights with ``|w| <= theta`` are masked.
DEFAULT_THETA = 0.001
#: Magnitude of the logits a learnable mask is set to when a mask is assigned.
MASK_LOGIT = 3.0


def as_bool_mask(value: torch.Tensor, shape: torch.Size, *, what: str = "mask") -> torch.Tensor:
    """Check a candidate mask and return it as a ``torch.bool`` tensor.

    Accepts bool tensors and numeric tensors holding only 0 and 1.

    Raises:
        MaskError: wrong type, shape, or non-binary values; the message names
            the shape and dtype given and the shape expected.
    """
    if not isinstance(value, torch.Tensor):
        raise MaskError(f"{what} must be a torch.Tensor, got {type(value).__name__}")
    if value.shape != shape:
        raise MaskError(f"{what} has shape {tuple(value.shape)} and dtype {value.dtype}; expected shape {tuple(shape)}")
    if value.dtype == torch.bool:
        return value
    if value.is_complex() or not bool(((value == 0) | (value == 1)).all()):
        raise MaskError(
            f"{what} of dtype {value.dtype} and shape {tuple(value.shape)} must be torch.bool or hold only 0 and 1"
        )
    return value != 0


class MaskedLayer:
    """Mixin for modules with a ``weight`` and a boolean ``mask`` of the same shape.

    Subclasses call :meth:`_init_mask` once their ``weight`` exists.
    """

    mask_as_params: bool = False

    def _init_mask(self, mask_as_params: bool = False) -> None:
        self.mask_as_params = mask_as_params
        self.register_buffer("mask", torch.ones_like(self.weight, dtype=torch.bool), persistent=True)
        if mask_as_params:
            # Logits of a straight-through estimator: on where > 0. Every connection starts on.
            self.mask_logits = nn.Parameter(torch.full_like(self.weight, MASK_LOGIT, requires_grad=True))

    # ``mask`` is a property so that learnable masks are always read fresh and
    # assignment is validated; the buffer itself lives in ``_buffers``.
    @property
    def mask(self) -> torch.Tensor:
        buffer = self.__dict__.get("_buffers", {}).get("mask")
        if buffer is None:
            raise AttributeError("mask")
        if self.mask_as_params:
            with torch.no_grad():
                buffer.copy_(self.mask_logits > 0)
        return buffer

    def __setattr__(self, name, value):
        if name == "mask" and "mask" in self.__dict__.get("_buffers", {}):
            self.set_mask(value)
        else:
            super().__setattr__(name, value)

    def set_mask(self, value: torch.Tensor) -> None:
        """Validate ``value`` and copy it into the mask in place.

        For a learnable mask the logits are set to ``+MASK_LOGIT`` where the
        mask is on and ``-MASK_LOGIT`` where it is off; the Parameter object is
        kept, so an optimizer holding it stays valid.
        """
        buffer = self._buffers["mask"]
        new = as_bool_mask(value, buffer.shape).to(buffer.device)
        with torch.no_grad():
            buffer.copy_(new)
            if self.mask_as_params:
                self.mask_logits.copy_(torch.where(new, MASK_LOGIT, -MASK_LOGIT))

    def effective_mask(self) -> torch.Tensor:
        """The mask the forward pass multiplies the weights by.

        A bool tensor for a fixed mask; for a learnable mask a 0/1 float tensor
        whose gradient flows to ``mask_logits`` (straight-through estimator).
        """
        if not self.mask_as_params:
            return self._buffers["mask"]
        soft = torch.sigmoid(self.mask_logits)
        hard = (self.mask_logits > 0).to(soft.dtype)
        return hard + soft - soft.detach()

    def masked_weight(self) -> torch.Tensor:
        """``weight * mask``: what the forward pass uses (gradients reach ``weight`` where the mask is on)."""
        if self.mask_as_params:
            return self.weight * self.effective_mask()
        all_on, factor = self._mask_factor()
        return self.weight if all_on else self.weight * factor

    def _mask_state(self) -> MaskState:
        """The :class:`~workbench.sparse.kernels.MaskState` of the current mask.

        Cached until the mask changes (its version counter moves) or the weight
        changes dtype or device.
        """
        mask, weight = self._buffers["mask"], self.weight
        key = (mask.data_ptr(), mask._version, mask.shape, weight.dtype, weight.device)
        state = self.__dict__.get("_state")
        if state is None or state.key != key:
            state = self.__dict__["_state"] = MaskState(key, mask)
        return state

    def _mask_factor(self) -> tuple[bool, torch.Tensor | None]:
        """Whether every connection is on, else the mask as 0/1 in the weight's dtype.

        Multiplying by a float factor is several times faster on CPU than by a
        bool tensor (whose conversion is not vectorised), and a mask with every
        connection on needs no product at all: the weight itself is then
        ``weight * mask`` exactly, gradient included.
        """
        state = self._mask_state()
        if state.all_on:
            return True, None
        return False, state.factor(self._buffers["mask"], self.weight.dtype)

    def mask_penalty(self) -> torch.Tensor:
        """Expected number of active connections of a learnable mask (sum of sigmoids).

        Add ``lam * layer.mask_penalty()`` to the loss to push a learnable mask
        towards sparsity. Zero for a fixed mask.
        """
        if not self.mask_as_params:
            return self.weight.new_zeros(())
        return torch.sigmoid(self.mask_logits).sum()

    def reset_parameters(self, keep_mask: bool = False, *, generator: torch.Generator | None = None) -> None:
        """Draw new weights as the torch layer does; keep the mask only if ``keep_mask``.

        Args:
            generator: draw from this CPU generator instead of the global random
                state (see :mod:`workbench.sparse.init`).
        """
        if generator is None:
            super().reset_parameters()
        else:
            default_init_(self.weight, self.bias, generator)
        if "mask" in self.__dict__.get("_buffers", {}) and not keep_mask:  # no mask yet inside the torch __init__
            self.reset_mask()

    @property
    def saliency(self) -> torch.Tensor:
        """What ``prune_*_by_saliency`` ranks (smallest first): ``|weight|`` unless set.

        Set it to a tensor shaped like the weight (the seed's ``set_random_saliency``
        does); set it to ``None`` to go back to ``|weight|``.
        """
        custom = self.__dict__.get("_saliency")
        return self.weight.detach().abs() if custom is None else custom

    @saliency.setter
    def saliency(self, value: torch.Tensor | None) -> None:
        if value is not None and (not isinstance(value, torch.Tensor) or value.shape != self.weight.shape):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise MaskError(f"saliency of shape {shape} does not fit the weight's shape {tuple(self.weight.shape)}")
        self.__dict__["_saliency"] = None if value is None else value.detach()

    @torch.no_grad()
    def apply_mask(self) -> None:
        """Zero the stored values of masked weights (in place)."""
        self.weight.masked_fill_(~self.mask, 0.0)

    @torch.no_grad()
    def check_recompute(self, theta: float, name: str = "") -> None:
        """Raise unless :meth:`recompute_mask` can run with ``theta`` (``name`` labels the layer in messages).

        Raises:
            PruningError: ``theta`` is not a finite non-negative number, or the
                weight holds NaN or inf (which no threshold can rank).
        """
        if isinstance(theta, bool) or not isinstance(theta, numbers.Real) or not math.isfinite(theta) or theta < 0:
            raise PruningError(f"theta must be a finite non-negative number, got {theta!r}")
        weight = self.weight.detach()
        finite = torch.isfinite(weight)
        if not bool(finite.all()):
            bad = int(weight.numel() - finite.sum())
            what = f"layer {name!r}" if name else f"{type(self).__name__} {tuple(weight.shape)}"
            raise PruningError(
                f"{what} has {bad} non-finite weight{'s' if bad != 1 else ''} (NaN or inf); "
                "recompute_mask cannot threshold them"
            )

    @torch.no_grad()
    def recompute_mask(self, theta: float = DEFAULT_THETA) -> None:
        """Mask every weight with ``|w| <= theta``; already masked weights stay masked.

        Reviving weights needs an explicit :meth:`reset_mask`.

        Raises:
            PruningError: ``theta`` is not a finite non-negative number, or the
                weight holds NaN or inf (see :meth:`check_recompute`); the mask
                is unchanged then.
        """
        self.check_recompute(theta)
        self.set_mask(self.mask & (self.weight.detach().abs() > theta))

    def reset_mask(self) -> None:
        """Turn every connection of the layer on again."""
        self.set_mask(torch.ones_like(self._buffers["mask"]))

    @property
    def density(self) -> float:
        """Fraction of connections that are on."""
        mask = self.mask
        return float(mask.sum()) / mask.numel() if mask.numel() else 0.0


class MaskedLinearLayer(MaskedLayer, nn.Linear):
    """An ``nn.Linear`` whose weights are multiplied by a boolean mask.

    Args:
        in_features, out_features, bias: as for ``nn.Linear``.
        mask_as_params: learn the mask: ``mask_logits`` (shaped like ``weight``)
            is a Parameter, the mask is ``mask_logits > 0``, and gradients reach
            the logits through a straight-through estimator. Every connection
            starts on; add ``mask_penalty()`` to the loss to learn a sparser mask.

    Attributes:
        sparse_threshold: ``None`` (default): a fixed mask that keeps few of
            the weights runs on a sparse kernel (CPU, float32/float64), with the
            same results up to float rounding, computed from the kept weights
            only; "few" was measured per layer size and for training and
            inference (:func:`~workbench.sparse.kernels.sparse_threshold`). A
            number replaces that choice for this layer (or, set on the class,
            for all): a mask keeping less than this fraction runs sparse;
            ``0.0`` turns the sparse kernel off, ``1.0`` uses it for every
            pruned mask. See :mod:`workbench.sparse.kernels`.

    Example:
        >>> layer = MaskedLinearLayer(784, 100)
        >>> layer.mask = torch.zeros(100, 784)  # every connection off
        >>> layer.mask = torch.ones(100, 784)   # every connection on
    """

    sparse_threshold: float | None = None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        mask_as_params: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self._init_mask(mask_as_params)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., in] -> [..., out]
        if self.mask_as_params:
            return F.linear(x, self.masked_weight(), self.bias)
        return masked_linear(self, x, self._mask_state(), self._buffers["mask"])


class MaskedEdgeLayer(MaskedLayer, nn.Module):
    """One weight per edge into a block of neurons (one topological layer of a DAN).

    Computes, for every target neuron ``v`` of the block,
    ``pre_v = b_v + sum_{e=(u->v)} mask_e * w_e * h_u`` with one gather and one
    scatter-add, so its cost grows with the number of edges.

    Args:
        source: ``[E]`` long, column of ``h`` each edge reads.
        target: ``[E]`` long, index of the target neuron within the block.
        num_targets: number of neurons in the block.
    """

    def __init__(
        self, source: torch.Tensor, target: torch.Tensor, num_targets: int, *, device=None, dtype=None
    ) -> None:
        super().__init__()
        if source.shape != target.shape or source.dim() != 1:
            raise MaskError(f"source {tuple(source.shape)} and target {tuple(target.shape)} must be equal 1-D shapes")
        self.num_targets = int(num_targets)
        self.register_buffer("source", source.to(device=device, dtype=torch.long))
        self.register_buffer("target", target.to(device=device, dtype=torch.long))
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(source.numel(), **factory))
        self.bias = nn.Parameter(torch.empty(self.num_targets, **factory))
        self._init_mask()
        self.reset_parameters()

    @property
    def in_degree(self) -> torch.Tensor:
        """``[num_targets]`` designed in-degree of every target neuron."""
        return torch.bincount(self.target, minlength=self.num_targets)

    def reset_parameters(self, keep_mask: bool = False, *, generator: torch.Generator | None = None) -> None:
        """Uniform in ``±1/sqrt(fan_in)`` per target neuron, as ``nn.Linear`` draws them.

        ``generator``: draw from this CPU generator instead of the global random state.
        """
        with torch.no_grad():
            fan_in = self.in_degree.clamp(min=1).to(self.weight.dtype)  # [n]
            bound = fan_in.rsqrt()
            if generator is None:
                self.weight.uniform_(-1.0, 1.0)
                self.bias.uniform_(-1.0, 1.0)
            else:
                uniform_(self.weight, -1.0, 1.0, generator)
                uniform_(self.bias, -1.0, 1.0, generator)
            self.weight.mul_(bound[self.target])
            self.bias.mul_(bound)
        if not keep_mask and "mask" in self._buffers:
            self.reset_mask()

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # [B, N] -> [B, num_targets]
        gathered = h.index_select(1, self.source) * self.masked_weight()  # [B, E]
        pre = self.bias.expand(h.shape[0], self.num_targets)  # [B, n]
        return pre.index_add(1, self.target, gathered)

    def extra_repr(self) -> str:
        return f"edges={self.weight.numel()}, targets={self.num_targets}"
