"""Signing in and out."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from app.auth.forms import LoginForm
from app.extensions import db, limiter
from app.models.base import utcnow
from app.models.user import new_session_epoch
from app.security import public, safe_next, signed_in
from app.services import users

bp = Blueprint("auth", __name__, template_folder="templates")


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit("10 per minute", methods=["POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(form.email.data or "", form.password.data or "")
        if user is None:
            form.form_errors.append("That email and password do not match an active sign-in.")
        else:
            session.clear()
            login_user(user)
            session["auth_at"] = utcnow().timestamp()
            db.session.commit()
            flash(f"Signed in as {user.display_name}.", "success")
            return redirect(safe_next(request.args.get("next")) or url_for("main.home"))
    return render_template("auth/login.html", form=form, first_run=not users.any_users()), (
        400 if form.errors or form.form_errors else 200
    )


@bp.route("/logout", methods=["POST"])
@signed_in
def logout() -> Any:
    # The session is a signed cookie: clearing it here does not stop a copy of it from working.
    # A new epoch changes the sign-in's session id, so every earlier copy is refused (ASVS 7.4.1).
    current_user.session_epoch = new_session_epoch()
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
