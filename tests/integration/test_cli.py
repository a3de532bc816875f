"""The `flask` commands an operator runs: create the first admin, verify the audit chain."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import Role, User
from app.models.audit import AuditEvent
from app.services import audit
from app.services.context import Actor

PASSWORD = "correct-horse-battery"


def flask(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def assert_clean_failure(result: Any, message: str) -> None:
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)


def users() -> list[User]:
    db.session.rollback()  # see what the command committed
    return list(db.session.scalars(sa.select(User)))


def test_create_admin_makes_an_admin_who_can_sign_in(app: Flask, client: Any) -> None:
    result = flask(app, "users", "create-admin", "--email", "Boss@Org.Example", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert "Created admin boss@org.example" in result.output
    [user] = users()
    assert (user.email, user.role, user.active) == ("boss@org.example", Role.ADMIN, True)
    assert PASSWORD not in user.password_hash
    client.login(user, PASSWORD)
    assert client.get("/audit/").status_code == 200  # an admin-only page
    events = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.action, e.actor_name) for e in events] == [
        ("user.create", "flask users create-admin"),
        ("auth.sign_in", "boss@org.example"),
    ]


def test_create_admin_refuses_a_short_password(app: Flask) -> None:
    result = flask(app, "users", "create-admin", "--email", "boss@org.example", "--password", "short")
    assert_clean_failure(result, "at least 12 characters")
    assert "The sign-in was not created." in result.output
    assert users() == []


def test_create_admin_refuses_a_taken_email(app: Flask) -> None:
    assert flask(app, "users", "create-admin", "--email", "boss@org.example", "--password", PASSWORD).exit_code == 0
    result = flask(app, "users", "create-admin", "--email", "BOSS@org.example", "--password", PASSWORD + "-2")
    assert_clean_failure(result, "boss@org.example already has a sign-in.")
    assert len(users()) == 1


def test_audit_verify_reports_an_intact_chain_and_names_a_tampered_event(app: Flask, drop_append_only_triggers) -> None:
    empty = flask(app, "audit", "verify")
    assert empty.exit_code == 0, empty.output
    assert "The audit chain is intact: 0 events checked." in empty.output

    # Three events through the audit service (each create-admin would cost an argon2 hash).
    for n in range(3):
        audit.record_event(Actor.system("test"), "test.event", "test", n, f"Event {n}", None, {"n": n})
    db.session.commit()
    intact = flask(app, "audit", "verify")
    assert intact.exit_code == 0, intact.output
    assert "The audit chain is intact: 3 events checked." in intact.output

    drop_append_only_triggers()
    db.session.execute(sa.text("UPDATE audit_events SET summary = 'x' WHERE seq = 2"))
    db.session.commit()
    broken = flask(app, "audit", "verify")
    assert broken.exit_code == 1
    assert_clean_failure(
        broken, "The audit chain is broken at sequence number 2: its content or link was changed (1 events before it are intact)."
    )
