"""Design panel: editing the drawn graph on the canvas, generators, samples and file uploads.

One callback owns the canvas's elements: every edit goes through
:func:`apply_design_action`, a pure dispatcher on the session, so the order of
edits is the order of clicks and a refused edit changes nothing.
"""

from __future__ import annotations

import base64

import networkx as nx
from dash import ALL, Input, Output, State, ctx, html, no_update

from workbench import io as wbio
from workbench.app import ids
from workbench.app.callbacks.common import alert, error_message
from workbench.app.elements import (
    LARGE_GRAPH,
    OVERVIEW_GRAPH,
    design_stylesheet,
    graph_to_elements,
    node_id,
    parse_node_id,
)
from workbench.app.generators import GENERATORS, generate
from workbench.app.panels import PRESET
from workbench.app.raster import png_data_uri
from workbench.app.session import Session
from workbench.errors import GraphError, GraphFileError, WorkbenchError
from workbench.graph import to_dag
from workbench.sparse import MaskedDeepDAN

__all__ = ["apply_design_action", "load_upload", "register"]


def load_upload(session: Session, contents: str, filename: str) -> str:
    """Replace the design with an uploaded graph file or checkpoint; returns what was loaded.

    Raises:
        GraphFileError, CheckpointError, GraphError: the file is unreadable or not a DAG; nothing changes.
    """
    if not contents or "," not in contents:
        raise GraphFileError(f"{filename!r} is empty or not a file")
    data = base64.b64decode(contents.split(",", 1)[1])
    name = filename or "upload"
    if name.lower().endswith((".pt", ".pth", ".ckpt")):
        model, extra = wbio.checkpoint_from_bytes(data, name=name)
        if not isinstance(model, MaskedDeepDAN):
            raise GraphFileError(f"{name!r} holds a {type(model).__name__}; only DAN checkpoints carry a graph")
        session.design.replace(model.structure)
        session.workspace.set_model(model, dataset=extra.get("dataset"), note=f"checkpoint {name}")
        return f"Loaded the model and graph of {name}."
    graph = to_dag(wbio.graph_from_bytes(data, wbio.format_of(name), name=name))
    session.design.replace(graph)
    return f"Loaded {name}: {graph.number_of_nodes()} vertices, {graph.number_of_edges()} edges."


def _connect_tap(session: Session, tapped) -> str | None:
    """Tap logic: the first tap arms a source, the second connects; tapping the source again cancels."""
    if session.pending is None or session.pending not in session.design.graph:
        session.pending = tapped
        return None
    source, session.pending = session.pending, None
    if source == tapped:
        return None
    session.design.connect(source, tapped)
    return None


def apply_design_action(session: Session, action: str, payload: dict) -> tuple[str | None, bool]:
    """Apply one design action to ``session``; returns (a message to show, whether the model changed).

    Actions: ``tap`` (payload ``node``; ``time`` and ``page``: its time stamp and page load id),
    ``menu`` (``item``, ``node``, ``edge``, ``x``, ``y``),
    ``add``, ``delete`` (``nodes``, ``edges``), ``undo``, ``redo``, ``relayout``, ``clear``,
    ``cancel``, ``generate`` (``generator``, ``values``, ``seed``), ``sample`` (``name``),
    ``upload`` (``contents``, ``filename``).

    Raises:
        WorkbenchError: the action is refused; the session is unchanged.
    """
    design = session.design
    if action == "tap":
        stamp, page = payload.get("time"), payload.get("page")
        last_page, last_stamp = session.last_tap or (None, None)
        if stamp is not None and page == last_page and last_stamp is not None and stamp <= last_stamp:
            return None, False  # an older tap of this page load that reached the server after a newer one
        if stamp is not None:
            session.last_tap = (page, stamp)  # stamps count from the page load: compare within one
        return _connect_tap(session, payload["node"]), False
    if action == "menu":
        item = payload.get("item")
        if item == "connect-from":
            session.pending = payload["node"]
        elif item == "connect-to":
            source, session.pending = session.pending, None
            if source is None:
                return "Choose “Connect from here” on the source vertex first.", False
            design.connect(source, payload["node"])
        elif item == "delete":
            edge = payload.get("edge")
            design.delete(
                [payload["node"]] if edge is None and payload.get("node") is not None else [], [edge] if edge else []
            )
        elif item == "add-vertex":
            design.add_vertex((payload.get("x", 0.0), payload.get("y", 0.0)))
        elif item == "relayout":
            design.relayout()
        return None, False
    session.pending = None
    if action == "add":
        design.add_vertex()
    elif action == "delete":
        if not design.delete(payload.get("nodes", []), payload.get("edges", [])):
            return "Select vertices or edges first (tap, or shift-drag a box).", False
    elif action == "undo":
        design.undo()
    elif action == "redo":
        design.redo()
    elif action == "relayout":
        design.relayout()
    elif action == "clear":
        design.clear()
    elif action == "generate":
        graph = generate(payload["generator"], payload["values"], payload.get("seed"))
        design.replace(graph)
        return f"Generated {GENERATORS[payload['generator']].title}: {graph.number_of_nodes()} vertices.", False
    elif action == "sample":
        from workbench import samples

        sample = samples.load_sample(payload["name"])
        if sample.kind != "graph":
            raise GraphError(f"{sample.name!r} is a convolutional sample: open it in the Inspect panel")
        design.replace(sample.graph)
        session.workspace.set_model(sample.model, dataset=sample.metadata.get("dataset"), note=f"sample {sample.name}")
        return f"Loaded sample {sample.name!r} with its trained model.", True
    elif action == "upload":
        message = load_upload(session, payload["contents"], payload["filename"])
        return message, "checkpoint" in session.workspace.note
    return None, False


TRIGGERS = {
    ids.ADD_VERTEX: "add",
    ids.DELETE: "delete",
    ids.UNDO: "undo",
    ids.REDO: "redo",
    ids.RELAYOUT: "relayout",
    ids.CLEAR: "clear",
    ids.CANCEL: "cancel",
    ids.GENERATE: "generate",
    ids.LOAD_SAMPLE: "sample",
    ids.UPLOAD: "upload",
    ids.OPEN_CANVAS: "open_canvas",
}
#: Actions that replace the whole design: a large new design is shown as an overview first.
NEW_DESIGN = {"generate", "sample", "upload", "clear"}
#: Actions after which the view is fitted to the graph again.
REFIT = {"generate", "sample", "upload", "relayout", "fit", "open_canvas"}


def _payload(
    trigger,
    tap,
    menu,
    selected_nodes,
    selected_edges,
    generator,
    param_values,
    param_ids,
    seed,
    sample,
    contents,
    filename,
    page=None,
) -> tuple[str, dict]:
    if trigger == ids.CANVAS and ctx.triggered_prop_ids and "contextMenuData" in next(iter(ctx.triggered_prop_ids)):
        payload = {"item": menu.get("menuItemId"), "x": menu.get("x", 0.0), "y": menu.get("y", 0.0), "node": None}
        if menu.get("edgeSource") is not None:
            payload["edge"] = (parse_node_id(menu["edgeSource"]), parse_node_id(menu["edgeTarget"]))
        elif menu.get("elementId") is not None:
            payload["node"] = parse_node_id(menu["elementId"])
        return "menu", payload
    if trigger == ids.CANVAS:
        return "tap", {"node": parse_node_id(tap["data"]["id"]), "time": tap.get("timeStamp"), "page": page}
    if trigger == ids.FIT:
        return "fit", {}
    action = TRIGGERS.get(trigger, "render")
    if action == "upload" and not contents:
        action = "render"  # the upload box was just emptied
    payload = {
        "nodes": [parse_node_id(n["id"]) for n in selected_nodes or []],
        "edges": [(parse_node_id(e["source"]), parse_node_id(e["target"])) for e in selected_edges or []],
        "generator": generator,
        "values": {i["name"]: v for i, v in zip(param_ids, param_values, strict=True)},
        "seed": seed,
        "name": sample,
        "contents": contents,
        "filename": filename,
    }
    return action, payload


def _hint(session: Session) -> str:
    if session.pending is not None and session.pending in session.design.graph:
        return f"Connecting from {session.pending!r}: tap the target vertex (tap it again or press Esc to cancel)."
    return ""


def register(app, store) -> None:
    """Define the Design panel's callbacks on ``app`` (sessions come from ``store``)."""

    @app.callback(Output(ids.GEN_PARAMS, "children"), Input(ids.GENERATOR, "value"))
    def generator_form(name):
        gen = GENERATORS.get(name)
        if gen is None:
            return []
        return [
            html.Div(
                [html.Label(p.label, className="field-label"), html.Div(dcc_input(p), className="")], className="field"
            )
            for p in gen.params
        ]

    @app.callback(
        Output(ids.CANVAS, "elements"),
        Output(ids.CANVAS, "stylesheet"),
        Output(ids.CANVAS, "layout"),
        Output(ids.DESIGN_ALERT, "children"),
        Output(ids.DESIGN_HINT, "children"),
        Output(ids.DESIGN_VERSION, "data"),
        Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
        Output(ids.UNDO, "disabled"),
        Output(ids.REDO, "disabled"),
        Output(ids.UPLOAD, "contents"),
        Output(ids.CANVAS, "zoom"),
        Output(ids.CANVAS, "pan"),
        Output(ids.OVERVIEW, "src"),
        Output(ids.OVERVIEW_BOX, "style"),
        Output(f"{ids.OVERVIEW_BOX}-text", "children"),
        Input(ids.CANVAS, "tapNode"),
        Input(ids.CANVAS, "contextMenuData"),
        *(Input(t, "n_clicks") for t in TRIGGERS if t != ids.UPLOAD),
        Input(ids.FIT, "n_clicks"),
        Input(ids.UPLOAD, "contents"),
        State(ids.SESSION, "data"),
        State(ids.CANVAS, "selectedNodeData"),
        State(ids.CANVAS, "selectedEdgeData"),
        State(ids.GENERATOR, "value"),
        State({"type": ids.GEN_PARAM, "name": ALL}, "value"),
        State({"type": ids.GEN_PARAM, "name": ALL}, "id"),
        State(ids.GEN_SEED, "value"),
        State(ids.SAMPLE, "value"),
        State(ids.UPLOAD, "filename"),
        State(ids.PAGE, "data"),
        prevent_initial_call="initial_duplicate",
    )
    def design_edit(tap, menu, *args):
        *_, contents, sid, sel_nodes, sel_edges, generator, values, param_ids, seed, sample, filename, page = args
        session = store.get(sid)
        message, kind, model_changed = None, "info", False
        with session.lock:
            before = session.design.version
            try:
                action, payload = _payload(
                    ctx.triggered_id,
                    tap,
                    menu or {},
                    sel_nodes,
                    sel_edges,
                    generator,
                    values,
                    param_ids,
                    seed,
                    sample,
                    contents,
                    filename,
                    page,
                )
                if action == "open_canvas":
                    session.canvas_opened = True
                elif action not in ("render", "fit"):
                    message, model_changed = apply_design_action(session, action, payload)
                    if action in NEW_DESIGN:
                        session.canvas_opened = False
                    kind = "success" if message and action in ("generate", "sample", "upload") else "info"
            except WorkbenchError as err:
                action, message, kind = "error", f"Refused: {error_message(err)}", "error"
                session.pending = None
            except (KeyError, TypeError, ValueError) as err:
                action, message, kind = "error", error_message(err), "error"
            design = session.design
            changed = design.version != before or ctx.triggered_id is None or action == "open_canvas"
            graph = design.graph
            size = graph.number_of_nodes() + graph.number_of_edges()
            large = size > LARGE_GRAPH
            overview = size > OVERVIEW_GRAPH and not session.canvas_opened
            pending = node_id(session.pending) if session.pending is not None and session.pending in graph else None
            elements = no_update
            if changed:
                elements = [] if overview else graph_to_elements(graph, design.positions)
            layout = {**PRESET, "refit": design.version} if action in REFIT or ctx.triggered_id is None else no_update
            return (
                elements,
                design_stylesheet(large=large, pending=pending),
                layout,
                alert(message, kind) if message else None,
                _hint(session),
                design.version if changed else no_update,
                session.workspace.version if model_changed else no_update,
                not design.can_undo,
                not design.can_redo,
                None if action == "upload" else no_update,
                1.0 if action == "clear" else no_update,
                {"x": 360, "y": 240} if action == "clear" else no_update,
                png_data_uri(graph, design.positions) if overview and changed else no_update,
                {"visibility": "visible"} if overview else {"visibility": "hidden"},
                f"{graph.number_of_nodes():,} vertices and {graph.number_of_edges():,} edges: an overview picture"
                if overview
                else "",
            )

    @app.callback(Output(ids.SAMPLE, "options"), Output(ids.SAMPLE, "value"), Input(ids.SESSION, "data"))
    def sample_options(_sid):
        try:
            from workbench import samples

            names = list(samples.list_samples(kind="graph"))
        except (ImportError, WorkbenchError, OSError):
            names = []
        default = getattr(samples, "DEFAULT_SAMPLE", None) if names else None
        return names, (default if default in names else (names[0] if names else None))


def dcc_input(param):
    from dash import dcc

    return dcc.Input(
        id={"type": ids.GEN_PARAM, "name": param.name},
        value=param.default,
        type="text" if param.kind == "sizes" else "number",
        debounce=True,
        className="input",
        step="any" if param.kind == "float" else 1,
    )


def graph_summary(graph: nx.DiGraph) -> str:
    return f"{graph.number_of_nodes()} vertices, {graph.number_of_edges()} edges"
