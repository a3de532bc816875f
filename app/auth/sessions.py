"""The web door's sessions: finishing a sign-in, the two-factor step between password and session,
and the idle and absolute limits checked on the server before every request.

The session is a signed cookie. What it proves is kept small: the user id with its session epoch
(Flask-Login), when the sign-in happened (``signed_in_at``, never moved), when the person last
proved who they are (``auth_at``: sign-in or a confirmation before a reveal) and when the session
was last used (``seen_at``). An old copy of the cookie can only carry older times, so replaying it
never extends a session.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from app.extensions import db
from app.models.base import utcnow
from app.models.user import User
from app.services import throttle, two_factor, users
from config import mfa_required_roles

#: Seconds the two-factor step may take after the password (or SSO) part.
PENDING_SECONDS = 300
#: ``seen_at`` is rewritten at most this often, so not every response sets a new cookie.
SEEN_GRANULARITY = 60
#: Endpoints a signed-in user who must enrol a second factor may still reach.
#: (Signing out everywhere can only narrow access, so it stays open too.)
ENROLMENT_ALLOWED = frozenset({"account.two_factor_page", "account.sign_out_everywhere", "auth.logout", "static", "main.healthz"})


def now() -> float:
    return utcnow().timestamp()


def required_roles() -> frozenset[str]:
    return mfa_required_roles(current_app.config)


def must_enrol(user: Any) -> bool:
    return user.role.value in required_roles() and not user.two_factor_enabled


def account_keys(email: str) -> list[str]:
    return [f"sign-in:account:{email.strip().lower()[:254]}"]


def address_keys() -> list[str]:
    return [f"sign-in:address:{request.remote_addr or ''}"]


#: Reset links asked for one account per window (each is an email sent on someone's behalf).
RESETS_PER_ACCOUNT = 3


def _limits(account_key: str, per_account: int | None = None) -> list[throttle.Limit]:
    """``account_key`` and this request's address, each within the configured window."""
    config = current_app.config
    window = timedelta(minutes=config["THROTTLE_WINDOW_MINUTES"])
    return [
        throttle.Limit(account_key, per_account or config["THROTTLE_PER_ACCOUNT"], window),
        throttle.Limit(address_keys()[0], config["THROTTLE_PER_ADDRESS"], window),
    ]


def sign_in_limits(email: str) -> list[throttle.Limit]:
    return _limits(account_keys(email)[0])


def code_limits(user: User) -> list[throttle.Limit]:
    return _limits(f"two-factor:user:{user.id}")


def reset_limits(email: str) -> list[throttle.Limit]:
    return _limits(f"reset:account:{email.strip().lower()[:254]}", RESETS_PER_ACCOUNT)


def begin(user: User, method: str, next_url: str | None) -> Any:
    """The first factor (password or SSO) is good: finish now, or ask for the second factor first."""
    if user.two_factor_enabled:
        session.clear()
        session["pending_sign_in"] = {
            "user_id": user.id,
            "epoch": user.session_epoch,
            "method": method,
            "at": now(),
            "next": next_url,
        }
        db.session.commit()
        return redirect(url_for("auth.two_factor"))
    return finish(user, method, next_url)


def pending_user() -> tuple[User, dict[str, Any]] | None:
    """The user waiting at the two-factor step, if that step is still open."""
    pending = session.get("pending_sign_in")
    if not isinstance(pending, dict) or not (0 <= now() - float(pending.get("at", 0)) <= PENDING_SECONDS):
        return None
    user = db.session.get(User, int(pending.get("user_id", 0)))
    if user is None or not user.active or user.session_epoch != pending.get("epoch") or not user.two_factor_enabled:
        return None
    return user, pending


def finish(user: User, method: str, next_url: str | None) -> Any:
    """Start a new session for ``user`` (a fresh session id: no fixation), record the sign-in, commit."""
    session.clear()
    login_user(user)
    stamp = now()
    session["signed_in_at"] = session["auth_at"] = session["seen_at"] = stamp
    session["method"] = method
    users.record_sign_in(user, method, request.remote_addr or "", g.get("request_id", ""))
    throttle.clear(account_keys(user.email) + [f"two-factor:user:{user.id}"])
    db.session.commit()
    flash(f"Signed in as {user.display_name}.", "success")
    if must_enrol(user):
        flash("Your role needs a second factor. Set up an authenticator app to go on.", "info")
        return redirect(url_for("account.two_factor_page"))
    return redirect(next_url or url_for("main.home"))


def renew(user: User) -> None:
    """Keep the current session working after the user's epoch changed (their own password change,
    their own two-factor set-up): every other session ends, this one is signed in again."""
    signed_in_at = session.get("signed_in_at", now())
    method = session.get("method", "password")
    login_user(user)
    session["signed_in_at"] = signed_in_at
    session["auth_at"] = session["seen_at"] = now()
    session["method"] = method


def expired_reason() -> str | None:
    """Why the current session must end now (idle too long, or older than its absolute lifetime), or None."""
    config = current_app.config
    stamp = now()
    signed_in_at, seen_at = session.get("signed_in_at"), session.get("seen_at")
    if not isinstance(signed_in_at, (int, float)) or not isinstance(seen_at, (int, float)):
        return "Please sign in again."
    lifetime = config["PERMANENT_SESSION_LIFETIME"]
    max_age = lifetime.total_seconds() if isinstance(lifetime, timedelta) else float(lifetime)
    if stamp - signed_in_at > max_age:
        return f"You were signed out: a session lasts at most {int(max_age // 3600)} hours. Please sign in again."
    if stamp - seen_at > config["IDLE_MINUTES"] * 60:
        return f"You were signed out after {config['IDLE_MINUTES']} minutes without activity. Please sign in again."
    if stamp - seen_at > SEEN_GRANULARITY:
        session["seen_at"] = stamp
    return None


def end_current(message: str | None = None) -> None:
    logout_user()
    session.clear()
    if message:
        flash(message, "info")


def enforce() -> Any:
    """Before every request: end an expired session; send a user who must enrol to enrolment."""
    if not current_user.is_authenticated:
        return None
    if (reason := expired_reason()) is not None:
        end_current(reason)
        return None  # the access check that follows sends them to sign in
    if request.endpoint not in ENROLMENT_ALLOWED and must_enrol(current_user):
        return redirect(url_for("account.two_factor_page"), code=303)
    return None


def code_ok(user: User, code: str) -> bool:
    """Check a second-factor code, counting failures (Throttled once the limit is reached)."""
    throttle.check(code_limits(user))
    if two_factor.verify(user, code):
        return True
    throttle.record([f"two-factor:user:{user.id}"] + address_keys())
    return False
