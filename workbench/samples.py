"""Sample models shipped with workbench: a graph file, a checkpoint and metadata each.

A sample ``<name>`` is three files in the sample directory:

* ``<name>.graphml``: the structure graph (see :mod:`workbench.io`);
* ``<name>.pt``: the trained model, a checkpoint readable with
  ``torch.load(weights_only=True)`` (see :func:`workbench.io.load_checkpoint`);
* ``<name>.json``: metadata: ``description``, ``dataset`` and the arguments of
  :func:`workbench.training.load_dataset` that reproduce its split
  (``dataset_args``), ``test_accuracy`` on that split, the training config...

A *convolutional* sample (metadata ``"kind": "conv"``, e.g. ``small_cnn``) is a
:data:`workbench.transform.samples.CONV_SAMPLES` model trained on images. Its
``<name>.pt`` is not a :mod:`workbench.io` checkpoint (those hold masked
networks only) but a file of the same spirit, also readable with
``torch.load(weights_only=True)``: ``{"format": "workbench-conv-sample",
"version": 2, "builder": <CONV_SAMPLES name>, "input_shape": [1, 8, 8],
"state_dict": {...}, "extra": <JSON text>, "checksum": "sha256:..."}`` (the
checksum of :mod:`workbench.io.checksum`); loading verifies the checksum,
rebuilds the model with the named builder and loads the weights strictly. Its graph file holds the
channel-level graph of :class:`~workbench.transform.GraphTransform`. Design
and training work on graph samples (``list_samples(kind="graph")``); the
app's Inspect panel shows conv samples at neuron, channel or module level.

The sample directory is, in order: the ``WORKBENCH_SAMPLES`` environment
variable if set; ``sample_models/`` at the root of a source checkout (also
what an editable install sees); ``workbench/sample_models`` inside an
installed package. In the repository ``workbench/sample_models`` is a symbolic
link to ``../sample_models``, which a wheel build copies as package data
(``pyproject.toml``). ``scripts/make_samples.py`` regenerates the samples
deterministically.
"""

from __future__ import annotations

import importlib.resources
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import torch
from torch import nn

from workbench.errors import CheckpointError
from workbench.io import load_checkpoint, load_graph
from workbench.io.checksum import CHECKSUM_KEY, document_checksum, verify_checksum

__all__ = [
    "CONV_FORMAT",
    "DEFAULT_SAMPLE",
    "SAMPLES_ENV",
    "Sample",
    "list_samples",
    "load_sample",
    "sample_dir",
    "save_conv_sample",
]

#: Environment variable naming another sample directory.
SAMPLES_ENV = "WORKBENCH_SAMPLES"
#: The sample the app opens on.
DEFAULT_SAMPLE = "moons_dan"
#: Format marker of a convolutional sample's ``.pt`` file.
CONV_FORMAT = "workbench-conv-sample"
CONV_VERSION = 2
#: Sample kinds: a masked network with a structure graph, or a convolutional model.
KINDS = ("graph", "conv")


@dataclass(frozen=True)
class Sample:
    """A loaded sample: its structure graph, trained model and metadata."""

    name: str
    graph: nx.DiGraph = field(repr=False)
    model: nn.Module = field(repr=False)
    metadata: dict = field(repr=False)

    @property
    def kind(self) -> str:
        """``"graph"`` (a masked network built from ``graph``) or ``"conv"`` (a convolutional model)."""
        return _kind(self.metadata)

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """A zero input ``[batch, *input shape]`` of the model (what ``GraphTransform`` traces)."""
        shape = self.metadata.get("input_shape") or list(self.model.input_shape)
        return torch.zeros(batch, *shape)


def _kind(metadata: Mapping) -> str:
    return metadata.get("kind", "graph")


def sample_dir() -> Path:
    """The directory holding the samples (see the module docstring).

    Raises:
        CheckpointError: no sample directory exists.
    """
    override = os.environ.get(SAMPLES_ENV)
    if override:
        path = Path(override)
        if not path.is_dir():
            raise CheckpointError(f"{SAMPLES_ENV}={override!r} is not a directory")
        return path
    checkout = Path(__file__).resolve().parent.parent / "sample_models"
    if checkout.is_dir():
        return checkout
    packaged = importlib.resources.files("workbench") / "sample_models"
    if packaged.is_dir():
        return Path(str(packaged))
    raise CheckpointError(f"no sample directory: neither {checkout} nor the package's sample_models exists")


def list_samples(*, kind: str | None = None) -> list[str]:
    """Names of the available samples (those with a checkpoint and metadata), sorted.

    Args:
        kind: only samples of this kind (``"graph"`` or ``"conv"``); ``None``: all.

    Raises:
        CheckpointError: ``kind`` is not one of :data:`KINDS`.
    """
    if kind is not None and kind not in KINDS:
        raise CheckpointError(f"unknown sample kind {kind!r}; expected one of {KINDS}")
    try:
        root = sample_dir()
    except CheckpointError:
        return []
    names = sorted(p.stem for p in root.glob("*.pt") if p.with_suffix(".json").is_file())
    if kind is None:
        return names
    return [n for n in names if _kind(_read_metadata(root / f"{n}.json", strict=False)) == kind]


def _read_metadata(path: Path, *, strict: bool = True) -> dict:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        if not strict:
            return {}
        raise CheckpointError(f"cannot read the metadata {path.name}: {exc}") from exc
    if not isinstance(metadata, dict):
        if not strict:
            return {}
        raise CheckpointError(f"the metadata {path.name} is not a JSON object")
    return metadata


def _graph_path(root: Path, name: str, metadata: dict) -> Path:
    if isinstance(metadata.get("graph_file"), str):
        return root / metadata["graph_file"]
    return root / f"{name}.graphml"


def load_sample(name: str) -> Sample:
    """Load sample ``name``: graph, model (CPU, eval mode) and metadata.

    Raises:
        CheckpointError: unknown sample, or a broken checkpoint or metadata file.
        GraphFileError: a broken graph file.

    Example:
        >>> sample = load_sample("skip_dag")
        >>> sample.metadata["dataset"], sample.model.structure.number_of_nodes()
        ('moons', 16)
        >>> cnn = load_sample("small_cnn")
        >>> cnn.kind, cnn.model(cnn.example_input()).shape
        ('conv', torch.Size([1, 10]))
    """
    names = list_samples()
    if name not in names:
        raise CheckpointError(f"unknown sample {name!r}; available: {names}")
    root = sample_dir()
    metadata = _read_metadata(root / f"{name}.json")
    if _kind(metadata) == "conv":
        model, _ = _load_conv(root / f"{name}.pt")
    else:
        model, _ = load_checkpoint(root / f"{name}.pt")
    model.eval()
    graph = load_graph(_graph_path(root, name, metadata))
    return Sample(name, graph, model, metadata)


def save_conv_sample(
    model: nn.Module, builder: str, path: str | os.PathLike, *, input_shape, extra: Mapping | None = None
) -> None:
    """Write a convolutional sample's ``.pt`` file (see the module docstring).

    Args:
        model: a model built by ``CONV_SAMPLES[builder]``, with trained weights.
        builder: its name in :data:`workbench.transform.samples.CONV_SAMPLES`.
        path: the file to write.
        input_shape: the shape of one input, e.g. ``(1, 8, 8)``.
        extra: JSON-serializable metadata.

    Raises:
        CheckpointError: unknown builder, non-JSON ``extra``, or an OS error.
    """
    from workbench.transform.samples import CONV_SAMPLES

    if builder not in CONV_SAMPLES:
        raise CheckpointError(f"unknown convolutional builder {builder!r}; known: {sorted(CONV_SAMPLES)}")
    try:
        extra_text = json.dumps({} if extra is None else dict(extra), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"extra metadata must be JSON-serializable: {exc}") from exc
    doc = {
        "format": CONV_FORMAT,
        "version": CONV_VERSION,
        "builder": builder,
        "input_shape": [int(n) for n in input_shape],
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "extra": extra_text,
    }
    doc[CHECKSUM_KEY] = document_checksum(doc)
    buffer = io.BytesIO()
    torch.save(doc, buffer)
    try:
        Path(path).write_bytes(buffer.getvalue())
    except OSError as exc:
        raise CheckpointError(f"cannot write {os.fspath(path)!r}: {exc}") from exc


def _load_conv(path: Path) -> tuple[nn.Module, dict]:
    """Read a file of :func:`save_conv_sample`: ``(model on the CPU, extra metadata)``."""
    from workbench.transform.samples import CONV_SAMPLES

    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for bad input (pickle, zip, EOF, runtime)
        raise CheckpointError(f"not a readable sample {path.name}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != CONV_FORMAT or doc.get("version") != CONV_VERSION:
        raise CheckpointError(f"{path.name} is not a version-{CONV_VERSION} {CONV_FORMAT!r} file")
    verify_checksum(doc, f" {path.name}")
    builder = doc.get("builder")
    if builder not in CONV_SAMPLES:
        raise CheckpointError(f"{path.name} names an unknown builder {builder!r}; known: {sorted(CONV_SAMPLES)}")
    with torch.random.fork_rng(devices=[]):  # the builder may seed torch; keep the caller's generator
        model = CONV_SAMPLES[builder][0]()
    try:
        model.load_state_dict(doc.get("state_dict"), strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"the weights of {path.name} do not fit {builder!r}: {exc}") from exc
    try:
        extra = json.loads(doc.get("extra", "{}"))
    except (TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"the extra metadata of {path.name} is not JSON: {exc}") from exc
    return model, extra
