"""The charts as drawn by Plotly in Chromium, at a phone's 390 px and a desk's 1280 px: no tick
labels piled on each other, no legend over an axis title, nothing cut off at the chart's edge.
Each chart is saved as its own screenshot at both widths."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Clinician
from server.services.answers import answer_checkin
from server.services.demo import DEMO_CLINICIANS, DEMO_PASSWORD, load_demo
from server.services.patients import create_patient
from server.services.treatments import record_treatment
from tests.browser.conftest import OUTPUT
from tests.browser.test_pages import charts_drawn

WIDTHS = (390, 1280)

# every piece of text Plotly drew that overlaps another it must not, or leaves the chart
FAULTS = """(chart) => {
  const box = (el) => el.getBoundingClientRect();
  const meets = (a, b) => a.left < b.right - 1 && b.left < a.right - 1
                          && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const shown = (el) => el.textContent.trim() !== '' && box(el).width > 0;
  const faults = [];
  const titles = [...chart.querySelectorAll('.infolayer [class*="title"]')].filter(shown);
  const plots = [...chart.querySelectorAll('.nsewdrag')];
  for (const legend of chart.querySelectorAll('.legend .bg')) {
    for (const title of titles) {
      if (meets(box(legend), box(title))) faults.push(`legend over "${title.textContent}"`);
    }
    if (plots.some((plot) => meets(box(legend), box(plot)))) faults.push('legend over the plot');
  }
  for (const axis of chart.querySelectorAll('.xaxislayer-above')) {
    const labels = [...axis.querySelectorAll('.xtick text')].filter(shown)
      .sort((a, b) => box(a).left - box(b).left);
    for (let i = 1; i < labels.length; i++) {
      if (meets(box(labels[i - 1]), box(labels[i]))) {
        faults.push(`tick "${labels[i - 1].textContent}" over "${labels[i].textContent}"`);
      }
    }
  }
  const edge = box(chart.querySelector('.main-svg'));
  const labels = chart.querySelectorAll('.legendtext, .xtick text, .ytick text');
  for (const text of [...titles, ...labels]) {
    const b = box(text);
    if (shown(text) && (b.left < edge.left - 1 || b.right > edge.right + 1)) {
      faults.push(`"${text.textContent}" cut off`);
    }
  }
  return faults;
}"""


def sign_in(page: Page) -> None:
    email, _, _ = DEMO_CLINICIANS[0]
    page.goto("/clinic/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Today")


def check_charts(page: Page, name: str) -> dict[str, list[str]]:
    """The page loaded at each width (as on a phone, as at a desk): every chart's faults, and
    a screenshot of each chart."""
    faults: dict[str, list[str]] = {}
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.reload()
        charts_drawn(page)
        for chart in page.locator("[data-figure]").all():
            chart_id = chart.get_attribute("id")
            found = chart.evaluate(FAULTS)
            if found:
                faults[f"{chart_id} at {width} px"] = found
            chart.screenshot(path=str(OUTPUT / f"{name}-{chart_id}-{width}.png"))
    page.set_viewport_size({"width": 1280, "height": 800})
    return faults


def one_answer_treatment(session: Session) -> int:
    """A new patient's dry needling of an hour ago, with only its in-clinic answer."""
    now = datetime.now(UTC)
    clinician = session.scalars(select(Clinician).order_by(Clinician.id)).first()
    assert clinician is not None
    patient = create_patient(
        session, clinician=clinician, code="CHART-1", timezone="UTC", now=now, quiet_hours=None
    )
    treatment = record_treatment(
        session,
        clinician=clinician,
        patient=patient,
        modality="dry_needling",
        treated_at=now - timedelta(hours=1),
        now=now - timedelta(hours=1),
    )
    first = treatment.checkins[0]
    answer_checkin(
        session,
        patient=patient,
        checkin_id=first.id,
        client_id=uuid.uuid4(),
        answers={"soreness": 4, "rf_faint": False},
        note=None,
        now=now - timedelta(minutes=50),
    )
    return patient.id


def test_charts_read_at_phone_and_desk_widths(desk_page: Page, session: Session) -> None:
    load_demo(session, now=datetime.now(UTC))
    one_answer_patient = one_answer_treatment(session)
    session.commit()
    page = desk_page
    sign_in(page)
    faults: dict[str, list[str]] = {}

    page.goto("/clinic/compare")
    faults |= check_charts(page, "charts-compare")
    page.goto("/clinic/compare?by=clinician&measure=mobility")
    faults |= check_charts(page, "charts-compare-by-clinician")
    page.goto("/clinic/patients?sort=code")
    page.locator("#patients-table").get_by_role("link", name="DEMO-001").click()
    faults |= check_charts(page, "charts-patient")
    page.goto(f"/clinic/patients/{one_answer_patient}")
    faults |= check_charts(page, "charts-one-answer")

    assert not faults, "\n".join(f"{chart}: {found}" for chart, found in faults.items())
