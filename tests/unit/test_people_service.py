"""The people service: staff-list rules, privacy of personal details in the audit trail, and footprints."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Account, AuditEvent, Person, PersonStatus, ProfileKind, RecoveryKind, Role
from app.services import people as service
from app.services.context import Actor
from app.services.errors import PermissionDenied, StaleEdit, ValidationFailed
from tests import factories


def actor_for(role: Role, name: str | None = None) -> Actor:
    user = factories.make_user(role, person=factories.make_person(name=name or f"{role.label} Actor"))
    return Actor(user_id=user.id, name=user.person.name, role=role, person_id=user.person_id)


def events(object_type: str = "person") -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.object_type == object_type).order_by(AuditEvent.id)))


def data_of(person: Person, **changes) -> service.PersonData:
    data = service.PersonData(
        name=person.name,
        work_email=person.work_email,
        job_title=person.job_title,
        department_id=person.department_id,
        manager_id=person.manager_id,
        hr_id=person.hr_id,
        personal_email=person.personal_email,
        personal_phone=person.personal_phone,
        status=person.status,
        last_day=person.last_day,
        left_on=person.left_on,
    )
    return replace(data, **changes)


@pytest.fixture
def hr(app) -> Actor:
    return actor_for(Role.HR, "Hana Reyes")


# --- create and update --------------------------------------------------------------------


def test_create_person_saves_a_lowercased_work_email_and_records_one_event(hr):
    dept = factories.make_department("Branches")
    boss = factories.make_person("Morgan Boss")

    person = service.create_person(
        hr,
        service.PersonData(
            name=" Jo Park ",
            work_email=" Jo.Park@Org.Example ",
            department_id=dept.id,
            manager_id=boss.id,
            hr_id=" E-100 ",
            job_title="Librarian",
        ),
    )

    assert (person.name, person.work_email, person.hr_id) == ("Jo Park", "jo.park@org.example", "E-100")
    [event] = events()
    assert event.action == "person.create" and event.actor_name == "Hana Reyes" and event.before is None
    assert event.after["department"] == "Branches" and event.after["manager"] == "Morgan Boss"
    assert event.after["work_email"] == "jo.park@org.example"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"work_email": "SAM@org.example"}, "work_email"),
        ({"work_email": "not-an-email"}, "work_email"),
        ({"hr_id": "E-1"}, "hr_id"),
        ({"name": "  "}, "name"),
        ({"status": PersonStatus.LEAVING}, "last_day"),
        ({"status": PersonStatus.DEPARTED, "last_day": date(2024, 1, 1)}, "left_on"),
        ({"department_id": 999_999}, "department_id"),
        ({"manager_id": 999_999}, "manager_id"),
    ],
)
def test_create_person_refuses_bad_input_and_saves_nothing(hr, changes, field):
    factories.make_person("Sam Ortiz", work_email="sam@org.example", hr_id="E-1")
    db.session.commit()
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Person))

    with pytest.raises(ValidationFailed) as raised:
        service.create_person(hr, replace(service.PersonData(name="New Person", work_email="new@org.example"), **changes))

    assert field in raised.value.field_errors
    assert not db.session.new
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == count
    assert events() == []


def test_update_refuses_another_persons_email_or_hr_id_and_being_ones_own_manager(hr):
    factories.make_person("Sam Ortiz", work_email="sam@org.example", hr_id="E-1")
    jo = factories.make_person("Jo Park", work_email="jo@org.example", hr_id="E-2")
    db.session.commit()

    for changes, field in (
        ({"work_email": "Sam@Org.Example"}, "work_email"),
        ({"hr_id": "E-1"}, "hr_id"),
        ({"manager_id": jo.id}, "manager_id"),
    ):
        with pytest.raises(ValidationFailed) as raised:
            service.update_person(hr, jo, data_of(jo, **changes), jo.version)
        assert field in raised.value.field_errors
        db.session.rollback()

    # Keeping one's own email and hr id (in another case) is not a clash.
    service.update_person(hr, jo, data_of(jo, work_email="JO@org.example", job_title="Manager"), jo.version)
    assert jo.work_email == "jo@org.example" and jo.job_title == "Manager"
    assert len(events()) == 1


def test_update_records_department_and_manager_changes_by_name(hr):
    old_dept, new_dept = factories.make_department("Branches"), factories.make_department("Youth")
    old_boss, new_boss = factories.make_person("Old Boss"), factories.make_person("New Boss")
    jo = factories.make_person("Jo Park", department=old_dept, manager=old_boss)
    db.session.commit()

    service.update_person(hr, jo, data_of(jo, department_id=new_dept.id, manager_id=new_boss.id), jo.version)

    [event] = events()
    assert (event.before["department"], event.after["department"]) == ("Branches", "Youth")
    assert (event.before["manager"], event.after["manager"]) == ("Old Boss", "New Boss")


def test_marking_someone_leaving_records_status_and_last_day(hr):
    jo = factories.make_person("Jo Park")
    db.session.commit()

    service.update_person(hr, jo, data_of(jo, status=PersonStatus.LEAVING, last_day=date(2030, 6, 30)), jo.version)

    [event] = events()
    assert (event.before["status"], event.after["status"]) == ("active", "leaving")
    assert (event.before["last_day"], event.after["last_day"]) == (None, "2030-06-30")


def test_update_with_no_real_change_writes_no_event(hr):
    jo = factories.make_person("Jo Park", personal_email="jo@gmail.example")
    db.session.commit()
    service.update_person(hr, jo, data_of(jo, name=" Jo Park "), jo.version)
    assert events() == []


def test_stale_person_edit_is_refused_with_the_other_changes(app):
    first, second = actor_for(Role.HR, "First Editor"), actor_for(Role.ADMIN, "Second Editor")
    jo = factories.make_person("Jo Park", job_title="Librarian")
    db.session.commit()
    opened = jo.version

    service.update_person(first, jo, data_of(jo, job_title="Senior Librarian"), opened)
    with pytest.raises(StaleEdit) as raised:
        service.update_person(second, jo, data_of(jo, name="Joanna Park"), opened)

    assert [(c.who, c.field, c.before, c.after) for c in raised.value.changes] == [
        ("First Editor", "job_title", "Librarian", "Senior Librarian")
    ]
    assert jo.name == "Jo Park"


@pytest.mark.parametrize("role", [Role.DIRECTOR, Role.IT, Role.STAFF])
def test_only_hr_and_admins_keep_the_staff_list(app, role):
    actor = actor_for(role)
    jo = factories.make_person("Jo Park")
    with pytest.raises(PermissionDenied):
        service.create_person(actor, service.PersonData(name="X", work_email="x@org.example"))
    with pytest.raises(PermissionDenied):
        service.update_person(actor, jo, data_of(jo, name="Changed"), jo.version)
    assert events() == []


# --- personal details never reach the audit trail -----------------------------------------


def test_personal_details_are_recorded_only_as_present_or_absent(hr):
    person = service.create_person(
        hr,
        service.PersonData(
            name="Jo Park", work_email="jo@org.example", personal_email="jo.secret@gmail.example", personal_phone="+1 555 0100"
        ),
    )
    service.update_person(hr, person, data_of(person, personal_email=None, personal_phone="+1 555 0199"), person.version)
    service.update_person(hr, person, data_of(person, personal_email="jo.new@gmail.example"), person.version)

    created, cleared, changed = events()
    assert created.after["personal_email"] == "recorded" and created.after["personal_phone"] == "recorded"
    assert (cleared.before["personal_email"], cleared.after["personal_email"]) == ("recorded", None)
    # Changing a number that was already there is still a change someone made: it is recorded, without the values.
    assert (cleared.before["personal_phone"], cleared.after["personal_phone"]) == ("recorded", "recorded")
    assert (changed.before["personal_email"], changed.after["personal_email"]) == (None, "recorded")
    for event in (created, cleared, changed):
        text = f"{event.summary} {event.before} {event.after}"
        for secret in ("jo.secret", "jo.new", "gmail", "555"):
            assert secret not in text


def test_replacing_only_a_personal_phone_writes_an_event_without_the_numbers(hr):
    jo = factories.make_person("Jo Park", personal_phone="+1 555 0100")
    db.session.commit()

    service.update_person(hr, jo, data_of(jo, personal_phone="+1 555 0199"), jo.version)

    [event] = events()
    assert event.before["personal_phone"] == "recorded" and event.after["personal_phone"] == "recorded"
    assert "555" not in f"{event.summary} {event.before} {event.after}"
    assert "personal phone" in event.summary


# --- footprint ----------------------------------------------------------------------------


def _jo_holds_one_of_everything() -> tuple[Person, dict[str, Any]]:
    """Jo, who holds one of each thing a footprint lists, and someone else who holds the same kinds."""
    fb = factories.make_platform("Facebook")
    yt = factories.make_platform("YouTube", role_names=["owner", "manager"])
    jo = factories.make_person("Jo Park", personal_email="jo@gmail.example")
    other = factories.make_person("Someone Else")

    jo_fb = factories.make_profile(fb, ProfileKind.PERSONAL, holder=jo, name="Jo on Facebook")
    jo_yt = factories.make_profile(yt, ProfileKind.PERSONAL, holder=jo, name="Jo on YouTube")
    others_profile = factories.make_profile(fb, ProfileKind.PERSONAL, holder=other, name="Other's profile")
    persona = factories.make_profile(fb, ProfileKind.PERSONA, name="Melvilla Dewey", custodians=[jo])
    factories.make_profile(fb, ProfileKind.SHARED_LOGIN, name="Not Jo's login", custodians=[other])

    owned = factories.make_account(fb, name="Branch Page", owner_profile=jo_fb)
    channel = factories.make_account(yt, name="Story Channel")
    admin_role = factories.make_admin(channel, jo_yt, "manager")
    persona_owned = factories.make_account(fb, name="Persona Page", owner_profile=persona)
    persona_admin_account = factories.make_account(fb, name="Teen Page")
    persona_admin = factories.make_admin(persona_admin_account, persona, "editor")
    contact = factories.make_recovery(persona_admin_account, "jo@gmail.example", person=jo)
    stewarded = factories.make_account(yt, name="Stewarded Channel", steward=jo)
    connection = factories.make_connection(channel, "Hootsuite", profile=jo_yt)

    # Things tied to someone else, which must not show up in Jo's footprint.
    unrelated = factories.make_account(fb, name="Other Page", owner_profile=others_profile, steward=other)
    factories.make_admin(unrelated, others_profile, "admin")
    factories.make_recovery(unrelated, "other@gmail.example", person=other)
    factories.make_connection(unrelated, "Buffer", profile=others_profile)

    db.session.commit()
    made = dict(locals())
    return jo, made


def test_footprint_lists_everything_tied_to_the_person_and_nothing_else(app):
    jo, made = _jo_holds_one_of_everything()
    jo_fb, jo_yt, persona, owned = made["jo_fb"], made["jo_yt"], made["persona"], made["owned"]
    admin_role, contact, stewarded, connection = made["admin_role"], made["contact"], made["stewarded"], made["connection"]
    persona_owned, persona_admin = made["persona_owned"], made["persona_admin"]

    fp = service.footprint(jo)

    assert {p.id for p in fp.profiles} == {jo_fb.id, jo_yt.id}
    assert [a.id for a in fp.owned] == [owned.id]
    assert [r.id for r in fp.admin_roles] == [admin_role.id]
    assert [c.id for c in fp.recovery_contacts] == [contact.id]
    assert [p.id for p in fp.custodian_of] == [persona.id]
    assert {(type(x).__name__, x.id) for x in fp.through_custody} == {
        ("Account", persona_owned.id),
        ("AccountAdmin", persona_admin.id),
    }
    assert [a.id for a in fp.stewarded] == [stewarded.id]
    assert [c.id for c in fp.connections] == [connection.id]


def test_the_person_page_lists_what_the_footprint_holds_in_its_order(app):
    jo, _ = _jo_holds_one_of_everything()
    fp, lines = service.footprint(jo), service.footprint_lines(jo)

    def account(a: Any) -> tuple[Any, ...]:
        return (a.id, a.name, a.status, a.platform.name)

    def profile(p: Any) -> tuple[Any, ...]:
        return (p.id, p.label, p.kind, p.platform.name, p.speaks_for_organisation, bool(p.holder and p.holder.has_left))

    def listed_account(a: Any) -> tuple[Any, ...]:
        return (a.id, a.name, a.status, a.platform_name)

    def listed_profile(p: Any) -> tuple[Any, ...]:
        return (p.id, p.label, p.kind, p.platform_name, p.speaks_for_organisation, p.holder_left)

    def listed_hold(h: Any) -> tuple[Any, ...]:
        return (listed_account(h.account), h.role, h.profile_id, h.profile_label)

    assert [listed_profile(p) for p in lines.profiles] == [profile(p) for p in fp.profiles]
    assert [listed_profile(p) for p in lines.custodian_of] == [profile(p) for p in fp.custodian_of]
    assert [listed_hold(h) for h in lines.owned] == [
        (account(a), "owner", a.owner_profile_id, a.owner_profile.label) for a in fp.owned
    ]
    assert [listed_hold(h) for h in lines.admin_roles] == [
        (account(r.account), r.role_name, r.profile_id, r.profile.label) for r in fp.admin_roles
    ]
    assert [listed_hold(h) for h in lines.through_custody] == [
        (account(x), "owner", x.owner_profile_id, x.owner_profile.label)
        if isinstance(x, Account)
        else (account(x.account), x.role_name, x.profile_id, x.profile.label)
        for x in fp.through_custody
    ]
    assert [listed_account(a) for a in lines.stewarded] == [account(a) for a in fp.stewarded]
    assert [(listed_account(c.account), c.tool_name, c.profile_id, c.profile_label) for c in lines.connections] == [
        (account(c.account), c.tool_name, c.profile_id, c.profile.label) for c in fp.connections
    ]
    assert [(listed_account(c.account), c.kind, c.value) for c in lines.recovery_contacts] == [
        (account(c.account), c.kind, c.value) for c in fp.recovery_contacts
    ]
    assert not lines.is_empty and not any(p.holder_left for p in lines.profiles)

    jo.status = PersonStatus.DEPARTED
    db.session.commit()
    assert all(p.holder_left for p in service.footprint_lines(jo).profiles), "a leaver's profiles are marked on the map"


def test_the_person_page_lists_the_first_of_each_kind_and_counts_them_all(app):
    jo, made = _jo_holds_one_of_everything()
    fb = made["fb"]
    for name in ("Z Page", "A Page"):
        factories.make_account(fb, name=name, owner_profile=made["jo_fb"], steward=jo)
        factories.make_admin(factories.make_account(fb, name=f"{name} Group"), made["jo_fb"], "moderator")
    db.session.commit()
    whole = service.footprint_lines(jo)

    first = service.footprint_lines(jo, limit=1)

    for section in ("profiles", "custodian_of", "owned", "admin_roles", "recovery_contacts", "stewarded", "connections"):
        assert getattr(first, section) == getattr(whole, section)[:1], section
        assert first.total(section) == len(getattr(whole, section)), section
    assert [a.name for a in whole.stewarded] == ["A Page", "Stewarded Channel", "Z Page"], "by name"
    assert [r.account.name for r in whole.admin_roles] == ["A Page Group", "Story Channel", "Z Page Group"], "by name"
    assert first.more("stewarded") == 2 and first.more("owned") == 2 and first.more("admin_roles") == 2
    assert first.through_custody == whole.through_custody[:1] and first.total("through_custody") == 2


def test_a_person_who_holds_nothing_has_an_empty_footprint(app):
    fb = factories.make_platform()
    nobody = factories.make_person("New Starter")
    other = factories.make_person()
    factories.make_account(fb, steward=other, owner_profile=factories.make_profile(fb, ProfileKind.PERSONAL, holder=other))

    fp = service.footprint_lines(nobody)

    assert fp.is_empty
    assert all(fp.total(section) == 0 for section in ("profiles", "owned", "admin_roles", "stewarded", "connections"))


@pytest.mark.parametrize("what", ["profile", "custody", "recovery", "steward"])
def test_any_single_tie_makes_the_footprint_non_empty(app, what):
    fb = factories.make_platform()
    jo = factories.make_person()
    if what == "profile":
        factories.make_profile(fb, ProfileKind.PERSONAL, holder=jo)
    elif what == "custody":
        factories.make_profile(fb, ProfileKind.PERSONA, custodians=[jo])
    elif what == "recovery":
        factories.make_recovery(factories.make_account(fb), "jo@gmail.example", kind=RecoveryKind.EMAIL, person=jo)
    else:
        factories.make_account(fb, steward=jo)
    assert not service.footprint_lines(jo).is_empty


# --- listing ------------------------------------------------------------------------------


def test_list_people_filters_by_status_department_and_text(hr):
    youth = factories.make_department("Youth")
    factories.make_person("Ann Active", department=youth)
    factories.make_person("Len Leaving", status=PersonStatus.LEAVING, work_email="len@org.example")
    factories.make_person("Dee Departed", status=PersonStatus.DEPARTED, department=youth)

    def run(**kw) -> list[str]:
        return [p.name for p in service.list_people(hr, service.PeopleFilters(**kw)).items if p.name != "Hana Reyes"]

    assert run(status=PersonStatus.LEAVING) == ["Len Leaving"]
    assert run(department_id=youth.id) == ["Ann Active", "Dee Departed"]
    assert run(department_id=youth.id, status=PersonStatus.ACTIVE) == ["Ann Active"]
    assert run(q="LEN@ORG") == ["Len Leaving"]
    with pytest.raises(PermissionDenied):
        service.list_people(actor_for(Role.STAFF), service.PeopleFilters())
