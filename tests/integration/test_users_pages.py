"""The users pages (admins): the last active admin stays, forms left empty say what is missing and
change nothing, and the `flask users` commands that invite and list sign-ins."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import Role, User
from tests import factories
from tests.integration.sign_in_kit import audit_count, audit_events, fresh, link_in, smtp_inbox, turn_on_two_factors

LAST_ADMIN = "is the last active admin"


# --- The last active admin ----------------------------------------------------------------


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(app: Flask, client: Any, login_as: Any) -> None:
    admin = login_as(Role.ADMIN)
    factories.make_user(Role.ADMIN, active=False)  # a deactivated admin does not count
    db.session.commit()
    events = audit_count()

    demoted = client.submit(f"/users/{admin.id}/role", {"role": "director"})
    deactivated = client.submit(f"/users/{admin.id}/deactivate", {"reason": "Handing over"})

    for refused in (demoted, deactivated):
        assert refused.status_code == 400
        assert f"{admin.email} {LAST_ADMIN}" in refused.text and "Make someone else an admin first." in refused.text
    user = fresh(admin.id)
    assert user.role is Role.ADMIN and user.active
    assert audit_count() == events
    assert client.get("/users/").status_code == 200, "still signed in, still an admin"


def test_with_two_admins_either_can_be_demoted_or_deactivated(app: Flask, client: Any, login_as: Any) -> None:
    login_as(Role.ADMIN)
    second = factories.make_user(Role.ADMIN)
    third = factories.make_user(Role.ADMIN)
    db.session.commit()

    demoted = client.submit(f"/users/{second.id}/role", {"role": "director"})
    assert demoted.status_code == 302
    assert f"{second.email} is now Director." in client.get(demoted.headers["Location"]).text
    deactivated = client.submit(f"/users/{third.id}/deactivate", {"reason": "Left the organisation"})
    assert deactivated.status_code == 302

    assert fresh(second.id).role is Role.DIRECTOR
    assert not fresh(third.id).active
    [change] = audit_events("user.role_change")
    assert (change.object_id, change.before, change.after) == (second.id, {"role": "admin"}, {"role": "director"})
    assert [e.object_id for e in audit_events("user.deactivate")] == [third.id]


# --- Forms left empty ---------------------------------------------------------------------


def test_forms_left_empty_say_what_is_missing_and_change_nothing(app: Flask, client: Any, login_as: Any) -> None:
    login_as(Role.ADMIN)
    colleague = factories.make_user(Role.IT)
    stopped = factories.make_user(Role.STAFF, active=False)
    db.session.commit()
    turn_on_two_factors(colleague)
    events = audit_count()

    no_role = client.submit(f"/users/{colleague.id}/role", {})
    no_reason_to_reset = client.submit(f"/users/{colleague.id}/two-factor/reset", {})
    no_reason_to_reactivate = client.submit(f"/users/{stopped.id}/reactivate", {"reason": "  "})
    no_reason_to_deactivate = client.submit(f"/users/{colleague.id}/deactivate", {})

    assert no_role.status_code == 400 and "Choose one of the roles; the role was not changed." in no_role.text
    assert no_reason_to_reset.status_code == 400 and "Say why two factors are reset" in no_reason_to_reset.text
    assert no_reason_to_reactivate.status_code == 400 and "it was not reactivated" in no_reason_to_reactivate.text
    assert no_reason_to_deactivate.status_code == 400
    for page in (no_reason_to_reset, no_reason_to_reactivate, no_reason_to_deactivate):
        assert "Say why (it goes in the audit log)." in page.text, "the reason field shows its error"
    assert audit_count() == events
    assert fresh(colleague.id).role is Role.IT and fresh(colleague.id).two_factor_enabled and fresh(colleague.id).active
    assert not fresh(stopped.id).active


def test_a_reactivated_sign_in_works_again(app: Flask, client: Any, login_as: Any) -> None:
    login_as(Role.ADMIN)
    stopped = factories.make_user(Role.STAFF, active=False)
    db.session.commit()

    done = client.submit(f"/users/{stopped.id}/reactivate", {"reason": "Back from leave"})

    assert done.status_code == 302
    assert fresh(stopped.id).active
    [event] = audit_events("user.reactivate")
    assert "Back from leave" in event.summary


def test_the_users_page_filters_by_status(app: Flask, client: Any, login_as: Any) -> None:
    login_as(Role.ADMIN)
    factories.make_user(Role.STAFF, email="still.here@org.example")
    factories.make_user(Role.STAFF, email="gone.away@org.example", active=False)
    db.session.commit()
    with smtp_inbox(app):
        invited = client.submit("/users/invite", {"email": "on.the.way@org.example", "role": "staff"})
    assert client.get(invited.headers["Location"]).status_code == 200  # shows (and so uses up) the "Invited" message

    def listed(status: str) -> set[str]:
        page = client.get(f"/users/?status={status}")
        assert page.status_code == 200
        return {e for e in ("still.here", "gone.away", "on.the.way") if f"{e}@org.example" in page.text}

    assert listed("active") == {"still.here"}
    assert listed("invited") == {"on.the.way"}
    assert listed("deactivated") == {"gone.away"}


# --- flask users invite / list ------------------------------------------------------------


def flask(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def test_invite_on_the_command_line_prints_the_link_when_email_is_off(app: Flask, client: Any) -> None:
    app.config["BASE_URL"] = "https://handover.example.org"

    result = flask(app, "users", "invite", "Casey.New@Org.example", "--role", "it")

    assert result.exit_code == 0, result.output
    assert "Invited casey.new@org.example as IT." in result.output
    assert "Email is switched off (HANDOVER_SMTP_HOST): give them this link yourself, privately:" in result.output
    link = re.search(r"https://handover\.example\.org(/invite/\S+)", result.output)
    assert link, result.output
    page = client.get(link.group(1))
    assert page.status_code == 200 and "casey.new@org.example" in page.text

    listing = flask(app, "users", "list")
    assert listing.exit_code == 0, listing.output
    [row] = [line for line in listing.output.splitlines() if "casey.new@org.example" in line]
    assert row.split() == ["casey.new@org.example", "it", "invited", "off", "Not", "set", "up", "never"]


def test_invite_on_the_command_line_emails_the_link(app: Flask, client: Any) -> None:
    app.config["BASE_URL"] = "https://handover.example.org"
    with smtp_inbox(app) as inbox:
        result = flask(app, "users", "invite", "robin@org.example", "--role", "hr")

    assert result.exit_code == 0, result.output
    assert "The invitation email is on its way." in result.output
    assert "/invite/" not in result.output, "the link goes only to the invited person"
    [message] = inbox.to("robin@org.example")
    assert client.get(link_in(message)).status_code == 200


def test_invite_on_the_command_line_needs_base_url(app: Flask) -> None:
    app.config["BASE_URL"] = ""

    result = flask(app, "users", "invite", "robin@org.example", "--role", "hr")

    assert result.exit_code == 1
    assert "Set HANDOVER_BASE_URL to the address people open Handover at" in result.output
    db.session.rollback()
    assert db.session.scalar(sa.select(User).where(User.email == "robin@org.example")) is None
    assert audit_count() == 0


def test_invite_on_the_command_line_refuses_a_taken_email(app: Flask, make_user: Any) -> None:
    app.config["BASE_URL"] = "https://handover.example.org"
    user = make_user(Role.STAFF)

    result = flask(app, "users", "invite", user.email, "--role", "admin")

    assert result.exit_code == 1
    assert f"{user.email} already has a sign-in." in result.output
    assert fresh(user.id).role is Role.STAFF


def test_list_on_the_command_line(app: Flask, make_user: Any) -> None:
    assert "Nobody can sign in yet: run `flask users create-admin`." in flask(app, "users", "list").output
    admin = make_user(Role.ADMIN, email="ada@org.example")
    make_user(Role.STAFF, email="sam@org.example", active=False)
    turn_on_two_factors(admin)

    listing = flask(app, "users", "list")

    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert lines[0].split() == ["EMAIL", "ROLE", "STATUS", "2FA", "SIGNS", "IN", "WITH", "LAST", "SIGN-IN"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["ada@org.example", "admin", "active", "on"],
        ["sam@org.example", "staff", "deactivated", "off"],
    ]
