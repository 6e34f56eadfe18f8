"""Scheduling: planning a treatment's check-ins (pure), and keeping the check-in rows right."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import Conflict, InvalidInput
from server.models import CheckIn, Clinician, Patient, Treatment
from server.protocols import default_protocols
from server.services.patients import update_patient
from server.services.scheduling import (
    PlannedCheckIn,
    QuietHours,
    cancel_checkin,
    expire_checkins,
    move_checkin,
    plan_checkins,
)
from tests.factories import NOW, count_rows, make_clinician, make_patient, make_treatment

VANCOUVER = ZoneInfo("America/Vancouver")
NIGHT = QuietHours(time(22, 0), time(8, 0))


def vancouver(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Vancouver wall-clock time as an aware UTC datetime (as the database hands T0 back)."""
    return datetime(year, month, day, hour, minute, tzinfo=VANCOUVER).astimezone(UTC)


def plan(
    modality: str,
    treated_at: datetime,
    *,
    quiet: QuietHours | None = NIGHT,
    thoracic_region: bool | None = None,
) -> dict[str, PlannedCheckIn]:
    """The default protocol of a modality planned for a Vancouver patient, by slot."""
    planned = plan_checkins(
        default_protocols()[modality].timepoints,
        treated_at=treated_at,
        timezone=VANCOUVER,
        quiet=quiet,
        context={"thoracic_region": thoracic_region},
    )
    return {checkin.slot: checkin for checkin in planned}


# ---- plan_checkins: offsets in absolute time -------------------------------------------------


def test_checkins_open_at_t0_plus_their_offset() -> None:
    planned = plan("dry_needling", NOW, quiet=None)
    offsets = {slot: checkin.due_at - NOW for slot, checkin in planned.items()}
    assert offsets == {
        "0h": timedelta(hours=0),
        "6h": timedelta(hours=6),
        "24h": timedelta(hours=24),
        "48h": timedelta(hours=48),
        "72h": timedelta(hours=72),
        "7d": timedelta(hours=168),
    }


def test_checkins_expire_after_their_window() -> None:
    planned = plan("ims", NOW, quiet=None)
    windows = {slot: checkin.expires_at - checkin.due_at for slot, checkin in planned.items()}
    assert windows == {
        "2h": timedelta(hours=2),
        "6h": timedelta(hours=4),
        "24h": timedelta(hours=12),
        "48h": timedelta(hours=12),
        "7d": timedelta(hours=48),
    }


def test_planned_times_are_in_utc() -> None:
    planned = plan("acupuncture", vancouver(2026, 11, 24, 14))
    assert {checkin.due_at.tzinfo for checkin in planned.values()} == {UTC}


def test_reminder_delay_is_given_in_seconds() -> None:
    planned = plan("acupuncture", vancouver(2026, 11, 24, 14))
    assert planned["evening_d0"].reminder_after_s == 5400


def test_checkin_without_reminder_has_none() -> None:
    assert plan("dry_needling", NOW)["0h"].reminder_after_s is None


def test_nominal_hours_are_the_time_point_offset() -> None:
    planned = plan("dry_needling", vancouver(2026, 11, 24, 17))
    assert planned["6h"].nominal_hours == 6  # even though quiet hours moved it to the morning


def test_offset_is_absolute_when_t0_carries_the_local_zone() -> None:
    # 7 March 17:00 PST; the clocks spring forward during the first night
    treated_at = datetime(2026, 3, 7, 17, 0, tzinfo=VANCOUVER)
    planned = plan("dry_needling", treated_at, quiet=None)
    assert planned["24h"].due_at - treated_at == timedelta(hours=24)


# ---- plan_checkins: quiet hours --------------------------------------------------------------


def test_checkin_opening_in_quiet_hours_opens_at_their_end() -> None:
    planned = plan("dry_needling", vancouver(2026, 11, 24, 17))  # 6 h: 23:00
    assert planned["6h"].due_at == vancouver(2026, 11, 25, 8, 0)


def test_checkin_moved_by_quiet_hours_keeps_its_window_length() -> None:
    planned = plan("dry_needling", vancouver(2026, 11, 24, 17))
    assert planned["6h"].expires_at - planned["6h"].due_at == timedelta(hours=4)


def test_after_midnight_opening_moves_to_the_end_of_the_same_night() -> None:
    planned = plan("dry_needling", vancouver(2026, 11, 24, 20))  # 6 h: 02:00 on the 25th
    assert planned["6h"].due_at == vancouver(2026, 11, 25, 8, 0)


def test_opening_at_the_end_of_quiet_hours_is_not_moved() -> None:
    planned = plan("dry_needling", vancouver(2026, 11, 24, 2))  # 6 h: 08:00
    assert planned["6h"].due_at == vancouver(2026, 11, 24, 8, 0)


def test_opening_at_the_start_of_quiet_hours_is_moved() -> None:
    planned = plan("dry_needling", vancouver(2026, 11, 24, 16))  # 6 h: 22:00
    assert planned["6h"].due_at == vancouver(2026, 11, 25, 8, 0)


def test_daytime_quiet_hours_move_an_opening_to_their_end_the_same_day() -> None:
    siesta = QuietHours(time(13, 0), time(15, 0))
    planned = plan("dry_needling", vancouver(2026, 11, 24, 8), quiet=siesta)  # 6 h: 14:00
    assert planned["6h"].due_at == vancouver(2026, 11, 24, 15, 0)


def test_opening_outside_quiet_hours_that_do_not_cross_midnight_is_not_moved() -> None:
    small_hours = QuietHours(time(1, 0), time(6, 0))
    planned = plan("dry_needling", vancouver(2026, 11, 24, 17), quiet=small_hours)  # 6 h: 23:00
    assert planned["6h"].due_at == vancouver(2026, 11, 24, 23, 0)


def test_without_quiet_hours_a_night_opening_is_not_moved() -> None:
    planned = plan("dry_needling", vancouver(2026, 11, 24, 17), quiet=None)
    assert planned["6h"].due_at == vancouver(2026, 11, 24, 23, 0)


def test_quiet_hours_with_equal_start_and_end_move_nothing() -> None:
    never = QuietHours(time(8, 0), time(8, 0))
    planned = plan("dry_needling", vancouver(2026, 11, 24, 17), quiet=never)
    assert planned["6h"].due_at == vancouver(2026, 11, 24, 23, 0)


# ---- plan_checkins: daylight saving time (America/Vancouver) ---------------------------------


def test_checkin_moved_across_spring_forward_opens_at_0800_local() -> None:
    planned = plan("dry_needling", vancouver(2026, 3, 7, 17))  # 6 h: 23:00 PST, clocks change
    assert planned["6h"].due_at == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)  # 08:00 PDT


def test_checkin_moved_across_spring_forward_keeps_its_window_length() -> None:
    planned = plan("dry_needling", vancouver(2026, 3, 7, 17))
    assert planned["6h"].expires_at - planned["6h"].due_at == timedelta(hours=4)


def test_24h_offset_stays_24_absolute_hours_across_spring_forward() -> None:
    treated_at = vancouver(2026, 3, 7, 17)
    planned = plan("dry_needling", treated_at)
    assert planned["24h"].due_at - treated_at == timedelta(hours=24)
    assert planned["24h"].due_at == vancouver(2026, 3, 8, 18, 0)


def test_checkin_moved_across_fall_back_opens_at_0800_local() -> None:
    planned = plan("dry_needling", vancouver(2026, 10, 31, 17))  # 6 h: 23:00 PDT, clocks change
    assert planned["6h"].due_at == datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # 08:00 PST


def test_24h_offset_stays_24_absolute_hours_across_fall_back() -> None:
    treated_at = vancouver(2026, 10, 31, 17)
    planned = plan("dry_needling", treated_at)
    assert planned["24h"].due_at - treated_at == timedelta(hours=24)
    assert planned["24h"].due_at == vancouver(2026, 11, 1, 16, 0)


def test_opening_in_the_skipped_hour_moves_to_0800_local() -> None:
    # 6 h after 20:00 PST is 03:00 PDT: the 02:00 hour does not exist that night
    planned = plan("dry_needling", vancouver(2026, 3, 7, 20))
    assert planned["6h"].due_at == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)


# ---- plan_checkins: the acupuncture evening of day 0 -----------------------------------------


def test_acupuncture_evening_opens_4h_after_t0() -> None:
    treated_at = vancouver(2026, 11, 24, 14)
    planned = plan("acupuncture", treated_at)
    assert planned["evening_d0"].due_at == treated_at + timedelta(hours=4)


def test_acupuncture_evening_expires_at_2359_local_on_day_0() -> None:
    planned = plan("acupuncture", vancouver(2026, 11, 24, 14))
    assert planned["evening_d0"].expires_at == vancouver(2026, 11, 24, 23, 59)


def test_acupuncture_evening_opening_at_2100_local_is_kept() -> None:
    planned = plan("acupuncture", vancouver(2026, 11, 24, 17))
    assert planned["evening_d0"].due_at == vancouver(2026, 11, 24, 21, 0)


def test_acupuncture_evening_opening_after_2100_local_is_skipped() -> None:
    planned = plan("acupuncture", vancouver(2026, 11, 24, 17, 30))
    assert list(planned) == ["24h", "72h", "7d"]


def test_skipped_acupuncture_evening_hands_rf_faint_to_24h() -> None:
    planned = plan("acupuncture", vancouver(2026, 11, 24, 17, 30))
    assert "rf_faint" in planned["24h"].items


def test_acupuncture_24h_does_not_ask_rf_faint_when_the_evening_was_asked() -> None:
    planned = plan("acupuncture", vancouver(2026, 11, 24, 14))
    assert "rf_faint" not in planned["24h"].items


def test_acupuncture_evening_uses_the_local_day_of_t0() -> None:
    # 14:00 in Vancouver is already 22:00 UTC; day 0 is still the local 24 November
    planned = plan("acupuncture", vancouver(2026, 11, 24, 14))
    assert planned["evening_d0"].expires_at == datetime(2026, 11, 25, 7, 59, tzinfo=UTC)


# ---- plan_checkins: which time points and items ----------------------------------------------


def test_non_thoracic_treatment_is_not_asked_rf_breath_chest() -> None:
    planned = plan("ims", NOW, thoracic_region=False)
    assert [slot for slot, c in planned.items() if "rf_breath_chest" in c.items] == []


@pytest.mark.parametrize("thoracic_region", [True, None])
def test_thoracic_or_unrecorded_region_is_asked_rf_breath_chest(
    thoracic_region: bool | None,
) -> None:
    planned = plan("ims", NOW, thoracic_region=thoracic_region)
    asked = [slot for slot, checkin in planned.items() if "rf_breath_chest" in checkin.items]
    assert asked == ["2h", "6h", "24h", "48h"]


@pytest.mark.parametrize("modality", ["ims", "dry_needling", "acupuncture"])
def test_rf_breath_chest_is_never_planned_after_72h(modality: str) -> None:
    planned = plan(modality, NOW, thoracic_region=True)
    late = [
        c.slot for c in planned.values() if c.nominal_hours > 72 and "rf_breath_chest" in c.items
    ]
    assert late == []


def test_disabled_time_point_is_not_planned() -> None:
    assert "12h" not in plan("dry_needling", NOW, quiet=None)


def test_enabled_optional_time_point_is_planned() -> None:
    timepoints = tuple(
        replace(point, enabled=True) for point in default_protocols()["dry_needling"].timepoints
    )
    planned = plan_checkins(timepoints, treated_at=NOW, timezone=VANCOUVER, quiet=None, context={})
    assert [checkin.slot for checkin in planned] == ["0h", "6h", "12h", "24h", "48h", "72h", "7d"]


# ---- plan_checkins: windows never overlap ----------------------------------------------------


def test_two_checkins_moved_to_the_same_morning_are_merged_into_the_later() -> None:
    planned = plan("ims", vancouver(2026, 11, 24, 20))  # 2 h: 22:00, 6 h: 02:00
    assert list(planned) == ["6h", "24h", "48h", "7d"]


def test_merged_checkin_asks_the_items_of_both() -> None:
    planned = plan("ims", vancouver(2026, 11, 24, 20))
    assert planned["6h"].items == (
        "soreness",
        "rf_faint",
        "rf_breath_chest",
        "rf_neuro",
        "bruise_bleed",
    )


def test_merged_checkin_keeps_the_later_window() -> None:
    planned = plan("ims", vancouver(2026, 11, 24, 20))
    window = (planned["6h"].due_at, planned["6h"].expires_at)
    assert window == (vancouver(2026, 11, 25, 8), vancouver(2026, 11, 25, 12))


def test_moved_window_closes_when_the_next_checkin_opens() -> None:
    treated_at = vancouver(2026, 11, 24, 3)  # 2 h: 05:00 -> 08:00 to 10:00; 6 h: 09:00
    planned = plan("ims", treated_at)
    assert planned["2h"].expires_at == planned["6h"].due_at == treated_at + timedelta(hours=6)


def sweep(start: datetime, hours: int) -> list[datetime]:
    """A T0 every 20 minutes for some hours from a start."""
    return [start + timedelta(minutes=20 * step) for step in range(hours * 3)]


# every 20 minutes over two whole days around each daylight-saving change
T0_SWEEP = sweep(vancouver(2026, 3, 6, 0), 72) + sweep(vancouver(2026, 10, 30, 0), 72)


@pytest.mark.parametrize("modality", ["ims", "dry_needling", "acupuncture"])
def test_windows_never_overlap_whatever_the_time_of_treatment(modality: str) -> None:
    overlaps = [
        (treated_at, earlier.slot, later.slot)
        for treated_at in T0_SWEEP
        for earlier, later in pairwise(plan(modality, treated_at).values())
        if earlier.expires_at > later.due_at
    ]
    assert overlaps == []


@pytest.mark.parametrize("modality", ["ims", "dry_needling", "acupuncture"])
def test_every_window_is_open_for_some_time(modality: str) -> None:
    empty = [
        (treated_at, checkin.slot)
        for treated_at in T0_SWEEP
        for checkin in plan(modality, treated_at).values()
        if checkin.expires_at <= checkin.due_at
    ]
    assert empty == []


@pytest.mark.parametrize("modality", ["ims", "dry_needling", "acupuncture"])
def test_no_checkin_opens_inside_quiet_hours(modality: str) -> None:
    in_quiet = [
        (treated_at, checkin.slot)
        for treated_at in T0_SWEEP
        for checkin in plan(modality, treated_at).values()
        if NIGHT.contains(checkin.due_at.astimezone(VANCOUVER).time())
    ]
    assert in_quiet == []


# ---- the database: check-in rows -------------------------------------------------------------


@pytest.fixture
def clinician(session: Session) -> Clinician:
    return make_clinician(session)


@pytest.fixture
def patient(session: Session, clinician: Clinician) -> Patient:
    return make_patient(session, clinician)


def checkins_by_slot(treatment: Treatment) -> dict[str, CheckIn]:
    return {checkin.slot: checkin for checkin in treatment.checkins}


def test_recording_a_treatment_schedules_one_checkin_per_enabled_time_point(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient)
    stored = session.scalars(select(CheckIn.slot).filter_by(treatment_id=treatment.id))
    assert sorted(stored) == sorted(["0h", "6h", "24h", "48h", "72h", "7d"])


def test_recorded_checkins_are_scheduled_with_the_planned_windows(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient)
    checkin = checkins_by_slot(treatment)["24h"]
    assert (checkin.status, checkin.due_at, checkin.expires_at) == (
        "scheduled",
        NOW + timedelta(hours=24),
        NOW + timedelta(hours=36),
    )


def test_checkins_are_written_in_the_transaction_of_their_treatment(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    session.commit()
    make_treatment(session, clinician, patient)
    session.rollback()
    assert count_rows(session, CheckIn) == 0


def test_recorded_checkin_opens_24_absolute_hours_after_a_t0_given_in_local_time(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    # the demo data records T0 as a local time; the clocks spring forward the first night
    treated_at = datetime(2026, 3, 7, 17, 0, tzinfo=VANCOUVER)
    treatment = make_treatment(session, clinician, patient, treated_at=treated_at)
    assert checkins_by_slot(treatment)["24h"].due_at - treated_at == timedelta(hours=24)


def test_windows_closed_before_the_treatment_was_recorded_are_kept_for_staff_entry(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(
        session, clinician, patient, treated_at=NOW - timedelta(hours=48), now=NOW
    )
    rows = {
        slot: (checkin.status, checkin.entry_only)
        for slot, checkin in checkins_by_slot(treatment).items()
    }
    assert rows == {
        "0h": ("missed", True),
        "6h": ("missed", True),
        "24h": ("missed", True),
        "48h": ("scheduled", False),
        "72h": ("scheduled", False),
        "7d": ("scheduled", False),
    }


def test_a_checkin_kept_for_staff_entry_is_never_to_be_sent_nor_reminded(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(
        session, clinician, patient, treated_at=NOW - timedelta(hours=48), now=NOW
    )
    late = checkins_by_slot(treatment)["6h"]
    assert (late.next_attempt_at, late.remind_at, late.cancelled_at) == (None, None, None)


# ---- the database: a new time zone or new quiet hours re-plans ------------------------------

# T0 = 17:00 UTC: 09:00 in Vancouver, 02:00 the next day in Tokyo. In Tokyo the 24 h and 48 h
# check-ins open at 02:00, inside quiet hours, so they move to 08:00 Tokyo (23:00 UTC).


def test_new_timezone_moves_scheduled_checkins(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient)
    update_patient(
        session, clinician=clinician, patient=patient, now=NOW, changes={"timezone": "Asia/Tokyo"}
    )
    checkin = checkins_by_slot(treatment)["48h"]
    assert (checkin.due_at, checkin.expires_at) == (
        datetime(2026, 11, 26, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 27, 11, 0, tzinfo=UTC),
    )


def test_new_timezone_leaves_sent_checkins_where_they_are(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient)
    sent = checkins_by_slot(treatment)["24h"]
    sent.status = "sent"
    update_patient(
        session, clinician=clinician, patient=patient, now=NOW, changes={"timezone": "Asia/Tokyo"}
    )
    assert (sent.status, sent.due_at) == ("sent", NOW + timedelta(hours=24))


def test_new_timezone_leaves_answered_checkins_as_they_are(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    # in Tokyo the 0 h check-in would merge into 6 h and be cancelled, were it not answered
    treatment = make_treatment(session, clinician, patient)
    answered = checkins_by_slot(treatment)["0h"]
    answered.status, answered.answered_at = "answered", NOW
    update_patient(
        session, clinician=clinician, patient=patient, now=NOW, changes={"timezone": "Asia/Tokyo"}
    )
    assert (answered.status, answered.due_at, answered.expires_at) == (
        "answered",
        NOW,
        NOW + timedelta(hours=1),
    )


def test_new_timezone_cancels_a_scheduled_checkin_merged_into_the_next(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient)
    update_patient(
        session, clinician=clinician, patient=patient, now=NOW, changes={"timezone": "Asia/Tokyo"}
    )
    assert checkins_by_slot(treatment)["0h"].status == "cancelled"


def test_rescheduled_checkins_are_stored(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient)
    update_patient(
        session, clinician=clinician, patient=patient, now=NOW, changes={"timezone": "Asia/Tokyo"}
    )
    session.commit()
    session.expire_all()
    stored = session.scalar(select(CheckIn).filter_by(treatment_id=treatment.id, slot="48h"))
    assert stored is not None
    assert stored.due_at == datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


# T0 = 17:00 Vancouver: the 6 h check-in (23:00) waits for 08:00 under the default quiet hours.
EVENING_T0 = vancouver(2026, 11, 23, 17)
LATE_NIGHT = {"start": time(23, 30), "end": time(7, 0)}


def test_new_quiet_hours_move_scheduled_checkins(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient, treated_at=EVENING_T0)
    update_patient(
        session,
        clinician=clinician,
        patient=patient,
        now=EVENING_T0 + timedelta(hours=1),
        changes={"quiet_hours": LATE_NIGHT},
    )
    checkin = checkins_by_slot(treatment)["6h"]
    assert (checkin.due_at, checkin.expires_at) == (
        EVENING_T0 + timedelta(hours=6),
        EVENING_T0 + timedelta(hours=10),
    )


def test_new_quiet_hours_leave_sent_checkins_where_they_are(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient, treated_at=EVENING_T0)
    sent = checkins_by_slot(treatment)["6h"]
    sent.status = "sent"
    update_patient(
        session,
        clinician=clinician,
        patient=patient,
        now=EVENING_T0 + timedelta(hours=1),
        changes={"quiet_hours": LATE_NIGHT},
    )
    assert sent.due_at == vancouver(2026, 11, 24, 8, 0)


def test_removing_quiet_hours_moves_scheduled_checkins_back_to_their_offset(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient, treated_at=EVENING_T0)
    update_patient(
        session,
        clinician=clinician,
        patient=patient,
        now=EVENING_T0 + timedelta(hours=1),
        changes={"quiet_hours": None},
    )
    assert checkins_by_slot(treatment)["6h"].due_at == EVENING_T0 + timedelta(hours=6)


# ---- the database: moving, cancelling, expiring ----------------------------------------------


def test_moved_checkin_keeps_its_window_length(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    checkin = checkins_by_slot(make_treatment(session, clinician, patient))["24h"]
    move_checkin(session, checkin, due_at=NOW + timedelta(hours=26), now=NOW)
    assert (checkin.due_at, checkin.expires_at) == (
        NOW + timedelta(hours=26),
        NOW + timedelta(hours=38),
    )


def test_moved_sent_checkin_is_scheduled_again(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    checkin = checkins_by_slot(make_treatment(session, clinician, patient))["24h"]
    checkin.status = "sent"
    move_checkin(session, checkin, due_at=NOW + timedelta(hours=26), now=NOW + timedelta(hours=25))
    assert checkin.status == "scheduled"


def test_moving_into_a_sibling_window_is_rejected(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    checkin = checkins_by_slot(make_treatment(session, clinician, patient))["24h"]
    with pytest.raises(InvalidInput, match="overlap the '48h' check-in"):
        move_checkin(session, checkin, due_at=NOW + timedelta(hours=40), now=NOW)


def test_moving_over_a_cancelled_sibling_is_allowed(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    checkins = checkins_by_slot(make_treatment(session, clinician, patient))
    cancel_checkin(session, checkins["48h"], now=NOW)
    move_checkin(session, checkins["24h"], due_at=NOW + timedelta(hours=40), now=NOW)
    assert checkins["24h"].due_at == NOW + timedelta(hours=40)


def test_moving_before_the_treatment_is_rejected(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    checkin = checkins_by_slot(make_treatment(session, clinician, patient))["0h"]
    with pytest.raises(InvalidInput, match="before the treatment"):
        move_checkin(session, checkin, due_at=NOW - timedelta(minutes=30), now=NOW)


def test_moving_to_a_window_already_over_is_rejected(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    checkin = checkins_by_slot(make_treatment(session, clinician, patient))["24h"]
    with pytest.raises(InvalidInput, match="already be over"):
        move_checkin(
            session, checkin, due_at=NOW + timedelta(hours=20), now=NOW + timedelta(hours=40)
        )


def test_moving_an_answered_checkin_is_rejected(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    checkin = checkins_by_slot(make_treatment(session, clinician, patient))["0h"]
    checkin.status = "answered"
    with pytest.raises(Conflict):
        move_checkin(session, checkin, due_at=NOW + timedelta(hours=2), now=NOW)


def test_cancelling_a_scheduled_checkin_marks_it_cancelled(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    checkin = checkins_by_slot(make_treatment(session, clinician, patient))["24h"]
    cancel_checkin(session, checkin, now=NOW)
    assert (checkin.status, checkin.cancelled_at) == ("cancelled", NOW)


def test_cancelling_a_sent_checkin_marks_it_cancelled(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    checkin = checkins_by_slot(make_treatment(session, clinician, patient))["0h"]
    checkin.status = "sent"
    cancel_checkin(session, checkin, now=NOW)
    assert checkin.status == "cancelled"


def test_cancelling_an_answered_checkin_is_rejected(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    checkin = checkins_by_slot(make_treatment(session, clinician, patient))["0h"]
    checkin.status = "answered"
    with pytest.raises(Conflict, match="answered cannot be cancelled"):
        cancel_checkin(session, checkin, now=NOW)


def stored_statuses(session: Session, treatment: Treatment) -> dict[str, str]:
    """The check-in statuses as the database has them now."""
    session.expire_all()
    rows = session.execute(
        select(CheckIn.slot, CheckIn.status).filter_by(treatment_id=treatment.id)
    )
    return {row.slot: row.status for row in rows}


def test_expiring_marks_open_checkins_past_their_window_as_missed(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient)
    checkins_by_slot(treatment)["6h"].status = "sent"
    session.flush()
    expire_checkins(session, now=NOW + timedelta(hours=11))
    statuses = stored_statuses(session, treatment)
    assert (statuses["0h"], statuses["6h"]) == ("missed", "missed")


def test_expiring_counts_the_checkins_it_marked_missed(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    make_treatment(session, clinician, patient)
    assert expire_checkins(session, now=NOW + timedelta(hours=11)) == 2


def test_expiring_marks_a_checkin_missed_when_its_window_ends_exactly_now(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient)
    expire_checkins(session, now=NOW + timedelta(hours=1))
    assert stored_statuses(session, treatment)["0h"] == "missed"


def test_expiring_leaves_checkins_whose_window_is_still_open(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient)
    expire_checkins(session, now=NOW + timedelta(hours=30))
    statuses = stored_statuses(session, treatment)
    assert [statuses[slot] for slot in ("24h", "48h", "72h", "7d")] == ["scheduled"] * 4


def test_expiring_leaves_answered_and_cancelled_checkins(
    session: Session, clinician: Clinician, patient: Patient
) -> None:
    treatment = make_treatment(session, clinician, patient)
    checkins = checkins_by_slot(treatment)
    checkins["0h"].status, checkins["0h"].answered_at = "answered", NOW
    checkins["6h"].status, checkins["6h"].cancelled_at = "cancelled", NOW
    session.flush()
    expire_checkins(session, now=NOW + timedelta(hours=11))
    statuses = stored_statuses(session, treatment)
    assert (statuses["0h"], statuses["6h"]) == ("answered", "cancelled")
