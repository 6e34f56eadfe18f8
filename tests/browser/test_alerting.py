"""Red flags in Chromium: the Today page shows a new alert within seconds while open, with the
count in the tab's title; the alert routing page and an alert's history, at 390 and 1280 px."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from server.models import Clinician
from server.services.red_flags import acknowledge_alert
from tests.browser.conftest import resize, screenshot
from tests.browser.test_pages import check_accessibility
from tests.factories import PASSWORD
from tests.test_alert_notices import ANSWERED, SAME_DAY, URGENT, clinic_with_staff, flagged

WIDTHS = (390, 1280)


def sign_in(page: Page, clinician: Clinician) -> None:
    page.goto("/clinic/login")
    page.get_by_label("E-mail").fill(clinician.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")


def fits_a_phone(page: Page) -> None:
    """At 390 px the page scrolls only downwards (wide tables scroll inside their region)."""
    resize(page, 390)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 800})


def test_the_today_page_shows_a_new_red_flag_while_open(desk_page: Page, session: Session) -> None:
    staff = clinic_with_staff(session)
    session.commit()
    page = desk_page
    sign_in(page, staff["treating"])
    expect(page.get_by_text("No red flag is waiting.")).to_be_visible()
    assert page.title().startswith("Today")

    flagged(session, staff["treating"], URGENT, code="P-777")  # a patient answers meanwhile

    row = page.locator("#live-alerts tbody tr")
    expect(row).to_have_count(1, timeout=15_000)
    expect(row).to_contain_text("P-777")
    expect(page).to_have_title("(1) Today · Harbour Physio")
    expect(page.locator("#live-alerts-status")).to_have_text("New red flag: 1 to act on.")

    # acknowledged from the page, with what was done
    row.get_by_label("What was done about New breathlessness or chest pain").select_option(
        "called_patient"
    )
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text("Red flag for P-777 acknowledged: Called the patient.")).to_be_visible()
    expect(page.get_by_text("No red flag is waiting.")).to_be_visible()


def test_alert_pages_at_phone_and_desk_widths(
    desk_page: Page, session: Session, console_errors: list[str]
) -> None:
    staff = clinic_with_staff(session)
    _, urgent = flagged(session, staff["treating"], URGENT, code="P-101")
    flagged(session, staff["treating"], SAME_DAY, code="P-102")
    acknowledge_alert(
        session,
        clinician=staff["on_call"],
        alert_id=urgent.id,
        action="advised_emergency_care",
        note="Ambulance called by the family.",
        now=ANSWERED,
    )
    session.commit()
    page = desk_page
    problems: dict[str, list[str]] = {}
    sign_in(page, staff["admin"])

    expect(page.get_by_role("alert").first).to_contain_text("may reach nobody")
    check_accessibility(page, "today", problems)
    fits_a_phone(page)
    screenshot(page, "alerts-today", WIDTHS)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Alert routing").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alert routing")
    check_accessibility(page, "alert routing", problems)
    fits_a_phone(page)
    screenshot(page, "alerts-routing", WIDTHS)

    page.goto(f"/clinic/patients/{urgent.patient_id}")
    page.get_by_text("Who was told (5)").click()
    expect(page.get_by_text("not sent: acknowledged first").first).to_be_visible()
    check_accessibility(page, "patient alert history", problems)
    fits_a_phone(page)
    screenshot(page, "alerts-patient-history", WIDTHS)

    assert problems == {}, f"serious or critical axe violations: {problems}"
