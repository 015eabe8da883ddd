"""The "Find a ticket" panel without a browser: form parsing, figure and patch builders, round choice, start/load."""

import networkx as nx
import pytest
import torch

from workbench.app.callbacks.lottery import load_round_into_workspace, poll_ticket, redraw_ticket, start_ticket
from workbench.app.lottery_view import (
    TRACES,
    accuracy_figure,
    accuracy_patch,
    accuracy_points,
    density_rows,
    find_round,
    load_into,
    lottery_config,
    progress_text,
    round_density_figure,
    round_key,
    round_options,
    ticket_panel,
)
from workbench.app.session import Session
from workbench.app.workspace import DatasetCache, Workspace
from workbench.errors import PruningError, TrainingError
from workbench.lottery import RoundResult
from workbench.pruning import current_masks
from workbench.sparse import MaskedDeepFFN

FORM = {
    "rounds": 3,
    "rate": 20,
    "output_rate": 10,
    "scope": "layer",
    "rewind": 0,
    "iterations": 40,
    "controls": ["reinit"],
    "seed": 1,
}


def _result(round_, condition, remaining, accuracy, layers=None):
    layers = layers or {"layers.0": remaining - 10, "layers.1": 10}
    return RoundResult(
        round=round_,
        condition=condition,
        remaining=remaining,
        total=200,
        layer_remaining=layers,
        final_accuracy=accuracy,
        best_accuracy=accuracy,
        early_stop_iteration=100 * (round_ + 1),
        early_stop_accuracy=accuracy,
        min_val_loss=0.1,
        seconds=1.0,
        curve=[],
        masks={},
    )


RESULTS = [
    _result(0, "ticket", 200, 0.95),
    _result(1, "ticket", 160, 0.96),
    _result(1, "reinit", 160, 0.93),
    _result(1, "random", 160, 0.92),
]


def test_form_becomes_a_config_with_rates_in_percent():
    config = lottery_config(**FORM)
    assert (config.rounds, config.rate, config.output_rate, config.scope) == (3, 0.2, 0.1, "layer")
    assert (config.iterations, config.eval_every, config.controls, config.seed) == (40, 2, ("reinit",), 1)
    assert lottery_config(**{**FORM, "output_rate": None}).output_rate is None
    assert lottery_config(**{**FORM, "controls": None, "seed": None}).controls == ()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rounds", None, "Rounds is empty"),
        ("rate", 100, "Rate per round must be between 0 and 99"),
        ("rewind", 40, "Rewind iteration must be between 0 and 39"),
        ("iterations", 2.5, "Iterations per round must be a whole number"),
        ("rate", "abc", "Rate per round must be a number"),
    ],
)
def test_form_errors_name_the_field(field, value, message):
    with pytest.raises(PruningError, match=message):
        lottery_config(**{**FORM, field: value})


def test_accuracy_points_share_the_dense_round_and_split_the_rest_by_condition():
    points = accuracy_points(RESULTS)
    assert points["ticket"] == {"x": [100.0, 80.0], "y": [95.0, 96.0], "round": [0, 1]}
    assert points["reinit"] == {"x": [100.0, 80.0], "y": [95.0, 93.0], "round": [0, 1]}
    assert points["random"]["y"] == [95.0, 92.0]


def test_accuracy_figure_has_one_trace_per_condition_on_a_reversed_log_axis():
    fig = accuracy_figure(RESULTS)
    assert [t.name for t in fig.data] == [name for _, name, _ in TRACES]
    assert list(fig.data[0].x) == [100.0, 80.0]
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.autorange == "reversed"
    assert len(accuracy_figure().layout.annotations) == 1 and not fig.layout.annotations


def test_accuracy_patch_appends_points_to_the_right_traces():
    patch = accuracy_patch(RESULTS[2:]).to_plotly_json()
    ops = {
        (op["location"][1], op["location"][2]): op["params"]["value"]
        for op in patch["operations"]
        if op["location"][0] == "data"
    }
    assert ops[(1, "x")] == [80.0] and ops[(1, "y")] == [93.0]  # reinit
    assert ops[(2, "y")] == [92.0]  # random
    assert (0, "x") not in ops  # no ticket result in this batch


def test_round_options_newest_first_and_found_again_by_key():
    options = round_options(RESULTS)
    assert [o["value"] for o in options] == ["ticket/1", "reinit/1", "random/1", "ticket/0"]
    assert options[-1]["label"].startswith("round 0 · dense · 100.0%")
    assert find_round(RESULTS, "reinit/1") is RESULTS[2]
    assert find_round(RESULTS, "random/0") is RESULTS[0]  # round 0 is every condition's
    assert find_round(RESULTS, None) is None and find_round(RESULTS, "ticket/7") is None
    assert round_key(RESULTS[3]) == "random/1"


def test_density_rows_and_progress_line():
    model = MaskedDeepFFN(4, 2, [3])
    rows = density_rows(RESULTS[1], {"layers.0": 190, "layers.1": 10}, model)
    assert rows == [("layer 0→1", 150, 190), ("layer 1→2", 10, 10)]
    line = progress_text("running", 50, 200, RESULTS)
    assert line.startswith("running · 50 of 200 iterations (25%)") and "round 1: 80.0% of weights" in line
    assert progress_text("idle", 0, 0, []) == "idle · 0 of 0 iterations (–)"


def test_round_density_figure_is_titled_with_its_round():
    model = MaskedDeepFFN(4, 2, [3])
    fig = round_density_figure(RESULTS[2], {"layers.0": 190, "layers.1": 10}, model)
    assert fig["layout"]["title"]["text"] == "Connections kept · round 1 (reinit)"
    assert fig["data"][0]["x"] == [150, 10] and fig["data"][1]["x"] == [40, 0]
    blank = round_density_figure(None, {}, model)
    assert "appears here" in blank["layout"]["annotations"][0]["text"]


def test_panel_layout_builds():
    assert ticket_panel().id == "ticket-panel"


def test_a_run_starts_on_a_fresh_copy_and_any_round_loads_into_the_workspace():
    torch.manual_seed(0)
    ws = Workspace(DatasetCache(), "digits")
    session = Session("s", ws)
    with pytest.raises(TrainingError, match="build a model"):
        start_ticket(session, lottery_config(**FORM))
    ws.build("ffn", nx.DiGraph(), "12")
    before = {k: v.clone() for k, v in ws.model.state_dict().items()}
    state = start_ticket(session, lottery_config(**{**FORM, "rounds": 2}))
    with pytest.raises(TrainingError, match="running already"):
        start_ticket(session, lottery_config(**FORM))
    state.runner.join(timeout=120)
    assert state.runner.state == "finished"
    assert all(torch.equal(v, before[k]) for k, v in ws.model.state_dict().items())
    assert poll_ticket(Session("other", ws), follow=True) is None
    polled = poll_ticket(session, follow=False)
    assert polled.status == "finished" and len(polled.fresh) == 1 + 2 * 2 and polled.version is None
    assert polled.progress.startswith("finished") and "round 2" in polled.density["layout"]["title"]["text"]
    assert poll_ticket(session, follow=False).fresh == []
    assert redraw_ticket(Session("other", ws)) is None
    assert len(redraw_ticket(session).fresh) == len(polled.fresh)  # a page load draws the whole run again
    assert poll_ticket(session, follow=False).fresh == []
    state.followed = 1  # pretend round 1 was followed: the next poll loads round 2
    assert poll_ticket(session, follow=True).version == ws.version and "round 2 (ticket" in ws.note
    results = state.runner.results_since(0)
    chosen = find_round(results, "ticket/2")
    version = ws.version
    assert load_round_into_workspace(session, chosen) == ws.version > version
    assert "lottery round 2 (ticket" in ws.note
    masks = current_masks(ws.model)
    assert all(torch.equal(masks[n], chosen.masks[n]) for n in masks)
    assert sum(int(m.sum()) for m in masks.values()) == chosen.remaining < chosen.total
    again = load_into(state.template, chosen)
    assert all(torch.equal(v, chosen.state[k]) for k, v in again.state_dict().items())
