"""What every answer carries: nosniff, no-store where patient data is, HSTS in production."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server import create_app
from server.config import Config
from server.extensions import db
from tests.factories import bearer, make_clinician


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/patients",
        "/api/v1/exports/answers.csv",
        "/api/v1/exports/fhir",
        "/api/v1/openapi.json",
        "/api/v1/patients/999",  # an error answer too
    ],
)
def test_the_api_and_its_exports_are_never_stored_nor_sniffed(
    client: FlaskClient, session: Session, path: str
) -> None:
    # buffered: an export streams, and is read while its request's context is still there
    response = client.get(path, headers=bearer(session, make_clinician(session)), buffered=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers  # not in production


def test_the_patient_app_is_not_sniffed_and_its_assets_stay_cached(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    shell = client.get("/")
    asset = client.get(app.extensions["pwa_bundle"].url("app.js"))
    assert shell.headers["X-Content-Type-Options"] == asset.headers["X-Content-Type-Options"]
    assert asset.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in asset.headers["Cache-Control"]


@pytest.fixture
def production(database_url: str, tmp_path: Path) -> Iterator[FlaskClient]:
    """A client of the app as production runs it."""
    config = Config.for_tests(database_url, tmp_path).with_overrides(ENV_NAME="production")
    app = create_app(config)
    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("path", ["/", "/api/v1/push/key", "/clinic/login"])
def test_production_tells_browsers_to_use_https_only(production: FlaskClient, path: str) -> None:
    response = production.get(path)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=63072000")
