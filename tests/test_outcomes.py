"""Each treatment's outcome row (CLINICAL.md §5) stays in step with what is stored, whichever
service stores it, and a rebuild from scratch gives the same rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.models import Clinician, Treatment, TreatmentOutcome
from server.services import outcomes
from server.services.answers import enter_response
from server.services.outcomes import Reading, is_responder, outcome
from tests.factories import checkin_for, make_clinic, make_clinician, make_patient, make_treatment

ROW_FIELDS = (
    "resolved_hours",
    "last_soreness_hours",
    "pain_before",
    "pain_after",
    "responder",
)


def row_of(session: Session, treatment: Treatment) -> dict[str, Any]:
    stored = session.get(TreatmentOutcome, treatment.id)
    assert stored is not None, "every recorded treatment has its outcome row"
    session.refresh(stored)
    return {name: getattr(stored, name) for name in ROW_FIELDS}


def dry_needled(
    session: Session, code: str = "P-001", **baseline: int
) -> tuple[Clinician, Treatment]:
    """A dry-needling treatment of a new patient ten days ago, with the given baseline answers
    (if any), by the clinic's clinician (both made at the first call)."""
    clinician = session.scalar(select(Clinician)) or make_clinician(session, make_clinic(session))
    patient = make_patient(session, clinician, code=code, quiet_hours=None)
    treated_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
    extra: dict[str, Any] = {}
    if baseline:
        full = {"soreness": 0, "pain": 0, "mobility_activity": "reach", "mobility": 5} | baseline
        extra = {"baseline": full, "baseline_at": treated_at - timedelta(minutes=30)}
    treatment = make_treatment(
        session, clinician, patient, treated_at=treated_at, now=treated_at, **extra
    )
    return clinician, treatment


def enter(
    session: Session,
    clinician: Clinician,
    treatment: Treatment,
    slot: str,
    hours: float,
    **answers: int,
) -> None:
    """Back-enter answers of the slot's check-in, given ``hours`` after T0."""
    enter_response(
        session,
        clinician=clinician,
        checkin_id=checkin_for(treatment, slot).id,
        client_id=uuid.uuid4(),
        answers=dict(answers),
        answered_at=treatment.treated_at + timedelta(hours=hours),
        source="phone",
        note=None,
        now=datetime.now(UTC),
    )


def test_a_recorded_treatment_has_its_row(
    session: Session,
) -> None:
    _, treatment = dry_needled(session, soreness=2, pain=6)

    assert row_of(session, treatment) == {
        "resolved_hours": None,
        "last_soreness_hours": None,
        "pain_before": 6,
        "pain_after": None,
        "responder": None,
    }


def test_answers_entered_later_move_the_row(session: Session) -> None:
    clinician, treatment = dry_needled(session, soreness=2, pain=6)

    enter(session, clinician, treatment, "6h", 6.5, soreness=5)
    assert row_of(session, treatment)["last_soreness_hours"] == pytest.approx(6.5)
    assert row_of(session, treatment)["resolved_hours"] is None
    enter(session, clinician, treatment, "24h", 25, soreness=2, pain=5)  # 2 <= baseline 2
    enter(session, clinician, treatment, "48h", 49, soreness=1, pain=4)
    enter(session, clinician, treatment, "7d", 170, soreness=0, pain=2)

    assert row_of(session, treatment) == {
        "resolved_hours": pytest.approx(25),
        "last_soreness_hours": pytest.approx(170),
        "pain_before": 6,
        "pain_after": 2,
        "responder": True,  # down 4 points, 67 %
    }


def test_a_treatment_without_a_baseline_resolves_at_soreness_one(session: Session) -> None:
    clinician, treatment = dry_needled(session)

    enter(session, clinician, treatment, "6h", 6, soreness=2)
    enter(session, clinician, treatment, "24h", 24, soreness=1)

    row = row_of(session, treatment)
    assert (row["resolved_hours"], row["pain_before"]) == (pytest.approx(24), None)


def test_rebuild_gives_the_rows_the_services_kept(session: Session) -> None:
    clinician, first = dry_needled(session, soreness=3, pain=7)
    enter(session, clinician, first, "24h", 24, soreness=3, pain=6)
    enter(session, clinician, first, "7d", 168, soreness=0, pain=6)
    _, second = dry_needled(session, "P-002", pain=5)
    kept = [row_of(session, first), row_of(session, second)]
    session.execute(delete(TreatmentOutcome))

    assert outcomes.rebuild(session) == 2

    assert [row_of(session, first), row_of(session, second)] == kept
    assert kept[0]["responder"] is False  # 1 point down: not a responder


def test_outcome_rows_go_with_their_treatment(session: Session) -> None:
    _, treatment = dry_needled(session, pain=4)
    session.delete(treatment)
    session.flush()

    assert session.scalars(select(TreatmentOutcome)).all() == []


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (6, 4, True),  # 2 points and 33 %
        (10, 8, False),  # 2 points but 20 %
        (3, 2, False),  # 33 % but 1 point
        (0, 0, None),  # no pain to improve on: not judged
        (None, 2, None),
        (5, None, None),
    ],
)
def test_responder_rule(before: int | None, after: int | None, expected: bool | None) -> None:
    assert is_responder(before, after) is expected


def test_soreness_before_t0_or_at_the_baseline_never_resolves_nor_censors() -> None:
    readings = [
        Reading("baseline", "soreness", 4, -0.5),
        Reading("0h", "soreness", 1, -0.1),  # clock skew: before T0
        Reading("6h", "soreness", 5, 6.0),
    ]

    row = outcome(1, "72h", readings)

    assert (row["resolved_hours"], row["last_soreness_hours"]) == (None, 6.0)
