"""Credential notes: add, see (never the value), reveal with a reason, rotate, undo a rotation, delete;
and IT's rotation queue.

The value of a secret appears in exactly two responses: the reveal, and a password generated at
rotation. Both are rendered only after the reveal's log row and audit event have committed, and
both are sent with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.auth import sessions
from app.credentials.forms import NewNoteForm, NoteForm, ReasonForm, RevealForm, RotateForm
from app.extensions import db, limiter
from app.forms import apply_errors, department_options, optional_int, platform_choices
from app.models.account import Account
from app.models.base import utcnow
from app.models.credential import CredentialKind, CredentialNote
from app.models.profile import Profile
from app.models.user import Role
from app.security import current_actor, roles, signed_in
from app.services import accounts, audit, permissions, profiles, users
from app.services import credentials as service
from app.services.context import Actor
from app.services.errors import NotFound, StaleEdit, ValidationFailed
from app.services.throttle import Throttled

bp = Blueprint("credentials", __name__, url_prefix="/credentials", template_folder="templates")

#: Headers of a response that carries a secret: kept by no cache, not even the browser's history.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: Kinds whose value is one line (typed into a password input); the others take several lines.
ONE_LINE = (CredentialKind.PASSWORD, CredentialKind.API_KEY)


# --- Helpers ------------------------------------------------------------------------------


def _fresh_window() -> int:
    return int(current_app.config["REVEAL_FRESH_AUTH_SECONDS"])


def _signed_in_recently() -> bool:
    """Whether this session's sign-in (or last password confirmation) is within the reveal window."""
    auth_at = session.get("auth_at")
    if not isinstance(auth_at, (int, float)):
        return False
    return 0 <= utcnow().timestamp() - auth_at <= _fresh_window()


def _holder_page(account: Account | None, profile: Profile | None) -> str:
    if account is not None:
        return url_for("accounts.detail", account_id=account.id)
    return url_for("profiles.detail", profile_id=profile.id if profile is not None else 0)


def _holder_url(note: CredentialNote) -> str:
    return _holder_page(note.account, note.profile)


def _platform_default(account: Account | None, profile: Profile | None) -> tuple[str, int]:
    """The platform of the holder and its rotation interval (what an empty interval means)."""
    platform = account.platform if account is not None else profile.platform if profile is not None else None
    return (platform.name, platform.rotation_days) if platform is not None else ("the platform", 365)


def _typed_secret(one_line: Any, lines: Any) -> str:
    """The secret typed into either box; both filled is refused rather than guessed at."""
    if one_line.data and lines.data:
        raise ValidationFailed(
            "Nothing was saved.", {lines.name: ["Fill in one of the two boxes, not both (then type the secret again)."]}
        )
    return one_line.data or lines.data or ""


def _note_data(form: NoteForm) -> service.NoteData:
    return service.NoteData(
        label=form.label.data or "", kind=CredentialKind(form.kind.data), rotation_days=form.rotation_days.data
    )


def _render_detail(actor: Actor, note: CredentialNote, reveal_form: RevealForm | None = None) -> str:
    can_reveal = service.can_reveal(actor, note)
    return render_template(
        "credentials/detail.html",
        note=note,
        report=service.state_of(note),
        interval=service.interval_days(note),
        can_reveal=can_reveal,
        can_manage=service.can_manage(actor),
        reveal_form=(reveal_form or RevealForm()) if can_reveal else None,
        needs_password=not _signed_in_recently(),
        window_minutes=max(1, _fresh_window() // 60),
        now=utcnow(),
        history=audit.history("credential", note.id),
    )


def _show_once(note: CredentialNote, value: str, generated: bool = False) -> Any:
    """The one response that carries a secret: never cached, never kept."""
    body = render_template("credentials/revealed.html", note=note, value=value, generated=generated)
    return body, 200, NO_STORE


# --- Create -------------------------------------------------------------------------------


def _holder(actor: Actor) -> tuple[Account | None, Profile | None]:
    account_id = optional_int(request.args.get("account"))
    profile_id = optional_int(request.args.get("profile"))
    if bool(account_id) == bool(profile_id):
        raise NotFound("Add a credential note from the page of the account or profile it belongs to.")
    if account_id:
        return accounts.get_account(actor, account_id), None
    profile = profiles.get_profile(actor, profile_id or 0)
    if not profile.kind.has_custodians:
        raise ValidationFailed(
            "Only persona and shared-login profiles carry credential notes: a personal profile's password belongs to its holder."
        )
    return None, profile


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.IT)
def create() -> Any:
    actor = current_actor()
    account, profile = _holder(actor)
    form = NewNoteForm()
    if form.validate_on_submit():
        try:
            secret = _typed_secret(form.secret, form.secret_lines)
            note = service.create_note(actor, _note_data(form), secret, account=account, profile=profile)
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(
                f"Added the credential note “{note.label}”. Its value is sealed; reveal it from this page when needed.", "success"
            )
            return redirect(url_for("credentials.detail", note_id=note.id))
    platform_name, default_days = _platform_default(account, profile)
    return render_template(
        "credentials/form.html",
        form=form,
        note=None,
        holder_name=account.name if account is not None else profile.label if profile is not None else "",
        holder_url=_holder_page(account, profile),
        platform_name=platform_name,
        default_days=default_days,
    ), (400 if form.is_submitted() else 200)


# --- See and reveal -----------------------------------------------------------------------


@bp.route("/<int:note_id>")
@signed_in
def detail(note_id: int) -> Any:
    actor = current_actor()
    return _render_detail(actor, service.get_note(actor, note_id))


def _reveal_key() -> str:
    """Reveals (and the password guesses they may carry) are limited per sign-in, not per address."""
    return f"reveal:{current_user.get_id()}"


@bp.route("/<int:note_id>/reveal", methods=["POST"])
@signed_in
@limiter.limit("10 per minute", key_func=_reveal_key)
def reveal(note_id: int) -> Any:
    actor = current_actor()
    note = service.get_note(actor, note_id)
    permissions.require(service.can_reveal(actor, note), "Your role cannot reveal secrets.")
    form = RevealForm()
    if not form.validate_on_submit():
        return _render_detail(actor, note, form), 400
    if form.password.data or form.code.data:
        # Re-authentication counts every factor the sign-in has: the password (if it has one) and,
        # once two factors are on, a fresh code from the app.
        user = current_user._get_current_object()
        confirmed = True
        if user.has_password and not users.confirm_password(user.id, form.password.data or ""):
            form.password.errors = ["That is not your password. Nothing was revealed."]
            confirmed = False
        if user.two_factor_enabled:
            try:
                if not sessions.code_ok(user, form.code.data or ""):
                    form.code.errors = ["That code is not right, or was already used. Nothing was revealed."]
                    confirmed = False
            except Throttled as error:
                db.session.rollback()
                form.code.errors = [error.message]
                return _render_detail(actor, note, form), 429, {"Retry-After": str(error.retry_after)}
        if not user.has_password and not user.two_factor_enabled:
            form.password.errors = ["Sign out and sign in again with single sign-on, then reveal within five minutes."]
            confirmed = False
        if not confirmed:
            db.session.commit()  # keep the count of wrong codes
            return _render_detail(actor, note, form), 401
        session["auth_at"] = utcnow().timestamp()
    try:
        value = service.reveal_note(
            actor, note, form.reason.data or "", fresh_sign_in=_signed_in_recently(), fresh_window_seconds=_fresh_window()
        )
    except service.FreshSignInRequired as stale:
        db.session.rollback()
        form.password.errors = [stale.message]
        return _render_detail(actor, note, form), 401
    except ValidationFailed as error:
        db.session.rollback()
        apply_errors(form, error)
        return _render_detail(actor, note, form), 400
    # The log row and its audit event must be stored before anyone sees the value: if this
    # commit fails, the error page is rendered instead and the value goes nowhere.
    db.session.commit()
    return _show_once(note, value)


# --- Rotate and restore -------------------------------------------------------------------


@bp.route("/<int:note_id>/rotate", methods=["GET", "POST"])
@signed_in
def rotate(note_id: int) -> Any:
    actor = current_actor()
    note = service.get_note(actor, note_id)
    permissions.require(service.can_reveal(actor, note), "Your role cannot rotate secrets.")
    form = RotateForm()
    if form.validate_on_submit():
        generated = bool(form.generate.data)
        try:
            typed = _typed_secret(form.new_secret, form.new_secret_lines)
            if generated and typed:
                raise ValidationFailed(
                    "Nothing was saved.", {"generate": ["Either type the new value or generate one, not both."]}
                )
            value = service.generate_password(form.length.data or 24, tuple(form.classes.data or ())) if generated else typed
            service.rotate_note(
                actor,
                note,
                value,
                form.reason.data or "",
                shown_to_actor=generated,
                retention_days=current_app.config["CREDENTIAL_RETENTION_DAYS"],
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
            if note.kind not in ONE_LINE:  # the page shows the several-lines box, not the one-line one
                form.new_secret_lines.errors = [*form.new_secret_lines.errors, *form.new_secret.errors]
                form.new_secret.errors = []
        else:
            db.session.commit()
            if generated:
                return _show_once(note, value, generated=True)
            flash(
                f"Rotated “{note.label}”. The previous value is kept for {current_app.config['CREDENTIAL_RETENTION_DAYS']} days "
                "in case the change has to be undone.",
                "success",
            )
            return redirect(url_for("credentials.detail", note_id=note.id))
    return render_template("credentials/rotate.html", form=form, note=note, one_line=note.kind in ONE_LINE), (
        400 if form.is_submitted() else 200
    )


@bp.route("/<int:note_id>/versions/<int:version_id>/restore", methods=["GET", "POST"])
@signed_in
def restore(note_id: int, version_id: int) -> Any:
    """Confirm (GET), then make a kept earlier value current again (POST)."""
    actor = current_actor()
    note = service.get_note(actor, note_id)
    permissions.require(service.can_reveal(actor, note), "Your role cannot rotate secrets.")
    version = next((v for v in note.versions if v.id == version_id), None)
    if version is None:
        flash("That earlier value is no longer kept; it may have expired or been restored already.", "info")
        return redirect(url_for("credentials.detail", note_id=note.id, _anchor="versions"))
    form = ReasonForm()
    if form.validate_on_submit():
        replaced_on = version.replaced_at
        try:
            service.restore_version(
                actor, note, version_id, form.reason.data or "", retention_days=current_app.config["CREDENTIAL_RETENTION_DAYS"]
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
            note = service.get_note(actor, note_id)
            version = next((v for v in note.versions if v.id == version_id), None)
            if version is None:
                flash(error.message, "error")
                return redirect(url_for("credentials.detail", note_id=note.id, _anchor="versions"))
        else:
            db.session.commit()
            flash(
                f"Restored the value of “{note.label}” replaced on {replaced_on:%d %b %Y}. "
                "The value it replaced is kept in its turn, so this can be undone too.",
                "success",
            )
            return redirect(url_for("credentials.detail", note_id=note.id))
    return render_template("credentials/restore.html", form=form, note=note, version=version, now=utcnow()), (
        400 if form.is_submitted() else 200
    )


# --- Edit and delete ----------------------------------------------------------------------


def _initial(note: CredentialNote) -> dict[str, Any]:
    return {"label": note.label, "kind": note.kind.value, "rotation_days": note.rotation_days, "version": note.version}


def _render_form(form: NoteForm, note: CredentialNote, changes: list[Any] | None = None) -> str:
    platform_name, default_days = _platform_default(note.account, note.profile)
    return render_template(
        "credentials/form.html",
        form=form,
        note=note,
        holder_name=note.holder_label,
        holder_url=_holder_url(note),
        platform_name=platform_name,
        default_days=default_days,
        changes=changes or [],
    )


@bp.route("/<int:note_id>/edit", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.IT)
def edit(note_id: int) -> Any:
    actor = current_actor()
    note = service.get_note(actor, note_id)
    form = NoteForm(data=_initial(note) if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            service.update_note(actor, note, _note_data(form), form.version.data or 0)
        except StaleEdit as stale:
            db.session.rollback()
            note = service.get_note(actor, note_id)
            form = NoteForm(formdata=None, data=_initial(note))
            form.form_errors.append(stale.message)
            return _render_form(form, note, stale.changes), 409
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"Saved your changes to “{note.label}”.", "success")
            return redirect(url_for("credentials.detail", note_id=note.id))
    return _render_form(form, note), (400 if form.is_submitted() else 200)


@bp.route("/<int:note_id>/delete", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.IT)
def delete(note_id: int) -> Any:
    """Confirm with a reason (GET), then delete (POST)."""
    actor = current_actor()
    note = service.get_note(actor, note_id)
    form = ReasonForm()
    if form.validate_on_submit():
        label, back = note.label, _holder_url(note)
        try:
            service.delete_note(actor, note, form.reason.data or "")
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
            note = service.get_note(actor, note_id)
        else:
            db.session.commit()
            flash(f"Deleted the credential note “{label}”. Its history stays in the audit log.", "success")
            return redirect(back)
    return render_template("credentials/delete.html", form=form, note=note), (400 if form.is_submitted() else 200)


# --- The rotation queue -------------------------------------------------------------------


@bp.route("/queue")
@roles(Role.ADMIN, Role.IT)
def queue() -> Any:
    department_id = optional_int(request.args.get("department"))
    platform_id = optional_int(request.args.get("platform"))
    page = service.rotation_queue(
        current_actor(),
        department_id=department_id,
        platform_id=platform_id,
        page=optional_int(request.args.get("page")) or 1,
        per_page=current_app.config["PER_PAGE"],
    )
    return render_template(
        "credentials/queue.html",
        page=page,
        department_id=department_id,
        platform_id=platform_id,
        department_options=department_options("All departments", department_id),
        platforms=platform_choices(),
        due_window=service.DUE_WINDOW_DAYS,
    )
