"""Serve the real app from a thread and drive it with Debian's headless Chromium (pytest-playwright)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")


#: Shared CI machines can be slow; a check waits this long before it fails.
expect.set_options(timeout=30_000)


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    from workbench.app.server import CHROMIUM_ARGS

    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """Every page at 1280 x 720: the screen the app promises to fit on."""
    return {**browser_context_args, "viewport": {"width": 1280, "height": 720}, "accept_downloads": True}


@pytest.fixture(scope="session")
def app_url():
    """URL of a workbench app served by werkzeug in a daemon thread for the whole session."""
    import torch

    from workbench.app import create_app
    from workbench.app.server import serve_in_thread

    torch.set_num_threads(1)
    with serve_in_thread(create_app()) as url:
        yield url


@pytest.fixture(scope="session")
def base_url(app_url):
    """Overrides pytest-base-url's fixture (whose instance-method form warns under pytest 9)."""
    return app_url


@pytest.fixture
def new_page(browser, browser_context_args):
    """Open a page in a new browser context (a separate browser profile: no shared session storage).

    Returns a function ``new_page() -> Page``; every context it made is closed after the test.
    """
    contexts = []

    def make():
        context = browser.new_context(**browser_context_args)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
