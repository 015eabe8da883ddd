"""The matrix products behind :class:`~workbench.sparse.MaskedLinearLayer`.

A masked linear layer computes ``F.linear(x, weight * mask, bias)``. Which
kernel computes it depends on the mask, through a :class:`MaskState` that the
layer caches until the mask changes:

* every connection on: ``F.linear`` on the weight itself (nothing to mask);
* dense (:class:`DenseMaskedLinear`): the masked weight in a reused scratch
  tensor, the matrix products of ``nn.Linear``, the weight gradient masked in
  place; for a weight under 256 KB in training, autograd's own
  ``F.linear(x, weight * factor, bias)`` (a Python function's fixed cost
  outweighs what the scratch saves there);
* sparse (:class:`SparseMaskedLinear`), on CPU in float32 or float64, when the
  mask keeps few enough of its weights (see :func:`sparse_threshold`): the
  kept weights as CSR matrices (MKL's sparse products give the output and the
  input gradient), and the weight gradient computed at the kept positions only
  (a sampled dense-dense product, ``torch.sparse.sampled_addmm``), then placed
  in a zero dense gradient.

Both masked kernels write a large weight gradient into memory the layer
keeps once the previous step's gradient has been let go (:class:`_GradBuffer`):
fresh memory that large faults in page by page on every step.

All three compute the same values up to the order of floating-point sums;
masked weights contribute nothing and receive a zero gradient. The dense and
sparse kernels give first derivatives only (``create_graph=True`` raises).
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

__all__ = [
    "BATCH_CHUNK",
    "SPARSE_LARGE_WEIGHTS",
    "SPARSE_MIN_WEIGHTS",
    "SPARSE_THRESHOLD",
    "SPARSE_THRESHOLD_LARGE",
    "DenseMaskedLinear",
    "MaskState",
    "SparseMaskedLinear",
    "SparsePattern",
    "masked_linear",
    "sparse_linear",
    "sparse_pattern",
    "sparse_threshold",
]

#: The automatic choice (``MaskedLinearLayer.sparse_threshold = None``): a mask
#: keeping less than this fraction of its weights runs on the sparse kernel,
#: ``(training, inference)``, for layers of at least :data:`SPARSE_MIN_WEIGHTS`
#: weights. Measured with ``python benchmarks/crossover.py`` at batch 64 on the
#: benchmark machine (see benchmarks/RESULTS.md): training breaks even between
#: 0.05 (784x300) and 0.1 (784x1000) of the weights kept, inference between 0.1
#: and 0.2; the crossover moves with the machine's load.
SPARSE_THRESHOLD = (0.08, 0.12)
#: The same for layers of at least :data:`SPARSE_LARGE_WEIGHTS` weights (at
#: 4096x4096 training breaks even between 0.15 and 0.2, inference near 0.3).
SPARSE_THRESHOLD_LARGE = (0.15, 0.25)
#: Smaller layers stay on the dense kernels whatever their density: the fixed
#: cost of the sparse calls outweighs the savings (300x100: never faster).
SPARSE_MIN_WEIGHTS = 1 << 15
SPARSE_LARGE_WEIGHTS = 1 << 22
#: Weight gradients of at least this many bytes are written into a buffer the
#: layer keeps (:class:`_GradBuffer`) whenever the previous step's gradient has
#: been let go. A fresh tensor that large is mapped from the OS on every step
#: and each of its pages faults on first write: on the benchmark machine a
#: 4096x4096 layer at 90% pruned took 138 ms a training step with the buffer
#: and 181 ms without (interleaved medians). Smaller ones come from the heap,
#: already mapped.
_POOL_BYTES = 1 << 22
#: Layers whose weight is smaller train on autograd's own ``F.linear(x, weight * factor, bias)``: the Python
#: function's fixed cost (about 0.1 ms a step) outweighs what :class:`DenseMaskedLinear` saves. Measured on
#: the benchmark machine, fwd+bwd at batch 64, half the mask off: 8x8 160 us against 215 us, 300x100 330 us
#: against 400 us; at 784x300 (0.9 MB) both cost the same, and at 784x1000 autograd's fresh 3 MB tensors
#: made the step slower in the benchmark's process.
_SMALL_BYTES = 1 << 18
_SPARSE_DTYPES = (torch.float32, torch.float64)

# Torch warns once per process that sparse CSR tensors are "in beta" the first time
# one is built; the products used here are stable, so take that warning here, silenced.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    torch.sparse_csr_tensor(torch.tensor([0, 1]), torch.tensor([0]), torch.ones(1), (1, 1), check_invariants=False)


@dataclass(frozen=True, eq=False)
class SparsePattern:
    """Where a ``[out, in]`` mask keeps its weights, as the index tensors of the sparse kernel.

    The products run block by block so that the dense operand of each one fits
    in a core's L2 cache: the output is a sum over blocks of :data:`BLOCK`
    input columns, the input gradient a sum over blocks of ``BLOCK`` output
    rows (1.5x faster than one product at 4096x4096 on the benchmark machine).
    Kept weights are numbered in *block order*: by column block, then row, then
    column. Built by :func:`sparse_pattern`.

    Attributes:
        shape: ``(out, in)``.
        flat: ``[nnz]`` int64 position in ``weight.view(-1)`` of every kept weight, in block order.
        blocks: per column block ``(first column, last column + 1, first value, last value + 1,
            CSR row pointers [out + 1], CSR columns within the block)``.
        blocks_t: per block of output rows ``(first row, last row + 1, first value, last value + 1,
            row pointers [in + 1], columns within the block)`` of the transposed block (in CSR).
        perm_t: ``[nnz]`` block-order position of every entry of ``blocks_t``'s values.
    """

    shape: tuple[int, int]
    flat: torch.Tensor
    blocks: list[tuple]
    blocks_t: list[tuple]
    perm_t: torch.Tensor

    @property
    def nnz(self) -> int:
        return self.flat.numel()

    def product(self, values: torch.Tensor, dense: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``bias[:, None] + W @ dense`` with ``W`` the ``[out, in]`` matrix of ``values`` (block order).

        ``dense``: ``[in, M]`` contiguous. Returns ``[out, M]``.
        """
        n_out = self.shape[0]
        if len(self.blocks) == 1 and self.blocks[0][:2] == (0, self.shape[1]):  # one block of all columns
            _, _, _, _, crow, col = self.blocks[0]
            block = torch.sparse_csr_tensor(crow, col, values, self.shape, check_invariants=False)
            return torch.mm(block, dense) if bias is None else torch.addmm(bias.unsqueeze(1), block, dense)
        out = None
        for first, last, start, stop, crow, col in self.blocks:
            block = torch.sparse_csr_tensor(
                crow, col, values[start:stop], (n_out, last - first), check_invariants=False
            )
            if out is None:
                out = (
                    torch.mm(block, dense[first:last])
                    if bias is None
                    else torch.addmm(bias.unsqueeze(1), block, dense[first:last])
                )
            else:
                out.addmm_(block, dense[first:last])
        if out is None:  # nothing kept
            out = dense.new_zeros(n_out, dense.shape[1])
            if bias is not None:
                out += bias[:, None]
        return out

    def product_t(self, values: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """``W.T @ dense`` (``dense``: ``[out, M]`` contiguous); returns ``[in, M]``."""
        n_in = self.shape[1]
        values_t = values.index_select(0, self.perm_t)
        out = None
        for first, last, start, stop, crow, col in self.blocks_t:
            block = torch.sparse_csr_tensor(
                crow, col, values_t[start:stop], (n_in, last - first), check_invariants=False
            )
            out = torch.mm(block, dense[first:last]) if out is None else out.addmm_(block, dense[first:last])
        return out if out is not None else dense.new_zeros(n_in, dense.shape[1])

    def sampled(self, left: torch.Tensor, right_t: torch.Tensor, into: torch.Tensor | None = None) -> torch.Tensor:
        """``left @ right_t.T`` at the kept positions, in block order, added to ``into`` if given.

        ``left``: ``[out, M]`` and ``right_t``: ``[in, M]``, both contiguous.
        Returns ``[nnz]`` (``into`` itself when given).
        """
        kept = left.new_zeros(self.nnz) if into is None else into  # zeros: beta = 0 scales what is there
        beta = 0.0 if into is None else 1.0
        n_out = self.shape[0]
        for first, last, start, stop, crow, col in self.blocks:
            part = torch.sparse_csr_tensor(crow, col, kept[start:stop], (n_out, last - first), check_invariants=False)
            torch.sparse.sampled_addmm(part, left, right_t[first:last].t(), beta=beta, out=part)
        return kept


#: Rows of a batch that one sparse product takes at a time: 64 rows of 1024 float32
#: inputs (a column block) are 256 KB, half an L2 cache here. A batch of 1,000 in one
#: product runs 10x slower per row on the benchmark machine.
BATCH_CHUNK = 64


#: Width of the column blocks (and height of the row blocks) of :class:`SparsePattern`:
#: 1024 columns of a batch of 64 float32 inputs is 256 KB, half an L2 cache here.
BLOCK = 1024


def _csr_rows(rows: torch.Tensor, count: int) -> torch.Tensor:
    crow = torch.zeros(count + 1, dtype=torch.int64, device=rows.device)
    crow[1:] = torch.bincount(rows, minlength=count).cumsum(0)
    return crow


def sparse_pattern(mask: torch.Tensor, *, block: int | None = None) -> SparsePattern:
    """The :class:`SparsePattern` of a 2-D bool ``mask`` (block CSR indices of it and of its transpose).

    ``block`` defaults to :data:`BLOCK`. Indices are int32 where they fit (MKL's
    products are faster with them), else int64.
    """
    block = block or BLOCK
    n_out, n_in = mask.shape
    rows, cols = mask.nonzero(as_tuple=True)  # [nnz] row-major
    nnz = rows.numel()
    index = torch.int32 if max(nnz, n_out, n_in) < 2**31 - 1 else torch.int64
    # block order: by column block, then row, then column (a stable sort of row-major entries)
    order = torch.sort(cols // block, stable=True).indices
    rows_b, cols_b = rows[order], cols[order]
    cuts = _csr_rows(cols_b // block, -(-n_in // block)).tolist()
    blocks = []
    for k, (start, stop) in enumerate(itertools.pairwise(cuts)):
        if start == stop:
            continue
        first, last = k * block, min((k + 1) * block, n_in)
        crow = _csr_rows(rows_b[start:stop], n_out).to(index)
        col = (cols_b[start:stop] - first).to(index)
        blocks.append((first, last, start, stop, crow, col))
    # transposed blocks: by output-row block, then input column, then output row
    position = torch.empty_like(order)
    position[order] = torch.arange(nnz)  # row-major entry -> block-order position
    order_t = torch.sort((rows // block) * n_in + cols, stable=True).indices
    rows_t, cols_t = rows[order_t], cols[order_t]
    cuts_t = _csr_rows(rows_t // block, -(-n_out // block)).tolist()
    blocks_t = []
    for k, (start, stop) in enumerate(itertools.pairwise(cuts_t)):
        if start == stop:
            continue
        first, last = k * block, min((k + 1) * block, n_out)
        crow = _csr_rows(cols_t[start:stop], n_in).to(index)
        blocks_t.append((first, last, start, stop, crow, (rows_t[start:stop] - first).to(index)))
    flat = rows_b * n_in + cols_b
    return SparsePattern((n_out, n_in), flat, blocks, blocks_t, position[order_t].to(index))


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

    def pattern(self, mask: torch.Tensor) -> SparsePattern:
        if "pattern" not in self._cache:
            self._cache["pattern"] = sparse_pattern(mask)
        return self._cache["pattern"]

    def use_sparse(self, weight: torch.Tensor, threshold: float | None, *, training: bool) -> bool:
        """Whether the sparse kernel runs (see :func:`sparse_threshold`)."""
        if weight.dim() != 2 or weight.device.type != "cpu" or weight.dtype not in _SPARSE_DTYPES:
            return False
        return self.density < sparse_threshold(self.numel, threshold, training=training)


def sparse_threshold(weights: int, threshold: float | None = None, *, training: bool = True) -> float:
    """Below which density a layer of ``weights`` weights runs on the sparse kernel.

    ``threshold`` (a layer's ``sparse_threshold``) wins when it is a number;
    ``None`` means the measured defaults: :data:`SPARSE_THRESHOLD` or, from
    :data:`SPARSE_LARGE_WEIGHTS` weights, :data:`SPARSE_THRESHOLD_LARGE`, for
    training (a graph is recorded) or inference; 0 below :data:`SPARSE_MIN_WEIGHTS`.
    """
    if threshold is not None:
        return threshold
    if weights < SPARSE_MIN_WEIGHTS:
        return 0.0
    pair = SPARSE_THRESHOLD_LARGE if weights >= SPARSE_LARGE_WEIGHTS else SPARSE_THRESHOLD
    return pair[0] if training else pair[1]


def _kept(weight: torch.Tensor, pattern: SparsePattern) -> torch.Tensor:
    """``[nnz]`` the kept weights in block order, gathered on every call.

    Not cached between calls: a write through ``weight.data`` moves no version
    counter, so a cache could not tell that the weights changed.
    """
    with torch.no_grad():
        return (
            weight.view(-1).index_select(0, pattern.flat) if weight.is_contiguous() else weight.flatten()[pattern.flat]
        )


class _GradBuffer:
    """Memory for a layer's weight gradient, reused once the last gradient written there is let go.

    The gradient a backward pass returns becomes the parameter's ``.grad`` (or is
    added into it and dropped), so the layer cannot know when it may write there
    again; the buffer asks its reference count. The memory is a numpy array,
    and every tensor made from it (and every view of those) keeps one reference
    to it: when only the buffer refers to it, no tensor uses it any more. While
    a gradient is held elsewhere (``.grad`` kept, or a reference to it), the
    next one gets fresh memory, which the buffer keeps from then on.
    """

    __slots__ = ("array", "free")

    def __init__(self) -> None:
        self.array: np.ndarray | None = None
        self.free = 0  # the array's reference count when no tensor uses it, measured when it was made

    def _in_use(self) -> bool:
        return sys.getrefcount(self.array) != self.free

    def take(self, shape: torch.Size, like: torch.Tensor, *, zero: bool) -> torch.Tensor:
        """An uninitialised (or, with ``zero``, zero) tensor of ``shape`` with ``like``'s dtype and device."""
        size = like.element_size() * math.prod(shape)
        if like.device.type != "cpu" or like.dtype not in _SPARSE_DTYPES or size < _POOL_BYTES:
            return like.new_zeros(shape) if zero else like.new_empty(shape)
        dtype = np.dtype(np.float32 if like.dtype == torch.float32 else np.float64)
        if self.array is None or self.array.shape != tuple(shape) or self.array.dtype != dtype or self._in_use():
            self.array = np.zeros(tuple(shape), dtype=dtype)  # calloc: zero pages, no pass of writes
            self.free = sys.getrefcount(self.array)
            return torch.from_numpy(self.array)
        tensor = torch.from_numpy(self.array)
        return tensor.zero_() if zero else tensor

    def __deepcopy__(self, memo) -> _GradBuffer:
        return _GradBuffer()  # a copied layer starts with its own


class _Lease:
    """Gives a lent buffer back when the autograd graph holding it is freed (``__del__``)."""

    __slots__ = ("give_back",)

    def __init__(self, give_back) -> None:
        self.give_back = give_back

    def __del__(self) -> None:
        self.give_back()


class _Scratch:
    """A tensor for a layer's masked weight, reused by one forward pass (and its backward) at a time.

    A fresh weight-sized tensor per step costs page faults that can take as long
    as the product itself on large layers. The tensor is lent by :meth:`borrow`
    and given back when the backward pass has used it, or when the graph that
    holds it is freed; while it is lent, another forward pass gets a fresh
    tensor. Autograd's version check still guards it: a second backward through
    a retained graph after a later forward pass has reused it raises instead
    of computing with changed values.
    """

    __slots__ = ("lent", "tensor", "ticket")

    def __init__(self) -> None:
        self.tensor: torch.Tensor | None = None
        self.ticket = 0
        self.lent = False

    def borrow(self, like: torch.Tensor) -> tuple[torch.Tensor | None, int]:
        if self.lent:
            return None, 0
        tensor = self.tensor
        if tensor is None or tensor.shape != like.shape or tensor.dtype != like.dtype or tensor.device != like.device:
            self.tensor = torch.empty(like.shape, dtype=like.dtype, device=like.device)
        self.ticket += 1
        self.lent = True
        return self.tensor, self.ticket

    def give_back(self, ticket: int) -> None:
        if self.lent and self.ticket == ticket:
            self.lent = False

    def __deepcopy__(self, memo) -> _Scratch:
        return _Scratch()  # a copied layer starts with its own, unlent


class DenseMaskedLinear(torch.autograd.Function):
    """``F.linear(x, weight * factor, bias)`` whose weight gradient is masked in place.

    Autograd's own ``weight * factor`` would allocate the weight gradient twice
    (the product's and the masked copy) and the masked weight once per step;
    this masks the gradient from the matrix product where it lies and writes
    the masked weight into the layer's :class:`_Scratch`. First derivatives only.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, factor, out, scratch, ticket, grads):  # x: [..., in]; weight, factor: [out, in]
        masked = torch.mul(weight, factor, out=out) if out is not None else weight * factor
        ctx.save_for_backward(x, masked, factor)
        ctx.grads = grads
        if out is not None:
            ctx.scratch, ctx.ticket = scratch, ticket
            ctx.lease = _Lease(functools.partial(scratch.give_back, ticket))  # freed with the graph
        return F.linear(x, masked, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # [..., out]
        x, masked, factor = ctx.saved_tensors
        grad_x = grad_weight = grad_bias = None
        rows = grad_out.reshape(-1, grad_out.shape[-1])  # [M, out]
        if ctx.needs_input_grad[0]:
            grad_x = grad_out.matmul(masked)  # [..., in]
        if ctx.needs_input_grad[1]:
            into = ctx.grads.take(masked.shape, masked, zero=False)
            grad_weight = torch.mm(rows.t(), x.reshape(-1, x.shape[-1]), out=into).mul_(factor)  # [out, in]
        if ctx.needs_input_grad[2]:
            grad_bias = rows.sum(0)
        if hasattr(ctx, "scratch"):
            ctx.scratch.give_back(ctx.ticket)
        return grad_x, grad_weight, grad_bias, None, None, None, None, None


def _transposed(x: torch.Tensor) -> torch.Tensor:
    """``x.t().contiguous()``; on CPU through numpy when rows are short (2-3x faster there, slower for long rows)."""
    if x.device.type == "cpu" and x.shape[1] <= 1024 and x.dtype in _SPARSE_DTYPES and not x.is_neg():
        return torch.from_numpy(np.ascontiguousarray(x.detach().numpy().T))
    return x.t().contiguous()


def _chunks(rows: int) -> list[slice]:
    return [slice(first, min(first + BATCH_CHUNK, rows)) for first in range(0, rows, BATCH_CHUNK)]


def sparse_linear(pattern: SparsePattern, values: torch.Tensor, x: torch.Tensor, bias) -> torch.Tensor:
    """``x @ W.T + bias`` for the ``[M, in]`` input ``x``, :data:`BATCH_CHUNK` rows at a time; ``[M, out]``."""
    if x.shape[0] <= BATCH_CHUNK:
        return _transposed(pattern.product(values, _transposed(x), bias))
    out = x.new_empty(x.shape[0], pattern.shape[0])
    for rows in _chunks(x.shape[0]):
        out[rows] = pattern.product(values, _transposed(x[rows]), bias).t()
    return out


class SparseMaskedLinear(torch.autograd.Function):
    """``F.linear(x, weight * mask, bias)`` from the kept weights only.

    ``apply(x, weight, bias, pattern)`` with ``x`` of shape ``[M, in]``. The
    output and the input gradient are sparse-times-dense products of the kept
    weights (see :class:`SparsePattern`), :data:`BATCH_CHUNK` rows of the batch
    at a time; the weight gradient is computed at the kept positions only and
    placed in a zero ``[out, in]`` tensor. First derivatives only.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, pattern, grads):  # x: [M, in] -> [M, out]
        values = _kept(weight, pattern)  # [nnz], block order
        ctx.pattern, ctx.weight_shape, ctx.single = pattern, weight.shape, x.shape[0] <= BATCH_CHUNK
        ctx.grads = grads
        if ctx.single:  # one chunk: keep the transposed input for the backward pass
            rows_t = _transposed(x)  # [in, M]
            ctx.save_for_backward(rows_t, values)
            return _transposed(pattern.product(values, rows_t, bias))
        ctx.save_for_backward(x, values)
        return sparse_linear(pattern, values, x, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # [M, out]
        saved, values = ctx.saved_tensors  # [in, M] (one chunk) or [M, in]
        pattern: SparsePattern = ctx.pattern
        need_x, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_x = grad_out.new_empty(grad_out.shape[0], pattern.shape[1]) if need_x else None
        kept = None
        for rows in _chunks(grad_out.shape[0]):
            columns = _transposed(grad_out[rows])  # [out, C]
            if need_x:
                grad_x[rows] = pattern.product_t(values, columns).t()  # [C, in]
            if need_weight and pattern.nnz:
                right_t = saved if ctx.single else _transposed(saved[rows])  # [in, C]
                kept = pattern.sampled(columns, right_t, into=kept)  # [nnz]
        grad_weight = None
        if need_weight:
            grad_weight = ctx.grads.take(ctx.weight_shape, values, zero=True)  # [out, in]
            if kept is not None:
                grad_weight.view(-1).index_copy_(0, pattern.flat, kept)
        grad_bias = grad_out.sum(0) if need_bias else None
        return grad_x, grad_weight, grad_bias, None, None


def _layer_slot(layer, name: str, make):
    """The object a layer keeps for its kernels under ``name`` (a plain attribute, not module state),
    made by ``make()`` on first use."""
    kept = layer.__dict__.get(name)
    if kept is None:
        kept = layer.__dict__[name] = make()
    return kept


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
    if state.use_sparse(weight, layer.sparse_threshold, training=grad):
        pattern = state.pattern(mask)
        rows = x if x.dim() == 2 else x.reshape(-1, x.shape[-1])  # [M, in]
        if grad:
            grads = _layer_slot(layer, "_grads", _GradBuffer)
            out = SparseMaskedLinear.apply(rows, weight, bias, pattern, grads)  # [M, out]
        else:  # inference: no graph
            out = sparse_linear(pattern, _kept(weight, pattern), rows, bias)
        return out if x.dim() == 2 else out.reshape(*x.shape[:-1], out.shape[-1])
    factor = state.factor(mask, weight.dtype)
    if grad and weight.element_size() * weight.numel() < _SMALL_BYTES:
        # small: autograd's own product, free of a Python function's fixed cost (about 0.1 ms a step); what
        # DenseMaskedLinear saves (fresh weight-sized tensors) costs little at this size
        return F.linear(x, weight * factor, bias)
    scratch = _layer_slot(layer, "_scratch", _Scratch)
    out, ticket = scratch.borrow(weight)
    if grad:
        grads = _layer_slot(layer, "_grads", _GradBuffer)
        return DenseMaskedLinear.apply(x, weight, bias, factor, out, scratch, ticket, grads)
    try:
        return F.linear(x, torch.mul(weight, factor, out=out) if out is not None else weight * factor, bias)
    finally:
        scratch.give_back(ticket)
