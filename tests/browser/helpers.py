"""Page helpers for the browser tests of the one-screen app: open it, read Cytoscape and Plotly, drive controls.

Everything here waits for a state instead of sleeping: the shared test machines are slow and loaded, so a
check polls (``expect``, ``wait_for_function``) with generous timeouts and fails only when the state
never comes.
"""

from __future__ import annotations

import itertools
import math
import re

from playwright.sync_api import Page, expect

#: How long a page may take to load and run its first callbacks on a loaded two-core machine (ms).
LOAD_TIMEOUT = 120_000
#: How long one server round trip (a click, a slider move) may take to show (ms).
STEP_TIMEOUT = 60_000

SCREENS = {"workbench": "Workbench", "inspect": "Inspect", "ticket": "Find a ticket"}

# A Cytoscape view's instance, by the id of its Dash component (see assets/workbench.js).
_CY = "window.workbench && window.workbench.cy(view)"

_NODES = f"""([view]) => {{
  const cy = {_CY};
  if (!cy) return null;
  const box = cy.container().getBoundingClientRect();
  return cy.nodes().map(n => ({{id: n.id(), x: box.left + n.renderedPosition().x,
                                 y: box.top + n.renderedPosition().y}}));
}}"""

# Resolves to the page coordinates of a vertex once it is visible and has not moved for 300 ms (no new
# elements, layout, fit or pan under way), else to null (wait_for_function then tries again).
_STEADY = f"""([view, id]) => new Promise(resolve => {{
  const where = () => {{
    const cy = {_CY};
    if (!cy) return null;
    const node = cy.getElementById(id);
    const box = cy.container().getBoundingClientRect();
    if (!node.length || !node.visible() || box.width === 0) return null;
    const p = node.renderedPosition();
    return [box.left + p.x, box.top + p.y, cy.zoom()];
  }};
  const first = where();
  setTimeout(() => {{
    const second = where();
    const same = first && second && first.every((v, i) => v === second[i]);
    resolve(same ? [second[0], second[1]] : null);
  }}, 300);
}})"""

# Every vertex (model coordinates, radius half its width) and every edge as its drawn polyline:
# source endpoint, bends (segments or control points), target endpoint.
_GEOMETRY = f"""([view]) => {{
  const cy = {_CY};
  const nodes = cy.nodes().map(n => ({{id: n.id(), x: n.position('x'), y: n.position('y'), r: n.width() / 2}}));
  const edges = cy.edges().map(e => {{
    const bends = e.segmentPoints() || e.controlPoints() || [];
    const points = [e.sourceEndpoint(), ...bends, e.targetEndpoint()];
    return {{source: e.source().id(), target: e.target().id(), points: points.map(p => [p.x, p.y])}};
  }});
  return {{nodes, edges}};
}}"""


def open_app(page: Page, url: str) -> None:
    """Load the page and wait until the first callbacks have filled in the header and drawn the canvas."""
    page.set_default_timeout(STEP_TIMEOUT)
    page.goto(url)
    expect(page.locator("#count-design")).not_to_have_text("–", timeout=LOAD_TIMEOUT)
    expect(page.locator("#count-model")).not_to_have_text("–", timeout=LOAD_TIMEOUT)
    wait_cy(page, "cy.nodes().length > 0", timeout=LOAD_TIMEOUT)


def open_sample_page(page: Page, url: str) -> None:
    """:func:`open_app` on the default sample, then wait for its mask codes on the canvas and its curves."""
    open_app(page, url)
    page.wait_for_function(
        f"() => {{ const view = 'design-canvas'; const cy = {_CY};"
        " return cy.edges().length > 0 && cy.edges().every(e => e.data('m')); }",
        timeout=LOAD_TIMEOUT,
    )
    page.wait_for_function(
        "() => { const g = document.querySelector('#train-curves .js-plotly-plot');"
        " return g && g.data && g.data.length === 3 && g.data[0].x && g.data[0].x.length > 0; }",
        timeout=LOAD_TIMEOUT,
    )
    expect(page.locator("#prune-summary")).to_contain_text("connections", timeout=LOAD_TIMEOUT)


def show_screen(page: Page, name: str) -> None:
    """Switch the header's screen switch to ``name`` ("workbench", "inspect" or "ticket")."""
    page.locator("#view label", has_text=SCREENS[name]).click()
    expect(page.locator(f"#screen-{name}")).to_be_visible()


def choose(page: Page, dropdown_id: str, label: str, *, check: bool = True) -> None:
    """Pick the option ``label`` of a dcc.Dropdown (``check``: wait until the dropdown shows it)."""
    page.click(f"#{dropdown_id}")
    page.get_by_role("option", name=label, exact=True).click()
    if check:
        expect(page.locator(f"#{dropdown_id}")).to_contain_text(label)


def fill_number(page: Page, input_id: str, value) -> None:
    """Type ``value`` into a (debounced) number box and commit it with Enter."""
    box = page.locator(f"#{input_id}")
    box.fill(str(value))
    box.press("Enter")


def cy_eval(page: Page, expression: str, view: str = "design-canvas"):
    """Evaluate the JavaScript ``expression`` with ``cy`` bound to the Cytoscape instance of ``view``."""
    return page.evaluate(f"([view]) => {{ const cy = {_CY}; return ({expression}); }}", [view])


def wait_cy(page: Page, condition: str, view: str = "design-canvas", timeout: float = STEP_TIMEOUT) -> None:
    """Wait until the JavaScript ``condition`` (with ``cy`` bound as in :func:`cy_eval`) holds."""
    page.wait_for_function(
        f"([view]) => {{ const cy = {_CY}; return !!cy && !!({condition}); }}", arg=[view], timeout=timeout
    )


def dash_prop(page: Page, component_id: str, prop: str):
    """A Dash component's property as the renderer holds it (``window.dash_component_api.getLayout``)."""
    return page.evaluate(
        "([id, prop]) => { const c = window.dash_component_api.getLayout(id); return c ? c.props[prop] : undefined; }",
        [component_id, prop],
    )


def edge_codes(page: Page, view: str = "design-canvas") -> str:
    """The mask code (data ``m``) of every edge of the canvas, in element order."""
    return cy_eval(page, "cy.edges().map(e => e.data('m') || '').join('')", view)


def codes_by_id(page: Page, view: str = "design-canvas") -> dict[str, str]:
    """Edge id -> the mask code Cytoscape holds for it (data ``m``): what the canvas draws on that edge."""
    return cy_eval(page, "Object.fromEntries(cy.edges().map(e => [e.id(), e.data('m') || '']))", view)


def served_codes_by_id(page: Page) -> dict[str, str]:
    """Edge id -> the mask code the server sent for it, in the server's order of the edges: the codes of the
    mask store follow that order, which each element's data ``i`` gives (Cytoscape's own order may differ)."""
    elements = dash_prop(page, "design-canvas", "elements") or []
    codes = (dash_prop(page, "mask-codes", "data") or {}).get("codes", "")
    edges = sorted((e["data"]["i"], e["data"]["id"]) for e in elements if "source" in e["data"])
    assert [i for i, _ in edges] == list(range(len(codes))), f"{len(edges)} edges but {len(codes)} codes"
    return {edge: codes[i] for i, edge in edges}


def dead_on_canvas(page: Page, view: str = "design-canvas") -> tuple[set[str], set[str]]:
    """``(marked, implied)``: the vertices a view marks dead (data ``dead``), and those its own drawing
    implies are dead: no path of kept edges (code other than ``-``) joins them to an input and to an output."""
    import networkx as nx

    state = page.evaluate(
        """([view]) => { const cy = window.workbench.cy(view);
             return {nodes: cy.nodes().map(n => [n.id(), n.data('dead') || 0, n.classes().join(' ')]),
                     edges: cy.edges().map(e => [e.source().id(), e.target().id(), e.data('m') || ''])}; }""",
        [view],
    )
    graph = nx.DiGraph()
    graph.add_nodes_from(n[0] for n in state["nodes"])
    graph.add_edges_from((s, t) for s, t, code in state["edges"] if code != "-")
    inputs = {n[0] for n in state["nodes"] if "input" in n[2].split()}
    outputs = {n[0] for n in state["nodes"] if "output" in n[2].split()}
    reached = inputs.union(*(nx.descendants(graph, v) for v in inputs))
    reaching = outputs.union(*(nx.ancestors(graph, v) for v in outputs))
    marked = {n[0] for n in state["nodes"] if n[1] == 1}
    return marked, set(graph) - (reached & reaching)


def generate(page: Page, generator: str, n: int, seed: int) -> None:
    """Generate a design with the design card's generator (its ``n`` and seed set) and wait for its alert."""
    choose(page, "design-generator", generator)
    n_box = page.locator("#design-generator-params").locator("""[id='{"name":"n","type":"design-generator-param"}']""")
    expect(n_box).to_be_visible()
    n_box.fill(str(n))
    n_box.press("Enter")
    fill_number(page, "design-seed", seed)
    page.click("#design-generate")
    expect(page.locator("#design-alert")).to_contain_text(f"Generated {generator}: {n} vertices", timeout=STEP_TIMEOUT)


def nodes(page: Page, view: str = "design-canvas") -> dict[str, tuple[float, float]]:
    """Cytoscape vertex id -> page coordinates of its centre."""
    found = page.evaluate(_NODES, [view]) or []
    return {n["id"]: (n["x"], n["y"]) for n in found}


def steady_position(page: Page, node_id: str, view: str = "design-canvas") -> tuple[float, float]:
    """Page coordinates of a vertex once it is drawn and stands still."""
    handle = page.wait_for_function(_STEADY, arg=[view, node_id], timeout=STEP_TIMEOUT)
    x, y = handle.json_value()
    return x, y


def tap(page: Page, node_id: str, view: str = "design-canvas", button: str = "left") -> None:
    """Click the centre of a vertex, read right before the click once it stands still."""
    x, y = steady_position(page, node_id, view)
    page.mouse.click(x, y, button=button)


def figure_data(page: Page, graph_id: str) -> list[dict]:
    """``x`` and ``y`` of every trace of a dcc.Graph as drawn in the page (waits for the plot)."""
    page.wait_for_function(
        "(id) => { const g = document.querySelector('#' + id + ' .js-plotly-plot'); return g && g.data; }",
        arg=graph_id,
        timeout=STEP_TIMEOUT,
    )
    return page.evaluate(
        "(id) => { const g = document.querySelector('#' + id + ' .js-plotly-plot');"
        " return g.data.map(t => ({x: Array.from(t.x || []), y: Array.from(t.y || [])})); }",
        graph_id,
    )


def figure_hints(page: Page, graph_id: str) -> list[str]:
    """The annotation texts of a dcc.Graph (an empty plot's hint is one)."""
    return page.evaluate(
        "(id) => { const g = document.querySelector('#' + id + ' .js-plotly-plot');"
        " return ((g && g.layout && g.layout.annotations) || []).map(a => a.text); }",
        graph_id,
    )


def curve_epochs(page: Page) -> list[float]:
    """The epochs (x) of the train loss curve (trace 0 of #train-curves)."""
    return figure_data(page, "train-curves")[0]["x"]


def wait_curve(page: Page, condition: str, timeout: float = STEP_TIMEOUT) -> None:
    """Wait until ``condition`` holds of ``d``, the curves' traces (0 train loss, 1 train acc, 2 test acc)."""
    page.wait_for_function(
        "() => { const g = document.querySelector('#train-curves .js-plotly-plot');"
        f" if (!g || !g.data || g.data.length < 3) return false; const d = g.data; return !!({condition}); }}",
        timeout=timeout,
    )


def model_connections(page: Page) -> tuple[int, int]:
    """``(kept, designed)`` connections of the header's model count ("84 connections", "79/84 connections")."""
    text = page.inner_text("#count-model")
    match = re.search(r"([\d,]+)(?:/([\d,]+))? connections", text)
    assert match, f"no connection count in {text!r}"
    kept = int(match.group(1).replace(",", ""))
    return kept, int(match.group(2).replace(",", "")) if match.group(2) else kept


def design_text(vertices: int, edges: int | None = None) -> re.Pattern:
    """The header's design count for ``vertices`` (and ``edges``), singular or plural: for ``expect``."""
    text = rf"(^|\D){vertices:,} vert(ex|ices)"
    if edges is not None:
        text += rf" · {edges:,} edges?\b"
    return re.compile(text)


def design_counts(page: Page) -> tuple[int, int]:
    """``(vertices, edges)`` of the header's design count ("30 vertices · 60 edges · depth 6")."""
    text = page.inner_text("#count-design")
    match = re.search(r"([\d,]+) vert(?:ex|ices) · ([\d,]+) edges?", text)
    assert match, f"no design count in {text!r}"
    return int(match.group(1).replace(",", "")), int(match.group(2).replace(",", ""))


def slider_to(page: Page, steps: int) -> float:
    """Put the pruning slider (percent mode) at ``5 * steps`` % with the keyboard: Home, then PageUp."""
    handle = page.locator("#prune-slider [role=slider]")
    handle.focus()
    page.keyboard.press("Home")
    for _ in range(steps):
        page.keyboard.press("PageUp")
    percent = 5.0 * steps
    expect(handle).to_have_attribute("aria-valuenow", f"{percent:g}")
    expect(page.locator("#prune-value")).to_contain_text(f"prune {percent:.1f}%", timeout=STEP_TIMEOUT)
    return percent


def edge_geometry(page: Page, view: str = "design-canvas") -> dict:
    """``{"nodes": [{id, x, y, r}], "edges": [{source, target, points}]}`` in model coordinates."""
    return page.evaluate(_GEOMETRY, [view])


def _distance(p, a, b) -> float:
    """Distance from point ``p`` to the segment ``a``-``b``."""
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(ax + t * dx - px, ay + t * dy - py)


def crossings(geometry: dict) -> list[str]:
    """Edges drawn across a vertex that is not one of their ends: ``"u->v crosses w (distance d < r)"``."""
    found = []
    for edge in geometry["edges"]:
        points = edge["points"]
        for node in geometry["nodes"]:
            if node["id"] in (edge["source"], edge["target"]):
                continue
            d = min(_distance((node["x"], node["y"]), a, b) for a, b in itertools.pairwise(points))
            if d < node["r"]:
                found.append(f"{edge['source']}->{edge['target']} crosses {node['id']} ({d:.1f} < {node['r']:.1f})")
    return found


def as_straight_lines(geometry: dict) -> dict:
    """``geometry`` with every edge drawn straight from its source's centre to its target's (no routing)."""
    centre = {n["id"]: [n["x"], n["y"]] for n in geometry["nodes"]}
    edges = [{**e, "points": [centre[e["source"]], centre[e["target"]]]} for e in geometry["edges"]]
    return {"nodes": geometry["nodes"], "edges": edges}


def in_viewport(page: Page, selector: str) -> tuple[bool, dict | None]:
    """Whether the element's bounding box lies inside the viewport (no scrolling needed), and the box."""
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    if box is None or size is None:
        return False, box
    inside = (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"] + 0.5
        and box["y"] + box["height"] <= size["height"] + 0.5
        and box["width"] > 0
        and box["height"] > 0
    )
    return inside, box
