"""Sessions end when they must: every revocation trigger refuses the old cookie on the very next
request; throttling by account and by address is temporary; idle and absolute limits; the audit
trail of sign-ins never holds a password.

A copy of the session cookie taken before the change stands for every other browser holding it:
the session is a signed cookie, so only the user's session epoch on the server can refuse it.
Time moves by editing rows or re-signing the cookie, never by sleeping.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import AuthAttempt, Role
from app.models.base import utcnow
from app.services import audit, offboarding, users
from app.services.context import Actor
from tests import factories
from tests.integration.sign_in_kit import (
    Phone,
    audit_events,
    code_step,
    fresh,
    link_in,
    password_step,
    replay,
    resign,
    sent_to_sign_in,
    session_cookie,
    smtp_inbox,
    turn_on_two_factors,
    with_cookie,
)

NEW_PASSWORD = "a-brand-new-passphrase-42"
WRONG = "certainly-not-the-password"


def signed_in_elsewhere(app: Flask, client: Any, user: Any) -> str:
    """Sign ``user`` in on ``client`` and return a copy of the cookie, checked to work."""
    client.login(user)
    cookie = session_cookie(client)
    assert replay(app, cookie).status_code == 200, "the copied cookie should work before the change"
    return cookie


def admin_browser(app: Flask) -> Any:
    admin = factories.make_user(Role.ADMIN)
    db.session.commit()
    browser = app.test_client()
    browser.login(admin)
    return browser


# --- Revocation: the old cookie fails on the very next request ----------------------------


def test_a_role_change_ends_the_users_sessions(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.IT)
    old = signed_in_elsewhere(app, client, user)

    changed = admin_browser(app).submit(f"/users/{user.id}/role", {"role": "staff"})

    assert changed.status_code == 302
    assert fresh(user.id).role is Role.STAFF
    assert sent_to_sign_in(replay(app, old, "/accounts/"))
    assert sent_to_sign_in(client.get("/"))


def test_deactivation_ends_the_users_sessions(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.HR)
    old = signed_in_elsewhere(app, client, user)

    done = admin_browser(app).submit(f"/users/{user.id}/deactivate", {"reason": "Left the organisation"})

    assert done.status_code == 302
    assert sent_to_sign_in(replay(app, old, "/people/"))


def test_a_password_change_ends_other_sessions_but_keeps_the_changers(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.STAFF)
    other_device = with_cookie(app, signed_in_elsewhere(app, client, user))

    changed = client.submit(
        "/account/password", {"current_password": factories.PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )

    assert changed.status_code == 302
    page = client.get("/account/")
    assert page.status_code == 200
    assert "Your password is changed. Every other session of your sign-in has ended." in page.text
    assert sent_to_sign_in(other_device.get("/"))


def test_a_password_reset_ends_every_session(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.DIRECTOR)
    old = signed_in_elsewhere(app, client, user)
    anonymous = app.test_client()
    with smtp_inbox(app) as inbox:
        assert anonymous.submit("/login/forgot", {"email": user.email}).status_code == 200
    link = link_in(inbox.to(user.email)[0])

    reset = anonymous.submit(link, {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert reset.status_code == 302
    assert sent_to_sign_in(replay(app, old))


def test_signing_out_everywhere_ends_every_session(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.STAFF)
    other_device = with_cookie(app, signed_in_elsewhere(app, client, user))

    out = client.submit("/account/sign-out-everywhere")

    assert sent_to_sign_in(out)
    assert "You are signed out everywhere" in client.get("/login").text
    assert sent_to_sign_in(other_device.get("/"))
    assert sent_to_sign_in(client.get("/"))


def test_an_admin_signing_someone_out_everywhere_ends_their_sessions(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.IT)
    old = signed_in_elsewhere(app, client, user)
    admin = admin_browser(app)

    done = admin.submit(f"/users/{user.id}/sessions/end")

    assert done.status_code == 302
    assert f"Every session of {user.email} has ended." in admin.get(done.headers["Location"]).text
    assert sent_to_sign_in(replay(app, old))
    assert fresh(user.id).active, "signing out is not deactivating: they may sign in again"


def test_an_admin_resetting_two_factors_ends_the_users_sessions(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.IT)
    phone, _, _ = turn_on_two_factors(user)
    assert password_step(client, user.email, factories.PASSWORD).headers["Location"] == "/login/two-factor"
    assert code_step(client, phone.code(1)).status_code == 302
    old = session_cookie(client)
    assert replay(app, old).status_code == 200

    done = admin_browser(app).submit(f"/users/{user.id}/two-factor/reset", {"reason": "Lost phone, checked in person"})

    assert done.status_code == 302
    assert not fresh(user.id).two_factor_enabled
    assert sent_to_sign_in(replay(app, old))


def test_offboarding_a_leaver_ends_their_sessions_after_the_last_day(app: Flask, client: Any) -> None:
    person = factories.make_person("Dana Whitfield")
    user = factories.make_user(Role.STAFF, person=person)
    offboarding.start_case(Actor.system("hr system"), person, date.today() - timedelta(days=1), "Leaving", via="api")
    db.session.commit()
    old = signed_in_elsewhere(app, client, user)

    tick = app.test_cli_runner().invoke(args=["handover", "tick"])

    assert tick.exit_code == 0, tick.output
    assert "Dana Whitfield is now departed" in tick.output
    assert sent_to_sign_in(replay(app, old))
    assert not fresh(user.id).active


# --- Throttling ---------------------------------------------------------------------------


def age_attempts(minutes: float) -> None:
    """Move every counted attempt ``minutes`` into the past, as if that long had passed."""
    db.session.rollback()
    for attempt in db.session.scalars(sa.select(AuthAttempt)):
        attempt.occurred_at -= timedelta(minutes=minutes)
    db.session.commit()


def retry_after(response: Any) -> int:
    assert response.status_code == 429, response.status_code
    return int(response.headers["Retry-After"])


def test_five_wrong_passwords_hold_the_account_back_for_a_while(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.STAFF)
    for attempt in range(5):
        assert password_step(client, user.email, WRONG).status_code == 400, f"attempt {attempt + 1}"

    held = password_step(client, user.email, factories.PASSWORD)  # even the right password waits

    assert 0 < retry_after(held) <= 15 * 60
    assert "Too many attempts in a short time" in held.text
    assert sent_to_sign_in(client.get("/"))

    age_attempts(15)
    allowed = password_step(client, user.email, factories.PASSWORD)
    assert allowed.status_code == 302 and allowed.headers["Location"] == "/"


def test_a_held_back_attempt_does_not_restart_the_wait(app: Flask, client: Any, make_user: Any) -> None:
    """Never a permanent lockout: trying again while held back does not push the end of the wait."""
    user = make_user(Role.STAFF)
    # Five failures 10 minutes ago (counted as the test above shows): 5 minutes of the 15-minute window remain.
    ten_minutes_ago = utcnow() - timedelta(minutes=10)
    db.session.add_all(AuthAttempt(key=f"sign-in:account:{user.email}", occurred_at=ten_minutes_ago) for _ in range(5))
    db.session.commit()

    waits = [retry_after(password_step(client, user.email, factories.PASSWORD)) for _ in range(3)]

    assert 4 * 60 < waits[0] <= 5 * 60
    assert waits == sorted(waits, reverse=True), f"the wait grew: {waits}"
    age_attempts(5)
    assert password_step(client, user.email, factories.PASSWORD).status_code == 302


def test_many_failures_from_one_address_hold_back_that_address_only(app: Flask, client: Any, make_user: Any) -> None:
    app.config["THROTTLE_PER_ADDRESS"] = 3  # 30 in production; three argon2 checks are enough to show it
    user = make_user(Role.STAFF)
    for n in range(3):
        assert password_step(client, f"guess{n}@org.example", WRONG).status_code == 400

    held = password_step(client, user.email, factories.PASSWORD)
    assert retry_after(held) > 0

    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert password_step(elsewhere, user.email, factories.PASSWORD).status_code == 302


# --- Idle and absolute limits -------------------------------------------------------------


def test_a_session_unused_for_30_minutes_ends(app: Flask, client: Any, make_user: Any) -> None:
    client.login(make_user(Role.HR))
    resign(client, seen_at=29 * 60)
    assert client.get("/").status_code == 200, "29 minutes idle: still signed in"
    resign(client, seen_at=29 * 60)
    assert client.get("/people/").status_code == 200, "activity in between keeps the session going"

    resign(client, seen_at=31 * 60)
    response = client.get("/people/")

    assert sent_to_sign_in(response)
    assert "You were signed out after 30 minutes without activity" in client.get(response.headers["Location"]).text
    assert sent_to_sign_in(client.get("/"))


def test_a_session_ends_8_hours_after_signing_in_however_busy(app: Flask, client: Any, make_user: Any) -> None:
    client.login(make_user(Role.DIRECTOR))
    resign(client, signed_in_at=8 * 3600 - 60)
    assert client.get("/").status_code == 200, "7 h 59 min after signing in: still in"

    resign(client, signed_in_at=2 * 60)  # 8 h 1 min, and seen a moment ago
    response = client.get("/")

    assert sent_to_sign_in(response)
    assert "a session lasts at most 8 hours" in client.get(response.headers["Location"]).text


# --- The audit trail ----------------------------------------------------------------------


def test_every_sign_in_event_is_audited_and_no_password_is(app: Flask, client: Any) -> None:
    first, second, third = "first-passphrase-one", "second-passphrase-two", "third-passphrase-three"
    with smtp_inbox(app) as inbox:
        user, _ = users.invite_user(Actor.system("test"), "newcomer@org.example", Role.IT, None, "http://localhost")
        db.session.commit()
        invitation = link_in(inbox.to("newcomer@org.example")[0])
        assert client.submit(invitation, {"password": first, "confirm": first}).status_code == 302
        client.csrf = None  # signing in starts a new session, with a new form token
        assert client.submit("/logout").status_code == 302
        client.csrf = None
        assert password_step(client, user.email, WRONG).status_code == 400
        client.login(user, first)
        changed = client.submit("/account/password", {"current_password": first, "password": second, "confirm": second})
        assert changed.status_code == 302
        anonymous = app.test_client()
        assert anonymous.submit("/login/forgot", {"email": user.email}).status_code == 200
        reset = link_in(inbox.to(user.email)[-1])
    assert anonymous.submit(reset, {"password": third, "confirm": third}).status_code == 302
    client.csrf = None
    client.login(user, third)
    enrol = client.get("/account/two-factor")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrol.text).group(1)  # type: ignore[union-attr]
    phone = Phone(secret)
    codes_page = client.submit("/account/two-factor", {"code": phone.code()})
    assert codes_page.status_code == 200 and "Two factors are on" in codes_page.text
    recovery = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", codes_page.text)
    assert len(recovery) == 10
    renewed = client.submit("/account/two-factor/recovery-codes", {"password": third, "code": phone.code(1)})
    assert renewed.status_code == 200
    recovery = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", renewed.text)
    assert client.submit("/account/two-factor/reset", {"password": third, "code": recovery[0]}).status_code == 302
    assert sent_to_sign_in(client.submit("/account/sign-out-everywhere"))

    events = audit_events(user_id=user.id)
    assert [e.action for e in events] == [
        "user.invite",
        "user.invite_accept",
        "auth.sign_in",
        "auth.sign_out",
        "auth.sign_in_failed",
        "auth.sign_in",
        "user.password_change",
        "user.password_reset_request",
        "user.password_reset",
        "auth.sign_in",
        "user.two_factor_enrol",
        "user.recovery_codes",
        "user.two_factor_reset",
        "user.sessions_end",
    ]
    sign_ins = [e for e in events if e.action == "auth.sign_in"]
    assert [e.after for e in sign_ins] == [{"method": "invitation"}, {"method": "password"}, {"method": "password"}]
    assert all(e.actor_id == user.id and e.remote_addr == "127.0.0.1" for e in sign_ins)
    [failed] = [e for e in events if e.action == "auth.sign_in_failed"]
    assert failed.actor_id is None and failed.actor_name == user.email
    assert "wrong email or password" in failed.summary

    everything = json.dumps(
        [[e.actor_name, e.summary, e.before, e.after, e.request_id] for e in audit_events()], default=str
    ).lower()
    for secret_value in (first, second, third, WRONG, secret, *recovery, urlsplit(invitation).path, urlsplit(reset).path):
        assert secret_value.lower() not in everything, "a password, code or link reached the audit trail"
    checked, broken = audit.verify_chain()
    assert broken is None and checked == len(audit_events())


def test_a_failed_sign_in_for_an_unknown_email_is_audited_too(app: Flask, client: Any) -> None:
    assert password_step(client, "Nobody@Org.example", WRONG).status_code == 400
    [event] = audit_events("auth.sign_in_failed")
    assert event.object_id is None and event.actor_name == "nobody@org.example"
    assert WRONG not in event.summary
    assert audit.verify_chain()[1] is None


def test_an_attempt_while_held_back_is_audited_as_such(app: Flask, client: Any, make_user: Any) -> None:
    user = make_user(Role.STAFF)
    db.session.add_all(AuthAttempt(key=f"sign-in:account:{user.email}", occurred_at=utcnow()) for _ in range(5))
    db.session.commit()
    assert password_step(client, user.email, factories.PASSWORD).status_code == 429
    [event] = audit_events("auth.sign_in_failed")
    assert event.object_id == user.id and "too many attempts" in event.summary
