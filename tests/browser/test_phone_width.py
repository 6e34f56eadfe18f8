"""Every clinician page on a 390 px phone, over the demo clinic: the page scrolls only
downwards (``scrollWidth <= innerWidth``), so do its tables (wide ones stack their rows), and an
urgent red flag's Acknowledge button is in view.

The pages are the GET routes of the pages blueprint (``server.pages.ROUTES``), so a new page is
covered without touching this file; ids in a route come from the demo data. Pages shown only in
answer to a form (an enrolment link, a one-time link, recovery codes) are reached through their
forms. Each page is saved at 390 and 1280 px under the test run's screenshots.

One demo clinic, one server and one signed-in browser serve every page of the module: loading
the demo and signing in once per page would cost minutes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect
from sqlalchemy import select, text
from werkzeug.serving import make_server

from server.extensions import db, limiter
from server.models import Alert, Base, CheckIn, Clinician
from server.pages import ROUTES
from server.services.demo import DEMO_CLINICIANS, DEMO_PASSWORD, load_demo
from server.services.staff import issue_reset
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, resize, screenshot, watched
from tests.browser.test_pages import check_accessibility

# a page's layout does not depend on the database: SQLite only, which halves the module's time
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PHONE = 390
WIDTHS = (PHONE, 1280)

# GET routes of the blueprint that are not pages a clinician reads, and why
NOT_PAGES = {
    "today_alerts": "the red flags' fragment Today fetches to stay current (checked on Today)",
    "audit_csv": "a CSV download",
    "record_fhir": "a FHIR JSON download",
    "recovery_csv": "a CSV download",
    "compare_csv": "a CSV download",
    "asset": "static CSS, JS and plotly.js",
}
# pages seen before signing in: visited in a browser of their own, signed out
SIGNED_OUT = ("login_form", "forgot_form", "set_password_form")
# pages of a sign-in half done, and why they are not visited by the signed-in browser
MID_SIGN_IN = {
    "login_code_form": "visited by test_the_two_factor_sign_in_pages_fit_a_phone",
    "login_setup_form": "the account's two-factor setup page (account_setup_form), shown at "
    "sign-in when a clinic requires two-factor: requiring it here would stop the other pages",
}

GET_PAGES = [
    endpoint
    for _, endpoint, _, methods in ROUTES
    if "GET" in methods
    and endpoint not in NOT_PAGES
    and endpoint not in SIGNED_OUT
    and endpoint not in MID_SIGN_IN
]


@dataclass(frozen=True)
class DemoClinic:
    """The demo clinic as the pages show it: the server's address and ids for the routes."""

    base_url: str
    patient_id: int  # the patient with an open urgent red flag
    treatment_id: int  # a treatment with a missed check-in, for the diary form
    checkin_id: int  # that missed check-in, for the answers form
    reset_token: str  # a password link of the admin

    def path(self, app: Flask, endpoint: str) -> str:
        """The path of a page of the blueprint, its ids filled from the demo data."""
        ids: dict[str, object] = {
            "patient_id": self.patient_id,
            "treatment_id": self.treatment_id,
            "checkin_id": self.checkin_id,
            "token": self.reset_token,
        }
        (rule,) = app.url_map.iter_rules(f"pages.{endpoint}")
        values = {name: ids[name] for name in rule.arguments}
        return app.url_map.bind("localhost").build(f"pages.{endpoint}", values)


def _empty_tables(app: Flask) -> None:
    # as tests/conftest.py's ``session`` fixture does after each test
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with app.app_context(), db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - model table names


@pytest.fixture(scope="module")
def demo_clinic(app: Flask) -> Iterator[DemoClinic]:
    """The demo clinic loaded once for the module, served on an ephemeral port of 127.0.0.1."""
    limiter.reset()  # its memory storage outlives a test: a full allowance of sign-ins
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield _load_demo_clinic(app, f"http://127.0.0.1:{server.server_port}")
    finally:  # a failed load too: the next module's tests start on empty tables
        server.shutdown()
        server.server_close()
        _empty_tables(app)


def _load_demo_clinic(app: Flask, base_url: str) -> DemoClinic:
    """The demo data, committed, and the ids its pages' routes take."""
    now = datetime.now(UTC)
    with app.app_context():
        session = db.session()
        load_demo(session, now=now)
        urgent = session.scalars(
            select(Alert).where(Alert.severity == "urgent", Alert.acknowledged_at.is_(None))
        ).first()
        missed = session.scalars(
            select(CheckIn).where(CheckIn.status == "missed").order_by(CheckIn.due_at.desc())
        ).first()
        assert urgent is not None
        assert missed is not None
        admin = session.scalars(select(Clinician).filter_by(email=DEMO_CLINICIANS[0][0])).one()
        # the admin's own: the one-time link page makes the other clinician's, ending theirs
        link = issue_reset(session, admin=admin, member_id=admin.id, now=now, base_url="")
        clinic = DemoClinic(
            base_url=base_url,
            patient_id=urgent.patient_id,
            treatment_id=missed.treatment_id,
            checkin_id=missed.id,
            reset_token=link.url.rsplit("/", 1)[1],
        )
        session.commit()
        db.session.remove()
    return clinic


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """One Chromium for the module."""
    chromium = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


def _new_context(browser: Browser, demo_clinic: DemoClinic) -> BrowserContext:
    return browser.new_context(
        viewport={"width": 1280, "height": 800}, base_url=demo_clinic.base_url
    )


def _sign_in(page: Page, email: str) -> None:
    page.goto("/clinic/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def admin_desk(browser: Browser, demo_clinic: DemoClinic) -> Iterator[BrowserContext]:
    """A desktop browser signed in as the demo clinic's admin, for every page of the module."""
    context = _new_context(browser, demo_clinic)
    page = context.new_page()
    _sign_in(page, DEMO_CLINICIANS[0][0])
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    page.close()
    yield context
    context.close()


@pytest.fixture
def tab(
    admin_desk: BrowserContext, demo_clinic: DemoClinic, console_errors: list[str]
) -> Iterator[Page]:
    """A new tab of the signed-in browser, failing the test on a console error or a request to
    another site."""
    page = admin_desk.new_page()
    with watched(admin_desk, page, console_errors, demo_clinic.base_url):
        yield page
    page.close()


# what sticks out past the right edge of the viewport, to name in a failure
WIDER_THAN_THE_VIEWPORT = """() => [...document.querySelectorAll('body *')]
    .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 0.5)
    .filter((element) => element.parentElement.getBoundingClientRect().right
                         <= window.innerWidth + 0.5)
    .slice(0, 5)
    .map((element) => element.outerHTML.slice(0, 160))"""


# tables that scroll sideways in their region: a wide table should stack its rows instead
TABLES_SCROLLING = """() => [...document.querySelectorAll('.table-wrap')]
    .filter((region) => region.scrollWidth > region.clientWidth)
    .map((region) => region.getAttribute('aria-labelledby') || region.getAttribute('aria-label')
                     || region.outerHTML.slice(0, 80))"""


OPEN_DETAILS = """() => document.querySelectorAll('details:not([open])').forEach((details) => {
    details.dataset.openedToMeasure = ''; details.open = true; })"""
CLOSE_OPENED_DETAILS = """() => document.querySelectorAll('details[data-opened-to-measure]')
    .forEach((details) => { delete details.dataset.openedToMeasure; details.open = false; })"""


def check_fits_a_phone(page: Page, name: str) -> None:
    """At 390 px the page scrolls only downwards, and so does every table of it; the page is
    saved at 390 and 1280 px."""
    charts = page.locator("[data-figure]")
    for index in range(charts.count()):
        expect(charts.nth(index).locator(".main-svg").first).to_be_attached()
    resize(page, PHONE)
    # measured with every <details> open, folded number tables too, then seen as it opens
    page.evaluate(OPEN_DETAILS)
    scroll_width, inner_width = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    sticking_out = page.evaluate(WIDER_THAN_THE_VIEWPORT)
    scrolling = page.evaluate(TABLES_SCROLLING)
    page.evaluate(CLOSE_OPENED_DETAILS)
    screenshot(page, f"phone-{name}", WIDTHS)
    assert scroll_width <= inner_width, (
        f"{name} scrolls sideways at {PHONE} px ({scroll_width} > {inner_width}): {sticking_out}"
    )
    assert scrolling == [], f"{name}: tables scroll sideways at {PHONE} px: {scrolling}"


@pytest.mark.parametrize("endpoint", GET_PAGES)
def test_a_signed_in_page_fits_a_phone(
    endpoint: str, app: Flask, demo_clinic: DemoClinic, tab: Page
) -> None:
    tab.goto(demo_clinic.path(app, endpoint))
    expect(tab.get_by_role("heading", level=1)).to_be_visible()
    check_fits_a_phone(tab, endpoint.replace("_", "-"))


# what Chromium logs for a page answered with 404, provoked on purpose below
PAGE_NOT_FOUND = "Failed to load resource: the server responded with a status of 404 (NOT FOUND)"


# a code and an address as long as the enrol form takes, with nowhere to break a line
LONG_CODE = "P" + "0123456789" * 6 + "XYZ"
LONG_EMAIL = "someone." + "x" * 60 + "@example.org"


def _enrol(page: Page, code: str) -> None:
    page.goto("/clinic/patients/new")
    page.get_by_label("Patient code").fill(code)
    page.get_by_label("E-mail (optional)").fill(LONG_EMAIL)
    page.get_by_role("button", name="Enrol and show the link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Enrolment link for {code}")


def _enrolment_link(page: Page, console_errors: list[str]) -> None:
    _enrol(page, LONG_CODE)


def _long_code_summary(page: Page, console_errors: list[str]) -> None:
    code = LONG_CODE.replace("XYZ", "ABC")  # a patient of its own: codes are unique
    _enrol(page, code)
    patient_page = page.get_by_role("link", name=f"Go to {code}'s page").get_attribute("href")
    page.goto(f"{patient_page}/summary")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Record of patient {code}")


def _one_time_link(page: Page, console_errors: list[str]) -> None:
    page.goto("/clinic/staff")
    page.get_by_role("button", name=f"Password reset link for {DEMO_CLINICIANS[1][2]}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Password reset link for {DEMO_CLINICIANS[1][2]}"
    )


def _not_found(page: Page, console_errors: list[str]) -> None:
    page.goto("/clinic/patients/999999")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    console_errors.remove(PAGE_NOT_FOUND)


def _dead_password_link(page: Page, console_errors: list[str]) -> None:
    page.goto("/clinic/password/no-such-link")
    expect(page.get_by_role("heading", level=1)).to_have_text("This link no longer works")
    console_errors.remove(PAGE_NOT_FOUND)


# pages that are not what a GET route usually answers: how each is reached
REACHED_OTHERWISE: dict[str, Callable[[Page, list[str]], None]] = {
    "enrolment-link": _enrolment_link,
    "long-code-summary": _long_code_summary,
    "one-time-link": _one_time_link,
    "not-found": _not_found,
    "dead-password-link": _dead_password_link,
}


@pytest.mark.parametrize("name", REACHED_OTHERWISE)
def test_a_page_reached_otherwise_fits_a_phone(
    name: str, tab: Page, console_errors: list[str]
) -> None:
    REACHED_OTHERWISE[name](tab, console_errors)
    check_fits_a_phone(tab, name)


@pytest.mark.parametrize("endpoint", SIGNED_OUT)
def test_a_signed_out_page_fits_a_phone(
    endpoint: str,
    app: Flask,
    browser: Browser,
    demo_clinic: DemoClinic,
    console_errors: list[str],
) -> None:
    context = _new_context(browser, demo_clinic)
    with watched(context, context.new_page(), console_errors, demo_clinic.base_url) as page:
        page.goto(demo_clinic.path(app, endpoint))
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        check_fits_a_phone(page, endpoint.replace("_", "-"))
    context.close()


def test_an_urgent_red_flags_acknowledge_button_is_in_view_on_a_phone(tab: Page) -> None:
    tab.goto("/clinic/")
    resize(tab, PHONE)
    problems: dict[str, list[str]] = {}
    check_accessibility(tab, "today, stacked", problems)  # a stacked table is still a table
    assert problems == {}, f"serious or critical axe violations: {problems}"
    urgent = tab.locator("#live-alerts .alert-row--urgent").first
    button = urgent.get_by_role("button", name="Acknowledge")
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE, f"the Acknowledge button ends at {box}"


def test_the_two_factor_sign_in_pages_fit_a_phone(
    browser: Browser, demo_clinic: DemoClinic, console_errors: list[str]
) -> None:
    email = DEMO_CLINICIANS[1][0]  # not the admin: the other pages' browser stays as it is
    context = _new_context(browser, demo_clinic)
    with watched(context, context.new_page(), console_errors, demo_clinic.base_url) as page:
        heading = page.get_by_role("heading", level=1)
        _sign_in(page, email)
        page.goto("/clinic/account/two-factor")
        secret = page.locator("code.secret").inner_text().replace(" ", "")
        page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Turn on two-factor sign-in").click()
        expect(heading).to_have_text("Your recovery codes")
        check_fits_a_phone(page, "recovery-codes")

        page.get_by_role("button", name="Log out").click()
        _sign_in(page, email)
        expect(heading).to_have_text("Enter your sign-in code")
        check_fits_a_phone(page, "login-code-form")
    context.close()
