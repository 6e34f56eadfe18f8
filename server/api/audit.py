"""The clinic's audit log (clinic admins): who did what to which record, when and from where."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from server.extensions import db
from server.inputs import ID, InputSchema
from server.services.audit_log import AuditQuery, AuditRow, search_audit

from .auth import clinician_required, current_clinician
from .blueprint import Blueprint
from .fields import Day
from .pagination import PAGINATION_HEADER, PageArgsSchema, offset_of, pagination_header

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="The audit log")


class AuditArgsSchema(PageArgsSchema):
    """What to look for; each left out: any. Days are the clinic's local days, both included
    (a range that ends before it starts finds nothing)."""

    clinician_id = ma.fields.Integer(validate=ID, metadata={"description": "who did it"})
    patient_id = ma.fields.Integer(validate=ID, metadata={"description": "whose record"})
    action = ma.fields.String(
        validate=ma.validate.Length(1, 64), metadata={"example": "patient.viewed"}
    )
    since = Day()
    until = Day()


class AuditEntrySchema(InputSchema):
    """One entry: never answers or notes."""

    id = ma.fields.Integer(dump_only=True)
    at = ma.fields.AwareDateTime(dump_only=True)
    actor = ma.fields.String(dump_only=True, metadata={"example": "clinician:12"})
    who = ma.fields.String(dump_only=True, metadata={"description": "the actor in words"})
    action = ma.fields.String(dump_only=True)
    what = ma.fields.String(dump_only=True, metadata={"description": "the action in words"})
    target = ma.fields.String(dump_only=True, allow_none=True)
    record = ma.fields.String(dump_only=True, metadata={"description": "the record in words"})
    patient_id = ma.fields.Integer(dump_only=True, allow_none=True)
    address = ma.fields.String(dump_only=True, allow_none=True)
    details = ma.fields.Dict(dump_only=True)


@blp.route("")
class AuditLog(MethodView):
    """The clinic's audit log."""

    decorators = [clinician_required]

    @blp.arguments(AuditArgsSchema, location="query")
    @blp.response(200, AuditEntrySchema(many=True), headers=PAGINATION_HEADER)
    def get(self, args: dict[str, Any]) -> tuple[list[AuditRow], dict[str, str]]:
        """Search the audit log, newest first, a page at a time (clinic admins)."""
        query = AuditQuery(
            clinician_id=args.get("clinician_id"),
            patient_id=args.get("patient_id"),
            action=args.get("action"),
            since=args.get("since"),
            until=args.get("until"),
        )
        rows, total = search_audit(
            db.session(),
            viewer=current_clinician(),
            query=query,
            offset=offset_of(args),
            limit=args["page_size"],
        )
        return rows, pagination_header(args, total)
