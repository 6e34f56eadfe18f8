"""Schemas of the clinicians resource (a clinic's staff) and of one's own password."""

from typing import Any, ClassVar

import marshmallow as ma

from server.inputs import InputSchema
from server.services.staff import ASSIGNABLE_ROLES, MAX_PASSWORD, is_invited

from .fields import StrictBoolean


class ClinicianSchema(InputSchema):
    """A clinician of the clinic as its admins see them."""

    id = ma.fields.Integer(dump_only=True)
    email = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    role = ma.fields.String(dump_only=True)
    is_active = StrictBoolean(dump_only=True)
    invited = ma.fields.Function(
        is_invited,
        dump_only=True,
        metadata={"description": "invited and not yet signed up (no password set)"},
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)


class OneTimeLinkSchema(ma.Schema):
    """A one-time link that sets a password, shown once (when it could not be e-mailed)."""

    url = ma.fields.String()
    expires_at = ma.fields.AwareDateTime()


class IssuedLinkSchema(ma.Schema):
    """A clinician and the one-time link just made for them."""

    clinician = ma.fields.Nested(ClinicianSchema)
    mailed = ma.fields.Boolean(metadata={"description": "the link was e-mailed to them"})
    link = ma.fields.Nested(
        OneTimeLinkSchema,
        allow_none=True,
        metadata={"description": "null when e-mailed; else shown this once, to hand over"},
    )
    why_not_mailed = ma.fields.String(allow_none=True)


class InvitationSchema(InputSchema):
    """A clinician to invite by e-mail."""

    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))
    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    role = ma.fields.String(load_default="clinician", validate=ma.validate.OneOf(ASSIGNABLE_ROLES))


class ClinicianUpdateSchema(InputSchema):
    """A clinician's role, or whether they may sign in."""

    class Meta:
        openapi: ClassVar = {"minProperties": 1}  # read by server.api.spec

    role = ma.fields.String(validate=ma.validate.OneOf(ASSIGNABLE_ROLES))
    is_active = StrictBoolean(
        metadata={"description": "false ends their sessions and API tokens at once"}
    )

    @ma.validates_schema
    def not_empty(self, data: dict[str, Any], **_: Any) -> None:
        """An empty change is a client mistake worth telling."""
        if not data:
            raise ma.ValidationError("give role or is_active", "_schema")


class PasswordChangeSchema(InputSchema):
    """One's own new password, with the current one."""

    old_password = ma.fields.String(required=True, validate=ma.validate.Length(max=MAX_PASSWORD))
    new_password = ma.fields.String(
        required=True,
        validate=ma.validate.Length(max=MAX_PASSWORD),
        metadata={"description": "at least 10 characters, not among the commonest passwords"},
    )


class ResetRequestSchema(InputSchema):
    """The address of an account whose password is forgotten."""

    email = ma.fields.String(required=True, validate=ma.validate.Length(1, 254))


class ResetAnswerSchema(ma.Schema):
    """The same answer whatever the address."""

    message = ma.fields.String()
