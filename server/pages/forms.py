"""Marshmallow schemas of the pages' forms: the strings a browser posts in, typed values out.

A form's errors are ``{field: [reason, ...]}`` with the same dotted names the services use
(``baseline.pain``, ``timepoints.2.window_h``), so a template shows each reason by its field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import time
from typing import Any, ClassVar

import marshmallow as ma
from werkzeug.datastructures import MultiDict

from server.api.patient_schemas import CODE
from server.errors import DomainError, flatten_errors
from server.inputs import ID, LOCAL_MOMENT, InputSchema
from server.models.patients import CHANNELS
from server.models.responses import ACK_ACTIONS
from server.models.treatments import (
    MAX_NOTE,
    MAX_POINTS,
    MODALITIES,
    NEEDLE_DIAMETER_MM_RANGE,
    NEEDLE_SITES_RANGE,
    RETENTION_MINUTES_RANGE,
    SIDES,
)
from server.pages.form_words import in_clinic_words
from server.protocols import Item
from server.services.answers import ENTRY_SOURCES
from server.services.clinics import WEEKDAYS
from server.services.staff import ASSIGNABLE_ROLES, MAX_PASSWORD

FormErrors = dict[str, list[str]]


class FormSchema(InputSchema):
    """A posted form: blank fields count as left out, text is trimmed, and unknown fields (the
    CSRF token, the submit button) are ignored."""

    class Meta:
        unknown = ma.EXCLUDE

    # a password may start or end with a space; never trim it
    untrimmed: ClassVar[tuple[str, ...]] = ()

    @ma.pre_load
    def drop_blanks(self, data: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        """Trim text and leave out what is blank, so ``load_default`` applies."""
        kept: dict[str, Any] = {}
        for name, value in data.items():
            if isinstance(value, str) and name not in self.untrimmed:
                value = value.strip()
            if value not in ("", None):
                kept[name] = value
        return kept


def load_form(
    schema: ma.Schema, form: MultiDict[str, str], *, lists: Iterable[str] = ()
) -> dict[str, Any]:
    """The form's fields through the schema (``lists``: fields posted once per value, like
    checkboxes); raises ``marshmallow.ValidationError``."""
    fields: dict[str, Any] = {name: form.get(name) for name in form if name not in lists}
    for name in lists:
        fields[name] = [value for value in form.getlist(name) if value.strip()]
    loaded: dict[str, Any] = schema.load(fields)
    return loaded


def form_errors(error: ma.ValidationError | DomainError) -> FormErrors:
    """The reasons of a failed form or service call, by field (``_form``: the form as a whole),
    each as an instruction in the clinic's words."""
    if isinstance(error, ma.ValidationError):
        reasons = flatten_errors(error.messages)
    else:
        reasons = error.errors or {"_form": [error.message]}
    return {field: [in_clinic_words(reason) for reason in said] for field, said in reasons.items()}


class LoginForm(FormSchema):
    """E-mail and password; ``next`` is where to go afterwards (checked before use)."""

    untrimmed = ("password",)

    email = ma.fields.String(required=True, validate=ma.validate.Length(max=254))
    password = ma.fields.String(required=True, validate=ma.validate.Length(max=1024))
    next = ma.fields.String(load_default=None)


class NextForm(FormSchema):
    """A button that comes back to the page it was pressed on."""

    next = ma.fields.String(load_default=None)


class AcknowledgeForm(NextForm):
    """What was done about a red flag, and a note."""

    action = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(ACK_ACTIONS, error="choose what was done"),
        error_messages={"required": "choose what was done"},
    )
    note = ma.fields.String(load_default=None, validate=ma.validate.Length(max=1000))


class PatientSearchArgs(FormSchema):
    """The patients list: part of a code, and which page."""

    q = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100_000))


class PageArgs(FormSchema):
    """Which page of a long list."""

    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100_000))


class PatientPageArgs(PageArgs):
    """Which page of a patient's treatments, and an older treatment whose chart to draw."""

    chart = ma.fields.Integer(load_default=None, validate=ID)


class EnrolForm(FormSchema):
    """A new patient: the clinic's code for them, time zone, and optional name, e-mail, mobile
    and consent to texts (given on this form: its source is the enrolment)."""

    code = ma.fields.String(required=True, validate=CODE)
    display_name = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))
    timezone = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    country = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2))
    email = ma.fields.Email(load_default=None, validate=ma.validate.Length(max=254))
    phone = ma.fields.String(load_default=None, validate=ma.validate.Length(max=32))
    sms_consent = ma.fields.Boolean(load_default=False, truthy={"yes"}, falsy=set())

    @ma.post_load
    def consent_source(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """A ticked box is consent given on the enrolment form."""
        return {**data, "sms_consent": "enrolment" if data["sms_consent"] else None}


class InviteForm(FormSchema):
    """A clinician to invite: their e-mail, name and role."""

    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))
    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    role = ma.fields.String(load_default="clinician", validate=ma.validate.OneOf(ASSIGNABLE_ROLES))


class RoleForm(FormSchema):
    """A clinician's new role."""

    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ASSIGNABLE_ROLES))


class PasswordChangeForm(FormSchema):
    """One's own new password, with the current one (passwords are never trimmed)."""

    untrimmed = ("old_password", "new_password")

    old_password = ma.fields.String(required=True, validate=ma.validate.Length(max=MAX_PASSWORD))
    new_password = ma.fields.String(required=True, validate=ma.validate.Length(max=MAX_PASSWORD))


class NewPasswordForm(FormSchema):
    """A password set through a one-time link."""

    untrimmed = ("password",)

    password = ma.fields.String(required=True, validate=ma.validate.Length(max=MAX_PASSWORD))


class ResetForm(FormSchema):
    """The address of an account whose password is forgotten."""

    email = ma.fields.String(required=True, validate=ma.validate.Length(1, 254))


class SettingsForm(FormSchema):
    """The clinic's settings as the page posts them: blank means none (or closed)."""

    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))
    timezone = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    phone = ma.fields.String(load_default=None, validate=ma.validate.Length(max=40))
    emergency_number = ma.fields.String(load_default=None, validate=ma.validate.Length(max=20))
    quiet_start = ma.fields.Time(load_default=None)
    quiet_end = ma.fields.Time(load_default=None)
    retention_years = ma.fields.Integer(load_default=None)
    require_two_factor = ma.fields.Boolean(load_default=False, truthy={"yes"}, falsy=set())
    opening_hours = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.OneOf(WEEKDAYS)),
        values=ma.fields.Tuple((ma.fields.Time(), ma.fields.Time())),
        load_default=dict,
    )

    @ma.pre_load
    def days(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Each weekday's opens/closes pair into one field; a day with only one is a mistake."""
        hours: dict[str, list[str]] = {}
        missing: dict[str, list[str]] = {}
        for day in WEEKDAYS:
            opens, closes = data.pop(f"{day}.opens", None), data.pop(f"{day}.closes", None)
            if opens and closes:
                hours[day] = [opens, closes]
            elif opens or closes:
                missing[f"opening_hours.{day}"] = ["give both times, or neither for closed"]
        if missing:
            raise ma.ValidationError(missing)
        return {**data, "opening_hours": hours}

    @ma.post_load
    def as_changes(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """The clinic's changes as the service takes them."""
        quiet = _quiet_hours(data, "default_quiet_hours")
        hours = {day: [tuple(pair)] for day, pair in data.pop("opening_hours").items()}
        return {**data, "default_quiet_hours": quiet, "opening_hours": hours or None}


def _quiet_hours(data: dict[str, Any], field: str) -> dict[str, time] | None:
    """The form's two quiet-hour times (taken out of ``data``) as the services take them."""
    start, end = data.pop("quiet_start"), data.pop("quiet_end")
    if (start is None) != (end is None):
        raise ma.ValidationError({field: ["give both times, or neither for no quiet hours"]})
    return {"start": start, "end": end} if start else None


class AuditArgs(FormSchema):
    """The audit page's filters: who, whose record (by code), what, between which days."""

    clinician_id = ma.fields.Integer(load_default=None, validate=ID)
    patient = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    action = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    since = ma.fields.Date(load_default=None)
    until = ma.fields.Date(load_default=None)
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100_000))


class DetailsForm(FormSchema):
    """A patient's details as the page posts them: a blank name, e-mail or country is none."""

    display_name = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))
    timezone = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    country = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2))
    email = ma.fields.Email(load_default=None, validate=ma.validate.Length(max=254))
    quiet_start = ma.fields.Time(load_default=None)
    quiet_end = ma.fields.Time(load_default=None)

    @ma.post_load
    def as_changes(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """The patient's changes as the service takes them."""
        quiet = _quiet_hours(data, "quiet_hours")
        return {**data, "quiet_hours": quiet}


class MessagesForm(FormSchema):
    """How a patient is reached: their mobile, their consent to texts, the channels' order."""

    phone = ma.fields.String(load_default=None, validate=ma.validate.Length(max=32))
    # keep: as recorded; phone or paper: consent given now; withdrawn: no consent
    sms_consent = ma.fields.String(
        load_default="keep",
        validate=ma.validate.OneOf(("keep", "phone", "paper", "withdrawn")),
    )
    channel_order = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(CHANNELS)), load_default=list
    )

    @ma.post_load
    def as_changes(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """The patient's changes as the service takes them."""
        changes = {"phone": data["phone"], "channel_order": data["channel_order"]}
        if data["sms_consent"] != "keep":
            consent = data["sms_consent"]
            changes["sms_consent"] = None if consent == "withdrawn" else consent
        return changes


class TreatmentForm(FormSchema):
    """A needling session: modality, when it ended (the patient's local time), where (regions,
    side, the points as written), the dose (sites, retention, diameter), and a clinical note."""

    modality = ma.fields.String(required=True, validate=ma.validate.OneOf(MODALITIES))
    treated_at = ma.fields.NaiveDateTime(required=True, validate=LOCAL_MOMENT)
    regions = ma.fields.List(ma.fields.String(validate=ma.validate.Length(1, 64)))
    # blank: derived from the regions (a thoracic region brings the pneumothorax screen)
    thoracic_region = ma.fields.Boolean(
        load_default=None, truthy={"yes"}, falsy={"no"}, allow_none=True
    )
    side = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(SIDES, error="choose left, right, both, or not recorded"),
    )
    points = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(
            max=MAX_POINTS, error="write the points in at most {max} characters"
        ),
    )
    note = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=MAX_NOTE, error="keep the note to {max} characters"),
    )
    # the dose, each blank for "not recorded"; marshmallow's reasons read in the clinic's words
    needle_sites = ma.fields.Integer(
        load_default=None, validate=ma.validate.Range(*NEEDLE_SITES_RANGE)
    )
    retention_minutes = ma.fields.Float(
        load_default=None, validate=ma.validate.Range(*RETENTION_MINUTES_RANGE)
    )
    needle_diameter_mm = ma.fields.Float(
        load_default=None, validate=ma.validate.Range(*NEEDLE_DIAMETER_MM_RANGE)
    )


class EntryForm(FormSchema):
    """Answers a clinician collected by phone, on paper or in clinic: how, when, a note.

    ``client_id`` comes with the form, so pressing Save twice stores the answers once.
    """

    client_id = ma.fields.UUID(required=True)
    source = ma.fields.String(required=True, validate=ma.validate.OneOf(ENTRY_SOURCES))
    answered_at = ma.fields.NaiveDateTime(required=True, validate=LOCAL_MOMENT)
    note = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))


class DiaryForm(FormSchema):
    """What a paper diary's entries share: how they were collected, and a note."""

    source = ma.fields.String(required=True, validate=ma.validate.OneOf(ENTRY_SOURCES))
    note = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))


class DiaryRowForm(FormSchema):
    """One check-in of a paper diary: when the patient wrote the answers (their clock)."""

    client_id = ma.fields.UUID(required=True)
    answered_at = ma.fields.NaiveDateTime(required=True, validate=LOCAL_MOMENT)


def load_diary(form: MultiDict[str, str], rows: Mapping[str, list[Item]]) -> dict[str, Any]:
    """The diary's rows that have answers, by row key: ``client_id``, ``answered_at`` (naive,
    the patient's clock) and ``answers``; a row left blank is skipped. A row's inputs are
    named ``<key>.client_id``, ``<key>.answered_at`` and ``<key>.answers-<code>``, and its
    errors ``<key>.<field>``."""
    errors: FormErrors = {}
    loaded: dict[str, Any] = {}
    for key, items in rows.items():
        try:
            answers = load_answers(items, form, prefix=f"{key}.answers")
        except ma.ValidationError as error:
            errors |= form_errors(error)
            continue
        if not answers:
            continue
        own = {name: form.get(f"{key}.{name}", "") for name in ("client_id", "answered_at")}
        try:
            loaded[key] = {**load_form(DiaryRowForm(), MultiDict(own)), "answers": answers}
        except ma.ValidationError as error:
            errors |= {f"{key}.{name}": reasons for name, reasons in form_errors(error).items()}
    if errors:
        raise ma.ValidationError(errors)
    return loaded


def _answer_field(item: Item) -> ma.fields.Field[Any]:
    if item.kind == "scale":
        return ma.fields.Integer()
    if item.kind == "boolean":
        return ma.fields.Boolean(truthy={"yes"}, falsy={"no"})
    return ma.fields.String()


def load_answers(
    items: Iterable[Item], form: MultiDict[str, str], *, prefix: str
) -> dict[str, Any]:
    """The answered items of a form whose inputs are named ``<prefix>-<code>``, by item code;
    the service checks each value against its scale. Errors are named ``<prefix>.<code>``."""
    codes = {item.code: item for item in items}
    schema = FormSchema.from_dict({code: _answer_field(item) for code, item in codes.items()})()
    raw = {code: form.get(f"{prefix}-{code}", "") for code in codes}
    try:
        loaded: dict[str, Any] = schema.load(raw)
    except ma.ValidationError as error:
        raise ma.ValidationError({prefix: error.messages}) from None
    return loaded


class TimePointForm(FormSchema):
    """One row of a protocol's time points as an admin edits it (the service checks the rules)."""

    slot = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    offset_h = ma.fields.Float(required=True)
    window_h = ma.fields.Float(load_default=None)
    reminder_after_h = ma.fields.Float(load_default=None)
    items = ma.fields.String(required=True)
    optional_items = ma.fields.String(load_default="")
    enabled = ma.fields.Boolean(load_default=False, truthy={"on"})
    latest_open_local = ma.fields.String(load_default=None)
    expires_local = ma.fields.String(load_default=None)
    on_skip_move_items = ma.fields.String(load_default="")

    @ma.post_load
    def to_timepoint(self, row: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Item lists from 'soreness, pain'; moves from 'rf_faint: 24h'."""
        row["items"] = _codes(row["items"])
        row["optional_items"] = _codes(row["optional_items"])
        moves = [part.split(":", 1) for part in _codes(row["on_skip_move_items"])]
        if any(len(move) != 2 for move in moves):
            raise ma.ValidationError("write each move as item: slot", "on_skip_move_items")
        row["on_skip_move_items"] = {code.strip(): slot.strip() for code, slot in moves}
        return row


def _codes(text: str) -> list[str]:
    return [part.strip() for part in text.replace(",", " ").split() if part.strip()]


TIMEPOINT_FIELDS = tuple(TimePointForm().fields)


def timepoint_rows(form: MultiDict[str, str]) -> tuple[list[dict[str, str]], list[int]]:
    """The posted time-point rows (inputs ``timepoints-<row>-<field>``), less those marked for
    removal or left blank; and each kept row's number on the form, to put errors back."""
    numbers = sorted(
        {int(name.split("-")[1]) for name in form if re.fullmatch(r"timepoints-\d{1,3}-\w+", name)}
    )
    rows, kept = [], []
    for number in numbers:
        row = {field: form.get(f"timepoints-{number}-{field}", "") for field in TIMEPOINT_FIELDS}
        if form.get(f"timepoints-{number}-remove") or not any(
            row[field].strip() for field in ("slot", "label", "offset_h", "items")
        ):
            continue
        rows.append(row)
        kept.append(number)
    return rows, kept


def renumber_errors(errors: FormErrors, kept: list[int]) -> FormErrors:
    """``timepoints.<i>.field`` of the i-th kept row as ``timepoints.<row on the form>.field``."""
    renumbered: FormErrors = {}
    for key, reasons in errors.items():
        parts = key.split(".")
        if len(parts) > 2 and parts[0] == "timepoints" and parts[1].isdigit():
            parts[1] = str(kept[int(parts[1])])
        renumbered[".".join(parts)] = reasons
    return renumbered
