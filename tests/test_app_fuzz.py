"""Fuzzing every server callback of the app with malformed values: never an HTTP 500 (issue 12).

Each callback gets its request body built from the served callback map
(:class:`workbench.app.requests.AppMap`), with hypothesis-drawn values in
place of what the page would send: None, bools, huge and negative numbers,
"inf"/"nan"/"1e400" strings, lists, dicts, deeply nested lists. The app
answers every one with 200 (or 204 when there is nothing to update), and
the session keeps working.
"""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.app import create_app, ids
from workbench.app.requests import AppMap

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["inf", "-inf", "nan", "1e400", "-3", "", "abc", "0x10", "[]", "{}", "3,4", " 2 "]),
    st.text(max_size=12),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.sampled_from(["id", "data", "x", "menuItemId"]), st.integers(), max_size=2),
    st.integers(min_value=50, max_value=400).map(lambda depth: json.loads("[" * depth + "]" * depth)),
)


@pytest.fixture(scope="module")
def served():
    """The app, its test client, its callback map, and a session id whose session exists."""
    import torch

    torch.set_num_threads(1)
    app = create_app()
    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    layout = client.get("/_dash-layout").get_json()
    session_id = uuid.uuid4().hex
    yield app, client, AppMap(deps, layout), session_id
    app.workbench_sessions.close()


def _server_callbacks() -> list[str]:
    app = create_app()
    return sorted(key for key, cb in app.callback_map.items() if cb.get("callback") is not None)


CALLBACKS = _server_callbacks()


def _stop_threads(app, session_id: str) -> None:
    with app.workbench_sessions.use(session_id) as (session, _):
        session.close()


@pytest.mark.parametrize("output", CALLBACKS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_callback_answers_500_to_malformed_values(served, output, data):
    app, client, appmap, session_id = served
    callback = next(cb for cb in appmap.callbacks if cb["output"] == output)
    values = {}
    entries = [*callback["inputs"], *callback.get("state", [])]
    for dep in entries:
        if dep["id"] == ids.SESSION and dep["property"] == "data":
            values[(ids.SESSION, "data")] = session_id if data.draw(st.booleans()) else data.draw(VALUES)
        elif not dep["id"].startswith("{"):
            values[(dep["id"], dep["property"])] = data.draw(VALUES)
    trigger = data.draw(st.sampled_from(callback["inputs"])) if callback["inputs"] else None
    body = appmap.body(callback, values, (trigger["id"], trigger["property"]) if trigger else None)
    response = client.post("/_dash-update-component", json=body)
    _stop_threads(app, session_id)
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:500]


def test_the_session_still_works_after_the_fuzzing(served):
    _, client, appmap, session_id = served
    counts = appmap.find(output=(ids.COUNT_DESIGN, "children"))
    body = appmap.body(counts, {(ids.SESSION, "data"): session_id})
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    assert "vertices" in response.get_data(as_text=True)


def test_deeply_nested_request_json_is_refused_without_a_500(served):
    client = served[1]
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post("/_dash-update-component", data=deep, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 413)
