"""Configuration: one frozen dataclass, read from the environment in one place."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# FCM (Chrome, Edge, Android), Mozilla autopush, Apple (Safari), Windows (WNS)
DEFAULT_PUSH_HOSTS = (
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    ".push.apple.com",
    ".notify.windows.com",
)
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = REPO_ROOT / "instance"


def _secret_from_file(path: Path) -> str:
    """Read a secret kept in instance/, generating it on first run (never committed)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must not overwrite each other's secret
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def _vapid_key_from_file(path: Path) -> str:
    """The VAPID private key (PEM, P-256) kept in instance/, generated on first run."""
    if path.exists():
        return path.read_text()
    pem = new_vapid_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text()
    with os.fdopen(fd, "w") as handle:
        handle.write(pem)
    return pem


def new_vapid_key() -> str:
    """A fresh VAPID private key (P-256) in PEM."""
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def _bool(value: str) -> bool:
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Config:
    """Settings of one app instance. Upper-case fields become ``app.config`` keys."""

    SECRET_KEY: str
    SQLALCHEMY_DATABASE_URI: str
    INSTANCE_PATH: str = str(DEFAULT_INSTANCE)
    ENV_NAME: str = "development"
    TESTING: bool = False
    PUBLIC_BASE_URL: str = "http://127.0.0.1:5000"
    ENROLMENT_TTL_HOURS: int = 72
    # 64 KB: a check-in answer is a few hundred bytes; anything larger is a mistake or an attack
    MAX_CONTENT_LENGTH: int = 64 * 1024
    # a pooled connection is pinged before each use: after the database restarted (or a
    # proxy dropped it), the first request gets a new connection instead of a 503
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = field(
        default_factory=lambda: {"pool_pre_ping": True}
    )
    # SQLite: how long a write waits for another writer before the request answers 503
    SQLITE_BUSY_MS: int = 5000
    # PostgreSQL: how long opening a connection may take (libpq's connect_timeout, 2 at least).
    # Unset, libpq waits on a server that accepts and never answers for minutes, holding the
    # web worker, and /readyz would hang the load balancer's probe instead of answering 503
    DATABASE_CONNECT_TIMEOUT_S: int = 5
    API_TITLE: str = "Needling recovery API"
    API_VERSION: str = "v1"
    OPENAPI_VERSION: str = "3.1.0"
    OPENAPI_URL_PREFIX: str = "/api/v1"
    OPENAPI_JSON_PATH: str = "openapi.json"
    EXPIRE_INTERVAL_S: int = 60
    # an answer given inside its window on an offline phone still counts when it arrives up to
    # this long after the window closed. A week covers a phone off the network over a long
    # weekend or a trip, and the 7 d check-in ends the protocols; any later, a red flag in it
    # would reach the clinic too late to act on and the treatment's figures would keep moving
    OFFLINE_ANSWER_GRACE_HOURS: int = 7 * 24
    # Web Push
    VAPID_PRIVATE_KEY: str = ""
    VAPID_SUBJECT: str = "mailto:push-admin@example.org"
    PUSH_ALLOW_LOCAL: bool = False
    PUSH_ALLOWED_HOSTS: tuple[str, ...] = DEFAULT_PUSH_HOSTS
    PUSH_POOL_SIZE: int = 256
    PUSH_TIMEOUT_S: float = 10.0
    # the worker
    DISPATCH_INTERVAL_S: int = 10
    # how often the worker looks for red-flag notices due to clinicians: an urgent alert waits
    # at most this long (plus the send) before its first notice goes out
    ALERT_INTERVAL_S: float = 2.0
    DISPATCH_BATCH: int = 1000
    # how often the worker refits the adjusted comparisons whose answers changed (seconds): a
    # new filter on Compare, or new answers, show their adjusted figures within this long
    ADJUSTED_INTERVAL_S: int = 300
    CLAIM_LEASE_S: int = 120
    RETRY_MAX_ATTEMPTS: int = 5
    RETRY_BASE_S: float = 30.0
    EMAIL_FALLBACK_DELAY_S: int = 900
    # e-mail fallback
    SMTP_HOST: str = ""
    SMTP_PORT: int = 25
    SMTP_FROM: str = "Needling check-ins <no-reply@example.org>"
    SMTP_USER: str = ""
    SMTP_PASSWORD: str = ""
    SMTP_STARTTLS: bool = False
    # texts through Twilio's Messages API (or one speaking it at SMS_API_BASE); off without an
    # account. SMS_FROM: the sending number in E.164, or a Messaging Service SID (MG…)
    SMS_ACCOUNT_SID: str = ""
    SMS_AUTH_TOKEN: str = ""
    SMS_FROM: str = ""
    SMS_API_BASE: str = "https://api.twilio.com"
    # clinician pages: session cookie, CSRF (checked by the pages blueprint only; the API uses
    # bearer tokens, not cookies) and the login rate limit: failed sign-ins are counted in the
    # database (all processes share it) unless RATELIMIT_STORAGE_URI names a shared store
    # (redis://…), where Flask-Limiter counts them; memory:// (the default) means the database
    SESSION_COOKIE_SAMESITE: str = "Lax"
    SESSION_COOKIE_SECURE: bool = False
    WTF_CSRF_CHECK_DEFAULT: bool = False
    RATELIMIT_STORAGE_URI: str = "memory://"
    RATELIMIT_HEADERS_ENABLED: bool = True
    LOGIN_RATE_LIMIT: str = "10 per minute;50 per hour"
    # how many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host; 0: none,
    # the headers are ignored (a client could forge them to dodge the login limit). Behind one
    # proxy (nginx, a load balancer) set 1, or every clinician shares the proxy's allowance
    PROXY_HOPS: int = 0
    # analytics: a cell with fewer patients than this is suppressed (figures hidden, not 0)
    SUPPRESS_BELOW_PATIENTS: int = 5
    # bench/load.py's floor for any write (server/bench_floor.py); never in production
    BENCH_ENDPOINTS: bool = False

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Config:
        """Build the configuration from environment variables (the only reader of os.environ)."""
        env = dict(os.environ if environ is None else environ)
        instance = Path(env.get("INSTANCE_PATH", str(DEFAULT_INSTANCE)))
        env_name = env.get("APP_ENV", "development")
        secret = env.get("SECRET_KEY") or _secret_from_file(instance / "secret_key")
        if env_name == "production" and secret in {"dev", "changethis", "secret"}:
            raise ValueError("SECRET_KEY is a well-known placeholder; set a real secret")
        bench_endpoints = _bool(env.get("BENCH_ENDPOINTS", "0"))
        if env_name == "production" and bench_endpoints:
            raise ValueError("BENCH_ENDPOINTS adds a bench's write endpoint; never in production")
        database_url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'app.db'}"
        vapid = env.get("VAPID_PRIVATE_KEY") or _vapid_key_from_file(instance / "vapid_private.pem")
        hosts = env.get("PUSH_ALLOWED_HOSTS")
        return cls(
            SECRET_KEY=secret,
            VAPID_PRIVATE_KEY=vapid,
            VAPID_SUBJECT=env.get("VAPID_SUBJECT", cls.VAPID_SUBJECT),
            PUSH_ALLOW_LOCAL=_bool(env.get("PUSH_ALLOW_LOCAL", "0")),
            PUSH_ALLOWED_HOSTS=tuple(hosts.split(",")) if hosts else DEFAULT_PUSH_HOSTS,
            PUSH_POOL_SIZE=int(env.get("PUSH_POOL_SIZE", cls.PUSH_POOL_SIZE)),
            PUSH_TIMEOUT_S=float(env.get("PUSH_TIMEOUT_S", cls.PUSH_TIMEOUT_S)),
            DISPATCH_INTERVAL_S=int(env.get("DISPATCH_INTERVAL_S", cls.DISPATCH_INTERVAL_S)),
            ALERT_INTERVAL_S=float(env.get("ALERT_INTERVAL_S", cls.ALERT_INTERVAL_S)),
            DISPATCH_BATCH=int(env.get("DISPATCH_BATCH", cls.DISPATCH_BATCH)),
            CLAIM_LEASE_S=int(env.get("CLAIM_LEASE_S", cls.CLAIM_LEASE_S)),
            RETRY_MAX_ATTEMPTS=int(env.get("RETRY_MAX_ATTEMPTS", cls.RETRY_MAX_ATTEMPTS)),
            RETRY_BASE_S=float(env.get("RETRY_BASE_S", cls.RETRY_BASE_S)),
            EMAIL_FALLBACK_DELAY_S=int(
                env.get("EMAIL_FALLBACK_DELAY_S", cls.EMAIL_FALLBACK_DELAY_S)
            ),
            SMTP_HOST=env.get("SMTP_HOST", ""),
            SMTP_PORT=int(env.get("SMTP_PORT", cls.SMTP_PORT)),
            SMTP_FROM=env.get("SMTP_FROM", cls.SMTP_FROM),
            SMTP_USER=env.get("SMTP_USER", ""),
            SMTP_PASSWORD=env.get("SMTP_PASSWORD", ""),
            SMTP_STARTTLS=_bool(env.get("SMTP_STARTTLS", "0")),
            SMS_ACCOUNT_SID=env.get("SMS_ACCOUNT_SID", ""),
            SMS_AUTH_TOKEN=env.get("SMS_AUTH_TOKEN", ""),
            SMS_FROM=env.get("SMS_FROM", ""),
            SMS_API_BASE=env.get("SMS_API_BASE", cls.SMS_API_BASE).rstrip("/"),
            SESSION_COOKIE_SECURE=env_name == "production",
            RATELIMIT_STORAGE_URI=env.get("RATELIMIT_STORAGE_URI", cls.RATELIMIT_STORAGE_URI),
            LOGIN_RATE_LIMIT=env.get("LOGIN_RATE_LIMIT", cls.LOGIN_RATE_LIMIT),
            PROXY_HOPS=int(env.get("PROXY_HOPS", cls.PROXY_HOPS)),
            SUPPRESS_BELOW_PATIENTS=int(
                env.get("SUPPRESS_BELOW_PATIENTS", cls.SUPPRESS_BELOW_PATIENTS)
            ),
            SQLALCHEMY_DATABASE_URI=_normalise_database_url(database_url),
            DATABASE_CONNECT_TIMEOUT_S=int(
                env.get("DATABASE_CONNECT_TIMEOUT_S", cls.DATABASE_CONNECT_TIMEOUT_S)
            ),
            SQLITE_BUSY_MS=int(env.get("SQLITE_BUSY_MS", cls.SQLITE_BUSY_MS)),
            INSTANCE_PATH=str(instance),
            ENV_NAME=env_name,
            PUBLIC_BASE_URL=env.get("PUBLIC_BASE_URL", cls.PUBLIC_BASE_URL).rstrip("/"),
            ENROLMENT_TTL_HOURS=int(env.get("ENROLMENT_TTL_HOURS", cls.ENROLMENT_TTL_HOURS)),
            EXPIRE_INTERVAL_S=int(env.get("EXPIRE_INTERVAL_S", cls.EXPIRE_INTERVAL_S)),
            ADJUSTED_INTERVAL_S=int(env.get("ADJUSTED_INTERVAL_S", cls.ADJUSTED_INTERVAL_S)),
            OFFLINE_ANSWER_GRACE_HOURS=int(
                env.get("OFFLINE_ANSWER_GRACE_HOURS", cls.OFFLINE_ANSWER_GRACE_HOURS)
            ),
            TESTING=_bool(env.get("TESTING", "0")),
            BENCH_ENDPOINTS=bench_endpoints,
        )

    @classmethod
    def for_tests(cls, database_url: str, instance_path: str | Path) -> Config:
        """Configuration for the test suite: a given database, no environment read."""
        return cls(
            SECRET_KEY="test-secret-key-not-for-production",  # noqa: S106 - tests only
            SQLALCHEMY_DATABASE_URI=_normalise_database_url(database_url),
            INSTANCE_PATH=str(instance_path),
            ENV_NAME="test",
            TESTING=True,
            PUBLIC_BASE_URL="http://testserver",
            VAPID_PRIVATE_KEY=new_vapid_key(),
            VAPID_SUBJECT="mailto:tests@example.org",
        )

    def with_overrides(self, **changes: Any) -> Config:
        """Return a copy with some fields changed (tests and the CLI use it)."""
        return replace(self, **changes)


def _normalise_database_url(url: str) -> str:
    """Point plain postgres URLs at psycopg 3, the driver this project installs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
