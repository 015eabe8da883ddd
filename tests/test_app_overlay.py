"""The model laid over the drawn graph (workbench.app.state.overlay): mask codes and dead flags per drawn element.

Oracles: the model's own extraction (``generate_structure`` with inputs and
outputs: the connections its masks keep), ``analysis.edge_weights`` (the weight
of every designed connection, read another way) and ``analysis.dead_vertices``
(a plain breadth-first search on the kept graph).
"""

from __future__ import annotations

import copy

import networkx as nx
import numpy as np
import pytest
import torch

from workbench.app.state.analysis import dead_vertices, edge_weights
from workbench.app.state.overlay import ALL_INPUTS, MAX_DRAWN_INPUTS, ModelOverlay, alive, edge_codes, with_io
from workbench.graph import watts_strogatz
from workbench.pruning import apply_masks, current_masks, masks_by_amount, weight_snapshot
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN


def expected_code(weight: float, top: float) -> str:
    return ("abcd" if weight >= 0 else "ABCD")[min(int(abs(weight) / top * 4), 3)]


def check_against_the_model(model, drawn: nx.DiGraph, label=lambda v: v) -> str:
    """Codes and dead flags of ``model``'s own masks against its extraction; ``label`` maps an extracted
    vertex to its drawn label. Returns the codes."""
    overlay = ModelOverlay(model, drawn)
    assert overlay.matches
    masks, weights = current_masks(model), weight_snapshot(model)
    codes = overlay.codes(masks, weights)
    assert len(codes) == drawn.number_of_edges()
    kept_graph = nx.relabel_nodes(model.generate_structure(include_input=True, include_output=True), label)
    assert set(kept_graph.nodes) == set(drawn.nodes)
    assert set(kept_graph.edges) <= set(drawn.edges)
    removed = {e for e, c in zip(drawn.edges, codes, strict=True) if c == "-"}
    assert removed == set(drawn.edges) - set(kept_graph.edges)
    assert "." not in codes
    # kept edges: the sign of the weight, and its quarter of the largest kept |w|
    full = {(label(u), label(v)): w for (u, v), w in edge_weights(model).items()}
    kept = {e: full[e] for e in kept_graph.edges}
    top = max(abs(w) for w in kept.values())
    for e, c in zip(drawn.edges, codes, strict=True):
        if e in kept:
            assert c == expected_code(kept[e], top), (e, kept[e], c)
    inputs = [v for v in drawn if isinstance(v, tuple) and v[0] == "input"]
    outputs = [v for v in drawn if isinstance(v, tuple) and v[0] == "output"]
    dead = dead_vertices(kept_graph, inputs, outputs)
    assert overlay.dead(masks).tolist() == [v in dead for v in drawn.nodes]
    return codes


def dan(n_in: int = 3, n_out: int = 2, design: nx.DiGraph | None = None) -> MaskedDeepDAN:
    torch.manual_seed(0)
    return MaskedDeepDAN(n_in, n_out, watts_strogatz(20, 4, 0.3, seed=1) if design is None else design)


@pytest.mark.parametrize(("amount", "scope"), [(0.0, "global"), (0.3, "global"), (0.6, "layer"), (0.9, "global")])
def test_dan_codes_mark_exactly_the_connections_the_masks_remove(amount, scope):
    model = dan()
    apply_masks(model, masks_by_amount(weight_snapshot(model), amount, scope=scope))
    codes = check_against_the_model(model, with_io(model.structure, 3, 2))
    assert (codes.count("-") > 0) == (amount > 0)


def test_ffn_codes_and_dead_flags_through_the_labels_of_the_extraction():
    torch.manual_seed(0)
    model = MaskedDeepFFN(3, 2, [4, 5])
    apply_masks(model, masks_by_amount(weight_snapshot(model), 0.7, scope="layer"))
    full = copy.deepcopy(model)
    full.reset_mask()
    drawn = with_io(full.generate_structure(), 3, 2)  # hidden neurons 0..8, as the canvas draws them

    def label(v):  # generate_structure(include_input=True, ...) counts the inputs first
        if v < 3:
            return ("input", v)
        return v - 3 if v < 3 + 9 else ("output", v - 12)

    codes = check_against_the_model(model, drawn, label)
    assert "-" in codes


def test_a_dan_with_a_dead_vertex_is_flagged_where_it_is_drawn():
    design = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "c"), ("d", "c")])
    model = dan(2, 1, design)
    masks = {k: torch.ones_like(m) for k, m in current_masks(model).items()}
    # cut every input connection of d: it computes nothing from the inputs
    row = next(r for r in range(model.input_layer.out_features) if model.node_at_row(r) == "d")
    masks["input_layer"][row] = False
    apply_masks(model, masks)
    drawn = with_io(design, 2, 1)
    check_against_the_model(model, drawn)
    flags = dict(zip(drawn.nodes, ModelOverlay(model, drawn).dead(current_masks(model)).tolist(), strict=True))
    assert {v for v, f in flags.items() if f} == {"d"}


def test_codes_follow_the_masks_given_not_the_models():
    model = dan()
    drawn = with_io(model.structure, 3, 2)
    preview = masks_by_amount(weight_snapshot(model), 0.5)
    overlay = ModelOverlay(model, drawn)
    previewed = overlay.codes(preview, weight_snapshot(model))
    assert all(bool(m.all()) for m in current_masks(model).values())  # the model keeps every connection
    applied = copy.deepcopy(model)
    apply_masks(applied, preview)
    assert previewed == check_against_the_model(applied, drawn)


def test_more_inputs_than_drawn_become_bundles_coded_by_the_share_kept():
    n_in = MAX_DRAWN_INPUTS + 4  # 20 inputs: drawn as one vertex
    design = nx.DiGraph()
    design.add_nodes_from(range(6))  # six isolated vertices: six sources, six sinks
    model = dan(n_in, 2, design)
    drawn = with_io(design, n_in, 2)
    assert ALL_INPUTS in drawn and not any(v == ("input", 0) for v in drawn)
    assert drawn.nodes[ALL_INPUTS]["count"] == n_in
    kept_per_row = [0, 1, 5, 10, 15, 20]  # shares 0, 0.05, 0.25, 0.5, 0.75, 1
    masks = {k: torch.ones_like(m) for k, m in current_masks(model).items()}
    for r in range(6):
        masks["input_layer"][r] = torch.arange(n_in) < kept_per_row[r]
    overlay = ModelOverlay(model, drawn)
    assert overlay.matches
    codes = dict(zip(drawn.edges, overlay.codes(masks, weight_snapshot(model)), strict=True))
    expected = {0: "-", 1: "e", 5: "f", 10: "g", 15: "h", 20: "h"}
    for r in range(6):
        assert codes[(ALL_INPUTS, model.node_at_row(r))] == expected[kept_per_row[r]]
    dead = dict(zip(drawn.nodes, overlay.dead(masks).tolist(), strict=True))
    assert [v for v, d in dead.items() if d] == [model.node_at_row(0)]  # no input reaches it


def test_a_feed_forward_nets_inputs_are_bundled_too():
    torch.manual_seed(0)
    n_in = MAX_DRAWN_INPUTS + 1
    model = MaskedDeepFFN(n_in, 2, [4, 3])
    masks = {k: torch.ones_like(m) for k, m in current_masks(model).items()}
    kept_per_row = [0, 3, 9, 17]  # of the 17 inputs of each first-layer neuron
    for r, k in enumerate(kept_per_row):
        masks["layers.0"][r] = torch.arange(n_in) < k
    masks["layers.1"][:, 1] = False  # hidden neuron 1 feeds nothing on
    full = copy.deepcopy(model)
    full.reset_mask()
    drawn = with_io(full.generate_structure(), n_in, 2)
    overlay = ModelOverlay(model, drawn)
    assert overlay.matches
    codes = dict(zip(drawn.edges, overlay.codes(masks, weight_snapshot(model)), strict=True))
    assert [codes[(ALL_INPUTS, r)] for r in range(4)] == ["-", "e", "g", "h"]
    assert all(codes[(1, j)] == "-" for j in (4, 5, 6))
    dead = {v for v, d in zip(drawn.nodes, overlay.dead(masks).tolist(), strict=True) if d}
    assert dead == {0, 1}  # 0 has no input left, 1 no way on to the outputs


def test_inputs_up_to_the_limit_are_drawn_one_by_one():
    drawn = with_io(nx.DiGraph([(0, 1)]), MAX_DRAWN_INPUTS, 3)
    assert [v for v in drawn if drawn.nodes[v].get("role") == "input"] == [("input", i) for i in range(16)]
    assert list(drawn.successors(1)) == [("output", 0), ("output", 1), ("output", 2)]
    assert list(drawn.nodes)[16:18] == [0, 1]  # the design keeps its order between inputs and outputs


def test_an_edge_added_after_the_build_is_not_in_the_model():
    model = dan()
    design = nx.DiGraph(model.structure)
    design.add_node("new")
    u = next(iter(design.nodes))
    design.add_edge(u, "new")
    drawn = with_io(design, 3, 2)
    overlay = ModelOverlay(model, drawn)
    assert not overlay.matches
    codes = dict(zip(drawn.edges, overlay.codes(current_masks(model), weight_snapshot(model)), strict=True))
    assert codes[(u, "new")] == "."
    assert {e for e, c in codes.items() if c == "."} == set(drawn.edges) - set(with_io(model.structure, 3, 2).edges)


# ----------------------------------------------------------------------------- the pure helpers


def test_edge_codes_buckets_are_quarters_of_the_largest_kept_weight():
    weights = np.array([0.0, 0.24, 0.26, 0.5, 0.74, 0.76, 1.0, -0.1, -0.3, -0.6, -0.9, 5.0])
    present = np.ones(len(weights), bool)
    kept = np.ones(len(weights), bool)
    kept[-1] = False  # a pruned 5.0 does not set the scale
    assert edge_codes(present, kept, weights) == "aabccdd" + "ABCD" + "-"


def test_edge_codes_of_absent_removed_and_bundled_edges():
    present = np.array([True, False, True, True, True])
    kept = np.array([True, True, False, True, False])
    weights = np.array([-2.0, 9.0, 1.0, 0.0, 0.0])
    share = np.array([np.nan, np.nan, np.nan, 0.6, 0.0])
    assert edge_codes(present, kept, weights, bundle_share=share) == "D.-g-"
    assert edge_codes(np.zeros(0, bool), np.zeros(0, bool), np.zeros(0)) == ""
    assert edge_codes(np.ones(2, bool), np.ones(2, bool), np.zeros(2)) == "aa"  # all zero: no division by zero


def test_alive_needs_a_path_from_an_input_and_to_an_output():
    tails, heads = np.array([0, 1, 0, 4]), np.array([1, 2, 3, 2])
    assert alive(5, tails, heads, [0], [2]).tolist() == [True, True, True, False, False]
    assert alive(5, tails, heads, [0, 4], [2]).tolist() == [True, True, True, False, True]
    assert alive(5, tails, heads, [0], []).tolist() == [False] * 5
    assert alive(3, np.zeros(0, np.int64), np.zeros(0, np.int64), [0], [0]).tolist() == [True, False, False]
    assert alive(0, np.zeros(0, np.int64), np.zeros(0, np.int64), [], []).tolist() == []


def test_alive_agrees_with_dead_vertices_on_random_graphs():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 30))
        graph = nx.gnp_random_graph(n, float(rng.random()) * 0.3, seed=int(rng.integers(1000)), directed=True)
        edges = np.array(list(graph.edges), dtype=np.int64).reshape(-1, 2)
        inputs, outputs = [0, 1], [n - 1]
        dead = dead_vertices(graph, inputs, outputs)
        assert alive(n, edges[:, 0], edges[:, 1], inputs, outputs).tolist() == [v not in dead for v in range(n)]
