"""A change of data set asks first when a trained model would go, then resets the model and the curves;
cancelling keeps everything."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .helpers import (
    STEP_TIMEOUT,
    choose,
    cy_eval,
    figure_data,
    figure_hints,
    fill_number,
    generate,
    open_sample_page,
    wait_curve,
    wait_cy,
)

pytestmark = pytest.mark.browser

CURVE_RANGES = (
    "() => { const l = document.querySelector('#train-curves .js-plotly-plot')._fullLayout;"
    " return [l.xaxis.range, l.yaxis.range]; }"
)


def test_switching_to_digits_asks_then_resets_model_curves_and_canvas(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    expect(page.locator("#count-model")).to_contain_text("34 neurons")  # 30 + 2 inputs + 2 outputs
    asked = []

    def accept(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    choose(page, "train-dataset", "Digits (8×8)", check=False)
    expect(page.locator("#count-model")).to_contain_text("104 neurons", timeout=STEP_TIMEOUT)  # 30 + 64 + 10
    assert len(asked) == 1 and "Digits" in asked[0] and "moons" in asked[0], asked
    expect(page.locator("#train-dataset")).to_contain_text("Digits (8×8)")
    expect(page.locator("#train-alert")).to_contain_text("Digits", timeout=STEP_TIMEOUT)

    # the curves start over: no points, and the hint is back
    page.wait_for_function(
        "() => { const g = document.querySelector('#train-curves .js-plotly-plot');"
        " return g && g.data && g.data.length === 3 && g.data.every(t => !t.x || t.x.length === 0); }",
        timeout=STEP_TIMEOUT,
    )
    assert all(len(t["x"]) == 0 for t in figure_data(page, "train-curves"))
    assert any("Start" in hint for hint in figure_hints(page, "train-curves")), figure_hints(page, "train-curves")
    expect(page.locator("#train-run-line")).to_contain_text("not trained yet")
    # and the axes the empty figure asks for, not the ones the old curves had autoranged to
    ranges = page.evaluate(CURVE_RANGES)
    assert ranges[1] == [0, 1], ranges
    assert ranges[0][0] == 0 and ranges[0][1] >= 1, ranges

    # the canvas draws the new inputs (one bundled vertex) and ten outputs
    wait_cy(page, "cy.nodes('.output').length === 10 && cy.nodes('.input').length === 1")
    assert cy_eval(page, "cy.nodes('.input').map(n => n.data('label'))") == ["64 inputs"]
    assert sorted(cy_eval(page, "cy.nodes('.output').map(n => n.data('label'))")) == [f"out {i}" for i in range(10)]
    assert page.inner_text("#count-design").startswith("30 vertices · 60 edges")  # the design is kept


def test_cancelling_the_data_set_change_keeps_moons_the_model_and_its_curves(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    model = page.inner_text("#count-model")
    points = len(figure_data(page, "train-curves")[0]["x"])
    asked = []

    def cancel(dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", cancel)
    choose(page, "train-dataset", "Digits (8×8)", check=False)
    expect(page.locator("#train-dataset")).to_contain_text("Moons (2-D)", timeout=STEP_TIMEOUT)
    assert len(asked) == 1, "the change was not asked about"
    assert page.inner_text("#count-model") == model
    assert len(figure_data(page, "train-curves")[0]["x"]) == points
    assert cy_eval(page, "cy.nodes('.input').length") == 2 and cy_eval(page, "cy.nodes('.output').length") == 2
    # the next Start trains the moons model on: the session's data set is still moons
    expect(page.locator("#train-run-line")).to_contain_text("epoch 20")


def test_after_a_run_a_data_set_change_resets_the_curves_axes(page: Page, app_url: str) -> None:
    """A run that began on the empty figure (fixed axes) and grew by appended points (autoranged axes) gives
    way, on a data set change, to the empty figure's axes again, not to the run's autoranged ones."""
    open_sample_page(page, app_url)
    generate(page, "Watts–Strogatz", 12, 3)
    fill_number(page, "train-epochs", 3)
    page.click("#train-start")  # builds the design's network: the curves start from the empty figure
    wait_curve(page, "d[0].x.length >= 2", timeout=120_000)
    expect(page.locator("#status-pill")).to_have_text("finished", timeout=120_000)
    grown = page.evaluate(CURVE_RANGES)
    assert grown[1] != [0, 1], grown  # autoranged to the points
    page.once("dialog", lambda dialog: dialog.accept())
    choose(page, "train-dataset", "Circles (2-D)", check=False)
    page.wait_for_function(
        "() => { const g = document.querySelector('#train-curves .js-plotly-plot');"
        " return g && g.data && g.data.every(t => !t.x || t.x.length === 0); }",
        timeout=STEP_TIMEOUT,
    )
    page.wait_for_timeout(500)  # the relayout after the new figure
    ranges = page.evaluate(CURVE_RANGES)
    assert ranges[1] == [0, 1], (grown, ranges)
    assert ranges[0] == [0, 3], (grown, ranges)
