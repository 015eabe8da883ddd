"""The server-drawn PNG of a large design."""

import struct
import zlib

import networkx as nx
import numpy as np

from workbench.app.raster import graph_png, png_bytes, png_data_uri


def _decode(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (depth, colour) == (8, 2)
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    raw = np.frombuffer(zlib.decompress(data[start : start + length]), dtype=np.uint8).reshape(height, -1)
    assert not raw[:, 0].any()  # filter type 0 on every row
    return raw[:, 1:].reshape(height, width, 3)


def test_png_round_trips_the_pixels():
    image = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    assert np.array_equal(_decode(png_bytes(image)), image)


def test_edges_and_vertices_are_drawn_where_they_are():
    graph = nx.DiGraph([("a", "b")])
    graph.add_node("lonely")
    positions = {"a": (0.0, 0.0), "b": (100.0, 0.0), "lonely": (50.0, 50.0)}
    image = graph_png(graph, positions, width=120, height=80, margin=10)
    assert image.shape == (80, 120, 3)
    dark = image.sum(2) < 700  # anything but white
    rows, cols = np.nonzero(dark)
    # the edge runs along one row between the two vertices, the lonely vertex sits below its middle
    edge_row = rows[cols == 60].min()
    assert dark[edge_row, 25:95].all()
    assert dark[rows.max() - 1, 60]
    assert not dark[:, :5].any() and not dark[:, -5:].any()


def test_vertices_without_a_position_are_left_out_and_the_uri_is_a_png():
    graph = nx.DiGraph([(0, 1), (1, 2)])
    image = graph_png(graph, {0: (0, 0), 1: (10, 10)}, width=40, height=40)
    assert (image.sum(2) < 700).any()
    assert png_data_uri(graph, {0: (0, 0)}, width=20, height=20).startswith("data:image/png;base64,")
    assert (graph_png(nx.DiGraph(), {}, width=10, height=10) == 255).all()
