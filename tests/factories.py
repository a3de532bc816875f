"""Small factory helpers with keyword defaults (Notify's tests/app/db.py style). Each flushes."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from app.extensions import db
from app.models import (
    Account,
    AccountAdmin,
    AccountStatus,
    Connection,
    Department,
    FindingAcceptance,
    Person,
    PersonStatus,
    Platform,
    Profile,
    ProfileCustodian,
    ProfileKind,
    RecoveryContact,
    RecoveryKind,
    Role,
    User,
)
from app.services.users import hash_password

_seq = itertools.count(1)
#: The password every test user gets.
PASSWORD = "test-password-long-enough"
_HASH: dict[str, str] = {}


def _n() -> int:
    return next(_seq)


def _save(obj: Any) -> Any:
    db.session.add(obj)
    db.session.flush()
    return obj


def make_department(name: str | None = None, **kw: Any) -> Department:
    return _save(Department(name=name or f"Department {_n()}", **kw))


def make_person(name: str | None = None, status: PersonStatus = PersonStatus.ACTIVE, **kw: Any) -> Person:
    n = _n()
    kw.setdefault("work_email", f"person{n}@org.example")
    if status is PersonStatus.LEAVING:
        kw.setdefault("last_day", date.today())
    if status is PersonStatus.DEPARTED:
        kw.setdefault("left_on", date.today())
    return _save(Person(name=name or f"Person {n}", status=status, **kw))


def make_platform(name: str | None = None, **kw: Any) -> Platform:
    n = _n()
    kw.setdefault("role_names", ["owner", "admin", "editor"])
    kw.setdefault("slug", f"platform-{n}")
    return _save(Platform(name=name or f"Platform {n}", **kw))


def make_profile(
    platform: Platform | None = None,
    kind: ProfileKind = ProfileKind.ORGANISATION,
    holder: Person | None = None,
    custodians: list[Person] | None = None,
    **kw: Any,
) -> Profile:
    n = _n()
    profile = _save(
        Profile(platform=platform or make_platform(), kind=kind, holder=holder, name=kw.pop("name", f"Profile {n}"), **kw)
    )
    for person in custodians or []:
        _save(ProfileCustodian(profile=profile, person=person))
    return profile


def make_account(platform: Platform | None = None, **kw: Any) -> Account:
    n = _n()
    kw.setdefault("status", AccountStatus.ACTIVE)
    return _save(Account(platform=platform or make_platform(), name=kw.pop("name", f"Account {n}"), **kw))


def make_accounts_to_sort(platforms: list[Platform], department: Department, n: int = 11) -> list[Account]:
    """``n`` accounts with ties and empty values in every sort of the accounts list: names repeat,
    every third has no department, some are dormant, every fourth was never reviewed; they take
    the platforms in turn."""
    return [
        make_account(
            platforms[i % len(platforms)],
            name=f"Account {i % 4}",
            department=department if i % 3 else None,
            status=(AccountStatus.ACTIVE, AccountStatus.DORMANT)[i % 5 == 0],
            last_reviewed_at=None if i % 4 == 0 else datetime(2026, 1, 1 + i % 3, tzinfo=UTC),
        )
        for i in range(n)
    ]


def make_admin(account: Account, profile: Profile, role_name: str = "admin", **kw: Any) -> AccountAdmin:
    return _save(AccountAdmin(account=account, profile=profile, role_name=role_name, **kw))


def make_recovery(
    account: Account, value: str = "it@org.example", kind: RecoveryKind = RecoveryKind.EMAIL, **kw: Any
) -> RecoveryContact:
    return _save(RecoveryContact(account=account, kind=kind, value=value, **kw))


def make_connection(account: Account, tool_name: str = "Scheduler", **kw: Any) -> Connection:
    return _save(Connection(account=account, tool_name=tool_name, **kw))


def make_user(role: Role = Role.STAFF, email: str | None = None, person: Person | None = None, **kw: Any) -> User:
    # Hash once per run: argon2 is deliberately slow.
    if PASSWORD not in _HASH:
        _HASH[PASSWORD] = hash_password(PASSWORD)
    if person is None:
        person = make_person(name=f"{role.label} User")
    return _save(
        User(email=email or f"{role.value}{_n()}@org.example", password_hash=_HASH[PASSWORD], role=role, person=person, **kw)
    )


def make_acceptance(account: Account, rule_id: str, expires_on: date, **kw: Any) -> FindingAcceptance:
    """A director's acceptance of one rule's finding on an account, until ``expires_on``."""
    kw.setdefault("accepted_by_name", "Dee Director")
    kw.setdefault("reason", "Accepted while it is dealt with")
    return _save(FindingAcceptance(rule_id=rule_id, subject_type="account", subject_id=account.id, expires_on=expires_on, **kw))
