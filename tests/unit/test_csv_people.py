"""Importing people: matching, every problem by line and column, all or nothing, idempotence,
audit events, and export → import changing nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, Person, PersonStatus, Role
from app.services import audit, csv_io, reviews
from app.services import people as people_service
from app.services.context import Actor
from app.services.csv_io import Fate, Limits
from app.services.errors import PermissionDenied, StaleEdit, ValidationFailed
from tests import factories

HR = Actor(user_id=None, name="Hana HR", role=Role.HR)
COLUMNS = [c.name for c in csv_io.PEOPLE_COLUMNS]


def people_csv(*rows: dict[str, Any], columns: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns or COLUMNS, restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def run(text: str, apply: bool = True, actor: Actor = HR, **kw: Any) -> csv_io.ImportReport:
    return csv_io.import_csv(actor, "people", text, limits=Limits(), name="staff.csv", apply=apply, **kw)


def events() -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))


def everyone() -> dict[str, Person]:
    return {p.work_email: p for p in db.session.scalars(sa.select(Person))}


def problems(report: csv_io.ImportReport) -> list[tuple[int, str, str]]:
    return [(p.line, p.column, p.message) for p in report.problems]


@pytest.fixture
def adult(app: Any) -> Any:
    department = factories.make_department("Adult Services")
    db.session.commit()
    return department


# --- Adding and updating ------------------------------------------------------------------


def test_a_file_adds_people_with_their_managers_wherever_they_are_in_the_file(adult: Any) -> None:
    text = people_csv(
        {"hr_id": "H3", "name": "Sam Page", "work_email": "sam@org.example", "manager_email": "DANA@org.example"},
        {
            "hr_id": "H2",
            "name": "Dana Okafor",
            "work_email": "Dana@Org.example",
            "manager_hr_id": "H1",
            "department": "adult services",
        },
        {
            "hr_id": "H1",
            "name": "Jo Kim",
            "work_email": "jo@org.example",
            "job_title": "Director",
            "status": "Leaving",
            "last_day": "2099-01-31",
        },
    )
    report = run(text)
    assert report.ok and report.applied, problems(report)
    assert [(r.line, r.fate) for r in report.rows] == [(2, Fate.ADD), (3, Fate.ADD), (4, Fate.ADD)]
    db.session.commit()
    people = everyone()
    jo, dana, sam = people["jo@org.example"], people["dana@org.example"], people["sam@org.example"]
    assert (sam.manager, dana.manager, jo.manager) == (dana, jo, None)
    assert dana.department == adult and jo.status is PersonStatus.LEAVING and jo.last_day == date(2099, 1, 31)
    # The forms' audit events, one per person, and one for the import itself; the chain holds.
    assert sorted(e.summary for e in events() if e.action == "person.create") == [
        "Added Dana Okafor to the staff list",
        "Added Jo Kim to the staff list",
        "Added Sam Page to the staff list",
    ]
    [summary] = [e for e in events() if e.action == "import.people"]
    assert summary.summary == "Imported people from staff.csv: 3 people added, 0 people updated, 0 people unchanged"
    assert audit.verify_chain() == (4, None)


def test_rows_update_the_person_with_their_hr_id_else_their_work_email(adult: Any) -> None:
    jo = factories.make_person("Jo Kim", hr_id="H1", work_email="jo@org.example", job_title="Librarian")
    dana = factories.make_person("Dana Okafor", work_email="dana@org.example")
    db.session.commit()
    text = people_csv(
        {"hr_id": "H1", "name": "Jo Kim", "work_email": "jo.kim@org.example", "job_title": "Head librarian"},
        {"hr_id": "H2", "name": "Dana Okafor", "work_email": "dana@org.example", "manager_hr_id": "H1"},
    )
    preview = run(text, apply=False)
    assert [(r.fate, [(c.column, c.before, c.after) for c in r.changes]) for r in preview.rows] == [
        (Fate.UPDATE, [("work_email", "jo@org.example", "jo.kim@org.example"), ("job_title", "Librarian", "Head librarian")]),
        (Fate.UPDATE, [("manager", "", "Jo Kim (jo@org.example)"), ("hr_id", "", "H2")]),
    ]
    assert not preview.applied and events() == []  # a preview writes nothing
    report = run(text)
    assert report.applied and report.summary() == "0 people added, 2 people updated, 0 people unchanged"
    db.session.commit()
    assert (jo.work_email, jo.job_title, dana.hr_id, dana.manager) == ("jo.kim@org.example", "Head librarian", "H2", jo)
    assert [e.action for e in events()] == ["person.update", "person.update", "import.people"]


def test_a_column_left_out_keeps_its_field_and_an_empty_cell_empties_it(adult: Any) -> None:
    jo = factories.make_person(
        "Jo Kim", hr_id="H1", work_email="jo@org.example", job_title="Librarian", department=adult, personal_phone="555 0100"
    )
    db.session.commit()
    report = run(
        people_csv(
            {"hr_id": "H1", "name": "Jo Kim", "work_email": "jo@org.example", "job_title": ""},
            columns=["hr_id", "name", "work_email", "job_title"],
        )
    )
    assert report.applied
    db.session.commit()
    assert (jo.job_title, jo.department, jo.personal_phone) == ("", adult, "555 0100")


def test_leaving_through_an_import_passes_their_reviews_on_as_the_form_does(adult: Any, monkeypatch: Any) -> None:
    jo = factories.make_person("Jo Kim", hr_id="H1", work_email="jo@org.example")
    db.session.commit()
    passed_on: list[Person] = []
    monkeypatch.setattr(reviews, "reassign_tasks_of", lambda person, actor=None: passed_on.append(person) or [])
    day = (date.today() + timedelta(days=14)).isoformat()
    report = run(
        people_csv({"hr_id": "H1", "name": "Jo Kim", "work_email": "jo@org.example", "status": "leaving", "last_day": day})
    )
    assert report.applied and passed_on == [jo]


def test_new_people_who_manage_each_other_are_all_added(adult: Any) -> None:
    report = run(
        people_csv(
            {"hr_id": "A", "name": "Ann", "work_email": "ann@org.example", "manager_hr_id": "B"},
            {"hr_id": "B", "name": "Bo", "work_email": "bo@org.example", "manager_hr_id": "A"},
        )
    )
    assert report.applied, problems(report)
    db.session.commit()
    people = everyone()
    assert people["ann@org.example"].manager == people["bo@org.example"]
    assert people["bo@org.example"].manager == people["ann@org.example"]


# --- Problems -----------------------------------------------------------------------------


def test_every_problem_is_listed_by_line_and_column_and_nothing_is_written(adult: Any) -> None:
    factories.make_person("Jo Kim", hr_id="H1", work_email="jo@org.example")
    factories.make_person("Pat Lee", hr_id="H9", work_email="pat@org.example")
    db.session.commit()
    text = people_csv(
        {"hr_id": "H2", "name": "", "work_email": "not-an-email", "department": "Nowhere", "status": "gone"},
        {"hr_id": "H3", "name": "Dana", "work_email": "pat@org.example", "last_day": "31/12/2026", "status": "leaving"},
        {
            "hr_id": "H4",
            "name": "Sam",
            "work_email": "sam@org.example",
            "manager_hr_id": "H77",
            "manager_email": "jo@org.example",
        },
        {"hr_id": "H4", "name": "Sam again", "work_email": "SAM@org.example", "status": "departed"},
        {"hr_id": "H9", "name": "Pat Lee", "work_email": "jo@org.example", "manager_hr_id": "H9"},
        {
            "hr_id": "H5",
            "name": "Lee",
            "work_email": "lee@org.example",
            "manager_hr_id": "H1",
            "manager_email": "pat@org.example",
        },
    )
    report = run(text)
    assert not report.ok and not report.applied
    assert problems(report) == [
        (2, "name", "Give the person's name."),
        (2, "work_email", "“not-an-email” is not an email address."),
        (2, "department", "There is no department called “Nowhere”. Add it on the Departments page first."),
        (2, "status", "“gone” is not one of: active, leaving, departed."),
        (
            3,
            "work_email",
            "pat@org.example belongs to Pat Lee, whose hr_id is H9: the row's hr_id and work email must name the same person.",
        ),
        (3, "last_day", "“31/12/2026” is not a date: write it as YYYY-MM-DD, e.g. 2026-12-31."),  # said once, not twice
        (4, "manager_hr_id", "Nobody on the staff list or in this file has the HR id “H77”."),
        (5, "hr_id", "The HR id H4 is also on line 4."),
        (5, "work_email", "sam@org.example is also on line 4."),
        (5, "left_on", "Give the day they left."),
        (6, "work_email", "jo@org.example already belongs to Jo Kim on the staff list."),
        (6, "manager_hr_id", "A person cannot be their own manager."),
        (7, "manager_email", "manager_hr_id and manager_email name two different people."),
    ]
    assert [p.letter for p in report.problems[:4]] == ["B", "C", "E", "H"]
    assert all(r.fate is Fate.ERROR for r in report.rows)
    assert len(everyone()) == 2 and events() == []


def test_an_hr_id_and_a_work_email_of_two_different_people_are_refused(adult: Any) -> None:
    factories.make_person("Jo Kim", hr_id="H1", work_email="jo@org.example")
    db.session.commit()
    report = run(people_csv({"hr_id": "H2", "name": "Jo Kim", "work_email": "jo@org.example"}))
    assert problems(report) == [
        (
            2,
            "work_email",
            "jo@org.example belongs to Jo Kim, whose hr_id is H1: the row's hr_id and work email must name the same person.",
        )
    ]


def test_a_bad_row_at_the_end_of_a_long_file_writes_nothing(adult: Any) -> None:
    rows = [
        {"hr_id": f"H{i}", "name": f"Person {i}", "work_email": f"p{i}@org.example", "department": "Adult Services"}
        for i in range(3000)
    ]
    rows.append({"hr_id": "H-last", "name": "Last", "work_email": "p7@org.example"})  # taken by line 9
    report = run(people_csv(*rows))
    assert not report.applied
    assert problems(report) == [(3002, "work_email", "p7@org.example is also on line 9.")]
    assert report.count(Fate.ADD) == 3000  # every other row was fine
    db.session.commit()
    assert everyone() == {} and events() == []


def test_only_hr_and_admins_import_or_export_people(adult: Any) -> None:
    for role in (Role.IT, Role.DIRECTOR, Role.STAFF):
        actor = Actor(user_id=None, name="Someone", role=role)
        with pytest.raises(PermissionDenied):
            run(people_csv({"name": "Jo", "work_email": "jo@org.example"}), actor=actor)
        with pytest.raises(PermissionDenied):
            csv_io.export_csv(actor, "people")
    assert everyone() == {}


# --- Idempotence and the round trip -------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing_the_second_time(adult: Any) -> None:
    text = people_csv({"hr_id": "H1", "name": "Jo Kim", "work_email": "jo@org.example", "department": "Adult Services"})
    assert run(text).added == 1
    db.session.commit()
    before = len(events())
    again = run(text)
    assert again.applied and again.summary() == "0 people added, 0 people updated, 1 person unchanged"
    assert len(events()) == before


def test_export_then_import_is_a_no_op(adult: Any) -> None:
    youth = factories.make_department("Youth; Services")
    jo = factories.make_person("Jo Kim", hr_id="H1", job_title='=HYPERLINK("http://evil.example")', department=adult)
    factories.make_person(
        "Dana Okafor", department=youth, manager=jo, personal_email="dana@home.example", personal_phone="+1 555 0100"
    )
    factories.make_person("Sam Leaver", PersonStatus.LEAVING, hr_id="-42", manager=jo, last_day=date(2099, 1, 31))
    factories.make_person("Pat Gone", PersonStatus.DEPARTED, hr_id="@pat", left_on=date(2020, 5, 1), job_title="'quoted'")
    factories.make_person('Lee, "Junior"\nSecond line', job_title="\tTabbed")
    db.session.commit()
    exported = "".join(csv_io.export_csv(HR, "people"))
    assert "'=HYPERLINK" in exported and "'+1 555 0100" in exported and "'-42" in exported and "'@pat" in exported
    before = events()
    report = run(exported.encode("utf-8"))
    assert report.applied and report.summary() == "0 people added, 0 people updated, 5 people unchanged", problems(report)
    db.session.commit()
    assert events() == before
    assert "".join(csv_io.export_csv(HR, "people")) == exported


def test_the_export_read_two_people_at_a_time_is_the_whole_file_in_name_order(adult: Any, monkeypatch: Any) -> None:
    boss = factories.make_person("Bea Boss", hr_id="B1", department=adult)
    for n in range(3):  # the same names three times: the batches go on by name, then id
        for name in ("Alex Same", "Cam Same"):
            factories.make_person(
                name, hr_id=f"{name[:3]}{n}", manager=boss, personal_email=f"{name[:3].lower()}{n}@home.example"
            )
    db.session.commit()
    whole = "".join(csv_io.export_csv(HR, "people"))
    monkeypatch.setattr(csv_io, "EXPORT_BATCH", 2)
    chunks = list(csv_io.export_csv(HR, "people"))
    assert "".join(chunks) == whole
    assert len(chunks) == 1 + 4  # the header, then 2 + 2 + 2 + 1 people
    rows = list(csv.DictReader(io.StringIO(whole.removeprefix("\ufeff"))))
    expected = sorted(db.session.scalars(sa.select(Person)), key=lambda p: (p.name, p.id))
    assert [r["hr_id"] for r in rows] == [p.hr_id for p in expected]
    alex = next(r for r in rows if r["hr_id"] == "Ale1")
    assert (alex["name"], alex["department"], alex["manager_hr_id"], alex["personal_email"]) == (
        "Alex Same",
        "",
        "B1",
        "ale1@home.example",
    )
    assert next(r for r in rows if r["hr_id"] == "B1")["department"] == "Adult Services"


def test_a_preview_confirmed_after_the_registry_changed_is_not_applied(adult: Any) -> None:
    jo = factories.make_person("Jo Kim", hr_id="H1", work_email="jo@org.example", job_title="Librarian")
    db.session.commit()
    text = people_csv({"hr_id": "H1", "name": "Jo Kim", "work_email": "jo@org.example", "job_title": "Head librarian"})
    preview = run(text, apply=False)
    jo.job_title = "Deputy"
    db.session.commit()
    report = run(text, expected_digest=preview.digest)
    assert report.stale and not report.applied
    assert report.rows[0].changes[0].before == "Deputy"
    db.session.commit()
    assert jo.job_title == "Deputy" and events() == []
    assert run(text, expected_digest=report.digest).applied


def test_create_people_checks_the_whole_batch_as_create_person_would(adult: Any) -> None:
    factories.make_person("Jo Kim", hr_id="H1", work_email="jo@org.example")
    db.session.commit()
    batch = [
        people_service.PersonData(name="Ann", work_email="ann@org.example", hr_id="H2", department_id=adult.id),
        people_service.PersonData(name="Bo", work_email="JO@org.example", hr_id="H2", manager_id=999_999),
        people_service.PersonData(name=" ", work_email="cy@org.example", status=PersonStatus.LEAVING),
    ]
    with pytest.raises(ValidationFailed) as refused:
        people_service.create_people(HR, batch)
    assert refused.value.field_errors == {
        "1.work_email": ["jo@org.example already belongs to someone on the staff list."],
        "1.hr_id": ["Another person already has this HR id."],
        "1.manager_id": ["That person no longer exists."],
        "2.name": ["Give the person's name."],
        "2.last_day": ["Give the last working day of someone who is leaving."],
    }
    assert len(everyone()) == 1 and events() == []
    with pytest.raises(PermissionDenied):
        people_service.create_people(Actor(user_id=None, name="Ira", role=Role.IT), batch[:1])


# --- Batch writes: the same records and events as the forms ----------------------------------


def test_imported_people_get_the_events_the_forms_would_record(adult: Any) -> None:
    """The batch writes record each person's before and after exactly as create_person and
    update_person snapshot them (department and manager by name, private details as "recorded")."""
    boss = factories.make_person("Jo Kim", hr_id="H1", work_email="jo@org.example")
    sam = factories.make_person("Sam Page", hr_id="H3", work_email="sam@org.example", personal_phone="555 0100")
    db.session.commit()
    sam_before = people_service._snapshot(sam)
    text = people_csv(
        {"hr_id": "H2", "name": "Dana Okafor", "work_email": "dana@org.example", "department": "Adult Services",
         "manager_hr_id": "H1", "status": "leaving", "last_day": "2099-01-31", "personal_email": "dana@home.example"},
        {"hr_id": "H3", "name": "Sam Page", "work_email": "sam@org.example", "job_title": "Porter",
         "department": "Adult Services", "manager_hr_id": "H2", "personal_phone": "555 0199"},
    )  # fmt: skip
    assert run(text).applied
    db.session.commit()
    db.session.expire_all()
    dana = everyone()["dana@org.example"]
    created = next(e for e in events() if e.action == "person.create")
    assert (created.object_id, created.before, created.after) == (dana.id, None, people_service._snapshot(dana))
    assert created.after["department"] == "Adult Services" and created.after["manager"] == boss.name
    assert created.after["personal_email"] == "recorded" and "dana@home.example" not in str(created.after)
    updated = next(e for e in events() if e.action == "person.update")
    assert updated.object_id == sam.id
    assert (updated.before, updated.after) == (sam_before, people_service._snapshot(sam))
    assert sam.version == 2 and sam.manager == dana and sam.job_title == "Porter"
    # A replaced personal detail reads "recorded" both times: the summary says it was replaced.
    assert updated.summary == "Edited Sam Page (replaced personal phone)"
    assert audit.verify_chain() == (len(events()), None)


def test_update_people_sees_each_row_after_the_ones_before_it(adult: Any) -> None:
    """As one update_person after another: a work email freed by an earlier row may be taken by a
    later one; two people swapping addresses in one batch is refused (the first would clash)."""
    ann = factories.make_person("Ann", work_email="ann@org.example")
    bo = factories.make_person("Bo", work_email="bo@org.example")
    db.session.commit()

    def data(person: Person, email: str) -> people_service.PersonData:
        return replace(people_service.data_of(person), work_email=email)

    with pytest.raises(ValidationFailed) as refused:
        people_service.update_people(HR, [(ann, data(ann, "bo@org.example")), (bo, data(bo, "ann@org.example"))])
    assert refused.value.field_errors == {
        "0.work_email": ["bo@org.example already belongs to someone on the staff list."],
        "1.work_email": ["ann@org.example already belongs to someone on the staff list."],
    }
    assert (ann.work_email, bo.work_email, events()) == ("ann@org.example", "bo@org.example", [])

    people_service.update_people(HR, [(bo, data(bo, "bo.new@org.example")), (ann, data(ann, "bo@org.example"))])
    db.session.commit()
    db.session.expire_all()
    assert (ann.work_email, bo.work_email) == ("bo@org.example", "bo.new@org.example")
    assert [e.action for e in events()] == ["person.update", "person.update"]


def test_update_people_refuses_a_person_changed_meanwhile(adult: Any) -> None:
    ann = factories.make_person("Ann", work_email="ann@org.example")
    db.session.commit()
    # Someone else saves Ann after this batch loaded her (version 1 -> 2).
    db.session.execute(sa.update(Person.__table__).where(Person.id == ann.id).values(job_title="Clerk", version=2))
    with pytest.raises(StaleEdit):
        people_service.update_people(HR, [(ann, replace(people_service.data_of(ann), job_title="Porter"))])
