"""One chain of a sweep: a lottery experiment with one setting and one seed, and the folder it fills.

A chain runs in two places. :func:`run_chain` trains: it is a generator that
yields a :class:`ChainStep` for every trained network, and it runs either in
the calling process or as a Ray task (:mod:`workbench.lottery.distributed`).
:class:`ChainFolder` writes: the process that started the sweep appends each
step to ``OUT/<setting>/seed-<s>/``, the same files as a single run
(``results.json``, ``results.csv``, ``masks.pt``, two SVG plots), plus
``checkpoint.pt`` once every network of a round has finished. So the files
live where the command runs, also when the chains train on other machines.

A rerun opens the folder again: a chain with every round is skipped; one that
was interrupted goes on after the round of its checkpoint (the networks of a
later, unfinished round are dropped and trained again). Every random draw of
a chain is seeded from its config, so a resumed chain ends bit for bit where
one that ran through would have.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from workbench.errors import SweepError
from workbench.lottery.imp import CONDITIONS, Checkpoint, LotteryConfig, iterate_lottery, networks_in
from workbench.lottery.report import save_atomic, write_results, write_text
from workbench.lottery.results import LotteryResult, RoundResult

__all__ = ["ChainFolder", "ChainSpec", "ChainStep", "build_model", "run_chain"]

CHECKPOINT = "checkpoint.pt"
ERROR = "error.txt"


@dataclass(frozen=True)
class ChainSpec:
    """Everything a chain needs to train, picklable for a Ray task.

    Attributes:
        setting: name of the setting (a folder name, e.g. ``"rate0.2-rewind0"``).
        seed: the chain's seed (already in ``config.seed``).
        config: the experiment.
        dataset, n_samples: as for :func:`workbench.training.load_dataset` (loaded
            where the chain runs, with the chain's seed).
        arch: hidden layer sizes of the ``MaskedDeepFFN`` it trains.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``, resolved where it runs.
        threads: torch CPU threads of the chain.
        model_fn: builds the model from the dataset instead of ``arch`` (called
            after seeding torch with ``seed``); must be picklable for Ray.
    """

    setting: str
    seed: int
    config: LotteryConfig
    dataset: str = "mnist"
    n_samples: int | None = None
    arch: tuple[int, ...] = (300, 100)
    device: str = "cpu"
    threads: int = 1
    model_fn: Callable[[object], nn.Module] | None = None

    @property
    def name(self) -> str:
        """``"<setting>/seed-<s>"``, the chain's folder below the sweep's."""
        return f"{self.setting}/seed-{self.seed}"


@dataclass
class ChainStep:
    """A message from a running chain: it started (``result`` is ``None``), or one more network finished.

    ``result`` keeps its trained weights for the ticket only (the next round
    starts from them); ``rewind_state`` comes with the dense network.
    """

    result: RoundResult | None = None
    rewind_state: dict[str, torch.Tensor] | None = None
    host: str = ""


def build_model(spec: ChainSpec, data) -> nn.Module:
    """The chain's model before training: seeded with ``spec.seed``, global RNG state left as it was."""
    from workbench.sparse import MaskedDeepFFN

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        if spec.model_fn is not None:
            return spec.model_fn(data)
        return MaskedDeepFFN(data.n_features, data.n_classes, list(spec.arch))


def run_chain(spec: ChainSpec, resume: Checkpoint | None = None) -> Iterator[ChainStep]:
    """Train a chain, yielding a first empty step, then one step per trained network.

    Uses ``spec.threads`` torch threads (it sets them for the whole process:
    a Ray worker runs one chain at a time). With ``resume`` it goes on after
    that checkpoint's round.
    """
    from workbench.training import load_dataset, resolve_device

    torch.set_num_threads(max(1, spec.threads))
    yield ChainStep(host=platform.node())
    data = load_dataset(spec.dataset, seed=spec.seed, n_samples=spec.n_samples)
    model = build_model(spec, data)
    saved: list[dict[str, torch.Tensor]] = []
    device = resolve_device(spec.device)
    for r in iterate_lottery(model, data, spec.config, device=device, on_rewind_state=saved.append, resume=resume):
        state = r.state if r.condition == "ticket" else None
        yield ChainStep(dataclasses.replace(r, state=state), saved[0] if r.round == 0 else None)


@dataclass
class ChainFolder:
    """The files of one chain, read back for a rerun and appended to as networks finish.

    Open one with :meth:`open`. Not thread-safe; one process writes a chain.

    Attributes:
        path: ``OUT/<setting>/seed-<s>``.
        config: the chain's experiment.
        rounds: the networks kept so far (those of finished rounds after :meth:`open`).
        rewind_state: the rewinding state, once known.
        seconds: training time of earlier runs of this chain.
        checkpoint: the last finished round's checkpoint, or ``None``.
    """

    path: Path
    config: LotteryConfig
    rounds: list[RoundResult] = field(default_factory=list)
    rewind_state: dict[str, torch.Tensor] = field(default_factory=dict)
    seconds: float = 0.0
    checkpoint: Checkpoint | None = None
    _ticket_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, path: str | Path, config: LotteryConfig) -> ChainFolder:
        """Read what an earlier run left in ``path`` (nothing there: an empty chain).

        Raises:
            SweepError: the folder holds a chain of another experiment (any
                setting but ``rounds`` differs), or its files cannot be read.
        """
        path = Path(path)
        chain = cls(path, config)
        results, checkpoint = path / "results.json", path / CHECKPOINT
        if not results.exists():
            return chain
        try:
            document = json.loads(results.read_text())
            saved = torch.load(path / "masks.pt", weights_only=True)
            point = torch.load(checkpoint, weights_only=True) if checkpoint.exists() else None
        except (OSError, ValueError, RuntimeError) as exc:
            raise SweepError(f"cannot read the chain in {path}: {exc}; delete the folder to run it again") from exc
        _check_same_experiment(path, document.get("config", {}), config)
        if point is None:
            return chain  # killed before the dense round's checkpoint: start again
        last = int(point["round"])
        kept = [s for s in document["rounds"] if s["round"] <= last]
        chain.rounds = [RoundResult.from_summary(s, saved["masks"][f"{s['condition']}/{s['round']}"]) for s in kept]
        chain.rewind_state = dict(point["rewind_state"])
        chain.seconds = float(document.get("seconds", 0.0))
        chain.checkpoint = Checkpoint(last, dict(point["ticket_state"]), chain.rewind_state)
        return chain

    @property
    def finished(self) -> bool:
        """Every round of the config has finished."""
        return self.checkpoint is not None and self.checkpoint.round >= self.config.rounds

    @property
    def networks_done(self) -> int:
        return len(self.rounds) if not self.finished else networks_in(self.config)

    def result(self, seconds: float = 0.0, *, stopped: bool = False) -> LotteryResult:
        """The chain so far, with ``seconds`` of this run added to the earlier runs'."""
        return LotteryResult(self.config, list(self.rounds), self.rewind_state, self.seconds + seconds, stopped)

    def restart(self) -> None:
        """Forget an unfinished round and any earlier failure before the chain runs again."""
        (self.path / ERROR).unlink(missing_ok=True)

    def add(self, step: ChainStep, *, seconds: float, extra: dict | None = None) -> None:
        """Append a finished network and rewrite the files; checkpoint a round once all its networks are in.

        ``seconds`` is this run's time so far; ``extra`` goes under ``"run"`` in ``results.json``.
        """
        result = step.result
        if result is None:
            return
        if step.rewind_state is not None:
            self.rewind_state = step.rewind_state
        self.rounds.append(dataclasses.replace(result, state=None))
        expected = networks_in(self.config)
        write_results(self.result(seconds, stopped=len(self.rounds) < expected), self.path, extra=extra)
        per_round = 1 if result.round == 0 else 1 + len(set(self.config.controls) & set(CONDITIONS[1:]))
        done = [r for r in self.rounds if r.round == result.round]
        if result.condition == "ticket":
            self._ticket_state = result.state
        if len(done) == per_round:
            state = self._ticket_state
            if state is None:
                raise SweepError(f"{self.path}: round {result.round} finished without the ticket's trained weights")
            self.checkpoint = Checkpoint(result.round, state, self.rewind_state)
            save_atomic(
                {"round": result.round, "ticket_state": state, "rewind_state": self.rewind_state},
                self.path / CHECKPOINT,
            )

    def fail(self, error: str) -> None:
        """Write ``error.txt`` beside the chain's files (the rounds written so far stay)."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.path / ERROR, error.rstrip() + "\n")


def _check_same_experiment(path: Path, stored: dict, config: LotteryConfig) -> None:
    wanted = json.loads(json.dumps(dataclasses.asdict(config)))
    differ = sorted(k for k in set(stored) | set(wanted) if k != "rounds" and stored.get(k) != wanted.get(k))
    if differ:
        pairs = ", ".join(f"{k}={stored.get(k)!r} (asked: {wanted.get(k)!r})" for k in differ)
        raise SweepError(f"{path} holds a chain run with {pairs}; choose another output folder or delete it")
