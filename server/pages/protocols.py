"""The clinic's protocols: every clinician reads them; admins change or reset the time points."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

import marshmallow as ma
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from server.errors import DomainError, Forbidden, NotFound
from server.extensions import db
from server.models import Clinician, utcnow
from server.models.treatments import MODALITIES
from server.protocols import dump_timepoints, item_bank
from server.services.protocols import clinic_protocols, override_timepoints, reset_protocol

from .auth import current_clinician, login_required
from .formatting import hours, modality_label
from .forms import FormErrors, TimePointForm, form_errors, renumber_errors, timepoint_rows

# empty rows under each protocol's time points, for adding new ones
BLANK_ROWS = 2


def _admin() -> Clinician:
    """The clinician, if they may change protocols (as the API's PUT /protocols/<modality>)."""
    clinician = current_clinician()
    if not clinician.is_admin:
        raise Forbidden("only a clinic admin can change protocols")
    return clinician


def _form_row(number: int, point: dict[str, Any]) -> dict[str, Any]:
    """A time point as the strings its form row shows (the same as an admin would type)."""
    moves = point["on_skip_move_items"].items()
    return {
        "row": number,
        "slot": point["slot"],
        "label": point["label"],
        "offset_h": hours(point["offset_h"]),
        "window_h": hours(point["window_h"]),
        "reminder_after_h": hours(point["reminder_after_h"]),
        "items": ", ".join(point["items"]),
        "optional_items": ", ".join(point["optional_items"]),
        "enabled": "on" if point["enabled"] else "",
        "latest_open_local": point["latest_open_local"] or "",
        "expires_local": point["expires_local"] or "",
        "on_skip_move_items": ", ".join(f"{code}: {slot}" for code, slot in moves),
    }


def _protocols_page(
    *,
    edited: str | None = None,
    errors: FormErrors | None = None,
    rows: list[dict[str, Any]] | None = None,
) -> tuple[str, int]:
    """Every modality's protocol; the one just edited keeps the admin's rows and its errors."""
    clinician = current_clinician()
    protocols = []
    for protocol, overridden in clinic_protocols(db.session(), clinic_id=clinician.clinic_id):
        is_edited = protocol.modality == edited
        protocols.append(
            {
                "protocol": protocol,
                "overridden": overridden,
                "rows": rows
                if is_edited and rows is not None
                else [
                    _form_row(number, point)
                    for number, point in enumerate(dump_timepoints(protocol.timepoints))
                ],
                "errors": (errors or {}) if is_edited else {},
            }
        )
    page = render_template(
        "protocols.html",
        protocols=protocols,
        items=item_bank(),
        can_edit=clinician.is_admin,
        blank_rows=BLANK_ROWS,
    )
    return page, 422 if errors else 200


@login_required
def protocols_page() -> ResponseReturnValue:
    """The time points and questions in force for each modality."""
    return _protocols_page()


def _load_rows(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The rows as time points; reasons named ``timepoints.<i>.<field>`` like the service's."""
    try:
        loaded: list[dict[str, Any]] = TimePointForm(many=True).load(rows)
    except ma.ValidationError as error:
        raise ma.ValidationError({"timepoints": error.messages}) from None
    return loaded


@login_required
def override(modality: str) -> ResponseReturnValue:
    """Set the clinic's time points for a modality; treatments recorded afterwards use them."""
    clinician, session = _admin(), db.session()
    if modality not in MODALITIES:
        abort(404)
    rows, kept = timepoint_rows(request.form)
    try:
        timepoints = _load_rows(rows)
        override_timepoints(
            session, clinician=clinician, modality=modality, timepoints=timepoints, now=utcnow()
        )
    except (ma.ValidationError, DomainError) as error:
        session.rollback()
        errors = renumber_errors(form_errors(error), kept)
        shown = [row | {"row": number} for row, number in zip(rows, kept, strict=True)]
        return _protocols_page(edited=modality, errors=errors, rows=shown)
    flash(f"{modality_label(modality)}: the clinic's time points are saved.", "success")
    return redirect(url_for("pages.protocols", _anchor=modality))


@login_required
def reset(modality: str) -> ResponseReturnValue:
    """Go back to the default time points for a modality."""
    clinician = _admin()
    if modality not in MODALITIES:
        abort(404)
    with suppress(NotFound):  # pressed twice: it is already the default
        reset_protocol(db.session(), clinician=clinician, modality=modality, now=utcnow())
    flash(f"{modality_label(modality)}: back to the default time points.", "success")
    return redirect(url_for("pages.protocols", _anchor=modality))
