"""Master keys end to end (SR-22, SR-23): `flask keys generate|status|rotate|drop`, a resumable
rotation of 10,000 notes that survives an injected failure, and a server that refuses to serve
(503) while the key the data needs is missing or is not the key that sealed it."""

from __future__ import annotations

import hashlib
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import AuditEvent, ProfileKind, Role
from app.models.base import utcnow
from app.models.credential import CredentialKind, CredentialNote, CredentialVersion, MasterKeyCheck
from app.services import credentials, crypto, keys, two_factor
from app.services.context import Actor
from config import TestingConfig
from tests import factories

IT = Actor(user_id=None, name="Ida IT", role=Role.IT)
OLD = TestingConfig.MASTER_KEYS  # what the ``app`` fixture seals with
OLD_ID = OLD.split(":", 1)[0]
SEALED = ((CredentialNote, "credential_notes"), (CredentialVersion, "credential_versions"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@contextmanager
def other_app(database_url: str, **config: Any) -> Iterator[Flask]:
    """Another server on the same database, with other keys; its engine is closed afterwards."""
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, **config)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def flask(app: Flask, *args: str) -> Any:
    """Run a `flask` command against ``app`` (its own app context: the test's one belongs to another app)."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=list(args))
        db.session.remove()
    return result


def assert_clean_failure(result: Any, *messages: str) -> None:
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for message in messages:
        assert message in result.output, result.output


def _notes(count: int, account: Any = None) -> list[CredentialNote]:
    account = account or factories.make_account()
    data = credentials.NoteData(label="Login", kind=CredentialKind.PASSWORD)
    return [credentials.create_note(IT, data, f"value-{i}-{_digest(str(i))[:10]}", account=account) for i in range(count)]


def _envelopes() -> list[tuple[str, int, str, str]]:
    """(table, id, key_id column, envelope) of every sealed value, read fresh from the database."""
    db.session.rollback()
    rows = []
    for model, table in SEALED:
        rows += [(table, i, k, s) for i, k, s in db.session.execute(sa.select(model.id, model.key_id, model.secret))]
    return rows


def _digests(keyring: crypto.Keyring) -> dict[tuple[str, int], str]:
    """Open every envelope with ``keyring``; also checks each envelope names the key its row says."""
    found = {}
    for table, row_id, key_id, envelope in _envelopes():
        assert crypto.key_id_of(envelope) == key_id, f"{table} {row_id} is half-written"
        found[(table, row_id)] = _digest(keyring.open(envelope, crypto.associated_data(table, row_id, "secret")))
    return found


def _key_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, _, key_id, _ in _envelopes():
        counts[key_id] = counts.get(key_id, 0) + 1
    return counts


def _status_counts(output: str) -> dict[str, tuple[str, int]]:
    """``flask keys status`` lines as {key id: (role, count)}."""
    return {
        m[1]: (m[2], int(m[3])) for m in re.finditer(r"^(\S+)\s+(primary|configured|MISSING)\s+(\d+) envelopes", output, re.M)
    }


# --- generate and status ------------------------------------------------------------------


def test_generate_prints_a_spec_the_server_accepts(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["keys", "generate"])
    assert result.exit_code == 0, result.output
    spec = result.output.strip()
    ring = crypto.Keyring.parse(spec)
    assert len(ring.raw_key(ring.primary.key_id)) == 32
    assert spec != app.test_cli_runner().invoke(args=["keys", "generate"]).output.strip()

    named = app.test_cli_runner().invoke(args=["keys", "generate", "--id", "spring-2025"])
    assert crypto.Keyring.parse(named.output.strip()).key_ids == ["spring-2025"]
    assert_clean_failure(app.test_cli_runner().invoke(args=["keys", "generate", "--id", "Bad_Id"]), "lower-case letters")


def test_status_counts_envelopes_per_key(app: Flask, database_url: str) -> None:
    notes = _notes(3)
    credentials.rotate_note(IT, notes[0], "rotated-value-1", "routine rotation")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["keys", "status"])
    assert result.exit_code == 0, result.output
    assert _status_counts(result.output) == {OLD_ID: ("primary", 4)}
    assert "Every envelope is under the primary key." in result.output

    new = crypto.generate_key_spec("next-key")
    with other_app(database_url, MASTER_KEYS=f"{new},{OLD}") as two_keys:
        result = flask(two_keys, "keys", "status")
    assert result.exit_code == 0, result.output
    assert _status_counts(result.output) == {"next-key": ("primary", 0), OLD_ID: ("configured", 4)}
    assert "4 envelopes are not yet under the primary key." in result.output


# --- Rotation -----------------------------------------------------------------------------

N_NOTES = 10_000
BATCH = 1_000


def _seed_notes(total: int) -> dict[tuple[str, int], str]:
    """``total`` notes, fast: a few through the service (with kept versions), the rest inserted in
    bulk with envelopes sealed for their own ids. Returns the digest of every plaintext."""
    account = factories.make_account()
    profile = factories.make_profile(kind=ProfileKind.SHARED_LOGIN)
    few = _notes(4, account)
    few.append(
        credentials.create_note(IT, credentials.NoteData("Team login", CredentialKind.NOTE), "team-✓-login", profile=profile)
    )
    credentials.rotate_note(IT, few[0], "second value ✓", "routine rotation")
    credentials.rotate_note(IT, few[0], "third value ✓", "routine rotation")
    db.session.commit()
    keyring = crypto.current_keyring()
    first = (db.session.scalar(sa.select(sa.func.max(CredentialNote.id))) or 0) + 1
    now = utcnow()
    rows = []
    for note_id in range(first, first + total - len(few)):
        plaintext = f"bulk-secret-{note_id}-{_digest(str(note_id))[:16]}"
        rows.append(
            {
                "id": note_id,
                "account_id": account.id,
                "platform_id": account.platform_id,
                "label": f"Bulk note {note_id}",
                "kind": CredentialKind.PASSWORD,
                "secret": keyring.seal(plaintext, crypto.associated_data("credential_notes", note_id, "secret")),
                "key_id": keyring.primary.key_id,
                "rotated_at": now,
                "due_at": now + timedelta(days=365),
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
    db.session.execute(sa.insert(CredentialNote.__table__), rows)
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            sa.text("SELECT setval(pg_get_serial_sequence('credential_notes', 'id'), max(id)) FROM credential_notes")
        )
    db.session.commit()
    return _digests(keyring)


@pytest.mark.slow
def test_rotation_of_10000_notes_resumes_after_a_failure(
    app: Flask, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.perf_counter()
    digests = _seed_notes(N_NOTES)
    total = len(digests)
    assert total == N_NOTES + 2  # and the two kept versions
    seeded = time.perf_counter()
    assert seeded - started < 15, f"seeding took {seeded - started:.1f}s"

    key_file = tmp_path / "keys" / "master_keys"
    crypto.write_key_file(key_file, f"# Handover master keys, primary first\n{OLD}\n")
    real_batch = keys.reencrypt_batch
    calls = []

    def batch_then_crash(keyring: crypto.Keyring, batch_size: int = 500) -> int:
        """The 4th batch re-encrypts its rows (flushed, not committed), then the process "crashes"."""
        done = real_batch(keyring, batch_size)
        calls.append(done)
        if len(calls) == 4:
            raise RuntimeError("simulated failure: the connection dropped")
        return done

    with other_app(database_url, MASTER_KEYS=None, MASTER_KEY_FILE=str(key_file)) as server:
        monkeypatch.setattr(keys, "reencrypt_batch", batch_then_crash)
        result = flask(server, "keys", "rotate", "--add-key", "--batch-size", str(BATCH))
        assert_clean_failure(result, f"Re-encryption stopped after {3 * BATCH} of {total} envelopes", "run `flask keys rotate`")
        assert "simulated failure" in result.output
        new_id = re.search(r"Added primary key (\S+) to", result.output)[1]
        ring = crypto.Keyring.parse(key_file.read_text())
        assert ring.key_ids == [new_id, OLD_ID]
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

        # The committed batches stay re-encrypted, the failed one left nothing behind, and every
        # value is whole and unchanged.
        assert _key_counts() == {new_id: 3 * BATCH, OLD_ID: total - 3 * BATCH}
        assert _digests(ring) == digests
        assert_clean_failure(flask(server, "keys", "drop", OLD_ID), f"{total - 3 * BATCH} envelopes still use {OLD_ID}")
        assert_clean_failure(flask(server, "keys", "drop", new_id), "That is the primary key")

        monkeypatch.setattr(keys, "reencrypt_batch", real_batch)
        resumed = time.perf_counter()
        result = flask(server, "keys", "rotate", "--batch-size", str(BATCH))
        rotation_seconds = time.perf_counter() - resumed
        assert result.exit_code == 0, result.output
        assert f"Re-encrypted {total - 3 * BATCH} envelopes." in result.output

        status = flask(server, "keys", "status")
        assert status.exit_code == 0, status.output
        assert _status_counts(status.output) == {new_id: ("primary", total), OLD_ID: ("configured", 0)}
        assert "(unused: can be removed)" in status.output and "Every envelope is under the primary key." in status.output
        assert _key_counts() == {new_id: total}
        assert _digests(crypto.Keyring.parse(key_file.read_text())) == digests

        result = flask(server, "keys", "drop", OLD_ID)
        assert result.exit_code == 0, result.output
        assert f"Removed {OLD_ID} from {key_file}" in result.output
        assert crypto.Keyring.parse(key_file.read_text()).key_ids == [new_id]
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        new_spec = next(line for line in key_file.read_text().splitlines() if line.startswith(f"{new_id}:"))

    # A server holding only the new key opens every note, and serves pages.
    with other_app(database_url, MASTER_KEYS=new_spec) as only_new:
        with only_new.app_context():
            assert _digests(crypto.current_keyring()) == digests
            note = db.session.get(CredentialNote, max(row_id for table, row_id in digests if table == "credential_notes"))
            value = credentials.reveal_note(IT, note, "checking after the rotation", fresh_sign_in=True)
            assert _digest(value) == digests[("credential_notes", note.id)]
            db.session.rollback()
            assert [c.key_id for c in db.session.scalars(sa.select(MasterKeyCheck))] == [new_id]
        assert only_new.test_client().get("/login").status_code == 200

    db.session.rollback()
    actions = list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "master_key")))
    assert actions == ["keys.rotate.start", "keys.rotate.stop", "keys.rotate.start", "keys.rotate.finish", "keys.drop"]
    total_seconds = time.perf_counter() - started
    print(
        f"\n[{db.engine.dialect.name}] seeded {total} envelopes in {seeded - started:.1f}s; "
        f"re-encrypted the remaining {total - 3 * BATCH} in {rotation_seconds:.1f}s; whole test {total_seconds:.1f}s"
    )
    assert total_seconds < 60


def test_rotation_with_keys_from_the_environment(app: Flask, database_url: str) -> None:
    notes = _notes(12)
    credentials.rotate_note(IT, notes[0], "rotated-value-1", "routine rotation")
    db.session.commit()
    digests = _digests(crypto.current_keyring())
    new = crypto.generate_key_spec("env-new")

    with other_app(database_url, MASTER_KEYS=f"{new},{OLD}") as server:
        assert_clean_failure(flask(server, "keys", "rotate", "--add-key"), "Keys come from HANDOVER_MASTER_KEYS")
        result = flask(server, "keys", "rotate", "--batch-size", "5")
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 13 envelopes." in result.output
        again = flask(server, "keys", "rotate")
        assert again.exit_code == 0 and "already under the primary key env-new" in again.output
        result = flask(server, "keys", "drop", OLD_ID)
        assert result.exit_code == 0, result.output
        assert "remove it from HANDOVER_MASTER_KEYS on every server" in result.output
    assert _key_counts() == {"env-new": 13}

    with other_app(database_url, MASTER_KEYS=new) as only_new, only_new.app_context():
        assert _digests(crypto.current_keyring()) == digests


def test_two_factor_seeds_count_as_envelopes_and_are_rotated(app: Flask, database_url: str) -> None:
    """A key that sealed only a two-factor seed is in use: dropping it would lock that user out."""
    user = factories.make_user(Role.IT)
    enrolment = two_factor.start_enrolment(user)
    two_factor.confirm_enrolment(IT, user, pyotp.TOTP(enrolment.secret).now(), enrolment.pending)
    db.session.commit()
    assert keys.usage() == {OLD_ID: 1}
    new = crypto.generate_key_spec("seed-new")

    with other_app(database_url, MASTER_KEYS=f"{new},{OLD}") as server:
        status = flask(server, "keys", "status")
        assert _status_counts(status.output) == {"seed-new": ("primary", 0), OLD_ID: ("configured", 1)}
        assert "1 envelopes are not yet under the primary key." in status.output
        assert_clean_failure(flask(server, "keys", "drop", OLD_ID), "1 envelopes still use")
        result = flask(server, "keys", "rotate")
        assert result.exit_code == 0, result.output
        assert "Re-encrypted 1 envelopes." in result.output
        assert flask(server, "keys", "drop", OLD_ID).exit_code == 0

    db.session.rollback()
    assert crypto.key_id_of(db.session.get(type(user), user.id).totp_secret) == "seed-new"
    with other_app(database_url, MASTER_KEYS=new) as only_new, only_new.app_context():
        again = db.session.get(type(user), user.id)
        assert two_factor.verify(again, pyotp.TOTP(enrolment.secret).at(time.time() + 30)) == "totp"


def test_rotation_refuses_to_start_when_a_key_is_missing(app: Flask, database_url: str) -> None:
    _notes(3)
    db.session.commit()
    with other_app(database_url, MASTER_KEYS=crypto.generate_key_spec("lonely")) as server:
        result = flask(server, "keys", "rotate")
        assert_clean_failure(result, "Nothing was re-encrypted", f"{OLD_ID!r}, which is not configured")
        status = flask(server, "keys", "status")
        assert_clean_failure(status, "MISSING")
        assert _status_counts(status.output)[OLD_ID] == ("MISSING", 3)
        assert_clean_failure(flask(server, "keys", "drop", "never-heard-of-it"), "nothing was removed")
    assert _key_counts() == {OLD_ID: 3}
    db.session.rollback()
    assert [c.key_id for c in db.session.scalars(sa.select(MasterKeyCheck))] == []


def test_drop_keeps_the_other_keys_and_comments_of_the_key_file(app: Flask, database_url: str, tmp_path: Path) -> None:
    _notes(2)
    db.session.commit()
    spare = crypto.generate_key_spec("spare")
    key_file = tmp_path / "master_keys"
    crypto.write_key_file(key_file, f"# primary first\n{OLD}, {spare}  # spare added in May\n")
    with other_app(database_url, MASTER_KEYS=None, MASTER_KEY_FILE=str(key_file)) as server:
        result = flask(server, "keys", "drop", "spare")
        assert result.exit_code == 0, result.output
    text = key_file.read_text()
    assert "spare:" not in text and "# primary first" in text and "# spare added in May" in text
    assert crypto.Keyring.parse(text).key_ids == [OLD_ID]


# --- Wrong or missing key: refuse to serve --------------------------------------------------


def _pages(app: Flask) -> list[str]:
    """Every page without URL arguments, a static file, a page with an argument and an unknown one."""
    urls = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith("/static")
    )
    return [*urls, "/static/css/handover.css", "/accounts/1", "/no-such-page"]


def _assert_refuses_everything(app: Flask, *expected: str) -> None:
    client = app.test_client()
    pages = _pages(app)
    assert len(pages) > 8
    for url in pages:
        response = client.get(url)
        assert response.status_code == 503, f"{url} answered {response.status_code}"
        body = response.get_data(as_text=True)
        for text in expected:
            assert text in body, f"{url} does not say {text!r}"
        assert "Traceback" not in body
    assert client.post("/login", data={"email": "a@b.example", "password": "x"}).status_code == 503


def test_a_server_without_the_key_that_sealed_the_data_answers_503(app: Flask, database_url: str, client: Any) -> None:
    _notes(3)
    db.session.commit()
    assert client.get("/login").status_code == 200  # the right key: serves, and records its check value
    db.session.rollback()
    assert [c.key_id for c in db.session.scalars(sa.select(MasterKeyCheck))] == [OLD_ID]

    with other_app(database_url, MASTER_KEYS=crypto.generate_key_spec("other-key")) as server:
        _assert_refuses_everything(
            server,
            "Handover is not ready",
            f"sealed with master key &#39;{OLD_ID}&#39;, which is not configured",
            "HANDOVER_MASTER_KEYS",
        )
    db.session.rollback()
    assert [c.key_id for c in db.session.scalars(sa.select(MasterKeyCheck))] == [OLD_ID], "the wrong key recorded nothing"


def test_a_server_with_other_bytes_under_the_right_key_id_answers_503(app: Flask, database_url: str, client: Any) -> None:
    _notes(2)
    db.session.commit()
    assert client.get("/login").status_code == 200
    impostor = f"{OLD_ID}:{crypto.generate_key_spec().split(':', 1)[1]}"
    with other_app(database_url, MASTER_KEYS=impostor) as server:
        _assert_refuses_everything(
            server, f"the key configured as &#39;{OLD_ID}&#39; is not the key that sealed the data", "HANDOVER_MASTER_KEYS"
        )
    # The right key still serves (another server start).
    with other_app(database_url, MASTER_KEYS=OLD) as right:
        assert right.test_client().get("/login").status_code == 200


def test_a_wrong_key_is_refused_even_before_any_check_value_was_recorded(app: Flask, database_url: str) -> None:
    """Notes written by the CLI before any server start: the first server must not bless a wrong key."""
    _notes(2)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MasterKeyCheck)) == 0
    impostor = f"{OLD_ID}:{crypto.generate_key_spec().split(':', 1)[1]}"
    with other_app(database_url, MASTER_KEYS=impostor) as server:
        _assert_refuses_everything(server, "is not the key that sealed the data")
        assert_clean_failure(flask(server, "keys", "rotate"), "Nothing was re-encrypted")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MasterKeyCheck)) == 0
    with other_app(database_url, MASTER_KEYS=OLD) as right:
        assert right.test_client().get("/login").status_code == 200
    db.session.rollback()
    assert [c.key_id for c in db.session.scalars(sa.select(MasterKeyCheck))] == [OLD_ID]
