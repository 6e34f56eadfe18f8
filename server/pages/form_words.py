"""The reasons a form is refused, said as what to do, in the clinic's words.

Marshmallow's default messages are written for programmers ("Missing data for required
field.", "Not a valid integer."). The pages show each reason beside its field, so they are
rewritten here into an instruction, as are the few services' reasons that name another field
by its API name. The API keeps the original wording: its callers are programs, and its
messages are part of its contract. Our other messages (the services', the forms'
``error_messages``) are already instructions and pass through unchanged.
"""

from __future__ import annotations

import re

NUMBER = r"(-?\d+(?:\.\d+)?)"

# marshmallow's message (a whole-message pattern) -> what the clinician should do
PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(f"^{pattern}$"), words)
    for pattern, words in (
        (r"Missing data for required field\.", "Fill this in."),
        (r"Field may not be null\.", "Fill this in."),
        (r"Not a valid integer\.", "Enter a whole number, like 5."),
        (r"Not a valid number\.", "Enter a number, like 5."),
        (r"Special numeric values \(nan or infinity\) are not permitted\.", "Enter a number."),
        (r"Not a valid datetime\.", "Enter a date and a time."),
        (r"Not a valid date\.", "Enter a date."),
        (r"Not a valid time\.", "Enter a time, like 08:30."),
        (r"Not a valid email address\.", "Enter an e-mail address, like name@example.com."),
        (r"Not a valid boolean\.", "Choose yes or no."),
        (r"Not a valid (?:string|list)\.", "Choose or enter a value from the form."),
        (r"Must be one of: .*\.", "Choose one of the options offered."),
        (
            rf"Must be greater than or equal to {NUMBER} and less than or equal to {NUMBER}\.",
            r"Enter a number from \1 to \2.",
        ),
        (rf"Must be greater than or equal to {NUMBER}\.", r"Enter \1 or more."),
        (rf"Must be greater than {NUMBER}\.", r"Enter more than \1."),
        (rf"Must be less than or equal to {NUMBER}\.", r"Enter \1 or less."),
        (r"Longer than maximum length (\d+)\.", r"Shorten this to \1 characters or fewer."),
        (r"Shorter than minimum length (\d+)\.", r"Use at least \1 characters."),
        (r"Length must be between (\d+) and (\d+)\.", r"Use \1 to \2 characters."),
        (r"Invalid value\.", "Check this value."),
        # the services' reasons that name another field by its API name
        (r"must not be before date_from", "Choose a day on or after “Treated from”."),
    )
)


def in_clinic_words(reason: str) -> str:
    """``reason`` as an instruction when it is one of marshmallow's messages, else as it is."""
    for pattern, words in PHRASES:
        if pattern.match(reason):
            return pattern.sub(words, reason)
    return reason
