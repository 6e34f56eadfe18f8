"""Browser tests: the app served for real on 127.0.0.1, driven by Playwright in Debian's Chromium.

``make test`` skips them loudly when /usr/bin/chromium is missing; CI sets REQUIRE_BROWSER=1,
which turns that skip into a failure. Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = Path(os.environ.get("TEST_OUTPUT", "test-output")) / "screenshots"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
    skip = pytest.mark.skip(
        reason=f"!!! BROWSER TESTS SKIPPED: {CHROMIUM} is missing (apt-get install -y chromium)"
    )
    for item in items:
        if "browser" in item.nodeid:
            item.add_marker(skip)


@pytest.fixture
def live_server(app: Flask, session: object) -> Iterator[str]:
    """The test app served over HTTP on an ephemeral port of 127.0.0.1."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    """Playwright's driver (it never downloads a browser: Debian's Chromium is launched)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def phone(
    playwright_driver: Playwright, live_server: str, tmp_path: Path
) -> Iterator[BrowserContext]:
    """A phone-sized Chromium with a profile of its own (the Push API is off in incognito
    contexts). Notifications are not yet allowed: tests that need them grant them."""
    context = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        base_url=live_server,
    )
    yield context
    context.close()


@pytest.fixture
def console_errors() -> list[str]:
    """Errors the page logged or threw; a test removes the ones it provoked on purpose."""
    return []


@contextmanager
def watched(
    context: BrowserContext, tab: Page, console_errors: list[str], live_server: str
) -> Iterator[Page]:
    """The tab, failing the test afterwards if it logged an error it did not expect, or if
    anything in the context (page or service worker) asked another site for anything."""
    elsewhere: list[str] = []
    context.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((live_server, "data:", "blob:"))
            else elsewhere.append(request.url)
        ),
    )
    tab.on(
        "console",
        lambda message: console_errors.append(message.text) if message.type == "error" else None,
    )
    tab.on("pageerror", lambda error: console_errors.append(str(error)))
    yield tab
    assert console_errors == [], f"console errors: {console_errors}"
    assert elsewhere == [], f"requests to other sites: {elsewhere}"


@pytest.fixture
def page(phone: BrowserContext, console_errors: list[str], live_server: str) -> Iterator[Page]:
    """A page of the phone, watched for errors and requests to other sites."""
    tab = phone.pages[0] if phone.pages else phone.new_page()
    with watched(phone, tab, console_errors, live_server):
        yield tab


@pytest.fixture
def desk(playwright_driver: Playwright, live_server: str) -> Iterator[BrowserContext]:
    """A desktop-sized Chromium."""
    browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server)
    yield context
    context.close()
    browser.close()


@pytest.fixture
def desk_page(desk: BrowserContext, console_errors: list[str], live_server: str) -> Iterator[Page]:
    """A page of the desktop Chromium, watched for errors and requests to other sites."""
    with watched(desk, desk.new_page(), console_errors, live_server) as tab:
        yield tab


# static/charts.js draws the charts one per task, and draws each again at its box's new width
# after the window's resize event (debounced): the charts are settled when every one is drawn
# and each drawing is as wide as its box (narrower: not yet redrawn after the page widened).
CHARTS_SETTLED = """() => !document.querySelector('[data-figure]:not(.js-plotly-plot)')
    && [...document.querySelectorAll('.js-plotly-plot')].every(
    (chart) => Math.abs(chart.querySelector('.main-svg').getBoundingClientRect().width
                        - chart.getBoundingClientRect().width) <= 1)"""


def resize(page: Page, width: int) -> None:
    """Set the viewport's width and wait for the page's charts to redraw to it."""
    page.set_viewport_size({"width": width, "height": 800})
    page.wait_for_function(CHARTS_SETTLED)


def screenshot(page: Page, name: str, widths: tuple[int, ...] = (320, 768)) -> None:
    """Full-page screenshots at each width (320 px and 768 px unless told), saved under the test
    run's output."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for width in widths:
        resize(page, width)
        page.screenshot(path=str(OUTPUT / f"{name}-{width}.png"), full_page=True)
    if original:
        page.set_viewport_size(original)
