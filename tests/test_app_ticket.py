"""The ticket search (workbench.app.state.ticket and workbench.app.views.ticket): the form, the plots that
grow round by round, the round chooser, and a real run whose rounds load into the workspace."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

from workbench.app.state.session import Session
from workbench.app.state.settings import FormError, Settings
from workbench.app.state.ticket import (
    CONDITION_NAMES,
    density_rows,
    find_round,
    load_chosen_round,
    lottery_config,
    poll_ticket,
    progress_text,
    round_key,
    round_label,
    start_ticket,
)
from workbench.app.state.workspace import DatasetCache, PruneSetting, Workspace
from workbench.app.views.ticket import (
    accuracy_figure,
    accuracy_patch,
    accuracy_points,
    round_density_figure,
    round_options,
    ticket_screen,
)
from workbench.errors import TrainingError
from workbench.lottery import RoundResult
from workbench.pruning import current_masks
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN

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


def result(round_, condition, remaining, accuracy, layers=None):
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
    result(0, "ticket", 200, 0.95),
    result(1, "ticket", 160, 0.96),
    result(1, "reinit", 160, 0.93),
    result(1, "random", 160, 0.92),
]


def operations(patch) -> dict:
    return {
        (tuple(op["location"]), op["operation"]): op["params"].get("value")
        for op in patch.to_plotly_json()["operations"]
    }


# ----------------------------------------------------------------------------- the form


def test_the_form_becomes_a_config_with_rates_in_percent():
    config = lottery_config(**FORM)
    assert (config.rounds, config.rate, config.output_rate, config.scope) == (3, 0.2, 0.1, "layer")
    assert (config.iterations, config.eval_every, config.controls, config.seed) == (40, 2, ("reinit",), 1)
    assert lottery_config(**{**FORM, "output_rate": None}).output_rate is None
    assert lottery_config(**{**FORM, "output_rate": ""}).output_rate is None
    assert lottery_config(**{**FORM, "controls": None, "seed": None}).controls == ()
    assert lottery_config(**{**FORM, "scope": "anything else"}).scope == "layer"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rounds", None, r"^Rounds: is empty"),
        ("rounds", 51, r"^Rounds: must be between 0 and 50"),
        ("rate", 100, r"^Rate per round: must be between 0 and 99"),
        ("rate", "abc", r"^Rate per round: must be a number"),
        ("rate", "nan", r"^Rate per round: must be a finite number"),
        ("rewind", 40, r"^Rewind iteration: must be between 0 and 39"),
        ("iterations", 2.5, r"^Iterations per round: must be a whole number"),
        ("iterations", "1e400", r"^Iterations per round: must be a finite number"),
        ("output_rate", -1, r"^Output layer rate: must be between 0 and 99"),
        ("seed", -1, r"^Seed: must be between 0 and"),
    ],
)
def test_form_errors_name_the_field(field, value, message):
    with pytest.raises(FormError, match=message):
        lottery_config(**{**FORM, field: value})


# ----------------------------------------------------------------------------- plots and the chooser


def test_accuracy_points_share_the_dense_round_and_split_the_rest_by_condition():
    points = accuracy_points(RESULTS)
    assert points["ticket"] == {"x": [100.0, 80.0], "y": [95.0, 96.0], "round": [0, 1]}
    assert points["reinit"] == {"x": [100.0, 80.0], "y": [95.0, 93.0], "round": [0, 1]}
    assert points["random"]["y"] == [95.0, 92.0]


def test_the_accuracy_figure_has_one_trace_per_condition_on_a_reversed_log_axis():
    fig = accuracy_figure(RESULTS)
    assert [t.name for t in fig.data] == list(CONDITION_NAMES.values())
    assert list(fig.data[0].x) == [100.0, 80.0]
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.autorange == "reversed"
    assert not fig.layout.annotations
    empty = accuracy_figure()
    assert [a.text for a in empty.layout.annotations] == ["Press ▶ Find a ticket to start"]
    assert list(empty.layout.xaxis.range) == [2, 0] and list(empty.layout.yaxis.range) == [0, 100]


def test_the_accuracy_patch_appends_to_the_right_traces_and_removes_the_hint():
    ops = operations(accuracy_patch(RESULTS[2:]))
    assert ops[(("data", 1, "x"), "Extend")] == [80.0] and ops[(("data", 1, "y"), "Extend")] == [93.0]  # reinit
    assert ops[(("data", 2, "y"), "Extend")] == [92.0] and ops[(("data", 2, "customdata"), "Extend")] == [1]
    assert (("data", 0, "x"), "Extend") not in ops  # no ticket result in this batch
    assert ops[(("layout", "annotations"), "Assign")] == []
    assert accuracy_patch([]).to_plotly_json()["operations"] == []


def test_round_options_newest_first_and_found_again_by_key():
    options = round_options(RESULTS)
    assert [o["value"] for o in options] == ["ticket/1", "reinit/1", "random/1", "ticket/0"]
    assert options[-1]["label"] == "round 0 · dense · 100.0% · acc 95.0%"
    assert options[0]["label"] == "round 1 · winning ticket (rewound) · 80.0% · acc 96.0%"
    assert find_round(RESULTS, "reinit/1") is RESULTS[2]
    assert find_round(RESULTS, "random/0") is RESULTS[0]  # round 0 is every condition's
    assert find_round(RESULTS, None) is None and find_round(RESULTS, "ticket/7") is None
    assert find_round(RESULTS, "garbage") is None
    assert round_key(RESULTS[3]) == "random/1" and round_label(RESULTS[3]).startswith("round 1 · random masks")


def test_density_rows_and_the_progress_line():
    model = MaskedDeepFFN(4, 2, [3])
    rows = density_rows(RESULTS[1], {"layers.0": 190, "layers.1": 10}, model)
    assert rows == [("inputs → 1", 150, 190), ("1 → outputs", 10, 10)]
    line = progress_text("running", 50, 200, RESULTS)
    assert line.startswith("running · 50 of 200 iterations (25%)")
    assert "round 1: 80.0% of weights, test accuracy 96.00%, early stop at iteration 200" in line
    assert progress_text("idle", 0, 0, []) == "idle · 0 of 0 iterations (–)"


def test_the_round_density_figure_is_titled_with_its_round():
    model = MaskedDeepFFN(4, 2, [3])
    fig = round_density_figure(RESULTS[2], {"layers.0": 190, "layers.1": 10}, model)
    assert fig["layout"]["title"]["text"] == "Connections kept · round 1 (reinit)"
    assert fig["data"][0]["x"] == [150, 10] and fig["data"][1]["x"] == [40, 0]
    blank = round_density_figure(None, {}, model)
    assert "appear here" in blank["layout"]["annotations"][0]["text"]


def test_the_screen_builds():
    assert ticket_screen().id == "screen-ticket"


# ----------------------------------------------------------------------------- a real run


def test_a_run_trains_a_fresh_copy_and_its_rounds_load_into_the_workspace():
    ws = Workspace(DatasetCache(), "moons")
    session = Session("ticket", ws)
    with pytest.raises(TrainingError, match="build a model first"):
        start_ticket(session, lottery_config(**FORM))
    session.design.replace(nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3)]))
    ws.build(session.design.graph, Settings())
    before = {k: v.clone() for k, v in ws.model.state_dict().items()}
    state = start_ticket(session, lottery_config(**{**FORM, "rounds": 2, "iterations": 20}))
    with pytest.raises(TrainingError, match="a ticket search is running already"):
        start_ticket(session, lottery_config(**FORM))
    state.runner.join(timeout=120)
    assert state.runner.state == "finished", state.runner.error
    assert all(torch.equal(v, before[k]) for k, v in ws.model.state_dict().items())  # untouched until loaded
    assert poll_ticket(Session("other", ws), follow=True) is None
    polled = poll_ticket(session, follow=False)
    assert polled.status == "finished" and len(polled.fresh) == 1 + 2 * 2 and not polled.loaded
    assert polled.progress.startswith("finished") and polled.newest.round == 2
    assert poll_ticket(session, follow=False).fresh == []
    assert len(poll_ticket(session, follow=False, redraw=True).fresh) == len(polled.fresh)  # a page load redraws
    state.followed = 1  # pretend round 1 was followed: the next poll loads round 2
    ws.preview_masks(PruneSetting("percent", "global", 30.0), evaluate=False)
    followed = poll_ticket(session, follow=True)
    assert followed.loaded and "ticket round 2" in ws.note and ws.prune.value == 0
    chosen = load_chosen_round(session, "reinit/1")
    masks = current_masks(ws.model)
    assert all(torch.equal(masks[n], chosen.masks[n]) for n in masks)
    assert sum(int(m.sum()) for m in masks.values()) == chosen.remaining < chosen.total
    assert isinstance(ws.model, MaskedDeepDAN) and set(ws.model.structure.edges) == set(session.design.graph.edges)
    assert "ticket round 1 (reinit" in ws.note and ws.prune.value == 0 and ws.history == []
    with pytest.raises(TrainingError, match="choose a finished round first"):
        load_chosen_round(session, "ticket/9")
