"""The Inspect screen: both views and the counts, and a tapped vertex shown beside them and ringed in every
view, the main canvas included."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .helpers import (
    STEP_TIMEOUT,
    cy_eval,
    dead_on_canvas,
    in_viewport,
    model_connections,
    open_sample_page,
    show_screen,
    slider_to,
    tap,
    wait_cy,
)

pytestmark = pytest.mark.browser


def open_inspect(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    show_screen(page, "inspect")
    expect(page.locator("#inspect-counts")).to_contain_text("connections", timeout=STEP_TIMEOUT)
    for view in ("inspect-design", "inspect-extracted"):
        wait_cy(page, "cy.nodes().length === 34 && cy.edges().length === 84 && cy.width() > 0", view=view)


def test_inspect_shows_both_views_the_counts_and_a_tapped_vertex_everywhere(page: Page, app_url: str) -> None:
    open_inspect(page, app_url)
    rows = page.locator("#inspect-counts tbody tr")
    neurons, connections = rows.nth(0).locator("td"), rows.nth(1).locator("td")
    expect(neurons.nth(0)).to_contain_text("inputs and")
    expect(neurons.nth(1)).to_have_text("34")
    expect(neurons.nth(2)).to_have_text("34")
    expect(connections.nth(1)).to_have_text("84")
    expect(connections.nth(2)).to_have_text("84")
    for view in ("#inspect-design", "#inspect-extracted"):
        inside, box = in_viewport(page, view)
        assert inside, f"{view} is not on the screen: {box}"

    # the tap lands on the vertex under the pointer (Cytoscape measures its container again when the text
    # above the views arrives after them)
    tap(page, "13", view="inspect-extracted")
    details = page.locator("#inspect-vertex")
    expect(details).to_contain_text("Vertex 13", timeout=STEP_TIMEOUT)
    expect(details).to_contain_text("in-degree")
    inside, box = in_viewport(page, "#inspect-vertex")
    assert inside, f"the vertex's details need scrolling at 1280x720: {box}"
    for view in ("inspect-design", "inspect-extracted", "design-canvas"):
        wait_cy(page, "cy.nodes('.tapped').map(n => n.id()).join() === '13'", view=view)

    show_screen(page, "workbench")  # the main canvas rings it and its card shows it
    wait_cy(page, "cy.getElementById('13').hasClass('tapped')")
    expect(page.locator("#design-vertex")).to_be_visible()
    expect(page.locator("#design-vertex")).to_contain_text("13")


def test_inspect_and_the_main_canvas_show_the_same_preview_edge_by_edge(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    slider_to(page, 10)  # preview 50%
    expect(page.locator("#count-model")).to_contain_text("/84 connections", timeout=STEP_TIMEOUT)
    kept, designed = model_connections(page)
    wait_cy(page, f"cy.edges().filter(e => e.data('m') === '-').length === {designed - kept}")
    main_pruned = set(cy_eval(page, "cy.edges().filter(e => e.data('m') === '-').map(e => e.id())"))
    main_dead, implied = dead_on_canvas(page)
    assert main_dead == implied and main_dead, "the main canvas marks other vertices dead than its edges imply"

    show_screen(page, "inspect")
    expect(page.locator("#inspect-source")).to_contain_text("preview", timeout=STEP_TIMEOUT)
    view = "inspect-extracted"
    wait_cy(page, f"cy.edges().filter(e => e.data('m') === '-').length === {designed - kept}", view=view)
    assert set(cy_eval(page, "cy.edges().filter(e => e.data('m') === '-').map(e => e.id())", view)) == main_pruned
    assert dead_on_canvas(page, view) == (main_dead, implied)
    rows = page.locator("#inspect-counts tbody tr")
    expect(rows.nth(1).locator("td").nth(2)).to_have_text(str(kept))
    dead_row = rows.filter(has_text="dead neurons").locator("td")
    expect(dead_row.nth(2)).to_have_text(str(len(main_dead)))
