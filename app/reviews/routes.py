"""Access review campaigns: open one, follow its progress, and work the tasks assigned to you."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for

from app.extensions import db
from app.forms import apply_errors, choices, optional_int
from app.models.person import Department
from app.models.user import Role
from app.reviews.forms import CampaignForm, ConfirmForm, CorrectForm
from app.security import current_actor, roles, signed_in
from app.services import credentials, permissions
from app.services import reviews as service
from app.services.errors import StaleEdit, ValidationFailed

bp = Blueprint("reviews", __name__, url_prefix="/reviews", template_folder="templates")

#: Days between opening a campaign and its due date, as the form suggests it.
DEFAULT_DAYS = 30


@bp.route("/")
@signed_in
def index() -> Any:
    """Campaigns and their progress (for those who follow them), and the signed-in person's own reviews."""
    actor = current_actor()
    campaigns = service.list_campaigns(actor) if service.can_watch(actor) else []
    return render_template(
        "reviews/index.html",
        campaigns=campaigns,
        can_watch=service.can_watch(actor),
        can_open=service.can_open(actor),
        tasks=service.my_tasks(actor),
        today=date.today(),
    )


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.ADMIN, Role.DIRECTOR)
def create() -> Any:
    form = CampaignForm(data={"due_on": date.today() + timedelta(days=DEFAULT_DAYS)} if request.method == "GET" else None)
    form.department_ids.choices = choices(
        [(d.id, d.name) for d in db.session.scalars(sa.select(Department).order_by(Department.name))]
    )
    if form.validate_on_submit():
        try:
            campaign = service.open_campaign(
                current_actor(), form.name.data or "", form.due_on.data, form.department_ids.data or []
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            count = service.task_count(campaign)
            db.session.commit()  # the requests to review go out by email once this commits
            flash(
                f"Opened {campaign.name}: {count} account{'s' if count != 1 else ''} to review by {campaign.due_on:%d %b %Y}. "
                "Each steward has been asked by email.",
                "success",
            )
            return redirect(url_for("reviews.detail", campaign_id=campaign.id))
    return render_template("reviews/form.html", form=form), (400 if form.is_submitted() else 200)


@bp.route("/<int:campaign_id>")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def detail(campaign_id: int) -> Any:
    """Progress overall and by department, the tasks, and who confirmed what; ``?print=1`` for the printable report."""
    campaign = service.get_campaign(current_actor(), campaign_id)
    progress = service.progress(campaign)
    if request.args.get("print") == "1":  # the printable report: every account and every review
        return render_template(
            "reviews/report.html",
            campaign=campaign,
            progress=progress,
            tasks=service.campaign_tasks(campaign),
            report=service.campaign_report(campaign),
            report_total=progress.overall.done,
            departments=service.departments_of(campaign),
            today=date.today(),
        )
    return render_template(
        "reviews/detail.html",
        campaign=campaign,
        progress=progress,
        page=service.campaign_task_page(campaign, progress.overall, optional_int(request.args.get("page")) or 1),
        report=service.latest_reviews(campaign),
        report_total=progress.overall.done,
        departments=service.departments_of(campaign),
        today=date.today(),
    )


def _render_task(task: Any, confirm_form: ConfirmForm, correct_form: CorrectForm, changes: Any = None) -> str:
    actor = current_actor()
    account = task.account
    return render_template(
        "reviews/task.html",
        task=task,
        account=account,
        confirm_form=confirm_form,
        correct_form=correct_form,
        changes=changes or [],
        can_view_account=permissions.can_view_account(actor, account),
        can_edit_account=permissions.can_edit_account(actor, account),
        can_watch=service.can_watch(actor),
        notes=[(note, credentials.state_of(note)) for note in credentials.notes_for_account(actor, account)],
        overdue=service.is_overdue(task),
        today=date.today(),
    )


@bp.route("/tasks/<int:task_id>")
@signed_in
def task(task_id: int) -> Any:
    """One account to review: what the registry says controls it, and the two answers."""
    task = service.get_task(current_actor(), task_id)
    return _render_task(task, ConfirmForm(prefix="confirm"), CorrectForm(prefix="correct"))


@bp.route("/tasks/<int:task_id>/confirm", methods=["POST"])
@signed_in
def confirm(task_id: int) -> Any:
    actor = current_actor()
    task = service.get_task(actor, task_id)
    form = ConfirmForm(prefix="confirm")
    if form.validate_on_submit():
        try:
            service.confirm_task(actor, task, form.note.data or "", expected_version=form.account_version.data)
        except StaleEdit as stale:
            db.session.rollback()
            task = service.get_task(actor, task_id)
            fresh = ConfirmForm(prefix="confirm", formdata=None)
            fresh.form_errors.append(stale.message)
            return _render_task(task, fresh, CorrectForm(prefix="correct", formdata=None), stale.changes), 409
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            name = task.account.name
            closed = task.campaign.closed_at is not None
            db.session.commit()
            flash(f"Thank you: {name} is confirmed as right." + (_closed_note() if closed else ""), "success")
            return redirect(url_for("reviews.index"))
    # The version is a hidden field: say its problem at the top rather than beside an invisible input.
    form.form_errors.extend(form.account_version.errors)
    form.account_version.errors = []
    return _render_task(task, form, CorrectForm(prefix="correct", formdata=None)), 400


@bp.route("/tasks/<int:task_id>/correct", methods=["POST"])
@signed_in
def correct(task_id: int) -> Any:
    actor = current_actor()
    task = service.get_task(actor, task_id)
    form = CorrectForm(prefix="correct")
    if form.validate_on_submit():
        try:
            service.correct_task(actor, task, form.note.data or "")
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            name = task.account.name
            closed = task.campaign.closed_at is not None
            db.session.commit()
            flash(f"Thank you: {name} is marked as corrected." + (_closed_note() if closed else ""), "success")
            return redirect(url_for("reviews.index"))
    return _render_task(task, ConfirmForm(prefix="confirm", formdata=None), form), 400


def _closed_note() -> str:
    return " That was the campaign's last account: it is now closed."
