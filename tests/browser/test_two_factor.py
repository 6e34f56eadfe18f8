"""Two-factor sign-in in Chromium: a clinic admin requires it, a clinician sets it up at their
next sign-in from the QR page, keeps the recovery codes, then signs in with a code; the pages
at 390 and 1280 px."""

from __future__ import annotations

import pyotp
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from server.models import utcnow
from server.services.two_factor import set_requirement
from tests.browser.conftest import screenshot
from tests.browser.test_alerting import WIDTHS, fits_a_phone
from tests.browser.test_pages import check_accessibility
from tests.factories import PASSWORD, make_clinician


def give_password(page: Page, email: str) -> None:
    page.goto("/clinic/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_required_two_factor_is_set_up_at_sign_in_then_asked_each_time(
    desk_page: Page, session: Session
) -> None:
    admin = make_clinician(session, role="admin", email="lead@harbour.example")
    make_clinician(session, admin.clinic, email="sam@harbour.example")
    set_requirement(session, admin=admin, required=True, now=utcnow())
    session.commit()
    page = desk_page

    give_password(page, "sam@harbour.example")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor sign-in")
    expect(page.locator(".qr svg")).to_be_visible()
    screenshot(page, "clinic-two-factor-setup", WIDTHS)
    fits_a_phone(page)
    problems: dict[str, list[str]] = {}
    check_accessibility(page, "two-factor setup", problems)
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor sign-in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    screenshot(page, "clinic-recovery-codes", WIDTHS)
    recovery = page.locator(".recovery-codes li").first.inner_text()
    page.get_by_role("link", name="I have kept them: continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    page.get_by_role("button", name="Log out").click()

    give_password(page, "sam@harbour.example")
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your sign-in code")
    screenshot(page, "clinic-login-code", WIDTHS)
    check_accessibility(page, "sign-in code", problems)
    page.get_by_label("Code").fill(recovery)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_text("9 recovery codes left.")).to_be_visible()
    assert problems == {}
