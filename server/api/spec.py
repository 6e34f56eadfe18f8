"""What the OpenAPI document needs beyond what flask-smorest writes from the schemas."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from apispec.ext.marshmallow.common import resolve_schema_cls


class SchemaKeywordsPlugin(BasePlugin):
    """JSON Schema keywords a schema states in ``Meta.openapi`` (such as ``minProperties``),
    rules of the whole object that no field can carry."""

    def schema_helper(self, name: str, definition: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """The keywords of the schema's ``Meta.openapi``, added to its definition."""
        schema = kwargs.get("schema")
        if schema is None:
            return {}
        schema_cls = resolve_schema_cls(schema)
        if isinstance(schema_cls, list):  # a schema registered from a list of them: none here
            return {}
        return dict(getattr(getattr(schema_cls, "Meta", None), "openapi", {}))


# text a database can store (server.inputs refuses the rest): no NUL. (Half a surrogate pair is
# refused too, but is no character at all: JSON Schema's patterns, matching characters, cannot
# name it, and generators that honour the pattern never send it.)
STORABLE_TEXT = "^[^\\x00]*$"


def storable_text_pattern(
    converter: Any, field: ma.fields.Field[Any], ret: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """The pattern of storable text, on every free-text field that has no stricter rule."""
    if not isinstance(field, ma.fields.String) or {"pattern", "enum"} & ret.keys():
        return {}
    if ret.get("format") in ("uuid", "date", "date-time"):
        return {}
    return {"pattern": STORABLE_TEXT}
