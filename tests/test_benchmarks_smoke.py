"""Smoke test of the benchmark script: ``--quick`` runs every case on tiny sizes and prints the table.

No timing is checked here (timings go to ``benchmarks/RESULTS.md``); this only
keeps the one README command working as the library changes.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``benchmarks/<script>`` with ``args`` in a fresh process; fail the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.slow
def test_quick_benchmark_prints_the_table():
    done = run_benchmark("run.py", "--quick")
    lines = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    header = lines[0]
    for column in ("case", "ours", "ours peak", "baseline", "baseline time", "ratio", "target", "met"):
        assert f"| {column} |" in header or f" {column} |" in header
    cases = {line.split(" | ")[0].removeprefix("| ") for line in lines[2:]}
    for case in (
        "build DAN, WS 10,000 vertices",
        "train step DAN, WS 10,000, batch 64",
        "MaskedLinearLayer 784x1000 fwd+bwd, batch 64, mask all on",
        "global magnitude pruning 10%, 2.1M MLP",
    ):
        assert case in cases
    # our own workloads must run (a baseline may be reported as failed, ours may not)
    for line in lines[2:]:
        cells = line.split(" | ")
        if not cells[0].startswith("| memory per edge") and "extract" not in cells[0]:
            assert "failed" not in cells[1], line


@pytest.mark.slow
def test_load_benchmark_runs_against_the_current_app():
    """bench_load builds its requests from the served callback map: this fails when an id it clicks moves."""
    done = run_benchmark(
        "bench_load.py",
        *("--sessions", "3", "--trainings", "1", "--duration", "2", "--epochs", "1"),
        *("--heavy", "watts_strogatz:n=200,k=4,p=0.1", "--server-args", "--threads 4"),
    )
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in done.stdout.splitlines() if line.startswith("| ")}
    kinds = ("page load", "trivial, idle server", "add vertex", "start training", "poll while training")
    for kind in (*kinds, "heavy alone: generate watts_strogatz:n=200,k=4,p=0.1"):
        assert kind in rows and rows[kind].split(" | ")[2] == "0", rows.get(kind)  # no errors
    assert "Sessions kept: 3/3" in done.stdout and "Server memory (RSS)" in done.stdout


@pytest.mark.slow
def test_quick_crossover_prints_a_ratio_per_density_and_size():
    done = run_benchmark("crossover.py", "--quick")
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 0.")]
    assert [row.split(" | ")[0] for row in rows] == ["| 0.50", "| 0.10"]
    assert all(float(cell) > 0 for row in rows for cell in row.strip(" |").split(" | ")[1:])
    assert "faster at densities" in done.stdout
