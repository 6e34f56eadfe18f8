"""The pages' CSRF tokens, masked afresh in every response so compression cannot leak them.

Flask-WTF signs one token per session, the same in every page for up to its time limit. A
compressed page that repeats a secret beside text an attacker chose gives the secret away, a
byte at a time, through the compressed sizes (BREACH). So every time a template asks for the
token (``{{ csrf_token() }}``) it gets ``mask + (mask XOR token)``, base64, with a new random
mask: the same token, never the same bytes twice. When a form comes back, ``_get_csrf_token``
unmasks what it sent, and Flask-WTF checks the signature and the session as before.
"""

from __future__ import annotations

import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode

from flask import Flask
from flask_wtf.csrf import CSRFProtect, generate_csrf


class MaskedCSRFProtect(CSRFProtect):  # type: ignore[misc]  # flask-wtf ships no types
    """Flask-WTF's CSRF protection, with the token masked per use in pages."""

    def init_app(self, app: Flask) -> None:
        """Install the protection, with the masked token as the templates' ``csrf_token()``."""
        super().init_app(app)
        # both places Flask-WTF puts its own (a context processor registered later wins);
        # its csrf_meta_tag() writes the token unmasked, which would leak it and fail: unused
        app.jinja_env.globals["csrf_token"] = masked_csrf_token
        app.context_processor(lambda: {"csrf_token": masked_csrf_token})

    def _get_csrf_token(self) -> str | None:
        # Flask-WTF's one place that reads the sent token (a form field or a header): a value
        # that is not a masked token is refused as if missing
        sent: str | None = super()._get_csrf_token()
        return unmask_token(sent) if sent else None


def masked_csrf_token() -> str:
    """The session's CSRF token for a form, under a fresh mask."""
    return mask_token(generate_csrf())


def mask_token(token: str) -> str:
    """``token`` XORed with a random mask of its length, the mask first, in URL-safe base64."""
    raw = token.encode("ascii")
    mask = secrets.token_bytes(len(raw))
    hidden = bytes(a ^ b for a, b in zip(mask, raw, strict=True))
    return urlsafe_b64encode(mask + hidden).decode("ascii")


def unmask_token(masked: str) -> str | None:
    """The token ``mask_token`` masked, or None when ``masked`` is not such a value."""
    try:
        both = urlsafe_b64decode(masked.encode("ascii"))
    except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
        return None
    half = len(both) // 2
    if not both or len(both) % 2:
        return None
    raw = bytes(a ^ b for a, b in zip(both[:half], both[half:], strict=True))
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return None
