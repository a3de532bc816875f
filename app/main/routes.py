"""The landing page, global search and a health check."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, render_template, request

from app.extensions import db
from app.security import current_actor, public, signed_in
from app.services import home as home_service
from app.services.search import search as run_search

bp = Blueprint("main", __name__, template_folder="templates")


@bp.route("/")
@signed_in
def home() -> Any:
    summary = home_service.summary(current_actor())
    return render_template("main/home.html", summary=summary)


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
