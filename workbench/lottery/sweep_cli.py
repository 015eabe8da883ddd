"""``workbench lottery --seeds ...``: a sweep from the command line, with one progress bar over every chain.

Called by :func:`workbench.lottery.cli.run_lottery_command` when ``--seeds``
is given or ``--rate``/``--rewind`` list several values. Example (three seeds
of the paper's LeNet-300-100 on two local Ray workers)::

    workbench lottery --dataset mnist --arch 300,100 --rounds 13 --rate 0.2 --output-rate 0.1 \\
        --rewind 0 --iterations 2500 --seeds 0,1,2 --workers 2 --out results/sweep
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import torch

from workbench.errors import WorkbenchError

__all__ = ["run_sweep_command"]


class _SweepProgress:
    """One bar over every network of every chain, with chains running, finished and failed."""

    def __init__(self, *, disabled: bool) -> None:
        self.disabled, self.bar = disabled, None
        self.running, self.finished, self.failed = 0, 0, 0

    def _postfix(self) -> None:
        text = f"running {self.running}, finished {self.finished}, failed {self.failed}"
        if self.bar is not None:
            self.bar.set_postfix_str(text)

    def _write(self, text: str) -> None:
        if self.bar is not None and hasattr(self.bar, "write"):
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def __call__(self, event) -> None:
        from workbench.lottery.cli import _progress_bar

        if event.kind == "planned":
            self.bar = _progress_bar(event.networks, disabled=self.disabled, unit="net", initial=event.networks_done)
            if event.networks_done:
                self._write(f"{event.networks_done} of {event.networks} networks are done already; resuming")
        elif event.kind == "started":
            self.running += 1
        elif event.kind == "network":
            self.bar.update(1)
        elif event.kind == "finished":
            self.running, self.finished = self.running - 1, self.finished + 1
        elif event.kind == "failed":
            self.running, self.failed = max(0, self.running - 1), self.failed + 1
            self._write(f"chain {event.chain} failed: {event.error.splitlines()[0] if event.error else ''}")
        self._postfix()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_sweep_command(args: argparse.Namespace) -> int:
    """Run the sweep described by parsed ``args``; returns the exit status (1 if a chain failed)."""
    from workbench.lottery.distributed import INSTALL_HINT, ray_available
    from workbench.lottery.imp import LotteryConfig
    from workbench.lottery.summary import markdown_summary
    from workbench.lottery.sweep import Sweep, run_sweep

    progress = _SweepProgress(disabled=args.no_progress)
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
            validation=args.validation,
        )
        sweep = Sweep(
            config,
            seeds=tuple(args.seeds if args.seeds is not None else [args.seed]),
            rates=tuple(args.rate),
            rewinds=tuple(args.rewind),
            dataset=args.dataset,
            n_samples=args.n_samples,
            arch=tuple(args.arch),
            device=args.device,
            threads=max(1, args.threads),
        )
        if args.backend == "auto" and not args.address and not ray_available():
            print(INSTALL_HINT, file=sys.stderr)
        extra = {
            "argv": sys.argv,
            "dataset": args.dataset,
            "arch": args.arch,
            "device": args.device,
            "threads": max(1, args.threads),
            "torch": torch.__version__,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        }
        try:
            outcome = run_sweep(
                sweep,
                args.out,
                backend=args.backend,
                workers=args.workers,
                address=args.address,
                on_event=progress,
                extra=extra,
            )
        finally:
            progress.close()
    except WorkbenchError as exc:
        print(f"workbench lottery: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"workbench lottery: interrupted; run the same command again to resume into {args.out}", file=sys.stderr)
        return 130
    print(markdown_summary(outcome.summary))
    skipped = f", {len(outcome.skipped)} already finished" if outcome.skipped else ""
    print(
        f"{len(outcome.finished)} chains finished, {len(outcome.failed)} failed{skipped} "
        f"({outcome.backend}; took {outcome.seconds:.0f} s); wrote {', '.join(str(p) for p in outcome.paths.values())}"
    )
    for name, error in outcome.failed.items():
        print(f"failed: {name}: {error} (see {args.out}/{name}/error.txt)", file=sys.stderr)
    return 1 if outcome.failed else 0
