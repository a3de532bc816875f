"""Privacy (DESIGN.md): a configurable number of days after a departed person's case closes,
`flask handover tick` erases their personal email and phone; the audit trail records that an
erasure happened (the field names), never the values."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import AuditEvent, CaseStatus, OffboardingCase, Person, PersonStatus, Role
from app.services import audit, checklist, offboarding, people
from app.services.context import Actor
from config import Config
from tests import factories

HR = Actor(user_id=None, name="Hal HR", role=Role.HR)
TODAY = date(2031, 6, 15)
EMAIL = "dana.private@home.example"
PHONE = "+1 202-555-0142"


def _closed_case(person: Person, closed_on: date) -> OffboardingCase:
    """A departed person whose (empty) case closed on ``closed_on``."""
    case = offboarding.start_case(HR, person, closed_on - timedelta(days=1), "New job", via="api", today=closed_on)
    offboarding.tick(closed_on, erase_after_days=10_000)  # departs them; nothing is due for erasure yet
    for item in case.items:
        checklist.waive_item(Actor.system("test"), item, "Not needed for this test", item.version)
    checklist.close_case(HR, case)
    case.closed_at = datetime.combine(closed_on, datetime.min.time(), UTC).replace(hour=17)
    db.session.flush()
    assert person.status is PersonStatus.DEPARTED and case.status is CaseStatus.CLOSED
    return case


def _leaver(name: str = "Dana Whitfield", **kw: Any) -> Person:
    kw.setdefault("personal_email", EMAIL)
    kw.setdefault("personal_phone", PHONE)
    return factories.make_person(name, **kw)


def _everywhere() -> str:
    """Every audit event, every column, as one string (what an auditor or a backup would see)."""
    db.session.expire_all()
    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))
    return "\n".join(
        json.dumps([e.action, e.summary, e.before, e.after, e.object_type, e.actor_name], default=str) for e in events
    )


def _person_row(person_id: int) -> tuple[Any, ...]:
    return tuple(db.session.execute(sa.select(Person.__table__).where(Person.__table__.c.id == person_id)).one())


def test_the_default_is_90_days_and_the_environment_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config.load()["ERASE_PERSONAL_AFTER_DAYS"] == 90
    monkeypatch.setenv("HANDOVER_ERASE_PERSONAL_AFTER_DAYS", "30")
    assert Config.load()["ERASE_PERSONAL_AFTER_DAYS"] == 30


def test_personal_details_are_erased_once_the_configured_days_have_passed(app: Flask) -> None:
    dana = _leaver()
    closed_on = TODAY - timedelta(days=90)
    _closed_case(dana, closed_on)
    db.session.commit()

    one_day_early = offboarding.tick(TODAY - timedelta(days=1), erase_after_days=90)
    assert one_day_early.erased == []
    assert (dana.personal_email, dana.personal_phone) == (EMAIL, PHONE)

    summary = offboarding.tick(TODAY, erase_after_days=90)
    db.session.commit()

    assert summary.erased == [dana]
    assert any("Erased Dana Whitfield's personal contact details" in line for line in summary.lines())
    db.session.expire_all()
    row = _person_row(dana.id)
    assert EMAIL not in map(str, row) and PHONE not in map(str, row)
    assert (dana.personal_email, dana.personal_phone) == (None, None)
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "person.erase_personal"))
    assert (event.object_type, event.object_id, event.actor_name) == ("person", dana.id, "flask handover tick")
    assert event.before["erased"] == event.after["erased"] == ["personal_email", "personal_phone"]
    assert "personal email and personal phone" in event.summary
    assert audit.verify_chain()[1] is None

    again = offboarding.tick(TODAY + timedelta(days=1), erase_after_days=90)
    assert again.erased == []  # nothing left to erase: no second event


def test_the_erased_values_appear_in_no_audit_event(app: Flask) -> None:
    """Her details were added, then replaced through the people service, then erased: no event holds either value."""
    dana = _leaver(personal_email="old.private@home.example", personal_phone=None)
    people.update_person(
        Actor.system("test"),
        dana,
        people.PersonData(name=dana.name, work_email=dana.work_email, personal_email=EMAIL, personal_phone=PHONE),
        dana.version,
    )
    _closed_case(dana, TODAY - timedelta(days=100))
    offboarding.tick(TODAY, erase_after_days=90)
    db.session.commit()

    trail = _everywhere()
    assert "person.erase_personal" in trail
    for value in (EMAIL, PHONE, "old.private@home.example", "202-555-0142"):
        assert value not in trail
    assert EMAIL not in map(str, _person_row(dana.id))


def test_the_setting_comes_from_the_app_config_through_the_cli(app: Flask) -> None:
    dana = _leaver()
    _closed_case(dana, TODAY - timedelta(days=5))
    db.session.commit()
    app.config["ERASE_PERSONAL_AFTER_DAYS"] = 7

    early = app.test_cli_runner().invoke(args=["handover", "tick", "--today", (TODAY - timedelta(days=1)).isoformat()])
    assert early.exit_code == 0, early.output
    assert "Erased" not in early.output

    due = app.test_cli_runner().invoke(args=["handover", "tick", "--today", (TODAY + timedelta(days=2)).isoformat()])
    assert due.exit_code == 0, due.output
    assert "Erased Dana Whitfield's personal contact details" in due.output
    db.session.rollback()
    assert db.session.get(Person, dana.id).personal_email is None


def test_who_is_not_erased(app: Flask) -> None:
    long_ago = TODAY - timedelta(days=400)
    # Departed, but the case was cancelled rather than closed.
    cancelled = _leaver("Cancelled Case", personal_email="c@home.example")
    case = offboarding.start_case(HR, cancelled, long_ago, "x", via="api", today=long_ago)
    offboarding.cancel_case(HR, case, "Changed their mind")
    # A closed case, but a new case is open for them now (they came back and are leaving again).
    again = _leaver("Leaving Again", personal_email="a@home.example")
    _closed_case(again, long_ago)
    again.status = PersonStatus.ACTIVE
    offboarding.start_case(HR, again, TODAY + timedelta(days=30), "Leaving again", via="api", today=TODAY)
    # A person with no case at all.
    staying = _leaver("Still Here", personal_email="s@home.example")
    # Closed case, but not yet departed (a case closed before the last day).
    early = _leaver("Early Closer", personal_email="e@home.example")
    early_case = offboarding.start_case(HR, early, TODAY + timedelta(days=30), "x", via="api", today=long_ago)
    for item in early_case.items:
        checklist.waive_item(Actor.system("test"), item, "Not needed for this test", item.version)
    checklist.close_case(HR, early_case)
    early_case.closed_at = datetime.combine(long_ago, datetime.min.time(), UTC)
    db.session.flush()

    summary = offboarding.tick(TODAY, erase_after_days=90)

    assert summary.erased == []
    for person in (cancelled, again, staying, early):
        assert person.personal_email is not None, person.name
    assert not db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "person.erase_personal")).all()


def test_zero_days_erases_at_the_next_tick(app: Flask) -> None:
    dana = _leaver(personal_phone=None)
    _closed_case(dana, TODAY)
    summary = offboarding.tick(TODAY, erase_after_days=0)
    assert summary.erased == [dana] and dana.personal_email is None
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "person.erase_personal"))
    assert event.after["erased"] == ["personal_email"]


def test_a_personal_address_used_as_a_recovery_contact_is_gone_from_the_trail_too(app: Flask) -> None:
    from app.services import accounts

    dana = _leaver()
    account = factories.make_account(name="Library Page")
    accounts.add_recovery_contact(Actor.system("test"), account, factories.RecoveryKind.EMAIL, EMAIL)
    case = offboarding.start_case(HR, dana, TODAY - timedelta(days=120), "New job", via="api", today=TODAY - timedelta(days=120))
    offboarding.tick(TODAY - timedelta(days=110), erase_after_days=10_000)
    for item in case.items:
        if item.kind.value == "replace_recovery":
            checklist.complete_item(Actor.system("test"), item, {"kind": "email", "value": "web@library.example"}, item.version)
        else:
            checklist.waive_item(Actor.system("test"), item, "Not needed for this test", item.version)
    checklist.close_case(HR, case)
    case.closed_at = datetime.combine(TODAY - timedelta(days=100), datetime.min.time(), UTC)
    offboarding.tick(TODAY, erase_after_days=90)
    db.session.commit()

    assert dana.personal_email is None
    assert EMAIL not in _everywhere()
