"""People: the staff list and each person's footprint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from app.extensions import db
from app.forms import apply_errors, department_choices, department_options, optional_int
from app.models.person import PersonStatus
from app.models.user import Role
from app.people.forms import PersonForm
from app.security import current_actor, roles, signed_in
from app.services import audit, findings, offboarding, ownership_map, permissions
from app.services import people as service
from app.services.errors import StaleEdit, ValidationFailed

bp = Blueprint("people", __name__, url_prefix="/people", template_folder="templates")

#: Rows of each list on a person's page (profiles, roles, findings…) before "show all".
FOOTPRINT_LIST = 25


@bp.route("/")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def index() -> Any:
    try:
        status = PersonStatus(request.args.get("status", ""))
    except ValueError:
        status = None
    filters = service.PeopleFilters(
        q=request.args.get("q", "")[:200], department_id=optional_int(request.args.get("department")), status=status
    )
    page = service.list_people(
        current_actor(), filters, optional_int(request.args.get("page")) or 1, current_app.config["PER_PAGE"]
    )
    return render_template(
        "people/index.html",
        page=page,
        filters=filters,
        department_options=department_options("All departments", filters.department_id),
        statuses=list(PersonStatus),
        can_create=permissions.can_edit_people(current_actor()),
    )


@bp.route("/<int:person_id>")
@signed_in
def detail(person_id: int) -> Any:
    actor = current_actor()
    person = service.get_person(actor, person_id)
    # The first FOOTPRINT_LIST of each list and of the findings, with their totals; ?all=1 lists everything.
    everything = request.args.get("all") == "1"
    fp = service.footprint_lines(person, limit=None if everything else FOOTPRINT_LIST)
    interval = current_app.config["REVIEW_INTERVAL_DAYS"]
    concerning = findings.FindingFilters(person_id=person.id, show="all")
    if everything:
        listed = findings.evaluate(findings.visible_filters(actor, concerning), interval)
        counts = None
    else:
        first, summary = findings.list_findings(actor, concerning, per_page=FOOTPRINT_LIST, review_interval_days=interval)
        listed, counts = first.items, (summary.total, summary.accepted)
    return render_template(
        "people/detail.html",
        person=person,
        fp=fp,
        graph=ownership_map.for_person(fp),
        can_edit=permissions.can_edit_people(actor),
        can_see_private=permissions.can_edit_people(actor),
        history=audit.history("person", person.id),
        findings=listed,
        finding_counts=counts,
        can_accept=actor.has_role(Role.DIRECTOR, Role.ADMIN),
        offboarding_case=offboarding.open_case_of(person),
        can_start_offboarding=actor.has_role(*offboarding.CASE_KEEPERS),
    )


def _fill_choices(form: PersonForm, person: Any = None) -> None:
    form.department_id.choices = department_choices()


def _data(form: PersonForm) -> service.PersonData:
    return service.PersonData(
        name=form.name.data or "",
        work_email=form.work_email.data or "",
        job_title=form.job_title.data or "",
        department_id=form.department_id.data,
        manager_id=form.manager_id.data,
        hr_id=form.hr_id.data or None,
        personal_email=form.personal_email.data or None,
        personal_phone=form.personal_phone.data or None,
        status=PersonStatus(form.status.data),
        last_day=form.last_day.data,
        left_on=form.left_on.data,
    )


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.HR)
def create() -> Any:
    form = PersonForm()
    _fill_choices(form)
    if form.validate_on_submit():
        try:
            person = service.create_person(current_actor(), _data(form))
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"Added {person.name} to the staff list.", "success")
            return redirect(url_for("people.detail", person_id=person.id))
    return render_template("people/form.html", form=form, person=None, changes=[]), (400 if form.is_submitted() else 200)


@bp.route("/<int:person_id>/edit", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.HR)
def edit(person_id: int) -> Any:
    actor = current_actor()
    person = service.get_person(actor, person_id)
    form = PersonForm(obj=person)
    _fill_choices(form, person)
    if form.validate_on_submit():
        try:
            service.update_person(actor, person, _data(form), form.version.data or 0)
        except StaleEdit as stale:
            db.session.rollback()
            person = service.get_person(actor, person_id)
            form = PersonForm(formdata=None, obj=person)
            _fill_choices(form, person)
            form.form_errors.append(stale.message)
            return render_template("people/form.html", form=form, person=person, changes=stale.changes), 409
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"Saved your changes to {person.name}.", "success")
            return redirect(url_for("people.detail", person_id=person.id))
    return render_template("people/form.html", form=form, person=person, changes=[]), (400 if form.is_submitted() else 200)
