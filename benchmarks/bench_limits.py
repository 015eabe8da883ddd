"""Cost of the checks of issue 12 (limits, upload validation, checksums, finite weights), with baselines.

Run: ``python benchmarks/bench_limits.py`` (``--quick`` for small sizes).

Every case is timed in this one process (one torch thread) as process CPU
time, the median of ``--repeat`` calls, next to a baseline measured in the
same run: the work the check replaces or guards (networkx's GraphML reader,
``json.loads``, loading a checkpoint without its checksum, pruning without
the finite-weight check). The uploads are the largest the default limits
allow (``max_vertices`` vertices, just under ``max_edges`` edges).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import networkx as nx
import torch

from workbench import graph as wbg
from workbench import pruning
from workbench.io import checkpoint_from_bytes, checkpoint_to_bytes, checkpoints, graph_from_bytes, graph_to_bytes
from workbench.io.jsonsafe import json_depth
from workbench.limits import DEFAULT_LIMITS, check_ffn, check_generator
from workbench.sparse import MaskedDeepFFN


def cpu(call, repeat: int) -> float:
    """Median process CPU seconds of ``call()``."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        call()
        times.append(time.process_time() - start)
    return statistics.median(times)


def loop(call, seconds: float = 0.05) -> float:
    """CPU seconds per call of a fast ``call``, looped for about ``seconds``."""
    n, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        call()
        n += 1
    return (time.process_time() - start) / n


def show(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    repeat = 1 if args.quick else args.repeat
    vertices = 1000 if args.quick else DEFAULT_LIMITS.max_vertices
    edges = 9_000 if args.quick else int(DEFAULT_LIMITS.max_edges * 0.98)
    rows = []

    def row(case, ours, baseline, base):
        rows.append((case, show(ours), baseline, show(base), f"{base / ours:.2f}x" if ours else "-"))

    def refused(call):
        def run():
            try:
                call()
            except ValueError:
                return
            raise AssertionError("not refused")

        return run

    row(
        "refuse tree r=10^6, h=10^7 (logarithms)",
        loop(refused(lambda: check_generator("tree", {"r": 10**6, "h": 10**7}))),
        "exact size r^(h+1) for r=10^6, h=10^4",
        cpu(lambda: (10**6) ** (10**4 + 1) // (10**6 - 1), repeat),
    )
    row(
        "refuse FFN 64-200000-200000-10",
        loop(refused(lambda: check_ffn(64, [200_000, 200_000], 10))),
        "build MaskedDeepFFN 64-2000-2000-10 (1/100 of the width)",
        cpu(lambda: MaskedDeepFFN(64, 10, [2000, 2000]), repeat),
    )

    graph = wbg.erdos_renyi(vertices, edges / (vertices * (vertices - 1) / 2), seed=0)
    for fmt in ("graphml", "json"):
        data = graph_to_bytes(graph, fmt)
        base = (
            (lambda d=data: nx.read_graphml(io.BytesIO(d)))
            if fmt == "graphml"
            else (lambda d=data: json.loads(d.decode("utf-8")))
        )
        what = f"{vertices:,} vertices, {graph.number_of_edges():,} edges ({len(data) / 2**20:.1f} MiB)"
        row(
            f"read {fmt} upload, {what}",
            cpu(lambda d=data, f=fmt: graph_from_bytes(d, f), repeat),
            "networkx read_graphml (unchecked)" if fmt == "graphml" else "json.loads alone (floor)",
            cpu(base, repeat),
        )
    row(
        "JSON nesting scan of the json upload",
        cpu(lambda d=data: json_depth(d), repeat),
        "json.loads of it",
        cpu(lambda d=data: json.loads(d), repeat),
    )

    hidden = [200, 100] if args.quick else [1000, 800, 500, 200, 50, 20]
    model = MaskedDeepFFN(784, 10, hidden)
    weights, base = pruning.weight_snapshot(model), pruning.current_masks(model)
    original = pruning.check_finite
    with_check = cpu(lambda: pruning.masks_by_amount(weights, 0.1, base=base), repeat * 5)
    pruning.check_finite = lambda w: None
    try:
        without = cpu(lambda: pruning.masks_by_amount(weights, 0.1, base=base), repeat * 5)
    finally:
        pruning.check_finite = original
    size = sum(w.numel() for w in weights.values())
    row(f"masks_by_amount 10%, {size / 1e6:.1f}M weights", with_check, "same, finite check off", without)

    data = checkpoint_to_bytes(MaskedDeepFFN(784, 10, [1000, 800, 500]) if not args.quick else model)
    verify = checkpoints.verify_checksum
    with_sum = cpu(lambda: checkpoint_from_bytes(data, limits=DEFAULT_LIMITS.unlimited()), repeat)
    checkpoints.verify_checksum = lambda doc, where="": None
    try:
        without = cpu(lambda: checkpoint_from_bytes(data, limits=DEFAULT_LIMITS.unlimited()), repeat)
    finally:
        checkpoints.verify_checksum = verify
    row(f"load checkpoint ({len(data) / 2**20:.1f} MiB) with SHA-256 check", with_sum, "same, check off", without)

    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print(f"torch {torch.__version__}, networkx {nx.__version__}; process CPU time, median of {repeat}\n")
    print("| case | ours | baseline | baseline time | baseline / ours |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
