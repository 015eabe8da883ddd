"""Where a mask keeps its weights, and the sparse products over the kept weights.

A :class:`SparsePattern` indexes the kept weights of a ``[out, in]`` mask as
CSR matrices, one per block of :data:`BLOCK` input columns, so that the
dense operand a block's product reads (``BLOCK`` rows of the transposed
batch) stays in a core's L2 cache. Its products run on the compiled kernels
of :mod:`workbench.sparse.native` where those are available (float32 and
float64 on the CPU, int32 indices), else on torch's MKL sparse products
(a batch of :data:`BATCH_CHUNK` rows at a time there). Both compute the same
values up to the order of floating-point sums.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from workbench.sparse import native

__all__ = ["BATCH_CHUNK", "BLOCK", "SparsePattern", "csr_tensor", "kept_values", "sparse_pattern", "transposed"]

#: Width of the column blocks of :class:`SparsePattern` (and height of the row
#: blocks of its transpose): 1024 columns of a batch of 64 float32 inputs is
#: 256 KB, half an L2 cache on the benchmark machine.
BLOCK = 1024
#: Rows of a batch that one of torch's sparse products takes at a time (the
#: compiled kernels take any batch whole): 64 rows of 1024 float32 inputs is
#: 256 KB. A batch of 1,000 in one MKL product ran 10x slower per row.
BATCH_CHUNK = 64

_DTYPES = (torch.float32, torch.float64)

# Torch warns once per process that sparse CSR tensors are "in beta" the first time
# one is built; the products used here are stable, so take that warning here, silenced.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    torch.sparse_csr_tensor(torch.tensor([0, 1]), torch.tensor([0]), torch.ones(1), (1, 1), check_invariants=False)


def csr_tensor(crow, col, values, shape) -> torch.Tensor:
    """A CSR tensor of indices built here, so valid by construction (torch's invariant checks skipped)."""
    return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


def _csr_rows(rows: torch.Tensor, count: int) -> torch.Tensor:
    crow = torch.zeros(count + 1, dtype=torch.int64, device=rows.device)
    crow[1:] = torch.bincount(rows, minlength=count).cumsum(0)
    return crow


def transposed(x: torch.Tensor) -> torch.Tensor:
    """``x.t().contiguous()`` of a 2-D ``x``, on the compiled kernels where they take it (rows contiguous, float32 or
    float64 on CPU); else through numpy when rows are short (2-3x faster there than torch, slower for long rows)."""
    if x.device.type != "cpu" or x.dtype not in _DTYPES or x.is_neg() or x.is_conj():
        return x.t().contiguous()
    lib = native.library()
    if lib is not None and x.stride(1) == 1:
        rows, cols = x.shape
        out = x.new_empty(cols, rows)
        turn = lib.transpose_f32 if x.dtype == torch.float32 else lib.transpose_f64
        turn(rows, cols, x.data_ptr(), x.stride(0), out.data_ptr(), rows)
        return out
    if x.shape[1] <= 1024:
        return torch.from_numpy(np.ascontiguousarray(x.detach().numpy().T))
    return x.t().contiguous()


def _chunks(rows: int) -> list[slice]:
    return [slice(first, min(first + BATCH_CHUNK, rows)) for first in range(0, rows, BATCH_CHUNK)]


def _rows_contiguous(x: torch.Tensor) -> torch.Tensor:
    """``x`` (2-D) if its rows are contiguous (any row stride, 0 for a row repeated), else a contiguous copy."""
    return x if x.stride(1) == 1 else x.contiguous()


def _address(tensor: torch.Tensor | None, offset: int = 0) -> int | None:
    """The address of ``tensor``'s element ``offset`` (counted in elements), or None (a null pointer)."""
    return None if tensor is None else tensor.data_ptr() + offset * tensor.element_size()


@dataclass(frozen=True, eq=False)
class SparsePattern:
    """Where a ``[out, in]`` mask keeps its weights, and the products over them.

    Kept weights are numbered in *block order*: by column block, then row,
    then column. Built by :func:`sparse_pattern`.

    Attributes:
        shape: ``(out, in)``.
        flat: ``[nnz]`` int64 position in ``weight.view(-1)`` of every kept weight, in block order.
        blocks: per column block, empty ones too, ``(first column, last column + 1, first value,
            last value + 1, CSR row pointers [out + 1], CSR columns within the block)``.
    """

    shape: tuple[int, int]
    flat: torch.Tensor
    blocks: list[tuple]

    @property
    def nnz(self) -> int:
        return self.flat.numel()

    def __getstate__(self) -> dict:
        # A copy (deepcopy, pickle) leaves the cached parts behind: the plan holds raw addresses of this
        # pattern's index tensors, which a copy's own tensors do not share.
        return {key: value for key, value in self.__dict__.items() if key not in ("_plan", "_blocks_t")}

    def _kernels(self, dtype: torch.dtype) -> tuple[object, object] | None:
        """``(linear, linear_backward)`` of the compiled library for ``dtype``, or None (torch's products)."""
        return native.layer_kernels(dtype) if self._plan is not None else None

    @cached_property
    def _plan(self) -> tuple[torch.Tensor, int] | None:
        """The blocks as the compiled kernels take them, ``[blocks, 5]`` int64 of first column, last column + 1,
        first value, and the addresses of the CSR row pointers and columns (kept alive by :attr:`blocks`), and
        its address; None where the indices are int64 (the kernels take int32)."""
        if self.blocks and self.blocks[0][4].dtype != torch.int32:
            return None
        rows = [(b[0], b[1], b[2], b[4].data_ptr(), b[5].data_ptr()) for b in self.blocks]
        plan = torch.tensor(rows, dtype=torch.int64).reshape(len(rows), 5)
        return plan, plan.data_ptr()

    # --------------------------------------------------------------------- the layer's three products

    def linear(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, values: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``F.linear(x, weight * mask, bias)`` for ``x`` of shape ``[M, in]``: ``(out [M, out], x_t)``.

        The kept weights are read from ``weight`` and, when ``values`` (``[nnz]``)
        is given, written there in block order (for the backward pass). ``x_t`` is
        the transposed input ``[in, M]`` when it was made whole (for
        :meth:`linear_backward`), else None.
        """
        kernels = self._kernels(weight.dtype)
        if kernels is not None:
            return self._linear_native(kernels[0], x, weight, bias, values)
        kept = kept_values(weight, self, out=values)
        if x.shape[0] <= BATCH_CHUNK:
            x_t = transposed(x)
            return transposed(self.product(kept, x_t, bias)), x_t
        out = x.new_empty(x.shape[0], self.shape[0])
        for rows in _chunks(x.shape[0]):
            out[rows] = self.product(kept, transposed(x[rows]), bias).t()
        return out, None

    def linear_backward(
        self,
        grad_out: torch.Tensor,
        values: torch.Tensor,
        x: torch.Tensor,
        x_t: torch.Tensor | None,
        grad_weight: torch.Tensor | None,
        *,
        need_input: bool,
    ) -> torch.Tensor | None:
        """The gradients of :meth:`linear` for ``grad_out`` ``[M, out]``; returns the input's (if ``need_input``).

        ``values`` and ``x_t`` are what :meth:`linear` gave (``x`` the input,
        used where ``x_t`` is None). ``grad_weight``, if given, is a contiguous
        ``[out, in]`` tensor of any content that receives the weight gradient:
        the kept positions' values, zero elsewhere.
        """
        kernels = self._kernels(grad_out.dtype)
        n_out, n_in = self.shape
        if kernels is not None:
            grad_x = grad_out.new_empty(grad_out.shape[0], n_in) if need_input else None
            grad_out, x_t = _rows_contiguous(grad_out), transposed(x) if x_t is None else x_t
            failed = kernels[1](
                grad_out.shape[0], n_in, n_out, len(self.blocks), self._plan[1], values.data_ptr(),
                grad_out.data_ptr(), grad_out.stride(0), x_t.data_ptr(), _address(grad_x), n_in,
                _address(grad_weight), n_in,
            )  # fmt: skip
            if failed:
                raise MemoryError("no memory for the sparse backward pass's temporaries")
            return grad_x
        grad_x = grad_out.new_empty(grad_out.shape[0], n_in) if need_input else None
        kept = None
        for rows in _chunks(grad_out.shape[0]):
            columns = transposed(grad_out[rows])  # [out, C]
            if need_input:
                grad_x[rows] = self.product_t(values, columns).t()  # [C, in]
            if grad_weight is not None and self.nnz:
                right_t = x_t if x_t is not None else transposed(x[rows])  # [in, C]
                kept = self.sampled(columns, right_t, into=kept)  # [nnz]
        if grad_weight is not None:
            grad_weight.zero_()
            if kept is not None:
                grad_weight.view(-1).index_copy_(0, self.flat, kept)
        return grad_x

    def _linear_native(
        self, linear, x, weight, bias, values, *, given_t: bool = False, want_t: bool = False, relu: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`linear` on the compiled kernel: one call turns the batch, runs every block, turns the result."""
        n_out, n_in = self.shape
        batch = x.shape[1] if given_t else x.shape[0]
        x, weight = _rows_contiguous(x), _rows_contiguous(weight)
        if bias is not None and not bias.is_contiguous():
            bias = bias.contiguous()
        out = x.new_empty(n_out, batch) if want_t else x.new_empty(batch, n_out)
        x_t = None if values is None else x.new_empty(n_in, batch)  # kept for the backward pass
        flags = (1 if given_t else 0) | (2 if want_t else 0) | (4 if relu else 0)
        failed = linear(
            batch, n_in, n_out, len(self.blocks), self._plan[1], None if values is None else values.data_ptr(),
            weight.data_ptr(), weight.stride(0), x.data_ptr(), x.stride(0), None if x_t is None else x_t.data_ptr(),
            None if bias is None else bias.data_ptr(), out.data_ptr(), out.stride(0), flags,
        )  # fmt: skip
        if failed:
            raise MemoryError("no memory for the sparse product's temporaries")
        return out, x_t

    def compiled(self, dtype: torch.dtype) -> bool:
        """Whether this pattern's products run on the compiled kernels for weights of ``dtype``."""
        return self._kernels(dtype) is not None

    def chain_link(
        self,
        h: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        *,
        given_t: bool,
        want_t: bool,
        relu: bool,
    ) -> torch.Tensor:
        """One layer of an inference chain on the compiled kernels (see :meth:`compiled`).

        ``h`` is ``[M, in]``, or ``[in, M]`` with ``given_t``; the result is
        ``F.linear(h, weight * mask, bias)`` (then ReLU with ``relu``), ``[M, out]``
        or ``[out, M]`` with ``want_t``. Layers that pass the transposed layout to
        each other skip two transposes each. No graph is recorded.
        """
        linear = self._kernels(weight.dtype)[0]
        return self._linear_native(linear, h, weight, bias, None, given_t=given_t, want_t=want_t, relu=relu)[0]

    # --------------------------------------------------------------------- torch's products (the fallback)

    def product(self, values: torch.Tensor, dense: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``bias[:, None] + W @ dense`` on torch's CSR products, ``W`` the ``[out, in]`` matrix of ``values``.

        ``values``: ``[nnz]`` in block order; ``dense``: ``[in, M]`` contiguous. Returns ``[out, M]``.
        """
        n_out = self.shape[0]
        out = None
        for first, last, start, stop, crow, col in self.blocks:
            if start == stop:
                continue
            block = csr_tensor(crow, col, values[start:stop], (n_out, last - first))
            if out is None:
                part = dense[first:last]
                out = torch.mm(block, part) if bias is None else torch.addmm(bias.unsqueeze(1), block, part)
            else:
                out.addmm_(block, dense[first:last])
        if out is None:  # nothing kept
            out = dense.new_zeros(n_out, dense.shape[1])
            if bias is not None:
                out += bias[:, None]
        return out

    @cached_property
    def _blocks_t(self) -> tuple[list[tuple], torch.Tensor]:
        """The transpose for torch's products: per block of output rows ``(first row, last row + 1, first
        value, last value + 1, row pointers [in + 1], columns within the block)`` in CSR, and the block-order
        position of every one of its values."""
        n_out, n_in = self.shape
        block = self.blocks[0][1] - self.blocks[0][0] if self.blocks else BLOCK
        rows, cols = self.flat // n_in, self.flat % n_in  # block order
        order_t = torch.sort((rows // block) * n_in * n_out + cols * n_out + rows).indices
        rows_t, cols_t = rows[order_t], cols[order_t]
        index = self.blocks[0][4].dtype if self.blocks else torch.int64
        cuts = _csr_rows(rows_t // block, -(-n_out // block)).tolist()
        blocks_t = []
        for k, (start, stop) in enumerate(itertools.pairwise(cuts)):
            if start == stop:
                continue
            first, last = k * block, min((k + 1) * block, n_out)
            crow = _csr_rows(cols_t[start:stop], n_in).to(index)
            blocks_t.append((first, last, start, stop, crow, (rows_t[start:stop] - first).to(index)))
        return blocks_t, order_t.to(index)

    def product_t(self, values: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        """``W.T @ dense`` on torch's CSR products (``dense``: ``[out, M]`` contiguous); returns ``[in, M]``."""
        n_in = self.shape[1]
        blocks_t, perm_t = self._blocks_t
        values_t = values.index_select(0, perm_t)
        out = None
        for first, last, start, stop, crow, col in blocks_t:
            block = csr_tensor(crow, col, values_t[start:stop], (n_in, last - first))
            out = torch.mm(block, dense[first:last]) if out is None else out.addmm_(block, dense[first:last])
        return out if out is not None else dense.new_zeros(n_in, dense.shape[1])

    def sampled(self, left: torch.Tensor, right_t: torch.Tensor, into: torch.Tensor | None = None) -> torch.Tensor:
        """``left @ right_t.T`` at the kept positions in block order (torch's ``sampled_addmm``), added to ``into``.

        ``left``: ``[out, M]`` and ``right_t``: ``[in, M]``, both contiguous.
        Returns ``[nnz]`` (``into`` itself when given).
        """
        kept = left.new_zeros(self.nnz) if into is None else into  # zeros: beta = 0 scales what is there
        beta = 0.0 if into is None else 1.0
        n_out = self.shape[0]
        for first, last, start, stop, crow, col in self.blocks:
            if start == stop:
                continue
            part = csr_tensor(crow, col, kept[start:stop], (n_out, last - first))
            torch.sparse.sampled_addmm(part, left, right_t[first:last].t(), beta=beta, out=part)
        return kept


def sparse_pattern(mask: torch.Tensor, *, block: int | None = None) -> SparsePattern:
    """The :class:`SparsePattern` of a 2-D bool ``mask``.

    ``block`` defaults to :data:`BLOCK`. Indices are int32 where they fit (the
    compiled kernels need them, and MKL's products are faster with them), else
    int64.
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
        first, last = k * block, min((k + 1) * block, n_in)
        crow = _csr_rows(rows_b[start:stop], n_out).to(index)
        blocks.append((first, last, start, stop, crow, (cols_b[start:stop] - first).to(index)))
    return SparsePattern((n_out, n_in), rows_b * n_in + cols_b, blocks)


def kept_values(weight: torch.Tensor, pattern: SparsePattern, out: torch.Tensor | None = None) -> torch.Tensor:
    """``[nnz]`` the kept weights in block order, gathered on every call (into ``out`` when given).

    Not cached between calls: a write through ``weight.data`` moves no version
    counter, so a cache could not tell that the weights changed.
    """
    with torch.no_grad():
        source = weight.view(-1) if weight.is_contiguous() else weight.flatten()
        return torch.index_select(source, 0, pattern.flat, out=out) if out is not None else source[pattern.flat]
