"""The model side of a session (workbench.app.state.workspace), checked for issue 11's "one source of truth".

Without a browser: after anything that settles the model (a build, Apply,
Reset masks, a finished fine-tune, a loaded ticket round or checkpoint) the
slider stands at zero and a preview at zero is exactly the model's masks; a
preview prunes a share of the *remaining* weights, never the applied ones
again; a change of data set starts a new run; training goes on across runs of
one model; a flat loss is flagged.
"""

from __future__ import annotations

import time

import networkx as nx
import pytest
import torch

from workbench.app.state.actions import load_upload
from workbench.app.state.session import Session
from workbench.app.state.settings import ACTIVATION_TITLES, Settings
from workbench.app.state.ticket import load_chosen_round, lottery_config, start_ticket
from workbench.app.state.workspace import DatasetCache, PruneSetting, Workspace, build_model
from workbench.errors import DatasetError, PruningError, TrainingError
from workbench.pruning import current_masks, weight_snapshot
from workbench.sparse import ACTIVATIONS, MaskedDeepDAN

DATASETS = DatasetCache()
GRAPH = nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3), (1, 4), (4, 3), (2, 4)])
FAST = Settings(batch_size=128, epochs=1, device="cpu")  # 6 steps an epoch on the moons


def built(settings: Settings = FAST, dataset: str = "moons", graph: nx.DiGraph = GRAPH) -> Workspace:
    ws = Workspace(DATASETS, dataset)
    ws.build(graph, settings)
    return ws


def finish(ws: Workspace, timeout: float = 120.0) -> tuple[str, str | None]:
    """Poll like the page does until the run ends; returns its final state and error."""
    deadline = time.monotonic() + timeout
    while ws.running and time.monotonic() < deadline:
        time.sleep(0.02)
        ws.poll()
    _, state, error = ws.poll()
    assert state not in ("queued", "running", "paused"), "the run did not end"
    return state, error


def masks_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def kept(masks: dict) -> int:
    return sum(int(m.sum()) for m in masks.values())


def at_zero_is_the_model(ws: Workspace) -> None:
    """The slider stands at zero and every view shows the model's own masks."""
    assert ws.prune.value == 0 and not ws.previewing
    model_masks = current_masks(ws.model)
    assert masks_equal(ws.masks(), model_masks)
    for scope in ("global", "layer"):
        assert masks_equal(ws.preview_masks(PruneSetting("percent", scope, 0.0), evaluate=False).masks, model_masks)
    assert masks_equal(ws.preview_masks(PruneSetting("threshold", "global", 0.0), evaluate=False).masks, model_masks)
    assert ws.view_model() is ws.model


# ----------------------------------------------------------------------------- the slider starts again


def settle_by_build(session: Session) -> None:
    session.workspace.build(GRAPH, FAST)


def settle_by_apply(session: Session) -> None:
    session.workspace.apply()


def settle_by_reset_masks(session: Session) -> None:
    session.workspace.apply()
    session.workspace.preview_masks(PruneSetting("percent", "global", 20.0), evaluate=False)
    session.workspace.reset_masks()
    assert all(bool(m.all()) for m in current_masks(session.workspace.model).values())


def settle_by_fine_tune(session: Session) -> None:
    ws = session.workspace
    ws.apply()
    ws.preview_masks(PruneSetting("percent", "global", 10.0), evaluate=False)
    ws.start(FAST, epochs=1, note="fine-tuning")
    with pytest.raises(PruningError, match="training is running"):
        ws.preview_masks(PruneSetting("percent", "global", 10.0))
    assert finish(ws) == ("finished", None)
    assert ws.run_note == "fine-tuning"


def settle_by_ticket_round(session: Session) -> None:
    config = lottery_config(
        rounds=1, rate=20, output_rate=None, scope="layer", rewind=0, iterations=12, controls=[], seed=0
    )
    state = start_ticket(session, config)
    state.runner.join(timeout=120)
    assert state.runner.state == "finished", state.runner.error
    result = load_chosen_round(session, "ticket/1")
    assert masks_equal(current_masks(session.workspace.model), result.masks)
    assert kept(result.masks) < sum(m.numel() for m in result.masks.values())


def settle_by_checkpoint(session: Session) -> None:
    session.workspace.apply()
    name, data = session.download("model.pt")
    load_upload(session, data, name)


@pytest.mark.parametrize(
    "settle",
    [
        settle_by_build,
        settle_by_apply,
        settle_by_reset_masks,
        settle_by_fine_tune,
        settle_by_ticket_round,
        settle_by_checkpoint,
    ],
    ids=lambda f: f.__name__.removeprefix("settle_by_"),
)
def test_after_the_model_settles_the_slider_is_at_zero_on_its_current_masks(settle):
    session = Session("ws", built())
    session.design.replace(GRAPH)
    ws = session.workspace
    ws.preview_masks(PruneSetting("percent", "global", 30.0), evaluate=False)
    assert ws.prune.value == 30.0 and ws.previewing
    settle(session)
    at_zero_is_the_model(ws)


def test_a_preview_prunes_a_share_of_the_remaining_weights_never_the_applied_ones_again():
    ws = built()
    total = kept(current_masks(ws.model))
    first = ws.preview_masks(PruneSetting("percent", "global", 30.0), evaluate=False)
    assert kept(first.masks) == total - round(0.3 * total)
    ws.apply()
    remaining = kept(current_masks(ws.model))
    assert remaining == kept(first.masks)
    again = ws.preview_masks(PruneSetting("percent", "global", 30.0), evaluate=False)
    assert kept(again.masks) == remaining - round(0.3 * remaining)  # 30% of what is left, not 30% stacked on 30%
    for name, mask in again.masks.items():
        assert not (mask & ~first.masks[name]).any()  # what the first Apply removed stays removed
    ws.apply()
    assert kept(current_masks(ws.model)) == kept(again.masks)
    assert sum(r[1] for r in ws.preview_masks(PruneSetting("percent", "global", 0.0)).rows) == kept(again.masks)


def test_the_preview_never_changes_the_model_and_dragging_back_restores():
    ws = built()
    before = current_masks(ws.model)
    weights = weight_snapshot(ws.model)
    high = ws.preview_masks(PruneSetting("percent", "global", 80.0))
    assert ws.previewing and kept(high.masks) < kept(before)
    assert masks_equal(current_masks(ws.model), before)
    assert all(torch.equal(w, weights[k]) for k, w in weight_snapshot(ws.model).items())
    assert ws.view_model() is not ws.model and masks_equal(current_masks(ws.view_model()), high.masks)
    back = ws.preview_masks(PruneSetting("percent", "global", 0.0))
    assert all(k == t for _, k, t in back.rows) and not ws.previewing and ws.view_model() is ws.model
    assert back.accuracy is not None and 0.0 <= back.accuracy <= 1.0


def test_threshold_previews_and_bad_settings():
    ws = built()
    top = float(ws.take_snapshot().magnitudes.max())
    everything = ws.preview_masks(PruneSetting("threshold", "global", top))
    assert kept(everything.masks) == 0 and everything.threshold == top
    assert everything.remaining == everything.total - sum(t for _, _, t in everything.rows)
    assert everything.rows[0][0] == "inputs → 1" and everything.rows[-1][0] == "→ outputs"
    low, high = ws.slider_range("threshold")
    assert low == 0 and high >= top
    with pytest.raises(PruningError, match=r"threshold must be a finite number >= 0, got -1\.0"):
        ws.preview_masks(PruneSetting("threshold", "global", -1.0))
    with pytest.raises(PruningError, match=r"threshold must be a finite number >= 0, got nan"):
        ws.preview_masks(PruneSetting("threshold", "global", float("nan")))
    with pytest.raises(PruningError, match=r"percent must be between 0 and 100, got 101"):
        ws.preview_masks(PruneSetting("percent", "global", 101))
    with pytest.raises(PruningError, match=r"unknown pruning mode 'random'"):
        ws.preview_masks(PruneSetting("random", "global", 1.0))


def test_apply_needs_a_preview_and_reset_masks_needs_a_model():
    ws = built()
    with pytest.raises(PruningError, match="move the slider to preview masks before applying them"):
        ws.apply()
    ws.preview_masks(PruneSetting("percent", "layer", 50.0), evaluate=False)
    masked = ws.apply()
    assert masked == sum(m.numel() for m in current_masks(ws.model).values()) - kept(current_masks(ws.model)) > 0
    empty = Workspace(DATASETS)
    for action in (empty.apply, empty.reset_masks, empty.take_snapshot):
        with pytest.raises(PruningError, match="build or load a model first"):
            action()


# ----------------------------------------------------------------------------- runs


def test_training_continues_the_epochs_of_the_same_model():
    ws = built()
    ws.start(FAST)
    with pytest.raises(TrainingError, match="training is running already"):
        ws.start(FAST)
    assert finish(ws) == ("finished", None)
    assert ws.epoch == pytest.approx(1.0) and ws.run_note == "training"
    first = len(ws.history)
    ws.start(FAST, epochs=2, note="fine-tuning")
    assert finish(ws) == ("finished", None)
    epochs = [r["epoch"] for r in ws.history]
    assert len(epochs) > first and epochs == sorted(epochs)
    assert ws.epoch == pytest.approx(3.0)


def test_a_change_of_data_set_builds_a_new_model_and_starts_a_new_run():
    ws = built(Settings(batch_size=128, epochs=2, device="cpu"))
    ws.start(Settings(batch_size=128, epochs=2, device="cpu"))
    finish(ws)
    old, version = ws.model, ws.version
    assert ws.history and ws.epoch == pytest.approx(2.0)
    assert ws.set_dataset("circles", None, FAST) is True
    assert ws.model is not old and ws.fits() and ws.version > version
    assert ws.history == [] and ws.epoch == 0.0 and ws.prune.value == 0
    assert isinstance(ws.model, MaskedDeepDAN) and set(ws.model.structure.edges) == set(GRAPH.edges)
    ws.start(FAST)
    finish(ws)
    assert ws.history[0]["epoch"] < 1 and ws.epoch == pytest.approx(1.0)  # the curves of one run only
    assert ws.set_dataset("circles", None, FAST) is False  # the same data set: nothing happens


def test_an_unknown_data_set_is_refused_before_anything_changes():
    ws = built()
    model, history, name = ws.model, list(ws.history), ws.dataset_name
    with pytest.raises(DatasetError, match="imagenet"):
        ws.set_dataset("imagenet", GRAPH, FAST)
    assert (ws.model, ws.history, ws.dataset_name) == (model, history, name)


def test_a_data_set_change_without_a_model_keeps_none():
    ws = Workspace(DATASETS)
    assert ws.set_dataset("digits", GRAPH, FAST) is False and ws.model is None and ws.dataset_name == "digits"


def test_start_refuses_without_a_model_or_with_one_that_does_not_fit():
    with pytest.raises(TrainingError, match="build a model first"):
        Workspace(DATASETS).start(FAST)
    ws = built()
    ws.set_model(MaskedDeepDAN(64, 10, GRAPH))  # a digits model on the moons
    assert not ws.fits()
    with pytest.raises(TrainingError, match="does not fit the moons data"):
        ws.start(FAST)


def test_a_failing_run_keeps_the_model_and_reports():
    ws = built()
    model = ws.model
    with torch.no_grad():
        model.output_layer.bias.fill_(float("nan"))  # the first loss is NaN
    ws.start(FAST)
    state, error = finish(ws)
    assert state == "failed" and "nan" in error.lower()
    assert ws.model is model and not ws.running


def test_reset_gives_the_seeds_weights_every_connection_and_no_curves():
    ws = built()
    ws.preview_masks(PruneSetting("percent", "global", 50.0), evaluate=False)
    ws.apply()
    ws.start(FAST)
    finish(ws)
    ws.reset(FAST)
    assert ws.history == [] and all(bool(m.all()) for m in current_masks(ws.model).values())
    fresh = build_model(GRAPH, ws.dataset, FAST).state_dict()
    now = ws.model.state_dict()
    assert now.keys() == fresh.keys() and all(torch.equal(now[k], fresh[k]) for k in now)


# ----------------------------------------------------------------------------- a flat loss


def test_flat_loss_flags_a_run_whose_loss_does_not_move():
    settings = Settings(batch_size=128, epochs=4, device="cpu")
    ws = built(settings)
    with torch.no_grad():
        for layer in (ws.model.input_layer, *ws.model.layers, ws.model.output_layer):
            layer.mask.zero_()  # every connection off: the outputs are the biases
    ws.start(settings)
    assert finish(ws) == ("finished", None)
    warning = ws.flat_loss()
    assert warning is not None and "not learning" in warning and "chance is 50%" in warning


def test_flat_loss_flags_a_learning_rate_too_small_to_move():
    settings = Settings(batch_size=128, epochs=4, lr=1e-6, device="cpu")
    ws = built(settings)
    ws.start(settings)
    finish(ws)
    assert ws.flat_loss() is not None


def test_flat_loss_is_none_for_a_trained_model_whose_low_loss_holds_while_fine_tuning():
    ws = built()
    ws.history = [{"epoch": e, "loss": 0.213, "test_acc": 0.92} for e in range(1, 6)]  # flat, far below log(2)
    assert ws.flat_loss() is None
    ws.history = [{"epoch": e, "loss": 0.69, "test_acc": 0.7} for e in range(1, 6)]  # flat where training starts
    assert "not learning" in ws.flat_loss()


def test_flat_loss_is_none_for_a_learning_run_and_for_a_short_one():
    settings = Settings(batch_size=32, epochs=4, lr=0.02, device="cpu")
    ws = built(settings, graph=nx.DiGraph([(i, j) for i in range(4) for j in range(4, 8)]))
    ws.start(Settings(batch_size=32, epochs=1, device="cpu"))
    finish(ws)
    assert ws.flat_loss() is None  # one epoch is too short to judge
    ws.start(settings)
    finish(ws)
    run = [r for r in ws.history if r["epoch"] > 1]
    assert run[-1]["test_acc"] > 0.75
    assert ws.flat_loss() is None


# ----------------------------------------------------------------------------- build_model


def test_build_model_is_reproducible_and_leaves_the_global_random_state_alone():
    data = DATASETS.get("moons")
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    a = build_model(GRAPH, data, Settings(init_seed=7))
    assert torch.equal(torch.get_rng_state(), state)
    b = build_model(GRAPH, data, Settings(init_seed=7))
    c = build_model(GRAPH, data, Settings(init_seed=8))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


@pytest.mark.parametrize("activation", sorted(ACTIVATION_TITLES))
def test_build_model_uses_the_chosen_activation(activation):
    model = build_model(GRAPH, DATASETS.get("moons"), Settings(activation=activation))
    assert type(model.activation) is ACTIVATIONS[activation]
    assert model.input_layer.in_features == 2 and model.output_layer.out_features == 2


# ----------------------------------------------------------------------------- views of the model


def test_boundary_on_2d_data_and_accuracy_per_class_otherwise():
    ws = built()
    xs, ys, prob = ws.boundary(steps=10)
    assert prob.shape == (10, 10) and ((prob >= 0) & (prob <= 1)).all() and len(xs) == len(ys) == 10
    assert len(ws.class_accuracy()) == 2
    ws.set_dataset("digits", None, FAST)
    assert ws.boundary() is None
    accuracy = ws.class_accuracy()
    assert len(accuracy) == 10 and all(0.0 <= a <= 1.0 for a in accuracy)
