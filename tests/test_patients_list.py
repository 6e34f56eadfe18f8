"""The Patients list as a triage list: its columns, sorts, search by code and name, paging,
the clinic's own patients only, and a fixed number of statements whatever the patients."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import Alert, Clinician, Patient, Treatment
from server.services.answers import answer_checkin
from server.services.patient_list import PatientListRow, Sort, patient_list_page
from server.services.patients import discharge
from server.services.red_flags import acknowledge_alert
from tests.factories import (
    NOW,
    checkin_for,
    make_clinic,
    make_clinician,
    make_patient,
    make_treatment,
    sign_in_pages,
)

URL = "/clinic/patients"


def codes_on(page: str) -> list[str]:
    """The patient codes of the patients table, in order."""
    return re.findall(r'<th scope="row"><a href="/clinic/patients/\d+"[^>]*>([^<]+)</a>', page)


def row_of(page: str, code: str) -> str:
    """The HTML of the table row of the patient with this code."""
    match = re.search(
        rf"<tr[^>]*>\s*<th scope=\"row\"><a [^>]*>{re.escape(code)}</a>.*?</tr>", page, re.S
    )
    assert match, f"no row for {code}"
    return match.group(0)


def cell(row: str, label: str) -> str:
    """The text of a row's cell by its data-label, tags removed and spaces collapsed."""
    match = re.search(rf'<td data-label="{label}">(.*?)</td>', row, re.S)
    assert match, f"no {label} cell"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def treated_and_answered(
    session: Session,
    clinician: Clinician,
    patient: Patient,
    *,
    hours_ago: float = 30,
    answers: dict[str, object] | None = None,
    modality: str = "dry_needling",
) -> Treatment:
    """A treatment ``hours_ago`` (recorded then) whose 1-day check-in (open from 24 to 36 h
    under dry needling) was answered an hour after it opened, or now if that is still to come."""
    now = datetime.now(UTC)
    treatment = make_treatment(
        session, clinician, patient, modality=modality, treated_at=now - timedelta(hours=hours_ago)
    )
    one_day = checkin_for(treatment, "24h")
    answer_checkin(
        session,
        patient=patient,
        checkin_id=one_day.id,
        client_id=uuid.uuid4(),
        answers=answers or {"soreness": 3, "pain": 2},
        note=None,
        now=min(one_day.due_at + timedelta(hours=1), now),
    )
    return treatment


def patient_of(session: Session, clinician: Clinician, code: str, **fields: Any) -> Patient:
    """A patient prompted at any hour (check-ins open exactly on time)."""
    return make_patient(session, clinician, code=code, quiet_hours=None, **fields)


# --- columns -----------------------------------------------------------------------------------


def test_a_row_shows_alerts_last_answer_treatment_and_next_checkin(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    clinician.name = "Dr Ana Reyes"
    patient = patient_of(session, clinician, "KNEE-7", display_name="Ann Lee")
    treated_and_answered(
        session,
        clinician,
        patient,
        answers={"soreness": 6, "pain": 4, "rf_breath_chest": True, "rf_infection": True},
    )
    sign_in_pages(client, clinician)

    row = row_of(client.get(URL).get_data(as_text=True), "KNEE-7")

    assert cell(row, "Name") == "Ann Lee"
    # "2 open, 1 urgent": of the open alerts, how many are urgent (not "1 urgent 2 open")
    assert cell(row, "Open alerts").startswith("2 open alerts for KNEE-7")
    assert '</span>, <span class="severity severity--urgent">1 urgent</span>' in row
    assert f'href="/clinic/patients/{patient.id}#open-alerts-title"' in row
    assert "soreness 6, pain 4" in cell(row, "Last answer")
    assert "<time datetime=" in cell_html(row, "Last answer")
    assert cell(row, "Last treatment").startswith("Dry needling ")
    assert "Dr Ana Reyes" in cell(row, "Last treatment")
    assert cell(row, "Next check-in").startswith("2 days: opens ")
    assert cell(row, "Care") == "Under care"


def cell_html(row: str, label: str) -> str:
    """The HTML of a row's cell by its data-label."""
    match = re.search(rf'<td data-label="{label}">(.*?)</td>', row, re.S)
    assert match, f"no {label} cell"
    return match.group(1)


def test_a_patient_with_nothing_yet_reads_so(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient_of(session, clinician, "NEW-1")
    sign_in_pages(client, clinician)

    row = row_of(client.get(URL).get_data(as_text=True), "NEW-1")

    assert cell(row, "Name") == ""
    assert cell(row, "Open alerts") == "None"
    assert cell(row, "Last answer") == "None yet"
    assert cell(row, "Last treatment") == "None yet"
    assert cell(row, "Next check-in") == "None planned"
    assert cell(row, "Care") == "Under care"


def test_an_open_checkin_says_when_it_closes(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = patient_of(session, clinician, "P-1")
    make_treatment(session, clinician, patient, treated_at=datetime.now(UTC) - timedelta(hours=7))
    sign_in_pages(client, clinician)

    row = row_of(client.get(URL).get_data(as_text=True), "P-1")

    assert cell(row, "Next check-in").startswith("6 hours: open now, closes ")
    assert cell(row, "Last answer") == "None yet"


def test_an_answer_without_soreness_or_pain_says_so(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient = patient_of(session, clinician, "P-1")
    treatment = make_treatment(
        session, clinician, patient, treated_at=datetime.now(UTC) - timedelta(hours=7)
    )
    six_hours = checkin_for(treatment, "6h")
    answer_checkin(
        session,
        patient=patient,
        checkin_id=six_hours.id,
        client_id=uuid.uuid4(),
        answers={"bruise_bleed": "none"},
        note=None,
        now=datetime.now(UTC),
    )
    sign_in_pages(client, clinician)

    row = row_of(client.get(URL).get_data(as_text=True), "P-1")

    assert "no soreness or pain asked" in cell(row, "Last answer")


def test_a_discharged_patient_reads_discharged_with_nothing_planned(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient = patient_of(session, clinician, "GONE-1")
    treated_and_answered(session, clinician, patient)
    discharge(session, clinician=clinician, patient=patient, now=datetime.now(UTC))
    sign_in_pages(client, clinician)

    row = row_of(client.get(URL).get_data(as_text=True), "GONE-1")

    assert cell(row, "Care").startswith("Discharged ")
    assert cell(row, "Next check-in") == "None planned"
    assert "soreness 3, pain 2" in cell(row, "Last answer")


def test_the_last_treatment_is_the_latest_one(client: FlaskClient, session: Session) -> None:
    clinic = make_clinic(session)
    first, second = make_clinician(session, clinic), make_clinician(session, clinic)
    first.name, second.name = "Dr First", ""
    patient = patient_of(session, first, "P-1")
    treated_and_answered(session, first, patient, hours_ago=80, modality="ims")
    make_treatment(session, second, patient, modality="acupuncture", treated_at=datetime.now(UTC))
    sign_in_pages(client, first)

    row = row_of(client.get(URL).get_data(as_text=True), "P-1")

    # the clinician without a name is shown by their e-mail
    assert cell(row, "Last treatment").startswith("Acupuncture ")
    assert second.email in cell(row, "Last treatment")


# --- the service, on a fixed clock ----------------------------------------------------------------


def listed_at(session: Session, patient: Patient, moment: datetime) -> PatientListRow:
    """The patient's row of their clinic's list at ``moment``."""
    listed = patient_list_page(session, clinic_id=patient.clinic_id, now=moment)
    return next(row for row in listed.rows if row.patient_id == patient.id)


def answer_at(session: Session, treatment: Treatment, slot: str, **answers: object) -> None:
    """The patient answers the check-in of ``slot`` half an hour after it opens."""
    checkin = checkin_for(treatment, slot)
    answer_checkin(
        session,
        patient=treatment.patient,
        checkin_id=checkin.id,
        client_id=uuid.uuid4(),
        answers=answers,
        note=None,
        now=checkin.due_at + timedelta(minutes=30),
    )


def test_the_next_checkin_is_the_first_whose_window_has_not_closed(session: Session) -> None:
    clinician = make_clinician(session)
    patient = patient_of(session, clinician, "P-1")
    treatment = make_treatment(session, clinician, patient, treated_at=NOW)

    # the in-clinic check-in closed unanswered after an hour: the 6-hour one is next, then open
    before = listed_at(session, patient, NOW + timedelta(hours=2)).next_checkin
    during = listed_at(session, patient, NOW + timedelta(hours=7)).next_checkin
    answer_at(session, treatment, "6h", soreness=5)
    answered = listed_at(session, patient, NOW + timedelta(hours=7)).next_checkin
    discharge(session, clinician=clinician, patient=patient, now=NOW + timedelta(hours=7))

    assert before
    assert (before.slot, before.is_open_at(NOW + timedelta(hours=2))) == ("6h", False)
    assert during
    assert (during.slot, during.is_open_at(NOW + timedelta(hours=7))) == ("6h", True)
    # the 12-hour time point is off by default: the next is the 1-day one
    assert answered
    assert (answered.slot, answered.slot_label) == ("24h", "1 day")
    assert listed_at(session, patient, NOW + timedelta(hours=7)).next_checkin is None


def test_the_last_answer_is_the_latest_of_any_treatment_baseline_included(
    session: Session,
) -> None:
    clinician = make_clinician(session)
    patient = patient_of(session, clinician, "P-1")
    earlier = make_treatment(session, clinician, patient, treated_at=NOW - timedelta(days=8))
    answer_at(session, earlier, "7d", soreness=1, pain=3)
    make_treatment(
        session,
        clinician,
        patient,
        treated_at=NOW,
        baseline={"soreness": 2, "pain": 5, "mobility_activity": "lifting", "mobility": 4},
    )

    last = listed_at(session, patient, NOW + timedelta(minutes=5)).last_answer

    assert last
    assert (last.answered_at, last.scores) == (NOW, [("soreness", 2), ("pain", 5)])


def test_an_acknowledged_alert_is_no_longer_open(session: Session) -> None:
    clinician = make_clinician(session)
    patient = patient_of(session, clinician, "P-1")
    treatment = make_treatment(session, clinician, patient, treated_at=NOW)
    answer_at(session, treatment, "6h", rf_breath_chest=True, bruise_bleed="large")
    moment = NOW + timedelta(hours=8)
    flagged = listed_at(session, patient, moment)
    urgent = session.scalars(
        select(Alert).filter_by(patient_id=patient.id, severity="urgent")
    ).one()
    acknowledge_alert(
        session, clinician=clinician, alert_id=urgent.id, action="called_patient", now=moment
    )

    assert (flagged.open_alerts, flagged.urgent_alerts) == (2, 1)
    handled = listed_at(session, patient, moment)
    assert (handled.open_alerts, handled.urgent_alerts) == (1, 0)


# --- sorting -----------------------------------------------------------------------------------


@pytest.fixture
def ward(session: Session) -> Clinician:
    """A clinic of five patients:

    - A-3 "Zoe Abel": a same-day alert, answered 30 h after a treatment 31 h ago;
    - B-1 "ann lee": an urgent alert, answered 1 day after a treatment 80 h ago;
    - C-2 "Bob Crane": no alert, answered 1 day after a treatment 26 h ago (the newest answer);
    - D-5 (no name): treated 7 h ago, its 6 h check-in open now, nothing answered;
    - E-4 "Eve Dunn": nothing at all.
    """
    clinician = make_clinician(session)
    zoe = patient_of(session, clinician, "A-3", display_name="Zoe Abel")
    treated_and_answered(session, clinician, zoe, hours_ago=31, answers={"rf_infection": True})
    ann = patient_of(session, clinician, "B-1", display_name="ann lee")
    treated_and_answered(session, clinician, ann, hours_ago=80, answers={"rf_breath_chest": True})
    bob = patient_of(session, clinician, "C-2", display_name="Bob Crane")
    treated_and_answered(session, clinician, bob, hours_ago=26)
    unnamed = patient_of(session, clinician, "D-5")
    make_treatment(session, clinician, unnamed, treated_at=datetime.now(UTC) - timedelta(hours=7))
    patient_of(session, clinician, "E-4", display_name="Eve Dunn")
    return clinician


@pytest.mark.parametrize(
    ("sort", "codes"),
    [
        # urgent alerts first, then same-day; then the most recent answer; nothing last, by code
        (None, ["B-1", "A-3", "C-2", "D-5", "E-4"]),
        ("-alerts", ["B-1", "A-3", "C-2", "D-5", "E-4"]),
        ("code", ["A-3", "B-1", "C-2", "D-5", "E-4"]),
        ("-code", ["E-4", "D-5", "C-2", "B-1", "A-3"]),
        # names in any case; nameless last either way
        ("name", ["B-1", "C-2", "E-4", "A-3", "D-5"]),
        ("-name", ["A-3", "E-4", "C-2", "B-1", "D-5"]),
        # never answered last either way
        ("-answer", ["C-2", "A-3", "B-1", "D-5", "E-4"]),
        ("answer", ["B-1", "A-3", "C-2", "D-5", "E-4"]),
        # B-1's 3-day check-in opened 8 h ago, D-5's 6-hour one 1 h ago; nothing planned last
        ("due", ["B-1", "D-5", "A-3", "C-2", "E-4"]),
        ("-due", ["C-2", "A-3", "D-5", "B-1", "E-4"]),
    ],
)
def test_the_list_sorts_by_each_column(
    client: FlaskClient, ward: Clinician, sort: str | None, codes: list[str]
) -> None:
    sign_in_pages(client, ward)

    page = client.get(URL, query_string={"sort": sort} if sort else {}).get_data(as_text=True)

    assert codes_on(page) == codes


@pytest.mark.parametrize("sort", ["nope", "-", "--code", "code;drop", "treated", "ALERTS", ""])
def test_a_bad_sort_gets_the_default(client: FlaskClient, ward: Clinician, sort: str) -> None:
    sign_in_pages(client, ward)

    response = client.get(URL, query_string={"sort": sort})

    assert response.status_code == 200
    assert codes_on(response.get_data(as_text=True)) == ["B-1", "A-3", "C-2", "D-5", "E-4"]


def test_the_sorted_header_says_so_and_links_the_other_way(
    client: FlaskClient, ward: Clinician
) -> None:
    sign_in_pages(client, ward)

    page = client.get(URL, query_string={"sort": "-answer", "q": "e"}).get_data(as_text=True)

    headers = re.findall(r"<th scope=\"col\"([^>]*)>\s*<a href=\"([^\"]+)\">(\w[\w -]*)", page)
    assert [(label, attributes.strip()) for attributes, _, label in headers if attributes] == [
        ("Last answer", 'aria-sort="descending"')
    ]
    links = {label: href.replace("&amp;", "&") for _, href, label in headers}
    assert links == {
        "Code": "/clinic/patients?sort=code&q=e",
        "Name": "/clinic/patients?sort=name&q=e",
        "Open alerts": "/clinic/patients?sort=-alerts&q=e",
        "Last answer": "/clinic/patients?sort=answer&q=e",
        "Next check-in": "/clinic/patients?sort=due&q=e",
    }
    assert 'aria-sort="ascending"' in client.get(URL, query_string={"sort": "code"}).get_data(
        as_text=True
    )


def test_sort_parameters_name_a_column_and_a_direction() -> None:
    assert Sort.parse(None) == Sort("alerts", descending=True)
    assert Sort.parse("-due") == Sort("due", descending=True)
    assert Sort.parse("x") == Sort.parse(None)
    assert Sort.parse("code").by("code") == Sort("code", descending=True)
    assert Sort.parse("code").by("answer") == Sort("answer", descending=True)
    assert Sort.parse(None).is_default


# --- search ------------------------------------------------------------------------------------


def test_search_finds_any_part_of_the_code_in_any_case(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    for code in ("KNEE-7", "AB-12", "ab-3", "X-AB", "ZZ-1"):
        patient_of(session, clinician, code)
    sign_in_pages(client, clinician)

    page = client.get(URL, query_string={"q": "ab", "sort": "code"}).get_data(as_text=True)

    assert codes_on(page) == ["AB-12", "ab-3", "X-AB"]
    assert "3 patients match “ab”: 3 by code, 0 by name." in page


def test_search_finds_the_words_of_a_name_in_any_order_and_case(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    patient_of(session, clinician, "P-1", display_name="Ann Lee")
    patient_of(session, clinician, "P-2", display_name="Lee Annand")
    patient_of(session, clinician, "P-3", display_name="Anna Smith")
    patient_of(session, clinician, "LEE-9")
    sign_in_pages(client, clinician)

    both = client.get(URL, query_string={"q": " lee  ANN ", "sort": "code"}).get_data(as_text=True)
    lee = client.get(URL, query_string={"q": "lee", "sort": "code"}).get_data(as_text=True)

    assert codes_on(both) == ["P-1", "P-2"]
    assert "2 patients match “lee  ANN”: 0 by code, 2 by name." in both
    assert codes_on(lee) == ["LEE-9", "P-1", "P-2"]
    assert "3 patients match “lee”: 1 by code, 2 by name." in lee


def test_search_treats_wildcards_as_text(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient_of(session, clinician, "A_1")
    patient_of(session, clinician, "AB1", display_name="A% Smith")
    sign_in_pages(client, clinician)

    page = client.get(URL, query_string={"q": "A_"}).get_data(as_text=True)

    assert codes_on(page) == ["A_1"]


def test_a_search_that_finds_nobody_says_so(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    patient_of(session, clinician, "P-1", display_name="Ann Lee")
    sign_in_pages(client, clinician)

    page = client.get(URL, query_string={"q": "zz"}).get_data(as_text=True)

    assert "No patient's code or name has “zz”." in page
    assert 'id="patients-table"' not in page


# --- pages and clinics -------------------------------------------------------------------------


def test_pages_keep_the_search_and_the_sort(client: FlaskClient, session: Session) -> None:
    clinician = make_clinician(session)
    for number in range(30):
        patient_of(session, clinician, f"P-{number:03}")
    sign_in_pages(client, clinician)

    first = client.get(URL, query_string={"q": "p-", "sort": "-code"}).get_data(as_text=True)
    second = client.get(URL, query_string={"q": "p-", "sort": "-code", "page": 2})

    assert codes_on(first) == [f"P-{number:03}" for number in range(29, 4, -1)]
    assert 'href="/clinic/patients?page=2&amp;q=p-&amp;sort=-code"' in first
    assert 'name="sort" value="-code"' in first  # a new search keeps the sort too
    assert codes_on(second.get_data(as_text=True)) == [f"P-{n:03}" for n in range(4, -1, -1)]


def test_only_the_clinics_own_patients_are_listed_and_counted(
    client: FlaskClient, session: Session
) -> None:
    clinician = make_clinician(session)
    ours = patient_of(session, clinician, "P-1", display_name="Ann Lee")
    other = make_clinician(session, make_clinic(session, "Other"))
    theirs = patient_of(session, other, "P-2", display_name="Ann Lee")
    treated_and_answered(session, other, theirs, answers={"rf_breath_chest": True})
    # an alert of another clinic on nobody of ours must not be counted on our patient either
    treated_and_answered(session, clinician, ours)
    sign_in_pages(client, clinician)

    page = client.get(URL, query_string={"q": "ann"}).get_data(as_text=True)

    assert codes_on(page) == ["P-1"]
    assert "1 patient matches “ann”: 0 by code, 1 by name." in page
    assert cell(row_of(page, "P-1"), "Open alerts") == "None"
    assert codes_on(client.get(URL).get_data(as_text=True)) == ["P-1"]


@contextmanager
def statements_run() -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block."""
    run: list[str] = []

    def listener(*args: Any) -> None:
        run.append(args[2])

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield run
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def ward_of(session: Session, clinician: Clinician, size: int) -> None:
    """``size`` patients, each treated, answered, with an open alert."""
    for number in range(size):
        patient = patient_of(session, clinician, f"W-{number:03}", display_name=f"Pat {number}")
        treated_and_answered(session, clinician, patient, answers={"rf_infection": True})


def test_the_page_runs_as_many_statements_for_3_patients_as_for_30(
    client: FlaskClient, session: Session
) -> None:
    few, many = make_clinician(session), make_clinician(session, make_clinic(session, "Big"))
    ward_of(session, few, 3)
    ward_of(session, many, 30)
    counted = []
    for clinician in (few, many):
        sign_in_pages(client, clinician)
        client.get(URL)  # warm: the sign-in's own first-request work is not counted
        with statements_run() as run:
            page = client.get(URL).get_data(as_text=True)
        counted.append(len(run))
        assert len(codes_on(page)) == (3 if clinician is few else 25)

    assert counted[0] == counted[1]
