"""Benchmark the workbench against the seed library, plain PyTorch and the hardware's floor.

Prints one Markdown table: every case with our time and peak memory, the
baseline's time and peak memory measured in the same run, their ratio, the
target (of issue 6, or the issue named) and whether it is met.

    python benchmarks/run.py            # full sizes (a few minutes; the seed runs once per case)
    python benchmarks/run.py --quick    # tiny sizes, a smoke run of every case (seconds)

How it measures:
    * one torch thread (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``);
    * every implementation runs in its own fresh Python process, so memory
      left behind by one case cannot hide or inflate another's;
    * time: process CPU time (one thread), the median of several repeats (fast
      calls are looped until a sample lasts ~20 ms), with the fastest sample
      beside it when it is 10% below; targets are judged on the medians, and
      a verdict that differs on the fastest samples is shown too. The seed
      library, which takes seconds, runs once;
    * peak memory: the growth of the process's resident set during one call
      (``VmHWM`` after the call minus ``VmRSS`` before it, with the high-water
      mark reset through ``/proc/self/clear_refs`` and free heap returned to the
      system with ``malloc_trim`` first). Linux only; elsewhere it prints "n/a".
    * ratio: baseline time / our time for "faster" targets, our time / baseline
      time for "within" targets.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import itertools
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# ----------------------------------------------------------------------------- sizes

FULL = {
    "ffn_hidden": [1000, 800, 500, 200, 50, 20],  # 2.1M weights with 784 inputs and 10 outputs
    "ffn_small_hidden": [100, 80, 50],  # for bytes per edge at a second size
    "build_seed_n": 5000,
    "build_n": 10000,
    "step_seed_n": 1000,
    "step_n": 10000,
    "linear": [(784, 1000), (4096, 4096)],
    "lenet_hidden": [300, 100],
    "eval_batch": 1000,
    "million_n": 500_000,  # k=4: a million edges
    "big_prune_width": 4096,  # 4096 -> 4096 -> 4096 -> 4096: 50.3M weights
    "preview_n": 5000,  # a 5,000-vertex Watts-Strogatz graph has 10,000 edges
    "resnet_width": 64,  # ResNet-18 as published: 11.7M parameters
    "resnet_size": 224,
    "batch": 64,
    "repeats": 7,
}
QUICK = {
    "ffn_hidden": [30, 20],
    "ffn_small_hidden": [10],
    "build_seed_n": 40,
    "build_n": 80,
    "step_seed_n": 30,
    "step_n": 60,
    "linear": [(16, 12), (24, 24)],
    "lenet_hidden": [30, 10],
    "eval_batch": 20,
    "million_n": 200,
    "big_prune_width": 32,
    "preview_n": 50,
    "resnet_width": 4,
    "resnet_size": 32,
    "batch": 8,
    "repeats": 2,
}

# ----------------------------------------------------------------------------- measuring


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            match = re.search(rf"^{key}:\s+(\d+) kB", status.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _reset_peak() -> bool:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # reset VmHWM to the current VmRSS
    except OSError:
        return False
    return True


def measure_memory(fn: Callable[[], object]) -> tuple[int | None, int | None]:
    """Peak and retained growth of the resident set (bytes) during one call of ``fn``."""
    ok = _reset_peak()
    before = _status_kb("VmRSS")
    result = fn()
    peak, after = _status_kb("VmHWM"), _status_kb("VmRSS")
    del result
    if not ok or before is None or peak is None or after is None:
        return None, None
    return max(0, peak - before) * 1024, max(0, after - before) * 1024


#: The clock: CPU seconds of this (one-thread) process, user + system. On a machine
#: shared with other jobs it tracks what wall time would be on an idle one, where
#: wall time also counts the waits for a core. ``--wall`` switches to wall time.
CLOCK = time.process_time


def measure_time(fn: Callable[[], object], repeats: int, budget_s: float = 20.0) -> float:
    """Median seconds per call: ``repeats`` samples, each looping until it lasts ~20 ms.

    The fastest sample is kept in ``LAST_MIN`` (shown beside the median: on a
    shared machine it is the better estimate of the cost on an idle one).
    """
    global LAST_MIN, LAST_MAX
    start = CLOCK()
    fn()
    first = CLOCK() - start
    number = max(1, math.ceil(0.02 / max(first, 1e-7)))
    repeats = max(1, min(repeats, int(budget_s / max(first * number, 1e-9))))
    samples = []
    for _ in range(repeats):
        start = CLOCK()
        for _ in range(number):
            fn()
        samples.append((CLOCK() - start) / number)
    LAST_MIN, LAST_MAX = min(samples), max(samples)
    return statistics.median(samples)


LAST_MIN = LAST_MAX = 0.0


# ----------------------------------------------------------------------------- workloads
# Each takes the size table and returns (callable, info). ``info`` may hold
# "edges" (for bytes per edge) and "model_bytes" (tensors of a built model).
# Imports live inside so that every worker process loads only what it needs.


def _torch():
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return torch


def ws(n: int, seed: int = 0):
    """``nx.watts_strogatz_graph(n, 4, 0.5)``: vertices in ring order."""
    import networkx as nx

    return nx.watts_strogatz_graph(n, 4, 0.5, seed=seed)


def ws_random_order(n: int, seed: int = 0):
    """A Watts-Strogatz graph (k=4, p=0.5) whose vertices are inserted in random order.

    The seed library orients an undirected graph by insertion order, so this
    gives it a shallow DAG (ring order would give it a deep chain and make it
    slower still). The insertion order is drawn with another seed than the
    workbench's random orientation (``default_rng(0)``): with the same one, the
    orientation would rank every vertex by its ring position and build a chain.
    """
    import networkx as nx
    import numpy as np

    ring = ws(n, seed)
    graph = nx.Graph()
    graph.add_nodes_from(np.random.default_rng(seed + 12345).permutation(n).tolist())
    graph.add_edges_from(ring.edges)
    return graph


def _seed_library():
    """Import the seed library ``deepstruct`` (installed with ``pip install --no-deps deepstruct``).

    With ``--no-deps`` its one missing runtime dependency is the ``deprecated``
    package, used only as a decorator that warns on a few old methods; when it
    is absent a no-op stand-in is registered so the seed's code runs unchanged.
    """
    try:
        import deprecated  # noqa: F401
    except ImportError:
        import types

        stub = types.ModuleType("deprecated")
        stub.deprecated = lambda *args, **kwargs: (lambda f: f) if not (args and callable(args[0])) else args[0]
        sys.modules["deprecated"] = stub
    import deepstruct.graph
    import deepstruct.pruning
    import deepstruct.sparse
    import deepstruct.transform

    return deepstruct


def _tensor_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def _ffn(sizes, seed_lib: bool = False, hidden_key: str = "ffn_hidden"):
    _torch()
    if seed_lib:
        return _seed_library().sparse.MaskedDeepFFN(784, 10, sizes[hidden_key])
    import workbench.sparse

    return workbench.sparse.MaskedDeepFFN(784, 10, sizes[hidden_key])


def _ffn_edges(model) -> int:
    return int(sum(int(layer.mask.sum()) for layer in model.layers))


def extract_ours(sizes, hidden_key="ffn_hidden"):
    torch = _torch()
    from workbench.transform import GraphTransform

    model = _ffn(sizes, hidden_key=hidden_key)
    example = torch.randn(1, 784)
    return (lambda: GraphTransform(example).transform(model)), {"edges": _ffn_edges(model)}


def extract_ours_small(sizes):
    return extract_ours(sizes, hidden_key="ffn_small_hidden")


def extract_seed(sizes):
    torch = _torch()
    deepstruct = _seed_library()
    model = _ffn(sizes, seed_lib=True)
    example = torch.randn(1, 784)
    edges = sum(int(m.mask.sum()) for m in model.modules() if hasattr(m, "mask") and not list(m.children()))
    return (lambda: deepstruct.transform.GraphTransform(example).transform(model)), {"edges": edges}


def _mask_edge_list(model):
    import numpy as np

    sizes = model.sizes
    offsets = np.cumsum([0, *sizes])
    edges = []
    for k, layer in enumerate(model.layers):
        rows, cols = np.nonzero(layer.mask.numpy())
        edges.extend(zip((cols + offsets[k]).tolist(), (rows + offsets[k + 1]).tolist(), strict=True))
    return edges


def extract_floor_nx(sizes):
    import networkx as nx

    edges = _mask_edge_list(_ffn(sizes))

    def run():
        graph = nx.DiGraph()
        graph.add_edges_from(edges)
        return graph

    return run, {"edges": len(edges)}


def extract_arrays_ours(sizes):
    torch = _torch()
    from workbench.transform import GraphTransform

    model = _ffn(sizes)
    transform = GraphTransform(torch.randn(1, 784))
    if not hasattr(transform, "transform_arrays"):
        raise NotImplementedError("GraphTransform.transform_arrays does not exist yet")
    return (lambda: GraphTransform(torch.randn(1, 784)).transform_arrays(model)), {"edges": _ffn_edges(model)}


def extract_arrays_floor(sizes):
    import numpy as np

    model = _ffn(sizes)
    masks = [layer.mask for layer in model.layers]
    return (lambda: [np.nonzero(m.numpy()) for m in masks]), {"edges": _ffn_edges(model)}


def _dan_info(model, graph) -> dict:
    """Edges of the graph and tensor bytes (parameters and buffers) of the DAN built from it."""
    return {"edges": graph.number_of_edges(), "model_bytes": _tensor_bytes(model)}


def build_ours(sizes, key="build_n"):
    _torch()
    import workbench.sparse

    graph = ws(sizes[key]) if key == "build_n" else ws_random_order(sizes[key])
    info = _dan_info(workbench.sparse.MaskedDeepDAN(64, 10, graph), graph)
    return (lambda: workbench.sparse.MaskedDeepDAN(64, 10, graph)), info


def build_ours_seed_size(sizes):
    return build_ours(sizes, key="build_seed_n")


def build_seed(sizes):
    _torch()
    deepstruct = _seed_library()
    graph = ws_random_order(sizes["build_seed_n"])

    def run():
        return deepstruct.sparse.MaskedDeepDAN(64, 10, deepstruct.graph.LayeredGraph.load_from(graph))

    return run, _dan_info(run(), graph)


def _train_step(model, batch):
    torch = _torch()
    import torch.nn.functional as F

    x = torch.randn(batch, 64)
    y = torch.randint(0, 10, (batch,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return None

    return step


def step_ours(sizes, key="step_seed_n", orientation="bfs"):
    _torch()
    import workbench.sparse

    graph = ws(sizes[key])
    model = workbench.sparse.MaskedDeepDAN(64, 10, graph, orientation=orientation)
    return _train_step(model, sizes["batch"]), {**_dan_info(model, graph), "layers": model.num_layers}


def step_ours_index(sizes):
    return step_ours(sizes, orientation="index")


def step_ours_large(sizes):
    return step_ours(sizes, key="step_n")


def step_seed(sizes):
    _torch()
    deepstruct = _seed_library()
    structure = deepstruct.graph.LayeredGraph.load_from(ws(sizes["step_seed_n"]))
    model = deepstruct.sparse.MaskedDeepDAN(64, 10, structure)
    return _train_step(model, sizes["batch"]), {"layers": structure.num_layers}


def _linear_step(layer, batch, n_in):
    torch = _torch()
    x = torch.randn(batch, n_in, requires_grad=True)  # a hidden layer: its input needs a gradient too
    grad_out = torch.randn(batch, layer.out_features)

    def step():
        layer.weight.grad = layer.bias.grad = x.grad = None
        # as after an optimizer step: whatever is cached from the weight is computed again
        torch.autograd.graph.increment_version(layer.weight)
        layer(x).backward(grad_out)
        return None

    return step


def _linear_pair(index: int, density: float):
    """MaskedLinearLayer (mask of the given density) and nn.Linear of one size, timed side by side."""

    def workload(sizes):
        torch = _torch()
        import workbench.sparse

        n_in, n_out = sizes["linear"][index]
        masked = workbench.sparse.MaskedLinearLayer(n_in, n_out)
        if density < 1:
            masked.mask = torch.rand(n_out, n_in, generator=torch.Generator().manual_seed(0)) < density
        plain = torch.nn.Linear(n_in, n_out)
        return {
            "ours": _linear_step(masked, sizes["batch"], n_in),
            "base": _linear_step(plain, sizes["batch"], n_in),
        }, {}

    return workload


def _big_ffn(sizes, seed_lib=False):
    w = sizes["big_prune_width"]
    _torch()
    if seed_lib:
        return _seed_library().sparse.MaskedDeepFFN(w, w, [w, w])
    import workbench.sparse

    return workbench.sparse.MaskedDeepFFN(w, w, [w, w])


def _reset_masks(model):
    for layer in model.layers:
        layer.mask.fill_(True)


def prune_ours(sizes, big=False):
    _torch()
    from workbench.pruning import prune_network_by_saliency

    model = _big_ffn(sizes) if big else _ffn(sizes)

    def run():
        _reset_masks(model)  # a few microseconds per MB; part of every repeat, ours only
        prune_network_by_saliency(model, 10)

    return run, {"weights": sum(layer.weight.numel() for layer in model.layers)}


def prune_ours_big(sizes):
    return prune_ours(sizes, big=True)


def prune_seed(sizes):
    _torch()
    deepstruct = _seed_library()
    model = _ffn(sizes, seed_lib=True)
    return (lambda: deepstruct.pruning.prune_network_by_saliency(model, 10)), {}


def prune_floor(sizes, big=False):
    torch = _torch()
    model = _big_ffn(sizes) if big else _ffn(sizes)
    flat = torch.cat([layer.weight.detach().abs().flatten() for layer in model.layers])
    k = round(0.1 * flat.numel())
    return (lambda: torch.kthvalue(flat, k)), {"weights": flat.numel()}


def prune_floor_big(sizes):
    return prune_floor(sizes, big=True)


def _preview_setup(sizes):
    torch = _torch()
    import workbench.sparse
    from workbench.pruning import current_masks, weight_snapshot

    model = workbench.sparse.MaskedDeepDAN(64, 10, ws(sizes["preview_n"]))
    weights, base = weight_snapshot(model), current_masks(model)
    threshold = float(torch.cat([w.abs().flatten() for w in weights.values()]).median())
    return model, weights, base, threshold


def preview_ours(sizes):
    torch = _torch()
    from workbench.pruning import densities, masks_by_threshold

    model, weights, base, threshold = _preview_setup(sizes)

    def run():
        masks = masks_by_threshold(weights, threshold, base=base)
        dens = densities(masks, base)
        kept = torch.cat([w[m] for w, m in zip(weights.values(), masks.values(), strict=True)])
        counts = torch.histc(kept, bins=50)  # histogram of the kept weights
        return dens, counts

    return run, {"edges": sum(layer.weight.numel() for layer in model.layers)}


def preview_floor(sizes):
    torch = _torch()
    _, weights, base, threshold = _preview_setup(sizes)
    flat = torch.cat([w.flatten() for w in weights.values()])
    flat_base = torch.cat([b.flatten() for b in base.values()])
    bounds = torch.tensor([0, *(w.numel() for w in weights.values())]).cumsum(0).tolist()

    def run():
        keep = flat_base & (flat.abs() > threshold)
        kept_per_layer = [int(keep[a:b].sum()) for a, b in itertools.pairwise(bounds)]
        return kept_per_layer, torch.histc(flat[keep], bins=50)

    return run, {}


def _resnet(sizes):
    torch = _torch()
    from workbench.transform import GraphTransform, ResNet18

    model = ResNet18(width=sizes["resnet_width"]).eval()
    example = torch.randn(1, 3, sizes["resnet_size"], sizes["resnet_size"])
    GraphTransform(example, granularity="module").transform(model)  # the first trace imports torch.fx's helpers
    return model, example


def resnet_ours(sizes, granularity="channel"):
    from workbench.transform import GraphTransform

    model, example = _resnet(sizes)
    edges = GraphTransform(example, granularity=granularity).estimate(model).edges
    return (lambda: GraphTransform(example, granularity=granularity).transform(model)), {"edges": edges}


def resnet_module_ours(sizes):
    return resnet_ours(sizes, granularity="module")


def resnet_channel_floor(sizes):
    """Bare ``add_edges_from`` on the channel graph's edge list (built before timing)."""
    import networkx as nx

    from workbench.transform import GraphTransform

    model, example = _resnet(sizes)
    arrays = GraphTransform(example, granularity="channel").transform_arrays(model)
    edges = list(zip(arrays.source.tolist(), arrays.target.tolist(), strict=True))

    def run():
        graph = nx.DiGraph()
        graph.add_edges_from(edges)
        return graph

    return run, {"edges": len(edges)}


def resnet_module_floor(sizes):
    """What any module-level extraction must do: trace the model and read every weight once (sum of squares)."""
    import numpy as np
    import torch.fx

    model, _ = _resnet(sizes)
    weights = [p.detach().numpy() for p in model.parameters()]

    def run():
        torch.fx.symbolic_trace(model)
        return [float(np.einsum("i,i->", w.reshape(-1), w.reshape(-1))) for w in weights]

    return run, {}


def _lenet(sizes, density: float):
    """A LeNet-300-100-sized ``MaskedDeepFFN`` with every layer's mask keeping ``density`` (random, seeded)."""
    torch = _torch()
    import workbench.sparse

    model = workbench.sparse.MaskedDeepFFN(784, 10, sizes["lenet_hidden"])
    generator = torch.Generator().manual_seed(0)
    for layer in model.layers:
        layer.mask = torch.rand(layer.weight.shape, generator=generator) < density
    return model.eval()


def lenet_pair(sizes):
    """Eval-mode inference of a 95%-pruned LeNet-300-100 and of the dense nn.Linear MLP, side by side."""
    torch = _torch()
    model = _lenet(sizes, 0.05)
    dims = [784, *sizes["lenet_hidden"], 10]
    layers = []
    for a, b in itertools.pairwise(dims):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    dense = torch.nn.Sequential(*layers[:-1]).eval()
    x = torch.randn(sizes["batch"], 784)

    def infer(net):
        def run():
            with torch.no_grad():
                return net(x)

        return run

    sparse_layers = sum(
        layer._mask_state().use_sparse(layer.weight, layer.sparse_threshold, training=False) for layer in model.layers
    )
    return {"ours": infer(model), "base": infer(dense)}, {"sparse_layers": int(sparse_layers)}


def lenet_pair_large(sizes):
    """The same at a batch of 1,000 (the throughput of evaluating a test set)."""
    return lenet_pair({**sizes, "batch": sizes["eval_batch"]})


def compact_lenet(sizes):
    """Save a 95%-pruned LeNet-300-100 as a compact file and load it into a fresh model (bytes, multiply-adds)."""
    torch = _torch()
    import tempfile

    from workbench.io.compact import load_compact, save_compact

    model = _lenet(sizes, 0.05)
    fresh = _lenet(sizes, 1.0)
    x = torch.randn(sizes["batch"], 784)
    path = Path(tempfile.mkdtemp()) / "lenet.safetensors"
    report = save_compact(model, path)
    with torch.no_grad():
        same = bool(torch.equal(load_compact(fresh, path)(x).view(torch.int32), model(x).view(torch.int32)))
    info = {
        "dense_bytes": report.dense_bytes,
        "compact_bytes": report.compact_bytes,
        "dense_macs": report.dense_macs,
        "kept_macs": report.kept_macs,
        "identical": same,
    }

    def round_trip():
        save_compact(model, path)
        return load_compact(fresh, path)

    return round_trip, info


def step_ours_million(sizes):
    """A training step of a DAN with a million edges (Watts-Strogatz, 500,000 vertices, k=4), one thread."""
    return step_ours(sizes, key="million_n")


WORKLOADS: dict[str, Callable] = {
    "extract_ours": extract_ours,
    "extract_ours_small": extract_ours_small,
    "extract_seed": extract_seed,
    "extract_floor_nx": extract_floor_nx,
    "extract_arrays_ours": extract_arrays_ours,
    "extract_arrays_floor": extract_arrays_floor,
    "build_ours": build_ours,
    "build_ours_seed_size": build_ours_seed_size,
    "build_seed": build_seed,
    "step_ours": step_ours,
    "step_ours_index": step_ours_index,
    "step_ours_large": step_ours_large,
    "step_seed": step_seed,
    "linear0_pair": _linear_pair(0, 1.0),
    "linear1_pair": _linear_pair(1, 1.0),
    "linear0_pruned_pair": _linear_pair(0, 0.5),
    "linear1_pruned_pair": _linear_pair(1, 0.5),
    "linear1_sparse90_pair": _linear_pair(1, 0.1),
    "linear1_sparse98_pair": _linear_pair(1, 0.02),
    "lenet_pair": lenet_pair,
    "lenet_pair_large": lenet_pair_large,
    "compact_lenet": compact_lenet,
    "step_ours_million": step_ours_million,
    "prune_ours": prune_ours,
    "prune_seed": prune_seed,
    "prune_floor": prune_floor,
    "prune_ours_big": prune_ours_big,
    "prune_floor_big": prune_floor_big,
    "preview_ours": preview_ours,
    "preview_floor": preview_floor,
    "resnet_ours": resnet_ours,
    "resnet_module_ours": resnet_module_ours,
    "resnet_channel_floor": resnet_channel_floor,
    "resnet_module_floor": resnet_module_floor,
}
# The seed library is slow: one timed call (its first call is the memory call).
SINGLE_RUN = {"extract_seed", "build_seed", "prune_seed"}


def run_worker(name: str, sizes: dict, repeats: int) -> dict:
    """Measure one workload in this process; returns a JSON-able dict."""
    try:
        fn, info = WORKLOADS[name](sizes)
    except NotImplementedError as error:
        return {"error": f"not implemented: {error}"}
    if isinstance(fn, dict):  # a pair timed side by side, so that drifting load hits both alike
        return {key: {"time": seconds, **memory, **info} for key, seconds, memory in _measure_pair(fn, repeats)}
    if name in SINGLE_RUN:
        ok = _reset_peak()
        before = _status_kb("VmRSS")
        start = CLOCK()
        result = fn()
        elapsed = CLOCK() - start
        peak, after = _status_kb("VmHWM"), _status_kb("VmRSS")
        del result
        mem = (max(0, peak - before) * 1024, max(0, after - before) * 1024) if ok and peak and before else (None, None)
        return {"time": elapsed, "peak": mem[0], "retained": mem[1], **info}
    fn()  # warm up
    peak, retained = measure_memory(fn)
    seconds = measure_time(fn, repeats)
    return {"time": seconds, "min": LAST_MIN, "max": LAST_MAX, "peak": peak, "retained": retained, **info}


def _measure_pair(fns: dict[str, Callable[[], object]], repeats: int):
    """Median time of each callable, their samples interleaved; peak memory of one call of each."""
    memory = {}
    for key, fn in fns.items():
        fn()  # warm up
        peak, retained = measure_memory(fn)
        memory[key] = {"peak": peak, "retained": retained}
    samples: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(max(3, repeats)):
        for key, fn in fns.items():
            samples[key].append(measure_time(fn, 1))
    for key in fns:
        memory[key]["min"], memory[key]["max"] = min(samples[key]), max(samples[key])
    return [(key, statistics.median(samples[key]), memory[key]) for key in fns]


def spawn(name: str, quick: bool, repeats: int, timeout: float) -> dict:
    """Run one workload in a fresh interpreter."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--repeats", str(repeats)]
    if quick:
        command.append("--quick")
    if CLOCK is time.perf_counter:
        command.append("--wall")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"failed: {last[:160]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Row:
    case: str
    ours: str
    baseline: str | None
    baseline_label: str
    target: str
    kind: str  # "faster": baseline/ours >= goal; "within": ours/baseline <= goal; "under": ours <= goal s
    goal: float
    memory_goal: float | None = None  # ours peak / baseline peak must be <= this
    extra_goal: tuple[str, float] | None = field(default=None)  # ("under", seconds) for a second target


ROWS = [
    Row(
        "extract 2.1M-param MaskedDeepFFN -> networkx",
        "extract_ours",
        "extract_seed",
        "seed GraphTransform",
        ">= 15x faster, <= 0.5x memory",
        "faster",
        15.0,
        memory_goal=0.5,
    ),
    Row(
        "extract 2.1M-param MaskedDeepFFN -> networkx",
        "extract_ours",
        "extract_floor_nx",
        "bare add_edges_from (same edges)",
        "within 1.15x",
        "within",
        1.15,
    ),
    Row(
        "extract 2.1M-param MaskedDeepFFN -> edge arrays",
        "extract_arrays_ours",
        "extract_arrays_floor",
        "bare numpy nonzero on the masks",
        "within 1.5x",
        "within",
        1.5,
    ),
    Row(
        "build DAN, WS 5,000 vertices, random order",
        "build_ours_seed_size",
        "build_seed",
        "seed MaskedDeepDAN + load_from",
        ">= 100x faster",
        "faster",
        100.0,
    ),
    Row("build DAN, WS 10,000 vertices", "build_ours", None, "—", "< 50 ms", "under", 0.050),
    Row(
        "train step DAN, WS 1,000, batch 64",
        "step_ours",
        "step_seed",
        "seed MaskedDeepDAN",
        ">= 40x faster",
        "faster",
        40.0,
    ),
    Row(
        "train step DAN, WS 1,000, the seed's DAG (orientation='index', a deep chain)",
        "step_ours_index",
        "step_seed",
        "seed MaskedDeepDAN",
        "(same DAG as the seed; no target)",
        "info",
        0.0,
    ),
    Row("train step DAN, WS 10,000, batch 64", "step_ours_large", None, "—", "< 10 ms", "under", 0.010),
    Row(
        "train step DAN, WS 500,000 (1,000,000 edges), batch 64, one thread",
        "step_ours_million",
        None,
        "—",
        "aim >= 5 steps/s (< 200 ms)",
        "under",
        0.200,
    ),
    Row(
        "MaskedLinearLayer 784x1000 fwd+bwd, batch 64, mask all on",
        "linear0_pair:ours",
        "linear0_pair:base",
        "nn.Linear (same run, interleaved)",
        "within 1.10x",
        "within",
        1.10,
    ),
    Row(
        "MaskedLinearLayer 784x1000 fwd+bwd, batch 64, half the mask off",
        "linear0_pruned_pair:ours",
        "linear0_pruned_pair:base",
        "nn.Linear (same run, interleaved)",
        "within 1.10x",
        "within",
        1.10,
    ),
    Row(
        "MaskedLinearLayer 4096x4096 fwd+bwd, batch 64, mask all on",
        "linear1_pair:ours",
        "linear1_pair:base",
        "nn.Linear (same run, interleaved)",
        "within 1.10x",
        "within",
        1.10,
    ),
    Row(
        "MaskedLinearLayer 4096x4096 fwd+bwd, batch 64, half the mask off",
        "linear1_pruned_pair:ours",
        "linear1_pruned_pair:base",
        "nn.Linear (same run, interleaved)",
        "within 1.10x",
        "within",
        1.10,
    ),
    Row(
        "MaskedLinearLayer 4096x4096 fwd+bwd, batch 64, 90% pruned (sparse kernel)",
        "linear1_sparse90_pair:ours",
        "linear1_sparse90_pair:base",
        "nn.Linear (same run, interleaved)",
        "<= 0.5x nn.Linear",
        "within",
        0.5,
    ),
    Row(
        "MaskedLinearLayer 4096x4096 fwd+bwd, batch 64, 98% pruned (sparse kernel)",
        "linear1_sparse98_pair:ours",
        "linear1_sparse98_pair:base",
        "nn.Linear (same run, interleaved)",
        "<= 0.25x nn.Linear",
        "within",
        0.25,
    ),
    Row(
        "eval inference, LeNet-300-100 95% pruned, batch 64",
        "lenet_pair:ours",
        "lenet_pair:base",
        "dense nn.Linear MLP (same run, interleaved)",
        ">= 3x faster",
        "faster",
        3.0,
    ),
    Row(
        "eval inference, LeNet-300-100 95% pruned, batch 1,000",
        "lenet_pair_large:ours",
        "lenet_pair_large:base",
        "dense nn.Linear MLP (same run, interleaved)",
        ">= 3x faster",
        "faster",
        3.0,
    ),
    Row(
        "global magnitude pruning 10%, 2.1M MLP",
        "prune_ours",
        "prune_seed",
        "seed prune_network_by_saliency",
        ">= 30x faster",
        "faster",
        30.0,
    ),
    Row(
        "global magnitude pruning 10%, 2.1M MLP",
        "prune_ours",
        "prune_floor",
        "torch.kthvalue on all |w|",
        "(floor, no target)",
        "info",
        0.0,
    ),
    Row(
        "global magnitude pruning 10%, 50M MLP",
        "prune_ours_big",
        "prune_floor_big",
        "torch.kthvalue on all |w|",
        "< 600 ms",
        "under",
        0.600,
    ),
    Row(
        "extract ResNet-18 (own definition) 3x224x224 -> networkx, channel level",
        "resnet_ours",
        "resnet_channel_floor",
        "bare add_edges_from (same edges)",
        "< 1 s (issue 13)",
        "under",
        1.0,
    ),
    Row(
        "extract ResNet-18 (own definition) 3x224x224 -> networkx, module level",
        "resnet_module_ours",
        "resnet_module_floor",
        "fx trace + one pass over every weight",
        "< 0.3 s (issue 13)",
        "under",
        0.3,
    ),
    Row(
        "slider preview, DAN with 10,000 edges (masks + densities + histogram)",
        "preview_ours",
        "preview_floor",
        "bare torch on one flat tensor",
        "< 20 ms",
        "under",
        0.020,
    ),
]


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _fmt_mem(nbytes: int | None) -> str:
    if nbytes is None:
        return "n/a"
    return f"{nbytes / 1e6:.1f} MB"


def _cell(result: dict | None) -> tuple[str, str]:
    if result is None:
        return "—", "—"
    if "error" in result:
        return result["error"], "—"
    shown = _fmt_time(result["time"])
    if result.get("min") is not None and result["min"] < 0.9 * result["time"]:
        shown += f" (min {_fmt_time(result['min'])})"
    return shown, _fmt_mem(result.get("peak"))


def _judge(row: Row, ours: dict, base: dict | None) -> tuple[str, str]:
    """(ratio text, met text), judged on the medians; the fastest samples are judged too when they differ."""
    ratio_text, met = _judge_on(row, ours, base, "time")
    if not met.startswith(("yes", "NO")) or "min" not in ours or (base is not None and "min" not in base):
        return ratio_text, met
    min_ratio, min_met = _judge_on(row, {**ours, "time": ours["min"]}, base and {**base, "time": base["min"]}, "min")
    if min_met != met:
        ratio_text += f" (on min: {min_ratio.split(',')[0]})"
        met += f" ({min_met.lower()} on min)"
    if row.kind == "faster" and base is not None and "max" in ours and "max" in base:
        low, high = base["min"] / ours["max"], base["max"] / ours["min"]
        ratio_text += f" (samples {low:.1f}–{high:.1f}x)"
    return ratio_text, met


def _judge_on(row: Row, ours: dict, base: dict | None, _clock: str) -> tuple[str, str]:
    if "error" in ours:
        return "—", "no (ours failed)"
    ratio_text, met = "—", None
    base_ok = base is not None and "error" not in base
    if base_ok:
        if row.kind == "within":
            ratio = ours["time"] / base["time"]
            ratio_text = f"{ratio:.2f}x ours/base"
            met = ratio <= row.goal
        else:
            ratio = base["time"] / ours["time"]
            ratio_text = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower"
            if row.kind == "faster":
                met = ratio >= row.goal
    if row.kind == "under":
        met = ours["time"] < row.goal
    if row.memory_goal is not None and base_ok and ours.get("peak") and base.get("peak"):
        memory_ratio = ours["peak"] / base["peak"]
        ratio_text += f", mem {memory_ratio:.2f}x"
        met = bool(met) and memory_ratio <= row.memory_goal
    if row.kind == "faster" and not base_ok:
        return ratio_text, "? (baseline failed)"
    if met is None:
        return ratio_text, "—"
    return ratio_text, "yes" if met else "NO"


def _bytes_per_edge_rows(results: dict) -> list[list[str]]:
    rows = []

    def per_edge(result: dict | None, key: str) -> str:
        if not result or "error" in result or not result.get(key) or not result.get("edges"):
            return "n/a"
        return f"{result[key] / result['edges']:.0f} B/edge"

    pairs = [  # (case, ours, what is measured, baseline, baseline label)
        ("DAN model tensors, WS 10,000", "build_ours", "model_bytes", "build_ours_seed_size", "ours, WS 5,000"),
        ("DAN model tensors, WS 5,000", "build_ours_seed_size", "model_bytes", "build_seed", "seed MaskedDeepDAN"),
        ("DAN build peak, WS 5,000", "build_ours_seed_size", "peak", "build_seed", "seed MaskedDeepDAN"),
        ("extracted networkx graph, 2.1M MLP", "extract_ours", "retained", "extract_seed", "seed GraphTransform"),
        ("extracted networkx graph, 2.1M MLP", "extract_ours", "retained", "extract_floor_nx", "bare add_edges_from"),
        ("extracted networkx graph, 2.1M MLP", "extract_ours", "retained", "extract_ours_small", "ours, 130k MLP"),
    ]
    for label, ours, key, base, base_label in pairs:
        if ours not in results or base not in results:
            continue
        ratio = "—"
        a, b = per_edge(results[ours], key), per_edge(results[base], key)
        if a != "n/a" and b != "n/a":
            ratio = f"{float(a.split()[0]) / max(float(b.split()[0]), 1e-9):.2f}x"
        rows.append([f"bytes per edge: {label}", a, "", base_label, b, "", ratio, "linear in edges (report)", "—"])
    return rows


def _compact_rows(results: dict) -> list[list[str]]:
    """Bytes and multiply-adds of the compact export (workbench.io.compact), dense vs kept."""
    result = results.get("compact_lenet")
    if not result:
        return []
    case = "compact export, LeNet-300-100 95% pruned"
    if "error" in result:
        return [[case, result["error"], "", "—", "—", "", "—", "stores only kept weights", "no (ours failed)"]]
    size = f"{result['dense_bytes'] / result['compact_bytes']:.1f}x smaller"
    macs = f"{result['dense_macs'] / result['kept_macs']:.1f}x fewer"
    identical = "yes" if result["identical"] else "NO"
    return [
        [f"{case}: file bytes (save + load {_fmt_time(result['time'])})", f"{result['compact_bytes']:,} B", "",
         "dense state_dict tensors", f"{result['dense_bytes']:,} B", "", size,
         "only kept weights; reloads bit-identical", identical],
        [f"{case}: multiply-adds per sample", f"{result['kept_macs']:,}", "", "dense", f"{result['dense_macs']:,}",
         "", macs, "(report)", "—"],
    ]  # fmt: skip


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            names = re.findall(r"^model name\s*:\s*(.+)$", info.read(), re.MULTILINE)
        cpu = names[0] if names else cpu
        cores = len(names)
    except OSError:
        cores = os.cpu_count()
    import networkx
    import numpy

    return (
        f"{cpu}, {cores} cores (1 torch thread), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, torch {torch.__version__}, numpy {numpy.__version__}, "
        f"networkx {networkx.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every case")
    parser.add_argument("--repeats", type=int, default=None, help="timed samples per case (median is reported)")
    parser.add_argument("--only", default=None, help="run only rows whose case contains this text")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per workload process")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run every workload in this process (fast start; memory numbers then mix cases); default with --quick",
    )
    parser.add_argument("--wall", action="store_true", help="time with the wall clock instead of process CPU time")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.in_process = args.in_process or (args.quick and not args.worker)
    sizes = QUICK if args.quick else FULL
    repeats = args.repeats or sizes["repeats"]

    if args.wall:
        global CLOCK
        CLOCK = time.perf_counter
    if args.worker:
        print(json.dumps(run_worker(args.worker, sizes, repeats)))
        return 0

    rows = [row for row in ROWS if args.only is None or args.only in row.case]
    names = list(dict.fromkeys(n.split(":")[0] for row in rows for n in (row.ours, row.baseline) if n))
    if args.only is None:
        names.append("extract_ours_small")
    if args.only is None or args.only in "compact export":
        names.append("compact_lenet")
    results: dict[str, dict] = {}
    started = time.perf_counter()
    for name in names:
        if args.in_process:
            try:
                results[name] = run_worker(name, sizes, repeats)
            except Exception as error:  # report a failing workload in the table, like a failed process
                results[name] = {"error": f"failed: {type(error).__name__}: {error}"[:160]}
        else:
            results[name] = spawn(name, args.quick, repeats, args.timeout)
        shown = results[name].get("ours", results[name])
        print(f"  measured {name}: {_cell(shown)[0]}", file=sys.stderr, flush=True)

    header = ["case", "ours", "ours peak", "baseline", "baseline time", "baseline peak", "ratio", "target", "met"]
    table = [header, ["---"] * len(header)]
    for name, result in list(results.items()):  # a pair's results under "name:ours" and "name:base"
        for key in ("ours", "base"):
            if key in result:
                results[f"{name}:{key}"] = result[key]
            elif "error" in result:
                results[f"{name}:{key}"] = result
    for row in rows:
        ours, base = results[row.ours], results.get(row.baseline) if row.baseline else None
        ratio, met = _judge(row, ours, base)
        table.append([row.case, *_cell(ours), row.baseline_label, *_cell(base), ratio, row.target, met])
    table.extend(_bytes_per_edge_rows(results))
    table.extend(_compact_rows(results))
    print(f"Machine: {machine()}")
    mode = "quick: tiny sizes (the case names give the full sizes), one process" if args.quick else "full"
    clock = "wall time" if args.wall else "process CPU time (user + system)"
    print(f"Mode: {mode}; {clock}, median of up to {repeats} repeats; the seed library runs once per case")
    print()
    for line in table:
        print("| " + " | ".join(line) + " |")
    print()
    print(f"Total wall time: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
