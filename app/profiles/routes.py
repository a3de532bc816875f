"""Profiles: list, detail, create, edit, and the custodians of personas and shared logins."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from app.extensions import db
from app.forms import apply_errors, choices, optional_int, platform_choices, resolve_filter
from app.models.profile import Profile, ProfileKind
from app.models.user import Role
from app.profiles.forms import CustodianForm, ProfileForm
from app.security import current_actor, roles
from app.services import audit, credentials, permissions
from app.services import profiles as service
from app.services.errors import StaleEdit, ValidationFailed

bp = Blueprint("profiles", __name__, url_prefix="/profiles", template_folder="templates")


def _filters() -> service.ProfileFilters:
    try:
        kind = ProfileKind(request.args.get("kind", ""))
    except ValueError:
        kind = None
    return service.ProfileFilters(
        q=request.args.get("q", "")[:200],
        platform_id=optional_int(request.args.get("platform")),
        kind=kind,
        holder_id=resolve_filter(request.args.get("holder"))[0],
    )


@bp.route("/")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def index() -> Any:
    actor = current_actor()
    filters = _filters()
    page = service.list_profiles(actor, filters, optional_int(request.args.get("page")) or 1, current_app.config["PER_PAGE"])
    return render_template(
        "profiles/index.html",
        page=page,
        filters=filters,
        counts=service.usage_counts([p.id for p in page.items]),
        platforms=platform_choices(),
        kinds=list(ProfileKind),
        holder=request.args.get("holder", "")[:200],
        holder_match=resolve_filter(request.args.get("holder"))[1],
        can_create=permissions.can_edit_inventory(actor),
    )


def _custodian_form(form: CustodianForm | None = None) -> CustodianForm:
    # Present custodians stay choosable so choosing one again gets the service's clear refusal.
    return form or CustodianForm(prefix="custodian")


def _render_detail(profile: Profile, custodian_form: CustodianForm | None = None) -> str:
    actor = current_actor()
    can_edit = permissions.can_edit_inventory(actor)
    return render_template(
        "profiles/detail.html",
        profile=profile,
        meaning=service.KIND_MEANINGS[profile.kind],
        use=service.usage(profile),
        can_edit=can_edit,
        custodian_form=_custodian_form(custodian_form) if can_edit and profile.kind.has_custodians else None,
        notes=[(note, credentials.state_of(note)) for note in credentials.notes_for_profile(actor, profile)]
        if profile.kind.has_custodians
        else None,
        can_add_note=credentials.can_manage(actor),
        history=audit.history("profile", profile.id),
    )


@bp.route("/<int:profile_id>")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def detail(profile_id: int) -> Any:
    return _render_detail(service.get_profile(current_actor(), profile_id))


def _initial(profile: Profile) -> dict[str, Any]:
    return {
        "name": profile.name,
        "platform_id": profile.platform_id,
        "kind": profile.kind.value,
        "handle": profile.handle,
        "holder_id": profile.holder_id,
        "signup_email": profile.signup_email,
        "speaks_for_organisation": profile.speaks_for_organisation,
        "notes": profile.notes,
        "version": profile.version,
    }


def _fill_choices(form: ProfileForm) -> None:
    form.platform_id.choices = choices([("", "— choose —")]) + platform_choices()
    # Departed holders stay choosable (the field includes them): a leaver's personal profile is exactly what must be recorded.


def _data(form: ProfileForm) -> service.ProfileData:
    return service.ProfileData(
        platform_id=form.platform_id.data or 0,
        kind=ProfileKind(form.kind.data),
        name=form.name.data or "",
        handle=form.handle.data or "",
        holder_id=form.holder_id.data,
        signup_email=form.signup_email.data or "",
        speaks_for_organisation=bool(form.speaks_for_organisation.data),
        notes=form.notes.data or "",
    )


def _render_form(form: ProfileForm, profile: Profile | None, changes: list[Any] | None = None) -> str:
    return render_template(
        "profiles/form.html",
        form=form,
        profile=profile,
        changes=changes or [],
        meanings=service.KIND_MEANINGS,
        kinds=list(ProfileKind),
    )


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.IT)
def create() -> Any:
    initial = None
    if request.method == "GET":
        initial = {
            "platform_id": optional_int(request.args.get("platform")),
            "holder_id": optional_int(request.args.get("holder")),
        }
        if (kind := request.args.get("kind")) in {k.value for k in ProfileKind}:
            initial["kind"] = kind
    form = ProfileForm(data=initial)
    _fill_choices(form)
    if form.validate_on_submit():
        try:
            profile = service.create_profile(current_actor(), _data(form))
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            next_step = " Now add the people who know how to sign in as it." if profile.kind.has_custodians else ""
            flash(f"Recorded the profile {profile.label}.{next_step}", "success")
            return redirect(url_for("profiles.detail", profile_id=profile.id))
    return _render_form(form, None), (400 if form.is_submitted() else 200)


@bp.route("/<int:profile_id>/edit", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.IT)
def edit(profile_id: int) -> Any:
    actor = current_actor()
    profile = service.get_profile(actor, profile_id)
    form = ProfileForm(data=_initial(profile) if request.method == "GET" else None)
    _fill_choices(form)
    if form.validate_on_submit():
        try:
            service.update_profile(actor, profile, _data(form), form.version.data or 0)
        except StaleEdit as stale:
            db.session.rollback()
            profile = service.get_profile(actor, profile_id)
            form = ProfileForm(formdata=None, data=_initial(profile))
            _fill_choices(form)
            form.form_errors.append(stale.message)
            return _render_form(form, profile, stale.changes), 409
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"Saved your changes to {profile.label}.", "success")
            return redirect(url_for("profiles.detail", profile_id=profile.id))
    return _render_form(form, profile), (400 if form.is_submitted() else 200)


@bp.route("/<int:profile_id>/custodians", methods=["POST"])
@roles(Role.ADMIN, Role.IT)
def add_custodian(profile_id: int) -> Any:
    actor = current_actor()
    profile = service.get_profile(actor, profile_id)
    form = _custodian_form()
    message = "The custodian was not added; see the form below."
    if form.validate_on_submit():
        try:
            link = service.add_custodian(actor, profile, form.person_id.data or 0)
        except ValidationFailed as error:
            apply_errors(form, error)
            if not profile.kind.has_custodians:
                message = error.message  # the page has no custodian form to show it on
        else:
            db.session.commit()
            flash(f"{link.person.name} is now a custodian of {profile.label}.", "success")
            return redirect(url_for("profiles.detail", profile_id=profile.id, _anchor="custodians"))
    db.session.rollback()
    flash(message, "error")
    return _render_detail(service.get_profile(actor, profile_id), form), 400


@bp.route("/<int:profile_id>/custodians/<int:custodian_id>/remove", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.IT)
def remove_custodian(profile_id: int, custodian_id: int) -> Any:
    """Confirm (GET), then remove (POST) one custodian."""
    actor = current_actor()
    profile = service.get_profile(actor, profile_id)
    if request.method == "POST":
        link = next((c for c in profile.custodian_links if c.id == custodian_id), None)
        name = link.person.name if link else ""
        service.remove_custodian(actor, profile, custodian_id)
        db.session.commit()
        flash(f"{name} is no longer recorded as a custodian of {profile.label}.", "success")
        return redirect(url_for("profiles.detail", profile_id=profile.id, _anchor="custodians"))
    link = next((c for c in profile.custodian_links if c.id == custodian_id), None)
    if link is None:
        flash(f"That person is no longer a custodian of {profile.label}.", "info")
        return redirect(url_for("profiles.detail", profile_id=profile.id, _anchor="custodians"))
    return render_template("profiles/remove_custodian.html", profile=profile, link=link)
