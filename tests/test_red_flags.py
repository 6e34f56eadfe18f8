"""Red flags: each rule of red_flags.toml (CLINICAL.md §3), escalation, advice, and the alerts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import NotFound
from server.models import Alert, CheckIn, Clinician, Patient, Response, Treatment
from server.protocols import Clause, RedFlagRule, Value, red_flag_rules
from server.services.answers import AnswerResult, answer_checkin
from server.services.red_flags import acknowledge_alert, evaluate, flags_for, list_alerts
from tests.factories import (
    NOW,
    checkin_for,
    count_rows,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
)


def fired(
    answers: dict[str, Value], *, elapsed_h: float = 6, baseline: dict[str, Value] | None = None
) -> list[str]:
    """The rules these answers meet at ``elapsed_h`` hours after T0."""
    return evaluate(answers, baseline=baseline or {}, elapsed_h=elapsed_h)


# ---- the rules as CLINICAL.md §3 states them ---------------------------------------------------


def test_there_is_one_rule_per_red_flag_of_clinical_md() -> None:
    assert [rule.id for rule in red_flag_rules()] == [f"RF-{n}" for n in range(1, 9)]


@pytest.mark.parametrize(
    ("rule_id", "severity"),
    [
        ("RF-1", "urgent"),
        ("RF-2", "same_day"),
        ("RF-3", "same_day"),
        ("RF-4", "same_day"),
        ("RF-5", "urgent"),
        ("RF-6", "routine"),
        ("RF-7", "same_day"),
        ("RF-8", "routine"),
    ],
)
def test_rule_has_the_severity_of_clinical_md(rule_id: str, severity: str) -> None:
    rule = next(rule for rule in red_flag_rules() if rule.id == rule_id)
    assert rule.severity == severity


# ---- RF-1 .. RF-6: one answer each -----------------------------------------------------------


def test_rf1_fires_on_new_breathlessness_or_chest_pain() -> None:
    assert fired({"rf_breath_chest": True}) == ["RF-1"]


def test_rf1_does_not_fire_on_no() -> None:
    assert fired({"rf_breath_chest": False}) == []


def test_rf2_fires_on_fainting() -> None:
    assert fired({"rf_faint": True}) == ["RF-2"]


def test_rf2_does_not_fire_on_no() -> None:
    assert fired({"rf_faint": False}) == []


def test_rf3_fires_on_signs_of_infection() -> None:
    assert fired({"rf_infection": True}, elapsed_h=24) == ["RF-3"]


def test_rf3_does_not_fire_on_no() -> None:
    assert fired({"rf_infection": False}, elapsed_h=24) == []


def test_rf4_fires_on_new_numbness_or_weakness() -> None:
    assert fired({"rf_neuro": True}) == ["RF-4"]


def test_rf4_does_not_fire_on_no() -> None:
    assert fired({"rf_neuro": False}) == []


def test_rf5_fires_on_bleeding_that_has_not_stopped() -> None:
    assert fired({"bruise_bleed": "bleeding"}) == ["RF-5"]


def test_rf5_does_not_fire_on_a_large_bruise() -> None:
    assert "RF-5" not in fired({"bruise_bleed": "large"})


def test_rf6_fires_on_a_bruise_bigger_than_a_large_coin() -> None:
    assert fired({"bruise_bleed": "large"}) == ["RF-6"]


@pytest.mark.parametrize("answer", ["none", "small"])
def test_rf6_does_not_fire_on_no_or_a_small_bruise(answer: str) -> None:
    assert fired({"bruise_bleed": answer}) == []


def test_red_flags_ignore_skipped_items() -> None:
    assert fired({"soreness": 3}) == []


def test_every_rule_met_together_fires() -> None:
    answers: dict[str, Value] = {"rf_breath_chest": True, "rf_faint": True, "rf_neuro": True}
    assert fired(answers) == ["RF-1", "RF-2", "RF-4"]


# ---- RF-7: strong soreness or pain from 72 h on ----------------------------------------------


def test_rf7_fires_on_soreness_of_8_at_72h() -> None:
    assert fired({"soreness": 8}, elapsed_h=72) == ["RF-7"]


def test_rf7_fires_on_pain_of_8_at_72h() -> None:
    assert fired({"pain": 8}, elapsed_h=72) == ["RF-7"]


def test_rf7_fires_on_pain_3_above_baseline_at_72h() -> None:
    assert fired({"pain": 5}, elapsed_h=72, baseline={"pain": 2}) == ["RF-7"]


def test_rf7_fires_on_strong_pain_a_week_after() -> None:
    assert fired({"pain": 9}, elapsed_h=168) == ["RF-7"]


def test_rf7_does_not_fire_at_71h() -> None:
    assert "RF-7" not in fired({"soreness": 9, "pain": 9}, elapsed_h=71)


def test_rf7_does_not_fire_on_soreness_and_pain_of_7() -> None:
    assert fired({"soreness": 7, "pain": 7}, elapsed_h=72) == []


def test_rf7_does_not_fire_on_pain_only_2_above_baseline() -> None:
    assert fired({"pain": 4}, elapsed_h=72, baseline={"pain": 2}) == []


def test_rf7_does_not_compare_with_a_missing_baseline() -> None:
    assert fired({"pain": 5}, elapsed_h=72) == []


def test_rf7_does_not_compare_soreness_with_its_baseline() -> None:
    assert fired({"soreness": 5}, elapsed_h=72, baseline={"soreness": 0}) == []


# ---- RF-8: strong soreness between 24 h and 72 h ---------------------------------------------


@pytest.mark.parametrize("elapsed_h", [24, 48, 71.9])
def test_rf8_fires_on_soreness_of_8_from_24h_to_before_72h(elapsed_h: float) -> None:
    assert fired({"soreness": 8}, elapsed_h=elapsed_h) == ["RF-8"]


@pytest.mark.parametrize("elapsed_h", [6, 23.9, 72])
def test_rf8_does_not_fire_outside_24h_to_72h(elapsed_h: float) -> None:
    assert "RF-8" not in fired({"soreness": 8}, elapsed_h=elapsed_h)


def test_rf8_does_not_fire_on_soreness_of_7() -> None:
    assert fired({"soreness": 7}, elapsed_h=48) == []


def test_rf8_does_not_fire_on_strong_pain() -> None:
    assert fired({"pain": 9}, elapsed_h=48) == []


# ---- a yes is not a score, and a score is not a yes ------------------------------------------


def test_an_answer_of_1_is_not_a_yes() -> None:
    assert fired({"rf_breath_chest": 1, "rf_faint": 1}) == []


def test_a_scale_answer_of_1_does_not_match_a_yes_clause() -> None:
    rule = RedFlagRule(
        id="T-1",
        severity="routine",
        summary="test",
        advice="test",
        clauses=(Clause(item="soreness", op="==", value=True),),
    )
    assert evaluate({"soreness": 1}, baseline={}, elapsed_h=48, rules=(rule,)) == []


def test_a_yes_is_not_a_score_of_8_or_more() -> None:
    assert fired({"soreness": True, "pain": True}, elapsed_h=100) == []


def test_a_yes_baseline_is_not_a_pain_score() -> None:
    assert fired({"pain": 4}, elapsed_h=72, baseline={"pain": True}) == []


# ---- flags_for: escalation and advice --------------------------------------------------------


def test_rf2_alone_is_same_day() -> None:
    (flag,) = flags_for(["RF-2"], emergency_number="911")
    assert flag.severity == "same_day"


def test_rf2_escalates_to_urgent_when_rf1_fires_with_it() -> None:
    flags = flags_for(["RF-1", "RF-2"], emergency_number="911")
    assert [(flag.rule, flag.severity) for flag in flags] == [
        ("RF-1", "urgent"),
        ("RF-2", "urgent"),
    ]


def test_rf2_does_not_escalate_with_another_rule() -> None:
    flags = flags_for(["RF-2", "RF-4"], emergency_number="911")
    assert [flag.severity for flag in flags] == ["same_day", "same_day"]


def test_advice_names_the_clinic_emergency_number() -> None:
    (flag,) = flags_for(["RF-1"], emergency_number="112")
    assert "Call 112 or go to an emergency department now." in flag.advice


def test_no_advice_keeps_the_emergency_placeholder() -> None:
    flags = flags_for([rule.id for rule in red_flag_rules()], emergency_number="112")
    assert [flag.rule for flag in flags if "{emergency}" in flag.advice] == []


def test_advice_is_the_patient_wording_of_clinical_md() -> None:
    (flag,) = flags_for(["RF-5"], emergency_number="112")
    assert flag.advice.startswith("Keep pressing firmly on the spot with a clean cloth")


# ---- the database: answers raise alerts ------------------------------------------------------


@pytest.fixture
def clinician(session: Session) -> Clinician:
    return make_clinician(session, make_clinic(session, emergency_number="112"), email="a@x.org")


@pytest.fixture
def patient(session: Session, clinician: Clinician) -> Patient:
    return make_patient(session, clinician)


@pytest.fixture
def treatment(session: Session, clinician: Clinician, patient: Patient) -> Treatment:
    """A dry-needling treatment at NOW (09:00 in Vancouver); nothing in quiet hours."""
    return make_treatment(session, clinician, patient)


def answer(
    session: Session, patient: Patient, treatment: Treatment, slot: str, answers: dict[str, object]
) -> AnswerResult:
    """The patient answers a check-in of the treatment ten minutes after it opens."""
    checkin = checkin_for(treatment, slot)
    return answer_checkin(
        session,
        patient=patient,
        checkin_id=checkin.id,
        client_id=uuid.uuid4(),
        answers=answers,
        note=None,
        now=checkin.due_at + timedelta(minutes=10),
    )


def alert_rules(session: Session) -> list[str]:
    return list(session.scalars(select(Alert.rule).order_by(Alert.id)))


def test_answer_meeting_a_rule_creates_an_alert(
    session: Session, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "0h", {"soreness": 2, "rf_faint": True})
    assert alert_rules(session) == ["RF-2"]


def test_alert_points_at_the_response_that_raised_it(
    session: Session, patient: Patient, treatment: Treatment
) -> None:
    result = answer(session, patient, treatment, "0h", {"rf_faint": True})
    alert = session.scalar(select(Alert))
    assert alert is not None
    assert (alert.response_id, alert.treatment_id, alert.details) == (
        result.response.id,
        treatment.id,
        {"slot": "0h"},
    )


def test_answer_returns_the_advice_with_the_clinic_emergency_number(
    session: Session, patient: Patient, treatment: Treatment
) -> None:
    result = answer(session, patient, treatment, "6h", {"rf_breath_chest": True})
    assert "Call 112" in result.flags[0].advice


def test_alert_is_written_in_the_transaction_of_the_answer(
    session: Session, patient: Patient, treatment: Treatment
) -> None:
    session.commit()
    answer(session, patient, treatment, "0h", {"rf_faint": True})
    session.rollback()
    counts = [count_rows(session, model) for model in (Alert, Response)]
    assert counts == [0, 0]


def test_answer_rolled_back_leaves_the_checkin_open(
    session: Session, patient: Patient, treatment: Treatment
) -> None:
    session.commit()
    answer(session, patient, treatment, "0h", {"rf_faint": True})
    session.rollback()
    assert session.scalar(select(CheckIn.status).filter_by(slot="0h")) == "scheduled"


def test_answer_meeting_no_rule_creates_no_alert(
    session: Session, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "0h", {"soreness": 3, "rf_faint": False})
    assert alert_rules(session) == []


def test_escalated_alert_is_stored_as_urgent(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    # IMS asks rf_faint and rf_breath_chest together at 2 h
    ims = make_treatment(session, clinician, patient, modality="ims")
    answer(session, patient, ims, "2h", {"rf_faint": True, "rf_breath_chest": True})
    rows = session.execute(select(Alert.rule, Alert.severity).order_by(Alert.rule))
    assert [(row.rule, row.severity) for row in rows] == [("RF-1", "urgent"), ("RF-2", "urgent")]


def test_same_rule_again_for_the_treatment_adds_no_second_alert(
    session: Session, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "6h", {"rf_neuro": True})
    answer(session, patient, treatment, "24h", {"rf_neuro": True})
    assert alert_rules(session) == ["RF-4"]


def test_same_rule_again_still_shows_the_advice(
    session: Session, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "6h", {"rf_neuro": True})
    again = answer(session, patient, treatment, "24h", {"rf_neuro": True})
    (flag,) = again.flags
    assert (flag.rule, flag.advice) == (
        "RF-4",
        flags_for(["RF-4"], emergency_number="112")[0].advice,
    )


def test_same_rule_again_is_recorded_on_the_response(
    session: Session, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "6h", {"rf_neuro": True})
    again = answer(session, patient, treatment, "24h", {"rf_neuro": True})
    assert again.response.flagged_rules == ["RF-4"]


def test_same_rule_for_another_treatment_creates_another_alert(
    session: Session, clinician: Clinician, patient: Patient, treatment: Treatment
) -> None:
    later = make_treatment(session, clinician, patient, treated_at=NOW + timedelta(days=7))
    answer(session, patient, treatment, "6h", {"rf_neuro": True})
    answer(session, patient, later, "6h", {"rf_neuro": True})
    assert alert_rules(session) == ["RF-4", "RF-4"]


def test_rf7_uses_the_treatment_baseline(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient, baseline={"pain": 2})
    answer(session, patient, treatment, "72h", {"pain": 5})
    assert alert_rules(session) == ["RF-7"]


# ---- the database: the clinician's alert list ------------------------------------------------


def test_alerts_are_listed_most_severe_first(
    session: Session, clinician: Clinician, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "6h", {"bruise_bleed": "large"})  # routine, oldest
    answer(session, patient, treatment, "24h", {"rf_infection": True})  # same day
    answer(session, patient, treatment, "48h", {"rf_breath_chest": True})  # urgent, newest
    alerts = list_alerts(session, clinic_id=clinician.clinic_id)
    assert [(alert.rule, alert.severity) for alert in alerts] == [
        ("RF-1", "urgent"),
        ("RF-3", "same_day"),
        ("RF-6", "routine"),
    ]


def test_alerts_of_the_same_severity_are_listed_oldest_first(
    session: Session, clinician: Clinician, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "6h", {"rf_neuro": True})
    answer(session, patient, treatment, "24h", {"rf_infection": True})
    alerts = list_alerts(session, clinic_id=clinician.clinic_id)
    assert [alert.rule for alert in alerts] == ["RF-4", "RF-3"]


def test_acknowledged_alert_leaves_the_open_list(
    session: Session, clinician: Clinician, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "0h", {"rf_faint": True})
    (alert,) = list_alerts(session, clinic_id=clinician.clinic_id)
    acknowledge_alert(
        session, clinician=clinician, alert_id=alert.id, action="called_patient", now=NOW
    )
    assert list_alerts(session, clinic_id=clinician.clinic_id) == []


def test_alerts_of_another_clinic_are_not_listed(
    session: Session, clinician: Clinician, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "0h", {"rf_faint": True})
    other = make_clinic(session, name="Other Clinic")
    assert list_alerts(session, clinic_id=other.id) == []


# ---- the database: acknowledging -------------------------------------------------------------


def test_acknowledging_records_who_and_when(
    session: Session, clinician: Clinician, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "0h", {"rf_faint": True})
    (alert,) = list_alerts(session, clinic_id=clinician.clinic_id)
    acknowledge_alert(
        session, clinician=clinician, alert_id=alert.id, action="called_patient", now=NOW
    )
    assert (alert.acknowledged_at, alert.acknowledged_by_id) == (NOW, clinician.id)


def test_acknowledging_twice_keeps_the_first_acknowledgement(
    session: Session, clinician: Clinician, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "0h", {"rf_faint": True})
    (alert,) = list_alerts(session, clinic_id=clinician.clinic_id)
    colleague = make_clinician(session, clinician.clinic, email="b@x.org")
    acknowledge_alert(
        session, clinician=clinician, alert_id=alert.id, action="called_patient", now=NOW
    )
    again = acknowledge_alert(
        session,
        clinician=colleague,
        alert_id=alert.id,
        action="no_action_needed",
        now=NOW + timedelta(hours=1),
    )
    assert (again.acknowledged_at, again.acknowledged_by_id) == (NOW, clinician.id)


def test_acknowledging_another_clinic_alert_is_not_found(
    session: Session, clinician: Clinician, patient: Patient, treatment: Treatment
) -> None:
    answer(session, patient, treatment, "0h", {"rf_faint": True})
    (alert,) = list_alerts(session, clinic_id=clinician.clinic_id)
    outsider = make_clinician(session, make_clinic(session, name="Other Clinic"), email="c@x.org")
    with pytest.raises(NotFound):
        acknowledge_alert(
            session, clinician=outsider, alert_id=alert.id, action="called_patient", now=NOW
        )


def test_acknowledging_an_unknown_alert_is_not_found(
    session: Session, clinician: Clinician
) -> None:
    with pytest.raises(NotFound):
        acknowledge_alert(
            session, clinician=clinician, alert_id=999_999, action="called_patient", now=NOW
        )
