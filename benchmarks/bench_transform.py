"""Benchmark of graph extraction: ours vs the seed library (``deepstruct``) and the floors, one table.

Run: ``python benchmarks/bench_transform.py`` (add ``--quick`` for a smaller MLP).

Every measurement runs in a fresh subprocess with one torch thread: the model
and the inputs are built first, then the extraction is timed (best of
``--repeat``; the seed library once, it is slow) and its peak memory is the
rise of the process's peak resident set (``VmHWM``) over the resident set
before the timed call (``VmRSS``), so the two libraries are measured the
same way. Floors: bare ``nx.DiGraph().add_edges_from`` on the same edge list
(built before timing; with the garbage collector on, as a user would call it,
and off) and bare ``np.nonzero`` on the masks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

MLP_HIDDEN = [1000, 800, 500, 200, 50, 20]
MLP_QUICK = [200, 100]
TIMEOUT_S = 600


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _seed_library():
    """Import ``deepstruct`` (installed ``--no-deps``; a no-op stand-in for its ``deprecated`` decorator)."""
    import types

    try:
        import deprecated  # noqa: F401
    except ImportError:
        stub = types.ModuleType("deprecated")
        stub.deprecated = lambda *a, **k: (lambda f: f) if not (a and callable(a[0])) else a[0]
        sys.modules["deprecated"] = stub
    import warnings

    warnings.simplefilter("ignore")
    import deepstruct.sparse
    import deepstruct.transform

    return deepstruct


def _conv_net(torch):
    """A small CNN the seed library can extract in reasonable time.

    No pooling (the seed skips it, then fails an assertion); with 8 and 16
    channels instead of 4 the seed ran for more than 6 minutes.
    """
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 10),
    )
    return model, torch.randn(1, 1, 8, 8)


def _resnet18(torch):
    """ResNet-18 for 3 x 224 x 224 (``workbench.transform.ResNet18``, our own definition; no torchvision)."""
    from workbench.transform import ResNet18

    torch.manual_seed(0)
    return ResNet18(), torch.randn(1, 3, 224, 224)


def _mlp_edges(model, np):
    offsets = np.cumsum([0, *model.sizes])
    edges = []
    for k, layer in enumerate(model.layers):
        rows, cols = np.nonzero(layer.mask.numpy())
        edges.extend(zip((cols + offsets[k]).tolist(), (rows + offsets[k + 1]).tolist(), strict=True))
    return edges


def setup(case: str, hidden: list[int]):
    """``(run, info)`` for one case; ``run()`` is what is timed."""
    import gc

    import networkx as nx
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from workbench.sparse import MaskedDeepFFN
    from workbench.transform import GraphTransform, sample_input, small_cnn

    x = torch.randn(1, 784)
    if case == "mlp-nx-ours":
        model = MaskedDeepFFN(784, 10, hidden)
        return (lambda: GraphTransform(x).transform(model)), {}
    if case == "mlp-nx-ours-dict":
        model = MaskedDeepFFN(784, 10, hidden)
        return (lambda: GraphTransform(x, edge_data="dict").transform(model)), {}
    if case == "mlp-nx-seed":
        ds = _seed_library()
        model = ds.sparse.MaskedDeepFFN(784, 10, hidden)
        return (lambda: ds.transform.GraphTransform(x).transform(model)), {}
    if case in ("mlp-nx-floor", "mlp-nx-floor-nogc"):
        edges = _mlp_edges(MaskedDeepFFN(784, 10, hidden), np)

        def run():
            if case.endswith("nogc"):
                gc.disable()
            graph = nx.DiGraph()
            graph.add_edges_from(edges)
            gc.enable()
            return graph

        return run, {}
    if case == "mlp-arrays-ours":
        model = MaskedDeepFFN(784, 10, hidden)
        return (lambda: GraphTransform(x).transform_arrays(model)), {}
    if case == "mlp-arrays-floor":
        masks = [layer.mask for layer in MaskedDeepFFN(784, 10, hidden).layers]
        return (lambda: [np.nonzero(m.numpy()) for m in masks]), {}
    if case in ("cnn-nx-ours", "cnn-nx-seed", "cnn-nx-floor"):
        model, example = _conv_net(torch)
        if case == "cnn-nx-ours":
            GraphTransform(example, granularity="module").transform(model)  # first trace imports torch.fx's helpers
            return (lambda: GraphTransform(example).transform(model)), {}
        if case == "cnn-nx-seed":
            ds = _seed_library()
            return (lambda: ds.transform.GraphTransform(example).transform(model)), {}
        arrays = GraphTransform(example).transform_arrays(model)
        edges = list(zip(arrays.source.tolist(), arrays.target.tolist(), strict=True))

        def run_floor():
            graph = nx.DiGraph()
            graph.add_edges_from(edges)
            return graph

        return run_floor, {}
    if case.startswith("resnet18-"):
        model, example = _resnet18(torch)
        granularity = case.removeprefix("resnet18-")
        GraphTransform(example, granularity="module").transform(model)  # first trace imports torch.fx's helpers
        return (lambda: GraphTransform(example, granularity=granularity).transform(model)), {}
    if case.startswith("sample-cnn-"):
        granularity = case.removeprefix("sample-cnn-")
        model = small_cnn()
        GraphTransform(sample_input(), granularity="module").transform(model)  # imports, as above
        return (lambda: GraphTransform(sample_input(), granularity=granularity).transform(model)), {}
    raise SystemExit(f"unknown case {case!r}")


def _count(result) -> tuple[int | None, int | None]:
    if hasattr(result, "number_of_edges"):
        return result.number_of_nodes(), result.number_of_edges()
    if hasattr(result, "num_edges"):
        return result.num_vertices, result.num_edges
    if isinstance(result, list):
        return None, sum(int(r[0].size) for r in result)
    return None, None


def measure(case: str, hidden: list[int], repeat: int) -> dict:
    """Run in the child process: time ``repeat`` calls (best), peak memory of the first."""
    run, info = setup(case, hidden)
    times, peak_kb = [], 0
    for i in range(repeat):
        rss = _status_kb("VmRSS")
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
        if i == 0:
            peak_kb = _status_kb("VmHWM") - rss
            vertices, edges = _count(result)
        del result
    return {"time": min(times), "peak_mb": peak_kb / 1024, "vertices": vertices, "edges": edges, **info}


def child(case: str, quick: bool, repeat: int) -> dict:
    cmd = [sys.executable, __file__, "--child", case, "--repeat", str(repeat)] + (["--quick"] if quick else [])
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT_S} s"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last[:80]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt_time(r: dict) -> str:
    if r.get("error") == "skipped":
        return "skipped"
    return "fails" if "error" in r else f"{r['time'] * 1e3:.1f} ms" if r["time"] < 1 else f"{r['time']:.2f} s"


def _fmt_mem(r: dict) -> str:
    return "—" if "error" in r else f"{r['peak_mb']:.0f} MB"


def _ratio(a: dict, b: dict, key: str) -> str:
    if "error" in a or "error" in b or not b[key]:
        return "—"
    return f"{a[key] / b[key]:.2f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"MLP hidden layers {MLP_QUICK} instead of {MLP_HIDDEN}")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per case (best is shown)")
    parser.add_argument("--no-seed", action="store_true", help="skip the seed library (slow)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    hidden = MLP_QUICK if args.quick else MLP_HIDDEN
    if args.child:
        import torch

        torch.set_num_threads(1)
        print(json.dumps(measure(args.child, hidden, args.repeat)))
        return

    rows = [
        # (case label, ours, baseline label, baseline)
        ("MLP → networkx", "mlp-nx-ours", "seed deepstruct", "mlp-nx-seed"),
        ("MLP → networkx", "mlp-nx-ours", "floor add_edges_from", "mlp-nx-floor"),
        ("MLP → networkx", "mlp-nx-ours", "floor add_edges_from, gc off", "mlp-nx-floor-nogc"),
        ("MLP → networkx, dict edge data", "mlp-nx-ours-dict", "floor add_edges_from", "mlp-nx-floor"),
        ("MLP → edge arrays", "mlp-arrays-ours", "floor np.nonzero on masks", "mlp-arrays-floor"),
        ("CNN 8x8 → networkx (neuron)", "cnn-nx-ours", "seed deepstruct", "cnn-nx-seed"),
        ("CNN 8x8 → networkx (neuron)", "cnn-nx-ours", "floor add_edges_from", "cnn-nx-floor"),
        ("sample small_cnn, neuron", "sample-cnn-neuron", None, None),
        ("sample small_cnn, channel", "sample-cnn-channel", None, None),
        ("sample small_cnn, module", "sample-cnn-module", None, None),
        ("ResNet-18 3x224x224, channel", "resnet18-channel", None, None),
        ("ResNet-18 3x224x224, module", "resnet18-module", None, None),
    ]
    results: dict[str, dict] = {}

    def get(case: str) -> dict:
        if case not in results:
            seed = case.endswith("-seed")
            if seed and args.no_seed:
                results[case] = {"error": "skipped"}
            else:
                results[case] = child(case, args.quick, 1 if seed else args.repeat)
        return results[case]

    import torch

    mlp = f"MaskedDeepFFN(784, 10, {hidden})"
    print(f"# Graph extraction — {platform.machine()}, {platform.processor() or platform.platform()},")
    print(f"# Python {platform.python_version()}, torch {torch.__version__}, one thread; MLP = {mlp}\n")
    columns = ["case", "vertices", "edges", "ours", "ours peak", "baseline", "baseline time", "baseline peak"]
    columns += ["time ratio", "memory ratio"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for label, ours_case, base_label, base_case in rows:
        ours = get(ours_case)
        size = ("—", "—") if "error" in ours else (ours["vertices"] or "—", ours["edges"])
        if base_case is None:
            print(f"| {label} | {size[0]} | {size[1]} | {_fmt_time(ours)} | {_fmt_mem(ours)} | | | | | |")
            continue
        base = get(base_case)
        print(
            f"| {label} | {size[0]} | {size[1]} | {_fmt_time(ours)} | {_fmt_mem(ours)} | {base_label} | "
            f"{_fmt_time(base)} | {_fmt_mem(base)} | {_ratio(ours, base, 'time')} | {_ratio(ours, base, 'peak_mb')} |",
            flush=True,
        )
    failed = {k: v["error"] for k, v in results.items() if "error" in v and v["error"] != "skipped"}
    for case, error in failed.items():
        print(f"\n{case}: {error}")


if __name__ == "__main__":
    main()
