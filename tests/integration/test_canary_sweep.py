"""The canary sweep (SR-21): secrets whose plaintext carries a unique marker are created, revealed,
rotated (the old value kept as a version), restored, edited and deleted, through the web pages
when they exist and through the services in any case. The marker may appear only in the reveal
responses: never in another response, the database file or its WAL, a log record (root and
SQLAlchemy at DEBUG), an audit event, or a PostgreSQL dump."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import uuid
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import AuditEvent, ProfileKind, Role
from app.models.credential import CredentialKind, CredentialNote, CredentialVersion
from app.services import credentials as service
from app.services.context import Actor
from tests import factories

#: The four endpoints the web sweep drives; without them only the service sweep runs.
WEB_ENDPOINTS = ("credentials.create", "credentials.reveal", "credentials.rotate", "credentials.delete")
ONE_LINE = (CredentialKind.PASSWORD, CredentialKind.API_KEY)
NOTES_PER_KIND = 3


@dataclass
class Recorded:
    method: str
    path: str
    status: int
    body: bytes
    headers: str

    @property
    def is_reveal(self) -> bool:
        return self.method == "POST" and self.status == 200 and bool(re.fullmatch(r"/credentials/\d+/reveal", self.path))

    @property
    def is_generated(self) -> bool:
        return self.method == "POST" and self.status == 200 and bool(re.fullmatch(r"/credentials/\d+/rotate", self.path))


@dataclass
class Sweep:
    marker: str
    responses: list[Recorded] = field(default_factory=list)
    #: Plaintexts handed back by the services (the reveal, for the service sweep).
    revealed: list[str] = field(default_factory=list)


def _value(marker: str, kind: CredentialKind, n: int, suffix: str = "") -> str:
    if kind in ONE_LINE:
        return f"{marker}:{kind.value}:{n}{suffix}"
    return f"{marker}:{kind.value}:{n}:code-1{suffix}\n{marker}:{kind.value}:{n}:code-2{suffix}\n4471 9023 (spare)"


def _holders() -> list[dict[str, Any]]:
    facebook = factories.make_platform("Facebook")
    custodian = factories.make_person("Jo Kim")
    return [
        {"account": factories.make_account(platform=facebook, name="Riverside Library page")},
        {"account": factories.make_account(name="Domain registrar")},
        {
            "profile": factories.make_profile(
                platform=facebook, kind=ProfileKind.PERSONA, name="Melvilla Dewey", custodians=[custodian]
            )
        },
    ]


# --- Through the web pages ----------------------------------------------------------------


def _record(client: Any, sweep: Sweep) -> None:
    """Keep every response the client receives (sign-in and CSRF-token pages included)."""
    original = client.open

    def recording_open(*args: Any, **kwargs: Any) -> Any:
        response = original(*args, **kwargs)
        sweep.responses.append(
            Recorded(
                response.request.method, response.request.path, response.status_code, response.get_data(), str(response.headers)
            )
        )
        return response

    client.open = recording_open


def _web_sweep(app: Flask, client: Any, login_as: Any, sweep: Sweep) -> None:
    _record(client, sweep)
    admin = login_as(Role.ADMIN)
    holders = _holders()
    db.session.commit()
    marker = sweep.marker

    def ok(response: Any, *statuses: int) -> Any:
        assert response.status_code in statuses, f"{response.request.path}: {response.status_code}"
        return response

    def new_note_id() -> int:
        db.session.rollback()
        return db.session.scalar(sa.select(sa.func.max(CredentialNote.id)))

    notes: list[tuple[int, CredentialKind, int]] = []
    n = 0
    for kind in CredentialKind:
        for i in range(NOTES_PER_KIND):
            holder = holders[i % len(holders)]
            query = f"account={holder['account'].id}" if "account" in holder else f"profile={holder['profile'].id}"
            ok(client.get(f"/credentials/new?{query}"), 200)
            n += 1
            box = "secret" if kind in ONE_LINE else "secret_lines"
            data = {"label": f"Sweep {kind.value} {i}", "kind": kind.value, "rotation_days": "", box: _value(marker, kind, n)}
            ok(client.submit(f"/credentials/new?{query}", data), 302)
            notes.append((new_note_id(), kind, n))
    # A refused form (no label) with a secret typed in: the page shown again must not carry it.
    ok(
        client.submit(
            f"/credentials/new?account={holders[0]['account'].id}", {"label": "", "kind": "password", "secret": marker}
        ),
        400,
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CredentialNote)) == len(notes)

    for note_id, kind, number in notes:
        ok(client.get(f"/credentials/{note_id}"), 200)
        ok(client.submit(f"/credentials/{note_id}/reveal", {"reason": ""}), 400)
        revealed = ok(client.submit(f"/credentials/{note_id}/reveal", {"reason": "posting the closure notice"}), 200)
        assert _value(marker, kind, number).split("\n")[0].encode() in revealed.data
        assert "no-store" in revealed.headers.get("Cache-Control", "")

    for note_id, kind, number in notes:
        box = "new_secret" if kind in ONE_LINE else "new_secret_lines"
        ok(client.get(f"/credentials/{note_id}/rotate"), 200)
        # The same value again is refused, and the page does not echo it.
        ok(
            client.submit(f"/credentials/{note_id}/rotate", {box: _value(marker, kind, number), "reason": "routine rotation"}),
            400,
        )
        new = _value(marker, kind, number, ":rotated")
        ok(client.submit(f"/credentials/{note_id}/rotate", {box: new, "reason": "Dana Whitfield left"}), 302)
        revealed = ok(client.submit(f"/credentials/{note_id}/reveal", {"reason": "setting up the new scheduler"}), 200)
        assert new.split("\n")[0].encode() in revealed.data
    # A generated value, shown once at rotation.
    first_id = notes[0][0]
    generated = client.submit(
        f"/credentials/{first_id}/rotate",
        {"generate": "y", "length": "20", "classes": ["lower", "upper", "digits"], "reason": "quarterly rotation"},
    )
    ok(generated, 200)

    # Undo a rotation: the kept canary value comes back, the current one is kept in its place.
    note_id = notes[1][0]
    db.session.rollback()
    version_id = db.session.scalar(sa.select(sa.func.max(CredentialVersion.id)).where(CredentialVersion.note_id == note_id))
    ok(client.get(f"/credentials/{note_id}/versions/{version_id}/restore"), 200)
    ok(
        client.submit(f"/credentials/{note_id}/versions/{version_id}/restore", {"reason": "the platform refused the new one"}),
        302,
    )
    ok(client.get(f"/credentials/{note_id}"), 200)

    # Edit a note's label and interval (not its secret).
    note_id = notes[2][0]
    ok(client.get(f"/credentials/{note_id}/edit"), 200)
    version = db.session.get(CredentialNote, note_id).version
    ok(
        client.submit(
            f"/credentials/{note_id}/edit", {"label": "Renamed", "kind": "password", "rotation_days": "90", "version": version}
        ),
        302,
    )

    # Every other page that shows notes, their logs or the audit trail.
    for holder in holders:
        url = f"/accounts/{holder['account'].id}" if "account" in holder else f"/profiles/{holder['profile'].id}"
        ok(client.get(url), 200)
    for url in ("/", "/credentials/queue", "/audit/", "/accounts/", "/profiles/"):
        ok(client.get(url), 200)

    # Delete half of them.
    for note_id, _, _ in notes[::2]:
        ok(client.get(f"/credentials/{note_id}/delete"), 200)
        ok(client.submit(f"/credentials/{note_id}/delete", {"reason": ""}), 400)
        ok(client.submit(f"/credentials/{note_id}/delete", {"reason": "the account was closed"}), 302)
        ok(client.get(f"/credentials/{note_id}"), 404)
    ok(client.get("/audit/"), 200)
    assert admin.id


# --- Through the services -----------------------------------------------------------------


def _service_sweep(app: Flask, sweep: Sweep) -> None:
    holders = _holders()
    user = factories.make_user(Role.IT, person=factories.make_person("Ida IT"))
    actor = Actor.for_user(user, remote_addr="192.0.2.7")
    marker = sweep.marker
    notes = []
    n = 0
    for kind in CredentialKind:
        for i in range(NOTES_PER_KIND):
            n += 1
            data = service.NoteData(f"Sweep {kind.value} {i}", kind)
            notes.append((service.create_note(actor, data, _value(marker, kind, n), **holders[i % len(holders)]), kind, n))
            db.session.commit()
    for note, kind, number in notes:
        sweep.revealed.append(service.reveal_note(actor, note, "posting the closure notice", fresh_sign_in=True))
        db.session.commit()
        service.rotate_note(actor, note, _value(marker, kind, number, ":rotated"), "Dana Whitfield left")
        db.session.commit()
    service.rotate_note(actor, notes[0][0], service.generate_password(), "quarterly rotation", shown_to_actor=True)
    first_version = notes[1][0].versions[-1]
    service.restore_version(actor, notes[1][0], first_version.id, "the platform refused the new one")
    service.update_note(actor, notes[2][0], service.NoteData("Renamed", CredentialKind.PASSWORD, 90), notes[2][0].version)
    db.session.commit()
    for note, _, _ in notes[::2]:
        service.delete_note(actor, note, "the account was closed")
        db.session.commit()
    assert all(marker in value for value in sweep.revealed)


# --- The sweep ----------------------------------------------------------------------------


def _encodings(marker: str) -> list[bytes]:
    return [marker.encode(), marker.encode("utf-16-le"), marker.encode("utf-16-be")]


def _assert_absent(marker: str, blob: bytes, where: str) -> None:
    for encoded in _encodings(marker):
        assert encoded not in blob, f"the canary is in {where}"


def _pg_dump(database_url: str) -> bytes:
    url = sa.engine.make_url(database_url)
    binaries = sorted(glob("/usr/lib/postgresql/*/bin/pg_dump"))
    if not binaries:
        pytest.skip("pg_dump is not installed")
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    result = subprocess.run(
        [binaries[-1], "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", "postgres", "-d", url.database or ""],
        capture_output=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout


@pytest.mark.parametrize("door", ["web", "services"])
def test_the_canary_is_only_ever_in_a_reveal(
    door: str, app: Flask, client: Any, login_as: Any, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    if door == "web" and not all(endpoint in app.view_functions for endpoint in WEB_ENDPOINTS):
        pytest.skip(f"the credential pages ({', '.join(WEB_ENDPOINTS)}) are not registered; the service sweep covers the rest")
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    sweep = Sweep(marker=f"CANARY-{uuid.uuid4().hex}")
    marker = sweep.marker

    if door == "web":
        _web_sweep(app, client, login_as, sweep)
    else:
        _service_sweep(app, sweep)
    db.session.commit()

    # Responses: the marker is in every reveal, and in nothing else.
    if door == "web":
        reveals = [r for r in sweep.responses if r.is_reveal]
        assert len(reveals) == 2 * len(CredentialKind) * NOTES_PER_KIND
        assert all(marker.encode() in r.body for r in reveals)
        others = [r for r in sweep.responses if not r.is_reveal]
        assert len(others) > 60
        assert sum(r.is_generated for r in others) == 1
        for response in others:
            _assert_absent(marker, response.body, f"the {response.method} {response.path} response ({response.status})")
            _assert_absent(marker, response.headers.encode(), f"the headers of {response.method} {response.path}")

    # State: versions were kept and some notes deleted, so the sweep touched every kind of row.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CredentialVersion)) > 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CredentialNote)) == len(CredentialKind) * NOTES_PER_KIND // 2

    # Audit events: summary, before and after (and everything else in the row).
    events = list(db.session.scalars(sa.select(AuditEvent)))
    assert {"credential.create", "credential.reveal", "credential.rotate", "credential.update", "credential.delete"} <= {
        e.action for e in events
    }
    for event in events:
        row = f"{event.summary}\n{event.before!r}\n{event.after!r}\n{event.actor_name}\n{event.object_type}"
        _assert_absent(marker, row.encode(), f"audit event {event.id} ({event.action})")

    # Log records, root and SQLAlchemy at DEBUG (SQL statements, parameters and result rows).
    records = caplog.records
    assert any(r.name.startswith("sqlalchemy.engine") and "credential_notes" in r.getMessage() for r in records), (
        "SQL was not logged: the log sweep would prove nothing"
    )
    for record in records:
        text = f"{record.getMessage()}\n{record.exc_text or ''}\n{record.stack_info or ''}"
        _assert_absent(marker, text.encode(), f"a {record.name} log record")

    # The database itself.
    if db.engine.dialect.name == "sqlite":
        path = Path(sa.engine.make_url(database_url).database or "")
        wal = Path(f"{path}-wal")
        if wal.exists():
            _assert_absent(marker, wal.read_bytes(), "the live SQLite WAL")
        db.session.remove()
        db.engine.dispose()
        raw = path.read_bytes()
        assert b"hv1:test-key-1:" in raw, "the sealed notes are in the file"
        _assert_absent(marker, raw, "the SQLite database file")
        for extra in (wal, Path(f"{path}-shm"), Path(f"{path}-journal")):
            if extra.exists():
                _assert_absent(marker, extra.read_bytes(), extra.name)
    else:
        dump = _pg_dump(database_url)
        assert b"hv1:test-key-1:" in dump and b"credential_reveals" in dump
        _assert_absent(marker, dump, "the pg_dump output")
