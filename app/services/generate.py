"""A large, varied, realistic registry for benchmarks and load tests (``flask demo generate``).

Everything is written with SQLAlchemy Core bulk inserts. Ids are allocated up front (after the
largest id already in each table) because a credential note's envelope is bound to its row id
(``crypto.associated_data``): the secret is sealed before the row exists. Audit history is
appended to the existing hash chain, so ``flask audit verify`` keeps passing. The same seed gives
the same organisation (names, ties, dates relative to ``now``); only AES-GCM nonces differ.

Open offboarding cases go through ``offboarding.start_case``, so their checklists are exactly
what the application itself would generate.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Account,
    AccountAdmin,
    AccountStatus,
    AuditEvent,
    Connection,
    CredentialKind,
    CredentialNote,
    CredentialReveal,
    Department,
    Person,
    PersonStatus,
    Platform,
    Profile,
    ProfileCustodian,
    ProfileKind,
    RecoveryContact,
    RecoveryKind,
)
from app.services import audit, catalogue, crypto, findings, kept_counts, offboarding
from app.services.context import Actor
from app.services.credentials import TABLE as NOTE_TABLE
from app.services.errors import DomainError

#: Named sizes (people, accounts) used by ``make bench``.
SCALES: dict[str, tuple[int, int]] = {"S": (200, 1_000), "M": (2_000, 20_000), "L": (20_000, 200_000)}

#: How many admin roles an account has (1 to 6), and how often: about two on average.
ADMIN_COUNTS = (1, 2, 3, 4, 5, 6)
ADMIN_WEIGHTS = (45, 30, 12, 7, 4, 2)

FIRST_NAMES = [
    "Ada",
    "Alex",
    "Amir",
    "Ana",
    "Ben",
    "Bea",
    "Cal",
    "Cara",
    "Dana",
    "Dev",
    "Eli",
    "Ema",
    "Finn",
    "Fay",
    "Gus",
    "Gia",
    "Hana",
    "Hugo",
    "Ida",
    "Ivo",
    "Jo",
    "Jay",
    "Kai",
    "Kim",
    "Lee",
    "Lia",
    "Max",
    "Mia",
    "Ned",
    "Nia",
    "Oli",
    "Ola",
    "Pat",
    "Pia",
    "Quin",
    "Raj",
    "Ria",
    "Sam",
    "Sia",
    "Tom",
    "Tia",
    "Uma",
    "Vic",
    "Vera",
    "Wen",
    "Xia",
    "Yan",
    "Yara",
    "Zac",
    "Zoe",
]
LAST_NAMES = [
    "Abara",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Fofana",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Mensah",
    "Novak",
    "Okafor",
    "Patel",
    "Quinn",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhou",
    "Ortiz",
    "Nguyen",
    "Kim",
    "Murphy",
    "Dubois",
    "Sato",
    "Moreau",
    "Nowak",
]
DEPARTMENT_WORDS = [
    "Communications",
    "Children's",
    "Services",
    "Adult",
    "Learning",
    "Reference",
    "Archives",
    "Events",
    "Marketing",
    "Digital",
    "Outreach",
    "Facilities",
    "Finance",
    "HR",
    "IT",
    "Local",
    "History",
    "Makerspace",
    "Youth",
    "Branches",
    "Collections",
    "Fundraising",
    "Volunteers",
]
ACCOUNT_WORDS = [
    "Library",
    "Branch",
    "Reads",
    "Events",
    "Kids",
    "Teens",
    "Makers",
    "Archive",
    "Podcast",
    "News",
    "Jobs",
    "Museum",
    "Garden",
    "Studio",
    "Club",
    "Cafe",
    "Stories",
]
PLACES = [
    "North",
    "South",
    "East",
    "West",
    "Central",
    "Harbour",
    "Hill",
    "River",
    "Park",
    "Market",
    "Old",
    "Town",
    "Bridge",
    "Meadow",
    "Forest",
]
TOOLS = ("Buffer", "Hootsuite", "Zapier", "Canva", "Later", "Sprout Social", "Mailchimp", "IFTTT", "Google Analytics")


class RegistryNotEmpty(DomainError):
    """The registry already has people: generated data would mix with real data."""

    status = 409


@dataclass
class GenerationSummary:
    counts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return "Generated " + ", ".join(f"{n:,} {name}" for name, n in self.counts.items()) + "."


def registry_is_empty() -> bool:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 0


def _next_id(model: Any) -> int:
    return (db.session.scalar(sa.select(sa.func.max(model.id))) or 0) + 1


def _sync_sequences(models: Sequence[Any]) -> None:
    """PostgreSQL sequences past the ids written explicitly, so later ORM inserts do not collide."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        table = model.__tablename__
        db.session.execute(
            # The table name is a model's, never input.
            sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))")  # noqa: S608  # nosec B608  # a model's table name, never input
        )


def _insert(model: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        db.session.execute(sa.insert(model.__table__), rows)


class _Chain:
    """Audit events for generated records, appended to the existing hash chain in batches."""

    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.rows: list[dict[str, Any]] = []

    def add(self, when: datetime, action: str, object_type: str, object_id: int, summary: str, after: dict[str, Any]) -> None:
        self.rows.append(
            {
                "occurred_at": when,
                "actor_id": self.actor.user_id,
                "actor_name": self.actor.name,
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
                "summary": summary,
                "before": None,
                "after": after,
                "request_id": "",
                "remote_addr": "",
            }
        )

    def flush(self) -> int:
        """Chain and insert the pending events; returns how many were written."""
        if not self.rows:
            return 0
        audit.chain_rows(self.rows)  # numbered and linked as audit.record_events does (under its lock)
        next_id = _next_id(AuditEvent)
        for offset, row in enumerate(self.rows):
            row["id"] = next_id + offset
        _insert(AuditEvent, self.rows)
        written, self.rows = len(self.rows), []
        return written


def generate_organisation(
    actor: Actor,
    keyring: crypto.Keyring,
    *,
    people: int,
    accounts: int,
    seed: int = 1,
    now: datetime | None = None,
    batch_size: int = 5_000,
    checkpoint: Callable[[int], None] | None = None,
) -> GenerationSummary:
    """Fill an empty registry with ``people`` people and ``accounts`` accounts, and everything around them.

    Guarantees: departments with heads; active, leaving (each with an open offboarding case) and
    departed people; one account in twenty without a department; every profile kind, with
    custodians for personas and shared logins; 1–6 admin roles per account; recovery contacts
    (some personal, some institutional); connections; credential notes sealed under the primary
    key and bound to their rows; a few reveals; an audit event per person and account, chained.
    ``checkpoint(n)`` is called after each batch with the number of people or accounts just
    written (the CLI commits there and moves its progress bar); nothing here commits.

    Raises RegistryNotEmpty if anyone is on the staff list already.
    """
    if not registry_is_empty():
        raise RegistryNotEmpty("The registry already has people. Generate data only into an empty database.")
    if people < 10 or accounts < 1:
        raise DomainError("Generate at least 10 people and 1 account.")
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    today = now.date()
    done = checkpoint or (lambda _n: db.session.flush())
    counts: dict[str, int] = {}
    chain = _Chain(actor)
    # Creation times run forward over three years, one step per generated record, so the audit
    # history reads in order.
    start = now - timedelta(days=3 * 365)
    step = timedelta(days=3 * 365) / (people + accounts + 1)
    clock = iter(start + step * i for i in range(people + accounts + 1))

    if not db.session.scalar(sa.select(sa.func.count()).select_from(Platform)):
        catalogue.ensure_catalogue(actor)
    platforms = [
        SimpleNamespace(id=p.id, slug=p.slug, roles=list(p.role_names) or ["owner"], rotation_days=p.rotation_days)
        for p in db.session.scalars(sa.select(Platform).order_by(Platform.id))
    ]

    # --- Departments and people ---------------------------------------------------------------
    n_departments = max(4, min(300, people // 40))
    first_department = _next_id(Department)
    department_ids = list(range(first_department, first_department + n_departments))
    _insert(
        Department,
        [
            {
                "id": d,
                "name": f"{DEPARTMENT_WORDS[i % len(DEPARTMENT_WORDS)]}"
                + (f" {i // len(DEPARTMENT_WORDS) + 1}" if i >= len(DEPARTMENT_WORDS) else ""),
                "description": "",
                "created_at": start,
                "updated_at": start,
            }
            for i, d in enumerate(department_ids)
        ],
    )
    counts["departments"] = n_departments

    first_person = _next_id(Person)
    person_ids = list(range(first_person, first_person + people))
    heads = {d: person_ids[i] for i, d in enumerate(department_ids[: len(person_ids)])}
    status_of: dict[int, PersonStatus] = {}
    leaving_soon: list[int] = []
    department_of: dict[int, int] = {}
    person_rows: list[dict[str, Any]] = []
    for i, pid in enumerate(person_ids):
        department = department_ids[i] if i < n_departments else rng.choice(department_ids)
        department_of[pid] = department
        roll = rng.random()
        is_head = i < n_departments
        status = PersonStatus.DEPARTED if roll < 0.06 and not is_head else PersonStatus.ACTIVE
        if status is PersonStatus.ACTIVE and 0.06 <= roll < 0.08 and not is_head:
            leaving_soon.append(pid)  # made leaving by start_case below, with an open case
        status_of[pid] = status
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        when = next(clock)
        departed = status is PersonStatus.DEPARTED
        person_rows.append(
            {
                "id": pid,
                "name": f"{first} {last}",
                "work_email": f"{first.lower()}.{last.lower()}.{pid}@staff.example.org",
                "personal_email": None if departed else f"{first.lower()}{pid}@mail.example.com",
                "personal_phone": None if departed or rng.random() < 0.5 else f"+44 7700 {pid % 1_000_000:06d}",
                "job_title": rng.choice(("Librarian", "Assistant", "Officer", "Coordinator", "Manager", "Technician")),
                "department_id": department,
                "manager_id": None if is_head else heads.get(department),
                "hr_id": f"HR{pid:07d}",
                "status": status,
                "left_on": today - timedelta(days=rng.randint(1, 700)) if departed else None,
                "last_day": None,
                "created_at": when,
                "updated_at": when,
                "version": 1,
            }
        )
        chain.add(when, "person.create", "person", pid, f"Added {first} {last} to the staff list", {"name": f"{first} {last}"})
    for chunk in range(0, len(person_rows), batch_size):
        _insert(Person, person_rows[chunk : chunk + batch_size])
        done(0)
    db.session.execute(
        Department.__table__.update().where(Department.__table__.c.id == sa.bindparam("d")).values(head_id=sa.bindparam("h")),
        [{"d": d, "h": h} for d, h in heads.items()],
    )
    counts["people"] = people
    counts["audit events"] = chain.flush()
    _sync_sequences([Department, Person, AuditEvent])
    done(people)

    active = [p for p in person_ids if status_of[p] is PersonStatus.ACTIVE]
    departed = [p for p in person_ids if status_of[p] is PersonStatus.DEPARTED]
    email_of = {r["id"]: r["personal_email"] for r in person_rows}
    del person_rows

    # --- Profiles ---------------------------------------------------------------------------
    profile_id = _next_id(Profile)
    profile_rows: list[dict[str, Any]] = []
    custodian_rows: list[dict[str, Any]] = []
    #: Per platform: every profile that may hold a role, and a small busy team picked more often.
    pool: dict[int, list[int]] = {p.id: [] for p in platforms}
    team: dict[int, list[int]] = {p.id: [] for p in platforms}
    custodial: list[tuple[int, int]] = []  # (profile id, platform id) of personas and shared logins
    holder_of: dict[int, int | None] = {}

    def add_profile(platform: Any, kind: ProfileKind, name: str, holder: int | None, **extra: Any) -> int:
        nonlocal profile_id
        pid = profile_id
        profile_id += 1
        profile_rows.append(
            {
                "id": pid,
                "platform_id": platform.id,
                "kind": kind,
                "name": name,
                "handle": f"@{name.lower().replace(' ', '_')[:40]}_{pid}",
                "holder_id": holder,
                "signup_email": extra.get("signup_email", ""),
                "speaks_for_organisation": extra.get("speaks", False),
                "notes": "",
                "version": 1,
            }
        )
        pool[platform.id].append(pid)
        holder_of[pid] = holder
        return pid

    for person in person_ids:
        for platform in rng.sample(platforms, k=1 if rng.random() < 0.7 else 2):
            add_profile(platform, ProfileKind.PERSONAL, f"Person {person} on {platform.slug}", person, speaks=rng.random() < 0.05)
    for platform in platforms:
        busy = rng.sample(pool[platform.id], k=min(len(pool[platform.id]), max(3, len(pool[platform.id]) // 50)))
        team[platform.id].extend(busy)
    for i in range(max(4, people // 20)):
        platform = rng.choice(platforms)
        custodial.append((add_profile(platform, ProfileKind.PERSONA, f"Persona {i}", None), platform.id))
    for i in range(max(4, people // 15)):
        platform = rng.choice(platforms)
        mailbox = f"team{i}@example.org"
        custodial.append(
            (add_profile(platform, ProfileKind.SHARED_LOGIN, f"Shared {i}", None, signup_email=mailbox), platform.id)
        )
    for platform in platforms:
        for i in range(2 + accounts // (50 * len(platforms))):
            add_profile(platform, ProfileKind.ORGANISATION, f"{platform.slug} organisation {i}", None)
    for pid, _platform in custodial:
        for person in rng.sample(person_ids, k=rng.randint(1, 3)):
            custodian_rows.append({"profile_id": pid, "person_id": person, "since": start})
    for chunk in range(0, len(profile_rows), batch_size):
        _insert(Profile, profile_rows[chunk : chunk + batch_size])
    _insert(ProfileCustodian, custodian_rows)
    by_kind = {kind: sum(1 for r in profile_rows if r["kind"] is kind) for kind in ProfileKind}
    owners: dict[int, dict[ProfileKind, list[int]]] = {p.id: {k: [] for k in ProfileKind} for p in platforms}
    for row in profile_rows:
        owners[row["platform_id"]][row["kind"]].append(row["id"])
    counts["profiles"] = len(profile_rows)
    counts["profile custodians"] = len(custodian_rows)
    _sync_sequences([Profile, ProfileCustodian])
    done(0)

    # --- Accounts and what hangs off them, in batches -----------------------------------------
    account_id = _next_id(Account)
    admin_id = _next_id(AccountAdmin)
    note_id = _next_id(CredentialNote)
    totals = {"accounts": 0, "admin roles": 0, "recovery contacts": 0, "connections": 0, "credential notes": 0, "reveals": 0}
    owner_kinds = (ProfileKind.ORGANISATION, ProfileKind.SHARED_LOGIN, ProfileKind.PERSONA, ProfileKind.PERSONAL)
    for chunk_start in range(0, accounts, batch_size):
        rows: dict[str, list[dict[str, Any]]] = {
            k: [] for k in ("accounts", "admins", "recovery", "connections", "notes", "reveals")
        }
        for _ in range(chunk_start, min(accounts, chunk_start + batch_size)):
            aid = account_id
            account_id += 1
            platform = rng.choice(platforms)
            when = next(clock)
            kind = rng.choices(owner_kinds, weights=(60, 15, 10, 15))[0]
            owner = rng.choice(owners[platform.id][kind] or owners[platform.id][ProfileKind.ORGANISATION])
            status = rng.choices(list(AccountStatus), weights=(90, 6, 4))[0]
            steward = rng.choice(departed if departed and rng.random() < 0.03 else active)
            name = f"{rng.choice(PLACES)} {rng.choice(ACCOUNT_WORDS)} {aid}"
            own_login = rng.random() < 0.65
            rows["accounts"].append(
                {
                    "id": aid,
                    "platform_id": platform.id,
                    "name": name,
                    "handle": f"@{name.lower().replace(' ', '')}",
                    "url": f"https://{platform.slug}.example/{aid}",
                    "purpose": "",
                    # One account in twenty belongs to no department, as in a real registry:
                    # what lists, sorts and counts by department do with those is measured too.
                    "department_id": None if aid % 20 == 0 else department_of[steward],
                    "status": status,
                    "owner_profile_id": owner,
                    "steward_id": steward,
                    "has_own_login": own_login,
                    "last_reviewed_at": None if rng.random() < 0.3 else now - timedelta(days=rng.randint(1, 500)),
                    "retired_at": when if status is AccountStatus.RETIRED else None,
                    "created_at": when,
                    "updated_at": when,
                    "version": 1,
                }
            )
            chain.add(when, "account.create", "account", aid, f"Added “{name}”", {"name": name, "platform_id": platform.id})
            n_admins = rng.choices(ADMIN_COUNTS, weights=ADMIN_WEIGHTS)[0]
            chosen: list[int] = [owner]
            candidates = pool[platform.id]
            while len(chosen) < min(n_admins, len(candidates)):
                pick = rng.choice(team[platform.id] if rng.random() < 0.3 and team[platform.id] else candidates)
                if pick not in chosen:
                    chosen.append(pick)
            for position, profile in enumerate(chosen):
                rows["admins"].append(
                    {
                        "id": admin_id,
                        "account_id": aid,
                        "profile_id": profile,
                        "role_name": platform.roles[0 if position == 0 else min(position, len(platform.roles) - 1)],
                        "since": (when - timedelta(days=rng.randint(0, 30))).date(),
                    }
                )
                admin_id += 1
            for _contact in range(rng.choice((1, 1, 2))):
                roll = rng.random()
                person = rng.choice(person_ids)
                if roll < 0.35 and email_of[person]:
                    contact = {"kind": RecoveryKind.EMAIL, "value": email_of[person], "person_id": person}
                elif roll < 0.75:
                    contact = {"kind": RecoveryKind.EMAIL, "value": f"social+{aid}@example.org", "person_id": None}
                elif roll < 0.9:
                    contact = {"kind": RecoveryKind.PHONE, "value": f"+44 20 7946 {aid % 10_000:04d}", "person_id": None}
                else:
                    contact = {"kind": RecoveryKind.BACKUP_CODES_HOLDER, "value": "Held in the safe", "person_id": person}
                contact.update(
                    account_id=aid, last_verified_at=None if rng.random() < 0.5 else now - timedelta(days=rng.randint(1, 400))
                )
                rows["recovery"].append(contact)
            if rng.random() < 0.3:
                rows["connections"].append(
                    {
                        "account_id": aid,
                        "tool_name": rng.choice(TOOLS),
                        "purpose": "Scheduling posts",
                        "profile_id": rng.choice(chosen),
                        "authorised_at": when,
                    }
                )
            if own_login and status is not AccountStatus.RETIRED:
                kinds = [CredentialKind.PASSWORD] + ([CredentialKind.BACKUP_CODES] if rng.random() < 0.5 else [])
                for note_kind in kinds:
                    rotated = now - timedelta(days=rng.randint(0, 500))
                    rows["notes"].append(
                        {
                            "id": note_id,
                            "account_id": aid,
                            "profile_id": None,
                            "label": note_kind.label,
                            "kind": note_kind,
                            "secret": keyring.seal(
                                f"generated-{seed}-{note_id}-{rng.getrandbits(64):016x}",
                                crypto.associated_data(NOTE_TABLE, note_id, "secret"),
                            ),
                            "key_id": keyring.primary.key_id,
                            "rotated_at": rotated,
                            "rotation_days": None,
                            "due_at": rotated + timedelta(days=platform.rotation_days),
                            "platform_id": platform.id,
                            "created_at": when,
                            "updated_at": when,
                            "version": 1,
                        }
                    )
                    if rng.random() < 0.02:
                        viewer = rng.choice(person_ids)
                        rows["reveals"].append(
                            {
                                "note_id": note_id,
                                "user_id": None,
                                "person_id": viewer,
                                "actor_name": f"Person {viewer}",
                                "reason": "Posting during the event",
                                "revealed_at": rotated + timedelta(days=1),
                            }
                        )
                    note_id += 1
        _insert(Account, rows["accounts"])
        _insert(AccountAdmin, rows["admins"])
        _insert(RecoveryContact, rows["recovery"])
        _insert(Connection, rows["connections"])
        _insert(CredentialNote, rows["notes"])
        _insert(CredentialReveal, rows["reveals"])
        counts["audit events"] += chain.flush()
        for name, key in (
            ("accounts", "accounts"),
            ("admin roles", "admins"),
            ("recovery contacts", "recovery"),
            ("connections", "connections"),
            ("credential notes", "notes"),
            ("reveals", "reveals"),
        ):
            totals[name] += len(rows[key])
        _sync_sequences([Account, AccountAdmin, RecoveryContact, Connection, CredentialNote, CredentialReveal, AuditEvent])
        done(len(rows["accounts"]))

    # Notes on personas and shared logins (their custodians keep them).
    profile_notes = []
    for pid, platform_id in custodial:
        rotated = now - timedelta(days=rng.randint(0, 500))
        rotation = next(p.rotation_days for p in platforms if p.id == platform_id)
        profile_notes.append(
            {
                "id": note_id,
                "account_id": None,
                "profile_id": pid,
                "label": "Password",
                "kind": CredentialKind.PASSWORD,
                "secret": keyring.seal(f"generated-{seed}-{note_id}", crypto.associated_data(NOTE_TABLE, note_id, "secret")),
                "key_id": keyring.primary.key_id,
                "rotated_at": rotated,
                "rotation_days": None,
                "due_at": rotated + timedelta(days=rotation),
                "platform_id": platform_id,
                "created_at": start,
                "updated_at": start,
                "version": 1,
            }
        )
        note_id += 1
    _insert(CredentialNote, profile_notes)
    totals["credential notes"] += len(profile_notes)
    _sync_sequences([CredentialNote])
    counts.update(totals)
    counts.update({f"{kind.label.lower()} profiles": n for kind, n in by_kind.items()})
    done(0)

    # --- Leavers: open cases generated by the application's own rules --------------------------
    cases = 0
    for pid in leaving_soon:
        person = db.session.get(Person, pid)
        offboarding.start_case(
            actor, person, today + timedelta(days=rng.randint(5, 40)), "Generated leaver", via="csv", today=today
        )
        cases += 1
    counts["open cases"] = cases
    counts["departed people"] = len(departed)
    # The bulk inserts went past the ORM: the finding index is rebuilt from the whole registry.
    findings.rebuild(findings.configured_interval(), today)
    # One kept-count row per insert statement and status (PostgreSQL): folded into one each.
    kept_counts.compact()
    done(0)
    return GenerationSummary(counts=counts)


def scale_sizes(name: str) -> tuple[int, int]:
    """(people, accounts) for a named scale; raises KeyError for an unknown name."""
    return SCALES[name.upper()]
