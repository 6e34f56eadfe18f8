"""The clinician pages in real Chromium, at tablet width, on the demo clinic: sign-in through
the form, Today's red flags first, the Plotly charts drawn, and axe-core on every page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, Page, Playwright, ViewportSize, expect
from sqlalchemy.orm import Session

from server.services.demo import DEMO_CLINICIANS, DEMO_PASSWORD, load_demo
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot, watched

TABLET: ViewportSize = {"width": 1024, "height": 768}
AXE = Axe()


@pytest.fixture
def tablet(playwright_driver: Playwright, live_server: str) -> Iterator[BrowserContext]:
    """A tablet-sized Chromium (the clinicians' pages are used at a desk or on a tablet)."""
    browser = playwright_driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    context = browser.new_context(viewport=TABLET, base_url=live_server)
    yield context
    context.close()
    browser.close()


@pytest.fixture
def clinic_page(
    tablet: BrowserContext, console_errors: list[str], live_server: str
) -> Iterator[Page]:
    """A tab of the tablet; fails the test on any console error (CSP violations included) or
    any request to another site."""
    with watched(tablet, tablet.new_page(), console_errors, live_server) as tab:
        yield tab


def check_accessibility(page: Page, name: str, problems: dict[str, list[str]]) -> None:
    """Run axe-core on the page as it is; note serious or critical violations by rule id."""
    violations: list[dict[str, Any]] = AXE.run(page).response["violations"]
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    if serious:
        problems[name] = [
            f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes: {v['nodes'][0]['target']})"
            for v in serious
        ]


def charts_drawn(page: Page, expected: int | None = None) -> int:
    """Wait until every [data-figure] container of the page holds a drawn Plotly chart."""
    containers = page.locator("[data-figure]")
    count = containers.count()
    assert count > 0, "no chart container on the page"
    if expected is not None:
        assert count == expected
    for index in range(count):
        expect(containers.nth(index).locator(".main-svg").first).to_be_attached()
    drawn = page.locator("[data-figure].js-plotly-plot .main-svg").evaluate_all(
        "svgs => new Set(svgs.map(s => s.closest('[data-figure]').id)).size"
    )
    assert drawn == count, f"{drawn} of {count} charts drawn"
    return count


def test_clinician_pages_on_the_demo_clinic(clinic_page: Page, session: Session) -> None:
    load_demo(session, now=datetime.now(UTC))
    session.commit()
    page = clinic_page
    problems: dict[str, list[str]] = {}
    email, role, _ = DEMO_CLINICIANS[0]
    assert role == "admin"

    # sign in through the real form
    page.goto("/clinic/")
    assert "/clinic/login" in page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    check_accessibility(page, "login", problems)
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # Today: the red flags come first, urgent RF-1 then same-day RF-3, named in words
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")
    first_section = page.locator("main section").first
    expect(first_section.get_by_role("heading", level=2)).to_contain_text("Red flags to act on")
    rows = first_section.locator("tbody tr")
    expect(rows.first).to_contain_text("Urgent")
    expect(rows.first).to_contain_text("New breathlessness or chest pain after needling")
    expect(first_section).not_to_contain_text("RF-")
    severities = rows.locator(".severity").all_inner_texts()
    rules = rows.locator("td:nth-child(3)").all_inner_texts()
    infection = "Signs of infection at a needle site, or fever"
    assert infection in rules, rules
    rank = {"Urgent": 0, "Same-day": 1, "Routine": 2}
    assert [rank[s] for s in severities] == sorted(rank[s] for s in severities), severities
    assert severities[rules.index(infection)] == "Same-day"
    check_accessibility(page, "today", problems)
    screenshot(page, "clinic-today")
    missed_answers = page.locator("#missed-table").get_by_role("link", name="Enter answers").first
    answers_url = missed_answers.get_attribute("href")
    assert answers_url

    # the RF-1 patient, from Today: one recovery chart per answered treatment
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Patient DEMO-")
    charts_drawn(page)
    check_accessibility(page, "patient", problems)
    screenshot(page, "clinic-patient")

    # a patient with weeks of treatments, from the Patients list
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Patients")
    check_accessibility(page, "patients", problems)
    page.locator("#patients-table").get_by_role("link", name="Code").click()  # DEMO-001 first
    page.locator("#patients-table").get_by_role("link", name="DEMO-001").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Patient DEMO-001")
    assert charts_drawn(page) >= 1
    check_accessibility(page, "patient with history", problems)

    page.get_by_role("link", name="Record a treatment").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Record a treatment for")
    check_accessibility(page, "record treatment", problems)

    page.goto(answers_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Enter answers for")
    check_accessibility(page, "answers", problems)

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Enrol").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enrol a patient")
    check_accessibility(page, "enrol", problems)

    nav.get_by_role("link", name="Protocols").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Protocols")
    check_accessibility(page, "protocols", problems)

    nav.get_by_role("link", name="Compare").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Compare modalities")
    charts_drawn(page, expected=6)  # with soreness by dose
    check_accessibility(page, "compare", problems)
    screenshot(page, "clinic-compare")

    assert problems == {}, f"serious or critical axe violations: {problems}"
