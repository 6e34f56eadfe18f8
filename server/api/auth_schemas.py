"""Schemas of the token endpoint."""

import marshmallow as ma

from server.inputs import InputSchema


class TokenCreateSchema(InputSchema):
    """Credentials of a clinician."""

    email = ma.fields.String(required=True, validate=ma.validate.Length(1, 254))
    password = ma.fields.String(required=True, validate=ma.validate.Length(1, 1024), load_only=True)


class TokenSchema(InputSchema):
    """A new bearer token, shown once."""

    token = ma.fields.String(dump_only=True)
