"""Schemas of the exports: the filters both formats share."""

from typing import Any

import marshmallow as ma

from server.inputs import InputSchema
from server.models.treatments import MODALITIES

from .fields import Day


class ExportQueryArgsSchema(InputSchema):
    """Which treatments to export: by the UTC day of T0 (inclusive), and by modality."""

    date_from = Day(
        metadata={"description": "first UTC day of treated_at, inclusive (YYYY-MM-DD)"},
    )
    date_to = Day(metadata={"description": "last UTC day of treated_at, inclusive (YYYY-MM-DD)"})
    modality = ma.fields.String(validate=ma.validate.OneOf(MODALITIES))

    @ma.validates_schema
    def check_range(self, data: dict[str, Any], **_: Any) -> None:
        """The range may not end before it starts."""
        if "date_from" in data and "date_to" in data and data["date_to"] < data["date_from"]:
            raise ma.ValidationError("date_to is before date_from", "date_to")
