"""Drawing on the canvas: honest edge routing, tapping to connect, refusing a cycle, undo and redo, the
context menu and the keyboard."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .helpers import (
    STEP_TIMEOUT,
    as_straight_lines,
    crossings,
    cy_eval,
    dash_prop,
    design_counts,
    design_text,
    edge_geometry,
    generate,
    open_app,
    open_sample_page,
    steady_position,
    tap,
    wait_cy,
)

pytestmark = pytest.mark.browser

#: Cytoscape condition: the canvas holds exactly N designed vertices (ids are plain numbers; inputs and
#: outputs are ["input",0]...) -- formatted with N.
DESIGN_VERTICES = "cy.nodes().filter(n => /^\\d+$/.test(n.id())).length === {}"
DESIGN_EDGES = "cy.edges().filter(e => /^\\d+$/.test(e.source().id()) && /^\\d+$/.test(e.target().id())).length === {}"


def wait_design(page: Page, vertices: int, edges: int) -> None:
    """Wait until the header and the canvas both show ``vertices`` designed vertices and ``edges`` edges."""
    expect(page.locator("#count-design")).to_contain_text(design_text(vertices, edges), timeout=STEP_TIMEOUT)
    wait_cy(page, f"{DESIGN_VERTICES.format(vertices)} && {DESIGN_EDGES.format(edges)}")


def empty_canvas_with_three_vertices(page: Page) -> None:
    page.click("#design-clear")
    wait_design(page, 0, 0)
    for n in range(1, 4):
        page.click("#design-add-vertex")
        wait_design(page, n, 0)


def connect(page: Page, source: str, target: str) -> None:
    """Tap ``source``, wait until the page says a connection is armed, then tap ``target``."""
    tap(page, source)
    expect(page.locator("#design-hint")).to_contain_text(f"Connecting from {source}", timeout=STEP_TIMEOUT)
    tap(page, target)
    expect(page.locator("#design-hint")).not_to_contain_text("Connecting from", timeout=STEP_TIMEOUT)


def assert_no_crossings(page: Page) -> None:
    geometry = edge_geometry(page)
    assert len(geometry["edges"]) > 0
    bad = crossings(geometry)
    assert not bad, f"{len(bad)} edges drawn across a vertex that is not their end: {bad[:10]}"
    # the check is not vacuous: drawn as straight lines, some edges of this graph would cross a vertex
    assert crossings(as_straight_lines(geometry)), "no straight edge would cross a vertex here"


def test_no_edge_is_drawn_across_a_vertex_on_the_sample_and_a_watts_strogatz_graph(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    assert_no_crossings(page)

    sample_edges = cy_eval(page, "cy.edges().map(e => e.id()).sort().join(' ')")
    generate(page, "Watts–Strogatz", 30, 3)
    page.wait_for_function(
        "(before) => { const cy = window.workbench.cy('design-canvas');"
        " return cy && cy.edges().map(e => e.id()).sort().join(' ') !== before; }",
        arg=sample_edges,
        timeout=STEP_TIMEOUT,
    )
    wait_design(page, 30, 60)
    assert_no_crossings(page)


def test_draw_by_tapping_refuse_a_cycle_undo_and_redo(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    empty_canvas_with_three_vertices(page)
    connect(page, "0", "1")
    wait_design(page, 3, 1)
    connect(page, "1", "2")
    wait_design(page, 3, 2)
    expect(page.locator("#count-design")).to_contain_text("depth 3")

    connect(page, "2", "0")
    alert = page.locator("#design-alert .alert-error")
    expect(alert).to_contain_text("cycle", timeout=STEP_TIMEOUT)
    expect(alert).to_contain_text("2 -> 0 -> 1 -> 2")
    assert design_counts(page) == (3, 2), "a refused edge changed the graph"
    assert cy_eval(page, "cy.getElementById('2->0').length") == 0

    page.click("#design-undo")
    wait_design(page, 3, 1)
    assert cy_eval(page, "cy.getElementById('1->2').length") == 0
    page.click("#design-redo")
    wait_design(page, 3, 2)
    assert cy_eval(page, "cy.getElementById('1->2').length") == 1


def menu(page: Page, node_id: str, item: str):
    """Right-click a vertex and return the visible context-menu entry ``item``."""
    tap(page, node_id, button="right")
    entry = page.locator(".cy-context-menus-cxt-menuitem:visible", has_text=item).first
    expect(entry).to_be_visible()
    return entry


def test_context_menu_is_styled_and_connects_and_keys_edit(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    empty_canvas_with_three_vertices(page)

    tap(page, "0")  # arm a connection, then cancel it with Esc
    expect(page.locator("#design-hint")).to_contain_text("Connecting from 0", timeout=STEP_TIMEOUT)
    page.keyboard.press("Escape")
    expect(page.locator("#design-hint")).not_to_contain_text("Connecting from", timeout=STEP_TIMEOUT)

    entry = menu(page, "0", "Connect from here")
    box = page.locator(".cy-context-menus-cxt-menu:visible").first
    style = box.evaluate("e => { const s = getComputedStyle(e); return [s.backgroundColor, s.borderTopLeftRadius]; }")
    assert style == ["rgb(255, 255, 255)", "8px"], f"the context menu keeps its default look: {style}"
    assert entry.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 255)"
    entry.click()
    expect(page.locator("#design-hint")).to_contain_text("Connecting from 0", timeout=STEP_TIMEOUT)
    menu(page, "2", "Connect to here").click()
    wait_design(page, 3, 1)
    assert cy_eval(page, "cy.getElementById('0->2').length") == 1
    menu(page, "1", "Delete").click()
    wait_design(page, 2, 1)

    tap(page, "2")  # selects it (and arms a connection from it)
    expect(page.locator("#design-hint")).to_contain_text("Connecting from 2", timeout=STEP_TIMEOUT)
    page.wait_for_function(  # Cytoscape reports the selection to Dash after a short debounce
        "() => { const c = window.dash_component_api.getLayout('design-canvas');"
        " return (c.props.selectedNodeData || []).some(d => d.id === '2'); }",
        timeout=STEP_TIMEOUT,
    )
    assert [d["id"] for d in dash_prop(page, "design-canvas", "selectedNodeData")] == ["2"]
    page.keyboard.press("Delete")
    wait_design(page, 1, 0)
    page.keyboard.press("Control+z")
    wait_design(page, 2, 1)
    page.keyboard.press("Control+Shift+z")
    wait_design(page, 1, 0)
    steady_position(page, "0")  # what is left is drawn
