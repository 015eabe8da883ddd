"""The Inspect screen: both views and the counts, and a tapped vertex shown beside them and ringed in every
view, the main canvas included."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .helpers import STEP_TIMEOUT, in_viewport, open_sample_page, show_screen, tap, wait_cy

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

    # Cytoscape caches where its container is; the Inspect screen's text above the views arrives after the
    # views are shown (see test_a_tap_in_inspect_lands_on_the_vertex_under_the_pointer), so let it measure again
    page.evaluate("() => window.dispatchEvent(new Event('resize'))")
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


@pytest.mark.xfail(
    reason="BUG: in Inspect a tap selects the vertex about 20 px below the pointer: Cytoscape caches its "
    "container's page offset when the screen is shown, and the source line / counts that the render callback "
    "fills in afterwards push the views down without a resize (tapping 13 shows Vertex 24)",
    strict=True,
)
def test_a_tap_in_inspect_lands_on_the_vertex_under_the_pointer(page: Page, app_url: str) -> None:
    open_inspect(page, app_url)
    tap(page, "13", view="inspect-extracted")
    expect(page.locator("#inspect-vertex")).to_contain_text("Vertex 13", timeout=STEP_TIMEOUT)
