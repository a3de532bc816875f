"""The figures on the landing page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models.account import Account, AccountStatus
from app.models.finding import IndexedFinding
from app.models.kept_count import KeptCount
from app.models.person import Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile
from app.services import findings, kept_counts, permissions
from app.services.context import Actor
from app.services.pagination import capped
from app.services.people import PersonRef, ProfileRef


@dataclass(frozen=True, slots=True)
class Leaver(PersonRef):
    """Someone leaving, as the page lists them."""

    last_day: date | None


@dataclass(frozen=True, slots=True)
class HeldAccount:
    """An account whose owner profile is held by someone leaving or gone."""

    id: int
    name: str
    platform_name: str
    owner: ProfileRef
    holder: PersonRef


@dataclass(frozen=True, slots=True)
class StewardedAccount:
    """An account the signed-in person stewards."""

    id: int
    name: str
    platform_name: str
    handle: str


@dataclass
class HomeSummary:
    """The page's figures and short lists (the lists as plain values, read as rows)."""

    accounts: int = 0
    people: int = 0
    #: The first SHORT_LIST people leaving, soonest last day first, and how many are leaving.
    leaving: list[Leaver] = field(default_factory=list)
    leaving_count: int = 0
    personal_owner_count: int = 0
    held_by_leavers_count: int = 0
    #: There are more than held_by_leavers_count (it is counted up to HELD_COUNT_LIMIT).
    held_by_leavers_capped: bool = False
    #: The first few of those, for the short list on the page.
    held_by_leavers: list[HeldAccount] = field(default_factory=list)
    my_accounts: list[StewardedAccount] = field(default_factory=list)
    #: No people and no accounts yet: the page shows how to start.
    registry_empty: bool = False


#: How many accounts the page lists before linking to the full, filtered list.
SHORT_LIST = 10
#: The accounts owned by leavers are counted this far ("more than 100"): the count then costs
#: the same in a registry where thousands are.
HELD_COUNT_LIMIT = 100


_LIVE = Account.status != AccountStatus.RETIRED
_Owner, _OwnerHolder = aliased(Profile, name="owner"), aliased(Person, name="owner_holder")

# The page's statements, built once: making them cost more than running them (5.8 of the 6.3 ms
# this summary took on a registry of 1,000 accounts). What changes between requests is a parameter.


#: Whether anything is recorded, accounts in use, current staff, people leaving: one row, the
#: three totals from the counts the database keeps (counting them read every account: 2.6 ms at
#: 200,000 accounts on SQLite, 12–18 ms on PostgreSQL).
_COUNTS = sa.select(
    sa.exists(sa.select(Person.id)),
    sa.exists(sa.select(Account.id)),
    kept_counts.total("accounts", KeptCount.status != AccountStatus.RETIRED.value),
    kept_counts.total("people", KeptCount.status != PersonStatus.DEPARTED.value),
    kept_counts.total("people", KeptCount.status == PersonStatus.LEAVING.value),
)
_MY_ACCOUNTS = (
    sa.select(Account.id, Account.name, Platform.name, Account.handle)
    .outerjoin(Platform, Platform.id == Account.platform_id)
    .where(Account.steward_id == sa.bindparam("person_id"), _LIVE)
    .order_by(Account.name)
    .limit(100)
)
_FIRST_LEAVING = (
    sa.select(Person.id, Person.name, Person.status, Person.last_day)
    .where(Person.status == PersonStatus.LEAVING)
    .order_by(Person.last_day, Person.name, Person.id)
    .limit(SHORT_LIST)
)
# Counted from the leavers' side (the join stops at the limit). Listed from the held-by-leaver
# rule's findings in the finding index's order (the accounts' names, case aside), each checked for
# an owner held by a leaver: every such account has that finding, and most of those findings are
# one, so the ten are found among the first few dozen. Walking every account in name order for
# them read 3,000 at 200,000 accounts (2.5 ms of SQL; 0.13 ms this way).
_HELD_COUNT = sa.select(sa.func.count()).select_from(
    sa.select(Account.id)
    .join(_Owner, Account.owner_profile_id == _Owner.id)
    .join(_OwnerHolder, _Owner.holder_id == _OwnerHolder.id)
    .where(_LIVE, _OwnerHolder.status.in_(findings.LEFT))
    .limit(sa.bindparam("limit"))
    .subquery()
)
_Shown, _ShownHolder = aliased(Profile, name="shown_owner"), aliased(Person, name="shown_holder")
_FIRST_HELD = (
    sa.select(
        Account.id,
        Account.name,
        Platform.name,
        _Shown.id,
        _Shown.name,
        _Shown.handle,
        _Shown.kind,
        _ShownHolder.id,
        _ShownHolder.name,
        _ShownHolder.status,
    )
    .select_from(IndexedFinding)
    .join(Account, Account.id == IndexedFinding.subject_id)
    # Joined: three more statements with IN lists of ten ids cost more (2.6 -> 1.2 ms at 200,000 accounts).
    .outerjoin(Platform, Platform.id == Account.platform_id)
    .outerjoin(_Shown, _Shown.id == Account.owner_profile_id)
    .outerjoin(_ShownHolder, _ShownHolder.id == _Shown.holder_id)
    .where(
        IndexedFinding.rule_id == "held-by-leaver",
        IndexedFinding.subject_type == "account",
        _LIVE,
        sa.select(_Owner.id)
        .join(_OwnerHolder, _Owner.holder_id == _OwnerHolder.id)
        .where(_Owner.id == Account.owner_profile_id, _OwnerHolder.status.in_(findings.LEFT))
        .correlate(Account)
        .exists(),
    )
    .order_by(IndexedFinding.severity_rank, IndexedFinding.sort_name, IndexedFinding.subject_id)
    .limit(SHORT_LIST)
)


def summary(actor: Actor, *, personal_owners: bool = True) -> HomeSummary:
    """Counts and short lists for the landing page, limited to what the actor may see.

    Lists are capped at SHORT_LIST rows so the page costs the same at any registry size.
    ``personal_owners=False``: without the count of accounts owned by a personal profile (the
    dashboard shows its rule's findings instead).
    """
    result = HomeSummary()
    if actor.person_id:
        result.my_accounts = [StewardedAccount(*row) for row in db.session.execute(_MY_ACCOUNTS, {"person_id": actor.person_id})]
    if not permissions.can_read_registry(actor):
        return result
    any_people, any_accounts, result.accounts, result.people, result.leaving_count = db.session.execute(_COUNTS).one()
    result.registry_empty = not any_people and not any_accounts
    result.leaving = [Leaver(*row) for row in db.session.execute(_FIRST_LEAVING)]
    if personal_owners:
        # The owner-personal rule's findings, counted in the finding index (not by joining every account).
        result.personal_owner_count = findings.rule_total("owner-personal", findings.configured_interval())
    result.held_by_leavers_count, result.held_by_leavers_capped = capped(
        db.session.scalar(_HELD_COUNT, {"limit": HELD_COUNT_LIMIT + 1}) or 0, HELD_COUNT_LIMIT
    )
    findings.ensure_current(findings.configured_interval())  # the list is read from the finding index
    result.held_by_leavers = [
        HeldAccount(*row[:3], owner=ProfileRef(*row[3:7]), holder=PersonRef(*row[7:])) for row in db.session.execute(_FIRST_HELD)
    ]
    return result
