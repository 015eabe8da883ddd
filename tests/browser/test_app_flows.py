"""The workbench in a real browser: draw, refuse a cycle, build, train, prune, inspect, upload, two sessions."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .helpers import count, figure_data, nodes, open_app, show_tab, tap, wait_for_vertices

pytestmark = pytest.mark.browser


def connect(page: Page, source: str, target: str) -> None:
    """Tap ``source``, wait until the page says it is armed, then tap ``target``."""
    tap(page, source)
    expect(page.locator("#design-hint")).to_contain_text(f"Connecting from {source}")
    tap(page, target)
    expect(page.locator("#design-hint")).not_to_contain_text(f"Connecting from {source}")


def draw_chain(page: Page) -> None:
    """Clear the canvas, add vertices 0, 1, 2 and connect 0 -> 1 -> 2 by tapping."""
    page.click("#design-clear")
    expect(page.locator("#count-vertices")).to_have_text("0")
    for n in range(1, 4):
        page.click("#design-add-vertex")
        expect(page.locator("#count-vertices")).to_have_text(str(n))
    connect(page, "0", "1")
    expect(page.locator("#count-edges")).to_have_text("1")
    connect(page, "1", "2")
    expect(page.locator("#count-edges")).to_have_text("2")
    expect(page.locator("#count-depth")).to_have_text("3")


def test_draw_a_dag_by_clicking_and_refuse_a_cycle(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    draw_chain(page)
    connect(page, "2", "0")
    alert = page.locator("#design-alert .alert-error")
    expect(alert).to_contain_text("cycle")
    expect(alert).to_contain_text("2 -> 0 -> 1 -> 2")
    assert count(page, "edges") == 2  # the graph stays as it was
    page.click("#design-undo")
    expect(page.locator("#count-edges")).to_have_text("1")
    page.click("#design-redo")
    expect(page.locator("#count-edges")).to_have_text("2")


def test_build_the_drawn_graph_and_train_until_the_loss_falls(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    draw_chain(page)
    show_tab(page, "train")
    page.click("#train-build")
    expect(page.locator("#train-alert")).to_contain_text("Built the DAN of the drawn graph (3 vertices)")
    page.fill("#train-epochs", "40")
    page.click("#train-start")
    expect(page.locator("#status-pill")).to_contain_text("running", timeout=15_000)
    page.wait_for_function(
        "() => { const g = document.querySelector('#train-loss .js-plotly-plot');"
        " const y = g && g.data && g.data[0].y; return y && y.length >= 4 && y[y.length - 1] < y[0]; }",
        timeout=90_000,
    )
    loss = figure_data(page, "train-loss")[0]["y"]
    assert loss[-1] < loss[0]
    accuracy = figure_data(page, "train-accuracy")
    assert len(accuracy[1]["y"]) >= 1  # test accuracy is drawn beside the train accuracy
    page.click("#train-stop")
    expect(page.locator("#status-pill")).not_to_contain_text("running", timeout=15_000)


def test_slider_previews_density_and_the_extracted_graph(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    show_tab(page, "prune")
    expect(page.locator("#prune-summary")).to_contain_text("parameters remain", timeout=20_000)
    before = figure_data(page, "prune-density")[0]["x"]  # kept connections per layer
    assert sum(before) > 0
    handle = page.locator("#prune-slider [role=slider]")
    handle.focus()
    page.keyboard.press("End")
    page.keyboard.press("PageDown")
    expect(page.locator("#prune-summary")).not_to_contain_text(" 0 of ", timeout=20_000)
    page.wait_for_function(
        "(before) => { const g = document.querySelector('#prune-density .js-plotly-plot');"
        " const x = g && g.data && Array.from(g.data[0].x); return x && x.reduce((a, b) => a + b, 0) < before; }",
        arg=sum(before),
        timeout=20_000,
    )
    show_tab(page, "inspect")
    expect(page.locator("#inspect-source")).to_contain_text("previewed masks", timeout=30_000)
    rows = page.locator("#inspect-counts tbody tr")
    expect(rows.nth(1)).to_be_visible()
    edges = rows.nth(1).locator("td")
    design_edges = int(edges.nth(1).inner_text().replace(",", ""))
    extracted_edges = int(edges.nth(2).inner_text().replace(",", ""))
    assert extracted_edges < design_edges
    dead = int(rows.nth(3).locator("td").nth(2).inner_text().replace(",", ""))
    assert dead > 0  # at a high threshold some vertices lose every path


def test_malformed_upload_shows_a_message_and_changes_nothing(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    vertices, edges = count(page, "vertices"), count(page, "edges")
    page.set_input_files(
        "#design-upload input[type=file]",
        files=[{"name": "broken.json", "mimeType": "application/json", "buffer": b'{"nodes": [1, 2'}],
    )
    alert = page.locator("#design-alert .alert-error")
    expect(alert).to_contain_text("broken.json")
    assert (count(page, "vertices"), count(page, "edges")) == (vertices, edges)


def test_two_browser_contexts_keep_separate_sessions(browser, app_url: str) -> None:
    first, second = browser.new_context(), browser.new_context()
    try:
        a, b = first.new_page(), second.new_page()
        open_app(a, app_url)
        open_app(b, app_url)
        original = count(b, "vertices")
        assert original > 0
        a.click("#design-clear")
        expect(a.locator("#count-vertices")).to_have_text("0")
        a.click("#design-add-vertex")
        expect(a.locator("#count-vertices")).to_have_text("1")
        b.click("#design-add-vertex")
        expect(b.locator("#count-vertices")).to_have_text(f"{original + 1:,}")
        expect(a.locator("#count-vertices")).to_have_text("1")
    finally:
        first.close()
        second.close()


def menu(page: Page, node_id: str, item: str) -> None:
    """Right-click a vertex and choose ``item`` from the canvas's context menu."""
    x, y = nodes(page)[node_id]
    page.mouse.click(x, y, button="right")
    page.locator(".cy-context-menus-cxt-menuitem", has_text=item).first.click()


def test_context_menu_and_keyboard_edit_the_graph(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    page.click("#design-clear")
    for n in range(1, 4):
        page.click("#design-add-vertex")
        expect(page.locator("#count-vertices")).to_have_text(str(n))
    page.wait_for_function("() => document.querySelectorAll('#design-canvas canvas').length > 0")
    tap(page, "0")  # make sure the vertices are drawn, then cancel with Esc
    expect(page.locator("#design-hint")).to_contain_text("Connecting from 0")
    page.keyboard.press("Escape")
    expect(page.locator("#design-hint")).to_have_text("")
    menu(page, "0", "Connect from here")
    expect(page.locator("#design-hint")).to_contain_text("Connecting from 0")
    menu(page, "2", "Connect to here")
    expect(page.locator("#count-edges")).to_have_text("1")
    menu(page, "1", "Delete")
    expect(page.locator("#count-vertices")).to_have_text("2")
    tap(page, "2")  # selects it (Cytoscape reports the selection after a short debounce)
    expect(page.locator("#design-hint")).to_contain_text("Connecting from 2")
    page.wait_for_timeout(500)
    page.keyboard.press("Delete")
    expect(page.locator("#count-vertices")).to_have_text("1")
    expect(page.locator("#count-edges")).to_have_text("0")
    page.keyboard.press("Control+z")
    expect(page.locator("#count-vertices")).to_have_text("2")
    expect(page.locator("#count-edges")).to_have_text("1")


def test_a_nan_loss_stops_training_with_a_message_and_keeps_the_graph(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    vertices, edges = count(page, "vertices"), count(page, "edges")
    show_tab(page, "train")
    expect(page.locator("#train-model-info")).to_contain_text("trainable parameters")
    page.fill("#train-lr", "1e30")
    page.click("#train-start")
    alert = page.locator("#train-alert .alert-error")
    expect(alert).to_contain_text("NaN")
    expect(alert).to_contain_text("The graph and the model are kept")
    expect(page.locator("#status-pill")).to_contain_text("failed")
    expect(page.locator("#train-model-info")).to_contain_text("trainable parameters")
    assert (count(page, "vertices"), count(page, "edges")) == (vertices, edges)


def test_downloads_from_the_inspect_panel(page: Page, app_url: str, tmp_path) -> None:
    from workbench import io as wbio

    open_app(page, app_url)
    vertices = count(page, "vertices")
    show_tab(page, "inspect")
    expect(page.locator("#inspect-source")).to_contain_text("Showing")
    files = {}
    for button, name in [
        ("#dl-design-json", "design.json"),
        ("#dl-extracted-graphml", "extracted.graphml"),
        ("#dl-checkpoint", "model.pt"),
    ]:
        with page.expect_download() as info:
            page.click(button)
        download = info.value
        assert download.suggested_filename == name
        files[name] = tmp_path / name
        download.save_as(files[name])
    assert wbio.load_graph(files["design.json"]).number_of_nodes() == vertices
    extracted = wbio.load_graph(files["extracted.graphml"])
    assert extracted.number_of_nodes() > vertices  # inputs and outputs too
    assert all("weight" in data for _, _, data in extracted.edges(data=True))
    model, extra = wbio.load_checkpoint(files["model.pt"])
    assert extra["dataset"] and sum(p.numel() for p in model.parameters()) > 0


def test_the_inspect_panel_shows_the_sample_cnn_at_module_and_channel_level(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    vertices = count(page, "vertices")
    show_tab(page, "inspect")
    expect(page.locator("#inspect-source")).to_contain_text("Showing the model's masks")
    page.locator("#inspect-granularity").get_by_text("module", exact=True).click()
    page.click("#inspect-model")
    page.get_by_text("sample CNN small_cnn", exact=False).first.click()
    expect(page.locator("#inspect-source")).to_contain_text("sample CNN small_cnn")
    expect(page.locator("#inspect-source")).to_contain_text("at module level")
    vertices_row = page.locator("#inspect-counts tbody tr").first.locator("td")
    expect(vertices_row.nth(1)).to_have_text("6")  # input, 2 convs, 2 pools (with their ReLUs), linear
    page.locator("#inspect-granularity").get_by_text("channel", exact=True).click()
    expect(page.locator("#inspect-source")).to_contain_text("at channel level")
    expect(vertices_row.nth(1)).to_have_text("59")
    expect(vertices_row.nth(2)).to_have_text("59")  # no masks: the extracted graph is the design
    show_tab(page, "design")  # the Design panel keeps the user's graph
    assert count(page, "vertices") == vertices


def test_a_reload_keeps_the_graph_the_model_and_the_curves(browser, app_url: str) -> None:
    context, other = browser.new_context(), browser.new_context()
    try:
        page = context.new_page()
        open_app(page, app_url)
        draw_chain(page)
        show_tab(page, "train")
        page.click("#train-build")
        expect(page.locator("#train-alert")).to_contain_text("Built the DAN of the drawn graph (3 vertices)")
        page.fill("#train-epochs", "2")
        page.click("#train-start")
        expect(page.locator("#train-alert")).to_contain_text("Training finished", timeout=60_000)
        points = len(figure_data(page, "train-loss")[0]["y"])
        assert points >= 2
        page.reload()
        open_app(page, page.url)
        expect(page.locator("#count-vertices")).to_have_text("3")
        expect(page.locator("#count-edges")).to_have_text("2")
        connect(page, "0", "2")  # taps work after the reload (the page's clock starts again)
        expect(page.locator("#count-edges")).to_have_text("3")
        show_tab(page, "train")
        expect(page.locator("#train-model-info")).to_contain_text("DAN of the drawn graph (3 vertices)")
        assert len(figure_data(page, "train-loss")[0]["y"]) == points
        fresh = other.new_page()  # another browser context still gets a session of its own
        open_app(fresh, app_url)
        expect(fresh.locator("#count-vertices")).not_to_have_text("3")
    finally:
        context.close()
        other.close()


def test_a_large_design_shows_a_picture_first_and_the_canvas_on_request(page: Page, app_url: str) -> None:
    import networkx as nx

    from workbench import io as wbio

    graph = nx.DiGraph((u, v) for u, v in nx.gnm_random_graph(500, 4000, seed=1).edges if u < v)
    graph.add_nodes_from(range(500))
    open_app(page, app_url)
    page.set_input_files(
        "#design-upload input[type=file]",
        files=[{"name": "large.json", "mimeType": "application/json", "buffer": wbio.graph_to_bytes(graph, "json")}],
    )
    box = page.locator("#design-overview-box")
    expect(box).to_have_css("visibility", "visible", timeout=20_000)
    expect(page.locator("#design-overview-box-text")).to_contain_text("500 vertices")
    page.wait_for_function("() => { const i = document.getElementById('design-overview'); return i.naturalWidth > 0; }")
    assert nodes(page) == {}, "the canvas stays empty until it is asked for"
    assert count(page, "vertices") == 500

    page.click("#design-open-canvas")
    expect(box).to_have_css("visibility", "hidden", timeout=20_000)
    wait_for_vertices(page, 500)
