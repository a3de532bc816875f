"""Users (admins only): who can sign in to Handover, with which role, and how; invitations."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from app.extensions import db
from app.forms import apply_errors, optional_int
from app.models.person import Person, PersonStatus
from app.models.user import Role, User
from app.security import current_actor, roles
from app.services import audit, mail, offboarding, two_factor, users
from app.services.errors import ValidationFailed
from app.templating import site_root
from app.users.forms import InviteForm, ReasonForm, RoleForm

bp = Blueprint("users", __name__, url_prefix="/users", template_folder="templates")

STATUSES = (("active", "Active"), ("invited", "Invited"), ("deactivated", "Deactivated"))


def offboarding_note(user: User) -> str | None:
    """What offboarding does to this sign-in, for the users page."""
    person = user.person
    if person is None:
        return None
    if person.status.value == "departed":
        return "Stopped by offboarding" if not user.active else "Departed: deactivate this sign-in"
    if person.status.value == "leaving" and person.last_day:
        return f"Leaving: sign-in stops after {person.last_day:%d %b %Y}"
    return None


@bp.route("/")
@roles(Role.ADMIN)
def index() -> Any:
    try:
        role = Role(request.args.get("role", ""))
    except ValueError:
        role = None
    status = request.args.get("status", "")
    filters = users.UserFilters(q=request.args.get("q", "")[:200], role=role, status=status if status in dict(STATUSES) else "")
    page = users.list_users(filters, optional_int(request.args.get("page")) or 1, current_app.config["PER_PAGE"])
    return render_template(
        "users/index.html",
        page=page,
        filters=filters,
        roles=list(Role),
        statuses=STATUSES,
        offboarding_note=offboarding_note,
        required=current_app.config["MFA_REQUIRED_ROLES"],
    )


@bp.route("/invite", methods=["GET", "POST"])
@roles(Role.ADMIN)
def invite() -> Any:
    form = InviteForm()
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        person_id = form.person_id.data
        if person_id is None:
            # Staff are usually invited at their work email: tie the sign-in to that person.
            person_id = db.session.scalar(
                sa.select(Person.id).where(sa.func.lower(Person.work_email) == email, Person.status != PersonStatus.DEPARTED)
            )
        try:
            user, _link = users.invite_user(
                current_actor(), email, Role(form.role.data), person_id, site_root(), current_app.config["INVITE_HOURS"]
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            _flash_delivery(f"Invited {user.email} as {user.role.label}.")
            return redirect(url_for("users.detail", user_id=user.id))
    return render_template("users/invite.html", form=form, hours=current_app.config["INVITE_HOURS"]), (
        400 if form.errors or form.form_errors else 200
    )


def _flash_delivery(done: str) -> None:
    delivery = mail.last_delivery()
    if delivery.disabled:
        flash(
            f"{done} Email is switched off here, so no invitation was sent: use “Resend” once email is set up, "
            "or `flask users invite` on the server, which prints the link.",
            "warning",
        )
    elif delivery.failed:
        flash(f"{done} The invitation email could not be sent; check the mail settings, then use “Resend”.", "warning")
    else:
        flash(f"{done} The invitation email is on its way.", "success")


@bp.route("/<int:user_id>")
@roles(Role.ADMIN)
def detail(user_id: int) -> Any:
    return _detail_page(users.get_user(user_id))


def _detail_page(user: User, status: int = 200, role_form: RoleForm | None = None, reason_form: ReasonForm | None = None) -> Any:
    return render_template(
        "users/detail.html",
        user=user,
        role_form=role_form or RoleForm(role=user.role.value),
        reason_form=reason_form or ReasonForm(),
        sign_ins=users.recent_sign_ins(user),
        history=audit.history("user", user.id),
        recovery_left=two_factor.unused_recovery_codes(user) if user.two_factor_enabled else 0,
        offboarding=offboarding_note(user),
        case=offboarding.open_case_of(user.person) if user.person else None,
        today=date.today(),
    ), status


def _refused(user: User, message: str, **forms: Any) -> Any:
    """The user's page again with what went wrong (400); nothing was saved."""
    db.session.rollback()
    flash(message, "error")
    return _detail_page(users.get_user(user.id), 400, **forms)


def _act(user: User, action: Any, done: str) -> Any:
    try:
        action()
    except ValidationFailed as error:
        return _refused(user, error.message)
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("users.detail", user_id=user.id))


@bp.route("/<int:user_id>/role", methods=["POST"])
@roles(Role.ADMIN)
def change_role(user_id: int) -> Any:
    user = users.get_user(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _refused(user, "Choose one of the roles; the role was not changed.", role_form=form)
    role = Role(form.role.data)
    return _act(
        user,
        lambda: users.change_role(current_actor(), user, role),
        f"{user.email} is now {role.label}. Their sessions have ended; they sign in again with the new role.",
    )


@bp.route("/<int:user_id>/deactivate", methods=["GET", "POST"])
@roles(Role.ADMIN)
def deactivate(user_id: int) -> Any:
    user = users.get_user(user_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            users.deactivate_user(current_actor(), user, form.reason.data or "")
        except ValidationFailed as error:
            db.session.rollback()
            form.form_errors.append(error.message)
        else:
            db.session.commit()
            flash(f"{user.email} is deactivated and signed out everywhere.", "success")
            return redirect(url_for("users.detail", user_id=user.id))
    return render_template("users/deactivate.html", user=user, form=form), (400 if form.errors or form.form_errors else 200)


@bp.route("/<int:user_id>/reactivate", methods=["POST"])
@roles(Role.ADMIN)
def reactivate(user_id: int) -> Any:
    user = users.get_user(user_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _refused(user, "Say why the sign-in is reactivated; it was not reactivated.", reason_form=form)
    return _act(
        user, lambda: users.reactivate_user(current_actor(), user, form.reason.data or ""), f"{user.email} can sign in again."
    )


@bp.route("/<int:user_id>/resend", methods=["POST"])
@roles(Role.ADMIN)
def resend(user_id: int) -> Any:
    user = users.get_user(user_id)
    try:
        users.resend_invitation(current_actor(), user, site_root(), current_app.config["INVITE_HOURS"])
    except ValidationFailed as error:
        return _refused(user, error.message)
    db.session.commit()
    _flash_delivery("A new invitation link was made; the earlier one no longer works.")
    return redirect(url_for("users.detail", user_id=user.id))


@bp.route("/<int:user_id>/cancel", methods=["POST"])
@roles(Role.ADMIN)
def cancel(user_id: int) -> Any:
    user = users.get_user(user_id)
    return _act(user, lambda: users.cancel_invitation(current_actor(), user), f"The invitation of {user.email} is cancelled.")


@bp.route("/<int:user_id>/two-factor/reset", methods=["POST"])
@roles(Role.ADMIN)
def reset_two_factor(user_id: int) -> Any:
    user = users.get_user(user_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        return _refused(
            user, "Say why two factors are reset (for example: lost phone, identity checked in person).", reason_form=form
        )
    if not user.two_factor_enabled:
        flash(f"{user.email} has no second factor to reset.", "info")
        return redirect(url_for("users.detail", user_id=user.id))
    return _act(
        user,
        lambda: two_factor.reset(current_actor(), user, form.reason.data or ""),
        f"Two factors of {user.email} are reset and their sessions ended; they set them up again at their next sign-in.",
    )


@bp.route("/<int:user_id>/sessions/end", methods=["POST"])
@roles(Role.ADMIN)
def end_sessions(user_id: int) -> Any:
    user = users.get_user(user_id)
    return _act(
        user, lambda: users.end_sessions(current_actor(), user, "ended by an admin"), f"Every session of {user.email} has ended."
    )
