"""All models, imported here so Alembic and ``db.create_all`` see every table."""

from server.models.alerting import AlertContact, AlertNotice
from server.models.audit import AuditEvent
from server.models.base import Base, utcnow
from server.models.clinics import (
    AccountLink,
    ApiToken,
    Clinic,
    Clinician,
    ClinicianSession,
    LoginAttempt,
    Network,
    ProtocolOverride,
    RecoveryCode,
)
from server.models.fits import AdjustedFit
from server.models.patients import EnrolmentToken, Patient, PatientToken, PushSubscription
from server.models.responses import Alert, Answer, Response
from server.models.treatments import CheckIn, DeliveryEvent, Treatment, TreatmentOutcome

__all__ = [
    "AccountLink",
    "AdjustedFit",
    "Alert",
    "AlertContact",
    "AlertNotice",
    "Answer",
    "ApiToken",
    "AuditEvent",
    "Base",
    "CheckIn",
    "Clinic",
    "Clinician",
    "ClinicianSession",
    "DeliveryEvent",
    "EnrolmentToken",
    "LoginAttempt",
    "Network",
    "Patient",
    "PatientToken",
    "ProtocolOverride",
    "PushSubscription",
    "RecoveryCode",
    "Response",
    "Treatment",
    "TreatmentOutcome",
    "utcnow",
]
