"""CSV import and export pages: upload a file, check its preview (every row's fate, every
problem by line and column), confirm; or download the registry in the same format.

Size limits: an upload may be as large as HANDOVER_IMPORT_MAX_BYTES, and a confirmation carries
the file back (see ``staging``), both above the app's default form limits, and both must be
refused before an oversized body is read. So ``_limit_body`` sets this request's limits from an
app-wide before-request hook that runs ahead of app.security's checks (blueprints are registered
before ``security.init_app``), and the two POST views are exempt from the app-wide CSRF check,
which would read the body first, only to run the same check right after the limits are set.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from app.extensions import csrf, db
from app.imports import staging
from app.imports.forms import ConfirmForm, UploadForm
from app.models.user import Role
from app.security import current_actor, roles
from app.services import csv_io
from app.services.errors import ValidationFailed

bp = Blueprint("imports", __name__, url_prefix="/imports", template_folder="templates")

#: Where each kind's records are listed (the import goes back there).
LISTS = {"people": "people.index", "accounts": "accounts.index"}
TITLES = {"people": "People", "accounts": "Accounts"}
#: Room for the multipart envelope and the CSRF token around the file itself.
ENVELOPE = 256 * 1024
#: Rows (and problems) listed one by one on a preview; the rest are counted (the CLI lists them all).
ROWS_SHOWN = 1000


def _limits() -> csv_io.Limits:
    config = current_app.config
    return csv_io.Limits(max_bytes=config["IMPORT_MAX_BYTES"], max_rows=config["IMPORT_MAX_ROWS"])


#: The views that receive a file: uploaded, or carried back by a confirmation.
UPLOADS = frozenset({"imports.people", "imports.accounts"})
CONFIRMATIONS = frozenset({"imports.confirm_people", "imports.confirm_accounts"})


@bp.before_app_request
def _limit_body() -> None:
    """Before anything reads the body of a POST to an import view: set its size limits, then run
    the CSRF check these views are exempt from (raises CSRFError, or RequestEntityTooLarge)."""
    if request.method != "POST" or request.endpoint not in UPLOADS | CONFIRMATIONS:
        return
    limits = _limits()
    if request.endpoint in UPLOADS:
        request.max_content_length = limits.max_bytes + ENVELOPE
        request.max_form_memory_size = 64 * 1024
    else:
        request.max_form_memory_size = staging.token_limit(limits.max_bytes)
        request.max_content_length = request.max_form_memory_size + ENVELOPE
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(error: RequestEntityTooLarge) -> Any:
    """Refused before it was read (and before the access check ran: so no page of ours, only why)."""
    detail = (
        _too_big(_limits())
        if request.endpoint in UPLOADS
        else "That preview cannot be confirmed. Upload the file again to see a fresh preview."
    )
    return render_template("errors/error.html", status=413, title="That file is too large", detail=detail), 413


def _too_big(limits: csv_io.Limits) -> str:
    return (
        f"The file is larger than {csv_io.size_text(limits.max_bytes)}, the limit. Split it into smaller files "
        "and import them one after the other."
    )


def _upload_page(kind: str, form: UploadForm, status: int = 200) -> Any:
    limits = _limits()
    return render_template(
        "imports/upload.html",
        kind=kind,
        title=TITLES[kind],
        form=form,
        columns=csv_io.FORMATS[kind],
        limits=limits,
        max_size=csv_io.size_text(limits.max_bytes),
        list_endpoint=LISTS[kind],
        preview_minutes=current_app.config["IMPORT_PREVIEW_MINUTES"],
    ), status


def _preview_page(kind: str, data: bytes, report: csv_io.ImportReport, status: int = 200, notice: str = "") -> Any:
    token = staging.seal(
        current_app.config["SECRET_KEY"],
        staging.Staged(user_id=current_user.id, kind=kind, name=report.name, data=data, digest=report.digest),
    )
    shown = [r for r in report.rows if r.fate is not csv_io.Fate.UNCHANGED]
    return render_template(
        "imports/preview.html",
        kind=kind,
        title=TITLES[kind],
        report=report,
        shown=shown[:ROWS_SHOWN],
        hidden=max(0, len(shown) - ROWS_SHOWN),
        problems=report.problems[:ROWS_SHOWN],
        more_problems=max(0, len(report.problems) - ROWS_SHOWN),
        unchanged_lines=report.lines_of(csv_io.Fate.UNCHANGED),
        confirm=ConfirmForm(formdata=None, upload=token),
        upload=UploadForm(formdata=None),
        key_label=csv_io.KEY_LABELS[kind],
        list_endpoint=LISTS[kind],
        notice=notice,
        Fate=csv_io.Fate,
    ), status


def _upload(kind: str) -> Any:
    if request.method == "GET":
        return _upload_page(kind, UploadForm(formdata=None))
    limits = _limits()
    form = UploadForm()
    if not form.validate_on_submit():
        return _upload_page(kind, form, 400)
    storage = form.file.data
    data = storage.read()
    # Shown on pages and kept in the audit trail: the last part of the path, printable characters only.
    name = "".join(ch for ch in os.path.basename((storage.filename or "").replace("\\", "/")) if ch.isprintable())[:200]
    try:
        report = csv_io.import_csv(current_actor(), kind, data, limits=limits, name=name, apply=False)
    except ValidationFailed as error:
        db.session.rollback()
        form.file.errors = list(error.field_errors.get("file", [error.message]))
        return _upload_page(kind, form, 400)
    db.session.rollback()  # a preview writes nothing; end its transaction now
    return _preview_page(kind, data, report)


def _confirm(kind: str) -> Any:
    limits = _limits()
    confirm = ConfirmForm()
    upload = UploadForm(formdata=None)
    if not confirm.validate_on_submit():
        upload.file.errors = list(confirm.upload.errors)
        return _upload_page(kind, upload, 400)
    config = current_app.config
    try:
        staged = staging.unseal(
            config["SECRET_KEY"],
            confirm.upload.data or "",
            user_id=current_user.id,
            kind=kind,
            max_age_seconds=config["IMPORT_PREVIEW_MINUTES"] * 60,
            max_bytes=limits.max_bytes,
        )
        report = csv_io.import_csv(
            current_actor(), kind, staged.data, limits=limits, name=staged.name, apply=True, expected_digest=staged.digest
        )
    except ValidationFailed as error:
        db.session.rollback()
        upload.file.errors = list(error.field_errors.get("file", [error.message]))
        return _upload_page(kind, upload, 400)
    if report.applied:
        db.session.commit()
        if report.changed:
            flash(f"Imported {report.name or 'the file'}: {report.summary()}.", "success")
        else:
            flash(f"Nothing to import: every row of {report.name or 'the file'} already matches the registry.", "info")
        return redirect(url_for(LISTS[kind]))
    db.session.rollback()
    notice = (
        "The registry changed after your preview, so nothing was imported. Here is the preview as things are now; "
        "check it, then import again."
        if report.stale
        else ""
    )
    return _preview_page(kind, staged.data, report, 409 if report.stale else 400, notice)


def _download(kind: str) -> Response:
    chunks = csv_io.export_csv(current_actor(), kind)  # refused here, before the response starts
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{kind}-{date.today().isoformat()}.csv"'},
    )


# --- People: HR and admins ----------------------------------------------------------------


@bp.route("/people", methods=["GET", "POST"])
@csrf.exempt
@roles(Role.ADMIN, Role.HR)
def people() -> Any:
    return _upload("people")


@bp.route("/people/confirm", methods=["POST"])
@csrf.exempt
@roles(Role.ADMIN, Role.HR)
def confirm_people() -> Any:
    return _confirm("people")


@bp.route("/people/export.csv")
@roles(Role.ADMIN, Role.HR)
def export_people() -> Any:
    return _download("people")


# --- Accounts: IT and admins import; every registry reader exports ------------------------


@bp.route("/accounts", methods=["GET", "POST"])
@csrf.exempt
@roles(Role.ADMIN, Role.IT)
def accounts() -> Any:
    return _upload("accounts")


@bp.route("/accounts/confirm", methods=["POST"])
@csrf.exempt
@roles(Role.ADMIN, Role.IT)
def confirm_accounts() -> Any:
    return _confirm("accounts")


@bp.route("/accounts/export.csv")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def export_accounts() -> Any:
    return _download("accounts")
