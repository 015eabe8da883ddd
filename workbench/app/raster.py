"""A graph drawn into a PNG on the server: the Design panel's first picture of a large design.

Cytoscape.js needs seconds to add ten thousand elements, and a plotly figure of
the same size about as long; a PNG of the whole graph is drawn here in tens of
milliseconds and shown by the browser at once. Edges are sampled about once
per pixel along their length and counted per pixel, so dense bundles come out
darker; vertices are small squares on top. Only numpy and the standard
library (``zlib``) are used.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Mapping

import networkx as nx
import numpy as np

__all__ = ["graph_png", "png_bytes", "png_data_uri"]

EDGE_RGB = np.array([100, 116, 139], dtype=np.float64)  # slate
NODE_RGB = np.array([51, 65, 85], dtype=np.uint8)
BACKGROUND = 255.0


def graph_png(
    graph: nx.DiGraph, positions: Mapping, *, width: int = 1000, height: int = 700, margin: int = 16
) -> np.ndarray:
    """``[height, width, 3]`` uint8 picture of ``graph`` with vertices at ``positions`` (``{v: (x, y)}``).

    The drawing is scaled to fit, keeping its aspect ratio; y points down, as
    in Cytoscape. Vertices without a position are left out, with their edges.
    """
    image = np.full((height, width, 3), BACKGROUND)
    placed = [v for v in graph.nodes if v in positions]
    if not placed:
        return image.astype(np.uint8)
    index = {v: i for i, v in enumerate(placed)}
    xy = np.array([positions[v] for v in placed], dtype=np.float64).reshape(-1, 2)  # [n, 2]
    low, span = xy.min(0), np.ptp(xy, axis=0)
    scale = min((width - 2 * margin) / max(span[0], 1e-9), (height - 2 * margin) / max(span[1], 1e-9))
    scale = min(scale, 40.0)  # a tiny graph is not blown up
    offset = (np.array([width, height]) - span * scale) / 2
    pixels = (xy - low) * scale + offset  # [n, 2]

    pairs = [(index[u], index[v]) for u, v in graph.edges if u in index and v in index]
    if pairs:
        ends = np.array(pairs, dtype=np.int64)  # [E, 2]
        start = pixels[ends[:, 0]].astype(np.float32)  # [E, 2]
        delta = pixels[ends[:, 1]].astype(np.float32) - start  # [E, 2]
        steps = np.maximum(np.ceil(np.abs(delta).max(1)), 1).astype(np.int64)  # a sample per pixel
        edge = np.repeat(np.arange(len(ends), dtype=np.int32), steps)
        first = np.repeat((np.cumsum(steps) - steps).astype(np.float32), steps)
        t = (np.arange(steps.sum(), dtype=np.float32) - first) / np.repeat(steps.astype(np.float32), steps)
        col = np.clip(np.rint(start[edge, 0] + delta[edge, 0] * t), 0, width - 1).astype(np.int64)
        row = np.clip(np.rint(start[edge, 1] + delta[edge, 1] * t), 0, height - 1).astype(np.int64)
        hits = np.bincount(row * width + col, minlength=width * height).reshape(height, width)
        ink = 1.0 - np.exp(-0.5 * hits)  # [H, W] in [0, 1): darker where more edges cross
        image = BACKGROUND - ink[:, :, None] * (BACKGROUND - EDGE_RGB)

    image = image.astype(np.uint8)
    radius = 2 if len(placed) < 5000 else 1
    cols = np.clip(pixels[:, 0].round().astype(np.int64), radius, width - 1 - radius)
    rows = np.clip(pixels[:, 1].round().astype(np.int64), radius, height - 1 - radius)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            image[rows + dy, cols + dx] = NODE_RGB
    return image


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a ``[H, W, 3]`` uint8 array as a PNG file."""
    height, width, _ = image.shape
    raw = np.concatenate([np.zeros((height, 1), dtype=np.uint8), image.reshape(height, -1)], axis=1)  # filter 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def png_data_uri(graph: nx.DiGraph, positions: Mapping, **size) -> str:
    """``data:image/png;base64,...`` of :func:`graph_png`, for an ``html.Img``."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(graph_png(graph, positions, **size))).decode()
