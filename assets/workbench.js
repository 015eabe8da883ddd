/* workbench: keyboard shortcuts for the design canvas, and the tab's session id kept across reloads.
   Everything lives under window.workbench. */
(function () {
  "use strict";
  const workbench = (window.workbench = window.workbench || {});

  function click(id) {
    const el = document.getElementById(id);
    if (el && !el.disabled) el.click();
  }

  function typing(target) {
    const tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  workbench.onKey = function (event) {
    if (typing(event.target) || !document.getElementById("design-canvas")) return;
    const mod = event.ctrlKey || event.metaKey;
    if (event.key === "Delete" || event.key === "Backspace") {
      click("design-delete");
    } else if (event.key === "Escape") {
      click("design-cancel");
    } else if (mod && (event.key === "z" || event.key === "Z")) {
      click(event.shiftKey ? "design-redo" : "design-undo");
    } else if (mod && event.key === "y") {
      click("design-redo");
    } else {
      return;
    }
    event.preventDefault();
  };

  document.addEventListener("keydown", workbench.onKey);

  // The session id store ("session-id", storage_type "session") keeps this tab's id in sessionStorage.
  // Dash's renderer calls this (its layout_post hook) on the freshly served layout before any callback
  // runs, so a reload puts the saved id into the layout and every first callback reattaches to the
  // same server-side session. A new tab (or browser context) has no saved id and keeps the new one.
  workbench.SESSION_STORE = "session-id";

  function findById(node, id) {
    if (Array.isArray(node)) {
      for (const child of node) {
        const found = findById(child, id);
        if (found) return found;
      }
      return null;
    }
    if (!node || typeof node !== "object" || !node.props) return null;
    if (node.props.id === id) return node;
    return findById(node.props.children, id);
  }

  workbench.keepSession = function (layout) {
    let saved = null;
    try {
      saved = JSON.parse(window.sessionStorage.getItem(workbench.SESSION_STORE));
    } catch (err) {
      return; // no sessionStorage (privacy mode) or a value not written by dcc.Store: keep the new id
    }
    const store = findById(layout, workbench.SESSION_STORE);
    if (store && typeof saved === "string" && /^[0-9a-f]{32}$/.test(saved)) {
      store.props.data = saved;
    }
  };
})();
