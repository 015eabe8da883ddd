"""What the Inspect tab draws: the design and the graph re-extracted from the (pruned) model (pure).

The extraction is :class:`~workbench.transform.GraphTransform` of the model,
at neuron, channel or module level. Both views share one layered drawing of
the design (positions and routed edges), so an edge that pruning removed sits
where it was, drawn faded and dashed, and no edge passes through a vertex
that is not one of its ends. Kept edges are coloured by the sign of their
weight and widened by its magnitude; vertices that lost every path from an
input or to an output are dead.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import networkx as nx
import torch
from torch import nn

from workbench.app.state.analysis import dead_vertices, edge_weights, graph_counts
from workbench.app.state.layout import Drawing, layered_drawing
from workbench.app.state.workspace import all_masks_on
from workbench.errors import WorkbenchError
from workbench.graph import edge_count
from workbench.limits import DEFAULT_LIMITS, Limits, check_extraction_edges
from workbench.transform import GraphTransform

__all__ = [
    "SESSION_MODEL",
    "InspectView",
    "conv_sample_options",
    "extract",
    "incoming",
    "inspect_view",
    "sample_view",
]

#: The Inspect panel's model choice meaning "the session's model" (the other choices are conv sample names).
SESSION_MODEL = "session"

#: Above this many edges the input and output neurons are left out of the drawing.
MAX_DRAWN_EDGES = 12000


@dataclass
class InspectView:
    design: nx.DiGraph  # every designed connection, inputs and outputs included
    extracted: nx.DiGraph  # what the model keeps
    weights: dict
    dead: set
    inputs: set
    outputs: set
    drawing: Drawing = field(default_factory=Drawing)  # of the drawn part of the design
    shown: set = field(default_factory=set)  # vertices drawn

    def counts(self) -> dict[str, dict[str, int]]:
        before = graph_counts(self.design)
        after = graph_counts(self.extracted)
        before["dead"], after["dead"] = 0, len(self.dead)
        return {"design": before, "extracted": after}


def extract(
    model: nn.Module, example: torch.Tensor, granularity: str = "neuron", *, limits: Limits = DEFAULT_LIMITS
) -> nx.DiGraph:
    """``GraphTransform`` of ``model`` at ``granularity`` (the model is not changed).

    Raises:
        ExtractionError: the model or the granularity is not supported.
        LimitError: the graph's estimate is over ``limits.max_extraction_edges`` (checked before it is
            built; the message suggests a coarser granularity).
    """
    transform = GraphTransform(example, granularity=granularity)
    check_extraction_edges(transform.estimate(model).edges, limits, granularity=granularity)
    return transform.transform(model)


def inspect_view(
    model: nn.Module,
    design_model: nn.Module,
    example: torch.Tensor,
    *,
    granularity: str = "neuron",
    show_io: bool = True,
    limits: Limits = DEFAULT_LIMITS,
) -> InspectView:
    """Extract the design (``design_model``: every mask on) and ``model`` and compare them."""
    design = extract(design_model, example, granularity, limits=limits)
    extracted = extract(model, example, granularity, limits=limits)
    inputs = {v for v, d in design.in_degree() if d == 0}
    outputs = {v for v, d in design.out_degree() if d == 0}
    weights = _weights(design, design_model if granularity == "neuron" else None)
    dead = dead_vertices(extracted, inputs, outputs)
    shown = set(design.nodes)
    if not show_io or edge_count(design) > MAX_DRAWN_EDGES:
        shown -= inputs | outputs
    drawn = design.subgraph([v for v in design.nodes if v in shown])
    return InspectView(design, extracted, weights, dead, inputs, outputs, layered_drawing(nx.DiGraph(drawn)), shown)


def conv_sample_options() -> list[dict]:
    """Options of the Inspect panel's model chooser: the session's model, then every convolutional sample."""
    from workbench import samples

    try:
        names = samples.list_samples(kind="conv")
    except WorkbenchError:
        names = []
    options = [{"label": "the model you built or loaded", "value": SESSION_MODEL}]
    return options + [{"label": f"sample CNN {name} (trained on digits)", "value": name} for name in names]


def sample_view(name: str, *, granularity: str = "channel", show_io: bool = True) -> tuple[InspectView, str]:
    """The Inspect view of the convolutional sample ``name`` and a line saying what it shows.

    A conv sample has no masks, so the design and the extracted graph agree.

    Raises:
        CheckpointError: unknown or broken sample; ExtractionError: the granularity is not supported.
    """
    from workbench import samples

    sample = samples.load_sample(name)
    view = inspect_view(sample.model, sample.model, sample.example_input(), granularity=granularity, show_io=show_io)
    meta = sample.metadata
    shape = "×".join(map(str, meta.get("input_shape", ())))
    accuracy = meta.get("test_accuracy")
    trained = f", {accuracy:.1%} test accuracy on {meta.get('dataset')}" if accuracy is not None else ""
    source = (
        f"Showing the sample CNN {name} ({shape} input{trained}) at {granularity} level; "
        "it has no masks, so both sides agree. Design and training keep your own model."
    )
    return view, source


def _weights(design: nx.DiGraph, model: nn.Module | None) -> dict:
    """Weight of every designed edge: the extraction's ``weight`` attribute, else read from ``model``.

    ``design`` comes from a copy of the model with every mask on, so removed edges keep their weights.
    """
    weights = {}
    for u, v, data in design.edges(data=True):
        w = data.get("weight") if hasattr(data, "get") else None
        if w is not None:
            weights[(u, v)] = float(w)
    if len(weights) < edge_count(design) and model is not None:
        weights = {**edge_weights(model), **weights}
    return weights


def incoming(view: InspectView, vertex) -> list[tuple[object, float | None, bool]]:
    """``(source, weight, kept)`` for every designed connection into ``vertex``, largest |w| first."""
    rows = [
        (u, view.weights.get((u, vertex)), view.extracted.has_edge(u, vertex)) for u in view.design.predecessors(vertex)
    ]
    return sorted(rows, key=lambda r: -abs(r[1]) if r[1] is not None else 0.0)


def session_inspect(session, *, granularity: str = "neuron", show_io: bool = True) -> tuple[InspectView, str] | None:
    """The Inspect view of the session's model with the masks the views show, and a line saying which.

    Returns None when there is no model.

    Raises:
        ExtractionError: the granularity is not supported for this model, or the graph is too large.
    """
    ws = session.workspace
    model = ws.view_model()
    if model is None:
        return None
    with ws.weights_lock():
        designed = copy.deepcopy(model).cpu()
        all_masks_on(designed)
        example = torch.zeros(1, *(getattr(model, "input_shape", None) or (ws.dataset.n_features,)))
        view = inspect_view(model, designed, example, granularity=granularity, show_io=show_io, limits=session.limits)
    if ws.previewing:
        unit = "%" if ws.prune.mode == "percent" else " |w|"
        source = f"Showing the slider's preview ({ws.prune.value:g}{unit}), not applied yet."
    else:
        source = "Showing the model's masks."
    return view, source
