"""``flask db upgrade`` builds the whole schema from empty; ``downgrade`` takes it away again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select

from server import create_app
from server.config import Config
from server.extensions import db
from server.models import Answer, Base, Clinic, Patient, Treatment, TreatmentOutcome
from server.services.answers import answer_checkin
from server.services.scheduling import cancel_checkin
from tests.databases import POSTGRES_UNAVAILABLE, drop_postgres_database, postgres_database
from tests.factories import (
    NOW,
    checkin_for,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def empty_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on a brand-new, empty database of each kind."""
    name = f"needling_migrations_{id(request)}"
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrations.db'}"
    elif POSTGRES_UNAVAILABLE:
        pytest.skip(POSTGRES_UNAVAILABLE)
    else:
        url = postgres_database(name)
    app = create_app(Config.for_tests(url, tmp_path))
    with app.app_context():
        yield app
        db.session.remove()  # a test's session gives its connection back before the pool goes
        db.engine.dispose()
    if request.param == "postgresql":
        drop_postgres_database(name)


def test_upgrade_from_empty_builds_exactly_the_models(empty_app: Flask) -> None:
    upgrade()
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_downgrade_to_base_removes_every_table(empty_app: Flask) -> None:
    upgrade()
    downgrade(revision="base")
    assert inspect(db.engine).get_table_names() == ["alembic_version"]


def test_upgrade_works_out_the_outcomes_of_treatments_already_recorded(empty_app: Flask) -> None:
    upgrade()
    session = db.session()
    clinician = make_clinician(session, make_clinic(session))
    patient = make_patient(session, clinician)
    baseline = {"soreness": 1, "pain": 6, "mobility_activity": "reach", "mobility": 5}
    treatment_id = make_treatment(session, clinician, patient, baseline=baseline).id
    session.commit()
    downgrade(revision="0004")  # as the database was before the outcomes were kept

    upgrade()

    outcome = db.session.get(TreatmentOutcome, treatment_id)
    assert outcome is not None
    assert outcome.pain_before == 6


def test_upgrade_gives_answers_already_stored_their_treatment_and_grouping(
    empty_app: Flask,
) -> None:
    upgrade()
    session = db.session()
    baseline = {"soreness": 1, "pain": 6, "mobility_activity": "reach", "mobility": 5}
    six_hours = {
        "soreness": 4,
        "bruise_bleed": "small",
        "rf_breath_chest": False,
        "rf_neuro": False,
    }
    expected = set()
    for clinic_name, modality in (("Harbour Physio", "dry_needling"), ("Elsewhere", "ims")):
        clinician = make_clinician(session, make_clinic(session, name=clinic_name))
        patient = make_patient(session, clinician, quiet_hours=None)
        treatment = make_treatment(
            session,
            clinician,
            patient,
            modality=modality,
            treated_at=NOW - timedelta(hours=6.5),
            baseline=baseline,
            baseline_at=NOW - timedelta(hours=7.25),
        )
        if modality == "dry_needling":  # and a check-in answered 6.5 h after T0
            answer_checkin(
                session,
                patient=patient,
                checkin_id=checkin_for(treatment, "6h").id,
                client_id=uuid.uuid4(),
                answers=six_hours,
                note=None,
                now=NOW,
            )
            expected |= {(code, treatment.id, modality, "6h", 6.5) for code in six_hours}
        expected |= {(code, treatment.id, modality, "baseline", -0.75) for code in baseline}
    clinic_of = {t.id: t.clinic_id for t in session.scalars(select(Treatment))}
    session.commit()
    downgrade(revision="0005")  # as the database was before answers carried them

    upgrade()

    stored = {
        (a.item_code, a.treatment_id, a.modality, a.slot, round(a.elapsed_hours, 6), a.clinic_id)
        for a in db.session.scalars(select(Answer))
    }
    assert stored == {(*row, clinic_of[row[1]]) for row in expected}
    assert len(set(clinic_of.values())) == 2


def test_upgrade_gives_clinics_their_patients_zone_and_keeps_every_patient(
    empty_app: Flask,
) -> None:
    upgrade()
    session = db.session()
    sydney = make_clinician(session, make_clinic(session, name="Bondi Physio"))
    for code, zone in (("A", "Australia/Sydney"), ("B", "Australia/Sydney"), ("C", "UTC")):
        make_patient(session, sydney, code=code, timezone=zone)
    own_number = make_clinic(session, name="Zurich Physio", emergency_number="144")
    make_clinic(session, name="Empty Physio")
    session.commit()
    # before 0008, every clinic had a number: the old default 911 unless one was given
    downgrade(revision="0007")

    upgrade()  # on SQLite this rebuilds `clinics`, which every patient references

    db.session.expire_all()
    clinics = {clinic.name: clinic for clinic in db.session.scalars(select(Clinic))}
    assert clinics["Bondi Physio"].timezone == "Australia/Sydney"
    assert clinics["Empty Physio"].timezone == "UTC"
    assert clinics["Bondi Physio"].emergency_number is None  # was the default, never a choice
    assert clinics[own_number.name].emergency_number == "144"
    assert db.session.scalar(select(func.count()).select_from(Patient)) == 3


def test_upgrade_keeps_for_staff_entry_what_was_cancelled_for_being_recorded_late(
    empty_app: Flask,
) -> None:
    upgrade()
    session = db.session()
    clinician = make_clinician(session, make_clinic(session))
    patient = make_patient(session, clinician)
    treatment = make_treatment(
        session, clinician, patient, treated_at=NOW - timedelta(hours=48), now=NOW
    )
    cancel_checkin(session, checkin_for(treatment, "7d"), now=NOW + timedelta(hours=1))
    session.commit()
    downgrade(revision="0017")  # before 0018 such check-ins were cancelled at recording

    upgrade()

    db.session.expire_all()
    rows = {
        checkin.slot: (checkin.status, checkin.entry_only, checkin.cancelled_at is None)
        for checkin in db.session.get_one(Treatment, treatment.id).checkins
    }
    assert rows == {
        "0h": ("missed", True, True),
        "6h": ("missed", True, True),
        "24h": ("missed", True, True),
        "48h": ("scheduled", False, True),
        "72h": ("scheduled", False, True),
        "7d": ("cancelled", False, False),  # cancelled by a clinician: stays so
    }


def test_upgrade_leaves_the_side_points_and_note_of_earlier_treatments_unrecorded(
    empty_app: Flask,
) -> None:
    upgrade()
    session = db.session()
    clinician = make_clinician(session, make_clinic(session))
    treatment_id = make_treatment(session, clinician, make_patient(session, clinician)).id
    session.commit()
    downgrade(revision="0018")  # before 0019 a treatment had no side, points or note

    upgrade()

    db.session.expire_all()
    treatment = db.session.get_one(Treatment, treatment_id)
    assert (treatment.side, treatment.points, treatment.note) == (None, None, None)


def test_upgrade_leaves_the_dose_of_earlier_treatments_unrecorded(empty_app: Flask) -> None:
    upgrade()
    session = db.session()
    clinician = make_clinician(session, make_clinic(session))
    treatment_id = make_treatment(session, clinician, make_patient(session, clinician)).id
    session.commit()
    downgrade(revision="0020")  # before 0021 a treatment had no dose

    upgrade()

    db.session.expire_all()
    treatment = db.session.get_one(Treatment, treatment_id)
    dose = (treatment.needle_sites, treatment.retention_minutes, treatment.needle_diameter_mm)
    assert dose == (None, None, None)
