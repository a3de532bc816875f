"""The audit log is a keyed chain: any edit, removal, insertion, reordering, cut tail or rebuilt
chain is found at the right sequence number, and the database refuses UPDATE and DELETE."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import AuditEvent, AuditHead, Role
from app.services import audit
from app.services.context import Actor

IVY = Actor(user_id=None, name="Ivy Tech", role=Role.IT, request_id="req-1", remote_addr="10.0.0.7")
TEST_KEY_ID = "test-audit-1"


def _event(n: int) -> AuditEvent:
    return audit.record_event(
        IVY, "account.update", "account", n, f"Edited account {n}", {"name": f"old {n}"}, {"name": f"new {n}"}
    )


@pytest.fixture
def chain(app: Flask) -> list[AuditEvent]:
    made = [_event(n) for n in range(1, 7)]
    db.session.commit()
    return made


def rows() -> list[dict]:
    db.session.rollback()
    return [dict(r._mapping) for r in db.session.execute(sa.select(AuditEvent.__table__).order_by(AuditEvent.seq))]


def test_events_are_numbered_and_linked_with_the_audit_key(chain):
    assert [e.seq for e in chain] == [1, 2, 3, 4, 5, 6]
    assert chain[0].prev_hash == audit.GENESIS
    for previous, event in zip(chain, chain[1:], strict=False):
        assert event.prev_hash == previous.hash
    key = audit.current_keyring().raw_key(TEST_KEY_ID)
    first = chain[0]
    assert first.key_id == TEST_KEY_ID
    # The link covers every content field, request id and address included.
    assert '"remote_addr":"10.0.0.7"' in audit.canonical_content(first) and '"seq":1' in audit.canonical_content(first)
    expected = hmac.new(key, f"{audit.GENESIS}\n{audit.canonical_content(first)}".encode(), hashlib.sha256).hexdigest()
    assert first.hash == expected
    assert audit.chain_head() == {"seq": 6, "link": chain[-1].hash}


def test_an_intact_chain_and_an_empty_log_verify(app):
    assert audit.verify_chain() == (0, None)
    for n in range(3):
        _event(n)
    db.session.commit()
    assert audit.verify_chain() == (3, None)
    # Bulk appends continue the same chain.
    audit.record_events(IVY, [audit.EventData("person.create", "person", n, f"Added {n}") for n in range(4)])
    db.session.commit()
    assert audit.verify_chain() == (7, None)
    assert audit.verify_chain(batch_size=2) == (7, None)  # batch edges are checked like the rest


# --- Tampering (with the triggers dropped, as someone with raw database access could) ----------


def _update(seq: int, **values) -> None:
    db.session.execute(sa.update(AuditEvent.__table__).where(AuditEvent.__table__.c.seq == seq).values(**values))


@pytest.mark.parametrize(
    ("field", "value"),
    [("summary", "forged"), ("actor_name", "Someone Else"), ("after", {"name": "forged"}), ("remote_addr", "1.2.3.4")],
)
def test_editing_a_field_is_found_at_that_event(chain, drop_append_only_triggers, field, value):
    drop_append_only_triggers()
    _update(3, **{field: value})
    db.session.commit()
    result = audit.verify_chain(batch_size=2)
    assert (result.checked, result.broken_at) == (2, 3)
    assert result.reason == "its content or link was changed"


def test_deleting_an_event_is_found_at_its_number(chain, drop_append_only_triggers):
    drop_append_only_triggers()
    db.session.execute(sa.delete(AuditEvent.__table__).where(AuditEvent.__table__.c.seq == 3))
    db.session.commit()
    assert audit.verify_chain() == (2, 3)
    assert audit.verify_chain().reason == "event 3 is missing (the next is 4)"


@pytest.mark.parametrize("how", ["plain sha256", "guessed key"])
def test_an_inserted_forged_event_is_found(chain, drop_append_only_triggers, how):
    drop_append_only_triggers()
    last = rows()[-1]
    forged = {k: v for k, v in last.items() if k != "id"} | {"seq": 7, "summary": "Nothing happened", "prev_hash": last["hash"]}
    content = audit.canonical_content(forged)
    if how == "plain sha256":
        forged["hash"] = hashlib.sha256(f"{last['hash']}\n{content}".encode()).hexdigest()
    else:
        forged["hash"] = audit.link(os.urandom(32), last["hash"], forged)
    db.session.execute(sa.insert(AuditEvent.__table__).values(**forged))
    db.session.commit()
    result = audit.verify_chain()
    assert (result.checked, result.broken_at, result.reason) == (6, 7, "its content or link was changed")


def test_swapping_two_events_contents_is_found_at_the_first(chain, drop_append_only_triggers):
    drop_append_only_triggers()
    by_seq = {r["seq"]: r for r in rows()}
    fields = ("occurred_at", "object_id", "summary", "before", "after", "prev_hash", "hash")
    _update(2, **{f: by_seq[4][f] for f in fields})
    _update(4, **{f: by_seq[2][f] for f in fields})
    db.session.commit()
    assert audit.verify_chain() == (1, 2)


def test_a_cut_tail_is_found_against_the_recorded_head(chain, drop_append_only_triggers):
    drop_append_only_triggers()
    db.session.execute(sa.delete(AuditEvent.__table__).where(AuditEvent.__table__.c.seq >= 5))
    db.session.commit()
    result = audit.verify_chain()
    assert (result.checked, result.broken_at) == (4, 5)
    assert result.reason == "the chain ends at 4 but its head records 6: event 5 to 6 is missing"


def test_a_cut_tail_with_a_rewound_head_is_found(chain, drop_append_only_triggers):
    drop_append_only_triggers()
    four = rows()[3]
    db.session.execute(sa.delete(AuditEvent.__table__).where(AuditEvent.__table__.c.seq >= 5))
    db.session.execute(sa.update(AuditHead.__table__).values(seq=4, link=four["hash"]))  # without the key: MAC wrong
    db.session.commit()
    result = audit.verify_chain()
    assert (result.broken_at, result.reason) == (4, "the chain head record was altered")


@pytest.mark.parametrize("how", ["plain sha256", "wrong key", "unknown key id"])
def test_a_rebuilt_chain_is_found_at_the_first_event(chain, drop_append_only_triggers, how):
    drop_append_only_triggers()
    wrong = os.urandom(32)
    prev = audit.GENESIS
    for row in rows():
        if how == "unknown key id":
            row["key_id"] = "attacker-1"
        row["prev_hash"] = prev
        if how == "plain sha256":
            row["hash"] = hashlib.sha256(f"{prev}\n{audit.canonical_content(row)}".encode()).hexdigest()
        else:
            row["hash"] = audit.link(wrong, prev, row)
        _update(row["seq"], key_id=row["key_id"], prev_hash=row["prev_hash"], hash=row["hash"])
        prev = row["hash"]
    db.session.execute(sa.update(AuditHead.__table__).values(link=prev, mac=audit.head_mac(wrong, 6, prev)))
    db.session.commit()
    result = audit.verify_chain()
    assert (result.checked, result.broken_at) == (0, 1)
    expected = (
        "linked with audit key 'attacker-1', which is not configured"
        if how == "unknown key id"
        else "its content or link was changed"
    )
    assert result.reason == expected


# --- The database refuses changes --------------------------------------------------------------


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET summary = 'forged' WHERE seq = 2", "DELETE FROM audit_events WHERE seq = 2"]
)
def test_the_database_refuses_update_and_delete(chain, statement):
    with pytest.raises(sa.exc.DBAPIError, match="audit events are append-only"):
        db.session.execute(sa.text(statement))
    db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError, match="audit events are append-only"):
        db.session.execute(sa.text("DELETE FROM audit_events"))
    db.session.rollback()
    assert audit.verify_chain() == (6, None)
    assert rows()[1]["summary"] == "Edited account 2"


def test_the_orm_cannot_edit_a_recorded_event(chain):
    event = db.session.get(AuditEvent, chain[0].id)
    event.summary = "forged"
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert audit.verify_chain() == (6, None)


# --- Key rotation ------------------------------------------------------------------------------


def test_a_new_audit_key_links_new_events_and_the_old_one_still_verifies(chain, database_url):
    old_spec = app_spec = create_app("testing").config["AUDIT_KEY"]
    new_spec = "new-audit-2:" + "bmV3LWF1ZGl0LWtleS1mb3ItdGhlLXJvdGF0aW9uLXQ"
    rotated = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, AUDIT_KEY=f"{new_spec}, {old_spec}")
    with rotated.app_context():
        event = _event(7)
        db.session.commit()
        assert (event.seq, event.key_id) == (7, "new-audit-2")
        assert audit.verify_chain() == (7, None)
        db.session.remove()
        db.engine.dispose()
    dropped = create_app("testing", SQLALCHEMY_DATABASE_URI=database_url, AUDIT_KEY=new_spec)
    with dropped.app_context():
        result = audit.verify_chain()
        db.session.remove()
        db.engine.dispose()
    assert (result.broken_at, result.reason) == (1, f"linked with audit key {TEST_KEY_ID!r}, which is not configured")
    assert app_spec.startswith(TEST_KEY_ID)


# --- Concurrent appends ------------------------------------------------------------------------

THREADS, APPENDS = 8, 100


def test_concurrent_appends_get_gapless_unique_numbers(app, chain):
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        try:
            with app.app_context():
                start.wait()
                for i in range(APPENDS):
                    audit.record_event(IVY, "test.append", "test", n, f"Thread {n} append {i}")
                    db.session.commit()
                db.session.remove()
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    db.session.rollback()
    seqs = list(db.session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == list(range(1, 6 + THREADS * APPENDS + 1))
    assert audit.verify_chain() == (6 + THREADS * APPENDS, None)
    assert audit.chain_head()["seq"] == 6 + THREADS * APPENDS


# --- The upgrade from the plain-sha256 chain ---------------------------------------------------

PREVIOUS_REVISION = "909f7d17e3e8"


def _old_chain(count: int) -> None:
    """Events as the previous revision wrote them: a plain sha256 chain, in id order."""
    from datetime import UTC, datetime

    from tests import old_audit_chain

    events = [audit.EventData("account.update", "account", n, f"Edited account {n}", None, {"n": n}) for n in range(count)]
    old_audit_chain.append("Ivy Tech", events, when=datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
    db.session.commit()


def test_the_upgrade_verifies_the_old_chain_then_numbers_and_relinks_it(empty_database):
    import flask_migrate

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        try:
            flask_migrate.upgrade(revision=PREVIOUS_REVISION)
            _old_chain(5)
            flask_migrate.upgrade()
            events = list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))
            assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
            assert [e.summary for e in events[:5]] == [f"Edited account {n}" for n in range(5)]
            assert events[-1].action == "audit.rekey"
            assert "Numbered 5 events" in events[-1].summary and "old chain was intact" in events[-1].summary
            assert audit.verify_chain() == (6, None)
            _event(99)
            db.session.commit()
            assert audit.verify_chain() == (7, None)
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                db.session.execute(sa.text("DELETE FROM audit_events WHERE seq = 1"))
            db.session.rollback()
        finally:
            db.session.remove()
            db.engine.dispose()


def test_the_upgrade_refuses_a_broken_old_chain_unless_told_to_accept_it(empty_database, caplog, monkeypatch):
    import flask_migrate

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    with app.app_context():
        try:
            flask_migrate.upgrade(revision=PREVIOUS_REVISION)
            _old_chain(4)
            third = db.session.scalars(sa.select(AuditEvent.id).order_by(AuditEvent.id)).all()[2]
            db.session.execute(sa.text("UPDATE audit_events SET summary = 'forged' WHERE id = :id"), {"id": third})
            db.session.commit()
            with pytest.raises(SystemExit):
                flask_migrate.upgrade()
            assert f"The audit chain is broken at event {third}" in caplog.text
            assert f"set HANDOVER_AUDIT_ACCEPT_BROKEN_CHAIN={third} to re-link it anyway" in caplog.text
            db.session.rollback()
            db.engine.dispose()

            monkeypatch.setenv("HANDOVER_AUDIT_ACCEPT_BROKEN_CHAIN", str(third))
            flask_migrate.upgrade()
            rekey = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
            assert (rekey.seq, rekey.action) == (5, "audit.rekey")
            assert f"the old chain was broken at event {third}, re-linked as accepted" in rekey.summary
            assert audit.verify_chain() == (5, None)
        finally:
            db.session.remove()
            db.engine.dispose()
