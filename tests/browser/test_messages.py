"""How a patient is reached, in Chromium: the enrolment form's mobile and consent, and the
patient page's panel, set by a clinician with the keyboard-reachable form, at 390 and 1280 px."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from server.models import Patient
from tests.browser.conftest import screenshot
from tests.browser.test_alerting import WIDTHS, fits_a_phone, sign_in
from tests.browser.test_pages import check_accessibility
from tests.factories import make_clinician, make_patient


def test_a_clinician_enrols_a_patient_with_a_mobile_then_changes_the_channels(
    desk_page: Page, session: Session
) -> None:
    clinician = make_clinician(session)
    session.commit()
    page = desk_page
    sign_in(page, clinician)

    page.goto("/clinic/patients/new")
    page.get_by_label("Patient code").fill("SHOULDER-7")
    page.get_by_label("Time zone").select_option("Australia/Sydney")
    page.get_by_label("Mobile number (optional)").fill("0491 570 006")
    page.get_by_label("The patient agrees to texts").check()
    screenshot(page, "clinic-enrol-mobile", WIDTHS)
    page.get_by_role("button", name="Enrol and show the link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("SHOULDER-7")

    patient = session.query(Patient).filter_by(code="SHOULDER-7").one()
    page.goto(f"/clinic/patients/{patient.id}")
    expect(page.get_by_text("Texts allowed: consent given on the enrolment form")).to_be_visible()
    page.get_by_text("Change the mobile, consent or channels").click()
    page.get_by_label("First", exact=True).select_option("sms")
    page.get_by_label("Then", exact=True).first.select_option("push")
    page.get_by_label("Then", exact=True).nth(1).select_option("")
    screenshot(page, "clinic-patient-messages", WIDTHS)
    fits_a_phone(page)
    problems: dict[str, list[str]] = {}
    check_accessibility(page, "patient messages", problems)
    assert problems == {}
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_text("How the patient is reached is saved.")).to_be_visible()
    expect(page.get_by_text("Check-ins try text message, then app notification:")).to_be_visible()


def test_a_clinician_discharges_and_readmits_a_patient(desk_page: Page, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, code="HIP-3")
    session.commit()
    page = desk_page
    sign_in(page, clinician)

    page.goto(f"/clinic/patients/{patient.id}")
    page.get_by_text("Lost phone, care ended, or the patient's data").click()
    page.get_by_role("button", name="Discharge HIP-3").click()

    expect(page.get_by_text("Patient HIP-3 is discharged")).to_be_visible()
    expect(page.get_by_role("link", name="Record a treatment")).to_have_count(0)
    screenshot(page, "clinic-patient-discharged", WIDTHS)
    fits_a_phone(page)
    page.get_by_role("button", name="Re-admit HIP-3").click()
    expect(page.get_by_text("Patient HIP-3 is re-admitted")).to_be_visible()
    expect(page.get_by_role("link", name="Record a treatment")).to_be_visible()


def test_an_admin_erases_a_patient_after_typing_their_code(
    desk_page: Page, session: Session, console_errors: list[str]
) -> None:
    admin = make_clinician(session, role="admin")
    patient = make_patient(session, admin, code="ERASE-9", display_name="Robin Vale")
    session.commit()
    page = desk_page
    sign_in(page, admin)

    page.goto(f"/clinic/patients/{patient.id}")
    page.get_by_text("Lost phone, care ended, or the patient's data").click()
    page.get_by_role("link", name="erase everything about ERASE-9").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Erase everything about patient ERASE-9 (Robin Vale)"
    )
    screenshot(page, "clinic-erase", WIDTHS)
    fits_a_phone(page)
    problems: dict[str, list[str]] = {}
    check_accessibility(page, "erase", problems)
    assert problems == {}
    page.get_by_label("Type the patient's code").fill("ERASE")
    page.get_by_role("button", name="Erase patient ERASE-9").click()
    expect(page.get_by_text("type the patient's code exactly")).to_have_count(2)  # summary, field
    assert console_errors == [
        "Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE ENTITY)"
    ]  # the refused form's answer, as meant
    console_errors.clear()
    page.get_by_label("Type the patient's code").fill("ERASE-9")
    page.get_by_role("button", name="Erase patient ERASE-9").click()

    expect(page.get_by_text("Everything about patient ERASE-9 is erased")).to_be_visible()
    expect(page.get_by_text("ERASE-9", exact=True)).to_have_count(0)


def test_the_printable_summary_at_phone_and_desk_widths(desk_page: Page, session: Session) -> None:
    from tests.test_erasure import the_patient_to_erase

    admin = make_clinician(session, role="admin")
    patient = the_patient_to_erase(session, admin)
    page = desk_page
    sign_in(page, admin)

    page.goto(f"/clinic/patients/{patient.id}/summary")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Record of patient {patient.code}")
    screenshot(page, "clinic-summary", WIDTHS)
    fits_a_phone(page)
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.locator(".site-header")).to_be_hidden()


def test_a_clinician_corrects_a_patient_s_details_after_a_refused_try(
    desk_page: Page, session: Session, console_errors: list[str]
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, code="NECK-5", timezone="UTC")
    session.commit()
    page = desk_page
    sign_in(page, clinician)

    page.goto(f"/clinic/patients/{patient.id}")
    page.get_by_text("Change the name, time zone, e-mail or quiet hours").click()
    page.get_by_label("Name to greet them by (optional)").fill("Alex")
    page.get_by_label("Time zone").select_option("Europe/London")
    page.get_by_label("to", exact=True).fill("")
    page.get_by_role("button", name="Save the details").click()
    expect(page.get_by_text("give both times, or neither")).to_have_count(2)  # summary, field
    assert console_errors == [
        "Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE ENTITY)"
    ]  # the refused form's answer, as meant
    console_errors.clear()
    expect(page.get_by_label("Name to greet them by (optional)")).to_have_value("Alex")
    screenshot(page, "clinic-patient-details-refused", WIDTHS)
    fits_a_phone(page)
    problems: dict[str, list[str]] = {}
    check_accessibility(page, "patient details", problems)
    assert problems == {}
    page.get_by_label("From", exact=True).fill("")
    page.get_by_role("button", name="Save the details").click()

    expect(
        page.get_by_text("The patient's details are saved; check-ins not yet sent")
    ).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("(Alex)")
    expect(page.locator(".facts")).to_contain_text("Europe/London")
