"""Settings, read from HANDOVER_* environment variables when the app is created (never at import)."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any


class ConfigError(RuntimeError):
    """The configuration cannot run; the message says what to set."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"HANDOVER_{name}")
    return value if value not in (None, "") else default


class Config:
    """Defaults shared by every environment."""

    ENV_NAME = "base"
    TESTING = False
    DEBUG = False
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    RATELIMIT_STORAGE_URI = "memory://"
    #: Rows per page on every long list.
    PER_PAGE = 25
    #: Days after which an account counts as not reviewed.
    REVIEW_INTERVAL_DAYS = 365
    #: Master keys as ``id:base64key`` entries, primary first (HANDOVER_MASTER_KEYS); never SECRET_KEY.
    MASTER_KEYS: str | None = None
    #: Where the keys are read from when MASTER_KEYS is not set (development default: instance/master_keys).
    MASTER_KEY_FILE: str | None = None
    #: Days a rotated-out credential value is kept (encrypted, read-only) so a failed change can be undone.
    CREDENTIAL_RETENTION_DAYS = 30
    #: Whether an admin may load the demo organisation into an empty registry from the first-run page.
    DEMO_ALLOWED = True
    #: A reveal needs a sign-in (or password confirmation) at most this many seconds old.
    REVEAL_FRESH_AUTH_SECONDS = 300
    #: SMTP server for email (reminders); empty disables email (each unsent message is logged).
    SMTP_HOST = ""
    SMTP_PORT = 25
    SMTP_USERNAME: str | None = None
    #: Never logged nor shown; set it through HANDOVER_SMTP_PASSWORD only.
    SMTP_PASSWORD: str | None = None
    #: Upgrade the connection with STARTTLS before signing in (HANDOVER_SMTP_STARTTLS=1).
    SMTP_STARTTLS = False
    SMTP_FROM = "handover@localhost"
    #: Days after an offboarding case closes that `flask handover tick` erases the departed
    #: person's personal email and phone (DESIGN.md "Privacy").
    ERASE_PERSONAL_AFTER_DAYS = 90
    #: The address people open Handover at (e.g. https://handover.example.org), for links in emails.
    BASE_URL = ""

    @classmethod
    def load(cls) -> dict[str, Any]:
        """Collect this class's settings, then the environment's overrides."""
        values = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        if secret := _env("SECRET_KEY"):
            values["SECRET_KEY"] = secret
        if url := _env("DATABASE_URL"):
            values["SQLALCHEMY_DATABASE_URI"] = url
        if per_page := _env("PER_PAGE"):
            values["PER_PAGE"] = int(per_page)
        if _env("SESSION_COOKIE_SECURE") in ("1", "true", "yes"):
            values["SESSION_COOKIE_SECURE"] = True
            values["REMEMBER_COOKIE_SECURE"] = True
        if storage := _env("RATELIMIT_STORAGE_URI"):
            values["RATELIMIT_STORAGE_URI"] = storage
        if keys := _env("MASTER_KEYS"):
            values["MASTER_KEYS"] = keys
        if key_file := _env("MASTER_KEY_FILE"):
            values["MASTER_KEY_FILE"] = key_file
        if retention := _env("CREDENTIAL_RETENTION_DAYS"):
            values["CREDENTIAL_RETENTION_DAYS"] = int(retention)
        if smtp_host := _env("SMTP_HOST"):
            values["SMTP_HOST"] = smtp_host
        if smtp_port := _env("SMTP_PORT"):
            values["SMTP_PORT"] = int(smtp_port)
        if smtp_username := _env("SMTP_USERNAME"):
            values["SMTP_USERNAME"] = smtp_username
        if smtp_password := _env("SMTP_PASSWORD"):
            values["SMTP_PASSWORD"] = smtp_password
        if (starttls := _env("SMTP_STARTTLS")) is not None:
            values["SMTP_STARTTLS"] = starttls.lower() in ("1", "true", "yes", "on")
        if smtp_from := _env("SMTP_FROM"):
            values["SMTP_FROM"] = smtp_from
        if erase_after := _env("ERASE_PERSONAL_AFTER_DAYS"):
            values["ERASE_PERSONAL_AFTER_DAYS"] = int(erase_after)
        if base_url := _env("BASE_URL"):
            values["BASE_URL"] = base_url.rstrip("/")
        return values

    @classmethod
    def check(cls, values: dict[str, Any]) -> None:
        """Refuse settings this environment cannot run with."""


class DevelopmentConfig(Config):
    """The embedded default: SQLite in the instance folder, a secret key kept beside it."""

    ENV_NAME = "development"


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-only-secret-key-not-for-production-use"  # noqa: S105  (ProductionConfig refuses it)
    #: A fixed key for tests only; ProductionConfig refuses it.
    MASTER_KEYS = "test-key-1:dGVzdGluZy1vbmx5LW1hc3Rlci1rZXktMzItYnl0ZXM"
    RATELIMIT_ENABLED = False


class ProductionConfig(Config):
    ENV_NAME = "production"
    #: The demo creates sign-ins with a published password: never in production.
    DEMO_ALLOWED = False
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True

    @classmethod
    def check(cls, values: dict[str, Any]) -> None:
        secret = values.get("SECRET_KEY") or ""
        if len(secret) < 32 or secret == TestingConfig.SECRET_KEY:
            # The testing key is in the repository: anyone could sign session cookies with it.
            raise ConfigError(
                "HANDOVER_SECRET_KEY must be set to a random value of at least 32 characters, not the "
                "testing key (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        if not values.get("SQLALCHEMY_DATABASE_URI"):
            raise ConfigError(
                "HANDOVER_DATABASE_URL must be set, e.g. postgresql+psycopg://handover@db/handover "
                "or sqlite:////var/lib/handover/handover.sqlite3."
            )
        if not values.get("MASTER_KEYS") and not values.get("MASTER_KEY_FILE"):
            raise ConfigError(
                "HANDOVER_MASTER_KEYS must be set to the master key(s) that encrypt credential notes "
                "(create one with `flask keys generate`), or HANDOVER_MASTER_KEY_FILE to a mode-0600 file holding them. "
                "Keep them outside the database and apart from HANDOVER_SECRET_KEY."
            )
        if values.get("MASTER_KEYS") == TestingConfig.MASTER_KEYS:
            raise ConfigError(
                "HANDOVER_MASTER_KEYS is the testing key from the repository; generate a real one with `flask keys generate`."
            )


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(name: str | None = None) -> type[Config]:
    name = name or _env("ENV", "development") or "development"
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f"HANDOVER_ENV must be one of {', '.join(CONFIGS)}, not {name!r}.") from None
