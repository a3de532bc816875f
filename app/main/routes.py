"""The landing page, global search and a health check."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from app.extensions import db
from app.models.user import Role
from app.security import current_actor, public, roles, signed_in
from app.services import charts, demo
from app.services import dashboard as dashboard_service
from app.services import home as home_service
from app.services.findings import RULES, Severity
from app.services.search import search as run_search

bp = Blueprint("main", __name__, template_folder="templates")


@bp.route("/")
@signed_in
def home() -> Any:
    """Directors and admins get the dashboard; everyone else (and an empty registry) the home page."""
    actor = current_actor()
    dashboard = actor.has_role(Role.DIRECTOR, Role.ADMIN)
    # An empty registry shows the home page whoever signs in: no accounts, none owned by anyone.
    summary = home_service.summary(actor, personal_owners=not dashboard)
    if not dashboard or summary.registry_empty:
        return render_template("main/home.html", summary=summary, demo_allowed=current_app.config["DEMO_ALLOWED"])
    board = dashboard_service.build(actor, current_app.config["REVIEW_INTERVAL_DAYS"])
    return render_template("main/dashboard.html", summary=summary, board=board, **_charts(board))


def _charts(board: dashboard_service.Dashboard) -> dict[str, Any]:
    """The dashboard's charts, each bar and point linking to the findings list with its filter."""
    s = board.summary
    by_severity = charts.bar_chart(
        "Open findings by severity",
        [
            charts.Datum(sev.label, s.by_severity.get(sev, 0), url_for("findings.index", severity=sev.value), sev.value)
            for sev in Severity
        ],
        unit="open finding",
    )
    rules = sorted(RULES.values(), key=lambda r: (r.severity.rank, -s.by_rule.get(r.id, 0), r.title))
    by_rule = charts.bar_chart(
        "Open findings by rule",
        [
            charts.Datum(
                r.title,
                s.by_rule.get(r.id, 0),
                url_for("findings.index", rule=r.id),
                r.severity.value,
                group=r.severity.label,
                note=f"{r.severity.value} severity",
            )
            for r in rules
        ],
        unit="open finding",
    )
    by_department = charts.bar_chart(
        "Open findings by department",
        [
            # Findings of no department cannot be filtered for, so that bar is not a link.
            charts.Datum(name, count, url_for("findings.index", department=dept_id) if dept_id is not None else None)
            # The departments with most open findings, in that order (DEPARTMENT_BARS of them).
            for dept_id, (name, count) in s.by_department.items()
        ],
        unit="open finding",
    )
    every_finding = url_for("findings.index")
    trend = charts.line_chart(
        f"Open findings, last {dashboard_service.TREND_DAYS} days",
        [
            charts.Observation(
                d.day,
                d.total,
                every_finding,
                ", ".join(f"{d.by_severity.get(sev.value, 0)} {sev.value}" for sev in Severity),
            )
            for d in board.trend
        ],
        unit="open finding",
    )
    return {
        "by_severity": by_severity,
        "by_rule": by_rule,
        "by_department": by_department,
        "hidden_departments": s.more_departments,
        "trend": trend,
        "critical_count": s.by_severity.get(Severity.CRITICAL, 0),
    }


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
