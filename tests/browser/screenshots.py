"""Take the README's screenshots from the real app: ``python -m tests.browser.screenshots [OUT_DIR]``.

Serves the app in a thread, opens it in headless Chromium, trains the sample
on the moons data set, previews pruning, and saves one PNG per panel
(default ``docs/screenshots/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from .helpers import TABS, nodes, open_app, show_tab, tap


def main(out: Path) -> None:
    import torch

    from workbench.app import create_app
    from workbench.app.server import CHROMIUM_ARGS, serve_in_thread

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    with serve_in_thread(create_app()) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        open_app(page, url)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / "design.png"))

        show_tab(page, "train")
        page.click("#train-dataset")
        page.get_by_text("Moons (2-D)", exact=True).click()
        expect(page.locator("#train-dataset-info")).to_contain_text("points in the plane")
        page.click("#train-build")
        expect(page.locator("#train-alert")).to_contain_text("Built")
        page.fill("#train-epochs", "30")
        page.click("#train-start")
        expect(page.locator("#status-pill")).to_contain_text("finished", timeout=180_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / "train.png"), full_page=True)

        show_tab(page, "prune")
        page.get_by_text("percent of weights pruned").click()
        expect(page.locator("#prune-value")).to_contain_text("%")
        page.locator("#prune-slider [role=slider]").focus()
        for _ in range(6):
            page.keyboard.press("PageUp")
        page.wait_for_timeout(2500)
        page.screenshot(path=str(out / "prune.png"))

        show_tab(page, "inspect")
        expect(page.locator("#inspect-source")).to_contain_text("previewed", timeout=30_000)
        page.wait_for_timeout(2500)
        hidden = [v for v in nodes(page, "inspect-extracted") if not v.startswith("[")]
        tap(page, hidden[len(hidden) // 2], canvas="inspect-extracted")
        expect(page.locator("#inspect-vertex")).to_contain_text("in-degree")
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "inspect.png"), full_page=True)
        page.get_by_text("5 · Find a ticket", exact=True).click()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / "ticket.png"))
        page.get_by_text(TABS["design"], exact=True).click()
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
