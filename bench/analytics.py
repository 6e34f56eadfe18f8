"""How fast the modality comparison is, against the bare GROUP BY and against pandas.

Prints, on SQLite and PostgreSQL, for 10,000, 100,000 and 1,000,000 answers of one clinic
(bench/analytics_data.py makes them):
- the time of the comparison the Compare page asks for: recovery of soreness, pain and mobility,
  time to soreness resolution and pain responders (median of several runs after one warm-up);
- its ratio to the floor, one bare GROUP BY aggregating every answer once (target <= 1.5x);
- how much faster it is than what a typical app does, pd.read_sql of the joined rows and then
  groupby (target >= 5x at 1M), after checking that both count the same answers;
- the time per answer and its growth from 100k to 1M (target: no worse than linear), and the
  time at 1M on PostgreSQL (target < 1 s);
- the adjusted comparison (issue 24 §5): one cold fit of its models, the worker's job that
  fits and stores it, and what a page pays to read it back (no target);
- the time until every chart of /clinic/compare is drawn in headless Chromium on loopback, on
  the 100k data (target < 1.5 s), with the adjusted comparison fitted and shown.
It prints; it never fails on time.

    .venv/bin/python bench/analytics.py [--quick] [--sizes 10000,100000,1000000]
                                        [--databases sqlite,postgresql] [--runs 5]

PostgreSQL: the server at TEST_POSTGRES_URL, in a database needling_bench_analytics_<pid> made
and dropped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import pandas as pd
import psycopg
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from scipy import stats
from sqlalchemy import text
from sqlalchemy.engine import Engine
from werkzeug.serving import make_server

from bench.analytics_data import CLINIC_ID, NOW, Dataset, build, load, throwaway_database
from server import create_app
from server.config import Config
from server.extensions import db
from server.models import Clinic
from server.protocols import default_protocols
from server.services import analytics, outcomes
from server.services.adjusted import comparison as adjusted
from server.services.adjusted import store as adjusted_store
from server.services.analytics import BASELINE, Filters, Scope
from server.services.clinics import create_clinician
from server.services.statistics import kaplan_meier, wilson
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.databases import POSTGRES_UNAVAILABLE, POSTGRES_URL

MEASURES = ["soreness", "pain", "mobility"]
# targets of issue 6, point 9
FLOOR_TARGET, PANDAS_TARGET, PG_1M_TARGET_S, PAGE_TARGET_MS = 1.5, 5.0, 1.0, 1500.0
# the floor: every answer of the clinic aggregated once, on the columns each answer row carries
FLOOR_SQL = text(
    """SELECT modality, slot, item_code, count(*), sum(value_num), sum(value_num * value_num)
       FROM answers
       WHERE clinic_id = :clinic
       GROUP BY 1, 2, 3"""
)
# the same GROUP BY through the tables the answers hang off (what the floor was before answers
# carried their grouping): printed beside it, no target
JOINED_SQL = text(
    """SELECT t.modality, r.slot, a.item_code, count(*), sum(a.value_num),
              sum(a.value_num * a.value_num)
       FROM answers a
       JOIN responses r ON r.id = a.response_id
       JOIN treatments t ON t.id = r.treatment_id
       WHERE t.clinic_id = :clinic
       GROUP BY 1, 2, 3"""
)
PANDAS_SQL = text(
    """SELECT t.modality, r.slot, a.item_code, a.value_num, r.answered_at, t.treated_at,
              t.patient_id, t.id AS treatment_id
       FROM answers a
       JOIN responses r ON r.id = a.response_id
       JOIN treatments t ON t.id = r.treatment_id
       WHERE t.clinic_id = :clinic AND a.item_code IN ('soreness', 'pain', 'mobility')
         AND a.value_num IS NOT NULL"""
)
LOGIN_EMAIL, LOGIN_PASSWORD = "bench-lead@example.org", "bench-password-1"
# the pages' charts (server/pages/templates/_charts.html), or plotly's own to_html containers
CHART_SELECTOR = "[data-figure], .plotly-graph-div"
# runs before the page's scripts: notes performance.now() (ms since navigation start) when the
# parsed page has charts and each has its SVG
CHARTS_DRAWN_JS = """
(() => {
  const note = () => {
    if (window.__chartsDrawnAt !== undefined || document.readyState === "loading") return;
    const charts = [...document.querySelectorAll(SELECTOR)];
    if (charts.length && charts.every((chart) => chart.querySelector(".main-svg"))) {
      window.__chartsDrawnAt = performance.now();
      window.__charts = charts.length;
    }
  };
  new MutationObserver(note).observe(document, { childList: true, subtree: true });
  document.addEventListener("DOMContentLoaded", note);
})();
"""

HTML_ARRIVED_JS = "performance.getEntriesByType('navigation')[0].responseEnd"


@dataclass(frozen=True)
class Figures:
    """One database at one size; times are medians in seconds."""

    database: str
    size: int  # the size asked for; ``answers`` is what the data holds
    answers: int
    parts: dict[str, float]
    comparison: float
    floor: float
    joined: float
    pandas: float

    @property
    def per_answer_us(self) -> float:
        return self.comparison / self.answers * 1e6


@dataclass(frozen=True)
class PageTimes:
    """Milliseconds from navigation start until every chart of the page is drawn."""

    path: str
    database: str
    answers: int
    cold_ms: float
    warm_ms: float
    server_ms: float  # of the warm loads: until the page's last byte arrived
    charts: int


def verdict(is_met: bool) -> str:
    return "MET" if is_met else "NOT MET"


def median_time(action: Callable[[], object], runs: int) -> float:
    """Median seconds of ``runs`` runs, after one warm-up run (caches, plans, imports)."""
    action()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_rounds(
    actions: dict[str, Callable[[], Any]], runs: int
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """One warm-up, then ``runs`` rounds of every action in turn (interleaved, so a change in
    the machine's load touches each alike): each action's times and its result."""
    results = {name: action() for name, action in actions.items()}
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            started = time.perf_counter()
            results[name] = action()
            times[name].append(time.perf_counter() - started)
    return times, results


def peak_heap_mb(action: Callable[[], object]) -> float:
    """Peak Python heap (tracemalloc; numpy's buffers included) during one run of ``action``."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def comparison_parts(scope: Scope) -> dict[str, Callable[[], Any]]:
    """The comparison, part by part: what the Compare page calls (besides answer rates).
    Resolution and responders come from one GROUP BY over the treatments' outcomes."""
    session = db.session()
    return {
        "recovery": lambda: analytics.recovery(session, scope=scope, measures=MEASURES),
        "outcomes": lambda: analytics.outcomes(session, scope=scope),
    }


def pandas_comparison(engine: Engine) -> dict[str, Any]:
    """The typical app: the joined answer rows into a DataFrame, then groupby. (It leaves out
    the check-in counts behind the SQL's "excluded" figures, so it does a little less.)"""
    rows = pd.read_sql(
        PANDAS_SQL,
        engine,
        params={"clinic": CLINIC_ID},
        parse_dates=["answered_at", "treated_at"],
    )
    rows["elapsed"] = (rows["answered_at"] - rows["treated_at"]).dt.total_seconds() / 3600
    return {
        "recovery": pandas_recovery(rows),
        "resolution": pandas_resolution(rows),
        "responders": pandas_responders(rows),
    }


def pandas_recovery(rows: pd.DataFrame) -> pd.DataFrame:
    """n, mean, SD, patients and the t-based CI per modality, measure and slot."""
    cells = rows.groupby(["modality", "item_code", "slot"]).agg(
        n=("value_num", "size"),
        mean=("value_num", "mean"),
        sd=("value_num", "std"),
        patients=("patient_id", "nunique"),
        elapsed=("elapsed", "mean"),
    )
    cells["half_ci"] = stats.t.ppf(0.975, cells["n"] - 1) * cells["sd"] / np.sqrt(cells["n"])
    return cells


def pandas_resolution(rows: pd.DataFrame) -> dict[str, tuple[int, int, Any]]:
    """Per modality: treatments, events and the Kaplan-Meier fit of time to resolution."""
    soreness = rows[rows["item_code"] == "soreness"]
    baseline = soreness[soreness["slot"] == BASELINE].set_index("treatment_id")["value_num"]
    after = soreness[(soreness["slot"] != BASELINE) & (soreness["elapsed"] >= 0)]
    threshold = after["treatment_id"].map(baseline).where(lambda value: value > 1, 1)
    after = after.assign(event_h=after["elapsed"].where(after["value_num"] <= threshold))
    per_treatment = after.groupby(["modality", "treatment_id"]).agg(
        event_h=("event_h", "min"), last_h=("elapsed", "max")
    )
    per_treatment["hours"] = per_treatment["event_h"].fillna(per_treatment["last_h"])
    per_treatment["event"] = per_treatment["event_h"].notna().astype(int)
    fits = {}
    for modality, series in per_treatment.groupby(level="modality"):
        counts = series.groupby("hours")["event"].agg(["sum", "size"])
        censored = counts["size"] - counts["sum"]
        fit = kaplan_meier(counts.index.tolist(), counts["sum"].tolist(), censored.tolist())
        fits[str(modality)] = (int(counts["size"].sum()), int(counts["sum"].sum()), fit)
    return fits


def pandas_responders(rows: pd.DataFrame) -> pd.DataFrame:
    """Per modality: pain responders at the last time point, with the Wilson interval."""
    pain = rows[rows["item_code"] == "pain"]
    last_slots = pd.DataFrame(
        [(modality, p.timepoints[-1].slot) for modality, p in default_protocols().items()],
        columns=["modality", "slot"],
    )
    columns = ["treatment_id", "modality", "patient_id", "value_num"]
    baseline = pain.loc[pain["slot"] == BASELINE, columns].rename(columns={"value_num": "before"})
    final = pain.merge(last_slots, on=["modality", "slot"])[["treatment_id", "value_num"]]
    pairs = baseline.merge(final.rename(columns={"value_num": "after"}), on="treatment_id")
    pairs = pairs[pairs["before"] > 0]
    drop = pairs["before"] - pairs["after"]
    pairs = pairs.assign(responder=(drop >= 2) & (drop * 10 >= pairs["before"] * 3))
    summary = pairs.groupby("modality").agg(
        n=("responder", "size"),
        responders=("responder", "sum"),
        patients=("patient_id", "nunique"),
    )
    summary["interval"] = [
        wilson(int(count), int(n))
        for count, n in zip(summary["responders"], summary["n"], strict=True)
    ]
    return summary


def disagreements(sql: dict[str, Any], frames: dict[str, Any]) -> list[str]:
    """Where the pandas path counts other answers than the SQL: then its time proves nothing."""
    problems = []
    cells = frames["recovery"]["n"]
    for measure, curves in sql["recovery"].items():
        for curve in curves:
            for point in curve.points:
                theirs = cells.get((curve.modality, measure, point.slot))
                if point.n is not None and theirs != point.n:
                    problems.append(f"recovery {curve.modality}/{measure}/{point.slot}")
    for series in sql["outcomes"].resolution:
        if frames["resolution"][series.modality][:2] != (series.n, series.events):
            problems.append(f"resolution {series.modality}")
    for series in sql["outcomes"].responders:
        row = frames["responders"].loc[series.modality]
        if (int(row["n"]), int(row["responders"])) != (series.n, series.responders):
            problems.append(f"responders {series.modality}")
    return problems


def time_comparison(database: str, size: int, answers: int, args: argparse.Namespace) -> Figures:
    """Time the comparison, the floor and the pandas path on the loaded data; print them."""
    scope = Scope(clinic_ids=(CLINIC_ID,), min_patients=5)
    parts = comparison_parts(scope)
    floors = {
        name: lambda sql=sql: db.session.execute(sql, {"clinic": CLINIC_ID}).all()
        for name, sql in (("floor", FLOOR_SQL), ("joined", JOINED_SQL))
    }
    times, results = time_rounds(parts | {"floor": floors["floor"]}, args.runs)
    # the joined GROUP BY in rounds of its own: taken in turn with the others, it ran just
    # before the comparison's first part, which then found the caches full of two more tables
    joined_times, joined_results = time_rounds({"joined": floors["joined"]}, args.runs)
    times, results = times | joined_times, results | joined_results
    totals = [sum(run) for run in zip(*(times[name] for name in parts), strict=True)]
    pandas_s = median_time(lambda: pandas_comparison(db.engine), args.pandas_runs)
    problems = disagreements(results, pandas_comparison(db.engine))
    if sorted(map(tuple, results["floor"])) != sorted(map(tuple, results["joined"])):
        problems.append("the answers' own grouping columns and their responses' and treatments'")
    heap_sql = peak_heap_mb(lambda: [part() for part in comparison_parts(scope).values()])
    heap_pandas = peak_heap_mb(lambda: pandas_comparison(db.engine))
    figures = Figures(
        database,
        size,
        answers,
        parts={name: statistics.median(times[name]) for name in parts},
        comparison=statistics.median(totals),
        floor=statistics.median(times["floor"]),
        joined=statistics.median(times["joined"]),
        pandas=pandas_s,
    )
    print_figures(figures, args)
    print_filtered(args.runs)
    agreement = f"THEY DIFFER: {', '.join(problems)}" if problems else "both count the same answers"
    print(
        f"    Python heap peak (tracemalloc): comparison {heap_sql:.1f} MB, "
        f"pandas {heap_pandas:.1f} MB; {agreement}"
    )
    return figures


def print_figures(figures: Figures, args: argparse.Namespace) -> None:
    """The lines of one database and size, each figure with its target."""
    parts = ", ".join(f"{name} {ms(seconds)}" for name, seconds in figures.parts.items())
    ratio = figures.comparison / figures.floor
    speedup = figures.pandas / figures.comparison
    print(
        f"    comparison {ms(figures.comparison):>9} ms ({parts}; medians of {args.runs}); "
        f"{figures.per_answer_us:.2f} µs per answer"
    )
    if figures.database == "postgresql" and figures.size == 1_000_000:
        print(
            f"      target < {PG_1M_TARGET_S:g} s at 1M on PostgreSQL: "
            f"{verdict(figures.comparison < PG_1M_TARGET_S)}"
        )
    print(
        f"    floor      {ms(figures.floor):>9} ms (one GROUP BY over every answer): "
        f"comparison/floor {ratio:.2f}x, target <= {FLOOR_TARGET:g}x: "
        f"{verdict(ratio <= FLOOR_TARGET)}"
    )
    print(
        f"    joined     {ms(figures.joined):>9} ms (the same GROUP BY joining responses and "
        f"treatments: the floor before answers carried their grouping; no target)"
    )
    at_1m = verdict(speedup >= PANDAS_TARGET) if figures.size == 1_000_000 else "(at 1M only)"
    print(
        f"    pandas     {ms(figures.pandas):>9} ms (read_sql + groupby, median of "
        f"{args.pandas_runs}): the comparison is {speedup:.1f}x faster, "
        f"target >= {PANDAS_TARGET:g}x at 1M: {at_1m}"
    )


def print_filtered(runs: int) -> None:
    """The comparison of some treatments only, which reads the answers through them: the last
    90 days, one region, split by clinician (no target; medians)."""
    views = {
        "last 90 days": Scope((CLINIC_ID,), Filters(date_from=(NOW - timedelta(days=90)).date())),
        "region neck": Scope((CLINIC_ID,), Filters(region="neck")),
        "by clinician": Scope((CLINIC_ID,), by="clinician"),
    }
    timed = []
    for name, scope in views.items():
        times, _ = time_rounds(comparison_parts(scope), runs)
        total = sum(statistics.median(values) for values in times.values())
        timed.append(f"{name} {ms(total)} ms")
    print(f"    filtered   {', '.join(timed)} (the comparison of some treatments; no target)")


def time_adjusted(runs: int) -> None:
    """The adjusted comparison (issue 24 §5): one cold fit as the worker makes it (SQL read,
    three mixed models and the responders' GEE; no target), stored; the answer version the
    worker reads; what a page pays to read the fit back (medians)."""
    import statsmodels.api  # noqa: F401 - imported once by the worker, not timed per fit

    session = db.session()
    scope = Scope((CLINIC_ID,), min_patients=5)
    started = time.perf_counter()
    comparison = adjusted.compare(session, scope=scope)
    fit_s = time.perf_counter() - started
    session.rollback()
    started = time.perf_counter()
    fitted = adjusted_store.refit_stale(session, now=NOW)
    job_s = time.perf_counter() - started
    version_s = median_time(lambda: adjusted_store.answer_version(session, (CLINIC_ID,)), runs)
    newest_s = median_time(lambda: adjusted_store.newest_answer_id(session, (CLINIC_ID,)), runs)
    read_s = median_time(
        lambda: adjusted_store.stored(
            session, scope=scope, now=NOW, refit_within=timedelta(minutes=5)
        ),
        runs,
    )
    session.rollback()
    sizes = ", ".join(f"{m.measure} {m.n:,} rows" for m in comparison.measures)
    responders = comparison.responders.n if comparison.responders else 0
    print(
        f"    adjusted   fit {ms(fit_s)} ms ({sizes}, responders {responders:,} treatments); "
        f"the worker's job {ms(job_s)} ms ({fitted} scope fitted and stored); the answer version "
        f"{ms(version_s)} ms (the worker's); a page's read: newest answer {ms(newest_s)} ms, "
        f"stored fit with it {ms(read_s)} ms (no target)"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def measure(
    database: str, size: int, dataset: Dataset, workdir: Path, args: argparse.Namespace
) -> tuple[Figures, PageTimes | str | None]:
    """Load the data into a fresh database; time the comparison (and the page) on it."""
    with throwaway_database(database, workdir) as url:
        app = create_app(Config.for_tests(url, workdir))
        with app.app_context():
            db.create_all()
            db.engine.dispose()  # the bulk loader has the database to itself
        started = time.perf_counter()
        load(url, dataset)
        print(
            f"  {database}: loaded (bulk insert + ANALYZE) in {time.perf_counter() - started:.1f} s"
        )
        with app.app_context():
            started = time.perf_counter()
            treatments = outcomes.rebuild(db.session())  # what the services keep as answers come
            db.session.commit()
            print(
                f"  {database}: outcomes of {treatments:,} treatments worked out in "
                f"{time.perf_counter() - started:.1f} s"
            )
            figures = time_comparison(database, size, dataset.count("answers"), args)
            time_adjusted(args.runs)  # and stores the fit: the page below shows it
            page = None
            if size == args.page_size and database == args.page_database:
                page = compare_page(app, database, dataset.count("answers"), args)
                print_page(page, indent="    ")
            db.session.remove()
            db.engine.dispose()  # no connection left when the database is dropped
    return figures, page


def compare_page(
    app: Flask, database: str, answers: int, args: argparse.Namespace
) -> PageTimes | str:
    """Serve the app on loopback, log in, load the compare page: the times, or why not."""
    if not CHROMIUM.exists():
        return f"compare page not available: {CHROMIUM} is missing"
    clinic = db.session.get(Clinic, CLINIC_ID)
    assert clinic is not None  # noqa: S101 - the data always has its clinic
    create_clinician(
        db.session(), clinic=clinic, email=LOGIN_EMAIL, password=LOGIN_PASSWORD, role="admin"
    )
    db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                base_url = f"http://127.0.0.1:{server.server_port}"
                loaded = page_loads(browser, base_url + args.page_path, args.page_loads)
            finally:
                browser.close()
    except PlaywrightTimeout:
        loaded = f"no chart ({CHART_SELECTOR}) drawn within 30 s"
    except PlaywrightError as error:
        loaded = str(error).splitlines()[0]
    finally:
        server.shutdown()
        server.server_close()
    if isinstance(loaded, str):
        return f"compare page not available: {loaded}"
    times, served, charts = loaded
    warm_ms, server_ms = statistics.median(times[1:]), statistics.median(served[1:])
    return PageTimes(args.page_path, database, answers, times[0], warm_ms, server_ms, charts)


def page_loads(
    browser: Browser, url: str, loads: int
) -> tuple[list[float], list[float], int] | str:
    """Milliseconds until the charts are drawn and until the HTML has arrived: a first (cold)
    load, then ``loads`` warm ones; and how many charts the page has."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(CHARTS_DRAWN_JS.replace("SELECTOR", json.dumps(CHART_SELECTOR)))
    page = context.new_page()
    page.set_default_timeout(30_000)
    reason = log_in(page, url.split("/clinic/")[0])
    if reason is not None:
        return reason
    times, served = [], []
    for _ in range(loads + 1):  # the first is cold: plotly.js and the page's assets not cached
        response = page.goto(url)
        if response is None or response.status != 200 or page.url != url:
            status = response.status if response else "nothing"
            path = url.split("//", 1)[1].split("/", 1)[1]
            return f"GET /{path} answered {status} (ended at {page.url})"
        page.wait_for_function("window.__chartsDrawnAt !== undefined")
        times.append(float(page.evaluate("window.__chartsDrawnAt")))
        served.append(float(page.evaluate(HTML_ARRIVED_JS)))
    charts = int(page.evaluate("window.__charts"))
    context.close()
    return times, served, charts


def log_in(page: Page, base_url: str) -> str | None:
    """Sign in through the login form; None, or why it did not work."""
    response = page.goto(f"{base_url}/clinic/login")
    if response is None or response.status != 200:
        return f"GET /clinic/login answered {response.status if response else 'nothing'}"
    if page.locator("input[name=email]").count() == 0:
        return "no e-mail field on /clinic/login"
    page.fill("input[name=email]", LOGIN_EMAIL)
    page.fill("input[name=password]", LOGIN_PASSWORD)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    if "/clinic/login" in page.url:
        return "the login did not go through: still on /clinic/login"
    return None


def make_dataset(size: int) -> Dataset:
    started = time.perf_counter()
    dataset = build(size)
    counts = ", ".join(
        f"{dataset.count(table):,} {table}"
        for table in ("responses", "checkins", "treatments", "patients")
    )
    print(
        f"\n{dataset.count('answers'):,} answers: {counts}; "
        f"made in {time.perf_counter() - started:.1f} s"
    )
    return dataset


def print_header(args: argparse.Namespace) -> None:
    print(
        "bench/analytics.py: the modality comparison (recovery + resolution + responders) "
        "of one clinic"
    )
    versions = f"SQLite {sqlite3.sqlite_version}"
    if "postgresql" in args.databases:
        with psycopg.connect(POSTGRES_URL) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        versions += f", PostgreSQL {row[0] if row else '?'} at {POSTGRES_URL}"
    load_average = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load_average} at start; {versions}")
    print(
        f"each figure: the median of {args.runs} runs after a warm-up, the comparison's parts "
        f"and the floor taken in turn (the pandas path: {args.pandas_runs} runs)"
    )


def print_summary(results: list[Figures], pages: list[PageTimes | str]) -> None:
    """The table of every run, then each target's verdict."""
    print("\nsummary (ms; targets: comparison <= 1.5x the floor; >= 5x faster than pandas at 1M)")
    print(
        f"{'database':<11}{'answers':>10}{'comparison':>12}{'floor':>10}"
        f"{'ratio':>7}{'':9}{'pandas':>11}{'faster':>8}{'':9}{'µs/answer':>10}"
    )
    for fig in results:
        ratio, speedup = fig.comparison / fig.floor, fig.pandas / fig.comparison
        pandas_verdict = verdict(speedup >= PANDAS_TARGET) if fig.size == 1_000_000 else ""
        print(
            f"{fig.database:<11}{fig.answers:>10,}{ms(fig.comparison):>12}{ms(fig.floor):>10}"
            f"{ratio:>6.2f}x {verdict(ratio <= FLOOR_TARGET):<8}{ms(fig.pandas):>11}"
            f"{speedup:>7.1f}x {pandas_verdict:<8}{fig.per_answer_us:>10.2f}"
        )
    print_growth(results)
    for fig in results:
        if fig.database == "postgresql" and fig.size == 1_000_000:
            print(
                f"1M answers on PostgreSQL: {ms(fig.comparison)} ms, target < 1 s: "
                f"{verdict(fig.comparison < PG_1M_TARGET_S)}"
            )
    for page in pages:
        print_page(page)


def print_growth(results: list[Figures]) -> None:
    """Time per answer of each size against the next smaller one (linear growth: <= 1)."""
    for database in dict.fromkeys(fig.database for fig in results):
        runs = sorted((fig for fig in results if fig.database == database), key=lambda f: f.size)
        for smaller, larger in pairwise(runs):
            growth = larger.per_answer_us / smaller.per_answer_us
            print(
                f"growth on {database}, {smaller.size:,} -> {larger.size:,} answers: "
                f"(time ratio) / (size ratio) = {growth:.2f}, target <= 1 (linear): "
                f"{verdict(growth <= 1.0)}"
            )


def print_page(page: PageTimes | str, indent: str = "") -> None:
    if isinstance(page, str):
        print(indent + page)
        return
    print(
        f"{indent}{page.path}, {page.answers:,} answers on {page.database}, {page.charts} charts: "
        f"drawn {page.cold_ms:,.0f} ms after navigation start on the first, cold load "
        f"(warm loads: median {page.warm_ms:,.0f} ms, the HTML in after "
        f"{page.server_ms:,.0f} ms), target < {PAGE_TARGET_MS / 1000:g} s cold: "
        f"{verdict(page.cold_ms < PAGE_TARGET_MS)}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="answers, comma-separated")
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 answers only")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--runs", type=int, default=9, help="timed runs after the warm-up")
    parser.add_argument("--pandas-runs", type=int, default=3)
    parser.add_argument("--page-loads", type=int, default=5, help="warm loads of the page")
    parser.add_argument(
        "--page-size", type=int, default=100_000, help="answers behind the page (0: no browser)"
    )
    parser.add_argument("--page-path", default="/clinic/compare", help="the page to time")
    args = parser.parse_args()
    args.sizes = [10_000, 100_000] if args.quick else [int(n) for n in args.sizes.split(",")]
    args.databases = args.databases.split(",")
    if "postgresql" in args.databases and POSTGRES_UNAVAILABLE:
        print(f"PostgreSQL left out: {POSTGRES_UNAVAILABLE}")
        args.databases.remove("postgresql")
    # the page runs on PostgreSQL, the production database, when it is measured
    args.page_database = "postgresql" if "postgresql" in args.databases else args.databases[-1]
    return args


def main() -> None:
    args = parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    print_header(args)
    started = time.perf_counter()
    results: list[Figures] = []
    pages: list[PageTimes | str] = []
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as workdir:
        for size in args.sizes:
            dataset = make_dataset(size)
            for database in args.databases:
                figures, page = measure(database, size, dataset, Path(workdir), args)
                results.append(figures)
                if page is not None:
                    pages.append(page)
            del dataset  # one size's rows in memory at a time
    print_summary(results, pages)
    load_average = " ".join(f"{value:.2f}" for value in os.getloadavg())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"took {time.perf_counter() - started:.0f} s; load average {load_average} at the end; "
        f"peak RSS of this process {peak_mb:,.0f} MB (the generated rows and pandas' frames)"
    )


if __name__ == "__main__":
    main()
