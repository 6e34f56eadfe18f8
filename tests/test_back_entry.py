"""Back-entry: answers a clinician collected by phone, on paper or in clinic, entered late."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from server.errors import InvalidInput
from server.models import Alert, AuditEvent, Clinician, DeliveryEvent, Response, Treatment
from server.services.answers import ENTRY_CLOCK_SKEW, answer_checkin, enter_response
from server.services.scheduling import cancel_checkin, expire_checkins
from tests.factories import (
    NOW,
    bearer,
    checkin_for,
    count_rows,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
)
from tests.http import assert_error_shape, assert_rejected

# the dry-needling 6h check-in asks: soreness, bruise_bleed, rf_breath_chest, rf_neuro
SIX_HOURS = {"soreness": 3, "bruise_bleed": "small", "rf_breath_chest": False, "rf_neuro": False}
EMERGENCY_NUMBER = "604-555-0199"


def entry_url(checkin_id: int) -> str:
    """Where a clinician back-enters a check-in's answers."""
    return f"/api/v1/checkins/{checkin_id}/response"


def treated(session: Session, *, hours_ago: float = 30) -> Treatment:
    """A dry-needling treatment ``hours_ago`` before the wall clock, by a clinician of a clinic
    with its own emergency number; no quiet hours, so the check-ins keep their nominal times."""
    clinician = make_clinician(session, make_clinic(session, emergency_number=EMERGENCY_NUMBER))
    patient = make_patient(session, clinician, quiet_hours=None)
    return make_treatment(
        session, clinician, patient, treated_at=datetime.now(UTC) - timedelta(hours=hours_ago)
    )


def clinician_of(session: Session, treatment: Treatment) -> Clinician:
    """The clinician who recorded the treatment."""
    clinician = session.get(Clinician, treatment.clinician_id)
    assert clinician is not None
    return clinician


def entry(**fields: Any) -> dict[str, Any]:
    """A request body: the 6h answers, given by phone an hour ago, unless fields say otherwise."""
    return {
        "client_id": str(uuid.uuid4()),
        "answers": SIX_HOURS,
        "answered_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "source": "phone",
        **fields,
    }


def post_entry(
    client: FlaskClient, session: Session, treatment: Treatment, slot: str = "6h", **fields: Any
) -> TestResponse:
    """Back-enter the slot's check-in as the treatment's clinician."""
    checkin = checkin_for(treatment, slot)
    headers = bearer(session, clinician_of(session, treatment))
    return client.post(entry_url(checkin.id), headers=headers, json=entry(**fields))


# --- what is stored ----------------------------------------------------------------------------


def test_entry_is_stored_with_its_source_and_who_entered_it(
    client: FlaskClient, session: Session
) -> None:
    treatment = treated(session)

    response = post_entry(client, session, treatment, source="paper", note="form at 2nd visit")

    assert response.status_code == 201, response.get_json()
    stored = session.scalars(select(Response)).one()
    assert (stored.source, stored.entered_by_id) == ("paper", treatment.clinician_id)
    assert stored.note == "form at 2nd visit"
    assert stored.slot == "6h"
    body = response.get_json()
    assert (body["source"], body["entered_by_id"]) == ("paper", treatment.clinician_id)
    assert body["answers"] == SIX_HOURS


def test_checkin_becomes_answered_at_the_given_time(client: FlaskClient, session: Session) -> None:
    treatment = treated(session)
    # a time with another offset is the same moment, kept in UTC
    answered_at = (datetime.now(UTC) - timedelta(hours=20)).replace(microsecond=0)
    local = answered_at.astimezone(ZoneInfo("America/Vancouver"))

    response = post_entry(client, session, treatment, answered_at=local.isoformat())

    assert response.status_code == 201, response.get_json()
    checkin = checkin_for(treatment, "6h")
    assert (checkin.status, checkin.answered_at) == ("answered", answered_at)
    assert session.scalars(select(Response)).one().answered_at == answered_at


def test_entry_adds_an_answered_event_on_its_channel(client: FlaskClient, session: Session) -> None:
    treatment = treated(session)

    post_entry(client, session, treatment, source="clinic")

    event = session.scalars(select(DeliveryEvent).filter_by(kind="answered")).one()
    assert (event.checkin_id, event.channel) == (checkin_for(treatment, "6h").id, "clinic")


def test_entry_writes_an_audit_event(client: FlaskClient, session: Session) -> None:
    treatment = treated(session)

    response = post_entry(client, session, treatment)

    event = session.scalars(select(AuditEvent).filter_by(action="response.entered")).one()
    assert event.actor == f"clinician:{treatment.clinician_id}"
    assert event.target == f"checkin:{checkin_for(treatment, '6h').id}"
    assert event.details == {"response_id": response.get_json()["id"], "source": "phone"}


@pytest.mark.parametrize("status", ["scheduled", "sent"])
def test_checkin_still_open_can_be_back_entered(
    client: FlaskClient, session: Session, status: str
) -> None:
    treatment = treated(session)
    checkin_for(treatment, "24h").status = status  # its window: 24 h to 36 h after T0

    response = post_entry(client, session, treatment, slot="24h")

    assert response.status_code == 201, response.get_json()


def test_missed_checkin_can_be_back_entered(client: FlaskClient, session: Session) -> None:
    treatment = treated(session)
    expire_checkins(session, now=datetime.now(UTC))  # the 6h window closed 20 hours ago
    session.expire_all()  # the bulk update went past the loaded check-ins
    assert checkin_for(treatment, "6h").status == "missed"

    response = post_entry(client, session, treatment)

    assert response.status_code == 201, response.get_json()
    assert checkin_for(treatment, "6h").status == "answered"


# --- red flags ---------------------------------------------------------------------------------


def test_chest_pain_by_phone_raises_an_urgent_alert(client: FlaskClient, session: Session) -> None:
    treatment = treated(session)

    response = post_entry(client, session, treatment, answers={"rf_breath_chest": True})

    assert response.status_code == 201, response.get_json()
    alert = session.scalars(select(Alert)).one()
    assert (alert.rule, alert.severity, alert.treatment_id) == ("RF-1", "urgent", treatment.id)
    flags = response.get_json()["alerts"]
    assert [(flag["rule"], flag["severity"]) for flag in flags] == [("RF-1", "urgent")]
    assert EMERGENCY_NUMBER in flags[0]["advice"]
    assert response.get_json()["flagged_rules"] == ["RF-1"]


def test_red_flags_count_hours_from_answered_at(client: FlaskClient, session: Session) -> None:
    treatment = treated(session, hours_ago=100)
    # strong soreness 30 h after T0 is RF-8 (24-72 h); 100 h after it would be RF-7
    answered_at = treatment.treated_at + timedelta(hours=30)

    response = post_entry(
        client,
        session,
        treatment,
        slot="24h",
        answers={"soreness": 9},
        answered_at=answered_at.isoformat(),
    )

    assert response.get_json()["flagged_rules"] == ["RF-8"]


# --- replays and conflicts ---------------------------------------------------------------------


def test_same_client_id_again_replays_with_the_same_body(
    client: FlaskClient, session: Session
) -> None:
    treatment = treated(session)
    headers = bearer(session, clinician_of(session, treatment))
    url = entry_url(checkin_for(treatment, "6h").id)
    body = entry(answers={"rf_breath_chest": True})

    first = client.post(url, headers=headers, json=body)
    again = client.post(url, headers=headers, json=body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert count_rows(session, Response) == 1
    assert count_rows(session, Alert) == 1


def test_client_id_of_another_checkin_is_a_conflict(client: FlaskClient, session: Session) -> None:
    treatment = treated(session)
    headers = bearer(session, clinician_of(session, treatment))
    body = entry()
    client.post(entry_url(checkin_for(treatment, "6h").id), headers=headers, json=body)

    response = client.post(
        entry_url(checkin_for(treatment, "24h").id),
        headers=headers,
        json=body | {"answers": {"soreness": 2}},
    )

    assert_rejected(response, "client_id", status=409)


def test_answered_checkin_is_a_conflict(client: FlaskClient, session: Session) -> None:
    treatment = treated(session, hours_ago=7)
    answer_checkin(
        session,
        patient=treatment.patient,
        checkin_id=checkin_for(treatment, "6h").id,
        client_id=uuid.uuid4(),
        answers=SIX_HOURS,
        note=None,
        now=datetime.now(UTC),
    )

    response = post_entry(client, session, treatment)

    assert_rejected(response, "checkin", status=409)
    assert count_rows(session, Response) == 1


def test_cancelled_checkin_is_a_conflict(client: FlaskClient, session: Session) -> None:
    treatment = treated(session)
    cancel_checkin(session, checkin_for(treatment, "6h"), now=datetime.now(UTC))

    response = post_entry(client, session, treatment)

    assert_rejected(response, "checkin", status=409)


def test_another_clinics_checkin_is_not_found(client: FlaskClient, session: Session) -> None:
    treatment = treated(session)
    outsider = make_clinician(session, make_clinic(session, name="Other Clinic"))

    response = client.post(
        entry_url(checkin_for(treatment, "6h").id),
        headers=bearer(session, outsider),
        json=entry(),
    )

    assert response.status_code == 404
    assert_error_shape(response)
    assert count_rows(session, Response) == 0


def test_entry_without_token_is_unauthorized(client: FlaskClient, session: Session) -> None:
    treatment = treated(session)

    response = client.post(entry_url(checkin_for(treatment, "6h").id), json=entry())

    assert response.status_code == 401
    assert_error_shape(response)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["client_id", "answers", "answered_at", "source"])
def test_missing_field_is_rejected_naming_it(
    client: FlaskClient, session: Session, missing: str
) -> None:
    treatment = treated(session)
    body = entry()
    del body[missing]
    headers = bearer(session, clinician_of(session, treatment))

    response = client.post(entry_url(checkin_for(treatment, "6h").id), headers=headers, json=body)

    assert_rejected(response, missing)


def test_client_id_that_is_not_a_uuid_is_rejected(client: FlaskClient, session: Session) -> None:
    response = post_entry(client, session, treated(session), client_id="outbox-1")

    assert_rejected(response, "client_id")


@pytest.mark.parametrize("source", ["app", "baseline", "email"])
def test_source_other_than_phone_paper_clinic_is_rejected(
    client: FlaskClient, session: Session, source: str
) -> None:
    response = post_entry(client, session, treated(session), source=source)

    assert_rejected(response, "source")


@pytest.mark.parametrize("answers", [{}, {"soreness": None}])
def test_entry_without_any_answer_is_rejected(
    client: FlaskClient, session: Session, answers: dict[str, object]
) -> None:
    response = post_entry(client, session, treated(session), answers=answers)

    assert_rejected(response, "answers")


def test_some_items_may_be_left_out(client: FlaskClient, session: Session) -> None:
    response = post_entry(client, session, treated(session), answers={"soreness": 5})

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["answers"] == {"soreness": 5}


def test_value_off_its_scale_is_rejected_naming_the_item(
    client: FlaskClient, session: Session
) -> None:
    response = post_entry(client, session, treated(session), answers={"soreness": 11})

    assert_rejected(response, "answers.soreness")


def test_item_the_checkin_does_not_ask_is_rejected(client: FlaskClient, session: Session) -> None:
    response = post_entry(client, session, treated(session), answers={"rf_infection": True})

    assert_rejected(response, "answers.rf_infection")


def test_answered_at_without_offset_is_rejected(client: FlaskClient, session: Session) -> None:
    naive = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None)

    response = post_entry(client, session, treated(session), answered_at=naive.isoformat())

    assert_rejected(response, "answered_at")


def test_answered_before_the_treatment_is_rejected(client: FlaskClient, session: Session) -> None:
    treatment = treated(session)
    before = treatment.treated_at - timedelta(minutes=1)

    response = post_entry(client, session, treatment, answered_at=before.isoformat())

    assert_rejected(response, "answered_at")


def test_answered_in_the_future_is_rejected(client: FlaskClient, session: Session) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)

    response = post_entry(client, session, treated(session), answered_at=later.isoformat())

    assert_rejected(response, "answered_at")


def test_rejected_entry_leaves_no_trace(client: FlaskClient, session: Session) -> None:
    treatment = treated(session)

    response = post_entry(client, session, treatment, answers={"soreness": 4, "rf_neuro": "x"})

    assert_rejected(response, "answers.rf_neuro")
    assert count_rows(session, Response) == 0
    assert count_rows(session, DeliveryEvent, DeliveryEvent.kind == "answered") == 0
    assert count_rows(session, AuditEvent, AuditEvent.action == "response.entered") == 0
    checkin = checkin_for(treatment, "6h")
    assert (checkin.status, checkin.answered_at) == ("scheduled", None)


# --- the clock skew allowance, at the service with a fixed clock -------------------------------


def enter_at(session: Session, treatment: Treatment, answered_at: datetime) -> Response:
    """Back-enter the 6h answers at ``answered_at``, the clinician's clock reading NOW."""
    return enter_response(
        session,
        clinician=clinician_of(session, treatment),
        checkin_id=checkin_for(treatment, "6h").id,
        client_id=uuid.uuid4(),
        answers=SIX_HOURS,
        answered_at=answered_at,
        source="phone",
        note=None,
        now=NOW,
    ).response


def service_treatment(session: Session) -> Treatment:
    """A dry-needling treatment 30 hours before NOW."""
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    return make_treatment(session, clinician, patient, treated_at=NOW - timedelta(hours=30))


def test_answered_at_within_the_clock_skew_is_accepted(session: Session) -> None:
    treatment = service_treatment(session)

    response = enter_at(session, treatment, NOW + ENTRY_CLOCK_SKEW)

    assert response.answered_at == NOW + ENTRY_CLOCK_SKEW


def test_answered_at_beyond_the_clock_skew_is_rejected(session: Session) -> None:
    treatment = service_treatment(session)

    with pytest.raises(InvalidInput) as rejected:
        enter_at(session, treatment, NOW + ENTRY_CLOCK_SKEW + timedelta(seconds=1))

    assert "answered_at" in rejected.value.errors


def test_answered_at_the_checkins_opening_is_accepted(session: Session) -> None:
    treatment = service_treatment(session)
    opens = checkin_for(treatment, "6h").due_at

    response = enter_at(session, treatment, opens)

    assert response.answered_at == opens


def test_answers_from_before_the_checkin_opened_are_rejected(session: Session) -> None:
    """They belong to an earlier time point; counted here they would skew every curve."""
    treatment = service_treatment(session)
    opens = checkin_for(treatment, "6h").due_at

    with pytest.raises(InvalidInput) as rejected:
        enter_at(session, treatment, opens - timedelta(minutes=1))

    assert "answered_at" in rejected.value.errors
    assert checkin_for(treatment, "6h").status != "answered"
