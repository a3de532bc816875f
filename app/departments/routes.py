"""Departments: list, detail, create and edit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from app.departments.forms import DepartmentForm
from app.extensions import db
from app.forms import apply_errors, optional_int
from app.models.person import Department
from app.models.user import Role
from app.security import current_actor, roles
from app.services import audit, permissions
from app.services import departments as service
from app.services.errors import StaleEdit, ValidationFailed

bp = Blueprint("departments", __name__, url_prefix="/departments", template_folder="templates")


@bp.route("/")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def index() -> Any:
    actor = current_actor()
    page = service.list_departments(actor, optional_int(request.args.get("page")) or 1, current_app.config["PER_PAGE"])
    return render_template("departments/index.html", page=page, can_create=permissions.can_edit_departments(actor))


@bp.route("/<int:department_id>")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def detail(department_id: int) -> Any:
    actor = current_actor()
    department = service.get_department(actor, department_id)
    return render_template(
        "departments/detail.html",
        department=department,
        contents=service.contents(department),
        can_edit=permissions.can_edit_departments(actor),
        history=audit.history("department", department.id),
    )


def _initial(department: Department) -> dict[str, Any]:
    return {
        "name": department.name,
        "description": department.description,
        "head_id": department.head_id,
        "version": department.version,
    }


def _data(form: DepartmentForm) -> service.DepartmentData:
    return service.DepartmentData(name=form.name.data or "", description=form.description.data or "", head_id=form.head_id.data)


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.HR)
def create() -> Any:
    form = DepartmentForm()
    if form.validate_on_submit():
        try:
            department = service.create_department(current_actor(), _data(form))
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"Added the department {department.name}.", "success")
            return redirect(url_for("departments.detail", department_id=department.id))
    return render_template("departments/form.html", form=form, department=None, changes=[]), (400 if form.is_submitted() else 200)


@bp.route("/<int:department_id>/edit", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.HR)
def edit(department_id: int) -> Any:
    actor = current_actor()
    department = service.get_department(actor, department_id)
    form = DepartmentForm(data=_initial(department) if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            service.update_department(actor, department, _data(form), form.version.data or 0)
        except StaleEdit as stale:
            db.session.rollback()
            department = service.get_department(actor, department_id)
            form = DepartmentForm(formdata=None, data=_initial(department))
            form.form_errors.append(stale.message)
            return render_template("departments/form.html", form=form, department=department, changes=stale.changes), 409
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(f"Saved your changes to {department.name}.", "success")
            return redirect(url_for("departments.detail", department_id=department.id))
    return render_template("departments/form.html", form=form, department=department, changes=[]), (
        400 if form.is_submitted() else 200
    )
