"""Design actions on a session: edits, generators, samples, files and links, each all-or-nothing.

:func:`apply_design_action` is the one entry point the canvas callback uses,
so edits happen in the order of clicks. Every action validates before it
changes anything: a refused edit, a malformed file, a checkpoint for an
unknown data set or a bad link raise a
:class:`~workbench.errors.WorkbenchError` and leave the session as it was.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace

import networkx as nx

from workbench import io as wbio
from workbench.app.generators import GENERATORS, generate
from workbench.app.state.session import Session
from workbench.app.state.share import DesignSource, Shared
from workbench.app.state.start import open_sample
from workbench.errors import CheckpointError, GraphError, GraphFileError
from workbench.graph import check_dag, edge_count, to_dag
from workbench.limits import DEFAULT_LIMITS, Limits, check_upload_bytes
from workbench.sparse import MaskedDeepDAN

__all__ = ["ActionResult", "apply_design_action", "apply_shared", "decode_upload", "load_upload"]

SESSION_SUFFIXES = (".wbsession", ".zip")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


@dataclass
class ActionResult:
    """What an action did: a message for the person (``level``: info, success, warning) and what changed."""

    message: str | None = None
    level: str = "info"
    model_changed: bool = False


def decode_upload(contents: str, filename: str, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The bytes of a ``dcc.Upload`` value (``"data:...;base64,..."``), its size checked before decoding.

    Raises:
        GraphFileError: empty, or not base64.
        LimitError: larger than ``limits.max_upload_bytes``.
    """
    if not isinstance(contents, str) or "," not in contents:
        raise GraphFileError(f"{str(filename)[:80]!r} is empty or not a file")
    check_upload_bytes(len(contents) * 3 // 4, limits, name=str(filename))
    try:
        data = base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise GraphFileError(f"{filename!r} did not arrive whole (not base64); try again") from None
    if not data:
        raise GraphFileError(f"{filename!r} is empty")
    return data


def load_upload(session: Session, data: bytes, filename: str) -> ActionResult:
    """Open an uploaded graph file, checkpoint or session file; nothing changes unless all of it is good.

    Raises:
        GraphFileError, CheckpointError, GraphError, DatasetError: the file is unreadable, not a DAG,
            or names an unknown data set.
    """
    name = filename if isinstance(filename, str) and filename else "upload"
    lower = name.lower()
    limits = session.limits
    if lower.endswith(SESSION_SUFFIXES):
        session.restore(data, name=name)
        return ActionResult(f"Opened the session file {name}: design, model, masks and curves.", "success", True)
    if lower.endswith(CHECKPOINT_SUFFIXES):
        model, extra = wbio.checkpoint_from_bytes(data, name=name, limits=limits)
        if not isinstance(model, MaskedDeepDAN):
            raise GraphFileError(f"{name!r} holds a {type(model).__name__}; only DAN checkpoints carry a graph")
        dataset = extra.get("dataset") if isinstance(extra, dict) else None
        if dataset is not None and not isinstance(dataset, str):
            raise CheckpointError(f"{name!r}: its metadata names the data set {dataset!r}, which is not a name")
        check_dag(model.structure)
        ws = session.workspace
        ws.set_model(model, dataset=dataset, note=f"checkpoint {name}")  # checks the data set before changing
        session.design.replace(model.structure)
        session.source = DesignSource()
        session.follow_model()
        return ActionResult(f"Loaded the model and graph of {name}.", "success", True)
    graph = to_dag(wbio.graph_from_bytes(data, wbio.format_of(name), name=name, limits=limits))
    session.design.replace(graph)
    session.source = DesignSource()
    return ActionResult(f"Loaded {name}: {graph.number_of_nodes()} vertices, {edge_count(graph)} edges.", "success")


def _connect_tap(session: Session, tapped) -> None:
    """Tap logic: the first tap arms a source, the second connects; tapping the source again cancels."""
    if tapped not in session.design.graph:
        return
    if session.pending is None or session.pending not in session.design.graph:
        session.pending = tapped
        return
    source, session.pending = session.pending, None
    if source != tapped:
        session.design.connect(source, tapped)
        session.source = DesignSource()


def _generate(session: Session, name, values, seed) -> ActionResult:
    graph = generate(name, values or {}, seed, limits=session.limits)
    session.design.replace(graph, owned=True)
    gen = GENERATORS[name]
    session.source = DesignSource("generator", name, dict(values or {}), None if seed in (None, "") else int(seed))
    return ActionResult(
        # what to do next is the design hint's to say: it follows the model, where this message would go stale
        f"Generated {gen.title}: {graph.number_of_nodes()} vertices, {edge_count(graph)} edges.",
        "success",
    )


def apply_design_action(session: Session, action: str, payload: dict) -> ActionResult:
    """Apply one design action to ``session``.

    Actions: ``tap`` (payload ``node``; ``time`` and ``page``: its time stamp and page load id),
    ``menu`` (``item``, ``node``, ``edge``), ``add``, ``delete`` (``nodes``, ``edges``), ``undo``, ``redo``,
    ``clear``, ``cancel``, ``generate`` (``generator``, ``values``, ``seed``), ``sample`` (``name``),
    ``upload`` (``contents``, ``filename``).

    Raises:
        WorkbenchError: the action is refused; the session is unchanged.
    """
    design = session.design
    if action == "tap":
        stamp, page = payload.get("time"), payload.get("page")
        last_page, last_stamp = session.last_tap or (None, None)
        if isinstance(stamp, int | float) and page == last_page and last_stamp is not None and stamp <= last_stamp:
            return ActionResult()  # an older tap of this page load that reached the server after a newer one
        if isinstance(stamp, int | float):
            session.last_tap = (page, stamp)  # stamps count from the page load: compare within one
        session.selected = payload.get("node")
        _connect_tap(session, payload.get("node"))
        return ActionResult()
    if action == "menu":
        item, node, edge = payload.get("item"), payload.get("node"), payload.get("edge")
        if item == "connect-from" and node in design.graph:
            session.pending = node
        elif item == "connect-to" and node in design.graph:
            source, session.pending = session.pending, None
            if source is None:
                return ActionResult("Choose “Connect from here” on the source vertex first.")
            design.connect(source, node)
            session.source = DesignSource()
        elif item == "delete" and (edge or node is not None):
            design.delete([node] if edge is None else [], [edge] if edge else [])
            session.source = DesignSource()
        elif item == "add-vertex":
            design.add_vertex()
            session.source = DesignSource()
        return ActionResult()
    session.pending = None
    before = design.version
    result = ActionResult()
    if action == "add":
        design.add_vertex()
    elif action == "delete":
        if not design.delete(payload.get("nodes", []), payload.get("edges", [])):
            return ActionResult("Select vertices or edges first (tap, or shift-drag a box).")
    elif action == "undo":
        design.undo()
    elif action == "redo":
        design.redo()
    elif action == "clear":
        design.clear()
    elif action == "generate":
        result = _generate(session, payload.get("generator"), payload.get("values"), payload.get("seed"))
    elif action == "sample":
        open_sample(session, payload.get("name"))
        return ActionResult(f"Opened the sample {payload.get('name')!r} with its trained model.", "success", True)
    elif action == "upload":
        data = decode_upload(payload.get("contents"), payload.get("filename"), session.limits)
        return load_upload(session, data, payload.get("filename"))
    elif action != "cancel":
        raise GraphError(f"unknown design action {action!r}")
    if design.version != before and action not in ("generate",):
        session.source = DesignSource()
    if design.version != before and not design.last_undoable:
        result.message, result.level = "This change is too large to keep for undo.", "warning"
    return result


def apply_shared(session: Session, shared: Shared) -> ActionResult:
    """Make the design a link describes, take its settings, and build the model; all or nothing.

    Raises:
        WorkbenchError: the link's design or settings are refused; the session is unchanged.
    """
    source = shared.source
    if source.kind == "generator":
        graph = generate(source.name, dict(source.values), source.seed, limits=session.limits)
    elif source.kind == "sample":
        open_sample(session, source.name)
        model_settings = {"dataset": session.settings.dataset, "activation": session.settings.activation}
        session.settings = replace(shared.settings, **model_settings)
        return ActionResult(f"Opened the shared sample {source.name!r}.", "success", True)
    elif shared.edges or source.values.get("nodes"):
        graph = nx.DiGraph()
        graph.add_nodes_from(source.values.get("nodes", []))
        graph.add_edges_from(shared.edges)
        check_dag(graph)
    else:
        session.settings = shared.settings
        return ActionResult("Took the settings of the link.", "info")
    session.workspace.datasets.get(shared.settings.dataset)  # refuse an unknown data set before changing anything
    session.design.replace(graph, owned=True)
    session.design.forget_history()
    session.settings = shared.settings
    session.workspace.dataset_name = shared.settings.dataset
    session.workspace.build(session.design.graph, shared.settings)
    session.source = source
    return ActionResult("Opened the shared design with its settings; press ▶ Start to train it.", "success", True)
