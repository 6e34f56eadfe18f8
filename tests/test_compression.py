"""HTML, JSON and CSV answers are compressed when the client accepts it, and only then."""

from __future__ import annotations

import csv
import gzip
import io

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import bearer, make_clinician, make_patient, make_treatment, sign_in_pages

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}
CSV_URL = "/api/v1/exports/answers.csv"


def test_a_page_is_gzipped_when_the_browser_accepts_it(
    client: FlaskClient, session: Session
) -> None:
    sign_in_pages(client, make_clinician(session))

    response = client.get("/clinic/protocols", headers=GZIP)

    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert gzip.decompress(response.get_data()).startswith(b"<!doctype html>")


def test_a_page_is_sent_as_it_is_when_compression_is_not_accepted(
    client: FlaskClient, session: Session
) -> None:
    sign_in_pages(client, make_clinician(session))

    response = client.get("/clinic/protocols", headers=IDENTITY)

    assert "Content-Encoding" not in response.headers
    assert "Accept-Encoding" in response.headers["Vary"]
    assert response.get_data().startswith(b"<!doctype html>")


def test_api_json_is_gzipped_when_accepted(client: FlaskClient, session: Session) -> None:
    headers = bearer(session, make_clinician(session))

    compressed = client.get("/api/v1/protocols", headers=headers | GZIP)
    plain = client.get("/api/v1/protocols", headers=headers | IDENTITY)

    assert compressed.mimetype == "application/json"
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed.get_data()) == plain.get_data()
    assert "Content-Encoding" not in plain.headers


def test_the_streamed_csv_export_is_gzipped_and_reads_the_same(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    make_treatment(
        session, clinician, make_patient(session, clinician), baseline={"soreness": 2, "pain": 6}
    )
    headers = bearer(session, clinician)

    # buffered: the stream is read inside the request's own context (see tests/test_exports.py)
    compressed = client.get(CSV_URL, headers=headers | GZIP, buffered=True)
    plain = client.get(CSV_URL, headers=headers | IDENTITY, buffered=True)

    text = gzip.decompress(compressed.get_data()).decode()
    assert text == plain.get_data(as_text=True)
    assert compressed.status_code == 200
    assert compressed.mimetype == "text/csv"
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert "Content-Length" not in compressed.headers  # still streamed, in chunks
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["item_code"] for row in rows} >= {"soreness", "pain"}


def test_a_static_asset_is_not_compressed_twice(client: FlaskClient, session: Session) -> None:
    sign_in_pages(client, make_clinician(session))
    page = client.get("/clinic/protocols").get_data(as_text=True)
    url = page.split('<link rel="stylesheet" href="', 1)[1].split('"', 1)[0]

    compressed = client.get(url, headers=GZIP)
    plain = client.get(url, headers=IDENTITY)

    assert compressed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(compressed.get_data()) == plain.get_data()
