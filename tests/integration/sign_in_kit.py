"""Helpers for the sign-in tests: a real SMTP inbox, session cookies (copied, replayed, aged),
links read out of emails, and TOTP codes computed like a phone would.

Time is moved by editing rows or re-signing the session cookie, never by sleeping.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pyotp
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import AuditEvent, User
from app.services import two_factor
from app.services.context import Actor
from tests.conftest import CSRF_RE
from tests.integration.test_mail import Inbox, body_of, start

__all__ = ["Inbox", "body_of"]

LINK_RE = re.compile(r"https?://\S+/(?:invite|login/reset)/\S+")


@contextmanager
def smtp_inbox(app: Flask) -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on a free local port; the app sends its email there."""
    received = Inbox()
    controller = start(received)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_FROM="handover@org.example")
    try:
        yield received
    finally:
        controller.stop()


def link_in(message: EmailMessage) -> str:
    """The path of the single-use link an invitation or reset email carries."""
    links = LINK_RE.findall(body_of(message))
    assert len(links) == 1, f"expected one link in the email, found {links!r}"
    return urlsplit(links[0]).path


# --- Session cookies ----------------------------------------------------------------------


def session_cookie(client: Any) -> str:
    cookie = client.get_cookie(client.application.config["SESSION_COOKIE_NAME"])
    assert cookie is not None, "no session cookie: signed in?"
    return cookie.value


def with_cookie(app: Flask, cookie: str) -> Any:
    """Another browser holding a copy of ``cookie`` (a second device, or a stolen cookie)."""
    other = app.test_client()
    other.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    return other


def sent_to_sign_in(response: Any) -> bool:
    return response.status_code in (302, 303) and urlsplit(response.headers["Location"]).path == "/login"


def replay(app: Flask, cookie: str, path: str = "/") -> Any:
    """GET ``path`` with a copy of an earlier session cookie."""
    return with_cookie(app, cookie).get(path)


def resign(client: Any, **shift: float) -> None:
    """Move session times back: ``resign(client, seen_at=1800)`` makes the last activity 30 minutes older.

    The session is a cookie signed by the app: this loads it, changes the values and signs it again,
    as the app would have if that time had really passed.
    """
    app = client.application
    serializer = app.session_interface.get_signing_serializer(app)
    session = serializer.loads(session_cookie(client))
    for key, seconds in shift.items():
        session[key] -= seconds
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], serializer.dumps(session))


def token_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


# --- Two factors --------------------------------------------------------------------------


class Phone:
    """An authenticator app holding a TOTP secret."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)

    def code(self, steps_ahead: int = 0) -> str:
        """The code shown now, or ``steps_ahead`` 30-second steps later (the server accepts one step either side)."""
        return self.totp.at(time.time() + 30 * steps_ahead)


def turn_on_two_factors(user: User) -> tuple[Phone, str, list[str]]:
    """Enrol ``user`` as the two-factor page would; returns the phone, the code used and the recovery codes."""
    enrolment = two_factor.start_enrolment(user)
    phone = Phone(enrolment.secret)
    code = phone.code()
    recovery = two_factor.confirm_enrolment(Actor.system("test"), user, code, enrolment.pending)
    db.session.commit()
    return phone, code, recovery


def password_step(client: Any, email: str, password: str) -> Any:
    """POST the sign-in form (the first factor)."""
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token_from(client.get("/login").text)})


def code_step(client: Any, code: str) -> Any:
    """POST a code at /login/two-factor (after the password step)."""
    page = client.get("/login/two-factor")
    assert page.status_code == 200, f"not at the code step: {page.status_code}"
    return client.post("/login/two-factor", data={"code": code, "csrf_token": token_from(page.text)})


# --- The audit trail ----------------------------------------------------------------------


def audit_events(action: str | None = None, user_id: int | None = None) -> list[AuditEvent]:
    db.session.rollback()  # a fresh view of what the requests committed
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        stmt = stmt.where(AuditEvent.action == action)
    if user_id is not None:
        stmt = stmt.where(AuditEvent.object_type == "user", AuditEvent.object_id == user_id)
    return list(db.session.scalars(stmt))


def audit_count() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0


def fresh(user_id: int) -> User:
    """The user as committed now."""
    db.session.rollback()
    user = db.session.get(User, user_id)
    assert user is not None
    return user
