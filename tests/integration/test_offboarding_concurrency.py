"""Two people complete the same checklist item at the same moment, against a real database file
(SQLite) and PostgreSQL: each in its own thread, app context and session, both having read the
item at the same version before either writes. Exactly one wins; the other is refused (StaleEdit
naming who did it, or the version column's StaleDataError) and nothing is applied twice."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db
from app.models import AuditEvent, ChecklistItem, ItemKind, ItemStatus, OffboardingCase, PersonStatus, RecoveryContact, Role
from app.services import audit, checklist
from app.services.context import Actor
from app.services.errors import StaleEdit
from tests import factories


def _scene() -> dict[str, int]:
    dana = factories.make_person("Dana Whitfield", status=PersonStatus.LEAVING, personal_email="dana@home.example")
    account = factories.make_account(name="Riverside Public Library")
    old = factories.make_recovery(account, "dana@home.example", person=dana)
    case = OffboardingCase(person=dana, last_day=date.today(), started_by_name="Hal HR")
    db.session.add(case)
    db.session.flush()
    item = ChecklistItem(
        case=case,
        kind=ItemKind.REPLACE_RECOVERY,
        title="Replace the recovery contact",
        source_key="recovery",
        due_on=date.today(),
        assignee_role="it",
        account_id=account.id,
        recovery_contact_id=old.id,
    )
    db.session.add(item)
    db.session.commit()
    return {"item": item.id, "account": account.id}


def test_two_people_completing_the_same_item_at_once(app: Flask) -> None:
    ids = _scene()
    db.session.remove()
    barrier = threading.Barrier(2, timeout=30)
    results: dict[str, Any] = {}
    values = {"Ida IT": "web@library.example", "Ivo IT": "it@library.example"}

    def work(name: str) -> None:
        with app.app_context():
            try:
                item = db.session.get(ChecklistItem, ids["item"])
                assert item is not None
                version = item.version
                _ = (item.case.person, item.account.recovery_contacts)  # the form is built: everything read
                db.session.commit()  # end the read (as a page request would), keeping the loaded objects
                barrier.wait()  # both have read version 1 before either writes
                actor = Actor(user_id=None, name=name, role=Role.IT)
                checklist.complete_item(actor, item, {"kind": "email", "value": values[name]}, version)
                db.session.commit()
                results[name] = "done"
            except StaleEdit as error:
                db.session.rollback()
                results[name] = error
            except StaleDataError as error:
                # The version column refused the second write; the door says who did it from the audit log.
                db.session.rollback()
                results[name] = StaleEdit("The checklist item", audit.changes_since("checklist_item", ids["item"], 1))
                results[name].cause = error
            except BaseException as error:  # noqa: BLE001  (reported below)
                db.session.rollback()
                results[name] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(name,)) for name in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert set(results) == set(values), results
    winners = [n for n, r in results.items() if r == "done"]
    losers = {n: r for n, r in results.items() if r != "done"}
    assert len(winners) == 1, results
    [(loser, error)] = losers.items()
    assert isinstance(error, StaleEdit), repr(error)
    assert any(c.who == winners[0] and c.field == "status" and c.after == "done" for c in error.changes), error.changes

    db.session.expire_all()
    item = db.session.get(ChecklistItem, ids["item"])
    assert item.status is ItemStatus.DONE and item.completed_by_name == winners[0] and item.version == 2
    contacts = list(db.session.scalars(sa.select(RecoveryContact.value).where(RecoveryContact.account_id == ids["account"])))
    assert contacts == [values[winners[0]]]  # applied once: one new contact, the old one gone
    completions = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "offboarding.item.complete")).all()
    assert [e.actor_name for e in completions] == [winners[0]]
    adds = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "account.recovery.add")).all()
    assert len(adds) == 1
    assert audit.verify_chain()[1] is None
