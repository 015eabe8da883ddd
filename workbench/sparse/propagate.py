"""The forward and backward pass of a DAN's hidden generations as one autograd node.

:class:`~workbench.sparse.MaskedDeepDAN` computes generation after generation
of a DAG; with one autograd node per operation, a 10,000-vertex graph makes a
few hundred small nodes whose backward passes each allocate and zero a
``[B, N]`` gradient. :class:`DagPropagation` does the same arithmetic in one
node. Activations live in one ``[N, B]`` matrix (neurons as rows, so reading a
neuron reads one contiguous row). Generation ``g`` is one sparse product
``act(W_g @ h + b_g)`` with the block's masked weights as a CSR matrix. The
backward pass walks the generations in reverse, accumulating into one
``[N, B]`` gradient in place: through the activation, then one product with
the transposed block (a CSR matrix over the block's distinct sources) added
to its sources' rows. The weight gradients of all edges come last from one
sampled dense-dense product (``torch.sparse.sampled_addmm``): for edge
``u -> v``, the gradient at ``v`` times the activation of ``u``, summed over
the batch. No ``[E, B]`` tensor is ever built.

It computes what the per-block path computes (``MaskedEdgeLayer.forward`` and
the activation module), up to the order of floating-point sums: masked weights
contribute nothing and get a zero gradient. Activations: ``nn.ReLU``,
``nn.LeakyReLU`` with a slope >= 0 and ``nn.Tanh``, whose derivatives come
from the kernels autograd itself uses (:class:`FusedActivation`); first
derivatives only (``create_graph=True`` raises). :meth:`MaskedDeepDAN.forward`
uses the per-block path otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from workbench.sparse import native
from workbench.sparse.buffers import Lease
from workbench.sparse.pattern import csr_tensor  # importing pattern also takes torch's CSR beta warning, silenced

__all__ = ["DagPlan", "DagPropagation", "FusedActivation", "dag_plan", "fused_activation"]

_aten = torch.ops.aten


@dataclass(frozen=True)
class FusedActivation:
    """An activation the fused pass applies in place, with its exact derivative.

    Attributes:
        name: ``"relu"``, ``"leaky_relu"`` or ``"tanh"``.
        slope: ``negative_slope`` of a leaky ReLU (>= 0; 0 otherwise).
    """

    name: str
    slope: float = 0.0

    def forward_(self, rows: torch.Tensor) -> None:
        """Apply the activation to ``rows`` in place."""
        if self.name == "relu":
            rows.relu_()
        elif self.name == "leaky_relu":
            torch.nn.functional.leaky_relu_(rows, self.slope)
        else:
            rows.tanh_()

    def backward_(self, grad: torch.Tensor, out: torch.Tensor) -> None:
        """Turn ``grad`` (w.r.t. the activation's output ``out``) into the gradient w.r.t. its input, in place.

        The kernels are autograd's own: ``threshold_backward``,
        ``leaky_relu_backward`` (from the output, exact for slopes >= 0: the
        output is positive exactly where the input is) and ``tanh_backward``
        (``grad * (1 - out**2)``).
        """
        if self.name == "relu":  # comparisons that make bool tensors are several times slower on CPU
            _aten.threshold_backward.grad_input(grad, out, 0, grad_input=grad)
        elif self.name == "leaky_relu":
            _aten.leaky_relu_backward.grad_input(grad, out, self.slope, True, grad_input=grad)
        else:
            _aten.tanh_backward.grad_input(grad, out, grad_input=grad)


def fused_activation(module: nn.Module) -> FusedActivation | None:
    """The :class:`FusedActivation` computing what ``module`` computes, or ``None``.

    ``nn.ReLU``, ``nn.LeakyReLU`` with ``negative_slope >= 0`` and ``nn.Tanh``
    qualify (not subclasses that override ``forward``, nor modules with hooks).
    """
    if module._forward_hooks or module._forward_pre_hooks:
        return None
    kinds = ((nn.ReLU, "relu"), (nn.LeakyReLU, "leaky_relu"), (nn.Tanh, "tanh"))
    for kind, name in kinds:
        if isinstance(module, kind) and type(module).forward is kind.forward:
            slope = float(module.negative_slope) if name == "leaky_relu" else 0.0
            return FusedActivation(name, slope) if slope >= 0 else None
    return None


@dataclass(frozen=True, eq=False)
class _Generation:
    """Index tensors of one hidden generation (rows ``start:stop`` of ``h``, edges ``first:last``)."""

    start: int
    stop: int
    first: int
    last: int
    crow: torch.Tensor  # [n_g + 1] CSR rows of the block, edges sorted by target
    col: torch.Tensor  # [E_g] source row of every edge
    sources: torch.Tensor | None  # [U_g] int64 distinct source rows, ascending; None: rows low:start
    low: int  # with sources None, the transposed block covers the rows low:start of h
    crow_t: torch.Tensor  # [U_g + 1] or [start - low + 1] CSR rows of the transposed block
    col_t: torch.Tensor  # [E_g] target (within the generation) of every edge, by (source, target)


#: How many edges ahead the compiled kernels prefetch the activation (or gradient) row an edge reads: a DAN's
#: rows lie anywhere in ``[N, B]`` (128 MB at a million edges), so every edge waits on memory without it. On the
#: benchmark machine 16 took the million-edge step's three products from 149 ms to 98 ms.
AHEAD = 16

#: Batch shapes a :class:`DagPlan` keeps a workspace for.
WORKSPACES = 3


@dataclass(eq=False)
class DagPlan:
    """Index tensors of a DAN's blocks, gathered once (see :func:`dag_plan`).

    Attributes:
        bounds: ``[L + 1]`` first row of every generation (``bounds[-1] == N``).
        generations: per hidden generation, its rows, edges and CSR indices.
        perm_t: ``[E]`` edge (in block order) at every position of the transposed blocks.
        crow, col: CSR of all edges as an ``[N - n_0, N]`` matrix (hidden rows by source rows).
        sinks: ``[S]`` rows that feed the output.
        indices: the tensors the plan was gathered from, and their versions
            (:meth:`is_current` compares them).
    """

    bounds: list[int]
    generations: list[_Generation]
    perm_t: torch.Tensor
    crow: torch.Tensor
    col: torch.Tensor
    sinks: torch.Tensor
    indices: tuple[torch.Tensor, ...] = ()
    versions: tuple[int, ...] = ()
    workspace: _Workspace | None = None  # the one lent last
    workspaces: dict = field(default_factory=dict)  # (batch, dtype, device) -> _Workspace, last used last

    @property
    def edge_sizes(self) -> list[int]:
        return [g.last - g.first for g in self.generations]

    def __deepcopy__(self, memo) -> None:
        return None  # a copied model gathers its own plan on first use (CSR tensors cannot be deep-copied)

    def __reduce__(self):
        return type(None), ()  # pickled as None, for the same reason

    def is_current(self, indices: Sequence[torch.Tensor]) -> bool:
        """Whether ``indices`` are the tensors the plan was gathered from, unchanged since."""
        return (
            len(indices) == len(self.indices)
            and all(a is b for a, b in zip(indices, self.indices, strict=True))
            and all(t._version == v for t, v in zip(indices, self.versions, strict=True))
        )

    def borrow(self, like: torch.Tensor) -> _Workspace:
        """The plan's :class:`_Workspace` for a batch like ``like`` (``[n_0, B]``), lent until given back.

        One workspace is kept per batch shape, for the last :data:`WORKSPACES` shapes
        (an app evaluating a test set and a grid of points alternates two). While one is
        lent (a graph that has not run backward yet holds it) a fresh workspace is made
        and kept instead; the graph keeps the old one.
        """
        key = (like.shape[1], like.dtype, like.device)
        space = self.workspaces.pop(key, None)
        if space is None or space.lent:
            space = _Workspace(self, *key)
        self.workspaces[key] = space  # the most recent last
        while len(self.workspaces) > WORKSPACES:
            del self.workspaces[next(iter(self.workspaces))]
        space.lent = True
        self.workspace = space
        return space


def dag_plan(blocks: Sequence, bounds: Sequence[int], sinks: torch.Tensor) -> DagPlan:
    """The :class:`DagPlan` of ``blocks`` (``MaskedEdgeLayer`` s whose edges are sorted by target)."""
    device = sinks.device
    edges = sum(b.source.numel() for b in blocks)
    index = torch.int32 if max(edges, int(bounds[-1])) < 2**31 - 1 else torch.int64
    generations, perms, crows = [], [], [torch.zeros(1, dtype=torch.int64, device=device)]
    first = 0
    for g, block in enumerate(blocks):
        start, stop = int(bounds[g + 1]), int(bounds[g + 2])
        source, target = block.source, block.target
        last = first + source.numel()
        crow = torch.searchsorted(target, torch.arange(stop - start + 1, device=device))
        order = torch.argsort(source * (stop - start) + target)  # by (source, target)
        sources, counts = torch.unique_consecutive(source[order], return_counts=True)
        low = int(sources[0]) if sources.numel() else start
        if start - low <= 3 * sources.numel() + 64:
            # sources close together: the transposed block covers rows low:start and its product is added
            # there in place (one call instead of a product and a scatter; 2x faster while rows <= 3 U_g)
            crow_t, sources = _crow(source[order] - low, start - low), None
        else:
            crow_t = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        generations.append(
            _Generation(start, stop, first, last, crow.to(index), source.to(index), sources, low, crow_t.to(index),
                        target[order].to(index))
        )  # fmt: skip
        perms.append(order + first)
        crows.append(crow[1:] + first)
        first = last
    empty = torch.zeros(0, dtype=torch.int64, device=device)
    perm_t = torch.cat(perms) if perms else empty
    col = torch.cat([b.source for b in blocks]) if blocks else empty
    indices = (*(t for b in blocks for t in (b.source, b.target)), sinks)
    return DagPlan(
        list(bounds), generations, perm_t.to(index), torch.cat(crows).to(index), col.to(index), sinks,
        indices, tuple(t._version for t in indices),
    )  # fmt: skip


def _crow(rows: torch.Tensor, count: int) -> torch.Tensor:
    """CSR row pointers ``[count + 1]`` of sorted row indices."""
    crow = torch.zeros(count + 1, dtype=torch.int64, device=rows.device)
    crow[1:] = torch.bincount(rows, minlength=count).cumsum(0)
    return crow


class _Workspace:
    """Buffers of one fused pass and its backward, with every view and CSR matrix built once.

    A step then costs two calls per generation forward and three backward,
    instead of building a dozen small tensors per generation. ``h`` and
    ``values`` are saved for backward, so autograd's version check guards them:
    a retained graph whose workspace a later forward pass reused raises instead
    of computing with changed values.
    """

    def __init__(self, plan: DagPlan, batch: int, dtype: torch.dtype, device: torch.device) -> None:
        n, sources, edges = plan.bounds[-1], plan.bounds[1], int(plan.perm_t.numel())
        new = {"dtype": dtype, "device": device}
        self.batch, self.dtype, self.device, self.lent = batch, dtype, device, False
        self.h, self.grad = torch.empty(n, batch, **new), torch.empty(n, batch, **new)  # [N, B]
        self.weights, self.values, self.values_t = (torch.empty(edges, **new) for _ in range(3))
        self.products, self.bias, self.zero = (
            torch.empty(edges, **new),
            torch.empty(n - sources, 1, **new),
            torch.zeros((), **new),
        )
        widest = max((g.sources.numel() for g in plan.generations if g.sources is not None), default=0)
        tmp = torch.empty(widest, batch, **new)
        self.forward_steps, self.backward_steps = [], []
        for g in plan.generations:
            shape = (g.stop - g.start, g.start)
            rows = (self.h[g.start : g.stop], self.grad[g.start : g.stop])
            self.forward_steps.append(
                (csr_tensor(g.crow, g.col, self.values[g.first : g.last], shape), self.h[: g.start], rows[0])
            )
            into = g.start - g.low if g.sources is None else g.sources.numel()  # rows of the transposed block
            matrix_t = csr_tensor(g.crow_t, g.col_t, self.values_t[g.first : g.last], (into, shape[0]))
            target = self.grad[g.low : g.start] if g.sources is None else tmp[:into]
            self.backward_steps.append((matrix_t, rows[1], rows[0], g.sources, target))
        self.pattern = csr_tensor(plan.crow, plan.col, self.products, (n - sources, n))
        compiled = device.type == "cpu" and plan.col.dtype == torch.int32
        self.compiled = _CompiledSteps.of(self, plan) if compiled else None

    def fits(self, batch: int, dtype: torch.dtype, device: torch.device) -> bool:
        return self.batch == batch and self.dtype == dtype and self.device == device

    def give_back(self) -> None:
        self.lent = False


@dataclass(frozen=True)
class _CompiledSteps:
    """A workspace's generations as the compiled kernels take them (addresses of its buffers and the plan's
    indices, which both outlive it), where there are kernels for its dtype.

    Forward, generation ``g`` adds ``W_g @ h[:start]`` to its rows with the strip
    kernel; backward, the transposed product is scattered straight into the
    sources' gradient rows (no transposed blocks, no gather of the values into
    their order); the edges' weight gradients come from one pass of dot products.
    """

    spmm: object
    spmm_t: object
    sddmm_values: object
    forward: list[tuple]  # (rows, crow, col, values, out address, bias address, rows view) per generation
    backward: list[tuple]  # (rows, crow, col, values, gradient rows address) per generation

    @staticmethod
    def of(space: _Workspace, plan: DagPlan) -> _CompiledSteps | None:
        spmm, spmm_t, sddmm = (native.kernel(stem, space.dtype) for stem in ("spmm", "spmm_t", "sddmm_values"))
        if spmm is None:
            return None
        size, batch = space.h.element_size(), space.batch
        h, grad, values = space.h.data_ptr(), space.grad.data_ptr(), space.values.data_ptr()
        bias, sources = space.bias.data_ptr(), plan.bounds[1]  # bias: [N - n_0, 1], the hidden rows' biases
        forward, backward = [], []
        for g, (_, _, rows) in zip(plan.generations, space.forward_steps, strict=True):
            common = (g.stop - g.start, g.crow.data_ptr(), g.col.data_ptr(), values + g.first * size)
            forward.append((*common, h + g.start * batch * size, bias + (g.start - sources) * size, rows))
            backward.append((*common, grad + g.start * batch * size))
        return _CompiledSteps(spmm, spmm_t, sddmm, forward, backward)


class DagPropagation(torch.autograd.Function):
    """The sinks' activations (``[S, B]``) from the sources' activations (``[n_0, B]``).

    ``apply(first, plan, activation, masks, *weights, *biases)`` with ``first``
    the ``[n_0, B]`` activations of generation 0, ``plan`` a :class:`DagPlan`,
    ``activation`` a :class:`FusedActivation`, ``masks`` the ``[E]`` bool masks
    of all blocks concatenated, then the blocks' weights and biases in block
    order. Generation ``g`` is ``act(W_g @ h[:bounds[g]] + b_g)`` with ``W_g``
    the block's masked weights as a CSR matrix.
    """

    @staticmethod
    def forward(ctx, first, plan: DagPlan, activation: FusedActivation, masks, *params):
        count = len(plan.generations)
        weights, biases = params[:count], params[count:]
        space = plan.borrow(first)
        ctx.lease = Lease(space.give_back)  # freed with the graph (or at once without one)
        h = space.h  # [N, B], one row per neuron
        h[: plan.bounds[1]].copy_(first)
        if count:
            torch.where(masks, torch.cat(weights, out=space.weights), space.zero, out=space.values)  # [E] masked
            torch.cat(biases, out=space.bias.view(-1))
            if space.compiled is None:
                h[plan.bounds[1] :].copy_(space.bias)  # [N - n_0, B]: every hidden row starts at its bias
        compiled: _CompiledSteps | None = space.compiled
        if compiled is not None:
            batch, h_address = space.batch, h.data_ptr()
            relu = int(activation.name == "relu")  # inside the kernel, as each row is stored
            for n_g, crow, col, values, out, bias, rows in compiled.forward:  # each row: its bias + its edges
                compiled.spmm(
                    n_g, batch, crow, col, values, None, 0, h_address, batch, bias, out, batch, 0, relu, AHEAD
                )
                if not relu:
                    activation.forward_(rows)
        else:
            for matrix, inputs, rows in space.forward_steps:
                rows.addmm_(matrix, inputs)  # [n_g, B] += W_g @ h[:start]
                activation.forward_(rows)
        ctx.save_for_backward(h, space.values, masks)
        ctx.plan, ctx.activation, ctx.space = plan, activation, space
        return h.index_select(0, plan.sinks)  # [S, B]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_sinks):
        h, values, masks = ctx.saved_tensors
        plan: DagPlan = ctx.plan
        space: _Workspace = ctx.space
        activation: FusedActivation = ctx.activation
        count, sources = len(plan.generations), plan.bounds[1]
        grad = space.grad.zero_()  # [N, B]; a hidden row ends as the gradient before its activation
        grad.index_add_(0, plan.sinks, grad_sinks)
        compiled: _CompiledSteps | None = space.compiled
        if compiled is not None:
            batch, grad_address = space.batch, grad.data_ptr()
            for (n_g, crow, col, values_g, rows_address), (_, rows, out_rows, _, _) in zip(
                reversed(compiled.backward), reversed(space.backward_steps), strict=True
            ):
                activation.backward_(rows, out_rows)
                # grad[source] += w * grad[target] for every edge, scattered into the sources' rows
                compiled.spmm_t(n_g, 0, batch, crow, col, values_g, rows_address, batch, grad_address, batch, AHEAD)
        else:
            torch.index_select(values, 0, plan.perm_t, out=space.values_t)  # [E] in the transposed blocks' order
            for matrix_t, rows, out_rows, sources_g, target in reversed(space.backward_steps):
                activation.backward_(rows, out_rows)
                if sources_g is None:
                    target.addmm_(matrix_t, rows)  # [start - low, B] += W_g.T @ rows
                else:
                    grad.index_add_(0, sources_g, torch.mm(matrix_t, rows, out=target))  # [U_g, B] into the sources
        grad_weights: list[torch.Tensor | None] = [None] * count
        grad_biases: list[torch.Tensor | None] = [None] * count
        need_weights, need_biases = (
            count and any(ctx.needs_input_grad[4 : 4 + count]),
            count and any(ctx.needs_input_grad[4 + count :]),
        )
        sums = None
        if need_weights:
            if compiled is not None:  # the bias gradients (row sums) come with it
                sums = grad.new_empty(plan.bounds[-1] - sources) if need_biases else None
                compiled.sddmm_values(
                    plan.bounds[-1] - sources, space.batch, plan.crow.data_ptr(), plan.col.data_ptr(),
                    grad[sources:].data_ptr(), space.batch, h.data_ptr(), space.batch, space.products.data_ptr(),
                    None if sums is None else sums.data_ptr(), AHEAD,
                )  # fmt: skip
                torch.autograd.graph.increment_version(space.products)
            else:
                space.products.zero_()  # sampled_addmm scales what is there by beta = 0
                torch.sparse.sampled_addmm(space.pattern, grad[sources:], h.t(), beta=0.0, out=space.pattern)
            grad_weights = list(torch.where(masks, space.products, 0.0).split(plan.edge_sizes))
        if need_biases:
            sums = grad[sources:].sum(1) if sums is None else sums
            grad_biases = list(sums.split(_sizes(plan.bounds[1:])))
        grad_first = grad[:sources].clone()  # the workspace is reused: hand out a copy
        space.give_back()
        return grad_first, None, None, None, *grad_weights, *grad_biases


def _sizes(bounds: Sequence[int]) -> list[int]:
    return [b - a for a, b in itertools.pairwise(bounds)]
