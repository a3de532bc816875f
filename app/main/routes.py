"""The landing page, global search and a health check."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from app.extensions import db
from app.models.user import Role
from app.security import current_actor, public, roles, signed_in
from app.services import demo
from app.services import home as home_service
from app.services.search import search as run_search

bp = Blueprint("main", __name__, template_folder="templates")


@bp.route("/")
@signed_in
def home() -> Any:
    summary = home_service.summary(current_actor())
    return render_template("main/home.html", summary=summary, demo_allowed=current_app.config["DEMO_ALLOWED"])


@bp.route("/first-run/demo", methods=["POST"])
@roles(Role.ADMIN)
def load_demo() -> Any:
    """First run: fill an empty registry with the demo organisation (not in production)."""
    if not current_app.config["DEMO_ALLOWED"]:
        flash("The demo organisation cannot be loaded on this installation.", "error")
    elif demo.registry_has_data():
        flash("The registry already has data; the demo loads only into an empty one.", "error")
    else:
        message = demo.load_demo(current_actor())
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("main.home"))


@bp.route("/search")
@signed_in
def search() -> Any:
    results = run_search(current_actor(), request.args.get("q", "")[:200])
    return render_template("main/search.html", results=results)


@bp.route("/healthz")
@public
def healthz() -> Any:
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
