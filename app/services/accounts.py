"""Accounts and the roles, recovery contacts and connections that control them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from math import ceil
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.db_setup import joins_as_written, keeps_most
from app.extensions import db
from app.models.account import Account, AccountAdmin, AccountStatus, Connection, RecoveryContact, RecoveryKind
from app.models.base import utcnow
from app.models.person import Department, Person
from app.models.platform import Platform
from app.models.profile import Profile, ProfileCustodian, ProfileKind
from app.models.user import Role
from app.services import audit, credentials, kept_counts, permissions, urls
from app.services.context import Actor
from app.services.errors import NotFound, StaleEdit, ValidationFailed
from app.services.pagination import COUNT_LIMIT, Page, count_rows, from_the_end
from app.services.search import account_match_ids, account_matches, matching_ids

#: Relationships shown by label in snapshots; reloaded after an edit changes their foreign keys.
RELATED = ("platform", "department", "owner_profile", "steward")

#: Fields recorded in before/after snapshots; labels rather than ids so history reads as text.
SNAPSHOT_FIELDS = (
    "name",
    "handle",
    "url",
    "purpose",
    "status",
    "platform",
    "department",
    "owner_profile",
    "steward",
    "has_own_login",
    "version",
)

SORTS = {
    "name": Account.name,
    "platform": Platform.name,
    "department": Department.name,
    "status": Account.status,
    "updated": Account.updated_at,
    "reviewed": Account.last_reviewed_at,
}


@dataclass
class AccountData:
    """What a person types to create or edit an account."""

    platform_id: int
    name: str
    handle: str = ""
    url: str = ""
    purpose: str = ""
    department_id: int | None = None
    status: AccountStatus = AccountStatus.ACTIVE
    owner_profile_id: int | None = None
    steward_id: int | None = None
    has_own_login: bool = False


@dataclass
class AccountFilters:
    q: str = ""
    platform_id: int | None = None
    department_id: int | None = None
    status: AccountStatus | None = None
    owner_kind: ProfileKind | None = None
    steward_id: int | None = None
    sort: str = "name"
    descending: bool = False


def _snapshot(account: Account) -> dict[str, Any]:
    return audit.snapshot(account, SNAPSHOT_FIELDS)


def _profile_behind() -> tuple[Any, ...]:
    """Loader options for what a page shows of a profile: its platform, holder and custodians."""
    return (
        joinedload(Profile.platform),
        joinedload(Profile.holder),
        joinedload(Profile.custodian_links).joinedload(ProfileCustodian.person),
    )


#: Everything an account's page shows (who controls it, the map, recovery, tools), loaded in
#: four queries whatever the number of admins, contacts and tools: many-to-one links and
#: profiles' custodians are joined to the row that needs them. The account's row first, then
#: each list by a statement built once (selectinload built its query afresh on every page:
#: 2.47 ms for the three at 200,000 accounts, 1.27 ms this way).
ACCOUNT_PAGE = (
    joinedload(Account.platform),
    joinedload(Account.department),
    joinedload(Account.steward),
    joinedload(Account.owner_profile).options(*_profile_behind()),
)
_ACCOUNT_LISTS = (
    (
        "admins",
        sa.select(AccountAdmin)
        .where(AccountAdmin.account_id == sa.bindparam("account_id"))
        .options(joinedload(AccountAdmin.profile).options(*_profile_behind()))
        .order_by(AccountAdmin.id),
    ),
    (
        "recovery_contacts",
        sa.select(RecoveryContact)
        .where(RecoveryContact.account_id == sa.bindparam("account_id"))
        .options(joinedload(RecoveryContact.person))
        .order_by(RecoveryContact.id),
    ),
    (
        "connections",
        sa.select(Connection)
        .where(Connection.account_id == sa.bindparam("account_id"))
        .options(joinedload(Connection.profile).options(*_profile_behind()))
        .order_by(Connection.id),
    ),
)


def first_live_accounts(where: Any, limit: int) -> list[Account]:
    """The first ``limit`` live (not retired) accounts matching ``where`` by name, with what a
    short list shows of each (platform, department, owner profile and its holder, steward):
    read in name order from an index on (platform or department, name)."""
    return list(
        db.session.scalars(
            sa.select(Account)
            .options(
                joinedload(Account.platform),
                joinedload(Account.department),
                joinedload(Account.owner_profile).joinedload(Profile.holder),
                joinedload(Account.steward),
            )
            .where(where, Account.status != AccountStatus.RETIRED)
            .order_by(Account.name, Account.id)
            .limit(limit)
        )
    )


def get_account(actor: Actor, account_id: int) -> Account:
    """The account, if the actor may see it, with what its page shows (ACCOUNT_PAGE). Raises
    NotFound (also for one the actor may not see)."""
    account = db.session.get(Account, account_id, options=ACCOUNT_PAGE)
    missing = NotFound(f"There is no account with id {account_id}. It may have been typed wrongly.")
    if account is None:
        raise missing
    # Staff see only the accounts they steward: another one is answered as if it did not exist.
    permissions.require_visible(permissions.can_view_account(actor, account), missing)
    for name, stmt in _ACCOUNT_LISTS:
        set_committed_value(account, name, list(db.session.scalars(stmt, {"account_id": account.id}).unique()))
    return account


#: Sort keys whose column may be empty (shown last in both directions).
_NULLABLE_SORTS = ("department", "reviewed")


_ALL_ACCOUNTS_KEPT = sa.select(kept_counts.total("accounts"))


def list_accounts(
    actor: Actor,
    filters: AccountFilters,
    page: int = 1,
    per_page: int = 25,
    *,
    after: int | None = None,
    before: int | None = None,
    count_limit: int | None = None,
) -> Page[Account]:
    """A page of the accounts the actor may see, searched, filtered and sorted.

    ``page`` alone gives that page by position (the API; a page past the end shows the last one).
    ``after`` / ``before`` (an account's id, as the previous page's links carry) give the page
    that follows or precedes that account in the chosen order, found through the sort index
    however deep in the list it is; ``page`` is then only the number shown. ``count_limit``
    counts the total only up to that many (a search or filter over a large registry).
    """
    conditions: list[Any] = []
    if not permissions.can_read_registry(actor):
        conditions.append(Account.steward_id == (actor.person_id or -1))
    q = filters.q.strip()
    match_ids = account_match_ids(q) if q else None
    if q:
        searched = len(conditions)
        conditions.append(account_matches(q))
    if filters.platform_id:
        conditions.append(Account.platform_id == filters.platform_id)
    if filters.department_id:
        conditions.append(Account.department_id == filters.department_id)
    if filters.status:
        conditions.append(Account.status == filters.status)
    if filters.steward_id:
        conditions.append(Account.steward_id == filters.steward_id)
    if filters.owner_kind:
        owner = sa.orm.aliased(Profile)
        conditions.append(
            sa.select(owner.id).where(owner.id == Account.owner_profile_id, owner.kind == filters.owner_kind).exists()
        )
    # The count reads the accounts table alone (the joins below only serve the sort and the rows shown);
    # a search and nothing else, the trigram index alone (13,341 matches counted to 1,000: 5.6 -> 0.6 ms).
    counted = sa.select(Account.id).where(*conditions)
    if len(conditions) == 1 and match_ids is not None:
        counted = match_ids
    if len(conditions) == 1 and filters.owner_kind:
        # An owner kind alone: counted from that kind's profiles, each one's accounts by key, not
        # by reading accounts in turn for their owner's kind (owned by the organisation, at
        # 200,000 accounts, 1,000 of them found in 21 ms; from the profiles 0.1 ms).
        counted = (
            sa.select(Account.id)
            .select_from(Profile)
            .join(Account, Account.owner_profile_id == Profile.id)
            .where(Profile.kind == filters.owner_kind)
        )
    if not conditions:
        # Every account: counting them reads them all (2 ms at 200,000 on SQLite, 12–18 ms on
        # PostgreSQL); the database keeps the count instead.
        total, capped = db.session.scalar(_ALL_ACCOUNTS_KEPT) or 0, False
    elif q and count_limit is not None and (match_ids is None or len(conditions) > 1):
        # A search no trigram index serves (under three characters on SQLite), or a search with
        # other filters: the matches' ids kept as they are counted and, when there are not more
        # than the limit, the page read from them. Otherwise a two-letter term read every
        # account's text twice (found nowhere at 200,000 accounts: 615 ms, now one pass), and a
        # filtered search walked the filter's index order checking each row against the search
        # (a term found in 11 of 180,000 active accounts: 22 ms; from the 11, 0.3 ms).
        found, capped = matching_ids(counted, count_limit)
        total = len(found)
        if not capped:
            conditions = [Account.id.in_(found)]
    else:
        total, capped = count_rows(counted, None if not conditions else count_limit)
    if capped and q:
        conditions[searched] = account_matches(q, many=True)
    many = capped or total > (count_limit or COUNT_LIMIT)
    if many:
        # Many match: a page read in the list's order, keeping the rows that match, reads about
        # its rows × (accounts ÷ matches), at most a thousandth of the registry a row; reading every
        # match and sorting them grows with the registry (at 200,000 accounts, the active ones
        # sorted by platform, by department or by last change: 80-246 ms, each now 5-6 ms).
        conditions = [keeps_most(db.session, condition) for condition in conditions]

    key = filters.sort if filters.sort in SORTS else "name"
    column = SORTS[key]
    nullable, ids_first = key in _NULLABLE_SORTS, key in _SORTED_BY_ID_FIRST
    # Without its loader options (_LIST_ROW): the rows are loaded by _rows_and_more. The platforms
    # are joined only to sort by theirs: a join the order does not need leads SQLite to read the
    # accounts by platform (sorted by department, 200,000 accounts' ids: 219 ms, without it 21 ms).
    stmt = sa.select(Account)
    if key == "platform":  # first: SQLite reads the platforms in name order, then each one's accounts
        stmt = stmt.join(Account.platform)
    stmt = stmt.outerjoin(Account.department).where(*conditions)
    cursor_id = after if after is not None else before
    cursor = None
    if cursor_id is not None:
        cursor = db.session.execute(
            sa.select(column, Account.id).select_from(Account).join(Account.platform).outerjoin(Account.department)
            .where(Account.id == cursor_id)
        ).first()  # fmt: skip
    if key == "department" and (many or not conditions) and (cursor is not None or (cursor_id is None and page <= 1)):
        forward = before is None or after is not None
        return _by_department(conditions, filters.descending, page, per_page, total, capped, cursor, forward)
    if cursor is None:
        return _offset_page(stmt, column, filters.descending, page, per_page, total, capped, nullable, ids_first)
    value, row_id = cursor
    forward = after is not None
    # The rows after the cursor in the page's order (or, going back, before it), read in the
    # order that reaches them first. The page's order is the sort column (empty values last)
    # then the id; a row-value comparison, or a range on the sort column, lets the index on it
    # start right at the cursor, however deep in the list it is.
    column_up = filters.descending != forward
    id_up = forward
    if value is None:  # the cursor is among the rows with no value (always last)
        beyond = (
            sa.and_(column.is_(None), Account.id > row_id)
            if forward
            else sa.or_(column.is_not(None), sa.and_(column.is_(None), Account.id < row_id))
        )
    elif column_up == id_up:
        key, at = sa.tuple_(column, Account.id), sa.tuple_(sa.literal(value, column.type), sa.literal(row_id, Account.id.type))
        beyond = key > at if column_up else key < at
    elif column_up:
        beyond = sa.and_(column >= value, sa.or_(column > value, Account.id < row_id))
    else:
        beyond = sa.and_(column <= value, sa.or_(column < value, Account.id > row_id))
    if value is not None and forward and nullable:
        beyond = sa.or_(beyond, column.is_(None))
    order = _empty_last(column.asc() if column_up else column.desc(), nullable, last=forward)
    rows, more = _rows_and_more(
        stmt.where(beyond).order_by(order, Account.id.asc() if id_up else Account.id.desc()), per_page, ids_first=ids_first
    )
    if not rows:  # nothing on that side of the cursor any more: the first page
        return _offset_page(stmt, column, filters.descending, 1, per_page, total, capped, nullable, ids_first)
    return _page_beside(rows, more, forward, page, per_page, total, capped)


def _page_beside(
    rows: list[Account], more: bool, forward: bool, page: int, per_page: int, total: int, capped: bool = False
) -> Page[Account]:
    """The page of ``rows`` read after a cursor (``forward``) or before it (read backwards: put
    back in the page's order here), ``more`` telling whether rows lie beyond them that way."""
    if forward:
        page = max(2, page)
        next_after, prev_before = (rows[-1].id if more else None), rows[0].id
    else:
        rows.reverse()
        page = max(2, page) if more else 1
        next_after, prev_before = rows[-1].id, (rows[0].id if more else None)
    return Page(rows, total, page, per_page, total_capped=capped, next_after=next_after, prev_before=prev_before, keyset=True)


#: What the list shows of each account (and the API's list returns), loaded with it: of the
#: platform, owner and steward only what a row names. Their whole rows, and the owner's holder
#: no row shows, made a page cost more to build than to find (at 200,000 accounts, the first page
#: 6.6 → 6.0 ms, a filter's 9.8 → 8.9 ms).
_LIST_ROW = (
    joinedload(Account.platform).load_only(Platform.name),
    contains_eager(Account.department),
    joinedload(Account.owner_profile).load_only(Profile.name, Profile.handle, Profile.kind),
    joinedload(Account.steward).load_only(Person.name, Person.status),
)
#: Sorts no index serves in order: a department's name (accounts without one come last, so the
#: departments cannot lead the join), and status descending (ties by id ascending within each
#: status, the reverse of the index), and on PostgreSQL a platform's name (it sorts the first
#: platform's accounts). The page's ids are sorted first, then its rows loaded, not every row
#: sorted whole with what the list shows of it (200,000 accounts: by department 760 ms, the sort
#: spilling to disk; status descending 63 ms; by platform on PostgreSQL 56).
_SORTED_BY_ID_FIRST = ("department", "status", "platform")


def _rows_and_more(stmt: sa.Select[Any], per_page: int, offset: int = 0, ids_first: bool = False) -> tuple[list[Account], bool]:
    """A page's rows, and whether more follow (one row more is read to know)."""
    page = stmt.limit(per_page + 1).offset(offset)
    with joins_as_written(db.session):
        if ids_first:
            rows = _rows_of(list(db.session.scalars(page.with_only_columns(Account.id))))
        else:
            rows = list(db.session.scalars(page.options(*_LIST_ROW)).unique())
    return rows[:per_page], len(rows) > per_page


def _rows_of(ids: list[int]) -> list[Account]:
    """The accounts of ``ids`` in that order, with what the list shows of each."""
    # By id alone: the page's filters (a search's trigram match, say) were applied when the ids were found.
    by_ids = sa.select(Account).outerjoin(Account.department).where(Account.id.in_(ids))
    by_id = {account.id: account for account in db.session.scalars(by_ids.options(*_LIST_ROW)).unique()}
    return [by_id[i] for i in ids]


def _by_department(
    conditions: list[Any], descending: bool, page: int, per_page: int, total: int, capped: bool, cursor: Any, forward: bool
) -> Page[Account]:
    """The list sorted by department (accounts without one last, ties by id), unfiltered or
    filtered by ``conditions`` that many accounts meet: the first page, or the page after /
    before ``cursor`` (its department's name, or None, and its id).

    Read as its two parts in the page's order: the accounts with a department through the
    departments in name order, each one's accounts by key (sorted among themselves), then those
    without a department by id. Sorting every account's id by its department's name for each
    page read all 200,000 accounts at L (23 ms); this way a page reads its rows and stops.
    """
    name_up = descending != forward  # reading the departments' names upwards
    by_id = Account.id.asc() if forward else Account.id.desc()
    with_department = (
        sa.select(Account.id)
        .select_from(Department)
        .join(Account, Account.department_id == Department.id)
        .where(*conditions)
        .order_by(Department.name.asc() if name_up else Department.name.desc(), by_id)
    )
    # Every name is at least the empty one: a range on the departments' names, so SQLite reads them
    # in name order and each one's accounts by key, not every account and then sorts them.
    every_department = Department.name >= ""
    without = sa.select(Account.id).where(Account.department_id.is_(None), *conditions).order_by(by_id)
    parts: list[sa.Select[Any]]
    if cursor is None:
        parts = [with_department.where(every_department), without]
    else:
        value, row_id = cursor
        beyond_id = Account.id > row_id if forward else Account.id < row_id
        if value is None:  # among those without a department, which come after every other
            parts = [without.where(beyond_id)] + ([] if forward else [with_department.where(every_department)])
        else:
            from_its_department = Department.name >= value if name_up else Department.name <= value
            past_it = sa.or_(Department.name > value if name_up else Department.name < value, beyond_id)
            parts = [with_department.where(from_its_department, past_it)] + ([without] if forward else [])
    ids: list[int] = []
    with joins_as_written(db.session):
        for part in parts:
            if len(ids) > per_page:
                break
            ids += db.session.scalars(part.limit(per_page + 1 - len(ids)))
        more, ids = len(ids) > per_page, ids[:per_page]
        rows = _rows_of(ids) if ids else []
    if cursor is not None and not rows:  # nothing on that side of the cursor any more: the first page
        return _by_department(conditions, descending, 1, per_page, total, capped, None, True)
    if cursor is None:
        next_after = rows[-1].id if more and rows else None
        return Page(rows, total, 1, per_page, total_capped=capped, next_after=next_after, keyset=True)
    return _page_beside(rows, more, forward, page, per_page, total, capped)


def _empty_last(order: Any, nullable: bool, last: bool = True) -> Any:
    """``order`` with empty values last (or, read backwards, first), for a column that can be
    empty. A column that cannot keeps its plain order: PostgreSQL reads an index backwards only
    in its own null order (sorted by name descending, "NULLS LAST" sorted all 200,000 accounts:
    300 ms)."""
    if not nullable:
        return order
    return order.nulls_last() if last else order.nulls_first()


def _offset_page(
    stmt: sa.Select[Any],
    column: Any,
    descending: bool,
    page: int,
    per_page: int,
    total: int,
    capped: bool,
    nullable: bool,
    ids_first: bool = False,
) -> Page[Account]:
    """A page by position: ``OFFSET`` walks the rows before it (a page past the end shows the last)."""
    page = max(1, page) if capped else min(max(1, page), max(1, ceil(total / per_page)))
    offset = (page - 1) * per_page
    if not capped and (backwards := from_the_end(offset, per_page, total)) is not None:
        # Nearer the end of an exact total: read backwards from the end, skipping only the rows
        # after the page (the order ends with the id, so the rows are the same). Page 7,200 of
        # 8,000 through the API at L: 11.4 ms reading forwards.
        reversed_order = _empty_last(column.asc() if descending else column.desc(), nullable, last=False)
        rows, _ = _rows_and_more(stmt.order_by(reversed_order, Account.id.desc()), backwards[1], backwards[0], True)
        rows.reverse()
        more = offset + len(rows) < total
    else:
        ordered = stmt.order_by(_empty_last(column.desc() if descending else column.asc(), nullable), Account.id)
        # A page after the first by number (the API's, or a number typed in) skips the rows before it
        # by their ids alone, not each joined with what the list shows of it (page 4,000 at L: 330 ms;
        # 6 ms), so its cost grows only with the ids it skips.
        rows, more = _rows_and_more(ordered, per_page, offset, ids_first or offset > 0)
    next_after = rows[-1].id if more and rows else None
    prev_before = rows[0].id if page > 1 and rows else None
    return Page(rows, total, page, per_page, total_capped=capped, next_after=next_after, prev_before=prev_before, keyset=True)


def _validate(data: AccountData, account: Account | None = None) -> Platform:
    errors: dict[str, list[str]] = {}
    platform = db.session.get(Platform, data.platform_id)
    if platform is None:
        errors.setdefault("platform_id", []).append("Choose a platform from the list.")
    if not data.name.strip():
        errors.setdefault("name", []).append("Give the account a name people will recognise.")
    if problem := urls.web_address_problem(data.url):
        errors.setdefault("url", []).append(problem)
    if data.department_id is not None and db.session.get(Department, data.department_id) is None:
        errors.setdefault("department_id", []).append("That department no longer exists.")
    if data.steward_id is not None and db.session.get(Person, data.steward_id) is None:
        errors.setdefault("steward_id", []).append("That person no longer exists.")
    if data.owner_profile_id is not None:
        owner = db.session.get(Profile, data.owner_profile_id)
        if owner is None:
            errors.setdefault("owner_profile_id", []).append("That profile no longer exists.")
        elif platform is not None and owner.platform_id != platform.id:
            errors.setdefault("owner_profile_id", []).append(
                f"The owner must be a {platform.name} profile; {owner.name} is on {owner.platform.name}."
            )
    if platform is not None and data.handle.strip():
        clash = sa.select(Account.id).where(
            Account.platform_id == platform.id,
            sa.func.lower(Account.handle) == data.handle.strip().lower(),
        )
        if account is not None:
            clash = clash.where(Account.id != account.id)
        if db.session.scalar(clash) is not None:
            errors.setdefault("handle", []).append(f"Another {platform.name} account already has this handle.")
    if errors:
        raise ValidationFailed("Some fields need attention; nothing was saved.", errors)
    assert platform is not None
    return platform


def _apply(account: Account, data: AccountData) -> None:
    for f in fields(AccountData):
        value = getattr(data, f.name)
        setattr(account, f.name, value.strip() if isinstance(value, str) else value)


def create_account(actor: Actor, data: AccountData) -> Account:
    """Create an account and its audit event. Raises PermissionDenied or ValidationFailed (field errors)."""
    permissions.require(permissions.can_edit_inventory(actor), "Only IT and admins add accounts.")
    _validate(data)
    account = Account()
    _apply(account, data)
    db.session.add(account)
    db.session.flush()
    audit.record_event(actor, "account.create", "account", account.id, f"Created {account.name}", None, _snapshot(account))
    return account


def _check_version(account: Account, expected_version: int) -> None:
    if account.version != expected_version:
        raise StaleEdit(f"The account “{account.name}”", audit.changes_since("account", account.id, expected_version))


def update_account(actor: Actor, account: Account, data: AccountData, expected_version: int) -> Account:
    """Apply an edit made from ``expected_version``.

    Raises PermissionDenied, StaleEdit (with what changed since) or ValidationFailed; changes
    nothing on error.
    """
    permissions.require(permissions.can_edit_account(actor, account))
    _check_version(account, expected_version)
    _validate(data, account)
    if actor.has_role(Role.STAFF) and data.steward_id != account.steward_id and data.steward_id is None:
        raise ValidationFailed(
            "Some fields need attention; nothing was saved.",
            {"steward_id": ["Every account needs a steward; choose who takes it over."]},
        )
    if data.status is AccountStatus.RETIRED and not account.is_retired:
        # Retiring needs a reason on record; the Retire page asks for it.
        raise ValidationFailed(
            "Some fields need attention; nothing was saved.",
            {"status": ["To retire an account use “Retire…” on its page: it asks why, and keeps the reason in the history."]},
        )
    before, platform_before = _snapshot(account), account.platform_id
    _apply(account, data)
    if account.status is AccountStatus.RETIRED and account.retired_at is None:
        account.retired_at = utcnow()
    elif account.status is not AccountStatus.RETIRED:
        account.retired_at = None
    db.session.flush()
    if account.platform_id != platform_before:
        # Its notes now belong to the new platform, and follow its interval unless they have their own.
        credentials.follow_platform(account=account)
    # The relationships still hold the objects loaded before the edit; reload them from the new ids.
    db.session.expire(account, list(RELATED))
    after = _snapshot(account)
    if {k: v for k, v in before.items() if k != "version"} != {k: v for k, v in after.items() if k != "version"}:
        audit.record_event(actor, "account.update", "account", account.id, f"Edited {account.name}", before, after)
    return account


def retire_account(actor: Actor, account: Account, expected_version: int, reason: str) -> Account:
    """Mark an account retired (never deleted: its history stays). Requires a reason."""
    permissions.require(permissions.can_edit_account(actor, account))
    _check_version(account, expected_version)
    if not reason.strip():
        raise ValidationFailed("Say why the account is retired.", {"reason": ["Say why the account is retired."]})
    if account.is_retired:
        raise ValidationFailed(f"{account.name} is already retired.")
    before = _snapshot(account)
    account.status = AccountStatus.RETIRED
    account.retired_at = utcnow()
    db.session.flush()
    audit.record_event(
        actor, "account.retire", "account", account.id, f"Retired {account.name}: {reason.strip()}", before, _snapshot(account)
    )
    return account


# --- Admin roles ---------------------------------------------------------------------------


def add_admin(actor: Actor, account: Account, profile_id: int, role_name: str, since: date | None = None) -> AccountAdmin:
    """Give a profile a role on the account. Raises ValidationFailed for a foreign platform, an unknown role or a repeat."""
    permissions.require(permissions.can_edit_account(actor, account))
    profile = db.session.get(Profile, profile_id)
    errors: dict[str, list[str]] = {}
    if profile is None:
        errors["profile_id"] = ["Choose a profile from the list."]
    elif profile.platform_id != account.platform_id:
        errors["profile_id"] = [f"Only {account.platform.name} profiles can hold roles on this account."]
    elif any(a.profile_id == profile.id for a in account.admins):
        errors["profile_id"] = [f"{profile.name} already holds a role here; remove it first to change the role."]
    role_name = role_name.strip()
    roles = account.platform.role_names
    if roles and role_name not in roles:
        errors["role_name"] = [f"{account.platform.name} roles are: {', '.join(roles)}."]
    elif not role_name:
        errors["role_name"] = ["Name the role."]
    if errors:
        raise ValidationFailed("The role was not added.", errors)
    assert profile is not None
    admin = AccountAdmin(account=account, profile=profile, role_name=role_name, since=since or date.today())
    db.session.add(admin)
    db.session.flush()
    audit.record_event(
        actor,
        "account.admin.add",
        "account",
        account.id,
        f"Gave {profile.label} ({profile.kind.label.lower()}) the {role_name} role",
        None,
        {"profile": profile.label, "role": role_name, "since": audit.plain(admin.since)},
    )
    return admin


def remove_admin(actor: Actor, account: Account, admin_id: int) -> None:
    """Remove a profile's role on the account. Raises NotFound if it is not there (already removed)."""
    permissions.require(permissions.can_edit_account(actor, account))
    admin = next((a for a in account.admins if a.id == admin_id), None)
    if admin is None:
        raise NotFound("That role is no longer on this account; someone may have removed it already.")
    before = {"profile": admin.profile.label, "role": admin.role_name, "since": audit.plain(admin.since)}
    account.admins.remove(admin)
    db.session.flush()
    audit.record_event(
        actor,
        "account.admin.remove",
        "account",
        account.id,
        f"Removed the {before['role']} role of {before['profile']}",
        before,
        None,
    )


# --- Recovery contacts --------------------------------------------------------------------


def _digits(value: str) -> str:
    """A phone number reduced to its digits, so "+1 (202) 555-0123" matches "12025550123"."""
    return "".join(ch for ch in value if ch.isdigit())


def _same_contact(value: str, own: str | None) -> bool:
    """Whether a recovery value is the given email or phone of a person (case and punctuation aside)."""
    if not own:
        return False
    return value.strip().lower() == own.strip().lower() or bool(_digits(value)) and _digits(value) == _digits(own)


def _match_person(kind: RecoveryKind, value: str) -> Person | None:
    """The person whose personal email or phone this is, if any (why DESIGN keeps them)."""
    normalised = value.strip().lower()
    if kind is RecoveryKind.EMAIL:
        return db.session.scalar(
            sa.select(Person).where(
                sa.or_(sa.func.lower(Person.personal_email) == normalised, sa.func.lower(Person.work_email) == normalised)
            )
        )
    if kind is RecoveryKind.PHONE and _digits(value):
        for person in db.session.scalars(sa.select(Person).where(Person.personal_phone.is_not(None))):
            if _digits(person.personal_phone or "") == _digits(value):
                return person
    return None


def recorded_value(kind: RecoveryKind, value: str, person: Person | None) -> str:
    """How a recovery contact is written into history: a person's own email or phone by
    description only, so erasing their personal details later leaves nothing behind (DESIGN: Privacy)."""
    if person is not None and (_same_contact(value, person.personal_email) or _same_contact(value, person.personal_phone)):
        return f"{person.name}'s personal {kind.label.lower()}"
    return value


def add_recovery_contact(
    actor: Actor,
    account: Account,
    kind: RecoveryKind,
    value: str,
    person_id: int | None = None,
    last_verified_at: datetime | None = None,
) -> RecoveryContact:
    """Add where recovery would go. An email or phone that is a person's own is tied to them automatically."""
    permissions.require(permissions.can_edit_account(actor, account))
    value = value.strip()
    if not value:
        raise ValidationFailed("The recovery contact was not added.", {"value": ["Give the address, number or name."]})
    person = db.session.get(Person, person_id) if person_id else _match_person(kind, value)
    if person_id and person is None:
        raise ValidationFailed("The recovery contact was not added.", {"person_id": ["That person no longer exists."]})
    contact = RecoveryContact(account=account, kind=kind, value=value, person=person, last_verified_at=last_verified_at)
    db.session.add(contact)
    db.session.flush()
    tied = f", tied to {person.name}" if person else " (institutional)"
    shown = recorded_value(kind, value, person)
    audit.record_event(
        actor,
        "account.recovery.add",
        "account",
        account.id,
        f"Added recovery {kind.label.lower()} {shown}{tied}",
        None,
        {"kind": kind.value, "value": shown, "person": person.name if person else None},
    )
    return contact


def remove_recovery_contact(actor: Actor, account: Account, contact_id: int) -> None:
    permissions.require(permissions.can_edit_account(actor, account))
    contact = next((c for c in account.recovery_contacts if c.id == contact_id), None)
    if contact is None:
        raise NotFound("That recovery contact is no longer on this account; someone may have removed it already.")
    shown = recorded_value(contact.kind, contact.value, contact.person)
    before = {"kind": contact.kind.value, "value": shown, "person": contact.person.name if contact.person else None}
    account.recovery_contacts.remove(contact)
    db.session.flush()
    audit.record_event(
        actor,
        "account.recovery.remove",
        "account",
        account.id,
        f"Removed recovery {contact.kind.label.lower()} {shown}",
        before,
        None,
    )


# --- Connections --------------------------------------------------------------------------


def add_connection(actor: Actor, account: Account, tool_name: str, profile_id: int | None, purpose: str = "") -> Connection:
    """Record a third-party tool authorised through a profile's login."""
    permissions.require(permissions.can_edit_account(actor, account))
    errors: dict[str, list[str]] = {}
    if not tool_name.strip():
        errors["tool_name"] = ["Name the tool (e.g. Hootsuite)."]
    profile = db.session.get(Profile, profile_id) if profile_id else None
    if profile_id and profile is None:
        errors["profile_id"] = ["That profile no longer exists."]
    elif profile is not None and profile.platform_id != account.platform_id:
        errors["profile_id"] = [
            f"A tool is authorised through a {account.platform.name} profile; {profile.label} is on {profile.platform.name}."
        ]
    if errors:
        raise ValidationFailed("The connection was not added.", errors)
    connection = Connection(account=account, tool_name=tool_name.strip(), purpose=purpose.strip(), profile=profile)
    db.session.add(connection)
    db.session.flush()
    through = f" through {profile.label}" if profile else ""
    audit.record_event(
        actor,
        "account.connection.add",
        "account",
        account.id,
        f"Connected {connection.tool_name}{through}",
        None,
        {"tool": connection.tool_name, "profile": profile.label if profile else None, "purpose": connection.purpose},
    )
    return connection


def remove_connection(actor: Actor, account: Account, connection_id: int) -> None:
    permissions.require(permissions.can_edit_account(actor, account))
    connection = next((c for c in account.connections if c.id == connection_id), None)
    if connection is None:
        raise NotFound("That connection is no longer on this account; someone may have removed it already.")
    before = {"tool": connection.tool_name, "profile": connection.profile.label if connection.profile else None}
    account.connections.remove(connection)
    db.session.flush()
    audit.record_event(
        actor, "account.connection.remove", "account", account.id, f"Disconnected {connection.tool_name}", before, None
    )
