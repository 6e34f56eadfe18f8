"""``flask db upgrade`` builds the whole schema from empty; ``downgrade`` takes it away again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select

from server import create_app
from server.config import Config
from server.extensions import db
from server.models import Answer, Base, TreatmentOutcome
from tests.databases import POSTGRES_UNAVAILABLE, drop_postgres_database, postgres_database
from tests.factories import NOW, make_clinic, make_clinician, make_patient, make_treatment


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


def test_upgrade_gives_answers_already_stored_their_grouping(empty_app: Flask) -> None:
    upgrade()
    session = db.session()
    clinician = make_clinician(session, make_clinic(session))
    patient = make_patient(session, clinician)
    baseline = {"soreness": 1, "pain": 6, "mobility_activity": "reach", "mobility": 5}
    treatment = make_treatment(
        session,
        clinician,
        patient,
        modality="acupuncture",
        baseline=baseline,
        baseline_at=NOW - timedelta(minutes=45),
    )
    expected = {
        (answer.item_code, answer.clinic_id, answer.modality, answer.slot, answer.elapsed_hours)
        for answer in session.scalars(select(Answer))
    }
    session.commit()
    downgrade(revision="0005")  # as the database was before answers carried them

    upgrade()

    stored = db.session.scalars(select(Answer)).all()
    assert {(a.item_code, a.clinic_id, a.modality, a.slot) for a in stored} == {
        row[:4] for row in expected
    }
    assert {row[3] for row in expected} == {"baseline"}
    assert {row[2] for row in expected} == {treatment.modality}
    assert {row[4] for row in expected} == {-0.75}
    assert [answer.elapsed_hours for answer in stored] == pytest.approx([-0.75] * 4, abs=1e-6)
