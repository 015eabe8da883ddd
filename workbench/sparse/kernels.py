"""The matrix products behind :class:`~workbench.sparse.MaskedLinearLayer`.

A masked linear layer computes ``F.linear(x, weight * mask, bias)``. Which
kernel computes it depends on the mask, through a :class:`MaskState` that the
layer caches until the mask changes:

* every connection on: ``F.linear`` on the weight itself (nothing to mask);
* dense, on the compiled kernels with one torch thread
  and two rows or more (:class:`FusedMaskedLinear`): matrix products of our
  own that apply the mask (one byte per weight) as they pack the weight or
  store its gradient (``_native/gemm.h``), so that no masked copy of the
  weight is made and the gradient is not passed over a second time;
* dense elsewhere (:class:`DenseMaskedLinear`): the masked weight in a reused
  scratch tensor, the matrix products of ``nn.Linear``, the weight gradient
  masked in place;
* for a weight under 256 KB in training, autograd's own
  ``F.linear(x, weight * factor, bias)`` (a Python function's fixed cost
  outweighs what the others save there);
* sparse (:class:`SparseMaskedLinear`), on CPU in float32 or float64, when the
  mask keeps few enough of its weights (see :func:`sparse_threshold`): the
  products of a :class:`~workbench.sparse.pattern.SparsePattern` over the
  kept weights only (compiled kernels where available, else torch's MKL
  sparse products), the weight gradient computed at the kept positions and
  written into the dense gradient, zero elsewhere.

Both masked kernels write a large weight gradient into memory the layer
keeps once the previous step's gradient has been let go (:class:`~workbench.sparse.buffers.GradBuffer`):
fresh memory that large faults in page by page on every step.

All compute the same values up to the order of floating-point sums;
masked weights contribute nothing and receive a zero gradient. The dense and
sparse kernels give first derivatives only (``create_graph=True`` raises).
Like ``nn.Linear``, the fused products refuse a backward pass after the
weight was changed in place since the forward pass (autograd's version
check); the scratch kernel computes it from the masked copy it kept.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from workbench.sparse import native
from workbench.sparse.buffers import GradBuffer, Lease, Scratch, layer_slot
from workbench.sparse.pattern import BATCH_CHUNK, SparsePattern, sparse_pattern

__all__ = [
    "BATCH_CHUNK",
    "FALLBACK_MIN_WEIGHTS",
    "FALLBACK_THRESHOLD",
    "FALLBACK_THRESHOLD_LARGE",
    "SPARSE_LARGE_WEIGHTS",
    "SPARSE_MIN_WEIGHTS",
    "SPARSE_THRESHOLD",
    "SPARSE_THRESHOLD_LARGE",
    "DenseMaskedLinear",
    "FusedMaskedLinear",
    "MaskState",
    "SparseMaskedLinear",
    "SparsePattern",
    "masked_linear",
    "sparse_pattern",
    "sparse_threshold",
]

#: The automatic choice (``MaskedLinearLayer.sparse_threshold = None``) with the
#: compiled kernels (:mod:`workbench.sparse.native`): a mask keeping less than
#: this fraction of its weights runs on the sparse kernel. Rows of ``(smallest
#: batch, training, inference)``; the last row whose batch the call reaches
#: applies. Measured with ``python benchmarks/crossover.py`` on the benchmark
#: machine (see benchmarks/RESULTS.md), sparse time over dense at 300x100 to
#: 4096x4096: inference at batch 1 breaks even between 0.05 and 0.1 of the
#: weights kept, at batch 8 between 0.1 and 0.2, at batch 64 between 0.5 and
#: 0.6, at batch 1,000 between 0.3 and 0.4 (4096x4096: 0.2 and 0.3); training
#: at batch 64 between 0.3 and 0.4, at batch 1,000 between 0.2 and 0.3. Measured
#: again once the dense kernel applied the mask inside its own products
#: (:class:`FusedMaskedLinear`, 0.65x-1.02x the time of the one before from two
#: rows): the crossovers moved down. Batch 8: near 0.09 (sparse over dense at
#: 0.08: 0.85x-0.94x, save 300x100 training at 1.02x; at 0.09: 0.87x-1.06x;
#: 4096x4096 between 0.1 and 0.15), so that row went from 0.1 to 0.08; batch 64:
#: training between 0.25 and 0.3, inference 0.3 and 0.4; batch 1,000: training
#: 0.2 and 0.25 (4096x4096: 0.2), inference 0.25 and 0.3 (4096x4096: 0.2 and
#: 0.25). Batch 1 keeps the kernel before (see ``_Masker.fuses``).
SPARSE_THRESHOLD = ((1, 0.05, 0.05), (8, 0.08, 0.08), (32, 0.2, 0.3))
#: The most a layer of at least :data:`SPARSE_LARGE_WEIGHTS` weights gets, ``(training, inference)``: at
#: 4096x4096 and batch 1,000 the sparse kernel took 0.84x the dense one's time at 0.2 of the weights kept.
SPARSE_THRESHOLD_LARGE = (0.2, 0.2)
#: Smaller layers train on the dense kernels whatever their density (100x100: 1.01x at 0.2, 0.92x at 0.1 kept;
#: 100x10 never faster); inference has no minimum (100x10: 0.62x-0.68x at every density up to 0.6).
SPARSE_MIN_WEIGHTS = 1 << 14
SPARSE_LARGE_WEIGHTS = 1 << 22
#: The same choice on torch's own sparse products (no C compiler, or ``WORKBENCH_NATIVE=0``): ``(training,
#: inference)`` from :data:`FALLBACK_MIN_WEIGHTS` weights, for both, and :data:`FALLBACK_THRESHOLD_LARGE`
#: from :data:`SPARSE_LARGE_WEIGHTS`. At batch 64, training broke even between 0.05 (784x300) and 0.1
#: (784x1000) of the weights kept, inference between 0.1 and 0.2; at 4096x4096 between 0.15 and 0.2, and
#: near 0.3; 300x100 was never faster.
FALLBACK_THRESHOLD = (0.08, 0.12)
FALLBACK_THRESHOLD_LARGE = (0.15, 0.25)
FALLBACK_MIN_WEIGHTS = 1 << 15
#: Layers whose weight is smaller train on autograd's own ``F.linear(x, weight * factor, bias)``: the Python
#: function's fixed cost (about 0.1 ms a step) outweighs what :class:`DenseMaskedLinear` saves. Measured on
#: the benchmark machine, fwd+bwd at batch 64, half the mask off: 8x8 160 us against 215 us, 300x100 330 us
#: against 400 us; at 784x300 (0.9 MB) both cost the same, and at 784x1000 autograd's fresh 3 MB tensors
#: made the step slower in the benchmark's process.
_SMALL_BYTES = 1 << 18
_SPARSE_DTYPES = (torch.float32, torch.float64)


class MaskState:
    """What the kernels need from one version of a mask, each part computed on first use.

    A layer makes a new state when its mask changes (in place: its version
    counter moves) or its weight changes dtype or device; what an autograd
    graph saved from an older state stays as it was.
    """

    __slots__ = ("_cache", "all_on", "kept", "key", "numel")

    def __init__(self, key: tuple, mask: torch.Tensor) -> None:
        self.key = key
        self.numel = mask.numel()
        self.kept = int(mask.sum()) if self.numel else 0
        self.all_on = self.kept == self.numel
        self._cache: dict = {}

    @property
    def density(self) -> float:
        """Fraction of the weights kept (0 for an empty mask)."""
        return self.kept / self.numel if self.numel else 0.0

    def factor(self, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The mask as 0/1 in ``dtype`` (multiplying by it is vectorised; by a bool tensor it is not)."""
        if "factor" not in self._cache:
            self._cache["factor"] = mask.view(torch.uint8).to(dtype)  # uint8 -> float is vectorised
        return self._cache["factor"]

    def masker(self, mask: torch.Tensor, dtype: torch.dtype) -> _Masker:
        """What multiplies weight-shaped tensors of ``dtype`` by the mask (see :class:`_Masker`)."""
        key = ("masker", dtype, native.enabled())
        if key not in self._cache:
            compiled = mask.device.type == "cpu" and mask.is_contiguous() and native.mask_kernel(dtype) is not None
            self._cache[key] = _Masker(mask, dtype, compiled, self._cache.get("factor"))
        return self._cache[key]

    def pattern(self, mask: torch.Tensor) -> SparsePattern:
        if "pattern" not in self._cache:
            self._cache["pattern"] = sparse_pattern(mask)
        return self._cache["pattern"]

    def use_sparse(self, weight: torch.Tensor, threshold: float | None, *, training: bool, batch: int = 64) -> bool:
        """Whether the sparse kernel runs (see :func:`sparse_threshold`); the answer is kept per threshold, mode,
        row of :data:`SPARSE_THRESHOLD` and kernels in use (the state's key covers the weight's dtype and device)."""
        compiled = native.available()
        key = (threshold, training, _batch_row(batch), compiled)
        chosen = self._cache.get(key)
        if chosen is None:
            chosen = self._cache[key] = (
                weight.dim() == 2
                and weight.device.type == "cpu"
                and weight.dtype in _SPARSE_DTYPES
                and self.density
                < sparse_threshold(self.numel, threshold, training=training, batch=batch, compiled=compiled)
            )
        return chosen


class _Masker:
    """Multiplies by a mask: weight-shaped tensors, and the three products of a masked linear layer.

    On the compiled kernels, the products (:meth:`linear`, :meth:`input_grad`,
    :meth:`weight_grad`) apply the mask inside the matrix product
    (``_native/gemm.h``), as the weight is packed or its gradient stored, so
    that a training step makes no masked copy of the weight and no second pass
    over its gradient; they take the mask as one byte per weight, -1 where
    kept (``lanes``). A pass of :meth:`apply` takes it packed one bit per
    weight: it then reads a sixteenth of the mask bytes a float factor takes,
    and ran 28-33% faster than ``torch.mul`` by the factor on the benchmark
    machine (784x1000: 215 us against 322 us, from a cold cache; in place 162
    us against 202 us). Elsewhere (no compiled kernels, another device, a
    tensor that is not contiguous) by the 0/1 factor.
    """

    __slots__ = ("_factor", "bits", "dtype", "gemm", "kernel", "lanes", "shape")

    def __init__(
        self, mask: torch.Tensor, dtype: torch.dtype, compiled: bool, factor: torch.Tensor | None = None
    ) -> None:
        """Copies of ``mask`` (bool, contiguous where ``compiled``) in the forms the kernels take: a later change
        of the mask does not reach them. ``factor``: the 0/1 factor where one is at hand already."""
        self.dtype, self.shape = dtype, mask.shape
        self.bits = self.lanes = self.kernel = self.gemm = None
        if compiled:
            self.bits = torch.from_numpy(np.packbits(mask.numpy().reshape(-1), bitorder="little"))
            self.lanes = mask.view(torch.int8).neg()  # a copy: -1 where kept
        self._factor = factor if factor is not None or compiled else mask.view(torch.uint8).to(dtype)
        self._find_kernels()

    def _find_kernels(self) -> None:
        if self.bits is not None:
            self.kernel = native.mask_kernel(self.dtype)
            self.gemm = native.kernel("dense_gemm", self.dtype)

    @property
    def factor(self) -> torch.Tensor:
        """The mask as 0/1 in the weight's dtype. With the compiled kernels it is made on first use (from the
        copy of the mask held here), since they need it only for tensors they do not take: on a 4096x4096 layer
        it is 64 MB."""
        if self._factor is None:
            self._factor = self.lanes.neg().view(torch.uint8).to(self.dtype)
        return self._factor

    def __getstate__(self) -> dict:  # the kernels are ctypes functions: looked up again after a copy
        return {name: getattr(self, name) for name in ("_factor", "bits", "dtype", "lanes", "shape")}

    def __setstate__(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self.kernel = self.gemm = None
        self._find_kernels()

    def _fits(self, tensor: torch.Tensor) -> bool:
        return (
            self.kernel is not None
            and tensor.is_contiguous()
            and tensor.dtype == self.dtype
            and tensor.shape == self.shape
            and tensor.device.type == "cpu"
        )

    def apply(self, source: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """``source * mask``, into ``out`` when given."""
        if self._fits(source) and (out is None or self._fits(out)):
            if out is None:
                out = torch.empty_like(source)
            else:  # a write autograd's version check must see, as it sees torch.mul(..., out=out)
                torch.autograd.graph.increment_version(out)
            self.kernel(source.numel(), source.data_ptr(), self.bits.data_ptr(), out.data_ptr())
            return out
        return torch.mul(source, self.factor, out=out) if out is not None else source * self.factor

    def apply_(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor *= mask``, in place."""
        if self._fits(tensor):
            torch.autograd.graph.increment_version(tensor)
            self.kernel(tensor.numel(), tensor.data_ptr(), self.bits.data_ptr(), tensor.data_ptr())
            return tensor
        return tensor.mul_(self.factor)

    def fuses(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
        """Whether the compiled products take ``x`` [M, in], ``weight`` and ``bias`` as they are.

        With one torch thread (they run on one core, where torch's products would use them all) and two rows or
        more: a single row is a matrix-vector product, where packing the weight for the matrix product costs more
        than the mask pass it saves (measured, one row, training: 784x1000 1.19x, 4096x4096 1.6x the scratch
        kernel's time; from two rows 0.65x-1.02x, over 300x300 to 4096x4096, batch 2 to 256, training and
        inference, the 1.02x at the ends: 4096x4096 inferring two rows, 784x1000 at 256).
        """
        return (
            self.gemm is not None
            and x.shape[0] > 1
            and x.dtype == weight.dtype == self.dtype
            and x.device.type == "cpu"
            and weight.is_contiguous()
            and weight.shape == self.shape
            and (bias is None or (bias.dtype == weight.dtype and bias.is_contiguous()))
            and torch.get_num_threads() == 1
        )

    def _run(self, *arguments) -> None:
        if self.gemm(*arguments) != 0:
            raise MemoryError("no memory for the packed blocks of a masked matrix product")

    def linear(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``bias + x @ (weight * mask).T`` for contiguous ``x`` [M, in]: [M, out]."""
        rows, (n_out, n_in) = x.shape[0], weight.shape
        out = x.new_empty(rows, n_out)
        self._run(rows, n_out, n_in, x.data_ptr(), n_in, 0, weight.data_ptr(), n_in, 1, self.lanes.data_ptr(),
                  None if bias is None else bias.data_ptr(), None, out.data_ptr(), n_out)  # fmt: skip
        return out

    def input_grad(self, grad_out: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``grad_out @ (weight * mask)`` for contiguous ``grad_out`` [M, out]: [M, in]."""
        rows, (n_out, n_in) = grad_out.shape[0], weight.shape
        out = grad_out.new_empty(rows, n_in)
        self._run(rows, n_in, n_out, grad_out.data_ptr(), n_out, 0, weight.data_ptr(), n_in, 0, self.lanes.data_ptr(),
                  None, None, out.data_ptr(), n_in)  # fmt: skip
        return out

    def weight_grad(self, grad_out: torch.Tensor, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``(grad_out.T @ x) * mask`` into ``out`` [out, in] (contiguous), for contiguous ``grad_out`` [M, out]
        and ``x`` [M, in]: every entry written, masked ones zero."""
        rows, (n_out, n_in) = x.shape[0], out.shape
        self._run(n_out, n_in, rows, grad_out.data_ptr(), n_out, 1, x.data_ptr(), n_in, 0, None, None,
                  self.lanes.data_ptr(), out.data_ptr(), n_in)  # fmt: skip
        return out


def _batch_row(batch: int) -> int:
    """The index of the row of :data:`SPARSE_THRESHOLD` that applies to ``batch``."""
    row = 0
    for k, (smallest, *_) in enumerate(SPARSE_THRESHOLD):
        if batch >= smallest:
            row = k
    return row


def sparse_threshold(
    weights: int,
    threshold: float | None = None,
    *,
    training: bool = True,
    batch: int = 64,
    compiled: bool | None = None,
) -> float:
    """Below which density a layer of ``weights`` weights runs on the sparse kernel.

    ``threshold`` (a layer's ``sparse_threshold``) wins when it is a number;
    ``None`` means the measured defaults for training (a graph is recorded) or
    inference at this ``batch`` (rows of the input): :data:`SPARSE_THRESHOLD`
    with the compiled kernels (``compiled``; by default whether they are in
    use), else :data:`FALLBACK_THRESHOLD`.
    """
    if threshold is not None:
        return threshold
    if not (native.available() if compiled is None else compiled):
        if weights < FALLBACK_MIN_WEIGHTS:
            return 0.0
        pair = FALLBACK_THRESHOLD_LARGE if weights >= SPARSE_LARGE_WEIGHTS else FALLBACK_THRESHOLD
        return pair[0] if training else pair[1]
    if training and weights < SPARSE_MIN_WEIGHTS:
        return 0.0
    _, train_below, infer_below = SPARSE_THRESHOLD[_batch_row(batch)]
    if weights >= SPARSE_LARGE_WEIGHTS:
        return min(train_below, SPARSE_THRESHOLD_LARGE[0]) if training else min(infer_below, SPARSE_THRESHOLD_LARGE[1])
    return train_below if training else infer_below


class DenseMaskedLinear(torch.autograd.Function):
    """``F.linear(x, weight * mask, bias)`` whose weight gradient is masked in place (by a :class:`_Masker`).

    Autograd's own ``weight * factor`` would allocate the weight gradient twice
    (the product's and the masked copy) and the masked weight once per step;
    this masks the gradient from the matrix product where it lies and writes
    the masked weight into the layer's :class:`~workbench.sparse.buffers.Scratch`. First derivatives only.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, masker, out, scratch, ticket, grads):  # x: [..., in]; weight: [out, in]
        masked = masker.apply(weight, out)
        ctx.save_for_backward(x, masked)
        ctx.grads, ctx.masker = grads, masker
        if out is not None:
            ctx.scratch, ctx.ticket = scratch, ticket
            ctx.lease = Lease(scratch.give_back, ticket)  # freed with the graph
        return F.linear(x, masked, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # [..., out]
        x, masked = ctx.saved_tensors
        grad_x = grad_weight = grad_bias = None
        rows = grad_out.reshape(-1, grad_out.shape[-1])  # [M, out]
        if ctx.needs_input_grad[0]:
            grad_x = grad_out.matmul(masked)  # [..., in]
        if ctx.needs_input_grad[1]:
            into = ctx.grads.take(masked.shape, masked, zero=False)
            grad_weight = ctx.masker.apply_(torch.mm(rows.t(), x.reshape(-1, x.shape[-1]), out=into))  # [out, in]
        if ctx.needs_input_grad[2]:
            grad_bias = rows.sum(0)
        if hasattr(ctx, "scratch"):
            ctx.scratch.give_back(ctx.ticket)
        return grad_x, grad_weight, grad_bias, None, None, None, None, None


class FusedMaskedLinear(torch.autograd.Function):
    """``F.linear(x, weight * mask, bias)`` on the compiled products that apply the mask inside the product.

    ``apply(x, weight, bias, masker, grads)`` with contiguous ``x`` [M, in]:
    :meth:`_Masker.linear` forward; :meth:`_Masker.input_grad` and
    :meth:`_Masker.weight_grad` backward, the weight gradient written into the
    layer's :class:`~workbench.sparse.buffers.GradBuffer`. Nothing
    weight-sized is made but that gradient. First derivatives only.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, masker, grads):  # x: [M, in] -> [M, out]
        ctx.save_for_backward(x, weight)
        ctx.masker, ctx.grads = masker, grads
        return masker.linear(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # [M, out]
        x, weight = ctx.saved_tensors
        masker: _Masker = ctx.masker
        need_x, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_out = grad_out.contiguous()
        grad_x = masker.input_grad(grad_out, weight) if need_x else None
        grad_weight = (
            masker.weight_grad(grad_out, x, ctx.grads.take(weight.shape, weight, zero=False)) if need_weight else None
        )
        grad_bias = grad_out.sum(0) if need_bias else None
        return grad_x, grad_weight, grad_bias, None, None


class SparseMaskedLinear(torch.autograd.Function):
    """``F.linear(x, weight * mask, bias)`` from the kept weights only.

    ``apply(x, weight, bias, pattern, grads)`` with ``x`` of shape ``[M, in]``:
    the products of :meth:`SparsePattern.linear` and
    :meth:`SparsePattern.linear_backward`, the weight gradient written into
    the layer's :class:`~workbench.sparse.buffers.GradBuffer`. First derivatives only.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, pattern, grads):  # x: [M, in] -> [M, out]
        values = weight.new_empty(pattern.nnz)  # the kept weights, block order: the backward pass uses these
        out, x_t = pattern.linear(x, weight, bias, values)
        ctx.pattern, ctx.weight_shape, ctx.grads = pattern, weight.shape, grads
        ctx.save_for_backward(x if x_t is None else x_t, values)
        ctx.transposed = x_t is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # [M, out]
        saved, values = ctx.saved_tensors
        pattern: SparsePattern = ctx.pattern
        need_x, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_weight = ctx.grads.take(ctx.weight_shape, values, zero=False) if need_weight else None
        x, x_t = (None, saved) if ctx.transposed else (saved, None)
        grad_x = pattern.linear_backward(grad_out, values, x, x_t, grad_weight, need_input=need_x)
        grad_bias = grad_out.sum(0) if need_bias else None
        return grad_x, grad_weight, grad_bias, None, None


def _like_input(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out`` [M, out] of the rows of ``x`` [..., in], with ``x``'s leading dimensions again."""
    return out if x.dim() == 2 else out.reshape(*x.shape[:-1], out.shape[-1])


def masked_linear(layer, x: torch.Tensor, state: MaskState, mask: torch.Tensor) -> torch.Tensor:
    """``F.linear(x, layer.weight * mask, layer.bias)`` on the kernel ``state`` calls for.

    ``layer`` is a ``MaskedLinearLayer`` (its ``weight``, ``bias``,
    ``sparse_threshold`` and scratch tensor are used); ``x`` is ``[..., in]``.
    A pass that records a graph counts as training, any other as inference.
    """
    weight, bias = layer.weight, layer.bias
    if state.all_on:
        return F.linear(x, weight, bias)
    grad = torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)
    )
    rows = x if x.dim() == 2 else x.reshape(-1, x.shape[-1])  # [M, in]
    if state.use_sparse(weight, layer.sparse_threshold, training=grad, batch=rows.shape[0]):
        pattern = state.pattern(mask)
        if grad:
            grads = layer_slot(layer, "_grads", GradBuffer)
            out = SparseMaskedLinear.apply(rows, weight, bias, pattern, grads)  # [M, out]
        else:  # inference: nothing that needs a gradient takes part, so no graph
            out = pattern.linear(rows, weight, bias)[0]
        return _like_input(out, x)
    if grad and weight.element_size() * weight.numel() < _SMALL_BYTES:
        # small: autograd's own product, free of a Python function's fixed cost (about 0.1 ms a step); what
        # DenseMaskedLinear saves (fresh weight-sized tensors) costs little at this size
        return F.linear(x, weight * state.factor(mask, weight.dtype), bias)
    masker = state.masker(mask, weight.dtype)
    if masker.fuses(rows, weight, bias):
        rows = rows.contiguous()
        if grad:
            out = FusedMaskedLinear.apply(rows, weight, bias, masker, layer_slot(layer, "_grads", GradBuffer))
        else:
            out = masker.linear(rows, weight, bias)
        return _like_input(out, x)
    scratch = layer_slot(layer, "_scratch", Scratch)
    out, ticket = scratch.borrow(weight)
    if grad:
        grads = layer_slot(layer, "_grads", GradBuffer)
        return DenseMaskedLinear.apply(x, weight, bias, masker, out, scratch, ticket, grads)
    try:
        return F.linear(x, masker.apply(weight, out), bias)
    finally:
        scratch.give_back(ticket)
