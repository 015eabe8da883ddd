"""What the Inspect panel draws: the design and the graph re-extracted from the (pruned) model (pure).

Both views share one set of positions (the layered layout of the design), so
an edge that pruning removed sits where it was, drawn faded and dashed. Kept
edges are coloured by the sign of their weight and widened by its magnitude;
vertices that lost every path from an input or to an output are dead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import torch
from torch import nn

from workbench.app.analysis import dead_vertices, edge_weights, graph_counts
from workbench.app.elements import graph_to_elements, layered_positions
from workbench.errors import ExtractionError, WorkbenchError
from workbench.transform import GraphTransform

__all__ = [
    "SESSION_MODEL",
    "InspectView",
    "conv_sample_options",
    "extract",
    "inspect_view",
    "sample_view",
    "view_elements",
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
    positions: dict = field(default_factory=dict)
    shown: set = field(default_factory=set)  # vertices drawn

    def counts(self) -> dict[str, dict[str, int]]:
        before = graph_counts(self.design)
        after = graph_counts(self.extracted)
        before["dead"], after["dead"] = 0, len(self.dead)
        return {"design": before, "extracted": after}


def extract(model: nn.Module, example: torch.Tensor, granularity: str = "neuron") -> nx.DiGraph:
    """``GraphTransform`` of ``model`` at ``granularity`` (the model is not changed).

    Raises:
        ExtractionError: the model or the granularity is not supported.
    """
    if granularity == "neuron":
        return GraphTransform(example).transform(model)
    try:
        transform = GraphTransform(example, granularity=granularity)
    except TypeError as err:
        raise ExtractionError(f"{granularity!r} granularity is not available in this GraphTransform yet") from err
    return transform.transform(model)


def inspect_view(
    model: nn.Module,
    design_model: nn.Module,
    example: torch.Tensor,
    *,
    granularity: str = "neuron",
    show_io: bool = True,
) -> InspectView:
    """Extract the design (``design_model``: every mask on) and ``model`` and compare them."""
    design = extract(design_model, example, granularity)
    extracted = extract(model, example, granularity)
    inputs = {v for v, d in design.in_degree() if d == 0}
    outputs = {v for v, d in design.out_degree() if d == 0}
    weights = _weights(design, design_model if granularity == "neuron" else None)
    dead = dead_vertices(extracted, inputs, outputs)
    shown = set(design.nodes)
    if not show_io or design.number_of_edges() > MAX_DRAWN_EDGES:
        shown -= inputs | outputs
    drawn = design.subgraph([v for v in design.nodes if v in shown])
    positions = layered_positions(nx.DiGraph(drawn))
    return InspectView(design, extracted, weights, dead, inputs, outputs, positions, shown)


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
    if len(weights) < design.number_of_edges() and model is not None:
        weights = {**edge_weights(model), **weights}
    return weights


def view_elements(view: InspectView, *, which: str) -> list[dict]:
    """Cytoscape elements of the ``"design"`` or the ``"extracted"`` view."""
    graph = view.design.subgraph([v for v in view.design.nodes if v in view.shown])
    node_classes = {}
    for v in graph.nodes:
        role = "input" if v in view.inputs else "output" if v in view.outputs else ""
        dead = "dead" if which == "extracted" and v in view.dead else ""
        if role or dead:
            node_classes[v] = f"{role} {dead}".strip()
    if which == "design":
        return graph_to_elements(graph, view.positions, node_classes=node_classes)
    top = max((abs(w) for w in view.weights.values()), default=0.0) or 1.0
    edge_classes, edge_data = {}, {}
    for e in graph.edges:
        if not view.extracted.has_edge(*e):
            edge_classes[e] = "removed"
            continue
        w = view.weights.get(e)
        if w is not None:
            edge_classes[e] = "pos" if w >= 0 else "neg"
            edge_data[e] = {"w": round(0.6 + 4.4 * abs(w) / top, 2), "weight": round(float(w), 4)}
    return graph_to_elements(
        graph, view.positions, node_classes=node_classes, edge_classes=edge_classes, edge_data=edge_data
    )


def incoming(view: InspectView, vertex) -> list[tuple[object, float | None, bool]]:
    """``(source, weight, kept)`` for every designed connection into ``vertex``, largest |w| first."""
    rows = [
        (u, view.weights.get((u, vertex)), view.extracted.has_edge(u, vertex)) for u in view.design.predecessors(vertex)
    ]
    return sorted(rows, key=lambda r: -abs(r[1]) if r[1] is not None else 0.0)
