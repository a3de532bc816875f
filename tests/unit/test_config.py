"""Settings: production refuses to start half-configured, development keeps its own secret key,
and SQLite connections carry the pragmas the registry relies on."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.extensions import db
from config import ConfigError, TestingConfig

GOOD_MASTER_KEY = "prod-1:" + "A" * 43
GOOD_SECRET = "k" * 32
GOOD_AUDIT_KEY = "audit-1:" + "B" * 43


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No HANDOVER_* setting leaks in from the shell, and the instance folder is a temporary one."""
    for name in (
        "ENV",
        "SECRET_KEY",
        "DATABASE_URL",
        "PER_PAGE",
        "SESSION_COOKIE_SECURE",
        "RATELIMIT_STORAGE_URI",
        "MASTER_KEYS",
        "MASTER_KEY_FILE",
        "AUDIT_KEY",
        "AUDIT_KEY_FILE",
    ):
        monkeypatch.delenv(f"HANDOVER_{name}", raising=False)
    instance = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))
    return instance


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'handover.sqlite3'}"


# --- Production ---------------------------------------------------------------------------


def test_production_refuses_to_start_without_a_secret_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HANDOVER_DATABASE_URL", sqlite_url(tmp_path))
    with pytest.raises(ConfigError, match="HANDOVER_SECRET_KEY must be set to a random value of at least 32 characters"):
        create_app("production")


def test_production_refuses_a_short_secret_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HANDOVER_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("HANDOVER_SECRET_KEY", "k" * 31)
    with pytest.raises(ConfigError, match="HANDOVER_SECRET_KEY"):
        create_app("production")


def test_production_refuses_the_well_known_testing_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HANDOVER_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("HANDOVER_SECRET_KEY", TestingConfig.SECRET_KEY)
    with pytest.raises(ConfigError, match="HANDOVER_SECRET_KEY"):
        create_app("production")


def test_production_refuses_to_start_without_a_database_url(monkeypatch: pytest.MonkeyPatch, clean_environment: Path) -> None:
    monkeypatch.setenv("HANDOVER_SECRET_KEY", GOOD_SECRET)
    with pytest.raises(ConfigError, match="HANDOVER_DATABASE_URL must be set"):
        create_app("production")
    assert not (clean_environment / "handover.sqlite3").exists(), "production must not fall back to a local database"


def test_production_starts_when_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clean_environment: Path) -> None:
    monkeypatch.setenv("HANDOVER_ENV", "production")
    monkeypatch.setenv("HANDOVER_AUDIT_KEY", GOOD_AUDIT_KEY)
    monkeypatch.setenv("HANDOVER_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("HANDOVER_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("HANDOVER_MASTER_KEYS", GOOD_MASTER_KEY)
    app = create_app()
    assert app.config["SECRET_KEY"] == GOOD_SECRET
    assert app.config["SQLALCHEMY_DATABASE_URI"] == sqlite_url(tmp_path)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert not app.config["TESTING"] and not app.config["DEBUG"]
    assert not (clean_environment / "secret_key").exists(), "production never writes a key of its own"
    assert not (clean_environment / "master_keys").exists(), "production never writes a master key of its own"


def test_production_refuses_to_start_without_master_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clean_environment: Path
) -> None:
    monkeypatch.setenv("HANDOVER_ENV", "production")
    monkeypatch.setenv("HANDOVER_AUDIT_KEY", GOOD_AUDIT_KEY)
    monkeypatch.setenv("HANDOVER_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("HANDOVER_DATABASE_URL", sqlite_url(tmp_path))
    with pytest.raises(ConfigError, match=r"HANDOVER_MASTER_KEYS must be set .*`flask keys generate`"):
        create_app()
    monkeypatch.setenv("HANDOVER_MASTER_KEYS", TestingConfig.MASTER_KEYS)
    with pytest.raises(ConfigError, match="testing key"):
        create_app()
    monkeypatch.setenv("HANDOVER_MASTER_KEYS", "primary:not-a-key")
    with pytest.raises(ConfigError, match="32 bytes|base64"):
        create_app()


def test_a_master_key_file_must_exist_in_production(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clean_environment: Path
) -> None:
    monkeypatch.setenv("HANDOVER_ENV", "production")
    monkeypatch.setenv("HANDOVER_AUDIT_KEY", GOOD_AUDIT_KEY)
    monkeypatch.setenv("HANDOVER_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("HANDOVER_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("HANDOVER_MASTER_KEY_FILE", str(tmp_path / "keys"))
    with pytest.raises(ConfigError, match="HANDOVER_MASTER_KEYS"):
        create_app()
    assert not (tmp_path / "keys").exists()


def test_production_refuses_to_start_without_its_own_audit_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clean_environment: Path
) -> None:
    monkeypatch.setenv("HANDOVER_ENV", "production")
    monkeypatch.setenv("HANDOVER_SECRET_KEY", GOOD_SECRET)
    monkeypatch.setenv("HANDOVER_DATABASE_URL", sqlite_url(tmp_path))
    monkeypatch.setenv("HANDOVER_MASTER_KEYS", GOOD_MASTER_KEY)
    with pytest.raises(ConfigError, match=r"HANDOVER_AUDIT_KEY must be set .*`flask keys generate`"):
        create_app()
    assert not (clean_environment / "audit_keys").exists(), "production never writes an audit key of its own"
    monkeypatch.setenv("HANDOVER_AUDIT_KEY", TestingConfig.AUDIT_KEY)
    with pytest.raises(ConfigError, match="HANDOVER_AUDIT_KEY is the testing key"):
        create_app()
    monkeypatch.setenv("HANDOVER_AUDIT_KEY", "audit-1:not-a-key")
    with pytest.raises(
        ConfigError, match="HANDOVER_AUDIT_KEY: the key for 'audit-1' is not valid base64. Set HANDOVER_AUDIT_KEY"
    ):
        create_app()
    monkeypatch.setenv("HANDOVER_AUDIT_KEY", "audit-1:" + GOOD_MASTER_KEY.split(":")[1])
    with pytest.raises(ConfigError, match="also a master key"):
        create_app()
    monkeypatch.setenv("HANDOVER_AUDIT_KEY", f"audit-2:{'C' * 43}, {GOOD_AUDIT_KEY}")
    assert create_app().extensions["handover_audit_keyring"].get().primary.key_id == "audit-2"


def test_development_keeps_a_private_audit_key_in_the_instance_folder(clean_environment: Path, tmp_path: Path) -> None:
    create_app("development", SQLALCHEMY_DATABASE_URI=sqlite_url(tmp_path))
    key_file = clean_environment / "audit_keys"
    assert key_file.stat().st_mode & 0o777 == 0o600
    first = key_file.read_text()
    create_app("development", SQLALCHEMY_DATABASE_URI=sqlite_url(tmp_path))
    assert key_file.read_text() == first


# --- Development --------------------------------------------------------------------------


def test_development_keeps_a_private_secret_key_in_the_instance_folder(clean_environment: Path) -> None:
    app = create_app("development")
    key_file = clean_environment / "secret_key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) >= 32
    assert app.config["SECRET_KEY"] == key_file.read_text().strip()
    # The next start reuses it, so sessions survive a restart.
    assert create_app("development").config["SECRET_KEY"] == app.config["SECRET_KEY"]
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{clean_environment / 'handover.sqlite3'}"


def test_development_uses_a_secret_key_from_the_environment(monkeypatch: pytest.MonkeyPatch, clean_environment: Path) -> None:
    monkeypatch.setenv("HANDOVER_SECRET_KEY", GOOD_SECRET)
    assert create_app("development").config["SECRET_KEY"] == GOOD_SECRET
    assert not (clean_environment / "secret_key").exists()


# --- Choosing the environment -------------------------------------------------------------


def test_an_unknown_environment_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOVER_ENV", "staging")
    with pytest.raises(ConfigError, match=r"HANDOVER_ENV must be one of development, testing, production, not 'staging'"):
        create_app()
    with pytest.raises(ConfigError, match="HANDOVER_ENV must be one of"):
        create_app("prod")


def test_the_environment_picks_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HANDOVER_ENV", "testing")
    app = create_app(SQLALCHEMY_DATABASE_URI=sqlite_url(tmp_path))
    assert app.config["TESTING"] is True


# --- SQLite -------------------------------------------------------------------------------


PRAGMAS = {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 5000, "secure_delete": 1, "cache_size": -16384}


def test_sqlite_connections_carry_the_registry_pragmas(tmp_path: Path) -> None:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=sqlite_url(tmp_path))
    with app.app_context():
        try:
            # Through the ORM session the app uses, and on a second connection from the pool.
            assert {name: db.session.execute(sa.text(f"PRAGMA {name}")).scalar() for name in PRAGMAS} == PRAGMAS
            with db.engine.connect() as conn:
                assert {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in PRAGMAS} == PRAGMAS
        finally:
            db.session.remove()
            db.engine.dispose()


def test_a_server_process_sets_aside_what_building_the_app_made_and_collects_cycles_less_often() -> None:
    import gc

    from app import GC_YOUNG_THRESHOLD, settle_server_process

    before = gc.get_threshold()
    try:
        settle_server_process()
        assert gc.get_freeze_count() > 10_000, "the modules, routes and templates built so far are frozen"
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_count()[0] < 100, "collected just before freezing"
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
