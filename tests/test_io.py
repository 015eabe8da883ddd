"""Graph files (GraphML, node-link JSON) and checkpoints."""

import contextlib
import io
import json

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import graph as wbg
from workbench.errors import CheckpointError, CycleError, GraphFileError
from workbench.io import (
    LABEL_ATTRIBUTE,
    checkpoint_checksum,
    checkpoint_from_bytes,
    checkpoint_to_bytes,
    graph_from_bytes,
    graph_to_bytes,
    load_checkpoint,
    load_graph,
    model_from_spec,
    model_spec,
    save_checkpoint,
    save_graph,
)
from workbench.pruning import current_masks, prune_network_by_saliency
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN, MaskedLinearLayer

FORMATS = ["graphml", "json"]


def assert_same_graph(a: nx.Graph, b: nx.Graph) -> None:
    assert type(a) is type(b)
    assert list(a.nodes(data=True)) == list(b.nodes(data=True))
    assert list(a.edges(data=True)) == list(b.edges(data=True))
    assert a.graph == b.graph
    for u, v in zip(a.nodes, b.nodes, strict=True):
        assert type(u) is type(v)


def attributed(labels, edges) -> nx.DiGraph:
    g = nx.DiGraph(name="demo", version=2, scale=0.5, flag=True)
    for i, v in enumerate(labels):
        g.add_node(v, count=i, weight=i / 4, name=f"v{i}", on=i % 2 == 0)
    for k, (u, v) in enumerate(edges):
        g.add_edge(labels[u], labels[v], w=k + 0.25, kind="skip" if k % 2 else "plain", n=k, on=k % 2 == 1)
    return g


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "labels",
    [
        [3, 1, 2, 0],  # ints, not in sorted order
        ["in", "hidden", "out", "1"],  # strings, one that looks like an int
        [(0, 1), (0, 0), (1, 0), (1, 1)],  # grid tuples
        [1, "1", (1,), ((1, "a"), 2)],  # mixed and nested: str(label) collides
    ],
)
def test_round_trip_keeps_labels_attributes_and_order(fmt, labels):
    g = attributed(labels, [(0, 1), (1, 2), (0, 2), (3, 2), (1, 3)])
    back = graph_from_bytes(graph_to_bytes(g, fmt), fmt)
    assert_same_graph(g, back)


@pytest.mark.parametrize("fmt", FORMATS)
def test_generated_graphs_round_trip(fmt):
    for g in (wbg.grid_2d(3, 4), wbg.balanced_tree(2, 3), wbg.watts_strogatz(30, 4, 0.3, seed=1)):
        assert_same_graph(g, graph_from_bytes(graph_to_bytes(g, fmt), fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_undirected_graphs_load_undirected(fmt):
    g = nx.Graph([(0, 1), (1, 2)])
    back = graph_from_bytes(graph_to_bytes(g, fmt), fmt)
    assert not back.is_directed()
    assert_same_graph(g, back)


@pytest.mark.parametrize("suffix", [".graphml", ".json"])
def test_save_and_load_by_suffix(tmp_path, suffix):
    g = wbg.grid_2d(2, 3)
    path = tmp_path / f"grid{suffix}"
    save_graph(g, path)
    assert_same_graph(g, load_graph(path, require_dag=True))


def test_graphml_ids_are_readable_and_labels_exact():
    text = graph_to_bytes(nx.DiGraph([((0, 1), (1, 1))]), "graphml").decode()
    assert 'id="(0, 1)"' in text and LABEL_ATTRIBUTE in text


def test_foreign_files_load():
    buffer = io.BytesIO()
    nx.write_graphml(nx.DiGraph([("a", "b")]), buffer)
    assert list(graph_from_bytes(buffer.getvalue(), "graphml").edges) == [("a", "b")]
    # networkx's own node-link layout, with "links"
    data = {"directed": True, "multigraph": False, "graph": {}, "nodes": [{"id": 0}, {"id": 1}]}
    data["links"] = [{"source": 0, "target": 1}]
    assert list(graph_from_bytes(json.dumps(data).encode(), "json").edges) == [(0, 1)]


@st.composite
def small_dags(draw):
    n = draw(st.integers(1, 8))
    text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=5)
    pool = st.one_of(st.integers(-5, 50), st.text(max_size=4), st.tuples(st.integers(0, 3), st.integers(0, 3)))
    labels = draw(st.lists(pool, min_size=n, max_size=n, unique=True))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs))) if pairs else []
    values = st.one_of(st.integers(-(2**31), 2**31), text, st.booleans(), st.floats(-1e6, 1e6))
    g = nx.DiGraph()
    for v in labels:
        g.add_node(v, x=draw(values))
    for i, j in chosen:
        g.add_edge(labels[i], labels[j], w=draw(st.floats(-10, 10)))
    return g


@settings(max_examples=60, deadline=None)
@given(small_dags(), st.sampled_from(FORMATS))
def test_random_dags_round_trip(g, fmt):
    back = graph_from_bytes(graph_to_bytes(g, fmt), fmt)
    assert list(back.nodes) == list(g.nodes)
    assert [type(v) for v in back.nodes] == [type(v) for v in g.nodes]
    assert set(back.edges) == set(g.edges)
    assert dict(back.nodes(data=True)) == dict(g.nodes(data=True))
    assert {(u, v): d for u, v, d in back.edges(data=True)} == {(u, v): d for u, v, d in g.edges(data=True)}
    assert nx.is_directed_acyclic_graph(back)


# ----------------------------------------------------------------- malformed graphs


@pytest.mark.parametrize(
    ("data", "fmt", "match"),
    [
        (b"", "json", "empty"),
        (b"   \n", "graphml", "empty"),
        (b"{not json", "json", "invalid JSON"),
        (b"\xff\xfe\x00", "json", "UTF-8"),
        (b"[1, 2, 3]", "json", "not a node-link graph"),
        (b'{"a": 1}', "json", "not a node-link graph"),
        (b'{"nodes": [{"name": 1}]}', "json", "must be an object with an 'id'"),
        (b'{"nodes": [{"id": {"a": 1}}]}', "json", "unusable id"),
        (b'{"nodes": [{"id": 1}, {"id": 1}]}', "json", "appears twice"),
        (b'{"nodes": [{"id": 1}], "edges": [{"source": 1, "target": 2}]}', "json", "unknown node 2"),
        (b'{"nodes": [{"id": 1}], "edges": [{"source": 1}]}', "json", "'source' and 'target'"),
        (b'{"nodes": [], "edges": 5}', "json", "'edges' must be a list"),
        (b'{"nodes": [], "multigraph": true}', "json", "multigraph"),
        (b"<graphml><graph>", "graphml", "invalid XML"),
        (b"not xml at all", "graphml", "invalid XML"),
        (b"<graphml></graphml>", "graphml", "invalid GraphML"),
    ],
)
def test_malformed_graph_bytes(data, fmt, match):
    with pytest.raises(GraphFileError, match=match):
        graph_from_bytes(data, fmt, name="upload.x")


def test_error_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{oops")
    with pytest.raises(GraphFileError, match="broken.json"):
        load_graph(path)
    with pytest.raises(GraphFileError, match="cannot read"):
        load_graph(tmp_path / "missing.graphml")


def test_unknown_format_and_suffix(tmp_path):
    with pytest.raises(GraphFileError, match="unknown graph format 'gml'"):
        graph_to_bytes(nx.DiGraph(), "gml")
    with pytest.raises(GraphFileError, match=r"\.graphml or \.json"):
        save_graph(nx.DiGraph(), tmp_path / "g.txt")


def test_unstorable_values():
    with pytest.raises(GraphFileError, match="cannot be stored in GraphML"):
        graph_to_bytes(nx.DiGraph([(0, 1, {"pos": [1, 2]})]), "graphml")
    with pytest.raises(GraphFileError, match="control characters"):
        graph_to_bytes(nx.DiGraph([(0, 1, {"note": "a\x08b"})]), "graphml")
    with pytest.raises(GraphFileError, match="frozenset"):
        graph_to_bytes(nx.DiGraph([(frozenset([1]), 2)]), "json")
    with pytest.raises(GraphFileError, match="cannot be written as JSON"):
        graph_to_bytes(nx.DiGraph([(0, 1, {"t": object()})]), "json")
    with pytest.raises(GraphFileError, match="parallel edges"):
        graph_to_bytes(nx.MultiDiGraph([(0, 1), (0, 1)]), "json")
    reserved = nx.DiGraph()
    reserved.add_node(0, **{LABEL_ATTRIBUTE: 1})
    with pytest.raises(GraphFileError, match=f"{LABEL_ATTRIBUTE}' of vertex 0 is reserved"):
        graph_to_bytes(reserved, "graphml")
    with pytest.raises(GraphFileError, match="'id' of vertex 0 is reserved"):
        graph_to_bytes(_with_node_attr("id", 5), "json")
    with pytest.raises(GraphFileError, match="'source' of edge 0 -> 1 is reserved"):
        graph_to_bytes(nx.DiGraph([(0, 1, {"source": 3})]), "json")
    for fmt in FORMATS:
        with pytest.raises(GraphFileError, match="attribute name 7 of vertex 0 is not a string"):
            graph_to_bytes(_with_node_attr(7, "x"), fmt)


def _with_node_attr(key, value) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_node(0)
    g.nodes[0][key] = value
    return g


def test_require_dag(tmp_path):
    path = tmp_path / "cycle.json"
    save_graph(nx.DiGraph([(0, 1), (1, 0)]), path)
    assert load_graph(path).number_of_edges() == 2
    with pytest.raises(CycleError, match="cycle"):
        load_graph(path, require_dag=True)


# ------------------------------------------------------------------------ checkpoints


def skip_dag() -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(["a", "b", (0, 1), 7, "out"])
    g.add_edges_from([("a", (0, 1)), ("b", (0, 1)), ((0, 1), 7), ("a", 7), ("a", "out"), (7, "out")])
    return g


def models():
    torch.manual_seed(0)
    ffn = MaskedDeepFFN(12, 3, [8, 6])
    dan = MaskedDeepDAN((3, 4), 3, skip_dag(), activation=torch.nn.Tanh)
    big = MaskedDeepDAN(12, 3, wbg.watts_strogatz(30, 4, 0.3, seed=2))
    return [ffn, dan, big]


@pytest.mark.parametrize("index", range(3))
def test_checkpoint_round_trip_of_pruned_models(tmp_path, index):
    model = models()[index]
    prune_network_by_saliency(model, 40)
    path = tmp_path / "model.pt"
    save_checkpoint(model, path, extra={"dataset": "digits", "test_accuracy": 0.5, "tags": ["a"]})
    loaded, extra = load_checkpoint(path)
    assert type(loaded) is type(model)
    assert extra == {"dataset": "digits", "test_accuracy": 0.5, "tags": ["a"]}
    x = torch.randn(5, 12)
    model.eval(), loaded.eval()
    assert torch.equal(model(x), loaded(x))
    masks, loaded_masks = current_masks(model), current_masks(loaded)
    assert masks.keys() == loaded_masks.keys()
    assert all(torch.equal(masks[k], loaded_masks[k]) and loaded_masks[k].dtype == torch.bool for k in masks)
    assert any(not m.all() for m in loaded_masks.values())
    if isinstance(model, MaskedDeepDAN):
        assert list(loaded.structure.nodes) == list(model.structure.nodes)
        assert nx.utils.edges_equal(loaded.structure.edges, model.structure.edges)


def test_checkpoint_loads_with_weights_only(tmp_path):
    model = models()[1]
    path = tmp_path / "m.pt"
    save_checkpoint(model, path)
    doc = torch.load(path, weights_only=True)
    assert doc["format"] == "workbench-checkpoint" and doc["kind"] == "MaskedDeepDAN"
    assert isinstance(doc["spec"]["structure"], str)
    assert all(isinstance(v, torch.Tensor) for v in doc["state_dict"].values())


def test_checkpoint_bytes_and_spec():
    model = MaskedDeepFFN(4, 2, [3], True, activation=torch.nn.GELU)
    loaded, extra = checkpoint_from_bytes(checkpoint_to_bytes(model))
    assert extra == {}
    assert model_spec(loaded) == model_spec(model)
    fresh = model_from_spec(model_spec(model))
    assert [p.shape for p in fresh.parameters()] == [p.shape for p in model.parameters()]


def tampered(mutate, *, sign: bool = True) -> bytes:
    """A checkpoint changed by ``mutate``, with a checksum that matches the change (unless ``sign`` is False)."""
    doc = torch.load(io.BytesIO(checkpoint_to_bytes(models()[1])), weights_only=True)
    mutate(doc)
    if sign:
        with contextlib.suppress(CheckpointError):  # a doc too broken to checksum keeps the old one
            doc["checksum"] = checkpoint_checksum(doc)
    buffer = io.BytesIO()
    torch.save(doc, buffer)
    return buffer.getvalue()


def set_in(path, value):
    def mutate(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def drop_weight(doc):
    del doc["state_dict"]["output_layer.weight"]


def float_mask(doc):
    doc["state_dict"]["output_layer.mask"] = doc["state_dict"]["output_layer.mask"].float()


def wrong_edges(doc):
    doc["state_dict"]["layers.0.source"] = doc["state_dict"]["layers.0.source"].flip(0)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"garbage bytes", "not a readable checkpoint"),
        (tampered(lambda doc: doc.pop("format")), "not a workbench checkpoint"),
        (tampered(set_in(["version"], 99)), "unsupported checkpoint version 99"),
        (tampered(set_in(["kind"], "ResNet")), "unknown model kind 'ResNet'"),
        (tampered(set_in(["spec", "activation"], "os.system")), "unknown activation"),
        (tampered(set_in(["spec", "size_output"], "3")), "'size_output'"),
        (tampered(set_in(["spec", "structure"], "{]")), "bad structure"),
        (
            tampered(
                set_in(
                    ["spec", "structure"],
                    '{"nodes": [{"id": 0}, {"id": 1}], "edges": '
                    '[{"source": 0, "target": 1}, {"source": 1, "target": 0}]}',
                )
            ),
            "cycle",
        ),
        (tampered(set_in(["spec", "size_output"], 4)), "do not fit"),
        (tampered(drop_weight), "Missing key"),
        (tampered(float_mask), "expected torch.bool"),
        (tampered(wrong_edges), "does not match the stored structure"),
        (tampered(set_in(["extra"], "{bad")), "invalid JSON in the checkpoint's extra metadata in upload.pt"),
        (tampered(set_in(["state_dict"], [1, 2])), "state_dict"),
    ],
)
def test_malformed_checkpoints(data, match):
    with pytest.raises(CheckpointError, match=match):
        checkpoint_from_bytes(data, name="upload.pt")


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    buffer = io.BytesIO()
    torch.save({"format": "workbench-checkpoint", "evil": Evil()}, buffer)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        checkpoint_from_bytes(buffer.getvalue())


def test_unsupported_models_and_extra(tmp_path):
    with pytest.raises(CheckpointError, match="cannot store a Linear"):
        checkpoint_to_bytes(torch.nn.Linear(2, 2))
    with pytest.raises(CheckpointError, match="JSON-serializable"):
        checkpoint_to_bytes(MaskedDeepFFN(2, 2, [2]), extra={"x": object()})
    learnable = MaskedDeepFFN(2, 2, [2])
    learnable.layers[0] = MaskedLinearLayer(2, 2, mask_as_params=True)
    with pytest.raises(CheckpointError, match="learnable masks"):
        checkpoint_to_bytes(learnable)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "missing.pt")
