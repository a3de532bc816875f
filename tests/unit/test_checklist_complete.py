"""Completing, confirming and waiving checklist items, and closing cases, without HTTP.

Items are built directly (not by the case generator), so each kind is tested on its own: the
registry change it applies, the outcome and audit events it records, who may do it, what a
stale form does, and that a failure at any write step leaves the database as it was.
"""

from __future__ import annotations

import sys
import types
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Account,
    AccountAdmin,
    AuditEvent,
    CaseStatus,
    ChecklistItem,
    Connection,
    ItemKind,
    ItemStatus,
    OffboardingCase,
    Person,
    PersonStatus,
    Profile,
    ProfileCustodian,
    ProfileKind,
    RecoveryContact,
    Role,
)
from app.models.credential import CredentialKind
from app.services import accounts, audit, checklist, credentials, crypto
from app.services.context import Actor
from app.services.credentials import NoteData
from app.services.errors import NotFound, PermissionDenied, StaleEdit, ValidationFailed
from tests import factories

IT = Actor(user_id=None, name="Ida IT", role=Role.IT)
ADMIN = Actor(user_id=None, name="Ada Admin", role=Role.ADMIN)
DIRECTOR = Actor(user_id=None, name="Dee Director", role=Role.DIRECTOR)
HR = Actor(user_id=None, name="Hal HR", role=Role.HR)


def staff(person: Person) -> Actor:
    return Actor(user_id=None, name=person.name, role=Role.STAFF, person_id=person.id)


# --- holds_nothing: the real one when app/services/offboarding.py provides it ---------------


def _fallback_holds_nothing(person: Person) -> list[str]:
    """A minimal scan of what ties a person to the registry, used only while offboarding.py is absent."""
    profile_ids = sa.select(Profile.id).where(Profile.holder_id == person.id)
    queries = {
        "owner": sa.select(Account.name).where(Account.owner_profile_id.in_(profile_ids)),
        "admin": sa.select(Account.name).join(AccountAdmin).where(AccountAdmin.profile_id.in_(profile_ids)),
        "recovery": sa.select(RecoveryContact.value).where(RecoveryContact.person_id == person.id),
        "steward": sa.select(Account.name).where(Account.steward_id == person.id),
        "custodian": sa.select(Profile.name).join(ProfileCustodian).where(ProfileCustodian.person_id == person.id),
        "connection": sa.select(Connection.tool_name).where(Connection.profile_id.in_(profile_ids)),
    }
    return [f"{what}: {name}" for what, stmt in queries.items() for name in db.session.scalars(stmt)]


@pytest.fixture(autouse=True)
def holds_nothing_available(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        from app.services.offboarding import holds_nothing  # noqa: F401
    except ImportError:
        fake = types.ModuleType("app.services.offboarding")
        fake.holds_nothing = _fallback_holds_nothing  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "app.services.offboarding", fake)


# --- The scene ----------------------------------------------------------------------------


class Scene:
    """Dana is leaving. Her personal profile owns the Library page and is its only admin."""

    def __init__(self) -> None:
        self.platform = factories.make_platform("Facebook", role_names=["admin", "editor"])
        self.head = factories.make_person("Hana Head")
        self.department = factories.make_department("Library", head=self.head)
        self.manager = factories.make_person("Mo Manager", department=self.department)
        self.dana = factories.make_person(
            "Dana Whitfield",
            status=PersonStatus.LEAVING,
            personal_email="dana@home.example",
            manager=self.manager,
            department=self.department,
        )
        self.colleague = factories.make_person("Cal Colleague")
        self.steward = factories.make_person("Stu Steward")
        self.personal = factories.make_profile(self.platform, ProfileKind.PERSONAL, holder=self.dana, name="Dana W")
        self.org = factories.make_profile(self.platform, ProfileKind.ORGANISATION, name="Library Portfolio")
        self.account = factories.make_account(
            self.platform, name="Riverside Public Library", owner_profile=self.personal, steward=self.steward
        )
        self.admin = factories.make_admin(self.account, self.personal, "admin")
        self.case = OffboardingCase(person=self.dana, last_day=date.today(), reason="moving away", started_by_name="Hal HR")
        db.session.add(self.case)
        db.session.flush()

    def item(self, kind: ItemKind, **kw: Any) -> ChecklistItem:
        kw.setdefault("title", f"{kind.label} #{len(self.case.items) + 1}")
        kw.setdefault("source_key", f"{kind.value}:{len(self.case.items) + 1}")
        kw.setdefault("due_on", date.today())
        kw.setdefault("assignee_role", "it")
        item = ChecklistItem(case=self.case, kind=kind, **kw)
        db.session.add(item)
        db.session.flush()
        return item


@pytest.fixture
def scene(app: Any) -> Scene:
    return Scene()


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def _db_snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read from the database (not the session)."""
    db.session.expire_all()
    return {
        table.name: sorted(
            (tuple(str(v) for v in row) for row in db.session.execute(sa.select(table)).all()),
        )
        for table in db.metadata.sorted_tables
    }


def _complete(actor: Actor, item: ChecklistItem, **data: Any) -> checklist.Completion:
    return checklist.complete_item(actor, item, data, item.version)


# --- Transfer ownership -------------------------------------------------------------------


def test_transfer_to_an_organisation_profile_waits_for_the_steward_to_confirm(scene: Scene) -> None:
    item = scene.item(ItemKind.TRANSFER_OWNERSHIP, account_id=scene.account.id)

    _complete(IT, item, new_owner_profile_id=scene.org.id)

    assert scene.account.owner_profile_id == scene.org.id
    assert item.status is ItemStatus.AWAITING_CONFIRMATION
    assert item.confirmer_id == scene.steward.id
    assert item.outcome["from"] == "Dana W" and item.outcome["to"] == "Library Portfolio"
    assert item.completed_by_name == "Ida IT" and item.completed_at is not None
    assert [e.after["owner_profile"] for e in _events("account.update")] == ["Library Portfolio"]
    (event,) = _events("offboarding.item.complete")
    assert event.actor_name == "Ida IT" and event.object_id == item.id and "awaiting confirmation" in event.summary

    with pytest.raises(PermissionDenied):
        checklist.confirm_item(staff(scene.colleague), item, item.version)
    with pytest.raises(PermissionDenied):
        checklist.confirm_item(IT, item, item.version)
    checklist.confirm_item(staff(scene.steward), item, item.version)

    assert item.status is ItemStatus.DONE
    assert item.confirmed_by_name == "Stu Steward" and item.confirmed_at is not None
    assert len(_events("offboarding.item.confirm")) == 1


def test_transfer_to_a_persona_is_confirmed_by_its_first_custodian_still_here(scene: Scene) -> None:
    leaving = factories.make_person("Lee Leaving", status=PersonStatus.LEAVING)
    persona = factories.make_profile(scene.platform, ProfileKind.PERSONA, name="Melvilla", custodians=[leaving, scene.colleague])
    item = scene.item(ItemKind.TRANSFER_OWNERSHIP, account_id=scene.account.id)

    _complete(IT, item, new_owner_profile_id=persona.id)

    assert item.confirmer_id == scene.colleague.id
    assert item.outcome["confirmer"] == "Cal Colleague"
    checklist.confirm_item(ADMIN, item, item.version)  # an admin may confirm for anyone
    assert item.status is ItemStatus.DONE


def test_transfer_to_a_personal_profile_of_someone_staying_is_confirmed_by_them(scene: Scene) -> None:
    theirs = factories.make_profile(scene.platform, ProfileKind.PERSONAL, holder=scene.colleague, name="Cal C")
    item = scene.item(ItemKind.TRANSFER_OWNERSHIP, account_id=scene.account.id)

    _complete(IT, item, new_owner_profile_id=theirs.id)

    assert item.confirmer_id == scene.colleague.id
    checklist.confirm_item(staff(scene.colleague), item, item.version)
    assert item.status is ItemStatus.DONE


@pytest.mark.parametrize("whose", ["leaver", "departed"])
def test_transfer_to_a_personal_profile_of_a_leaver_is_refused_and_changes_nothing(scene: Scene, whose: str) -> None:
    holder = scene.dana if whose == "leaver" else factories.make_person("Gone Person", status=PersonStatus.DEPARTED)
    target = scene.personal if whose == "leaver" else factories.make_profile(scene.platform, ProfileKind.PERSONAL, holder=holder)
    if whose == "leaver":
        scene.account.owner_profile = scene.org  # so "already owns" is not what refuses it
        db.session.flush()
    item = scene.item(ItemKind.TRANSFER_OWNERSHIP, account_id=scene.account.id)
    db.session.commit()
    before = _db_snapshot()

    with pytest.raises(ValidationFailed) as error:
        _complete(IT, item, new_owner_profile_id=target.id)

    assert "new_owner_profile_id" in error.value.field_errors
    assert "leaving or has left" in error.value.field_errors["new_owner_profile_id"][0]
    db.session.rollback()
    assert _db_snapshot() == before


def test_transfer_to_a_profile_on_another_platform_is_refused(scene: Scene) -> None:
    elsewhere = factories.make_profile(kind=ProfileKind.ORGANISATION)
    item = scene.item(ItemKind.TRANSFER_OWNERSHIP, account_id=scene.account.id)
    with pytest.raises(ValidationFailed) as error:
        _complete(IT, item, new_owner_profile_id=elsewhere.id)
    assert "Facebook" in error.value.field_errors["new_owner_profile_id"][0]
    assert item.status is ItemStatus.OPEN


# --- Admins -------------------------------------------------------------------------------


def test_add_admin_waits_for_confirmation_and_then_the_leavers_role_can_go(scene: Scene) -> None:
    persona = factories.make_profile(scene.platform, ProfileKind.PERSONA, name="Melvilla", custodians=[scene.colleague])
    add = scene.item(ItemKind.ADD_ADMIN, account_id=scene.account.id, position=1)
    remove = scene.item(ItemKind.REMOVE_ADMIN, account_id=scene.account.id, admin_id=scene.admin.id, position=2)

    with pytest.raises(ValidationFailed, match="must confirm control"):
        _complete(IT, remove)  # the add item comes first
    _complete(IT, add, profile_id=persona.id, role_name="admin")
    assert add.status is ItemStatus.AWAITING_CONFIRMATION and add.confirmer_id == scene.colleague.id
    assert add.outcome["to"] == "Melvilla (admin)"
    assert {a.profile.name for a in scene.account.admins} == {"Dana W", "Melvilla"}
    assert len(_events("account.admin.add")) == 1

    with pytest.raises(ValidationFailed, match="must confirm control"):
        _complete(IT, remove)
    checklist.confirm_item(staff(scene.colleague), add, add.version)
    _complete(IT, remove)

    assert remove.status is ItemStatus.DONE
    assert [a.profile.name for a in scene.account.admins] == ["Melvilla"]
    assert remove.outcome == {"account": "Riverside Public Library", "from": "Dana W (admin)", "to": "Melvilla (admin)"}
    assert len(_events("account.admin.remove")) == 1


def test_removing_the_last_admin_is_refused(scene: Scene) -> None:
    remove = scene.item(ItemKind.REMOVE_ADMIN, account_id=scene.account.id, admin_id=scene.admin.id)
    with pytest.raises(ValidationFailed, match="add an admin"):
        _complete(IT, remove)
    assert [a.id for a in scene.account.admins] == [scene.admin.id]
    assert remove.status is ItemStatus.OPEN


def test_a_waived_add_admin_does_not_block_removal_when_another_admin_exists(scene: Scene) -> None:
    factories.make_admin(scene.account, scene.org, "admin")
    add = scene.item(ItemKind.ADD_ADMIN, account_id=scene.account.id)
    remove = scene.item(ItemKind.REMOVE_ADMIN, account_id=scene.account.id, admin_id=scene.admin.id)
    checklist.waive_item(DIRECTOR, add, "The portfolio is already an admin", add.version)
    _complete(IT, remove)
    assert remove.status is ItemStatus.DONE


# --- Recovery, credentials, custodians, stewards, connections ---------------------------


def test_replace_recovery_adds_the_new_contact_and_removes_the_leavers(scene: Scene) -> None:
    old = factories.make_recovery(scene.account, "dana@home.example", person=scene.dana)
    item = scene.item(ItemKind.REPLACE_RECOVERY, account_id=scene.account.id, recovery_contact_id=old.id)

    _complete(IT, item, kind="email", value="web@library.example")

    assert [c.value for c in scene.account.recovery_contacts] == ["web@library.example"]
    assert item.status is ItemStatus.DONE
    # The leaver's own address is described, never copied into the report (it is erased later).
    assert item.outcome["from"] == "Dana Whitfield's personal email" and item.outcome["to"] == "Email web@library.example"
    assert len(_events("account.recovery.add")) == len(_events("account.recovery.remove")) == 1


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "email", "value": "DANA@home.example"},  # her own address, matched as the service does
        {"kind": "email", "value": "shared@library.example", "person_id": "LEAVER"},
    ],
)
def test_replace_recovery_refuses_a_contact_tied_to_the_leaver(scene: Scene, data: dict[str, Any]) -> None:
    old = factories.make_recovery(scene.account, "dana@home.example", person=scene.dana)
    item = scene.item(ItemKind.REPLACE_RECOVERY, account_id=scene.account.id, recovery_contact_id=old.id)
    data = {k: scene.dana.id if v == "LEAVER" else v for k, v in data.items()}
    with pytest.raises(ValidationFailed) as error:
        checklist.complete_item(IT, item, data, item.version)
    assert "Dana Whitfield" in error.value.field_errors["value"][0]
    assert [c.id for c in scene.account.recovery_contacts] == [old.id]


def test_rotate_credential_goes_through_the_vault_and_records_no_secret(scene: Scene) -> None:
    note = credentials.create_note(IT, NoteData("Page login", CredentialKind.PASSWORD), "old-secret-value", account=scene.account)
    item = scene.item(ItemKind.ROTATE_CREDENTIAL, account_id=scene.account.id, note_id=note.id)

    _complete(IT, item, new_secret="brand-new-secret-42", reason="Dana Whitfield left")

    aad = crypto.associated_data("credential_notes", note.id, "secret")
    assert crypto.current_keyring().open(note.secret, aad) == "brand-new-secret-42"
    assert item.status is ItemStatus.DONE and item.outcome["credential"] == "Page login"
    assert len(_events("credential.rotate")) == 1
    for event in db.session.scalars(sa.select(AuditEvent)):
        assert "brand-new-secret-42" not in repr((event.summary, event.before, event.after))
    assert "brand-new-secret-42" not in repr(item.outcome)


def test_hr_cannot_rotate_even_when_the_item_is_in_their_queue(scene: Scene) -> None:
    note = credentials.create_note(IT, NoteData("Page login", CredentialKind.PASSWORD), "old-secret-value", account=scene.account)
    item = scene.item(ItemKind.ROTATE_CREDENTIAL, note_id=note.id, assignee_role="hr")
    with pytest.raises(PermissionDenied):
        _complete(HR, item, new_secret="brand-new-secret-42", reason="Dana Whitfield left")
    assert item.status is ItemStatus.OPEN


def test_reassign_custodian_adds_the_new_keeper_and_removes_the_leaver(scene: Scene) -> None:
    persona = factories.make_profile(scene.platform, ProfileKind.PERSONA, name="Melvilla", custodians=[scene.dana])
    item = scene.item(ItemKind.REASSIGN_CUSTODIAN, profile_id=persona.id)

    _complete(IT, item, new_person_id=scene.colleague.id)

    assert [p.name for p in persona.custodians] == ["Cal Colleague"]
    assert item.outcome == {"profile": persona.label, "from": "Dana Whitfield", "to": "Cal Colleague"}
    assert len(_events("profile.custodian.add")) == len(_events("profile.custodian.remove")) == 1


def test_reassign_steward_moves_stewardship_and_refuses_people_leaving(scene: Scene) -> None:
    scene.account.steward = scene.dana
    db.session.flush()
    item = scene.item(ItemKind.REASSIGN_STEWARD, account_id=scene.account.id)
    other_leaver = factories.make_person("Lee Leaving", status=PersonStatus.LEAVING)

    with pytest.raises(ValidationFailed) as error:
        _complete(IT, item, new_person_id=other_leaver.id)
    assert "leaving" in error.value.field_errors["new_person_id"][0]
    with pytest.raises(ValidationFailed):
        _complete(IT, item, new_person_id=scene.dana.id)

    _complete(IT, item, new_person_id=scene.colleague.id)
    assert scene.account.steward_id == scene.colleague.id
    assert item.outcome["from"] == "Dana Whitfield" and item.outcome["to"] == "Cal Colleague"
    assert _events("account.update")[-1].after["steward"] == "Cal Colleague"


def test_reauthorise_connection_moves_it_to_an_organisation_profile(scene: Scene) -> None:
    connection = factories.make_connection(scene.account, "Hootsuite", profile=scene.personal, purpose="scheduled posts")
    item = scene.item(ItemKind.REAUTHORISE_CONNECTION, account_id=scene.account.id, connection_id=connection.id)

    with pytest.raises(ValidationFailed):
        _complete(IT, item, profile_id=scene.personal.id)
    _complete(IT, item, profile_id=scene.org.id)

    (now,) = scene.account.connections
    assert (now.tool_name, now.purpose, now.profile_id) == ("Hootsuite", "scheduled posts", scene.org.id)
    assert item.connection_id == now.id
    assert item.outcome["from"] == "Dana W" and item.outcome["to"] == "Library Portfolio"


def test_exit_declaration_creates_each_declared_account_stewarded_by_the_manager(scene: Scene) -> None:
    item = scene.item(ItemKind.EXIT_DECLARATION, assignee_role="hr")
    declared = [
        {"name": "Library TikTok", "platform_id": scene.platform.id, "url": "https://tiktok.example/@lib"},
        {"name": "Story time", "platform_id": str(scene.platform.id), "url": ""},
    ]

    result = _complete(HR, item, declared=declared)  # HR works its queue; the accounts are created in its name

    assert [a.name for a in result.created_accounts] == ["Library TikTok", "Story time"]
    assert all(a.steward_id == scene.manager.id for a in result.created_accounts)
    assert [e.actor_name for e in _events("account.create")] == ["Hal HR", "Hal HR"]
    assert item.status is ItemStatus.DONE and len(item.outcome["declared"]) == 2


def test_exit_declaration_with_a_bad_entry_creates_nothing(scene: Scene) -> None:
    item = scene.item(ItemKind.EXIT_DECLARATION, assignee_role="hr")
    with pytest.raises(ValidationFailed) as error:
        _complete(HR, item, declared=[{"name": "Fine", "platform_id": scene.platform.id}, {"name": "", "platform_id": 0}])
    assert set(error.value.field_errors) == {"declared-1-name", "declared-1-platform_id"}
    assert _events("account.create") == []


def test_deactivate_sign_in_custom_and_audience_items(scene: Scene) -> None:
    user = factories.make_user(Role.STAFF, person=scene.dana)
    deactivate = scene.item(ItemKind.DEACTIVATE_SIGN_IN, user_id=user.id)
    custom = scene.item(ItemKind.CUSTOM, assignee_role="hr")
    audience = scene.item(ItemKind.HAND_OVER_AUDIENCE, profile_id=scene.personal.id)

    _complete(IT, deactivate)
    _complete(HR, custom, note="Keys collected")
    with pytest.raises(ValidationFailed):
        _complete(IT, audience, note="  ")
    _complete(IT, audience, note="Pinned a post pointing to @riversidelibrary")

    assert user.active is False and len(_events("user.deactivate")) == 1
    assert custom.outcome["to"] == "Keys collected" and custom.status is ItemStatus.DONE
    assert audience.status is ItemStatus.DONE and "@riversidelibrary" in audience.outcome["to"]


# --- Who may do what ----------------------------------------------------------------------


def test_the_assignee_their_role_queue_or_an_admin_may_work_an_item(scene: Scene) -> None:
    # The department head is assigned the steward handover; as staff she cannot edit the account
    # herself, but the assignment lets her make this one change (recorded under her name).
    by_person = scene.item(ItemKind.REASSIGN_STEWARD, account_id=scene.account.id, assignee_id=scene.head.id, assignee_role=None)
    for outsider in (staff(scene.colleague), IT, HR, DIRECTOR):
        with pytest.raises(PermissionDenied):
            _complete(outsider, by_person, new_person_id=scene.colleague.id)
    _complete(staff(scene.head), by_person, new_person_id=scene.colleague.id)
    assert _events("account.update")[-1].actor_name == "Hana Head"

    by_role = scene.item(ItemKind.CUSTOM, assignee_role="hr")
    for outsider in (IT, staff(scene.head), DIRECTOR):
        with pytest.raises(PermissionDenied):
            _complete(outsider, by_role)
    _complete(HR, by_role)
    _complete(ADMIN, scene.item(ItemKind.CUSTOM, assignee_role="hr"))


def test_waive_needs_a_director_or_admin_and_a_reason(scene: Scene) -> None:
    item = scene.item(ItemKind.CUSTOM)
    for role in (IT, HR, staff(scene.colleague)):
        with pytest.raises(PermissionDenied):
            checklist.waive_item(role, item, "Not needed at all", item.version)
    with pytest.raises(ValidationFailed) as error:
        checklist.waive_item(DIRECTOR, item, "  ", item.version)
    assert "reason" in error.value.field_errors

    checklist.waive_item(DIRECTOR, item, "The building has no keys", item.version)

    assert item.status is ItemStatus.WAIVED and item.waived_reason == "The building has no keys"
    (event,) = _events("offboarding.item.waive")
    assert event.actor_name == "Dee Director" and "The building has no keys" in event.summary
    with pytest.raises(ValidationFailed, match="already waived by Dee Director"):
        checklist.waive_item(ADMIN, item, "again and again", item.version)


# --- Two people at once -------------------------------------------------------------------


def test_a_second_completion_from_the_same_form_version_is_stale_and_changes_nothing(scene: Scene) -> None:
    item = scene.item(ItemKind.REASSIGN_STEWARD, account_id=scene.account.id)
    loaded = item.version  # both forms were built from this version
    checklist.complete_item(IT, item, {"new_person_id": scene.colleague.id}, loaded)
    db.session.commit()
    before = _db_snapshot()

    with pytest.raises(StaleEdit) as error:
        checklist.complete_item(ADMIN, item, {"new_person_id": scene.manager.id}, loaded)

    assert any(c.who == "Ida IT" and c.field == "status" and c.after == "done" for c in error.value.changes)
    db.session.rollback()
    assert _db_snapshot() == before
    assert db.session.get(Account, scene.account.id).steward_id == scene.colleague.id
    # With the fresh version it is refused as already done, naming who did it.
    with pytest.raises(ValidationFailed, match="already done by Ida IT"):
        checklist.complete_item(ADMIN, item, {"new_person_id": scene.manager.id}, item.version)


def test_stale_waive_and_confirm_are_refused(scene: Scene) -> None:
    item = scene.item(ItemKind.TRANSFER_OWNERSHIP, account_id=scene.account.id)
    loaded = item.version
    _complete(IT, item, new_owner_profile_id=scene.org.id)
    with pytest.raises(StaleEdit):
        checklist.waive_item(DIRECTOR, item, "Not needed any more", loaded)
    with pytest.raises(StaleEdit):
        checklist.confirm_item(ADMIN, item, loaded)


# --- Closing ------------------------------------------------------------------------------


def _clear_dana(scene: Scene) -> None:
    """Registry edits that leave Dana holding nothing."""
    scene.account.owner_profile = scene.org
    scene.account.admins.clear()
    factories.make_admin(scene.account, scene.org, "admin")
    db.session.flush()


def test_close_is_refused_while_items_are_open_or_the_person_still_holds_something(scene: Scene) -> None:
    item = scene.item(ItemKind.TRANSFER_OWNERSHIP, account_id=scene.account.id)

    with pytest.raises(ValidationFailed) as error:
        checklist.close_case(HR, scene.case)
    assert any(item.title in line for line in error.value.field_errors["case"])

    checklist.waive_item(ADMIN, item, "Handled outside the checklist", item.version)
    with pytest.raises(ValidationFailed, match="Still held"):
        checklist.close_case(HR, scene.case)  # her profile still owns the page and is its admin
    assert scene.case.status is CaseStatus.OPEN and scene.case.report is None


def test_only_hr_or_admin_close(scene: Scene) -> None:
    _clear_dana(scene)
    for actor in (IT, DIRECTOR, staff(scene.colleague)):
        with pytest.raises(PermissionDenied):
            checklist.close_case(actor, scene.case)


def test_close_freezes_a_report_of_who_did_each_step(scene: Scene) -> None:
    transfer = scene.item(ItemKind.TRANSFER_OWNERSHIP, account_id=scene.account.id, position=1)
    add = scene.item(ItemKind.ADD_ADMIN, account_id=scene.account.id, position=2)
    remove = scene.item(ItemKind.REMOVE_ADMIN, account_id=scene.account.id, admin_id=scene.admin.id, position=3)
    custom = scene.item(ItemKind.CUSTOM, assignee_role="hr", position=4)
    _complete(IT, transfer, new_owner_profile_id=scene.org.id)
    checklist.confirm_item(staff(scene.steward), transfer, transfer.version)
    _complete(IT, add, profile_id=scene.org.id, role_name="admin")
    checklist.confirm_item(staff(scene.steward), add, add.version)
    _complete(IT, remove)
    checklist.waive_item(DIRECTOR, custom, "No keys were issued", custom.version)

    checklist.close_case(HR, scene.case, scene.case.version)

    assert scene.case.status is CaseStatus.CLOSED and scene.case.closed_at is not None
    report = scene.case.report
    assert report["person"] == "Dana Whitfield" and report["closed_by"] == "Hal HR"
    first = report["items"][0]
    assert (first["held"], first["now"], first["done_by"], first["confirmed_by"]) == (
        "Dana W",
        "Library Portfolio",
        "Ida IT",
        "Stu Steward",
    )
    assert report["items"][3]["waived_reason"] == "No keys were issued"
    (event,) = _events("offboarding.case.close")
    assert event.actor_name == "Hal HR"

    rows = checklist.handover_report_rows(scene.case)
    assert len(rows) == 4 and all(len(r) == len(checklist.REPORT_HEADER) for r in rows)
    assert rows[0][:6] == [transfer.title, "Transfer ownership", "done", "Dana W", "Library Portfolio", "Ida IT"]
    with pytest.raises(ValidationFailed, match="already closed"):
        checklist.close_case(HR, scene.case)
    with pytest.raises(ValidationFailed, match="closed"):
        checklist.complete_item(ADMIN, custom, {}, custom.version)


def test_a_person_with_nothing_and_no_items_closes_at_once(app: Any) -> None:
    person = factories.make_person("Nobody Much", status=PersonStatus.LEAVING)
    case = OffboardingCase(person=person, last_day=date.today(), started_by_name="Hal HR")
    db.session.add(case)
    db.session.flush()
    checklist.close_case(ADMIN, case)
    assert case.status is CaseStatus.CLOSED and case.report["items"] == []
    assert checklist.handover_report_rows(case) == []


# --- Atomicity ----------------------------------------------------------------------------


def _fail_on_call(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, n: int) -> None:
    """Make ``module.name`` raise on its ``n``-th call (1-based), after the earlier calls did their work."""
    real = getattr(module, name)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == n:
            raise RuntimeError(f"injected failure in {name} call {n}")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


# (module, function, call number): each write step of replacing a recovery contact, and the
# audit event after each (the contact added, the old one removed, the item marked done).
RECOVERY_STEPS = [
    (accounts, "add_recovery_contact", 1),
    (accounts, "remove_recovery_contact", 1),
    (audit, "record_event", 1),
    (audit, "record_event", 2),
    (audit, "record_event", 3),
]


@pytest.mark.parametrize(("module", "name", "n"), RECOVERY_STEPS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_a_failure_at_any_step_of_replacing_a_recovery_contact_leaves_the_database_as_it_was(
    scene: Scene, monkeypatch: pytest.MonkeyPatch, module: Any, name: str, n: int
) -> None:
    old = factories.make_recovery(scene.account, "dana@home.example", person=scene.dana)
    item = scene.item(ItemKind.REPLACE_RECOVERY, account_id=scene.account.id, recovery_contact_id=old.id)
    db.session.commit()
    before = _db_snapshot()
    _fail_on_call(monkeypatch, module, name, n)

    with pytest.raises(RuntimeError, match="injected"):
        checklist.complete_item(IT, item, {"kind": "email", "value": "web@library.example"}, item.version)

    db.session.rollback()  # what the door does on any exception
    monkeypatch.undo()
    assert _db_snapshot() == before
    item = db.session.get(ChecklistItem, item.id)
    assert item.status is ItemStatus.OPEN
    # And the same item then completes cleanly.
    checklist.complete_item(IT, item, {"kind": "email", "value": "web@library.example"}, item.version)
    assert item.status is ItemStatus.DONE


TRANSFER_STEPS = [
    (accounts, "update_account", 1),
    (audit, "record_event", 1),  # the account's edit event
    (audit, "record_event", 2),  # the item's completion event
]


@pytest.mark.parametrize(("module", "name", "n"), TRANSFER_STEPS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_a_failure_at_any_step_of_a_transfer_leaves_the_database_as_it_was(
    scene: Scene, monkeypatch: pytest.MonkeyPatch, module: Any, name: str, n: int
) -> None:
    item = scene.item(ItemKind.TRANSFER_OWNERSHIP, account_id=scene.account.id)
    db.session.commit()
    before = _db_snapshot()
    _fail_on_call(monkeypatch, module, name, n)

    with pytest.raises(RuntimeError, match="injected"):
        checklist.complete_item(IT, item, {"new_owner_profile_id": scene.org.id}, item.version)

    db.session.rollback()
    assert _db_snapshot() == before
    assert db.session.get(Account, scene.account.id).owner_profile_id == scene.personal.id


def test_a_failure_while_confirming_or_waiving_leaves_the_item_as_it_was(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    item = scene.item(ItemKind.TRANSFER_OWNERSHIP, account_id=scene.account.id)
    _complete(IT, item, new_owner_profile_id=scene.org.id)
    db.session.commit()
    before = _db_snapshot()
    _fail_on_call(monkeypatch, audit, "record_event", 1)
    with pytest.raises(RuntimeError):
        checklist.confirm_item(ADMIN, item, item.version)
    db.session.rollback()
    assert _db_snapshot() == before
    _fail_on_call(monkeypatch, audit, "record_event", 1)
    with pytest.raises(RuntimeError):
        checklist.waive_item(ADMIN, db.session.get(ChecklistItem, item.id), "Because it is fine", item.version)
    db.session.rollback()
    assert _db_snapshot() == before


def test_remove_admin_of_a_role_already_gone_is_not_found(scene: Scene) -> None:
    factories.make_admin(scene.account, scene.org, "admin")
    item = scene.item(ItemKind.REMOVE_ADMIN, account_id=scene.account.id, admin_id=scene.admin.id)
    accounts.remove_admin(IT, scene.account, scene.admin.id)
    db.session.expire(item)
    with pytest.raises(NotFound):
        _complete(IT, item)
