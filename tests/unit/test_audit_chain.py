"""The audit log is hash-chained: editing or deleting a past event is detected."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Role
from app.services import audit
from app.services.context import Actor


@pytest.fixture
def chain(app) -> list[AuditEvent]:
    actor = Actor(user_id=None, name="Ivy Tech", role=Role.IT)
    made = [
        audit.record_event(
            actor, "account.update", "account", n, f"Edited account {n}", {"name": f"old {n}"}, {"name": f"new {n}"}
        )
        for n in range(1, 6)
    ]
    db.session.commit()
    return made


def test_each_event_chains_onto_the_previous_one(chain):
    assert chain[0].prev_hash == audit.GENESIS
    for previous, event in zip(chain, chain[1:], strict=False):
        assert event.prev_hash == previous.hash
    assert len({e.hash for e in chain}) == len(chain)
    assert all(len(e.hash) == 64 for e in chain)


def test_an_intact_chain_verifies(chain):
    assert audit.verify_chain() == (5, None)


def test_an_empty_log_verifies(app):
    assert audit.verify_chain() == (0, None)


@pytest.mark.parametrize("field", ["summary", "actor_name", "after"])
def test_editing_a_past_event_is_detected_at_that_event(chain, field):
    target = chain[2]
    value = {"name": "forged"} if field == "after" else "forged"
    db.session.execute(sa.update(AuditEvent).where(AuditEvent.id == target.id).values({field: value}))
    db.session.commit()

    assert audit.verify_chain() == (2, target.id)


def test_deleting_a_middle_event_is_detected_at_the_next_one(chain):
    db.session.execute(sa.delete(AuditEvent).where(AuditEvent.id == chain[2].id))
    db.session.commit()

    assert audit.verify_chain() == (2, chain[3].id)


def test_recomputing_a_tampered_events_own_hash_still_breaks_the_chain_after_it(chain):
    target = chain[1]
    target.summary = "forged"
    target.hash = audit._content_digest(target.prev_hash, target)
    db.session.commit()

    assert audit.verify_chain() == (2, chain[2].id)


def test_new_events_after_a_verified_chain_keep_it_intact(chain):
    actor = Actor(user_id=None, name="system", role=Role.ADMIN)
    audit.record_event(actor, "person.create", "person", 1, "Added someone", None, {"name": "Someone"})
    db.session.commit()
    assert audit.verify_chain() == (6, None)
