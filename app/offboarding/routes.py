"""Offboarding: the cases list, starting a case, the case page with its checklist, working items,
closing with a handover report, the exit declaration, and everyone's "my tasks"."""

from __future__ import annotations

import dataclasses
import re
from collections import OrderedDict
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.forms import apply_errors, choices, department_options, optional_int, platform_choices
from app.models.offboarding import CaseStatus, ChecklistItem, ItemKind, ItemStatus, OffboardingCase, OffboardingTemplateItem
from app.models.person import Person, PersonStatus
from app.models.profile import Profile, ProfileKind
from app.models.user import Role
from app.offboarding.forms import (
    AddAdminForm,
    CancelForm,
    ConnectionForm,
    ExitDeclarationForm,
    NoteForm,
    PersonForm,
    RecoveryForm,
    RotateForm,
    StartForm,
    TemplateItemForm,
    TransferForm,
    VersionOnlyForm,
    WaiveForm,
)
from app.security import current_actor, roles, signed_in
from app.services import audit, checklist, exports, offboarding, offboarding_template, permissions
from app.services.context import Actor
from app.services.errors import NotFound, StaleEdit, ValidationFailed
from app.services.pagination import paginate

bp = Blueprint("offboarding", __name__, url_prefix="/offboarding", template_folder="templates")

#: Who follows every case (DESIGN.md roles: they read the whole registry).
READERS = (Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
FILTER_STATUSES = ("open", "overdue", "closed", "cancelled")
UNFINISHED = (ItemStatus.OPEN, ItemStatus.AWAITING_CONFIRMATION)
QUEUE_LABELS = {"it": "IT (anyone in IT)", "hr": "HR (anyone in HR)", "admin": "Admins"}


# --- Helpers ------------------------------------------------------------------------------


def _case(case_id: int) -> OffboardingCase:
    case = db.session.get(OffboardingCase, case_id)
    if case is None:
        raise NotFound("There is no such offboarding case.")  # the same words as _require_view
    return case


def _item(item_id: int) -> ChecklistItem:
    item = db.session.get(ChecklistItem, item_id)
    if item is None:
        raise NotFound("There is no such checklist item.")
    return item


def _involved(actor: Actor, case: OffboardingCase) -> bool:
    return actor.person_id is not None and offboarding.involves(case, actor.person_id)


def _can_view(actor: Actor, case: OffboardingCase) -> bool:
    return actor.has_role(*READERS) or _involved(actor, case)


def _require_view(actor: Actor, case: OffboardingCase) -> None:
    """A case the actor may not follow is answered as a missing one (404, same words)."""
    permissions.require_visible(_can_view(actor, case), NotFound("There is no such offboarding case."))


def _require_item_view(actor: Actor, item: ChecklistItem) -> None:
    """An item of a case the actor may not follow is answered as a missing item."""
    permissions.require_visible(_can_view(actor, item.case), NotFound("There is no such checklist item."))


def _progress(done: int, waived: int, total: int) -> dict[str, int]:
    finished = done + waived
    return {
        "done": done,
        "waived": waived,
        "finished": finished,
        "total": total,
        "open": total - finished,
        "percent": round(100 * finished / total) if total else 100,
    }


def _case_progress(case: OffboardingCase) -> dict[str, int]:
    counts = offboarding.item_counts(case)
    return _progress(counts.get(ItemStatus.DONE, 0), counts.get(ItemStatus.WAIVED, 0), sum(counts.values()))


def _overdue(item: ChecklistItem | offboarding.ChecklistLine, today: date) -> bool:
    return not item.status.is_finished and item.due_on < today


def _check_case_version(case: OffboardingCase, version: int | None) -> None:
    if version is None or case.version != version:
        raise StaleEdit(
            f"The offboarding case of {case.person.name}",
            audit.changes_since("offboarding_case", case.id, version or 0),
        )


# --- Lists --------------------------------------------------------------------------------


def _overdue_clause(today: date) -> sa.ColumnElement[bool]:
    return sa.and_(
        OffboardingCase.status == CaseStatus.OPEN,
        sa.exists().where(
            ChecklistItem.case_id == OffboardingCase.id,
            ChecklistItem.status.in_(UNFINISHED),
            ChecklistItem.due_on < today,
        ),
    )


@bp.route("/")
@roles(*READERS)
def index() -> Any:
    today = date.today()
    status = request.args.get("status", "open")
    status = status if status in FILTER_STATUSES or status == "all" else "open"
    department_id = optional_int(request.args.get("department"))
    # Each person's department with them: the rows show it (one statement per department before).
    stmt = (
        sa.select(OffboardingCase)
        .join(OffboardingCase.person)
        .options(selectinload(OffboardingCase.person).joinedload(Person.department))
    )
    if status == "overdue":
        stmt = stmt.where(_overdue_clause(today))
    elif status != "all":
        stmt = stmt.where(OffboardingCase.status == CaseStatus(status))
    if department_id:
        stmt = stmt.where(Person.department_id == department_id)
    stmt = stmt.order_by(
        OffboardingCase.last_day.desc() if status in ("closed", "cancelled") else OffboardingCase.last_day, OffboardingCase.id
    )
    page = paginate(stmt, optional_int(request.args.get("page")) or 1, current_app.config["PER_PAGE"])
    ids = [c.id for c in page.items]
    counts: dict[int, dict[ItemStatus, int]] = {i: {} for i in ids}
    late: set[int] = set()
    if ids:
        # The page's cases' items counted by status, each count with its earliest due date: a case
        # is late where an unfinished status's is past. One pass over those cases' items (a
        # statement of its own for the late ones read them from every case's open items: 1.6 ms
        # at 200,000 accounts, growing with the registry).
        rows = db.session.execute(
            sa.select(ChecklistItem.case_id, ChecklistItem.status, sa.func.count(), sa.func.min(ChecklistItem.due_on))
            .where(ChecklistItem.case_id.in_(ids))
            .group_by(ChecklistItem.case_id, ChecklistItem.status)
        )
        for case_id, item_status, n, first_due in rows:
            counts[case_id][item_status] = n
            if item_status in UNFINISHED and first_due is not None and first_due < today:
                late.add(case_id)
    progress = {i: _progress(c.get(ItemStatus.DONE, 0), c.get(ItemStatus.WAIVED, 0), sum(c.values())) for i, c in counts.items()}
    return render_template(
        "offboarding/index.html",
        page=page,
        status=status,
        department_id=department_id,
        department_options=department_options("All departments", department_id),
        progress=progress,
        late=late,
        can_start=current_actor().has_role(*offboarding.CASE_KEEPERS),
        can_edit_template=current_actor().has_role(Role.ADMIN),
    )


@bp.route("/tasks")
@signed_in
def my_tasks() -> Any:
    today = date.today()
    items = offboarding.my_tasks(current_actor(), today=today)
    return render_template("offboarding/tasks.html", items=items, today=today, overdue=[i for i in items if _overdue(i, today)])


# --- Start --------------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@roles(*offboarding.CASE_KEEPERS)
def start() -> Any:
    preset = optional_int(request.args.get("person"))
    form = StartForm(data={"person_id": preset} if request.method == "GET" and preset else None)
    # Anyone may be chosen: active and leaving people, and departed ones (who left without a case: a late case).
    if form.validate_on_submit():
        person = db.session.get(Person, form.person_id.data or 0)
        if person is None:
            form.person_id.errors = ["That person no longer exists."]
        else:
            try:
                case = offboarding.start_case(current_actor(), person, form.last_day.data, form.reason.data or "")
            except offboarding.CaseAlreadyOpen as already:
                existing_id, message = already.case.id, already.message
                db.session.rollback()
                flash(message, "info")
                return redirect(url_for("offboarding.detail", case_id=existing_id))
            except ValidationFailed as error:
                db.session.rollback()
                apply_errors(form, error)
            else:
                db.session.commit()
                flash(
                    f"Started offboarding {person.name}: {len(case.items)} checklist items, each assigned and due before "
                    f"or after their last day ({case.last_day:%d %b %Y}).",
                    "success",
                )
                return redirect(url_for("offboarding.detail", case_id=case.id))
    return render_template("offboarding/start.html", form=form), (400 if form.is_submitted() else 200)


# --- The case page ------------------------------------------------------------------------


def _platform_profiles(
    item: ChecklistItem | offboarding.ChecklistLine, leaver_id: int, kinds: tuple[ProfileKind, ...] | None = None
) -> list[Any]:
    """Which profiles may receive what the leaver held (SQL clauses for a profile picker).

    Profiles of the item's account's platform; a personal profile only if its holder is someone
    else who is staying (the picker's query joins the holder as Person).
    """
    clauses: list[Any] = []
    if item.account is not None:
        clauses.append(Profile.platform_id == item.account.platform_id)
    if kinds is not None:
        clauses.append(Profile.kind.in_(kinds))
    clauses.append(
        sa.or_(
            Profile.kind != ProfileKind.PERSONAL,
            sa.and_(Person.id.is_not(None), Person.id != leaver_id, Person.status == PersonStatus.ACTIVE),
        )
    )
    return clauses


def _item_form(item: ChecklistItem, formdata: Any) -> Any:
    """The form that completes ``item``, as posted."""
    names = item.account.platform.role_names if item.account is not None else []
    return _blank_form(item, item.case.person_id, names, formdata)


def _blank_form(
    item: ChecklistItem | offboarding.ChecklistLine, leaver_id: int, role_names: list[str], formdata: Any = None
) -> Any:
    """The small form that completes ``item`` (None for kinds done elsewhere, e.g. the exit
    declaration): ``leaver_id`` is the case's person, ``role_names`` those of the item's account's
    platform."""
    prefix = f"item{item.id}"
    kw: dict[str, Any] = {"prefix": prefix}
    if formdata is None:
        kw["formdata"] = None
        kw["data"] = {"version": item.version}
    kind = item.kind
    if kind is ItemKind.TRANSFER_OWNERSHIP:
        form: Any = TransferForm(**kw)
        form.new_owner_profile_id.where = _platform_profiles(item, leaver_id)
    elif kind is ItemKind.ADD_ADMIN:
        form = AddAdminForm(**kw)
        form.profile_id.where = _platform_profiles(item, leaver_id)
        form.role_name.choices = choices([(r, r) for r in role_names] or [("admin", "admin")])
        if formdata is None and "admin" in role_names:
            form.role_name.data = "admin"
    elif kind is ItemKind.REMOVE_ADMIN:
        form = VersionOnlyForm(**kw)
    elif kind is ItemKind.REPLACE_RECOVERY:
        form = RecoveryForm(**kw)
    elif kind is ItemKind.ROTATE_CREDENTIAL:
        form = RotateForm(**kw)
    elif kind in (ItemKind.REASSIGN_STEWARD, ItemKind.REASSIGN_CUSTODIAN):
        form = PersonForm(**kw)
        form.new_person_id.exclude = [leaver_id]
    elif kind is ItemKind.REAUTHORISE_CONNECTION:
        form = ConnectionForm(**kw)
        form.profile_id.where = _platform_profiles(item, leaver_id, checklist.CONNECTION_PROFILES)
    elif kind is ItemKind.EXIT_DECLARATION:
        return None
    else:
        form = NoteForm(**kw)
    return form


def _groups(items: list[offboarding.ChecklistLine]) -> list[dict[str, Any]]:
    """Items grouped by account, then by profile, then the person-level items (in checklist order)."""
    accounts: OrderedDict[int, dict[str, Any]] = OrderedDict()
    profiles: OrderedDict[int, dict[str, Any]] = OrderedDict()
    person: list[offboarding.ChecklistLine] = []
    for item in items:
        if item.account_id is not None and item.account is not None:
            accounts.setdefault(item.account_id, {"account": item.account, "profile": None, "items": []})["items"].append(item)
        elif item.profile_id is not None and item.profile is not None:
            profiles.setdefault(item.profile_id, {"account": None, "profile": item.profile, "items": []})["items"].append(item)
        else:
            person.append(item)
    groups = list(accounts.values()) + list(profiles.values())
    if person:
        groups.append({"account": None, "profile": None, "items": person})
    return groups


def _timeline(case: OffboardingCase) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"at": case.created_at, "what": f"Case started (via {case.started_via})", "who": case.started_by_name, "kind": "start"}
    ]
    for item in offboarding.finished_items(case):
        if item.completed_at is not None:
            verb = "Waived" if item.status is ItemStatus.WAIVED else "Completed"
            extra = f" — {item.waived_reason}" if item.status is ItemStatus.WAIVED else ""
            events.append(
                {
                    "at": item.completed_at,
                    "what": f"{verb}: {item.title}{extra}",
                    "who": item.completed_by_name,
                    "kind": verb.lower(),
                }
            )
        if item.confirmed_at is not None:
            events.append(
                {
                    "at": item.confirmed_at,
                    "what": f"Control confirmed: {item.title}",
                    "who": item.confirmed_by_name,
                    "kind": "confirmed",
                }
            )
    if case.closed_at is not None:
        events.append(
            {
                "at": case.closed_at,
                "what": "Case closed; handover report produced",
                "who": (case.report or {}).get("closed_by", ""),
                "kind": "closed",
            }
        )
    if case.cancelled_at is not None:
        events.append({"at": case.cancelled_at, "what": "Case cancelled", "who": "", "kind": "cancelled"})
    events.sort(key=lambda e: (e["at"].replace(tzinfo=None), e["kind"] != "start"))
    return events


def _render_detail(
    case: OffboardingCase,
    given: dict[int, Any] | None = None,
    changes: list[Any] | None = None,
    left: list[str] | None = None,
    message: str | None = None,
    page: int = 1,
) -> str:
    """The case page: progress and timeline of the whole case, one page of its checklist."""
    actor = current_actor()
    today = date.today()
    given = given or {}
    progress = _case_progress(case)
    checklist_page = offboarding.checklist_page(case, page, progress["total"])
    is_open = case.status is CaseStatus.OPEN
    actions: dict[int, dict[str, Any]] = {}
    for item in checklist_page.items:
        # An item's form is built only where it has fields to show: removing an admin role and
        # confirming control post the item's version alone, written by the template (item_keys).
        entry: dict[str, Any] = {"complete": False, "form": None, "confirm": False, "waive": False, "rotate_url": None}
        if is_open and item.status is ItemStatus.OPEN and checklist.can_work(actor, item):
            entry["complete"] = True
            entry["form"] = given.get(item.id) or (
                None
                if item.kind is ItemKind.REMOVE_ADMIN
                else _blank_form(item, case.person_id, item.account.role_names if item.account is not None else [])
            )
            if item.kind is ItemKind.ROTATE_CREDENTIAL and item.note_id:
                entry["rotate_url"] = url_for("credentials.rotate", note_id=item.note_id)
        if is_open and item.status is ItemStatus.AWAITING_CONFIRMATION:
            entry["confirm"] = checklist.can_confirm(actor, item)
        entry["waive"] = is_open and not item.status.is_finished and checklist.can_waive(actor)
        actions[item.id] = entry
    return render_template(
        "offboarding/detail.html",
        case=case,
        today=today,
        groups=_groups(checklist_page.items),
        checklist_page=checklist_page,
        progress=progress,
        timeline=_timeline(case),
        actions=actions,
        queue_labels=QUEUE_LABELS,
        can_refresh=is_open and actor.has_role(*offboarding.REFRESHERS),
        can_cancel=is_open and actor.has_role(*offboarding.CASE_KEEPERS),
        can_close=is_open and checklist.can_close(actor),
        can_declare=is_open and (actor.has_role(*offboarding.CASE_KEEPERS) or actor.person_id == case.person_id),
        can_report=case.report is not None and actor.has_role(*READERS),
        changes=changes or [],
        left=left or [],
        message=message,
        overdue=lambda item: _overdue(item, today),
    )


@bp.route("/<int:case_id>")
@signed_in
def detail(case_id: int) -> Any:
    case = _case(case_id)
    _require_view(current_actor(), case)
    return _render_detail(case, page=optional_int(request.args.get("page")) or 1)


def _stale(item_or_case: Any, stale: StaleEdit) -> Any:
    """The case page again (at the item's page), saying what changed meanwhile."""
    db.session.rollback()
    if isinstance(item_or_case, OffboardingCase):
        case, page = _case(item_or_case.id), 1
    else:
        item = _item(item_or_case.id)
        case, page = item.case, offboarding.page_of_item(item)
    return _render_detail(case, changes=stale.changes, message=stale.message, page=page), 409


def _item_url(case_id: int, item_id: int, page: int) -> str:
    """The case page showing the item, scrolled to it."""
    return url_for("offboarding.detail", case_id=case_id, page=page if page > 1 else None, _anchor=f"item-{item_id}")


def _item_data(form: Any) -> dict[str, Any]:
    return {name: field.data for name, field in form._fields.items() if name not in ("csrf_token", "version")}


@bp.route("/items/<int:item_id>/complete", methods=["POST"])
@signed_in
def complete(item_id: int) -> Any:
    actor = current_actor()
    item = _item(item_id)
    _require_item_view(actor, item)
    permissions.require(
        checklist.can_work(actor, item), "This item is assigned to someone else; only they, their team or an admin can do it."
    )
    if item.kind is ItemKind.EXIT_DECLARATION:
        return redirect(url_for("offboarding.exit_declaration", case_id=item.case_id))
    form = _item_form(item, request.form)
    if form.validate_on_submit():
        try:
            checklist.complete_item(actor, item, _item_data(form), form.version.data)
        except StaleEdit as stale:
            return _stale(item, stale)
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            title, awaiting = item.title, item.status is ItemStatus.AWAITING_CONFIRMATION
            who = item.confirmer.name if item.confirmer else "an admin"
            case_id, page = item.case_id, offboarding.page_of_item(item)
            db.session.commit()
            if awaiting:
                flash(f"Done: “{title}”. It is now waiting for {who} to confirm they have control.", "success")
            else:
                flash(f"Done: “{title}”.", "success")
            return redirect(_item_url(case_id, item_id, page))
    db.session.rollback()
    item = _item(item_id)
    return _render_detail(
        item.case, {item.id: form}, message="That item was not done; see its form below.", page=offboarding.page_of_item(item)
    ), 400


@bp.route("/items/<int:item_id>/confirm", methods=["POST"])
@signed_in
def confirm(item_id: int) -> Any:
    actor = current_actor()
    item = _item(item_id)
    _require_item_view(actor, item)
    permissions.require(
        checklist.can_confirm(actor, item),
        f"Only {item.confirmer.name if item.confirmer else 'an admin'} (who receives it) or an admin can confirm this.",
    )
    form = VersionOnlyForm(prefix=f"item{item.id}")
    if form.validate_on_submit():
        try:
            checklist.confirm_item(actor, item, form.version.data)
        except StaleEdit as stale:
            return _stale(item, stale)
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            title, case_id, page = item.title, item.case_id, offboarding.page_of_item(item)
            db.session.commit()
            flash(f"Thank you: you confirmed you have control. “{title}” is done.", "success")
            return redirect(_item_url(case_id, item_id, page))
    db.session.rollback()
    item = _item(item_id)
    return _render_detail(
        item.case,
        message="Not confirmed: " + " ".join(form.form_errors + form.version.errors),
        page=offboarding.page_of_item(item),
    ), 400


@bp.route("/items/<int:item_id>/waive", methods=["GET", "POST"])
@roles(*checklist.WAIVERS)
def waive(item_id: int) -> Any:
    actor = current_actor()
    item = _item(item_id)
    form = WaiveForm(data={"version": item.version} if request.method == "GET" else None)
    changes: list[Any] = []
    if form.validate_on_submit():
        try:
            checklist.waive_item(actor, item, form.reason.data or "", form.version.data)
        except StaleEdit as stale:
            db.session.rollback()
            item = _item(item_id)
            form = WaiveForm(formdata=None, data={"version": item.version})
            form.form_errors.append(stale.message)
            return render_template("offboarding/waive.html", form=form, item=item, changes=stale.changes), 409
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            title, case_id, page = item.title, item.case_id, offboarding.page_of_item(item)
            db.session.commit()
            flash(f"Waived “{title}”. The reason is kept on the item and in the audit log.", "success")
            return redirect(_item_url(case_id, item_id, page))
    return render_template("offboarding/waive.html", form=form, item=item, changes=changes), (400 if form.is_submitted() else 200)


# --- The case as a whole ------------------------------------------------------------------


@bp.route("/<int:case_id>/refresh", methods=["POST"])
@roles(*offboarding.REFRESHERS)
def refresh(case_id: int) -> Any:
    case = _case(case_id)
    form = VersionOnlyForm()
    if not form.validate_on_submit():
        return _render_detail(case, message="Not refreshed: " + " ".join(form.version.errors or ["try again."])), 400
    try:
        _check_case_version(case, form.version.data)
        added = offboarding.refresh_case(current_actor(), case)
    except StaleEdit as stale:
        return _stale(case, stale)
    db.session.commit()
    if added:
        flash(
            f"Refreshed: {len(added)} new item{'s' if len(added) != 1 else ''} for links added since the case started.", "success"
        )
    else:
        flash("Refreshed: nothing new in the registry since the checklist was made.", "info")
    return redirect(url_for("offboarding.detail", case_id=case_id))


@bp.route("/<int:case_id>/cancel", methods=["GET", "POST"])
@roles(*offboarding.CASE_KEEPERS)
def cancel(case_id: int) -> Any:
    case = _case(case_id)
    form = CancelForm(data={"version": case.version} if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            _check_case_version(case, form.version.data)
            offboarding.cancel_case(current_actor(), case, form.reason.data or "")
        except StaleEdit as stale:
            db.session.rollback()
            case = _case(case_id)
            form = CancelForm(formdata=None, data={"version": case.version})
            form.form_errors.append(stale.message)
            return render_template("offboarding/cancel.html", form=form, case=case, changes=stale.changes), 409
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            name = case.person.name
            db.session.commit()
            flash(f"Cancelled the offboarding of {name}. Its items are kept for the record.", "success")
            return redirect(url_for("offboarding.detail", case_id=case_id))
    return render_template("offboarding/cancel.html", form=form, case=case, changes=[]), (400 if form.is_submitted() else 200)


@bp.route("/<int:case_id>/close", methods=["POST"])
@roles(*checklist.CLOSERS)
def close(case_id: int) -> Any:
    case = _case(case_id)
    form = VersionOnlyForm()
    if not form.validate_on_submit():
        return _render_detail(case, message="Not closed: " + " ".join(form.version.errors or ["try again."])), 400
    try:
        checklist.close_case(current_actor(), case, form.version.data)
    except StaleEdit as stale:
        return _stale(case, stale)
    except ValidationFailed as error:
        db.session.rollback()
        case = _case(case_id)
        left = list(error.field_errors.get("case", []))
        return _render_detail(case, left=left, message=None if left else error.message), 400
    name = case.person.name
    db.session.commit()
    flash(f"Closed the offboarding of {name}: everything is handed over. The handover report is ready.", "success")
    return redirect(url_for("offboarding.detail", case_id=case_id))


# --- The exit declaration -----------------------------------------------------------------

_DECLARED_KEY = re.compile(r"^declared-(\d+)-(\w+)$")


@bp.route("/<int:case_id>/exit-declaration", methods=["GET", "POST"])
@signed_in
def exit_declaration(case_id: int) -> Any:
    actor = current_actor()
    case = _case(case_id)
    is_leaver = actor.person_id is not None and actor.person_id == case.person_id
    if not is_leaver:
        _require_view(actor, case)  # someone who cannot follow the case: as if it did not exist
    if not (actor.has_role(*offboarding.CASE_KEEPERS) or is_leaver):
        abort(403)
    item = next((i for i in case.items if i.kind is ItemKind.EXIT_DECLARATION), None)
    form = ExitDeclarationForm(data={"version": item.version} if request.method == "GET" and item else None)
    for row in form.declared:
        row.platform_id.choices = choices([("", "— choose —")]) + platform_choices()
    workable = case.status is CaseStatus.OPEN and item is not None and item.status is ItemStatus.OPEN
    if workable and form.validate_on_submit():
        assert item is not None
        filled = [(n, row) for n, row in enumerate(form.declared) if not row.form.is_empty()]
        if not filled and not form.none.data:
            form.none.errors = ["List at least one account, or tick this box to say there are none."]
        else:
            declared = [
                {"name": row.form.name.data or "", "platform_id": row.form.platform_id.data, "url": row.form.url.data or ""}
                for _, row in filled
            ]
            # The leaver fills in their own declaration (DESIGN.md): the item is HR's, so they act
            # with HR's rights for it; the audit log still names them.
            acting = dataclasses.replace(actor, role=Role.HR) if is_leaver and not checklist.can_work(actor, item) else actor
            try:
                completion = checklist.complete_item(acting, item, {"declared": declared}, form.version.data)
                added = offboarding.refresh_case(acting, case) if completion.created_accounts else []
            except StaleEdit as stale:
                db.session.rollback()
                case = _case(case_id)
                item = next(i for i in case.items if i.kind is ItemKind.EXIT_DECLARATION)
                form = ExitDeclarationForm(formdata=None, data={"version": item.version})
                for row in form.declared:
                    row.platform_id.choices = choices([("", "— choose —")]) + platform_choices()
                form.form_errors.append(stale.message)
                return render_template(
                    "offboarding/exit_declaration.html", form=form, case=case, item=item, workable=False, changes=stale.changes
                ), 409
            except ValidationFailed as error:
                db.session.rollback()
                for key, messages in error.field_errors.items():
                    match = _DECLARED_KEY.match(key)
                    if match and int(match.group(1)) < len(filled):
                        target = getattr(filled[int(match.group(1))][1].form, match.group(2), None)
                        if target is not None:
                            target.errors = list(target.errors) + messages
                            continue
                    form.form_errors.extend(messages)
                if not error.field_errors:
                    form.form_errors.append(error.message)
            else:
                names = [a.name for a in completion.created_accounts]
                db.session.commit()
                if names:
                    flash(
                        f"Thank you. Added {len(names)} account{'s' if len(names) != 1 else ''} to the registry "
                        f"({', '.join(names)}) with {len(added)} new checklist item{'s' if len(added) != 1 else ''}.",
                        "success",
                    )
                else:
                    flash("Thank you: the exit declaration says there are no other accounts.", "success")
                if actor.has_role(*READERS) or _involved(actor, _case(case_id)):
                    return redirect(url_for("offboarding.detail", case_id=case_id))
                return redirect(url_for("offboarding.my_tasks"))
    status = 400 if form.is_submitted() else 200
    return render_template(
        "offboarding/exit_declaration.html", form=form, case=case, item=item, workable=workable, changes=[]
    ), status


# --- The handover report ------------------------------------------------------------------


def _closed_case(case_id: int) -> OffboardingCase:
    case = _case(case_id)
    if case.report is None:
        raise NotFound("The handover report is produced when the case closes; this case is still " + case.status.value + ".")
    return case


@bp.route("/<int:case_id>/report")
@roles(*READERS)
def report(case_id: int) -> Any:
    case = _closed_case(case_id)
    rows = case.report.get("items", []) if case.report else []
    blocks: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for n, row in enumerate(rows):
        item = case.items[n] if n < len(case.items) else None
        outcome = row.get("outcome") or {}
        if item is not None and item.account is not None:
            key = f"{item.account.name} ({item.account.platform.name})"
        elif outcome.get("account"):
            key = str(outcome["account"])
        elif item is not None and item.profile is not None:
            key = f"Profile {item.profile.label}"
        else:
            key = "Sign-in, declaration and other steps"
        blocks.setdefault(key, []).append(row)
    return render_template("offboarding/report.html", case=case, report=case.report, blocks=blocks)


@bp.route("/<int:case_id>/report.csv")
@roles(*READERS)
def report_csv(case_id: int) -> Any:
    case = _closed_case(case_id)
    body = exports.to_csv(checklist.REPORT_HEADER, checklist.handover_report_rows(case))
    filename = f"handover-report-case-{case.id}.csv"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- The organisation's own items (the template) ------------------------------------------


def _template_item(item_id: int) -> OffboardingTemplateItem:
    item = db.session.get(OffboardingTemplateItem, item_id)
    if item is None:
        raise NotFound("There is no such template item.")
    return item


def _template_form(item: OffboardingTemplateItem | None = None) -> TemplateItemForm:
    data = None
    if request.method == "GET":
        data = (
            {
                "title": item.title,
                "description": item.description,
                "due_offset_days": item.due_offset_days,
                "assignee_role": item.assignee_role,
            }
            if item is not None
            else {"due_offset_days": 0, "assignee_role": "hr"}
        )
    form = TemplateItemForm(data=data)
    form.assignee_role.choices = choices([(role, QUEUE_LABELS[role]) for role in offboarding_template.ASSIGNEE_ROLES])
    return form


def _save_template_item(form: TemplateItemForm, item: OffboardingTemplateItem | None) -> OffboardingTemplateItem:
    args = (form.title.data, form.description.data, form.due_offset_days.data, form.assignee_role.data)
    if item is None:
        return offboarding_template.create_template_item(current_actor(), *args)
    return offboarding_template.update_template_item(current_actor(), item, *args)


@bp.route("/template")
@roles(*READERS)
def template() -> Any:
    return render_template(
        "offboarding/template.html",
        items=offboarding_template.list_template_items(),
        queue_labels=QUEUE_LABELS,
        can_edit=current_actor().has_role(Role.ADMIN),
    )


@bp.route("/template/new", methods=["GET", "POST"])
@roles(Role.ADMIN)
def template_new() -> Any:
    return _template_form_page(None)


@bp.route("/template/<int:item_id>/edit", methods=["GET", "POST"])
@roles(Role.ADMIN)
def template_edit(item_id: int) -> Any:
    return _template_form_page(_template_item(item_id))


def _template_form_page(item: OffboardingTemplateItem | None) -> Any:
    form = _template_form(item)
    if form.validate_on_submit():
        try:
            saved = _save_template_item(form, item)
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            title = saved.title
            db.session.commit()
            verb = "Added" if item is None else "Saved"
            flash(f"{verb} “{title}”. Cases started from now on get it; cases already open keep their items.", "success")
            return redirect(url_for("offboarding.template"))
    return render_template("offboarding/template_form.html", form=form, item=item), (400 if form.is_submitted() else 200)


@bp.route("/template/<int:item_id>/toggle", methods=["POST"])
@roles(Role.ADMIN)
def template_toggle(item_id: int) -> Any:
    item = _template_item(item_id)  # the CSRF token is checked for every POST (app.extensions.csrf)
    offboarding_template.set_template_item_active(current_actor(), item, not item.active)
    title, active = item.title, item.active
    db.session.commit()
    if active:
        flash(f"Reactivated “{title}”: cases started from now on get it again.", "success")
    else:
        flash(f"Deactivated “{title}”: new cases no longer get it. Cases already open keep it.", "success")
    return redirect(url_for("offboarding.template"))
