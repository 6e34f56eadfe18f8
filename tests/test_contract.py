"""The API against its own OpenAPI document, fuzzed by Schemathesis on every run (both databases).

Each operation gets a bounded number of generated requests, valid and invalid, with a clinic
admin's token (a patient's on /me), and every check: no 5xx, each answer in its documented shape
and status, nothing the document forbids accepted, nothing it allows refused (but for the
semantic rules listed in bench/schemathesis.toml). bench/fuzz.sh runs the long version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import Case
from sqlalchemy.orm import Session

from tests.factories import bearer, enrolled_headers, make_clinician, make_patient

CONFIG = Path(__file__).resolve().parent.parent / "bench" / "schemathesis.toml"
EXAMPLES = 12  # per operation and phase: a few hundred requests a run


@pytest.fixture
def api_schema(app: Flask) -> Any:
    """The app's OpenAPI document, as Schemathesis reads it, calling the app in process."""
    config = schemathesis.Config.from_path(str(CONFIG))
    # the coverage phase's boundary cases (dozens per operation) are bench/fuzz.sh's to run: here
    # the explicit examples and a bounded fuzzing of valid and invalid requests
    config.projects.default.phases.coverage.enabled = False
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def tokens(session: Session) -> dict[str, dict[str, str]]:
    """A clinic admin's headers and an enrolled patient's, of one clinic."""
    admin = make_clinician(session, role="admin")
    patient = make_patient(session, admin, quiet_hours=None)
    return {"staff": bearer(session, admin), "patient": enrolled_headers(session, admin, patient)}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # the same cases every run: a failure here is reproducible, not luck
    derandomize=True,
)
def test_the_api_keeps_its_contract(
    case: Case[Any], tokens: dict[str, dict[str, str]], session: Session
) -> None:
    who = "patient" if case.path.startswith("/api/v1/me") else "staff"
    if case.path == "/api/v1/auth/tokens/{token_id}":
        case.path_parameters = {"token_id": 2**31 - 1}  # never the token this test runs with
    # identity: Schemathesis calls the app over WSGI and checks the body as sent, without the
    # decoding of Content-Encoding an HTTP client does (compression has its own tests)
    case.call_and_validate(headers={**tokens[who], "Accept-Encoding": "identity"})
