"""Compact files (workbench.io.compact): only kept weights stored, bit-identical outputs after loading."""

import json
import struct

import networkx as nx
import pytest
import torch

from workbench.errors import CheckpointError
from workbench.io.compact import compact_report, load_compact, save_compact
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN, MaskedLinearLayer


def _pruned_ffn(density, *, seed=0, hidden=(30, 20), sizes=(64, 10)):
    torch.manual_seed(seed)
    model = MaskedDeepFFN(sizes[0], sizes[1], list(hidden))
    generator = torch.Generator().manual_seed(seed + 1)
    for layer in model.layers:
        layer.mask = torch.rand(layer.weight.shape, generator=generator) < density
    return model  # masks not applied: masked weights keep their values


def _same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(torch.int32), b.view(torch.int32))


def test_round_trip_gives_bit_identical_outputs_and_stores_only_kept_weights(tmp_path):
    model = _pruned_ffn(0.1)
    x = torch.randn(16, 64)
    report = save_compact(model, tmp_path / "m.safetensors")
    assert report.compact_bytes == (tmp_path / "m.safetensors").stat().st_size
    twin = load_compact(_pruned_ffn(1.0, seed=7), tmp_path / "m.safetensors")
    assert _same_bits(twin(x), model(x))
    for ours, theirs in zip(twin.layers, model.layers, strict=True):
        assert torch.equal(ours.mask, theirs.mask)
        assert torch.equal(ours.weight[ours.mask], theirs.weight[theirs.mask])
        assert not ours.weight[~ours.mask].any()
        assert torch.equal(ours.bias, theirs.bias)
    kept = sum(int(layer.mask.sum()) for layer in model.layers)
    weights = 64 * 30 + 30 * 20 + 20 * 10
    assert (report.weights, report.kept) == (weights, kept)
    assert (report.dense_macs, report.kept_macs) == (weights, kept)
    assert report.dense_bytes == sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert report.compact_bytes < report.dense_bytes / 3
    assert "smaller" in str(report) and "multiply-adds" in str(report)


def test_a_sparse_kernel_model_reloads_bit_identical(tmp_path):
    model = _pruned_ffn(0.05, hidden=(300, 100), sizes=(784, 10))  # LeNet-300-100, 95% pruned
    for layer in model.layers:
        layer.sparse_threshold = 1.0
    x = torch.randn(8, 784)
    save_compact(model, tmp_path / "lenet.safetensors")
    twin = load_compact(_pruned_ffn(1.0, seed=3, hidden=(300, 100), sizes=(784, 10)), tmp_path / "lenet.safetensors")
    for layer in twin.layers:
        layer.sparse_threshold = 1.0
    assert _same_bits(twin.eval()(x), model.eval()(x))


@pytest.mark.parametrize(("density", "encoding"), [(0.01, "index"), (0.5, "bitmask"), (0.0, "index"), (1.0, "bitmask")])
def test_the_smaller_index_encoding_is_chosen_and_round_trips(tmp_path, density, encoding):
    torch.manual_seed(0)
    layer = MaskedLinearLayer(300, 40)
    layer.mask = torch.rand(40, 300) < density
    report = save_compact(layer, tmp_path / "l.safetensors")
    assert report.layers == [("", 12000, int(layer.mask.sum()), encoding)]
    twin = load_compact(MaskedLinearLayer(300, 40), tmp_path / "l.safetensors")
    assert torch.equal(twin.mask, layer.mask)
    x = torch.randn(3, 300)
    assert _same_bits(twin(x), layer(x))


def test_the_file_is_safetensors(tmp_path):
    save_compact(_pruned_ffn(0.2), tmp_path / "m.safetensors")
    data = (tmp_path / "m.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    assert (8 + size) % 8 == 0
    header = json.loads(data[8 : 8 + size])
    assert header["__metadata__"]["format"] == "workbench-compact"
    assert header["layers.0.weight.values"]["dtype"] == "F32"
    assert "layers.0.weight" not in header and "layers.0.mask" not in header
    ends = sorted(entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__")
    assert ends[-1] == len(data) - 8 - size
    safetensors = pytest.importorskip("safetensors.torch")
    loaded = safetensors.load_file(tmp_path / "m.safetensors")
    assert set(loaded) == set(header) - {"__metadata__"}


def test_a_dan_round_trips_and_refuses_another_design(tmp_path):
    torch.manual_seed(0)
    graph = nx.watts_strogatz_graph(200, 4, 0.3, seed=1)
    model = MaskedDeepDAN(8, 3, graph)
    for block in model.layers:
        block.mask = torch.rand(block.mask.shape) < 0.3
    x = torch.randn(5, 8)
    report = save_compact(model, tmp_path / "dan.safetensors")
    assert report.dense_macs == 8 * model.layer_bounds[1] + 400 + model.output_layer.weight.numel()
    data = (tmp_path / "dan.safetensors").read_bytes()
    assert b"layers.0.weight.values" in data and b"layers.0.source" not in data  # no edge indices stored
    assert report.compact_bytes < 0.6 * report.dense_bytes
    twin = load_compact(MaskedDeepDAN(8, 3, graph), tmp_path / "dan.safetensors")
    assert _same_bits(twin(x), model(x))
    with pytest.raises(CheckpointError, match="do not match the model"):
        load_compact(MaskedDeepDAN(8, 3, nx.watts_strogatz_graph(200, 4, 0.3, seed=2)), tmp_path / "dan.safetensors")
    other = MaskedDeepDAN(8, 3, graph)
    other.layers[0].source.copy_(other.layers[0].source.flip(0))  # same layers, other edges
    with pytest.raises(CheckpointError, match="edges of 'layers.0' differ from the model"):
        load_compact(other, tmp_path / "dan.safetensors")


def test_learnable_masks_round_trip(tmp_path):
    torch.manual_seed(0)
    layer = MaskedLinearLayer(10, 6, mask_as_params=True)
    with torch.no_grad():
        layer.mask_logits.normal_()
    x = torch.randn(4, 10)
    save_compact(layer, tmp_path / "l.safetensors")
    twin = load_compact(MaskedLinearLayer(10, 6, mask_as_params=True), tmp_path / "l.safetensors")
    assert torch.equal(twin.mask, layer.mask)
    assert _same_bits(twin(x), layer(x))


def test_files_that_do_not_fit_are_refused_with_the_reason(tmp_path):
    path = tmp_path / "m.safetensors"
    save_compact(_pruned_ffn(0.2), path)
    with pytest.raises(CheckpointError, match="do not match the model"):
        load_compact(MaskedDeepFFN(64, 10, [30]), path)
    with pytest.raises(CheckpointError, match="does not fit the model"):
        load_compact(MaskedDeepFFN(64, 10, [30, 20], use_layer_norm=True), path)
    data = path.read_bytes()
    (tmp_path / "short").write_bytes(data[:5])
    with pytest.raises(CheckpointError, match="too short"):
        load_compact(_pruned_ffn(1.0), tmp_path / "short")
    (tmp_path / "cut").write_bytes(data[:-4])
    with pytest.raises(CheckpointError, match="byte range"):
        load_compact(_pruned_ffn(1.0), tmp_path / "cut")
    (tmp_path / "other").write_bytes(data.replace(b"workbench-compact", b"workbench-compacX"))
    with pytest.raises(CheckpointError, match="not a workbench-compact file"):
        load_compact(_pruned_ffn(1.0), tmp_path / "other")
    (tmp_path / "junk").write_bytes(struct.pack("<Q", 4) + b"{{{{")
    with pytest.raises(CheckpointError, match="not JSON"):
        load_compact(_pruned_ffn(1.0), tmp_path / "junk")


def test_report_without_saving_counts_conv_positions():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), MaskedLinearLayer(4 * 6 * 6, 5))
    model[2].mask = torch.rand(5, 144) < 0.5
    report = compact_report(model, torch.zeros(2, 1, 8, 8))
    conv = 6 * 6 * 4 * 9
    assert report.dense_macs == conv + 5 * 144
    assert report.kept_macs == conv + int(model[2].mask.sum())
