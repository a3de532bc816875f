"""API tokens (admins only): create one per system that calls Handover, see their last use, revoke."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from app.extensions import db
from app.forms import apply_errors, optional_int
from app.models.user import Role
from app.security import current_actor, roles
from app.services import api_tokens as service
from app.services.errors import ValidationFailed
from app.tokens.forms import TokenForm

bp = Blueprint("tokens", __name__, url_prefix="/tokens", template_folder="templates")

#: The token is on this page once: no cache may keep it.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@bp.route("/")
@roles(Role.ADMIN)
def index() -> Any:
    page = service.list_tokens(optional_int(request.args.get("page")) or 1, current_app.config["PER_PAGE"])
    return render_template("tokens/index.html", page=page)


@bp.route("/new", methods=["GET", "POST"])
@roles(Role.ADMIN)
def create() -> Any:
    form = TokenForm()
    if form.validate_on_submit():
        try:
            row, token = service.create_token(
                current_actor(), form.name.data or "", list(form.scopes.data or []), form.days.data or 0
            )
        except ValidationFailed as error:
            db.session.rollback()
            apply_errors(form, error)
        else:
            db.session.commit()
            return render_template("tokens/created.html", row=row, token=token), 201, NO_STORE
    return render_template("tokens/form.html", form=form), (400 if form.errors or form.form_errors else 200)


@bp.route("/<int:token_id>/revoke", methods=["GET", "POST"])
@roles(Role.ADMIN)
def revoke(token_id: int) -> Any:
    token = service.get_token(token_id)
    if request.method == "POST":
        try:
            service.revoke_token(current_actor(), token)
        except ValidationFailed as error:
            db.session.rollback()
            flash(error.message, "info")
        else:
            db.session.commit()
            flash(f"The token “{token.name}” is revoked: calls with it are refused from now on.", "success")
        return redirect(url_for("tokens.index"))
    return render_template("tokens/revoke.html", token=token)
