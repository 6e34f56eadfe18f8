"""Demo data: a clinic whose answers follow the expected courses in CLINICAL.md.

Treatments are recorded and answered through the same services the API uses, at the times they
would have happened, so schedules, windows, missed check-ins and red flags are all real.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import datetime, time, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Alert, AlertContact, CheckIn, Clinic, Clinician, Patient, Treatment
from server.protocols import Value, item_bank
from server.services.answers import answer_checkin, hours_since
from server.services.clinics import create_clinic, create_clinician
from server.services.patients import create_patient
from server.services.red_flags import acknowledge_alert
from server.services.scheduling import expire_checkins
from server.services.treatments import record_treatment

DEMO_CLINIC = "Demo Needling Clinic"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the README's published demo login
DEMO_CLINICIANS = (
    ("lead@demo.clinic", "admin", "Dr Ada Lead"),
    ("clinician@demo.clinic", "clinician", "Sam Okafor"),
)
ZONES = ("America/Vancouver",) * 6 + ("America/Toronto", "Europe/London", "Australia/Sydney")
ACTIVITIES = (
    "Turning my head to drive",
    "Lifting my child",
    "Sleeping on my side",
    "Reaching overhead",
    "Running 5 km",
    "Sitting at my desk for an hour",
    "Climbing stairs",
    "Gardening",
)
REGIONS = {
    "ims": (["lower_back", "hip_buttock"], ["neck", "shoulder"], ["lower_back"]),
    "dry_needling": (["shoulder"], ["neck", "upper_back"], ["thigh"], ["lower_leg"]),
    "acupuncture": (["lower_back"], ["neck"], ["knee"], ["head_face"]),
}
# expected soreness course above baseline: peak at T0 and decay time constant (hours)
SORENESS_COURSE = {"ims": (4.2, 22.0), "dry_needling": (3.5, 16.0), "acupuncture": (1.5, 10.0)}
# a plausible dose per modality (DESIGN.md's table): sites needled, minutes the needles stay in,
# needle diameter in mm. IMS: several muscles, each needle in a few seconds, slightly thicker;
# dry needling: fewer sites, short retention, fine; acupuncture: 6-12 points left in 15-30 min
DOSES: dict[str, tuple[tuple[int, int], tuple[float, ...], tuple[float, ...]]] = {
    "ims": ((4, 14), (0.05, 0.1, 0.1, 0.15), (0.30, 0.30, 0.25)),
    "dry_needling": ((1, 8), (0.1, 0.5, 1.0, 2.0, 5.0), (0.25, 0.25, 0.30, 0.20)),
    "acupuncture": ((6, 12), (15.0, 20.0, 20.0, 25.0, 30.0), (0.20, 0.22, 0.25, 0.25)),
}
DOSE_RECORDED = 0.9  # the share of sessions whose dose was written down
PAIN_RELIEF_7D = {"ims": 0.42, "dry_needling": 0.36, "acupuncture": 0.30}
ANSWER_RATE = 0.82
PATIENTS = 90
WEEKS = 8


def load_demo(session: Session, *, now: datetime, seed: int = 20261124) -> str:
    """Create the demo clinic unless it exists; returns a one-line summary."""
    if session.scalar(select(Clinic).filter_by(name=DEMO_CLINIC)) is not None:
        return f"{DEMO_CLINIC!r} is already loaded; nothing added."
    rng = random.Random(seed)
    weekday = [(time(8, 0), time(18, 0))]
    clinic = create_clinic(
        session,
        name=DEMO_CLINIC,
        timezone="America/Vancouver",
        phone="+1 604 555 0142",  # 555-01xx: reserved for fiction, never a real line
        opening_hours={
            **dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), weekday),
            "sat": [(time(9, 0), time(13, 0))],
        },
    )
    clinicians = [
        create_clinician(
            session, clinic=clinic, email=email, password=DEMO_PASSWORD, role=role, name=name
        )
        for email, role, name in DEMO_CLINICIANS
    ]
    # who urgent alerts reach besides the treating clinician (example.org: never delivered)
    session.add_all(
        [
            AlertContact(clinic_id=clinic.id, role="on_call", clinician_id=clinicians[1].id),
            AlertContact(
                clinic_id=clinic.id,
                role="backup",
                name="Weekend cover (Dr Rivera)",
                email="cover@example.org",
                phone="+16045550143",
            ),
        ]
    )
    treatments = 0
    for number in range(1, PATIENTS + 1):
        patient = create_patient(
            session,
            clinician=clinicians[0],
            code=f"DEMO-{number:03d}",
            now=now,
            timezone=rng.choice(ZONES),
            display_name=demo_name(number),
        )
        modality = ("ims", "dry_needling", "acupuncture")[number % 3]
        # each patient draws from a generator of their own: what one draws (depending on the
        # day the demo is loaded) does not shift what the next patients get
        own = random.Random(seed * 1000 + number)
        for treated_at in _session_times(own, patient, now):
            _treat_and_answer(
                session, own, own.choice(clinicians), patient, modality, treated_at, now
            )
            treatments += 1
    missed = expire_checkins(session, now=now)
    session.flush()
    _acknowledge_older_alerts(session, clinician=clinicians[0], now=now)
    _todays_red_flags(session, rng, clinicians, now)
    return (
        f"Loaded {DEMO_CLINIC!r}: {len(clinicians)} clinicians, "
        f"{PATIENTS + len(TODAYS_FLAGS)} patients, "
        f"{treatments + len(TODAYS_FLAGS)} treatments, {missed} missed check-ins. "
        f"Log in as {DEMO_CLINICIANS[0][0]} / {DEMO_PASSWORD}."
    )


# made-up names, so the pages read as a clinic's would and the search by name has something to find
GIVEN_NAMES = (
    "Ava",
    "Noah",
    "Mei",
    "Arjun",
    "Lucía",
    "Tom",
    "Aroha",
    "Kofi",
    "Sofia",
    "Liam",
    "Yuki",
    "Priya",
    "Jack",
    "Amara",
    "Mateo",
    "Grace",
    "Omar",
    "Chloe",
    "Hemi",
    "Zara",
    "Ben",
    "Ines",
    "Wei",
)
FAMILY_NAMES = (
    "Nguyen",
    "Smith",
    "Patel",
    "Walker",
    "García",
    "Chen",
    "Okafor",
    "Brown",
    "Tane",
    "Kim",
    "Murphy",
    "Singh",
    "Rossi",
    "Ahmed",
    "Wilson",
    "Sato",
    "Taylor",
    "Novak",
    "Lee",
)


def demo_name(number: int) -> str:
    """The ``number``th demo patient's name: the same every time the demo is loaded."""
    return f"{GIVEN_NAMES[number % len(GIVEN_NAMES)]} {FAMILY_NAMES[number % len(FAMILY_NAMES)]}"


def _acknowledge_older_alerts(session: Session, *, clinician: Clinician, now: datetime) -> None:
    """A real clinic has handled last week's alerts; only the last two days' stay open."""
    for alert in session.scalars(select(Alert).where(Alert.created_at < now - timedelta(days=2))):
        acknowledge_alert(
            session,
            clinician=clinician,
            alert_id=alert.id,
            action="called_patient",
            now=alert.created_at,
        )


# today's red flags, so the Today page has something to act on: (hours ago treated, modality,
# check-in, answers); the patients have no quiet hours, so the check-ins open on time
TODAYS_FLAGS: tuple[tuple[float, str, str, dict[str, object]], ...] = (
    (3.0, "ims", "2h", {"soreness": 6, "rf_faint": False, "rf_breath_chest": True}),
    (26.0, "dry_needling", "24h", {"soreness": 4, "pain": 5, "rf_infection": True}),
)


def _todays_red_flags(
    session: Session, rng: random.Random, clinicians: list[Clinician], now: datetime
) -> None:
    for number, (hours_ago, modality, slot, answers) in enumerate(TODAYS_FLAGS, PATIENTS + 1):
        patient = create_patient(
            session,
            clinician=clinicians[0],
            code=f"DEMO-{number:03d}",
            now=now,
            timezone="America/Vancouver",
            display_name=demo_name(number),
            quiet_hours=None,
            phone=f"+1 604 555 01{50 + number - PATIENTS}",  # 555-01xx: fiction, never a line
            sms_consent="enrolment",
        )
        treated_at = now - timedelta(hours=hours_ago)
        treatment = record_treatment(
            session,
            clinician=clinicians[1],
            patient=patient,
            modality=modality,
            treated_at=treated_at,
            now=treated_at,
            regions=["neck", "upper_back"],
            baseline={"soreness": 1, "pain": 6, "mobility": 4},
        )
        checkin = next(c for c in treatment.checkins if c.slot == slot)
        answer_checkin(
            session,
            patient=patient,
            checkin_id=checkin.id,
            client_id=uuid.UUID(int=rng.getrandbits(128)),
            answers=answers,
            note=None,
            now=checkin.due_at + timedelta(minutes=20),
        )


def _session_times(rng: random.Random, patient: Patient, now: datetime) -> list[datetime]:
    """One to three weekly sessions in the last eight weeks, in clinic hours, local time."""
    zone = ZoneInfo(patient.timezone)
    first = rng.randint(0, WEEKS * 7 - 1)
    times = []
    for week in range(rng.randint(1, 3)):
        days_ago = first - 7 * week
        if days_ago < 0:
            break
        day = (now - timedelta(days=days_ago)).astimezone(zone).date()
        local = datetime.combine(day, time(rng.randint(9, 17), rng.choice((0, 15, 30, 45))), zone)
        if local < now:
            times.append(local)
    return times


def _treat_and_answer(
    session: Session,
    rng: random.Random,
    clinician: Clinician,
    patient: Patient,
    modality: str,
    treated_at: datetime,
    now: datetime,
) -> None:
    baseline: dict[str, object] = {
        "soreness": rng.choice((0, 0, 1, 1, 2, 3)),
        "pain": rng.randint(4, 8),
        "mobility_activity": rng.choice(ACTIVITIES),
        "mobility": rng.randint(2, 6),
    }
    if modality == "acupuncture":
        baseline.update(
            wb_relaxed=rng.randint(3, 6),
            wb_sleep=rng.randint(3, 7),
            wb_energy=rng.randint(3, 6),
            wb_mood=rng.randint(4, 7),
        )
    treatment = record_treatment(
        session,
        clinician=clinician,
        patient=patient,
        modality=modality,
        treated_at=treated_at,
        now=treated_at,
        regions=rng.choice(REGIONS[modality]),
        baseline=baseline,
        **_dose(modality, f"dose {patient.id} {treated_at.isoformat()}"),
    )
    for checkin in list(treatment.checkins):
        if checkin.due_at > now or rng.random() > ANSWER_RATE:
            continue  # still to come, or never answered (missed once its window closes)
        latest = min(checkin.expires_at, now) - checkin.due_at
        answered_at = checkin.due_at + latest * rng.uniform(0.02, 0.6)
        answers = _answers(rng, treatment, checkin, baseline, answered_at)
        answer_checkin(
            session,
            patient=patient,
            checkin_id=checkin.id,
            client_id=uuid.UUID(int=rng.getrandbits(128)),
            answers=answers,
            note=None,
            now=answered_at,
        )


class Dose(TypedDict, total=False):
    """A session's dose as ``record_treatment`` takes it (left out: not recorded)."""

    needle_sites: int
    retention_minutes: float
    needle_diameter_mm: float


def _dose(modality: str, seed: str) -> Dose:
    """A session's dose, or none recorded now and then; drawn from its own seed, so the rest
    of the demo stays as it was before the dose was recorded."""
    rng = random.Random(seed)
    (fewest, most), minutes, diameters = DOSES[modality]
    if rng.random() > DOSE_RECORDED:
        return {}
    return {
        "needle_sites": rng.randint(fewest, most),
        "retention_minutes": rng.choice(minutes),
        "needle_diameter_mm": rng.choice(diameters),
    }


def _answers(
    rng: random.Random,
    treatment: Treatment,
    checkin: CheckIn,
    baseline: dict[str, object],
    answered_at: datetime,
) -> dict[str, object]:
    hours = hours_since(treatment, answered_at)
    peak, tau = SORENESS_COURSE[treatment.modality]
    if treatment.needle_sites is not None:  # more sites needled, a little more soreness
        peak *= 0.7 + 0.05 * treatment.needle_sites
    base_pain = int(str(baseline["pain"]))
    relief = PAIN_RELIEF_7D[treatment.modality] * min(1.0, hours / 168) * rng.uniform(0.3, 1.7)
    expected = {
        "soreness": int(str(baseline["soreness"])) + peak * math.exp(-hours / tau),
        "pain": base_pain * (1 - relief) + (0.8 if hours < 24 else 0),
        "mobility": int(str(baseline["mobility"])) + 3.0 * min(1.0, hours / 168),
        "wb_relaxed": 7.0,
        "wb_sleep": 6.5,
        "wb_energy": 6.0,
        "wb_mood": 6.5,
    }
    answers: dict[str, object] = {}
    for code in checkin.items:
        item = item_bank()[code]
        value: Value | None
        if item.kind == "scale":
            value = max(0, min(10, round(expected[code] + rng.gauss(0, 1.0))))
        elif item.kind == "boolean":
            value = rng.random() < (0.005 if code.startswith("rf_") else 0.2)
        elif item.kind == "choice":
            value = rng.choices(("none", "small", "large", "bleeding"), (70, 26, 3.6, 0.4))[0]
        elif code == "wb_elsewhere_text":
            value = "Warmth in my hands" if answers.get("wb_elsewhere") is True else None
        else:
            value = "Feeling better overall, thanks." if rng.random() < 0.15 else None
        if value is not None and rng.random() > 0.04:  # now and then an item is skipped
            answers[code] = value
    if not answers:  # a response needs one answer: the first item, as a patient would
        answers["soreness"] = max(0, min(10, round(expected["soreness"])))
    return answers
