"""Everything one browser tab works on, and how it is drawn, counted, saved and restored.

A :class:`Session` holds the design (:class:`~workbench.app.state.design.DesignState`),
the workspace with the model and its run
(:class:`~workbench.app.state.workspace.Workspace`), the settings the page last
sent, the ticket search, the last inspect view and the tapped vertex. Every
method that reads or changes it runs under ``session.lock`` (the callbacks'
decorator takes it); the trainer thread only touches the model, under its own lock.

The canvas draws the design with the model's inputs and outputs
(:meth:`Session.canvas`), laid out and routed on the server, and the masks
the views show (the slider's preview, else the model's) as one code per edge
(:meth:`Session.mask_codes`). Counts say what they count: the design's
vertices and edges, or the model's neurons (inputs and outputs included) and
connections (:meth:`Session.counts`).

A session file (:meth:`Session.dump`, :func:`load_session`) is a zip of
``session.json`` (design, settings, curves) and ``model.pt`` (a
:mod:`workbench.io` checkpoint, weights and masks): everything the tab needs
to come back. Loading validates the whole file before anything changes.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import threading
import zipfile
import zlib
from collections.abc import Hashable
from dataclasses import dataclass, replace

import networkx as nx
import torch
from torch import nn

from workbench import io as wbio
from workbench import samples
from workbench.app.state.analysis import edge_weights, graph_counts, trainable_parameters
from workbench.app.state.design import DesignState
from workbench.app.state.layout import Drawing, layered_drawing
from workbench.app.state.overlay import ModelOverlay, with_io
from workbench.app.state.settings import Settings, read_settings
from workbench.app.state.share import DesignSource
from workbench.app.state.workspace import DatasetCache, PruneSetting, Workspace, activation_of, all_masks_on
from workbench.errors import CheckpointError, DatasetError, GraphError, WorkbenchError
from workbench.graph import edge_count
from workbench.jobs import SlotPool
from workbench.limits import DEFAULT_LIMITS, Limits, check_upload_bytes
from workbench.sparse import MaskedDeepDAN, MaskedDeepFFN
from workbench.transform import GraphTransform

__all__ = ["SESSION_FORMAT", "Canvas", "Session", "load_session"]

SESSION_FORMAT = "workbench-session"
#: The member of a session file that holds a convolutional model (``model.pt`` holds the others).
CONV_FILE = "model_conv.pt"
SESSION_VERSION = 1


@dataclass
class Canvas:
    """The drawn graph (the design with the model's inputs and outputs) and where everything goes."""

    graph: nx.DiGraph
    drawing: Drawing
    key: tuple


def _full_ffn_structure(model: MaskedDeepFFN) -> nx.DiGraph:
    """Every designed connection of a feed-forward net's hidden neurons (masks ignored)."""
    full = copy.deepcopy(model)
    all_masks_on(full)
    return full.generate_structure()


class Session:
    """One browser tab's state. See the module docstring.

    Args:
        session_id: the id the page keeps.
        workspace: the model side (its ``limits`` are the session's: the undo history's byte budget,
            the sizes of uploads, generated designs, models and extracted graphs).
    """

    def __init__(self, session_id: str, workspace: Workspace) -> None:
        self.id = session_id
        self.lock = threading.RLock()
        self.limits = workspace.limits  # the server's size limits, for everything this session reads or builds
        self.design = DesignState(history_bytes=self.limits.history_bytes)
        self.workspace = workspace
        self.settings = Settings(dataset=workspace.dataset_name)
        self.source = DesignSource()  # how the design was made (for share links)
        self.ticket = None  # the ticket search (workbench.app.state.ticket.TicketState)
        self.inspect = None  # the last InspectView drawn
        self.pending: Hashable | None = None  # vertex a connection starts from
        self.last_tap: tuple | None = None  # (page load id, Cytoscape time stamp) of the last tap applied
        self.selected: Hashable | None = None  # the tapped vertex, highlighted in every view
        self.canvas_opened = False  # a large design is shown in the editable canvas, not as a picture
        self.cache: dict = {}  # the views' caches (the canvas's picture), dropped with the session
        self._canvas: Canvas | None = None
        self._overlay: tuple[tuple, ModelOverlay] | None = None

    def follow_model(self) -> None:
        """After a model was loaded (a sample, a checkpoint): the settings name its data set and activation,
        so the training bar shows what the model is, and Reset or Build make the same kind of model."""
        ws = self.workspace
        changes = {"dataset": ws.dataset_name}
        activation = activation_of(ws.model) if ws.model is not None else None
        if activation is not None:
            changes["activation"] = activation
        self.settings = replace(self.settings, **changes)

    # ------------------------------------------------------------------ what is drawn
    def shown_design(self) -> nx.DiGraph:
        """The graph the canvas draws: the design, or a loaded feed-forward net's neurons."""
        model = self.workspace.model
        if isinstance(model, MaskedDeepFFN):
            return _full_ffn_structure(model)
        return self.design.graph

    def canvas(self) -> Canvas:
        """The drawn graph and its layout, computed once per change of the design, model kind or data shape."""
        data = self.workspace.dataset
        ffn = self.workspace.model if isinstance(self.workspace.model, MaskedDeepFFN) else None
        key = (self.design.version, data.n_features, data.n_classes, id(ffn), self.workspace.kind == "conv")
        if self._canvas is None or self._canvas.key != key:
            design = self.shown_design()
            if self.workspace.kind == "conv":  # a convolutional net's channel graph has its inputs and outputs
                graph = nx.DiGraph(design)
                for v in graph.nodes:
                    ends = "input" if graph.in_degree(v) == 0 else "output" if graph.out_degree(v) == 0 else None
                    if ends is not None:
                        graph.nodes[v]["role"] = ends
            elif design.number_of_nodes():
                graph = with_io(design, data.n_features, data.n_classes)
            else:
                graph = nx.DiGraph()
            self._canvas = Canvas(graph, layered_drawing(graph), key)
        return self._canvas

    def overlay(self) -> ModelOverlay | None:
        """The model laid over the canvas, or None without a model that fits the data."""
        ws = self.workspace
        if ws.model is None or not ws.fits():
            return None
        canvas = self.canvas()
        key = (canvas.key, ws.version, id(ws.model))
        if self._overlay is None or self._overlay[0] != key:
            self._overlay = (key, ModelOverlay(ws.model, canvas.graph))
        return self._overlay[1]

    def mask_codes(self) -> tuple[str, str] | None:
        """``(edge codes, dead flags)`` of the masks the views show, for the canvas; None without a model.

        Edge codes follow :meth:`ModelOverlay.codes`; dead flags are ``"1"``/``"0"`` per drawn vertex.
        """
        overlay = self.overlay()
        if overlay is None:
            return None
        masks, weights = self.workspace.masks(), self.workspace.weights()
        dead = overlay.dead(masks) if overlay.matches else None
        codes = overlay.codes(masks, weights)
        return codes, "" if dead is None else "".join("1" if d else "0" for d in dead.tolist())

    def design_matches_model(self) -> bool:
        """Whether the model was built from the design as it is now (so the canvas shows the model)."""
        overlay = self.overlay()
        return overlay is not None and overlay.matches

    def vertex_info(self, vertex: Hashable) -> dict | None:
        """What the canvas's card says about a drawn vertex: its column, degrees, and incoming weights.

        Returns None when ``vertex`` is not drawn. ``incoming`` is ``[(source, weight or None, kept)]``,
        largest |w| first; weights and kept flags come from the masks the views show.
        """
        canvas = self.canvas()
        graph = canvas.graph
        if vertex not in graph:
            return None
        overlay = self.overlay()
        edges = list(graph.edges)
        kept = weight = None
        if overlay is not None:
            masks, weights = self.workspace.masks(), self.workspace.weights()
            kept = overlay.kept(masks) > 0
            flat = overlay.flatten(weights)
            single = overlay.present & ~overlay.bundle
            weight = {e: float(flat[overlay.start[i]]) for i, e in enumerate(edges) if single[i] and e[1] == vertex}
            kept = {e: bool(kept[i]) for i, e in enumerate(edges) if e[1] == vertex or e[0] == vertex}
        incoming = [
            (u, (weight or {}).get((u, vertex)), True if kept is None else kept[(u, vertex)])
            for u in graph.predecessors(vertex)
        ]
        incoming.sort(key=lambda r: -abs(r[1]) if r[1] is not None else 0.0)
        out_kept = sum(1 for w in graph.successors(vertex) if kept is None or kept[(vertex, w)])
        return {
            "column": canvas.drawing.layers.get(vertex, 0),
            "in_degree": graph.in_degree(vertex),
            "out_degree": graph.out_degree(vertex),
            "in_kept": sum(1 for _, _, k in incoming if k),
            "out_kept": out_kept,
            "incoming": incoming,
            "dead": bool(self._dead_flags().get(vertex)) if overlay is not None else False,
        }

    def _dead_flags(self) -> dict:
        codes = self.mask_codes()
        if not codes or not codes[1]:
            return {}
        return {v: flag == "1" for v, flag in zip(self.canvas().graph.nodes, codes[1], strict=True)}

    # ------------------------------------------------------------------ counts
    def counts(self) -> dict:
        """What the header shows, each with what it counts.

        Returns:
            ``vertices``, ``edges``, ``depth`` of the design; ``neurons`` (inputs and outputs included),
            ``connections`` (kept / designed, input and output connections included) and ``parameters``
            (trainable, and left after the masks) of the model, or None without one.
        """
        counts = graph_counts(self.design.graph)
        ws = self.workspace
        counts.update(neurons=None, connections=None, kept=None, parameters=None, remaining=None)
        if ws.model is None:
            return counts
        masks = ws.masks()
        designed = sum(int(m.numel()) for m in masks.values())
        kept = sum(int(m.sum()) for m in masks.values())
        model = ws.model
        if isinstance(model, MaskedDeepDAN):
            neurons = model.num_neurons + model.input_layer.in_features + model.output_layer.out_features
        elif isinstance(model, MaskedDeepFFN):
            neurons = sum(model.sizes)
        else:  # a convolutional net counts the channels of its channel graph
            neurons = self.canvas().graph.number_of_nodes()
            counts["unit"] = "channels"
        params = trainable_parameters(model)
        counts.update(
            neurons=neurons, connections=designed, kept=kept, parameters=params, remaining=params - (designed - kept)
        )
        return counts

    # ------------------------------------------------------------------ downloads
    def extracted_graph(self) -> tuple[nx.DiGraph, str]:
        """The model's graph with the masks the views show: neurons, kept connections with their weights.

        Returns:
            ``(graph, which)``; ``which`` is ``"preview"`` while the slider previews masks not applied yet,
            else ``"applied"``. The graph attribute ``masks`` says the same.

        Raises:
            GraphError: there is no model.
        """
        ws = self.workspace
        model = ws.view_model()
        if model is None:
            raise GraphError("there is no model yet; build one first")
        which = "preview" if ws.previewing else "applied"
        with ws.weights_lock():
            if isinstance(model, MaskedDeepDAN):
                graph = model.generate_structure(include_input=True, include_output=True)
                weights = edge_weights(model)
            elif not isinstance(model, MaskedDeepFFN):  # a convolutional net: its channel graph, as drawn
                example = torch.zeros(1, *model.input_shape)
                graph = GraphTransform(example, granularity="channel").transform(model)
                weights = {}
            else:
                data = ws.dataset
                full = with_io(_full_ffn_structure(model), data.n_features, data.n_classes, max_inputs=2**62)
                overlay = ModelOverlay(model, full)
                masks = ws.masks()
                kept = overlay.kept(masks) > 0
                flat = overlay.flatten(ws.weights())
                graph = nx.DiGraph()
                graph.add_nodes_from(full.nodes)
                weights = {}
                for (u, v), on, start in zip(full.edges, kept.tolist(), overlay.start.tolist(), strict=True):
                    if on:
                        graph.add_edge(u, v)
                        weights[(u, v)] = float(flat[start])
        for (u, v), w in weights.items():
            if graph.has_edge(u, v):
                graph.edges[u, v]["weight"] = float(w)
        graph.graph["masks"] = which
        return graph, which

    def download(self, what: str) -> tuple[str, bytes]:
        """``(file name, bytes)`` of a download: ``design.graphml|json``, ``extracted.graphml|json``,
        ``model.pt`` or ``session.wbsession``.

        Raises:
            GraphError, GraphFileError, CheckpointError: nothing to download, or it cannot be written.
        """
        kind, _, fmt = what.partition(".")
        if kind == "design" and fmt in ("graphml", "json"):
            return f"design.{fmt}", wbio.graph_to_bytes(self.design.graph, fmt)
        if kind == "extracted" and fmt in ("graphml", "json"):
            graph, which = self.extracted_graph()
            return f"extracted-{which}.{fmt}", wbio.graph_to_bytes(graph, fmt)
        if what == "model.pt":
            model = self.workspace.model
            if model is None:
                raise GraphError("there is no model to download yet; build one first")
            with self.workspace.weights_lock():
                return _model_file(model, extra={"dataset": self.workspace.dataset_name})
        if what == "session":
            return "session.wbsession", self.dump()
        raise GraphError(f"unknown download {what!r}")

    # ------------------------------------------------------------------ session files
    def dump(self) -> bytes:
        """The session file: design, settings, curves, and the model with its masks (see the module docstring)."""
        ws = self.workspace
        doc = {
            "format": SESSION_FORMAT,
            "version": SESSION_VERSION,
            "design": wbio.graph_to_bytes(self.design.graph, "json").decode(),
            "settings": self.settings.as_dict(),
            "dataset": ws.dataset_name,
            "history": ws.history,
            "note": ws.note,
            "prune": {"mode": ws.prune.mode, "scope": ws.prune.scope},
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("session.json", json.dumps(doc, allow_nan=False))
            if ws.model is not None:
                with ws.weights_lock():
                    archive.writestr(*_model_file(ws.model))
        return buffer.getvalue()

    def restore(self, data: bytes, *, name: str = "session file") -> None:
        """Replace everything with the session file ``data``; on any error nothing changes.

        Raises:
            CheckpointError: not a session file, or a part of it is broken (the message says which).
        """
        parts = _read_session(data, name, self.limits)
        if self.busy():
            raise CheckpointError("a training or ticket run is going on; stop it before opening a session file")
        ws = self.workspace
        try:
            ws.datasets.get(parts["dataset"])  # an unknown data set is refused before anything changes
        except DatasetError as err:
            raise CheckpointError(f"{name!r} names a data set this server cannot load: {err}") from None
        self.close()
        if parts["design"].number_of_nodes():
            self.design.replace(parts["design"])
        else:
            self.design.clear()
        self.design.forget_history()
        self.settings = parts["settings"]
        ws.dataset_name = parts["dataset"]
        if parts["model"] is not None:
            ws.set_model(parts["model"], note=parts["note"] or f"from {name}")
            ws.history = parts["history"]
        else:
            ws.model, ws.trainer, ws.history = None, None, []
        ws.prune = PruneSetting(parts["prune_mode"], parts["prune_scope"], 0.0)
        self.ticket = self.inspect = self.pending = self.selected = None
        self.source = DesignSource()

    # ------------------------------------------------------------------ the store's protocol
    def nbytes(self) -> int:
        """Approximate memory this session holds (model, its private preview copy, design, history)."""
        ws = self.workspace
        graph = self.design.graph
        edges = edge_count(graph)
        size = 4096 + self.design.history_nbytes + 280 * (graph.number_of_nodes() + edges)
        for model in (ws.model, ws.snapshot.model if ws.snapshot is not None else None):
            if model is not None:  # its tensors, and as much again for gradients and optimizer state
                size += 2 * sum(t.nbytes for t in itertools.chain(model.parameters(), model.buffers()))
        size += 200 * len(ws.history)
        return size

    def busy(self) -> bool:
        """Whether a training or ticket run is going on (a busy session is never put away)."""
        return self.workspace.running or (self.ticket is not None and self.ticket.runner.running)

    def close(self) -> None:
        """Stop every thread of this session."""
        self.workspace.stop()
        if self.ticket is not None:
            self.ticket.runner.stop(timeout=0)


def _model_file(model: nn.Module, *, extra: dict | None = None) -> tuple[str, bytes]:
    """``(file name, bytes)`` of a model: a :mod:`workbench.io` checkpoint for a DAN or feed-forward net,
    else a convolutional sample file (its builder, input shape, weights and masks)."""
    if isinstance(model, MaskedDeepDAN | MaskedDeepFFN):
        return "model.pt", wbio.checkpoint_to_bytes(model, extra=extra)
    builder = getattr(model, "conv_builder", None)
    if builder is None:
        raise CheckpointError(f"a {type(model).__name__} cannot be saved: only the shipped CNN builders can")
    return CONV_FILE, samples.conv_sample_to_bytes(model, builder, input_shape=model.input_shape, extra=extra)


def _member(archive: zipfile.ZipFile, member: str, name: str) -> bytes:
    """The bytes of one member of a session file; a damaged member is a CheckpointError naming it."""
    try:
        return archive.read(member)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{name!r}: {member} is damaged ({type(exc).__name__}: {exc})") from None


def _read_session(data: bytes, name: str, limits: Limits) -> dict:
    """Every part of a session file, checked against ``limits``; raises CheckpointError (or LimitError)
    naming what is wrong."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = {info.filename: info for info in archive.infolist()}
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{name!r} is not a session file (not a zip archive): {exc}") from None
    if "session.json" not in members:
        raise CheckpointError(f"{name!r} is not a session file: it has no session.json")
    for info in members.values():
        check_upload_bytes(info.file_size, limits, name=f"{name}: {info.filename}")
    try:
        doc = json.loads(_member(archive, "session.json", name))
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{name!r}: session.json is not readable JSON: {type(exc).__name__}") from None
    if not isinstance(doc, dict) or doc.get("format") != SESSION_FORMAT:
        raise CheckpointError(f"{name!r} is not a session file: no format marker {SESSION_FORMAT!r}")
    if doc.get("version") != SESSION_VERSION:
        raise CheckpointError(f"{name!r}: unsupported session file version {doc.get('version')!r}")
    try:
        design = wbio.graph_from_bytes(
            str(doc.get("design", "")).encode(), "json", name=f"{name}: design", limits=limits
        )
        settings = read_settings(doc.get("settings") if isinstance(doc.get("settings"), dict) else {})
    except WorkbenchError as exc:
        raise CheckpointError(f"{name!r}: {exc}") from None
    if not isinstance(design, nx.DiGraph) or (design.number_of_nodes() and not nx.is_directed_acyclic_graph(design)):
        raise CheckpointError(f"{name!r}: the design is not a directed acyclic graph")
    dataset = doc.get("dataset")
    if not isinstance(dataset, str):
        raise CheckpointError(f"{name!r}: the data set name is missing")
    history = doc.get("history", [])
    if not isinstance(history, list) or not all(isinstance(r, dict) and "epoch" in r for r in history):
        raise CheckpointError(f"{name!r}: the training curves are malformed")
    model = None
    if "model.pt" in members:
        data = _member(archive, "model.pt", name)
        model, _ = wbio.checkpoint_from_bytes(data, name=f"{name}: model.pt", limits=limits)
    elif CONV_FILE in members:
        model, _ = samples.conv_sample_from_bytes(_member(archive, CONV_FILE, name), name=f"{name}: {CONV_FILE}")
    prune = doc.get("prune") if isinstance(doc.get("prune"), dict) else {}
    return {
        "design": design,
        "settings": settings,
        "dataset": dataset,
        "history": history,
        "note": str(doc.get("note", "")),
        "model": model,
        "prune_mode": "threshold" if prune.get("mode") == "threshold" else "percent",
        "prune_scope": "layer" if prune.get("scope") == "layer" else "global",
    }


def load_session(
    session_id: str,
    data: bytes,
    datasets: DatasetCache,
    *,
    slots: SlotPool | None = None,
    limits: Limits = DEFAULT_LIMITS,
    name: str = "session file",
) -> Session:
    """A new :class:`Session` from a session file (the store's loader); training waits for one of ``slots``.

    Raises:
        CheckpointError: see :meth:`Session.restore`.
    """
    session = Session(session_id, Workspace(datasets, slots=slots, limits=limits))
    session.restore(data, name=name)
    return session
