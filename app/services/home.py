"""The figures on the landing page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.account import Account, AccountStatus
from app.models.person import Person, PersonStatus
from app.models.profile import Profile
from app.services import findings, permissions
from app.services.context import Actor
from app.services.pagination import count_rows


@dataclass
class HomeSummary:
    accounts: int = 0
    people: int = 0
    #: The first SHORT_LIST people leaving, soonest last day first, and how many are leaving.
    leaving: list[Person] = field(default_factory=list)
    leaving_count: int = 0
    personal_owner_count: int = 0
    held_by_leavers_count: int = 0
    #: There are more than held_by_leavers_count (it is counted up to HELD_COUNT_LIMIT).
    held_by_leavers_capped: bool = False
    #: The first few of those, for the short list on the page.
    held_by_leavers: list[Account] = field(default_factory=list)
    my_accounts: list[Account] = field(default_factory=list)
    #: No people and no accounts yet: the page shows how to start.
    registry_empty: bool = False


#: How many accounts the page lists before linking to the full, filtered list.
SHORT_LIST = 10
#: The accounts owned by leavers are counted this far ("more than 100"): the count then costs
#: the same in a registry where thousands are.
HELD_COUNT_LIMIT = 100


def _count_all_but(model: Any, excluded: Any) -> int:
    """The rows of ``model`` less those ``excluded``: a count of a whole table is read from its
    B-tree's page counts (SQLite), the few excluded rows from an index; counting the others scans them."""
    everything = sa.select(sa.func.count()).select_from(model).scalar_subquery()
    left_out = sa.select(sa.func.count()).select_from(model).where(excluded).scalar_subquery()
    return db.session.scalar(sa.select(everything - left_out)) or 0


def summary(actor: Actor) -> HomeSummary:
    """Counts and short lists for the landing page, limited to what the actor may see.

    Lists are capped at SHORT_LIST rows so the page costs the same at any registry size.
    """
    result = HomeSummary()
    live = Account.status != AccountStatus.RETIRED
    if actor.person_id:
        result.my_accounts = list(
            db.session.scalars(
                sa.select(Account)
                .options(selectinload(Account.platform))
                .where(Account.steward_id == actor.person_id, live)
                .order_by(Account.name)
                .limit(100)
            )
        )
    if not permissions.can_read_registry(actor):
        return result
    result.registry_empty = (
        db.session.scalar(sa.select(Person.id).limit(1)) is None and db.session.scalar(sa.select(Account.id).limit(1)) is None
    )
    result.accounts = _count_all_but(Account, Account.status == AccountStatus.RETIRED)
    result.people = _count_all_but(Person, Person.status == PersonStatus.DEPARTED)
    leaving = sa.select(Person).where(Person.status == PersonStatus.LEAVING)
    result.leaving_count, _ = count_rows(leaving)
    result.leaving = list(db.session.scalars(leaving.order_by(Person.last_day, Person.name, Person.id).limit(SHORT_LIST)))
    # The owner-personal rule's findings, counted in the finding index (not by joining every account).
    result.personal_owner_count = findings.rule_total("owner-personal", findings.configured_interval())
    # Counted from the leavers' side (the join stops at the limit); listed from the accounts' name
    # order, each checked in two primary-key lookups until ten are found, not every match sorted.
    owner, holder = sa.orm.aliased(Profile), sa.orm.aliased(Person)
    result.held_by_leavers_count, result.held_by_leavers_capped = count_rows(
        sa.select(Account.id)
        .join(owner, Account.owner_profile_id == owner.id)
        .join(holder, owner.holder_id == holder.id)
        .where(live, holder.status.in_(findings.LEFT)),
        HELD_COUNT_LIMIT,
    )
    held_by_leaver = (
        sa.select(owner.id)
        .join(holder, owner.holder_id == holder.id)
        .where(owner.id == Account.owner_profile_id, holder.status.in_(findings.LEFT))
        .correlate(Account)
        .exists()
    )
    result.held_by_leavers = list(
        db.session.scalars(
            sa.select(Account)
            .options(selectinload(Account.platform), selectinload(Account.owner_profile).selectinload(Profile.holder))
            .where(live, held_by_leaver)
            .order_by(Account.name, Account.id)
            .limit(SHORT_LIST)
        )
    )
    return result
