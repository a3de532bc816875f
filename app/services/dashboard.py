"""The director's dashboard: open findings counted, ranked and followed over time.

Every figure comes from one evaluation of the audit rules (``findings.evaluate``), so the
dashboard's counts are the findings list's counts for the same filters. Besides that evaluation
the dashboard reads the last 90 days of daily snapshots and, on the first view of a day,
records today's: a fixed number of statements whatever the registry's size.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from app.models.user import Role
from app.services import findings, permissions
from app.services.context import Actor
from app.services.findings import RULES, WEIGHTS, AccountRisk, Finding, FindingFilters, Severity, Summary

#: Accounts listed under "greatest risk".
TOP_ACCOUNTS = 10
#: Accounts listed under "single points of failure" before linking to the full list.
SHORT_LIST = 10
#: Days of history the trend shows.
TREND_DAYS = 90
#: Departments drawn as bars (those with most open findings); the rest are counted under the chart.
DEPARTMENT_BARS = 12


@dataclass
class SinglePoint:
    account_id: int
    name: str
    platform_name: str
    detail: str


@dataclass
class TrendDay:
    day: date
    total: int
    by_severity: dict[str, int]


@dataclass
class Dashboard:
    summary: Summary
    #: The accounts with the highest risk scores, highest first (at most TOP_ACCOUNTS).
    at_risk: list[AccountRisk]
    #: How many accounts have at least one open finding.
    accounts_with_findings: int
    #: Accounts with fewer than two active admins (the single-admin rule), at most SHORT_LIST.
    single_points: list[SinglePoint]
    single_point_count: int
    #: Daily counts of open findings, oldest first, today's included.
    trend: list[TrendDay]


def risk_score(items: list[Finding]) -> int:
    return sum(WEIGHTS[x.severity] for x in items)


def rank_accounts(items: list[Finding], limit: int = TOP_ACCOUNTS) -> tuple[list[AccountRisk], int]:
    """Accounts by the weighted sum of their open findings (ties: more critical first, then by name).

    Findings on a persona or shared-login profile's credential have no account and are left out.
    Returns the top ``limit`` and the number of accounts with any open finding.
    """
    per_account: dict[int, list[Finding]] = {}
    for x in items:
        if x.account_id is not None and x.accepted is None:
            per_account.setdefault(x.account_id, []).append(x)
    ranked = []
    for account_id, account_findings in per_account.items():
        first = account_findings[0]
        counts = Counter(x.rule.id for x in account_findings)
        rules = sorted(((RULES[r], n) for r, n in counts.items()), key=lambda rn: (rn[0].severity.rank, rn[0].title))
        ranked.append(
            AccountRisk(
                account_id, first.account_name, first.platform_name, first.department_name, risk_score(account_findings), rules
            )
        )
    ranked.sort(
        key=lambda a: (-a.score, -sum(n for r, n in a.rules if r.severity is Severity.CRITICAL), a.name.lower(), a.account_id)
    )
    return ranked[:limit], len(ranked)


def build(actor: Actor, review_interval_days: int = 365, today: date | None = None) -> Dashboard:
    """The dashboard for a director or an admin, with today's counts as the trend's last point.

    Read from the finding index (kept counts, kept risk scores, the first rows of one rule), so
    its cost does not grow with the registry. Raises PermissionDenied for other roles. Writes
    nothing (unless the index is not current for today: then it is rebuilt, and kept, first).
    """
    permissions.require(actor.has_role(Role.DIRECTOR, Role.ADMIN), "Only a director or an admin sees the dashboard.")
    today = today or date.today()
    summary = findings.organisation_summary(review_interval_days, top_departments=DEPARTMENT_BARS)
    history = findings.trend(TREND_DAYS, today)
    trend = [TrendDay(s.taken_on, s.total, dict(s.by_severity or {})) for s in history if s.taken_on <= today]
    if not any(s.taken_on == today for s in history):
        # Directors and admins see the whole organisation, so this view's summary is today's point.
        # It is drawn, not stored: reading never writes (`flask findings snapshot`, daily, stores it).
        trend.append(TrendDay(today, summary.total, {s.value: n for s, n in summary.by_severity.items()}))
    at_risk, with_findings = findings.riskiest_accounts(TOP_ACCOUNTS)
    single = findings.indexed_page(FindingFilters(rule_id="single-admin"), 0, SHORT_LIST, review_interval_days)
    return Dashboard(
        summary=summary,
        at_risk=at_risk,
        accounts_with_findings=with_findings,
        single_points=[SinglePoint(x.account_id or 0, x.account_name, x.platform_name, x.detail) for x in single if x.account_id],
        single_point_count=summary.by_rule.get("single-admin", 0),
        trend=trend,
    )
