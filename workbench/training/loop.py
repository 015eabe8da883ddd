"""Training configuration, evaluation and the training loop shared by :func:`train` and the ``Trainer``.

Training minimises cross-entropy with Adam or SGD. :func:`train` and
:class:`~workbench.training.Trainer` share one loop (:class:`_Run`), so both
record the same history: a list of dicts ``{step, epoch, loss, train_acc,
test_acc, time}`` where ``loss`` and ``train_acc`` average the steps since the
previous record, ``test_acc`` is measured on a fixed subset of at most
``TrainConfig.eval_samples`` test samples, ``epoch`` counts (fractional)
passes over the training set and ``time`` is seconds spent training.

Masks hold through training: a masked weight contributes nothing and gets no
gradient (the layers multiply by the mask), and training zeroes the stored
value of every masked weight once at the start (``apply_mask``), after which
neither SGD nor Adam, with or without weight decay, can move it off zero.
Training mutates the model: its weights, and its device if the config asks
for another one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import TrainingError
from workbench.sparse.module import maskable_layers
from workbench.training.datasets import Dataset

__all__ = ["Record", "StepCallback", "TrainConfig", "evaluate", "resolve_device", "train"]

Record = dict  # {"step": int, "epoch": float, "loss": float, "train_acc": float, "test_acc": float, "time": float}
StepCallback = Callable[[int, float], "bool | None"]


# ------------------------------------------------------------------------ config


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
        optimizer: ``"adam"`` or ``"sgd"`` (with momentum 0.9).
        lr: learning rate, > 0.
        batch_size: samples per step, >= 1.
        epochs: passes over the training set, >= 1 (unless steps are given).
        weight_decay: L2 penalty, >= 0.
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        seed: seeds the batch order.
        record_interval: seconds of training between history records.
        eval_samples: test samples used for the ``test_acc`` of each record.

    Raises:
        TrainingError: a value is out of range (named in the message).
    """

    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 0.01
    batch_size: int = 32
    epochs: int = 10
    weight_decay: float = 0.0
    device: str = "auto"
    seed: int = 0
    record_interval: float = 0.25
    eval_samples: int = 512

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise TrainingError(f"unknown optimizer {self.optimizer!r}; expected 'adam' or 'sgd'")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0):
            raise TrainingError(f"learning rate must be a positive number, got {self.lr!r}")
        for key in ("batch_size", "epochs", "eval_samples"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TrainingError(f"{key} must be a positive int, got {value!r}")
        if not (isinstance(self.weight_decay, int | float) and self.weight_decay >= 0):
            raise TrainingError(f"weight_decay must be a non-negative number, got {self.weight_decay!r}")
        if not self.record_interval >= 0:
            raise TrainingError(f"record_interval must be >= 0 seconds, got {self.record_interval!r}")
        if not (self.device in ("auto", "cpu", "cuda") or str(self.device).startswith("cuda:")):
            raise TrainingError(f"unknown device {self.device!r}; expected 'auto', 'cpu' or 'cuda'")


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; other names are checked.

    Raises:
        TrainingError: CUDA is asked for but not available, or an unknown name.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or str(name).startswith("cuda:"):
        if not torch.cuda.is_available():
            raise TrainingError(f"device {name!r} requested but CUDA is not available; use 'cpu' or 'auto'")
        return torch.device(name)
    raise TrainingError(f"unknown device {name!r}; expected 'auto', 'cpu' or 'cuda'")


def _model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1024) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)``, without gradients.

    The model is put in eval mode and back into the mode it was in. Inputs are
    moved to the model's device batch by batch.

    Returns:
        ``(loss, accuracy)``; ``(nan, nan)`` for an empty set.
    """
    n = int(y.shape[0])
    if n == 0:
        return math.nan, math.nan
    was_training = model.training
    model.eval()
    device = _model_device(model)
    total_loss, correct = 0.0, 0
    try:
        for start in range(0, n, batch_size):
            xb = x[start : start + batch_size].to(device)  # [b, features]
            yb = y[start : start + batch_size].to(device)  # [b]
            logits = model(xb)  # [b, classes]
            total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    finally:
        model.train(was_training)
    return total_loss / n, correct / n


# ------------------------------------------------------------------------ the loop


class _Run:
    """One training run: optimizer, batch order, step counter and pending statistics.

    Both :func:`train` and :class:`Trainer` drive it with :meth:`step` and
    :meth:`record`; it holds no thread of its own.
    """

    def __init__(
        self, model: nn.Module, dataset: Dataset, config: TrainConfig, *, steps: int | None, epochs: int | None
    ) -> None:
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 0):
            raise TrainingError(f"steps must be a non-negative int, got {steps!r}")
        if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0):
            raise TrainingError(f"epochs must be a non-negative int, got {epochs!r}")
        if dataset.n_train == 0:
            raise TrainingError(f"dataset {dataset.name!r} has no training samples")
        self.model, self.dataset, self.config = model, dataset, config
        self.device = resolve_device(config.device)
        model.to(self.device)
        for layer in maskable_layers(model):
            if not layer.mask_as_params:
                layer.apply_mask()  # masked weights are zero from here on
        params = [p for p in model.parameters() if p.requires_grad]
        if config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
        self.x = dataset.x_train.to(self.device)  # [n, features]
        self.y = dataset.y_train.to(self.device)  # [n]
        self.x_eval = dataset.x_test[: config.eval_samples]
        self.y_eval = dataset.y_test[: config.eval_samples]
        self.batches_per_epoch = math.ceil(dataset.n_train / config.batch_size)
        if steps is None:
            steps = self.batches_per_epoch * (config.epochs if epochs is None else epochs)
        self.total_steps = steps
        self.generator = torch.Generator().manual_seed(config.seed)
        self.order = torch.empty(0, dtype=torch.long)
        self.step_count = 0
        self.elapsed = 0.0
        self._last_record_time = -math.inf
        self._pending_loss, self._pending_correct, self._pending_seen, self._pending_steps = 0.0, 0, 0, 0

    @property
    def done(self) -> bool:
        return self.step_count >= self.total_steps

    @property
    def has_pending(self) -> bool:
        """Whether steps were taken since the last record."""
        return self._pending_steps > 0

    def step(self) -> float:
        """One optimizer step on the next batch; returns its loss.

        Raises:
            TrainingError: the loss is NaN or infinite (checked before the
                update, so the weights keep their last finite values), or the
                model fails (shape mismatch, out of memory); the message
                names the step.
        """
        started = time.perf_counter()
        position = self.step_count % self.batches_per_epoch
        if position == 0:
            self.order = torch.randperm(self.dataset.n_train, generator=self.generator).to(self.device)
        size = self.config.batch_size
        index = self.order[position * size : (position + 1) * size]  # [b]
        xb, yb = self.x[index], self.y[index]  # [b, features], [b]
        self.model.train()
        try:
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.model(xb)  # [b, classes]
            loss = F.cross_entropy(logits, yb)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingError(
                    f"loss became {'NaN' if math.isnan(value) else 'infinite'} at step {self.step_count + 1} "
                    f"(learning rate {self.config.lr:g} too high?)"
                )
            loss.backward()
            self.optimizer.step()
        except TrainingError:
            raise
        except RuntimeError as exc:  # shape errors, CUDA out of memory
            raise TrainingError(f"training failed at step {self.step_count + 1}: {self._explain(exc)}") from exc
        self.step_count += 1
        self._pending_loss += value * len(yb)
        self._pending_correct += int((logits.detach().argmax(1) == yb).sum())
        self._pending_seen += len(yb)
        self._pending_steps += 1
        self.elapsed += time.perf_counter() - started
        return value

    def _explain(self, exc: RuntimeError) -> str:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        shape = getattr(self.model, "input_shape", None)
        if shape is not None and math.prod(shape) != self.dataset.n_features:
            message += (
                f" (the model takes {math.prod(shape)} inputs but dataset {self.dataset.name!r} "
                f"has {self.dataset.n_features} features)"
            )
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            message = "CUDA out of memory; try a smaller batch size or model, or device 'cpu'"
        return message

    def record_due(self, every: int | None = None) -> bool:
        """Whether a history record is due after the last step."""
        if self._pending_steps == 0:
            return False
        if self.done or self.step_count == 1 or self.step_count % self.batches_per_epoch == 0:
            return True
        if every is not None:
            return self.step_count % every == 0
        return self.elapsed - self._last_record_time >= self.config.record_interval

    def record(self) -> Record:
        """A history record of the steps since the previous one (evaluates the test subset)."""
        started = time.perf_counter()
        _, test_acc = evaluate(self.model, self.x_eval, self.y_eval)
        seen = max(self._pending_seen, 1)
        rec = {
            "step": self.step_count,
            "epoch": round(self.step_count / self.batches_per_epoch, 4),
            "loss": self._pending_loss / seen,
            "train_acc": self._pending_correct / seen,
            "test_acc": test_acc,
            "time": round(self.elapsed, 4),
        }
        self._pending_loss, self._pending_correct, self._pending_seen, self._pending_steps = 0.0, 0, 0, 0
        self.elapsed += time.perf_counter() - started
        self._last_record_time = self.elapsed
        return rec


def train(
    model: nn.Module,
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    callback: StepCallback | None = None,
    record_every: int | None = None,
) -> list[Record]:
    """Train ``model`` on ``dataset`` in the calling thread (mutates ``model``).

    Args:
        model: a classifier taking ``[B, n_features]`` and returning ``[B, n_classes]`` logits.
        dataset: from :func:`load_dataset`.
        config: optimizer, learning rate, batch size... (default ``TrainConfig()``).
        steps: number of optimizer steps; overrides ``epochs``.
        epochs: number of epochs (default ``config.epochs``).
        callback: ``callback(step, loss)`` after every step; returning ``False`` stops.
        record_every: add a history record every that many steps (default:
            every ``config.record_interval`` seconds); the first step, every
            epoch's end and the last step are always recorded.

    Returns:
        The history records (see the module docstring).

    Raises:
        TrainingError: NaN/infinite loss, a model failure, or bad arguments.
            The model keeps the weights and masks it had at that point.

    Example:
        >>> data = load_dataset("digits")
        >>> history = train(MaskedDeepFFN(64, 10, [32]), data, TrainConfig(device="cpu"), steps=200)
        >>> history[-1]["loss"] < history[0]["loss"]
        True
    """
    config = TrainConfig() if config is None else config
    run = _Run(model, dataset, config, steps=steps, epochs=epochs)
    history: list[Record] = []
    while not run.done:
        loss = run.step()
        if run.record_due(record_every):
            history.append(run.record())
        if callback is not None and callback(run.step_count, loss) is False:
            break
    if run.has_pending:
        history.append(run.record())
    return history
