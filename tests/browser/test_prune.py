"""The pruning card: Fine-tune runs to a visible end, and Apply starts the slider again from the applied
masks (a second preview prunes the remaining weights, never stacked on the first)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .helpers import (
    STEP_TIMEOUT,
    codes_by_id,
    curve_epochs,
    dead_on_canvas,
    edge_codes,
    fill_number,
    generate,
    model_connections,
    open_app,
    open_sample_page,
    served_codes_by_id,
    slider_to,
    wait_curve,
    wait_cy,
)

pytestmark = pytest.mark.browser

#: Collects every text the header's status pill shows (a short run can pass a state between two looks).
RECORD_STATUS = """() => {
  window.__statusTexts = [document.getElementById('status-pill').innerText];
  new MutationObserver(() => window.__statusTexts.push(document.getElementById('status-pill').innerText))
    .observe(document.getElementById('status-pill'), {childList: true, characterData: true, subtree: true});
}"""


def wait_pruned_on_canvas(page: Page, kept: int, designed: int) -> None:
    """Wait until the canvas shows exactly ``designed - kept`` pruned edges."""
    wait_cy(page, f"cy.edges().filter(e => e.data('m') === '-').length === {designed - kept}")


def wait_codes(page: Page, codes: dict[str, str]) -> None:
    """Wait until every edge of the canvas holds the code ``codes`` names for its id (and no other edge)."""
    page.wait_for_function(
        "(codes) => { const cy = window.workbench.cy('design-canvas'); const edges = cy ? cy.edges() : [];"
        " return edges.length === Object.keys(codes).length && edges.every(e => e.data('m') === codes[e.id()]); }",
        arg=codes,
        timeout=STEP_TIMEOUT,
    )


def test_fine_tune_from_the_pruning_card_runs_and_ends_visibly(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    last_epoch = max(curve_epochs(page))
    slider_to(page, 6)  # preview 30%
    wait_cy(page, "cy.edges().some(e => e.data('m') === '-')")
    fill_number(page, "prune-finetune-epochs", 2)
    page.evaluate(RECORD_STATUS)
    page.click("#prune-finetune")

    expect(page.locator("#prune-alert")).to_contain_text("Fine-tuning for 2 epochs", timeout=STEP_TIMEOUT)
    page.wait_for_function("() => window.__statusTexts.some(t => /fine-tuning|running/.test(t))", timeout=STEP_TIMEOUT)
    expect(page.locator("#status-pill")).to_have_text("finished", timeout=180_000)
    expect(page.locator("#train-alert")).to_contain_text("Fine-tuning finished", timeout=STEP_TIMEOUT)
    wait_curve(page, f"Math.max(...d[0].x) >= {last_epoch + 2}")  # the curves go on past the sample's epochs
    epochs = curve_epochs(page)
    assert max(epochs) == pytest.approx(last_epoch + 2)
    assert epochs == sorted(epochs), "the fine-tune's records continue the curves, not a new run over them"
    texts = page.evaluate("() => window.__statusTexts")
    assert texts.index(next(t for t in texts if "fine-tuning" in t or "running" in t)) < texts.index("finished")

    # the previewed masks were applied and held: the slider starts again from 0 on top of them
    expect(page.locator("#prune-slider [role=slider]")).to_have_attribute("aria-valuenow", "0")
    expect(page.locator("#prune-summary")).to_contain_text("(0% pruned)", timeout=STEP_TIMEOUT)
    kept, designed = model_connections(page)
    assert designed == 84 and abs(kept - 0.7 * 84) <= 1, (kept, designed)
    wait_pruned_on_canvas(page, kept, designed)


def test_apply_then_preview_prunes_the_remaining_weights_not_a_stacked_preview(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    slider_to(page, 10)  # preview 50%
    expect(page.locator("#count-model")).to_contain_text("/84 connections", timeout=STEP_TIMEOUT)
    kept, designed = model_connections(page)
    assert designed == 84 and abs(kept - 42) <= 1
    wait_pruned_on_canvas(page, kept, designed)

    page.click("#prune-apply")
    handle = page.locator("#prune-slider [role=slider]")
    expect(handle).to_have_attribute("aria-valuenow", "0", timeout=STEP_TIMEOUT)
    expect(page.locator("#prune-value")).to_contain_text("prune 0.0%", timeout=STEP_TIMEOUT)
    expect(page.locator("#prune-summary")).to_contain_text(f"{kept}/{kept} connections (0% pruned)")
    assert model_connections(page) == (kept, designed)
    wait_pruned_on_canvas(page, kept, designed)  # what was applied, not more
    assert edge_codes(page).count("-") == designed - kept

    slider_to(page, 10)  # 50% again: half of the remaining weights
    expect(page.locator("#prune-summary")).not_to_contain_text("(0% pruned)", timeout=STEP_TIMEOUT)
    page.wait_for_function(
        f"() => !document.getElementById('count-model').innerText.includes(' {kept}/{designed} ')",
        timeout=STEP_TIMEOUT,
    )
    again, designed_again = model_connections(page)
    assert designed_again == designed
    assert abs(again - kept / 2) <= 1, f"50% of the remaining {kept} should leave about {kept / 2}, not {again}"
    wait_pruned_on_canvas(page, again, designed)
    expect(page.locator("#prune-summary")).to_contain_text(f"{again}/{kept} connections")


def test_apply_says_what_it_applied(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    slider_to(page, 10)
    expect(page.locator("#count-model")).to_contain_text("/84 connections", timeout=STEP_TIMEOUT)
    kept, _ = model_connections(page)
    page.click("#prune-apply")
    expect(page.locator("#prune-summary")).to_contain_text(f"{kept}/{kept} connections (0% pruned)")
    expect(page.locator("#prune-alert")).to_contain_text("Applied", timeout=5_000)


def test_the_preview_lands_on_its_own_edges_after_a_redraw_and_after_a_reload(page: Page, app_url: str) -> None:
    """Cytoscape keeps the edges a redraw leaves in place and appends the new ones, so its order is not
    the server's; the codes must still land on the edges they were computed for."""
    open_sample_page(page, app_url)
    generate(page, "Watts–Strogatz", 30, 3)  # a redraw over the sample's drawing: some edge ids stay
    page.click("#train-build")
    expect(page.locator("#count-model")).to_contain_text("34 neurons · 92 connections", timeout=STEP_TIMEOUT)
    slider_to(page, 12)  # preview 60%
    expect(page.locator("#count-model")).to_contain_text("/92 connections", timeout=STEP_TIMEOUT)
    kept, designed = model_connections(page)
    wait_pruned_on_canvas(page, kept, designed)
    served = served_codes_by_id(page)
    assert len(set(served.values()) - {"-"}) > 2, "too few kinds of code to tell a misplaced one"
    wait_codes(page, served)
    drawn = codes_by_id(page)
    marked, implied = dead_on_canvas(page)
    assert marked and marked == implied, "the dead vertices drawn are not those the drawn edges leave dead"
    # the redraw did leave Cytoscape's order unlike the server's: else this test would show nothing
    assert list(drawn) != list(served), "Cytoscape's edge order equals the server's: nothing to test"

    page.reload()
    open_app(page, app_url)
    expect(page.locator("#count-model")).to_contain_text(f"{kept}/{designed} connections", timeout=STEP_TIMEOUT)
    wait_codes(page, drawn)
    assert served_codes_by_id(page) == served, "the server sent other codes after the reload"
    assert dead_on_canvas(page) == (marked, implied)
