"""The FHIR R4 export (CLINICAL.md §6): a ``collection`` Bundle of one Questionnaire per
modality and check-in, and the Patients, Practitioners, Procedures and QuestionnaireResponses of
the clinic's treatments. Same filters and audit as the CSV export (``server.services.exports``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from server.models import Alert, Clinician, Patient, Response, Treatment
from server.protocols import Item, Protocol, TimePoint, Value, default_protocols, item_bank
from server.services.answers import answers_of
from server.services.audit import record_event
from server.services.exports import ExportScope, Resource, audit_export, utc_text
from server.services.patient_record import patient_rows
from server.services.red_flags import ACK_LABELS

# bump when the wording or the items of a default protocol change (CLINICAL.md §1: never reuse a
# code, version the Questionnaire instead)
QUESTIONNAIRE_VERSION = "1"
LOINC = "http://loinc.org"
FHIR_EXT = "http://hl7.org/fhir/StructureDefinition"
# free text longer than this is a FHIR ``text`` item (multi-line); shorter ones are ``string``
STRING_MAX_LENGTH = 100
ITEM_SYSTEM = "CodeSystem/needling-checkin-items"
MODALITY_SYSTEM = "CodeSystem/needling-modality"
# how the answers reached us (app | baseline | phone | paper | clinic): no core element says it
SOURCE_EXTENSION = "StructureDefinition/response-source"
# the side needled, on each body site: R4's bodySite has no laterality of its own (R5 moves it
# to a BodyStructure); the values are SNOMED CT's laterality qualifiers
LATERALITY_EXTENSION = "StructureDefinition/laterality"
SNOMED = "http://snomed.info/sct"
LATERALITY = {
    "left": {"system": SNOMED, "code": "7771000", "display": "Left"},
    "right": {"system": SNOMED, "code": "24028007", "display": "Right"},
    "both": {"system": SNOMED, "code": "51440002", "display": "Right and left"},
}
# the dose, on the Procedure: R4 has no element for how many sites were needled, how long the
# needles stayed in or how thick they were, so each is an extension; the time and the length
# are UCUM quantities
NEEDLE_SITES_EXTENSION = "StructureDefinition/needle-sites"
RETENTION_EXTENSION = "StructureDefinition/needle-retention"
DIAMETER_EXTENSION = "StructureDefinition/needle-diameter"
UCUM = "http://unitsofmeasure.org"
FHIR_TYPES = {"scale": "integer", "boolean": "boolean", "choice": "choice", "text": "string"}


# --- FHIR R4 -------------------------------------------------------------------------------------


class FhirNames:
    """Where the bundle's names come from: ``{base}`` (PUBLIC_BASE_URL) and stable URNs."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def url(self, path: str) -> str:
        """A canonical URL of ours: a Questionnaire, a local CodeSystem or identifier system."""
        return f"{self.base_url}/{path}"

    def urn(self, url: str) -> str:
        """The bundle-local ``fullUrl`` named after a URL of ours: the same each export."""
        return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}"

    def reference(self, kind: str, row_id: int) -> Resource:
        """A reference that resolves to the entry whose ``fullUrl`` is this row's URN."""
        return {"reference": self.urn(self.url(f"{kind}/{row_id}")), "type": kind}

    def questionnaire(self, modality: str, slot: str) -> str:
        """The canonical URL of a modality's baseline or check-in questionnaire."""
        return self.url(f"Questionnaire/needling-{modality}-{slot}")


def export_fhir_bundle(
    session: Session,
    *,
    clinician: Clinician,
    base_url: str,
    now: datetime,
    date_from: date | None = None,
    date_to: date | None = None,
    modality: str | None = None,
) -> Resource:
    """Audit a FHIR export of the clinician's clinic, and build it: a ``collection`` Bundle of
    the Questionnaires, then the Patients, Practitioners, Procedures (treatments) and
    QuestionnaireResponses in scope."""
    scope = ExportScope(clinician.clinic_id, date_from, date_to, modality)
    treatments = session.scalars(
        select(Treatment)
        .where(*scope.criteria())
        .options(selectinload(Treatment.patient))
        .order_by(Treatment.treated_at, Treatment.id)
    ).all()
    responses = session.scalars(
        select(Response)
        .join(Treatment, Response.treatment_id == Treatment.id)
        .where(*scope.criteria())
        .options(selectinload(Response.answers), selectinload(Response.treatment))
        .order_by(Response.answered_at, Response.id)
    ).all()
    patients = list({treatment.patient_id: treatment.patient for treatment in treatments}.values())
    counts = {"patients": len(patients), "treatments": len(treatments), "responses": len(responses)}
    audit_export(session, clinician=clinician, action="export.fhir", scope=scope, now=now, **counts)
    entries = _entries(FhirNames(base_url), patients, treatments, responses)
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": utc_text(now),
        "entry": entries,
    }


def _entries(
    names: FhirNames,
    patients: Sequence[Patient],
    treatments: Sequence[Treatment],
    responses: Sequence[Response],
    *,
    with_notes: bool = False,
) -> list[Resource]:
    """The bundle's entries, each with a ``urn:uuid`` fullUrl its references can resolve;
    ``with_notes``: the clinicians' notes on treatments too (the patient's own copy)."""
    ids = {t.clinician_id for t in treatments} | {r.entered_by_id for r in responses}
    people = sorted(i for i in ids if i is not None)
    rows = [
        *((f"Patient/{p.id}", _patient(p, names)) for p in patients),
        *((f"Practitioner/{i}", _practitioner(i, names)) for i in people),
        *((f"Procedure/{t.id}", _procedure(t, names, with_note=with_notes)) for t in treatments),
        *((f"QuestionnaireResponse/{r.id}", _response(r, names)) for r in responses),
    ]
    return [
        *({"fullUrl": names.urn(q["url"]), "resource": q} for q in questionnaires(names)),
        *({"fullUrl": names.urn(names.url(path)), "resource": resource} for path, resource in rows),
    ]


def questionnaires(names: FhirNames) -> list[Resource]:
    """One Questionnaire per default protocol's baseline and per check-in time point."""
    result = []
    for protocol in default_protocols().values():
        baseline = [*protocol.baseline_items, *protocol.baseline_optional_items]
        result.append(
            _questionnaire(protocol, "baseline", "Before the first needle", baseline, names)
        )
        result += [
            _questionnaire(protocol, point.slot, point.label, _asked_at(protocol, point), names)
            for point in protocol.timepoints
        ]
    return result


def _asked_at(protocol: Protocol, point: TimePoint) -> list[str]:
    """Every item a check-in may ask: its own, the optional ones, those moved in when an
    earlier time point is skipped (acupuncture's evening hands rf_faint to 24 h)."""
    moved_in = [
        code
        for other in protocol.timepoints
        for code, target in other.on_skip_move_items.items()
        if target == point.slot
    ]
    return list(dict.fromkeys([*point.items, *point.optional_items, *moved_in]))


def _questionnaire(
    protocol: Protocol, slot: str, label: str, codes: list[str], names: FhirNames
) -> Resource:
    bank = item_bank()
    return {
        "resourceType": "Questionnaire",
        "url": names.questionnaire(protocol.modality, slot),
        "version": QUESTIONNAIRE_VERSION,
        "title": f"{protocol.label}: {label}",
        "status": "active",
        "subjectType": ["Patient"],
        "item": [_question(bank[code], names, is_baseline=slot == "baseline") for code in codes],
    }


def _question(item: Item, names: FhirNames, *, is_baseline: bool) -> Resource:
    """One item as a Questionnaire item: linkId = item code, LOINC only where §1 verified one."""
    text = item.baseline_text if is_baseline and item.baseline_text else item.text
    codes = [{"system": LOINC, "code": item.loinc}] if item.loinc else []
    question: Resource = {
        "linkId": item.code,
        # the generic wording where the phone fills in the patient's own activity
        "text": item.fallback_text or text,
        "code": [*codes, {"system": names.url(ITEM_SYSTEM), "code": item.code}],
        "type": FHIR_TYPES[item.kind],
    }
    if item.kind == "scale":
        question |= _slider(item)
    if item.kind == "choice":
        question["answerOption"] = [
            {"valueCoding": _option(item, option.code, names)} for option in item.options
        ]
    if item.kind == "text":
        assert item.max_length is not None  # noqa: S101 - the loader ensures free text has one
        question["type"] = "string" if item.max_length <= STRING_MAX_LENGTH else "text"
        question["maxLength"] = item.max_length
    if condition := item.enable_when:  # only yes/no conditions exist (wb_elsewhere = true)
        when = {
            "question": condition["item"],
            "operator": "=",
            "answerBoolean": condition["equals"],
        }
        question["enableWhen"] = [when]
    return question


def _slider(item: Item) -> Resource:
    """A 0 to 10 scale: integer bounds, a slider with step 1, the anchor words as display items."""
    control = {"system": "http://hl7.org/fhir/questionnaire-item-control", "code": "slider"}
    return {
        "extension": [
            {"url": f"{FHIR_EXT}/minValue", "valueInteger": item.min},
            {"url": f"{FHIR_EXT}/maxValue", "valueInteger": item.max},
            {
                "url": f"{FHIR_EXT}/questionnaire-itemControl",
                "valueCodeableConcept": {"coding": [control]},
            },
            {"url": f"{FHIR_EXT}/questionnaire-sliderStepValue", "valueInteger": 1},
        ],
        "item": [
            {"linkId": f"{item.code}.{end}", "type": "display", "text": f"{end} = {label}"}
            for end, label in ((item.min, item.min_label), (item.max, item.max_label))
        ],
    }


def _option(item: Item, code: str, names: FhirNames) -> Resource:
    """A choice's answer as a Coding in the item's own local CodeSystem."""
    label = next(option.label for option in item.options if option.code == code)
    return {"system": names.url(f"CodeSystem/needling-{item.code}"), "code": code, "display": label}


def _patient(patient: Patient, names: FhirNames) -> Resource:
    """Only the clinic's code for the patient: no name, no contact details."""
    system = names.url(f"clinics/{patient.clinic_id}/patient-codes")
    return {"resourceType": "Patient", "identifier": [{"system": system, "value": patient.code}]}


def _practitioner(clinician_id: int, names: FhirNames) -> Resource:
    """Only the clinician's id in this system: no name, no e-mail."""
    identifier = {"system": names.url("clinicians"), "value": str(clinician_id)}
    return {"resourceType": "Practitioner", "identifier": [identifier]}


def _procedure(treatment: Treatment, names: FhirNames, *, with_note: bool = False) -> Resource:
    """The needling session; T0 (the last needle out) is ``performedPeriod.end``; each region
    and the points as written are a body site, with the side needled; the dose recorded is an
    extension each; ``with_note``: the clinician's note too."""
    label = default_protocols()[treatment.modality].label
    modality = {"system": names.url(MODALITY_SYSTEM), "code": treatment.modality, "display": label}
    procedure: Resource = {
        "resourceType": "Procedure",
        "identifier": [{"system": names.url("treatments"), "value": str(treatment.id)}],
        "status": "completed",
        "code": {"coding": [modality]},
        "subject": names.reference("Patient", treatment.patient_id),
        "performedPeriod": {"end": utc_text(treatment.treated_at)},
    }
    if treatment.clinician_id is not None:
        procedure["performer"] = [
            {"actor": names.reference("Practitioner", treatment.clinician_id)}
        ]
    region_system = names.url("CodeSystem/needling-regions")
    sites: list[Resource] = [
        {"coding": [{"system": region_system, "code": code}]} for code in treatment.regions
    ]
    if treatment.points:  # the points as the clinician wrote them: a site in words only
        sites.append({"text": treatment.points})
    if treatment.side is not None:
        laterality = {
            "url": names.url(LATERALITY_EXTENSION),
            "valueCoding": LATERALITY[treatment.side],
        }
        sites = [{"extension": [laterality], **site} for site in sites]
    if sites:  # FHIR allows no empty lists
        procedure["bodySite"] = sites
    if dose := _dose(treatment, names):  # FHIR allows no empty lists
        procedure["extension"] = dose
    if with_note and treatment.note:
        procedure["note"] = [{"text": treatment.note}]
    return procedure


def _dose(treatment: Treatment, names: FhirNames) -> list[Resource]:
    """The dose recorded, as extensions: sites as an integer, retention and diameter as UCUM
    quantities (minutes, millimetres)."""
    dose: list[Resource] = []
    if treatment.needle_sites is not None:
        url = names.url(NEEDLE_SITES_EXTENSION)
        dose.append({"url": url, "valueInteger": treatment.needle_sites})
    for path, value, unit in (
        (RETENTION_EXTENSION, treatment.retention_minutes, "min"),
        (DIAMETER_EXTENSION, treatment.needle_diameter_mm, "mm"),
    ):
        if value is not None:
            quantity = {"value": value, "unit": unit, "system": UCUM, "code": unit}
            dose.append({"url": names.url(path), "valueQuantity": quantity})
    return dose


def _response(response: Response, names: FhirNames) -> Resource:
    """A stored submission. ``source`` is the patient, who gave the answers; ``author`` is who
    typed them in (the patient in the app, else the clinician); the channel is an extension."""
    treatment = response.treatment
    patient = names.reference("Patient", treatment.patient_id)
    author = patient
    if response.entered_by_id is not None:
        author = names.reference("Practitioner", response.entered_by_id)
    canonical = names.questionnaire(treatment.modality, response.slot)
    order = list(item_bank())
    answers = sorted(answers_of(response).items(), key=lambda pair: order.index(pair[0]))
    return {
        "resourceType": "QuestionnaireResponse",
        "extension": [{"url": names.url(SOURCE_EXTENSION), "valueCode": response.source}],
        "identifier": {"system": names.url("responses"), "value": str(response.id)},
        "questionnaire": f"{canonical}|{QUESTIONNAIRE_VERSION}",
        "partOf": [names.reference("Procedure", treatment.id)],
        "status": "completed",
        "subject": patient,
        "authored": utc_text(response.answered_at),
        "author": author,
        "source": patient,
        "item": [
            {"linkId": code, "answer": [_answer(item_bank()[code], value, names)]}
            for code, value in answers
            if value is not None
        ],
    }


def _answer(item: Item, value: Value, names: FhirNames) -> Resource:
    """One answer in the value[x] its item's type asks for."""
    if item.kind == "scale":
        return {"valueInteger": value}
    if item.kind == "boolean":
        return {"valueBoolean": value}
    if item.kind == "choice":
        return {"valueCoding": _option(item, str(value), names)}
    return {"valueString": value}


# --- one patient's record (their request for their data) ---------------------------------------


def export_patient_bundle(
    session: Session, *, clinician: Clinician, patient: Patient, base_url: str, now: datetime
) -> Resource:
    """Everything about one patient as a FHIR R4 ``collection`` Bundle (audited): the
    Questionnaires, the Patient with their name and contact details (it is their copy), the
    Procedures, QuestionnaireResponses, each red flag as a Flag and what was done about it as a
    Communication."""
    rows = patient_rows(session, patient=patient)
    treatments, responses, alerts = rows.treatments, rows.responses, rows.alerts
    names = FhirNames(base_url)
    entries = _entries(names, [patient], treatments, responses, with_notes=True)
    entries[len(questionnaires(names))]["resource"] = _patient_with_contacts(patient, names)
    known = {t.clinician_id for t in treatments} | {r.entered_by_id for r in responses}
    acknowledgers = {a.acknowledged_by_id for a in alerts if a.acknowledged_by_id is not None}
    for clinician_id in sorted(acknowledgers - known):
        entries.append(
            _entry(names, f"Practitioner/{clinician_id}", _practitioner(clinician_id, names))
        )
    for alert in alerts:
        entries.append(_entry(names, f"Flag/{alert.id}", _flag(alert, names)))
        if alert.acknowledged_at is not None:
            entries.append(
                _entry(
                    names,
                    f"Communication/{alert.id}",
                    _acknowledgement(alert, alert.acknowledged_at, names),
                )
            )
    record_event(
        session,
        clinic_id=patient.clinic_id,
        actor=f"clinician:{clinician.id}",
        action="patient.exported",
        target=f"patient:{patient.id}",
        at=now,
        details={"treatments": len(treatments), "responses": len(responses)},
    )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": utc_text(now),
        "entry": entries,
    }


def _entry(names: FhirNames, path: str, resource: Resource) -> Resource:
    return {"fullUrl": names.urn(names.url(path)), "resource": resource}


def _patient_with_contacts(patient: Patient, names: FhirNames) -> Resource:
    resource = _patient(patient, names)
    if patient.display_name:
        resource["name"] = [{"text": patient.display_name}]
    telecom = [
        {"system": system, "value": value, "use": "mobile" if system == "sms" else "home"}
        for system, value in (("email", patient.email), ("sms", patient.phone))
        if value
    ]
    if telecom:
        resource["telecom"] = telecom
    return resource


def _flag(alert: Alert, names: FhirNames) -> Resource:
    """A red flag: the rule's summary, active until acknowledged."""
    period = {"start": utc_text(alert.created_at)}
    if alert.acknowledged_at is not None:
        period["end"] = utc_text(alert.acknowledged_at)
    return {
        "resourceType": "Flag",
        "identifier": [{"system": names.url("alerts"), "value": str(alert.id)}],
        "status": "inactive" if alert.acknowledged_at else "active",
        "category": [{"text": f"{alert.severity.replace('_', '-')} red flag"}],
        "code": {
            "coding": [{"system": names.url("CodeSystem/red-flag-rules"), "code": alert.rule}],
            "text": alert.summary,
        },
        "subject": names.reference("Patient", alert.patient_id),
        "period": period,
    }


def _acknowledgement(alert: Alert, at: datetime, names: FhirNames) -> Resource:
    """What a clinician did about a red flag, and their note."""
    words = ACK_LABELS.get(alert.ack_action or "", "acknowledged")
    text = f"{words}: {alert.ack_note}" if alert.ack_note else words
    communication: Resource = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": names.reference("Patient", alert.patient_id),
        "about": [names.reference("Flag", alert.id)],
        "sent": utc_text(at),
        "payload": [{"contentString": text}],
    }
    if alert.acknowledged_by_id is not None:
        communication["sender"] = names.reference("Practitioner", alert.acknowledged_by_id)
    return communication
