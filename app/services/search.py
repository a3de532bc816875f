"""Global search across people, accounts and profiles, limited to what the actor may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.account import Account
from app.models.person import Person
from app.models.profile import Profile
from app.services import permissions
from app.services.context import Actor


def contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match that takes ``%`` and ``_`` literally (a search for "100%" is not a wildcard)."""
    return sa.func.lower(column).contains(text.strip().lower(), autoescape=True)


@dataclass
class SearchResults:
    query: str
    accounts: list[Account] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    profiles: list[Profile] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.accounts) + len(self.people) + len(self.profiles)


def search(actor: Actor, query: str, limit: int = 20) -> SearchResults:
    """Case-insensitive substring match on names, handles, URLs and emails; at most ``limit`` of each kind."""
    query = query.strip()
    results = SearchResults(query=query)
    if len(query) < 2:
        return results
    accounts = (
        sa.select(Account)
        .options(selectinload(Account.platform))
        .where(sa.or_(contains(Account.name, query), contains(Account.handle, query), contains(Account.url, query)))
        .order_by(Account.name)
        .limit(limit)
    )
    if not permissions.can_read_registry(actor):
        accounts = accounts.where(Account.steward_id == (actor.person_id or -1))
    results.accounts = list(db.session.scalars(accounts))
    if permissions.can_read_registry(actor):
        results.people = list(
            db.session.scalars(
                sa.select(Person)
                .where(sa.or_(contains(Person.name, query), contains(Person.work_email, query)))
                .order_by(Person.name)
                .limit(limit)
            )
        )
        results.profiles = list(
            db.session.scalars(
                sa.select(Profile)
                .options(selectinload(Profile.platform))
                .where(sa.or_(contains(Profile.name, query), contains(Profile.handle, query)))
                .order_by(Profile.name)
                .limit(limit)
            )
        )
    return results
