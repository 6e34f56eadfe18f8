"""The Web Push adapter: the endpoint policy, the message, and the sender. It holds no
database access; the delivery pipeline (``server.services.delivery``) decides what to send."""

from .messages import (
    MAX_PLAINTEXT,
    Notification,
    Post,
    PushResult,
    Target,
    public_key_b64,
    push_headers,
)
from .policy import EndpointPolicy, UnsafeEndpoint, endpoint_policy, is_public, public_addresses
from .sender import USER_AGENT, PushSender

__all__ = [
    "MAX_PLAINTEXT",
    "USER_AGENT",
    "EndpointPolicy",
    "Notification",
    "Post",
    "PushResult",
    "PushSender",
    "Target",
    "UnsafeEndpoint",
    "endpoint_policy",
    "is_public",
    "public_addresses",
    "public_key_b64",
    "push_headers",
]
