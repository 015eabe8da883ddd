"""The "Find a ticket" tab in a real browser: a short run grows the plot, Prune follows, a chosen round loads."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from workbench.app import ids

from .helpers import figure_data, open_app, show_tab

pytestmark = pytest.mark.browser


def test_find_a_ticket_grows_the_plot_and_loads_a_round(page: Page, app_url: str) -> None:
    open_app(page, app_url)
    show_tab(page, "train")
    page.click(f"#{ids.BUILD}")
    expect(page.locator(f"#{ids.MODEL_INFO}")).to_contain_text("parameters")
    page.get_by_text("5 · Find a ticket", exact=True).click()
    page.fill(f"#{ids.TICKET_ROUNDS}", "2")
    page.fill(f"#{ids.TICKET_ITERATIONS}", "60")
    page.click(f"#{ids.TICKET_START}")
    expect(page.locator(f"#{ids.TICKET_PROGRESS}")).to_contain_text("finished", timeout=120_000)
    expect(page.locator(f"#{ids.TICKET_ALERT}")).to_contain_text("Done: 7 networks trained.")
    traces = figure_data(page, ids.TICKET_ACC_FIG)
    assert [len(t["x"]) for t in traces] == [3, 3, 3]  # the dense round and two rounds, ticket and both controls
    assert traces[0]["x"][0] == 100 and traces[0]["x"][1] == traces[1]["x"][1] == traces[2]["x"][1] < 100
    show_tab(page, "train")  # "follow" made the newest ticket round the workspace model
    expect(page.locator(f"#{ids.MODEL_INFO}")).to_contain_text("lottery round 2 (ticket")
    page.get_by_text("5 · Find a ticket", exact=True).click()
    page.click(f"#{ids.TICKET_ROUND}")
    page.get_by_role("option", name=re.compile(r"^round 1 · winning ticket")).click()
    page.click(f"#{ids.TICKET_LOAD}")
    expect(page.locator(f"#{ids.TICKET_ALERT}")).to_contain_text("Loaded lottery round 1 (ticket, ")
    show_tab(page, "prune")
    expect(page.locator(f"#{ids.PRUNE_SUMMARY}")).to_contain_text("parameters remain")
