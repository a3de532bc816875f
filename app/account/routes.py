"""My account: every signed-in person's own password, sessions and second factor."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.account.forms import ChangePasswordForm, ConfirmIdentityForm, EnrolForm
from app.auth import sessions
from app.extensions import db
from app.forms import apply_errors
from app.security import current_actor, signed_in
from app.services import throttle, two_factor, users
from app.services.errors import ValidationFailed

bp = Blueprint("account", __name__, url_prefix="/account", template_folder="templates")

#: Recovery codes and a TOTP secret are shown once: no cache may keep the page.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _page(password_form: ChangePasswordForm | None = None, status: int = 200) -> Any:
    user = current_user
    return render_template(
        "account/index.html",
        user=user,
        password_form=password_form or ChangePasswordForm(),
        signed_in_at=session.get("signed_in_at"),
        method=session.get("method", "password"),
        address=request.remote_addr,
        idle_minutes=current_app.config["IDLE_MINUTES"],
        sign_ins=users.recent_sign_ins(user),
        recovery_left=two_factor.unused_recovery_codes(user) if user.two_factor_enabled else 0,
        required=sessions.must_enrol(user) or user.role.value in sessions.required_roles(),
    ), status


@bp.route("/")
@signed_in
def index() -> Any:
    return _page()


@bp.route("/password", methods=["POST"])
@signed_in
def change_password() -> Any:
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _page(form, 400)
    user = current_user._get_current_object()
    try:
        throttle.check(sessions.code_limits(user))
        users.change_password(current_actor(), user, form.current_password.data or "", form.password.data or "")
    except throttle.Throttled as error:
        db.session.rollback()
        form.current_password.errors = [error.message]
        body, _ = _page(form)
        return body, 429, {"Retry-After": str(error.retry_after)}
    except ValidationFailed as error:
        db.session.rollback()
        if "current_password" in error.field_errors:
            throttle.record([f"two-factor:user:{user.id}"])
            db.session.commit()
        apply_errors(form, error)
        return _page(form, 400)
    db.session.commit()
    sessions.renew(user)
    flash("Your password is changed. Every other session of your sign-in has ended.", "success")
    return redirect(url_for("account.index"))


@bp.route("/sign-out-everywhere", methods=["POST"])
@signed_in
def sign_out_everywhere() -> Any:
    users.end_sessions(current_actor(), current_user._get_current_object(), "signed out everywhere")
    db.session.commit()
    sessions.end_current("You are signed out everywhere: every browser and device must sign in again.")
    return redirect(url_for("auth.login"))


# --- Two factors --------------------------------------------------------------------------


@bp.route("/two-factor", methods=["GET", "POST"])
@signed_in
def two_factor_page() -> Any:
    user = current_user._get_current_object()
    if user.two_factor_enabled:
        return render_template(
            "account/two_factor_on.html",
            user=user,
            form=ConfirmIdentityForm(),
            recovery_left=two_factor.unused_recovery_codes(user),
        )
    form = EnrolForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.confirm_enrolment(current_actor(), user, form.code.data or "", session.get("totp_pending"))
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            session.pop("totp_pending", None)
            session["auth_at"] = sessions.now()
            return render_template("account/recovery_codes.html", codes=codes, first=True), 200, NO_STORE
    # The set-up key waits, sealed, in the session until a code confirms it: showing it stores nothing.
    enrolment = two_factor.start_enrolment(user, session.get("totp_pending"))
    session["totp_pending"] = enrolment.pending
    return (
        render_template(
            "account/two_factor_enrol.html",
            form=form,
            enrolment=enrolment,
            must=sessions.must_enrol(user),
        ),
        400 if form.errors else 200,
        NO_STORE,
    )


def _identity_confirmed(form: ConfirmIdentityForm) -> bool:
    """The password (when the sign-in has one) and a second-factor code both check out."""
    user = current_user._get_current_object()
    ok = True
    if user.has_password and not users.confirm_password(user.id, form.password.data or ""):
        form.password.errors = ["That is not your password."]
        ok = False
    if not sessions.code_ok(user, form.code.data or ""):
        form.code.errors = ["That code is not right, or was already used."]
        ok = False
    return ok


def _confirmed_change() -> tuple[Any, Any]:
    """The user and, when their password and a current code do not both check out, the page to
    answer instead (400, or 429 once wrong codes are throttled); (user, None) when confirmed."""
    user = current_user._get_current_object()
    form = ConfirmIdentityForm()

    def page(status: int, headers: dict[str, str] | None = None) -> Any:
        left = two_factor.unused_recovery_codes(user) if status != 429 else 0
        return render_template("account/two_factor_on.html", user=user, form=form, recovery_left=left), status, headers or {}

    try:
        confirmed = form.validate_on_submit() and _identity_confirmed(form)
    except throttle.Throttled as error:
        db.session.rollback()
        form.code.errors = [error.message]
        return user, page(429, {"Retry-After": str(error.retry_after)})
    if not confirmed:
        db.session.commit()  # keep the count of wrong codes
        return user, page(400)
    return user, None


@bp.route("/two-factor/reset", methods=["POST"])
@signed_in
def two_factor_reset() -> Any:
    if not current_user.two_factor_enabled:
        return redirect(url_for("account.two_factor_page"))
    user, refused = _confirmed_change()
    if refused is not None:
        return refused
    two_factor.reset(current_actor(), user, "reset by its holder")
    db.session.commit()
    sessions.renew(user)
    flash("Two factors are off, and every other session has ended. Set them up again with your new phone.", "success")
    return redirect(url_for("account.two_factor_page"))


@bp.route("/two-factor/recovery-codes", methods=["POST"])
@signed_in
def recovery_codes() -> Any:
    if not current_user.two_factor_enabled:
        return redirect(url_for("account.two_factor_page"))
    user, refused = _confirmed_change()
    if refused is not None:
        return refused
    codes = two_factor.regenerate_recovery_codes(current_actor(), user)
    db.session.commit()
    return render_template("account/recovery_codes.html", codes=codes, first=False), 200, NO_STORE
