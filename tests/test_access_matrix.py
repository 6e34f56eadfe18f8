"""Who may do what: every route and method of the app, as each kind of caller.

The rows are written out here, one per route and method of the app's URL map; a route added to
the app without a row here fails the test, so no door is added unguarded. Each request carries a
body the route can act on, so what is tested is who gets through, not whether the body is valid.

Outcomes: a status, ``OK`` (2xx or a redirect elsewhere than the login page) or ``LOGIN`` (the
pages' redirect to sign in).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server.models import Alert, AlertContact, ApiToken, Clinician, Patient
from server.push import EndpointPolicy
from server.services.answers import answer_checkin
from server.services.subscriptions import subscribe
from tests.factories import (
    PASSWORD,
    bearer,
    browser_subscription,
    checkin_for,
    enrolled_headers,
    make_clinic,
    make_clinician,
    make_open_checkin_now,
    make_patient,
    make_treatment,
    sign_in_pages,
)

OK, LOGIN = "ok", "login"
ROLES = (
    "anonymous",
    "patient",  # patient A1, whose objects the ids name
    "other_patient",  # patient A2, of the same clinic
    "clinician",  # of clinic A, not an admin
    "admin",  # of clinic A
    "other_clinic",  # an admin of clinic B
    "network_admin",  # of clinic A
)
ANYONE = (OK,) * 7
PATIENT_ONLY = (401, OK, 404, 401, 401, 401, 401)
STAFF = (401, 401, 401, OK, OK, OK, OK)  # anything of clinic A's staff, nothing of another's
STAFF_OF_A = (401, 401, 401, OK, OK, 404, OK)
ADMIN_OF_A = (401, 401, 401, 403, OK, 404, OK)
PAGE = (LOGIN, LOGIN, LOGIN, OK, OK, OK, OK)
PAGE_OF_A = (LOGIN, LOGIN, LOGIN, OK, OK, 404, OK)
FORM_OF_A = (LOGIN, LOGIN, LOGIN, 422, 422, 404, 422)  # a form reached, its empty fields refused


@dataclass
class World:
    """Clinic A with its staff and two enrolled patients, clinic B's admin, and the ids of A1's
    objects that the routes name."""

    headers: dict[str, dict[str, str]]
    pages: dict[str, FlaskClient]
    ids: dict[str, Any]
    spare_token_id: int


def build_world(app: Flask, session: Session) -> World:
    clinic_a, clinic_b = make_clinic(session, name="Clinic A"), make_clinic(session, name="B")
    staff: dict[str, Clinician] = {
        "clinician": make_clinician(session, clinic_a),
        "admin": make_clinician(session, clinic_a, role="admin", email="admin@a.example"),
        "other_clinic": make_clinician(session, clinic_b, role="admin"),
        "network_admin": make_clinician(session, clinic_a, role="network_admin"),
    }
    clinician = staff["clinician"]
    patients: dict[str, Patient] = {
        "patient": make_patient(session, clinician, code="A1", quiet_hours=None),
        "other_patient": make_patient(session, clinician, code="A2", quiet_hours=None),
    }
    open_checkin = make_open_checkin_now(session, clinician, patients["patient"])
    flagged = make_treatment(
        session,
        clinician,
        patients["patient"],
        treated_at=datetime.now(UTC) - timedelta(hours=7),
        now=datetime.now(UTC) - timedelta(hours=7),
    )
    answer_checkin(
        session,
        patient=patients["patient"],
        checkin_id=checkin_for(flagged, "6h").id,
        client_id=uuid.uuid4(),
        answers={"rf_neuro": True},
        note=None,
        now=datetime.now(UTC),
    )
    alert = session.query(Alert).filter_by(treatment_id=flagged.id).one()
    contact = AlertContact(
        clinic_id=clinic_a.id, role="on_call", name="Front desk", email="desk@a.example"
    )
    session.add(contact)
    session.flush()
    subscription = browser_subscription()
    subscribe(
        session,
        patient=patients["patient"],
        endpoint=subscription["endpoint"],
        p256dh=subscription["keys"]["p256dh"],
        auth=subscription["keys"]["auth"],
        expiration_ms=None,
        now=datetime.now(UTC),
        policy=EndpointPolicy(),
    )
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for role, patient in patients.items():
        headers[role] = enrolled_headers(session, clinician, patient)
    for role, member in staff.items():
        headers[role] = bearer(session, member)
    bearer(session, staff["admin"])  # a spare token, which only the admin may revoke
    spare = session.scalar(
        select(func.max(ApiToken.id)).where(ApiToken.clinician_id == staff["admin"].id)
    )
    pages = {}
    for role in ROLES:
        pages[role] = app.test_client()
        if role in staff:
            sign_in_pages(pages[role], staff[role])
    session.commit()
    return World(
        headers=headers,
        pages=pages,
        ids={
            "patient_id": patients["patient"].id,
            "treatment_id": open_checkin.treatment_id,
            "checkin_id": open_checkin.id,
            "alert_id": alert.id,
            "contact_id": contact.id,
            "member_id": staff["clinician"].id,
            "endpoint": subscription["endpoint"],
            "when": datetime.now(UTC).isoformat(),
            "due_at": open_checkin.due_at.isoformat(),
        },
        spare_token_id=int(spare or 0),
    )


ME = (401, OK, OK, 401, 401, 401, 401)  # each patient their own
BY_ADMINS = (401, 401, 401, 403, OK, OK, OK)  # a clinic's settings: each admin their own clinic's
Body = Callable[[str, World], dict[str, Any]] | None
STAFF_PAGE = (LOGIN, LOGIN, LOGIN, 403, OK, OK, OK)  # each admin their own clinic's
STAFF_PAGE_OF_A = (LOGIN, LOGIN, LOGIN, 403, OK, 404, OK)
NOBODY_FOUND = (404,) * 7  # a one-time link nobody made


def _treatment(role: str, world: World) -> dict[str, Any]:
    return {"modality": "ims", "treated_at": world.ids["when"], "regions": ["neck"]}


def _entry(role: str, world: World) -> dict[str, Any]:
    return {
        "client_id": "00000000-0000-4000-8000-000000000001",  # a second entry replays the first
        "answers": {"soreness": 3},
        "answered_at": world.ids["when"],
        "source": "phone",
    }


def _protocol(role: str, world: World) -> dict[str, Any]:
    return {"timepoints": [{"slot": "24h", "label": "24 hours", "offset_h": 24, "window_h": 12,
                            "items": ["soreness"]}]}  # fmt: skip


# (method, rule) -> (the path with ids, the body, the outcome for each of ROLES)
MATRIX: dict[tuple[str, str], tuple[str, Body, tuple[object, ...]]] = {
    # the patient app and what any browser fetches
    ("GET", "/"): ("/", None, ANYONE),
    ("GET", "/a/<version>/<path:name>"): ("/a/{version}/app.js", None, ANYONE),
    ("GET", "/checkin/<int:checkin_id>"): ("/checkin/{checkin_id}", None, ANYONE),
    ("GET", "/enrol"): ("/enrol", None, ANYONE),
    # staff (admins), one's own password, a forgotten one
    ("GET", "/api/v1/clinicians"): ("/api/v1/clinicians", None, BY_ADMINS),
    ("POST", "/api/v1/clinicians"): (
        "/api/v1/clinicians",
        lambda r, w: {"email": f"new-{r}@example.org"},
        BY_ADMINS,
    ),
    ("PATCH", "/api/v1/clinicians/<int:clinician_id>"): (
        "/api/v1/clinicians/{member_id}",
        lambda r, w: {"role": "clinician"},
        ADMIN_OF_A,
    ),
    ("POST", "/api/v1/clinicians/<int:clinician_id>/reset-link"): (
        "/api/v1/clinicians/{member_id}/reset-link",
        lambda r, w: {},
        ADMIN_OF_A,
    ),
    ("POST", "/api/v1/auth/password"): (
        "/api/v1/auth/password",
        lambda r, w: {"old_password": PASSWORD, "new_password": "lantern kelp meadow"},
        STAFF,
    ),
    ("POST", "/api/v1/auth/password-reset"): (
        "/api/v1/auth/password-reset",
        lambda r, w: {"email": "nobody@example.org"},
        ANYONE,
    ),
    ("GET", "/clinic/account"): ("/clinic/account", None, PAGE),
    ("POST", "/clinic/account/password"): (
        "/clinic/account/password",
        lambda r, w: {},
        (LOGIN, LOGIN, LOGIN, 422, 422, 422, 422),
    ),
    ("POST", "/clinic/account/phone"): ("/clinic/account/phone", lambda r, w: {}, PAGE),
    ("GET", "/clinic/staff"): ("/clinic/staff", None, STAFF_PAGE),
    ("POST", "/clinic/staff"): (
        "/clinic/staff",
        lambda r, w: {"email": f"new-{r}@example.org"},
        STAFF_PAGE,
    ),
    ("POST", "/clinic/staff/<int:clinician_id>/role"): (
        "/clinic/staff/{member_id}/role",
        lambda r, w: {"role": "clinician"},
        STAFF_PAGE_OF_A,
    ),
    ("POST", "/clinic/staff/<int:clinician_id>/deactivate"): (
        "/clinic/staff/{member_id}/deactivate",
        lambda r, w: {},
        STAFF_PAGE_OF_A,
    ),
    ("POST", "/clinic/staff/<int:clinician_id>/reactivate"): (
        "/clinic/staff/{member_id}/reactivate",
        lambda r, w: {},
        STAFF_PAGE_OF_A,
    ),
    ("POST", "/clinic/staff/<int:clinician_id>/reset-link"): (
        "/clinic/staff/{member_id}/reset-link",
        lambda r, w: {},
        STAFF_PAGE_OF_A,
    ),
    # two-factor sign-in: the steps after the password need a pending sign-in, which none of
    # these callers has (they are sent back to sign in)
    ("GET", "/clinic/login/code"): ("/clinic/login/code", None, (LOGIN,) * 7),
    ("POST", "/clinic/login/code"): (
        "/clinic/login/code",
        lambda r, w: {"code": "1"},
        (LOGIN,) * 7,
    ),
    ("GET", "/clinic/login/two-factor"): ("/clinic/login/two-factor", None, (LOGIN,) * 7),
    ("POST", "/clinic/login/two-factor"): (
        "/clinic/login/two-factor",
        lambda r, w: {"code": "1"},
        (LOGIN,) * 7,
    ),
    ("GET", "/clinic/account/two-factor"): ("/clinic/account/two-factor", None, PAGE),
    ("POST", "/clinic/account/two-factor"): (
        "/clinic/account/two-factor",
        lambda r, w: {"code": "1"},
        PAGE,  # no setup begun: back to the setup page
    ),
    ("POST", "/clinic/account/two-factor/off"): (
        "/clinic/account/two-factor/off",
        lambda r, w: {"code": "1"},
        (LOGIN, LOGIN, LOGIN, 422, 422, 422, 422),  # not on for them: said on the page
    ),
    ("POST", "/clinic/account/two-factor/recovery-codes"): (
        "/clinic/account/two-factor/recovery-codes",
        lambda r, w: {"code": "1"},
        (LOGIN, LOGIN, LOGIN, 422, 422, 422, 422),
    ),
    ("POST", "/clinic/staff/two-factor"): (
        "/clinic/staff/two-factor",
        lambda r, w: {"required": "no"},
        STAFF_PAGE,
    ),
    ("POST", "/clinic/staff/<int:clinician_id>/two-factor-reset"): (
        "/clinic/staff/{member_id}/two-factor-reset",
        lambda r, w: {},
        STAFF_PAGE_OF_A,
    ),
    ("GET", "/api/v1/audit"): ("/api/v1/audit", None, BY_ADMINS),
    ("GET", "/clinic/settings"): ("/clinic/settings", None, PAGE),
    ("POST", "/clinic/settings"): (
        "/clinic/settings",
        lambda r, w: {"name": f"Clinic of {r}", "timezone": "Europe/London"},
        STAFF_PAGE,  # each admin their own clinic's
    ),
    ("GET", "/api/v1/patients/<int:patient_id>/fhir"): (
        "/api/v1/patients/{patient_id}/fhir",
        None,
        STAFF_OF_A,
    ),
    ("POST", "/api/v1/patients/<int:patient_id>/erasure"): (
        "/api/v1/patients/{patient_id}/erasure",
        lambda r, w: {"confirm": "not the code"},
        (401, 401, 401, 403, 422, 404, 422),  # unconfirmed: nothing erased
    ),
    ("POST", "/api/v1/patients/<int:patient_id>/discharge"): (
        "/api/v1/patients/{patient_id}/discharge",
        None,
        (401, 401, 401, OK, 409, 404, 409),  # the first discharge stands
    ),
    ("DELETE", "/api/v1/patients/<int:patient_id>/discharge"): (
        "/api/v1/patients/{patient_id}/discharge",
        None,
        (401, 401, 401, 409, 409, 404, 409),  # not discharged
    ),
    ("GET", "/clinic/audit"): ("/clinic/audit", None, STAFF_PAGE),
    ("GET", "/clinic/audit.csv"): ("/clinic/audit.csv", None, STAFF_PAGE),
    ("GET", "/clinic/password/forgot"): ("/clinic/password/forgot", None, ANYONE),
    ("POST", "/clinic/password/forgot"): (
        "/clinic/password/forgot",
        lambda r, w: {"email": "nobody@example.org"},
        ANYONE,
    ),
    ("GET", "/clinic/password/<token>"): ("/clinic/password/not-a-token", None, NOBODY_FOUND),
    ("POST", "/clinic/password/<token>"): (
        "/clinic/password/not-a-token",
        lambda r, w: {"password": "lantern kelp meadow"},
        NOBODY_FOUND,
    ),
    # the SMS provider's webhook: only a request it signed gets through (tests/test_sms_webhook)
    ("POST", "/sms/inbound"): ("/sms/inbound", lambda r, w: {"From": "+16045550100"}, (403,) * 7),
    ("GET", "/history"): ("/history", None, ANYONE),
    # the load balancer's probes (tests/test_health); the test database is made by create_all,
    # with no migration recorded, so it is never ready, whoever asks
    ("GET", "/healthz"): ("/healthz", None, ANYONE),
    ("GET", "/readyz"): ("/readyz", None, (503,) * 7),
    ("GET", "/manifest.webmanifest"): ("/manifest.webmanifest", None, ANYONE),
    ("GET", "/sw.js"): ("/sw.js", None, ANYONE),
    ("GET", "/api/v1/openapi.json"): ("/api/v1/openapi.json", None, ANYONE),
    ("GET", "/api/v1/push/key"): ("/api/v1/push/key", None, ANYONE),
    ("POST", "/api/v1/enrol"): ("/api/v1/enrol", lambda r, w: {"token": "not-a-token"}, (404,) * 7),
    ("POST", "/api/v1/auth/token"): (
        "/api/v1/auth/token",
        lambda r, w: {"email": "admin@a.example", "password": PASSWORD},
        ANYONE,
    ),
    # the patient's own
    ("GET", "/api/v1/me"): ("/api/v1/me", None, ME),
    ("GET", "/api/v1/me/checkins"): ("/api/v1/me/checkins", None, ME),
    ("GET", "/api/v1/me/history"): ("/api/v1/me/history", None, ME),
    ("GET", "/api/v1/me/checkins/<int:checkin_id>"): (
        "/api/v1/me/checkins/{checkin_id}",
        None,
        PATIENT_ONLY,
    ),
    ("POST", "/api/v1/me/checkins/<int:checkin_id>/delivery"): (
        "/api/v1/me/checkins/{checkin_id}/delivery",
        lambda r, w: {"event": "shown"},
        PATIENT_ONLY,
    ),
    ("POST", "/api/v1/me/checkins/<int:checkin_id>/response"): (
        "/api/v1/me/checkins/{checkin_id}/response",
        lambda r, w: {"client_id": str(uuid.uuid4()), "answers": {"soreness": 2}},
        PATIENT_ONLY,
    ),
    ("POST", "/api/v1/me/push-subscriptions"): (
        "/api/v1/me/push-subscriptions",
        lambda r, w: browser_subscription(),
        ME,
    ),
    ("DELETE", "/api/v1/me/push-subscriptions"): (
        "/api/v1/me/push-subscriptions",
        lambda r, w: {"endpoint": w.ids["endpoint"]},
        PATIENT_ONLY,
    ),
    # the clinic's staff
    ("GET", "/api/v1/alerts"): ("/api/v1/alerts", None, STAFF),
    ("POST", "/api/v1/alerts/<int:alert_id>/ack"): (
        "/api/v1/alerts/{alert_id}/ack",
        lambda r, w: {"action": "called_patient"},
        STAFF_OF_A,
    ),
    ("GET", "/api/v1/alerts/<int:alert_id>/notices"): (
        "/api/v1/alerts/{alert_id}/notices",
        None,
        STAFF_OF_A,
    ),
    ("GET", "/api/v1/analytics/answer-rates"): ("/api/v1/analytics/answer-rates", None, STAFF),
    ("GET", "/api/v1/analytics/case-mix"): ("/api/v1/analytics/case-mix", None, STAFF),
    ("GET", "/api/v1/analytics/adjusted"): ("/api/v1/analytics/adjusted", None, STAFF),
    ("GET", "/api/v1/analytics/dose"): ("/api/v1/analytics/dose", None, STAFF),
    ("GET", "/api/v1/analytics/recovery"): ("/api/v1/analytics/recovery", None, STAFF),
    ("GET", "/api/v1/analytics/recovery/elapsed"): (
        "/api/v1/analytics/recovery/elapsed",
        None,
        STAFF,
    ),
    ("GET", "/api/v1/analytics/resolution"): ("/api/v1/analytics/resolution", None, STAFF),
    ("GET", "/api/v1/analytics/responders"): ("/api/v1/analytics/responders", None, STAFF),
    ("GET", "/api/v1/analytics/significance"): ("/api/v1/analytics/significance", None, STAFF),
    ("GET", "/api/v1/auth/tokens"): ("/api/v1/auth/tokens", None, STAFF),
    ("DELETE", "/api/v1/auth/tokens/<int:token_id>"): (
        "/api/v1/auth/tokens/{spare_token_id}",
        None,
        (401, 401, 401, 404, OK, 404, 404),
    ),
    ("PATCH", "/api/v1/checkins/<int:checkin_id>"): (
        "/api/v1/checkins/{checkin_id}",
        lambda r, w: {"due_at": w.ids["due_at"]},
        STAFF_OF_A,
    ),
    ("GET", "/api/v1/checkins/<int:checkin_id>/deliveries"): (
        "/api/v1/checkins/{checkin_id}/deliveries",
        None,
        STAFF_OF_A,
    ),
    ("POST", "/api/v1/checkins/<int:checkin_id>/response"): (
        "/api/v1/checkins/{checkin_id}/response",
        _entry,
        STAFF_OF_A,
    ),
    ("GET", "/api/v1/clinic"): ("/api/v1/clinic", None, STAFF),
    ("PUT", "/api/v1/clinic"): (
        "/api/v1/clinic",
        lambda r, w: {"phone": "+1 604 555 0142"},
        BY_ADMINS,
    ),
    ("GET", "/api/v1/clinic/alert-routing"): ("/api/v1/clinic/alert-routing", None, STAFF),
    ("PUT", "/api/v1/clinic/alert-routing"): (
        "/api/v1/clinic/alert-routing",
        lambda r, w: {"escalate_after_min": 10, "routing": None},
        BY_ADMINS,
    ),
    ("GET", "/api/v1/clinic/alert-contacts"): ("/api/v1/clinic/alert-contacts", None, STAFF),
    ("POST", "/api/v1/clinic/alert-contacts"): (
        "/api/v1/clinic/alert-contacts",
        lambda r, w: {"role": "backup", "name": f"Cover {r}", "email": f"{r}@cover.example"},
        BY_ADMINS,
    ),
    ("DELETE", "/api/v1/clinic/alert-contacts/<int:contact_id>"): (
        "/api/v1/clinic/alert-contacts/{contact_id}",
        None,
        (401, 401, 401, 403, OK, 404, 404),  # the first admin removes it
    ),
    ("GET", "/api/v1/exports/answers.csv"): ("/api/v1/exports/answers.csv", None, STAFF),
    ("GET", "/api/v1/exports/fhir"): ("/api/v1/exports/fhir", None, STAFF),
    ("GET", "/api/v1/patients"): ("/api/v1/patients", None, STAFF),
    ("POST", "/api/v1/patients"): (
        "/api/v1/patients",
        lambda r, w: {"code": f"N-{r}", "timezone": "UTC"},
        STAFF,
    ),
    ("GET", "/api/v1/patients/<int:patient_id>"): (
        "/api/v1/patients/{patient_id}",
        None,
        STAFF_OF_A,
    ),
    ("PATCH", "/api/v1/patients/<int:patient_id>"): (
        "/api/v1/patients/{patient_id}",
        lambda r, w: {"display_name": "Sam"},
        STAFF_OF_A,
    ),
    ("POST", "/api/v1/patients/<int:patient_id>/enrolment"): (
        "/api/v1/patients/{patient_id}/enrolment",
        None,
        STAFF_OF_A,
    ),
    ("DELETE", "/api/v1/patients/<int:patient_id>/tokens"): (
        "/api/v1/patients/{patient_id}/tokens",
        None,
        STAFF_OF_A,
    ),
    ("POST", "/api/v1/patients/<int:patient_id>/treatments"): (
        "/api/v1/patients/{patient_id}/treatments",
        _treatment,
        STAFF_OF_A,
    ),
    ("GET", "/api/v1/protocols"): ("/api/v1/protocols", None, STAFF),
    ("GET", "/api/v1/protocols/<any(ims, dry_needling, acupuncture):modality>"): (
        "/api/v1/protocols/ims",
        None,
        STAFF,
    ),
    ("PUT", "/api/v1/protocols/<any(ims, dry_needling, acupuncture):modality>"): (
        "/api/v1/protocols/ims",
        _protocol,
        BY_ADMINS,
    ),
    ("DELETE", "/api/v1/protocols/<any(ims, dry_needling, acupuncture):modality>"): (
        "/api/v1/protocols/ims",
        None,
        (401, 401, 401, 403, 404, 404, 404),  # an admin may reset; here none was overridden
    ),
    ("GET", "/api/v1/treatments/<int:treatment_id>"): (
        "/api/v1/treatments/{treatment_id}",
        None,
        STAFF_OF_A,
    ),
    # the clinician pages (a patient's token means nothing there: they are anonymous)
    ("GET", "/clinic/"): ("/clinic/", None, PAGE),
    ("GET", "/clinic/login"): ("/clinic/login", None, ANYONE),
    ("POST", "/clinic/login"): (
        "/clinic/login",
        lambda r, w: {"email": "admin@a.example", "password": "wrong-one-1"},
        (422,) * 7,
    ),
    ("POST", "/clinic/logout"): ("/clinic/logout", lambda r, w: {}, (LOGIN,) * 7),
    ("GET", "/clinic/patients"): ("/clinic/patients", None, PAGE),
    ("GET", "/clinic/patients/new"): ("/clinic/patients/new", None, PAGE),
    ("POST", "/clinic/patients/new"): (
        "/clinic/patients/new",
        lambda r, w: {},
        (LOGIN, LOGIN, LOGIN, 422, 422, 422, 422),
    ),
    ("GET", "/clinic/patients/<int:patient_id>"): (
        "/clinic/patients/{patient_id}",
        None,
        PAGE_OF_A,
    ),
    ("POST", "/clinic/patients/<int:patient_id>/details"): (
        "/clinic/patients/{patient_id}/details",
        lambda r, w: {},
        FORM_OF_A,
    ),
    ("POST", "/clinic/patients/<int:patient_id>/messages"): (
        "/clinic/patients/{patient_id}/messages",
        lambda r, w: {},
        FORM_OF_A,
    ),
    ("POST", "/clinic/patients/<int:patient_id>/devices/revoke"): (
        "/clinic/patients/{patient_id}/devices/revoke",
        lambda r, w: {},
        PAGE_OF_A,
    ),
    ("GET", "/clinic/patients/<int:patient_id>/summary"): (
        "/clinic/patients/{patient_id}/summary",
        None,
        PAGE_OF_A,
    ),
    ("GET", "/clinic/patients/<int:patient_id>/record.fhir.json"): (
        "/clinic/patients/{patient_id}/record.fhir.json",
        None,
        PAGE_OF_A,
    ),
    ("GET", "/clinic/patients/<int:patient_id>/erase"): (
        "/clinic/patients/{patient_id}/erase",
        None,
        (LOGIN, LOGIN, LOGIN, 403, OK, 404, OK),
    ),
    ("POST", "/clinic/patients/<int:patient_id>/erase"): (
        "/clinic/patients/{patient_id}/erase",
        lambda r, w: {"confirm": "not the code"},
        (LOGIN, LOGIN, LOGIN, 403, 422, 404, 422),  # unconfirmed: nothing erased
    ),
    ("POST", "/clinic/patients/<int:patient_id>/discharge"): (
        "/clinic/patients/{patient_id}/discharge",
        lambda r, w: {},
        (LOGIN, LOGIN, LOGIN, OK, 409, 404, 409),  # the first discharge stands
    ),
    ("POST", "/clinic/patients/<int:patient_id>/readmit"): (
        "/clinic/patients/{patient_id}/readmit",
        lambda r, w: {},
        (LOGIN, LOGIN, LOGIN, 409, 409, 404, 409),  # not discharged
    ),
    ("POST", "/clinic/patients/<int:patient_id>/enrolment"): (
        "/clinic/patients/{patient_id}/enrolment",
        lambda r, w: {},
        PAGE_OF_A,
    ),
    ("GET", "/clinic/patients/<int:patient_id>/treatments/new"): (
        "/clinic/patients/{patient_id}/treatments/new",
        None,
        PAGE_OF_A,
    ),
    ("POST", "/clinic/patients/<int:patient_id>/treatments/new"): (
        "/clinic/patients/{patient_id}/treatments/new",
        lambda r, w: {},
        FORM_OF_A,
    ),
    ("GET", "/clinic/checkins/<int:checkin_id>/answers"): (
        "/clinic/checkins/{checkin_id}/answers",
        None,
        PAGE_OF_A,
    ),
    ("POST", "/clinic/checkins/<int:checkin_id>/answers"): (
        "/clinic/checkins/{checkin_id}/answers",
        lambda r, w: {},
        FORM_OF_A,
    ),
    ("GET", "/clinic/treatments/<int:treatment_id>/diary"): (
        "/clinic/treatments/{treatment_id}/diary",
        None,
        PAGE_OF_A,
    ),
    ("POST", "/clinic/treatments/<int:treatment_id>/diary"): (
        "/clinic/treatments/{treatment_id}/diary",
        lambda r, w: {},
        FORM_OF_A,
    ),
    ("GET", "/clinic/treatments/<int:treatment_id>/recovery.csv"): (
        "/clinic/treatments/{treatment_id}/recovery.csv",
        None,
        PAGE_OF_A,
    ),
    ("POST", "/clinic/alerts/<int:alert_id>/ack"): (
        "/clinic/alerts/{alert_id}/ack",
        lambda r, w: {"action": "called_patient"},
        PAGE_OF_A,
    ),
    ("GET", "/clinic/today/alerts"): ("/clinic/today/alerts", None, PAGE),
    ("GET", "/clinic/alert-routing"): ("/clinic/alert-routing", None, PAGE),
    ("POST", "/clinic/alert-routing"): (
        "/clinic/alert-routing",
        lambda r, w: {"escalate_after_min": "15", "restore": "default"},
        (LOGIN, LOGIN, LOGIN, 403, OK, OK, OK),  # each admin their own clinic's
    ),
    ("POST", "/clinic/alert-routing/contacts"): (
        "/clinic/alert-routing/contacts",
        lambda r, w: {"role": "backup", "name": f"Cover {r}", "email": f"{r}@cover.example"},
        (LOGIN, LOGIN, LOGIN, 403, OK, OK, OK),
    ),
    ("POST", "/clinic/alert-routing/contacts/<int:contact_id>/remove"): (
        "/clinic/alert-routing/contacts/{contact_id}/remove",
        lambda r, w: {},
        (LOGIN, LOGIN, LOGIN, 403, OK, 404, 404),  # the first admin removes it
    ),
    ("GET", "/clinic/compare"): ("/clinic/compare", None, PAGE),
    ("GET", "/clinic/compare/<analytic>.csv"): ("/clinic/compare/recovery.csv", None, PAGE),
    ("GET", "/clinic/protocols"): ("/clinic/protocols", None, PAGE),
    ("POST", "/clinic/protocols/<modality>"): (
        "/clinic/protocols/ims",
        lambda r, w: {},
        (LOGIN, LOGIN, LOGIN, 403, 422, 422, 422),
    ),
    ("POST", "/clinic/protocols/<modality>/reset"): (
        "/clinic/protocols/ims/reset",
        lambda r, w: {},
        (LOGIN, LOGIN, LOGIN, 403, OK, OK, OK),
    ),
    ("GET", "/clinic/static/<digest>/<path:name>"): (
        "/clinic/static/{digest}/pages.css",
        None,
        ANYONE,
    ),
}


def routes_of(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_route_of_the_app_has_a_row(app: Flask) -> None:
    missing = routes_of(app) - set(MATRIX)
    assert not missing, f"routes with no row in the access matrix: {sorted(missing)}"
    assert set(MATRIX) <= routes_of(app), "rows for routes the app no longer has"


def outcome(response: TestResponse) -> object:
    if response.status_code in (301, 302, 303):
        return LOGIN if "/clinic/login" in response.headers["Location"] else OK
    return OK if 200 <= response.status_code < 300 else response.status_code


def csrf_token(client: FlaskClient, signed_in: bool) -> str:
    page = client.get("/clinic/patients/new" if signed_in else "/clinic/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found, page.status_code
    return found.group(1)


def ask(world: World, app: Flask, role: str, method: str, path: str, body: Body) -> object:
    fields = {} if body is None else body(role, world)
    if not path.startswith("/clinic"):
        return outcome(
            world.pages[role].open(
                path,
                method=method,
                headers=world.headers[role],
                json=fields if body is not None else None,
                buffered=True,  # an export streams: read it while its request is there
            )
        )
    client = world.pages[role]
    if method == "GET":
        return outcome(client.get(path, buffered=True))
    token = csrf_token(client, signed_in=role not in ("anonymous", "patient", "other_patient"))
    return outcome(client.open(path, method=method, data={"csrf_token": token, **fields}))


@pytest.mark.parametrize(
    ("method", "rule"), sorted(MATRIX), ids=[f"{m} {r}" for m, r in sorted(MATRIX)]
)
def test_each_caller_gets_what_the_matrix_says(
    app: Flask, client: FlaskClient, session: Session, method: str, rule: str
) -> None:
    world = build_world(app, session)
    template, body, expected = MATRIX[(method, rule)]
    path = template.format(
        **world.ids,
        spare_token_id=world.spare_token_id,
        version=app.extensions["pwa_bundle"].version,
        digest=app.extensions["page_assets"]["pages.css"].digest,
    )
    got = tuple(ask(world, app, role, method, path, body) for role in ROLES)
    assert dict(zip(ROLES, got, strict=True)) == dict(zip(ROLES, expected, strict=True))
