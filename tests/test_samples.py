"""The shipped sample models load and reproduce their stored test accuracy."""

import json

import networkx as nx
import pytest
import torch

from workbench import samples
from workbench.errors import CheckpointError
from workbench.io import checkpoint_from_bytes
from workbench.samples import DEFAULT_SAMPLE, Sample, list_samples, load_sample, sample_dir
from workbench.sparse import MaskedDeepDAN
from workbench.training import evaluate, load_dataset

NAMES = list_samples()


def test_samples_are_shipped():
    assert {"digits_mlp", "watts_strogatz_dan", "skip_dag", DEFAULT_SAMPLE} <= set(NAMES)
    for path in sample_dir().iterdir():
        assert path.stat().st_size < 1_000_000, path


@pytest.mark.parametrize("name", NAMES)
def test_sample_reproduces_its_test_accuracy(name):
    sample = load_sample(name)
    assert isinstance(sample, Sample) and sample.name == name
    meta = sample.metadata
    assert {"description", "dataset", "dataset_args", "test_accuracy"} <= set(meta)
    assert isinstance(sample.graph, nx.DiGraph) and nx.is_directed_acyclic_graph(sample.graph)
    if isinstance(sample.model, MaskedDeepDAN):
        assert list(sample.graph.nodes) == list(sample.model.structure.nodes)
        assert set(sample.graph.edges) == set(sample.model.structure.edges)
    data = load_dataset(meta["dataset"], **meta["dataset_args"])
    assert data.n_test == meta["n_test"]
    _, accuracy = evaluate(sample.model, data.x_test, data.y_test)
    assert accuracy == pytest.approx(meta["test_accuracy"], abs=1.5 / data.n_test)
    assert accuracy > 0.85


@pytest.mark.parametrize("name", NAMES)
def test_sample_checkpoint_is_weights_only(name):
    path = sample_dir() / f"{name}.pt"
    doc = torch.load(path, weights_only=True)
    assert doc["format"] == "workbench-checkpoint"
    _, extra = checkpoint_from_bytes(path.read_bytes())
    assert extra["test_accuracy"] == json.loads((sample_dir() / f"{name}.json").read_text())["test_accuracy"]


def test_unknown_sample():
    with pytest.raises(CheckpointError, match="unknown sample 'nope'"):
        load_sample("nope")


def test_sample_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv(samples.SAMPLES_ENV, str(tmp_path))
    assert list_samples() == []
    monkeypatch.setenv(samples.SAMPLES_ENV, str(tmp_path / "missing"))
    with pytest.raises(CheckpointError, match="is not a directory"):
        sample_dir()
