"""`flask handover remind` through a real SMTP server (aiosmtpd in the test): one digest per
assignee of their open offboarding items, overdue first, sent after the commit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import AuditEvent, CaseStatus, ChecklistItem, ItemKind, ItemStatus, OffboardingCase, PersonStatus, Role
from app.services import mail, offboarding_reminders
from app.services.context import Actor
from tests import factories
from tests.integration.test_mail import Inbox, body_of, start


@pytest.fixture
def inbox(app: Flask) -> Iterator[Inbox]:
    received = Inbox()
    controller = start(received)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_FROM="handover@org.example")
    yield received
    controller.stop()


def remind(app: Flask) -> Any:
    return app.test_cli_runner().invoke(args=["handover", "remind"])


def _item(case: OffboardingCase, title: str, due: int, today: date, **kw: Any) -> ChecklistItem:
    kw.setdefault("kind", ItemKind.CUSTOM)
    item = ChecklistItem(case=case, title=title, source_key=title, due_on=today + timedelta(days=due), **kw)
    db.session.add(item)
    db.session.flush()
    return item


@pytest.fixture
def world(app: Flask, today: date) -> dict[str, Any]:
    """Dana is leaving. Stella has two items (one overdue) and one transfer to confirm; IT's queue has
    one item (two IT sign-ins, one of them Stella's); a departed assignee and a closed case get nothing."""
    dana = factories.make_person("Dana Whitfield", status=PersonStatus.LEAVING, work_email="dana@org.example")
    stella = factories.make_person("Stella Steward", work_email="stella@org.example")
    gone = factories.make_person("Gone Person", status=PersonStatus.DEPARTED, work_email="gone@org.example")
    factories.make_user(Role.IT, email="it-sign-in@org.example", person=stella)
    factories.make_user(
        Role.IT, email="ivan@org.example", person=factories.make_person("Ivan IT", work_email="ivan.it@org.example")
    )
    factories.make_user(Role.IT, email="inactive@org.example", active=False)
    case = OffboardingCase(person=dana, last_day=today + timedelta(days=5), started_by_name="Hal HR")
    db.session.add(case)
    db.session.flush()
    _item(case, "Choose a new steward for “Blog”", 3, today, assignee_id=stella.id)
    _item(case, "Transfer ownership of “Library Page”", -2, today, assignee_id=stella.id)
    _item(case, "Confirm control of “Newsletter”", 1, today, status=ItemStatus.AWAITING_CONFIRMATION, confirmer_id=stella.id)
    _item(case, "Rotate the credential “Login”", 0, today, assignee_role="it")
    _item(case, "Already done", -9, today, assignee_id=stella.id, status=ItemStatus.DONE)
    _item(case, "Left with them", -1, today, assignee_id=gone.id)
    closed = OffboardingCase(
        person=factories.make_person("Old Leaver"), last_day=today, started_by_name="Hal HR", status=CaseStatus.CLOSED
    )
    db.session.add(closed)
    db.session.flush()
    _item(closed, "On a closed case", -30, today, assignee_id=stella.id)
    db.session.commit()
    return {"stella": stella.id}


def test_each_assignee_gets_one_digest_overdue_first(app: Flask, world: dict[str, Any], inbox: Inbox, today: date) -> None:
    result = remind(app)

    assert result.exit_code == 0, result.output
    assert "Sent 2 offboarding reminder emails." in result.output
    assert sorted(m["To"] for m in inbox.messages) == ["ivan.it@org.example", "stella@org.example"]

    [stella] = inbox.to("stella@org.example")
    assert stella["Subject"] == "Reminder: 4 offboarding tasks, 1 overdue"
    assert stella["From"] == "handover@org.example"
    body = body_of(stella)
    assert body.startswith("Hello Stella Steward,")
    lines = [line for line in body.splitlines() if line.startswith("- ")]
    assert lines == [
        f"- Transfer ownership of “Library Page” — offboarding of Dana Whitfield, overdue by 2 days (due {today - timedelta(days=2):%d %b %Y})",
        "- Rotate the credential “Login” — offboarding of Dana Whitfield, due today",
        f"- Confirm you have control: Confirm control of “Newsletter” — offboarding of Dana Whitfield, due {today + timedelta(days=1):%d %b %Y}",
        f"- Choose a new steward for “Blog” — offboarding of Dana Whitfield, due {today + timedelta(days=3):%d %b %Y}",
    ]
    assert body.index("Overdue:") < body.index("Coming up:")
    assert "Already done" not in body and "closed case" not in body and "Left with them" not in body

    [ivan] = inbox.to("ivan.it@org.example")
    assert ivan["Subject"] == "Reminder: 1 offboarding task"
    assert "Rotate the credential “Login”" in body_of(ivan)

    db.session.rollback()
    (event,) = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "offboarding.remind"))
    assert event.actor_name == "flask handover remind" and "2 offboarding reminders" in event.summary


def test_without_an_smtp_host_it_says_so_and_fails(app: Flask, world: dict[str, Any]) -> None:
    app.config["SMTP_HOST"] = ""
    result = remind(app)
    assert result.exit_code != 0
    assert "Email is disabled" in result.output and "HANDOVER_SMTP_HOST" in result.output
    db.session.rollback()
    assert not db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "offboarding.remind")).all()


def test_nothing_open_sends_nothing(app: Flask, inbox: Inbox) -> None:
    result = remind(app)
    assert result.exit_code == 0, result.output
    assert "no email was sent" in result.output
    assert inbox.messages == []


def test_a_rollback_sends_nothing(app: Flask, world: dict[str, Any], inbox: Inbox) -> None:
    digests = offboarding_reminders.send_reminders(Actor.system("test"))
    assert len(digests) == 2 and len(mail.pending()) == 2
    db.session.rollback()
    assert inbox.messages == [] and mail.pending() == []


def test_a_refused_connection_is_reported(app: Flask, world: dict[str, Any]) -> None:
    from tests.net import free_port

    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())  # nothing listens there
    result = remind(app)
    assert result.exit_code != 0
    assert "could not be sent" in result.output and "stella@org.example" in result.output
