"""Clinician pages: server-rendered Jinja views calling the same services as the API.

This module makes the blueprint and registers every view; each view lives with its area
(auth, today, patients, treatments, protocols). Templates are in ``templates/`` (the layout is
``base.html``), our CSS and JS in ``static/``, served with plotly.js by ``assets.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, request
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from server.extensions import csrf

from . import (
    account,
    alerting,
    audit,
    auth,
    compare,
    patients,
    protocols,
    settings,
    staff,
    today,
    treatments,
    two_factor,
)
from .assets import figure_json, load_page_assets, page_asset, serve_asset
from .formatting import FILTERS

bp = Blueprint("pages", __name__, template_folder="templates", url_prefix="/clinic")

# plotly.js injects <style> elements, hence 'unsafe-inline' for styles; scripts stay 'self' only
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# (rule, endpoint, view, methods): the whole map of the pages in one place
ROUTES: list[tuple[str, str, Callable[..., ResponseReturnValue], list[str]]] = [
    ("/login", "login_form", auth.login_form, ["GET"]),
    ("/login", "login", auth.login, ["POST"]),
    ("/logout", "logout", auth.logout, ["POST"]),
    ("/password/forgot", "forgot_form", staff.forgot_form, ["GET"]),
    ("/password/forgot", "forgot", staff.forgot, ["POST"]),
    ("/password/<token>", "set_password_form", staff.set_password_form, ["GET"]),
    ("/password/<token>", "set_password", staff.set_password, ["POST"]),
    ("/login/code", "login_code_form", two_factor.login_code_form, ["GET"]),
    ("/login/code", "login_code", two_factor.login_code, ["POST"]),
    ("/login/two-factor", "login_setup_form", two_factor.login_setup_form, ["GET"]),
    ("/login/two-factor", "login_setup", two_factor.login_setup, ["POST"]),
    ("/account", "account", account.account_page, ["GET"]),
    ("/account/password", "save_password", account.save_password, ["POST"]),
    ("/account/phone", "save_phone", account.save_phone, ["POST"]),
    ("/account/two-factor", "account_setup_form", account.account_setup_form, ["GET"]),
    ("/account/two-factor", "account_setup", account.account_setup, ["POST"]),
    ("/account/two-factor/off", "account_disable", account.account_disable, ["POST"]),
    (
        "/account/two-factor/recovery-codes",
        "account_new_codes",
        account.account_new_codes,
        ["POST"],
    ),
    ("/staff/two-factor", "set_clinic_requirement", two_factor.set_clinic_requirement, ["POST"]),
    (
        "/staff/<int:clinician_id>/two-factor-reset",
        "reset_member_two_factor",
        two_factor.reset_member,
        ["POST"],
    ),
    ("/settings", "settings", settings.settings_page, ["GET"]),
    ("/settings", "save_settings", settings.save_settings, ["POST"]),
    ("/audit", "audit", audit.audit_page, ["GET"]),
    ("/audit.csv", "audit_csv", audit.audit_download, ["GET"]),
    ("/staff", "staff", staff.staff_page, ["GET"]),
    ("/staff", "invite_clinician", staff.invite_clinician, ["POST"]),
    ("/staff/<int:clinician_id>/role", "change_staff_role", staff.change_staff_role, ["POST"]),
    (
        "/staff/<int:clinician_id>/deactivate",
        "deactivate_clinician",
        staff.deactivate_clinician,
        ["POST"],
    ),
    (
        "/staff/<int:clinician_id>/reactivate",
        "reactivate_clinician",
        staff.reactivate_clinician,
        ["POST"],
    ),
    ("/staff/<int:clinician_id>/reset-link", "make_reset_link", staff.make_reset_link, ["POST"]),
    ("/", "today", today.today, ["GET"]),
    ("/today/alerts", "today_alerts", today.today_alerts, ["GET"]),
    ("/alerts/<int:alert_id>/ack", "acknowledge_alert", today.acknowledge_alert, ["POST"]),
    ("/patients", "patients", patients.patient_list, ["GET"]),
    ("/patients/new", "enrol_form", patients.enrol_form, ["GET"]),
    ("/patients/new", "enrol", patients.enrol, ["POST"]),
    ("/patients/<int:patient_id>", "patient", patients.patient_page, ["GET"]),
    ("/patients/<int:patient_id>/details", "save_details", patients.save_details, ["POST"]),
    ("/patients/<int:patient_id>/messages", "save_messages", patients.save_messages, ["POST"]),
    (
        "/patients/<int:patient_id>/discharge",
        "discharge_patient",
        patients.discharge_patient,
        ["POST"],
    ),
    ("/patients/<int:patient_id>/readmit", "readmit_patient", patients.readmit_patient, ["POST"]),
    ("/patients/<int:patient_id>/summary", "summary", patients.summary, ["GET"]),
    ("/patients/<int:patient_id>/record.fhir.json", "record_fhir", patients.record_fhir, ["GET"]),
    ("/patients/<int:patient_id>/erase", "erase_form", patients.erase_form, ["GET"]),
    ("/patients/<int:patient_id>/erase", "erase", patients.erase, ["POST"]),
    (
        "/patients/<int:patient_id>/devices/revoke",
        "revoke_devices",
        patients.revoke_devices,
        ["POST"],
    ),
    (
        "/patients/<int:patient_id>/enrolment",
        "new_enrolment_link",
        patients.new_enrolment_link,
        ["POST"],
    ),
    (
        "/patients/<int:patient_id>/treatments/new",
        "treatment_form",
        treatments.treatment_form,
        ["GET"],
    ),
    ("/patients/<int:patient_id>/treatments/new", "record_treatment", treatments.record, ["POST"]),
    (
        "/treatments/<int:treatment_id>/recovery.csv",
        "recovery_csv",
        patients.recovery_csv,
        ["GET"],
    ),
    ("/treatments/<int:treatment_id>/diary", "diary_form", treatments.diary_form, ["GET"]),
    ("/treatments/<int:treatment_id>/diary", "enter_diary", treatments.enter_diary, ["POST"]),
    ("/checkins/<int:checkin_id>/answers", "answers_form", treatments.answers_form, ["GET"]),
    ("/checkins/<int:checkin_id>/answers", "enter_answers", treatments.enter_answers, ["POST"]),
    ("/compare", "compare", compare.compare, ["GET"]),
    ("/compare/<analytic>.csv", "compare_csv", compare.compare_csv, ["GET"]),
    ("/alert-routing", "alert_routing", alerting.alert_routing, ["GET"]),
    ("/alert-routing", "save_alert_routing", alerting.save_routing, ["POST"]),
    ("/alert-routing/contacts", "add_alert_contact", alerting.add_alert_contact, ["POST"]),
    (
        "/alert-routing/contacts/<int:contact_id>/remove",
        "remove_alert_contact",
        alerting.remove_alert_contact,
        ["POST"],
    ),
    ("/protocols", "protocols", protocols.protocols_page, ["GET"]),
    ("/protocols/<modality>", "override_protocol", protocols.override, ["POST"]),
    ("/protocols/<modality>/reset", "reset_protocol", protocols.reset, ["POST"]),
    ("/static/<digest>/<path:name>", "asset", serve_asset, ["GET"]),
]
for rule, endpoint, view, methods in ROUTES:
    bp.add_url_rule(rule, endpoint, view, methods=methods)


@bp.before_request
def _check_csrf() -> None:
    # every form of the pages posts a CSRF token; the API (bearer tokens) is not cookie-borne
    csrf.protect()


@bp.before_request
def _load_clinician() -> None:
    # static files are public and cached by anyone: reading the cookie would add Vary: Cookie
    if request.endpoint != "pages.asset":
        auth.load_clinician()


@bp.record_once
def _load_assets(state: BlueprintSetupState) -> None:
    state.app.extensions["page_assets"] = load_page_assets()


@bp.after_app_request
def _page_headers(response: Response) -> Response:
    """Every HTML answer under /clinic (error pages too) gets a strict CSP (the app's edge adds
    no-store and nosniff)."""
    if not request.path.startswith("/clinic"):
        return response
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["Referrer-Policy"] = "same-origin"
    return response


# app-wide, not only for this blueprint's requests: error pages of unknown /clinic paths use them
bp.add_app_template_global(page_asset)
bp.add_app_template_filter(figure_json)
for name, template_filter in FILTERS.items():
    bp.add_app_template_filter(template_filter, name)
