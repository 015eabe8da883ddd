"""Sample models shipped with workbench: a graph file, a checkpoint and metadata each.

A sample ``<name>`` is three files in the sample directory:

* ``<name>.graphml``: the structure graph (see :mod:`workbench.io`);
* ``<name>.pt``: the trained model, a checkpoint readable with
  ``torch.load(weights_only=True)`` (see :func:`workbench.io.load_checkpoint`);
* ``<name>.json``: metadata: ``description``, ``dataset`` and the arguments of
  :func:`workbench.training.load_dataset` that reproduce its split
  (``dataset_args``), ``test_accuracy`` on that split, the training config...

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
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
from torch import nn

from workbench.errors import CheckpointError
from workbench.io import load_checkpoint, load_graph

__all__ = ["DEFAULT_SAMPLE", "SAMPLES_ENV", "Sample", "list_samples", "load_sample", "sample_dir"]

#: Environment variable naming another sample directory.
SAMPLES_ENV = "WORKBENCH_SAMPLES"
#: The sample the app opens on.
DEFAULT_SAMPLE = "watts_strogatz_dan"


@dataclass(frozen=True)
class Sample:
    """A loaded sample: its structure graph, trained model and metadata."""

    name: str
    graph: nx.DiGraph = field(repr=False)
    model: nn.Module = field(repr=False)
    metadata: dict = field(repr=False)


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


def list_samples() -> list[str]:
    """Names of the available samples (those with a checkpoint and metadata), sorted."""
    try:
        root = sample_dir()
    except CheckpointError:
        return []
    return sorted(p.stem for p in root.glob("*.pt") if p.with_suffix(".json").is_file())


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
    """
    names = list_samples()
    if name not in names:
        raise CheckpointError(f"unknown sample {name!r}; available: {names}")
    root = sample_dir()
    meta_path = root / f"{name}.json"
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read the metadata {meta_path.name}: {exc}") from exc
    if not isinstance(metadata, dict):
        raise CheckpointError(f"the metadata {meta_path.name} is not a JSON object")
    model, _ = load_checkpoint(root / f"{name}.pt")
    model.eval()
    graph = load_graph(_graph_path(root, name, metadata))
    return Sample(name, graph, model, metadata)
