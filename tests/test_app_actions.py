"""Design actions on a session (workbench.app.state.actions): taps, menu, edits, generators, uploads; all or nothing."""

from __future__ import annotations

import base64
import io

import networkx as nx
import pytest
import torch

from workbench import io as wbio
from workbench.app.state.actions import apply_design_action, decode_upload, load_upload
from workbench.app.state.design import Change
from workbench.app.state.session import Session
from workbench.app.state.settings import Settings
from workbench.app.state.share import DesignSource
from workbench.app.state.workspace import DatasetCache, Workspace
from workbench.errors import CheckpointError, CycleError, GraphError, GraphFileError, WorkbenchError
from workbench.io.checkpoints import checkpoint_checksum
from workbench.limits import DEFAULT_LIMITS, Limits
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN

DATASETS = DatasetCache()


def session_with(*edges, nodes=(), dataset: str = "moons", limits: Limits = DEFAULT_LIMITS) -> Session:
    session = Session("actions", Workspace(DATASETS, dataset, limits=limits))
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    if graph.number_of_nodes():
        session.design.replace(graph)
        session.design.forget_history()
    return session


def upload(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def state(session: Session) -> tuple:
    ws = session.workspace
    return (
        list(session.design.graph.nodes),
        list(session.design.graph.edges),
        session.design.version,
        ws.model,
        ws.dataset_name,
        ws.version,
        session.source,
    )


# ----------------------------------------------------------------------------- taps and the menu


def test_tapping_a_source_then_a_target_connects_and_a_cycle_is_refused():
    session = session_with((0, 1), nodes=[0, 1, 2])
    apply_design_action(session, "tap", {"node": 1})
    assert session.pending == 1 and session.selected == 1
    apply_design_action(session, "tap", {"node": 2})
    assert session.design.graph.has_edge(1, 2) and session.pending is None
    apply_design_action(session, "tap", {"node": 2})
    with pytest.raises(CycleError, match=r"2 -> 0 -> 1 -> 2"):
        apply_design_action(session, "tap", {"node": 0})
    assert session.pending is None and session.design.graph.number_of_edges() == 2


def test_tapping_the_source_again_cancels_and_a_tap_on_nothing_is_ignored():
    session = session_with((0, 1))
    apply_design_action(session, "tap", {"node": 0})
    apply_design_action(session, "tap", {"node": 0})
    assert session.pending is None and session.design.graph.number_of_edges() == 1
    apply_design_action(session, "tap", {"node": "not a vertex"})
    assert session.pending is None


def test_a_tap_that_arrives_late_is_ignored_within_one_page_load():
    session = session_with(nodes=[0, 1, 2])
    apply_design_action(session, "tap", {"node": 2, "time": 200.0, "page": "p"})  # the newer tap arrives first
    apply_design_action(session, "tap", {"node": 0, "time": 100.0, "page": "p"})  # the older one is stale
    assert session.pending == 2 and session.design.graph.number_of_edges() == 0
    apply_design_action(session, "tap", {"node": 1, "time": 300.0, "page": "p"})
    assert list(session.design.graph.edges) == [(2, 1)]
    # after a reload the page's clock starts again: smaller stamps are new taps there
    apply_design_action(session, "tap", {"node": 0, "time": 5.0, "page": "q"})
    apply_design_action(session, "tap", {"node": 1, "time": 6.0, "page": "q"})
    assert set(session.design.graph.edges) == {(2, 1), (0, 1)}


def test_the_context_menu_connects_deletes_and_adds():
    session = session_with((0, 1), nodes=[0, 1, 2])
    message = apply_design_action(session, "menu", {"item": "connect-to", "node": 1}).message
    assert "Connect from here" in message
    apply_design_action(session, "menu", {"item": "connect-from", "node": 0})
    apply_design_action(session, "menu", {"item": "connect-to", "node": 2})
    assert session.design.graph.has_edge(0, 2)
    apply_design_action(session, "menu", {"item": "delete", "node": None, "edge": (0, 1)})
    assert not session.design.graph.has_edge(0, 1)
    apply_design_action(session, "menu", {"item": "delete", "node": 2, "edge": None})
    assert 2 not in session.design.graph
    apply_design_action(session, "menu", {"item": "add-vertex", "node": None})
    assert list(session.design.graph.nodes) == [0, 1, 2]


# ----------------------------------------------------------------------------- edits


def test_add_delete_undo_redo_clear_cancel():
    session = session_with((0, 1))
    apply_design_action(session, "add", {})
    assert 2 in session.design.graph and session.source == DesignSource()
    result = apply_design_action(session, "delete", {"nodes": [], "edges": []})
    assert "Select vertices or edges first" in result.message
    apply_design_action(session, "delete", {"nodes": [0], "edges": []})
    assert list(session.design.graph.nodes) == [1, 2]
    apply_design_action(session, "undo", {})
    assert list(session.design.graph.nodes) == [0, 1, 2] and session.design.graph.has_edge(0, 1)
    apply_design_action(session, "redo", {})
    apply_design_action(session, "clear", {})
    assert session.design.graph.number_of_nodes() == 0
    session.pending = 1
    apply_design_action(session, "cancel", {})
    assert session.pending is None
    with pytest.raises(GraphError, match="unknown design action 'explode'"):
        apply_design_action(session, "explode", {})


def test_an_edit_too_large_to_undo_is_announced():
    session = session_with(nodes=[0], limits=Limits(history_bytes=Change(added_nodes=[(0, {})]).nbytes * 3))
    result = apply_design_action(
        session, "generate", {"generator": "layered", "values": {"sizes": "4, 4, 4"}, "seed": None}
    )
    assert result.level == "warning" and "too large to keep for undo" in result.message
    assert not session.design.can_undo


def test_generate_replaces_the_design_remembers_the_recipe_and_bad_values_keep_it():
    session = session_with((0, 1))
    result = apply_design_action(
        session, "generate", {"generator": "watts_strogatz", "values": {"n": 12, "k": 4, "p": 0.2}, "seed": 3}
    )
    assert "12 vertices" in result.message and result.level == "success"
    # no "build it" in a message that stays on screen after the model is built: the design hint says that
    assert "build" not in result.message.lower()
    assert session.source == DesignSource("generator", "watts_strogatz", {"n": 12, "k": 4, "p": 0.2}, 3)
    edges = list(session.design.graph.edges)
    with pytest.raises(GraphError, match="rows m must be an integer of at least 1"):
        apply_design_action(session, "generate", {"generator": "grid", "values": {"m": -1, "n": 3}})
    assert list(session.design.graph.edges) == edges and session.source.name == "watts_strogatz"
    apply_design_action(session, "add", {})  # an edit makes the design hand-drawn
    assert session.source == DesignSource()


def test_opening_a_sample_and_a_convolutional_one():
    session = session_with((0, 1))
    result = apply_design_action(session, "sample", {"name": "skip_dag"})
    assert result.model_changed and session.source == DesignSource("sample", "skip_dag")
    assert session.settings.activation == "tanh"  # the sample's own activation
    result = apply_design_action(session, "sample", {"name": "small_cnn"})
    assert result.model_changed and session.workspace.kind == "conv" and session.workspace.dataset_name == "digits"


# ----------------------------------------------------------------------------- uploads


def test_decode_upload_refuses_empty_and_broken_contents():
    assert decode_upload(upload(b"abc"), "x.json") == b"abc"
    with pytest.raises(GraphFileError, match="'x.json' is empty or not a file"):
        decode_upload("", "x.json")
    with pytest.raises(GraphFileError, match="'x.json' is empty or not a file"):
        decode_upload(None, "x.json")
    with pytest.raises(GraphFileError, match="did not arrive whole"):
        decode_upload("data:;base64,@@@", "x.json")
    with pytest.raises(GraphFileError, match="'x.json' is empty"):
        decode_upload("data:;base64,", "x.json")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("bad.json", b"{"),
        ("bad.graphml", b"<graphml"),
        ("bad.txt", b"x"),
        ("bad.pt", b"nope"),
        ("bad.wbsession", b"nope"),
    ],
)
def test_a_malformed_upload_raises_and_changes_nothing(name, data):
    session = session_with((0, 1), (1, 2))
    before = state(session)
    with pytest.raises(WorkbenchError, match="bad"):
        apply_design_action(session, "upload", {"contents": upload(data), "filename": name})
    assert state(session) == before


def test_an_uploaded_graph_file_replaces_the_design_and_a_cycle_is_refused():
    session = session_with((0, 1))
    graph = nx.DiGraph([((0, 0), (1, 0)), ((0, 1), (1, 0))])
    result = load_upload(session, wbio.graph_to_bytes(graph, "json"), "mine.json")
    assert "3 vertices" in result.message and set(session.design.graph.edges) == set(graph.edges)
    before = state(session)
    with pytest.raises(CycleError):
        load_upload(session, wbio.graph_to_bytes(nx.DiGraph([(0, 1), (1, 0)]), "graphml"), "cycle.graphml")
    assert state(session) == before


def test_a_checkpoint_brings_its_graph_weights_and_data_set():
    source = session_with(("x", "y"), ("x", "z"), dataset="moons")
    source.workspace.build(source.design.graph, Settings())
    name, data = source.download("model.pt")
    target = session_with((0, 1), dataset="digits")
    result = apply_design_action(target, "upload", {"contents": upload(data), "filename": name})
    assert result.model_changed and "model.pt" in result.message
    assert set(target.design.graph.edges) == {("x", "y"), ("x", "z")}
    assert target.workspace.dataset_name == "moons" and target.workspace.fits()
    theirs, ours = target.workspace.model.state_dict(), source.workspace.model.state_dict()
    assert all(torch.equal(theirs[k], ours[k]) for k in ours)
    assert target.workspace.prune.value == 0 and target.workspace.history == []


def _checkpoint(model, extra_text: str) -> bytes:
    """A well-formed checkpoint of ``model`` (checksum and all) whose metadata is ``extra_text``."""
    doc = torch.load(io.BytesIO(wbio.checkpoint_to_bytes(model)), weights_only=True)
    doc["extra"] = extra_text
    doc["checksum"] = checkpoint_checksum(doc)
    buffer = io.BytesIO()
    torch.save(doc, buffer)
    return buffer.getvalue()


def test_a_checkpoint_naming_an_unknown_data_set_changes_nothing():
    data = wbio.checkpoint_to_bytes(MaskedDeepDAN(2, 2, nx.DiGraph([("p", "q")])), extra={"dataset": "imagenet"})
    session = session_with((0, 1))
    session.workspace.build(session.design.graph, Settings())
    before = state(session)
    with pytest.raises(WorkbenchError, match="imagenet"):
        load_upload(session, data, "far.pt")
    assert state(session) == before


def test_a_checkpoint_whose_data_set_is_not_a_name_changes_nothing():
    data = wbio.checkpoint_to_bytes(MaskedDeepDAN(2, 2, nx.DiGraph([("p", "q")])), extra={"dataset": 5})
    session = session_with((0, 1))
    before = state(session)
    with pytest.raises(CheckpointError, match="names the data set 5, which is not a name"):
        load_upload(session, data, "odd.pt")
    assert state(session) == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [("[1, 2]", r"extra metadata in odd\.pt must be a JSON object, got list"), ("{oops", r"JSON")],
)
def test_a_checkpoint_whose_metadata_is_not_a_json_object_changes_nothing(extra, message):
    model = MaskedDeepDAN(2, 2, nx.DiGraph([("p", "q")]))
    session = session_with((0, 1))
    session.workspace.build(session.design.graph, Settings())
    before = state(session)
    with pytest.raises(CheckpointError, match=message):
        load_upload(session, _checkpoint(model, extra), "odd.pt")
    assert state(session) == before


def test_a_feed_forward_checkpoint_is_refused_by_the_design_panel():
    data = wbio.checkpoint_to_bytes(MaskedDeepFFN(2, 2, [3]))
    session = session_with((0, 1))
    before = state(session)
    with pytest.raises(GraphFileError, match="holds a MaskedDeepFFN; only DAN checkpoints carry a graph"):
        load_upload(session, data, "mlp.pt")
    assert state(session) == before


def test_a_session_file_upload_restores_the_session():
    source = session_with(("x", "y"), dataset="circles")
    source.workspace.build(source.design.graph, Settings(dataset="circles"))
    target = session_with((0, 1))
    result = apply_design_action(target, "upload", {"contents": upload(source.dump()), "filename": "s.wbsession"})
    assert result.model_changed and target.workspace.dataset_name == "circles"
    assert list(target.design.graph.edges) == [("x", "y")]
