"""The patient app in real Chromium: install, enrol, a pushed prompt, answering, offline."""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, Playwright, Route, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jobs.tasks import Worker, dispatch_due_checkins
from server.models import CheckIn, Clinician, Patient, PushSubscription, Response
from server.pwa import PWA_DIR, load_bundle
from server.services.answers import answer_checkin
from server.services.enrolment import issue_enrolment
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, screenshot
from tests.factories import make_clinician, make_patient, make_treatment
from tests.push_service import PushService, Subscriber
from tests.test_dispatch import subscribe_local


def enrolment_link(session: Session, base_url: str) -> tuple[Clinician, Patient, str]:
    """A new patient of a new clinic and a one-time enrolment link for them."""
    clinician = make_clinician(session)
    patient = make_patient(
        session, clinician, quiet_hours=None, display_name="Sam", email="sam@example.org"
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


def enrol(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("You are set up")
    page.wait_for_function(
        "navigator.serviceWorker.controller !== null || "
        "navigator.serviceWorker.ready.then(() => true)"
    )


def treated_now(session: Session, clinician: Clinician, patient: Patient) -> CheckIn:
    """An IMS treatment whose 2 h check-in is open right now."""
    treated_at = datetime.now(UTC) - timedelta(hours=2, minutes=5)
    treatment = make_treatment(
        session, clinician, patient, modality="ims", treated_at=treated_at, now=treated_at
    )
    session.commit()
    checkin = next(c for c in treatment.checkins if c.slot == "2h")
    return checkin


def eventually(
    page: Page, expression: str, until: Callable[[Any], bool] = bool, timeout_s: float = 10
) -> Any:
    """Evaluate an (async) expression in the page until ``until`` holds for its value."""
    deadline = time.monotonic() + timeout_s
    value = page.evaluate(expression)
    while not until(value) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
        value = page.evaluate(expression)
    return value


def deliver_push(page: Page, origin: str, payload: dict[str, Any]) -> Any:
    """Hand a push message to the page's service worker (DevTools protocol), as a push service
    would, and return the notifications it shows. Delivered again if the worker was not ready:
    a repeat replaces the notification (same tag)."""
    cdp = page.context.new_cdp_session(page)
    registrations: dict[str, dict[str, Any]] = {}
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.update(
            {r["registrationId"]: r for r in event["registrations"]}
        ),
    )
    cdp.send("ServiceWorker.enable")
    listing = (
        "navigator.serviceWorker.ready.then(r => r.getNotifications())"
        ".then(ns => ns.map(n => ({title: n.title, tag: n.tag, data: n.data})))"
    )
    shown: Any = []
    for _ in range(3):
        live = eventually(
            page,
            "1",
            until=lambda _: any(
                r["scopeURL"] == f"{origin}/" and not r["isDeleted"] for r in registrations.values()
            ),
        )
        assert live, "no service worker registration"
        [registration] = [
            r
            for r in registrations.values()
            if r["scopeURL"] == f"{origin}/" and not r["isDeleted"]
        ]
        cdp.send(
            "ServiceWorker.deliverPushMessage",
            {
                "origin": origin,
                "registrationId": registration["registrationId"],
                "data": json.dumps(payload),
            },
        )
        shown = eventually(page, listing, timeout_s=3)
        if shown:
            break
    cdp.detach()
    return shown


def serious_violations(page: Page) -> list[dict[str, Any]]:
    results = Axe().run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def responses_for(session: Session, checkin_id: int) -> int:
    session.expire_all()
    return (
        session.scalar(select(func.count()).select_from(Response).filter_by(checkin_id=checkin_id))
        or 0
    )


def test_manifest_is_installable_and_the_service_worker_activates(page: Page) -> None:
    page.goto("/")
    manifest = page.evaluate("fetch('/manifest.webmanifest').then(r => r.json())")
    assert manifest["display"] == "standalone"
    assert {"name", "short_name", "start_url", "theme_color", "background_color"} <= set(manifest)
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        assert page.evaluate(f"fetch('{icon['src']}').then(r => r.status)") == 200
    state = eventually(
        page,
        "navigator.serviceWorker.ready.then(r => r.active.state)",
        until=lambda value: value == "activated",
    )
    assert state == "activated"


def test_enrolling_through_the_link_keeps_the_token_and_shows_home(
    page: Page, session: Session, live_server: str
) -> None:
    _, _, url = enrolment_link(session, live_server)
    enrol(page, url)
    assert page.url == f"{live_server}/"
    assert "token" not in page.url
    token = page.evaluate("self.checkins.store.get('token')")
    assert isinstance(token, str)
    assert len(token) > 20
    expect(page.get_by_role("button", name="Turn on reminders")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "home", (390, 1280))


def test_a_used_enrolment_link_says_so(
    page: Page, session: Session, live_server: str, console_errors: list[str]
) -> None:
    _, _, url = enrolment_link(session, live_server)
    enrol(page, url)
    page.evaluate("indexedDB.deleteDatabase('checkins')")
    page.goto(url)
    expect(page.get_by_role("alert")).to_contain_text("already used")
    console_errors.remove(
        "Failed to load resource: the server responded with a status of 409 (CONFLICT)"
    )  # the browser logs the refused exchange; expected here


def test_a_pushed_prompt_reaches_the_service_worker_as_a_notification(
    page: Page, session: Session, live_server: str, push: PushService, worker: Worker
) -> None:
    page.context.grant_permissions(["notifications"], origin=live_server)
    clinician, patient, url = enrolment_link(session, live_server)
    enrol(page, url)
    # headless Chromium cannot subscribe through a real push service here: register the test's
    # own subscription, let the worker push to the local service, hand the payload to the SW
    subscribe_local(session, patient, push.subscribe())
    checkin = treated_now(session, clinician, patient)
    assert dispatch_due_checkins(worker) == 1
    payload = push.received[-1].payload
    shown = deliver_push(page, live_server, payload)
    assert shown == [
        {
            "title": "Time for your check-in",
            "tag": f"checkin-{checkin.id}",
            "data": {"url": f"/checkin/{checkin.id}", "checkin_id": checkin.id},
        }
    ]
    deadline = time.monotonic() + 10  # the SW reports 'shown' to the delivery ledger
    while time.monotonic() < deadline:
        session.expire_all()
        if session.get(CheckIn, checkin.id).shown_at:  # type: ignore[union-attr]
            break
        time.sleep(0.1)
    assert session.get(CheckIn, checkin.id).shown_at is not None  # type: ignore[union-attr]


def test_answering_a_checkin_in_a_few_taps_shows_the_confirmation(
    page: Page, session: Session, live_server: str
) -> None:
    clinician, patient, url = enrolment_link(session, live_server)
    enrol(page, url)
    checkin = treated_now(session, clinician, patient)
    page.goto(f"/checkin/{checkin.id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("How are you feeling?")
    assert serious_violations(page) == []
    screenshot(page, "checkin", (390, 1280))
    soreness = page.get_by_role("group", name="How sore is the area")
    soreness.get_by_role("radio", name="3", exact=True).click()
    page.get_by_role("group", name="fainted").get_by_role("radio", name="No").click()
    page.get_by_role("button", name="Send answers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    expect(page.get_by_text("Your next check-in")).to_be_visible()
    assert responses_for(session, checkin.id) == 1
    screenshot(page, "confirmation", (390, 1280))


def test_a_red_flag_answer_shows_the_clinics_advice_at_once(
    page: Page, session: Session, live_server: str
) -> None:
    clinician, patient, url = enrolment_link(session, live_server)
    enrol(page, url)
    checkin = treated_now(session, clinician, patient)
    page.goto(f"/checkin/{checkin.id}")
    page.get_by_role("group", name="shortness of breath").get_by_role("radio", name="Yes").click()
    page.get_by_role("button", name="Send answers").click()
    expect(page.get_by_role("alert").first).to_contain_text("emergency department")
    assert serious_violations(page) == []
    screenshot(page, "red-flag")


def test_an_answer_given_offline_arrives_exactly_once(
    page: Page, session: Session, live_server: str, console_errors: list[str]
) -> None:
    clinician, patient, url = enrolment_link(session, live_server)
    enrol(page, url)
    checkin = treated_now(session, clinician, patient)
    page.goto(f"/checkin/{checkin.id}")
    soreness = page.get_by_role("group", name="How sore is the area")
    soreness.get_by_role("radio", name="5", exact=True).click()
    page.context.set_offline(True)
    submitted = datetime.now(UTC)
    page.get_by_role("button", name="Send answers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Saved on this phone")
    expect(page.get_by_text("not sent yet").first).to_be_visible()
    saved = datetime.now(UTC)
    assert responses_for(session, checkin.id) == 0
    screenshot(page, "offline")
    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    deadline = time.monotonic() + 10
    while responses_for(session, checkin.id) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    page.goto("/")  # opening the app again flushes the outbox again: a replay is harmless
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert responses_for(session, checkin.id) == 1
    assert page.evaluate("self.checkins.store.pending().then(p => p.length)") == 0
    # stored as answered when the patient submitted, not when the phone was back online
    stored = session.scalars(select(Response).filter_by(checkin_id=checkin.id)).one()
    assert submitted - timedelta(milliseconds=1) <= stored.answered_at <= saved < stored.created_at
    # the browser logs the requests it could not make while offline: expected here
    console_errors[:] = [e for e in console_errors if "ERR_INTERNET_DISCONNECTED" not in e]


def test_denied_notifications_still_list_checkins_and_mention_email(
    page: Page, session: Session, live_server: str
) -> None:
    clinician, patient, url = enrolment_link(session, live_server)
    page.context.new_cdp_session(page).send(
        "Browser.setPermission",
        {
            "permission": {"name": "notifications"},
            "setting": "denied",
            "origin": live_server,
        },
    )
    treated_now(session, clinician, patient)
    enrol(page, url)
    expect(page.get_by_text("Notifications are blocked")).to_contain_text("by e-mail instead")
    expect(page.get_by_role("link", name="Answer check-in")).to_be_visible()
    assert serious_violations(page) == []


def test_the_app_shell_opens_offline(
    page: Page, session: Session, live_server: str, console_errors: list[str]
) -> None:
    _, _, url = enrolment_link(session, live_server)
    enrol(page, url)
    page.reload()  # now controlled by the service worker, which has cached the shell
    eventually(page, "navigator.serviceWorker.controller !== null")
    page.context.set_offline(True)
    page.goto("/")
    expect(page.locator("header")).to_contain_text("Check-in")
    expect(page.get_by_role("alert")).to_contain_text("offline")
    page.context.set_offline(False)
    # the browser logs the API requests it could not make while offline: expected here
    console_errors[:] = [e for e in console_errors if "ERR_INTERNET_DISCONNECTED" not in e]


def test_one_cache_per_version_is_kept(page: Page, session: Session, live_server: str) -> None:
    page.goto("/")
    eventually(page, "navigator.serviceWorker.ready.then(r => r.active.state === 'activated')")
    names = eventually(page, "caches.keys()", until=lambda keys: len(keys) == 1)
    assert len(names) == 1
    assert names[0].startswith("app-")


def test_a_checkin_can_be_answered_with_the_keyboard_alone(
    page: Page, session: Session, live_server: str
) -> None:
    clinician, patient, url = enrolment_link(session, live_server)
    enrol(page, url)
    checkin = treated_now(session, clinician, patient)
    page.goto(f"/checkin/{checkin.id}")
    page.get_by_role("radio", name="0", exact=True).focus()
    page.keyboard.press("ArrowRight")  # a radio group moves and selects with the arrows
    page.keyboard.press("ArrowRight")
    assert page.get_by_role("radio", name="2", exact=True).is_checked()
    page.get_by_role("button", name="Send answers").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
    assert responses_for(session, checkin.id) == 1


def test_the_checkin_reads_at_320_px_and_200_percent_text_without_sideways_scrolling(
    page: Page, session: Session, live_server: str
) -> None:
    clinician, patient, url = enrolment_link(session, live_server)
    enrol(page, url)
    checkin = treated_now(session, clinician, patient)
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(f"/checkin/{checkin.id}")
    page.evaluate("document.documentElement.style.fontSize = '200%'")
    expect(page.get_by_role("button", name="Send answers")).to_be_visible()
    too_wide = page.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)"
        ".map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"
    )
    assert too_wide == []
    screenshot(page, "checkin-200-percent-text")


def test_the_home_screen_charts_the_patients_own_recovery(
    page: Page, session: Session, live_server: str
) -> None:
    clinician, patient, url = enrolment_link(session, live_server)
    treated_at = datetime.now(UTC) - timedelta(hours=30)
    treatment = make_treatment(
        session, clinician, patient, modality="ims", treated_at=treated_at, now=treated_at
    )
    for slot, soreness, hours in (("2h", 6, 2.5), ("6h", 4, 6.5), ("24h", 2, 25)):
        checkin = next(c for c in treatment.checkins if c.slot == slot)
        answer_checkin(
            session,
            patient=patient,
            checkin_id=checkin.id,
            client_id=uuid.uuid4(),
            answers={"soreness": soreness},
            note=None,
            now=treated_at + timedelta(hours=hours),
        )
    session.commit()
    enrol(page, url)
    chart = page.get_by_role("img", name="Your recovery since your last treatment")
    expect(chart).to_be_visible()
    assert page.locator("svg polyline.soreness").count() == 1
    page.get_by_text("Show as a table").click()
    expect(page.get_by_role("row")).to_have_count(4)  # a header and three answers
    rows = page.get_by_role("row").all_inner_texts()
    assert [row.split("\t")[0] for row in rows] == ["When", "2 hours", "6 hours", "1 day"]
    assert serious_violations(page) == []
    screenshot(page, "history", (390, 1280))


def test_the_home_chart_reads_right_with_one_answer(
    page: Page, session: Session, live_server: str
) -> None:
    clinician, patient, url = enrolment_link(session, live_server)
    answered_once_and_due(session, clinician, patient)
    enrol(page, url)
    chart = page.get_by_role("img", name="Your recovery since your last treatment")
    expect(chart).to_be_visible()
    # scores on 0 to 10 whatever was answered, hours since treatment to a day at least
    assert chart.locator("text.tick").all_text_contents() == [
        *["0", "2", "4", "6", "8", "10"],
        *["0", "2 h", "6 h", "12 h", "1 day"],
    ]
    assert chart.locator("text.title").all_text_contents() == [
        "Score (0 to 10)",
        "Time since your treatment",
    ]
    assert (chart.locator("circle.soreness").count(), chart.locator("polyline").count()) == (1, 0)
    legend = page.locator(".legend")
    expect(legend).to_contain_text("Soreness")
    expect(legend).to_contain_text("Pain")
    expect(page.get_by_text("One answer so far")).to_be_visible()
    screenshot(page, "history-one-answer", (390, 1280))


def test_a_checkin_names_its_treatment_and_time_point(
    page: Page, session: Session, live_server: str
) -> None:
    clinician, patient, url = enrolment_link(session, live_server)
    checkin = answered_once_and_due(session, clinician, patient)
    local = checkin.treatment.treated_at.astimezone(ZoneInfo(patient.timezone))
    treatment = f"IMS (intramuscular stimulation) on {local:%A, %B} {local.day}"
    enrol(page, url)
    due = page.get_by_role("region", name="Ready to answer").get_by_role("listitem")
    expect(due).to_contain_text(treatment)
    expect(due).to_contain_text("Check-in: 6 hours · open until")
    answer = page.get_by_role("link", name="Answer check-in")
    expect(answer).to_have_accessible_description(re.compile(f"^{re.escape(treatment)}"))
    screenshot(page, "home-due", (390, 1280))
    answer.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("How are you feeling?")
    expect(page.locator(".about")).to_have_text(f"{treatment}Check-in: 6 hours")


def answered_once_and_due(session: Session, clinician: Clinician, patient: Patient) -> CheckIn:
    """An IMS treatment of 7 h ago: its 2 h check-in answered, its 6 h one open now."""
    treated_at = datetime.now(UTC) - timedelta(hours=7)
    treatment = make_treatment(
        session, clinician, patient, modality="ims", treated_at=treated_at, now=treated_at
    )
    answer_checkin(
        session,
        patient=patient,
        checkin_id=next(c for c in treatment.checkins if c.slot == "2h").id,
        client_id=uuid.uuid4(),
        answers={"soreness": 6},
        note=None,
        now=treated_at + timedelta(hours=2, minutes=30),
    )
    session.commit()
    return next(c for c in treatment.checkins if c.slot == "6h")


# Every layout shift of the document from its start (buffered: those before the observer too).
# All of them count: the test gives no input, and Chromium flags the shifts of a page's first
# 500 ms as "hadRecentInput" when the viewport is emulated, so that filter would hide them.
LAYOUT_SHIFTS = """(() => {
    const shifts = { entries: [] };
    shifts.observer = new PerformanceObserver((list) => shifts.entries.push(...list.getEntries()));
    shifts.observer.observe({ type: "layout-shift", buffered: true });
    self.layoutShifts = shifts;
})()"""

TWO_FRAMES = "new Promise((drawn) => requestAnimationFrame(() => requestAnimationFrame(drawn)))"

# The sum of the page's shifts so far (at least its Cumulative Layout Shift) and what moved; read
# after TWO_FRAMES, as a frame's shifts are measured when it is drawn.
SHIFTS_SO_FAR = """() => {
    const { entries, observer } = self.layoutShifts;
    entries.push(...observer.takeRecords());
    return {
        score: entries.reduce((sum, entry) => sum + entry.value, 0),
        moved: entries.flatMap((entry) => entry.sources.map((source) => source.node
            ? `${source.node.nodeName}.${source.node.className || ""} ${entry.value.toFixed(4)}`
            : `? ${entry.value.toFixed(4)}`)),
    };
}"""


@contextmanager
def loading_drawn_first(page: Page) -> Iterator[None]:
    """Hold the app's API answers until the page has drawn "Loading…", as on a slow phone
    network (on loopback the answers can come before the first frame, and nothing would move)."""
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/api/v1/**", hold)
    yield
    expect(page.get_by_text("Loading…")).to_be_visible()
    page.evaluate(TWO_FRAMES)
    for route in held:
        route.continue_()
    page.unroute("**/api/v1/**", hold)


def test_the_screens_do_not_shift_when_the_checkins_replace_loading(
    page: Page, session: Session, live_server: str, stand_in_push: Subscriber
) -> None:
    clinician, patient, url = enrolment_link(session, live_server)
    checkin = answered_once_and_due(session, clinician, patient)
    enrol(page, url)
    page.set_viewport_size({"width": 390, "height": 844})
    page.add_init_script(LAYOUT_SHIFTS)

    with loading_drawn_first(page):
        page.goto("/")
    expect(page.get_by_role("link", name="Answer check-in")).to_be_visible()
    expect(page.get_by_role("img", name="Your recovery since your last treatment")).to_be_visible()
    # the reminders card says "on" once the server holds the subscription: its last change
    expect(page.get_by_text("Reminders are on.")).to_be_visible()
    page.evaluate(TWO_FRAMES)
    home = page.evaluate(SHIFTS_SO_FAR)

    with loading_drawn_first(page):
        page.goto(f"/checkin/{checkin.id}")
    expect(page.get_by_role("button", name="Send answers")).to_be_visible()
    page.evaluate(TWO_FRAMES)
    form = page.evaluate(SHIFTS_SO_FAR)

    assert home["score"] < 0.05, home
    assert form["score"] < 0.05, form


def test_on_an_iphone_the_app_first_shows_how_to_install_it(
    playwright_driver: Playwright, session: Session, live_server: str, tmp_path: Path
) -> None:
    _, _, url = enrolment_link(session, live_server)
    iphone = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "iphone"),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        user_agent=(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
        ),
    )
    try:
        page = iphone.pages[0]
        enrol(page, url)
        expect(page.get_by_text("Add to Home Screen")).to_be_visible()
        expect(page.get_by_role("button", name="Turn on reminders")).to_have_count(0)
        card = page.get_by_role("region", name="Check-in reminders")
        expect(card).to_contain_text("only from the app on your Home Screen, so none will come")
        expect(card).to_contain_text("Your clinic will send your check-ins by e-mail instead.")
        screenshot(page, "reminders-iphone", (320, 390))
    finally:
        iphone.close()


def test_a_new_release_replaces_the_cached_app_cleanly(
    page: Page, app: Flask, live_server: str, tmp_path: Path
) -> None:
    page.goto("/")
    eventually(page, "navigator.serviceWorker.ready.then(r => r.active.state === 'activated')")
    old = eventually(page, "caches.keys()", until=lambda keys: len(keys) == 1)
    release = tmp_path / "pwa"
    shutil.copytree(PWA_DIR, release)
    (release / "styles.css").write_text((PWA_DIR / "styles.css").read_text() + "\n/* v2 */\n")
    original = app.extensions["pwa_bundle"]
    app.extensions["pwa_bundle"] = load_bundle(release)
    try:
        page.reload()  # a navigation makes the browser fetch /sw.js again and see the release
        page.evaluate(
            "navigator.serviceWorker.getRegistration().then(r => r.update()).catch(() => null)"
        )  # and so does update()
        expected = [f"app-{app.extensions['pwa_bundle'].version}"]
        new = eventually(page, "caches.keys()", until=lambda keys: keys == expected, timeout_s=20)
        assert new == expected  # the new version's cache, and the old one deleted
        assert old != expected
        page.reload()
        css = page.evaluate("[...document.styleSheets].map(s => s.href).join(' ')")
        assert app.extensions["pwa_bundle"].version in css
    finally:
        app.extensions["pwa_bundle"] = original


def test_opening_a_notification_is_recorded_in_the_ledger(
    page: Page, session: Session, live_server: str, push: PushService, worker: Worker
) -> None:
    page.context.grant_permissions(["notifications"], origin=live_server)
    clinician, patient, url = enrolment_link(session, live_server)
    enrol(page, url)
    subscribe_local(session, patient, push.subscribe())
    checkin = treated_now(session, clinician, patient)
    dispatch_due_checkins(worker)
    assert deliver_push(page, live_server, push.received[-1].payload)
    # a click on a notification cannot be made in headless Chromium: the service worker is
    # handed the same event a click dispatches, with the notification it showed
    [service_worker] = page.context.service_workers
    service_worker.evaluate("""self.registration.getNotifications().then(([shown]) =>
        self.dispatchEvent(new NotificationEvent('notificationclick', {notification: shown})))""")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        session.expire_all()
        if session.get(CheckIn, checkin.id).opened_at:  # type: ignore[union-attr]
            break
        time.sleep(0.1)
    assert session.get(CheckIn, checkin.id).opened_at is not None  # type: ignore[union-attr]
    # the page goes there with location.assign: wait for that navigation itself (asking the page
    # for its address meanwhile can land inside the navigation, in a context being destroyed)
    page.wait_for_url(f"{live_server}/checkin/{checkin.id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("How are you feeling?")


def fake_push_manager(page: Page, subscription: dict[str, Any]) -> None:
    """Stand in for the browser's push service (unreachable here): ``subscribe`` hands out the
    test's subscription and ``getSubscription`` returns it once made, as a browser would."""
    page.add_init_script(f"""(() => {{
        const json = {json.dumps(subscription)};
        const made = () => ({{ endpoint: json.endpoint, toJSON: () => json,
                               options: {{ userVisibleOnly: true }} }});
        PushManager.prototype.subscribe = async function () {{
            localStorage.setItem('subscribed', '1'); return made(); }};
        PushManager.prototype.getSubscription = async function () {{
            return localStorage.getItem('subscribed') ? made() : null; }};
    }})()""")


@pytest.fixture
def stand_in_push(
    page: Page, live_server: str, push: PushService, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> Subscriber:
    """The browser side of a subscription at the local push service, which the page's stand-in
    PushManager hands out; the app accepts such local endpoints for this test."""
    monkeypatch.setitem(app.config, "PUSH_ALLOW_LOCAL", True)
    page.context.grant_permissions(["notifications"], origin=live_server)
    browser_side = push.subscribe()
    fake_push_manager(page, browser_side.to_json())
    return browser_side


def test_turning_on_reminders_registers_the_subscription(
    page: Page, session: Session, live_server: str, stand_in_push: Subscriber
) -> None:
    _, patient, url = enrolment_link(session, live_server)
    page.context.clear_permissions()  # the patient has not been asked yet
    enrol(page, url)
    page.context.grant_permissions(["notifications"], origin=live_server)  # they will say yes
    page.get_by_role("button", name="Turn on reminders").click()
    expect(page.get_by_text("Reminders are on. We will tell you")).to_be_visible()
    assert eventually_rows(session, patient.id) == [stand_in_push.endpoint]


def test_every_app_open_registers_the_existing_subscription_again(
    page: Page, session: Session, live_server: str, stand_in_push: Subscriber
) -> None:
    _, patient, url = enrolment_link(session, live_server)
    page.goto("/")
    page.evaluate("localStorage.setItem('subscribed', '1')")  # subscribed before enrolling
    enrol(page, url)  # the home screen opens: the subscription reaches the server
    assert eventually_rows(session, patient.id) == [stand_in_push.endpoint]


def eventually_rows(session: Session, patient_id: int) -> list[str]:
    """The endpoints the server holds for the patient, once there are any (10 s at most)."""
    deadline = time.monotonic() + 10
    endpoints: list[str] = []
    while not endpoints and time.monotonic() < deadline:
        session.expire_all()
        endpoints = list(
            session.scalars(select(PushSubscription.endpoint).filter_by(patient_id=patient_id))
        )
        time.sleep(0.1)
    return endpoints


def test_a_saved_answer_the_server_refuses_leaves_the_phone_and_the_patient_is_told(
    page: Page, session: Session, live_server: str, console_errors: list[str]
) -> None:
    clinician, patient, url = enrolment_link(session, live_server)
    enrol(page, url)
    checkin = treated_now(session, clinician, patient)
    # saved on the phone (say, by an older version of the app) with text no database stores
    page.evaluate(
        """(id) => self.checkins.store.queue({client_id: crypto.randomUUID(), checkin_id: id,
            queued_at: new Date().toISOString(), token: null,
            body: {answers: {soreness: 2}, note: "a\\u0000b"}})""",
        checkin.id,
    )
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    notice = page.get_by_role("alert").filter(has_text="could not be sent")
    expect(notice).to_contain_text("has been removed from it")
    expect(notice).to_contain_text("please answer it again")
    assert page.evaluate("self.checkins.store.pending().then(p => p.length)") == 0
    assert responses_for(session, checkin.id) == 0
    screenshot(page, "refused-saved-answer", (320, 390))
    # the browser logs the refused request: expected here
    console_errors[:] = [e for e in console_errors if "422" not in e]
