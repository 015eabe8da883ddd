"""Exact rules for this package's masked models, read from their masks.

``MaskedDeepFFN`` and ``MaskedDeepDAN`` are leaves of the extraction: their
forward passes (input flattening, a DAN's slice writes per generation) are not
traced; their graphs come straight from the masks. At neuron granularity a
neuron is one vertex (every input feature, every hidden neuron, every output)
and every unmasked weight is one edge, whatever its value (the mask is the
design; a ``threshold`` still drops small weights when the caller asks).
Normalisation and activations inside them map a neuron to itself.

Vertex labels, when the model is the one being extracted: a feed-forward net
numbers its neurons ``0, 1, ...`` layer by layer, input first (the labels of
``generate_structure(include_input=True, include_output=True)``); a DAN keeps
the design's labels for its neurons and labels the input features
``("input", i)`` and the outputs ``("output", j)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from workbench.errors import ExtractionError
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN
from workbench.transform.blocks import Extraction, Ids
from workbench.transform.rules import linear, weight_numpy

__all__ = ["dan", "ffn", "flat_input"]


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def flat_input(x: Ids, features: int, what: str) -> Ids:
    """``x`` flattened to ``[1, features]`` as the model's ``flatten_input`` does."""
    if x.t.numel() != features:
        raise ExtractionError(f"{what} expects {features} input features, got an input of shape {x.features}")
    return x.like(x.t.reshape(1, features))


def ffn(ctx: Extraction, name: str, model: MaskedDeepFFN, x: Ids) -> Ids:
    """The layers of a ``MaskedDeepFFN``: one block of vertices per layer, edges from the masks."""
    h = flat_input(x, model.sizes[0], name or "MaskedDeepFFN")
    for k, layer in enumerate(model.layers):
        module = _join(name, f"layers.{k}")
        mask = layer.mask.detach().cpu().numpy()
        h = linear(ctx, module, type(layer).__name__, h, weight_numpy(layer.weight), mask)
    return h


def dan(ctx: Extraction, name: str, model: MaskedDeepDAN, x: Ids, *, design_labels: bool = False) -> Ids:
    """A ``MaskedDeepDAN``: neurons keep their design labels when ``design_labels``; edges from the masks."""
    features = math.prod(model.input_shape)
    x = flat_input(x, features, name or "MaskedDeepDAN")
    bounds = model.layer_bounds
    n = model.num_neurons
    row_vertex = model.row_vertex.cpu().numpy()  # vertex (node order) at each row of h
    generation = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))  # [N] by row
    modules = [_join(name, "input_layer"), *(_join(name, f"layers.{g}") for g in range(len(model.layers)))]
    if ctx.granularity == "module":
        blocks = [ctx.new_block(modules[0], "MaskedLinearLayer", (), [x], channel_dim=None)]
        for g in range(1, len(bounds) - 1):
            blocks.append(ctx.new_block(modules[g], "MaskedEdgeLayer", (), [], channel_dim=None, layer=g + 1))
        row_id = np.array([int(blocks[g].t.reshape(-1)[0]) for g in generation.tolist()], dtype=np.int64)
    else:
        nodes = model._nodes
        vertex_row = np.empty(n, dtype=np.int64)
        vertex_row[row_vertex] = np.arange(n)
        vertex_generation = generation[vertex_row]
        block_ids = ctx.new_block(
            name or "structure",
            "MaskedDeepDAN",
            (n,),
            [x],
            channel_dim=-1,
            unit="neuron",
            layer=len(bounds) - 1,
            labels=list(nodes) if design_labels else [(name, v) for v in nodes],
            positions=(vertex_row - np.asarray(bounds)[vertex_generation]).tolist(),
        )
        block = ctx.blocks[-1]
        block.layers = vertex_generation + 1
        block.modules = [modules[g] for g in vertex_generation.tolist()]
        row_id = block_ids.t.reshape(-1).numpy()[row_vertex]  # [N] vertex id of each row

    x_ids = x.t.reshape(-1).numpy()
    in_layer = model.input_layer
    in_mask = in_layer.mask.detach().cpu().numpy()
    in_w = weight_numpy(in_layer.weight)

    def build_input():
        flat = np.flatnonzero(in_mask)
        rows, cols = np.divmod(flat, features)
        return x_ids[cols], row_id[rows], in_w.reshape(-1)[flat], flat

    ctx.add_edges(modules[0], "MaskedLinearLayer", int(np.count_nonzero(in_mask)), build_input)

    for g, block in enumerate(model.layers, start=1):
        keep = block.mask.detach().cpu().numpy()
        source, target = block.source.cpu().numpy(), block.target.cpu().numpy() + bounds[g]
        w = weight_numpy(block.weight)

        def build_edges(keep=keep, source=source, target=target, w=w):
            e = np.flatnonzero(keep)
            return row_id[source[e]], row_id[target[e]], w[e], e

        ctx.add_edges(modules[g], "MaskedEdgeLayer", int(np.count_nonzero(keep)), build_edges)

    sinks = Ids(torch.from_numpy(row_id[model.sink_rows.cpu().numpy()]).reshape(1, -1))
    out_layer = model.output_layer
    labels = [("output", j) for j in range(out_layer.out_features)] if design_labels else None
    return linear(
        ctx,
        _join(name, "output_layer"),
        "MaskedLinearLayer",
        sinks,
        weight_numpy(out_layer.weight),
        out_layer.mask.detach().cpu().numpy(),
        labels=labels,
        layer=len(bounds),
    )
