"""Ranking accounts by their open findings (app/services/dashboard.py), without the database."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.services import dashboard
from app.services.findings import RULES, Acceptance, Finding


def _finding(rule_id: str, account_id: int | None, name: str, **kw: Any) -> Finding:
    return Finding(
        rule=RULES[rule_id],
        subject_type=kw.pop("subject_type", "account"),
        subject_id=kw.pop("subject_id", account_id or 0),
        account_id=account_id,
        account_name=name,
        platform_id=1,
        platform_name="Facebook",
        department_id=None,
        department_name=None,
        steward_id=None,
        steward_name=None,
        detail="",
        **kw,
    )


def test_accounts_are_ranked_by_weighted_open_findings() -> None:
    items = [
        # Alpha: high 4 + medium 2 + low 1 = 7
        _finding("owner-personal", 1, "Alpha"),
        _finding("recovery-missing", 1, "Alpha"),
        _finding("not-reviewed", 1, "Alpha"),
        # Beta: critical 8, and two overdue credentials 2 × 2 = 12
        _finding("held-by-leaver", 2, "Beta"),
        _finding("credential-overdue", 2, "Beta", subject_type="credential", subject_id=10),
        _finding("credential-overdue", 2, "Beta", subject_type="credential", subject_id=11),
        # Gamma: one critical = 8
        _finding("held-by-leaver", 3, "Gamma"),
        # Delta: high 4 + medium 2 + low 1 = 7, like Alpha: the tie goes by name
        _finding("single-admin", 4, "Delta"),
        _finding("no-steward", 4, "Delta"),
        _finding("shared-password", 4, "Delta"),
        # Accepted: does not count.
        _finding("held-by-leaver", 1, "Alpha", accepted=Acceptance("Dee", "A known risk", date(2030, 1, 1))),
        # A persona's credential note belongs to no account: left out.
        _finding("credential-leaver", None, "Persona (profile)", subject_type="credential", subject_id=12),
    ]
    ranked, with_findings = dashboard.rank_accounts(items)
    assert [(a.name, a.score) for a in ranked] == [("Beta", 12), ("Gamma", 8), ("Alpha", 7), ("Delta", 7)]
    assert with_findings == 4
    beta = ranked[0]
    assert [(rule.id, n) for rule, n in beta.rules] == [("held-by-leaver", 1), ("credential-overdue", 2)]
    top_two, _ = dashboard.rank_accounts(items, limit=2)
    assert [a.name for a in top_two] == ["Beta", "Gamma"]


def test_critical_findings_break_a_tie() -> None:
    items = [
        _finding("owner-personal", 1, "Aardvark"),  # high 4 + high 4 = 8
        _finding("single-admin", 1, "Aardvark"),
        _finding("held-by-leaver", 2, "Zebra"),  # critical 8
    ]
    ranked, _ = dashboard.rank_accounts(items)
    assert [a.name for a in ranked] == ["Zebra", "Aardvark"]
