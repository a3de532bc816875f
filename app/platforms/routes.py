"""Platforms: list, detail, create and edit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from app.extensions import db
from app.forms import apply_errors, optional_int
from app.models.platform import Platform
from app.models.user import Role
from app.platforms.forms import PlatformForm
from app.security import current_actor, roles
from app.services import audit, permissions
from app.services import platforms as service
from app.services.errors import StaleEdit, ValidationFailed

bp = Blueprint("platforms", __name__, url_prefix="/platforms", template_folder="templates")


@bp.route("/")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def index() -> Any:
    actor = current_actor()
    page = service.list_platforms(actor, optional_int(request.args.get("page")) or 1, current_app.config["PER_PAGE"])
    return render_template("platforms/index.html", page=page, can_create=permissions.can_edit_inventory(actor))


@bp.route("/<int:platform_id>")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def detail(platform_id: int) -> Any:
    actor = current_actor()
    platform = service.get_platform(actor, platform_id)
    return render_template(
        "platforms/detail.html",
        platform=platform,
        accounts=service.platform_accounts(platform),
        profiles=service.profile_count(platform),
        can_edit=permissions.can_edit_inventory(actor),
        history=audit.history("platform", platform.id),
    )


def _initial(platform: Platform) -> dict[str, Any]:
    return {
        "name": platform.name,
        "slug": platform.slug,
        "role_names": "\n".join(platform.role_names or []),
        "delegated_access": platform.delegated_access,
        "owner_hint": platform.owner_hint,
        "rotation_days": platform.rotation_days,
        "version": platform.version,
    }


def _data(form: PlatformForm) -> service.PlatformData:
    return service.PlatformData(
        name=form.name.data or "",
        slug=form.slug.data or "",
        role_names=service.parse_role_names(form.role_names.data or ""),
        delegated_access=bool(form.delegated_access.data),
        owner_hint=form.owner_hint.data or "",
        rotation_days=form.rotation_days.data if form.rotation_days.data is not None else 0,
    )


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.IT)
def create() -> Any:
    form = PlatformForm()
    if form.validate_on_submit():
        try:
            platform = service.create_platform(current_actor(), _data(form))
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"Added {platform.name} to the platforms.", "success")
            return redirect(url_for("platforms.detail", platform_id=platform.id))
    return render_template("platforms/form.html", form=form, platform=None, changes=[]), (400 if form.is_submitted() else 200)


@bp.route("/<int:platform_id>/edit", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.IT)
def edit(platform_id: int) -> Any:
    actor = current_actor()
    platform = service.get_platform(actor, platform_id)
    form = PlatformForm(data=_initial(platform) if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            service.update_platform(actor, platform, _data(form), form.version.data or 0)
        except StaleEdit as stale:
            db.session.rollback()
            platform = service.get_platform(actor, platform_id)
            form = PlatformForm(formdata=None, data=_initial(platform))
            form.form_errors.append(stale.message)
            return render_template("platforms/form.html", form=form, platform=platform, changes=stale.changes), 409
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"Saved your changes to {platform.name}.", "success")
            return redirect(url_for("platforms.detail", platform_id=platform.id))
    return render_template("platforms/form.html", form=form, platform=platform, changes=[]), (400 if form.is_submitted() else 200)
