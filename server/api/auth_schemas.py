"""Schemas of the token endpoints."""

import marshmallow as ma

from server.inputs import InputSchema
from server.services.access import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS

from .fields import StrictInteger


class TokenCreateSchema(InputSchema):
    """Credentials of a clinician, and what to call the new token and how long it lives."""

    email = ma.fields.String(required=True, validate=ma.validate.Length(1, 254))
    password = ma.fields.String(required=True, validate=ma.validate.Length(1, 1024), load_only=True)
    code = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(1, 32),
        load_only=True,
        metadata={
            "description": "for an account with two-factor sign-in: the code its authenticator "
            "app shows now, or one of its recovery codes"
        },
    )
    name = ma.fields.String(
        load_default="",
        validate=ma.validate.Length(max=100),
        metadata={"description": "to tell your tokens apart, such as 'nightly export'"},
    )
    days = StrictInteger(
        load_default=DEFAULT_TOKEN_DAYS,
        validate=ma.validate.Range(1, MAX_TOKEN_DAYS),
        metadata={"description": f"days until it expires (default {DEFAULT_TOKEN_DAYS})"},
    )


class TokenSchema(ma.Schema):
    """A new bearer token, shown once."""

    token = ma.fields.String(dump_only=True)


class ApiTokenSchema(ma.Schema):
    """One of the caller's tokens (never the token itself: only its hash is kept)."""

    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    last_used_at = ma.fields.AwareDateTime(dump_only=True, allow_none=True)
    expires_at = ma.fields.AwareDateTime(
        dump_only=True, allow_none=True, metadata={"description": "null: never expires"}
    )
