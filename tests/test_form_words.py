"""Form errors say what to do, in the clinic's words, not marshmallow's."""

from __future__ import annotations

import marshmallow as ma
import pytest

from server.pages.form_words import in_clinic_words
from server.pages.forms import FormSchema, form_errors


class Example(FormSchema):
    count = ma.fields.Integer(required=True, validate=ma.validate.Range(min=0, max=10))
    score = ma.fields.Float(validate=ma.validate.Range(min=1))
    note = ma.fields.String(validate=ma.validate.Length(max=20))
    email = ma.fields.Email()
    when = ma.fields.DateTime()
    day = ma.fields.Date()
    kind = ma.fields.String(validate=ma.validate.OneOf(["a", "b"]))


@pytest.mark.parametrize(
    ("posted", "field", "says"),
    [
        ({}, "count", "Fill this in."),
        ({"count": "many"}, "count", "Enter a whole number, like 5."),
        ({"count": "11"}, "count", "Enter a number from 0 to 10."),
        ({"count": "1", "score": "x"}, "score", "Enter a number, like 5."),
        ({"count": "1", "score": "0"}, "score", "Enter 1 or more."),
        ({"count": "1", "note": "x" * 21}, "note", "Shorten this to 20 characters or fewer."),
        (
            {"count": "1", "email": "nobody"},
            "email",
            "Enter an e-mail address, like name@example.com.",
        ),
        ({"count": "1", "when": "soon"}, "when", "Enter a date and a time."),
        ({"count": "1", "day": "soon"}, "day", "Enter a date."),
        ({"count": "1", "kind": "c"}, "kind", "Choose one of the options offered."),
    ],
)
def test_marshmallows_reasons_become_instructions(
    posted: dict[str, str], field: str, says: str
) -> None:
    with pytest.raises(ma.ValidationError) as refused:
        Example().load(posted)

    assert form_errors(refused.value)[field] == [says]


def test_our_own_reasons_pass_unchanged() -> None:
    assert in_clinic_words("give both times, or neither") == "give both times, or neither"
    assert in_clinic_words("Not a valid integer. Really") == "Not a valid integer. Really"


def test_a_services_reason_naming_a_field_by_its_api_name_names_the_pages_label() -> None:
    assert in_clinic_words("must not be before date_from") == (
        "Choose a day on or after “Treated from”."
    )
