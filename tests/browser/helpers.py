"""Page helpers for the browser tests: open the app, switch tabs, find and tap Cytoscape vertices."""

from __future__ import annotations

from playwright.sync_api import Page, expect

TABS = {"design": "1 · Design", "train": "2 · Build & train", "prune": "3 · Prune", "inspect": "4 · Inspect"}

_NODES = """(id) => {
  const root = document.getElementById(id);
  let cy = null;
  for (const el of [root, ...root.querySelectorAll('*')]) {
    if (el._cyreg && el._cyreg.cy) { cy = el._cyreg.cy; break; }
  }
  if (!cy) return null;
  const box = cy.container().getBoundingClientRect();
  return cy.nodes().map(n => ({id: n.id(), x: box.left + n.renderedPosition().x, y: box.top + n.renderedPosition().y}));
}"""


def open_app(page: Page, url: str) -> None:
    """Load the page and wait until the first callbacks have filled in the counts and the canvas."""
    page.goto(url)
    expect(page.locator("#count-vertices")).not_to_have_text("–", timeout=20_000)
    page.wait_for_function("() => document.querySelector('#design-canvas canvas') !== null", timeout=20_000)


def show_tab(page: Page, name: str) -> None:
    page.get_by_text(TABS[name], exact=True).click()


def count(page: Page, what: str) -> int:
    return int(page.inner_text(f"#count-{what}").replace(",", ""))


def nodes(page: Page, canvas: str = "design-canvas") -> dict[str, tuple[float, float]]:
    """Cytoscape vertex id -> page coordinates of its centre."""
    found = page.evaluate(_NODES, canvas) or []
    return {n["id"]: (n["x"], n["y"]) for n in found}


_STEADY = f"""([canvas, id]) => new Promise(resolve => {{
  const where = () => {{ const n = ({_NODES})(canvas)?.find(n => n.id === id); return n ? [n.x, n.y] : null; }};
  const first = where();
  requestAnimationFrame(() => requestAnimationFrame(() => {{
    const second = where();
    resolve(first && second && first[0] === second[0] && first[1] === second[1] ? second : null);
  }}));
}})"""


def tap(page: Page, node_id: str, canvas: str = "design-canvas") -> None:
    """Click the centre of a vertex once it is drawn and stays put for two frames (no re-render or pan under way)."""
    page.wait_for_function(f"() => ({_NODES})('{canvas}')?.some(n => n.id === {node_id!r})", timeout=10_000)
    handle = page.wait_for_function(_STEADY, arg=[canvas, node_id], timeout=10_000)
    x, y = handle.json_value()
    page.mouse.click(x, y)


def wait_for_vertices(page: Page, n: int, canvas: str = "design-canvas", timeout: float = 30_000) -> None:
    """Wait until the Cytoscape canvas holds exactly ``n`` vertices."""
    page.wait_for_function(f"() => ({_NODES})('{canvas}')?.length === {n}", timeout=timeout)


def figure_data(page: Page, graph_id: str) -> list[dict]:
    """The ``data`` of a dcc.Graph's Plotly figure as drawn in the page (waits for at least one trace)."""
    page.wait_for_function(
        "(id) => { const g = document.querySelector('#' + id + ' .js-plotly-plot');"
        " return g && g.data && g.data.length; }",
        arg=graph_id,
        timeout=20_000,
    )
    return page.evaluate(
        "(id) => { const g = document.querySelector('#' + id + ' .js-plotly-plot');"
        " return g && g.data ? g.data.map(t => ({x: Array.from(t.x || []), y: Array.from(t.y || [])})) : []; }",
        graph_id,
    )
