"""The core loop on one screen at 1280 x 720: the graph, the curves and the pruning slider together, and
the slider restyling the graph where it stands."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .helpers import (
    STEP_TIMEOUT,
    edge_codes,
    figure_data,
    generate,
    in_viewport,
    model_connections,
    open_sample_page,
    show_screen,
    slider_to,
    wait_cy,
)

pytestmark = pytest.mark.browser

#: What the first screen must show without scrolling.
ONE_SCREEN = {
    "the graph canvas": "#design-canvas",
    "the training curves": "#train-curves",
    "the pruning slider's handle": "#prune-slider [role=slider]",
    "the Start button": "#train-start",
    "the model's output": "#train-boundary",
}


def test_the_first_screen_shows_graph_curves_and_slider_without_scrolling(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    outside = {}
    for what, selector in ONE_SCREEN.items():
        inside, box = in_viewport(page, selector)
        if not inside:
            outside[what] = box
    assert not outside, f"not inside the 1280x720 viewport: {outside}"
    assert page.evaluate("() => document.documentElement.scrollHeight <= window.innerHeight"), "the page scrolls"
    assert page.evaluate("() => [window.scrollX, window.scrollY]") == [0, 0]
    # the sample's curves are drawn: train loss, train accuracy, test accuracy, over its 20 epochs
    traces = figure_data(page, "train-curves")
    assert len(traces) == 3
    assert all(len(t["x"]) >= 20 for t in traces), [len(t["x"]) for t in traces]
    assert traces[0]["y"][-1] < traces[0]["y"][0], "the sample's loss fell while it trained"
    # and the graph is the sample's: 30 designed vertices plus 2 inputs and 2 outputs, every edge coded
    assert page.inner_text("#count-design").startswith("30 vertices · 60 edges")
    codes = edge_codes(page)
    assert len(codes) == 84 and "-" not in codes and "." not in codes, codes


def test_the_first_screen_does_not_scroll_sideways(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
             .filter(e => { const r = e.getBoundingClientRect();
                            return r.width > 0 && r.right > window.innerWidth + 0.5; })
             .map(e => `${e.tagName.toLowerCase()}.${String(e.className).split(' ')[0]}`
                       + ` in #${(e.closest('[id]') || {}).id} right=${Math.round(e.getBoundingClientRect().right)}`)"""
    )
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280, wide


def test_the_training_bar_labels_do_not_overlap(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('.settings-row .field-label')].map(l => {
             const r = document.createRange(); r.selectNodeContents(l); const b = r.getBoundingClientRect();
             return {text: l.innerText, left: b.left, right: b.right, top: b.top, bottom: b.bottom}; })"""
    )
    assert len(boxes) >= 8
    overlaps = [
        (a["text"], b["text"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]
    ]
    assert not overlaps, overlaps


def test_the_slider_restyles_the_graph_counts_and_density_on_the_same_screen(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    assert model_connections(page) == (84, 84)
    page.locator("#detail-tabs").get_by_text("Connections", exact=True).click()
    page.wait_for_function(
        "() => { const g = document.querySelector('#prune-density .js-plotly-plot');"
        " return g && g.data && g.data.length; }",
        timeout=STEP_TIMEOUT,
    )
    kept_before = sum(figure_data(page, "prune-density")[0]["x"])
    assert kept_before == 84

    slider_to(page, 6)  # 30% of the weights
    wait_cy(page, "cy.edges().some(e => e.data('m') === '-')")
    expect(page.locator("#count-model")).to_contain_text("/84 connections", timeout=STEP_TIMEOUT)
    page.wait_for_function(
        "(before) => { const g = document.querySelector('#prune-density .js-plotly-plot');"
        " return g && g.data && Array.from(g.data[0].x).reduce((a, b) => a + b, 0) < before; }",
        arg=kept_before,
        timeout=STEP_TIMEOUT,
    )
    kept, designed = model_connections(page)
    pruned_on_canvas = edge_codes(page).count("-")
    assert designed == 84 and 0 < kept < 84
    assert pruned_on_canvas == designed - kept, "the canvas and the header disagree on what is pruned"
    assert sum(figure_data(page, "prune-density")[0]["x"]) == kept, "the density plot disagrees with the header"
    assert abs(pruned_on_canvas - 0.3 * 84) <= 1
    # the canvas, the slider and the plots are all on the screen at once: nothing was scrolled or switched
    assert page.evaluate("() => [window.scrollX, window.scrollY]") == [0, 0]
    assert page.locator("#design-canvas").is_visible() and page.locator("#prune-density").is_visible()

    slider_to(page, 0)  # back to 0: every edge is restored
    wait_cy(page, "cy.edges().every(e => e.data('m') !== '-')")
    expect(page.locator("#count-model")).to_contain_text(" 84 connections", timeout=STEP_TIMEOUT)
    page.wait_for_function(
        "() => { const g = document.querySelector('#prune-density .js-plotly-plot');"
        " return g && g.data && Array.from(g.data[0].x).reduce((a, b) => a + b, 0) === 84; }",
        timeout=STEP_TIMEOUT,
    )
    assert "-" not in edge_codes(page)


def test_good_news_fades_gives_up_its_space_and_stays_away_across_screens(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    # the same fade, sooner: the page's 8 s before an alert fades is a style, the mechanism is what is tested
    page.add_style_tag(content=".alert-success, .alert-info { animation-delay: 0.5s !important; }")
    generate(page, "Watts–Strogatz", 30, 3)
    first = page.locator("#design-alert .alert")
    expect(first).to_have_class(re.compile(r"\bfaded\b"), timeout=STEP_TIMEOUT)
    expect(first).to_be_hidden()
    assert page.locator("#design-alert").bounding_box()["height"] == 0, "a faded alert still takes its space"

    show_screen(page, "inspect")
    show_screen(page, "workbench")
    page.wait_for_timeout(300)  # a restarted animation would show the alert at once
    expect(first).to_be_hidden()

    # the next message in its place is a new element: shown (its fade starts afresh, slowed down here)
    page.add_style_tag(content=".alert-success, .alert-info { animation-delay: 60s !important; }")
    generate(page, "Watts–Strogatz", 20, 4)
    fresh = page.locator("#design-alert .alert", has_text="20 vertices")
    expect(fresh).to_be_visible()
    assert "faded" not in (fresh.get_attribute("class") or "")
