"""`flask handover tick`, run daily from cron: leavers whose last day has passed become departed
and their sign-ins are deactivated (their sessions end); one commit; safe to run again."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import AuditEvent, Person, PersonStatus, Role, User
from app.services import offboarding
from app.services.context import Actor
from tests import factories


def flask(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def _leaver_with_sign_in(name: str, last_day: date) -> tuple[int, int, str]:
    person = factories.make_person(name)
    user = factories.make_user(Role.STAFF, person=person)
    offboarding.start_case(Actor.system("hr system"), person, last_day, "Leaving", via="api")
    db.session.commit()
    return person.id, user.id, user.session_epoch


def test_tick_departs_leavers_whose_last_day_has_passed(app: Flask, today: date) -> None:
    gone_id, gone_user_id, epoch = _leaver_with_sign_in("Dana Whitfield", today - timedelta(days=1))
    stay_id, stay_user_id, _ = _leaver_with_sign_in("Priya Natarajan", today + timedelta(days=7))

    result = flask(app, "handover", "tick")
    assert result.exit_code == 0, result.output
    assert "Dana Whitfield is now departed" in result.output
    assert "Deactivated the sign-in" in result.output
    assert "Priya" not in result.output

    db.session.rollback()  # see what the command committed
    gone, stay = db.session.get(Person, gone_id), db.session.get(Person, stay_id)
    assert (gone.status, gone.left_on) == (PersonStatus.DEPARTED, today - timedelta(days=1))
    assert stay.status is PersonStatus.LEAVING
    user = db.session.get(User, gone_user_id)
    assert user.active is False and user.session_epoch != epoch
    assert db.session.get(User, stay_user_id).active is True
    actions = set(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.actor_name == "flask handover tick")))
    assert actions == {"person.update", "user.deactivate"}

    again = flask(app, "handover", "tick")
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.output


def test_tick_as_of_a_given_day(app: Flask, today: date) -> None:
    person_id, _, _ = _leaver_with_sign_in("Priya Natarajan", today + timedelta(days=7))
    on_last_day = flask(app, "handover", "tick", "--today", (today + timedelta(days=7)).isoformat())
    assert on_last_day.exit_code == 0 and "nothing changed" in on_last_day.output
    after = flask(app, "handover", "tick", "--today", (today + timedelta(days=8)).isoformat())
    assert after.exit_code == 0, after.output
    assert "Priya Natarajan is now departed" in after.output
    db.session.rollback()
    assert db.session.get(Person, person_id).status is PersonStatus.DEPARTED
