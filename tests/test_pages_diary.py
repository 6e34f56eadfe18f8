"""A back-dated treatment and its paper diary: the check-ins whose window had passed when the
treatment was recorded are kept for staff entry, and a week's diary is entered on one form,
stored whole or not at all."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server.models import Alert, CheckIn, Clinician, Patient, Response, Treatment
from server.services.answers import answers_of
from tests.factories import (
    checkin_for,
    count_rows,
    make_clinician,
    make_patient,
    make_treatment,
    post_form,
    sign_in_pages,
)

ZONE = ZoneInfo("Europe/London")


@pytest.fixture
def clinician(client: FlaskClient, session: Session) -> Clinician:
    signed_in = make_clinician(session)
    sign_in_pages(client, signed_in)
    return signed_in


@pytest.fixture
def patient(session: Session, clinician: Clinician) -> Patient:
    made = make_patient(session, clinician, timezone="Europe/London", quiet_hours=None)
    session.commit()
    return made


@pytest.fixture
def treatment(session: Session, clinician: Clinician, patient: Patient) -> Treatment:
    """Dry needling 50 h ago, recorded now: the 0h, 6h and 24h windows have passed, 48h is
    open, 72h and 7d are to come."""
    now = datetime.now(UTC)
    made = make_treatment(
        session, clinician, patient, treated_at=now - timedelta(hours=50), now=now
    )
    session.commit()
    return made


def diary_url(treatment: Treatment) -> str:
    return f"/clinic/treatments/{treatment.id}/diary"


def shown_fields(client: FlaskClient, treatment: Treatment) -> dict[str, str]:
    """The diary form's hidden and prefilled inputs, by name."""
    page = client.get(diary_url(treatment)).get_data(as_text=True)
    return dict(re.findall(r'name="(checkin\d+\.[a-z_]+)"[^>]*value="([^"]*)"', page))


def at(treatment: Treatment, hours: float) -> str:
    """A moment ``hours`` after T0 as the form's datetime-local reads it (the patient's clock)."""
    moment = treatment.treated_at + timedelta(hours=hours)
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def key(treatment: Treatment, slot: str) -> str:
    return f"checkin{checkin_for(treatment, slot).id}"


def diary(
    client: FlaskClient, treatment: Treatment, rows: dict[str, dict[str, str]], **shared: str
) -> TestResponse:
    """Post the diary with ``rows`` {slot: {field: value}} over the form's own defaults."""
    fields: dict[str, str] = {"source": "paper", **shown_fields(client, treatment), **shared}
    for slot, values in rows.items():
        for name, value in values.items():
            fields[f"{key(treatment, slot)}.{name}"] = value
    return post_form(client, diary_url(treatment), diary_url(treatment), fields)


def test_recording_a_back_dated_treatment_says_what_passed(
    client: FlaskClient, session: Session, clinician: Clinician, patient: Patient
) -> None:
    url = f"/clinic/patients/{patient.id}/treatments/new"
    treated_at = (datetime.now(UTC) - timedelta(hours=50)).astimezone(ZONE)

    response = post_form(
        client,
        url,
        url,
        {"modality": "dry_needling", "treated_at": treated_at.strftime("%Y-%m-%dT%H:%M")},
    )

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "3 had passed already: the patient is not asked them" in page
    assert page.count("not asked: recorded late") == 3
    assert "Enter a diary: the 4 check-ins still to fill on one form" in page


def test_the_diary_lists_every_check_in_still_to_fill_from_its_opening(
    client: FlaskClient, treatment: Treatment
) -> None:
    page = client.get(diary_url(treatment)).get_data(as_text=True)

    legends = re.findall(r'<fieldset class="diary-row"[^>]*>\s*<legend>([^<]*)</legend>', page)
    assert legends == [
        "In clinic, just after",
        "6 hours",
        "1 day",
        "2 days",
    ]
    fields = shown_fields(client, treatment)
    assert fields[f"{key(treatment, '6h')}.answered_at"] == at(treatment, 6 + 1 / 60)
    assert f"{key(treatment, '72h')}.answered_at" not in fields  # not yet open
    assert 'name="source" value="paper" checked' in page


def test_a_week_of_answers_is_stored_on_one_form(
    client: FlaskClient, session: Session, treatment: Treatment
) -> None:
    response = diary(
        client,
        treatment,
        {
            "0h": {"answers-soreness": "6", "answered_at": at(treatment, 0.5)},
            "6h": {"answers-soreness": "4", "answered_at": at(treatment, 7)},
            "24h": {"answers-soreness": "2", "answers-pain": "3"},
        },
        note="Diary handed in at the follow-up visit",
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"#treatment-{treatment.id}")
    session.expire_all()
    stored = {
        checkin.slot: (checkin.status, _answers(session, checkin))
        for checkin in session.scalars(select(CheckIn).filter_by(treatment_id=treatment.id))
    }
    assert stored["0h"] == ("answered", {"soreness": 6})
    assert stored["24h"] == ("answered", {"soreness": 2, "pain": 3})
    assert stored["48h"][0] == "scheduled"  # left blank: untouched
    responses = session.scalars(select(Response).filter_by(treatment_id=treatment.id)).all()
    assert {(r.source, r.note) for r in responses} == {
        ("paper", "Diary handed in at the follow-up visit")
    }
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Answers of 3 check-ins saved." in page


def _answers(session: Session, checkin: CheckIn) -> dict[str, object]:
    response = session.scalar(select(Response).filter_by(checkin_id=checkin.id))
    if response is None:
        return {}
    return {code: value for code, value in answers_of(response).items() if value is not None}


def test_saving_the_same_diary_twice_stores_it_once(
    client: FlaskClient, session: Session, treatment: Treatment
) -> None:
    fields = {"source": "paper", **shown_fields(client, treatment)}
    fields[f"{key(treatment, '0h')}.answers-soreness"] = "5"
    fields[f"{key(treatment, '6h')}.answers-soreness"] = "3"

    first = post_form(client, diary_url(treatment), diary_url(treatment), fields)
    again = client.post(
        diary_url(treatment), data={**fields, "csrf_token": _token(client, treatment)}
    )

    assert (first.status_code, again.status_code) == (302, 302)
    assert count_rows(session, Response) == 2
    assert "This diary was already saved." in client.get(again.headers["Location"]).get_data(
        as_text=True
    )


def _token(client: FlaskClient, treatment: Treatment) -> str:
    page = client.get(f"/clinic/patients/{treatment.patient_id}").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_a_red_flag_in_the_diary_raises_its_alert(
    client: FlaskClient, session: Session, treatment: Treatment
) -> None:
    response = diary(
        client, treatment, {"6h": {"answers-soreness": "3", "answers-rf_neuro": "yes"}}
    )

    assert response.status_code == 302
    assert session.scalars(select(Alert.rule)).all() == ["RF-4"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Red flag: New numbness or weakness (same-day). See the alerts" in page


@pytest.mark.parametrize(
    ("rows", "shared", "field", "says"),
    [
        ({}, {}, "entries", "enter the answers of at least one check-in"),
        (
            {"6h": {"answers-soreness": "3", "answered_at": "AT:5"}},
            {},
            "6h.answered_at",
            "opens at",
        ),
        ({"6h": {"answers-soreness": "3", "answered_at": ""}}, {}, "6h.answered_at", ""),
        (
            {"6h": {"answers-soreness": "3", "answered_at": "AT:500"}},
            {},
            "6h.answered_at",
            "future",
        ),
        ({"6h": {"answers-soreness": "11"}}, {}, "6h.answers.soreness", ""),
        ({"6h": {"answers-soreness": "much"}}, {}, "6h.answers.soreness", ""),
        ({"6h": {"answers-soreness": "3"}}, {"source": "fax"}, "source", ""),
        ({"6h": {"answers-soreness": "3"}}, {"note": "x" * 2001}, "note", ""),
    ],
    ids=[
        "nothing filled",
        "before the check-in opened",
        "no time",
        "in the future",
        "off the scale",
        "not a number",
        "unknown source",
        "note too long",
    ],
)
def test_one_bad_row_refuses_the_whole_diary_naming_it(
    client: FlaskClient,
    session: Session,
    treatment: Treatment,
    rows: dict[str, dict[str, str]],
    shared: dict[str, str],
    field: str,
    says: str,
) -> None:
    for values in rows.values():
        if values.get("answered_at", "").startswith("AT:"):
            values["answered_at"] = at(treatment, float(values["answered_at"][3:]))
    good = {"0h": {"answers-soreness": "6"}} if rows else {}  # a good row beside the bad one

    response = diary(client, treatment, {**good, **rows}, **shared)

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    slot, _, rest = field.partition(".")
    named = f"{key(treatment, slot)}-{rest}" if rest else field
    if field != "entries":  # the form as a whole: said in the summary only
        assert f'id="{named.replace(".", "-")}-error"' in page
    assert says in page
    assert count_rows(session, Response) == 0  # the good row is not kept either
    if good:
        assert 'value="6" selected' in page  # what was typed is shown again
