"""Signing in and out: password, second factor, single sign-on, forgotten passwords and invitations."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.auth import sessions, sso
from app.auth.forms import CodeForm, ForgotPasswordForm, LoginForm, NewPasswordForm
from app.extensions import db, limiter
from app.forms import apply_errors
from app.models.user import LinkPurpose, User
from app.security import public, safe_next, signed_in
from app.services import throttle, users
from app.services.errors import ValidationFailed
from app.services.sso import SSORefused, match_user
from app.templating import site_root

bp = Blueprint("auth", __name__, template_folder="templates")


def _addr() -> str:
    return request.remote_addr or ""


def passwords_for_everyone() -> bool:
    return current_app.config["PASSWORD_SIGN_IN"] != "off"  # noqa: S105  (a switch, not a password)


def password_allowed(user: User) -> bool:
    """Password sign-in is on for everyone, or (with single sign-on) only for the break-glass admins."""
    return passwords_for_everyone() or user.email in current_app.config["BREAK_GLASS_ADMINS"]


def _throttled(template: str, error: throttle.Throttled, **context: Any) -> Any:
    return render_template(template, **context), 429, {"Retry-After": str(error.retry_after)}


def _login_page(form: LoginForm, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    return (
        render_template(
            "auth/login.html",
            form=form,
            first_run=not users.any_users(),
            sso_name=current_app.config["OIDC_PROVIDER_NAME"] if sso.enabled() else None,
            passwords_for_everyone=passwords_for_everyone(),
        ),
        status,
        headers or {},
    )


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit("10 per minute", methods=["POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if not form.validate_on_submit():
        return _login_page(form, 400 if form.errors else 200)
    email = (form.email.data or "").strip().lower()
    try:
        throttle.check(sessions.sign_in_limits(email))
    except throttle.Throttled as error:
        users.record_failed_sign_in(email, "too many attempts", _addr(), g.request_id)
        db.session.commit()
        form.form_errors.append(error.message)
        return _login_page(form, 429, {"Retry-After": str(error.retry_after)})
    user = users.authenticate(email, form.password.data or "")
    reason = "wrong email or password"
    if user is not None and not password_allowed(user):
        user, reason = None, "password sign-in is turned off"
    if user is None:
        throttle.record(sessions.account_keys(email) + sessions.address_keys())
        users.record_failed_sign_in(email, reason, _addr(), g.request_id)
        db.session.commit()
        form.form_errors.append("That email and password do not match an active sign-in.")
        return _login_page(form, 400)
    return sessions.begin(user, "password", safe_next(request.args.get("next")))


@bp.route("/login/two-factor", methods=["GET", "POST"])
@public
def two_factor() -> Any:
    pending = sessions.pending_user()
    if pending is None:
        session.pop("pending_sign_in", None)
        flash("Start again: sign in with your email and password first (the code step lasts 5 minutes).", "info")
        return redirect(url_for("auth.login"))
    user, state = pending
    form = CodeForm()
    if form.validate_on_submit():
        try:
            ok = sessions.code_ok(user, form.code.data or "")
        except throttle.Throttled as error:
            db.session.rollback()
            form.code.errors = [error.message]
            return _throttled("auth/two_factor.html", error, form=form)
        if ok:
            return sessions.finish(user, f"{state.get('method', 'password')} and second factor", state.get("next"))
        users.record_failed_sign_in(user.email, "wrong second-factor code", _addr(), g.request_id)
        db.session.commit()
        form.code.errors = ["That code is not right, or was already used. Type the code your app shows now."]
    return render_template("auth/two_factor.html", form=form), (400 if form.errors else 200)


@bp.route("/logout", methods=["POST"])
@signed_in
def logout() -> Any:
    # The session is a signed cookie: clearing it here does not stop a copy of it from working.
    # A new epoch changes the sign-in's session id, so every earlier copy is refused (ASVS 7.4.1).
    users.record_sign_out(current_user, _addr(), g.request_id)
    db.session.commit()
    sessions.end_current("You are signed out.")
    return redirect(url_for("auth.login"))


# --- Forgotten password -------------------------------------------------------------------


@bp.route("/login/forgot", methods=["GET", "POST"])
@public
def forgot_password() -> Any:
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/forgot.html", form=form), (400 if form.errors else 200)
    email = (form.email.data or "").strip().lower()
    limits = sessions.reset_limits(email)
    try:
        throttle.check(limits)
    except throttle.Throttled as error:
        form.form_errors.append(error.message)
        return _throttled("auth/forgot.html", error, form=form)
    throttle.record([limit.key for limit in limits])
    user = db.session.scalar(sa.select(User).where(User.email == email))
    if user is not None and password_allowed(user):
        users.request_password_reset(email, site_root(), current_app.config["RESET_MINUTES"], _addr())
    db.session.commit()  # the email goes out only now, after the link is stored
    # The same answer whether or not the address has a sign-in (OWASP Forgot Password Cheat Sheet).
    return render_template("auth/forgot_sent.html", email=email, minutes=current_app.config["RESET_MINUTES"])


def _link_refused(error: users.LinkInvalid) -> Any:
    db.session.rollback()
    return render_template("auth/link_invalid.html", message=error.message), 400


@bp.route("/login/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str) -> Any:
    try:
        link = users.open_link(token, LinkPurpose.RESET)
    except users.LinkInvalid as error:
        return _link_refused(error)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            users.reset_password(link, form.password.data or "", _addr())
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            sessions.end_current()
            flash(
                "Your password is changed and every session of your sign-in has ended. Sign in with the new password.", "success"
            )
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form, email=link.user.email), (400 if form.errors else 200)


# --- Invitations --------------------------------------------------------------------------


@bp.route("/invite/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str) -> Any:
    try:
        link = users.open_link(token, LinkPurpose.INVITE)
    except users.LinkInvalid as error:
        return _link_refused(error)
    user = link.user
    sso_name = current_app.config["OIDC_PROVIDER_NAME"] if sso.enabled() else None
    form = NewPasswordForm()
    if password_allowed(user) and form.validate_on_submit():
        try:
            user = users.accept_invitation(link, form.password.data or "", _addr())
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            signed_in = sessions.begin(user, "invitation", None)  # a new session: flash only after it starts
            flash("Welcome to Handover: your password is set.", "success")
            return signed_in
    return render_template(
        "auth/invite.html", form=form, user=user, sso_name=sso_name, password_allowed=password_allowed(user)
    ), (400 if form.errors else 200)


# --- Single sign-on -----------------------------------------------------------------------


@bp.route("/login/sso", methods=["POST"])
@public
@limiter.limit("20 per minute")
def sso_start() -> Any:
    """Send the browser to the identity provider (authorisation code flow with PKCE, state and nonce)."""
    if not sso.enabled():
        return render_template("auth/sso_error.html", message="Single sign-on is not set up here."), 404
    session["sso_next"] = safe_next(request.args.get("next"))
    redirect_uri = site_root() + url_for("auth.sso_callback")
    try:
        return sso.start(redirect_uri)
    except sso.Unreachable as error:
        current_app.logger.warning("single sign-on could not start: %s", error)
        message = f"{sso.settings().provider_name} cannot be reached right now. Try again in a minute, or ask IT."
        return render_template("auth/sso_error.html", message=message), 502


@bp.route("/login/sso/callback")
@public
@limiter.limit("20 per minute")
def sso_callback() -> Any:
    """The provider sends the browser back here with a code: exchange it, check the ID token, match the person."""
    if not sso.enabled():
        return render_template("auth/sso_error.html", message="Single sign-on is not set up here."), 404
    settings = sso.settings()
    try:
        claims = sso.finish()
    except (sso.Unreachable, sso.Untrusted) as error:
        # A tampered or replayed state, a wrong nonce, a bad signature, an expired token, a
        # refusal at the provider, or a provider that could not be reached: nobody is signed in.
        current_app.logger.warning("single sign-on refused: %s", error)
        users.record_failed_sign_in("", f"{settings.provider_name}: {error}", _addr(), g.request_id)
        db.session.commit()
        session.pop("sso_next", None)
        if isinstance(error, sso.Unreachable):
            message = f"{settings.provider_name} cannot be reached right now, so nobody was signed in. Try again in a minute."
            return render_template("auth/sso_error.html", message=message), 502
        if error.denied:
            message = (
                f"You did not finish signing in at {settings.provider_name}, so nobody was signed in. "
                "Start again from the sign-in page."
            )
        else:
            message = (
                f"The answer from {settings.provider_name} could not be trusted or was incomplete, so nobody was "
                "signed in. Start again from the sign-in page; if it keeps happening, tell IT."
            )
        return render_template("auth/sso_error.html", message=message), 400
    try:
        user = match_user(claims, settings, _addr(), g.request_id)
    except SSORefused as error:
        db.session.commit()  # keep the record of the refused sign-in
        session.pop("sso_next", None)
        return render_template("auth/sso_error.html", message=error.message), 403
    return sessions.begin(user, settings.provider_name, session.pop("sso_next", None))
