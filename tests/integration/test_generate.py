"""`flask demo generate`: a varied organisation whose secrets open and whose audit chain holds."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import (
    Account,
    AccountAdmin,
    AuditEvent,
    CaseStatus,
    ChecklistItem,
    Connection,
    CredentialNote,
    OffboardingCase,
    Person,
    PersonStatus,
    Profile,
    ProfileCustodian,
    ProfileKind,
    RecoveryContact,
)
from app.services import crypto
from app.services.credentials import TABLE


def _generate(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["demo", "generate", *args])


def test_generated_registry_is_varied_and_consistent(app: Flask) -> None:
    result = _generate(app, "--people", "120", "--accounts", "400", "--seed", "7")
    assert result.exit_code == 0, result.output
    assert "400 accounts" in result.output

    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 120
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 400
    kinds = set(db.session.scalars(sa.select(Profile.kind).distinct()))
    assert kinds == set(ProfileKind)
    custodial = set(db.session.scalars(sa.select(ProfileCustodian.profile_id)))
    assert custodial and custodial == set(
        db.session.scalars(sa.select(Profile.id).where(Profile.kind.in_([ProfileKind.PERSONA, ProfileKind.SHARED_LOGIN])))
    )

    statuses = Counter(db.session.scalars(sa.select(Person.status)))
    assert statuses[PersonStatus.DEPARTED] > 0 and statuses[PersonStatus.LEAVING] > 0
    open_cases = db.session.scalar(sa.select(sa.func.count()).where(OffboardingCase.status == CaseStatus.OPEN))
    assert open_cases == statuses[PersonStatus.LEAVING]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ChecklistItem)) > open_cases

    # One account in twenty has no department (lists sorted or counted by department meet them).
    without_department = db.session.scalar(sa.select(sa.func.count()).where(Account.department_id.is_(None)))
    assert without_department == 400 // 20

    per_account = Counter(db.session.scalars(sa.select(AccountAdmin.account_id)))
    assert len(per_account) == 400
    assert min(per_account.values()) >= 1 and max(per_account.values()) <= 6
    assert max(per_account.values()) >= 4  # the spread reaches the busy end
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryContact)) >= 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Connection)) > 0

    keyring = crypto.current_keyring()
    notes = list(db.session.execute(sa.select(CredentialNote.id, CredentialNote.secret, CredentialNote.profile_id)))
    assert len(notes) > 100 and any(n.profile_id for n in notes)
    opened = {keyring.open(secret, crypto.associated_data(TABLE, note_id, "secret")) for note_id, secret, _ in notes}
    assert len(opened) == len(notes)  # each note has its own secret, bound to its own row

    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) >= 520
    verify = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output
    assert "intact" in verify.output


def test_generate_refuses_a_registry_with_people(app: Flask) -> None:
    assert _generate(app, "--people", "20", "--accounts", "10").exit_code == 0
    again = _generate(app, "--people", "20", "--accounts", "10")
    assert again.exit_code == 1
    assert "already has people" in again.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 20


def test_same_seed_same_organisation(app: Flask) -> None:
    """Two runs with one seed give the same names and ties (checked against a second, in-memory registry)."""
    from app import create_app

    assert _generate(app, "--people", "30", "--accounts", "60", "--seed", "3").exit_code == 0
    first = list(db.session.execute(sa.select(Account.name, Account.steward_id).order_by(Account.id)))
    other = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")
    with other.app_context():
        db.create_all()
        assert _generate(other, "--people", "30", "--accounts", "60", "--seed", "3").exit_code == 0
        second = list(db.session.execute(sa.select(Account.name, Account.steward_id).order_by(Account.id)))
        db.session.remove()
    assert [tuple(r) for r in first] == [tuple(r) for r in second]
