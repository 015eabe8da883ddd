"""The Inspect screen (workbench.app.state.inspect and workbench.app.views.inspect): the design and the graph
extracted from the pruned model, drawn at the same places, with removed edges and dead vertices marked."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

from workbench.app.state.inspect import (
    SESSION_MODEL,
    conv_sample_options,
    incoming,
    inspect_view,
    sample_view,
    session_inspect,
)
from workbench.app.state.layout import crossings
from workbench.app.state.session import Session
from workbench.app.state.settings import Settings
from workbench.app.state.workspace import DatasetCache, PruneSetting, Workspace
from workbench.app.views.inspect import counts_table, vertex_details, view_elements
from workbench.errors import CheckpointError
from workbench.pruning import apply_masks, masks_by_amount, weight_snapshot
from workbench.sparse import MaskedDeepDAN

GRAPH = nx.DiGraph([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d")])


def dan() -> MaskedDeepDAN:
    torch.manual_seed(0)
    return MaskedDeepDAN(3, 2, GRAPH)


def pruned_view(show_io: bool = True):
    model, design = dan(), dan()
    masks = masks_by_amount(weight_snapshot(model), 1.0, scope="layer")  # prune everything in every layer ...
    masks["output_layer"] = torch.ones_like(masks["output_layer"])  # ... but the output layer
    masks["layers.0"] = torch.ones_like(masks["layers.0"])
    apply_masks(model, masks)
    return inspect_view(model, design, torch.zeros(1, 3), show_io=show_io)


def by_id(elements: list[dict]) -> dict:
    return {e["data"]["id"]: e["data"] for e in elements}


def test_the_extracted_side_marks_removed_edges_and_dead_vertices():
    view = pruned_view()
    counts = view.counts()
    assert counts["design"]["edges"] > counts["extracted"]["edges"]
    assert counts["design"]["dead"] == 0 and counts["extracted"]["dead"] == len(view.dead) > 0
    assert {"a", "b", "c"} <= view.dead  # every input connection is pruned
    extracted = view_elements(view, which="extracted")
    codes = [d["m"] for d in by_id(extracted).values() if "source" in d]
    assert "-" in codes and any(c in "abcdABCD" for c in codes)
    assert by_id(extracted)['"a"']["dead"] == 1
    design = view_elements(view, which="design")
    assert all(d.get("m") != "-" and not d.get("dead") for d in by_id(design).values())
    # both sides draw the same edges at the same places, and none across a vertex
    assert [e.get("position") for e in design] == [e.get("position") for e in extracted]
    assert crossings(view.drawing.positions, view.drawing.routes) == []


def test_the_inspect_view_can_leave_out_inputs_and_outputs():
    view = pruned_view(show_io=False)
    vertices = {d["id"] for d in by_id(view_elements(view, which="design")).values() if "source" not in d}
    assert vertices == {'"a"', '"b"', '"c"', '"d"'}


def test_vertex_details_and_incoming_weights():
    view = pruned_view()
    rows = incoming(view, "d")
    assert {r[0] for r in rows} == {"a", "b", "c"}
    assert [abs(r[1]) for r in rows] == sorted((abs(r[1]) for r in rows), reverse=True)
    text = str(vertex_details(view, "d").to_plotly_json())
    assert "in-degree 3 → 0" in text and "pruned" in text and "dead" in text
    assert "Tap a vertex" in str(vertex_details(view, "zzz").to_plotly_json())
    assert "Tap a vertex" in str(vertex_details(None, "d").to_plotly_json())


def test_the_counts_table_says_what_it_counts():
    view = pruned_view()
    table = str(counts_table(view).to_plotly_json())
    assert "neurons (3 inputs and 2 outputs included)" in table and "dead neurons" in table
    assert "The header's design counts leave out the 5 input and output neurons, and their columns" in table
    assert "depth (columns, inputs and outputs included)" in table


@pytest.mark.parametrize("granularity", ["channel", "module"])
def test_the_inspect_view_at_a_coarser_granularity(granularity):
    view = inspect_view(dan(), dan(), torch.zeros(1, 3), granularity=granularity)
    assert view.design.number_of_nodes() > 0 and not view.dead
    assert set(view.weights) == set(view.design.edges)
    assert view_elements(view, which="extracted")


def test_the_session_view_says_whether_it_shows_the_preview():
    session = Session("s", Workspace(DatasetCache()))
    assert session_inspect(session) is None
    session.design.replace(GRAPH)
    session.workspace.build(session.design.graph, Settings())
    view, source = session_inspect(session)
    assert source == "Showing the model's masks." and not view.dead
    session.workspace.preview_masks(PruneSetting("percent", "global", 90.0), evaluate=False)
    view, source = session_inspect(session)
    assert source == "Showing the slider's preview (90%), not applied yet."
    assert view.extracted.number_of_edges() < view.design.number_of_edges()


@pytest.mark.parametrize(("granularity", "vertices"), [("neuron", 1034), ("channel", 59), ("module", 6)])
def test_the_conv_sample_is_shown_at_every_granularity(granularity, vertices):
    view, source = sample_view("small_cnn", granularity=granularity)
    assert view.design.number_of_nodes() == vertices
    assert set(view.design.edges) == set(view.extracted.edges) and not view.dead  # no masks: both sides agree
    assert f"at {granularity} level" in source and "small_cnn" in source and "1×8×8" in source
    assert "-" not in [d.get("m") for d in by_id(view_elements(view, which="extracted")).values()]


def test_the_model_choices_are_the_session_model_and_the_conv_samples():
    options = conv_sample_options()
    assert options[0]["value"] == SESSION_MODEL
    assert [o["value"] for o in options[1:]] == ["small_cnn"]
    with pytest.raises(CheckpointError, match="unknown sample 'nope'"):
        sample_view("nope")
