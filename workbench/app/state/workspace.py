"""The model side of a session: data set, model, trainer thread, pruning snapshot and preview.

A :class:`Workspace` owns one model at a time and the curves of its training
run. Training runs in the core ``Trainer``'s daemon thread; everything else
here runs in a callback and takes the trainer's lock before reading weights.

Pruning previews are computed from a :class:`Snapshot` of the weights taken
when the model last *settled* (built, trained, fine-tuned, masks applied or
reset, a round or checkpoint loaded). The snapshot's base masks are the
model's masks at that moment, and the slider starts again from zero, so a
preview always prunes on top of what the model has, never twice. The slider
never changes the model: only :meth:`Workspace.apply` does.

One run per model: changing the data set builds a new model and clears the
curves (the page asks first when there is a trained model to lose).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import threading
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import torch
from torch import nn

from workbench import training
from workbench.app.state.analysis import layer_title, pruned_parameter_count, trainable_parameters
from workbench.app.state.settings import Settings
from workbench.errors import PruningError, TrainingError
from workbench.jobs import SlotPool
from workbench.limits import DEFAULT_LIMITS, Limits, check_dan
from workbench.pruning import (
    apply_masks,
    current_masks,
    densities,
    masks_by_amount,
    masks_by_threshold,
    threshold_for_amount,
    weight_snapshot,
)
from workbench.sparse import ACTIVATIONS, MaskableModule, MaskedDeepDAN, MaskedDeepFFN, maskable_layers

__all__ = [
    "ACTIVE",
    "DatasetCache",
    "Preview",
    "PruneSetting",
    "Snapshot",
    "Workspace",
    "activation_of",
    "all_masks_on",
    "build_model",
    "outputs_of",
    "reset_weights",
]

ACTIVE = ("queued", "running", "paused")
#: Test samples the slider's accuracy preview uses (the first ones of the test split), to stay interactive.
PREVIEW_SAMPLES = 2048
#: Records (at least this many epochs in) after which a loss that has not moved is called flat.
FLAT_AFTER_EPOCHS = 3.0


class DatasetCache:
    """Datasets by name, loaded once per process and shared by every session (they are read only)."""

    def __init__(self) -> None:
        self._data: dict = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> training.Dataset:
        with self._lock:
            if name not in self._data:
                self._data[name] = training.load_dataset(name)
            return self._data[name]


def outputs_of(model: nn.Module) -> int:
    """How many outputs (classes) ``model`` gives: its last layer's ``out_features``."""
    if isinstance(model, MaskedDeepDAN):
        return model.output_layer.out_features
    if isinstance(model, MaskedDeepFFN):
        return model.sizes[-1]
    last = [m for m in model.modules() if hasattr(m, "out_features")]
    return int(last[-1].out_features) if last else -1


def all_masks_on(model: nn.Module) -> None:
    """Every designed connection of ``model`` on again (mutates it; the weights stay)."""
    for layer in maskable_layers(model):
        layer.reset_mask()


def reset_weights(model: nn.Module, seed: int) -> None:
    """New weights from ``seed`` and every connection on (mutates ``model``); torch's global RNG is untouched."""
    if isinstance(model, MaskableModule):
        model.reset_parameters(seed=seed)
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in model.modules():
            if module is not model and hasattr(module, "reset_parameters"):
                module.reset_parameters()


def activation_of(model: nn.Module) -> str | None:
    """The name in :data:`workbench.sparse.ACTIVATIONS` of ``model``'s activation, or None for another one."""
    act = getattr(model, "activation", None)
    return next((name for name, cls in ACTIVATIONS.items() if isinstance(act, cls)), None)


def build_model(
    graph: nx.DiGraph, data: training.Dataset, settings: Settings, *, limits: Limits = DEFAULT_LIMITS
) -> MaskedDeepDAN:
    """The DAN of ``graph`` for ``data``, with the activation and initialisation seed of ``settings``.

    The same graph, data and settings give bit-identical weights; the global random state is untouched.

    Raises:
        LimitError: the model would have more parameters than ``limits`` allow (checked before building).
    """
    check_dan(graph, data.n_features, data.n_classes, limits)
    return MaskedDeepDAN(
        data.n_features, data.n_classes, graph, activation=settings.activation, seed=settings.init_seed
    )


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


@dataclass(frozen=True)
class PruneSetting:
    """Where the pruning controls stand: by ``"threshold"`` or ``"percent"``, ``"global"`` or per ``"layer"``."""

    mode: str = "percent"
    scope: str = "global"
    value: float = 0.0


@dataclass
class Preview:
    """Masks at one slider position, and what they would do."""

    masks: dict
    threshold: float | None
    rows: list = field(default_factory=list)  # (title, kept, designed) per layer
    remaining: int = 0
    total: int = 0
    accuracy: float | None = None
    setting: PruneSetting = PruneSetting()
    key: tuple = ()


def magnitude_histogram(magnitudes: np.ndarray, *, bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin edges of ``|w|`` values on ``[0, max]`` (computed once per snapshot)."""
    top = float(magnitudes.max()) if magnitudes.size else 1.0
    return np.histogram(magnitudes, bins=bins, range=(0.0, top if top > 0 else 1.0))


class Workspace:
    """Data set, model, trainer and pruning of one session. Methods raise WorkbenchError on bad requests."""

    def __init__(
        self,
        datasets: DatasetCache,
        dataset: str = "moons",
        *,
        slots: SlotPool | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.datasets = datasets
        self.limits = limits  # sizes a model may have (checked before building)
        self.slots = slots  # training waits for a free slot (shared by every session of a server)
        self.dataset_name = dataset
        self.model: nn.Module | None = None
        self.trainer: training.Trainer | None = None
        self.version = 0  # bumped when the model or its masks change
        self.history: list[dict] = []
        self.snapshot: Snapshot | None = None
        self.preview: Preview | None = None
        self.prune = PruneSetting()
        self.note = ""  # what the model came from
        self.run_note = ""  # "training" or "fine-tuning": what the current trainer does
        self.graph: nx.DiGraph | None = None  # the graph a DAN was built from
        self._seen = 0  # records taken from the current trainer
        self._ended = False
        self._epoch_base = 0.0

    # ------------------------------------------------------------------ data and model
    @property
    def dataset(self) -> training.Dataset:
        return self.datasets.get(self.dataset_name)

    def model_data(self, model: nn.Module | None = None) -> training.Dataset:
        """The data set as ``model`` (default: the current one) reads it: images for a convolutional net
        (its ``input_shape`` has more than one dimension), flat rows otherwise."""
        model = self.model if model is None else model
        data = self.dataset
        shape = tuple(getattr(model, "input_shape", ()) or ())
        if len(shape) <= 1 or math.prod(shape) != data.n_features:
            return data
        return dataclasses.replace(
            data, x_train=data.x_train.reshape(-1, *shape), x_test=data.x_test.reshape(-1, *shape), input_shape=shape
        )

    def fits(self, model: nn.Module | None = None) -> bool:
        """Whether ``model`` (default: the current one) takes this data set's inputs and classes."""
        model = self.model if model is None else model
        if model is None:
            return False
        data = self.dataset
        shape = getattr(model, "input_shape", None)
        if shape is None or math.prod(shape) != data.n_features:
            return False
        return outputs_of(model) == data.n_classes

    @property
    def kind(self) -> str:
        """``"dan"``, ``"ffn"`` or ``"conv"`` (any other masked net, drawn as its channel graph), or ``"none"``."""
        if self.model is None:
            return "none"
        if isinstance(self.model, MaskedDeepDAN):
            return "dan"
        return "ffn" if isinstance(self.model, MaskedDeepFFN) else "conv"

    def build(self, graph: nx.DiGraph, settings: Settings) -> nn.Module:
        """A fresh DAN of ``graph`` for the current data set; the curves start again."""
        model = build_model(graph, self.dataset, settings, limits=self.limits)
        self.set_model(model, note=f"DAN of the design ({graph.number_of_nodes()} vertices)")
        return model

    def set_dataset(self, name: str, graph: nx.DiGraph | None, settings: Settings) -> bool:
        """Switch to data set ``name``; a model there was is replaced by a fresh one for the new data.

        Returns:
            Whether a model was replaced (its weights and curves are gone).

        Raises:
            DatasetError: unknown ``name``; nothing changes.
        """
        if name == self.dataset_name:
            return False
        self.datasets.get(name)  # raises DatasetError for unknown names, before anything changes
        self.stop()
        had_model = self.model is not None
        self.dataset_name = name
        source = self.graph if self.graph is not None else graph
        if had_model and source is not None and source.number_of_nodes():
            self.build(source, settings)
        else:
            self.model, self.trainer, self.history = None, None, []
            self._settled()
        return had_model

    def set_model(self, model: nn.Module, *, dataset: str | None = None, note: str | None = None) -> None:
        """Make ``model`` the workspace's model (a new run: the curves start again)."""
        if dataset is not None and dataset != self.dataset_name:
            self.datasets.get(dataset)  # check before changing anything
        self.stop()
        self.graph = nx.DiGraph(model.structure) if isinstance(model, MaskedDeepDAN) else None
        if dataset is not None:
            self.dataset_name = dataset
        self.model = model
        self.trainer = None
        self.history = []
        self.note = note or self.note
        self._settled()

    def _settled(self) -> None:
        """The model or its masks changed: previews start again from the current masks."""
        self.version += 1
        self.snapshot = None
        self.preview = None
        self.prune = PruneSetting(self.prune.mode, self.prune.scope, 0.0)

    # ------------------------------------------------------------------ training
    @property
    def state(self) -> str:
        return self.trainer.state if self.trainer is not None else "idle"

    @property
    def running(self) -> bool:
        return self.state in ACTIVE

    @property
    def epoch(self) -> float:
        """Epochs this model has been trained, over all its runs."""
        return self.history[-1]["epoch"] if self.history else 0.0

    @property
    def run_epochs(self) -> float:
        """Epochs of the current (or last) run alone."""
        return max(self.epoch - self._epoch_base, 0.0)

    def weights_lock(self):
        """The trainer's lock (hold it to read weights while a run may be stepping)."""
        return self.trainer.lock if self.trainer is not None else contextlib.nullcontext()

    def start(self, settings: Settings, *, epochs: int | None = None, note: str = "training") -> None:
        """Train the model in the trainer's thread; the curves go on from the last epoch.

        Raises:
            TrainingError: no model, a run is going on, or the model does not fit the data set.
        """
        if self.model is None:
            raise TrainingError("build a model first")
        if self.running:
            raise TrainingError("training is running already; pause or stop it first")
        if not self.fits():
            raise TrainingError(f"the model does not fit the {self.dataset_name} data; build it again")
        self.trainer = training.Trainer(
            self.model, self.model_data(), settings.train_config(epochs=epochs), slots=self.slots
        )
        self.run_note = note
        self._seen = 0
        self._ended = False
        self._epoch_base = self.epoch
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

    def reset(self, settings: Settings) -> None:
        """New weights from the initialisation seed, every designed connection on, curves cleared."""
        if self.model is None:
            raise TrainingError("build a model first")
        self.stop()
        if isinstance(self.model, MaskedDeepDAN) and self.graph is not None:
            self.build(self.graph, settings)
            return
        reset_weights(self.model, settings.init_seed)
        self.trainer = None
        self.history = []
        self._settled()

    def poll(self) -> tuple[list[dict], str, str | None]:
        """New history records since the last poll, the trainer's state, and its error message if it failed.

        Epochs continue across runs of one model (a fine-tune extends the curves). When a run
        ends, the model has settled: a new snapshot is taken for the next preview.
        """
        if self.trainer is None:
            return [], "idle", None
        new = self.trainer.history_since(self._seen)
        self._seen += len(new)
        for r in new:
            r["epoch"] = float(r["epoch"]) + self._epoch_base
            for key, value in r.items():
                if isinstance(value, float) and not math.isfinite(value):
                    r[key] = None
        self.history.extend(new)
        state = self.state
        if state not in ACTIVE and not self._ended:
            self._ended = True
            self._settled()
        return new, state, self.trainer.error

    def flat_loss(self) -> str | None:
        """A warning when the loss of this run has not moved (the network is not learning), else None."""
        run = [r for r in self.history if r.get("epoch", 0) >= self._epoch_base and r.get("loss") is not None]
        if len(run) < 4 or run[-1]["epoch"] - self._epoch_base < FLAT_AFTER_EPOCHS:
            return None
        first = run[0]["loss"]
        best = min(r["loss"] for r in run)
        chance = 1.0 / self.dataset.n_classes
        accuracy = run[-1].get("test_acc")
        # stuck where an untrained network starts (cross-entropy near log(classes)); a model that had already
        # learned and keeps a low loss while fine-tuning is not stuck
        untrained = run[-1]["loss"] > 0.8 * math.log(self.dataset.n_classes)
        stuck = first - best < 0.02 * abs(first) and untrained
        at_chance = accuracy is not None and accuracy < chance + 0.05
        if not (stuck or at_chance):
            return None
        return (
            f"The loss has stayed near {run[-1]['loss']:.3f} and test accuracy at {accuracy or 0:.0%} "
            f"(chance is {chance:.0%}): the network is not learning. Try another initialisation seed, "
            "leaky ReLU instead of ReLU, or a smaller learning rate, then Reset and Start."
        )

    # ------------------------------------------------------------------ pruning
    def take_snapshot(self) -> Snapshot:
        if self.model is None:
            raise PruningError("build or load a model first")
        if self.running:
            raise PruningError("training is running; pruning previews come back when it stops or pauses")
        if self.snapshot is None:
            with self.weights_lock():
                weights = {k: w.cpu() for k, w in weight_snapshot(self.model).items()}
                base = {k: m.cpu() for k, m in current_masks(self.model).items()}
                private = copy.deepcopy(self.model).cpu()
            magnitudes = torch.cat([w.abs().flatten()[base[k].flatten()] for k, w in weights.items()]).numpy()
            counts, edges = magnitude_histogram(magnitudes)
            self.snapshot = Snapshot(weights, base, magnitudes, counts, edges, private)
        return self.snapshot

    def slider_range(self, mode: str) -> tuple[float, float]:
        """The slider's ``(min, max)`` for ``mode`` on the current snapshot."""
        if mode == "percent":
            return 0.0, 100.0
        snap = self.take_snapshot()
        top = float(snap.magnitudes.max()) if snap.magnitudes.size else 1.0
        return 0.0, (float(f"{top * 1.001:.3g}") if top > 0 else 1.0)

    def preview_masks(self, setting: PruneSetting, *, evaluate: bool = True) -> Preview:
        """Masks at ``setting`` (a threshold, or a percent of the remaining weights), from the snapshot.

        Raises:
            PruningError: no model, training is running, or the setting is out of range.
        """
        snap = self.take_snapshot()
        key = (self.version, setting)
        if self.preview is not None and self.preview.key == key:
            return self.preview
        value = float(setting.value)
        if setting.mode == "threshold":
            if not (math.isfinite(value) and value >= 0):
                raise PruningError(f"the threshold must be a finite number >= 0, got {setting.value!r}")
            threshold = value
            masks = masks_by_threshold(snap.weights, threshold, base=snap.base)
        elif setting.mode == "percent":
            if not 0 <= value <= 100:
                raise PruningError(f"percent must be between 0 and 100, got {setting.value!r}")
            scope = "layer" if setting.scope == "layer" else "global"
            masks = masks_by_amount(snap.weights, value / 100, scope=scope, base=snap.base)
            threshold = threshold_for_amount(snap.weights, value / 100, base=snap.base) if scope == "global" else None
        else:
            raise PruningError(f"unknown pruning mode {setting.mode!r}; expected 'threshold' or 'percent'")
        apply_masks(snap.model, masks)
        rows = [(layer_title(d.name, snap.model), d.kept, d.total) for d in densities(masks, base=snap.base)]
        preview = Preview(
            masks=masks,
            threshold=threshold,
            rows=rows,
            remaining=pruned_parameter_count(snap.model, masks),
            total=trainable_parameters(snap.model),
            setting=setting,
            key=key,
        )
        if evaluate:
            preview.accuracy = self._accuracy(snap.model)
        self.preview = preview
        self.prune = setting
        return preview

    def _accuracy(self, model: nn.Module) -> float:
        data = self.model_data(model)
        x, y = data.x_test[:PREVIEW_SAMPLES], data.y_test[:PREVIEW_SAMPLES]
        return training.evaluate(model, x, y)[1]

    def unpruned_accuracy(self) -> float | None:
        """Test accuracy of the snapshot with its base masks (computed once per snapshot)."""
        snap = self.snapshot
        if snap is None:
            return None
        if snap.accuracy is None:
            apply_masks(snap.model, snap.base)
            snap.accuracy = self._accuracy(snap.model)
            if self.preview is not None:
                apply_masks(snap.model, self.preview.masks)
        return snap.accuracy

    @property
    def previewing(self) -> bool:
        """Whether a preview prunes more than the model's own masks."""
        return self.preview is not None and self.preview.setting.value > 0

    def masks(self) -> dict | None:
        """The masks every view shows: the preview's while one is up, else the model's."""
        if self.previewing:
            return self.preview.masks
        if self.model is None:
            return None
        with self.weights_lock():
            return {k: m.cpu() for k, m in current_masks(self.model).items()}

    def weights(self) -> dict | None:
        """The weights every view shows (the snapshot's while one is taken)."""
        if self.snapshot is not None:
            return self.snapshot.weights
        if self.model is None:
            return None
        with self.weights_lock():
            return {k: w.cpu() for k, w in weight_snapshot(self.model).items()}

    def apply(self) -> int:
        """Commit the previewed masks to the model; returns the number of masked weights.

        The model has settled: the slider starts again from zero on top of the new masks.
        """
        if self.model is None:
            raise PruningError("build or load a model first")
        if not self.previewing:
            raise PruningError("move the slider to preview masks before applying them")
        if self.running:
            raise PruningError("training is running; pause or stop it before applying masks")
        masks = self.preview.masks
        with self.weights_lock():
            apply_masks(self.model, masks)
        self._settled()
        return sum(int((~m).sum()) for m in masks.values())

    def reset_masks(self) -> None:
        """Every designed connection on again (the weights stay)."""
        if self.model is None:
            raise PruningError("build or load a model first")
        if self.running:
            raise PruningError("training is running; pause or stop it first")
        with self.weights_lock():
            all_masks_on(self.model)
        self._settled()

    def view_model(self) -> nn.Module | None:
        """The model as the views show it: with the previewed masks while a preview is up."""
        if self.previewing and self.snapshot is not None:
            return self.snapshot.model
        return self.model

    def boundary_axes(self, steps: int = 48) -> tuple[np.ndarray, np.ndarray]:
        """Grid coordinates around the training points of a 2-D data set (half a unit of margin)."""
        points = self.dataset.x_train.detach().cpu().numpy()
        lo, hi = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
        return np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps)

    def boundary(self, steps: int = 48):
        """``xs, ys, P(class 1)`` (``[steps, steps]``) of the viewed model on a 2-D data set, or None."""
        data = self.dataset
        model = self.view_model()
        if not data.is_2d or model is None or not self.fits(model):
            return None
        xs, ys = self.boundary_axes(steps)
        grid = torch.tensor(np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2), dtype=torch.float32)
        with self.weights_lock(), torch.no_grad():
            device = next(model.parameters()).device
            logits = model(grid.to(device)).float().cpu()  # [steps * steps, classes]
        if not torch.isfinite(logits).all():
            return None
        prob = torch.softmax(logits, dim=1)[:, -1].reshape(steps, steps).numpy()
        return xs, ys, prob

    def class_accuracy(self) -> list[float] | None:
        """Test accuracy per class of the viewed model (on the first test samples), or None without a model."""
        model = self.view_model()
        if model is None or not self.fits(model):
            return None
        data = self.model_data(model)
        x, y = data.x_test[:PREVIEW_SAMPLES], data.y_test[:PREVIEW_SAMPLES]
        with self.weights_lock(), torch.no_grad():
            was_training = model.training
            model.eval()
            try:
                device = next(model.parameters()).device
                predicted = model(x.to(device)).argmax(1).cpu()
            finally:
                model.train(was_training)
        correct = torch.bincount(y[predicted == y], minlength=data.n_classes).float()
        total = torch.bincount(y, minlength=data.n_classes).float().clamp(min=1)
        return (correct / total).tolist()

    def is_ffn(self) -> bool:
        return self.kind == "ffn"
