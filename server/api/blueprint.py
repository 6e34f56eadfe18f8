"""The API's blueprint: flask-smorest's, refusing query parameters its operation does not name.

webargs ignores unknown query parameters by default, while the OpenAPI document states each
operation's parameters and nothing else. A misspelt filter (``?stauts=all``) would silently
return the unfiltered list; here it is a 422 naming the parameter, as a misspelt JSON field is.
"""

from __future__ import annotations

import flask_smorest
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser


class StrictParser(FlaskParser):
    """webargs' Flask parser, with unknown query parameters an error rather than dropped."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": RAISE,
        "querystring": RAISE,
    }


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """A flask-smorest blueprint whose query arguments are exactly those documented."""

    ARGUMENTS_PARSER = StrictParser()
