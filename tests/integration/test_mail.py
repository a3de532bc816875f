"""Email through a real SMTP server (aiosmtpd in the test): reminder digests, and the outbox that
sends only what was committed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from flask import Flask

from app.extensions import db
from app.models import Person, ReviewCampaign, ReviewTask, Role
from app.services import mail, reviews
from app.services.context import Actor
from tests import factories
from tests.net import free_port


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]


def start(inbox: Inbox, **kwargs: Any) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


@pytest.fixture
def inbox(app: Flask) -> Iterator[Inbox]:
    """A real SMTP server on a free local port; the app sends to it."""
    received = Inbox()
    controller = start(received)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_FROM="handover@org.example")
    yield received
    controller.stop()


def remind(app: Flask) -> Any:
    return app.test_cli_runner().invoke(args=["reviews", "remind"])


def body_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


@pytest.fixture
def world(app: Flask, today: date) -> dict[str, Any]:
    """Two stewards with accounts in an overdue campaign and in one due in three days; a third whose
    only campaign is due next month (no reminder yet)."""
    dept = factories.make_department("Adult Services")
    dana = factories.make_person("Dana Steward", work_email="dana@org.example", department=dept)
    sam = factories.make_person("Sam Steward", work_email="sam@org.example", department=dept)
    far = factories.make_person("Fran Later", work_email="fran@org.example")
    other = factories.make_department("Later Dept")
    platform = factories.make_platform("Facebook")
    factories.make_account(platform, name="Library Page", department=dept, steward=dana)
    factories.make_account(platform, name="Library Blog", department=dept, steward=dana)
    factories.make_account(platform, name="Newsletter", department=dept, steward=sam)
    factories.make_account(platform, name="Far Feed", department=other, steward=far)
    system = Actor.system("test")
    overdue = reviews.open_campaign(system, "Winter review", today, [dept.id])
    overdue.due_on = today - timedelta(days=4)
    soon = reviews.open_campaign(system, "Spring review", today + timedelta(days=3), [dept.id])
    reviews.open_campaign(system, "Summer review", today + timedelta(days=30), [other.id])
    db.session.commit()
    return {"overdue": overdue.id, "soon": soon.id}


def test_each_assignee_gets_one_digest_of_their_tasks_overdue_first(
    app: Flask, world: dict[str, Any], inbox: Inbox, today: date
) -> None:
    result = remind(app)

    assert result.exit_code == 0, result.output
    assert "Sent 2 reminder emails." in result.output
    assert sorted(m["To"] for m in inbox.messages) == ["dana@org.example", "sam@org.example"]

    [dana] = inbox.to("dana@org.example")
    assert dana["From"] == "handover@org.example"
    assert dana["Subject"] == "Reminder: 4 accounts to review, 2 overdue"
    body = body_of(dana)
    assert body.startswith("Hello Dana Steward,")
    lines = [line for line in body.splitlines() if line.startswith("- ")]
    assert lines == [
        f"- Library Blog (Facebook) — “Winter review”, overdue by 4 days (due {today - timedelta(days=4):%d %b %Y})",
        f"- Library Page (Facebook) — “Winter review”, overdue by 4 days (due {today - timedelta(days=4):%d %b %Y})",
        f"- Library Blog (Facebook) — “Spring review”, due {today + timedelta(days=3):%d %b %Y}",
        f"- Library Page (Facebook) — “Spring review”, due {today + timedelta(days=3):%d %b %Y}",
    ]
    assert body.index("Overdue:") < body.index("Due soon:")

    [sam] = inbox.to("sam@org.example")
    assert [line for line in body_of(sam).splitlines() if line.startswith("- ")] == [
        f"- Newsletter (Facebook) — “Winter review”, overdue by 4 days (due {today - timedelta(days=4):%d %b %Y})",
        f"- Newsletter (Facebook) — “Spring review”, due {today + timedelta(days=3):%d %b %Y}",
    ]
    assert not inbox.to("fran@org.example")

    # Every task in a digest is stamped; the far campaign's are not.
    db.session.rollback()
    stamped = {
        (t.campaign.name, t.reminded_at is not None) for t in db.session.scalars(sa.select(ReviewTask).join(ReviewTask.campaign))
    }
    assert stamped == {("Winter review", True), ("Spring review", True), ("Summer review", False)}


def test_a_second_run_the_same_day_sends_nothing(app: Flask, world: dict[str, Any], inbox: Inbox) -> None:
    assert remind(app).exit_code == 0
    count = len(inbox.messages)

    again = remind(app)

    assert again.exit_code == 0, again.output
    assert "No reminders are due; no email was sent." in again.output
    assert len(inbox.messages) == count


def test_done_tasks_are_not_reminded(app: Flask, world: dict[str, Any], inbox: Inbox) -> None:
    sam_id = db.session.scalar(sa.select(Person.id).where(Person.name == "Sam Steward"))
    for task in db.session.scalars(sa.select(ReviewTask).where(ReviewTask.assignee_id == sam_id)):
        reviews.confirm_task(Actor.system("test"), task)
    db.session.commit()

    assert "Sent 1 reminder email." in remind(app).output
    assert [m["To"] for m in inbox.messages] == ["dana@org.example"]


def test_a_rollback_sends_nothing(app: Flask, inbox: Inbox, today: date) -> None:
    person = factories.make_person("Dana Steward", work_email="dana@org.example")
    factories.make_account(factories.make_platform(), name="Library Page", steward=person)
    db.session.commit()

    reviews.open_campaign(Actor.system("test"), "Rolled back", today + timedelta(days=3), [])
    mail.queue("someone@org.example", "Never sent", "This change was rolled back.")
    assert len(mail.pending()) == 2
    db.session.rollback()
    db.session.commit()  # a later, empty commit must not find the dropped messages

    assert inbox.messages == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewCampaign)) == 0


def test_a_commit_sends_what_was_queued_once(app: Flask, inbox: Inbox, today: date) -> None:
    person = factories.make_person("Dana Steward", work_email="dana@org.example")
    factories.make_account(factories.make_platform(), name="Library Page", steward=person)
    db.session.commit()

    reviews.open_campaign(
        Actor(user_id=None, name="Dee Rector", role=Role.DIRECTOR), "Spring review", today + timedelta(days=3), []
    )
    assert inbox.messages == []  # nothing leaves before the commit
    db.session.commit()
    db.session.commit()

    assert inbox.subjects() == [f"Access review “Spring review”: 1 account to confirm by {today + timedelta(days=3):%d %b %Y}"]
    assert "Dee Rector has opened the access review" in body_of(inbox.messages[0])
    assert [m.to for m in mail.last_delivery().sent] == []  # the second commit had nothing to send


def test_a_page_that_fails_sends_nothing(app: Flask, client: Any, login_as: Any, inbox: Inbox, today: date) -> None:
    login_as(Role.DIRECTOR)
    factories.make_account(
        factories.make_platform(), name="Library Page", steward=factories.make_person(work_email="d@org.example")
    )
    db.session.commit()

    refused = client.submit("/reviews/new", {"name": "Late", "due_on": (today - timedelta(days=1)).isoformat()})
    assert refused.status_code == 400 and inbox.messages == []

    opened = client.submit("/reviews/new", {"name": "On time", "due_on": (today + timedelta(days=9)).isoformat()})
    assert opened.status_code == 302
    assert [m["To"] for m in inbox.messages] == ["d@org.example"]


def test_no_smtp_host_means_the_command_refuses_and_marks_nothing(app: Flask, world: dict[str, Any]) -> None:
    app.config["SMTP_HOST"] = ""

    result = remind(app)

    assert result.exit_code == 1
    assert "Email is disabled: set HANDOVER_SMTP_HOST" in result.output
    db.session.rollback()
    assert all(t.reminded_at is None for t in db.session.scalars(sa.select(ReviewTask)))


def test_an_unreachable_server_leaves_the_reminders_due(app: Flask, world: dict[str, Any], today: date) -> None:
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())  # nothing listens there

    result = remind(app)

    assert result.exit_code == 1
    assert "2 email(s) could not be sent" in result.output and "those reminders are still due" in result.output
    db.session.rollback()
    assert len(reviews.reminders_due(today)) == 2


def test_the_sign_in_uses_the_configured_credentials_and_never_shows_the_password(
    app: Flask, world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, str]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        seen.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret-smtp-pass")

    received = Inbox()
    controller = start(received, authenticator=authenticator, auth_require_tls=False)
    try:
        app.config.update(
            SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_USERNAME="handover", SMTP_PASSWORD="s3cret-smtp-pass"
        )
        result = remind(app)
    finally:
        controller.stop()

    assert result.exit_code == 0, result.output
    assert seen and seen[0] == ("handover", "s3cret-smtp-pass")
    assert len(received.messages) == 2
    assert "s3cret-smtp-pass" not in result.output + caplog.text
    assert all("s3cret" not in m.as_string() for m in received.messages)


def test_reminded_today_is_a_calendar_day_in_utc(app: Flask, world: dict[str, Any], inbox: Inbox, today: date) -> None:
    yesterday = datetime.combine(today - timedelta(days=1), datetime.max.time(), UTC)
    for task in db.session.scalars(sa.select(ReviewTask)):
        task.reminded_at = yesterday
    db.session.commit()

    assert "Sent 2 reminder emails." in remind(app).output
