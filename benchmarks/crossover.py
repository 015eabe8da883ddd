"""Where the sparse kernel of MaskedLinearLayer starts to pay: its time over the dense kernel's, by density.

For each layer size and mask density, one process times the same pruned
``MaskedLinearLayer`` on both kernels (``sparse_threshold`` 1.0 forces the
sparse one, 0.0 the dense one), samples interleaved so that load drift hits
both alike: training (forward + backward at batch 64, the weight's version
bumped every step as an optimizer step would) and eval-mode inference
(forward under ``torch.no_grad``). A ratio below 1 means the sparse kernel is
faster; the crossover is the highest density measured where it still is.

    python benchmarks/crossover.py            # the sizes of the benchmark table (a few minutes)
    python benchmarks/crossover.py --quick    # tiny sizes, a smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from workbench.sparse import MaskedLinearLayer, kernels, native  # noqa: E402

SIZES = [(100, 10), (300, 100), (784, 300), (784, 1000), (4096, 4096)]  # (in, out): LeNet-300-100, the table's two
DENSITIES = [0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.02, 0.01]


def _sample(fn, number: int) -> float:
    start = time.process_time()
    for _ in range(number):
        fn()
    return (time.process_time() - start) / number


def _pair(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call of each callable, samples interleaved (each sample lasts ~20 ms)."""
    for fn in fns.values():
        fn()
    start = time.process_time()
    next(iter(fns.values()))()
    number = max(1, round(0.02 / max(time.process_time() - start, 1e-7)))
    samples: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            samples[key].append(_sample(fn, number))
    return {key: statistics.median(values) for key, values in samples.items()}


def measure(n_in: int, n_out: int, density: float, batch: int, repeats: int) -> dict[str, float]:
    """Sparse/dense time ratios (training and inference) of one pruned layer."""
    torch.manual_seed(0)
    layer = MaskedLinearLayer(n_in, n_out)
    layer.mask = torch.rand(n_out, n_in) < density
    x = torch.randn(batch, n_in, requires_grad=True)
    grad_out = torch.randn(batch, n_out)

    def train(threshold):
        def step():
            layer.sparse_threshold = threshold
            layer.weight.grad = layer.bias.grad = x.grad = None
            torch.autograd.graph.increment_version(layer.weight)
            layer(x).backward(grad_out)

        return step

    def infer(threshold):
        def run():
            layer.sparse_threshold = threshold
            with torch.no_grad():
                layer(x)

        return run

    trained = _pair({"sparse": train(1.0), "dense": train(0.0)}, repeats)
    inferred = _pair({"sparse": infer(1.0), "dense": infer(0.0)}, repeats)
    return {
        "train": trained["sparse"] / trained["dense"],
        "infer": inferred["sparse"] / inferred["dense"],
        "dense_ms": trained["dense"] * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64, help="rows of the input (the crossover moves with it)")
    parser.add_argument("--torch", action="store_true", help="torch's sparse products instead of the compiled ones")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    native.set_enabled(not args.torch)
    sizes = [(24, 16), (40, 40)] if args.quick else SIZES
    densities = [0.5, 0.1] if args.quick else DENSITIES
    repeats = 2 if args.quick else args.repeats
    print(
        f"sparse kernel time / dense kernel time, batch {args.batch}, one thread, median of {repeats} interleaved"
        f" samples; sparse products: {native.status()}"
    )
    print("(< 1: the sparse kernel is faster; train = forward + backward, infer = forward under no_grad)\n")
    header = ["density"] + [f"{n_in}x{n_out} {kind}" for n_in, n_out in sizes for kind in ("train", "infer")]
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    crossover: dict[tuple, dict[str, float]] = {}
    for density in densities:
        cells = [f"{density:.2f}"]
        for n_in, n_out in sizes:
            result = measure(n_in, n_out, density, args.batch, repeats)
            for kind in ("train", "infer"):
                cells.append(f"{result[kind]:.2f}")
                best = crossover.setdefault((n_in, n_out), {})
                if result[kind] < 1 and density > best.get(kind, 0.0):
                    best[kind] = density
        print("| " + " | ".join(cells) + " |", flush=True)
    print()
    for (n_in, n_out), best in crossover.items():
        shown = ", ".join(f"{kind} below {best[kind]:.2f}" for kind in ("train", "infer") if kind in best) or "never"
        print(f"{n_in}x{n_out}: the sparse kernel is faster at densities {shown} (highest density measured)")
    compiled = native.available()
    chosen = [
        kernels.sparse_threshold(n_in * n_out, training=mode == "train", batch=args.batch, compiled=compiled)
        for n_in, n_out in sizes
        for mode in ("train", "infer")
    ]
    print(f"\nthe library's thresholds at this batch: {dict(zip(header[1:], chosen, strict=True))}")
    print(f"load {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
