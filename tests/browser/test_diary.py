"""A back-dated treatment's paper diary entered on one form in Chromium, at 390 and 1280 px."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.browser.conftest import screenshot
from tests.browser.test_alerting import WIDTHS, fits_a_phone, sign_in
from tests.browser.test_pages import check_accessibility
from tests.factories import make_clinician, make_patient, make_treatment


def test_a_clinician_enters_a_paper_diary_of_a_back_dated_treatment(
    desk_page: Page, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, code="DIARY-1", timezone="UTC", quiet_hours=None)
    now = datetime.now(UTC)
    make_treatment(session, clinician, patient, treated_at=now - timedelta(hours=50), now=now)
    session.commit()
    page = desk_page
    sign_in(page, clinician)

    page.goto(f"/clinic/patients/{patient.id}")
    expect(page.get_by_text("not asked: recorded late")).to_have_count(3)
    page.get_by_role("link", name="Enter a diary: the 4 check-ins still to fill").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter a diary for DIARY-1")
    rows = page.locator("fieldset.diary-row")
    expect(rows).to_have_count(4)
    rows.nth(0).get_by_label("How sore is the area that was needled").select_option("6")
    rows.nth(1).get_by_label("How sore is the area that was needled").select_option("4")
    rows.nth(2).get_by_label("How sore is the area that was needled").select_option("2")
    page.get_by_label("Note (optional").fill("Diary handed in at the follow-up")
    screenshot(page, "clinic-diary", WIDTHS)
    fits_a_phone(page)
    problems: dict[str, list[str]] = {}
    check_accessibility(page, "diary", problems)
    assert problems == {}
    page.get_by_role("button", name="Save the diary").click()

    expect(page.get_by_text("Answers of 3 check-ins saved.")).to_be_visible()
    expect(page.get_by_text("not asked: recorded late")).to_have_count(0)
