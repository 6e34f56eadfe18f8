"""Urgent alerts by text to clinicians and contacts with a mobile number, in the steps the
clinic's routing defines, through the local Messages API."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.tasks import Worker, notify_clinicians
from server.models import AlertContact, AlertNotice
from server.services.alerting.notices import configured_channels
from server.services.sms import segments
from tests.conftest import Mailbox
from tests.sms_service import AUTH_TOKEN, FROM, SmsService, refused
from tests.test_alert_notices import ANSWERED, URGENT, clinic_with_staff, flagged

TREATING_MOBILE = "+16045550111"
ON_CALL_PHONE = "+16045550122"
BACKUP_MOBILE = "+16045550133"


def staff_with_mobiles(session: Session) -> dict[str, object]:
    """The alert tests' clinic, the treating clinician with a mobile of their own, the outside
    on-call phone and the backup contact with one."""
    staff = clinic_with_staff(session)
    staff["treating"].phone = TREATING_MOBILE
    for contact in session.scalars(select(AlertContact)):
        if contact.name == "Night phone":
            contact.phone = ON_CALL_PHONE
        elif contact.role == "backup":
            contact.phone = BACKUP_MOBILE
    session.commit()
    return dict(staff)


def sms_notices(session: Session, alert_id: int) -> list[tuple[int, str, str]]:
    """(step, address, status) of the alert's text notices."""
    session.expire_all()
    return [
        (notice.step, notice.address, notice.status)
        for notice in session.scalars(
            select(AlertNotice)
            .filter_by(alert_id=alert_id, channel="sms")
            .order_by(AlertNotice.step, AlertNotice.address)
        )
    ]


def test_an_urgent_alert_texts_the_first_steps_numbers_at_once(
    session: Session, texting_worker: Worker, sms: SmsService, mailbox: Mailbox
) -> None:
    staff = staff_with_mobiles(session)
    _, alert = flagged(session, staff["treating"], URGENT)  # type: ignore[arg-type]

    notify_clinicians(texting_worker, ANSWERED)

    assert sorted(text.to for text in sms.texts) == [TREATING_MOBILE, ON_CALL_PHONE]
    assert sms_notices(session, alert.id) == [
        (1, TREATING_MOBILE, "sent"),
        (1, ON_CALL_PHONE, "sent"),
        (2, BACKUP_MOBILE, "pending"),
    ]
    assert len(mailbox.messages) == 3  # e-mail too: the default routing names both channels


def test_an_unacknowledged_alert_is_texted_to_the_next_step(
    session: Session, texting_worker: Worker, sms: SmsService
) -> None:
    staff = staff_with_mobiles(session)
    flagged(session, staff["treating"], URGENT)  # type: ignore[arg-type]
    notify_clinicians(texting_worker, ANSWERED)

    notify_clinicians(texting_worker, ANSWERED + timedelta(minutes=15))

    [escalation] = [text for text in sms.texts if text.to == BACKUP_MOBILE]
    assert "not acknowledged yet" in escalation.body


def test_an_alert_text_names_the_patient_by_code_and_links_behind_sign_in(
    session: Session, texting_worker: Worker, sms: SmsService, app: Flask
) -> None:
    staff = staff_with_mobiles(session)
    treatment, _ = flagged(session, staff["treating"], URGENT)  # type: ignore[arg-type]

    notify_clinicians(texting_worker, ANSWERED)

    text = next(text for text in sms.texts if text.to == TREATING_MOBILE)
    link = f"{app.config['PUBLIC_BASE_URL']}/clinic/patients/{treatment.patient_id}"
    assert text.body.startswith("Urgent red flag: patient P-042")
    assert text.body.endswith(link)
    assert "breath" not in text.body.lower()  # never the answers or the rule's words
    assert segments(text.body) <= 2
    assert text.form["From"] == FROM


def test_a_refused_alert_text_is_not_retried(
    session: Session, texting_worker: Worker, sms: SmsService
) -> None:
    staff = staff_with_mobiles(session)
    _, alert = flagged(session, staff["treating"], URGENT)  # type: ignore[arg-type]
    sms.answer(TREATING_MOBILE, refused(400, 21211, "The 'To' number is not valid."))

    notify_clinicians(texting_worker, ANSWERED)
    notify_clinicians(texting_worker, ANSWERED + timedelta(hours=1))

    assert [text.to for text in sms.texts].count(TREATING_MOBILE) == 1
    notice = session.scalars(
        select(AlertNotice).filter_by(alert_id=alert.id, address=TREATING_MOBILE)
    ).one()
    assert notice.status == "failed"
    assert notice.detail is not None
    assert notice.detail.startswith("refused, not retried: 400: 21211")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_an_alert_text_the_provider_could_not_take_is_tried_again_later(
    session: Session, texting_worker: Worker, sms: SmsService, status: int
) -> None:
    staff = staff_with_mobiles(session)
    _, alert = flagged(session, staff["treating"], URGENT)  # type: ignore[arg-type]
    sms.answer(
        TREATING_MOBILE, refused(status, 20000 + status, "try later", **{"Retry-After": "90"})
    )

    notify_clinicians(texting_worker, ANSWERED)

    notice = session.scalars(
        select(AlertNotice).filter_by(alert_id=alert.id, address=TREATING_MOBILE)
    ).one()
    assert notice.status == "pending"
    assert notice.due_at >= ANSWERED + timedelta(seconds=90)

    notify_clinicians(texting_worker, notice.due_at)

    assert [text.answered for text in sms.texts if text.to == TREATING_MOBILE] == [status, 201]


def test_without_a_provider_text_notices_are_skipped_saying_why(
    session: Session, worker: Worker, sms: SmsService
) -> None:
    staff = staff_with_mobiles(session)
    _, alert = flagged(session, staff["treating"], URGENT)  # type: ignore[arg-type]

    notify_clinicians(worker, ANSWERED)

    session.expire_all()
    first = session.scalars(
        select(AlertNotice).filter_by(alert_id=alert.id, step=1, channel="sms")
    ).all()
    assert {(notice.status, notice.detail) for notice in first} == {
        ("skipped", "SMS is not set up")
    }
    assert sms.texts == []


def test_the_pages_and_the_worker_agree_on_the_channels_set_up(
    app: Flask, texting_worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "sms" not in configured_channels(app.config)
    provider = texting_worker.texts
    for key, value in {
        "SMS_ACCOUNT_SID": provider.account_sid,
        "SMS_AUTH_TOKEN": AUTH_TOKEN,
        "SMS_FROM": FROM,
        "SMS_API_BASE": provider.api_base,
        "SMTP_HOST": texting_worker.mailer.host,
        "SMTP_PORT": texting_worker.mailer.port,
    }.items():
        monkeypatch.setitem(app.config, key, value)

    assert configured_channels(app.config) == set(texting_worker.notifier.channels)
    assert configured_channels(app.config) == {"email", "sms"}
    no_texts = replace(texting_worker, texts=replace(provider, auth_token=""))
    assert set(no_texts.notifier.channels) == {"email"}
