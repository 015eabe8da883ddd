"""The forward and backward pass of a DAN's hidden generations as one autograd node.

:class:`~workbench.sparse.MaskedDeepDAN` computes generation after generation
of a DAG; with one autograd node per operation, a 10,000-vertex graph makes a
few hundred small nodes whose backward passes each allocate and zero a
``[B, N]`` gradient. :class:`DagPropagation` does the same arithmetic in one
node: activations live in one ``[N, B]`` matrix (neurons as rows, so gathering
a neuron copies one contiguous row), each generation is one sparse CSR
matrix product ``W_g @ h`` plus bias and ReLU, and the backward pass walks the
generations in reverse, accumulating into one ``[N, B]`` gradient in place.

It computes what the per-block path computes (``MaskedEdgeLayer.forward`` and
``nn.ReLU``), up to the order of floating-point sums: masked weights
contribute nothing and get a zero gradient. It supports ReLU activations and
first derivatives (``create_graph=True`` raises); :meth:`MaskedDeepDAN.forward`
uses the per-block path otherwise.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

__all__ = ["DagPlan", "DagPropagation", "dag_plan"]

# Torch warns once per process that CSR tensors are "in beta" the first time one is
# built; the products used here are stable, so take that warning here, silenced.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    torch.sparse_csr_tensor(torch.tensor([0, 1]), torch.tensor([0]), torch.ones(1), (1, 1), check_invariants=False)


@dataclass(frozen=True, eq=False)
class DagPlan:
    """Index tensors of a DAN's blocks, gathered once (see :func:`dag_plan`).

    Attributes:
        bounds: ``[L + 1]`` first row of every generation (``bounds[-1] == N``).
        edge_bounds: ``[L]`` first edge of every block in the concatenation.
        offsets: CSR row pointers of every block (edges sorted by target).
        source: ``[E]`` rows that every edge reads, blocks concatenated.
        local_target: every block's targets (positions within its generation).
        sinks: ``[S]`` rows that feed the output.
    """

    bounds: list[int]
    edge_bounds: list[int]
    offsets: list[torch.Tensor]
    source: torch.Tensor
    local_target: list[torch.Tensor]
    sinks: torch.Tensor


def dag_plan(blocks: Sequence, bounds: Sequence[int], sinks: torch.Tensor) -> DagPlan:
    """The :class:`DagPlan` of ``blocks`` (``MaskedEdgeLayer`` s whose targets are sorted)."""
    sizes = [b.source.numel() for b in blocks]
    edge_bounds = [0, *itertools.accumulate(sizes)]
    offsets = [torch.searchsorted(b.target, torch.arange(b.num_targets + 1, device=b.target.device)) for b in blocks]
    device = sinks.device
    empty = torch.zeros(0, dtype=torch.long, device=device)
    source = torch.cat([b.source for b in blocks]) if blocks else empty
    return DagPlan(list(bounds), edge_bounds, offsets, source, [b.target for b in blocks], sinks)


class DagPropagation(torch.autograd.Function):
    """The sinks' activations (``[S, B]``) from the sources' activations (``[n_0, B]``).

    ``apply(first, plan, masks, *weights, *biases)`` with ``first`` the ``[n_0, B]``
    activations of generation 0, ``plan`` a :class:`DagPlan`, ``masks`` the
    ``[E]`` bool masks of all blocks concatenated, then the blocks' weights and
    biases in block order. Generation ``g`` is ``relu(W_g @ h[:bounds[g]] + b_g)``
    with ``W_g`` the block's masked weights as a CSR matrix.
    """

    @staticmethod
    def forward(ctx, first, plan: DagPlan, masks, *params):
        count = len(plan.offsets)
        weights, biases = params[:count], params[count:]
        bounds, edges = plan.bounds, plan.edge_bounds
        values = torch.where(masks, torch.cat(weights), 0.0) if count else first.new_zeros(0)  # [E] masked
        h = first.new_empty(bounds[-1], first.shape[1])  # [N, B], one row per neuron
        h[: bounds[1]] = first
        for g in range(count):
            start, stop = bounds[g + 1], bounds[g + 2]
            matrix = torch.sparse_csr_tensor(
                plan.offsets[g],
                plan.source[edges[g] : edges[g + 1]],
                values[edges[g] : edges[g + 1]],
                (stop - start, start),
                check_invariants=False,
            )
            torch.addmm(biases[g].unsqueeze(1), matrix, h[:start], out=h[start:stop])  # [n_g, B]
            h[start:stop].relu_()
        ctx.save_for_backward(h, values, masks)
        ctx.plan = plan
        return h.index_select(0, plan.sinks)  # [S, B]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_sinks):
        h, values, masks = ctx.saved_tensors
        plan = ctx.plan
        bounds, edges, count = plan.bounds, plan.edge_bounds, len(plan.offsets)
        grad = torch.zeros_like(h)  # [N, B]; a hidden row ends as the gradient before its ReLU
        grad.index_add_(0, plan.sinks, grad_sinks)
        need_weights = count > 0 and any(ctx.needs_input_grad[3 : 3 + count])
        products = h.new_empty(plan.source.numel()) if need_weights else None  # [E] weight gradients
        for g in reversed(range(count)):
            start, stop = bounds[g + 1], bounds[g + 2]
            first_edge, last_edge = edges[g], edges[g + 1]
            rows = grad[start:stop]  # [n_g, B]
            # through the ReLU, in place (what relu's own backward computes; comparisons
            # that make bool tensors are several times slower on CPU)
            torch.ops.aten.threshold_backward.grad_input(rows, h[start:stop], 0, grad_input=rows)
            spread = rows.index_select(0, plan.local_target[g])  # [E_g, B] gradient at each edge's head
            source = plan.source[first_edge:last_edge]
            if need_weights:  # while spread is in cache: one generation at a time beats one pass over all
                torch.sum(spread * h.index_select(0, source), 1, out=products[first_edge:last_edge])
            grad.index_add_(0, source, spread.mul_(values[first_edge:last_edge].unsqueeze(1)))
        grad_weights: list[torch.Tensor | None] = [None] * count
        grad_biases: list[torch.Tensor | None] = [None] * count
        if need_weights:
            grad_weights = list(torch.where(masks, products, 0.0).split(_sizes(edges)))
        if count and any(ctx.needs_input_grad[3 + count :]):
            grad_biases = list(grad[bounds[1] :].sum(1).split(_sizes(bounds[1:])))
        return grad[: bounds[1]], None, None, *grad_weights, *grad_biases


def _sizes(bounds: Sequence[int]) -> list[int]:
    return [b - a for a, b in itertools.pairwise(bounds)]
