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
    #: Rate-limit responses say when to come back (Retry-After).
    RATELIMIT_HEADERS_ENABLED = True
    #: Calls each API token may make (Flask-Limiter notation), counted per token.
    API_RATE_LIMIT = "600 per minute"
    #: Rows per page on every long list.
    PER_PAGE = 25
    #: Days after which an account counts as not reviewed.
    REVIEW_INTERVAL_DAYS = 365
    #: Master keys as ``id:base64key`` entries, primary first (HANDOVER_MASTER_KEYS); never SECRET_KEY.
    MASTER_KEYS: str | None = None
    #: Where the keys are read from when MASTER_KEYS is not set (development default: instance/master_keys).
    MASTER_KEY_FILE: str | None = None
    #: Backup keys (HANDOVER_BACKUP_KEY, ``id:base64key``, newest first) or a file holding them
    #: (HANDOVER_BACKUP_KEY_FILE); development's default: instance/backup_keys. Never a master key.
    BACKUP_KEY: str | None = None
    BACKUP_KEY_FILE: str | None = None
    #: Keys of the audit chain's links as ``id:base64key`` entries, newest first (HANDOVER_AUDIT_KEY):
    #: new events are linked with the first, older ones still verify with the others. Apart from the
    #: master keys and SECRET_KEY.
    AUDIT_KEY: str | None = None
    #: Where the audit keys are read from when AUDIT_KEY is not set (development default: instance/audit_keys).
    AUDIT_KEY_FILE: str | None = None
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
    #: CSV import limits (HANDOVER_IMPORT_MAX_BYTES, HANDOVER_IMPORT_MAX_ROWS), and how long a
    #: preview can be confirmed (HANDOVER_IMPORT_PREVIEW_MINUTES) before the file must be uploaded again.
    IMPORT_MAX_BYTES = 5 * 1024 * 1024
    IMPORT_MAX_ROWS = 50_000
    IMPORT_PREVIEW_MINUTES = 60
    #: The largest request body accepted (HANDOVER_MAX_BODY_BYTES); a bigger one is answered 413 before
    #: it is read. The CSV import views set their own limits from IMPORT_MAX_BYTES (its upload, and its
    #: confirmation that carries the file back as base64); the default leaves room for both anyway.
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    #: Reverse proxies in front of Handover (HANDOVER_PROXY_HOPS). 0: X-Forwarded-* headers are ignored
    #: (anyone could write them). 1: the address, scheme and host one proxy sets are believed; more
    #: only for that many proxies in a chain, each appending to the headers.
    PROXY_HOPS = 0
    #: Strict-Transport-Security sent on every response; empty sends none (production sets it).
    STRICT_TRANSPORT_SECURITY = ""

    # --- Sign-ins ---------------------------------------------------------------------------
    #: Roles that must use a second factor (TOTP), from HANDOVER_MFA_REQUIRED_ROLES
    #: ("admin,it"; "none" for nobody). Such a user who has not enrolled is sent to enrolment first.
    MFA_REQUIRED_ROLES: tuple[str, ...] = ("admin", "it")
    #: A session unused this long is ended (HANDOVER_IDLE_MINUTES); PERMANENT_SESSION_LIFETIME
    #: (8 h) ends any session, used or not.
    IDLE_MINUTES = 30
    #: How long an invitation link and a password-reset link work.
    INVITE_HOURS = 72
    RESET_MINUTES = 30
    #: Throttling, counted in the database so it holds across worker processes: at most this many
    #: failed attempts per account (or per wrong two-factor code) and per address in the window.
    THROTTLE_WINDOW_MINUTES = 15
    THROTTLE_PER_ACCOUNT = 5
    THROTTLE_PER_ADDRESS = 30
    #: Password sign-in for everyone ("on"), or only for the break-glass admins ("off", with SSO).
    PASSWORD_SIGN_IN = "on"  # noqa: S105  (a switch, not a password)
    #: Emails of the admins who may still sign in with a password when PASSWORD_SIGN_IN is "off".
    BREAK_GLASS_ADMINS: tuple[str, ...] = ()
    #: Single sign-on (OpenID Connect): the issuer URL (discovery at <issuer>/.well-known/openid-configuration),
    #: the client id and secret registered there, and the name shown on the button.
    OIDC_ISSUER = ""
    OIDC_CLIENT_ID = ""
    #: Never logged nor shown; set it through HANDOVER_OIDC_CLIENT_SECRET only.
    OIDC_CLIENT_SECRET = ""
    OIDC_PROVIDER_NAME = "single sign-on"
    #: A role given to someone who signs in through SSO without an invitation; empty: they are refused.
    OIDC_AUTO_CREATE_ROLE = ""
    #: The ID-token claim that lists the person's groups, and which group gives which role
    #: ("handover-it=it,handover-hr=hr"); the first listed group the person is in wins.
    OIDC_ROLE_CLAIM = ""
    OIDC_ROLE_MAP: tuple[tuple[str, str], ...] = ()
    #: Seconds of clock difference allowed when checking an ID token's times.
    OIDC_CLOCK_SKEW = 60
    #: The secret the HR system signs its events with (HMAC-SHA256, POST /api/v1/hr/events); never
    #: logged nor shown. Two comma-separated secrets during a rotation. Empty: HR events are refused (503).
    HR_EVENTS_SECRET = ""

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
        if api_limit := _env("API_RATE_LIMIT"):
            values["API_RATE_LIMIT"] = api_limit
        if keys := _env("MASTER_KEYS"):
            values["MASTER_KEYS"] = keys
        if key_file := _env("MASTER_KEY_FILE"):
            values["MASTER_KEY_FILE"] = key_file
        for name in ("BACKUP_KEY", "BACKUP_KEY_FILE"):
            if backup_key := _env(name):
                values[name] = backup_key
        if audit_key := _env("AUDIT_KEY"):
            values["AUDIT_KEY"] = audit_key
        if audit_key_file := _env("AUDIT_KEY_FILE"):
            values["AUDIT_KEY_FILE"] = audit_key_file
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
        if (mfa := os.environ.get("HANDOVER_MFA_REQUIRED_ROLES")) is not None:
            values["MFA_REQUIRED_ROLES"] = _roles_setting(mfa)
        for name in (
            "IDLE_MINUTES",
            "INVITE_HOURS",
            "RESET_MINUTES",
            "THROTTLE_WINDOW_MINUTES",
            "THROTTLE_PER_ACCOUNT",
            "THROTTLE_PER_ADDRESS",
            "OIDC_CLOCK_SKEW",
            "IMPORT_MAX_BYTES",
            "IMPORT_MAX_ROWS",
            "IMPORT_PREVIEW_MINUTES",
        ):
            if (number := _env(name)) is not None:
                values[name] = _positive_int(name, number)
        if (hops := _env("PROXY_HOPS")) is not None:
            values["PROXY_HOPS"] = 0 if hops.strip() == "0" else _positive_int("PROXY_HOPS", hops)
        if (max_body := _env("MAX_BODY_BYTES")) is not None:
            values["MAX_CONTENT_LENGTH"] = _positive_int("MAX_BODY_BYTES", max_body)
        if password_sign_in := _env("PASSWORD_SIGN_IN"):
            if password_sign_in not in ("on", "off"):
                raise ConfigError("HANDOVER_PASSWORD_SIGN_IN must be on or off.")
            values["PASSWORD_SIGN_IN"] = password_sign_in
        if break_glass := _env("BREAK_GLASS_ADMINS"):
            values["BREAK_GLASS_ADMINS"] = tuple(e.strip().lower() for e in break_glass.split(",") if e.strip())
        for name in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_PROVIDER_NAME", "OIDC_ROLE_CLAIM"):
            if (text := _env(name)) is not None:
                values[name] = text.strip()
        if (auto_role := _env("OIDC_AUTO_CREATE_ROLE")) is not None:
            values["OIDC_AUTO_CREATE_ROLE"] = _role_name("HANDOVER_OIDC_AUTO_CREATE_ROLE", auto_role.strip())
        if role_map := _env("OIDC_ROLE_MAP"):
            values["OIDC_ROLE_MAP"] = _role_map(role_map)
        if hr_secret := _env("HR_EVENTS_SECRET"):
            values["HR_EVENTS_SECRET"] = _hr_events_secret(hr_secret)
        return values

    @classmethod
    def check(cls, values: dict[str, Any]) -> None:
        """Refuse settings this environment cannot run with."""

    @classmethod
    def check_sign_ins(cls, values: dict[str, Any]) -> None:
        """Single sign-on needs all three of its settings; turning passwords off needs SSO and a break-glass admin."""
        oidc = {name: values.get(name) for name in ("OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET")}
        if any(oidc.values()) and not all(oidc.values()):
            missing = ", ".join(f"HANDOVER_{name}" for name, value in oidc.items() if not value)
            raise ConfigError(f"Single sign-on is half set up: also set {missing}.")
        if values.get("PASSWORD_SIGN_IN") == "off":
            if not values.get("OIDC_ISSUER"):
                raise ConfigError("HANDOVER_PASSWORD_SIGN_IN=off needs single sign-on (HANDOVER_OIDC_ISSUER and its client).")
            if not values.get("BREAK_GLASS_ADMINS"):
                raise ConfigError(
                    "HANDOVER_PASSWORD_SIGN_IN=off needs HANDOVER_BREAK_GLASS_ADMINS: the admin email(s) that may still sign "
                    "in with a password when the identity provider is down."
                )


ROLE_NAMES = ("admin", "director", "hr", "it", "staff")


def _role_name(setting: str, name: str) -> str:
    if name and name not in ROLE_NAMES:
        raise ConfigError(f"{setting}: {name!r} is not a role; use one of {', '.join(ROLE_NAMES)}.")
    return name


def _roles_setting(text: str) -> tuple[str, ...]:
    """HANDOVER_MFA_REQUIRED_ROLES: comma-separated roles, or "none". An empty value is kept as
    empty so that ProductionConfig can refuse it (nobody should lose the second factor by a typo)."""
    text = text.strip().lower()
    if text == "none":
        return ("none",)
    return tuple(_role_name("HANDOVER_MFA_REQUIRED_ROLES", part.strip()) for part in text.split(",") if part.strip())


def _role_map(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in text.split(","):
        group, sep, role = part.strip().rpartition("=")
        if not sep or not group.strip():
            raise ConfigError(f"HANDOVER_OIDC_ROLE_MAP: {part.strip()!r} is not group=role (e.g. handover-it=it).")
        pairs.append((group.strip(), _role_name("HANDOVER_OIDC_ROLE_MAP", role.strip())))
    return tuple(pairs)


def _hr_events_secret(text: str) -> str:
    """HANDOVER_HR_EVENTS_SECRET: one secret, or two comma-separated during a rotation, each at
    least 32 characters (a short shared secret could be guessed offline from one signed event)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or any(len(part) < 32 for part in parts):
        raise ConfigError(
            "HANDOVER_HR_EVENTS_SECRET must be a random value of at least 32 characters "
            "(for example: python -c 'import secrets; print(secrets.token_hex(32))')."
        )
    return ",".join(parts)


def _positive_int(name: str, text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"HANDOVER_{name} must be a whole number above 0, not {text!r}.")
    return number


def mfa_required_roles(values: dict[str, Any]) -> frozenset[str]:
    """The roles that need a second factor, from the loaded settings ("none" means nobody)."""
    roles = values.get("MFA_REQUIRED_ROLES") or ()
    return frozenset() if "none" in roles else frozenset(roles)


class DevelopmentConfig(Config):
    """The embedded default: SQLite in the instance folder, a secret key kept beside it.

    The demo's published sign-ins would each need an authenticator app, so two factors are not
    required here unless HANDOVER_MFA_REQUIRED_ROLES says so; production requires them for admin and IT.
    """

    ENV_NAME = "development"
    MFA_REQUIRED_ROLES = ("none",)


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-only-secret-key-not-for-production-use"  # noqa: S105  (ProductionConfig refuses it)
    #: A fixed key for tests only; ProductionConfig refuses it.
    MASTER_KEYS = "test-key-1:dGVzdGluZy1vbmx5LW1hc3Rlci1rZXktMzItYnl0ZXM"
    BACKUP_KEY = "test-backup-1:dGVzdGluZy1vbmx5LWJhY2t1cC1rZXktMzItYnl0ZXM"
    #: A fixed audit key for tests only; ProductionConfig refuses it.
    AUDIT_KEY = "test-audit-1:dGVzdGluZy1vbmx5LWF1ZGl0LWNoYWluLWtleS0zMmI"
    RATELIMIT_ENABLED = False
    #: Tests sign in as every role with a password alone; the tests of two factors turn the rule on.
    MFA_REQUIRED_ROLES = ("none",)


class ProductionConfig(Config):
    ENV_NAME = "production"
    #: The demo creates sign-ins with a published password: never in production.
    DEMO_ALLOWED = False
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    #: Production is served over HTTPS only (RFC 6797): browsers must never fall back to HTTP.
    STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"

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
        if not values.get("MFA_REQUIRED_ROLES"):
            raise ConfigError(
                "HANDOVER_MFA_REQUIRED_ROLES is empty. Name the roles that must use two factors (the default is admin,it), "
                "or write HANDOVER_MFA_REQUIRED_ROLES=none to require them of nobody."
            )
        if values.get("MASTER_KEYS") == TestingConfig.MASTER_KEYS:
            raise ConfigError(
                "HANDOVER_MASTER_KEYS is the testing key from the repository; generate a real one with `flask keys generate`."
            )
        if TestingConfig.BACKUP_KEY and TestingConfig.BACKUP_KEY in str(values.get("BACKUP_KEY") or ""):
            raise ConfigError(
                "HANDOVER_BACKUP_KEY holds the testing key from the repository; generate a real one with `flask backup key`."
            )
        if not values.get("AUDIT_KEY") and not values.get("AUDIT_KEY_FILE"):
            raise ConfigError(
                "HANDOVER_AUDIT_KEY must be set to the key(s) that link the audit chain (create one with "
                "`flask keys generate`), or HANDOVER_AUDIT_KEY_FILE to a mode-0600 file holding them. "
                "Keep it apart from the master keys and HANDOVER_SECRET_KEY."
            )
        if values.get("AUDIT_KEY") == TestingConfig.AUDIT_KEY:
            raise ConfigError(
                "HANDOVER_AUDIT_KEY is the testing key from the repository; generate a real one with `flask keys generate`."
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
