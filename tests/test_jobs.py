"""The worker's periodic jobs, called as functions (not through the scheduler)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.__main__ import main
from jobs.tasks import Worker, expire_missed_checkins
from server.models import CheckIn
from tests.factories import NOW, make_clinician, make_patient, make_treatment


def test_expire_job_marks_closed_windows_missed_and_commits(
    worker: Worker, session: Session
) -> None:
    clinician = make_clinician(session)
    make_treatment(session, clinician, make_patient(session, clinician, quiet_hours=None))
    session.commit()

    missed = expire_missed_checkins(worker, NOW + timedelta(hours=11))

    session.expire_all()
    statuses = dict(session.execute(select(CheckIn.slot, CheckIn.status)).all())
    assert missed == 2
    assert (statuses["0h"], statuses["6h"], statuses["24h"]) == ("missed", "missed", "scheduled")


def test_tick_refuses_a_time_without_offset() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["tick", "--now", "2026-11-24T09:00"])
    assert exit_.value.code == 2
