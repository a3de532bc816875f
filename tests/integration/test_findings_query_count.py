"""The findings engine costs a fixed number of SQL statements, whatever the size of the registry.

A registry of 10 accounts is generated, measured, then grown to 2,000 accounts with the same mix
(every rule's trigger, leavers, persona custodians, credential notes with reveals, retired
accounts, accepted risks) and measured again: ``evaluate()`` must issue exactly as many
statements at both sizes. The pages that show findings, once they exist, are measured the same
way through the test client signed in as a director.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, url_for

from app.extensions import db
from app.models import (
    Account,
    AccountAdmin,
    AccountStatus,
    Person,
    PersonStatus,
    Profile,
    ProfileCustodian,
    ProfileKind,
    RecoveryContact,
    RecoveryKind,
    Role,
)
from app.models.base import utcnow
from app.models.credential import CredentialKind, CredentialNote, CredentialReveal
from app.models.finding import FindingAcceptance
from app.services import findings, reports
from app.services.findings import RULES, FindingFilters
from tests import factories
from tests.statements import Statements, growth
from tests.statements import counting as counting_rules

SMALL, LARGE = 10, 2000
#: Pages whose statement count must not grow with the registry (when they exist).
PAGES = ("main.home", "findings.index")


# --- Generation (bulk inserts: thousands of rows in a few statements) ---------------------


def _insert(model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert many rows at once; their ids, in order."""
    if not rows:
        return []
    # Core, not the ORM's bulk insert: all rows go in one batch (the ORM drops a None column from
    # that row's INSERT, which splits the batch row by row), with less work per row.
    table = model.__table__
    result = db.session.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows)
    return list(result.scalars())


class Registry:
    """Grows the registry account by account; account i follows pattern i % 10 (see ``_account``)."""

    def __init__(self) -> None:
        self.departments = [factories.make_department(f"Department {k}").id for k in range(3)]
        self.plain = factories.make_platform("Plain platform").id
        self.delegated = factories.make_platform("Delegating platform", delegated_access=True).id
        self.size = 0

    def grow_to(self, total: int) -> None:
        start, self.size = self.size, total
        now, today = utcnow(), date.today()
        # People: four active for every leaving and every departed one.
        people_rows = []
        for j in range(start, total):
            status = (PersonStatus.ACTIVE, PersonStatus.ACTIVE, PersonStatus.LEAVING, PersonStatus.DEPARTED)[j % 4]
            people_rows.append(
                {
                    "name": f"Person {j}",
                    "work_email": f"generated{j}@org.example",
                    "personal_email": f"generated{j}@mail.example",
                    "department_id": self.departments[j % 3],
                    "status": status,
                    "last_day": today + timedelta(days=10) if status is PersonStatus.LEAVING else None,
                    "left_on": today - timedelta(days=30) if status is PersonStatus.DEPARTED else None,
                }
            )
        ids = _insert(Person, people_rows)
        people = {s: [i for i, row in zip(ids, people_rows, strict=True) if row["status"] is s] for s in PersonStatus}
        active, leaving, departed = people[PersonStatus.ACTIVE], people[PersonStatus.LEAVING], people[PersonStatus.DEPARTED]

        # Profiles first (accounts point at their owners), keyed (account index, role).
        plans = {
            i: self._account(i, active[i % len(active)], leaving[i % len(leaving)], departed[i % len(departed)])
            for i in range(start, total)
        }
        profile_keys, profile_rows = [], []
        for i, plan in plans.items():
            for key, (kind, holder, platform) in plan["profiles"].items():
                profile_keys.append((i, key))
                profile_rows.append({"platform_id": platform, "kind": kind, "name": f"Profile {i} {key}", "holder_id": holder})
        profile_id = dict(zip(profile_keys, _insert(Profile, profile_rows), strict=True))
        _insert(
            ProfileCustodian,
            [
                {"profile_id": profile_id[(i, key)], "person_id": person}
                for i, plan in plans.items()
                for key, person in plan["custodians"]
            ],
        )

        account_rows = []
        for i, plan in plans.items():
            account_rows.append(
                {
                    "platform_id": plan["platform"],
                    "name": f"Account {i:05d}",
                    "handle": f"@account{i}",
                    "department_id": self.departments[i % 3],
                    "status": plan.get("status", AccountStatus.ACTIVE),
                    "owner_profile_id": profile_id[(i, plan["owner"])],
                    "steward_id": plan["steward"],
                    "has_own_login": plan.get("has_own_login", False),
                    "last_reviewed_at": plan.get("reviewed", now - timedelta(days=10)),
                }
            )
        account_id = dict(zip(plans, _insert(Account, account_rows), strict=True))
        _insert(
            AccountAdmin,
            [
                {"account_id": account_id[i], "profile_id": profile_id[(i, key)], "role_name": "admin"}
                for i, plan in plans.items()
                for key in plan["admins"]
            ],
        )
        _insert(
            RecoveryContact,
            [
                {"account_id": account_id[i], "kind": kind, "value": value, "person_id": person}
                for i, plan in plans.items()
                for kind, value, person in plan["recovery"]
            ],
        )

        # Credential notes (findings never decrypt them, so a placeholder envelope will do).
        note_keys, note_rows = [], []
        for i, plan in plans.items():
            for n, (holder, rotated_days_ago, due_in_days, reveals) in enumerate(plan["notes"]):
                rotated = now - timedelta(days=rotated_days_ago)
                note_keys.append(reveals)
                note_rows.append(
                    {
                        "account_id": account_id[i] if holder == "account" else None,
                        "profile_id": profile_id[(i, holder)] if holder != "account" else None,
                        # The platform of its account, or of its profile (kept on the note).
                        "platform_id": plan["platform"] if holder == "account" else plan["profiles"][holder][2],
                        "label": f"Note {i}.{n}",
                        "kind": CredentialKind.PASSWORD,
                        "secret": "hv1:test:placeholder",
                        "key_id": "test",
                        "rotated_at": rotated,
                        "due_at": now + timedelta(days=due_in_days),
                    }
                )
        note_ids = _insert(CredentialNote, note_rows)
        _insert(
            CredentialReveal,
            [
                {
                    "note_id": note,
                    "person_id": person,
                    "actor_name": "someone",
                    "reason": "routine work",
                    "revealed_at": now - timedelta(days=days_ago),
                }
                for note, reveals in zip(note_ids, note_keys, strict=True)
                for person, days_ago in reveals
            ],
        )

        # Accepted risks: every 20th personal owner accepted, every 40th already expired.
        _insert(
            FindingAcceptance,
            [
                {
                    "rule_id": "owner-personal",
                    "subject_type": "account",
                    "subject_id": account_id[i],
                    "accepted_by_name": "Dee Director",
                    "reason": "Moving to a business portfolio",
                    "expires_on": today + timedelta(days=-5 if i % 40 == 0 else 60),
                }
                for i in plans
                if i % 20 == 0
            ],
        )
        # Written past the ORM: the finding index is rebuilt, as `flask demo generate` does.
        findings.rebuild(findings.configured_interval())
        db.session.commit()

    def _account(self, i: int, active: int, leaving: int, departed: int) -> dict[str, Any]:
        """What account i holds. Each pattern triggers some rules; together, all eleven."""
        org, personal, persona, shared = (
            ProfileKind.ORGANISATION,
            ProfileKind.PERSONAL,
            ProfileKind.PERSONA,
            ProfileKind.SHARED_LOGIN,
        )
        plain = self.plain
        plan: dict[str, Any] = {
            "platform": plain,
            "profiles": {"owner": (org, None, plain), "team": (org, None, plain)},
            "owner": "owner",
            "admins": ["owner", "team"],
            "custodians": [],
            "recovery": [(RecoveryKind.EMAIL, "it@org.example", None)],
            "steward": active,
            "notes": [],
        }
        pattern = i % 10
        if pattern == 0:  # owner-personal
            plan["profiles"]["owner"] = (personal, active, plain)
        elif pattern == 1:  # held-by-leaver: owner, admin, recovery; owner-personal; single-admin
            plan["profiles"]["owner"] = (personal, departed, plain)
            plan["profiles"]["lee"] = (personal, leaving, plain)
            plan["admins"] = ["owner", "lee", "team"]
            plan["recovery"].append((RecoveryKind.TRUSTED_CONTACT, "A trusted contact", departed))
        elif pattern == 2:  # held-by-leaver through custodians; single-admin; credential-leaver on a profile note
            plan["profiles"]["owner"] = (persona, None, plain)
            plan["profiles"]["team"] = (persona, None, plain)
            plan["admins"] = ["team"]
            plan["custodians"] = [("owner", departed), ("owner", active), ("team", leaving)]
            plan["notes"] = [("owner", 100, 265, [(active, 50)])]
        elif pattern == 3:  # recovery-personal
            plan["recovery"] = [
                (RecoveryKind.EMAIL, f"generated{i}@mail.example", active),
                (RecoveryKind.PHONE, "+1 202-555-0100", active),
            ]
        elif pattern == 4:  # recovery-missing, not-reviewed (never)
            plan["recovery"] = []
            plan["reviewed"] = None
        elif pattern == 5:  # credential-leaver (a departed person revealed it); a due-soon note
            plan["has_own_login"] = True
            plan["notes"] = [("account", 200, 165, [(departed, 150), (active, 20)]), ("account", 340, 20, [(active, 300)])]
        elif pattern == 6:  # credential-overdue twice; not-reviewed (long ago)
            plan["has_own_login"] = True
            plan["notes"] = [("account", 400, -35, [(active, 390)]), ("account", 500, -135, [])]
            plan["reviewed"] = utcnow() - timedelta(days=400)
        elif pattern == 7:  # login-without-note, no-steward (none)
            plan["has_own_login"] = True
            plan["steward"] = None
        elif pattern == 8:  # shared-password (admin, and owner every other time); no-steward (departed)
            delegated = self.delegated
            plan["platform"] = delegated
            plan["profiles"] = {"owner": (shared if i % 20 == 8 else org, None, delegated), "team": (shared, None, delegated)}
            plan["custodians"] = [("team", active)]
            plan["steward"] = departed
        else:  # retired, with plenty wrong: never a finding
            plan["status"] = AccountStatus.RETIRED
            plan["profiles"]["owner"] = (personal, departed, plain)
            plan["has_own_login"] = True
            plan["recovery"] = []
            plan["reviewed"] = None
            plan["notes"] = [("account", 300, -100, [(departed, 200)])]
        return plan


# --- Counting -----------------------------------------------------------------------------


@contextmanager
def counting() -> Iterator[list[str]]:
    """Every SQL statement sent while inside, from a session with nothing loaded yet."""
    db.session.remove()
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
        db.session.remove()


def measure(filters: FindingFilters) -> tuple[int, Counter[str]]:
    with counting() as statements:
        started = time.perf_counter()
        items = findings.evaluate(filters)
        took = time.perf_counter() - started
    print(f"  evaluate({filters}): {len(items)} findings, {len(statements)} statements, {took * 1000:.0f} ms")
    return len(statements), Counter(x.rule.id for x in items)


FILTERS = {
    "everything": lambda r: FindingFilters(show="all"),
    "open": lambda r: FindingFilters(),
    "department": lambda r: FindingFilters(department_id=r.departments[1]),
    "platform": lambda r: FindingFilters(platform_id=r.delegated),
    "critical": lambda r: FindingFilters(severity=findings.Severity.CRITICAL),
    "one rule": lambda r: FindingFilters(rule_id="credential-overdue"),
}


def expected_counts(size: int) -> tuple[Counter[str], int]:
    """Findings per rule for a registry of ``size`` accounts (see Registry._account), and how many are accepted."""
    per = Counter(i % 10 for i in range(size))
    accepted = sum(1 for i in range(size) if i % 20 == 0 and i % 40 != 0)
    return Counter(
        {
            "owner-personal": per[0] + per[1],
            "held-by-leaver": per[1] + per[2],
            "single-admin": per[1] + per[2],
            "recovery-personal": per[3],
            "recovery-missing": per[4],
            "credential-leaver": per[2] + per[5],
            "credential-overdue": 2 * per[6],
            "login-without-note": per[7],
            "no-steward": per[7] + per[8],
            "shared-password": per[8],
            "not-reviewed": per[4] + per[6],
        }
    ), accepted


def test_evaluate_issues_the_same_statements_for_10_and_2000_accounts(app: Flask) -> None:
    started = time.perf_counter()
    registry = Registry()
    registry.grow_to(SMALL)
    generated = time.perf_counter() - started
    small = {name: measure(make(registry)) for name, make in FILTERS.items()}
    started = time.perf_counter()
    registry.grow_to(LARGE)
    generated += time.perf_counter() - started
    large = {name: measure(make(registry)) for name, make in FILTERS.items()}

    assert generated < 10, f"generating the registry took {generated:.1f}s"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == LARGE
    for size, measured in ((SMALL, small), (LARGE, large)):
        counts, accepted = expected_counts(size)
        assert set(measured["everything"][1]) == set(RULES), f"every rule fires at {size} accounts"
        assert measured["everything"][1] == counts, size
        assert sum(measured["open"][1].values()) == sum(counts.values()) - accepted
        assert set(measured["critical"][1]) == {"held-by-leaver", "credential-leaver"}
        assert set(measured["one rule"][1]) == {"credential-overdue"}
    print(f"\ngenerated in {generated:.1f}s; statements per evaluate() at {SMALL} and {LARGE} accounts:")
    for name in FILTERS:
        print(f"  {name:>10}: {small[name][0]} / {large[name][0]}")
    assert {name: n for name, (n, _) in small.items()} == {name: n for name, (n, _) in large.items()}


def _pages(app: Flask) -> list[str]:
    """The findings pages that exist now: the home page, the list, and any findings report without URL arguments."""
    reports = sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("findings.")
        and "report" in rule.endpoint
        and "GET" in (rule.methods or ())
        and not rule.arguments
    )
    return [endpoint for endpoint in (*PAGES, *reports) if endpoint in app.view_functions]


def test_the_findings_pages_issue_the_same_statements_for_10_and_2000_accounts(
    app: Flask, client: Any, login_as: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reports list every account at both sizes here (past REPORT_LIMIT they give counts only).
    monkeypatch.setattr(reports, "REPORT_LIMIT", 10_000)
    pages = _pages(app)
    if not any(p.startswith("findings.") and p != "findings.index" for p in pages):
        print(f"\nno findings report page yet; measuring {pages}")
    login_as(Role.DIRECTOR)
    registry = Registry()

    def measure_pages() -> dict[str, Statements]:
        counts = {}
        for endpoint in pages:
            with app.test_request_context():
                url = url_for(endpoint)
            client.get(url)  # warm the caches a first request fills (the signed-in user, settings)
            db.session.remove()
            with counting_rules(db.engine) as statements:
                response = client.get(url)
            db.session.remove()
            assert response.status_code == 200, (endpoint, response.status_code)
            counts[endpoint] = statements
        return counts

    registry.grow_to(SMALL)
    small = measure_pages()
    registry.grow_to(LARGE)
    large = measure_pages()
    print("\nstatements per page at", SMALL, "and", LARGE, "accounts:", {p: (small[p].total, large[p].total) for p in pages})
    # The page's own statements, and each rule's where it runs at both sizes (a page evaluates only
    # the rules of the findings it shows).
    grown = {p: growth(small[p], large[p]) for p in pages if growth(small[p], large[p])}
    assert not grown, f"statements grow with the registry (at {SMALL} and {LARGE} accounts): {grown}"


@pytest.mark.parametrize("size", [SMALL])
def test_the_generated_registry_has_what_each_pattern_promises(app: Flask, size: int) -> None:
    """The generator itself: the small registry raises exactly the findings the patterns describe."""
    Registry().grow_to(size)
    by_account: dict[str, set[str]] = {}
    for finding in findings.evaluate(FindingFilters(show="all")):
        by_account.setdefault(finding.account_name, set()).add(finding.rule.id)
    profile_notes = by_account.pop("Profile 2 owner (profile)")
    assert profile_notes == {"credential-leaver"}
    assert by_account == {
        "Account 00000": {"owner-personal"},
        "Account 00001": {"owner-personal", "held-by-leaver", "single-admin"},
        "Account 00002": {"held-by-leaver", "single-admin"},
        "Account 00003": {"recovery-personal"},
        "Account 00004": {"recovery-missing", "not-reviewed"},
        "Account 00005": {"credential-leaver"},
        "Account 00006": {"credential-overdue", "not-reviewed"},
        "Account 00007": {"login-without-note", "no-steward"},
        "Account 00008": {"shared-password", "no-steward"},
    }


def test_a_page_about_one_account_or_person_finds_what_every_rule_would(app: Flask) -> None:
    """An account's and a person's findings are evaluated only for the rules the finding index
    holds for them; every rule evaluated for them finds exactly the same (every rule fires here)."""
    Registry().grow_to(SMALL)
    every_rule = frozenset(RULES)

    def keys(found: list[findings.Finding]) -> list[tuple[str, str, int]]:
        return [x.key for x in found]

    account_ids = db.session.scalars(sa.select(Account.id).order_by(Account.id)).all()
    person_ids = db.session.scalars(sa.select(Person.id).order_by(Person.id)).all()
    seen = set()
    for account_id in account_ids:
        narrowed = findings.evaluate(FindingFilters(account_id=account_id, show="all"))
        assert keys(narrowed) == keys(findings.evaluate(FindingFilters(account_id=account_id, show="all", rule_ids=every_rule)))
        seen |= {x.rule.id for x in narrowed}
    for person_id in person_ids:
        narrowed = findings.evaluate(FindingFilters(person_id=person_id, show="all"))
        assert keys(narrowed) == keys(findings.evaluate(FindingFilters(person_id=person_id, show="all", rule_ids=every_rule)))
        seen |= {x.rule.id for x in narrowed}
    assert seen == set(RULES)
