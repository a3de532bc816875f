"""The reviews service: scope and assignment, confirming and correcting, auto-close, leavers' tasks, reminders."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AccountStatus, AuditEvent, Person, PersonStatus, ReviewCampaign, ReviewTask, ReviewTaskStatus, Role
from app.services import mail
from app.services import people as people_service
from app.services import reviews as service
from app.services.context import Actor
from app.services.errors import NotFound, PermissionDenied, StaleEdit, ValidationFailed
from tests import factories

#: How far ahead a campaign is due in most tests.
DUE_IN = timedelta(days=30)


def actor_for(role: Role, name: str | None = None, person: Person | None = None) -> Actor:
    user = factories.make_user(role, person=person or factories.make_person(name=name or f"{role.label} Actor"))
    return Actor(user_id=user.id, name=user.person.name, role=role, person_id=user.person_id)


def events(action: str | None = None, object_type: str | None = None) -> list[AuditEvent]:
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    return list(db.session.scalars(stmt))


def task_of(campaign: ReviewCampaign, account) -> ReviewTask:
    [task] = [t for t in campaign.tasks if t.account_id == account.id]
    return task


def person_data(person: Person, **changes) -> people_service.PersonData:
    data = people_service.PersonData(
        name=person.name,
        work_email=person.work_email,
        department_id=person.department_id,
        status=person.status,
        last_day=person.last_day,
        left_on=person.left_on,
    )
    return replace(data, **changes)


@pytest.fixture
def due(today: date) -> date:
    return today + DUE_IN


@pytest.fixture
def director(app) -> Actor:
    return actor_for(Role.DIRECTOR, "Dee Rector")


@pytest.fixture
def org(app):
    """Two departments with heads, stewards, and accounts in and out of scope."""

    class Org:
        pass

    o = Org()
    o.adult_head = factories.make_person("Ada Head")
    o.adult = factories.make_department("Adult Services", head=o.adult_head)
    o.comms_head = factories.make_person("Cam Head")
    o.comms = factories.make_department("Communications", head=o.comms_head)
    o.bare = factories.make_department("Branches")  # no head
    o.dana = factories.make_person("Dana Steward", department=o.adult)
    o.sam = factories.make_person("Sam Steward", department=o.comms)
    o.platform = factories.make_platform("Facebook")
    o.page = factories.make_account(o.platform, name="Library Page", department=o.adult, steward=o.dana)
    o.blog = factories.make_account(o.platform, name="Library Blog", department=o.adult, steward=o.dana)
    o.news = factories.make_account(o.platform, name="Newsletter", department=o.comms, steward=o.sam)
    o.orphan = factories.make_account(o.platform, name="Orphan Feed", department=o.comms)  # no steward
    o.lost = factories.make_account(o.platform, name="Branch Page", department=o.bare)  # no steward, no head
    o.old = factories.make_account(o.platform, name="Old Page", department=o.adult, steward=o.dana, status=AccountStatus.RETIRED)
    o.loose = factories.make_account(o.platform, name="Loose Account", steward=o.sam)  # no department
    db.session.commit()
    return o


# --- Opening ---------------------------------------------------------------------------------


def test_a_campaign_covers_every_live_account_in_its_departments(director, org, due):
    campaign = service.open_campaign(director, "Spring review", due, [org.adult.id, org.comms.id])

    assert sorted(t.account.name for t in campaign.tasks) == ["Library Blog", "Library Page", "Newsletter", "Orphan Feed"]
    assert campaign.department_ids == sorted([org.adult.id, org.comms.id])
    assert (campaign.created_by_name, campaign.due_on, campaign.closed_at) == ("Dee Rector", due, None)
    assert all(t.status is ReviewTaskStatus.PENDING for t in campaign.tasks)
    [event] = events("review.open")
    assert event.object_type == "review_campaign" and event.object_id == campaign.id
    assert "Spring review" in event.summary and "4 accounts" in event.summary


def test_no_departments_means_the_whole_organisation_but_never_retired_accounts(director, org, due):
    campaign = service.open_campaign(director, "Everything", due, [])

    names = sorted(t.account.name for t in campaign.tasks)
    assert names == ["Branch Page", "Library Blog", "Library Page", "Loose Account", "Newsletter", "Orphan Feed"]
    assert "Old Page" not in names


def test_tasks_go_to_the_steward_else_the_department_head_else_nobody(director, org, due, today):
    org.sam.status = PersonStatus.LEAVING
    org.sam.last_day = today + timedelta(days=3)
    db.session.commit()

    campaign = service.open_campaign(director, "Everything", due, [])

    assignee = {t.account.name: (t.assignee.name if t.assignee else None) for t in campaign.tasks}
    assert assignee == {
        "Library Page": "Dana Steward",  # active steward
        "Library Blog": "Dana Steward",
        "Newsletter": "Cam Head",  # steward is leaving: the department head
        "Orphan Feed": "Cam Head",  # no steward: the department head
        "Branch Page": None,  # no steward and no head: unassigned
        "Loose Account": None,  # steward leaving, no department
    }
    assert "2 unassigned" in events("review.open")[0].summary


def test_opening_asks_each_assignee_once_by_email_after_the_commit(director, org, due):
    service.open_campaign(director, "Spring review", due, [org.adult.id, org.comms.id])

    queued = {m.to: m for m in mail.pending()}
    assert set(queued) == {org.dana.work_email, org.sam.work_email, org.comms_head.work_email}
    assert "Library Page" in queued[org.dana.work_email].body and "Library Blog" in queued[org.dana.work_email].body
    assert "2 accounts to confirm" in queued[org.dana.work_email].subject
    db.session.rollback()
    assert mail.pending() == []  # nothing is sent for a campaign that was never saved


@pytest.mark.parametrize("role", [Role.HR, Role.IT, Role.STAFF])
def test_only_directors_and_admins_open_campaigns(app, org, role, due):
    with pytest.raises(PermissionDenied):
        service.open_campaign(actor_for(role), "Nope", due, [])
    service.open_campaign(actor_for(Role.ADMIN), "Yes", due, [])


@pytest.mark.parametrize(
    ("name", "due_in", "departments", "field"),
    [
        ("  ", DUE_IN, [], "name"),
        ("Review", None, [], "due_on"),
        ("Review", timedelta(days=-1), [], "due_on"),
        ("Review", DUE_IN, [999_999], "department_ids"),
    ],
)
def test_bad_input_opens_nothing(director, org, name, due_in, departments, field, today):
    due_on = None if due_in is None else today + due_in
    with pytest.raises(ValidationFailed) as raised:
        service.open_campaign(director, name, due_on, departments)
    assert field in raised.value.field_errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewCampaign)) == 0


def test_a_department_with_nothing_to_review_is_refused(director, app, due):
    empty = factories.make_department("Empty")
    with pytest.raises(ValidationFailed) as raised:
        service.open_campaign(director, "Review", due, [empty.id])
    assert raised.value.field_errors["department_ids"] == ["There is no live account in those departments to review."]


# --- Confirming and correcting ------------------------------------------------------------------


def test_the_assignee_confirms_and_the_account_is_reviewed_now(director, org, due):
    campaign = service.open_campaign(director, "Spring review", due, [org.adult.id])
    db.session.commit()
    dana = actor_for(Role.STAFF, person=org.dana)
    task = task_of(campaign, org.page)
    before = datetime.now(UTC)

    service.confirm_task(dana, task, "", expected_version=org.page.version)

    assert task.status is ReviewTaskStatus.CONFIRMED
    assert task.completed_by_name == "Dana Steward" and task.completed_at >= before
    assert org.page.last_reviewed_at == task.completed_at
    [event] = events("account.review.confirmed")
    assert (event.object_type, event.object_id) == ("account", org.page.id)
    assert event.summary == "Reviewed Library Page in campaign Spring review: everything is right"
    assert event.before["last_reviewed_at"] is None and event.after["last_reviewed_at"] is not None


def test_correcting_needs_a_note_and_records_it(director, org, due):
    campaign = service.open_campaign(director, "Spring review", due, [org.adult.id])
    dana = actor_for(Role.STAFF, person=org.dana)
    task = task_of(campaign, org.blog)

    with pytest.raises(ValidationFailed) as raised:
        service.correct_task(dana, task, "  ")
    assert "note" in raised.value.field_errors
    assert task.status is ReviewTaskStatus.PENDING and org.blog.last_reviewed_at is None

    service.correct_task(dana, task, "Replaced the recovery email with social@")

    assert (task.status, task.note) == (ReviewTaskStatus.CORRECTED, "Replaced the recovery email with social@")
    assert org.blog.last_reviewed_at is not None
    [event] = events("account.review.corrected")
    assert (
        event.summary == "Reviewed Library Blog in campaign Spring review: corrected — Replaced the recovery email with social@"
    )


def test_only_the_assignee_or_an_admin_works_a_task(director, org, due):
    campaign = service.open_campaign(director, "Spring review", due, [org.adult.id, org.comms.id])
    task = task_of(campaign, org.page)
    sam = actor_for(Role.STAFF, person=org.sam)

    for outsider in (sam, director, actor_for(Role.IT), actor_for(Role.HR)):
        with pytest.raises(PermissionDenied):
            service.confirm_task(outsider, task)
        with pytest.raises(PermissionDenied):
            service.correct_task(outsider, task, "fixed")
        # Staff never follow campaigns: another's task is answered as a missing one.
        with pytest.raises(NotFound if outsider is sam else PermissionDenied):
            service.get_task(outsider, task.id)

    admin = actor_for(Role.ADMIN, "Ari Admin")
    service.confirm_task(admin, task)
    assert task.completed_by_name == "Ari Admin"


def test_a_done_task_cannot_be_done_again(director, org, due):
    campaign = service.open_campaign(director, "Spring review", due, [org.adult.id])
    dana = actor_for(Role.STAFF, person=org.dana)
    task = task_of(campaign, org.page)
    service.confirm_task(dana, task)

    with pytest.raises(ValidationFailed, match="already marked confirmed by Dana Steward"):
        service.correct_task(dana, task, "changed my mind")
    assert task.status is ReviewTaskStatus.CONFIRMED


def test_confirming_what_changed_since_the_page_was_read_is_refused(director, org, due):
    campaign = service.open_campaign(director, "Spring review", due, [org.adult.id])
    db.session.commit()
    seen = org.page.version
    org.page.purpose = "Changed meanwhile"
    db.session.commit()

    with pytest.raises(StaleEdit):
        service.confirm_task(actor_for(Role.STAFF, person=org.dana), task_of(campaign, org.page), expected_version=seen)
    assert task_of(campaign, org.page).status is ReviewTaskStatus.PENDING


def test_the_campaign_closes_itself_when_the_last_task_is_done(director, org, due):
    campaign = service.open_campaign(director, "Spring review", due, [org.adult.id])
    dana = actor_for(Role.STAFF, person=org.dana)

    service.confirm_task(dana, task_of(campaign, org.page))
    assert campaign.closed_at is None and events("review.close") == []

    service.correct_task(dana, task_of(campaign, org.blog), "Removed a departed admin")

    assert campaign.closed_at is not None
    [event] = events("review.close")
    assert event.object_id == campaign.id and "all 2 accounts reviewed" in event.summary
    with pytest.raises(ValidationFailed):
        service.confirm_task(dana, task_of(campaign, org.page))


# --- Progress and report ----------------------------------------------------------------------


def test_progress_overall_and_by_department(director, org, due):
    campaign = service.open_campaign(director, "Everything", due, [])
    dana = actor_for(Role.STAFF, person=org.dana)
    service.confirm_task(dana, task_of(campaign, org.page))

    result = service.progress(campaign)

    assert (result.overall.done, result.overall.total) == (1, 6)
    assert [(d.name, d.done, d.total) for d in result.by_department] == [
        ("Adult Services", 1, 2),
        ("Branches", 0, 1),
        ("Communications", 0, 2),
        ("No department", 0, 1),
    ]
    assert result.by_department[0].percent == 50


def test_the_report_says_who_did_what_and_when_in_order(director, org, due):
    campaign = service.open_campaign(director, "Spring review", due, [org.adult.id, org.comms.id])
    dana = actor_for(Role.STAFF, person=org.dana)
    cam = actor_for(Role.STAFF, person=org.comms_head)
    service.correct_task(cam, task_of(campaign, org.orphan), "Gave it a steward")
    service.confirm_task(dana, task_of(campaign, org.page))

    report = service.campaign_report(campaign)

    assert [(t.account.name, t.status, t.completed_by_name) for t in report] == [
        ("Orphan Feed", ReviewTaskStatus.CORRECTED, "Cam Head"),
        ("Library Page", ReviewTaskStatus.CONFIRMED, "Dana Steward"),
    ]


def test_my_tasks_lists_pending_tasks_earliest_due_first(director, org, due, today):
    later = service.open_campaign(director, "Later", due, [org.adult.id])
    sooner = service.open_campaign(director, "Sooner", today + timedelta(days=2), [org.adult.id])
    dana = actor_for(Role.STAFF, person=org.dana)
    service.confirm_task(dana, task_of(sooner, org.page))

    assert [(t.campaign.name, t.account.name) for t in service.my_tasks(dana)] == [
        ("Sooner", "Library Blog"),
        ("Later", "Library Blog"),
        ("Later", "Library Page"),
    ]
    assert later.closed_at is None


# --- People leaving ---------------------------------------------------------------------------


def test_a_stewards_tasks_move_to_their_department_head_when_they_leave(director, org, due, today):
    campaign = service.open_campaign(director, "Spring review", due, [org.adult.id])
    dana = actor_for(Role.STAFF, person=org.dana)
    service.confirm_task(dana, task_of(campaign, org.page))
    db.session.commit()
    hr = actor_for(Role.HR, "Hana Reyes")

    people_service.update_person(
        hr, org.dana, person_data(org.dana, status=PersonStatus.LEAVING, last_day=today + timedelta(days=14)), org.dana.version
    )

    assert task_of(campaign, org.blog).assignee is org.adult_head
    assert task_of(campaign, org.page).assignee is org.dana  # already done: stays as it was
    [event] = events("review.reassign")
    assert event.actor_name == "Hana Reyes"
    assert event.summary == "Moved 1 review task of Dana Steward (leaving) to Ada Head"
    assert [m.to for m in mail.pending()] == [org.adult_head.work_email]
    assert "Library Blog" in mail.pending()[0].body


def test_without_a_head_of_their_own_the_accounts_department_head_takes_over(director, org, due, today):
    # Sam works in Branches (no head) but stewards a Communications account.
    org.sam.department = org.bare
    db.session.commit()
    campaign = service.open_campaign(director, "Spring review", due, [org.comms.id])

    org.sam.status = PersonStatus.DEPARTED
    org.sam.left_on = today
    moved = service.reassign_tasks_of(org.sam)

    assert [t.account.name for t in moved] == ["Newsletter"]
    assert task_of(campaign, org.news).assignee is org.comms_head
    assert events("review.reassign")[0].actor_name == "review reassignment"


def test_a_leaving_department_head_leaves_their_tasks_unassigned_when_nobody_else_can_take_them(director, org, due, today):
    campaign = service.open_campaign(director, "Everything", due, [])
    head = org.comms_head
    head.department = org.comms
    db.session.commit()
    assert task_of(campaign, org.orphan).assignee is head

    head.status = PersonStatus.LEAVING
    head.last_day = today
    service.reassign_tasks_of(head)

    assert task_of(campaign, org.orphan).assignee is None
    assert "1 left unassigned" in events("review.reassign")[0].summary


def test_reassigning_leaves_closed_campaigns_alone(director, org, due):
    campaign = service.open_campaign(director, "Spring review", due, [org.adult.id])
    campaign.closed_at = datetime.now(UTC)  # closed early
    db.session.commit()

    assert service.reassign_tasks_of(org.dana) == []
    assert task_of(campaign, org.blog).assignee is org.dana


def test_only_a_change_of_status_to_leaving_or_departed_moves_tasks(director, org, due):
    campaign = service.open_campaign(director, "Spring review", due, [org.adult.id])
    db.session.commit()
    hr = actor_for(Role.HR)

    people_service.update_person(hr, org.dana, person_data(org.dana, name="Dana S. Steward"), org.dana.version)

    assert task_of(campaign, org.page).assignee is org.dana
    assert events("review.reassign") == []


# --- Reminders --------------------------------------------------------------------------------


def _campaign(director, name: str, due_on: date, departments, today: date) -> ReviewCampaign:
    campaign = service.open_campaign(director, name, max(due_on, today), [d.id for d in departments])
    campaign.due_on = due_on  # a campaign opened earlier, now overdue
    db.session.flush()
    return campaign


def test_reminders_cover_tasks_due_within_a_week_or_overdue_grouped_by_assignee(director, org, today):
    overdue = _campaign(director, "Overdue review", today - timedelta(days=3), [org.adult], today)
    soon = _campaign(director, "Soon review", today + timedelta(days=7), [org.adult, org.comms], today)
    _campaign(director, "Far review", today + timedelta(days=8), [org.comms], today)
    dana = actor_for(Role.STAFF, person=org.dana)
    service.confirm_task(dana, task_of(soon, org.page))

    due = service.reminders_due(today)

    assert [r.person.name for r in due] == ["Cam Head", "Dana Steward", "Sam Steward"]
    by_person = {r.person.name: [(t.campaign.name, t.account.name) for t in r.tasks] for r in due}
    assert by_person["Dana Steward"] == [
        ("Overdue review", "Library Blog"),
        ("Overdue review", "Library Page"),
        ("Soon review", "Library Blog"),
    ]
    assert by_person["Sam Steward"] == [("Soon review", "Newsletter")]
    assert by_person["Cam Head"] == [("Soon review", "Orphan Feed")]
    assert overdue.closed_at is None


def test_reminders_skip_closed_campaigns_unassigned_tasks_and_those_reminded_today(director, org, today):
    closed = _campaign(director, "Closed", today - timedelta(days=1), [org.comms], today)
    closed.closed_at = datetime.now(UTC)
    open_ = _campaign(director, "Open", today + timedelta(days=1), [org.adult, org.bare], today)
    task_of(open_, org.page).reminded_at = datetime.now(UTC)
    task_of(open_, org.blog).reminded_at = datetime.combine(today - timedelta(days=1), datetime.min.time(), UTC)
    db.session.flush()
    assert task_of(open_, org.lost).assignee is None

    due = service.reminders_due(today)

    assert [(r.person.name, [t.account.name for t in r.tasks]) for r in due] == [("Dana Steward", ["Library Blog"])]


def test_sending_reminders_queues_one_digest_each_and_stamps_the_tasks(director, org, today):
    _campaign(director, "Overdue review", today - timedelta(days=2), [org.adult], today)
    soon = _campaign(director, "Soon review", today + timedelta(days=3), [org.adult], today)
    db.session.commit()

    reminders = service.send_reminders(Actor.system("test"), today, base_url="https://handover.example")

    [message] = [m for m in mail.pending() if m.subject.startswith("Reminder")]
    assert message.to == org.dana.work_email and reminders[0].message is message
    assert message.subject == "Reminder: 4 accounts to review, 2 overdue"
    body = message.body
    assert body.index("Overdue:") < body.index("overdue by 2 days") < body.index("Due soon:") < body.index("Soon review")
    assert f"https://handover.example/reviews/tasks/{task_of(soon, org.page).id}" in body
    assert all(t.reminded_at is not None for t in soon.tasks)
    assert service.reminders_due(today) == []
    [event] = events("review.remind")
    assert "1 review reminder covering 4 tasks" in event.summary
