"""`flask backup` and `flask restore`: a round trip gives back every row, on both databases."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import MetaData, delete, select, update

from server.extensions import db
from server.models import Answer, Clinician, Patient
from server.services.answers import answer_checkin
from tests.factories import (
    NOW,
    checkin_for,
    enrolled_headers,
    make_clinician,
    make_patient,
    make_treatment,
)


def every_row(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows in key order, alembic_version included, as the database has them."""
    with app.app_context(), db.engine.connect() as connection:
        tables = MetaData()
        tables.reflect(connection)
        return {
            name: [
                tuple(row)
                for row in connection.execute(
                    select(table).order_by(*(table.primary_key.columns or table.columns))
                )
            ]
            for name, table in tables.tables.items()
        }


def a_treated_patient_who_answered(app: Flask) -> None:
    """A clinic, its clinician and patient with a device, a treatment and an answer."""
    with app.app_context():
        session = db.session()
        clinician = make_clinician(session)
        patient = make_patient(session, clinician, quiet_hours=None)
        enrolled_headers(session, clinician, patient)
        treatment = make_treatment(
            session, clinician, patient, treated_at=NOW - timedelta(hours=7), now=NOW
        )
        answer_checkin(
            session,
            patient=patient,
            checkin_id=checkin_for(treatment, "6h").id,
            client_id=uuid.uuid4(),
            answers={"soreness": 3, "rf_breath_chest": True},
            note="sore at the needle sites",
            now=NOW,
        )
        session.commit()
        db.session.remove()


def test_a_restored_backup_has_every_row_the_database_had(
    migrated_app: Flask, tmp_path: Path
) -> None:
    a_treated_patient_who_answered(migrated_app)
    before = every_row(migrated_app)
    backup = tmp_path / "needling.backup"
    runner = migrated_app.test_cli_runner()

    backed_up = runner.invoke(args=["backup", str(backup)])

    assert backed_up.exit_code == 0, backed_up.output
    assert backup.stat().st_size > 0
    with migrated_app.app_context():  # a mistake after the backup: rows lost, a row changed
        session = db.session()
        session.execute(delete(Answer))
        session.execute(update(Patient).values(display_name="overwritten"))
        session.commit()
        db.session.remove()
    assert every_row(migrated_app) != before

    restored = runner.invoke(args=["restore", str(backup), "--yes"])

    assert restored.exit_code == 0, restored.output
    assert every_row(migrated_app) == before
    with migrated_app.app_context():  # the ids go on from where they were, no clash
        session = db.session()
        clinician = session.scalars(select(Clinician)).one()
        second = make_patient(session, clinician, code="P-002")
        session.commit()
        assert second.id > max(row[0] for row in before["patients"])
    assert migrated_app.test_client().get("/readyz").status_code == 200


def test_a_backup_never_overwrites_a_file(migrated_app: Flask, tmp_path: Path) -> None:
    existing = tmp_path / "kept.backup"
    existing.write_text("an older backup")

    result = migrated_app.test_cli_runner().invoke(args=["backup", str(existing)])

    assert result.exit_code != 0
    assert "exists" in result.output
    assert existing.read_text() == "an older backup"


def test_restoring_a_file_that_is_not_a_backup_fails_cleanly(
    migrated_app: Flask, tmp_path: Path
) -> None:
    a_treated_patient_who_answered(migrated_app)
    before = every_row(migrated_app)
    junk = tmp_path / "not-a-backup"
    junk.write_bytes(b"nothing a database wrote" * 100)

    result = migrated_app.test_cli_runner().invoke(args=["restore", str(junk), "--yes"])

    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert every_row(migrated_app) == before
