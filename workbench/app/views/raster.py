"""A graph drawn into a PNG on the server: the canvas's picture of a large design, with its masks.

Cytoscape.js needs seconds to add ten thousand elements on this kind of
machine, and a plotly figure of the same size about as long; a PNG of the
whole graph is drawn here in tens of milliseconds and shown by the browser at
once. Every edge is drawn along its routed polyline (the same bends the
canvas uses), sampled about once per pixel and counted per pixel, so dense
bundles come out darker; vertices are small squares on top.

:class:`Raster` samples the polylines once per drawing; :meth:`Raster.png`
then colours them by mask code (kept positive orange, kept negative blue,
pruned light grey) and marks dead vertices red in a few milliseconds, which
is how a slider move restyles a large graph. Only numpy and the standard
library (``zlib``) are used.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

from workbench.app.state.layout import Drawing

__all__ = ["PALETTE", "Raster", "png_bytes"]

BACKGROUND = np.array([255.0, 255.0, 255.0])
#: Ink of each kind of edge, drawn in this order (later kinds on top).
INKS = {
    "removed": np.array([203.0, 213.0, 225.0]),
    "neutral": np.array([100.0, 116.0, 139.0]),
    "negative": np.array([26.0, 115.0, 232.0]),
    "positive": np.array([232.0, 113.0, 10.0]),
}
KIND_OF_CODE = {"-": "removed", **dict.fromkeys("ABCD", "negative"), **dict.fromkeys("abcd", "positive")}
NODE_RGB = np.array([51, 65, 85], dtype=np.uint8)
DEAD_RGB = np.array([220, 38, 38], dtype=np.uint8)
INPUT_RGB = np.array([22, 163, 74], dtype=np.uint8)
OUTPUT_RGB = np.array([147, 51, 234], dtype=np.uint8)


class Raster:
    """The pixels every edge of ``drawing`` covers, in a ``width`` x ``height`` picture.

    Args:
        drawing: positions and bends (see :func:`~workbench.app.state.layout.layered_drawing`).
        roles: ``"input"``/``"output"``/``""`` per vertex, in the drawing's node order.
        width, height, margin: the picture's size in pixels; the drawing is scaled to fit, keeping its
            aspect ratio, with y pointing down as in Cytoscape.
    """

    def __init__(
        self,
        drawing: Drawing,
        roles: list[str] | None = None,
        *,
        width: int = 1000,
        height: int = 700,
        margin: int = 16,
    ) -> None:
        self.width, self.height = width, height
        nodes = list(drawing.positions)
        self.roles = roles or [""] * len(nodes)
        self._last = None
        self._edges = None
        if not nodes:
            self.pixels = np.zeros((0, 2), dtype=np.int64)
            self.sample_pixel = np.zeros(0, dtype=np.int64)
            self.sample_starts = np.zeros(1, dtype=np.int64)
            return
        index = {v: i for i, v in enumerate(nodes)}
        xy = np.array([drawing.positions[v] for v in nodes], dtype=np.float64).reshape(-1, 2)  # [n, 2]
        allxy = np.concatenate([xy, drawing.points.reshape(-1, 2)])
        low, span = allxy.min(0), np.ptp(allxy, axis=0)
        scale = min((width - 2 * margin) / max(span[0], 1e-9), (height - 2 * margin) / max(span[1], 1e-9))
        scale = min(scale, 40.0)  # a tiny graph is not blown up
        offset = (np.array([width, height]) - span * scale) / 2

        def to_pixels(points: np.ndarray) -> np.ndarray:
            return (points - low) * scale + offset

        self.pixels = to_pixels(xy)
        bends = to_pixels(drawing.points.reshape(-1, 2)) if len(drawing.points) else np.zeros((1, 2))
        # every edge as a polyline: tail, its bends, head; one segment per pair of neighbours
        count = np.diff(drawing.offsets)  # bends per edge
        tails = np.array([index[u] for u, _ in drawing.edges], dtype=np.int64)
        heads = np.array([index[v] for _, v in drawing.edges], dtype=np.int64)
        seg_edge = np.repeat(np.arange(len(tails)), count + 1)
        step = np.arange(len(seg_edge)) - np.repeat(drawing.offsets[:-1] + np.arange(len(tails)), count + 1)
        first_bend = np.repeat(drawing.offsets[:-1], count + 1)
        start = np.where(step[:, None] == 0, self.pixels[tails[seg_edge]], bends[np.maximum(first_bend + step - 1, 0)])
        end = np.where(
            (step == count[seg_edge])[:, None],
            self.pixels[heads[seg_edge]],
            bends[np.minimum(first_bend + step, max(len(bends) - 1, 0))],
        )
        delta = (end - start).astype(np.float32)  # [S, 2]
        steps = np.maximum(np.ceil(np.abs(delta).max(1)), 1).astype(np.int64)  # a sample per pixel
        # sample k of a segment lies at start + k * delta / steps: per-segment values repeated, float32
        k = np.arange(steps.sum(), dtype=np.int64) - np.repeat(np.cumsum(steps) - steps, steps)
        k = k.astype(np.float32)
        per_step = delta / steps[:, None].astype(np.float32)  # [S, 2]
        start = start.astype(np.float32)
        pixel = None
        for axis, size, scale in ((1, height, width), (0, width, 1)):  # rows, then columns
            at = np.repeat(per_step[:, axis], steps)
            at *= k
            at += np.repeat(start[:, axis], steps)
            np.rint(at, out=at)
            np.clip(at, 0, size - 1, out=at)
            part = at.astype(np.int32)
            if scale != 1:
                part *= np.int32(scale)
            pixel = part if pixel is None else pixel + part
        self.sample_pixel = pixel if pixel is not None else np.zeros(0, dtype=np.int32)  # in edge order
        per_edge = np.bincount(seg_edge, weights=steps, minlength=len(tails)).astype(np.int64)
        self.sample_starts = np.concatenate([[0], np.cumsum(per_edge)])
        self._last: tuple[np.ndarray, np.ndarray] | None = None
        self._edges: np.ndarray | None = None

    def _hits(self, codes: str | None) -> tuple[np.ndarray, np.ndarray | None]:
        """``[kinds, H * W]`` samples of each kind of edge per pixel, and the pixels that changed since the
        last call (None: all). Updated from the last call's by the edges whose kind changed, so a slider move
        that changes a few hundred edges costs little."""
        names = list(INKS)
        if codes:
            edge_kind = _KIND_LOOKUP[np.frombuffer(codes.encode(), dtype=np.uint8)]
        else:
            edge_kind = np.full(len(self.sample_starts) - 1, names.index("neutral"), dtype=np.int64)
        size = self.width * self.height
        last = self._last
        if last is None or len(last[0]) != len(edge_kind):
            kinds = np.repeat(edge_kind, np.diff(self.sample_starts))
            hits = np.bincount(kinds * size + self.sample_pixel, minlength=len(names) * size)
            hits = hits.astype(np.int32).reshape(len(names), size)
            touched = None
        else:
            old_kind, hits = last  # updated in place
            changed = np.flatnonzero(old_kind != edge_kind)
            touched = np.zeros(0, dtype=np.int64)
            if len(changed):
                counts = np.diff(self.sample_starts)[changed]
                picks = np.repeat(self.sample_starts[changed], counts) + (
                    np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
                )
                touched = self.sample_pixel[picks]
                flat = hits.reshape(-1)
                _count_into(flat, np.repeat(old_kind[changed], counts) * size + touched, -1)
                _count_into(flat, np.repeat(edge_kind[changed], counts) * size + touched, 1)
        self._last = (edge_kind, hits)
        return hits, touched

    @staticmethod
    def _blend(hits: np.ndarray) -> np.ndarray:
        """Palette indices ``[P]`` of pixels from their ``[kinds, P]`` edge samples (see :data:`PALETTE`)."""
        # four shades per kind of edge (none, light, mid, dark), three for pruned edges
        shade = _SHADE[np.minimum(hits, len(_SHADE) - 1)]  # [kinds, P] uint8
        np.minimum(shade[0], 2, out=shade[0])
        index = shade[3] * np.uint8(4)
        index += shade[2]
        index *= np.uint8(4)
        index += shade[1]
        index *= np.uint8(3)
        index += shade[0]  # [P] in 0..191
        return index

    def indexed(self, codes: str | None = None, dead: str | None = None) -> np.ndarray:
        """``[height, width]`` uint8 palette indices (see :data:`PALETTE`): edges coloured by their mask
        ``codes``, darker where more cross, vertices on top (``dead`` ones red)."""
        hits, touched = self._hits(codes)
        if touched is None or self._edges is None:
            self._edges = self._blend(hits)  # [H*W] the edges alone, kept for the next call
        elif len(touched):
            once = np.zeros(len(self._edges), dtype=bool)
            once[touched] = True
            touched = np.flatnonzero(once)  # each pixel once (faster than np.unique here)
            self._edges[touched] = self._blend(hits[:, touched])
        index = self._edges.reshape(self.height, self.width).copy()
        if len(self.pixels):
            radius = 2 if len(self.pixels) < 5000 else 1
            cols = np.clip(self.pixels[:, 0].round().astype(np.int64), radius, self.width - 1 - radius)
            rows = np.clip(self.pixels[:, 1].round().astype(np.int64), radius, self.height - 1 - radius)
            colour = np.full(len(cols), NODE_INDEX, dtype=np.uint8)
            roles = np.array(self.roles)
            colour[roles == "input"] = NODE_INDEX + 1
            colour[roles == "output"] = NODE_INDEX + 2
            if dead:
                colour[np.frombuffer(dead.encode(), dtype=np.uint8) == ord("1")] = NODE_INDEX + 3
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    index[rows + dy, cols + dx] = colour
        return index

    def image(self, codes: str | None = None, dead: str | None = None) -> np.ndarray:
        """``[height, width, 3]`` uint8 RGB picture (see :meth:`indexed`)."""
        return PALETTE[self.indexed(codes, dead)]

    def data_uri(self, codes: str | None = None, dead: str | None = None) -> str:
        """``data:image/png;base64,...`` of :meth:`indexed`, for an ``html.Img``."""
        return "data:image/png;base64," + base64.b64encode(png_bytes(self.indexed(codes, dead), PALETTE)).decode()


def _count_into(flat: np.ndarray, keys: np.ndarray, sign: int) -> None:
    """``flat[k] += sign`` once per occurrence of ``k`` in ``keys``: sorted runs instead of ``np.add.at``
    (5-10x faster for the 10^4-10^5 samples of a slider step)."""
    if not len(keys):
        return
    keys = np.sort(keys)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    counts = np.diff(np.append(starts, len(keys))).astype(flat.dtype)
    flat[keys[starts]] += counts if sign > 0 else -counts


def _palette() -> np.ndarray:
    """The 192 blends of edge shades (pruned 0-2, neutral, negative, positive 0-3), then four vertex colours."""
    colours = []
    inks = list(INKS.values())
    for positive in range(4):
        for negative in range(4):
            for neutral in range(4):
                for removed in range(3):
                    rgb = BACKGROUND.copy()
                    for ink, level in zip(inks, (removed, neutral, negative, positive), strict=True):
                        a = (level + 0.5) / 4 if level else 0.0
                        rgb = rgb + a * (ink - rgb)
                    colours.append(rgb)
    colours += [NODE_RGB, INPUT_RGB, OUTPUT_RGB, DEAD_RGB]
    return np.clip(np.array(colours), 0, 255).astype(np.uint8)


_KIND_LOOKUP = np.full(256, list(INKS).index("neutral"), dtype=np.int64)
for _code, _kind in KIND_OF_CODE.items():
    _KIND_LOOKUP[ord(_code)] = list(INKS).index(_kind)
NODE_INDEX = 192
PALETTE = _palette()
#: Shade (0-3) of a pixel that ``n`` samples of one kind of edge cover: ink ``1 - exp(-n / 2)`` in quarters.
_SHADE = np.minimum((1.0 - np.exp(-0.5 * np.arange(32))) * 4, 3.999).astype(np.uint8)


def _deflate(data: bytes) -> bytes:
    """zlib stream of ``data`` with run-length matches only: on these pictures (long runs of background)
    25% faster than level 1 and 10% smaller."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    return packer.compress(data) + packer.flush()


def png_bytes(image: np.ndarray, palette: np.ndarray | None = None) -> bytes:
    """Encode a ``[H, W, 3]`` uint8 RGB array, or ``[H, W]`` palette indices with ``palette`` (``[K, 3]``), as PNG."""
    if palette is None:
        height, width, _ = image.shape
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    else:
        height, width = image.shape
        header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit palette
    raw = np.concatenate([np.zeros((height, 1), dtype=np.uint8), image.reshape(height, -1)], axis=1)  # filter 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    extra = b"" if palette is None else chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", _deflate(raw.tobytes()))
        + chunk(b"IEND", b"")
    )
