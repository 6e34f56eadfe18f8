"""Staff in Chromium: a clinic admin invites a clinician, the link shown once opens the
password form, the new clinician signs in; the staff and account pages at 390 and 1280 px."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.browser.conftest import screenshot
from tests.browser.test_alerting import WIDTHS, fits_a_phone, sign_in
from tests.browser.test_pages import check_accessibility
from tests.factories import make_clinician

NEW_PASSWORD = "lantern kelp meadow"


def test_an_admin_invites_a_clinician_who_sets_a_password_and_signs_in(
    desk_page: Page, session: Session
) -> None:
    admin = make_clinician(session, role="admin", email="lead@harbour.example")
    make_clinician(session, admin.clinic, email="robin@harbour.example")
    session.commit()
    page = desk_page
    sign_in(page, admin)

    page.get_by_role("link", name="Staff").click()
    page.get_by_label("E-mail").fill("sam@harbour.example")
    page.get_by_label("Name (optional)").fill("Sam Lee")
    page.get_by_label("Role", exact=True).select_option("clinician")
    page.get_by_role("button", name="Invite").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Invitation for Sam Lee")
    link = page.get_by_label("The link", exact=False).input_value()
    screenshot(page, "clinic-invitation-link", WIDTHS)
    page.goto("/clinic/staff")
    expect(page.get_by_text("Invited, not signed up yet")).to_be_visible()
    screenshot(page, "clinic-staff", WIDTHS)
    fits_a_phone(page)
    problems: dict[str, list[str]] = {}
    check_accessibility(page, "staff", problems)
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("cell", name="Invited a clinician")).to_be_visible()
    screenshot(page, "clinic-audit", WIDTHS)
    fits_a_phone(page)
    check_accessibility(page, "audit log", problems)
    assert problems == {}
    page.get_by_role("button", name="Log out").click()

    page.goto(urlsplit(link).path)  # the link names PUBLIC_BASE_URL, the tests' testserver
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome to")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("Your password is set. Sign in with it.")).to_be_visible()
    page.get_by_label("E-mail").fill("sam@harbour.example")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    expect(page.get_by_role("link", name="Staff")).to_have_count(0)  # not an admin
    page.get_by_role("link", name="Account").click()
    screenshot(page, "clinic-account", WIDTHS)
    check_accessibility(page, "account", problems)
    assert problems == {}


def test_the_clinic_settings_page_at_phone_and_desk_widths(
    desk_page: Page, session: Session
) -> None:
    admin = make_clinician(session, role="admin", email="lead@harbour.example")
    session.commit()
    page = desk_page
    sign_in(page, admin)

    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Opens").first.fill("08:00")
    page.get_by_label("Closes").first.fill("18:00")
    page.get_by_label("Keep records for").fill("8")
    page.get_by_role("button", name="Save settings").click()

    expect(page.get_by_text("The clinic's settings are saved.")).to_be_visible()
    expect(page.get_by_text("None: every record is within the period.")).to_be_visible()
    screenshot(page, "clinic-settings", WIDTHS)
    fits_a_phone(page)
    problems: dict[str, list[str]] = {}
    check_accessibility(page, "settings", problems)
    assert problems == {}
