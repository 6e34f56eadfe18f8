"""The patient's emergency path in real Chromium, at 320 and 390 px: advice first, the number of
the patient's own country, a tap to call it, and reminders that say what is true."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, Route, expect
from sqlalchemy.orm import Session

from server.models import CheckIn, Clinician, Patient
from server.services.enrolment import issue_enrolment
from tests.browser.conftest import screenshot
from tests.browser.test_pwa import enrol, fake_push_manager, serious_violations
from tests.factories import make_clinic, make_clinician, make_patient, make_treatment
from tests.push_service import PushService

PHONES = (320, 390)
CLINIC_TEL = "tel:+16045550142"


def sydney_patient(
    session: Session, base_url: str, *, email: str | None = "sam@example.org"
) -> tuple[Clinician, Patient, str]:
    """A patient in Sydney of a clinic in Vancouver (which has a phone), and their enrolment
    link: the case in which the app once said 911."""
    clinic = make_clinic(session, phone="+1 604 555 0142")
    clinician = make_clinician(session, clinic)
    patient = make_patient(
        session, clinician, timezone="Australia/Sydney", quiet_hours=None, email=email
    )
    link = issue_enrolment(
        session,
        clinician=clinician,
        patient=patient,
        now=datetime.now(UTC),
        base_url=base_url,
        ttl=timedelta(hours=1),
    )
    session.commit()
    return clinician, patient, link.url


def ims_to_the_upper_back(session: Session, clinician: Clinician, patient: Patient) -> CheckIn:
    """IMS to the upper back 2 h ago: its 2 h check-in, asking about breathlessness, is open."""
    treated_at = datetime.now(UTC) - timedelta(hours=2, minutes=5)
    treatment = make_treatment(
        session,
        clinician,
        patient,
        modality="ims",
        treated_at=treated_at,
        now=treated_at,
        regions=["upper_back"],
    )
    session.commit()
    return next(c for c in treatment.checkins if c.slot == "2h")


def answer_yes(page: Page, *questions: str) -> None:
    for name in questions:
        page.get_by_role("group", name=name).get_by_role("radio", name="Yes").click()
    page.get_by_role("button", name="Send answers").click()


def assert_fits(page: Page) -> None:
    """Nothing pushes the screen sideways at either phone width."""
    for width in PHONES:
        page.set_viewport_size({"width": width, "height": 740})
        assert page.evaluate("document.documentElement.scrollWidth") <= width


def assert_thumb_sized(link: Locator) -> None:
    """At each phone width the link is a full-width button a thumb can hit (48 px and more)."""
    for width in PHONES:
        link.page.set_viewport_size({"width": width, "height": 740})
        box = link.bounding_box()
        assert box is not None
        assert box["height"] >= 48, (width, box)
        assert box["width"] >= width * 0.6, (width, box)


def test_an_urgent_answer_leads_with_the_advice_and_a_tap_to_call_000(
    page: Page, session: Session, live_server: str
) -> None:
    clinician, patient, url = sydney_patient(session, live_server)
    enrol(page, url)
    checkin = ims_to_the_upper_back(session, clinician, patient)
    page.goto(f"/checkin/{checkin.id}")
    answer_yes(page, "shortness of breath")

    expect(page.get_by_role("heading", level=1)).to_have_text("Please act now")
    advice = page.get_by_role("alert").first
    expect(advice).to_contain_text("Call 000 or go to an emergency department now.")
    call = page.get_by_role("link", name="Call 000", exact=True)
    expect(call).to_have_attribute("href", "tel:000")
    assert_thumb_sized(call)
    clinic = page.get_by_role("link", name="Call your clinic: +1 604-555-0142")
    expect(clinic).to_have_attribute("href", CLINIC_TEL)
    assert_thumb_sized(clinic)
    expect(page.get_by_text("Your answers were sent to your clinic.")).to_be_visible()
    footer = page.locator("footer")
    expect(footer.get_by_role("link", name="000")).to_have_attribute("href", "tel:000")
    expect(footer.get_by_role("link", name="+1 604-555-0142")).to_have_attribute("href", CLINIC_TEL)
    assert "911" not in page.locator("body").inner_text()
    assert page.get_by_role("heading", name="Thank you").count() == 0
    assert serious_violations(page) == []
    assert_fits(page)
    screenshot(page, "urgent-advice", PHONES)


def test_a_same_day_answer_keeps_a_calm_heading_with_its_advice_below(
    page: Page, session: Session, live_server: str
) -> None:
    clinician, patient, url = sydney_patient(session, live_server)
    enrol(page, url)
    checkin = ims_to_the_upper_back(session, clinician, patient)
    page.goto(f"/checkin/{checkin.id}")
    answer_yes(page, "fainted")

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    expect(page.get_by_role("heading", level=2)).to_have_text("Important")
    expect(page.get_by_text("Lie down with your legs raised")).to_contain_text("call 000")
    expect(page.get_by_role("link", name="Call your clinic")).to_have_attribute("href", CLINIC_TEL)
    assert page.get_by_role("link", name="Call 000", exact=True).count() == 0
    assert serious_violations(page) == []
    assert_fits(page)
    screenshot(page, "same-day-advice", PHONES)


@pytest.mark.parametrize(
    ("question", "heading", "advice"),
    [
        ("shortness of breath", "Please act now", "Call 000 or go to an emergency department"),
        # fainting alone is same-day (CLINICAL.md RF-2), not urgent as the app once had it
        ("fainted", "Saved on this phone", "Lie down with your legs raised"),
    ],
)
def test_an_answer_saved_offline_shows_the_advice_its_rules_give(
    page: Page,
    session: Session,
    live_server: str,
    console_errors: list[str],
    question: str,
    heading: str,
    advice: str,
) -> None:
    clinician, patient, url = sydney_patient(session, live_server)
    enrol(page, url)
    checkin = ims_to_the_upper_back(session, clinician, patient)
    page.goto(f"/checkin/{checkin.id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("How are you feeling?")
    page.context.set_offline(True)
    answer_yes(page, question)

    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.get_by_text(advice)).to_be_visible()
    expect(page.get_by_text("your clinic cannot see these answers yet")).to_be_visible()
    if heading == "Please act now":
        expect(page.get_by_role("link", name="Call 000", exact=True)).to_have_attribute(
            "href", "tel:000"
        )
    else:
        expect(page.get_by_role("heading", level=2)).to_have_text("Important")
    assert_fits(page)
    screenshot(page, f"offline-{question.split()[0]}-advice", PHONES)
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")  # back online: sent, and said so
    expect(page.get_by_text("have now reached your clinic")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Please act now" if heading == "Please act now" else "Your saved answers were sent"
    )
    # the browser logs the requests it could not make while offline: expected here
    console_errors[:] = [e for e in console_errors if "ERR_INTERNET_DISCONNECTED" not in e]


def test_the_footer_names_the_number_and_the_clinic_with_links(
    page: Page, session: Session, live_server: str
) -> None:
    _, _, url = sydney_patient(session, live_server)
    enrol(page, url)
    footer = page.locator("footer")
    expect(footer).to_contain_text("If you think it\u2019s an emergency, call 000.")
    expect(footer.get_by_role("link", name="000")).to_have_attribute("href", "tel:000")
    expect(footer).to_contain_text("Your clinic: +1 604-555-0142.")
    screenshot(page, "home-footer", PHONES)


# ---- reminders that say what is true ---------------------------------------------------------


def test_a_subscription_that_fails_is_not_called_on(
    page: Page, session: Session, live_server: str
) -> None:
    _, _, url = sydney_patient(session, live_server)
    page.context.grant_permissions(["notifications"], origin=live_server)
    # a push service that never answers, as on a phone whose push service is down
    page.add_init_script("PushManager.prototype.subscribe = () => new Promise(() => {});")
    enrol(page, url)
    card = page.get_by_role("region", name="Check-in reminders")
    expect(card).to_contain_text("Turning reminders on")
    # the app gives a silent push service 10 s
    expect(card).to_contain_text("could not be turned on", timeout=20_000)
    expect(card).to_contain_text("notification service did not answer")
    expect(card).to_contain_text("by e-mail instead")
    expect(card.get_by_role("button", name="Try again")).to_be_visible()
    assert "Reminders are on" not in card.inner_text()
    assert_fits(page)
    screenshot(page, "reminders-failed", PHONES)


def test_a_subscription_the_server_refused_is_not_called_on(
    page: Page, session: Session, live_server: str, push: PushService, console_errors: list[str]
) -> None:
    _, _, url = sydney_patient(session, live_server, email=None)
    page.context.grant_permissions(["notifications"], origin=live_server)
    # the browser subscribes, but to a push service the server does not allow (a local one)
    fake_push_manager(page, push.subscribe().to_json())
    enrol(page, url)
    card = page.get_by_role("region", name="Check-in reminders")
    expect(card).to_contain_text("could not be turned on")
    expect(card).to_contain_text("your clinic\u2019s service did not accept this phone")
    expect(card).to_contain_text("If you give your clinic your e-mail address")
    assert "Reminders are on" not in card.inner_text()
    console_errors[:] = [e for e in console_errors if "422" not in e]  # the refusal, expected


def test_reminders_are_on_only_once_the_server_holds_the_subscription(
    page: Page,
    session: Session,
    live_server: str,
    push: PushService,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "PUSH_ALLOW_LOCAL", True)
    _, _, url = sydney_patient(session, live_server)
    page.context.grant_permissions(["notifications"], origin=live_server)
    fake_push_manager(page, push.subscribe().to_json())
    held: list[Route] = []  # the subscription's POST, held until the test lets it through
    page.route("**/api/v1/me/push-subscriptions", lambda route: held.append(route))
    enrol(page, url)
    card = page.get_by_role("region", name="Check-in reminders")
    expect(card).to_contain_text("Turning reminders on")
    for _ in range(200):  # until the app's POST is held here (10 s at most)
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    assert "Reminders are on" not in card.inner_text()  # the server has not answered yet
    held[0].continue_()
    expect(card).to_contain_text("Reminders are on.")
    screenshot(page, "reminders-on", PHONES)


def test_blocked_notifications_say_what_to_do_and_that_email_takes_over(
    page: Page, session: Session, live_server: str
) -> None:
    _, _, url = sydney_patient(session, live_server)
    page.context.new_cdp_session(page).send(
        "Browser.setPermission",
        {"permission": {"name": "notifications"}, "setting": "denied", "origin": live_server},
    )
    enrol(page, url)
    card = page.get_by_role("region", name="Check-in reminders")
    expect(card).to_contain_text("no reminders will come to this phone")
    expect(card).to_contain_text(
        "allow notifications for this site in your browser\u2019s settings"
    )
    expect(card).to_contain_text("Your clinic will send your check-ins by e-mail instead.")
    screenshot(page, "reminders-blocked", PHONES)
