"""Patients of the caller's clinic: register, read, change, enrol."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from flask import Response as FlaskResponse
from flask import current_app
from flask.views import MethodView

from server.extensions import db
from server.models import Patient, utcnow
from server.services.enrolment import EnrolmentLink, issue_enrolment, revoke_patient_tokens
from server.services.erasure import Erasure, erase_patient
from server.services.fhir import export_patient_bundle
from server.services.patients import (
    create_patient,
    discharge,
    get_patient,
    list_patients,
    readmit,
    record_read,
    update_patient,
)

from .auth import clinician_required, current_clinician
from .blueprint import Blueprint
from .exports import FHIR_DOC
from .pagination import PAGINATION_HEADER, offset_of, pagination_header
from .patient_schemas import (
    EnrolmentLinkSchema,
    ErasureRequestSchema,
    ErasureSchema,
    PatientCreateSchema,
    PatientQueryArgsSchema,
    PatientSchema,
    PatientUpdateSchema,
)

blp = Blueprint(
    "patients",
    __name__,
    url_prefix="/api/v1/patients",
    description="Patients of the caller's clinic",
)


@blp.route("")
class Patients(MethodView):
    """The clinic's patients."""

    decorators = [clinician_required]

    @blp.arguments(PatientQueryArgsSchema, location="query")
    @blp.response(200, PatientSchema(many=True), headers=PAGINATION_HEADER)
    def get(self, args: dict[str, Any]) -> tuple[list[Patient], dict[str, str]]:
        """List the clinic's patients by code (filter: code prefix), a page at a time."""
        clinician = current_clinician()
        record_read(db.session(), viewer=clinician, now=utcnow())
        patients, total = list_patients(
            db.session(),
            clinic_id=clinician.clinic_id,
            code_prefix=args.get("code"),
            offset=offset_of(args),
            limit=args["page_size"],
        )
        return patients, pagination_header(args, total)

    @blp.arguments(PatientCreateSchema)
    @blp.response(201, PatientSchema)
    def post(self, fields: dict[str, Any]) -> Patient:
        """Register a patient."""
        patient = create_patient(
            db.session(), clinician=current_clinician(), now=utcnow(), **fields
        )
        return patient


@blp.route("/<int:patient_id>")
class PatientById(MethodView):
    """One patient."""

    decorators = [clinician_required]

    @blp.response(200, PatientSchema)
    def get(self, patient_id: int) -> Patient:
        """Read a patient (audited)."""
        clinician = current_clinician()
        patient = get_patient(db.session(), clinic_id=clinician.clinic_id, patient_id=patient_id)
        record_read(db.session(), viewer=clinician, now=utcnow(), patient=patient)
        return patient

    @blp.arguments(PatientUpdateSchema)
    @blp.response(200, PatientSchema)
    def patch(self, changes: dict[str, Any], patient_id: int) -> Patient:
        """Change a patient; a new time zone or quiet hours re-plans check-ins not yet sent."""
        clinician = current_clinician()
        patient = get_patient(db.session(), clinic_id=clinician.clinic_id, patient_id=patient_id)
        update_patient(
            db.session(), clinician=clinician, patient=patient, now=utcnow(), changes=changes
        )
        return patient


@blp.route("/<int:patient_id>/discharge")
class Discharge(MethodView):
    """The patient's discharge."""

    decorators = [clinician_required]

    @blp.response(200, PatientSchema)
    def post(self, patient_id: int) -> Patient:
        """Discharge the patient: every open check-in is cancelled, no more prompts or
        reminders; the record stays (409 if already discharged)."""
        clinician = current_clinician()
        patient = get_patient(db.session(), clinic_id=clinician.clinic_id, patient_id=patient_id)
        discharge(db.session(), clinician=clinician, patient=patient, now=utcnow())
        return patient

    @blp.response(200, PatientSchema)
    def delete(self, patient_id: int) -> Patient:
        """Re-admit the patient: check-ins the discharge cancelled whose windows are open or
        to come are planned again (409 if not discharged)."""
        clinician = current_clinician()
        patient = get_patient(db.session(), clinic_id=clinician.clinic_id, patient_id=patient_id)
        readmit(db.session(), clinician=clinician, patient=patient, now=utcnow())
        return patient


@blp.route("/<int:patient_id>/fhir")
class PatientFhir(MethodView):
    """One patient's whole record as FHIR R4."""

    decorators = [clinician_required]

    @blp.response(200, FHIR_DOC, content_type="application/fhir+json")
    def get(self, patient_id: int) -> FlaskResponse:
        """Everything about the patient as a FHIR R4 Bundle (their request for their data):
        Patient with contacts, Procedures, QuestionnaireResponses, red flags as Flags and what
        was done as Communications (audited)."""
        clinician = current_clinician()
        patient = get_patient(db.session(), clinic_id=clinician.clinic_id, patient_id=patient_id)
        bundle = export_patient_bundle(
            db.session(),
            clinician=clinician,
            patient=patient,
            base_url=current_app.config["PUBLIC_BASE_URL"],
            now=utcnow(),
        )
        return FlaskResponse(json.dumps(bundle), mimetype="application/fhir+json")


@blp.route("/<int:patient_id>/erasure")
class PatientErasure(MethodView):
    """Erasing a patient at their request."""

    decorators = [clinician_required]

    @blp.arguments(ErasureRequestSchema)
    @blp.response(200, ErasureSchema)
    def post(self, body: dict[str, Any], patient_id: int) -> Erasure:
        """Erase everything about the patient in one transaction (clinic admins), confirmed by
        their code; one audit entry with the bare id and counts is all that stays."""
        clinician = current_clinician()
        patient = get_patient(db.session(), clinic_id=clinician.clinic_id, patient_id=patient_id)
        return erase_patient(
            db.session(),
            clinician=clinician,
            patient=patient,
            confirm=body["confirm"],
            now=utcnow(),
        )


@blp.route("/<int:patient_id>/enrolment")
class Enrolment(MethodView):
    """Enrolment links."""

    decorators = [clinician_required]

    @blp.response(201, EnrolmentLinkSchema)
    def post(self, patient_id: int) -> EnrolmentLink:
        """Create a one-time enrolment link and QR code; earlier unused links stop working."""
        clinician = current_clinician()
        patient = get_patient(db.session(), clinic_id=clinician.clinic_id, patient_id=patient_id)
        link = issue_enrolment(
            db.session(),
            clinician=clinician,
            patient=patient,
            now=utcnow(),
            base_url=current_app.config["PUBLIC_BASE_URL"],
            ttl=timedelta(hours=current_app.config["ENROLMENT_TTL_HOURS"]),
        )
        return link


@blp.route("/<int:patient_id>/tokens")
class PatientTokens(MethodView):
    """The patient's device tokens."""

    decorators = [clinician_required]

    @blp.response(204)
    def delete(self, patient_id: int) -> None:
        """Revoke every device token of the patient (a lost phone)."""
        clinician = current_clinician()
        patient = get_patient(db.session(), clinic_id=clinician.clinic_id, patient_id=patient_id)
        revoke_patient_tokens(db.session(), clinician=clinician, patient=patient, now=utcnow())
