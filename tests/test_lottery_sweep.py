"""Lottery sweeps: summary against the per-seed files, resuming, Ray vs in process, failing chains, the command.

A tiny sweep (digits, 2 seeds, 2 rounds, 300 iterations) runs once through a
local Ray started for this module; the other tests compare against its files.
Tests that need Ray skip when it is not installed (``pip install -e ".[cluster]"``).
"""

import csv
import json
import math
import shutil
import socket
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

import workbench.lottery.distributed as distributed
import workbench.lottery.sweep as sweep_module
from workbench.__main__ import main
from workbench.errors import PruningError, SweepError
from workbench.lottery import LotteryConfig, Sweep, open_sweep, run_sweep, setting_name
from workbench.lottery.summary import SUMMARY_FIELDS
from workbench.sparse import MaskedDeepFFN, named_maskable_layers

CONFIG = LotteryConfig(rounds=2, iterations=300, eval_every=50, batch_size=32, lr=5e-3, validation=200)
SWEEP = Sweep(CONFIG, seeds=(0, 1), dataset="digits", arch=(24, 16))
CHAINS = ("rate0.2-rewind0/seed-0", "rate0.2-rewind0/seed-1")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module (2 CPUs, loopback only); run_sweep uses it and leaves it running."""
    ray = pytest.importorskip("ray")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="WARNING",
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_sweep(local_ray, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray-sweep")
    outcome = run_sweep(SWEEP, out, backend="ray")
    assert outcome.backend == "ray" and sorted(outcome.finished) == list(CHAINS) and not outcome.failed
    return out


def _networks(folder):
    """A chain's networks from results.json, without wall times."""
    rounds = json.loads((folder / "results.json").read_text())["rounds"]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rounds]


def _same_chain(a, b):
    """Two chain folders hold bit-identical results, masks, rewinding state and checkpoint."""
    assert _networks(a) == _networks(b)
    for name in ("masks.pt", "checkpoint.pt"):
        x, y = torch.load(a / name, weights_only=True), torch.load(b / name, weights_only=True)
        flat_x, flat_y = _flatten(x), _flatten(y)
        assert flat_x.keys() == flat_y.keys()
        assert all(
            torch.equal(flat_x[k], flat_y[k]) if torch.is_tensor(flat_x[k]) else flat_x[k] == flat_y[k] for k in flat_x
        )


def _flatten(tree, prefix=""):
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flatten(sub, f"{prefix}{key}/").items()}
    return {prefix: tree}


# ---------------------------------------------------------------- summary


def test_summary_means_and_stds_match_the_per_seed_files(ray_sweep):
    with (ray_sweep / "summary.csv").open() as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == SUMMARY_FIELDS
        rows = list(reader)
    assert len(rows) == 3 * (CONFIG.rounds + 1)  # every condition starts at the shared dense round 0
    per_seed = {
        seed: {(r["round"], r["condition"]): r for r in _networks(ray_sweep / f"rate0.2-rewind0/seed-{seed}")}
        for seed in (0, 1)
    }
    spreads = []
    for row in rows:
        key = (int(row["round"]), "ticket" if row["round"] == "0" else row["condition"])
        networks = [per_seed[seed][key] for seed in (0, 1)]
        accuracy = [n["final_accuracy"] for n in networks]
        early = [n["early_stop_iteration"] for n in networks]
        assert row["setting"] == "rate0.2-rewind0" and row["n_seeds"] == "2"
        assert float(row["percent_remaining"]) == pytest.approx(networks[0]["percent_remaining"])
        assert float(row["accuracy_mean"]) == pytest.approx(statistics.fmean(accuracy), abs=1e-12)
        assert float(row["accuracy_std"]) == pytest.approx(statistics.stdev(accuracy), abs=1e-12)
        assert float(row["early_stop_iteration_mean"]) == pytest.approx(statistics.fmean(early))
        assert float(row["early_stop_iteration_std"]) == pytest.approx(statistics.stdev(early))
        spreads.append(float(row["accuracy_std"]))
    assert max(spreads) > 0  # the seeds differ, so the check above compares real spreads


def test_open_sweep_returns_each_seeds_curve_and_the_plots_have_bands(ray_sweep):
    summary = open_sweep(ray_sweep)
    ticket = summary.settings["rate0.2-rewind0"]["ticket"]
    assert ticket.rounds == [0, 1, 2] and ticket.n_seeds == [2, 2, 2]
    assert [s.seed for s in ticket.seeds] == [0, 1]
    files = _networks(ray_sweep / CHAINS[1])
    assert ticket.seeds[1].accuracy == [n["final_accuracy"] for n in files if n["condition"] == "ticket"]
    assert ticket.accuracy_mean[2] == pytest.approx(statistics.fmean(s.accuracy[2] for s in ticket.seeds))
    assert summary.configs["rate0.2-rewind0"]["iterations"] == 300 and not summary.failed
    for svg in (ray_sweep / "accuracy.svg", ray_sweep / "rate0.2-rewind0" / "early_stop.svg"):
        root = ET.fromstring(svg.read_text())
        assert len(root.findall("{http://www.w3.org/2000/svg}polygon")) == 3  # a band per condition
    with pytest.raises(SweepError, match="holds no sweep"):
        open_sweep(ray_sweep / "rate0.2-rewind0")


# ---------------------------------------------------------------- determinism and resuming


def test_ray_and_in_process_runs_give_bit_identical_chains(ray_sweep, tmp_path):
    outcome = run_sweep(SWEEP, tmp_path, backend="process")
    assert outcome.backend == "process" and sorted(outcome.finished) == list(CHAINS)
    for chain in CHAINS:
        _same_chain(ray_sweep / chain, tmp_path / chain)
    assert (ray_sweep / "summary.csv").read_text() == (tmp_path / "summary.csv").read_text()


class _Killed(BaseException):
    """Stands for Ctrl-C or a killed command in the middle of a sweep."""


def test_a_rerun_skips_finished_chains_and_resumes_an_interrupted_one_from_its_last_round(ray_sweep, tmp_path):
    shutil.copytree(ray_sweep, tmp_path, dirs_exist_ok=True)
    kept, deleted = tmp_path / CHAINS[0], tmp_path / CHAINS[1]
    before = {p.name: p.stat().st_mtime_ns for p in kept.iterdir()}
    shutil.rmtree(deleted)
    networks = []

    def kill_after_five(event):
        if event.kind == "network":
            networks.append(event.result)
            if len(networks) == 5:  # round 0, round 1's three networks, the ticket of round 2
                raise _Killed

    with pytest.raises(_Killed):
        run_sweep(SWEEP, tmp_path, backend="ray", on_event=kill_after_five)
    assert len(_networks(deleted)) == 5  # written as they finished
    assert torch.load(deleted / "checkpoint.pt", weights_only=True)["round"] == 1

    events = []
    outcome = run_sweep(SWEEP, tmp_path, backend="ray", on_event=events.append)
    assert outcome.skipped == [CHAINS[0]] and outcome.finished == [CHAINS[1]]
    assert (events[0].networks, events[0].networks_done) == (14, 7 + 4)  # resumed after round 1
    assert [e.result.round for e in events if e.kind == "network"] == [2, 2, 2]
    assert {p.name: p.stat().st_mtime_ns for p in kept.iterdir()} == before
    _same_chain(deleted, ray_sweep / CHAINS[1])


def test_a_rerun_with_more_rounds_extends_finished_chains_and_another_experiment_is_refused(ray_sweep, tmp_path):
    shutil.copytree(ray_sweep, tmp_path, dirs_exist_ok=True)
    longer = Sweep(LotteryConfig(**{**CONFIG.__dict__, "rounds": 3}), seeds=(0,), dataset="digits", arch=(24, 16))
    events = []
    run_sweep(longer, tmp_path, backend="process", on_event=events.append)
    assert next((e.result.round, e.result.condition) for e in events if e.kind == "network") == (3, "ticket")
    assert len(_networks(tmp_path / CHAINS[0])) == 1 + 3 * 3
    other = Sweep(LotteryConfig(**{**CONFIG.__dict__, "iterations": 200}), seeds=(0,), dataset="digits")
    with pytest.raises(SweepError, match=r"iterations=300 \(asked: 200\)"):
        run_sweep(other, tmp_path, backend="process")


# ---------------------------------------------------------------- failures


def test_a_failing_chain_is_reported_with_its_error_and_the_others_go_on(local_ray, tmp_path):
    def model_fn(data):  # seed 1 breaks once its output layer is pruned: NaN loss in round 1
        model = MaskedDeepFFN(data.n_features, data.n_classes, [24, 16])
        if torch.initial_seed() == 1:
            _, out = list(named_maskable_layers(model))[-1]
            out.register_forward_hook(lambda m, i, o: o * math.nan if m.mask.float().mean() < 0.9 else o)
        return model

    sweep = Sweep(CONFIG, seeds=(0, 1), dataset="digits", model_fn=model_fn)
    events = []
    outcome = run_sweep(sweep, tmp_path, backend="ray", on_event=events.append)
    assert outcome.finished == [CHAINS[0]]
    assert list(outcome.failed) == [CHAINS[1]] and outcome.failed[CHAINS[1]].startswith(
        "TrainingError: loss became nan"
    )
    assert [e.chain for e in events if e.kind == "failed"] == [CHAINS[1]]
    error = (tmp_path / CHAINS[1] / "error.txt").read_text()
    assert error.startswith("TrainingError: loss became nan") and "in train_round" in error  # with the traceback
    assert len(_networks(tmp_path / CHAINS[1])) == 1  # the dense round it finished is kept
    ticket = outcome.summary.settings["rate0.2-rewind0"]["ticket"]
    assert ticket.n_seeds == [2, 1, 1] and math.isnan(ticket.accuracy_std[1])
    assert outcome.summary.failed == {CHAINS[1]: outcome.failed[CHAINS[1]]}


def test_bad_grids_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(PruningError, match=r"rate=0.2, rewind=300.*rewind iteration 300"):
        Sweep(CONFIG, rewinds=(0, 300))
    with pytest.raises(SweepError, match=r"seeds must not repeat a value, got \[1, 1\]"):
        Sweep(CONFIG, seeds=(1, 1))
    with pytest.raises(SweepError, match="address '127.0.0.1:1' needs Ray"):
        run_sweep(Sweep(CONFIG), tmp_path, backend="process", address="127.0.0.1:1")
    assert setting_name(0.2, 0) == "rate0.2-rewind0" and setting_name(1e-5, 20) == "rate1e-05-rewind20"
    assert [s.setting for s in Sweep(CONFIG, rates=(0.2, 0.5), rewinds=(0, 50)).chains()] == [
        "rate0.2-rewind0",
        "rate0.2-rewind50",
        "rate0.5-rewind0",
        "rate0.5-rewind50",
    ]


# ---------------------------------------------------------------- the command

ARGV = ["lottery", "--dataset", "digits", "--arch", "24,16", "--rounds", "1", "--iterations", "100"]
ARGV += ["--eval-every", "50", "--batch-size", "32", "--validation", "200", "--no-progress"]


def test_without_ray_the_command_runs_the_seeds_one_after_another_and_says_how_to_get_ray(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(distributed, "ray_available", lambda: False)
    monkeypatch.setattr(sweep_module, "ray_available", lambda: False)
    assert main([*ARGV, "--seeds", "0,1", "--rate", "0.2,0.5", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert err.count('pip install -e ".[cluster]"') == 1
    assert "| rate0.5-rewind0 | 1 | 50.0 | 2 |" in out and "(process;" in out
    assert sorted(p.parent.name + "/" + p.name for p in tmp_path.glob("*/seed-*")) == [
        "rate0.2-rewind0/seed-0",
        "rate0.2-rewind0/seed-1",
        "rate0.5-rewind0/seed-0",
        "rate0.5-rewind0/seed-1",
    ]
    assert main([*ARGV, "--seeds", "0", "--backend", "ray", "--out", str(tmp_path)]) == 2
    assert "Ray is not installed" in capsys.readouterr().err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_command_joins_a_running_cluster_with_address(tmp_path):
    pytest.importorskip("ray")
    port = _free_port()
    head = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1)
        argv = [sys.executable, "-m", "workbench", *ARGV, "--seeds", "0,1", "--out", str(tmp_path / "out")]
        done = subprocess.run([*argv, "--address", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        assert "2 chains finished, 0 failed (ray;" in done.stdout
        hosts = {json.loads(p.read_text())["run"]["host"] for p in (tmp_path / "out").glob("*/seed-*/results.json")}
        assert len(hosts) == 1
    finally:
        head.terminate()  # the head drains and stops the processes it started
        head.wait(timeout=90)
        current = Path("/tmp/ray/ray_current_cluster")  # ray start leaves its address there
        if current.exists() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()
