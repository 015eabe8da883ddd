"""The ticket screen: a tiny lottery-ticket search runs, the header says so, its rounds can be chosen, and a
loaded round becomes the model of the main screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .helpers import STEP_TIMEOUT, edge_codes, fill_number, model_connections, open_sample_page, show_screen, wait_cy

pytestmark = pytest.mark.browser

RECORD_STATUS = """() => {
  const pill = document.getElementById('status-pill');
  window.__statusTexts = [pill.innerText];
  new MutationObserver(() => window.__statusTexts.push(pill.innerText))
    .observe(pill, {childList: true, characterData: true, subtree: true});
}"""


def test_a_tiny_ticket_search_runs_fills_the_rounds_and_a_loaded_round_reaches_the_main_screen(
    page: Page, app_url: str
) -> None:
    open_sample_page(page, app_url)
    assert model_connections(page) == (84, 84)
    show_screen(page, "ticket")
    fill_number(page, "ticket-rounds", 1)
    fill_number(page, "ticket-iterations", 60)
    page.wait_for_load_state("networkidle")
    page.evaluate(RECORD_STATUS)
    page.click("#ticket-start")
    expect(page.locator("#status-pill")).to_contain_text("ticket search", timeout=STEP_TIMEOUT)
    expect(page.locator("#ticket-progress")).to_contain_text("running")
    expect(page.locator("#ticket-alert")).to_contain_text("Done", timeout=300_000)
    expect(page.locator("#status-pill")).not_to_contain_text("ticket search", timeout=STEP_TIMEOUT)
    texts = page.evaluate("() => window.__statusTexts")
    assert any("ticket search" in t for t in texts), texts

    # the Round dropdown lists the dense round and round 1 (the ticket and its two controls)
    expect(page.locator("#ticket-round")).to_contain_text("round 1", timeout=STEP_TIMEOUT)
    page.click("#ticket-round")
    options = page.get_by_role("option", name=re.compile(r"^round \d"))
    expect(options).to_have_count(4)
    names = options.all_inner_texts()
    assert any(n.startswith("round 0") for n in names) and sum(n.startswith("round 1") for n in names) == 3, names

    # following the search, the main screen already holds the newest ticket: some connections are masked
    kept, designed = model_connections(page)
    assert designed == 84 and kept < 84

    page.get_by_role("option", name=re.compile(r"^round 0")).click()
    page.click("#ticket-load")
    expect(page.locator("#ticket-alert")).to_contain_text("Loaded", timeout=STEP_TIMEOUT)
    expect(page.locator("#count-model")).to_contain_text(" 84 connections", timeout=STEP_TIMEOUT)

    show_screen(page, "workbench")
    wait_cy(page, "cy.edges().every(e => e.data('m') !== '-')")
    assert "-" not in edge_codes(page)
    expect(page.locator("#prune-slider [role=slider]")).to_have_attribute("aria-valuenow", "0")
    expect(page.locator("#prune-summary")).to_contain_text("84/84 connections")
