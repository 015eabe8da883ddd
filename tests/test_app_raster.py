"""The server-drawn picture of a large design (workbench.app.views.raster): PNG encoding, edges along their
routes, colours by mask code, dead vertices, and incremental updates that equal a fresh drawing."""

from __future__ import annotations

import base64
import struct
import zlib

import networkx as nx
import numpy as np
import pytest

from workbench.app.state.layout import Drawing, layered_drawing
from workbench.app.state.overlay import with_io
from workbench.app.views.raster import PALETTE, Raster, png_bytes
from workbench.graph import watts_strogatz

WHITE = np.array([255, 255, 255])


def chunks(data: bytes) -> dict:
    """``{kind: data}`` of a PNG file, checking the signature and every chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    found, at = {}, 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        found[kind] = found.get(kind, b"") + body
        at += 12 + length
    assert list(found)[-1] == b"IEND"
    return found


def decode(data: bytes) -> np.ndarray:
    """Pixels of a PNG from :func:`png_bytes`: ``[H, W, 3]`` RGB, or ``[H, W]`` indices for a palette PNG."""
    parts = chunks(data)
    width, height, depth, colour, _, _, _ = struct.unpack(">IIBBBBB", parts[b"IHDR"])
    assert depth == 8 and colour in (2, 3)
    raw = np.frombuffer(zlib.decompress(parts[b"IDAT"]), dtype=np.uint8).reshape(height, -1)
    assert not raw[:, 0].any()  # filter type 0 on every row
    return raw[:, 1:].reshape(height, width, 3) if colour == 2 else raw[:, 1:]


def test_an_rgb_png_round_trips_its_pixels():
    image = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    assert np.array_equal(decode(png_bytes(image)), image)


def test_a_palette_png_holds_its_palette_and_indices():
    indices = np.random.default_rng(1).integers(0, len(PALETTE), size=(6, 9), dtype=np.uint8)
    data = png_bytes(indices, PALETTE)
    parts = chunks(data)
    assert parts[b"PLTE"] == PALETTE.astype(np.uint8).tobytes() and len(parts[b"PLTE"]) == 3 * len(PALETTE) <= 768
    assert np.array_equal(decode(data), indices)


def line_drawing() -> Drawing:
    """Two vertices joined by one straight edge, and a third below on its own."""
    graph = nx.DiGraph([("a", "b")])
    graph.add_node("c")
    return Drawing(
        positions={"a": (0.0, 0.0), "b": (100.0, 0.0), "c": (50.0, 50.0)},
        layers={"a": 0, "b": 1, "c": 0},
        edges=[("a", "b")],
        points=np.zeros((0, 2)),
        offsets=np.zeros(2, dtype=np.int64),
    )


def test_edges_are_drawn_between_their_vertices_in_the_colour_of_their_code():
    raster = Raster(line_drawing(), width=120, height=80, margin=10)
    (ax, ay), (bx, by) = raster.pixels[0].round().astype(int), raster.pixels[1].round().astype(int)
    assert ay == by and bx - ax > 50
    middle = (ay, (ax + bx) // 2)
    colours = {code: raster.image(code)[middle].astype(int) for code in ("a", "A", "-", ".")}
    positive, negative, removed, neutral = colours["a"], colours["A"], colours["-"], colours["."]
    assert positive[0] > positive[2] and negative[2] > negative[0]  # orange and blue
    assert np.ptp(removed) < 40 and np.ptp(neutral) < 40  # greys
    assert removed.min() > neutral.max()  # pruned: lighter than an edge without a code
    image = raster.image("a")
    assert (image[:, :5] == WHITE).all() and (image[:, -5:] == WHITE).all()  # the margins stay white
    assert (image[middle[0] - 8, middle[1]] == WHITE).all()  # nothing drawn beside the edge


def test_vertices_sit_on_top_and_dead_ones_are_red():
    raster = Raster(line_drawing(), roles=["input", "output", ""], width=120, height=80)
    pixels = raster.pixels.round().astype(int)
    image = raster.image(".", dead="001")
    at = [image[y, x] for x, y in pixels]
    assert list(at[0]) == list(PALETTE[193]) and list(at[1]) == list(PALETTE[194])  # input and output colours
    assert at[2][0] > 180 and at[2][1] < 80  # dead: red
    assert list(raster.image(".", dead="000")[pixels[2][1], pixels[2][0]]) == list(PALETTE[192])


def test_a_routed_edge_goes_around_the_vertex_it_skips():
    graph = nx.DiGraph([(0, 1), (1, 2), (0, 2)])
    drawing = layered_drawing(graph)
    raster = Raster(drawing, width=300, height=200)
    # colour only the skipping edge: where it runs, pixels are orange; nowhere near vertex 1
    image = raster.image("".join("a" if e == (0, 2) else "-" for e in drawing.edges))
    orange = (image[..., 0].astype(int) - image[..., 2].astype(int)) > 60
    rows, cols = np.nonzero(orange)
    x1, y1 = raster.pixels[1]
    assert len(rows) > 50
    assert np.hypot(cols - x1, rows - y1).min() > 4  # the route keeps clear of vertex 1
    # and it passes every bend of its route (mapped to pixels like the vertices)
    (x0, y0), (x2, _) = drawing.positions[0], drawing.positions[2]
    scale = (raster.pixels[2][0] - raster.pixels[0][0]) / (x2 - x0)
    for bx, by in drawing.routes[(0, 2)]:
        px = raster.pixels[0][0] + (bx - x0) * scale
        py = raster.pixels[0][1] + (by - y0) * scale
        assert np.hypot(cols - px, rows - py).min() <= 1.5


@pytest.mark.parametrize("seed", [0, 1])
def test_repainting_with_new_codes_equals_a_fresh_picture(seed):
    graph = with_io(watts_strogatz(60, 4, 0.3, seed=seed), 2, 2)
    drawing = layered_drawing(graph)
    roles = [graph.nodes[v].get("role", "") for v in graph.nodes]
    raster = Raster(drawing, roles, width=400, height=300)
    rng = np.random.default_rng(seed)
    n = graph.number_of_edges()
    codes = "".join(rng.choice(list("abcdABCD-."), n))
    for _ in range(5):  # a slider dragged back and forth: a few edges change each time
        flip = rng.choice(n, size=max(1, n // 10), replace=False)
        codes = "".join(rng.choice(list("aA-")) if i in flip else c for i, c in enumerate(codes))
        dead = "".join(rng.choice(list("01"), graph.number_of_nodes()))
        fresh = Raster(drawing, roles, width=400, height=300)
        assert np.array_equal(raster.indexed(codes, dead), fresh.indexed(codes, dead))
    assert np.array_equal(raster.indexed(None), Raster(drawing, roles, width=400, height=300).indexed(None))


def test_an_empty_drawing_is_white_and_the_uri_is_a_png():
    raster = Raster(Drawing(), width=10, height=8)
    assert (raster.image() == WHITE).all()
    uri = Raster(line_drawing(), width=40, height=30).data_uri("a")
    assert uri.startswith("data:image/png;base64,")
    assert decode(base64.b64decode(uri.split(",", 1)[1])).shape == (30, 40)
