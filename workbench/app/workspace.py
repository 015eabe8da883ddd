"""The model side of a session: dataset, model, trainer thread, pruning snapshot and preview.

A :class:`Workspace` owns one model at a time. Training runs in the core
``Trainer``'s daemon thread; everything else here runs in a callback and
takes the trainer's lock before reading weights. Pruning previews are
computed from a snapshot of the weights taken when the model last settled
(built, trained, fine-tuned, masks reset), on a private copy of the model, so
the slider never changes the model: only :meth:`Workspace.apply` does.
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import torch
from torch import nn

from workbench import training
from workbench.app.analysis import layer_title, pruned_parameter_count, trainable_parameters
from workbench.app.figures import magnitude_histogram
from workbench.errors import GraphError, PruningError, TrainingError, WorkbenchError
from workbench.pruning import (
    apply_masks,
    current_masks,
    densities,
    masks_by_amount,
    masks_by_threshold,
    threshold_for_amount,
    weight_snapshot,
)
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN

__all__ = ["DatasetCache", "Preview", "Snapshot", "Workspace", "parse_sizes"]

ACTIVE = ("running", "paused")
#: Test samples the slider's accuracy preview uses (the first ones of the test split), to stay interactive.
PREVIEW_SAMPLES = 2048


class DatasetCache:
    """Datasets by name, loaded once per process and shared by every session (they are read only)."""

    def __init__(self) -> None:
        self._data: dict = {}
        self._lock = threading.Lock()

    def get(self, name: str):
        with self._lock:
            if name not in self._data:
                self._data[name] = training.load_dataset(name)
            return self._data[name]


def parse_sizes(text: str) -> list[int]:
    """``"32, 16"`` -> ``[32, 16]``.

    Raises:
        GraphError: not a comma-separated list of positive ints.
    """
    try:
        sizes = [int(s) for s in str(text).replace(" ", "").split(",") if s]
    except ValueError as err:
        raise GraphError(f"layer sizes must be comma-separated positive ints, got {text!r}") from err
    if not sizes or any(s < 1 for s in sizes):
        raise GraphError(f"layer sizes must be comma-separated positive ints, got {text!r}")
    return sizes


@dataclass
class Snapshot:
    """Weights and masks of the model when it last settled, with the |w| histogram of the kept weights."""

    weights: dict
    base: dict
    magnitudes: np.ndarray
    counts: np.ndarray
    edges: np.ndarray
    model: nn.Module  # a private copy the previews are applied to
    accuracy: float | None = None  # test accuracy with the base masks


@dataclass
class Preview:
    """Masks at one slider position, and what they would do."""

    masks: dict
    threshold: float | None
    rows: list = field(default_factory=list)  # (title, kept, designed) per layer
    remaining: int = 0
    total: int = 0
    accuracy: float | None = None
    key: tuple = ()


def _state_name(state) -> str:
    return str(getattr(state, "value", state)).lower()


def _record(record) -> dict:
    """A history record of the trainer as a plain dict with at least ``epoch``."""
    if isinstance(record, Mapping):
        out = dict(record)
    elif hasattr(record, "__dataclass_fields__"):
        out = {k: getattr(record, k) for k in record.__dataclass_fields__}
    else:
        out = dict(vars(record))
    for key, value in list(out.items()):
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = None
    return out


def _accuracy(result) -> float:
    if isinstance(result, Mapping):
        return float(result.get("accuracy", result.get("acc")))
    if isinstance(result, tuple):
        return float(result[-1])
    return float(getattr(result, "accuracy", result))


class Workspace:
    """Dataset, model, trainer and pruning of one session. Methods raise WorkbenchError on bad requests."""

    def __init__(self, datasets: DatasetCache, dataset: str = "digits") -> None:
        self.datasets = datasets
        self.dataset_name = dataset
        self.model: nn.Module | None = None
        self.trainer = None
        self.version = 0  # bumped when the model or its masks change
        self.history: list[dict] = []
        self.snapshot: Snapshot | None = None
        self.preview: Preview | None = None
        self.note = ""  # what the last model came from
        self.graph: nx.DiGraph | None = None  # the drawn graph a DAN was built from
        self._seen = 0  # records taken from the current trainer
        self._ended = False
        self._epoch_base = 0.0

    # ------------------------------------------------------------------ data and model
    @property
    def dataset(self):
        return self.datasets.get(self.dataset_name)

    def set_dataset(self, name: str) -> None:
        if name != self.dataset_name:
            self.datasets.get(name)  # raises DatasetError for unknown names
            self.stop()
            self.dataset_name = name

    def fits(self, model: nn.Module | None = None) -> bool:
        """Whether ``model`` (default: the current one) takes this dataset's inputs and classes."""
        model = self.model if model is None else model
        if model is None:
            return False
        data = self.dataset
        shape = getattr(model, "input_shape", None)
        out = model.output_layer.out_features if isinstance(model, MaskedDeepDAN) else model.sizes[-1]
        return shape is not None and math.prod(shape) == data.n_features and out == data.n_classes

    def build(self, kind: str, graph: nx.DiGraph, sizes: str = "32, 16") -> nn.Module:
        """A fresh model for the current dataset: the DAN of ``graph`` (``kind="dan"``) or an FFN of ``sizes``."""
        self.stop()
        data = self.dataset
        if kind == "dan":
            model = MaskedDeepDAN(data.n_features, data.n_classes, graph)
            self.note = f"DAN of the drawn graph ({graph.number_of_nodes()} vertices)"
            self.graph = graph.copy()
        elif kind == "ffn":
            hidden = parse_sizes(sizes)
            model = MaskedDeepFFN(data.n_features, data.n_classes, hidden)
            self.note = f"feed-forward {data.n_features}-{'-'.join(map(str, hidden))}-{data.n_classes}"
        else:
            raise GraphError(f"unknown model kind {kind!r}; expected 'dan' or 'ffn'")
        self.set_model(model)
        return model

    def set_model(self, model: nn.Module, *, dataset: str | None = None, note: str | None = None) -> None:
        self.stop()
        self.graph = nx.DiGraph(model.structure) if isinstance(model, MaskedDeepDAN) else None
        if dataset is not None:
            self.set_dataset(dataset)
        self.model = model
        self.trainer = None
        self.history = []
        self.note = note or self.note
        self._settled()

    def _settled(self) -> None:
        self.version += 1
        self.snapshot = None
        self.preview = None

    # ------------------------------------------------------------------ training
    @property
    def state(self) -> str:
        return _state_name(self.trainer.state) if self.trainer is not None else "idle"

    @property
    def running(self) -> bool:
        return self.state in ACTIVE

    def weights_lock(self):
        """The trainer's lock (hold it to read weights while a run may be stepping)."""
        lock = getattr(self.trainer, "lock", None)
        return lock if lock is not None else contextlib.nullcontext()

    def start(self, **config) -> None:
        """Train the model in the trainer's thread (``config``: TrainConfig fields)."""
        if self.model is None:
            raise TrainingError("build a model first")
        if self.running:
            raise TrainingError("training is running already; pause or stop it first")
        if not self.fits():
            raise TrainingError(f"the model does not fit the {self.dataset_name} dataset; build it again")
        self.trainer = training.Trainer(self.model, self.dataset, training.TrainConfig(**config))
        self._seen = 0
        self._ended = False
        self._epoch_base = self.history[-1]["epoch"] if self.history else 0.0
        self.snapshot = None
        self.preview = None
        self.trainer.start()

    def pause(self) -> None:
        if self.trainer is not None and self.state == "running":
            self.trainer.pause()

    def resume(self) -> None:
        if self.trainer is not None and self.state == "paused":
            self.trainer.resume()

    def stop(self) -> None:
        if self.trainer is not None and self.running:
            self.trainer.stop()

    def reset(self) -> None:
        """New random weights, every designed connection on, curves cleared."""
        if self.model is None:
            raise TrainingError("build a model first")
        self.stop()
        with self.weights_lock():
            self.model.reset_parameters()
        self.trainer = None
        self.history = []
        self._settled()

    def poll(self) -> tuple[list[dict], str, str | None]:
        """New history records since the last poll, the trainer's state, and its error message if it failed.

        Epochs continue across runs (a fine-tune extends the curves). When a run ends, the
        model counts as changed (new snapshot, Inspect refreshes).
        """
        if self.trainer is None:
            return [], "idle", None
        new = [_record(r) for r in self.trainer.history_since(self._seen)]
        self._seen += len(new)
        for r in new:
            r["epoch"] = float(r.get("epoch") or 0.0) + self._epoch_base
        self.history.extend(new)
        state = self.state
        if state not in ACTIVE and self.snapshot is None and self._seen and not self._ended:
            self._ended = True
            self.version += 1
        error = self.trainer.error
        return new, state, (str(error) if error is not None else None)

    # ------------------------------------------------------------------ pruning
    def take_snapshot(self) -> Snapshot:
        if self.model is None:
            raise PruningError("build or load a model first")
        if self.running:
            raise PruningError("training is running; pause or stop it before pruning")
        if self.snapshot is None:
            with self.weights_lock():
                weights = weight_snapshot(self.model)
                base = current_masks(self.model)
                private = copy.deepcopy(self.model).cpu()
            weights = {k: w.cpu() for k, w in weights.items()}
            base = {k: m.cpu() for k, m in base.items()}
            magnitudes = torch.cat([w.abs().flatten()[base[k].flatten()] for k, w in weights.items()]).numpy()
            counts, edges = magnitude_histogram(magnitudes)
            self.snapshot = Snapshot(weights, base, magnitudes, counts, edges, private)
        return self.snapshot

    def preview_masks(self, mode: str, scope: str, value: float, *, evaluate: bool = True) -> Preview:
        """Masks at slider ``value`` (a threshold, or a percent for ``mode="percent"``), from the snapshot."""
        snap = self.take_snapshot()
        key = (self.version, mode, scope, float(value))
        if self.preview is not None and self.preview.key == key:
            return self.preview
        if mode == "threshold":
            threshold = float(value)
            masks = masks_by_threshold(snap.weights, threshold, base=snap.base)
        elif mode == "percent":
            if not 0 <= value <= 100:
                raise PruningError(f"percent must be between 0 and 100, got {value!r}")
            masks = masks_by_amount(snap.weights, float(value) / 100, scope=scope, base=snap.base)
            threshold = (
                threshold_for_amount(snap.weights, float(value) / 100, base=snap.base) if scope == "global" else None
            )
        else:
            raise PruningError(f"unknown pruning mode {mode!r}; expected 'threshold' or 'percent'")
        apply_masks(snap.model, masks)
        rows = [(layer_title(d.name, snap.model), d.kept, d.total) for d in densities(masks, base=snap.base)]
        preview = Preview(
            masks=masks,
            threshold=threshold,
            rows=rows,
            remaining=pruned_parameter_count(snap.model, masks),
            total=trainable_parameters(snap.model),
            key=key,
        )
        if evaluate:
            data = self.dataset
            x, y = data.x_test[:PREVIEW_SAMPLES], data.y_test[:PREVIEW_SAMPLES]
            preview.accuracy = _accuracy(training.evaluate(snap.model, x, y))
        self.preview = preview
        return preview

    def unpruned_accuracy(self) -> float | None:
        """Test accuracy of the snapshot with its base masks (computed once per snapshot)."""
        snap = self.snapshot
        if snap is None:
            return None
        if snap.accuracy is None:
            apply_masks(snap.model, snap.base)
            data = self.dataset
            x, y = data.x_test[:PREVIEW_SAMPLES], data.y_test[:PREVIEW_SAMPLES]
            snap.accuracy = _accuracy(training.evaluate(snap.model, x, y))
            if self.preview is not None:
                apply_masks(snap.model, self.preview.masks)
        return snap.accuracy

    def preview_applied(self) -> bool:
        """Whether the model's masks equal the previewed ones."""
        if self.preview is None or self.model is None:
            return True
        current = current_masks(self.model)
        return all(torch.equal(current[k].cpu(), m) for k, m in self.preview.masks.items())

    def apply(self) -> int:
        """Commit the previewed masks to the model; returns the number of masked weights."""
        if self.preview is None or self.model is None:
            raise PruningError("move the slider to preview masks before applying them")
        if self.running:
            raise PruningError("training is running; pause or stop it before applying masks")
        with self.weights_lock():
            device_masks = {k: m for k, m in self.preview.masks.items()}
            apply_masks(self.model, device_masks)
        self.version += 1
        return sum(int((~m).sum()) for m in device_masks.values())

    def reset_masks(self) -> None:
        """Every designed connection on again (the weights stay)."""
        if self.model is None:
            raise PruningError("build or load a model first")
        if self.running:
            raise PruningError("training is running; pause or stop it first")
        with self.weights_lock():
            self.model.reset_mask()
        self._settled()

    def view_model(self) -> nn.Module | None:
        """The model as the Inspect panel shows it: with the previewed masks while a preview is up."""
        if self.preview is not None and self.snapshot is not None:
            return self.snapshot.model
        return self.model

    def design_model(self) -> nn.Module | None:
        """A copy of the viewed model with every designed connection on (the 'before' of the Inspect panel)."""
        model = self.view_model()
        if model is None:
            return None
        with self.weights_lock():
            full = copy.deepcopy(model).cpu()
        full.reset_mask()
        return full

    def boundary_axes(self, steps: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """Grid coordinates around the training points of a 2-D dataset (half a unit of margin)."""
        points = self.dataset.x_train.detach().cpu().numpy()
        lo, hi = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
        return np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps)

    def boundary(self, steps: int = 60):
        """``xs, ys, P(class 1)`` (``[steps, steps]``) for a 2-D dataset, or None (other data, no model, NaN)."""
        data = self.dataset
        if not getattr(data, "is_2d", False) or self.model is None or not self.fits():
            return None
        xs, ys = self.boundary_axes(steps)
        grid = torch.tensor(np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2), dtype=torch.float32)
        with self.weights_lock(), torch.no_grad():
            device = next(self.model.parameters()).device
            logits = self.model(grid.to(device)).float().cpu()  # [steps * steps, classes]
        if not torch.isfinite(logits).all():
            return None
        prob = torch.softmax(logits, dim=1)[:, -1].reshape(steps, steps).numpy()
        return xs, ys, prob

    def describe_error(self, err: BaseException) -> str:
        return str(err) if isinstance(err, WorkbenchError) else f"{type(err).__name__}: {err}"
