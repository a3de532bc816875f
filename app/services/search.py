"""Global search across people, accounts and profiles, limited to what the actor may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.account import ACCOUNT_SEARCH, Account
from app.models.person import PEOPLE_SEARCH, Person
from app.models.profile import PROFILE_SEARCH, Profile
from app.models.search_index import SearchIndex
from app.services import permissions
from app.services.context import Actor
from app.services.pagination import COUNT_LIMIT, count_rows


def contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match that takes ``%`` and ``_`` literally (a search for "100%" is not a wildcard)."""
    needle = text.strip().lower()
    if db.session.get_bind().dialect.name == "sqlite":
        # SQLite's LIKE already ignores case, as far as its lower() folds it (ASCII): lowering each
        # row first found the same rows at a quarter of the speed (a scan of 200,000 accounts'
        # names, handles and URLs: 217 ms with lower(), 51 ms without).
        return column.contains(needle, autoescape=True)
    return sa.func.lower(column).contains(needle, autoescape=True)


#: Shorter searches cannot use the trigram index: they scan.
TRIGRAM = 3


def account_matches(text: str, many: bool = False) -> Any:
    """Accounts whose name, handle or URL contains ``text``, ignoring case. On SQLite a search
    of three characters or more reads the trigram index (``accounts_search``), so it costs what
    it finds rather than the size of the registry; otherwise, and on PostgreSQL, ``contains``.

    ``many``: the search is known to match many accounts (more than a count limit). The matches
    are then a set that the accounts, read in name order from its index, are checked against,
    instead of being fetched one by one and all sorted (200,000 accounts, 13,341 matches: the
    first page's query 16 ms instead of 45 ms).
    """
    found = account_match_ids(text)
    if found is not None:
        # "+ 0" is not the id column itself: SQLite cannot start from the matches' ids, so it
        # reads the accounts in the page's order and keeps those in the set.
        return (Account.id + 0).in_(found) if many else Account.id.in_(found)
    return _scanned(ACCOUNT_SEARCH, Account, text)


def account_match_ids(text: str) -> sa.Select | None:
    """The ids of the accounts ``text`` matches, read from the trigram index alone (SQLite, three
    characters or more), or None where there is no such index. A count of these can stop at its
    limit; a count of the accounts whose id is among them first collects every match."""
    return match_ids(ACCOUNT_SEARCH, text)


def match_ids(index: SearchIndex, text: str) -> sa.Select | None:
    """The ids of the rows of ``index``'s table that ``text`` matches, from the trigram index
    alone (SQLite, three characters or more); None where there is no such index."""
    text = text.strip()
    if len(text) < TRIGRAM or db.session.get_bind().dialect.name != "sqlite":
        return None
    found = sa.table(index.name, sa.column("rowid"))
    return sa.select(found.c.rowid).where(sa.literal_column(index.name).op("MATCH")(_phrase(text)))


def _scanned(index: SearchIndex, model: Any, text: str) -> Any:
    """Rows of ``model`` whose columns in ``index`` contain ``text``, each row read to see."""
    return sa.or_(*(contains(getattr(model, column), text) for column in index.columns))


def _text_matches(index: SearchIndex, model: Any, text: str) -> Any:
    """Rows of ``model`` whose columns in ``index`` contain ``text``, ignoring case: from the
    trigram index where it serves, so a rare term costs what it finds, not the size of the table.
    Its matches are counted first (to COUNT_LIMIT): a few are fetched by id. More than that, and
    the rows are read in the caller's order and checked as before, which finds a page of them
    within a few hundred rows (a term every work email has: 0.4 ms; collecting its 20,000 matches
    from the index took 12)."""
    found = match_ids(index, text)
    if found is not None and not count_rows(found, COUNT_LIMIT)[1]:
        return model.id.in_(found)
    return _scanned(index, model, text)


def person_matches(text: str) -> Any:
    """People whose name or work email contains ``text`` (a scan of 20,000 people took 15 ms)."""
    return _text_matches(PEOPLE_SEARCH, Person, text)


def profile_matches(text: str) -> Any:
    """Profiles whose name or handle contains ``text`` (a scan of 32,000 profiles took 8 ms)."""
    return _text_matches(PROFILE_SEARCH, Profile, text)


def matching_ids(stmt: sa.Select, limit: int) -> tuple[list[int], bool]:
    """Up to ``limit`` of the ids ``stmt`` selects, and whether there are more: for a search no
    trigram index serves, one pass that both counts the matches and keeps them."""
    found = list(db.session.scalars(stmt.order_by(None).limit(limit + 1)))
    return found[:limit], len(found) > limit


def _phrase(text: str) -> str:
    """The text as one FTS5 phrase: a substring to find, nothing parsed."""
    return '"' + text.replace('"', '""') + '"'


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
    matches = account_matches(query)
    seen = [] if permissions.can_read_registry(actor) else [Account.steward_id == (actor.person_id or -1)]
    if account_match_ids(query) is None:
        # No trigram index serves it (two characters on SQLite): one pass over the accounts keeps
        # the matches' ids, and the first by name are read from those, not by walking every name
        # in order (a two-letter term found nowhere at 200,000 accounts: 460 ms before).
        found, more = matching_ids(sa.select(Account.id).where(matches, *seen), COUNT_LIMIT)
        if not more:
            matches = Account.id.in_(found)
    accounts = (
        sa.select(Account).options(selectinload(Account.platform)).where(matches, *seen).order_by(Account.name).limit(limit)
    )
    results.accounts = list(db.session.scalars(accounts))
    if permissions.can_read_registry(actor):
        results.people = list(
            db.session.scalars(sa.select(Person).where(person_matches(query)).order_by(Person.name).limit(limit))
        )
        results.profiles = list(
            db.session.scalars(
                sa.select(Profile)
                .options(selectinload(Profile.platform))
                .where(profile_matches(query))
                .order_by(Profile.name)
                .limit(limit)
            )
        )
    return results
