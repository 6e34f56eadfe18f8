"""How heavy the patient app's first load of a check-in is, and how soon it can be answered.

Prints, for a cold load (new browser profile, empty caches) of a check-in opened from its link in
headless Chromium on loopback (an acupuncture treatment's 24 h check-in, opened five minutes
ago): the number of requests the page makes, the bytes on the wire (compressed) with and without
icons, and the time until the first answer button can be tapped.
Targets (the PWA issue): <= 60 KB compressed excluding icons, <= 10 requests.

    .venv/bin/python bench/pwa_weight.py [--runs 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from server import create_app
from server.config import Config
from server.extensions import db
from server.services.clinics import create_clinic, create_clinician
from server.services.links import checkin_link_token
from server.services.patients import create_patient
from server.services.treatments import record_treatment
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

DATABASE_NAME = "needling_bench_pwa_weight"  # a SQLite file, removed with its directory


def open_checkin_link(base_url: str, secret: str) -> str:
    """A patient whose 24 h check-in opened five minutes ago, and the e-mailed link to it.

    The 24 h check-in, not the first one open: the evening check-in of an acupuncture
    treatment follows the patient's clock (skipped after 21:00 local, closed at midnight), so
    which one is open hours after a treatment depends on the hour the bench runs.
    """
    now = datetime.now(UTC)
    clinic = create_clinic(db.session(), name="Bench clinic", timezone="America/Vancouver")
    clinician = create_clinician(
        db.session(), clinic=clinic, email="bench@example.org", password="bench-password-1"
    )
    patient = create_patient(
        db.session(),
        clinician=clinician,
        code="B-1",
        timezone="America/Vancouver",
        quiet_hours=None,
        now=now,
    )
    treated_at = now - timedelta(hours=24, minutes=5)
    treatment = record_treatment(
        db.session(),
        clinician=clinician,
        patient=patient,
        modality="acupuncture",
        treated_at=treated_at,
        now=treated_at,
        regions=["neck"],
    )
    db.session.commit()
    checkin = next(c for c in treatment.checkins if c.slot == "24h")
    if not checkin.due_at <= now < checkin.expires_at:
        raise SystemExit(
            f"the 24 h check-in is not open now: {checkin.due_at}-{checkin.expires_at}"
        )
    token = checkin_link_token(
        secret,
        checkin_id=checkin.id,
        patient_id=patient.id,
        expires_at=checkin.expires_at,
        version=patient.link_version,
    )
    return f"{base_url}/checkin/{checkin.id}#link={token}"


def cold_load(driver: Any, url: str) -> dict[str, float]:
    """One first load in a fresh profile: requests, encoded bytes, time to answerable."""
    with tempfile.TemporaryDirectory() as profile:
        context = driver.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            viewport={"width": 360, "height": 740},
            is_mobile=True,
            has_touch=True,
        )
        page = context.pages[0] if context.pages else context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        urls: dict[str, str] = {}
        sizes: dict[str, float] = {}
        cdp.on(
            "Network.requestWillBeSent",
            lambda event: urls.__setitem__(event["requestId"], event["request"]["url"]),
        )
        cdp.on(
            "Network.loadingFinished",
            lambda event: sizes.__setitem__(event["requestId"], event["encodedDataLength"]),
        )
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("input[type=radio]", state="attached")
        page.get_by_role("radio").first.wait_for(state="visible")
        ready_ms = (time.perf_counter() - started) * 1000
        page.wait_for_load_state("networkidle")
        context.close()
    icons = {rid for rid, address in urls.items() if "/icons/" in address}
    return {
        "requests": len(urls),
        "bytes": sum(size for rid, size in sizes.items() if rid not in icons),
        "bytes_with_icons": sum(sizes.values()),
        "ready_ms": ready_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-pwa-") as workdir:  # the database goes too
        database = Path(workdir) / f"{DATABASE_NAME}.db"
        app = create_app(Config.for_tests(f"sqlite:///{database}", workdir))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base_url = f"http://127.0.0.1:{server.server_port}"
        with app.app_context():
            db.create_all()
            url = open_checkin_link(base_url, app.config["SECRET_KEY"])
        try:
            with sync_playwright() as driver:
                runs = [cold_load(driver, url) for _ in range(args.runs)]
        finally:
            server.shutdown()
            server.server_close()
            with app.app_context():
                db.engine.dispose()
    first = runs[0]
    ready = [run["ready_ms"] for run in runs]
    print(
        f"first load of a check-in (acupuncture 24 h, ten questions), cold cache, {args.runs} runs:"
    )
    print(f"  requests:                 {first['requests']:6.0f}   (target <= 10)")
    print(
        f"  bytes, compressed:        {first['bytes'] / 1024:6.1f} KB "
        "(target <= 60 KB, icons excluded)"
    )
    print(f"  bytes with icons:         {first['bytes_with_icons'] / 1024:6.1f} KB")
    print(
        f"  time until answerable:    {statistics.median(ready):6.0f} ms median "
        f"(min {min(ready):.0f}, max {max(ready):.0f}) on loopback"
    )


if __name__ == "__main__":
    main()
