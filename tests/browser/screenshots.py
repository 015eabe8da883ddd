"""Take the README's screenshots from the real app: ``python -m tests.browser.screenshots [OUT_DIR]``.

Serves the app in a thread and drives it in headless Chromium at 1280 x 720, saving (default
``docs/screenshots/``):

* ``workbench.png``: the first screen, on the sample model;
* ``prune.png``: the pruning slider at 40% on the main screen, its preview on the graph;
* ``train.png``: a freshly generated design trained for a few epochs;
* ``inspect.png``: the Inspect screen with a tapped vertex;
* ``ticket.png``: the ticket screen after a tiny lottery-ticket search.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from .helpers import (
    STEP_TIMEOUT,
    fill_number,
    open_sample_page,
    show_screen,
    slider_to,
    tap,
    wait_curve,
    wait_cy,
)

VIEWPORT = {"width": 1280, "height": 720}


def settle(page: Page) -> None:
    """Wait until no request is under way and two frames have been drawn; move the pointer off the plots."""
    page.mouse.move(VIEWPORT["width"] - 2, VIEWPORT["height"] - 2)
    page.wait_for_load_state("networkidle")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def shoot(page: Page, out: Path, name: str) -> None:
    settle(page)
    page.screenshot(path=str(out / name))
    print(f"wrote {out / name}")


def main(out: Path) -> None:
    import torch

    from workbench.app import create_app
    from workbench.app.server import CHROMIUM_ARGS, serve_in_thread

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    with serve_in_thread(create_app()) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        open_sample_page(page, url)
        shoot(page, out, "workbench.png")

        slider_to(page, 8)  # 40%
        wait_cy(page, "cy.edges().some(e => e.data('m') === '-')")
        expect(page.locator("#count-model")).to_contain_text("/", timeout=STEP_TIMEOUT)
        shoot(page, out, "prune.png")
        slider_to(page, 0)

        fill_number(page, "design-seed", 1)
        page.click("#design-generate")
        expect(page.locator("#design-alert")).to_contain_text("Generated", timeout=STEP_TIMEOUT)
        fill_number(page, "train-epochs", 12)
        page.click("#train-start")
        expect(page.locator("#train-alert")).to_contain_text("Training finished", timeout=600_000)
        wait_curve(page, "Math.max(...d[0].x) >= 12")
        expect(page.locator("#prune-summary")).to_contain_text("connections", timeout=STEP_TIMEOUT)
        shoot(page, out, "train.png")

        show_screen(page, "inspect")
        expect(page.locator("#inspect-counts")).to_contain_text("connections", timeout=STEP_TIMEOUT)
        wait_cy(page, "cy.nodes().length > 0 && cy.width() > 0", view="inspect-extracted")
        page.evaluate("() => window.dispatchEvent(new Event('resize'))")  # see tests/browser/test_inspect.py
        vertex = page.evaluate(
            "() => { const cy = window.workbench.cy('inspect-extracted');"
            " const inner = cy.nodes().filter(n => /^\\d+$/.test(n.id()) && n.indegree() > 1);"
            " return inner[Math.floor(inner.length / 2)].id(); }"
        )
        tap(page, vertex, view="inspect-extracted")
        expect(page.locator("#inspect-vertex")).to_contain_text("in-degree", timeout=STEP_TIMEOUT)
        wait_cy(page, "cy.nodes('.tapped').length === 1", view="inspect-extracted")
        shoot(page, out, "inspect.png")

        show_screen(page, "ticket")
        fill_number(page, "ticket-rounds", 2)
        fill_number(page, "ticket-iterations", 150)
        page.wait_for_load_state("networkidle")
        page.click("#ticket-start")
        expect(page.locator("#ticket-alert")).to_contain_text("Done", timeout=600_000)
        expect(page.locator("#ticket-round")).to_contain_text("round", timeout=STEP_TIMEOUT)
        shoot(page, out, "ticket.png")
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
