"""``workbench lottery``: find a lottery ticket from the command line.

Trains a masked feed-forward network on a dataset of ``workbench.training``,
prunes and rewinds it round by round with its controls (see
:mod:`workbench.lottery.imp`), shows a progress bar, and writes
``results.json``, ``results.csv``, ``masks.pt`` and two SVG plots into
``--out``. Example (the paper's LeNet-300-100, shorter training)::

    workbench lottery --dataset mnist --arch 300,100 --rounds 10 --rate 0.2 \\
        --output-rate 0.1 --rewind 0 --iterations 5000 --out results/lottery

With ``--seeds 0,1,2``, or several values of ``--rate`` or ``--rewind``, it
runs a sweep (see :mod:`workbench.lottery.sweep`): one chain per setting and
seed, as Ray tasks when Ray is installed (a local instance with ``--workers``
CPUs, or the cluster at ``--address``), into ``--out/<setting>/seed-<s>/``,
and ends with ``summary.csv``, plots with mean ± std bands and a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import torch

from workbench.errors import WorkbenchError

__all__ = ["add_lottery_parser", "run_lottery_command"]


def _ints(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--arch must be comma-separated layer sizes, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _list(kind, what: str):
    def parse(text: str) -> list:
        try:
            values = [kind(s) for s in text.split(",") if s.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be comma-separated {kind.__name__}s, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"{what} needs at least one value, got {text!r}")
        return values

    return parse


def _count_or_fraction(text: str) -> float | int:
    value = float(text)
    return value if "." in text or "e" in text.lower() else int(value)


def _controls(text: str) -> tuple[str, ...]:
    return () if text in ("", "none") else tuple(c.strip() for c in text.split(","))


def add_lottery_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``lottery`` subcommand to ``sub`` (the subparsers of ``workbench``)."""
    p = sub.add_parser("lottery", help="find a lottery ticket by iterative magnitude pruning (headless)")
    p.add_argument("--dataset", default="mnist", help="dataset of workbench.training (default mnist)")
    p.add_argument("--n-samples", type=int, default=None, help="use a random subset of that many samples")
    p.add_argument("--arch", type=_ints, default=[300, 100], help="hidden layer sizes (default 300,100)")
    p.add_argument("--rounds", type=int, default=10, help="pruning rounds after the dense round (default 10)")
    p.add_argument(
        "--rate",
        type=_list(float, "--rate"),
        default=[0.2],
        help="fraction of remaining weights pruned per round (a list: a grid)",
    )
    p.add_argument("--output-rate", type=float, default=None, help="rate of the output layer (default: --rate)")
    p.add_argument("--scope", choices=("layer", "global"), default="layer", help="rank weights per layer or globally")
    p.add_argument(
        "--rewind",
        type=_list(int, "--rewind"),
        default=[0],
        help="iteration to rewind survivors to (0: init; a list: a grid)",
    )
    p.add_argument("--iterations", type=int, default=5000, help="training iterations per round (default 5000)")
    p.add_argument("--batch-size", type=int, default=60)
    p.add_argument("--lr", type=float, default=1.2e-3, help="Adam learning rate (default 1.2e-3, as the paper)")
    p.add_argument("--eval-every", type=int, default=100, help="iterations between evaluations (default 100)")
    p.add_argument("--controls", type=_controls, default=("reinit", "random"), help="reinit,random (or none)")
    p.add_argument("--validation", type=_count_or_fraction, default=5000, help="held-out examples (or a fraction)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=_list(int, "--seeds"), default=None, help="run a sweep: one chain per seed (0,1,2)")
    p.add_argument("--workers", type=int, default=None, help="CPUs of the local Ray instance (default: the cores)")
    p.add_argument("--address", default=None, help="HOST:PORT of a Ray cluster to run the sweep on")
    p.add_argument(
        "--backend", choices=("auto", "ray", "process"), default="auto", help="sweep on Ray, or one chain after another"
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu; cuda: a GPU per chain)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; per chain in a sweep)")
    p.add_argument("--out", default="results/lottery", help="output folder (default results/lottery)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run_lottery_command(args: argparse.Namespace) -> int:
    """Run the experiment described by parsed ``args``; returns the exit status."""
    from workbench.lottery.imp import LotteryConfig, iterate_lottery, networks_in, runs_in
    from workbench.lottery.report import markdown_table, write_results
    from workbench.lottery.results import LotteryResult
    from workbench.sparse import MaskedDeepFFN
    from workbench.training import load_dataset, resolve_device

    torch.set_num_threads(max(1, args.threads))
    if args.seeds is not None or len(args.rate) > 1 or len(args.rewind) > 1:
        from workbench.lottery.sweep_cli import run_sweep_command

        return run_sweep_command(args)
    try:
        config = LotteryConfig(
            rounds=args.rounds,
            rate=args.rate[0],
            output_rate=args.output_rate,
            scope=args.scope,
            rewind=args.rewind[0],
            iterations=args.iterations,
            batch_size=args.batch_size,
            lr=args.lr,
            eval_every=args.eval_every,
            controls=args.controls,
            seed=args.seed,
            validation=args.validation,
        )
        device = resolve_device(args.device)
        began = time.perf_counter()
        data = load_dataset(args.dataset, seed=args.seed, n_samples=args.n_samples)
        torch.manual_seed(args.seed)
        model = MaskedDeepFFN(data.n_features, data.n_classes, args.arch)
        bar = _progress_bar(runs_in(config), disabled=args.no_progress)
        extra = {
            "argv": sys.argv,
            "dataset": args.dataset,
            "arch": args.arch,
            "device": str(device),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        }
        expected = networks_in(config)
        saved: list = []
        rounds = []
        for r in iterate_lottery(model, data, config, device=device, progress=bar.update, on_rewind_state=saved.append):
            rounds.append(r)
            bar.set_postfix_str(f"round {r.round} {r.condition}: {r.percent_remaining:.1f}% acc {r.final_accuracy:.4f}")
            # Written after every network, so a long run can be read while it goes on.
            seconds = time.perf_counter() - began
            result = LotteryResult(config, rounds, saved[0], seconds, stopped=len(rounds) < expected)
            paths = write_results(result, args.out, extra=extra)
        bar.close()
    except WorkbenchError as exc:
        print(f"workbench lottery: error: {exc}", file=sys.stderr)
        return 2
    if not rounds:
        print("workbench lottery: no round finished", file=sys.stderr)
        return 1
    print(markdown_table(result))
    print(f"took {result.seconds:.0f} s; wrote {', '.join(str(p) for p in paths.values())}")
    return 0


class _PlainBar:
    """Stand-in for tqdm when it is missing or the bar is turned off."""

    def __init__(self, total: int, disabled: bool) -> None:
        self.total, self.n, self.disabled = total, 0, disabled

    def update(self, n: int) -> None:
        self.n += n

    def set_postfix_str(self, text: str) -> None:
        if not self.disabled:
            print(f"[{self.n}/{self.total}] {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


def _progress_bar(total: int, *, disabled: bool, unit: str = "it", initial: int = 0):
    if disabled:
        return _PlainBar(total, disabled=True)
    try:
        from tqdm import tqdm
    except ImportError:
        return _PlainBar(total, disabled=False)
    return tqdm(total=total, initial=initial, unit=unit, desc="lottery", dynamic_ncols=True)
