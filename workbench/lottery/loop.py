"""The training loop of one lottery round: Adam on minibatches, evaluated as it goes.

A round trains a model from iteration ``start`` to iteration ``stop``,
evaluates it every ``eval_every`` iterations (validation loss, test accuracy)
and can hand back a copy of its weights at one chosen iteration, the
rewinding point of later rounds. The loop is separate from
``workbench.training`` because a lottery needs those two hooks; it assumes
classification data already shaped as ``[N, features]`` float and ``[N]``
long tensors.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import DatasetError, TrainingError
from workbench.training import evaluate

__all__ = ["Evaluation", "RoundTraining", "Splits", "splits_of", "state_copy", "train_round"]


@dataclass(frozen=True)
class Splits:
    """Tensors of one experiment, all on one device.

    ``x_*`` are ``[N, features]`` float, ``y_*`` are ``[N]`` long class labels.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> Splits:
        """The splits on ``device``, features converted to ``dtype`` (the model's)."""
        return Splits(
            *(
                getattr(self, f).to(device, dtype if f.startswith("x") else torch.long)
                for f in self.__dataclass_fields__
            )
        )


def _features(value) -> torch.Tensor:  # [N, ...] -> [N, features] float
    t = torch.as_tensor(value)
    t = t if t.is_floating_point() else t.float()
    return t.reshape(t.shape[0], -1) if t.dim() > 2 else t


def _labels(value) -> torch.Tensor:  # [N] long
    return torch.as_tensor(value).long().reshape(-1)


def splits_of(dataset, *, validation: float | int = 0.1, seed: int = 0) -> Splits:
    """Training, validation and test tensors of a dataset.

    Args:
        dataset: an object with ``x_train, y_train, x_test, y_test`` (arrays or
            tensors), such as ``workbench.training.load_dataset(name)``. If it also
            has ``x_val, y_val`` those are the validation set; otherwise
            ``validation`` examples (a count, or a fraction of the training set)
            are held out of the training set at random.
        seed: seed of that random hold-out.

    Raises:
        DatasetError: a split is missing or the hold-out leaves nothing to train on.
    """
    try:
        x_train, y_train = dataset.x_train, dataset.y_train
        x_test, y_test = dataset.x_test, dataset.y_test
    except AttributeError as exc:
        raise DatasetError(f"{type(dataset).__name__} has no x_train/y_train/x_test/y_test: {exc}") from None
    x_train, x_test = _features(x_train), _features(x_test)
    y_train, y_test = _labels(y_train), _labels(y_test)
    x_val, y_val = getattr(dataset, "x_val", None), getattr(dataset, "y_val", None)
    if x_val is not None and y_val is not None and len(x_val) > 0:
        return Splits(x_train, y_train, _features(x_val), _labels(y_val), x_test, y_test)
    n = x_train.shape[0]
    held = round(validation * n) if isinstance(validation, float) else int(validation)
    if not 0 < held < n:
        raise DatasetError(f"validation hold-out of {validation!r} leaves no training or no validation data of {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val, train = order[:held], order[held:]
    return Splits(x_train[train], y_train[train], x_train[val], y_train[val], x_test, y_test)


@dataclass(frozen=True)
class Evaluation:
    """Validation loss and test accuracy after ``iteration`` training steps."""

    iteration: int
    val_loss: float
    test_accuracy: float


@dataclass
class RoundTraining:
    """What one call of :func:`train_round` saw.

    Attributes:
        curve: one :class:`Evaluation` per evaluation, in order.
        saved: copy of the model's parameters and buffers at iteration
            ``save_at`` (``None`` when not asked for or not reached).
        stopped: the ``stop`` event ended training early.
    """

    curve: list[Evaluation] = field(default_factory=list)
    saved: dict[str, torch.Tensor] | None = None
    stopped: bool = False

    @property
    def early_stop(self) -> Evaluation:
        """The evaluation with the lowest validation loss (the first one on ties)."""
        if not self.curve:
            raise TrainingError("the round has no evaluation; train at least one iteration")
        return min(self.curve, key=lambda e: e.val_loss)

    @property
    def final(self) -> Evaluation:
        if not self.curve:
            raise TrainingError("the round has no evaluation; train at least one iteration")
        return self.curve[-1]

    @property
    def best_accuracy(self) -> float:
        return max(e.test_accuracy for e in self.curve)


def state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached clones of ``model.state_dict()`` (weights, biases, masks, buffers)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_round(
    model: nn.Module,
    data: Splits,
    *,
    start: int = 0,
    stop_at: int,
    batch_size: int = 60,
    lr: float = 1.2e-3,
    eval_every: int = 100,
    save_at: int | None = None,
    generator: torch.Generator | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> RoundTraining:
    """Train ``model`` in place with Adam from iteration ``start`` to ``stop_at``.

    Evaluates every ``eval_every`` iterations (counted from 0, so evaluations
    fall on the same iterations whatever ``start`` is) and after the last one.
    Masked weights get no gradient and stay as stored.

    Args:
        save_at: copy the state after this many iterations (``start`` included,
            so ``save_at=0`` copies the initialisation).
        generator: draws the minibatches (default: a fresh unseeded one).
        stop: when set, training ends after the current iteration.
        progress: called with the number of iterations done since its last call.

    Raises:
        TrainingError: the loss became NaN or infinite.
    """
    result = RoundTraining()
    if save_at is not None and save_at == start:
        result.saved = state_copy(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n = data.x_train.shape[0]
    device = data.x_train.device
    order, cursor = torch.empty(0, dtype=torch.long), n
    reported = start
    model.train()
    for it in range(start + 1, stop_at + 1):
        if cursor + batch_size > n:
            order, cursor = torch.randperm(n, generator=generator).to(device), 0
        batch = order[cursor : cursor + batch_size]
        cursor += batch_size
        loss = F.cross_entropy(model(data.x_train[batch]), data.y_train[batch])  # [B, classes] vs [B]
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {float(loss.detach())} at iteration {it}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if save_at is not None and it == save_at:
            result.saved = state_copy(model)
        halt = stop is not None and stop.is_set()
        if it % eval_every == 0 or it == stop_at or halt:
            val_loss, _ = evaluate(model, data.x_val, data.y_val, batch_size=10_000)
            _, test_acc = evaluate(model, data.x_test, data.y_test, batch_size=10_000)
            result.curve.append(Evaluation(it, val_loss, test_acc))
            if progress is not None:
                progress(it - reported)
            reported = it
        if halt:
            result.stopped = True
            break
    return result
