"""How long the server takes to answer a patient page of a long course (issue 22 §5).

A patient with 8 weekly treatments, every check-in answered (tests/course_data.py), on a
throwaway SQLite file: prints the median server time of the first page (the newest five
treatments and the course chart), of the second (the three older ones) and of the second with
its oldest treatment's chart asked for, over several runs after a warm-up, and how many Plotly
figures each page carries. Rough: the Flask test client,
no network, on whatever else the machine is doing. It prints; it never fails on time.

    .venv/bin/python bench/patient_page.py [--runs 15] [--treatments 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import create_app
from server.config import Config
from server.extensions import db
from tests.course_data import make_course
from tests.factories import make_clinician, make_patient, sign_in_pages


def main() -> None:
    """Build the course, then time each page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--treatments", type=int, default=8)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_patient_page_") as folder:
        app = create_app(Config.for_tests(f"sqlite:///{folder}/bench.db", folder))
        with app.app_context():
            db.create_all()
            session = db.session()
            clinician = make_clinician(session)
            patient = make_patient(session, clinician, quiet_hours=None)
            oldest = make_course(session, clinician, patient, treatments=options.treatments)[0]
            client = app.test_client()
            sign_in_pages(client, clinician)
            patient_id, oldest_id = patient.id, oldest.id
        print(f"patient page, {options.treatments} treatments, median of {options.runs} runs:")
        urls = [
            f"/clinic/patients/{patient_id}?page={page}"
            for page in range(1, (options.treatments + 4) // 5 + 1)
        ]
        if len(urls) > 1:
            urls.append(f"{urls[-1]}&chart={oldest_id}")
        for url in urls:
            html = client.get(url).get_data(as_text=True)  # warm-up
            times = []
            for _ in range(options.runs):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code  # noqa: S101
            figures = html.count('type="application/json" id=')
            print(
                f"  {url.split('?')[1]:>15}: {statistics.median(times):6.1f} ms"
                f" (min {min(times):.1f}, max {max(times):.1f}), {figures} figures,"
                f" {len(html) // 1024} KB of HTML"
            )


if __name__ == "__main__":
    main()
