"""Answering a check-in (server.services.answers), with a fixed clock."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput, NotFound
from server.models import Answer, CheckIn, Patient, Response, Treatment
from server.services.answers import AnswerResult, answer_checkin, due_checkins
from server.services.questions import questions_for
from server.services.scheduling import cancel_checkin
from tests.factories import (
    NOW,
    checkin_for,
    count_rows,
    make_clinician,
    make_patient,
    make_treatment,
)

# the dry-needling 6h check-in asks: soreness, bruise_bleed, rf_breath_chest, rf_neuro
SIX_HOURS = {"soreness": 4, "bruise_bleed": "small", "rf_breath_chest": False, "rf_neuro": False}


def treated_patient(
    session: Session, *, modality: str = "dry_needling", hours_ago: float = 6, **fields: Any
) -> tuple[Patient, Treatment]:
    """A patient without quiet hours, treated ``hours_ago`` before NOW (recorded at T0)."""
    clinician = make_clinician(session)
    patient = make_patient(session, clinician, quiet_hours=None)
    treatment = make_treatment(
        session,
        clinician,
        patient,
        modality=modality,
        treated_at=NOW - timedelta(hours=hours_ago),
        **fields,
    )
    return patient, treatment


def answer(
    session: Session,
    patient: Patient,
    checkin: CheckIn,
    answers: dict[str, object],
    *,
    client_id: uuid.UUID | None = None,
    now: datetime = NOW,
) -> AnswerResult:
    """Answer as the patient's phone would."""
    return answer_checkin(
        session,
        patient=patient,
        checkin_id=checkin.id,
        client_id=client_id or uuid.uuid4(),
        answers=answers,
        note=None,
        now=now,
    )


def count_responses(session: Session) -> int:
    """How many check-in responses exist (baselines left out)."""
    return count_rows(session, Response, Response.checkin_id.is_not(None))


def field_errors(error: pytest.ExceptionInfo[InvalidInput]) -> dict[str, list[str]]:
    """The errors of a raised InvalidInput, by field."""
    return error.value.errors


# --- storing -----------------------------------------------------------------------------------


def test_valid_answer_stores_one_answer_row_per_item(session: Session) -> None:
    patient, treatment = treated_patient(session)

    result = answer(session, patient, checkin_for(treatment, "6h"), SIX_HOURS)

    rows = session.scalars(select(Answer).filter_by(response_id=result.response.id)).all()
    assert {row.item_code: (row.value_num, row.value_text) for row in rows} == {
        "soreness": (4, None),
        "bruise_bleed": (None, "small"),
        "rf_breath_chest": (0, None),
        "rf_neuro": (0, None),
    }


def test_each_answer_row_carries_what_the_analytics_group_it_by(session: Session) -> None:
    patient, treatment = treated_patient(session, modality="dry_needling", hours_ago=6.5)

    result = answer(session, patient, checkin_for(treatment, "6h"), SIX_HOURS)

    rows = session.scalars(select(Answer).filter_by(response_id=result.response.id)).all()
    assert {(row.clinic_id, row.modality, row.slot, row.elapsed_hours) for row in rows} == {
        (treatment.clinic_id, "dry_needling", "6h", 6.5)
    }


def test_valid_answer_marks_the_checkin_answered(session: Session) -> None:
    patient, treatment = treated_patient(session)
    checkin = checkin_for(treatment, "6h")

    answer(session, patient, checkin, SIX_HOURS)

    assert (checkin.status, checkin.answered_at) == ("answered", NOW)


def test_valid_answer_is_not_a_replay_and_records_slot_and_source(session: Session) -> None:
    patient, treatment = treated_patient(session)
    client_id = uuid.uuid4()

    result = answer(session, patient, checkin_for(treatment, "6h"), SIX_HOURS, client_id=client_id)

    assert result.is_replay is False
    response = result.response
    assert (response.client_id, response.slot, response.source) == (client_id, "6h", "app")
    assert response.answered_at == NOW


# --- replays and client ids --------------------------------------------------------------------


def test_same_client_id_again_returns_the_same_response_as_a_replay(session: Session) -> None:
    patient, treatment = treated_patient(session)
    checkin = checkin_for(treatment, "6h")
    client_id = uuid.uuid4()
    first = answer(session, patient, checkin, SIX_HOURS, client_id=client_id)

    again = answer(
        session, patient, checkin, SIX_HOURS, client_id=client_id, now=NOW + timedelta(minutes=5)
    )

    assert again.is_replay is True
    assert again.response.id == first.response.id
    assert count_responses(session) == 1


def test_replay_after_the_window_closed_still_returns_the_stored_response(
    session: Session,
) -> None:
    patient, treatment = treated_patient(session)
    checkin = checkin_for(treatment, "6h")
    client_id = uuid.uuid4()
    first = answer(session, patient, checkin, SIX_HOURS, client_id=client_id)

    # an offline phone replays its queue the next day
    again = answer(
        session, patient, checkin, SIX_HOURS, client_id=client_id, now=checkin.expires_at
    )

    assert (again.is_replay, again.response.id) == (True, first.response.id)


def test_same_client_id_on_another_checkin_is_a_conflict(session: Session) -> None:
    patient, treatment = treated_patient(session)
    client_id = uuid.uuid4()
    answer(session, patient, checkin_for(treatment, "6h"), SIX_HOURS, client_id=client_id)

    with pytest.raises(Conflict) as error:
        answer(
            session,
            patient,
            checkin_for(treatment, "24h"),
            {"soreness": 2},
            client_id=client_id,
            now=NOW + timedelta(hours=18),
        )

    assert "client_id" in error.value.errors


# --- the answer window -------------------------------------------------------------------------


def test_answer_at_expiry_is_rejected_naming_when_it_ended(session: Session) -> None:
    patient, treatment = treated_patient(session)
    checkin = checkin_for(treatment, "6h")  # closes NOW + 4 h: 21:00 UTC, 13:00 in Vancouver

    with pytest.raises(Conflict) as error:
        answer(session, patient, checkin, SIX_HOURS, now=checkin.expires_at)

    assert "ended at Tue 24 Nov 13:00" in error.value.message
    assert "checkin" in error.value.errors


def test_answer_after_expiry_is_rejected(session: Session) -> None:
    patient, treatment = treated_patient(session)
    checkin = checkin_for(treatment, "6h")

    with pytest.raises(Conflict, match="ended at"):
        answer(session, patient, checkin, SIX_HOURS, now=checkin.expires_at + timedelta(days=1))


def test_answer_just_before_expiry_is_accepted(session: Session) -> None:
    patient, treatment = treated_patient(session)
    checkin = checkin_for(treatment, "6h")

    answer(session, patient, checkin, SIX_HOURS, now=checkin.expires_at - timedelta(seconds=1))

    assert checkin.status == "answered"


def test_answer_to_a_missed_checkin_is_rejected(session: Session) -> None:
    patient, treatment = treated_patient(session)
    checkin = checkin_for(treatment, "6h")
    checkin.status = "missed"

    with pytest.raises(Conflict, match="ended at"):
        answer(session, patient, checkin, SIX_HOURS)


def test_answer_before_due_is_rejected_as_not_open_yet(session: Session) -> None:
    patient, treatment = treated_patient(session)
    checkin = checkin_for(treatment, "24h")  # opens NOW + 18 h: 03:00 on Wednesday in Vancouver

    with pytest.raises(Conflict) as error:
        answer(session, patient, checkin, {"soreness": 3})

    assert "not open yet" in error.value.message
    assert "Wed 25 Nov 03:00" in error.value.message


def test_answer_to_an_answered_checkin_with_a_new_client_id_is_rejected(
    session: Session,
) -> None:
    patient, treatment = treated_patient(session)
    checkin = checkin_for(treatment, "6h")
    answer(session, patient, checkin, SIX_HOURS)

    with pytest.raises(Conflict, match="already answered"):
        answer(session, patient, checkin, {"soreness": 9}, now=NOW + timedelta(minutes=1))

    assert count_responses(session) == 1


def test_answer_to_a_cancelled_checkin_is_rejected(session: Session) -> None:
    patient, treatment = treated_patient(session)
    checkin = cancel_checkin(session, checkin_for(treatment, "6h"), now=NOW)

    with pytest.raises(Conflict, match="cancelled"):
        answer(session, patient, checkin, SIX_HOURS)


def test_answer_to_another_patients_checkin_is_not_found(session: Session) -> None:
    _, treatment = treated_patient(session)
    clinician = treatment.patient.clinic.clinicians[0]
    other = make_patient(session, clinician, code="P-002", quiet_hours=None)

    with pytest.raises(NotFound):
        answer(session, other, checkin_for(treatment, "6h"), SIX_HOURS)

    assert count_responses(session) == 0


def test_answer_to_an_unknown_checkin_is_not_found(session: Session) -> None:
    patient, _ = treated_patient(session)

    with pytest.raises(NotFound):
        answer_checkin(
            session,
            patient=patient,
            checkin_id=999_999,
            client_id=uuid.uuid4(),
            answers={"soreness": 1},
            note=None,
            now=NOW,
        )


# --- which items ---------------------------------------------------------------------------------


def test_item_the_checkin_does_not_ask_is_invalid_under_its_code(session: Session) -> None:
    patient, treatment = treated_patient(session)
    checkin = checkin_for(treatment, "6h")

    with pytest.raises(InvalidInput) as error:
        answer(session, patient, checkin, {"soreness": 3, "pain": 5})

    assert list(field_errors(error)) == ["answers.pain"]
    assert checkin.status == "scheduled"


def test_unknown_item_code_is_invalid_under_its_code(session: Session) -> None:
    patient, treatment = treated_patient(session)

    with pytest.raises(InvalidInput) as error:
        answer(session, patient, checkin_for(treatment, "6h"), {"soreness": 3, "happiness": 5})

    assert list(field_errors(error)) == ["answers.happiness"]


def test_null_values_count_as_skipped_items(session: Session) -> None:
    patient, treatment = treated_patient(session)

    result = answer(
        session,
        patient,
        checkin_for(treatment, "6h"),
        {"soreness": 3, "bruise_bleed": None, "rf_neuro": None},
    )

    assert [row.item_code for row in result.response.answers] == ["soreness"]


def test_all_null_answers_are_invalid_on_answers(session: Session) -> None:
    patient, treatment = treated_patient(session)

    with pytest.raises(InvalidInput) as error:
        answer(session, patient, checkin_for(treatment, "6h"), {"soreness": None, "rf_neuro": None})

    assert list(field_errors(error)) == ["answers"]


def test_empty_answers_are_invalid_on_answers(session: Session) -> None:
    patient, treatment = treated_patient(session)

    with pytest.raises(InvalidInput) as error:
        answer(session, patient, checkin_for(treatment, "6h"), {})

    assert list(field_errors(error)) == ["answers"]
    assert count_responses(session) == 0


# --- values against each item's scale ----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [11, -1, 3.5, True, "5"],
    ids=["above-max", "below-min", "fraction", "boolean", "string"],
)
def test_scale_value_off_the_scale_is_invalid(session: Session, value: object) -> None:
    patient, treatment = treated_patient(session)

    with pytest.raises(InvalidInput) as error:
        answer(session, patient, checkin_for(treatment, "6h"), {"soreness": value})

    assert list(field_errors(error)) == ["answers.soreness"]


@pytest.mark.parametrize("value", [0, 10])
def test_scale_ends_are_accepted(session: Session, value: int) -> None:
    patient, treatment = treated_patient(session)

    result = answer(session, patient, checkin_for(treatment, "6h"), {"soreness": value})

    assert result.response.answers[0].value_num == value


def test_scale_error_says_the_range(session: Session) -> None:
    patient, treatment = treated_patient(session)

    with pytest.raises(InvalidInput) as error:
        answer(session, patient, checkin_for(treatment, "6h"), {"soreness": 11})

    assert field_errors(error)["answers.soreness"] == ["must be from 0 to 10; got 11"]


@pytest.mark.parametrize("value", [1, 0, "true", "yes"])
def test_boolean_item_must_be_true_or_false(session: Session, value: object) -> None:
    patient, treatment = treated_patient(session)

    with pytest.raises(InvalidInput) as error:
        answer(session, patient, checkin_for(treatment, "6h"), {"rf_neuro": value})

    assert field_errors(error) == {"answers.rf_neuro": ["must be true or false"]}


def test_choice_must_be_one_of_its_option_codes(session: Session) -> None:
    patient, treatment = treated_patient(session)

    with pytest.raises(InvalidInput) as error:
        answer(session, patient, checkin_for(treatment, "6h"), {"bruise_bleed": "medium"})

    assert list(field_errors(error)) == ["answers.bruise_bleed"]
    assert "none, small, large, bleeding" in field_errors(error)["answers.bruise_bleed"][0]


def test_choice_given_as_its_label_is_invalid(session: Session) -> None:
    patient, treatment = treated_patient(session)

    with pytest.raises(InvalidInput):
        answer(session, patient, checkin_for(treatment, "6h"), {"bruise_bleed": "None"})


@pytest.mark.parametrize("text", ["", "   "], ids=["empty", "spaces"])
def test_blank_free_text_is_invalid(session: Session, text: str) -> None:
    patient, treatment = treated_patient(session, modality="acupuncture", hours_ago=24)

    with pytest.raises(InvalidInput) as error:
        answer(
            session,
            patient,
            checkin_for(treatment, "24h"),
            {"wb_elsewhere": True, "wb_elsewhere_text": text},
        )

    assert list(field_errors(error)) == ["answers.wb_elsewhere_text"]


def test_free_text_over_max_length_is_invalid(session: Session) -> None:
    patient, treatment = treated_patient(session, modality="acupuncture", hours_ago=24)

    with pytest.raises(InvalidInput) as error:
        answer(
            session,
            patient,
            checkin_for(treatment, "24h"),
            {"wb_elsewhere": True, "wb_elsewhere_text": "x" * 501},
        )

    assert field_errors(error) == {"answers.wb_elsewhere_text": ["must be at most 500 characters"]}


def test_free_text_at_max_length_is_accepted(session: Session) -> None:
    patient, treatment = treated_patient(session, modality="acupuncture", hours_ago=24)

    result = answer(
        session,
        patient,
        checkin_for(treatment, "24h"),
        {"wb_elsewhere": True, "wb_elsewhere_text": "x" * 500},
    )

    assert len(result.response.answers) == 2


def test_free_text_is_stored_trimmed(session: Session) -> None:
    patient, treatment = treated_patient(session, modality="acupuncture", hours_ago=24)

    result = answer(
        session,
        patient,
        checkin_for(treatment, "24h"),
        {"wb_elsewhere": True, "wb_elsewhere_text": "  warm feet  "},
    )

    texts = {row.item_code: row.value_text for row in result.response.answers}
    assert texts["wb_elsewhere_text"] == "warm feet"


# --- conditional items -------------------------------------------------------------------------


def test_elsewhere_text_is_accepted_when_elsewhere_is_true(session: Session) -> None:
    patient, treatment = treated_patient(session, modality="acupuncture", hours_ago=24)

    result = answer(
        session,
        patient,
        checkin_for(treatment, "24h"),
        {"wb_elsewhere": True, "wb_elsewhere_text": "tingling in my left hand"},
    )

    assert {row.item_code for row in result.response.answers} == {
        "wb_elsewhere",
        "wb_elsewhere_text",
    }


def test_elsewhere_text_is_invalid_when_elsewhere_is_false(session: Session) -> None:
    patient, treatment = treated_patient(session, modality="acupuncture", hours_ago=24)

    with pytest.raises(InvalidInput) as error:
        answer(
            session,
            patient,
            checkin_for(treatment, "24h"),
            {"wb_elsewhere": False, "wb_elsewhere_text": "tingling"},
        )

    assert list(field_errors(error)) == ["answers.wb_elsewhere_text"]
    assert "wb_elsewhere" in field_errors(error)["answers.wb_elsewhere_text"][0]


def test_elsewhere_text_is_invalid_when_elsewhere_is_not_answered(session: Session) -> None:
    patient, treatment = treated_patient(session, modality="acupuncture", hours_ago=24)

    with pytest.raises(InvalidInput) as error:
        answer(
            session,
            patient,
            checkin_for(treatment, "24h"),
            {"soreness": 2, "wb_elsewhere_text": "tingling"},
        )

    assert list(field_errors(error)) == ["answers.wb_elsewhere_text"]


# --- the mobility question ---------------------------------------------------------------------


def mobility_text(session: Session, checkin: CheckIn) -> str:
    """The text the phone shows for the check-in's mobility item."""
    texts = {item["code"]: item["text"] for item in questions_for(session, checkin)}
    text = texts["mobility"]
    assert isinstance(text, str)
    return text


def test_mobility_question_names_the_patients_baseline_activity(session: Session) -> None:
    _, treatment = treated_patient(
        session, hours_ago=72, baseline={"pain": 6, "mobility_activity": "Lifting my toddler"}
    )

    text = mobility_text(session, checkin_for(treatment, "72h"))

    assert text == 'Today, how well can you do this: "Lifting my toddler"?'


def test_mobility_question_falls_back_without_a_baseline_activity(session: Session) -> None:
    _, treatment = treated_patient(session, hours_ago=72, baseline={"pain": 6})

    text = mobility_text(session, checkin_for(treatment, "72h"))

    assert text == "Today, how well can you do the activity you find hard because of this problem?"
    assert "{mobility_activity}" not in text


def test_mobility_question_uses_the_latest_baseline_activity(session: Session) -> None:
    patient, older = treated_patient(
        session, hours_ago=240, baseline={"mobility_activity": "Running"}
    )
    clinician = patient.clinic.clinicians[0]
    newer = make_treatment(
        session,
        clinician,
        patient,
        treated_at=NOW - timedelta(hours=72),
        baseline={"mobility_activity": "Gardening"},
    )

    text = mobility_text(session, checkin_for(newer, "72h"))

    assert "Gardening" in text
    assert "Running" not in text
    assert older.id != newer.id


def test_questions_keep_protocol_order_with_kind_and_text(session: Session) -> None:
    _, treatment = treated_patient(session)

    questions = questions_for(session, checkin_for(treatment, "6h"))

    assert [(item["code"], item["kind"]) for item in questions] == [
        ("soreness", "scale"),
        ("bruise_bleed", "choice"),
        ("rf_breath_chest", "boolean"),
        ("rf_neuro", "boolean"),
    ]
    assert all(item["text"] for item in questions)


# --- what comes next ---------------------------------------------------------------------------


def test_next_checkin_at_is_when_the_next_scheduled_checkin_opens(session: Session) -> None:
    patient, treatment = treated_patient(session)

    result = answer(session, patient, checkin_for(treatment, "6h"), SIX_HOURS)

    assert result.next_checkin_at == checkin_for(treatment, "24h").due_at


def test_next_checkin_at_is_none_after_the_last_checkin(session: Session) -> None:
    patient, treatment = treated_patient(session, hours_ago=168)

    result = answer(session, patient, checkin_for(treatment, "7d"), {"pain": 2})

    assert result.next_checkin_at is None


def test_next_checkin_at_skips_cancelled_checkins(session: Session) -> None:
    patient, treatment = treated_patient(session)
    cancel_checkin(session, checkin_for(treatment, "24h"), now=NOW)

    result = answer(session, patient, checkin_for(treatment, "6h"), SIX_HOURS)

    assert result.next_checkin_at == checkin_for(treatment, "48h").due_at


def slots(checkins: list[CheckIn]) -> list[str]:
    """The slots of a list of check-ins, in order."""
    return [checkin.slot for checkin in checkins]


def test_due_checkins_lists_only_those_open_now(session: Session) -> None:
    patient, _ = treated_patient(session)

    assert slots(due_checkins(session, patient=patient, now=NOW, status="due")) == ["6h"]


def test_due_checkins_leaves_out_an_answered_checkin(session: Session) -> None:
    patient, treatment = treated_patient(session)
    answer(session, patient, checkin_for(treatment, "6h"), SIX_HOURS)

    assert due_checkins(session, patient=patient, now=NOW, status="due") == []


def test_due_checkins_upcoming_lists_those_still_to_open(session: Session) -> None:
    patient, _ = treated_patient(session)

    upcoming = due_checkins(session, patient=patient, now=NOW, status="upcoming")

    assert slots(upcoming) == ["24h", "48h", "72h", "7d"]


def test_due_checkins_all_lists_every_checkin_in_due_order(session: Session) -> None:
    patient, _ = treated_patient(session)

    everything = due_checkins(session, patient=patient, now=NOW, status="all")

    assert slots(everything) == ["0h", "6h", "24h", "48h", "72h", "7d"]


def test_due_checkins_leaves_out_other_patients(session: Session) -> None:
    _, treatment = treated_patient(session)
    other = make_patient(
        session, treatment.patient.clinic.clinicians[0], code="P-002", quiet_hours=None
    )

    assert due_checkins(session, patient=other, now=NOW, status="all") == []
