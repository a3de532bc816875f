"""The audit rules of DESIGN.md, evaluated as set-based queries.

Each rule is one SELECT over the whole registry (joins and EXISTS, never a Python loop issuing
queries per account), so the cost of a page does not grow with the number of accounts in
statements, only in rows. A finding says what is wrong, why it matters, and the one action that
clears it. Findings are derived, never typed in; a director may *accept* one (risk acceptance,
with a reason and an expiry date), after which it shows as accepted, not gone.
"""

from __future__ import annotations

import dataclasses
import enum
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence, Set
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import has_app_context, has_request_context, request
from sqlalchemy.orm import Session, aliased

from app.db_setup import joins_as_written, sorted_after_filtering, sqlite_settings
from app.extensions import db
from app.models.account import Account, AccountAdmin, AccountStatus, RecoveryContact, RecoveryKind
from app.models.base import utcnow
from app.models.credential import CredentialNote, CredentialReveal
from app.models.finding import (
    AccountRiskScore,
    FindingAcceptance,
    FindingCount,
    FindingIndexState,
    FindingPlatformCount,
    FindingSnapshot,
    IndexedFinding,
    IndexedFindingPerson,
    MustRotateNote,
)
from app.models.person import Department, Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile, ProfileCustodian, ProfileKind
from app.models.user import Role
from app.services import audit, finding_sql, permissions
from app.services.context import Actor
from app.services.errors import NotFound, ValidationFailed
from app.services.pagination import COUNT_LIMIT, Page, from_the_end


class Severity(enum.Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return {"critical": 0, "high": 1, "medium": 2, "low": 3}[self.value]

    @property
    def label(self) -> str:
        return self.value.capitalize()


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    #: Short name for lists and filters.
    title: str
    #: Why it matters, in one sentence (DESIGN.md's words).
    why: str
    #: The one action that clears it (the link text).
    action: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "owner-personal",
            Severity.HIGH,
            "Owned by a personal profile",
            "The top role sits with one person's own profile: when they leave, the page leaves with them.",
            "Transfer ownership to an organisation or persona profile",
        ),
        Rule(
            "held-by-leaver",
            Severity.CRITICAL,
            "Held by someone leaving or gone",
            "Someone who is leaving or has left still controls or can recover this account.",
            "Hand over what they hold",
        ),
        Rule(
            "single-admin",
            Severity.HIGH,
            "Fewer than two active admins",
            "With one admin (or none) left, a single absence locks the organisation out.",
            "Add a second admin",
        ),
        Rule(
            "recovery-personal",
            Severity.HIGH,
            "Recovery goes to a personal inbox or phone",
            "A password reset would go to one person's own email or phone, not the organisation's.",
            "Replace it with an institutional recovery contact",
        ),
        Rule(
            "recovery-missing",
            Severity.MEDIUM,
            "No recovery contact",
            "If the sign-in is lost there may be no way back in.",
            "Record a recovery contact",
        ),
        Rule(
            "credential-leaver",
            Severity.CRITICAL,
            "Credential known to someone who left",
            "Someone who revealed or keeps this secret is leaving or has left, and it has not been rotated since.",
            "Rotate the credential",
        ),
        Rule(
            "credential-overdue",
            Severity.MEDIUM,
            "Credential overdue for rotation",
            "The secret is older than its rotation interval.",
            "Rotate the credential",
        ),
        Rule(
            "login-without-note",
            Severity.MEDIUM,
            "Own login but no credential note",
            "The account has its own username and password, but the registry does not hold them: IT could not get back in.",
            "Add a credential note",
        ),
        Rule(
            "no-steward",
            Severity.MEDIUM,
            "No active steward",
            "Nobody who is still here is accountable for keeping this account's details right.",
            "Choose a steward",
        ),
        Rule(
            "shared-password",
            Severity.LOW,
            "Shared password where per-person access exists",
            "Staff sign in with a shared login although the platform can give each person their own role.",
            "Give people their own roles",
        ),
        Rule(
            "not-reviewed",
            Severity.LOW,
            "Not reviewed recently",
            "Nobody has confirmed the owner, admins and recovery contacts within the review interval.",
            "Review the account",
        ),
    )
}


@dataclass
class Acceptance:
    by: str
    reason: str
    expires_on: date


@dataclass
class Finding:
    rule: Rule
    #: "account" or "credential".
    subject_type: str
    subject_id: int
    #: The account concerned; None for a credential note on a persona or shared-login profile.
    account_id: int | None
    #: The account's name, or the profile's for a profile note.
    account_name: str
    platform_id: int
    platform_name: str
    department_id: int | None
    department_name: str | None
    steward_id: int | None
    steward_name: str | None
    #: What exactly is wrong here: "Dana Whitfield (departed) holds the owner profile".
    detail: str
    #: The person it concerns, if one (the leaver, the holder of the personal profile...).
    person_id: int | None = None
    person_name: str | None = None
    #: The form that clears it: (endpoint, url arguments), built into a URL by the door.
    action_endpoint: str = "accounts.edit"
    action_args: dict[str, Any] = field(default_factory=dict)
    accepted: Acceptance | None = None
    #: Everyone the finding concerns, ``person_id`` first (two leavers can hold one account);
    #: the person filter matches any of them.
    person_ids: tuple[int, ...] = ()

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.rule.id, self.subject_type, self.subject_id)


@dataclass
class FindingFilters:
    rule_id: str | None = None
    severity: Severity | None = None
    department_id: int | None = None
    platform_id: int | None = None
    steward_id: int | None = None
    person_id: int | None = None
    account_id: int | None = None
    #: "open" (not accepted), "accepted", or "all".
    show: str = "open"
    #: Evaluate only these accounts and these credential notes (both, when either is set): the
    #: rows a page shows, or what a change touched.
    account_ids: frozenset[int] | None = None
    note_ids: frozenset[int] | None = None
    #: Evaluate only these rules (the ones the finding index holds for the rows a page shows):
    #: each other rule would cost its statement and find nothing the page keeps.
    rule_ids: frozenset[str] | None = None

    @property
    def scoped(self) -> bool:
        return self.account_ids is not None or self.note_ids is not None


@dataclass
class Summary:
    total: int
    by_severity: dict[Severity, int]
    by_rule: dict[str, int]
    #: department id (None for none) → (name, count); empty in the findings list's summary (it shows none)
    by_department: dict[int | None, tuple[str, int]]
    accepted: int
    #: When only the departments with most open findings are in by_department (in that order, then
    #: by name, no department last): how many others have open findings, and how many they have.
    more_departments: tuple[int, int] = (0, 0)


# --- Evaluation ---------------------------------------------------------------------------

LEFT = finding_sql.LEFT
Steward = aliased(Person, name="steward")
# The rules' other aliases, made once: an alias remembers how its columns map onto the table, and
# a fresh one per request spent most of a findings page (≈ 1 ms per alias) re-learning that.
# Each is used in one part of one rule only, so no two parts of a statement share an alias.
_Owner, _OwnerHolder = aliased(Profile, name="owner"), aliased(Person, name="owner_holder")
_LeaverProfile, _Leaver, _LeaverLink = (
    aliased(Profile, name="leaver_profile"),
    aliased(Person, name="leaver"),
    aliased(ProfileCustodian, name="leaver_link"),
)
_AdminProfile, _AdminHolder = aliased(Profile, name="admin_profile"), aliased(Person, name="admin_holder")
_Contact = aliased(Person, name="contact")
_SharedLogin = aliased(Profile, name="shared_login")
#: The index's rows concerning a person, as a set the list's rows are taken from.
_Concerned = aliased(IndexedFinding, name="concerned")


#: Each rule's statement, built once for each combination of filters in use: the filters' values
#: are parameters (see _rows). Building a rule's statement cost more than running it (1.35 of
#: the 1.96 ms "held by a leaver" took for one account), and a page evaluates every rule.
_STATEMENTS: dict[tuple[Any, ...], sa.Select] = {}


def _rows(rule: str, filters: FindingFilters, build: Callable[[], sa.Select], **more: Any) -> sa.Result[Any]:
    """The rule's rows: its statement for the filters in use (from ``build`` the first time), run
    with the filters' values, and ``more``, as the parameters _base and ``build`` put in it."""
    key = (
        rule,
        bool(filters.department_id),
        bool(filters.platform_id),
        bool(filters.steward_id),
        bool(filters.account_id),
        filters.scoped,
    )
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    params = {
        "filter_department": filters.department_id,
        "filter_platform": filters.platform_id,
        "filter_steward": filters.steward_id,
        "filter_account": filters.account_id,
        "filter_accounts": sorted(filters.account_ids or ()),
    }
    return db.session.execute(stmt, params | more)


def _base(filters: FindingFilters, *columns: Any) -> sa.Select:
    """Live accounts with the columns every finding carries, narrowed in SQL by the filters in use
    (their values are parameters: see _rows)."""
    stmt = (
        sa.select(
            Account.id,
            Account.name,
            Platform.id,
            Platform.name,
            Department.id,
            Department.name,
            Steward.id,
            Steward.name,
            *columns,
        )
        .join(Platform, Account.platform_id == Platform.id)
        .outerjoin(Department, Account.department_id == Department.id)
        .outerjoin(Steward, Account.steward_id == Steward.id)
        .where(Account.status != AccountStatus.RETIRED)
    )
    if filters.department_id:
        stmt = stmt.where(Account.department_id == sa.bindparam("filter_department"))
    if filters.platform_id:
        stmt = stmt.where(Account.platform_id == sa.bindparam("filter_platform"))
    if filters.steward_id:
        stmt = stmt.where(Account.steward_id == sa.bindparam("filter_steward"))
    if filters.account_id:
        stmt = stmt.where(Account.id == sa.bindparam("filter_account"))
    if filters.scoped:
        stmt = stmt.where(Account.id.in_(sa.bindparam("filter_accounts", expanding=True)))
    return stmt


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _finding(rule_id: str, row: Any, detail: str, person: tuple[int | None, str | None] = (None, None), **kw: Any) -> Finding:
    account_id, account_name, platform_id, platform_name, department_id, department_name, steward_id, steward_name = row[:8]
    kw.setdefault("action_args", {"account_id": account_id})
    kw.setdefault("person_ids", (person[0],) if person[0] is not None else ())
    return Finding(
        rule=RULES[rule_id],
        subject_type=kw.pop("subject_type", "account"),
        subject_id=kw.pop("subject_id", account_id),
        account_id=account_id,
        account_name=account_name,
        platform_id=platform_id,
        platform_name=platform_name,
        department_id=department_id,
        department_name=department_name,
        steward_id=steward_id,
        steward_name=steward_name,
        detail=detail,
        person_id=person[0],
        person_name=person[1],
        **kw,
    )


def _profile_label(name: str, handle: str | None) -> str:
    """Profile.label, from columns."""
    return f"{name} ({handle})" if handle and handle != name else name


def _owner_personal(f: FindingFilters, context: dict[str, Any]) -> list[Finding]:
    owner, holder = _Owner, _OwnerHolder
    rows = _rows(
        "owner-personal",
        f,
        lambda: (
            _base(f, owner.name, holder.id, holder.name, owner.handle)
            .join(owner, Account.owner_profile_id == owner.id)
            .outerjoin(holder, owner.holder_id == holder.id)
            # Compared as text, not through the profiles' kind index: given a batch of accounts
            # (an export's 1,000), SQLite without statistics started from every personal profile
            # instead of from the accounts' ids (the export at 20,000 accounts: 7.5 s, now 2.3 s).
            .where(sa.cast(owner.kind, sa.String) == ProfileKind.PERSONAL.value)
        ),
    )
    return [
        _finding(
            "owner-personal",
            r,
            f"{_profile_label(r[8], r[11])} is the personal profile of {r[10] or 'an unrecorded person'} and holds the top role.",
            (r[9], r[10]),
        )
        for r in rows
    ]


def _held_by_leaver(f: FindingFilters, context: dict[str, Any]) -> list[Finding]:
    """Owner, admin, custodian or recovery contact tied to someone leaving or gone: one finding per account."""
    found: dict[int, tuple[Any, dict[tuple[int, str, str], list[str]]]] = {}
    for r in _rows("held-by-leaver", f, lambda: _held_by_leaver_statement(f)):
        row, people = found.setdefault(r[0], (r, {}))
        how = HELD_WAYS[r[11]]
        ways = people.setdefault((r[8], r[9], r[10].value), [])
        if how not in ways:
            ways.append(how)
    findings = []
    for row, people in found.values():
        parts = [f"{name} ({status}): {', '.join(ways)}" for (_, name, status), ways in people.items()]
        first_id, first_name, _ = next(iter(people))
        findings.append(
            _finding(
                "held-by-leaver",
                row,
                "; ".join(parts) + ".",
                (first_id, first_name),
                action_endpoint="people.detail",
                action_args={"person_id": first_id},
                person_ids=tuple(person_id for person_id, _, _ in people),
            )
        )
    return findings


#: The ways someone leaving or gone can hold an account, in the order a finding names them.
HELD_WAYS = ("owner profile", "admin role", "keeps a profile with a role", "keeps the owner profile", "recovery contact")


def _held_by_leaver_statement(f: FindingFilters) -> sa.Select:
    """One statement for the five ways (HELD_WAYS), each part saying which it is by its place."""
    profile, person, link = _LeaverProfile, _Leaver, _LeaverLink
    left = person.status.in_(LEFT)
    parts = (
        _base(f, person.id, person.name, person.status)
        .join(profile, Account.owner_profile_id == profile.id)
        .join(person, profile.holder_id == person.id)
        .where(left),
        _base(f, person.id, person.name, person.status)
        .join(AccountAdmin, AccountAdmin.account_id == Account.id)
        .join(profile, AccountAdmin.profile_id == profile.id)
        .join(person, profile.holder_id == person.id)
        .where(left),
        _base(f, person.id, person.name, person.status)
        .join(AccountAdmin, AccountAdmin.account_id == Account.id)
        .join(link, link.profile_id == AccountAdmin.profile_id)
        .join(person, link.person_id == person.id)
        .where(left),
        _base(f, person.id, person.name, person.status)
        .join(link, link.profile_id == Account.owner_profile_id)
        .join(person, link.person_id == person.id)
        .where(left),
        _base(f, person.id, person.name, person.status)
        .join(RecoveryContact, RecoveryContact.account_id == Account.id)
        .join(person, RecoveryContact.person_id == person.id)
        .where(left),
    )
    union = sa.union_all(
        *(part.add_columns(sa.literal(way, sa.Integer).label("way")) for way, part in enumerate(parts))
    ).subquery()
    account_id, person_id, person_name, way = union.c[0], union.c[8], union.c[9], union.c[11]
    # Ordered, so the person named first (and linked to) is the same on every backend and run:
    # by way, then by name.
    return sa.select(union).order_by(account_id, way, person_name, person_id)


def _active_admins(column: Any) -> Any:
    """``column`` aggregated over the admins whose profile is not the personal profile of someone leaving or gone."""
    profile, holder = _AdminProfile, _AdminHolder
    return (
        sa.select(column(profile))
        .select_from(AccountAdmin)
        .join(profile, AccountAdmin.profile_id == profile.id)
        .outerjoin(holder, profile.holder_id == holder.id)
        .where(AccountAdmin.account_id == Account.id, sa.or_(holder.id.is_(None), holder.status == PersonStatus.ACTIVE))
        .correlate(Account)
        .scalar_subquery()
    )


def _single_admin(f: FindingFilters, context: dict[str, Any]) -> list[Finding]:
    return [
        _finding(
            "single-admin",
            r,
            "No active admin is recorded." if r[8] == 0 else f"{r[9]} is the only active admin recorded.",
        )
        for r in _rows("single-admin", f, lambda: _single_admin_statement(f))
    ]


def _single_admin_statement(f: FindingFilters) -> sa.Select:
    count = _active_admins(lambda profile: sa.func.count(profile.id))
    # With fewer than two, the greatest name is the one admin's (when there is one).
    name = _active_admins(lambda profile: sa.func.max(profile.name))
    return _base(f, count, name).where(count < 2)


def _recovery_personal(f: FindingFilters, context: dict[str, Any]) -> list[Finding]:
    person = _Contact
    rows = _rows(
        "recovery-personal",
        f,
        lambda: (
            _base(f, RecoveryContact.kind, RecoveryContact.value, person.id, person.name)
            .join(RecoveryContact, RecoveryContact.account_id == Account.id)
            .join(person, RecoveryContact.person_id == person.id)
            .where(RecoveryContact.kind.in_([RecoveryKind.EMAIL, RecoveryKind.PHONE]))
            .order_by(RecoveryContact.id)
        ),
    )
    found: dict[int, tuple[Any, list[str], list[tuple[int, str]]]] = {}
    for r in rows:
        row, parts, people = found.setdefault(r[0], (r, [], []))
        parts.append(f"recovery {r[8].label.lower()} {r[9]} belongs to {r[11]}")
        if (r[10], r[11]) not in people:
            people.append((r[10], r[11]))
    return [
        _finding(
            "recovery-personal",
            row,
            _sentence("; ".join(parts)),
            people[0],
            action_endpoint="accounts.detail",
            person_ids=tuple(person_id for person_id, _ in people),
        )
        for row, parts, people in found.values()
    ]


def _recovery_missing(f: FindingFilters, context: dict[str, Any]) -> list[Finding]:
    rows = _rows(
        "recovery-missing",
        f,
        lambda: _base(f).where(~sa.select(RecoveryContact.id).where(RecoveryContact.account_id == Account.id).exists()),
    )
    return [
        _finding(
            "recovery-missing",
            r,
            "No recovery email, phone or backup-codes holder is recorded.",
            action_endpoint="accounts.detail",
        )
        for r in rows
    ]


def _credential_rules(f: FindingFilters, context: dict[str, Any]) -> list[Finding]:
    """must rotate → credential-leaver; overdue → credential-overdue (states from the vault's rules)."""
    from app.services import credentials

    if "credential_rows" not in context:
        scope = (f.account_ids or frozenset(), f.note_ids or frozenset()) if f.scoped else None
        if f.account_id:
            scope = (frozenset({f.account_id}), frozenset())
        context["credential_rows"] = credentials.states_for_findings(scope)
    findings = []
    for note, state, account_row in context["credential_rows"]:
        rule_id = {"must_rotate": "credential-leaver", "overdue": "credential-overdue"}.get(state.state.value)
        if rule_id is None:
            continue
        if account_row is not None and not _row_matches(account_row, f):
            continue
        if account_row is None and (
            f.department_id or f.steward_id or f.account_id or (f.platform_id and f.platform_id != note.profile.platform_id)
        ):
            continue
        row = account_row or (
            None,
            f"{note.profile.label} (profile)",
            note.profile.platform_id,
            note.profile.platform.name,
            None,
            None,
            None,
            None,
        )
        leavers = credentials.leavers_of(note) if rule_id == "credential-leaver" else []
        person = (leavers[0].id, leavers[0].name) if leavers else (None, None)
        findings.append(
            _finding(
                rule_id,
                row,
                f"“{note.label}”: {'; '.join(state.reasons)}.",
                person,
                subject_type="credential",
                subject_id=note.id,
                action_endpoint="credentials.rotate",
                action_args={"note_id": note.id},
                person_ids=tuple(p.id for p in leavers),
            )
        )
    return findings


def _row_matches(row: Any, f: FindingFilters) -> bool:
    return (
        (not f.department_id or row[4] == f.department_id)
        and (not f.platform_id or row[2] == f.platform_id)
        and (not f.steward_id or row[6] == f.steward_id)
        and (not f.account_id or row[0] == f.account_id)
    )


def _login_without_note(f: FindingFilters, context: dict[str, Any]) -> list[Finding]:
    rows = _rows(
        "login-without-note",
        f,
        lambda: _base(f).where(
            Account.has_own_login.is_(True),
            ~sa.select(CredentialNote.id).where(CredentialNote.account_id == Account.id).exists(),
        ),
    )
    return [
        _finding(
            "login-without-note",
            r,
            "It has its own login, and no credential note holds it.",
            action_endpoint="credentials.create",
            action_args={"account": r[0]},
        )
        for r in rows
    ]


def _no_steward(f: FindingFilters, context: dict[str, Any]) -> list[Finding]:
    rows = _rows(
        "no-steward",
        f,
        lambda: _base(f, Steward.status).where(sa.or_(Account.steward_id.is_(None), Steward.status != PersonStatus.ACTIVE)),
    )
    return [
        _finding(
            "no-steward",
            r,
            "No steward is recorded." if r[6] is None else f"The steward, {r[7]}, is {r[8].value}.",
            (r[6], r[7]),
        )
        for r in rows
    ]


def _shared_password(f: FindingFilters, context: dict[str, Any]) -> list[Finding]:
    return [
        _finding(
            "shared-password",
            r,
            f"{r[3]} can give each person their own role, but the shared login {min(n for n in r[8:10] if n is not None)} holds one here.",
            action_endpoint="accounts.detail",
        )
        for r in _rows("shared-password", f, lambda: _shared_password_statement(f))
    ]


def _shared_password_statement(f: FindingFilters) -> sa.Select:
    shared = _SharedLogin
    # The shared login holding the top role, and the first (by name) holding an admin role; the
    # finding names the first of the two. Two indexed lookups per account, not an IN over its roles.
    owner_login = (
        sa.select(shared.name)
        .where(shared.id == Account.owner_profile_id, shared.kind == ProfileKind.SHARED_LOGIN)
        .correlate(Account)
        .scalar_subquery()
    )
    admin_login = (
        sa.select(sa.func.min(shared.name))
        .select_from(AccountAdmin)
        .join(shared, AccountAdmin.profile_id == shared.id)
        .where(AccountAdmin.account_id == Account.id, shared.kind == ProfileKind.SHARED_LOGIN)
        .correlate(Account)
        .scalar_subquery()
    )
    return _base(f, owner_login, admin_login).where(
        Platform.delegated_access.is_(True), sa.or_(owner_login.is_not(None), admin_login.is_not(None))
    )


def _not_reviewed(f: FindingFilters, context: dict[str, Any]) -> list[Finding]:
    cutoff = utcnow() - timedelta(days=context["review_interval_days"])
    rows = _rows(
        "not-reviewed",
        f,
        lambda: _base(f, Account.last_reviewed_at).where(
            sa.or_(Account.last_reviewed_at.is_(None), Account.last_reviewed_at < sa.bindparam("cutoff"))
        ),
        cutoff=cutoff,
    )
    return [
        _finding(
            "not-reviewed",
            r,
            "Never reviewed." if r[8] is None else f"Last reviewed on {r[8]:%d %b %Y}.",
            action_endpoint="accounts.detail",
        )
        for r in rows
    ]


#: rule id → the query that finds it. The two credential rules share one evaluation.
EVALUATORS: dict[str, Callable[[FindingFilters, dict[str, Any]], list[Finding]]] = {
    "owner-personal": _owner_personal,
    "held-by-leaver": _held_by_leaver,
    "single-admin": _single_admin,
    "recovery-personal": _recovery_personal,
    "recovery-missing": _recovery_missing,
    "credential-leaver": _credential_rules,
    "credential-overdue": _credential_rules,
    "login-without-note": _login_without_note,
    "no-steward": _no_steward,
    "shared-password": _shared_password,
    "not-reviewed": _not_reviewed,
}


#: Up to this many findings, their acceptances are looked up by subject; more, and every current
#: acceptance is read (what a whole-registry evaluation needs anyway).
ACCEPTANCE_LOOKUP = 1_000


def _acceptances(today: date, subject_ids: set[int] | None = None) -> dict[tuple[str, str, int], Acceptance]:
    """The current acceptances, of these subjects only when given: a page about a few findings
    does not read every acceptance in the organisation."""
    stmt = sa.select(FindingAcceptance).where(FindingAcceptance.expires_on >= today)
    if subject_ids is not None:
        stmt = stmt.where(FindingAcceptance.subject_id.in_(sorted(subject_ids)))
    rows = db.session.scalars(stmt)
    return {(a.rule_id, a.subject_type, a.subject_id): Acceptance(a.accepted_by_name, a.reason, a.expires_on) for a in rows}


def evaluate(filters: FindingFilters | None = None, review_interval_days: int = 365, today: date | None = None) -> list[Finding]:
    """Every finding matching the filters, most severe first. A fixed number of queries whatever the registry's size."""
    filters = filters or FindingFilters()
    current = not filters.scoped and filters.rule_ids is None and today in (None, date.today())
    if filters.person_id and not filters.account_id and current:
        # Only the accounts, notes and rules the index says concern the person: their footprint,
        # not the registry, and a statement for each rule they have findings of, not for every rule.
        ensure_current(review_interval_days)
        rows = db.session.execute(
            sa.union_all(
                sa.select(
                    IndexedFindingPerson.rule_id,
                    IndexedFindingPerson.account_id,
                    IndexedFindingPerson.subject_type,
                    IndexedFindingPerson.subject_id,
                ).where(IndexedFindingPerson.person_id == filters.person_id),
                sa.select(
                    IndexedFinding.rule_id, IndexedFinding.account_id, IndexedFinding.subject_type, IndexedFinding.subject_id
                ).where(IndexedFinding.steward_id == filters.person_id),
            )
        ).all()
        filters = dataclasses.replace(
            filters,
            account_ids=frozenset(r.account_id for r in rows if r.account_id is not None),
            note_ids=frozenset(r.subject_id for r in rows if r.subject_type == "credential"),
            rule_ids=frozenset(r.rule_id for r in rows),
        )
    elif filters.account_id and current:
        # One account's page: only the rules the index holds findings of for it are evaluated.
        ensure_current(review_interval_days)
        filters = dataclasses.replace(
            filters,
            rule_ids=frozenset(
                db.session.scalars(sa.select(IndexedFinding.rule_id).where(IndexedFinding.account_id == filters.account_id))
            ),
        )
    today = today or date.today()
    context: dict[str, Any] = {"review_interval_days": review_interval_days}
    findings: list[Finding] = []
    # Each once, in the rules' order (the two credential rules share one).
    evaluators = dict.fromkeys(
        evaluator
        for rule_id, evaluator in EVALUATORS.items()
        if not (filters.rule_id and rule_id != filters.rule_id)
        and not (filters.rule_ids is not None and rule_id not in filters.rule_ids)
        and not (filters.severity and RULES[rule_id].severity is not filters.severity)
    )
    # A few accounts' findings (a page's rows, one account, an export's batch): each rule's
    # statement starts from those accounts, as written, and PostgreSQL plans it so: weighing its
    # every join order took longer than running it ("held by a leaver": 3.3-4.4 ms to plan, 0.3-1.1
    # to run; as written 1.6-1.9 to plan). Set even when no rule runs (an account without findings),
    # so a page sends the same statements whatever the account holds.
    few = filters.scoped or bool(filters.account_id)
    with joins_as_written(db.session) if few else nullcontext():
        for evaluator in evaluators:
            findings.extend(evaluator(filters, context))
    if filters.rule_id:
        findings = [x for x in findings if x.rule.id == filters.rule_id]
    if filters.severity:
        findings = [x for x in findings if x.severity is filters.severity]
    if filters.person_id:
        findings = [x for x in findings if filters.person_id in (x.person_id, x.steward_id, *x.person_ids)]
    accepted = _acceptances(today, {x.subject_id for x in findings} if len(findings) <= ACCEPTANCE_LOOKUP else None)
    for finding in findings:
        finding.accepted = accepted.get(finding.key)
    if filters.show == "open":
        findings = [x for x in findings if x.accepted is None]
    elif filters.show == "accepted":
        findings = [x for x in findings if x.accepted is not None]
    findings.sort(key=lambda x: (x.severity.rank, finding_sql.sort_name(x.account_name), x.rule.id, x.subject_id))
    return findings


def visible_filters(actor: Actor, filters: FindingFilters) -> FindingFilters:
    """Staff see only the findings of accounts they steward."""
    permissions.require(permissions.can_read_registry(actor) or actor.has_role(Role.STAFF), "Your role cannot see findings.")
    if not permissions.can_read_registry(actor):
        filters.steward_id = actor.person_id or -1
    return filters


def list_findings(
    actor: Actor, filters: FindingFilters, page: int = 1, per_page: int = 25, review_interval_days: int = 365
) -> tuple[Page[Finding], Summary]:
    """One page of findings and the summary of all that match (from the same index: counts agree).

    Filters, counts and the page are SQL over the index; the sentences are evaluated for the
    page's rows only. Unfiltered, the summary is the kept counts.
    """
    filters = visible_filters(actor, filters)
    summary = indexed_summary(filters, review_interval_days)
    total = summary.total + summary.accepted
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    return Page(
        items=indexed_page(filters, (page - 1) * per_page, per_page, review_interval_days, total=total),
        total=total,
        page=page,
        per_page=per_page,
    ), summary


def indexed_summary(filters: FindingFilters, review_interval_days: int = 365) -> Summary:
    """The summary of the findings that match ``filters`` (already limited to what the actor may
    see), from the index; unfiltered, or of one platform (with a rule or severity or not), the
    kept counts (without departments: the lists show severities, not departments)."""
    ensure_current(review_interval_days)
    if _platform_alone(filters):
        return _kept_platform_summary(filters)
    if filters.platform_id or filters.steward_id or filters.person_id or filters.account_id:
        where = _index_where(filters)
        return _summary_from_counts(_index_counts(sa.and_(*where)).by_department, filters.show)
    if filters.rule_id or filters.severity or filters.department_id:
        # What the kept counts hold (rule, department, acceptance): a rule's or a department's
        # summary added up from them, not by counting its findings (a rule with 150,000: 103 ms).
        return _summary_from_counts(_kept_counts(filters), filters.show)
    return _kept_summary(filters.show, departments=False)


def _index_where(filters: FindingFilters) -> list[Any]:
    where: list[Any] = []
    if filters.rule_id:
        where.append(IndexedFinding.rule_id == filters.rule_id)
    if filters.severity:
        where.append(IndexedFinding.severity_rank == filters.severity.rank)
    if filters.department_id:
        where.append(IndexedFinding.department_id == filters.department_id)
    if filters.platform_id:
        where.append(IndexedFinding.platform_id == filters.platform_id)
    if filters.steward_id:
        where.append(IndexedFinding.steward_id == filters.steward_id)
    if filters.account_id:
        where.append(IndexedFinding.account_id == filters.account_id)
    if filters.person_id:
        # The findings the person stewards or is named in, found from the person's side (two index
        # lookups), not by testing every finding of the index (355 ms at 420,000 findings).
        concerned = sa.union(
            sa.select(_Concerned.id).where(_Concerned.steward_id == filters.person_id),
            sa.select(_Concerned.id)
            .join(
                IndexedFindingPerson,
                sa.and_(
                    IndexedFindingPerson.rule_id == _Concerned.rule_id,
                    IndexedFindingPerson.subject_type == _Concerned.subject_type,
                    IndexedFindingPerson.subject_id == _Concerned.subject_id,
                ),
            )
            .where(IndexedFindingPerson.person_id == filters.person_id),
        )
        where.append(IndexedFinding.id.in_(concerned))
    if filters.show == "open":
        where.append(IndexedFinding.accepted.is_(False))
    elif filters.show == "accepted":
        where.append(IndexedFinding.accepted.is_(True))
    return where


def _platform_alone(filters: FindingFilters) -> bool:
    """Whether ``filters`` select one platform's findings, with a rule or a severity or neither:
    what the kept counts by platform hold."""
    return bool(filters.platform_id) and not (
        filters.department_id or filters.steward_id or filters.person_id or filters.account_id or filters.scoped
    )


def _kept_platform_summary(filters: FindingFilters) -> Summary:
    """The summary of one platform's findings (of ``filters``' rule or severity, when given) from
    the counts kept by platform: a few rows, however many findings it has."""
    counts = _kept_platform_counts(filters)
    by_rule, accepted = _open_and_accepted((rule_id, is_accepted, n) for (_, rule_id, is_accepted), n in counts.items())
    return _summary(by_rule, Counter(), accepted, filters.show, {})


def _open_and_accepted(rows: Iterable[tuple[str, bool, int]]) -> tuple[Counter[str], int]:
    """From (rule, accepted, how many) rows: the open findings by rule, and how many are accepted."""
    by_rule: Counter[str] = Counter()
    accepted = 0
    for rule_id, is_accepted, n in rows:
        if is_accepted:
            accepted += n
        else:
            by_rule[rule_id] += n
    return by_rule, accepted


#: How many findings the index holds, and how many of them are open: added up from the counts by
#: platform, fewer rows than by department (131 against 6,600 at 200,000 accounts).
_ALL_FOUND = sa.select(sa.func.coalesce(sa.func.sum(FindingPlatformCount.n), 0))
_OPEN_FOUND = _ALL_FOUND.where(FindingPlatformCount.accepted.is_(False))


def _read_in_order(filters: FindingFilters, rows: int, found: int) -> bool:
    """Whether the first ``rows`` of one platform's ``found`` findings (open, or all) are read
    sooner by walking the list's order index and skipping other platforms' than by reading the
    platform's every finding and sorting them. Walking reads about rows × (all findings / found)
    entries, sorting ``found``: at 200,000 accounts a platform's first page 0.1 ms against 13."""
    if not _platform_alone(filters) or filters.rule_id or filters.severity or filters.show == "accepted" or not found:
        return False
    every = db.session.scalar(_OPEN_FOUND if filters.show == "open" else _ALL_FOUND) or 0
    return rows * every < found * found


#: The list's order, as the index keeps it ((rule, subject) is unique: one subject type a rule).
_INDEX_ORDER = (IndexedFinding.severity_rank, IndexedFinding.sort_name, IndexedFinding.rule_id, IndexedFinding.subject_id)
_INDEX_ROW = sa.select(
    IndexedFinding.rule_id, IndexedFinding.subject_type, IndexedFinding.subject_id, IndexedFinding.account_id, *_INDEX_ORDER
)


def indexed_page(
    filters: FindingFilters, offset: int, limit: int, review_interval_days: int, total: int | None = None
) -> list[Finding]:
    """``limit`` findings from ``offset`` in the list's order, evaluated in full for those rows only.

    Given ``total`` (how many match), a page nearer the end than the start is read from the end,
    in the reverse order, so that it skips only the rows after it: the last of 16,876 pages at
    421,872 findings skipped every row before it (19.7 ms of SQL); from the end, none (0.01 ms).
    The order is total ((rule, subject) is unique), so either way gives the same rows.
    """
    backwards = from_the_end(offset, limit, total) if total is not None else None
    where = _index_where(filters)
    if total is not None and _read_in_order(filters, sum(backwards or (offset, limit)), total):
        # "+ 0": not the platform's own index, so the database walks the order's.
        where = [
            IndexedFinding.platform_id + 0 == filters.platform_id,
            *_index_where(dataclasses.replace(filters, platform_id=None)),
        ]
    stmt = _INDEX_ROW.where(*where)
    order = _INDEX_ORDER
    if total is not None and total <= COUNT_LIMIT and where:
        # Few match: found through their filters' index and sorted, not by walking the list's order.
        order = (sorted_after_filtering(db.session, order[0]), *order[1:])
    if backwards is not None:
        reversed_order = stmt.order_by(*(column.desc() for column in order))
        rows = db.session.execute(reversed_order.offset(backwards[0]).limit(backwards[1])).all()[::-1]
    else:
        rows = db.session.execute(stmt.order_by(*order).offset(offset).limit(limit)).all()
    return _evaluated(rows, filters, review_interval_days)


#: Findings evaluated at a time by an export: the acceptances of a batch are still looked up by subject.
EXPORT_BATCH = ACCEPTANCE_LOOKUP
#: At most this many findings in one file (80,000 took 8.8 s at 200,000 accounts, inside a
#: worker's 30 s timeout); more, and the user narrows the list first (or pages through the API).
EXPORT_LIMIT = 100_000


@dataclass
class Export:
    #: How many findings match (from the index).
    count: int
    #: The findings, in the list's order, a batch at a time; not read until iterated.
    batches: Iterator[list[Finding]]

    @property
    def too_large(self) -> bool:
        return self.count > EXPORT_LIMIT


def exported(actor: Actor, filters: FindingFilters, review_interval_days: int = 365, batch_size: int | None = None) -> Export:
    """Every finding that matches ``filters``, in the list's order, a batch at a time.

    The index gives each batch's rows (read on from where the last batch ended, through its order
    index), and only those are evaluated: memory stays that of one batch, and a credential note
    without a finding is never looked at. Evaluating the whole registry at once took 31 s and
    1.6 GB at 200,000 accounts (420,000 findings).
    """
    filters = visible_filters(actor, filters)  # refused here, before a response starts
    summary = indexed_summary(filters, review_interval_days)
    return Export(summary.total + summary.accepted, _batches(filters, review_interval_days, batch_size or EXPORT_BATCH))


def _batches(filters: FindingFilters, review_interval_days: int, batch_size: int) -> Iterator[list[Finding]]:
    where = _index_where(filters)
    last: tuple[Any, ...] | None = None
    while True:
        stmt = _INDEX_ROW.where(*where)
        if last is not None:
            after = (sa.literal(value, column.type) for value, column in zip(last, _INDEX_ORDER, strict=True))
            stmt = stmt.where(sa.tuple_(*_INDEX_ORDER) > sa.tuple_(*after))
        rows = db.session.execute(stmt.order_by(*_INDEX_ORDER).limit(batch_size)).all()
        if not rows:
            return
        # Apart, so that the credential rules read the batch's notes only, not every note of its accounts.
        notes = [r for r in rows if r.subject_type == "credential"]
        accounts = [r for r in rows if r.subject_type != "credential"]
        by_key = _evaluated_by_key(accounts, filters, review_interval_days) | _evaluated_by_key(
            notes, filters, review_interval_days
        )
        yield _in_order(rows, by_key)
        if len(rows) < batch_size:
            return
        last = tuple(rows[-1])[4:]


def _evaluated(rows: Sequence[Any], filters: FindingFilters, review_interval_days: int) -> list[Finding]:
    """The findings of these index rows, evaluated in full for their accounts and notes only, in the rows' order."""
    return _in_order(rows, _evaluated_by_key(rows, filters, review_interval_days))


def _in_order(rows: Sequence[Any], by_key: dict[tuple[str, str, int], Finding]) -> list[Finding]:
    return [by_key[key] for key in ((r.rule_id, r.subject_type, r.subject_id) for r in rows) if key in by_key]


def _evaluated_by_key(
    rows: Sequence[Any], filters: FindingFilters, review_interval_days: int
) -> dict[tuple[str, str, int], Finding]:
    if not rows:
        return {}
    scope = FindingFilters(
        show="all",
        rule_id=filters.rule_id,
        severity=filters.severity,
        # A credential finding's account is not evaluated: its note is.
        account_ids=frozenset(r.account_id for r in rows if r.subject_type == "account"),
        note_ids=frozenset(r.subject_id for r in rows if r.subject_type == "credential"),
        rule_ids=frozenset(r.rule_id for r in rows),
    )
    return {x.key: x for x in evaluate(scope, review_interval_days)}


def _kept_counts(filters: FindingFilters | None = None) -> Counter[tuple[str, int, bool]]:
    """The kept counts by (rule, department or 0, accepted), those of ``filters``' rule, severity
    and department only when given."""
    # Plain rows, not objects: one per rule, department and acceptance (6,600 at 300 departments).
    stmt = sa.select(FindingCount.rule_id, FindingCount.department_key, FindingCount.accepted, FindingCount.n).where(
        FindingCount.n != 0
    )
    filters = filters or FindingFilters()
    stmt = stmt.where(*_rule_conditions(FindingCount.rule_id, filters))
    if filters.department_id:
        stmt = stmt.where(FindingCount.department_key == filters.department_id)
    return Counter({(rule_id, department, bool(accepted)): n for rule_id, department, accepted, n in db.session.execute(stmt)})


def _rule_conditions(rule_id: Any, filters: FindingFilters) -> list[Any]:
    """``filters``' rule and severity as conditions on a ``rule_id`` column."""
    conditions = []
    if filters.rule_id:
        conditions.append(rule_id == filters.rule_id)
    if filters.severity:
        conditions.append(rule_id.in_(sorted(r.id for r in RULES.values() if r.severity is filters.severity)))
    return conditions


def _kept_platform_counts(filters: FindingFilters | None = None) -> Counter[tuple[int, str, bool]]:
    """The kept counts by (platform, rule, accepted): every platform's, or those of ``filters``'
    platform, rule and severity when given."""
    stmt = sa.select(
        FindingPlatformCount.platform_id, FindingPlatformCount.rule_id, FindingPlatformCount.accepted, FindingPlatformCount.n
    ).where(FindingPlatformCount.n != 0)
    if filters is not None:
        stmt = stmt.where(FindingPlatformCount.platform_id == filters.platform_id)
        stmt = stmt.where(*_rule_conditions(FindingPlatformCount.rule_id, filters))
    return Counter({(platform_id, rule_id, bool(accepted)): n for platform_id, rule_id, accepted, n in db.session.execute(stmt)})


def _summary_from_counts(counts: Counter[tuple[str, int, bool]], show: str = "all") -> Summary:
    """The summary of the findings counted by (rule, department or 0, accepted), as ``show`` lists them."""
    by_rule: Counter[str] = Counter()
    by_department: Counter[int] = Counter()
    accepted = 0
    for (rule_id, department_key, is_accepted), n in counts.items():
        if is_accepted:
            accepted += n
        else:
            by_rule[rule_id] += n
            by_department[department_key] += n
    return _summary(by_rule, by_department, accepted, show)


_KEPT_TOTAL = sa.func.sum(FindingCount.n)
#: The kept counts added up by rule and acceptance, in the index's order.
_KEPT_BY_RULE = sa.select(FindingCount.rule_id, FindingCount.accepted, _KEPT_TOTAL).group_by(
    FindingCount.rule_id, FindingCount.accepted
)
# The open ones added up by department first (in the index's order), then named: grouping by the
# name as well would sort every row.
_OPEN_BY_DEPARTMENT = (
    sa.select(FindingCount.department_key.label("key"), _KEPT_TOTAL.label("n"))
    .where(FindingCount.accepted.is_(False))
    .group_by(FindingCount.department_key)
    .having(_KEPT_TOTAL != 0)
    .subquery()
)
_KEPT_BY_DEPARTMENT = sa.select(_OPEN_BY_DEPARTMENT.c.key, Department.name, _OPEN_BY_DEPARTMENT.c.n).outerjoin(
    Department, Department.id == _OPEN_BY_DEPARTMENT.c.key
)


#: The departments with most open findings first (then by name, no department last), each with
#: how many departments have any: only the first ``top`` rows come back.
_TOP_DEPARTMENTS = (
    _KEPT_BY_DEPARTMENT.add_columns(sa.func.count().over().label("departments"))
    .order_by(_OPEN_BY_DEPARTMENT.c.n.desc(), _OPEN_BY_DEPARTMENT.c.key == 0, sa.func.lower(Department.name))
    .limit(sa.bindparam("top"))
)


def _kept_summary(show: str = "all", departments: bool = True, top: int | None = None) -> Summary:
    """The organisation's summary from the kept counts, added up by the database: one row per
    rule and one per department come back, not one per rule and department (6,600 at 300).
    Without ``departments`` (a page that shows none) by_department is left empty: adding them up
    grows with the departments (0.56 of the 0.94 ms at 300). With ``top``, only the ``top``
    departments with most open findings come back, and more_departments counts the others (the
    dashboard draws twelve: reading 301 and sorting them in Python took 1.24 ms at 20,000 people;
    this way, 0.98)."""
    by_rule, accepted = _open_and_accepted(db.session.execute(_KEPT_BY_RULE))
    by_department: Counter[int] = Counter()
    names: dict[int, str] = {}
    if top is not None:
        rows = db.session.execute(_TOP_DEPARTMENTS, {"top": top}).all()
    else:
        rows = db.session.execute(_KEPT_BY_DEPARTMENT).all() if departments else []
    for key, name, n, *_ in rows:
        by_department[key] = n
        if name is not None:
            names[key] = name
    summary = _summary(by_rule, by_department, accepted, show, names)
    if top is not None and rows:
        summary.more_departments = (rows[0].departments - len(rows), summary.total - sum(by_department.values()))
    return summary


def _summary(
    by_rule: Counter[str], by_department_count: Counter[int], accepted: int, show: str, names: dict[int, str] | None = None
) -> Summary:
    """Open counts by rule and by department (0 for none), and the accepted total, as ``show`` lists
    them. The departments' ``names`` are read when not given."""
    if show == "accepted":
        by_rule, by_department_count = Counter(), Counter()
    if show == "open":
        accepted = 0
    by_rule = Counter({rule_id: n for rule_id, n in by_rule.items() if n})
    by_department_count = Counter({key: n for key, n in by_department_count.items() if n})
    if names is None:
        keys = sorted(k for k in by_department_count if k)
        names = dict(db.session.execute(sa.select(Department.id, Department.name).where(Department.id.in_(keys))).all())
    by_department: dict[int | None, tuple[str, int]] = {
        (key or None): (names.get(key, "No department") if key else "No department", n) for key, n in by_department_count.items()
    }
    return Summary(
        total=sum(by_rule.values()),
        by_severity={s: sum(n for r, n in by_rule.items() if RULES[r].severity is s) for s in Severity},
        by_rule=dict(by_rule),
        by_department=by_department,
        accepted=accepted,
    )


def rule_total(rule_id: str, review_interval_days: int) -> int:
    """How many findings of one rule there are now, accepted or not: from the kept counts."""
    ensure_current(review_interval_days)
    return db.session.scalar(sa.select(sa.func.sum(FindingCount.n)).where(FindingCount.rule_id == rule_id)) or 0


def organisation_summary(review_interval_days: int, top_departments: int | None = None) -> Summary:
    """Open and accepted findings of the whole organisation, from the kept counts (by department,
    the ``top_departments`` with most open findings only, when given)."""
    ensure_current(review_interval_days)
    return _kept_summary(top=top_departments)


def summarize(findings: Iterable[Finding]) -> Summary:
    items = list(findings)
    open_items = [x for x in items if x.accepted is None]
    by_department: dict[int | None, tuple[str, int]] = {}
    for x in open_items:
        name, count = by_department.get(x.department_id, (x.department_name or "No department", 0))
        by_department[x.department_id] = (name, count + 1)
    return Summary(
        total=len(open_items),
        by_severity={s: sum(1 for x in open_items if x.severity is s) for s in Severity},
        by_rule=dict(Counter(x.rule.id for x in open_items)),
        by_department=by_department,
        accepted=len(items) - len(open_items),
    )


# --- Risk acceptance ----------------------------------------------------------------------


def accept_finding(
    actor: Actor, rule_id: str, subject_type: str, subject_id: int, reason: str, expires_on: date, review_interval_days: int = 365
) -> FindingAcceptance:
    """A director (or admin) accepts the risk of one current finding until ``expires_on``.

    Raises PermissionDenied, NotFound (no such finding now) or ValidationFailed.
    """
    permissions.require(actor.has_role(Role.DIRECTOR, Role.ADMIN), "Only a director or an admin can accept a risk.")
    errors: dict[str, list[str]] = {}
    if len(reason.strip()) < 5:
        errors["reason"] = ["Say why the organisation accepts this risk."]
    if expires_on <= date.today():
        errors["expires_on"] = ["Choose a date in the future: acceptance always runs out, so the risk is looked at again."]
    elif expires_on > date.today() + timedelta(days=730):
        errors["expires_on"] = ["Accept a risk for at most two years."]
    if errors:
        raise ValidationFailed("The risk was not accepted; nothing was saved.", errors)
    rule = RULES.get(rule_id)
    current = (
        [
            x
            for x in evaluate(FindingFilters(rule_id=rule_id, show="all"), review_interval_days)
            if x.subject_type == subject_type and x.subject_id == subject_id
        ]
        if rule
        else []
    )
    if not current:
        raise NotFound("That finding no longer applies; there is nothing to accept.")
    acceptance = db.session.scalar(
        sa.select(FindingAcceptance).where(
            FindingAcceptance.rule_id == rule_id,
            FindingAcceptance.subject_type == subject_type,
            FindingAcceptance.subject_id == subject_id,
        )
    )
    # Accepting again (to extend, or after expiry) replaces the one row: the event keeps what it replaced.
    before = _acceptance_snapshot(acceptance) if acceptance is not None else None
    acceptance = acceptance or FindingAcceptance(rule_id=rule_id, subject_type=subject_type, subject_id=subject_id)
    acceptance.accepted_by_id, acceptance.accepted_by_name = actor.user_id, actor.name
    acceptance.reason, acceptance.expires_on = reason.strip(), expires_on
    db.session.add(acceptance)
    db.session.flush()
    audit.record_event(
        actor,
        "finding.accept",
        subject_type,
        subject_id,
        f"Accepted the risk “{rule.title}” on {current[0].account_name} until {expires_on:%d %b %Y}: {reason.strip()}",
        before,
        {"rule": rule_id, "expires_on": expires_on.isoformat(), "reason": reason.strip()},
    )
    return acceptance


def _acceptance_snapshot(acceptance: FindingAcceptance) -> dict[str, Any]:
    return {
        "rule": acceptance.rule_id,
        "expires_on": acceptance.expires_on.isoformat(),
        "reason": acceptance.reason,
        "accepted_by": acceptance.accepted_by_name,
    }


def withdraw_acceptance(actor: Actor, rule_id: str, subject_type: str, subject_id: int) -> None:
    """End a risk acceptance early: the finding is open again."""
    permissions.require(actor.has_role(Role.DIRECTOR, Role.ADMIN), "Only a director or an admin can withdraw a risk acceptance.")
    acceptance = db.session.scalar(
        sa.select(FindingAcceptance).where(
            FindingAcceptance.rule_id == rule_id,
            FindingAcceptance.subject_type == subject_type,
            FindingAcceptance.subject_id == subject_id,
        )
    )
    if acceptance is None:
        raise NotFound("That risk is not accepted.")
    before = _acceptance_snapshot(acceptance)
    db.session.delete(acceptance)
    db.session.flush()
    rule = RULES.get(rule_id)
    audit.record_event(
        actor,
        "finding.withdraw",
        subject_type,
        subject_id,
        f"Withdrew the acceptance of “{rule.title if rule else rule_id}”",
        before,
        None,
    )


# --- Daily counts for the trend -----------------------------------------------------------


def record_snapshot(
    today: date | None = None, review_interval_days: int = 365, summary: Summary | None = None
) -> FindingSnapshot:
    """Count today's open findings (once a day; a second call the same day refreshes the counts).

    ``summary`` is the organisation-wide summary when the caller has just evaluated it (the
    dashboard), so the rules are not run twice.
    """
    today = today or date.today()
    summary = summary or summarize(evaluate(FindingFilters(), review_interval_days, today))
    snapshot = db.session.scalar(sa.select(FindingSnapshot).where(FindingSnapshot.taken_on == today)) or FindingSnapshot(
        taken_on=today
    )
    snapshot.total = summary.total
    snapshot.by_severity = {s.value: n for s, n in summary.by_severity.items()}
    snapshot.by_rule = summary.by_rule
    snapshot.by_department = {str(k) if k is not None else "none": n for k, (_, n) in summary.by_department.items()}
    db.session.add(snapshot)
    db.session.flush()
    return snapshot


def trend(days: int = 90, today: date | None = None) -> list[FindingSnapshot]:
    today = today or date.today()
    since = today - timedelta(days=days)
    return list(
        db.session.scalars(
            sa.select(FindingSnapshot)
            .where(FindingSnapshot.taken_on >= since, FindingSnapshot.taken_on <= today)
            .order_by(FindingSnapshot.taken_on)
        )
    )


# --- The index: findings kept for lists, counts and paging --------------------------------
#
# ``evaluate`` derives findings from the registry; the index keeps the current ones (a lean row
# each) so a page can filter, count and page in SQL and evaluate the details of the rows it
# shows only. Every change that can raise or clear a finding marks what it touched (session
# events below), and the same transaction refreshes those accounts and notes before it commits.
# Rules that depend on the day (overdue, not reviewed, expired acceptances) make the index
# current for one day: `flask handover tick` rebuilds it nightly, and a read on a later day
# rebuilds it first.

#: The rules whose subject is a credential note.
CREDENTIAL_RULES = ("credential-leaver", "credential-overdue")
#: A change touching more than this many accounts and notes rebuilds the index instead.
REBUILD_ABOVE = 2000
#: Insert this many rows per statement.
BATCH = 5000
#: How much one open finding adds to its account's risk score.
WEIGHTS: dict[Severity, int] = {Severity.CRITICAL: 8, Severity.HIGH: 4, Severity.MEDIUM: 2, Severity.LOW: 1}


def _index_rows(items: list[Finding]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, people = [], []
    for x in items:
        key = {"rule_id": x.rule.id, "subject_type": x.subject_type, "subject_id": x.subject_id}
        rows.append(
            {
                **key,
                "severity_rank": x.severity.rank,
                "account_id": x.account_id,
                "platform_id": x.platform_id,
                "department_id": x.department_id,
                "steward_id": x.steward_id,
                "sort_name": finding_sql.sort_name(x.account_name),
                "accepted": x.accepted is not None,
            }
        )
        # Who the rule names; the steward is the row's own column.
        for person_id in dict.fromkeys(p for p in (x.person_id, *x.person_ids) if p is not None):
            people.append({**key, "person_id": person_id, "account_id": x.account_id})
    return rows, people


def _insert(model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        db.session.execute(sa.insert(model), rows[start : start + BATCH])


def _in_scope(model: Any, account_ids: Iterable[int], note_ids: Iterable[int]) -> Any:
    accounts, notes = sorted(account_ids), sorted(note_ids)
    return sa.or_(
        model.account_id.in_(accounts) if accounts else sa.false(),
        # With the credential rules named, the finding index's unique key serves it.
        sa.and_(model.rule_id.in_(CREDENTIAL_RULES), model.subject_type == "credential", model.subject_id.in_(notes))
        if notes
        else sa.false(),
    )


_DEPARTMENT_KEY = sa.func.coalesce(IndexedFinding.department_id, sa.literal_column("0"))


@dataclass
class _IndexCounts:
    """The index's findings counted as the kept counts hold them: by (rule, department or 0,
    accepted), and by (platform, rule, accepted)."""

    by_department: Counter[tuple[str, int, bool]]
    by_platform: Counter[tuple[int, str, bool]]


def _index_counts(where: Any) -> _IndexCounts:
    """The findings ``where`` selects counted both ways, in one pass over them."""
    stmt = (
        sa.select(IndexedFinding.rule_id, _DEPARTMENT_KEY, IndexedFinding.platform_id, IndexedFinding.accepted, sa.func.count())
        .where(where)
        .group_by(IndexedFinding.rule_id, _DEPARTMENT_KEY, IndexedFinding.platform_id, IndexedFinding.accepted)
    )
    counts = _IndexCounts(Counter(), Counter())
    for rule_id, department_key, platform_id, accepted, n in db.session.execute(stmt):
        counts.by_department[rule_id, department_key, bool(accepted)] += n
        counts.by_platform[platform_id, rule_id, bool(accepted)] += n
    return counts


def _scores(where: Any) -> sa.Select:
    """Each account's weighted count of open findings, for the accounts ``where`` selects."""
    weight = sa.case(*((IndexedFinding.severity_rank == severity.rank, w) for severity, w in WEIGHTS.items()), else_=0)
    critical = sa.case((IndexedFinding.severity_rank == Severity.CRITICAL.rank, 1), else_=0)
    return (
        sa.select(IndexedFinding.account_id, sa.func.sum(weight), sa.func.sum(critical))
        .where(where, IndexedFinding.account_id.is_not(None), IndexedFinding.accepted.is_(False))
        .group_by(IndexedFinding.account_id)
    )


def _lock() -> None:
    """One rebuild or refresh at a time: two transactions would insert the same finding twice.
    PostgreSQL: an advisory lock. SQLite: the database's write lock, taken now by a write that
    changes nothing; that also opens the transaction, which the driver otherwise opens only before
    INSERT, UPDATE or DELETE, so a rebuild's DROP INDEX statements are part of it and a rollback
    undoes them too. Either is held until commit or rollback."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(4243)"))
    else:
        db.session.execute(sa.update(FindingIndexState).values(computed_on=FindingIndexState.computed_on))


def rebuild(review_interval_days: int, today: date | None = None) -> FindingIndexState:
    """Replace the index with every rule evaluated over the whole registry, inside the database
    (``finding_sql``: one INSERT … SELECT per rule)."""
    today, now = today or date.today(), utcnow()
    _lock()
    ranks = {rule_id: rule.severity.rank for rule_id, rule in RULES.items()}
    with finding_sql.bulk_load():
        for model in (
            IndexedFindingPerson,
            IndexedFinding,
            FindingCount,
            FindingPlatformCount,
            AccountRiskScore,
            MustRotateNote,
            FindingIndexState,
        ):
            db.session.execute(sa.delete(model))
        for statement in finding_sql.statements(ranks, today, now, review_interval_days):
            db.session.execute(statement)
    db.session.execute(finding_sql.must_rotate_rows())
    with finding_sql.sorting():
        counts = _index_counts(sa.true())
    _insert(
        FindingCount,
        [{"rule_id": r, "department_key": d, "accepted": a, "n": n} for (r, d, a), n in counts.by_department.items()],
    )
    _insert(
        FindingPlatformCount,
        [{"platform_id": p, "rule_id": r, "accepted": a, "n": n} for (p, r, a), n in counts.by_platform.items()],
    )
    db.session.execute(sa.insert(AccountRiskScore).from_select(["account_id", "score", "critical"], _scores(sa.true())))
    if db.session.get_bind().dialect.name == "postgresql":
        # Fresh statistics for the planner now, not when autovacuum next looks: with the old ones
        # (an empty index, say) it chooses scans for the lists read from these tables.
        db.session.execute(sa.text("ANALYZE finding_index, finding_index_people, account_risk_scores, must_rotate_notes"))
    state = {
        "computed_on": today,
        "review_interval_days": review_interval_days,
        "accounts_with_findings": db.session.scalar(sa.select(sa.func.count()).select_from(AccountRiskScore)) or 0,
        # The moment the rules were evaluated at, not the end of the rebuild: a note that came due
        # in between is caught up the next day.
        "refreshed_at": now,
    }
    db.session.execute(sa.insert(FindingIndexState), [state])
    return FindingIndexState(**state)


def _state() -> FindingIndexState | None:
    # Read afresh: after waiting for another request's rebuild, the row it wrote must be seen.
    return db.session.scalar(sa.select(FindingIndexState).limit(1).execution_options(populate_existing=True))


def _is_current(state: FindingIndexState | None, today: date, review_interval_days: int) -> bool:
    return state is not None and state.computed_on == today and state.review_interval_days == review_interval_days


def ensure_current(review_interval_days: int, today: date | None = None) -> None:
    """Bring the index to today if it was made current for another day, or rebuild it if it was
    built for another review interval (or never).

    `flask handover tick` rebuilds it each night, so a page rarely pays for this. When one does (the
    first page read after midnight without the tick), the index is caught up with what the date
    alone changed since (``_catch_up``: a day's lapsed reviews, notes come due, expired
    acceptances), or rebuilt when that is more than REBUILD_ABOVE accounts and notes; either is
    kept: a page read commits it, so the next page reads the index. A request that arrives
    meanwhile waits for it, then finds the index current.
    """
    today = today or date.today()
    if _is_current(_state(), today, review_interval_days):
        return
    _wait_for_others()
    state = _state()
    if _is_current(state, today, review_interval_days):
        return
    if state is None or state.review_interval_days != review_interval_days or not _catch_up(state, today):
        rebuild(review_interval_days, today)
    if has_request_context() and request.method in ("GET", "HEAD"):
        # A read changes nothing else: what it holds is the index brought to today alone. (A form
        # posted back with errors does so without keeping it; its own commit or rollback decides.)
        db.session.commit()


#: How long a page read waits for another request's rebuild on SQLite (the connection's usual
#: wait for a lock is 5 s; a rebuild at 200,000 accounts takes about as long).
REBUILD_WAIT_MS = 60_000


def _wait_for_others() -> None:
    """Take the index's lock, waiting as long as a rebuild in progress elsewhere may take
    (PostgreSQL's advisory lock waits without limit; SQLite's wait is the connection's)."""
    with sqlite_settings(db.session.connection(), busy_timeout=REBUILD_WAIT_MS):
        _lock()


def dated_changes(state: FindingIndexState, today: date, now: datetime) -> tuple[set[int], set[int]] | None:
    """The accounts and notes whose findings the passing of time alone may have changed between
    the index's last day (``state``: the day it was made current for, the moment its rules were
    evaluated at) and ``today`` / ``now``, for its review interval: notes that came due, reviews
    that lapsed, acceptances that expired. Every other change to a finding is a write, which
    refreshes the index as it commits. None when that is more than REBUILD_ABOVE accounts and notes,
    or when the clock reads earlier than the index."""
    since = state.refreshed_at
    if now < since or today < state.computed_on:
        return None
    lapse = timedelta(days=state.review_interval_days)
    enough = REBUILD_ABOVE + 1  # each read stops there: more than that is a rebuild anyway
    notes = set(
        db.session.scalars(
            sa.select(CredentialNote.id).where(CredentialNote.due_at > since, CredentialNote.due_at <= now).limit(enough)
        )
    )
    accounts = set(
        db.session.scalars(
            sa.select(Account.id)
            .where(Account.last_reviewed_at >= since - lapse, Account.last_reviewed_at < now - lapse)
            .limit(enough)
        )
    )
    expired = sa.select(FindingAcceptance.subject_type, FindingAcceptance.subject_id).where(
        FindingAcceptance.expires_on >= state.computed_on, FindingAcceptance.expires_on < today
    )
    for subject_type, subject_id in db.session.execute(expired.limit(enough)):
        (notes if subject_type == "credential" else accounts).add(subject_id)
    if len(accounts) + len(notes) > REBUILD_ABOVE:
        return None
    return accounts, notes


def _catch_up(state: FindingIndexState, today: date) -> bool:
    """Bring the index from its last day to ``today`` by re-evaluating only what the date changed
    (``dated_changes``), under the index's lock. False, changing nothing, when that is too much
    (the caller rebuilds instead). At 200,000 accounts a day's changes (277 lapsed reviews and 403
    notes come due) take 0.4 s where a rebuild takes 5."""
    now = utcnow()
    changed = dated_changes(state, today, now)
    if changed is None:
        return False
    _reevaluate(*changed, state.review_interval_days, today)
    db.session.execute(sa.update(FindingIndexState).values(computed_on=today, refreshed_at=now))
    return True


def refresh(account_ids: Iterable[int] = (), note_ids: Iterable[int] = ()) -> None:
    """Re-evaluate the findings of these accounts and notes and put them in the index.

    Counts and risk scores move by the difference. An index made current for another day is first
    caught up with what the date changed (or rebuilt); one for a change touching more than
    REBUILD_ABOVE accounts and notes is rebuilt instead.
    """
    accounts, notes = frozenset(account_ids), frozenset(note_ids)
    if not accounts and not notes:
        return
    _lock()  # the state read as it is now that no one else is changing it
    state, today = _state(), date.today()
    small = len(accounts) + len(notes) <= REBUILD_ABOVE
    if state is not None and small and (state.computed_on == today or _catch_up(state, today)):
        _reevaluate(accounts, notes, state.review_interval_days, today)
        return
    rebuild(state.review_interval_days if state is not None else configured_interval())


def _reevaluate(accounts: Set[int], notes: Set[int], review_interval_days: int, today: date) -> None:
    """Replace the index's rows for these accounts and notes with their evaluation now; counts,
    risk scores and the number of accounts with findings move by the difference. Under the
    index's lock."""
    if not accounts and not notes:
        return
    where = _in_scope(IndexedFinding, accounts, notes)
    rows, people = _index_rows(
        evaluate(
            FindingFilters(show="all", account_ids=frozenset(accounts), note_ids=frozenset(notes)), review_interval_days, today
        )
    )
    # A note's findings count towards its account's score even when only the note was touched.
    scored = sorted(
        accounts
        | {r["account_id"] for r in rows if r["account_id"] is not None}
        | set(db.session.scalars(sa.select(IndexedFinding.account_id).where(where, IndexedFinding.account_id.is_not(None))))
    )
    before = _index_counts(where)
    risky_before = _risky(scored)
    db.session.execute(sa.delete(IndexedFindingPerson).where(_in_scope(IndexedFindingPerson, accounts, notes)))
    db.session.execute(sa.delete(IndexedFinding).where(where))
    db.session.execute(sa.delete(AccountRiskScore).where(AccountRiskScore.account_id.in_(scored)))
    _insert(IndexedFinding, rows)
    _insert(IndexedFindingPerson, people)
    _refresh_must_rotate(accounts, notes)
    after = _index_counts(where)
    for (rule_id, department_key, accepted), change in _changes(before.by_department, after.by_department):
        _add_count(FindingCount, change, rule_id=rule_id, department_key=department_key, accepted=accepted)
    for (platform_id, rule_id, accepted), change in _changes(before.by_platform, after.by_platform):
        _add_count(FindingPlatformCount, change, platform_id=platform_id, rule_id=rule_id, accepted=accepted)
    if scored:
        db.session.execute(
            sa.insert(AccountRiskScore).from_select(
                ["account_id", "score", "critical"], _scores(IndexedFinding.account_id.in_(scored))
            )
        )
    if change := _risky(scored) - risky_before:
        db.session.execute(
            sa.update(FindingIndexState).values(accounts_with_findings=FindingIndexState.accounts_with_findings + change)
        )


def _refresh_must_rotate(accounts: Set[int], notes: Set[int]) -> None:
    """Replace the kept must-rotate rows of these notes and of these accounts' notes (retired
    accounts' too) with what they are now."""
    db.session.execute(
        sa.delete(MustRotateNote).where(
            sa.or_(MustRotateNote.account_id.in_(sorted(accounts)), MustRotateNote.note_id.in_(sorted(notes)))
        )
    )
    scope = list(
        db.session.scalars(
            sa.select(CredentialNote.id).where(
                sa.or_(CredentialNote.account_id.in_(sorted(accounts)), CredentialNote.id.in_(sorted(notes)))
            )
        )
    )
    if scope:
        db.session.execute(finding_sql.must_rotate_rows(scoped=True), {"notes": scope})


def _risky(account_ids: list[int]) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(AccountRiskScore).where(AccountRiskScore.account_id.in_(account_ids))
        )
        or 0
    )


def _changes(before: Counter[Any], after: Counter[Any]) -> list[tuple[Any, int]]:
    """(key, how much its count moved) for each key whose count moved."""
    return [(key, after[key] - before[key]) for key in before.keys() | after.keys() if after[key] != before[key]]


def _add_count(model: type[FindingCount] | type[FindingPlatformCount], change: int, **key: Any) -> None:
    """Move the kept count of ``key`` (the columns of ``model``'s unique key) by ``change``."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(model).values(**key, n=change)
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[getattr(model, column) for column in key], set_={"n": model.n + stmt.excluded.n}
        )
    )


def configured_interval() -> int:
    from flask import current_app

    return int(current_app.config.get("REVIEW_INTERVAL_DAYS", 365)) if has_app_context() else 365


# --- What a change touched ----------------------------------------------------------------

SCOPE_KEY = "finding_scope"


@dataclass
class _Touched:
    accounts: set[int] = field(default_factory=set)
    notes: set[int] = field(default_factory=set)
    profiles: set[int] = field(default_factory=set)
    people: set[int] = field(default_factory=set)
    platforms: set[int] = field(default_factory=set)
    departments: set[int] = field(default_factory=set)


def _touched(session: Session) -> _Touched:
    return session.info.setdefault(SCOPE_KEY, _Touched())


def mark_changed(
    *, accounts: Iterable[int] = (), people: Iterable[int] = (), profiles: Iterable[int] = (), notes: Iterable[int] = ()
) -> None:
    """For writes that bypass the ORM (bulk inserts): refresh these before the transaction commits."""
    touched = _touched(db.session())
    touched.accounts.update(accounts)
    touched.people.update(people)
    touched.profiles.update(profiles)
    touched.notes.update(notes)


def _note(touched: _Touched, obj: Any) -> None:
    if isinstance(obj, Account):
        touched.accounts.add(obj.id)
    elif isinstance(obj, (AccountAdmin, RecoveryContact)):
        touched.accounts.add(obj.account_id)
    elif isinstance(obj, CredentialNote):
        touched.notes.add(obj.id)
        if obj.account_id is not None:
            touched.accounts.add(obj.account_id)
    elif isinstance(obj, CredentialReveal):
        touched.notes.add(obj.note_id)
    elif isinstance(obj, Profile):
        touched.profiles.add(obj.id)
    elif isinstance(obj, ProfileCustodian):
        touched.profiles.add(obj.profile_id)
    elif isinstance(obj, Person):
        touched.people.add(obj.id)
    elif isinstance(obj, Platform):
        touched.platforms.add(obj.id)
    elif isinstance(obj, FindingAcceptance):
        (touched.accounts if obj.subject_type == "account" else touched.notes).add(obj.subject_id)


def _resolve(touched: _Touched) -> tuple[set[int], set[int]]:
    """The accounts and notes whose findings the touched rows can change."""
    accounts, notes = set(touched.accounts), set(touched.notes)
    profiles, people = set(touched.profiles), _ids(touched.people)
    if people:
        profiles |= set(db.session.scalars(sa.select(Profile.id).where(Profile.holder_id.in_(people))))
        profiles |= set(db.session.scalars(sa.select(ProfileCustodian.profile_id).where(ProfileCustodian.person_id.in_(people))))
        accounts |= set(db.session.scalars(sa.select(Account.id).where(Account.steward_id.in_(people))))
        accounts |= set(db.session.scalars(sa.select(RecoveryContact.account_id).where(RecoveryContact.person_id.in_(people))))
        notes |= set(db.session.scalars(sa.select(CredentialReveal.note_id).where(CredentialReveal.person_id.in_(people))))
    if ids := _ids(profiles):
        accounts |= set(db.session.scalars(sa.select(Account.id).where(Account.owner_profile_id.in_(ids))))
        accounts |= set(db.session.scalars(sa.select(AccountAdmin.account_id).where(AccountAdmin.profile_id.in_(ids))))
        notes |= set(db.session.scalars(sa.select(CredentialNote.id).where(CredentialNote.profile_id.in_(ids))))
    if ids := _ids(touched.platforms):
        accounts |= set(db.session.scalars(sa.select(Account.id).where(Account.platform_id.in_(ids))))
        notes |= set(
            db.session.scalars(
                sa.select(CredentialNote.id)
                .join(Profile, CredentialNote.profile_id == Profile.id)
                .where(Profile.platform_id.in_(ids))
            )
        )
    if ids := _ids(touched.departments):
        accounts |= set(db.session.scalars(sa.select(Account.id).where(Account.department_id.in_(ids))))
    return set(_ids(accounts)), set(_ids(notes))


def _ids(values: Iterable[int | None]) -> list[int]:
    """The ids, sorted, without the None of a row not yet linked."""
    return sorted(v for v in values if v is not None)


def _ours(session: Session) -> bool:
    return has_app_context() and session is db.session()


@sa.event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    """Rows about to be deleted: their accounts are found now, before the database forgets them."""
    if not _ours(session):
        return
    touched = _touched(session)
    gone = _Touched()
    for obj in session.deleted:
        if isinstance(obj, (Profile, Person)):
            _note(gone, obj)
        elif isinstance(obj, Department):
            gone.departments.add(obj.id)
    if gone.profiles or gone.people or gone.departments:
        with session.no_autoflush:
            accounts, notes = _resolve(gone)
        touched.accounts |= accounts
        touched.notes |= notes


@sa.event.listens_for(Session, "after_flush")
def _after_flush(session: Session, flush_context: Any) -> None:
    if not _ours(session):
        return
    touched = _touched(session)
    for obj in (*session.new, *session.dirty, *session.deleted):
        _note(touched, obj)


#: Databases known to have the index as this code keeps it (a database at an older revision has
#: not: nothing to keep; upgrading it empties the index's state, so the next read rebuilds it).
_INDEXED: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _has_index(session: Session) -> bool:
    engine = session.get_bind()
    # The index's newest table: a database with it has all the others.
    if engine not in _INDEXED and sa.inspect(session.connection()).has_table(MustRotateNote.__tablename__):
        _INDEXED[engine] = True
    return engine in _INDEXED


@sa.event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    """Refresh what this transaction touched, inside it: the index commits with the change."""
    if not _ours(session):
        return
    session.flush()  # commit flushes after this hook: what it writes must be counted here
    if SCOPE_KEY not in session.info or not _has_index(session):
        session.info.pop(SCOPE_KEY, None)
        return
    touched = session.info.pop(SCOPE_KEY)
    with session.no_autoflush:
        accounts, notes = _resolve(touched)
        refresh(accounts, notes)


@sa.event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction: Any) -> None:
    session.info.pop(SCOPE_KEY, None)


@dataclass
class AccountRisk:
    account_id: int
    name: str
    platform_name: str
    department_name: str | None
    score: int
    #: (rule, how many findings of it) most severe first: a rule can apply twice (two credential notes).
    rules: list[tuple[Rule, int]] = field(default_factory=list)


def riskiest_accounts(limit: int) -> tuple[list[AccountRisk], int]:
    """The accounts with the highest risk scores (ties: more critical, then by name) and how many
    accounts have any open finding: from the kept scores, a bounded read."""
    state = _state()
    rows = db.session.execute(
        sa.select(AccountRiskScore.account_id, AccountRiskScore.score, Account.name, Platform.name, Department.name)
        .join(Account, Account.id == AccountRiskScore.account_id)
        .join(Platform, Account.platform_id == Platform.id)
        .outerjoin(Department, Account.department_id == Department.id)
        .order_by(AccountRiskScore.score.desc(), AccountRiskScore.critical.desc(), sa.func.lower(Account.name), Account.id)
        .limit(limit)
    ).all()
    per_rule: dict[int, list[tuple[Rule, int]]] = {}
    if rows:
        counted = db.session.execute(
            sa.select(IndexedFinding.account_id, IndexedFinding.rule_id, sa.func.count())
            .where(IndexedFinding.account_id.in_([r[0] for r in rows]), IndexedFinding.accepted.is_(False))
            .group_by(IndexedFinding.account_id, IndexedFinding.rule_id)
        )
        for account_id, rule_id, n in counted:
            per_rule.setdefault(account_id, []).append((RULES[rule_id], n))
    ranked = [
        AccountRisk(
            account_id,
            name,
            platform_name,
            department_name,
            score,
            sorted(per_rule.get(account_id, []), key=lambda rn: (rn[0].severity.rank, rn[0].title)),
        )
        for account_id, score, name, platform_name, department_name in rows
    ]
    return ranked, state.accounts_with_findings if state is not None else 0


def index_problems(limit: int = 10) -> list[str]:
    """Where the index differs from a full evaluation now (empty when it is current): the check
    every test ends with."""
    state = _state()
    if state is None or state.computed_on != date.today():
        return []
    found = evaluate(FindingFilters(show="all"), state.review_interval_days)
    rows, people = _index_rows(found)
    want = {(r["rule_id"], r["subject_type"], r["subject_id"]): r for r in rows}
    have = {
        (r.rule_id, r.subject_type, r.subject_id): r
        for r in db.session.execute(
            sa.select(
                IndexedFinding.rule_id,
                IndexedFinding.subject_type,
                IndexedFinding.subject_id,
                IndexedFinding.severity_rank,
                IndexedFinding.account_id,
                IndexedFinding.platform_id,
                IndexedFinding.department_id,
                IndexedFinding.steward_id,
                IndexedFinding.sort_name,
                IndexedFinding.accepted,
            )
        )
    }
    problems = [f"missing from the index: {k}" for k in want.keys() - have.keys()]
    problems += [f"in the index but no longer found: {k}" for k in have.keys() - want.keys()]
    for key in want.keys() & have.keys():
        w, h = want[key], have[key]._asdict()
        if diff := {c: (h[c], w[c]) for c in w if c in h and h[c] != w[c]}:
            problems.append(f"{key} differs (index, evaluated): {diff}")
    want_people = {(p["rule_id"], p["subject_type"], p["subject_id"], p["person_id"]) for p in people}
    have_people = {
        tuple(r)
        for r in db.session.execute(
            sa.select(
                IndexedFindingPerson.rule_id,
                IndexedFindingPerson.subject_type,
                IndexedFindingPerson.subject_id,
                IndexedFindingPerson.person_id,
            )
        )
    }
    if want_people != have_people:
        problems.append(
            f"people differ: missing {sorted(want_people - have_people)[:5]}, extra {sorted(have_people - want_people)[:5]}"
        )
    kept, counted = _kept_counts(), _index_counts(sa.true())
    if kept != counted.by_department:
        problems.append(f"kept counts {dict(kept)} differ from the index's {dict(counted.by_department)}")
    kept_by_platform = _kept_platform_counts()
    if kept_by_platform != counted.by_platform:
        problems.append(f"kept counts by platform {dict(kept_by_platform)} differ from the index's {dict(counted.by_platform)}")
    kept_scores = {
        tuple(r)
        for r in db.session.execute(sa.select(AccountRiskScore.account_id, AccountRiskScore.score, AccountRiskScore.critical))
    }
    scores = {tuple(r) for r in db.session.execute(_scores(sa.true()))}
    if kept_scores != scores:
        problems.append("kept risk scores differ from the index's")
    if state.accounts_with_findings != len(scores):
        problems.append(f"accounts with findings kept as {state.accounts_with_findings}, the index has {len(scores)}")
    kept_must = set(db.session.execute(sa.select(MustRotateNote.note_id, MustRotateNote.account_id, MustRotateNote.due_at)))
    must = set(db.session.execute(finding_sql.must_rotate_notes()))
    if kept_must != must:
        problems.append(
            f"kept must-rotate notes differ: missing {sorted(must - kept_must)[:5]}, extra {sorted(kept_must - must)[:5]}"
        )
    return problems[:limit]
