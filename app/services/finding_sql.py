"""The audit rules as INSERT … SELECT statements: the finding index rebuilt inside the database.

``findings.evaluate`` builds a Python object per finding, with its sentence: right for the rows
a page shows and for the few accounts a change touches, too slow for the whole registry (36 s at
200,000 accounts). Here each rule is one statement that writes its index rows directly. The two
formulations must agree: every test ends by comparing the index with a full evaluation
(``findings.index_problems``), so a rule changed in one place and not the other fails the suite.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import GenericFunction

from app.db_setup import sqlite_settings
from app.extensions import db
from app.models.account import Account, AccountAdmin, AccountStatus, RecoveryContact, RecoveryKind
from app.models.credential import CredentialNote, CredentialReveal
from app.models.finding import FindingAcceptance, IndexedFinding, IndexedFindingPerson, MustRotateNote
from app.models.person import Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile, ProfileCustodian, ProfileKind

LEFT = (PersonStatus.LEAVING, PersonStatus.DEPARTED)
PERSONAL_RECOVERY = (RecoveryKind.EMAIL, RecoveryKind.PHONE)
LIVE = Account.status != AccountStatus.RETIRED
INDEX_COLUMNS = [
    "rule_id",
    "severity_rank",
    "subject_type",
    "subject_id",
    "account_id",
    "platform_id",
    "department_id",
    "steward_id",
    "sort_name",
    "accepted",
]
#: The longest sort name kept (the column's length).
SORT_NAME_LENGTH = 254
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def sort_name(name: str) -> str:
    """The index's sort key: the name with A–Z lowered and nothing else, as the database's
    ``sort_lower`` does, so a row sorts the same whichever side wrote it."""
    return name.translate(_ASCII_LOWER)[:SORT_NAME_LENGTH]


class sort_lower(GenericFunction):  # noqa: N801 (a SQL function's name)
    """``lower()`` of A–Z only: SQLite's built-in lower, PostgreSQL's under the C collation."""

    type = sa.String()
    inherit_cache = True


@compiles(sort_lower)
def _sort_lower(element: Any, compiler: Any, **kw: Any) -> str:
    return f"substr(lower({compiler.process(element.clauses, **kw)}), 1, {SORT_NAME_LENGTH})"


@compiles(sort_lower, "postgresql")
def _sort_lower_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return f'substr(lower(({compiler.process(element.clauses, **kw)}) COLLATE "C"), 1, {SORT_NAME_LENGTH})'


def _const(value: str | int) -> Any:
    """A constant written into the statement: rule ids, subject kinds and ranks are the code's,
    never input (and a typed constant unions cleanly on PostgreSQL, where a parameter may not)."""
    if isinstance(value, str):
        return sa.literal_column(f"'{value}'", sa.String)
    return sa.literal_column(str(int(value)), sa.Integer)


def _utc_day(moment: Any) -> Any:
    """The UTC calendar day of a timestamp column (``datetime.date()`` of an aware UTC value)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", moment), sa.Date)
    return sa.func.date(moment)  # SQLite keeps UTC timestamps as ISO text


def _left_after(person: Any, moment: Any) -> Any:
    """``credentials._left_after`` for someone leaving or gone: their leaving is not yet behind
    ``moment``."""
    return sa.or_(
        person.status == PersonStatus.LEAVING,
        person.left_on.is_(None),
        sa.and_(person.left_on >= _utc_day(moment), sa.or_(person.updated_at.is_(None), person.updated_at > moment)),
    )


def _accepted(rule_id: str, subject_type: str, subject_id: Any, today: date) -> Any:
    return (
        sa.select(FindingAcceptance.id)
        .where(
            FindingAcceptance.rule_id == rule_id,
            FindingAcceptance.subject_type == subject_type,
            FindingAcceptance.subject_id == subject_id,
            FindingAcceptance.expires_on >= today,
        )
        .exists()
    )


def _accounts(rule_id: str, rank: int, today: date, *where: Any) -> sa.Select:
    """Live accounts meeting ``where`` as index rows of ``rule_id``."""
    return sa.select(
        _const(rule_id),
        _const(rank),
        _const("account"),
        Account.id,
        Account.id,
        Account.platform_id,
        Account.department_id,
        Account.steward_id,
        sort_lower(Account.name),
        _accepted(rule_id, "account", Account.id, today),
    ).where(LIVE, *where)


def _profile_label(profile: Any) -> Any:
    """Profile.label in SQL."""
    return sa.case(
        (sa.and_(profile.handle != "", profile.handle != profile.name), profile.name + " (" + profile.handle + ")"),
        else_=profile.name,
    )


def _notes(rule_id: str, rank: int, today: date, *where: Any) -> sa.Select:
    """Credential notes of live accounts and of profiles meeting ``where`` as index rows."""
    note, account, profile = CredentialNote, aliased(Account), aliased(Profile)
    return (
        sa.select(
            _const(rule_id),
            _const(rank),
            _const("credential"),
            note.id,
            note.account_id,
            sa.func.coalesce(account.platform_id, profile.platform_id),
            account.department_id,
            account.steward_id,
            sort_lower(sa.func.coalesce(account.name, _profile_label(profile) + " (profile)")),
            _accepted(rule_id, "credential", note.id, today),
        )
        .select_from(note)
        .outerjoin(account, note.account_id == account.id)
        .outerjoin(profile, note.profile_id == profile.id)
        .where(sa.or_(note.account_id.is_(None), account.status != AccountStatus.RETIRED), *where)
    )


def _leaver_links() -> sa.CompoundSelect:
    """(account id, person id): every way someone leaving or gone holds an account: through its
    owner profile or an admin role's profile (as holder or custodian), or as a recovery contact."""
    person, profile, link = aliased(Person), aliased(Profile), aliased(ProfileCustodian)
    left = person.status.in_(LEFT)
    return sa.union(
        sa.select(Account.id.label("subject"), person.id.label("person"))
        .join(profile, Account.owner_profile_id == profile.id)
        .join(person, profile.holder_id == person.id)
        .where(left),
        sa.select(AccountAdmin.account_id, person.id)
        .join(profile, AccountAdmin.profile_id == profile.id)
        .join(person, profile.holder_id == person.id)
        .where(left),
        sa.select(AccountAdmin.account_id, person.id)
        .join(link, link.profile_id == AccountAdmin.profile_id)
        .join(person, link.person_id == person.id)
        .where(left),
        sa.select(Account.id, person.id)
        .join(link, link.profile_id == Account.owner_profile_id)
        .join(person, link.person_id == person.id)
        .where(left),
        sa.select(RecoveryContact.account_id, person.id).join(person, RecoveryContact.person_id == person.id).where(left),
    )


def must_rotate_ids(scoped: bool = False) -> sa.CompoundSelect:
    """The ids of the notes that must rotate (``credentials.state_of``), found from the few people
    who left; ``scoped``: only among the notes given as the parameter ``notes``. Built once for
    each database kind (it reads a day from a timestamp as each does): its aliases cost more to
    make than to run (3.7 ms, when the rotation queue made them on each page)."""
    return _must_rotate_ids(db.session.get_bind().dialect.name, scoped)


@functools.cache
def _must_rotate_ids(dialect: str, scoped: bool) -> sa.CompoundSelect:
    revealers, keepers = revealers_who_left(), keepers_who_left()
    if scoped:
        among = sa.bindparam("notes", expanding=True)
        revealers = revealers.where(revealers.selected_columns.subject.in_(among))
        keepers = keepers.where(keepers.selected_columns.subject.in_(among))
    found, kept = revealers.subquery(), keepers.subquery()
    return sa.union(sa.select(found.c.subject), sa.select(kept.c.subject))


def must_rotate_notes(scoped: bool = False) -> sa.Select:
    """(note id, account id, due date) of the must-rotate notes (every one, or with ``scoped``
    those among the parameter ``notes``): what MustRotateNote keeps."""
    return sa.select(CredentialNote.id, CredentialNote.account_id, CredentialNote.due_at).where(
        CredentialNote.id.in_(must_rotate_ids(scoped))
    )


def must_rotate_rows(scoped: bool = False) -> sa.Insert:
    """``must_rotate_notes`` written into MustRotateNote (its table: an ORM insert would take the
    parameters for rows)."""
    return sa.insert(MustRotateNote.__table__).from_select(["note_id", "account_id", "due_at"], must_rotate_notes(scoped))


def revealers_who_left() -> sa.Select:
    """(note id, person id): who revealed the note's current value and is leaving or gone."""
    person, note = aliased(Person), aliased(CredentialNote)  # aliased: never correlated to an enclosing select
    return (
        sa.select(CredentialReveal.note_id.label("subject"), person.id.label("person"))
        .join(person, CredentialReveal.person_id == person.id)
        .join(note, CredentialReveal.note_id == note.id)
        .where(person.status.in_(LEFT), CredentialReveal.revealed_at >= note.rotated_at)
    )


def keepers_who_left() -> sa.Select:
    """(note id, person id): who keeps the note's profile, is leaving or gone, and was not yet
    gone when the note was last rotated."""
    person, note = aliased(Person), aliased(CredentialNote)
    return (
        sa.select(note.id.label("subject"), person.id.label("person"))
        .join(ProfileCustodian, ProfileCustodian.profile_id == note.profile_id)
        .join(person, ProfileCustodian.person_id == person.id)
        .where(person.status.in_(LEFT), _left_after(person, note.rotated_at))
    )


def _has(rule_id: str, subject_type: str, subject_id: Any) -> Any:
    """The index already holds this finding (one probe of its unique key)."""
    return (
        sa.select(IndexedFinding.id)
        .where(
            IndexedFinding.rule_id == rule_id,
            IndexedFinding.subject_type == subject_type,
            IndexedFinding.subject_id == subject_id,
        )
        .exists()
    )


def _admins_who_left() -> Any:
    """(account id, n): admin roles held through a profile of someone leaving or gone (found from
    the few people who left, once for the whole registry)."""
    profile, holder = aliased(Profile), aliased(Person)
    return (
        sa.select(AccountAdmin.account_id, sa.func.count().label("n"))
        .join(profile, AccountAdmin.profile_id == profile.id)
        .join(holder, profile.holder_id == holder.id)
        .where(holder.status.in_(LEFT))
        .group_by(AccountAdmin.account_id)
        .subquery()
    )


def statements(ranks: dict[str, int], today: date, now: datetime, review_interval_days: int) -> list[sa.Executable]:
    """The rebuild, in the order it must run, into an empty index: the rows of each rule, then
    everyone each finding concerns. ``ranks``: each rule's severity rank."""

    def accounts(rule_id: str, *where: Any) -> sa.Select:
        return _accounts(rule_id, ranks[rule_id], today, *where)

    def notes(rule_id: str, *where: Any) -> sa.Select:
        return _notes(rule_id, ranks[rule_id], today, *where)

    owner, shared, steward = aliased(Profile), aliased(Profile), aliased(Person)
    contact = aliased(Person)
    note = CredentialNote
    links = _leaver_links().subquery()
    revealers, keepers = revealers_who_left().subquery(), keepers_who_left().subquery()
    # Each condition on another table found once (the personal profiles, the few shared logins,
    # contacts that are people, people no longer active), then the accounts it touches: never a
    # subquery run again for every account (at 200,000 accounts, a personal owner 165 → 115 ms,
    # a steward gone 200 → 43 ms).
    personal_owner = Account.owner_profile_id.in_(sa.select(owner.id).where(owner.kind == ProfileKind.PERSONAL))
    shared_ids = sa.select(shared.id).where(shared.kind == ProfileKind.SHARED_LOGIN)
    shared_in_use = Account.id.in_(
        sa.union(
            sa.select(AccountAdmin.account_id).where(AccountAdmin.profile_id.in_(shared_ids)),
            sa.select(Account.id).where(Account.owner_profile_id.in_(shared_ids)),
        )
    )
    personal_contact = Account.id.in_(
        sa.select(RecoveryContact.account_id).where(
            RecoveryContact.kind.in_(PERSONAL_RECOVERY), RecoveryContact.person_id.is_not(None)
        )
    )
    admins = sa.select(sa.func.count()).where(AccountAdmin.account_id == Account.id).correlate(Account).scalar_subquery()
    left_admins = _admins_who_left()
    single_admin = accounts("single-admin", admins - sa.func.coalesce(left_admins.c.n, 0) < 2).outerjoin(
        left_admins, left_admins.c.account_id == Account.id
    )
    any_contact = sa.select(RecoveryContact.id).where(RecoveryContact.account_id == Account.id).exists()
    any_note = sa.select(CredentialNote.id).where(CredentialNote.account_id == Account.id).exists()
    delegating = sa.select(Platform.id).where(Platform.delegated_access.is_(True))
    inactive_steward = Account.steward_id.in_(sa.select(steward.id).where(steward.status != PersonStatus.ACTIVE))
    must_rotate = sa.or_(
        note.id.in_(sa.select(revealers.c.subject)),
        note.id.in_(sa.select(keepers.c.subject)),
    )
    rows = {
        "owner-personal": accounts("owner-personal", personal_owner),
        "held-by-leaver": accounts("held-by-leaver", Account.id.in_(sa.select(links.c.subject))),
        "single-admin": single_admin,
        "recovery-personal": accounts("recovery-personal", personal_contact),
        "recovery-missing": accounts("recovery-missing", ~any_contact),
        "credential-leaver": notes("credential-leaver", must_rotate),
        # After the leaver rule: a note that must rotate is not also overdue. The due date as
        # one term, as for "not-reviewed" below: through the index on it SQLite reads the notes
        # due (70,000 of 200,000 at L) one lookup each, slower than reading them all in order.
        "credential-overdue": notes(
            "credential-overdue",
            sa.func.coalesce(note.due_at <= now, sa.false()),
            ~_has("credential-leaver", "credential", note.id),
        ),
        "login-without-note": accounts("login-without-note", Account.has_own_login.is_(True), ~any_note),
        "no-steward": accounts("no-steward", sa.or_(Account.steward_id.is_(None), inactive_steward)),
        "shared-password": accounts("shared-password", Account.platform_id.in_(delegating), shared_in_use),
        # Never reviewed, or not since the cutoff, as one term: as "IS NULL OR <", SQLite reads the
        # accounts through the index on last_reviewed_at, one lookup each (150,000 of them at L),
        # slower than reading them all.
        "not-reviewed": accounts(
            "not-reviewed",
            sa.func.coalesce(Account.last_reviewed_at < now - timedelta(days=review_interval_days), sa.true()),
        ),
    }
    inserts: list[sa.Executable] = [sa.insert(IndexedFinding).from_select(INDEX_COLUMNS, select) for select in rows.values()]

    # Who each rule names (a finding's steward is its own column, not repeated here).
    found = IndexedFinding
    people_columns = ["person_id", "rule_id", "subject_type", "subject_id", "account_id"]
    named = sa.union(
        sa.select(
            _const("owner-personal").label("rule_id"),
            _const("account").label("subject_type"),
            Account.id.label("subject_id"),
            owner.holder_id.label("person"),
        )
        .join(owner, Account.owner_profile_id == owner.id)
        .where(owner.kind == ProfileKind.PERSONAL, owner.holder_id.is_not(None)),
        sa.select(_const("held-by-leaver"), _const("account"), links.c.subject, links.c.person),
        sa.select(_const("recovery-personal"), _const("account"), RecoveryContact.account_id, contact.id)
        .join(contact, RecoveryContact.person_id == contact.id)
        .where(RecoveryContact.kind.in_(PERSONAL_RECOVERY)),
        sa.select(_const("credential-leaver"), _const("credential"), revealers.c.subject, revealers.c.person),
        sa.select(_const("credential-leaver"), _const("credential"), keepers.c.subject, keepers.c.person),
        sa.select(_const("no-steward"), _const("account"), Account.id, steward.id)
        .join(steward, Account.steward_id == steward.id)
        .where(steward.status != PersonStatus.ACTIVE),
    ).subquery()
    inserts.append(
        sa.insert(IndexedFindingPerson).from_select(
            people_columns,
            sa.select(named.c.person, found.rule_id, found.subject_type, found.subject_id, found.account_id).join(
                found,
                sa.and_(
                    found.rule_id == named.c.rule_id,
                    found.subject_type == named.c.subject_type,
                    found.subject_id == named.c.subject_id,
                ),
            ),
        )
    )
    return inserts


#: SQLite's page cache while the index is loaded (KiB, as PRAGMA cache_size takes it when negative).
LOAD_CACHE_KIB = 65536
#: For a sort of the whole index (building one of its indexes, counting it by rule and
#: department), SQLite's page cache and helper threads: it sorts in runs the size of the page
#: cache, each run sorted by a helper thread while the next is read. Small runs sorted two at a time
#: finish sooner than one large run (at 200,000 accounts, the nine indexes 2.2 s → 1.5 s, the
#: counts 340 → 195 ms).
SORT_CACHE_KIB = 2048
SORT_THREADS = 2


def sorting() -> AbstractContextManager[None]:
    """On SQLite, sort large (``SORT_CACHE_KIB``, ``SORT_THREADS``) until the block ends."""
    return sqlite_settings(db.session.connection(), cache_size=-SORT_CACHE_KIB, threads=SORT_THREADS)


@contextmanager
def bulk_load() -> Iterator[None]:
    """On SQLite, empty and load the index without its secondary indexes and build them afterwards
    (sorting 420,000 rows once is quicker than placing each in seven B-trees: a rebuild at 200,000
    accounts 11 s → 5 s), with a larger page cache meanwhile and without overwriting the freed
    pages (the index holds names and ids, no secret; 0.6 s at L). Readers are not affected: in WAL
    mode they keep seeing the committed index, indexes and all, until the rebuild commits. On
    PostgreSQL, where dropping an index would lock readers out until then, rows go in as they are.

    Used inside the index's lock (``findings.rebuild`` takes it first): on SQLite taking it opens
    the transaction, so the dropped indexes are part of it and come back with a rollback."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    # Only those the database has (a registry not yet migrated to this code's revision may lack one).
    present = set(
        connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('finding_index', 'finding_index_people')"
        ).scalars()
    )
    indexes = [
        ix
        for model in (IndexedFinding, IndexedFindingPerson)
        for ix in model.__table__.indexes
        if not ix.unique and ix.name in present
    ]
    with sqlite_settings(connection, cache_size=-LOAD_CACHE_KIB, secure_delete=0):
        for index in indexes:
            index.drop(connection)
        yield
        with sorting():
            for index in indexes:
                index.create(connection)
