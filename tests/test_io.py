"""Graph files (GraphML, node-link JSON) and checkpoints."""

import contextlib
import io
import itertools
import json
import pathlib
import warnings

import networkx as nx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import graph as wbg
from workbench.errors import CheckpointError, CycleError, GraphFileError, LimitError
from workbench.io import (
    LABEL_ATTRIBUTE,
    checkpoint_checksum,
    checkpoint_from_bytes,
    checkpoint_to_bytes,
    checkpoints,
    graph_from_bytes,
    graph_to_bytes,
    load_checkpoint,
    load_graph,
    model_from_spec,
    model_spec,
    save_checkpoint,
    save_graph,
)
from workbench.limits import Limits
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


def test_malicious_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (marker.touch, ())

    buffer = io.BytesIO()
    torch.save({"format": "workbench-checkpoint", "version": 2, "spec": Evil()}, buffer)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        checkpoint_from_bytes(buffer.getvalue())
    assert not marker.exists()


# ------------------------------------------------------------------------ upload limits


def node_link(n: int, edges=(), **fields) -> bytes:
    doc = {
        "directed": True,
        "nodes": [{"id": i} for i in range(n)],
        "edges": [{"source": u, "target": v} for u, v in edges],
    }
    return json.dumps({**doc, **fields}).encode()


def graphml(n: int, edges=()) -> bytes:
    buffer = io.BytesIO()
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    nx.write_graphml(g, buffer)
    return buffer.getvalue()


def refuse_to_parse(*args, **kwargs):
    raise AssertionError("parsed a file that the limits refuse")


@pytest.mark.parametrize("fmt", FORMATS)
def test_upload_bytes_are_checked_before_parsing(fmt, monkeypatch):
    monkeypatch.setattr(nx, "read_graphml", refuse_to_parse)
    monkeypatch.setattr(json, "loads", refuse_to_parse)
    data = b"x" * 2000
    with pytest.raises(
        LimitError, match=r"the file up.x has 0.0 MiB \(2,000 bytes\); the limit is max_upload_bytes=1,000"
    ):
        graph_from_bytes(data, fmt, name="up.x", limits=Limits(max_upload_bytes=1000))


def test_checkpoint_bytes_are_checked_before_loading(monkeypatch):
    data = checkpoint_to_bytes(MaskedDeepFFN(2, 2, [2]))
    monkeypatch.setattr(torch, "load", refuse_to_parse)
    with pytest.raises(LimitError, match="max_upload_bytes=100"):
        checkpoint_from_bytes(data, limits=Limits(max_upload_bytes=100))


def test_files_are_sized_before_they_are_read(tmp_path, monkeypatch):
    save_graph(nx.DiGraph([(0, 1)]), tmp_path / "g.json")
    save_checkpoint(MaskedDeepFFN(2, 2, [2]), tmp_path / "m.pt")
    monkeypatch.setattr(pathlib.Path, "read_bytes", refuse_to_parse)
    with pytest.raises(LimitError, match="the file g.json has .* max_upload_bytes=10"):
        load_graph(tmp_path / "g.json", limits=Limits(max_upload_bytes=10))
    with pytest.raises(LimitError, match="the file m.pt has .* max_upload_bytes=10"):
        load_checkpoint(tmp_path / "m.pt", limits=Limits(max_upload_bytes=10))


@pytest.mark.parametrize(
    ("data", "fmt", "bound"),
    [(node_link(30, [(i, i + 1) for i in range(29)]), "json", 151), (graphml(30), "graphml", 35)],
)
def test_upload_elements_are_counted_before_parsing(data, fmt, bound, monkeypatch):
    monkeypatch.setattr(nx, "read_graphml", refuse_to_parse)
    monkeypatch.setattr(json, "loads", refuse_to_parse)
    with pytest.raises(
        LimitError, match=f"the file up.x has up to {bound} elements; the limit is max_upload_elements=20"
    ):
        graph_from_bytes(data, fmt, name="up.x", limits=Limits(max_upload_elements=20))


def test_graphml_vertices_and_edges_are_counted_before_parsing(monkeypatch):
    data = graphml(30, [(i, i + 1) for i in range(29)])
    monkeypatch.setattr(nx, "read_graphml", refuse_to_parse)
    with pytest.raises(LimitError, match="the graph in up.graphml would have 30 vertices; .*max_vertices=20"):
        graph_from_bytes(data, "graphml", name="up.graphml", limits=Limits(max_vertices=20))
    with pytest.raises(LimitError, match="would have 29 edges; the limit is max_edges=20"):
        graph_from_bytes(data, "graphml", name="up.graphml", limits=Limits(max_edges=20))


def test_node_link_vertices_and_edges_are_counted_before_building():
    data = node_link(30, [(i, i + 1) for i in range(29)])
    with pytest.raises(LimitError, match="the graph in up.json would have 30 vertices; .*max_vertices=20"):
        graph_from_bytes(data, "json", name="up.json", limits=Limits(max_vertices=20))
    with pytest.raises(LimitError, match="would have 29 edges; the limit is max_edges=20"):
        graph_from_bytes(data, "json", name="up.json", limits=Limits(max_edges=20))
    assert graph_from_bytes(data, "json", limits=Limits(max_vertices=30, max_edges=29)).number_of_edges() == 29


# ------------------------------------------------------------------------ nesting, ids, flags


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [30, 100_000])
def test_deep_json_in_a_node_link_upload_raises_a_graph_file_error(depth):
    data = json.dumps({"nodes": [{"id": 0, "x": "PLACEHOLDER"}]}).replace('"PLACEHOLDER"', deep_json(depth))
    total = depth + 3  # the document, the node list and the node hold the attribute
    with pytest.raises(GraphFileError, match=f"has {total:,} levels of nesting; the limit is max_json_depth=32"):
        graph_from_bytes(data.encode(), "json", name="deep.json")


def test_brackets_inside_strings_do_not_count_as_nesting():
    g = nx.DiGraph()
    g.add_node("[" * 1000, note='{"[[' * 100 + '\\"')
    back = graph_from_bytes(graph_to_bytes(g, "json"), "json")
    assert list(back.nodes(data=True)) == list(g.nodes(data=True))
    nested = nx.DiGraph()
    nested.add_node(0, x=json.loads(deep_json(29)))  # 29 levels in a node's attribute: 32 in the file
    assert graph_from_bytes(graph_to_bytes(nested, "json"), "json").nodes[0]["x"] == json.loads(deep_json(29))


def test_deep_json_in_a_graphml_label_raises_a_graph_file_error():
    data = graphml(2).replace(
        b'<node id="0"', b'<node id="0"><data key="wbl">' + deep_json(100_000).encode() + b"</data", 1
    )
    data = data.replace(b"<graph ", b'<key id="wbl" for="node" attr.name="wb_label" attr.type="string"/><graph ', 1)
    data = data.replace(b"</data />", b"</data></node>")
    with pytest.raises(GraphFileError, match="wb_label of vertex '0' in deep.graphml has 100,000 levels of nesting"):
        graph_from_bytes(data, "graphml", name="deep.graphml")


def test_deeply_nested_graphml_graphs_raise_a_graph_file_error():
    depth = 5000
    opening = b"".join(b'<node id="n%d" yfiles.foldertype="group"><graph>' % i for i in range(depth))
    data = (
        b'<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="directed">'
        + opening
        + b"</graph></node>" * depth
        + b"</graph></graphml>"
    )
    with pytest.raises(GraphFileError, match="nests graphs too deeply"):
        graph_from_bytes(data, "graphml", name="nested.graphml")


GRAPHML_HEAD = (
    b'<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph edgedefault="directed">'
)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b'<node id="a"/><node/>', "node #1 in up.graphml has no 'id'"),
        (b'<node id="a"/><edge source="a"/>', "edge #0 in up.graphml has no 'target'"),
        (b'<node id="a"/><edge target="a"/>', "edge #0 in up.graphml has no 'source'"),
        (
            b'<node id="a"/><edge source="a" target="a"/><edge/>',
            "edge #1 in up.graphml has no 'source' and no 'target'",
        ),
    ],
)
def test_graphml_nodes_and_edges_without_ids_are_refused(body, match):
    with pytest.raises(GraphFileError, match=match):
        graph_from_bytes(GRAPHML_HEAD + body + b"</graph></graphml>", "graphml", name="up.graphml")


def test_a_graphml_node_may_be_called_none():
    graph = graph_from_bytes(
        GRAPHML_HEAD + b'<node id="None"/><node id="a"/><edge source="a" target="None"/></graph></graphml>', "graphml"
    )
    assert list(graph.edges) == [("a", "None")]


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"directed": "false"}, "'directed' in up.json must be true or false, got 'false'"),
        ({"directed": 0}, "'directed' in up.json must be true or false, got 0"),
        ({"directed": None}, "'directed' in up.json must be true or false, got None"),
        ({"multigraph": "false"}, "'multigraph' in up.json must be true or false, got 'false'"),
        ({"multigraph": 1}, "'multigraph' in up.json must be true or false, got 1"),
    ],
)
def test_node_link_flags_must_be_json_booleans(fields, match):
    with pytest.raises(GraphFileError, match=match):
        graph_from_bytes(node_link(2, [(0, 1)], **fields), "json", name="up.json")


def test_node_link_flags_read_as_booleans():
    assert not graph_from_bytes(node_link(2, [(0, 1)], directed=False), "json").is_directed()
    doc = json.loads(node_link(2, [(0, 1)]))
    del doc["directed"]
    assert graph_from_bytes(json.dumps(doc).encode(), "json").is_directed()  # absent: directed
    assert graph_from_bytes(node_link(2, [(0, 1)], multigraph=False), "json").number_of_edges() == 1


def _entities(count: int) -> bytes:
    names = [b"lol"] + [b"lol%d" % i for i in range(2, count + 1)]
    lines = [b'<!ENTITY lol "lol">'] + [
        b'<!ENTITY %s "%s">' % (name, (b"&%s;" % prev) * 10) for prev, name in itertools.pairwise(names)
    ]
    return b"<!DOCTYPE lolz [" + b"".join(lines) + b"]>", names[-1]


def test_billion_laughs_and_external_entities_are_refused():
    doctype, last = _entities(9)
    laughs = b'<?xml version="1.0"?>' + doctype + GRAPHML_HEAD[21:] + b'<node id="&%s;"/></graph></graphml>' % last
    with pytest.raises(GraphFileError, match="invalid XML"):
        graph_from_bytes(laughs, "graphml")
    external = (
        b'<?xml version="1.0"?><!DOCTYPE g [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + GRAPHML_HEAD[21:]
        + b'<node id="&xxe;"/></graph></graphml>'
    )
    with pytest.raises(GraphFileError, match="invalid XML"):
        graph_from_bytes(external, "graphml")


# ------------------------------------------------------------------------ checkpoint checksums


def test_checkpoints_carry_a_checksum_of_their_contents():
    doc = torch.load(io.BytesIO(checkpoint_to_bytes(models()[0], extra={"a": 1})), weights_only=True)
    assert doc["version"] == 2 and doc["checksum"].startswith("sha256:")
    assert doc["checksum"] == checkpoint_checksum(doc)
    changed = {**doc, "state_dict": {**doc["state_dict"]}}
    changed["state_dict"]["layers.0.weight"] = doc["state_dict"]["layers.0.weight"].clone()
    changed["state_dict"]["layers.0.weight"][0, 0] += 1e-6
    assert checkpoint_checksum(changed) != doc["checksum"]
    as_double = {
        **doc,
        "state_dict": {**doc["state_dict"], "layers.0.bias": doc["state_dict"]["layers.0.bias"].double()},
    }
    assert checkpoint_checksum(as_double) != doc["checksum"]
    assert checkpoint_checksum({**doc, "extra": '{"a": 2}'}) != doc["checksum"]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (set_in(["state_dict", "layers.0.source"], torch.zeros(6, dtype=torch.long)), "is corrupted"),
        (lambda doc: doc["state_dict"]["output_layer.weight"].view(-1)[0].add_(1.0), "is corrupted"),
        (lambda doc: doc["state_dict"]["output_layer.mask"].view(-1)[0].logical_not_(), "is corrupted"),
        (set_in(["extra"], '{"dataset": "moons"}'), "is corrupted"),
        (set_in(["checksum"], "sha256:0"), "is corrupted: its checksum 'sha256:0' does not match"),
        (lambda doc: doc.pop("checksum"), "has no checksum"),
    ],
)
def test_changed_checkpoints_are_refused(mutate, match):
    with pytest.raises(CheckpointError, match=match):
        checkpoint_from_bytes(tampered(mutate, sign=False), name="upload.pt")


def test_single_byte_corruptions_never_load_changed_weights():
    torch.manual_seed(0)
    model = MaskedDeepFFN(3, 2, [2])
    model.layers[0].mask = torch.tensor([[1, 0, 1], [1, 1, 0]])
    data = checkpoint_to_bytes(model, extra={"dataset": "digits"})
    expected = model.state_dict()
    positions = range(0, len(data), max(1, len(data) // 450))  # a strided sample of at least 400 positions
    assert len(positions) >= 400
    outcomes = {"same": 0, "refused": 0}
    for i, position in enumerate(positions):
        corrupted = bytearray(data)
        corrupted[position] ^= 0x01 if i % 2 else 0xFF
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch warns about some corrupted pickle headers
                loaded, extra = checkpoint_from_bytes(bytes(corrupted))
        except CheckpointError:
            outcomes["refused"] += 1
            continue
        state = loaded.state_dict()
        assert state.keys() == expected.keys(), position
        for key, value in expected.items():
            assert state[key].dtype == value.dtype and torch.equal(state[key], value), (position, key)
        assert extra == {"dataset": "digits"}, position
        outcomes["same"] += 1
    assert outcomes["refused"] > 50 and outcomes["same"] > 50  # both happen: zip padding and names, data and pickle


def test_version_1_checkpoints_load_only_when_allowed(tmp_path):
    def version_1(doc):
        doc["version"] = 1
        del doc["checksum"]

    data = tampered(version_1, sign=False)
    with pytest.raises(CheckpointError, match="version 1, which has no checksum.*allow_unverified=True"):
        checkpoint_from_bytes(data)
    model, _ = checkpoint_from_bytes(data, allow_unverified=True)
    assert isinstance(model, MaskedDeepDAN)
    (tmp_path / "old.pt").write_bytes(data)
    assert isinstance(load_checkpoint(tmp_path / "old.pt", allow_unverified=True)[0], MaskedDeepDAN)


# ------------------------------------------------------------------------ checkpoint specs and metadata


def signed_checkpoint(kind: str, spec: dict, extra: str = "{}") -> bytes:
    doc = {"format": "workbench-checkpoint", "version": 2, "kind": kind, "spec": spec, "state_dict": {}, "extra": extra}
    doc["checksum"] = checkpoint_checksum(doc)
    buffer = io.BytesIO()
    torch.save(doc, buffer)
    return buffer.getvalue()


def refuse_to_build(*args, **kwargs):
    raise AssertionError("built a model that the limits refuse")


def test_a_small_checkpoint_asking_for_a_huge_model_is_refused_before_building(monkeypatch):
    spec = {
        "input_shape": [30000],
        "size_output": 30000,
        "hidden_layers": [30000],
        "use_layer_norm": False,
        "activation": "ReLU",
    }
    data = signed_checkpoint("MaskedDeepFFN", spec)
    assert len(data) < 2000  # the 1.5 KB file
    monkeypatch.setattr(checkpoints, "MaskedDeepFFN", refuse_to_build)
    with pytest.raises(LimitError, match="30000-30000-30000 would have 1,800,060,000 trainable parameters"):
        checkpoint_from_bytes(data)


def test_a_dan_spec_over_the_limits_is_refused_before_building(monkeypatch):
    structure = graph_to_bytes(wbg.grid_2d(5, 5), "json").decode()
    spec = {"input_shape": [10], "size_output": 3, "structure": structure, "activation": "ReLU"}
    data = signed_checkpoint("MaskedDeepDAN", spec)
    monkeypatch.setattr(checkpoints, "MaskedDeepDAN", refuse_to_build)
    with pytest.raises(LimitError, match="25 vertices; the limit is max_vertices=20"):
        checkpoint_from_bytes(data, limits=Limits(max_vertices=20))
    with pytest.raises(LimitError, match="the DAN of this design would have .* max_parameters=50"):
        checkpoint_from_bytes(data, limits=Limits(max_parameters=50))
    with pytest.raises(LimitError, match="max_parameters=50"):
        model_from_spec({**spec, "kind": "MaskedDeepDAN"}, limits=Limits(max_parameters=50))


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ("[1, 2]", "extra metadata in up.pt must be a JSON object, got list"),
        ('"digits"', "must be a JSON object, got str"),
        (deep_json(100_000), "extra metadata in up.pt has 100,000 levels of nesting"),
        ('{"a": ' + deep_json(40) + "}", "has 41 levels of nesting; the limit is max_json_depth=32"),
    ],
)
def test_checkpoint_metadata_must_be_a_shallow_json_object(extra, match):
    data = signed_checkpoint("MaskedDeepFFN", model_spec(MaskedDeepFFN(2, 2, [2])) | {"kind": None}, extra)
    with pytest.raises(CheckpointError, match=match):
        checkpoint_from_bytes(data, name="up.pt")


def test_a_deeply_nested_checkpoint_structure_is_a_checkpoint_error():
    structure = '{"nodes": [{"id": 0, "x": ' + deep_json(100_000) + "}]}"
    data = signed_checkpoint(
        "MaskedDeepDAN", {"input_shape": [2], "size_output": 2, "structure": structure, "activation": "ReLU"}
    )
    with pytest.raises(CheckpointError, match="bad structure: .*levels of nesting"):
        checkpoint_from_bytes(data)


@pytest.mark.parametrize(
    ("body", "edgedefault", "match"),
    [
        (
            b'<node id="a"/><node id="b"/><edge source="a" target="b"/><edge source="a" target="b"/>',
            "directed",
            "parallel",
        ),
        (
            b'<node id="a"/><node id="b"/><edge source="a" target="b"/><edge source="b" target="a"/>',
            "undirected",
            "parallel",
        ),
        (b'<node id="a"/><edge source="a" target="a" directed="false"/>', "directed", "directed=false edge"),
        (b'<node id="a"/><edge source="a" target="a" directed="true"/>', "undirected", "directed=true edge"),
        (
            b'<node id="a"/></graph><graph edgedefault="directed"><node id="b"/>',
            "directed",
            "expected one <graph> element, found 2",
        ),
    ],
)
def test_malformed_graphml_structure(body, edgedefault, match):
    head = GRAPHML_HEAD.replace(b'edgedefault="directed"', b'edgedefault="%s"' % edgedefault.encode())
    with pytest.raises(GraphFileError, match=match):
        graph_from_bytes(head + body + b"</graph></graphml>", "graphml")


def test_graphml_edge_ids_and_undeclared_vertices_load_as_networkx_reads_them():
    data = (
        GRAPHML_HEAD
        + b'<node id="a"/><edge id="e1" source="a" target="z"/><edge source="z" target="y"/></graph></graphml>'
    )
    graph = graph_from_bytes(data, "graphml")
    expected = nx.read_graphml(io.BytesIO(data))
    assert list(graph.nodes) == list(expected.nodes) == ["a", "z", "y"]
    assert list(graph.edges(data=True)) == list(expected.edges(data=True)) == [("a", "z", {"id": "e1"}), ("z", "y", {})]
