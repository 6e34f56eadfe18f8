"""The CLI: create-clinic, create-token, demo."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Alert, CheckIn, Clinic, Clinician, Patient, Response, Treatment
from server.services import analytics
from server.services.clinics import authenticate
from tests.factories import count_rows

IN_SYDNEY = ["--timezone", "Australia/Sydney"]


def test_create_clinic_prints_a_generated_password_once(app: Flask, session: Session) -> None:
    result = app.test_cli_runner().invoke(
        args=["create-clinic", "Harbour Physio", "--admin-email", "Lead@Example.org", *IN_SYDNEY]
    )
    assert result.exit_code == 0, result.output
    password = result.output.split("Generated password (shown once): ")[1].strip()
    admin = authenticate(session, email="lead@example.org", password=password)
    assert admin.role == "admin"
    assert admin.clinic.name == "Harbour Physio"


def test_create_clinic_with_a_given_password_prints_none(app: Flask, session: Session) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "create-clinic",
            "Harbour",
            "--admin-email",
            "a@example.org",
            *IN_SYDNEY,
            "--password",
            "kelp lantern harbour",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "kelp lantern harbour" not in result.output
    assert "Generated password" not in result.output


def test_create_clinic_twice_fails_cleanly(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["create-clinic", "Harbour", "--admin-email", "a@example.org", *IN_SYDNEY])
    result = runner.invoke(
        args=["create-clinic", "Harbour", "--admin-email", "b@example.org", *IN_SYDNEY]
    )
    assert result.exit_code != 0
    assert "a clinic with that name exists" in result.output
    assert count_rows(session, Clinician) == 1


def test_create_token_prints_a_working_token_on_its_last_line(
    app: Flask, session: Session, client: FlaskClient
) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["create-clinic", "Harbour", "--admin-email", "a@example.org", *IN_SYDNEY])
    result = runner.invoke(args=["create-token", "a@example.org"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    response = client.get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_create_token_for_an_unknown_email_fails(app: Flask, session: Session) -> None:
    result = app.test_cli_runner().invoke(args=["create-token", "nobody@example.org"])
    assert result.exit_code != 0
    assert "no clinician with that e-mail" in result.output


def test_demo_loads_a_meaningful_clinic_and_does_not_duplicate(
    app: Flask, session: Session
) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    counts = {
        model: count_rows(session, model) for model in (Patient, Treatment, CheckIn, Response)
    }
    assert count_rows(session, Clinician) == 2
    assert counts[Patient] == 92
    # what it says it loaded is what is there
    assert f"{counts[Patient]} patients, {counts[Treatment]} treatments" in first.output
    modalities = set(session.scalars(select(Treatment.modality).distinct()))
    assert modalities == {"ims", "dry_needling", "acupuncture"}
    assert count_rows(session, Alert) >= 3
    assert count_rows(session, CheckIn, CheckIn.status == "missed")
    names = list(session.scalars(select(Patient.display_name)))
    assert None not in names  # the pages read as a clinic's, and a name can be searched
    assert len(set(names)) == len(names)
    again = runner.invoke(args=["demo"])
    assert "already loaded" in again.output
    assert {model: count_rows(session, model) for model in counts} == counts


def test_demo_makes_every_comparison_chart_meaningful(app: Flask, session: Session) -> None:
    assert app.test_cli_runner().invoke(args=["demo"]).exit_code == 0
    clinic = session.scalar(select(Clinic))
    assert clinic is not None
    for by in ("modality", "clinician"):
        scope = analytics.Scope((clinic.id,), by=by)
        curves = analytics.recovery(session, scope=scope, measures=["soreness"])["soreness"]
        assert len(curves) == (3 if by == "modality" else 6)
        for curve in curves:
            assert all(p.mean is not None for p in curve.points), curve
        assert not any(s.suppressed for s in analytics.resolution(session, scope=scope))
        assert not any(s.suppressed for s in analytics.responders(session, scope=scope))
    open_alerts = session.scalars(select(Alert).filter_by(acknowledged_at=None)).all()
    assert {"urgent", "same_day"} <= {alert.severity for alert in open_alerts}


def test_demo_if_empty_skips_a_database_with_a_clinic(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["create-clinic", "Harbour", "--admin-email", "a@example.org", *IN_SYDNEY])
    result = runner.invoke(args=["demo", "--if-empty"])
    assert "no demo data loaded" in result.output
    assert count_rows(session, Clinic) == 1
