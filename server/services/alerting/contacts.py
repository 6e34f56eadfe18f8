"""A clinic's on-call and backup contacts: the people its routing's groups of those names are.

A contact is a clinician of the clinic (reached at their own address, skipped while inactive)
or a person outside it with an address of their own (an on-call phone, a covering clinic).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.models import AlertContact, Clinician
from server.models.alerting import CONTACT_ROLES
from server.services.audit import record_event
from server.services.contacts import check_phone, clinic_country


def list_contacts(session: Session, *, clinic_id: int) -> list[AlertContact]:
    """The clinic's contacts, on-call first, in the order they were added."""
    return list(
        session.scalars(
            select(AlertContact)
            .filter_by(clinic_id=clinic_id)
            .order_by(AlertContact.role.desc(), AlertContact.id)  # on_call before backup
        )
    )


def add_contact(
    session: Session,
    *,
    clinician: Clinician,
    role: str,
    member_id: int | None = None,
    name: str = "",
    email: str | None = None,
    phone: str | None = None,
    now: datetime,
) -> AlertContact:
    """Add a contact (admins only; audited): a clinician of the clinic by id (with a mobile
    number for this role, if given), or a person outside it by name and an e-mail address or
    a mobile number."""
    _require_admin(clinician)
    if role not in CONTACT_ROLES:
        raise InvalidInput(f"must be one of: {', '.join(CONTACT_ROLES)}", field="role")
    contact = AlertContact(clinic_id=clinician.clinic_id, role=role)
    if member_id is not None:
        member = session.scalar(
            select(Clinician).filter_by(id=member_id, clinic_id=clinician.clinic_id)
        )
        if member is None:
            raise NotFound("no such clinician in this clinic", field="clinician_id")
        taken = session.scalar(
            select(AlertContact.id).filter_by(
                clinic_id=clinician.clinic_id, role=role, clinician_id=member_id
            )
        )
        if taken is not None:
            raise Conflict(f"this clinician is already a {role} contact", field="clinician_id")
        contact.clinician_id, contact.name = member.id, member.name or member.email
        # a mobile for this role (an on-call phone carried by the clinician), else their own
        contact.phone = check_phone(phone, country=clinic_country(clinician.clinic))
    else:
        contact.name = name.strip()
        if not contact.name:
            raise InvalidInput("give the contact's name", field="name")
        contact.email = _check_email(email)
        contact.phone = check_phone(phone, country=clinic_country(clinician.clinic))
        if contact.email is None and contact.phone is None:
            raise InvalidInput("give an e-mail address or a mobile number", field="email")
    session.add(contact)
    session.flush()
    _audit(session, clinician, "clinic.alert_contact_added", contact, now)
    return contact


def remove_contact(
    session: Session, *, clinician: Clinician, contact_id: int, now: datetime
) -> None:
    """Remove a contact (admins only; audited). Notices already sent stay in the ledger."""
    _require_admin(clinician)
    contact = session.scalar(
        select(AlertContact).filter_by(id=contact_id, clinic_id=clinician.clinic_id)
    )
    if contact is None:
        raise NotFound("no such contact")
    _audit(session, clinician, "clinic.alert_contact_removed", contact, now)
    session.delete(contact)
    session.flush()


def _check_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip()
    local, _, domain = email.rpartition("@")
    if not local or "." not in domain or " " in email or not email.isprintable():
        raise InvalidInput("not an e-mail address", field="email")
    return email


def _require_admin(clinician: Clinician) -> None:
    if not clinician.is_admin:
        raise Forbidden("only a clinic admin can change where alerts go")


def _audit(
    session: Session, clinician: Clinician, action: str, contact: AlertContact, now: datetime
) -> None:
    record_event(
        session,
        clinic_id=clinician.clinic_id,
        actor=f"clinician:{clinician.id}",
        action=action,
        target=f"alert_contact:{contact.id}",
        at=now,
        details={"role": contact.role, "name": contact.name, "clinician_id": contact.clinician_id},
    )
