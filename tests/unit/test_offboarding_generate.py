"""Starting offboarding cases and generating their checklists from a person's footprint: one
test per item kind, the assignee rule table, due dates, ordering, refresh, cancel, the daily tick,
the fresh "holds nothing" scan, "my tasks" and who may start a case."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import (
    AccountStatus,
    AuditEvent,
    CaseStatus,
    ChecklistItem,
    ItemKind,
    ItemStatus,
    OffboardingCase,
    OffboardingTemplateItem,
    Person,
    PersonStatus,
    ProfileKind,
    RecoveryKind,
    Role,
)
from app.models.base import utcnow
from app.models.credential import CredentialKind, CredentialNote, CredentialReveal
from app.services import credentials, offboarding
from app.services.context import Actor
from app.services.errors import PermissionDenied, ValidationFailed
from app.services.offboarding import CaseAlreadyOpen, CaseNotOpen
from tests import factories

HR = Actor(user_id=None, name="Hal HR", role=Role.HR)
ADMIN = Actor(user_id=None, name="Ada Admin", role=Role.ADMIN)
IT = Actor(user_id=None, name="Ida IT", role=Role.IT)
DIRECTOR = Actor(user_id=None, name="Dee Director", role=Role.DIRECTOR)
STAFF = Actor(user_id=None, name="Sam Staff", role=Role.STAFF)


@pytest.fixture
def last_day(today: date) -> date:
    """The leaver's last day in most tests: two weeks from the day the test runs."""
    return today + timedelta(days=14)


# --- Helpers ------------------------------------------------------------------------------


def _leaver(name: str = "Lee Leaver", **kw: Any) -> Person:
    return factories.make_person(name, **kw)


def _personal(person: Person, **kw: Any) -> Any:
    return factories.make_profile(
        kind=ProfileKind.PERSONAL, holder=person, name=kw.pop("name", f"{person.name} (personal)"), **kw
    )


def _persona(*custodians: Person, **kw: Any) -> Any:
    return factories.make_profile(kind=ProfileKind.PERSONA, custodians=list(custodians), **kw)


def _note(*, account: Any = None, profile: Any = None, label: str = "Login") -> CredentialNote:
    return credentials.create_note(
        IT, credentials.NoteData(label=label, kind=CredentialKind.PASSWORD), "s3cret-value", account=account, profile=profile
    )


def _reveal(note: CredentialNote, person: Person, when: Any = None) -> CredentialReveal:
    reveal = CredentialReveal(
        note=note, person_id=person.id, actor_name=person.name, reason="posting", revealed_at=when or utcnow()
    )
    db.session.add(reveal)
    db.session.flush()
    return reveal


def _start(person: Person, last_day: date, **kw: Any) -> OffboardingCase:
    return offboarding.start_case(HR, person, last_day, "New job", **kw)


def _items(case: OffboardingCase, kind: ItemKind | None = None) -> list[ChecklistItem]:
    stmt = sa.select(ChecklistItem).where(ChecklistItem.case_id == case.id).order_by(ChecklistItem.position)
    if kind is not None:
        stmt = stmt.where(ChecklistItem.kind == kind)
    return list(db.session.scalars(stmt))


def _kinds(case: OffboardingCase) -> list[ItemKind]:
    return [i.kind for i in _items(case)]


def _assignee(item: ChecklistItem) -> Any:
    return item.assignee_id if item.assignee_id is not None else item.assignee_role


# --- One test per item kind ---------------------------------------------------------------


def test_an_account_owned_through_a_personal_profile_gets_a_transfer(app: Flask, last_day: date) -> None:
    leaver, steward = _leaver(), factories.make_person("Stella Steward")
    profile = _personal(leaver)
    account = factories.make_account(name="Riverside Public Library", owner_profile=profile, steward=steward)
    case = _start(leaver, last_day)
    [item] = _items(case, ItemKind.TRANSFER_OWNERSHIP)
    assert item.source_key == f"owner:account:{account.id}"
    assert (item.account_id, item.profile_id, item.assignee_id, item.assignee_role) == (account.id, profile.id, steward.id, None)
    assert item.due_on == last_day - timedelta(days=3)
    assert "Transfer ownership of “Riverside Public Library”" in item.title and item.title.endswith(".")
    assert item.status is ItemStatus.OPEN


def test_the_steward_rule_falls_back_to_heads_then_hr(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    own_head = factories.make_person("Own Head")
    leaver.department = factories.make_department("Branches", head=own_head)
    acc_head = factories.make_person("Account Head")
    profile = _personal(leaver)
    gone = factories.make_person("Gone Steward", status=PersonStatus.DEPARTED)
    with_steward = factories.make_account(name="A steward", owner_profile=profile, steward=factories.make_person("Active"))
    departed_steward = factories.make_account(
        name="B departed steward", owner_profile=profile, steward=gone, department=factories.make_department(head=acc_head)
    )
    leaver_steward = factories.make_account(name="C leaver steward", owner_profile=profile, steward=leaver)
    db.session.flush()
    case = _start(leaver, last_day)
    got = {i.account_id: _assignee(i) for i in _items(case, ItemKind.TRANSFER_OWNERSHIP)}
    assert got == {with_steward.id: with_steward.steward_id, departed_steward.id: acc_head.id, leaver_steward.id: own_head.id}

    # Nobody fits: HR's queue.
    other = _leaver("Other Leaver")
    account = factories.make_account(owner_profile=_personal(other))
    [item] = _items(_start(other, last_day), ItemKind.TRANSFER_OWNERSHIP)
    assert (item.account_id, item.assignee_id, item.assignee_role) == (account.id, None, "hr")


def test_an_admin_role_gets_a_remove_admin_and_no_add_admin_when_others_remain(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    profile = _personal(leaver)
    account = factories.make_account(steward=factories.make_person())
    role = factories.make_admin(account, profile, "editor")
    factories.make_admin(account, factories.make_profile())
    case = _start(leaver, last_day)
    assert _items(case, ItemKind.ADD_ADMIN) == []
    [item] = _items(case, ItemKind.REMOVE_ADMIN)
    assert item.source_key == f"admin:account:{account.id}:profile:{profile.id}"
    assert (item.account_id, item.profile_id, item.admin_id, item.assignee_id) == (
        account.id,
        profile.id,
        role.id,
        account.steward_id,
    )
    assert item.due_on == last_day - timedelta(days=3)
    assert "(editor)" in item.title


def test_the_last_admin_gets_an_add_admin_before_the_remove_admin(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    profile = _personal(leaver)
    account = factories.make_account(name="Riverside Library TV")
    factories.make_admin(account, profile)
    case = _start(leaver, last_day)
    [add] = _items(case, ItemKind.ADD_ADMIN)
    [remove] = _items(case, ItemKind.REMOVE_ADMIN)
    assert add.source_key == f"add_admin:account:{account.id}"
    assert add.position < remove.position
    assert add.due_on <= remove.due_on
    assert "only admin" in add.title and "Riverside Library TV" in add.title


def test_a_recovery_contact_tied_to_them_gets_replaced(app: Flask, last_day: date) -> None:
    leaver = _leaver(personal_email="lee@home.example")
    account = factories.make_account()
    contact = factories.make_recovery(account, "lee@home.example", person_id=leaver.id)
    factories.make_recovery(account, "it@org.example")  # institutional: nothing to do
    case = _start(leaver, last_day)
    [item] = _items(case, ItemKind.REPLACE_RECOVERY)
    assert (item.source_key, item.recovery_contact_id, item.account_id) == (f"recovery:{contact.id}", contact.id, account.id)
    assert item.due_on == last_day - timedelta(days=3)
    assert "lee@home.example" not in item.title  # personal details never survive in a title
    assert "recovery contact (email)" in item.title


def test_credentials_revealed_or_kept_are_rotated_the_day_after(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    revealed = _note(account=factories.make_account(), label="Revealed")
    _reveal(revealed, leaver)
    old = _note(account=factories.make_account(), label="Rotated since")
    _reveal(old, leaver, when=old.rotated_at - timedelta(days=2))
    persona = _persona(leaver)
    kept = _note(profile=persona, label="Kept")
    _reveal(kept, leaver)  # revealed and kept: still one item
    case = _start(leaver, last_day)
    items = _items(case, ItemKind.ROTATE_CREDENTIAL)
    assert {i.note_id for i in items} == {revealed.id, kept.id}
    for item in items:
        assert (item.source_key, item.assignee_role, item.due_on) == (
            f"rotate:note:{item.note_id}",
            "it",
            last_day + timedelta(days=1),
        )
    by_note = {i.note_id: i for i in items}
    assert by_note[revealed.id].account_id == revealed.account_id
    assert by_note[kept.id].profile_id == persona.id
    assert "keeps the profile" in by_note[kept.id].title


def test_a_kept_persona_gets_a_new_custodian_from_the_department_head(app: Flask, last_day: date) -> None:
    head = factories.make_person("Head")
    leaver = _leaver(department=factories.make_department(head=head))
    persona = _persona(leaver, name="Melvilla Dewey")
    case = _start(leaver, last_day)
    [item] = _items(case, ItemKind.REASSIGN_CUSTODIAN)
    assert (item.source_key, item.profile_id, item.assignee_id, item.due_on) == (
        f"custodian:profile:{persona.id}",
        persona.id,
        head.id,
        last_day,
    )
    assert "Melvilla Dewey" in item.title


def test_a_stewarded_account_gets_a_new_steward(app: Flask, last_day: date) -> None:
    acc_head = factories.make_person("Account Head")
    leaver = _leaver()
    account = factories.make_account(steward=leaver, department=factories.make_department(head=acc_head))
    case = _start(leaver, last_day)
    [item] = _items(case, ItemKind.REASSIGN_STEWARD)
    assert (item.source_key, item.account_id, item.assignee_id, item.due_on) == (
        f"steward:account:{account.id}",
        account.id,
        acc_head.id,
        last_day,
    )


def test_a_connection_is_reauthorised_by_it_before_the_admin_role_goes(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    profile = _personal(leaver)
    account = factories.make_account()
    factories.make_admin(account, profile)
    factories.make_admin(account, factories.make_profile())
    connection = factories.make_connection(account, "Hootsuite", profile=profile)
    case = _start(leaver, last_day)
    [item] = _items(case, ItemKind.REAUTHORISE_CONNECTION)
    [remove] = _items(case, ItemKind.REMOVE_ADMIN)
    assert (item.source_key, item.connection_id, item.account_id, item.assignee_role) == (
        f"connection:{connection.id}",
        connection.id,
        account.id,
        "it",
    )
    assert item.due_on < remove.due_on and item.position < remove.position
    assert "Hootsuite" in item.title


def test_a_personal_profile_speaking_for_the_organisation_hands_over_its_audience(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    speaking = _personal(leaver, name="@lee_reads", speaks_for_organisation=True)
    _personal(leaver, name="@lee_private")
    case = _start(leaver, last_day)
    [item] = _items(case, ItemKind.HAND_OVER_AUDIENCE)
    assert (item.source_key, item.profile_id, item.assignee_id) == (f"audience:profile:{speaking.id}", speaking.id, leaver.id)


def test_the_exit_declaration_is_hrs_and_never_due_before_today(app: Flask, last_day: date, today: date) -> None:
    case = _start(_leaver(), last_day)
    [item] = _items(case, ItemKind.EXIT_DECLARATION)
    assert (item.source_key, item.assignee_role, item.due_on) == ("exit_declaration", "hr", last_day - timedelta(days=5))
    soon = _start(_leaver("Soon"), today + timedelta(days=1))
    [item] = _items(soon, ItemKind.EXIT_DECLARATION)
    assert item.due_on == today
    # Clamped changes as well: three days before tomorrow is today.
    assert all(i.due_on >= today for i in _items(soon))


def test_a_linked_sign_in_is_deactivated_by_an_admin_on_the_last_day(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    user = factories.make_user(Role.STAFF, person=leaver)
    factories.make_user(Role.STAFF, person=leaver, active=False)  # already off: nothing to do
    case = _start(leaver, last_day)
    [item] = _items(case, ItemKind.DEACTIVATE_SIGN_IN)
    assert (item.source_key, item.user_id, item.assignee_role, item.due_on) == (
        f"signin:user:{user.id}",
        user.id,
        "admin",
        last_day,
    )
    assert _items(_start(_leaver("No Login"), last_day), ItemKind.DEACTIVATE_SIGN_IN) == []


def test_active_template_items_become_custom_items(app: Flask, last_day: date) -> None:
    keys = OffboardingTemplateItem(title="Collect building keys", due_offset_days=0, assignee_role="hr", position=2)
    badge = OffboardingTemplateItem(title="Return the laptop", due_offset_days=-2, assignee_role="it", position=1)
    off = OffboardingTemplateItem(title="Old thing", active=False)
    db.session.add_all([keys, badge, off])
    db.session.flush()
    case = _start(_leaver(), last_day)
    items = _items(case, ItemKind.CUSTOM)
    assert [(i.title, i.source_key, i.assignee_role, i.due_on, i.template_item_id) for i in items] == [
        ("Return the laptop", f"template:{badge.id}", "it", last_day - timedelta(days=2), badge.id),
        ("Collect building keys", f"template:{keys.id}", "hr", last_day, keys.id),
    ]


def test_retired_accounts_are_skipped(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    profile = _personal(leaver)
    account = factories.make_account(owner_profile=profile, steward=leaver, status=AccountStatus.RETIRED)
    factories.make_admin(account, profile)
    factories.make_recovery(account, person_id=leaver.id)
    factories.make_connection(account, profile=profile)
    _reveal(_note(account=account), leaver)
    case = _start(leaver, last_day)
    assert all(i.account_id != account.id for i in _items(case))
    assert offboarding.holds_nothing(leaver) == []


# --- Combinations -------------------------------------------------------------------------


def test_owner_admin_recovery_contact_and_custodian_of_the_same_account(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    profile = _personal(leaver)
    persona = _persona(leaver, name="Library David")
    account = factories.make_account(name="Teen Zone", owner_profile=profile, steward=factories.make_person())
    factories.make_admin(account, profile)
    factories.make_admin(account, persona)  # the persona they keep stays on as an admin
    factories.make_recovery(account, "lee@home.example", person_id=leaver.id)
    note = _note(profile=persona)
    case = _start(leaver, last_day)
    on_account = [i.kind for i in _items(case) if i.account_id == account.id]
    assert on_account == [ItemKind.TRANSFER_OWNERSHIP, ItemKind.REPLACE_RECOVERY, ItemKind.REMOVE_ADMIN]
    # Their persona is another admin, so no add-admin; but it changes hands and its secret is rotated.
    assert [(i.kind, i.profile_id) for i in _items(case) if i.account_id is None and i.profile_id == persona.id] == [
        (ItemKind.REASSIGN_CUSTODIAN, persona.id),
        (ItemKind.ROTATE_CREDENTIAL, persona.id),
    ]
    assert _items(case, ItemKind.ROTATE_CREDENTIAL)[0].note_id == note.id
    assert len({i.source_key for i in _items(case)}) == len(_items(case))


def test_a_person_holding_nothing_gets_only_the_declaration_and_custom_items(app: Flask, last_day: date) -> None:
    db.session.add(OffboardingTemplateItem(title="Collect building keys"))
    db.session.flush()
    leaver = _leaver()
    case = _start(leaver, last_day)
    assert _kinds(case) == [ItemKind.EXIT_DECLARATION, ItemKind.CUSTOM]
    assert offboarding.holds_nothing(leaver) == []


def test_the_only_owner_of_three_accounts(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    profile = _personal(leaver)
    accounts = [factories.make_account(name=f"Branch {n}", owner_profile=profile) for n in (3, 1, 2)]
    for account in accounts:
        factories.make_admin(account, profile)
    case = _start(leaver, last_day)
    by_account = [(i.account_id, i.kind) for i in _items(case) if i.account_id is not None]
    ordered = sorted(accounts, key=lambda a: a.name)
    assert by_account == [
        (a.id, kind) for a in ordered for kind in (ItemKind.ADD_ADMIN, ItemKind.TRANSFER_OWNERSHIP, ItemKind.REMOVE_ADMIN)
    ]
    holds = offboarding.holds_nothing(leaver)
    assert len(holds) == 6 and any("Owner of “Branch 1”" in h for h in holds)


def test_a_seeded_scenario_generates_exactly_the_expected_items(app: Flask, last_day: date) -> None:
    head = factories.make_person("Hana Head")
    dept = factories.make_department("Outreach", head=head)
    leaver = _leaver("Priya Natarajan", department=dept)
    colleague = factories.make_person("Colm Colleague", department=dept)
    user = factories.make_user(Role.STAFF, person=leaver)
    personal = _personal(leaver, name="@priya", speaks_for_organisation=True)
    org = factories.make_profile(name="Riverside org")
    persona = _persona(leaver, colleague, name="Melvilla Dewey")

    tv = factories.make_account(name="Riverside Library TV", department=dept, steward=colleague)
    factories.make_admin(tv, personal)
    tv_conn = factories.make_connection(tv, "Buffer", profile=personal)
    page = factories.make_account(name="Facebook Page", owner_profile=personal, steward=leaver)
    factories.make_admin(page, org)
    page_admin = factories.make_admin(page, personal)
    page_rc = factories.make_recovery(page, "priya@home.example", kind=RecoveryKind.EMAIL, person_id=leaver.id)
    blog = factories.make_account(name="Blog")
    blog_note = _note(account=blog)
    _reveal(blog_note, leaver)
    persona_note = _note(profile=persona)
    keys = OffboardingTemplateItem(title="Collect building keys", due_offset_days=1, assignee_role="hr")
    db.session.add(keys)
    db.session.flush()

    case = _start(leaver, last_day)
    d3, d4 = last_day - timedelta(days=3), last_day - timedelta(days=4)
    expected = {
        (ItemKind.TRANSFER_OWNERSHIP, f"owner:account:{page.id}", head.id, d3),
        (ItemKind.REMOVE_ADMIN, f"admin:account:{page.id}:profile:{personal.id}", head.id, d3),
        (ItemKind.REPLACE_RECOVERY, f"recovery:{page_rc.id}", head.id, d3),
        (ItemKind.REASSIGN_STEWARD, f"steward:account:{page.id}", head.id, last_day),
        (ItemKind.ADD_ADMIN, f"add_admin:account:{tv.id}", colleague.id, d4),
        (ItemKind.REMOVE_ADMIN, f"admin:account:{tv.id}:profile:{personal.id}", colleague.id, d3),
        (ItemKind.REAUTHORISE_CONNECTION, f"connection:{tv_conn.id}", "it", d4),
        (ItemKind.ROTATE_CREDENTIAL, f"rotate:note:{blog_note.id}", "it", last_day + timedelta(days=1)),
        (ItemKind.ROTATE_CREDENTIAL, f"rotate:note:{persona_note.id}", "it", last_day + timedelta(days=1)),
        (ItemKind.REASSIGN_CUSTODIAN, f"custodian:profile:{persona.id}", head.id, last_day),
        (ItemKind.HAND_OVER_AUDIENCE, f"audience:profile:{personal.id}", leaver.id, last_day),
        (ItemKind.EXIT_DECLARATION, "exit_declaration", "hr", last_day - timedelta(days=5)),
        (ItemKind.DEACTIVATE_SIGN_IN, f"signin:user:{user.id}", "admin", last_day),
        (ItemKind.CUSTOM, f"template:{keys.id}", "hr", last_day + timedelta(days=1)),
    }
    items = _items(case)
    assert {(i.kind, i.source_key, _assignee(i), i.due_on) for i in items} == expected
    assert len(items) == len(expected)
    assert [i.position for i in items] == list(range(len(items)))
    # Grouped by account (alphabetical), then profiles, then the person-level items.
    assert [i.kind for i in items] == [
        ItemKind.ROTATE_CREDENTIAL,  # Blog
        ItemKind.TRANSFER_OWNERSHIP,  # Facebook Page
        ItemKind.REPLACE_RECOVERY,
        ItemKind.REMOVE_ADMIN,
        ItemKind.REASSIGN_STEWARD,
        ItemKind.ADD_ADMIN,  # Riverside Library TV
        ItemKind.REAUTHORISE_CONNECTION,
        ItemKind.REMOVE_ADMIN,
        ItemKind.REASSIGN_CUSTODIAN,  # Melvilla Dewey
        ItemKind.ROTATE_CREDENTIAL,
        ItemKind.HAND_OVER_AUDIENCE,
        ItemKind.EXIT_DECLARATION,
        ItemKind.DEACTIVATE_SIGN_IN,
        ItemKind.CUSTOM,
    ]
    assert next(i for i in items if i.kind is ItemKind.REMOVE_ADMIN and i.account_id == page.id).admin_id == page_admin.id
    # The person is leaving with the last day; the start and the items are audited.
    assert (leaver.status, leaver.last_day) == (PersonStatus.LEAVING, last_day)
    actions = [e.action for e in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]
    assert {"offboarding.start", "person.update", "offboarding.items"} <= set(actions)
    assert len(offboarding.holds_nothing(leaver)) == 8


# --- Refresh, one open case, cancel -------------------------------------------------------


def test_refresh_adds_only_new_items(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    profile = _personal(leaver)
    factories.make_account(owner_profile=profile)
    case = _start(leaver, last_day)
    before = {i.source_key: (i.id, i.position) for i in _items(case)}
    assert offboarding.refresh_case(IT, case) == []

    later = factories.make_account(name="Added later", steward=leaver)
    new = offboarding.refresh_case(IT, case)
    assert [(i.kind, i.source_key) for i in new] == [(ItemKind.REASSIGN_STEWARD, f"steward:account:{later.id}")]
    assert new[0].position > max(p for _, p in before.values())
    assert {i.source_key: (i.id, i.position) for i in _items(case) if i.source_key in before} == before
    assert offboarding.refresh_case(HR, case) == []
    with pytest.raises(PermissionDenied):
        offboarding.refresh_case(STAFF, case)


def test_one_open_case_per_person(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    first = _start(leaver, last_day)
    with pytest.raises(CaseAlreadyOpen) as raised:
        _start(leaver, last_day + timedelta(days=3))
    assert raised.value.case is first
    assert "already has an open offboarding case" in raised.value.message
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OffboardingCase)) == 1


def test_cancel_restores_the_person_and_closes_the_case_to_change(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    factories.make_account(steward=leaver)
    case = _start(leaver, last_day)
    with pytest.raises(PermissionDenied):
        offboarding.cancel_case(IT, case, "changed their mind")
    with pytest.raises(ValidationFailed):
        offboarding.cancel_case(HR, case, "  ")
    offboarding.cancel_case(HR, case, "They are staying")
    assert (case.status, case.cancelled_at is not None) == (CaseStatus.CANCELLED, True)
    assert (leaver.status, leaver.last_day, leaver.left_on) == (PersonStatus.ACTIVE, None, None)
    assert all(i.status is ItemStatus.OPEN for i in _items(case))  # left as they were
    assert offboarding.open_case_of(leaver) is None
    with pytest.raises(CaseNotOpen):
        offboarding.refresh_case(HR, case)
    # A new case can be started.
    assert _start(leaver, last_day).id != case.id


# --- The daily tick -----------------------------------------------------------------------


def test_tick_makes_leavers_departed_and_ends_their_sign_in(app: Flask, last_day: date) -> None:
    leaver = _leaver()
    user = factories.make_user(Role.STAFF, person=leaver)
    epoch = user.session_epoch
    staying = _leaver("Not Yet")
    _start(leaver, last_day)
    _start(staying, last_day + timedelta(days=5))

    summary = offboarding.tick(last_day)  # on the last day itself: still leaving
    assert summary.departed == [] and leaver.status is PersonStatus.LEAVING and user.active

    summary = offboarding.tick(last_day + timedelta(days=1))
    assert summary.departed == [leaver] and summary.deactivated == [user]
    assert (leaver.status, leaver.left_on) == (PersonStatus.DEPARTED, last_day)
    assert user.active is False and user.session_epoch != epoch
    assert staying.status is PersonStatus.LEAVING
    assert any("is now departed" in line for line in summary.lines())
    # Again: nothing more to do.
    again = offboarding.tick(last_day + timedelta(days=2))
    assert (again.departed, again.deactivated) == ([], [])


# --- Starting: permissions and validation -------------------------------------------------


@pytest.mark.parametrize("actor", [DIRECTOR, IT, STAFF], ids=["director", "it", "staff"])
def test_only_hr_and_admins_start_a_case(app: Flask, actor: Actor, last_day: date) -> None:
    leaver = _leaver()
    with pytest.raises(PermissionDenied):
        offboarding.start_case(actor, leaver, last_day, "New job")
    assert leaver.status is PersonStatus.ACTIVE
    assert offboarding.start_case(ADMIN, leaver, last_day, "New job").started_by_name == "Ada Admin"


def test_the_last_day_is_required_and_not_past_on_the_web(app: Flask, today: date) -> None:
    leaver = _leaver()
    with pytest.raises(ValidationFailed) as raised:
        offboarding.start_case(HR, leaver, None, "x")
    assert "last_day" in raised.value.field_errors
    with pytest.raises(ValidationFailed) as raised:
        offboarding.start_case(HR, leaver, today - timedelta(days=1), "x")
    assert "in the past" in raised.value.field_errors["last_day"][0]
    assert leaver.status is PersonStatus.ACTIVE
    assert _start(leaver, today).last_day == today  # today is allowed

    # An HR system may report a past last day; the person is leaving until the tick.
    late = _leaver("Late")
    case = offboarding.start_case(Actor.system("api"), late, today - timedelta(days=3), "Left last week", via="api")
    assert (case.started_via, late.status) == ("api", PersonStatus.LEAVING)


def test_a_late_case_for_someone_already_departed_keeps_them_departed(app: Flask, today: date) -> None:
    dana = _leaver("Dana Whitfield", status=PersonStatus.DEPARTED, left_on=today - timedelta(days=60))
    profile = _personal(dana)
    factories.make_account(owner_profile=profile)
    case = offboarding.start_case(HR, dana, today - timedelta(days=60), "Left without a case")
    assert dana.status is PersonStatus.DEPARTED
    [transfer] = _items(case, ItemKind.TRANSFER_OWNERSHIP)
    assert transfer.due_on == today  # never before today


# --- Holds nothing and my tasks -----------------------------------------------------------


def test_holds_nothing_is_a_fresh_scan_in_words(app: Flask) -> None:
    leaver = _leaver()
    profile = _personal(leaver)
    account = factories.make_account(name="Kids Page", owner_profile=profile)
    note = _note(account=account, label="Kids login")
    _reveal(note, leaver)
    holds = offboarding.holds_nothing(leaver)
    assert any("Owner of “Kids Page”" in h for h in holds)
    assert any("“Kids login”" in h for h in holds)
    account.owner_profile = factories.make_profile()
    note.rotated_at = utcnow() + timedelta(seconds=1)
    db.session.flush()
    assert offboarding.holds_nothing(leaver) == []


def test_my_tasks_lists_my_items_and_my_queue_overdue_first(app: Flask, last_day: date, today: date) -> None:
    steward = factories.make_person("Stella Steward")
    soon, later = _leaver("Soon"), _leaver("Later")
    factories.make_account(name="Soon page", owner_profile=_personal(soon), steward=steward)
    factories.make_account(name="Later page", owner_profile=_personal(later), steward=steward)
    late_case = offboarding.start_case(Actor.system("api"), soon, today - timedelta(days=10), "Left", via="api")
    _start(later, last_day)
    overdue = next(i for i in _items(late_case) if i.kind is ItemKind.EXIT_DECLARATION)
    overdue.due_on = today - timedelta(days=1)
    db.session.flush()

    me = Actor(user_id=None, name="Stella", role=Role.STAFF, person_id=steward.id)
    assert [(i.kind, i.case.person.name) for i in offboarding.my_tasks(me)] == [
        (ItemKind.TRANSFER_OWNERSHIP, "Soon"),
        (ItemKind.TRANSFER_OWNERSHIP, "Later"),
    ]
    hr_tasks = offboarding.my_tasks(Actor(user_id=None, name="H", role=Role.HR))
    assert hr_tasks[0] is overdue
    assert {i.kind for i in hr_tasks} == {ItemKind.EXIT_DECLARATION}
    assert offboarding.my_tasks(STAFF) == []
