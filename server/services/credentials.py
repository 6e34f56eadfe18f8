"""Passwords (argon2) and bearer tokens (random, stored as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # stateless: holds only the argon2 parameters
# verified against when the e-mail is unknown, so a wrong e-mail costs as long as a wrong password
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; constant work whether or not there is a hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A fresh random bearer token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the database keeps of a token: random tokens need a fast hash, not argon2."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    """A generated password for a new account, shown once."""
    return secrets.token_urlsafe(12)
