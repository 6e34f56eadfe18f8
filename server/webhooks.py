"""Webhooks the SMS provider calls: texts patients send to the clinic's number.

Twilio posts each inbound text form-encoded to the URL set on the number, signed with the
account's auth token (``X-Twilio-Signature``); a request whose signature does not match is
refused (403) before anything is read. The answer is TwiML: empty for a keyword, which the
provider answers itself, else a text saying that replies are not read and whom to call.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from server.errors import Forbidden, InvalidInput
from server.extensions import db
from server.models import utcnow
from server.services.contacts import check_phone
from server.services.text_replies import receive_text

bp = Blueprint("webhooks", __name__)
SIGNATURE = "X-Twilio-Signature"


@bp.post("/sms/inbound")
def inbound_text() -> Response:
    """A text to the clinic's number: STOP, START, HELP or anything else."""
    _check_signature()
    sender = check_phone(request.form.get("From", ""), country=None, field="From")
    if sender is None:
        raise InvalidInput("the sender's number is missing", field="From")
    reply = receive_text(
        db.session(),
        sender=sender,
        body=request.form.get("Body", ""),
        opt_type=request.form.get("OptOutType"),
        now=utcnow(),
    )
    twiml = MessagingResponse()
    if reply.answer:
        twiml.message(reply.answer)
    return Response(str(twiml), mimetype="text/xml")


def _check_signature() -> None:
    """The request is the provider's: signed with our auth token over the URL it was sent to
    (as configured, PUBLIC_BASE_URL, since a proxy may change what this server sees)."""
    config = current_app.config
    token = config["SMS_AUTH_TOKEN"]
    if not token:
        raise Forbidden("texts are not set up on this server (SMS_AUTH_TOKEN)", field=SIGNATURE)
    url = config["PUBLIC_BASE_URL"] + request.full_path.rstrip("?")
    signature = request.headers.get(SIGNATURE, "")
    if not signature or not RequestValidator(token).validate(url, request.form, signature):
        raise Forbidden("the request is not signed by the SMS provider", field=SIGNATURE)
