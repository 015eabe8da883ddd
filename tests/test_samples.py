"""The shipped sample models load and reproduce their stored test accuracy."""

import json

import networkx as nx
import pytest
import torch

from workbench import samples
from workbench.errors import CheckpointError
from workbench.io import checkpoint_from_bytes
from workbench.io.checksum import document_checksum
from workbench.samples import CONV_FORMAT, DEFAULT_SAMPLE, Sample, list_samples, load_sample, sample_dir
from workbench.sparse import MaskedDeepDAN
from workbench.training import evaluate, load_dataset
from workbench.transform import GraphTransform

NAMES = list_samples()


def test_samples_are_shipped():
    assert {"digits_mlp", "watts_strogatz_dan", "skip_dag", "small_cnn", DEFAULT_SAMPLE} <= set(NAMES)
    assert list_samples(kind="conv") == ["small_cnn"]
    assert sorted(list_samples(kind="graph") + list_samples(kind="conv")) == NAMES
    assert DEFAULT_SAMPLE in list_samples(kind="graph")
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
    x_test = data.x_test.reshape(-1, *meta["input_shape"]) if sample.kind == "conv" else data.x_test
    _, accuracy = evaluate(sample.model, x_test, data.y_test)
    assert accuracy == pytest.approx(meta["test_accuracy"], abs=1.5 / data.n_test)
    assert accuracy > 0.85


@pytest.mark.parametrize("name", NAMES)
def test_sample_checkpoint_is_weights_only(name):
    path = sample_dir() / f"{name}.pt"
    doc = torch.load(path, weights_only=True)
    if load_sample(name).kind == "conv":
        assert doc["format"] == CONV_FORMAT and doc["builder"] == name
        extra = json.loads(doc["extra"])
    else:
        assert doc["format"] == "workbench-checkpoint"
        _, extra = checkpoint_from_bytes(path.read_bytes())
    assert extra["test_accuracy"] == json.loads((sample_dir() / f"{name}.json").read_text())["test_accuracy"]


def test_conv_sample_loads_with_its_channel_graph():
    sample = load_sample("small_cnn")
    assert sample.kind == "conv" and sample.metadata["input_shape"] == [1, 8, 8]
    x = sample.example_input(3)
    assert x.shape == (3, 1, 8, 8) and sample.model(x).shape == (3, 10)
    channel = GraphTransform(sample.example_input(), granularity="channel").transform(sample.model)
    assert set(channel.edges) == set(sample.graph.edges)
    assert load_sample("skip_dag").example_input().shape == (1, 2)


def test_conv_sample_loading_keeps_the_callers_random_state():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_sample("small_cnn")
    assert torch.equal(torch.rand(3), expected)


def signed(doc: dict) -> dict:
    return {**doc, "checksum": document_checksum(doc)}


def test_broken_conv_sample_files(tmp_path, monkeypatch):
    shipped = torch.load(sample_dir() / "small_cnn.pt", weights_only=True)
    for suffix in (".json", ".graphml"):
        (tmp_path / f"small_cnn{suffix}").write_bytes((sample_dir() / f"small_cnn{suffix}").read_bytes())
    monkeypatch.setenv(samples.SAMPLES_ENV, str(tmp_path))
    path = tmp_path / "small_cnn.pt"
    path.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="not a readable sample small_cnn.pt"):
        load_sample("small_cnn")
    torch.save({"format": CONV_FORMAT, "version": 1, "builder": "small_cnn", "state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="not a version-2"):
        load_sample("small_cnn")
    torch.save(signed({"format": CONV_FORMAT, "version": 2, "builder": "nope", "state_dict": {}}), path)
    with pytest.raises(CheckpointError, match="unknown builder 'nope'"):
        load_sample("small_cnn")
    torch.save(signed({"format": CONV_FORMAT, "version": 2, "builder": "residual_cnn", "state_dict": {}}), path)
    with pytest.raises(CheckpointError, match="do not fit 'residual_cnn'"):
        load_sample("small_cnn")
    next(iter(shipped["state_dict"].values())).view(-1)[0] += 1.0  # one changed weight, checksum kept
    torch.save(shipped, path)
    with pytest.raises(CheckpointError, match="small_cnn.pt is corrupted"):
        load_sample("small_cnn")
    with pytest.raises(CheckpointError, match="unknown convolutional builder 'nope'"):
        samples.save_conv_sample(torch.nn.Linear(1, 1), "nope", path, input_shape=(1,))
    with pytest.raises(CheckpointError, match="unknown sample kind 'cnn'"):
        list_samples(kind="cnn")


def test_unknown_sample():
    with pytest.raises(CheckpointError, match="unknown sample 'nope'"):
        load_sample("nope")


def test_sample_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv(samples.SAMPLES_ENV, str(tmp_path))
    assert list_samples() == []
    monkeypatch.setenv(samples.SAMPLES_ENV, str(tmp_path / "missing"))
    with pytest.raises(CheckpointError, match="is not a directory"):
        sample_dir()
