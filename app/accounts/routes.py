"""Accounts: list, detail, create, edit, retire, and the roles and contacts on each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from app.accounts.forms import AccountForm, AdminForm, ConnectionForm, RecoveryForm, RetireForm
from app.extensions import db
from app.forms import (
    apply_errors,
    choices,
    department_choices,
    department_options,
    optional_int,
    platform_choices,
    resolve_filter,
)
from app.models.account import AccountStatus, RecoveryKind
from app.models.profile import Profile, ProfileKind
from app.models.user import Role
from app.security import current_actor, roles, signed_in
from app.services import accounts as service
from app.services import audit, credentials, findings, ownership_map, permissions
from app.services.errors import StaleEdit, ValidationFailed
from app.services.pagination import COUNT_LIMIT

bp = Blueprint("accounts", __name__, url_prefix="/accounts", template_folder="templates")


def _enum_arg(enum_cls: Any, name: str) -> Any:
    try:
        return enum_cls(request.args.get(name, ""))
    except ValueError:
        return None


def _filters() -> service.AccountFilters:
    steward_id, _ = resolve_filter(request.args.get("steward"))
    return service.AccountFilters(
        q=request.args.get("q", "")[:200],
        platform_id=optional_int(request.args.get("platform")),
        department_id=optional_int(request.args.get("department")),
        status=_enum_arg(AccountStatus, "status"),
        owner_kind=_enum_arg(ProfileKind, "owner_kind"),
        steward_id=steward_id,
        sort=request.args.get("sort", "name"),
        descending=request.args.get("dir") == "desc",
    )


@bp.route("/")
@signed_in
def index() -> Any:
    filters = _filters()
    page = service.list_accounts(
        current_actor(),
        filters,
        page=optional_int(request.args.get("page")) or 1,
        per_page=current_app.config["PER_PAGE"],
        after=optional_int(request.args.get("after")),
        before=optional_int(request.args.get("before")),
        count_limit=COUNT_LIMIT,
    )
    return render_template(
        "accounts/index.html",
        page=page,
        filters=filters,
        platforms=platform_choices(),
        department_options=department_options("All departments", filters.department_id),
        steward=request.args.get("steward", "")[:200],
        steward_match=resolve_filter(request.args.get("steward"))[1],
        statuses=list(AccountStatus),
        owner_kinds=list(ProfileKind),
        can_create=permissions.can_edit_inventory(current_actor()),
    )


def _fill_choices(form: AccountForm, account: Any = None) -> None:
    form.platform_id.choices = choices([("", "— choose —")]) + platform_choices()
    form.department_id.choices = department_choices()
    if account is not None:
        form.owner_profile_id.where = [Profile.platform_id == account.platform_id]


def _data(form: AccountForm) -> service.AccountData:
    return service.AccountData(
        platform_id=form.platform_id.data or 0,
        name=form.name.data or "",
        handle=form.handle.data or "",
        url=form.url.data or "",
        purpose=form.purpose.data or "",
        department_id=form.department_id.data,
        status=AccountStatus(form.status.data),
        owner_profile_id=form.owner_profile_id.data,
        steward_id=form.steward_id.data,
        has_own_login=bool(form.has_own_login.data),
    )


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.IT)
def create() -> Any:
    form = AccountForm()
    _fill_choices(form)
    if form.validate_on_submit():
        try:
            account = service.create_account(current_actor(), _data(form))
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"Added {account.name}. Now record who holds roles on it and where recovery would go.", "success")
            return redirect(url_for("accounts.detail", account_id=account.id))
    return render_template("accounts/form.html", form=form, account=None), (400 if form.is_submitted() else 200)


@bp.route("/<int:account_id>")
@signed_in
def detail(account_id: int) -> Any:
    actor = current_actor()
    account = service.get_account(actor, account_id)
    can_edit = permissions.can_edit_account(actor, account)
    return _render_detail(account, can_edit, **(_sub_forms(account) if can_edit else {}))


def _render_detail(account: Any, can_edit: bool, **forms: Any) -> str:
    actor = current_actor()
    return render_template(
        "accounts/detail.html",
        account=account,
        can_edit=can_edit,
        history=audit.history("account", account.id),
        graph=ownership_map.for_account(account),
        notes=[(note, credentials.state_of(note)) for note in credentials.notes_for_account(actor, account)],
        can_add_note=credentials.can_manage(actor),
        findings=findings.evaluate(
            findings.visible_filters(actor, findings.FindingFilters(account_id=account.id, show="all")),
            current_app.config["REVIEW_INTERVAL_DAYS"],
        ),
        can_accept=actor.has_role(Role.DIRECTOR, Role.ADMIN),
        **forms,
    )


def _sub_forms(account: Any, **given: Any) -> dict[str, Any]:
    admin_form = given.get("admin_form") or AdminForm(prefix="admin")
    admin_form.profile_id.where = [Profile.platform_id == account.platform_id]
    admin_form.role_name.choices = choices([(r, r) for r in account.platform.role_names] or [("admin", "admin")])
    recovery_form = given.get("recovery_form") or RecoveryForm(prefix="recovery")
    connection_form = given.get("connection_form") or ConnectionForm(prefix="connection")
    connection_form.profile_id.where = [Profile.platform_id == account.platform_id]
    return {"admin_form": admin_form, "recovery_form": recovery_form, "connection_form": connection_form}


@bp.route("/<int:account_id>/edit", methods=["GET", "POST"])
@signed_in
def edit(account_id: int) -> Any:
    actor = current_actor()
    account = service.get_account(actor, account_id)
    permissions.require(permissions.can_edit_account(actor, account), "You can edit only the accounts you steward.")
    form = AccountForm(obj=account)
    _fill_choices(form, account)
    changes = []
    if form.validate_on_submit():
        try:
            service.update_account(actor, account, _data(form), form.version.data or 0)
        except StaleEdit as stale:
            db.session.rollback()
            changes = stale.changes
            account = service.get_account(actor, account_id)
            form = AccountForm(formdata=None, obj=account)
            _fill_choices(form, account)
            form.form_errors.append(stale.message)
            return render_template("accounts/form.html", form=form, account=account, changes=changes), 409
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"Saved your changes to {account.name}.", "success")
            return redirect(url_for("accounts.detail", account_id=account.id))
    return render_template("accounts/form.html", form=form, account=account, changes=changes), (
        400 if form.is_submitted() else 200
    )


@bp.route("/<int:account_id>/retire", methods=["GET", "POST"])
@signed_in
def retire(account_id: int) -> Any:
    actor = current_actor()
    account = service.get_account(actor, account_id)
    permissions.require(permissions.can_edit_account(actor, account), "You can retire only the accounts you steward.")
    form = RetireForm(data={"version": account.version} if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            service.retire_account(actor, account, form.version.data or 0, form.reason.data or "")
        except StaleEdit as stale:
            db.session.rollback()
            flash(stale.message, "error")
            return redirect(url_for("accounts.detail", account_id=account_id))
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(
                f"Retired {account.name}. It stays in the registry with its history; set its status back to active to undo.",
                "success",
            )
            return redirect(url_for("accounts.detail", account_id=account.id))
    return render_template("accounts/retire.html", form=form, account=account), (400 if form.is_submitted() else 200)


def _sub_form_failed(account: Any, message: str, **given: Any) -> Any:
    db.session.rollback()
    flash(message, "error")
    actor = current_actor()
    account = service.get_account(actor, account.id)
    return _render_detail(account, True, **_sub_forms(account, **given)), 400


@bp.route("/<int:account_id>/admins", methods=["POST"])
@signed_in
def add_admin(account_id: int) -> Any:
    actor = current_actor()
    account = service.get_account(actor, account_id)
    permissions.require(permissions.can_edit_account(actor, account))
    form = _sub_forms(account)["admin_form"]
    if form.validate_on_submit():
        try:
            admin = service.add_admin(actor, account, form.profile_id.data or 0, form.role_name.data or "", form.since.data)
        except ValidationFailed as error:
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"{admin.profile.label} now holds the {admin.role_name} role on {account.name}.", "success")
            return redirect(url_for("accounts.detail", account_id=account.id, _anchor="admins"))
    return _sub_form_failed(account, "The role was not added; see the form below.", admin_form=form)


@bp.route("/<int:account_id>/recovery", methods=["POST"])
@signed_in
def add_recovery(account_id: int) -> Any:
    actor = current_actor()
    account = service.get_account(actor, account_id)
    permissions.require(permissions.can_edit_account(actor, account))
    form = _sub_forms(account)["recovery_form"]
    if form.validate_on_submit():
        verified = datetime.combine(form.last_verified_at.data, datetime.min.time(), UTC) if form.last_verified_at.data else None
        try:
            contact = service.add_recovery_contact(
                actor, account, RecoveryKind(form.kind.data), form.value.data or "", form.person_id.data, verified
            )
        except ValidationFailed as error:
            apply_errors(form, error)
        else:
            db.session.commit()
            tied = f" It is tied to {contact.person.name}." if contact.person else ""
            flash(f"Added recovery {contact.kind.label.lower()} {contact.value}.{tied}", "success")
            return redirect(url_for("accounts.detail", account_id=account.id, _anchor="recovery"))
    return _sub_form_failed(account, "The recovery contact was not added; see the form below.", recovery_form=form)


@bp.route("/<int:account_id>/connections", methods=["POST"])
@signed_in
def add_connection(account_id: int) -> Any:
    actor = current_actor()
    account = service.get_account(actor, account_id)
    permissions.require(permissions.can_edit_account(actor, account))
    form = _sub_forms(account)["connection_form"]
    if form.validate_on_submit():
        try:
            connection = service.add_connection(
                actor, account, form.tool_name.data or "", form.profile_id.data, form.purpose.data or ""
            )
        except ValidationFailed as error:
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"Recorded the {connection.tool_name} connection.", "success")
            return redirect(url_for("accounts.detail", account_id=account.id, _anchor="connections"))
    return _sub_form_failed(account, "The connection was not added; see the form below.", connection_form=form)


#: What each removal is called on its confirmation page, and the service call that does it.
REMOVALS = {
    "admins": ("role", service.remove_admin, "admins"),
    "recovery": ("recovery contact", service.remove_recovery_contact, "recovery_contacts"),
    "connections": ("connection", service.remove_connection, "connections"),
}


@bp.route("/<int:account_id>/<any(admins, recovery, connections):part>/<int:item_id>/remove", methods=["GET", "POST"])
@signed_in
def remove_part(account_id: int, part: str, item_id: int) -> Any:
    """Confirm, then remove one role, recovery contact or connection."""
    actor = current_actor()
    account = service.get_account(actor, account_id)
    permissions.require(permissions.can_edit_account(actor, account))
    noun, remove, attribute = REMOVALS[part]
    item = next((i for i in getattr(account, attribute) if i.id == item_id), None)
    if request.method == "POST":
        remove(actor, account, item_id)
        db.session.commit()
        flash(f"Removed the {noun} from {account.name}.", "success")
        return redirect(url_for("accounts.detail", account_id=account.id))
    if item is None:
        flash(f"That {noun} is no longer on {account.name}.", "info")
        return redirect(url_for("accounts.detail", account_id=account.id))
    return render_template("accounts/remove.html", account=account, part=part, noun=noun, item=item)
