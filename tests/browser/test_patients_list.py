"""The Patients list in Chromium over the demo clinic: urgent patients first, sorted by a
header's link, searched by name, one card per patient at 390 px without sideways scrolling."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Patient
from server.services.demo import DEMO_CLINICIANS, DEMO_PASSWORD, load_demo
from tests.browser.conftest import resize, screenshot
from tests.browser.test_alerting import WIDTHS
from tests.browser.test_pages import check_accessibility

# the demo's patients have no names; a clinic's mostly do
NAMES = ("Ann Lee", "Bob Crane", "Chidi Okafor", "Dana Müller-Schmidt", "Émile Roux")


def demo_clinic_with_names(session: Session) -> None:
    load_demo(session, now=datetime.now(UTC))
    patients = session.scalars(select(Patient).order_by(Patient.code).limit(len(NAMES) * 3))
    for number, patient in enumerate(patients):
        patient.display_name = NAMES[number % len(NAMES)]
    session.commit()


def sign_in(page: Page) -> None:
    page.goto("/clinic/login")
    page.get_by_label("E-mail").fill(DEMO_CLINICIANS[0][0])
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")


def test_the_patients_list_over_the_demo_clinic(desk_page: Page, session: Session) -> None:
    demo_clinic_with_names(session)
    page = desk_page
    sign_in(page)
    problems: dict[str, list[str]] = {}

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Patients")
    table = page.locator("#patients-table")
    # the demo's urgent patient heads the list, their alerts a link to them
    first = table.locator("tbody tr").first
    expect(first.locator("td[data-label='Open alerts'] .severity--urgent")).to_contain_text(
        "urgent"
    )
    expect(first.locator("td[data-label='Last answer']")).to_contain_text("soreness")
    expect(table.locator("th[aria-sort]")).to_have_text("Open alerts ▼")
    check_accessibility(page, "patients", problems)
    screenshot(page, "patients-list", WIDTHS)

    # sorted by code from its header, then the other way round
    table.get_by_role("link", name="Code").click()
    expect(table.locator("th[aria-sort='ascending']")).to_contain_text("Code")
    expect(table.locator("tbody th").first).to_have_text("DEMO-001")
    table.get_by_role("link", name="Code").click()
    expect(table.locator("th[aria-sort='descending']")).to_contain_text("Code")
    assert "sort=code" in page.url or "sort=-code" in page.url
    # the next page keeps the sort
    page.get_by_role("link", name="Next page").click()
    expect(page.get_by_role("navigation", name="Pages of patients")).to_contain_text("Page 2 of")
    expect(table.locator("th[aria-sort='descending']")).to_contain_text("Code")

    # one box searches names too, whatever the order of the words, and keeps the sort
    page.get_by_label("Code or name").fill("lee ann")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_have_text(
        "3 patients match “lee ann”: 0 by code, 3 by name."
    )
    expect(table.locator("tbody td[data-label='Name']")).to_have_text(["Ann Lee"] * 3)
    expect(table.locator("th[aria-sort='descending']")).to_contain_text("Code")
    screenshot(page, "patients-list-search", WIDTHS)

    # at phone width: one card per patient, and the page never scrolls sideways
    page.goto("/clinic/patients")
    resize(page, 390)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate(
        "document.querySelector('#patients-table').getBoundingClientRect().width"
        " <= window.innerWidth"
    )
    assert table.locator("tbody tr").first.evaluate("row => getComputedStyle(row).display") == (
        "block"
    )
    check_accessibility(page, "patients at 390 px", problems)
    assert problems == {}
