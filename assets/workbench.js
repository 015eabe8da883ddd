/* workbench: the browser side of the page. Everything lives under window.workbench.
   - keyboard shortcuts for the canvas;
   - the tab's session id kept across reloads (keepSession, Dash's layout_post hook);
   - the mask codes written into the canvas's element data (applyMasks), so a slider move restyles the
     graph without resending elements;
   - the screen switch, image export, and copying a share link. */
(function () {
  "use strict";
  const workbench = (window.workbench = window.workbench || {});
  const noUpdate = () => window.dash_clientside.no_update;

  function click(id) {
    const el = document.getElementById(id);
    if (el && !el.disabled) el.click();
  }

  function typing(target) {
    const tag = (target && target.tagName) || "";
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  workbench.onKey = function (event) {
    const screen = document.getElementById("screen-workbench");
    if (typing(event.target) || !screen || screen.classList.contains("hidden")) return;
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

  /* An alert that has faded out is put away for good: it gives up its space, and showing its screen again
     (which restarts CSS animations) does not bring it back. Every alert is a new element (its own React
     key), so the class never carries over to the next message. */
  document.addEventListener("animationend", (event) => {
    const el = event.target;
    if (event.animationName === "fade-out" && el.classList && el.classList.contains("alert")) {
      el.classList.add("faded");
    }
  });

  /* The Cytoscape instance inside the element with id `id`, or null. */
  workbench.cy = function (id) {
    const root = document.getElementById(id);
    if (!root) return null;
    for (const el of [root, ...root.querySelectorAll("*")]) {
      if (el._cyreg && el._cyreg.cy) return el._cyreg.cy;
    }
    return null;
  };

  /* Write mask codes into the canvas: data "m" of every edge, "dead" of every vertex. The codes follow the
     server's order of the elements, which each element's data "i" gives: Cytoscape's own order differs after
     a redraw (elements that stay keep their place, new ones are appended). Returns how many edges were
     restyled (a dcc.Store keeps it, which the browser tests read). */
  workbench.applyMasks = function (id, masks, attempt, call) {
    attempt = attempt || 0;
    if (!attempt) call = workbench.maskCall = (workbench.maskCall || 0) + 1;
    if (call !== workbench.maskCall) return noUpdate(); // a newer call took over while this one waited
    if (!masks || !masks.codes) return noUpdate();
    const cy = workbench.cy(id);
    const edges = cy ? cy.edges() : null;
    if (!cy || edges.length !== masks.codes.length) {
      // the elements of this drawing may not be in Cytoscape yet: try again shortly
      if (attempt < 20) setTimeout(() => workbench.applyMasks(id, masks, attempt + 1, call), 100);
      return noUpdate();
    }
    const nodes = cy.nodes();
    cy.batch(() => {
      edges.forEach((edge) => {
        const code = masks.codes[edge.data("i")];
        if (code !== undefined && edge.data("m") !== code) edge.data("m", code);
      });
      if (masks.dead && masks.dead.length === nodes.length) {
        nodes.forEach((node) => {
          const flag = masks.dead[node.data("i")];
          const dead = flag === "1" ? 1 : 0;
          if (flag !== undefined && node.data("dead") !== dead) node.data("dead", dead);
        });
      }
    });
    workbench.masksApplied = (workbench.masksApplied || 0) + 1;
    return masks.codes.length;
  };

  /* Ring the tapped vertex (Cytoscape id `id`) in every graph view; returns in how many views it was found. */
  workbench.markTapped = function (id) {
    let found = 0;
    setTimeout(() => {
      for (const view of ["design-canvas", "inspect-design", "inspect-extracted"]) {
        const cy = workbench.cy(view);
        if (!cy) continue;
        cy.resize(); // the page around a view may have moved since Cytoscape measured it: taps must land true
        cy.nodes(".tapped").removeClass("tapped");
        if (id) cy.getElementById(id).addClass("tapped");
      }
    }, 0);
    for (const view of ["design-canvas", "inspect-design", "inspect-extracted"]) {
      const cy = workbench.cy(view);
      if (cy && id && cy.getElementById(id).length) found += 1;
    }
    return found;
  };

  /* Show one screen; Cytoscape views that were hidden need to learn their size again. */
  workbench.showScreen = function (view) {
    const names = ["workbench", "inspect", "ticket"];
    setTimeout(() => {
      for (const id of ["design-canvas", "inspect-design", "inspect-extracted"]) {
        const cy = workbench.cy(id);
        if (!cy) continue;
        const before = cy.width();
        cy.resize();
        if (before === 0 && cy.width() > 0) cy.fit(undefined, 24); // drawn while hidden: fit it now
      }
    }, 50);
    return names.map((name) => "screen screen-" + name + (name === (view || "workbench") ? "" : " hidden"));
  };

  /* Which export button fired, as dash-cytoscape's generateImage request. */
  workbench.exportImage = function (filename) {
    const triggered = (window.dash_clientside.callback_context.triggered || [])[0];
    if (!triggered || !triggered.value) return noUpdate();
    const type = triggered.prop_id.indexOf("svg") >= 0 ? "svg" : "png";
    return {type: type, action: "download", filename: filename, options: {full: true, bg: "#ffffff", scale: 2}};
  };

  workbench.copy = function (text) {
    if (text && navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
    return text ? "copied" : noUpdate();
  };

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
