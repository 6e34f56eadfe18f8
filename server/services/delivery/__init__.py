"""Getting each check-in in front of the patient: claims, channels, the ledger, the pipeline.

Delivery is at least once: a claimed check-in is written to its ledger as "queued" before it
goes out, and its notification's tag (the check-in) and the answer's client_id make a repeat
harmless. Each channel (``channels``) is one module; the worker calls ``Pipeline.run`` once
per purpose.
"""

from .channels import Channel, Sending
from .channels.email import EmailChannel, email_text
from .channels.sms import SmsChannel, sms_text
from .channels.webpush import WebPushChannel
from .claims import claim, release
from .ledger import acknowledge, ledger
from .outbound import CHANNELS, FALLBACK, NO_CHANNEL, PROMPT, REMINDER, Attempt, Outbound, outbound
from .pipeline import Pipeline, Settings
from .steps import RetryPolicy, record

__all__ = [
    "CHANNELS",
    "FALLBACK",
    "NO_CHANNEL",
    "PROMPT",
    "REMINDER",
    "Attempt",
    "Channel",
    "EmailChannel",
    "Outbound",
    "Pipeline",
    "RetryPolicy",
    "Sending",
    "Settings",
    "SmsChannel",
    "WebPushChannel",
    "acknowledge",
    "claim",
    "email_text",
    "ledger",
    "outbound",
    "record",
    "release",
    "sms_text",
]
