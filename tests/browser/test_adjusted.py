"""The Compare page's adjusted comparison in Chromium on the demo clinic, fitted as the worker
would: its forest plot drawn beside the other charts, nothing wider than a phone, and
screenshots of the section at 390 and 1280 px."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from server.services.adjusted.store import refit_stale
from server.services.demo import load_demo
from tests.browser.conftest import OUTPUT, resize
from tests.browser.test_charts import sign_in
from tests.browser.test_pages import charts_drawn


def test_adjusted_comparison_is_drawn_and_fits_a_phone(desk_page: Page, session: Session) -> None:
    page = desk_page
    load_demo(session, now=datetime.now(UTC))
    session.commit()
    refit_stale(session, now=datetime.now(UTC))
    sign_in(page)
    page.goto("/clinic/compare")
    charts_drawn(page, expected=7)  # the six without a fit, and the adjusted one
    section = page.locator("section", has=page.locator("#adjusted-title"))
    expect(section).to_contain_text("Fitted just now on answers up to")
    expect(section).to_contain_text("not a randomised trial")

    for width in (390, 1280):
        resize(page, width)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        OUTPUT.mkdir(parents=True, exist_ok=True)
        section.screenshot(path=str(OUTPUT / f"compare-adjusted-{width}.png"))
