"""Links sent by email: invitations (an admin invites, the person sets a password and is signed in)
and forgotten passwords (the same answer for any address, a link that works once within 30
minutes). Email goes through a real SMTP server (aiosmtpd). A link that cannot be used says why
and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import Role, User
from app.models.base import utcnow
from app.models.user import SignInLink
from app.services import mail, users
from app.services.context import Actor
from tests import factories
from tests.integration.sign_in_kit import (
    audit_count,
    audit_events,
    body_of,
    fresh,
    link_in,
    password_step,
    replay,
    sent_to_sign_in,
    session_cookie,
    smtp_inbox,
)
from tests.integration.test_auth import page_without

NEW_PASSWORD = "a-brand-new-passphrase-42"
BASE = "http://localhost"


def choose(client: Any, link: str, password: str = NEW_PASSWORD) -> Any:
    """Submit the new-password form a link opens."""
    return client.submit(link, {"password": password, "confirm": password})


def newest_link(user_id: int) -> SignInLink:
    db.session.rollback()
    link = db.session.scalar(sa.select(SignInLink).where(SignInLink.user_id == user_id).order_by(SignInLink.id.desc()))
    assert link is not None
    return link


# --- Invitations --------------------------------------------------------------------------


def test_an_invited_person_gets_an_email_sets_a_password_and_is_signed_in(app: Flask, client: Any, make_user: Any) -> None:
    person = factories.make_person("Robin Newman", work_email="robin.newman@org.example")
    db.session.commit()
    client.login(make_user(Role.ADMIN))
    assert client.get("/users/invite").status_code == 200
    with smtp_inbox(app) as inbox:
        invited = client.submit("/users/invite", {"email": "Robin.Newman@org.example", "role": "hr"})
    assert invited.status_code == 302
    detail = client.get(invited.headers["Location"])
    assert "Invited robin.newman@org.example as HR. The invitation email is on its way." in detail.text

    [message] = inbox.messages
    assert message["To"] == "robin.newman@org.example"
    assert message["Subject"] == "You are invited to Handover"
    assert "You will sign in as HR" in body_of(message) and "72 hours" in body_of(message)
    user = db.session.scalar(sa.select(User).where(User.email == "robin.newman@org.example"))
    assert user is not None and user.person_id == person.id, "the invitation is tied to the person with that work email"
    assert not user.has_password

    newcomer = app.test_client()
    link = link_in(message)
    page = newcomer.get(link)
    assert page.status_code == 200
    assert "You are invited as <strong>HR</strong>" in page.text
    weak = choose(newcomer, link, "short")
    assert weak.status_code == 400 and "Use at least 12 characters" in weak.text

    accepted = choose(newcomer, link)

    assert accepted.status_code == 302
    home = newcomer.get(accepted.headers["Location"])
    assert home.status_code == 200 and "Welcome to Handover: your password is set." in home.text
    assert fresh(user.id).accepted_at is not None
    again = app.test_client().get(link)
    assert again.status_code == 400 and "This link has already been used" in again.text
    newcomer.csrf = None  # the session that held the form token ended when they were signed in
    assert newcomer.submit("/logout").status_code == 302
    assert password_step(newcomer, "robin.newman@org.example", NEW_PASSWORD).status_code == 302


def invite_on_the_page(app: Flask, admin: Any, email: str) -> tuple[int, str]:
    with smtp_inbox(app) as inbox:
        invited = admin.submit("/users/invite", {"email": email, "role": "staff"})
    assert invited.status_code == 302
    return int(invited.headers["Location"].rstrip("/").rsplit("/", 1)[1]), link_in(inbox.to(email)[0])


def test_resending_an_invitation_replaces_the_earlier_link(app: Flask, client: Any, make_user: Any) -> None:
    client.login(make_user(Role.ADMIN))
    user_id, first = invite_on_the_page(app, client, "sam.late@org.example")

    with smtp_inbox(app) as inbox:
        resent = client.submit(f"/users/{user_id}/resend")
    assert resent.status_code == 302
    assert "the earlier one no longer works" in client.get(resent.headers["Location"]).text
    second = link_in(inbox.to("sam.late@org.example")[0])

    stale = app.test_client().get(first)
    assert stale.status_code == 400 and "This link was replaced or cancelled" in stale.text
    assert app.test_client().get(second).status_code == 200
    assert [e.action for e in audit_events(user_id=user_id)] == ["user.invite", "user.invite_resend"]


def test_cancelling_an_invitation_stops_its_link(app: Flask, client: Any, make_user: Any) -> None:
    client.login(make_user(Role.ADMIN))
    user_id, link = invite_on_the_page(app, client, "not.coming@org.example")

    cancelled = client.submit(f"/users/{user_id}/cancel")

    assert cancelled.status_code == 302
    assert "The invitation of not.coming@org.example is cancelled." in client.get(cancelled.headers["Location"]).text
    visitor = app.test_client()
    page = visitor.get(link)
    assert page.status_code == 400 and "This invitation was cancelled" in page.text
    assert choose(visitor, link).status_code == 400
    assert not fresh(user_id).has_password and not fresh(user_id).active
    assert sent_to_sign_in(visitor.get("/"))
    # The invited list no longer shows them; the deactivated one does.
    assert "not.coming@org.example" not in client.get("/users/?status=invited").text
    assert "not.coming@org.example" in client.get("/users/?status=deactivated").text


# --- Forgotten password -------------------------------------------------------------------


def test_a_forgotten_password_gets_the_same_answer_and_mail_only_for_a_known_sign_in(
    app: Flask, client: Any, make_user: Any
) -> None:
    user = make_user(Role.STAFF)
    client.login(user)
    old = session_cookie(client)
    visitor = app.test_client()
    with smtp_inbox(app) as inbox:
        known = visitor.submit("/login/forgot", {"email": user.email})
        unknown = visitor.submit("/login/forgot", {"email": "nobody@org.example"})

    assert known.status_code == unknown.status_code == 200
    assert "Check your email" in known.text
    assert page_without(known.text, user.email) == page_without(unknown.text, "nobody@org.example")
    [message] = inbox.messages
    assert message["To"] == user.email and message["Subject"] == "Reset your Handover password"
    assert "it works once, for 30 minutes" in body_of(message)

    link = link_in(message)
    row = newest_link(user.id)
    assert timedelta(minutes=29) < row.expires_at - utcnow() <= timedelta(minutes=30)
    row.expires_at = utcnow() + timedelta(minutes=1)  # 29 of the 30 minutes have passed
    db.session.commit()
    before = fresh(user.id).password_hash

    assert visitor.get(link).status_code == 200
    reset = choose(visitor, link)

    assert reset.status_code == 302 and urlsplit(reset.headers["Location"]).path == "/login"
    assert "every session of your sign-in has ended" in visitor.get("/login").text
    assert fresh(user.id).password_hash != before
    assert sent_to_sign_in(replay(app, old)), "the reset ends every session"
    used = app.test_client().get(link)
    assert used.status_code == 400 and "This link has already been used" in used.text
    assert password_step(app.test_client(), user.email, factories.PASSWORD).status_code == 400
    assert password_step(app.test_client(), user.email, NEW_PASSWORD).status_code == 302


# --- Links that cannot be used ------------------------------------------------------------


def invitation_link() -> tuple[User, str]:
    user, url = users.invite_user(Actor.system("test"), "invitee@org.example", Role.STAFF, None, BASE)
    db.session.commit()
    return user, urlsplit(url).path


def reset_link() -> tuple[User, str]:
    user = factories.make_user(Role.STAFF)
    users.request_password_reset(user.email, BASE)
    [message] = mail.pending()
    db.session.commit()  # email is off here: the message is only dropped
    return user, urlsplit(next(w for w in message.body.split() if w.startswith(BASE))).path


def altered(path: str) -> str:
    """The link with one character of its token changed (in the middle: every bit of it counts)."""
    head, token = path.rsplit("/", 1)
    i = len(token) // 2
    if token[i] == ".":
        i += 1
    return f"{head}/{token[:i]}{'B' if token[i] == 'A' else 'A'}{token[i + 1 :]}"


def spoil_used(app: Flask, user: User, path: str) -> str:
    assert choose(app.test_client(), path).status_code == 302, "the first use works"
    return path


def spoil_expired(app: Flask, user: User, path: str) -> str:
    link = newest_link(user.id)
    link.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    return path


def spoil_altered(app: Flask, user: User, path: str) -> str:
    return altered(path)


def spoil_deactivated(app: Flask, user: User, path: str) -> str:
    users.deactivate_user(Actor.system("test"), fresh(user.id), "left before starting")
    db.session.commit()
    return path


SPOILERS: dict[str, Callable[[Flask, User, str], str]] = {
    "used twice": spoil_used,
    "expired": spoil_expired,
    "altered by one character": spoil_altered,
    "for a deactivated sign-in": spoil_deactivated,
}
MESSAGES = {
    ("invite", "used twice"): "This link has already been used; each link works once. Ask an admin to send a new invitation.",
    ("reset", "used twice"): "This link has already been used; each link works once. Ask for a new link",
    ("invite", "expired"): "This link has expired. Ask an admin to send a new invitation.",
    ("reset", "expired"): "This link has expired. Ask for a new link",
    ("invite", "altered by one character"): "This link is not valid: it may have been copied incompletely or changed.",
    ("reset", "altered by one character"): "This link is not valid: it may have been copied incompletely or changed.",
    ("invite", "for a deactivated sign-in"): "This invitation was cancelled. Ask an admin to send a new invitation.",
    ("reset", "for a deactivated sign-in"): "This sign-in has been deactivated, so its links no longer work.",
}


@pytest.mark.parametrize("problem", list(SPOILERS))
@pytest.mark.parametrize("purpose", ["invite", "reset"])
def test_a_link_that_cannot_be_used_says_why_and_changes_nothing(app: Flask, client: Any, purpose: str, problem: str) -> None:
    user, path = invitation_link() if purpose == "invite" else reset_link()
    path = SPOILERS[problem](app, user, path)
    password_hash, events = fresh(user.id).password_hash, audit_count()
    links = [(link.id, link.used_at, link.cancelled_at) for link in db.session.scalars(sa.select(SignInLink))]
    visitor = app.test_client()

    opened = visitor.get(path)
    submitted = choose(visitor, path, "someone-elses-new-password")

    for response in (opened, submitted):
        assert response.status_code == 400
        assert "This link cannot be used" in response.text
        assert MESSAGES[purpose, problem] in response.text
        assert "Nothing was changed." in response.text
    assert fresh(user.id).password_hash == password_hash
    assert audit_count() == events
    assert [(link.id, link.used_at, link.cancelled_at) for link in db.session.scalars(sa.select(SignInLink))] == links
    assert sent_to_sign_in(visitor.get("/"))


def test_a_reset_link_does_not_open_an_invitation(app: Flask, client: Any) -> None:
    _, path = reset_link()
    token = path.rsplit("/", 1)[1]
    page = app.test_client().get(f"/invite/{token}")
    assert page.status_code == 400 and "This link is not valid" in page.text
