"""Training from the bar: Start builds and trains, Pause/Resume/Stop work and the header's status follows;
a run that fails (NaN loss) or does not learn says so."""

from __future__ import annotations

import re

import networkx as nx
import pytest
from playwright.sync_api import Page, expect

from .helpers import (
    STEP_TIMEOUT,
    choose,
    curve_epochs,
    figure_data,
    fill_number,
    open_app,
    open_sample_page,
    wait_curve,
)

pytestmark = pytest.mark.browser

#: A long run, stopped by the test long before it would end.
LONG_RUN = 300


def upload_graph(page: Page, graph: nx.DiGraph, name: str = "chain.json") -> None:
    from workbench import io as wbio

    data = wbio.graph_to_bytes(graph, "json")
    page.set_input_files(
        "#design-upload input[type=file]", files=[{"name": name, "mimeType": "application/json", "buffer": data}]
    )
    expect(page.locator("#design-alert")).to_contain_text(f"Loaded {name}", timeout=STEP_TIMEOUT)


def test_start_trains_a_generated_design_until_the_loss_falls_and_pause_resume_stop_work(
    page: Page, app_url: str
) -> None:
    open_app(page, app_url)
    page.fill("#design-seed", "5")
    page.press("#design-seed", "Enter")
    page.click("#design-generate")
    expect(page.locator("#design-alert")).to_contain_text("Generated", timeout=STEP_TIMEOUT)
    expect(page.locator("#design-hint")).to_contain_text("Build", timeout=STEP_TIMEOUT)  # the model is the sample's
    fill_number(page, "train-epochs", LONG_RUN)
    page.click("#train-start")  # builds the design's network first, then trains it
    pill = page.locator("#status-pill")
    try:
        expect(pill).to_contain_text(re.compile("training|queued"), timeout=STEP_TIMEOUT)
        expect(pill).to_have_class(re.compile("status-running|status-paused"))
        wait_curve(page, "d[0].y.length >= 4 && d[0].y[d[0].y.length - 1] < d[0].y[0]", timeout=240_000)
        assert max(curve_epochs(page)) < 20, "the curves are the new model's, not the sample's continued"
        expect(page.locator("#design-hint")).not_to_contain_text("Build")  # the model is the design's now

        page.click("#train-pause")
        expect(pill).to_contain_text("paused", timeout=STEP_TIMEOUT)
        expect(page.locator("#train-pause")).to_contain_text("Resume")
        points = len(curve_epochs(page))

        page.click("#train-pause")
        expect(pill).not_to_contain_text("paused", timeout=STEP_TIMEOUT)
        expect(pill).to_contain_text("training")
        expect(page.locator("#train-pause")).to_contain_text("Pause")
        wait_curve(page, f"d[0].x.length > {points}", timeout=180_000)  # it goes on
    finally:
        page.click("#train-stop")
    expect(pill).to_have_text("stopped", timeout=STEP_TIMEOUT)
    expect(page.locator("#train-alert")).to_contain_text("Stopped at epoch", timeout=STEP_TIMEOUT)
    assert max(curve_epochs(page)) < LONG_RUN


def test_a_nan_loss_stops_training_with_a_message_and_keeps_design_and_model(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    design, model = page.inner_text("#count-design"), page.inner_text("#count-model")
    points = len(curve_epochs(page))
    choose(page, "train-optimizer", "SGD")
    fill_number(page, "train-lr", 10)  # the largest the form allows: SGD diverges within a few steps
    page.wait_for_load_state("networkidle")
    page.click("#train-start")
    expect(page.locator("#status-pill")).to_have_text("failed", timeout=180_000)
    alert = page.locator("#train-alert .alert-error")
    expect(alert).to_contain_text("NaN", timeout=STEP_TIMEOUT)
    expect(alert).to_contain_text("model are kept")
    assert page.inner_text("#count-design") == design
    assert page.inner_text("#count-model") == model
    assert len(curve_epochs(page)) >= points  # the curves are kept too
    expect(page.locator("#train-start")).to_be_enabled()


#: Records every text #train-alert shows (a warning may come and go between two looks of the test).
RECORD_ALERTS = """() => {
  const alert = document.getElementById('train-alert');
  window.__alertTexts = [];
  new MutationObserver(() => window.__alertTexts.push(alert.innerText))
    .observe(alert, {childList: true, characterData: true, subtree: true});
}"""


def test_the_not_learning_warning_shows_while_the_loss_is_flat_and_goes_when_it_falls(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    # a chain 0 -> 1 -> 2 at init seed 0 and learning rate 0.002 sits at chance (loss 0.693, 50%) until about
    # epoch 34 and falls below 0.5 by about epoch 72 of 120 (measured through the app's own Workspace)
    upload_graph(page, nx.DiGraph([(0, 1), (1, 2)]))
    fill_number(page, "train-lr", 0.002)
    fill_number(page, "train-epochs", 120)
    page.wait_for_load_state("networkidle")
    page.evaluate(RECORD_ALERTS)
    page.click("#train-start")
    expect(page.locator("#train-alert")).to_contain_text("Training finished", timeout=300_000)
    losses = figure_data(page, "train-curves")[0]["y"]
    assert losses[-1] < 0.5, f"the run did not learn this time: {losses[-5:]}"

    texts = page.evaluate("() => window.__alertTexts")
    warned = [i for i, t in enumerate(texts) if "not learning" in t]
    assert warned, f"no not-learning warning while the loss sat at 0.693: {texts}"
    finished = next(i for i, t in enumerate(texts) if "Training finished" in t)
    between = texts[warned[-1] + 1 : finished]
    assert any("not learning" not in t for t in between), (
        f"the warning stayed up while the loss fell, until the run ended: {texts}"
    )
