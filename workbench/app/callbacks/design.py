"""The canvas and the design sidebar: edits, generators, samples, files, and the canvas drawing itself.

One callback owns every edit (:func:`~workbench.app.state.actions.apply_design_action`),
so the order of edits is the order of clicks and a refused edit changes
nothing. The canvas is redrawn from the session: elements when the drawn graph
changed (a new design, or new inputs and outputs for another data set), and
otherwise only the mask codes (:data:`ids.MASKS`), which ``assets/workbench.js``
writes into the elements' data. A graph too large for Cytoscape is shown as a
picture drawn on the server, which the mask codes recolour.
"""

from __future__ import annotations

from dash import ALL, Input, Output, State, ctx, dcc, html

from workbench.app import ids
from workbench.app.callbacks.edge import export_image, session_callback
from workbench.app.generators import GENERATORS
from workbench.app.state.actions import apply_design_action
from workbench.app.state.session import Session
from workbench.app.state.start import default_sample
from workbench.app.views.elements import (
    OVERVIEW_GRAPH,
    canvas_stylesheet,
    graph_to_elements,
    is_large,
    node_id,
    parse_node_id,
)
from workbench.app.views.raster import Raster
from workbench.app.views.widgets import alert, number_input
from workbench.app.views.workbench import PRESET, SETTINGS_IDS, vertex_card
from workbench.errors import WorkbenchError
from workbench.graph import edge_count

__all__ = ["canvas_outputs", "card_outputs", "mask_outputs", "register"]

#: Triggers of the design callback and the action each one means.
TRIGGERS = {
    ids.ADD_VERTEX: "add",
    ids.DELETE: "delete",
    ids.UNDO: "undo",
    ids.REDO: "redo",
    ids.CLEAR: "clear",
    ids.CANCEL: "cancel",
    ids.GENERATE: "generate",
    ids.LOAD_SAMPLE: "sample",
    ids.UPLOAD: "upload",
}
#: Outputs of every callback that redraws the canvas.
CANVAS_OUTPUTS = {
    "elements": Output(ids.CANVAS, "elements", allow_duplicate=True),
    "stylesheet": Output(ids.CANVAS, "stylesheet", allow_duplicate=True),
    "layout": Output(ids.CANVAS, "layout", allow_duplicate=True),
    "canvas_key": Output(ids.CANVAS_KEY, "data", allow_duplicate=True),
    "overview": Output(ids.OVERVIEW, "src", allow_duplicate=True),
    "overview_style": Output(ids.OVERVIEW_BOX, "style", allow_duplicate=True),
    "overview_text": Output(ids.OVERVIEW_TEXT, "children", allow_duplicate=True),
    "masks": Output(ids.MASKS, "data", allow_duplicate=True),
    "card": Output(ids.VERTEX_CARD, "children", allow_duplicate=True),
    "card_class": Output(ids.VERTEX_CARD, "className", allow_duplicate=True),
    "hint": Output(ids.DESIGN_HINT, "children", allow_duplicate=True),
}


def _drawn_size(session: Session) -> int:
    canvas = session.canvas()
    return canvas.graph.number_of_nodes() + edge_count(canvas.graph)


def _overview(session: Session) -> bool:
    return _drawn_size(session) > OVERVIEW_GRAPH and not session.canvas_opened


def _raster(session: Session) -> Raster:
    canvas = session.canvas()
    cached = session.cache.get("raster")
    if cached is None or cached[0] != canvas.key:
        roles = [str(role) for role in dict(canvas.graph.nodes(data="role", default="")).values()]
        cached = (canvas.key, Raster(canvas.drawing, roles))
        session.cache["raster"] = cached
    return cached[1]


def mask_outputs(session: Session) -> dict:
    """The mask codes for the canvas (or the recoloured picture of a large graph)."""
    codes = session.mask_codes()
    canvas = session.canvas()
    if _overview(session):
        return {"overview": _raster(session).data_uri(*(codes or (None, None)))}
    if codes is None:
        return {"masks": {"key": str(canvas.key), "codes": "", "dead": ""}}
    return {"masks": {"key": str(canvas.key), "codes": codes[0], "dead": codes[1]}}


def _hint(session: Session) -> str:
    if session.pending is not None and session.pending in session.design.graph:
        return f"Connecting from {session.pending!r}: tap the target vertex (tap it again or press Esc to cancel)."
    ws = session.workspace
    if ws.model is not None and ws.fits() and not session.design_matches_model() and not ws.is_ffn():
        return "The design has changed since the model was built: ⟳ Build (or ▶ Start) to train it."
    if ws.model is None and session.design.graph.number_of_nodes():
        return "No model yet: ▶ Start builds the design's network and trains it."
    return ""


def canvas_outputs(session: Session, last_key, *, refit: bool = False) -> dict:
    """Everything the canvas shows, redrawing elements only when the drawn graph changed since ``last_key``."""
    canvas = session.canvas()
    overview = _overview(session)
    key = f"{canvas.key}|{'picture' if overview else 'canvas'}"
    large = is_large(canvas.graph.number_of_nodes(), edge_count(canvas.graph))
    pending = node_id(session.pending) if session.pending in session.design.graph else None
    out = {
        "stylesheet": canvas_stylesheet(large=large, pending=pending),
        "hint": _hint(session),
        **card_outputs(session),
    }
    if key != last_key:
        codes = session.mask_codes() or (None, None)
        out.update(
            elements=[] if overview else graph_to_elements(canvas.graph, canvas.drawing, codes=codes[0], dead=codes[1]),
            canvas_key=key,
            overview_style={"visibility": "visible" if overview else "hidden"},
            overview_text=(
                f"{canvas.graph.number_of_nodes():,} neurons and {edge_count(canvas.graph):,} connections: "
                "a picture drawn on the server"
                if overview
                else ""
            ),
        )
        refit = True
    out.update(mask_outputs(session))
    if refit:
        out["layout"] = {**PRESET, "refit": key}
    return out


def card_outputs(session: Session) -> dict:
    info = session.vertex_info(session.selected) if session.selected is not None else None
    graph = session.canvas().graph
    return {
        "card": vertex_card(session.selected, info, graph),
        "card_class": "vertex-card" if info is not None else "vertex-card hidden",
    }


def _payload(trigger, values: dict) -> tuple[str, dict]:
    """The action and its payload for the element that fired the design callback."""
    prop = next(iter(ctx.triggered_prop_ids), "") if ctx.triggered_prop_ids else ""
    if trigger == ids.CANVAS and "contextMenuData" in prop:
        menu = values["menu"] or {}
        payload = {"item": menu.get("menuItemId"), "node": None, "edge": None}
        if menu.get("edgeSource") is not None:
            payload["edge"] = (parse_node_id(menu["edgeSource"]), parse_node_id(menu["edgeTarget"]))
        elif menu.get("elementId") is not None:
            payload["node"] = parse_node_id(menu["elementId"])
        return "menu", payload
    if trigger == ids.CANVAS:
        tap = values["tap"] or {}
        node = parse_node_id((tap.get("data") or {}).get("id"))
        return "tap", {"node": node, "time": tap.get("timeStamp"), "page": values["page"]}
    action = TRIGGERS.get(trigger, "render")
    if action == "upload" and not values["contents"]:
        action = "render"  # the upload box was just emptied
    return action, {
        "nodes": [parse_node_id(n.get("id")) for n in values["selected_nodes"] or []],
        "edges": [
            (parse_node_id(e.get("source")), parse_node_id(e.get("target"))) for e in values["selected_edges"] or []
        ],
        "generator": values["generator"],
        "values": {i["name"]: v for i, v in zip(values["param_ids"] or [], values["param_values"] or [], strict=False)},
        "seed": values["seed"],
        "name": values["sample"],
        "contents": values["contents"],
        "filename": values["filename"],
    }


def register(app, store) -> None:
    """Define the canvas's and the design sidebar's callbacks on ``app``."""

    @session_callback(
        app,
        store,
        output={"params": Output(ids.GEN_PARAMS, "children")},
        inputs={"name": Input(ids.GENERATOR, "value"), "design_version": Input(ids.DESIGN_VERSION, "data")},
    )
    def generator_form(session: Session, *, name, design_version):
        """The generator's parameters, filled in from the design when it came from this generator."""
        gen = GENERATORS.get(name)
        if gen is None:
            return {"params": []}
        source = session.source
        values = dict(source.values) if source.kind == "generator" and source.name == name else {}
        return {"params": [_param_field(p, values.get(p.name, p.default)) for p in gen.params]}

    @session_callback(
        app,
        store,
        output={"generator": Output(ids.GENERATOR, "value"), "seed": Output(ids.GEN_SEED, "value")},
        inputs={"page": Input(ids.PAGE, "data"), "design_version": Input(ids.DESIGN_VERSION, "data")},
    )
    def generator_of_design(session: Session, *, page, design_version):
        """A design made by a generator (a share link's too) shows its generator and seed."""
        source = session.source
        if source.kind != "generator":
            return {}
        return {"generator": source.name, "seed": source.seed}

    @session_callback(
        app,
        store,
        output={
            **CANVAS_OUTPUTS,
            "alert": Output(ids.DESIGN_ALERT, "children"),
            "design_version": Output(ids.DESIGN_VERSION, "data"),
            "model_version": Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
            "undo_off": Output(ids.UNDO, "disabled"),
            "redo_off": Output(ids.REDO, "disabled"),
            "upload": Output(ids.UPLOAD, "contents"),
            "selected": Output(ids.SELECTED, "data", allow_duplicate=True),
            **{name: Output(id_, "value", allow_duplicate=True) for name, id_ in SETTINGS_IDS.items()},
        },
        inputs={
            "tap": Input(ids.CANVAS, "tapNode"),
            "menu": Input(ids.CANVAS, "contextMenuData"),
            "clicks": [Input(t, "n_clicks") for t in TRIGGERS if t != ids.UPLOAD],
            "fit": Input(ids.FIT, "n_clicks"),
            "open_canvas": Input(ids.OPEN_CANVAS, "n_clicks"),
            "contents": Input(ids.UPLOAD, "contents"),
        },
        state={
            "selected_nodes": State(ids.CANVAS, "selectedNodeData"),
            "selected_edges": State(ids.CANVAS, "selectedEdgeData"),
            "generator": State(ids.GENERATOR, "value"),
            "param_values": State({"type": ids.GEN_PARAM, "name": ALL}, "value"),
            "param_ids": State({"type": ids.GEN_PARAM, "name": ALL}, "id"),
            "seed": State(ids.GEN_SEED, "value"),
            "sample": State(ids.SAMPLE, "value"),
            "filename": State(ids.UPLOAD, "filename"),
            "page": State(ids.PAGE, "data"),
            "last_key": State(ids.CANVAS_KEY, "data"),
        },
        alert_to="alert",
        prevent_initial_call="initial_duplicate",
    )
    def design_edit(session: Session, *, last_key, **values):
        trigger = ctx.triggered_id
        design_before, model_before = session.design.version, session.workspace.version
        out: dict = {}
        try:
            action, payload = _payload(trigger, values)
            if action == "upload":
                out["upload"] = None
            if trigger == ids.OPEN_CANVAS:
                session.canvas_opened = True
            elif action != "render":
                if action in ("generate", "sample", "upload", "clear"):
                    session.canvas_opened = False
                result = apply_design_action(session, action, payload)
                if result.message:
                    out["alert"] = alert(result.message, result.level)
                elif action != "tap":
                    out["alert"] = None
        except WorkbenchError as err:  # refused: nothing changed; say why and disarm a pending connection
            session.pending = None
            out["alert"] = alert(f"Refused: {err}", "error")
        out.update(undo_off=not session.design.can_undo, redo_off=not session.design.can_redo)
        out.update(canvas_outputs(session, last_key, refit=trigger in (ids.FIT, ids.OPEN_CANVAS)))
        if trigger == ids.CANVAS and session.selected is not None:
            out["selected"] = node_id(session.selected)
        if session.design.version != design_before or trigger is None:
            out["design_version"] = session.design.version
        if session.workspace.version != model_before:
            out["model_version"] = session.workspace.version
            out.update(session.settings.as_dict())  # a loaded model brings its data set and activation
        return out

    @session_callback(
        app,
        store,
        output=dict(CANVAS_OUTPUTS),
        inputs={"model_version": Input(ids.MODEL_VERSION, "data")},
        state={"last_key": State(ids.CANVAS_KEY, "data")},
        prevent_initial_call=True,
    )
    def canvas_follows_model(session: Session, *, model_version, last_key):
        """A new model, new masks or another data set: new inputs and outputs, or only new codes."""
        return canvas_outputs(session, last_key)

    @session_callback(
        app,
        store,
        output={"options": Output(ids.SAMPLE, "options"), "value": Output(ids.SAMPLE, "value")},
        inputs={"page": Input(ids.PAGE, "data")},
    )
    def sample_options(session: Session, *, page):
        from workbench import samples

        names = list(samples.list_samples())
        source = session.source
        return {"options": names, "value": source.name if source.kind == "sample" else default_sample()}

    # the mask codes restyle the canvas in the browser (no elements are resent)
    app.clientside_callback(
        "function (masks, elements) { return window.workbench.applyMasks('" + ids.CANVAS + "', masks); }",
        Output(ids.MASKS_APPLIED, "data"),
        Input(ids.MASKS, "data"),
        Input(ids.CANVAS, "elements"),
    )
    export_image(app, ids.CANVAS, ids.EXPORT_PNG, ids.EXPORT_SVG, "design")
    # the tapped vertex is ringed in every view (class "tapped", set in the browser)
    app.clientside_callback(
        "function (id) { return window.workbench.markTapped(id); }",
        Output(ids.SELECTED_MARKED, "data"),
        Input(ids.SELECTED, "data"),
        Input(ids.CANVAS, "elements"),
        Input(ids.DESIGN_VIEW, "elements"),
        Input(ids.EXTRACTED_VIEW, "elements"),
    )

    @session_callback(
        app,
        store,
        output={
            "file": Output(ids.DOWNLOAD, "data", allow_duplicate=True),
            "alert": Output(ids.DESIGN_ALERT, "children", allow_duplicate=True),
        },
        inputs={"n": Input(ids.SAVE_SESSION, "n_clicks")},
        alert_to="alert",
        prevent_initial_call=True,
    )
    def save_session(session: Session, *, n):
        name, data = session.download("session")
        return {"file": dcc.send_bytes(data, name), "alert": None}


def _param_field(param, value) -> html.Div:
    """A labelled box for one generator parameter (layer sizes are text, the rest numbers)."""
    id_ = {"type": ids.GEN_PARAM, "name": param.name}
    if param.kind == "sizes":
        control = dcc.Input(id=id_, value=value, type="text", debounce=True, className="input")
    else:
        control = number_input(id_, value, step="any" if param.kind == "float" else 1)
    return html.Div([html.Label(param.label, className="field-label"), control], className="field")
