"""Lottery tickets: exact pruning counts per round, bit-exact rewinding, controls, torch.prune interop, CLI."""

import json
import threading
import xml.etree.ElementTree as ET

import networkx as nx
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from workbench.__main__ import main
from workbench.errors import CheckpointError, MaskError, PruningError, TrainingError
from workbench.lottery import (
    CONDITIONS,
    Checkpoint,
    LotteryConfig,
    LotteryRunner,
    RoundResult,
    iterate_lottery,
    load_round,
    prune_masks,
    random_masks,
    reinitialize,
    rewind,
    run_lottery,
    runs_in,
    splits_of,
    train_round,
)
from workbench.lottery.report import line_chart_svg, markdown_table, write_results
from workbench.lottery.torch_prune import (
    from_torch_sequential,
    load_prune_state_dict,
    to_prune_state_dict,
    to_torch_sequential,
)
from workbench.pruning import current_masks, masks_by_amount, weight_snapshot
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN, named_maskable_layers
from workbench.training import load_dataset

FAST = {"iterations": 30, "eval_every": 10, "batch_size": 32}


@pytest.fixture(scope="module")
def digits():
    return splits_of(load_dataset("digits"), validation=200, seed=0)


def _ffn(seed=0, hidden=(24, 16)):
    torch.manual_seed(seed)
    return MaskedDeepFFN(64, 10, list(hidden))


def _dan(seed=0):
    graph = nx.DiGraph([(0, 2), (1, 2), (0, 3), (2, 4), (3, 4), (1, 4), (2, 5), (3, 5)])
    torch.manual_seed(seed)
    return MaskedDeepDAN(64, 10, graph)


def _same(a, b):
    """Two dicts of tensors with the same keys and bit-identical values."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _expected_layer_counts(model, rounds, rate, output_rate):
    counts = {name: layer.weight.numel() for name, layer in named_maskable_layers(model)}
    out = list(counts)[-1]
    history = [dict(counts)]
    for _ in range(rounds):
        for name, n in counts.items():
            r = output_rate if name == out else rate
            counts[name] = n - round(r * n)
        history.append(dict(counts))
    return history


# ---------------------------------------------------------------- remaining weights per round


@pytest.mark.parametrize("make", [_ffn, _dan], ids=["ffn", "dan"])
def test_layer_scope_keeps_exactly_what_the_rates_imply_every_round(digits, make):
    model = make()
    config = LotteryConfig(rounds=3, rate=0.2, output_rate=0.1, **FAST)
    result = run_lottery(model, digits, config)
    expected = _expected_layer_counts(model, 3, 0.2, 0.1)
    assert [r.round for r in result.rounds] == [0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    for r in result.rounds:
        assert r.layer_remaining == expected[r.round], (r.round, r.condition)
        assert r.remaining == sum(expected[r.round].values())
        assert {n: int(m.sum()) for n, m in r.masks.items()} == expected[r.round]
        assert all(m.dtype == torch.bool for m in r.masks.values())


def test_global_scope_prunes_the_hidden_layers_together_and_the_output_layer_at_its_rate(digits):
    model = _ffn()
    result = run_lottery(model, digits, LotteryConfig(rounds=2, rate=0.3, output_rate=0.1, scope="global", **FAST))
    hidden, out = 64 * 24 + 24 * 16, 16 * 10
    for r in [x for x in result.rounds if x.condition == "ticket"]:
        assert r.layer_remaining["layers.0"] + r.layer_remaining["layers.1"] == hidden
        assert r.layer_remaining["layers.2"] == out
        hidden, out = hidden - round(0.3 * hidden), out - round(0.1 * out)


def test_without_an_output_rate_every_layer_is_pruned_at_the_rate():
    model = _ffn()
    weights, masks = weight_snapshot(model), current_masks(model)
    new = prune_masks(weights, masks, rate=0.5)
    expected = {n: m.numel() - round(0.5 * m.numel()) for n, m in masks.items()}
    assert {n: int(m.sum()) for n, m in new.items()} == expected
    assert _same(new, masks_by_amount(weights, 0.5, scope="layer"))


def test_prune_masks_prunes_the_smallest_trained_magnitudes_and_keeps_pruned_weights_off():
    weights = {"a": torch.tensor([[0.1, -3.0, 0.2, 4.0]]), "out": torch.tensor([[1.0, -0.5]])}
    masks = {"a": torch.tensor([[True, True, False, True]]), "out": torch.ones(1, 2, dtype=torch.bool)}
    new = prune_masks(weights, masks, rate=1 / 3, output_rate=0.5)
    assert new["a"].tolist() == [[False, True, False, True]]  # 0.1 goes; 0.2 was already off
    assert new["out"].tolist() == [[True, False]]
    with pytest.raises(MaskError, match="'nope'"):
        prune_masks(weights, masks, rate=0.2, output_rate=0.1, output_layer="nope")


# ---------------------------------------------------------------- rewinding


def test_rewind_restores_the_saved_weights_bit_for_bit_on_the_survivors(digits):
    model = _ffn()
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    train_round(model, digits, stop_at=20, generator=torch.Generator().manual_seed(0))
    masks = prune_masks(weight_snapshot(model), current_masks(model), rate=0.4, output_rate=0.2)
    rewind(model, saved, masks)
    for name, layer in named_maskable_layers(model):
        survivors = masks[name]
        assert torch.equal(layer.mask, survivors)
        assert torch.equal(layer.weight[survivors], saved[f"{name}.weight"][survivors])
        assert torch.equal(layer.bias, saved[f"{name}.bias"])
        assert not layer.weight[~survivors].any()  # pruned weights are zero
        assert int((~survivors).sum()) > 0


def test_the_rewind_point_is_the_state_after_k_iterations_bit_for_bit(digits):
    model = _ffn()
    config = LotteryConfig(rounds=1, rewind=7, controls=(), **FAST)
    result = run_lottery(model, digits, config)
    reference = _ffn()
    train_round(reference, digits, stop_at=7, batch_size=32, generator=torch.Generator().manual_seed(0))
    assert result.rewind_state.keys() == reference.state_dict().keys()
    assert all(torch.equal(result.rewind_state[k], v) for k, v in reference.state_dict().items())
    # and k = 0 is the initialisation of the (unchanged) model
    result0 = run_lottery(model, digits, LotteryConfig(rounds=0, **FAST))
    assert all(torch.equal(result0.rewind_state[k], v) for k, v in _ffn().state_dict().items())
    assert all(torch.equal(v, _ffn().state_dict()[k]) for k, v in model.state_dict().items())


def test_rounds_after_a_late_rewind_train_from_the_rewind_iteration(digits):
    result = run_lottery(_ffn(), digits, LotteryConfig(rounds=1, rewind=10, **FAST))
    assert [c[0] for c in result.get(0).curve] == [10, 20, 30]
    for r in result.rounds[1:]:
        assert [c[0] for c in r.curve] == [20, 30]
        assert r.early_stop_iteration in (20, 30)


# ---------------------------------------------------------------- controls


def test_controls_reinit_keeps_the_masks_and_random_keeps_the_counts(digits):
    result = run_lottery(_ffn(), digits, LotteryConfig(rounds=2, rate=0.5, output_rate=0.2, **FAST))
    for k in (1, 2):
        ticket, reinit, rand = (result.get(k, c) for c in ("ticket", "reinit", "random"))
        assert all(torch.equal(ticket.masks[n], reinit.masks[n]) for n in ticket.masks)
        assert rand.layer_remaining == ticket.layer_remaining
        assert any(not torch.equal(ticket.masks[n], rand.masks[n]) for n in ticket.masks)


def test_reinitialize_draws_new_weights_keeps_masks_and_leaves_the_global_rng_alone():
    model = _ffn()
    masks = prune_masks(weight_snapshot(model), current_masks(model), rate=0.5)
    rewind(model, model.state_dict(), masks)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    reinitialize(model, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    for name, layer in named_maskable_layers(model):
        assert torch.equal(layer.mask, masks[name])
        assert not torch.equal(layer.weight, before[f"{name}.weight"])
        assert not layer.weight[~masks[name]].any()
    again = _ffn()
    rewind(again, before, masks)
    reinitialize(again, seed=1)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_random_masks_keep_per_layer_counts_inside_the_design():
    base = {"a": torch.tensor([True, True, False, True, True, False]), "b": torch.ones(3, 3, dtype=torch.bool)}
    masks = {"a": torch.tensor([True, False, False, True, False, False]), "b": torch.eye(3, dtype=torch.bool)}
    a = random_masks(masks, base=base, generator=torch.Generator().manual_seed(3))
    b = random_masks(masks, base=base, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert int(a["a"].sum()) == 2 and int(a["b"].sum()) == 3
    assert not (a["a"] & ~base["a"]).any()
    with pytest.raises(MaskError, match="keeps 3 weights but only 2"):
        random_masks({"a": torch.tensor([True, True, True])}, base={"a": torch.tensor([True, True, False])})


# ---------------------------------------------------------------- results, stopping, loading


def test_each_round_records_accuracy_early_stopping_and_masks(digits):
    result = run_lottery(_ffn(), digits, LotteryConfig(rounds=1, controls=("reinit",), **FAST))
    assert [(r.round, r.condition) for r in result.rounds] == [(0, "ticket"), (1, "ticket"), (1, "reinit")]
    for r in result.rounds:
        losses = [c[1] for c in r.curve]
        assert r.min_val_loss == min(losses)
        assert r.early_stop_iteration == r.curve[losses.index(min(losses))][0]
        assert r.best_accuracy == max(c[2] for c in r.curve) >= r.final_accuracy == r.curve[-1][2]
        assert 0.0 < r.final_accuracy <= 1.0
    assert list(result.by_condition()) == ["ticket", "reinit"]
    assert result.by_condition()["reinit"][0] is result.get(0)
    assert not result.stopped
    with pytest.raises(KeyError, match="'random'"):
        result.get(1, "random")


def test_stop_event_ends_the_experiment_without_a_partial_round(digits):
    stop = threading.Event()
    seen = []
    for r in iterate_lottery(_ffn(), digits, LotteryConfig(rounds=3, **FAST), stop=stop):
        seen.append((r.round, r.condition))
        if r.condition == "reinit":
            stop.set()
    assert seen == [(0, "ticket"), (1, "ticket"), (1, "reinit")]
    counted = []
    result = run_lottery(_ffn(), digits, LotteryConfig(rounds=1, **FAST), progress=counted.append)
    assert sum(counted) == runs_in(result.config) == 30 + 3 * 30


def test_resuming_from_a_rounds_checkpoint_trains_the_later_rounds_bit_for_bit(digits):
    config = LotteryConfig(rounds=3, rewind=10, **FAST)
    through = run_lottery(_ffn(), digits, config)
    point = Checkpoint(1, through.get(1, "ticket").state, through.rewind_state)
    resumed = list(iterate_lottery(_ffn(), digits, config, resume=point))
    assert [(r.round, r.condition) for r in resumed] == [(k, c) for k in (2, 3) for c in CONDITIONS]
    for r in resumed:
        same = through.get(r.round, r.condition)
        assert r.curve == same.curve and _same(r.masks, same.masks) and _same(r.state, same.state)


def test_a_round_read_back_from_its_summary_equals_the_round(digits):
    result = run_lottery(_ffn(), digits, LotteryConfig(rounds=1, **FAST))
    for r in result.rounds:
        back = RoundResult.from_summary(json.loads(json.dumps(r.summary())), r.masks)
        assert back.summary() == r.summary() and back.masks is not r.masks and back.state is None


def test_load_round_puts_a_rounds_weights_and_masks_into_a_model(digits):
    result = run_lottery(_ffn(), digits, LotteryConfig(rounds=2, controls=(), **FAST))
    model = _ffn(seed=5)
    load_round(model, result.get(2))
    assert all(torch.equal(m, result.get(2).masks[n]) for n, m in current_masks(model).items())
    assert all(torch.equal(v, result.get(2).state[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 1.0}, "rate must be a fraction"),
        ({"output_rate": -0.1}, "output_rate must be a fraction"),
        ({"rewind": 30, "iterations": 30}, "rewind iteration 30"),
        ({"controls": ("shuffle",)}, "unknown controls \\['shuffle'\\]"),
        ({"scope": "net"}, "unknown scope 'net'"),
        ({"rounds": -1}, "rounds must be"),
    ],
)
def test_config_errors_name_the_bad_value(kwargs, message):
    with pytest.raises(PruningError, match=message):
        LotteryConfig(**kwargs)


def test_results_are_written_as_json_csv_masks_and_svg(digits, tmp_path):
    result = run_lottery(_ffn(), digits, LotteryConfig(rounds=1, **FAST))
    paths = write_results(result, tmp_path, extra={"note": "test"})
    document = json.loads(paths["json"].read_text())
    assert [r["condition"] for r in document["rounds"]] == ["ticket", "ticket", "reinit", "random"]
    assert document["run"] == {"note": "test"} and document["config"]["rounds"] == 1
    assert len(paths["csv"].read_text().strip().splitlines()) == 1 + 4
    saved = torch.load(paths["masks"], weights_only=True)
    assert torch.equal(saved["masks"]["random/1"]["layers.0"], result.get(1, "random").masks["layers.0"])
    for kind in ("accuracy", "early_stop"):
        root = ET.fromstring(paths[kind].read_text())
        assert len(root.findall("{http://www.w3.org/2000/svg}polyline")) == 3
    assert markdown_table(result).count("\n") == 2 + 2


@pytest.mark.parametrize("smallest", [80.0, 10.0, 3.6, 0.3])
def test_line_chart_puts_100_percent_left_fewer_weights_right_and_every_point_inside(smallest):
    svg = line_chart_svg({"ticket": [(100.0, 98.0), (smallest, 97.0)]}, title="t <&>", y_label="acc")
    root = ET.fromstring(svg)
    (line,) = root.findall("{http://www.w3.org/2000/svg}polyline")
    (x0, _), (x1, _) = (map(float, p.split(",")) for p in line.get("points").split())
    frame = root.findall("{http://www.w3.org/2000/svg}rect")[1]
    left, width = float(frame.get("x")), float(frame.get("width"))
    assert left == x0 < x1 <= left + width
    assert "t &lt;&amp;&gt;" in svg


def test_cli_runs_a_small_experiment_and_writes_its_files(tmp_path, capsys):
    argv = ["lottery", "--dataset", "digits", "--arch", "16", "--rounds", "1", "--iterations", "20"]
    argv += ["--eval-every", "10", "--validation", "0.1", "--output-rate", "0.1", "--no-progress"]
    argv += ["--out", str(tmp_path)]
    assert main(argv) == 0
    rounds = json.loads((tmp_path / "results.json").read_text())["rounds"]
    assert [(r["round"], r["condition"]) for r in rounds] == [(0, "ticket")] + [(1, c) for c in CONDITIONS]
    assert rounds[1]["layer_remaining"] == {"layers.0": 1024 - round(0.2 * 1024), "layers.1": 160 - 16}
    assert "| 1 |" in capsys.readouterr().out
    assert main([*argv[:-2], "--rate", "1.5", "--out", str(tmp_path)]) == 2


# ---------------------------------------------------------------- torch.nn.utils.prune


def _pruned_ffn(input_shape=64):
    torch.manual_seed(0)
    model = MaskedDeepFFN(input_shape, 10, [24, 16])
    for _, layer in named_maskable_layers(model):
        layer.mask = torch.rand_like(layer.weight) > 0.6
    return model


@pytest.mark.parametrize("shape", [64, (1, 8, 8)], ids=["flat", "image"])
def test_exported_masks_round_trip_through_torch_prune_with_identical_outputs(shape):
    model = _pruned_ffn(shape)
    x = torch.randn(32, *((shape,) if isinstance(shape, int) else shape))
    plain = to_torch_sequential(model)
    linears = [m for m in plain if isinstance(m, nn.Linear)]
    assert all(prune.is_pruned(m) and hasattr(m, "weight_orig") for m in linears)
    assert not any(isinstance(m, type(layer)) for m in plain.modules() for _, layer in named_maskable_layers(model))
    for (_, layer), linear in zip(named_maskable_layers(model), linears, strict=True):
        assert torch.equal(linear.weight_mask, layer.mask.float())
    assert torch.equal(plain(x), model(x))
    back = from_torch_sequential(plain, input_shape=None if isinstance(shape, int) else shape)
    assert _same(current_masks(back), current_masks(model))
    assert torch.equal(back(x), model(x))
    prune.remove(linears[0], "weight")  # made permanent in plain PyTorch, still the same function
    assert torch.equal(plain(x), model(x))


def test_a_model_pruned_in_pytorch_is_imported_with_its_masks():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    prune.l1_unstructured(net[0], "weight", amount=0.75)
    model = from_torch_sequential(net)
    x = torch.randn(8, 64)
    assert isinstance(model.activation, nn.Tanh)
    assert model.layers[0].density == 0.25 and model.layers[1].density == 1.0
    assert torch.equal(model(x), net(x))
    with pytest.raises(CheckpointError, match="Conv1d"):
        from_torch_sequential(nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 1)))
    with pytest.raises(CheckpointError, match="without an activation"):
        from_torch_sequential(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)))


def test_prune_state_dict_round_trips_a_dan():
    model = _dan()
    for _, layer in named_maskable_layers(model):
        layer.mask = torch.rand_like(layer.weight) > 0.3
    state = to_prune_state_dict(model)
    assert "output_layer.weight_orig" in state and "output_layer.weight_mask" in state
    assert "output_layer.weight" not in state and "output_layer.mask" not in state
    assert state["layers.0.weight_mask"].dtype == torch.float32
    fresh = _dan(seed=9)
    load_prune_state_dict(fresh, state)
    x = torch.randn(5, 64)
    assert torch.equal(fresh(x), model(x))
    assert _same(current_masks(fresh), current_masks(model))
    # the same state loads into the module PyTorch prunes
    target = _pruned_ffn()
    ffn_state = to_prune_state_dict(target)
    linear = nn.Linear(64, 24)
    prune.identity(linear, "weight")
    linear.load_state_dict({k.removeprefix("layers.0."): v for k, v in ffn_state.items() if k.startswith("layers.0.")})
    assert torch.equal(linear(x), target.layers[0](x))
    with pytest.raises(CheckpointError, match="layers.0.weight_orig"):
        load_prune_state_dict(fresh, {k: v for k, v in state.items() if not k.startswith("layers.0.weight")})


# ---------------------------------------------------------------- background runner


def test_runner_runs_in_a_thread_and_leaves_the_model_alone(digits):
    model = _ffn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    runner = LotteryRunner(model, digits, LotteryConfig(rounds=1, controls=("random",), **FAST))
    assert runner.state == "idle" and runner.results_since(0) == []
    runner.start()
    runner.join(timeout=60)
    assert runner.state == "finished" and runner.error is None
    assert [(r.round, r.condition) for r in runner.results_since(0)] == [(0, "ticket"), (1, "ticket"), (1, "random")]
    assert [r.condition for r in runner.results_since(2)] == ["random"]
    assert runner.done == runner.total == 30 + 2 * 30
    assert runner.result().rewind_state.keys() == before.keys()
    assert _same(model.state_dict(), before)
    with pytest.raises(TrainingError, match="started before"):
        runner.start()


def test_runner_stops_and_reports_failures(digits):
    runner = LotteryRunner(_ffn(), digits, LotteryConfig(rounds=50, **FAST))
    runner.start()
    runner.stop(timeout=60)
    assert runner.state == "stopped" and len(runner.results_since(0)) < 1 + 50 * 3
    assert runner.result().stopped
    broken = LotteryRunner(MaskedDeepFFN(3, 10, [4]), digits, LotteryConfig(rounds=1, **FAST))
    broken.start()
    broken.join(timeout=60)
    assert broken.state == "failed" and "RuntimeError" in broken.error
