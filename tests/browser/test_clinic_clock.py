"""The clinic's clock on the clinician pages, in Chromium, for a patient who lives elsewhere:
the clinic's time first, the patient's beside it, at 390 and 1280 px."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from server.services.answers import answer_checkin
from tests.browser.conftest import screenshot
from tests.browser.test_alerting import WIDTHS, fits_a_phone, sign_in
from tests.factories import make_clinic, make_clinician, make_open_checkin_now, make_patient


def test_a_red_flag_of_a_patient_abroad_reads_on_both_clocks(
    desk_page: Page, session: Session
) -> None:
    clinician = make_clinician(session, make_clinic(session, timezone="Europe/London"))
    patient = make_patient(
        session, clinician, code="AWAY-1", timezone="America/Vancouver", quiet_hours=None
    )
    checkin = make_open_checkin_now(session, clinician, patient)
    answer_checkin(
        session,
        patient=patient,
        checkin_id=checkin.id,
        client_id=uuid.uuid4(),
        answers={"soreness": 3, "bruise_bleed": "none", "rf_breath_chest": True, "rf_neuro": False},
        note=None,
        now=datetime.now(UTC),
    )
    session.commit()
    page = desk_page
    sign_in(page, clinician)

    alert = page.locator("tr.alert-row", has_text="AWAY-1")
    expect(alert.locator("time")).to_contain_text("GMT")
    expect(alert.locator(".patient-time")).to_contain_text("patient's time")
    expect(alert.locator(".patient-time")).to_contain_text("PST")
    screenshot(page, "clinic-clock-today", WIDTHS)
    fits_a_phone(page)

    page.goto(f"/clinic/patients/{patient.id}")
    heading = page.locator(".treatment h3")
    expect(heading.locator("time")).to_contain_text("GMT")
    expect(heading.locator(".patient-time")).to_contain_text("PST")
    screenshot(page, "clinic-clock-patient", WIDTHS)
    fits_a_phone(page)
