"""Share links (workbench.app.state.share) and opening one (workbench.app.state.actions.apply_shared)."""

from __future__ import annotations

import networkx as nx
import pytest

from workbench.app.generators import generate
from workbench.app.state.actions import apply_shared
from workbench.app.state.session import Session
from workbench.app.state.settings import FormError, Settings
from workbench.app.state.share import MAX_LINK_EDGES, DesignSource, read_fragment, share_fragment
from workbench.app.state.workspace import DatasetCache, Workspace
from workbench.errors import CheckpointError, CycleError, GraphError, WorkbenchError

DATASETS = DatasetCache()
SETTINGS = Settings(
    dataset="circles", activation="tanh", init_seed=3, optimizer="sgd", lr=0.05, batch_size=16, epochs=9, device="cpu"
)


def fresh() -> Session:
    return Session("share", Workspace(DATASETS))


def snapshot(session: Session) -> tuple:
    ws = session.workspace
    return (
        list(session.design.graph.nodes),
        list(session.design.graph.edges),
        session.design.version,
        session.settings,
        session.source,
        ws.dataset_name,
        ws.model,
        ws.version,
    )


def test_a_generator_link_makes_the_same_design_and_model_in_a_fresh_session():
    source = DesignSource("generator", "watts_strogatz", {"n": 20, "k": 4, "p": 0.3}, seed=7)
    design = generate(source.name, source.values, source.seed)
    fragment = share_fragment(source, SETTINGS, design)
    assert fragment.startswith("#g=watts_strogatz&n=20&k=4&p=0.3&seed=7&data=circles")
    shared = read_fragment(fragment)
    assert shared.settings == SETTINGS
    assert (shared.source.kind, shared.source.name, shared.source.seed) == ("generator", "watts_strogatz", 7)
    assert dict(shared.source.values) == {"n": "20", "k": "4", "p": "0.3"}
    sessions = [fresh(), fresh()]
    for session in sessions:
        result = apply_shared(session, shared)
        assert result.model_changed
        assert list(session.design.graph.edges) == list(design.edges)
        assert session.settings == SETTINGS and session.workspace.dataset_name == "circles"
        assert not session.design.can_undo  # opening a link is not an edit
    a, b = (s.workspace.model.state_dict() for s in sessions)
    assert all(a[k].equal(b[k]) for k in a)  # the init seed makes the same weights
    again = sessions[0]
    assert share_fragment(again.source, again.settings, again.design.graph) == fragment


def test_a_sample_link_round_trips():
    fragment = share_fragment(DesignSource("sample", "skip_dag"), Settings(), nx.DiGraph())
    shared = read_fragment(fragment)
    assert shared.source == DesignSource("sample", "skip_dag") and shared.settings == Settings()
    session = fresh()
    apply_shared(session, shared)
    assert session.source == DesignSource("sample", "skip_dag")
    assert session.workspace.model is not None and session.workspace.dataset_name == "moons"
    assert session.settings == Settings(dataset="moons")


def test_a_small_drawn_design_travels_as_its_vertices_and_edges():
    design = nx.DiGraph()
    design.add_nodes_from([3, 0, 1, 2, 9])  # 9 is isolated; the order is not sorted
    design.add_edges_from([(0, 1), (1, 2), (3, 2), (0, 2)])
    fragment = share_fragment(DesignSource(), SETTINGS, design)
    assert "nodes=3.0.1.2.9" in fragment and "edges=3-2.0-1.0-2.1-2" in fragment  # networkx's edge order
    shared = read_fragment(fragment)
    assert shared.edges == tuple(design.edges) and shared.source.values["nodes"] == [3, 0, 1, 2, 9]
    session = fresh()
    apply_shared(session, shared)
    assert list(session.design.graph.nodes) == list(design.nodes)
    assert list(session.design.graph.edges) == list(design.edges)


def test_a_link_of_settings_only_takes_the_settings():
    shared = read_fragment("#data=xor&act=relu")
    assert shared.source == DesignSource() and shared.settings == Settings(dataset="xor", activation="relu")
    session = fresh()
    design = session.design.graph
    apply_shared(session, shared)
    assert session.settings.dataset == "xor" and session.design.graph is design


@pytest.mark.parametrize("fragment", [None, "", "#", "#unrelated=1", 5])
def test_a_fragment_that_asks_for_nothing_reads_as_none(fragment):
    assert read_fragment(fragment) is None


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("#edges=0-1-2", r"^edges: must be up to 300 pairs like 0-1\.1-2, got '0-1-2'"),
        ("#edges=0-a", r"^edges: must be a number, got 'a'"),
        ("#edges=-1-2", r"^edges: "),
        ("#nodes=1.x", r"^nodes: must be a number, got 'x'"),
        ("#g=watts_strogatz&seed=-1", r"^seed: must be between 0 and"),
        ("#g=watts_strogatz&seed=1e400", r"^seed: must be a finite number"),
        ("#g=watts_strogatz&seed=nan", r"^seed: must be a finite number"),
        ("#data=nope", r"^Data: must be one of"),
        ("#lr=inf", r"^Learning rate: must be a finite number"),
        ("#lr=0", r"^Learning rate: must be between"),
        ("#init=-1", r"^Seed: must be between 0 and"),
        ("#batch=2.5", r"^Batch size: must be a whole number"),
        ("#epochs=", r"^Epochs: is empty"),
        ("#act=sigmoid", r"^Activation: must be one of"),
        ("#edges=" + ".".join(f"{i}-{i + 1}" for i in range(MAX_LINK_EDGES + 1)), r"^edges: must be up to 300 pairs"),
    ],
)
def test_bad_links_raise_a_form_error_naming_the_value(fragment, message):
    with pytest.raises(FormError, match=message):
        read_fragment(fragment)


def test_share_fragment_refuses_designs_that_do_not_fit_a_link():
    big = nx.DiGraph((i, i + 1) for i in range(MAX_LINK_EDGES + 1))
    with pytest.raises(FormError, match=r"^Share link: a hand-drawn design of over 300 edges"):
        share_fragment(DesignSource(), Settings(), big)
    with pytest.raises(FormError, match=r"^Share link: only designs with numbered vertices"):
        share_fragment(DesignSource(), Settings(), nx.DiGraph([("a", "b")]))
    assert share_fragment(DesignSource("generator", "layered", {"sizes": "3, 3"}, None), Settings(), big).startswith(
        "#g=layered&sizes=3%2C+3&data="
    )


@pytest.mark.parametrize(
    ("fragment", "error", "message"),
    [
        ("#g=nope", GraphError, r"unknown generator 'nope'"),
        ("#g=erdos_renyi&p=2", GraphError, r"edge probability p must be between 0 and 1"),
        ("#edges=0-1.1-2.2-0", CycleError, r"cycle"),
        ("#sample=nope", CheckpointError, r"nope"),
    ],
)
def test_opening_a_bad_link_changes_nothing(fragment, error, message):
    session = fresh()
    session.design.replace(nx.DiGraph([(0, 1)]))
    session.workspace.build(session.design.graph, session.settings)
    before = snapshot(session)
    with pytest.raises(error, match=message):
        apply_shared(session, read_fragment(fragment))
    assert snapshot(session) == before


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("#g=watts_strogatz&n=inf", r"vertices n must be a finite number"),
        ("#g=watts_strogatz&n=nan", r"vertices n must be a finite number"),
        ("#g=grid&m=100000&n=100000", r"limit"),
    ],
)
def test_a_link_with_an_impossible_size_is_refused_with_a_message(fragment, message):
    session = fresh()
    before = snapshot(session)
    with pytest.raises(WorkbenchError, match=message):
        apply_shared(session, read_fragment(fragment))
    assert snapshot(session) == before
