"""The application factory: config → extensions → blueprints → error handlers → CLI."""

from __future__ import annotations

import gc
import os
import secrets
from importlib import import_module
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from config import Config, ConfigError, config_for

#: One blueprint per noun; each module exposes ``bp``.
BLUEPRINTS = (
    "auth",
    "main",
    "accounts",
    "people",
    "profiles",
    "departments",
    "platforms",
    "audit",
    "credentials",
    "findings",
    "reviews",
    "offboarding",
    "account",
    "users",
    "tokens",
    "api",
    "scim",
    "hr",
    "imports",
)


class BoundedInt(IntegerConverter):
    def __init__(
        self, map: Any, fixed_digits: int = 0, min: int | None = None, max: int | None = 2**31 - 1, signed: bool = False
    ):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def _instance_secret(app: Flask) -> str:
    """Development only: a random secret key kept in the instance folder (mode 0600)."""
    path = Path(app.instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def create_app(config: type[Config] | str | None = None, **overrides: Any) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    config_cls = config if isinstance(config, type) else config_for(config)
    values = config_cls.load()
    values.update(overrides)
    if "SQLALCHEMY_DATABASE_URI" not in values and config_cls.ENV_NAME != "production":
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        values["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'handover.sqlite3'}"
    if not values.get("SECRET_KEY") and config_cls.ENV_NAME == "development":
        values["SECRET_KEY"] = _instance_secret(app)
    config_cls.check(values)
    config_cls.check_sign_ins(values)
    if not values.get("SECRET_KEY"):
        raise ConfigError("HANDOVER_SECRET_KEY must be set.")
    app.config.from_mapping(values)
    # Ids are 32-bit everywhere (SQLite and PostgreSQL integers): a longer number in a URL is
    # answered 404 by the router instead of overflowing the database driver.
    app.url_map.converters["int"] = BoundedInt

    if hops := int(app.config.get("PROXY_HOPS") or 0):
        # Only behind a proxy that overwrites these headers: the client address (audit events,
        # sign-in throttling), the scheme and the host then come from the proxy's X-Forwarded-*.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    _init_extensions(app)
    _init_keyring(app, config_cls.ENV_NAME)
    _init_audit_keyring(app, config_cls.ENV_NAME)
    for name in BLUEPRINTS:
        app.register_blueprint(import_module(f"app.{name}.routes").bp)

    from app import errors, keycheck, security, templating
    from app.auth import sso

    sso.init_app(app)

    keycheck.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    templating.init_app(app)

    from app.cli import register_cli

    register_cli(app)
    return app


#: Allocations between the cycle collector's youngest passes (Python's default is 700).
GC_YOUNG_THRESHOLD = 10_000


def settle_server_process() -> None:
    """Once a serving process has built its app (``wsgi.py``): set aside what exists now, and
    collect cycles less often.

    Everything made by importing and building the app lives as long as the process, yet every
    full pass of the cycle collector walked it (about 180,000 objects: 95-140 ms a pass on two
    cores, the p95 of the heaviest pages at 200,000 accounts). Frozen, the passes skip it; a
    young generation of 10,000 allocations instead of 700 makes the passes rarer (a case page of
    172 items no longer meets one in 280 requests). Before gunicorn forks, the frozen objects'
    pages also stay shared between workers.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def _key_file(app: Flask, setting: str, default_name: str, env_name: str) -> Path | None:
    """The configured key file, or outside production the instance folder's (production names its own)."""
    configured = app.config.get(setting)
    if configured:
        return Path(configured)
    return Path(app.instance_path) / default_name if env_name != "production" else None


def _init_keyring(app: Flask, env_name: str) -> None:
    """Load the master keys (HANDOVER_MASTER_KEYS or the key file); refuse to start without them."""
    from app.services import crypto

    key_file = _key_file(app, "MASTER_KEY_FILE", "master_keys", env_name)
    try:
        source = crypto.KeyringSource(app.config.get("MASTER_KEYS"), key_file, create_file=env_name == "development")
    except crypto.KeyConfigError as error:
        raise ConfigError(str(error)) from None
    secret = str(app.config["SECRET_KEY"]).encode()
    if any(crypto.Keyring.raw_key(source.get(), key_id) == secret for key_id in source.get().key_ids) or (
        app.config.get("MASTER_KEYS") and str(app.config["SECRET_KEY"]) in str(app.config["MASTER_KEYS"])
    ):
        raise ConfigError("A master key must not be the same as HANDOVER_SECRET_KEY: generate one with `flask keys generate`.")
    app.extensions["handover_keyring"] = source


def _init_audit_keyring(app: Flask, env_name: str) -> None:
    """Load the audit chain's keys (HANDOVER_AUDIT_KEY or the key file); refuse to start without them."""
    from app.services import audit, crypto

    key_file = _key_file(app, "AUDIT_KEY_FILE", "audit_keys", env_name)
    try:
        source = audit.AuditKeySource(app.config.get("AUDIT_KEY"), key_file, create_file=env_name == "development")
    except crypto.KeyConfigError as error:
        raise ConfigError(str(error)) from None
    master = app.extensions["handover_keyring"].get()
    audit_keys = source.get()
    secret = str(app.config["SECRET_KEY"]).encode()
    for key_id in audit_keys.key_ids:
        raw = audit_keys.raw_key(key_id)
        if raw == secret or any(master.raw_key(other) == raw for other in master.key_ids):
            raise ConfigError(
                f"The audit key {key_id!r} is also a master key or HANDOVER_SECRET_KEY: give the audit chain its own key "
                "(`flask keys generate`)."
            )
    app.extensions["handover_audit_keyring"] = source


def _init_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (complete metadata before Migrate sees it)
    from app.db_setup import install_sqlite_pragmas
    from app.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"), compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(session_id: str) -> Any:
        from app.models.user import User

        user_id, _, epoch = session_id.partition(":")
        if not user_id.isdigit():
            return None
        user = db.session.get(User, int(user_id))
        if user is None or not user.active or user.session_epoch != epoch:
            return None
        return user

    with app.app_context():
        install_sqlite_pragmas(db.engine)
