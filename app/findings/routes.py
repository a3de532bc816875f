"""Findings: the list, its exports, risk acceptance, and the printable account reports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, stream_with_context, url_for
from werkzeug.routing import MapAdapter

from app.extensions import db
from app.findings.forms import AcceptForm
from app.forms import (
    apply_errors,
    choices,
    department_choices,
    department_options,
    optional_int,
    platform_choices,
    resolve_filter,
)
from app.models.user import Role
from app.security import current_actor, roles, safe_next
from app.services import exports, reports
from app.services import findings as service
from app.services.errors import NotFound, ValidationFailed
from app.services.findings import Finding, FindingFilters, Severity
from app.services.permissions import READERS

bp = Blueprint("findings", __name__, url_prefix="/findings", template_folder="templates")

#: Accept a risk or withdraw an acceptance.
ACCEPTORS = (Role.ADMIN, Role.DIRECTOR)
SHOW = ("open", "accepted", "all")
#: How long an acceptance lasts unless the director chooses otherwise.
DEFAULT_ACCEPTANCE_DAYS = 90
SUBJECTS = "<any(account, credential):subject_type>/<int:subject_id>"


# --- Helpers ------------------------------------------------------------------------------


def _filters() -> FindingFilters:
    """The list's filters from the query string; anything unknown is ignored, not an error."""
    rule = request.args.get("rule", "")
    try:
        severity = Severity(request.args.get("severity", ""))
    except ValueError:
        severity = None
    show = request.args.get("show", "open")
    return FindingFilters(
        rule_id=rule if rule in service.RULES else None,
        severity=severity,
        department_id=optional_int(request.args.get("department")),
        platform_id=optional_int(request.args.get("platform")),
        steward_id=resolve_filter(request.args.get("steward"))[0],
        show=show if show in SHOW else "open",
    )


def _interval() -> int:
    return int(current_app.config["REVIEW_INTERVAL_DAYS"])


def _filter_args() -> dict[str, str]:
    """The current filters as query arguments (for the export links), without the page."""
    return {k: v for k, v in request.args.items() if k != "page" and v}


def _record(finding: Finding, adapter: MapAdapter) -> dict[str, Any]:
    """One finding as the exports carry it. Findings hold no secret; keep it so.

    The action's link is built by the request's URL adapter, as ``url_for`` would (the app has no
    URL defaults), without its lookups for each of up to EXPORT_LIMIT rows.
    """
    accepted = finding.accepted
    return {
        "severity": finding.severity.value,
        "rule": finding.rule.id,
        "title": finding.rule.title,
        "subject_type": finding.subject_type,
        "subject_id": finding.subject_id,
        "account_id": finding.account_id,
        "account": finding.account_name,
        "platform": finding.platform_name,
        "department": finding.department_name,
        "steward": finding.steward_name,
        "person": finding.person_name,
        "detail": finding.detail,
        "why": finding.rule.why,
        "action": finding.rule.action,
        "action_url": adapter.build(finding.action_endpoint, finding.action_args, force_external=True),
        "status": "accepted" if accepted else "open",
        "accepted_by": accepted.by if accepted else None,
        "accepted_until": accepted.expires_on.isoformat() if accepted else None,
        "acceptance_reason": accepted.reason if accepted else None,
    }


CSV_COLUMNS = {
    "severity": "Severity",
    "rule": "Rule",
    "title": "Finding",
    "account": "Account",
    "platform": "Platform",
    "department": "Department",
    "steward": "Steward",
    "person": "Person concerned",
    "detail": "Detail",
    "why": "Why it matters",
    "action": "Action",
    "action_url": "Action link",
    "status": "Status",
    "accepted_by": "Accepted by",
    "accepted_until": "Accepted until",
    "acceptance_reason": "Acceptance reason",
}


def _download(body: str | Iterator[str], filename: str, mimetype: str) -> Response:
    """A file to save; given chunks, the response streams them as they are made."""
    return Response(
        body if isinstance(body, str) else stream_with_context(body),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _current_finding(rule_id: str, subject_type: str, subject_id: int) -> Finding:
    """The finding named in the URL, as it is now (accepted or not); NotFound if it no longer applies."""
    if rule_id not in service.RULES:
        raise NotFound("There is no such rule.")
    filters = FindingFilters(rule_id=rule_id, show="all", account_id=subject_id if subject_type == "account" else None)
    for finding in service.evaluate(filters, _interval()):
        if finding.subject_type == subject_type and finding.subject_id == subject_id:
            return finding
    raise NotFound("That finding no longer applies: the data that raised it has changed.")


def _back() -> str:
    return safe_next(request.args.get("next")) or url_for("findings.index", show="all")


# --- The list and its exports -------------------------------------------------------------


@bp.route("/")
@roles(*READERS, Role.STAFF)
def index() -> Any:
    actor = current_actor()
    filters = _filters()
    page, summary = service.list_findings(
        actor,
        filters,
        page=optional_int(request.args.get("page")) or 1,
        per_page=current_app.config["PER_PAGE"],
        review_interval_days=_interval(),
    )
    is_reader = actor.has_role(*READERS)
    return render_template(
        "findings/index.html",
        page=page,
        summary=summary,
        filters=filters,
        severities=list(Severity),
        rules=sorted(service.RULES.values(), key=lambda r: (r.severity.rank, r.title)),
        department_options=department_options("All departments", filters.department_id),
        platforms=platform_choices(),
        steward=request.args.get("steward", "")[:200],
        steward_match=resolve_filter(request.args.get("steward"))[1] if is_reader else None,
        shows=choices([("open", "Open"), ("accepted", "Accepted"), ("all", "Open and accepted")]),
        is_reader=is_reader,
        can_accept=actor.has_role(*ACCEPTORS),
        filtered=any(request.args.get(k) for k in ("rule", "severity", "department", "platform", "steward"))
        or filters.show != "open",
        export_args=_filter_args(),
        export_limit=service.EXPORT_LIMIT,
    )


Records = Iterator[list[dict[str, Any]]]


def _export(kind: str, mimetype: str, written: Callable[[Records], Iterator[str]]) -> Response:
    """The filtered findings as a file, written a batch of records at a time as the response
    streams; past the limit, back to the list with what to do instead."""
    export = service.exported(current_actor(), _filters(), _interval())
    if export.too_large:
        flash(
            f"{export.count:,} findings match: more than {service.EXPORT_LIMIT:,}, too many for one {kind} file. "
            "Choose a severity, a rule or a department, then download again (or page through the API's /api/findings).",
            "error",
        )
        return redirect(url_for("findings.index", **_filter_args()))
    adapter = current_app.create_url_adapter(request)
    records = ([_record(f, adapter) for f in batch] for batch in export.batches)
    return _download(written(records), f"findings-{date.today().isoformat()}.{kind.lower()}", mimetype)


@bp.route("/export.csv")
@roles(*READERS)
def export_csv() -> Any:
    return _export("CSV", "text/csv", _csv_rows)


@bp.route("/export.json")
@roles(*READERS)
def export_json() -> Any:
    return _export("JSON", "application/json", _json_array)


def _csv_rows(records: Records) -> Iterator[str]:
    batches = ([[r[key] for key in CSV_COLUMNS] for r in batch] for batch in records)
    return exports.csv_chunks(list(CSV_COLUMNS.values()), batches)


def _json_array(batches: Records) -> Iterator[str]:
    """One JSON array, written a batch of objects at a time."""
    dumps = current_app.json.dumps
    opening = "["
    for batch in batches:
        if batch:
            yield opening + ",".join(dumps(r) for r in batch)
            opening = ","
    yield "[]" if opening == "[" else "]"


# --- Risk acceptance ----------------------------------------------------------------------


@bp.route(f"/<rule_id>/{SUBJECTS}/accept", methods=["GET", "POST"])
@roles(*ACCEPTORS)
def accept(rule_id: str, subject_type: str, subject_id: int) -> Any:
    finding = _current_finding(rule_id, subject_type, subject_id)
    if request.method == "GET":
        current = finding.accepted
        default = {"reason": current.reason, "expires_on": current.expires_on} if current else {}
        form = AcceptForm(data={"expires_on": date.today() + timedelta(days=DEFAULT_ACCEPTANCE_DAYS), **default})
    else:
        form = AcceptForm()
    if form.validate_on_submit():
        try:
            acceptance = service.accept_finding(
                current_actor(),
                rule_id,
                subject_type,
                subject_id,
                form.reason.data or "",
                form.expires_on.data,
                current_app.config["REVIEW_INTERVAL_DAYS"],
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            flash(
                f"Accepted “{finding.rule.title}” on {finding.account_name} until {acceptance.expires_on:%d %b %Y}. "
                "It shows as accepted until then, and comes back as open when the acceptance runs out.",
                "success",
            )
            return redirect(_back())
    return render_template(
        "findings/accept.html", form=form, finding=finding, back=_back(), default_days=DEFAULT_ACCEPTANCE_DAYS
    ), (400 if form.is_submitted() else 200)


@bp.route(f"/<rule_id>/{SUBJECTS}/withdraw", methods=["GET", "POST"])
@roles(*ACCEPTORS)
def withdraw(rule_id: str, subject_type: str, subject_id: int) -> Any:
    """Confirm, then end a risk acceptance early: the finding is open again."""
    title = service.RULES[rule_id].title if rule_id in service.RULES else rule_id
    if request.method == "POST":
        try:
            service.withdraw_acceptance(current_actor(), rule_id, subject_type, subject_id)
        except NotFound:
            db.session.rollback()
            flash(f"“{title}” was not accepted any more; nothing changed.", "info")
        else:
            db.session.commit()
            flash(f"Withdrew the acceptance of “{title}”: the finding is open again.", "success")
        return redirect(_back())
    finding = _current_finding(rule_id, subject_type, subject_id)
    if finding.accepted is None:
        flash(f"“{title}” on {finding.account_name} is not accepted; there is nothing to withdraw.", "info")
        return redirect(_back())
    return render_template("findings/withdraw.html", finding=finding, back=_back())


# --- Reports ------------------------------------------------------------------------------


@bp.route("/report")
@roles(*READERS)
def report() -> Any:
    data = reports.account_report(current_actor(), review_interval_days=_interval())
    return render_template("findings/report.html", report=data, departments=department_choices("All departments")[1:])


@bp.route("/report/department/<int:department_id>")
@roles(*READERS)
def department_report(department_id: int) -> Any:
    data = reports.account_report(current_actor(), department_id, review_interval_days=_interval())
    return render_template("findings/report.html", report=data, departments=[])


def _report_csv(data: reports.Report, name: str) -> Any:
    if data.too_large:  # the page says why, and where to go instead
        flash(
            f"There are more than {data.live.n:,} live accounts here: too many for one file. Download a department's report.",
            "error",
        )
        return redirect(
            url_for("findings.department_report", department_id=data.department.id)
            if data.department
            else url_for("findings.report")
        )
    body = exports.to_csv(reports.COLUMNS, reports.table(data))
    return _download(body, f"{name}-{date.today().isoformat()}.csv", "text/csv")


@bp.route("/report.csv")
@roles(*READERS)
def report_csv() -> Any:
    return _report_csv(reports.account_report(current_actor(), review_interval_days=_interval()), "account-report")


@bp.route("/report/department/<int:department_id>.csv")
@roles(*READERS)
def department_report_csv(department_id: int) -> Any:
    data = reports.account_report(current_actor(), department_id, review_interval_days=_interval())
    return _report_csv(data, f"account-report-department-{department_id}")
