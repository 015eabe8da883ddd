"""Datasets, evaluation and training, synchronous or in a background thread.

* :mod:`workbench.training.datasets`: :func:`load_dataset` (digits, moons,
  circles, spirals, xor, mnist) returning a :class:`Dataset` of tensors.
* :mod:`workbench.training.loop`: :class:`TrainConfig`, :func:`resolve_device`,
  :func:`evaluate`, and :func:`train`, which trains in the calling thread.
* :mod:`workbench.training.trainer`: :class:`Trainer`, the same loop in a
  daemon thread with start, pause, resume, stop and a polled history.

Example:
    >>> data = load_dataset("digits")
    >>> model = MaskedDeepFFN(data.n_features, data.n_classes, [32, 16])
    >>> history = train(model, data, TrainConfig(epochs=2))
    >>> loss, accuracy = evaluate(model, data.x_test, data.y_test)
"""

from workbench.training.datasets import DATASETS, TOY_SAMPLES, Dataset, load_dataset
from workbench.training.loop import Record, StepCallback, TrainConfig, evaluate, resolve_device, train
from workbench.training.trainer import Trainer, TrainerState

__all__ = [
    "DATASETS",
    "TOY_SAMPLES",
    "Dataset",
    "Record",
    "StepCallback",
    "TrainConfig",
    "Trainer",
    "TrainerState",
    "evaluate",
    "load_dataset",
    "resolve_device",
    "train",
]
