"""The page: the screen switch, the header's counts, share links, and a link opened in a fresh browser."""

from __future__ import annotations

from dash import Input, Output, State, no_update

from workbench.app import ids
from workbench.app.callbacks.edge import session_callback
from workbench.app.callbacks.train import SETTINGS_STATE
from workbench.app.state.actions import apply_shared
from workbench.app.state.session import Session
from workbench.app.state.share import read_fragment, share_fragment
from workbench.app.views.widgets import alert
from workbench.errors import WorkbenchError

__all__ = ["count_texts", "register"]


def count_texts(session: Session) -> tuple[str, str]:
    """The header's two counts, each saying what it counts."""
    c = session.counts()
    design = f"{c['vertices']:,} vertices · {c['edges']:,} edges · depth {c['depth']}"
    if c["neurons"] is None:
        return design, "no model yet"
    kept = f"{c['kept']:,}/{c['connections']:,}" if c["kept"] != c["connections"] else f"{c['connections']:,}"
    return design, f"{c['neurons']:,} neurons · {kept} connections · {c['remaining']:,} params"


def register(app, store) -> None:
    """Define the page's callbacks on ``app``."""

    @app.callback(
        output={"notice": Output(ids.NOTICE, "children", allow_duplicate=True)},
        inputs={"page": Input(ids.PAGE, "data")},
        state={"session_id": State(ids.SESSION, "data")},
        prevent_initial_call="initial_duplicate",
    )
    def session_notice(page, session_id):
        """Tell the tab once when its session had to be dropped or its training stopped (the store says why)."""
        try:
            _, notice = store.get(session_id)
        except WorkbenchError as err:
            return {"notice": alert(str(err), "error")}
        if notice is None:
            return {"notice": no_update}
        store.dismiss(session_id)
        return {"notice": alert(notice.message, "success" if notice.kept else "warning")}

    app.clientside_callback(
        "function (view) { return window.workbench.showScreen(view); }",
        Output("screen-workbench", "className"),
        Output("screen-inspect", "className"),
        Output("screen-ticket", "className"),
        Input(ids.VIEW, "value"),
    )

    @session_callback(
        app,
        store,
        output={"design": Output(ids.COUNT_DESIGN, "children"), "model": Output(ids.COUNT_MODEL, "children")},
        inputs={
            "design_version": Input(ids.DESIGN_VERSION, "data"),
            "model_version": Input(ids.MODEL_VERSION, "data"),
            "masks": Input(ids.MASKS, "data"),
        },
    )
    def counts(session: Session, *, design_version, model_version, masks):
        design, model = count_texts(session)
        return {"design": design, "model": model}

    @session_callback(
        app,
        store,
        output={
            "link": Output(ids.SHARE_LINK, "value"),
            "box": Output(ids.SHARE_BOX, "className"),
            "alert": Output(ids.DESIGN_ALERT, "children", allow_duplicate=True),
        },
        inputs={"n": Input(ids.SHARE, "n_clicks")},
        state={"href": State(ids.URL, "href")},
        alert_to="alert",
        prevent_initial_call=True,
    )
    def share(session: Session, *, n, href):
        base = href.split("#", 1)[0] if isinstance(href, str) else ""
        return {
            "link": base + share_fragment(session.source, session.settings, session.design.graph),
            "box": "share-box",
            "alert": None,
        }

    app.clientside_callback(
        "function (link) { return window.workbench.copy(link); }",
        Output(ids.SHARE_LINK, "title"),
        Input(ids.SHARE_LINK, "value"),
        prevent_initial_call=True,
    )

    @session_callback(
        app,
        store,
        output={
            "notice": Output(ids.NOTICE, "children"),
            "hash": Output(ids.URL, "hash"),
            "design_version": Output(ids.DESIGN_VERSION, "data", allow_duplicate=True),
            "model_version": Output(ids.MODEL_VERSION, "data", allow_duplicate=True),
            **{name: Output(s.component_id, "value", allow_duplicate=True) for name, s in SETTINGS_STATE.items()},
        },
        inputs={"fragment": Input(ids.URL, "hash")},
        alert_to="notice",
        prevent_initial_call="initial_duplicate",
    )
    def open_link(session: Session, *, fragment):
        """A share link opened: make its design, take its settings and build; then clear the fragment
        (a reload must not undo the work done since)."""
        shared = read_fragment(fragment, base=session.settings)
        if shared is None:
            return {}
        result = apply_shared(session, shared)
        return {
            "notice": alert(result.message, result.level),
            "hash": "",
            "design_version": session.design.version,
            "model_version": session.workspace.version,
            **session.settings.as_dict(),
        }
