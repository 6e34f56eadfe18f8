"""Clinician pages: server-rendered Jinja views calling the same services as the API."""

from __future__ import annotations

from flask import Blueprint

from server.extensions import csrf

bp = Blueprint("pages", __name__, template_folder="templates", url_prefix="/clinic")


@bp.before_request
def _check_csrf() -> None:
    # every form of the pages posts a CSRF token; the API (bearer tokens) is not cookie-borne
    csrf.protect()
