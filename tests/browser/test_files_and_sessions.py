"""Share links, session files, downloads, uploads, and sessions: one per browser tab, kept over a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .helpers import (
    LOAD_TIMEOUT,
    STEP_TIMEOUT,
    choose,
    curve_epochs,
    cy_eval,
    design_counts,
    design_text,
    fill_number,
    model_connections,
    open_app,
    open_sample_page,
    show_screen,
    slider_to,
    wait_curve,
)

pytestmark = pytest.mark.browser

#: The canvas's designed edges (inputs and outputs left out), as a sorted list of ids.
DESIGN_EDGE_IDS = (
    "cy.edges().filter(e => /^\\d+$/.test(e.source().id()) && /^\\d+$/.test(e.target().id())).map(e => e.id()).sort()"
)


def generate(page: Page, seed: int) -> None:
    """Generate the default Watts–Strogatz design with ``seed`` and wait until the canvas draws it."""
    before = cy_eval(page, DESIGN_EDGE_IDS)
    fill_number(page, "design-seed", seed)
    page.click("#design-generate")
    expect(page.locator("#design-alert")).to_contain_text("Generated", timeout=STEP_TIMEOUT)
    page.wait_for_function(
        f"(before) => {{ const cy = window.workbench.cy('design-canvas'); return cy && "
        f"JSON.stringify({DESIGN_EDGE_IDS}) !== JSON.stringify(before); }}",
        arg=before,
        timeout=STEP_TIMEOUT,
    )


def upload(page: Page, name: str, data: bytes, mime: str = "application/octet-stream") -> None:
    page.set_input_files("#design-upload input[type=file]", files=[{"name": name, "mimeType": mime, "buffer": data}])


def test_a_share_link_restores_design_seed_and_settings_in_a_fresh_browser(page: Page, app_url: str, new_page) -> None:
    open_sample_page(page, app_url)
    generate(page, 5)
    choose(page, "train-activation", "tanh")
    fill_number(page, "train-lr", 0.03)
    page.wait_for_load_state("networkidle")  # the settings have reached the session
    page.click("#share")
    link_box = page.locator("#share-link")
    expect(link_box).to_have_value(re.compile(r"#.*seed=5"), timeout=STEP_TIMEOUT)
    link = link_box.input_value()
    assert "act=tanh" in link and "lr=0.03" in link, link
    counts = page.inner_text("#count-design")
    edges = cy_eval(page, DESIGN_EDGE_IDS)

    fresh = new_page()
    fresh.set_default_timeout(STEP_TIMEOUT)
    fresh.goto(link)
    expect(fresh.locator("#page-notice")).to_contain_text("shared design", timeout=LOAD_TIMEOUT)
    expect(fresh.locator("#count-design")).to_have_text(counts, timeout=STEP_TIMEOUT)
    expect(fresh.locator("#train-activation")).to_contain_text("tanh")
    expect(fresh.locator("#train-lr")).to_have_value("0.03")
    expect(fresh.locator("#design-seed")).to_have_value("5")
    fresh.wait_for_function(
        f"(edges) => {{ const cy = window.workbench.cy('design-canvas'); return cy && "
        f"JSON.stringify({DESIGN_EDGE_IDS}) === JSON.stringify(edges); }}",
        arg=edges,
        timeout=STEP_TIMEOUT,
    )
    expect(fresh.locator("#count-model")).not_to_have_text("no model yet")  # the link's design was built


def test_a_malformed_upload_is_refused_with_a_message_and_changes_nothing(page: Page, app_url: str) -> None:
    open_sample_page(page, app_url)
    design, model = page.inner_text("#count-design"), page.inner_text("#count-model")
    edges = cy_eval(page, DESIGN_EDGE_IDS)
    upload(page, "broken.json", b'{"nodes": [1, 2', "application/json")
    alert = page.locator("#design-alert .alert-error")
    expect(alert).to_contain_text("broken.json", timeout=STEP_TIMEOUT)
    expect(alert).to_contain_text("JSON")
    assert page.inner_text("#count-design") == design
    assert page.inner_text("#count-model") == model
    assert cy_eval(page, DESIGN_EDGE_IDS) == edges


def test_two_browser_contexts_have_separate_sessions(app_url: str, new_page) -> None:
    a, b = new_page(), new_page()
    open_app(a, app_url)
    open_app(b, app_url)
    original = design_counts(b)
    assert original[0] > 0
    a.click("#design-clear")
    expect(a.locator("#count-design")).to_contain_text(design_text(0), timeout=STEP_TIMEOUT)
    a.click("#design-add-vertex")
    expect(a.locator("#count-design")).to_contain_text(design_text(1), timeout=STEP_TIMEOUT)
    b.click("#design-add-vertex")
    expect(b.locator("#count-design")).to_contain_text(design_text(original[0] + 1), timeout=STEP_TIMEOUT)
    assert design_counts(b)[1] == original[1]
    expect(a.locator("#count-design")).to_contain_text(design_text(1))


def test_a_reload_reattaches_to_the_session_with_its_design_and_curves(page: Page, app_url: str, new_page) -> None:
    open_sample_page(page, app_url)
    generate(page, 5)
    fill_number(page, "train-epochs", 2)
    page.click("#train-start")
    expect(page.locator("#train-alert")).to_contain_text("Training finished", timeout=180_000)
    wait_curve(page, "d[0].x.length > 0 && Math.max(...d[0].x) === 2")
    design, model = page.inner_text("#count-design"), page.inner_text("#count-model")
    edges = cy_eval(page, DESIGN_EDGE_IDS)
    epochs = curve_epochs(page)

    page.reload()
    open_app(page, page.url)
    expect(page.locator("#count-design")).to_have_text(design, timeout=STEP_TIMEOUT)
    expect(page.locator("#count-model")).to_have_text(model, timeout=STEP_TIMEOUT)
    wait_curve(page, f"d[0].x.length === {len(epochs)}")
    assert curve_epochs(page) == epochs
    assert cy_eval(page, DESIGN_EDGE_IDS) == edges
    expect(page.locator("#train-run-line")).to_contain_text("epoch 2")

    other = new_page()  # another browser context still opens a session of its own, on the sample
    open_sample_page(other, app_url)
    assert other.inner_text("#count-design").startswith("30 vertices · 60 edges")
    assert cy_eval(other, DESIGN_EDGE_IDS) != edges


def test_downloads_arrive_with_names_that_say_what_they_hold(page: Page, app_url: str, tmp_path) -> None:
    import networkx as nx

    from workbench import io as wbio

    open_sample_page(page, app_url)
    slider_to(page, 10)  # a 50% preview, not applied
    expect(page.locator("#count-model")).to_contain_text("/84 connections", timeout=STEP_TIMEOUT)
    kept, _ = model_connections(page)
    show_screen(page, "inspect")
    expect(page.locator("#inspect-counts")).to_contain_text("connections", timeout=STEP_TIMEOUT)

    def download(button: str) -> tuple[str, object]:
        with page.expect_download(timeout=STEP_TIMEOUT) as info:
            page.click(f"#{button}")
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        return info.value.suggested_filename, path

    name, path = download("dl-design-graphml")
    assert name == "design.graphml"
    design = wbio.load_graph(path)
    assert (design.number_of_nodes(), design.number_of_edges()) == (30, 60)

    name, path = download("dl-extracted-json")
    assert name == "extracted-preview.json", "a download of the previewed masks must say so"
    extracted = wbio.load_graph(path)
    assert extracted.graph.get("masks") == "preview"
    assert extracted.number_of_edges() == kept  # the kept connections, inputs and outputs included
    assert all("weight" in data for _, _, data in extracted.edges(data=True))
    assert nx.is_directed_acyclic_graph(extracted)

    name, path = download("dl-checkpoint")
    assert name == "model.pt"
    model, extra = wbio.load_checkpoint(path)
    assert extra["dataset"] == "moons" and sum(p.numel() for p in model.parameters()) > 0

    show_screen(page, "workbench")
    page.click("#prune-apply")
    expect(page.locator("#prune-summary")).to_contain_text(f"{kept}/{kept} connections", timeout=STEP_TIMEOUT)
    show_screen(page, "inspect")
    name, path = download("dl-extracted-json")
    assert name == "extracted-applied.json"
    assert wbio.load_graph(path).graph.get("masks") == "applied"

    show_screen(page, "workbench")
    name, path = download("save-session")
    assert name.endswith(".wbsession")
    assert path.stat().st_size > 0


def test_a_saved_session_file_restores_design_model_masks_and_curves_in_a_fresh_browser(
    page: Page, app_url: str, new_page, tmp_path
) -> None:
    open_sample_page(page, app_url)
    page.click("#design-add-vertex")  # a design that differs from the sample a fresh browser opens on
    expect(page.locator("#count-design")).to_contain_text(design_text(31), timeout=STEP_TIMEOUT)
    slider_to(page, 10)
    expect(page.locator("#count-model")).to_contain_text("/84 connections", timeout=STEP_TIMEOUT)
    kept, _ = model_connections(page)
    page.click("#prune-apply")
    expect(page.locator("#prune-summary")).to_contain_text(f"{kept}/{kept} connections", timeout=STEP_TIMEOUT)
    design, model = page.inner_text("#count-design"), page.inner_text("#count-model")
    epochs = curve_epochs(page)
    with page.expect_download(timeout=STEP_TIMEOUT) as info:
        page.click("#save-session")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)

    fresh = new_page()
    open_sample_page(fresh, app_url)
    assert fresh.inner_text("#count-design") != design
    upload(fresh, path.name, path.read_bytes())
    expect(fresh.locator("#design-alert")).to_contain_text("Opened the session file", timeout=STEP_TIMEOUT)
    expect(fresh.locator("#count-design")).to_have_text(design, timeout=STEP_TIMEOUT)
    expect(fresh.locator("#count-model")).to_have_text(model, timeout=STEP_TIMEOUT)
    wait_curve(fresh, f"d[0].x.length === {len(epochs)}")
    assert curve_epochs(fresh) == epochs
    expect(fresh.locator("#prune-summary")).to_contain_text(f"{kept}/{kept} connections", timeout=STEP_TIMEOUT)
