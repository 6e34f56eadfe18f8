"""Every page for every role, the layout, error pages, security headers and the served assets."""

from __future__ import annotations

import gzip
import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.models import Clinician
from server.pages.assets import PLOTLY_BUNDLE
from tests.factories import (
    bearer,
    checkin_for,
    make_clinician,
    make_patient,
    make_treatment,
    sign_in_pages,
)

ROLES = ["clinician", "admin", "network_admin"]
PAGES = [
    "/clinic/",
    "/clinic/patients",
    "/clinic/patients/{patient}",
    "/clinic/patients/new",
    "/clinic/patients/{patient}/treatments/new",
    "/clinic/checkins/{checkin}/answers",
    "/clinic/protocols",
]
PLOTLY_JS = PLOTLY_BUNDLE.read_bytes()


def signed_in_with_a_treatment(
    client: FlaskClient, session: Session, role: str = "clinician"
) -> tuple[Clinician, dict[str, int]]:
    """A signed-in clinician of the role, with a patient treated 7 hours ago."""
    clinician = make_clinician(session, role=role)
    patient = make_patient(session, clinician, quiet_hours=None)
    treatment = make_treatment(
        session, clinician, patient, treated_at=datetime.now(UTC) - timedelta(hours=7)
    )
    sign_in_pages(client, clinician)
    return clinician, {"patient": patient.id, "checkin": checkin_for(treatment, "6h").id}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_every_role(
    client: FlaskClient, session: Session, role: str, path: str
) -> None:
    _, ids = signed_in_with_a_treatment(client, session, role)

    response = client.get(path.format(**ids))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<a class="skip-link" href="#main">' in page
    assert '<main id="main"' in page
    assert '<nav aria-label="Main">' in page
    assert 'href="/clinic/compare"' in page
    assert "Harbour Physio" in page


@pytest.mark.parametrize("path", PAGES)
def test_every_page_needs_a_signed_in_clinician(
    client: FlaskClient, session: Session, path: str
) -> None:
    response = client.get(path.format(patient=1, checkin=1))

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/clinic/login?next=")


def test_nav_marks_the_current_page(client: FlaskClient, session: Session) -> None:
    signed_in_with_a_treatment(client, session)

    page = client.get("/clinic/patients").get_data(as_text=True)

    assert '<a href="/clinic/patients" aria-current="page">Patients</a>' in page
    assert page.count('aria-current="page"') == 1


def test_pages_have_a_strict_content_security_policy(client: FlaskClient, session: Session) -> None:
    _, ids = signed_in_with_a_treatment(client, session)

    response = client.get(f"/clinic/patients/{ids['patient']}")

    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_have_no_inline_script(client: FlaskClient, session: Session) -> None:
    _, ids = signed_in_with_a_treatment(client, session)

    page = client.get(f"/clinic/patients/{ids['patient']}").get_data(as_text=True)

    tags = re.findall(r"<script[^>]*>", page)
    assert tags
    assert all(' src="' in tag or 'type="application/json"' in tag for tag in tags)
    assert " on" not in " ".join(re.findall(r"<[a-z]+ [^>]*>", page)).replace(" one", "")


# --- error pages -------------------------------------------------------------------------------


def test_unknown_page_is_an_html_404(client: FlaskClient, session: Session) -> None:
    response = client.get("/clinic/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Page not found" in response.get_data(as_text=True)
    assert "Content-Security-Policy" in response.headers


def test_wrong_method_on_a_page_is_an_html_405(client: FlaskClient, session: Session) -> None:
    response = client.put("/clinic/patients")

    assert response.status_code == 405
    assert response.mimetype == "text/html"


def test_api_errors_stay_json(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    response = client.get("/api/v1/patients/999999", headers=headers)

    assert response.status_code == 404
    assert response.get_json()["message"] == "no such patient"


def test_a_fault_shows_the_500_page(
    app: Flask, client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_in_with_a_treatment(client, session)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("server.pages.today.worklist", broken)

    response = client.get("/clinic/")

    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong" in page
    assert "the database went away" not in page


# --- assets ------------------------------------------------------------------------------------


def asset_url(page: str, name: str) -> str:
    found = re.search(rf'"(/clinic/static/[0-9a-f]{{12}}/{re.escape(name)})"', page)
    assert found is not None, f"{name} is not linked"
    return found.group(1)


def test_plotly_is_the_vendored_bundle_under_its_content_hash(
    client: FlaskClient, session: Session
) -> None:
    _, ids = signed_in_with_a_treatment(client, session)
    page = client.get(f"/clinic/patients/{ids['patient']}").get_data(as_text=True)
    url = asset_url(page, "plotly.min.js")

    response = client.get(url)

    assert url.split("/")[3] == hashlib.sha256(PLOTLY_JS).hexdigest()[:12]
    assert response.status_code == 200
    assert response.get_data() == PLOTLY_JS
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_plotly_is_gzipped_for_browsers_that_take_it(client: FlaskClient, session: Session) -> None:
    _, ids = signed_in_with_a_treatment(client, session)
    page = client.get(f"/clinic/patients/{ids['patient']}").get_data(as_text=True)

    response = client.get(asset_url(page, "plotly.min.js"), headers={"Accept-Encoding": "gzip"})

    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(response.get_data()) == PLOTLY_JS
    assert len(response.get_data()) < len(PLOTLY_JS) / 2


@pytest.mark.parametrize("name", ["pages.css", "pages.js", "charts.js"])
def test_own_assets_are_served_with_immutable_caching(
    client: FlaskClient, session: Session, name: str
) -> None:
    _, ids = signed_in_with_a_treatment(client, session)
    page = client.get(f"/clinic/patients/{ids['patient']}").get_data(as_text=True)

    response = client.get(asset_url(page, name))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_an_asset_under_an_old_hash_is_not_found(client: FlaskClient, session: Session) -> None:
    response = client.get("/clinic/static/000000000000/plotly.min.js")

    assert response.status_code == 404
