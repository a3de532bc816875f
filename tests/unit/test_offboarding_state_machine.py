"""A stateful property test (Hypothesis) of offboarding: cases are started, items completed,
confirmed and waived, cases refreshed, cancelled and closed, while the registry keeps changing
underneath (new admin roles, recovery contacts, stewardships, reveals). Whatever the order:

- a CLOSED case means its person holds nothing (a fresh scan) and none of its items is open;
- a person has at most one open case.

Each example runs on a fresh SQLite file copied from a template made once.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from app import create_app
from app.extensions import db
from app.models import (
    Account,
    CaseStatus,
    ChecklistItem,
    ItemKind,
    ItemStatus,
    OffboardingCase,
    Person,
    PersonStatus,
    Profile,
    ProfileKind,
    RecoveryKind,
    Role,
)
from app.models.base import utcnow
from app.models.credential import CredentialKind, CredentialNote, CredentialReveal
from app.services import accounts, checklist, credentials, offboarding
from app.services.accounts import AccountData
from app.services.context import Actor
from app.services.errors import DomainError
from tests import factories

HR = Actor(user_id=None, name="Hal HR", role=Role.HR)
ADMIN = Actor(user_id=None, name="Ada Admin", role=Role.ADMIN)
IT = Actor(user_id=None, name="Ida IT", role=Role.IT)
DIRECTOR = Actor(user_id=None, name="Dee Director", role=Role.DIRECTOR)
PEOPLE = 6
ACCOUNTS = 5
pick = st.integers(min_value=0, max_value=10_000)

#: Filled by the fixture: the app (context pushed), its database file, the schema template and the test's day.
RUN: dict[str, Any] = {}


@pytest.fixture
def machine_app(tmp_path: Path, today: date) -> Iterator[Flask]:
    template = tmp_path / "template.sqlite3"
    path = tmp_path / "machine.sqlite3"
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")
    with app.app_context():
        db.create_all()
        db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.remove()
        db.engine.dispose()
        shutil.copy(path, template)
        RUN.update(app=app, path=path, template=template, today=today)
        yield app
        db.session.remove()
        db.engine.dispose()
    RUN.clear()


def _fresh_database() -> None:
    db.session.remove()
    db.engine.dispose()
    for suffix in ("-wal", "-shm"):
        Path(f"{RUN['path']}{suffix}").unlink(missing_ok=True)
    shutil.copy(RUN["template"], RUN["path"])


def staff(person: Person) -> Actor:
    return Actor(user_id=None, name=person.name, role=Role.STAFF, person_id=person.id)


class Offboarding(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        _fresh_database()
        self.platform = factories.make_platform("Facebook", role_names=["admin", "editor"])
        self.org = factories.make_profile(self.platform, ProfileKind.ORGANISATION, name="Library Portfolio")
        self.people = [factories.make_person(f"Person {n}", personal_email=f"p{n}@home.example") for n in range(PEOPLE)]
        self.personal = [
            factories.make_profile(self.platform, ProfileKind.PERSONAL, holder=p, name=f"{p.name} (personal)")
            for p in self.people
        ]
        self.accounts = []
        for n in range(ACCOUNTS):
            owner = self.personal[n % PEOPLE] if n % 2 == 0 else self.org
            account = factories.make_account(
                self.platform, name=f"Account {n}", owner_profile=owner, steward=self.people[(n + 1) % PEOPLE]
            )
            factories.make_admin(account, self.personal[n % PEOPLE], "admin")
            self.accounts.append(account)
        persona = factories.make_profile(self.platform, ProfileKind.PERSONA, name="Melvilla", custodians=[self.people[1]])
        self.notes = [
            credentials.create_note(
                IT, credentials.NoteData(label="Login", kind=CredentialKind.PASSWORD), "s3cret-value", account=self.accounts[0]
            ),
            credentials.create_note(
                IT, credentials.NoteData(label="Persona login", kind=CredentialKind.PASSWORD), "other-value", profile=persona
            ),
        ]
        factories.make_user(Role.STAFF, person=self.people[2])
        db.session.commit()
        self.counter = 0

    # --- helpers ----------------------------------------------------------------------------

    def _try(self, service: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a service call as a door would: commit on success, roll back on a refusal."""
        try:
            result = service(*args, **kwargs)
        except DomainError:
            db.session.rollback()
            return None
        db.session.commit()
        return result

    def _items(self, *statuses: ItemStatus) -> list[ChecklistItem]:
        return list(
            db.session.scalars(
                sa.select(ChecklistItem)
                .join(ChecklistItem.case)
                .where(OffboardingCase.status == CaseStatus.OPEN, ChecklistItem.status.in_(statuses))
                .order_by(ChecklistItem.id)
            )
        )

    def _cases(self, status: CaseStatus) -> list[OffboardingCase]:
        return list(
            db.session.scalars(sa.select(OffboardingCase).where(OffboardingCase.status == status).order_by(OffboardingCase.id))
        )

    def _editable_people(self) -> list[Person]:
        """People whose case has not closed: a closed case's person is not linked to anything again here."""
        closed = {c.person_id for c in self._cases(CaseStatus.CLOSED)}
        return [p for p in self.people if p.id not in closed]

    def _someone_staying(self, leaver: Person, n: int) -> Person | None:
        staying = [p for p in self.people if p.status is PersonStatus.ACTIVE and p.id != leaver.id]
        return staying[n % len(staying)] if staying else None

    def _data_for(self, item: ChecklistItem, n: int) -> dict[str, Any] | None:
        """Valid form data for the item's kind (as in tests/unit/test_checklist_complete.py)."""
        self.counter += 1
        kind = item.kind
        if kind is ItemKind.TRANSFER_OWNERSHIP:
            return {"new_owner_profile_id": self.org.id}
        if kind is ItemKind.ADD_ADMIN:
            return {"profile_id": self.org.id, "role_name": "admin"}
        if kind is ItemKind.REPLACE_RECOVERY:
            return {"kind": "email", "value": f"web{self.counter}@library.example"}
        if kind is ItemKind.ROTATE_CREDENTIAL:
            return {"new_secret": f"brand-new-secret-{self.counter}-xyz", "reason": "Leaver"}
        if kind in (ItemKind.REASSIGN_CUSTODIAN, ItemKind.REASSIGN_STEWARD):
            successor = self._someone_staying(item.case.person, n)
            return None if successor is None else {"new_person_id": successor.id}
        if kind is ItemKind.REAUTHORISE_CONNECTION:
            return {"profile_id": self.org.id}
        if kind is ItemKind.HAND_OVER_AUDIENCE:
            return {"note": "Pinned a post pointing to the library's page"}
        if kind is ItemKind.EXIT_DECLARATION:
            return {"declared": []}
        return {}

    # --- rules ------------------------------------------------------------------------------

    @rule(n=pick, days=st.integers(min_value=0, max_value=20))
    def start(self, n: int, days: int) -> None:
        active = [p for p in self.people if p.status is PersonStatus.ACTIVE]
        if active:
            person = active[n % len(active)]
            self._try(offboarding.start_case, HR, person, RUN["today"] + timedelta(days=days), "Leaving")

    @rule(n=pick)
    def complete(self, n: int) -> None:
        items = self._items(ItemStatus.OPEN)
        if items:
            item = items[n % len(items)]
            data = self._data_for(item, n)
            if data is not None:
                self._try(checklist.complete_item, ADMIN, item, data, item.version)

    @rule(n=pick, as_admin=st.booleans())
    def confirm(self, n: int, as_admin: bool) -> None:
        items = self._items(ItemStatus.AWAITING_CONFIRMATION)
        if items:
            item = items[n % len(items)]
            actor = staff(item.confirmer) if item.confirmer is not None and not as_admin else ADMIN
            self._try(checklist.confirm_item, actor, item, item.version)

    @rule(n=pick)
    def waive(self, n: int) -> None:
        items = self._items(ItemStatus.OPEN, ItemStatus.AWAITING_CONFIRMATION)
        if items:
            item = items[n % len(items)]
            self._try(checklist.waive_item, DIRECTOR, item, "Handled outside Handover", item.version)

    @rule(n=pick)
    def refresh(self, n: int) -> None:
        cases = self._cases(CaseStatus.OPEN)
        if cases:
            case = cases[n % len(cases)]
            self._try(offboarding.refresh_case, IT, case)

    @rule(n=pick)
    def cancel(self, n: int) -> None:
        cases = self._cases(CaseStatus.OPEN)
        if cases:
            case = cases[n % len(cases)]
            self._try(offboarding.cancel_case, HR, case, "Changed their mind")

    @rule(n=pick)
    def close(self, n: int) -> None:
        cases = self._cases(CaseStatus.OPEN)
        if cases:
            case = cases[n % len(cases)]
            self._try(checklist.close_case, HR, case)  # refused while anything is left: fine

    @rule(n=pick, waive_refused=st.booleans())
    def work_through(self, n: int, waive_refused: bool) -> None:
        """Work one open case to the end as its people would: complete (or waive what is refused),
        confirm, refresh, then try to close. Reaches closed cases in a few steps."""
        cases = self._cases(CaseStatus.OPEN)
        if not cases:
            return
        case_id = cases[n % len(cases)].id
        for _ in range(4):
            case = db.session.get(OffboardingCase, case_id)
            for item in list(case.items):
                if item.status is ItemStatus.OPEN:
                    data = self._data_for(item, n)
                    done = data is not None and self._try(checklist.complete_item, ADMIN, item, data, item.version)
                    if not done and waive_refused:
                        self._try(checklist.waive_item, DIRECTOR, item, "Refused; handled by hand", item.version)
                if item.status is ItemStatus.AWAITING_CONFIRMATION:
                    actor = staff(item.confirmer) if item.confirmer is not None else ADMIN
                    self._try(checklist.confirm_item, actor, item, item.version)
            self._try(offboarding.refresh_case, IT, case)
        self._try(checklist.close_case, HR, db.session.get(OffboardingCase, case_id))

    @rule(n=pick, a=pick)
    def add_admin_role(self, n: int, a: int) -> None:
        people = self._editable_people()
        if people:
            person = people[n % len(people)]
            profile = next(p for p in self.personal if p.holder_id == person.id)
            account = self.accounts[a % ACCOUNTS]
            self._try(accounts.add_admin, ADMIN, account, profile.id, "editor")

    @rule(n=pick, a=pick)
    def add_recovery_contact(self, n: int, a: int) -> None:
        people = self._editable_people()
        if people:
            person = people[n % len(people)]
            account = self.accounts[a % ACCOUNTS]
            self.counter += 1
            self._try(
                accounts.add_recovery_contact,
                ADMIN,
                account,
                RecoveryKind.EMAIL,
                f"tied{self.counter}@home.example",
                person_id=person.id,
            )

    @rule(n=pick, a=pick)
    def make_steward(self, n: int, a: int) -> None:
        people = self._editable_people()
        if people:
            person = people[n % len(people)]
            account = db.session.get(Account, self.accounts[a % ACCOUNTS].id)
            values = {f: getattr(account, f) for f in AccountData.__dataclass_fields__}
            values["steward_id"] = person.id
            self._try(accounts.update_account, ADMIN, account, AccountData(**values), account.version)

    @rule(n=pick, k=pick)
    def reveal(self, n: int, k: int) -> None:
        people = self._editable_people()
        if people:
            person = people[n % len(people)]
            note = db.session.get(CredentialNote, self.notes[k % len(self.notes)].id)
            db.session.add(
                CredentialReveal(note=note, person_id=person.id, actor_name=person.name, reason="posting", revealed_at=utcnow())
            )
            db.session.commit()

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def closed_means_nothing_is_held(self) -> None:
        for case in self._cases(CaseStatus.CLOSED):
            assert offboarding.holds_nothing(case.person) == [], (case.person.name, offboarding.holds_nothing(case.person))
            assert [i.title for i in case.items if not i.status.is_finished] == []

    @invariant()
    def one_open_case_per_person(self) -> None:
        counts = db.session.execute(
            sa.select(OffboardingCase.person_id, sa.func.count())
            .where(OffboardingCase.status == CaseStatus.OPEN)
            .group_by(OffboardingCase.person_id)
        ).all()
        assert all(count == 1 for _, count in counts), counts

    def teardown(self) -> None:
        db.session.remove()


Offboarding.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None, derandomize=True, database=None)


def test_offboarding_state_machine(machine_app: Flask) -> None:
    Offboarding.TestCase("runTest").runTest()


def test_the_seed_has_something_to_offboard(machine_app: Flask, today: date) -> None:
    """The starting registry ties people to accounts, so cases have real items to work."""
    machine = Offboarding()
    person = machine.people[0]
    case = offboarding.start_case(HR, person, today + timedelta(days=7), "Leaving")
    kinds = {i.kind for i in case.items}
    assert {ItemKind.TRANSFER_OWNERSHIP, ItemKind.REMOVE_ADMIN, ItemKind.ADD_ADMIN} <= kinds
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Profile)) >= PEOPLE
    machine.teardown()
