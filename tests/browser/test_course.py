"""A long course in Chromium at 390 and 1280 px: the course chart above the treatments, the
newest five recovery charts drawn with the page, an older one drawn when asked; the treatment
form with its side, points and note. Screenshots of each."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from tests.browser.conftest import screenshot
from tests.browser.test_alerting import WIDTHS, fits_a_phone, sign_in
from tests.browser.test_charts import check_charts
from tests.browser.test_pages import charts_drawn, check_accessibility
from tests.course_data import make_course
from tests.factories import make_clinician, make_patient


def shots(page: Page, name: str) -> None:
    """Full-page screenshots at 390 and 1280 px, each of the page loaded at that width (a
    resize leaves Plotly redrawing for a moment after the width has settled)."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.reload()
        charts_drawn(page)
        screenshot(page, name, (width,))


def test_a_long_course_reads_at_phone_and_desk_widths(desk_page: Page, session: Session) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, code="COURSE-8", quiet_hours=None)
    course = make_course(session, clinician, patient, treatments=8)
    course[-1].points = "L4-5 multifidus, left gluteus medius trigger points"
    course[-1].note = "Guarded on flexion.\nReferred pain to the buttock reproduced at L5."
    session.commit()
    page = desk_page
    sign_in(page, clinician)
    problems: dict[str, list[str]] = {}

    page.goto(f"/clinic/patients/{patient.id}")
    assert charts_drawn(page) == 6  # the course and the newest five treatments
    expect(page.get_by_role("heading", name="Course across treatments")).to_be_visible()
    expect(page.get_by_text("Guarded on flexion.")).to_be_visible()
    faults = check_charts(page, "course-patient")
    shots(page, "course-patient-page")
    fits_a_phone(page)
    check_accessibility(page, "patient page", problems)

    page.goto(f"/clinic/patients/{patient.id}?page=2")
    expect(page.locator("[data-figure]")).to_have_count(0)
    page.get_by_role("link", name="Show the recovery chart").first.click()
    assert charts_drawn(page) == 1
    expect(page.get_by_role("link", name="Show the recovery chart")).to_have_count(2)
    faults |= check_charts(page, "course-older")
    shots(page, "course-older-chart")
    fits_a_phone(page)
    check_accessibility(page, "an older treatment's chart", problems)

    assert not faults, "\n".join(f"{chart}: {found}" for chart, found in faults.items())
    assert not problems, problems


def test_the_treatment_form_takes_the_side_points_and_note(
    desk_page: Page, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, code="FORM-1", quiet_hours=None)
    session.commit()
    page = desk_page
    sign_in(page, clinician)
    problems: dict[str, list[str]] = {}

    page.goto(f"/clinic/patients/{patient.id}/treatments/new")
    page.get_by_label("Dry needling").check()
    page.get_by_label("Upper back").check()
    page.get_by_label("Points needled (optional)").fill("T4-6 erector spinae")
    page.get_by_label("Right", exact=True).check()
    page.get_by_label("Clinical note (optional)").fill("Tender band at T5 on the right.")
    screenshot(page, "course-treatment-form", WIDTHS)
    fits_a_phone(page)
    check_accessibility(page, "treatment form", problems)
    page.get_by_role("button", name="Record and schedule the check-ins").click()

    expect(page.get_by_text("Right side.")).to_be_visible()
    expect(page.get_by_text("Points needled: T4-6 erector spinae")).to_be_visible()
    expect(page.get_by_text("Tender band at T5 on the right.")).to_be_visible()
    assert not problems, problems
