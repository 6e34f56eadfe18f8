"""The pages' plotly.js: the vendored basic bundle, at plotly's own version, draws every chart."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import tomllib
from pathlib import Path

import plotly.graph_objects as go
import plotly.offline
from flask.testing import FlaskClient
from plotly.basedatatypes import BaseTraceType
from sqlalchemy.orm import Session

from server.pages.assets import PLOTLY_BUNDLE, VENDOR_DIR
from tests.analytics_data import Cohort
from tests.factories import make_clinic, make_clinician, sign_in_pages

MANIFEST = tomllib.loads((VENDOR_DIR / "plotly-basic.toml").read_text())
CHARTS_DIR = Path(__file__).resolve().parent.parent / "server" / "charts"


def basic_trace_types() -> set[str]:
    """The trace types the vendored bundle registers, read from the bundle itself."""
    bundle = PLOTLY_BUNDLE.read_text()
    return set(re.findall(r'moduleType:"trace",name:"(\w+)"', bundle))


def served_plotly(client: FlaskClient, html: str) -> bytes:
    found = re.search(r'"(/clinic/static/[0-9a-f]{12}/plotly\.min\.js)"', html)
    assert found is not None, "plotly.js is not linked"
    return client.get(found.group(1)).get_data()


def figure_traces(html: str) -> list[dict[str, object]]:
    bodies = re.findall(r'<script type="application/json" id="[^"]+-figure">(.*?)</script>', html)
    return [trace for body in bodies for trace in json.loads(body)["data"]]


def test_the_basic_bundle_registers_bar_pie_and_scatter_only() -> None:
    assert basic_trace_types() == {"bar", "pie", "scatter"}


def test_the_vendored_bundle_is_what_its_manifest_says() -> None:
    body = PLOTLY_BUNDLE.read_bytes()

    assert MANIFEST["package"] == "plotly.js-basic-dist-min"
    assert hashlib.sha256(body).hexdigest() == MANIFEST["sha256"]
    assert body.startswith(f"/**\n* plotly.js (basic - minified) v{MANIFEST['version']}\n".encode())
    assert (VENDOR_DIR / "LICENSE").read_text().startswith("MIT License")


def test_the_bundle_is_the_plotly_js_version_the_python_package_builds_for() -> None:
    assert MANIFEST["version"] == plotly.offline.get_plotlyjs_version() == "4.1.1"


def test_the_pages_serve_the_basic_bundle(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    sign_in_pages(client, clinician)
    html = client.get("/clinic/compare").get_data(as_text=True)

    assert served_plotly(client, html) == PLOTLY_BUNDLE.read_bytes()


def test_every_trace_class_the_charts_use_is_in_the_basic_bundle() -> None:
    used = {
        node.attr
        for path in CHARTS_DIR.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "go"
    }
    traces = {
        name.lower()
        for name in used
        if isinstance(getattr(go, name), type) and issubclass(getattr(go, name), BaseTraceType)
    }

    assert traces  # the scan found the charts' traces at all
    assert traces <= basic_trace_types()


def test_every_figure_on_compare_and_a_patient_page_has_a_basic_trace_type(
    client: FlaskClient, session: Session
) -> None:
    clinic = make_clinic(session)
    cohort = Cohort(session, clinic, make_clinician(session, clinic=clinic))
    treatments = [cohort.treatment("ims") for _ in range(5)]
    for treatment in treatments:
        cohort.answer(treatment, "baseline", soreness=1, pain=6, mobility=5)
        cohort.answer(treatment, "2h", soreness=6, pain=5, mobility=4)
        cohort.answer(treatment, "7d", soreness=0, pain=2, mobility=8)
        cohort.checkin(treatment, "7d", "answered")
    assert cohort.clinician is not None
    sign_in_pages(client, cohort.clinician)

    traces = figure_traces(client.get("/clinic/compare").get_data(as_text=True))
    traces += figure_traces(
        client.get(f"/clinic/patients/{treatments[0].patient_id}").get_data(as_text=True)
    )

    assert {trace.get("type") for trace in traces} <= basic_trace_types()
    assert {"scatter", "bar"} <= {trace.get("type") for trace in traces}
