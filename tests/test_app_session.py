"""Session logic of the app: design edits with undo/redo, the design dispatcher, workspace, session store."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import networkx as nx
import pytest
import torch

from workbench.app.callbacks.design import apply_design_action, load_upload
from workbench.app.session import DesignState, Session, SessionStore
from workbench.app.start import open_first
from workbench.app.workspace import DatasetCache, Workspace, parse_sizes
from workbench.errors import (
    CycleError,
    EmptyGraphError,
    GraphError,
    GraphFileError,
    PruningError,
    TrainingError,
    WorkbenchError,
)
from workbench.pruning import current_masks
from workbench.sparse import MaskedDeepDAN

DATASETS = DatasetCache()


def chain(n: int = 3) -> DesignState:
    design = DesignState()
    for _ in range(n):
        design.add_vertex()
    for u in range(n - 1):
        design.connect(u, u + 1)
    return design


def session_with(graph: nx.DiGraph | None = None, dataset: str = "moons") -> Session:
    session = Session("test", Workspace(DATASETS, dataset))
    if graph is not None:
        session.design.replace(graph)
    return session


# ----------------------------------------------------------------------------- design state


def test_add_vertex_takes_the_next_free_int_and_a_position():
    design = DesignState()
    assert [design.add_vertex() for _ in range(3)] == [0, 1, 2]
    assert design.add_vertex((5.0, 6.0)) == 3
    assert design.positions[3] == (5.0, 6.0)
    assert len(set(design.positions.values())) == 4


def test_connect_refuses_a_cycle_and_leaves_the_graph_unchanged():
    design = chain(3)
    version = design.version
    with pytest.raises(CycleError, match=r"2 -> 0 -> 1 -> 2") as info:
        design.connect(2, 0)
    assert info.value.cycle == [2, 0, 1]
    assert list(design.graph.edges) == [(0, 1), (1, 2)]
    assert design.version == version


def test_connect_refuses_a_self_loop_a_duplicate_and_unknown_vertices():
    design = chain(2)
    with pytest.raises(CycleError):
        design.connect(1, 1)
    with pytest.raises(GraphError, match="there already"):
        design.connect(0, 1)
    with pytest.raises(GraphError, match="unknown vertex 7"):
        design.connect(0, 7)


def test_undo_and_redo_walk_the_history():
    design = chain(3)
    assert design.graph.number_of_edges() == 2
    assert design.undo() and design.graph.number_of_edges() == 1
    assert design.undo() and design.graph.number_of_edges() == 0
    assert design.redo() and design.graph.number_of_edges() == 1
    design.add_vertex()  # a new edit drops the redo stack
    assert not design.can_redo and not design.redo()


def test_delete_removes_vertices_with_their_edges_and_ignores_unknowns():
    design = chain(3)
    assert design.delete([1, 99], []) == 1
    assert list(design.graph.nodes) == [0, 2] and design.graph.number_of_edges() == 0
    assert 1 not in design.positions
    assert design.delete([], [(0, 2)]) == 0  # nothing to delete is not an edit
    design.undo()
    assert list(design.graph.edges) == [(0, 1), (1, 2)]


def test_replace_checks_the_graph_first():
    design = chain(2)
    with pytest.raises(CycleError):
        design.replace(nx.DiGraph([(0, 1), (1, 0)]))
    with pytest.raises(EmptyGraphError):
        design.replace(nx.DiGraph())
    assert list(design.graph.edges) == [(0, 1)]
    design.replace(nx.DiGraph([("a", "b")]))
    assert set(design.positions) == {"a", "b"}


# ----------------------------------------------------------------------------- the dispatcher


def test_tapping_source_then_target_connects_and_a_cycle_is_refused():
    session = session_with()
    session.design = chain(3)
    session.design.delete([], [(1, 2)])
    assert apply_design_action(session, "tap", {"node": 1}) == (None, False)
    assert session.pending == 1
    apply_design_action(session, "tap", {"node": 2})
    assert session.design.graph.has_edge(1, 2) and session.pending is None
    apply_design_action(session, "tap", {"node": 2})
    with pytest.raises(CycleError):
        apply_design_action(session, "tap", {"node": 0})
    assert session.pending is None and session.design.graph.number_of_edges() == 2


def test_tapping_the_source_again_cancels():
    session = session_with()
    session.design = chain(2)
    apply_design_action(session, "tap", {"node": 0})
    apply_design_action(session, "tap", {"node": 0})
    assert session.pending is None and session.design.graph.number_of_edges() == 1


def test_context_menu_connects_deletes_and_adds():
    session = session_with()
    session.design = chain(2)
    session.design.add_vertex()
    apply_design_action(session, "menu", {"item": "connect-from", "node": 0})
    apply_design_action(session, "menu", {"item": "connect-to", "node": 2})
    assert session.design.graph.has_edge(0, 2)
    apply_design_action(session, "menu", {"item": "delete", "node": None, "edge": (0, 1)})
    assert not session.design.graph.has_edge(0, 1)
    apply_design_action(session, "menu", {"item": "add-vertex", "node": None, "x": 10.0, "y": 20.0})
    assert session.design.positions[3] == (10.0, 20.0)
    message, _ = apply_design_action(session, "menu", {"item": "connect-to", "node": 1})
    assert "Connect from here" in message


def test_generate_replaces_the_design_and_bad_values_keep_it():
    session = session_with()
    session.design = chain(2)
    message, _ = apply_design_action(session, "generate", {"generator": "grid", "values": {"m": 2, "n": 3}})
    assert "6 vertices" in message and session.design.graph.number_of_nodes() == 6
    with pytest.raises(GraphError):
        apply_design_action(session, "generate", {"generator": "grid", "values": {"m": -1, "n": 3}})
    assert session.design.graph.number_of_nodes() == 6


def _upload(data: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(data).decode()


def test_malformed_upload_raises_and_changes_nothing():
    session = session_with()
    session.design = chain(3)
    for name, data in [("bad.json", b"{"), ("bad.graphml", b"<graphml"), ("bad.txt", b"x"), ("bad.pt", b"nope")]:
        with pytest.raises(WorkbenchError, match="bad"):
            load_upload(session, _upload(data), name)
    with pytest.raises(GraphFileError, match="empty"):
        load_upload(session, "", "x.json")
    assert list(session.design.graph.edges) == [(0, 1), (1, 2)]


def test_upload_of_a_graph_file_replaces_the_design():
    from workbench import io as wbio

    session = session_with()
    graph = nx.DiGraph([((0, 0), (1, 0)), ((0, 1), (1, 0))])
    message = load_upload(session, _upload(wbio.graph_to_bytes(graph, "json")), "mine.json")
    assert "3 vertices" in message
    assert set(session.design.graph.edges) == set(graph.edges)


def test_an_uploaded_cycle_is_refused():
    from workbench import io as wbio

    session = session_with()
    session.design = chain(2)
    data = wbio.graph_to_bytes(nx.DiGraph([(0, 1), (1, 0)]), "graphml")
    with pytest.raises(CycleError):
        load_upload(session, _upload(data), "cycle.graphml")
    assert list(session.design.graph.edges) == [(0, 1)]


# ----------------------------------------------------------------------------- workspace


def built(dataset: str = "moons") -> Workspace:
    ws = Workspace(DATASETS, dataset)
    ws.build("dan", nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)]))
    return ws


def test_parse_sizes():
    assert parse_sizes("32, 16") == [32, 16]
    for bad in ("", "a", "3,-1", "0"):
        with pytest.raises(GraphError, match="comma-separated"):
            parse_sizes(bad)


def test_build_makes_a_dan_or_an_ffn_for_the_dataset():
    ws = built()
    assert isinstance(ws.model, MaskedDeepDAN) and ws.fits()
    ws.build("ffn", nx.DiGraph(), "8, 4")
    assert ws.model.sizes == [2, 8, 4, 2]
    with pytest.raises(GraphError, match="unknown model kind"):
        ws.build("cnn", nx.DiGraph())


def test_preview_does_not_change_the_model_and_dragging_back_restores():
    ws = built()
    before = current_masks(ws.model)
    high = ws.preview_masks("percent", "global", 80.0)
    assert sum(k for _, k, _ in high.rows) < sum(t for _, _, t in high.rows)
    assert all(torch.equal(before[k], m) for k, m in current_masks(ws.model).items())
    back = ws.preview_masks("percent", "global", 0.0)
    assert all(k == t for _, k, t in back.rows)
    assert back.accuracy is not None and 0.0 <= back.accuracy <= 1.0


def test_threshold_preview_counts_and_rows():
    ws = built()
    snap = ws.take_snapshot()
    top = float(snap.magnitudes.max())
    p = ws.preview_masks("threshold", "global", top)
    assert sum(k for _, k, _ in p.rows) == 0
    assert next(r[0] for r in p.rows) == "input" and p.rows[-1][0] == "output"
    assert p.remaining == p.total - sum(t for _, _, t in p.rows)
    with pytest.raises(PruningError, match="non-negative"):
        ws.preview_masks("threshold", "global", -1.0)
    with pytest.raises(PruningError, match="unknown pruning mode"):
        ws.preview_masks("random", "global", 1.0)


def test_apply_commits_and_reset_masks_restores():
    ws = built()
    with pytest.raises(PruningError, match="preview"):
        ws.apply()
    ws.preview_masks("percent", "layer", 50.0)
    masked = ws.apply()
    assert masked > 0 and ws.preview_applied()
    kept = sum(int(m.sum()) for m in current_masks(ws.model).values())
    total = sum(m.numel() for m in current_masks(ws.model).values())
    assert kept == total - masked
    ws.reset_masks()
    assert all(bool(m.all()) for m in current_masks(ws.model).values())


def test_training_runs_in_the_background_and_polls_records():
    ws = built()
    ws.start(epochs=2, batch_size=64, lr=0.05)
    with pytest.raises(PruningError, match="training is running"):
        ws.preview_masks("percent", "global", 10.0)
    deadline = time.monotonic() + 60
    while ws.running and time.monotonic() < deadline:
        time.sleep(0.05)
        ws.poll()
    _new, state, error = ws.poll()
    assert state == "finished" and error is None
    assert ws.history and ws.history[-1]["epoch"] == pytest.approx(2.0)
    first_run = len(ws.history)
    ws.start(epochs=1, batch_size=64)  # a second run (fine-tune) continues the epochs
    while ws.running:
        time.sleep(0.05)
        ws.poll()
    ws.poll()
    assert len(ws.history) > first_run and ws.history[-1]["epoch"] == pytest.approx(3.0)


def test_a_failing_run_keeps_the_model_and_reports():
    ws = built()
    model = ws.model
    with torch.no_grad():
        model.output_layer.bias.fill_(float("nan"))  # the first loss is NaN
    ws.start(epochs=1)
    while ws.running:
        time.sleep(0.05)
    _, state, error = ws.poll()
    assert state == "failed" and "nan" in error.lower()
    assert ws.model is model and not ws.running


def test_start_refuses_a_model_that_does_not_fit_the_dataset():
    ws = built("moons")
    ws.set_dataset("digits")
    with pytest.raises(TrainingError, match="does not fit"):
        ws.start()


def test_boundary_only_for_2d_data():
    ws = built("moons")
    _xs, _ys, prob = ws.boundary(steps=10)
    assert prob.shape == (10, 10) and ((prob >= 0) & (prob <= 1)).all()
    ws.set_dataset("digits")
    assert ws.boundary() is None


# ----------------------------------------------------------------------------- session and store


def test_counts_follow_the_design_and_the_model_kind():
    session = session_with(nx.DiGraph([(0, 1), (1, 2), (0, 2)]), dataset="moons")
    c = session.counts("dan")
    assert (c["vertices"], c["edges"], c["depth"]) == (3, 3, 3)
    # 2 inputs -> 1 source (2 w + 1 b), 3 edges, 2 more biases, 1 sink -> 2 outputs (2 w + 2 b)
    assert c["params"] == "12"
    assert session.counts("ffn", "4")["params"] == f"{2 * 4 + 4 + 4 * 2 + 2:,}"
    assert session.counts("ffn", "x")["params"] == "–"


def test_open_first_loads_a_sample_with_a_graph_and_a_model():
    session = session_with()
    open_first(session)
    assert session.design.graph.number_of_nodes() > 0
    assert session.workspace.model is not None and session.workspace.fits()
    assert not session.design.can_undo


def test_store_keeps_one_session_per_id_and_drops_the_oldest():
    made = []

    def factory(sid):
        made.append(sid)
        return Session(sid, Workspace(DATASETS, "moons"))

    store = SessionStore(factory, limit=2)
    a, b = store.get("a"), store.get("b")
    assert store.get("a") is a and a is not b
    a.design.add_vertex()
    assert b.design.graph.number_of_nodes() == 0
    store.get("c")  # "b" is the least recently used now
    assert len(store) == 2 and store.get("a") is a
    assert store.get("b") is not b and made == ["a", "b", "c", "b"]
    with pytest.raises(GraphError, match="session id"):
        store.get(None)


def test_downloads():
    from workbench.app import ids

    session = session_with(nx.DiGraph([(0, 1)]))
    name, data = session.download(ids.DL_DESIGN_JSON)
    assert name == "design.json" and b'"nodes"' in data
    with pytest.raises(GraphError, match="Inspect"):
        session.download(ids.DL_EXTRACTED_JSON)
    with pytest.raises(GraphError, match="no model"):
        session.download(ids.DL_CHECKPOINT)
    session.workspace.build("dan", session.design.graph)
    name, data = session.download(ids.DL_CHECKPOINT)
    assert name == "model.pt" and len(data) > 100


def test_a_downloaded_checkpoint_uploads_back_with_its_graph_and_dataset():
    from workbench.app import ids

    source = session_with(nx.DiGraph([("x", "y"), ("x", "z")]), dataset="moons")
    source.workspace.build("dan", source.design.graph)
    _, data = source.download(ids.DL_CHECKPOINT)
    target = session_with(dataset="digits")
    message = load_upload(target, _upload(data), "model.pt")
    assert "model.pt" in message
    assert set(target.design.graph.edges) == {("x", "y"), ("x", "z")}
    assert target.workspace.dataset_name == "moons" and target.workspace.fits()
    weights = dict(target.workspace.model.named_parameters())
    for name, value in source.workspace.model.named_parameters():
        assert torch.equal(weights[name], value)


def test_create_app_refuses_an_unknown_sample():
    from workbench.app import create_app

    with pytest.raises(ValueError, match="unknown sample 'nope'"):
        create_app("nope")
    first, app = create_app(), create_app()  # callbacks belong to each app, none is module-level
    assert len(first.callback_map) == len(app.callback_map) > 10
    assert app.config.assets_folder.endswith("assets")
    assert Path(app.config.assets_folder, "workbench.css").is_file()
    assert "keepSession(layout)" in app.renderer  # the layout_post hook that keeps the session id


def test_model_info_says_when_the_drawn_graph_changed_since_the_build():
    from workbench.app.callbacks.train import model_info

    session = session_with()
    open_first(session)
    ws, design = session.workspace, session.design
    assert "changed" not in model_info(ws, design.graph)
    design.add_vertex()
    assert "the drawn graph has changed since" in model_info(ws, design.graph)
    ws.build("dan", design.graph)
    assert "changed" not in model_info(ws, design.graph)
    ws.set_dataset("moons" if ws.dataset_name != "moons" else "digits")
    assert "does not fit" in model_info(ws, design.graph)


def test_store_makes_a_session_once_when_many_callbacks_ask_at_once():
    import threading

    made = []

    def slow_factory(sid):
        made.append(sid)
        time.sleep(0.05)
        return Session(sid, Workspace(DATASETS, "moons"))

    store = SessionStore(slow_factory)
    got = []
    threads = [threading.Thread(target=lambda: got.append(store.get("tab"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == ["tab"] and len({id(s) for s in got}) == 1


def test_a_tap_that_arrives_late_is_ignored():
    session = session_with()
    session.design = chain(3)
    session.design.delete([], [(0, 1), (1, 2)])
    apply_design_action(session, "tap", {"node": 2, "time": 200.0})  # the newer tap arrives first
    apply_design_action(session, "tap", {"node": 0, "time": 100.0})  # the older one is stale
    assert session.pending == 2 and session.design.graph.number_of_edges() == 0
    apply_design_action(session, "tap", {"node": 1, "time": 300.0})
    assert list(session.design.graph.edges) == [(2, 1)]


def test_a_conv_sample_is_refused_by_the_design_panel_and_changes_nothing():
    session = Session("s", Workspace(DATASETS))
    session.design = chain(3)
    with pytest.raises(GraphError, match="'small_cnn' is a convolutional sample: open it in the Inspect panel"):
        apply_design_action(session, "sample", {"name": "small_cnn"})
    assert session.design.graph.number_of_edges() == 2 and session.workspace.model is None


def test_tap_time_stamps_are_compared_within_one_page_load():
    session = session_with()
    session.design = chain(3)
    session.design.delete([], [(0, 1), (1, 2)])
    apply_design_action(session, "tap", {"node": 0, "time": 9000.0, "page": "before-reload"})
    apply_design_action(session, "tap", {"node": 0, "time": 9100.0, "page": "before-reload"})  # cancels
    # after a reload the page's clock starts again: smaller stamps are new taps, not stale ones
    apply_design_action(session, "tap", {"node": 1, "time": 50.0, "page": "after-reload"})
    apply_design_action(session, "tap", {"node": 2, "time": 80.0, "page": "after-reload"})
    assert list(session.design.graph.edges) == [(1, 2)]


def test_the_session_id_survives_a_reload_and_the_renderer_restores_it():
    from dash import dcc

    from workbench.app import LAYOUT_POST_HOOK, assets_folder
    from workbench.app import ids as app_ids
    from workbench.app.layout import serve_layout

    def stores(layout):
        found = {}

        def walk(node):
            if isinstance(node, dcc.Store):
                found[node.id] = node
            for child in getattr(node, "children", None) or []:
                if not isinstance(child, str):
                    walk(child)

        walk(layout)
        return found

    first, second = stores(serve_layout()), stores(serve_layout())
    assert first[app_ids.SESSION].storage_type == "session"  # kept in the tab's sessionStorage
    assert first[app_ids.PAGE].storage_type == "memory"
    assert first[app_ids.SESSION].data != second[app_ids.SESSION].data  # a new tab gets a new session
    assert first[app_ids.PAGE].data != second[app_ids.PAGE].data
    assert "keepSession(layout)" in LAYOUT_POST_HOOK
    script = (Path(assets_folder()) / "workbench.js").read_text()
    assert "workbench.keepSession = function (layout)" in script
    assert f'workbench.SESSION_STORE = "{app_ids.SESSION}"' in script
