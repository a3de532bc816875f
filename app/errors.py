"""Domain and HTTP errors become a page (web) or a JSON problem (API/SCIM): never a traceback."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from app.extensions import db
from app.security import wants_json
from app.services.errors import DomainError

TITLES = {
    400: "That request could not be understood",
    401: "Please sign in",
    403: "You do not have access to this",
    404: "Page not found",
    405: "That action is not allowed here",
    409: "Someone else changed this first",
    412: "The record changed since you read it",
    413: "That request is too large",
    422: "The request does not match the schema",
    428: "Say which version you are changing",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}

HINTS = {
    403: "Your role does not allow this page or action. If you need it, ask an administrator.",
    404: "The address may be mistyped, or the record may have been retired. Use search to find it.",
    429: "Wait a minute, then try again.",
    500: "Nothing you did caused this. The error has been logged; try again, and tell IT if it keeps happening.",
}


#: RFC 7644 §3.12: SCIM errors carry this schema and the status as a string.
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def _render(status: int, message: str | None = None, errors: list[Any] | None = None) -> Any:
    title = TITLES.get(status, "Error")
    detail = message or HINTS.get(status, "")
    if request.path.startswith("/scim/"):
        body = jsonify({"schemas": [SCIM_ERROR], "status": str(status), "detail": detail})
        body.mimetype = "application/scim+json"
        return body, status
    if wants_json():
        # RFC 9457 problem details, with the request id to quote when asking for help.
        problem: dict[str, Any] = {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else title,
            "status": status,
            "detail": detail,
            "request_id": g.get("request_id", ""),
        }
        if errors:
            problem["errors"] = errors
        body = jsonify(problem)
        body.mimetype = "application/problem+json"
        return body, status
    return render_template("errors/error.html", status=status, title=title, detail=detail), status


def _too_large_detail(app: Flask) -> str:
    limit = request.max_content_length or app.config.get("MAX_CONTENT_LENGTH") or 0
    size = f"{limit / (1024 * 1024):.0f} MB" if limit >= 1024 * 1024 else f"{max(1, limit // 1024)} KB"
    return f"The request is larger than {size}, the most Handover accepts. Nothing was saved: send less at once."


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> Any:
        db.session.rollback()
        errors = getattr(error, "errors", None) or [
            {"loc": [name], "msg": message}
            for name, messages in getattr(error, "field_errors", {}).items()
            for message in messages
        ]
        body, status = _render(error.status, error.message, errors)
        headers = {}
        if retry_after := getattr(error, "retry_after", None):
            headers["Retry-After"] = str(retry_after)
        if challenge := getattr(error, "challenge", None):
            headers["WWW-Authenticate"] = challenge  # RFC 9110 §11.6.1: say how to authenticate
        return body, status, headers

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Any:
        return _render(400, "The form had expired or came from somewhere else. Go back, reload the page and try again.")

    @app.errorhandler(StaleDataError)
    def concurrent_write(error: StaleDataError) -> Any:
        # Two saves raced past the form's version check; the database refused the second.
        db.session.rollback()
        return _render(
            409,
            "Someone else saved a change to this record at the same moment. Nothing you typed was saved: reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if error.code == 413:
            return _render(413, _too_large_detail(app))
        body, status = _render(error.code or 500, None if error.code in HINTS else error.description)
        # Keep the headers the error carries besides its own body: Allow on a 405 (RFC 9110 §15.5.6).
        headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
        return body, status, headers

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Any:
        db.session.rollback()
        app.logger.exception("unhandled error")
        return _render(500)
