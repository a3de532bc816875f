"""The printable account report: every live account with who controls it and what is wrong with it.

For the organisation or one department. The data comes from a fixed number of queries whatever
the number of accounts: one for the accounts with their roles and contacts eagerly loaded, one
(plus its eager loads) for their credential notes, and one evaluation of the findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import defer, joinedload, subqueryload

from app.extensions import db
from app.models.account import Account, AccountAdmin, AccountStatus, RecoveryContact
from app.models.base import utcnow
from app.models.credential import CredentialNote, CredentialReveal
from app.models.person import Department, Person
from app.models.profile import Profile, ProfileCustodian
from app.services import credentials, findings, permissions
from app.services.context import Actor
from app.services.errors import NotFound
from app.services.pagination import Tally, counting_to


@dataclass
class AccountRow:
    account: Account
    #: The worst state among the account's credential notes; None when it has none.
    credential_state: credentials.StateReport | None
    note_count: int
    findings: list[findings.Finding] = field(default_factory=list)
    #: Findings a director accepted (still shown, marked so).
    accepted: list[findings.Finding] = field(default_factory=list)


#: A report lists every live account up to this many; past it, it gives the counts and points to
#: the departments' reports (at 200,000 accounts the organisation's took 172 s and 371 MB).
REPORT_LIMIT = 1_000


@dataclass
class Report:
    #: None for the whole organisation.
    department: Department | None
    rows: list[AccountRow]
    #: Findings about a credential note on a persona or shared-login profile (no account to put them under).
    profile_findings: list[findings.Finding]
    summary: findings.Summary
    generated_at: datetime
    #: How many live accounts are in scope; when more than REPORT_LIMIT, ``rows`` is empty.
    live: Tally = Tally(0)

    @property
    def too_large(self) -> bool:
        return self.live.more


def _with_people(load: Any) -> tuple[Any, Any]:
    """Load a profile's holder and custodians along with it."""
    return load.joinedload(Profile.holder), load.subqueryload(Profile.custodian_links).joinedload(ProfileCustodian.person)


def account_report(actor: Actor, department_id: int | None = None, review_interval_days: int = 365) -> Report:
    """Every live (not retired) account, in one department or all, with its owner, admins, recovery
    contacts, steward, the worst state of its credential notes, and its findings.

    Readers only (PermissionDenied otherwise); NotFound for an unknown department.
    """
    permissions.require(permissions.can_read_registry(actor), "Your role cannot see the account report.")
    department = None
    if department_id is not None:
        department = db.session.get(Department, department_id)
        if department is None:
            raise NotFound(f"There is no department with id {department_id}.")

    live = sa.select(Account.id).where(Account.status != AccountStatus.RETIRED)
    if department_id is not None:
        live = live.where(Account.department_id == department_id)
    counted = Tally.of(db.session.scalar(sa.select(counting_to(live, REPORT_LIMIT))) or 0, REPORT_LIMIT)
    if counted.more:
        # Too many for one report: its counts, from the finding index (the departments' reports list them).
        scope = findings.visible_filters(actor, findings.FindingFilters(department_id=department_id, show="all"))
        return Report(department, [], [], findings.indexed_summary(scope, review_interval_days), utcnow(), counted)
    # Joined loads for single records and subquery loads for collections: one statement each,
    # whatever the number of accounts (selectinload would send one per 500 rows).
    owner = joinedload(Account.owner_profile)
    admin_profile = subqueryload(Account.admins).joinedload(AccountAdmin.profile)
    accounts = list(
        db.session.scalars(
            sa.select(Account)
            .where(Account.id.in_(live))
            .outerjoin(Department, Account.department_id == Department.id)
            .order_by(Department.name.is_(None), Department.name, Account.name, Account.id)
            .options(
                joinedload(Account.platform),
                joinedload(Account.department),
                joinedload(Account.steward),
                *_with_people(owner),
                *_with_people(admin_profile),
                subqueryload(Account.recovery_contacts).joinedload(RecoveryContact.person),
            )
        )
    )
    notes = db.session.scalars(
        sa.select(CredentialNote)
        .where(CredentialNote.account_id.in_(live))
        .options(
            defer(CredentialNote.secret),  # the state needs dates and reveals, never the sealed value
            subqueryload(CredentialNote.reveals).joinedload(CredentialReveal.person),
        )
    )
    states: dict[int, list[credentials.StateReport]] = {}
    note_ids = set()
    for note in notes:
        states.setdefault(note.account_id or 0, []).append(credentials.state_of(note))
        note_ids.add(note.id)

    scope = findings.FindingFilters(department_id=department_id, show="all")
    if department_id is not None:
        # The department's accounts and their notes only: unscoped, some rules read every note
        # in the registry to keep the department's (11 s for 667 accounts among 200,000).
        scope.account_ids, scope.note_ids = frozenset(a.id for a in accounts), frozenset(note_ids)
    evaluated = findings.evaluate(scope, review_interval_days)
    by_account: dict[int, list[findings.Finding]] = {}
    profile_findings = []
    for finding in evaluated:
        if finding.account_id is None:
            profile_findings.append(finding)
        else:
            by_account.setdefault(finding.account_id, []).append(finding)

    rows = []
    for account in accounts:
        reports = states.get(account.id, [])
        mine = by_account.get(account.id, [])
        rows.append(
            AccountRow(
                account=account,
                credential_state=min(reports, key=lambda r: r.state.rank) if reports else None,
                note_count=len(reports),
                findings=[f for f in mine if f.accepted is None],
                accepted=[f for f in mine if f.accepted is not None],
            )
        )
    return Report(
        department=department,
        rows=rows,
        profile_findings=profile_findings,
        summary=findings.summarize(evaluated),
        generated_at=utcnow(),
        live=counted,
    )


# --- The same report as a table (for the CSV) ---------------------------------------------

COLUMNS = (
    "Account",
    "Platform",
    "Status",
    "Department",
    "Owner",
    "Owner kind",
    "Behind the owner",
    "Admins",
    "Recovery contacts",
    "Steward",
    "Credential state",
    "Open findings",
    "Findings",
    "Accepted risks",
)


def _person(person: Person) -> str:
    return person.name if person.is_active else f"{person.name} ({person.status.value})"


def _behind(profile: Profile | None) -> str:
    """Who is behind a profile, in words: "held by" its holder, or "kept by" its custodians."""
    if profile is None:
        return ""
    if profile.holder is not None:
        return f"held by {_person(profile.holder)}"
    if profile.custodians:
        return "kept by " + ", ".join(_person(p) for p in profile.custodians)
    return ""


def _finding_text(finding: findings.Finding) -> str:
    return f"[{finding.severity.label}] {finding.rule.title}: {finding.detail}"


def _accepted_text(finding: findings.Finding) -> str:
    accepted = finding.accepted
    until = f" (accepted by {accepted.by} until {accepted.expires_on.isoformat()}: {accepted.reason})" if accepted else ""
    return _finding_text(finding) + until


def table(report: Report) -> list[list[Any]]:
    """One row per account (in ``COLUMNS`` order), then one per finding about a profile's credential note.

    Several roles, contacts or findings share a cell, one per line.
    """
    rows: list[list[Any]] = []
    for row in report.rows:
        a, owner, state = row.account, row.account.owner_profile, row.credential_state
        admins = [
            f"{admin.profile.label} — {admin.role_name}" + (f" ({behind})" if (behind := _behind(admin.profile)) else "")
            for admin in a.admins
        ]
        recovery = [
            f"{c.kind.label}: {c.value} — " + (f"tied to {_person(c.person)}" if c.person else "institutional")
            for c in a.recovery_contacts
        ]
        rows.append(
            [
                a.name,
                a.platform.name,
                a.status.value,
                a.department.name if a.department else "",
                owner.label if owner else "not recorded",
                owner.kind.label if owner else "",
                _behind(owner),
                "\n".join(admins),
                "\n".join(recovery),
                _person(a.steward) if a.steward else "nobody",
                state.state.label if state else "no credential note",
                len(row.findings),
                "\n".join(_finding_text(f) for f in row.findings),
                "\n".join(_accepted_text(f) for f in row.accepted),
            ]
        )
    for finding in report.profile_findings:
        is_open = finding.accepted is None
        rows.append(
            [finding.account_name, finding.platform_name, "profile", "", "", "", "", "", "", "", "", int(is_open)]
            + ([_finding_text(finding), ""] if is_open else ["", _accepted_text(finding)])
        )
    return rows
