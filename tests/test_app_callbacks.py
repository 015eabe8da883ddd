"""The callbacks' edge and helpers (workbench.app.callbacks): the session_callback decorator turns every failure
into a message, the helpers say what they count, and create_app() builds a page whose layout serializes."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from types import SimpleNamespace

import networkx as nx
import plotly.io.json as pio_json
import pytest
from dash import Input, Output, State, dcc, no_update

from workbench.app import create_app, ids
from workbench.app.callbacks.design import canvas_outputs
from workbench.app.callbacks.edge import error_message, session_callback
from workbench.app.callbacks.page import count_texts
from workbench.app.callbacks.prune import preview_outputs, preview_value, summary_lines
from workbench.app.callbacks.train import epoch_text, run_line, status
from workbench.app.state.session import Session
from workbench.app.state.settings import Settings
from workbench.app.state.start import open_sample
from workbench.app.state.workspace import DatasetCache, Preview, PruneSetting, Workspace
from workbench.app.views.elements import graph_to_elements
from workbench.app.views.page import serve_layout
from workbench.errors import CycleError, SessionError

DATASETS = DatasetCache()


class FakeApp:
    """Records what ``app.callback`` is given, and the function it wraps."""

    def __init__(self) -> None:
        self.registered: list[dict] = []

    def callback(self, **spec):
        def wrap(fn):
            self.registered.append({**spec, "fn": fn})
            return fn

        return wrap


class FakeStore:
    """``use(session_id)`` hands out one session for the id ``"ok"`` and refuses any other."""

    def __init__(self, session) -> None:
        self.session = session

    @contextlib.contextmanager
    def use(self, session_id):
        if session_id != "ok":
            raise SessionError(f"no session {session_id!r}; reload the page")
        yield self.session, None


def register(fn, *, alert_to="alert", **options):
    app = FakeApp()
    session = Session("ok", Workspace(DATASETS))
    session_callback(
        app,
        FakeStore(session),
        output={"text": Output("a", "children"), "alert": Output("b", "children"), "other": Output("c", "data")},
        inputs={"n": Input("d", "n_clicks")},
        state={"value": State("e", "value")},
        alert_to=alert_to,
        **options,
    )(fn)
    return app.registered[0], session


def alert_text(div) -> str:
    return div.children


def test_a_workbench_error_becomes_an_alert_in_the_named_output():
    def fails(session, *, n, value):
        raise CycleError([0, 1], what="graph with the edge 1 -> 0")

    spec, _ = register(fails)
    out = spec["fn"]("ok", n=1, value="x")
    assert out["text"] is no_update and out["other"] is no_update
    assert alert_text(out["alert"]) == "the graph with the edge 1 -> 0 has a cycle: 0 -> 1 -> 0"
    assert out["alert"].className == "alert alert-error" and out["alert"].role == "alert"


def test_any_other_exception_is_logged_and_shown_as_unexpected(caplog):
    def crashes(session, *, n, value):
        raise KeyError("boom")

    spec, _ = register(crashes)
    with caplog.at_level(logging.ERROR, logger="workbench.app"):
        out = spec["fn"]("ok", n=1, value=None)  # no exception escapes
    assert alert_text(out["alert"]) == "Unexpected KeyError: 'boom'. The design and the model are kept."
    assert out["text"] is no_update
    record = next(r for r in caplog.records if "crashes" in r.getMessage())
    assert record.exc_info is not None and record.exc_info[0] is KeyError


def test_without_an_alert_output_errors_are_only_logged(caplog):
    def crashes(session, *, n, value):
        raise RuntimeError("no alert here")

    spec, _ = register(crashes, alert_to=None)
    with caplog.at_level(logging.ERROR, logger="workbench.app"):
        out = spec["fn"]("ok", n=1, value=None)
    assert all(v is no_update for v in out.values())
    assert any("crashes" in r.getMessage() for r in caplog.records)


def test_a_bad_session_id_is_a_message_too():
    spec, _ = register(lambda session, **_: {"text": "never"})
    out = spec["fn"]("not a session", n=1, value=None)
    assert "reload the page" in alert_text(out["alert"]) and out["text"] is no_update


def test_outputs_not_returned_stay_as_they_are_and_unknown_ones_are_dropped():
    def partial(session, *, n, value):
        return {"text": f"{n}:{value}", "nonsense": 1}

    spec, _ = register(partial)
    assert spec["fn"]("ok", n=3, value="v") == {"text": "3:v", "alert": no_update, "other": no_update}
    spec, _ = register(lambda session, **_: None)
    assert all(v is no_update for v in spec["fn"]("ok", n=0, value=None).values())


def test_the_session_is_locked_while_the_callback_runs():
    seen = {}

    def probe(session, *, n, value):
        other = threading.Thread(target=lambda: seen.update(free=session.lock.acquire(timeout=0.01)))
        other.start()
        other.join()
        return {"text": "done"}

    spec, session = register(probe)
    spec["fn"]("ok", n=1, value=None)
    assert seen == {"free": False}
    assert session.lock.acquire(timeout=0.01)
    session.lock.release()


def test_registration_passes_keyword_dependencies_the_session_id_and_options():
    spec, _ = register(lambda session, **_: {}, prevent_initial_call=True)
    assert set(spec["output"]) == {"text", "alert", "other"} and set(spec["inputs"]) == {"n"}
    assert set(spec["state"]) == {"value", "_session_id"}
    assert (spec["state"]["_session_id"].component_id, spec["state"]["_session_id"].component_property) == (
        ids.SESSION,
        "data",
    )
    assert spec["prevent_initial_call"] is True


def test_error_messages():
    assert error_message(CycleError([1], what="graph")) == "the graph has a cycle: 1 -> 1"
    unexpected = "Unexpected ZeroDivisionError: x. The design and the model are kept."
    assert error_message(ZeroDivisionError("x")) == unexpected


# ----------------------------------------------------------------------------- helpers that say what they count


def sample() -> Session:
    session = Session("s", Workspace(DATASETS))
    open_sample(session, "moons_dan")
    return session


def test_header_counts_say_what_they_count():
    session = sample()
    design, model = count_texts(session)
    assert design.startswith("30 vertices · 60 edges · depth ")
    assert model.startswith("34 neurons · 84 connections · ") and model.endswith(" params")
    session.workspace.preview_masks(PruneSetting("percent", "global", 50.0), evaluate=False)
    assert "34 neurons · 42/84 connections" in count_texts(session)[1]
    assert count_texts(Session("e", Workspace(DATASETS)))[1] == "no model yet"


def test_run_line_status_and_epochs():
    assert epoch_text(44.0) == "44" and epoch_text(12.34) == "12.3" and epoch_text(7.4167000000000005) == "7.4"
    empty = Session("e", Workspace(DATASETS))
    assert run_line(empty) == "no model yet" and status(empty) == ("idle", "status status-idle")
    session = sample()
    line = run_line(session)
    assert line.startswith("epoch 20 · loss ") and " · train " in line and " · test " in line
    session.workspace.history = []
    assert run_line(session).endswith("not trained yet")
    session.ticket = SimpleNamespace(runner=SimpleNamespace(running=True, results_since=lambda n: []))
    assert status(session) == ("ticket search · round 0", "status status-running")


def test_summary_lines_under_the_slider():
    preview = Preview(
        masks={}, threshold=0.1, rows=[("inputs → 1", 3, 4), ("→ outputs", 1, 4)], remaining=10, total=14, accuracy=0.5
    )
    lines = summary_lines(preview, unpruned=0.9)
    assert lines == ["4/8 connections (50% pruned) · 10/14 parameters", "test accuracy: 50.0%, before 90.0%"]
    assert summary_lines(preview, unpruned=None, test_samples=2048)[1] == "test accuracy on 2,048 samples: 50.0%"
    no_accuracy = Preview(masks={}, threshold=None, rows=[], remaining=0, total=0, accuracy=None)
    assert summary_lines(no_accuracy, unpruned=None) == ["0/0 connections · 0/0 parameters"]


def test_a_slider_move_sends_the_previews_codes_and_says_it_is_a_preview():
    session = sample()
    out = preview_outputs(session, PruneSetting("percent", "global", 30.0))
    codes, dead = session.mask_codes()
    assert out["masks"]["codes"] == codes and out["masks"]["dead"] == dead and codes.count("-") == round(0.3 * 84)
    assert out["label"].startswith("prune 30.0% of the remaining weights")
    assert "a preview: Apply writes it" in str(out["summary"])
    session.workspace.apply()
    out = preview_outputs(session, PruneSetting("percent", "global", 0.0))
    assert out["masks"]["codes"].count("-") == round(0.3 * 84) and "a preview" not in str(out["summary"])
    empty = preview_outputs(Session("e", Workspace(DATASETS)), PruneSetting())
    assert "Build or load a model to prune it" in json.dumps(empty["density"], default=str)


def test_the_preview_follows_the_slider_even_when_a_new_model_fired_in_the_same_call():
    new_model, moved = f"{ids.MODEL_VERSION}.data", f"{ids.PRUNE_SLIDER}.value"
    assert preview_value({new_model}, 60, 0.0) == 0.0  # a new model alone: from the session's setting
    assert preview_value({new_model, moved}, 60, 0.0) == 60  # a key pressed meanwhile: the slider's value
    assert preview_value({moved}, 35, 0.0) == 35
    assert preview_value(set(), 20, 0.0) == 20  # the first call of the page


def test_canvas_outputs_send_elements_only_when_the_drawing_changed():
    session = Session("s", Workspace(DATASETS))
    session.design.replace(nx.DiGraph([(0, 1), (1, 2), (0, 2)]))
    session.workspace.build(session.design.graph, Settings())
    first = canvas_outputs(session, None)
    canvas = session.canvas()
    codes, dead = session.mask_codes()
    assert first["elements"] == graph_to_elements(canvas.graph, canvas.drawing, codes=codes, dead=dead)
    again = canvas_outputs(session, first["canvas_key"])
    assert "elements" not in again and again["masks"]["codes"] == codes
    session.design.add_vertex()
    assert "elements" in canvas_outputs(session, first["canvas_key"])


# ----------------------------------------------------------------------------- the app


def _ids(node, found: dict) -> dict:
    component_id = getattr(node, "id", None)
    if component_id is not None:
        found[json.dumps(component_id, sort_keys=True) if isinstance(component_id, dict) else component_id] = node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            _ids(child, found)
    return found


def test_create_app_builds_its_callbacks_and_a_layout_that_serializes():
    with pytest.raises(ValueError, match="unknown sample 'nope'"):
        create_app("nope")
    first, app = create_app(), create_app()  # callbacks belong to each app: none is module-level
    assert len(first.callback_map) == len(app.callback_map) > 10
    layout = app.layout()  # a function: every page load gets a new session id
    text = pio_json.to_json_plotly(layout)
    assert json.loads(text)["props"]["children"]
    found = _ids(layout, {})
    again = _ids(serve_layout(), {})
    assert isinstance(found[ids.SESSION], dcc.Store) and found[ids.SESSION].storage_type == "session"
    assert found[ids.SESSION].data != again[ids.SESSION].data and len(found[ids.SESSION].data) == 32
    # every fixed id a server callback reads is on the page (pattern-matching ids are filled in by callbacks)
    for callback in app.callback_map.values():
        for dependency in (*callback["inputs"], *callback["state"]):
            assert dependency["id"].startswith("{") or dependency["id"] in found, dependency
