/* workbench: keyboard shortcuts for the design canvas. Everything lives under window.workbench. */
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
})();
