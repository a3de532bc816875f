"""The review pages: campaigns for directors, "My reviews" for stewards, and the task page's two answers."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Account, AuditEvent, PersonStatus, ReviewCampaign, ReviewTask, ReviewTaskStatus, Role
from app.services import accounts, mail, reviews
from app.services.context import Actor
from tests import factories
from tests.integration.browser_form import form_values

#: How far ahead a campaign is due in most tests.
DUE_IN = timedelta(days=30)


def fresh_task(task_id: int) -> ReviewTask:
    db.session.expire_all()
    return db.session.get(ReviewTask, task_id)


def text_of(html: str) -> str:
    """The page's text with tags dropped and spaces collapsed (for reading table rows)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def org(app):
    class Org:
        pass

    o = Org()
    o.head = factories.make_person("Ada Head")
    o.adult = factories.make_department("Adult Services", head=o.head)
    o.comms = factories.make_department("Communications")
    o.dana = factories.make_person("Dana Steward", department=o.adult)
    o.sam = factories.make_person("Sam Steward", department=o.comms)
    o.platform = factories.make_platform("Facebook", role_names=["admin", "editor"])
    o.page = factories.make_account(o.platform, name="Library Page", department=o.adult, steward=o.dana)
    o.blog = factories.make_account(o.platform, name="Library Blog", department=o.adult, steward=o.dana)
    o.news = factories.make_account(o.platform, name="Newsletter", department=o.comms, steward=o.sam)
    o.lost = factories.make_account(o.platform, name="Lost Feed", department=o.comms)  # nobody to ask
    o.persona = factories.make_profile(o.platform, name="Melvilla Dewey")
    factories.make_admin(o.page, o.persona, role_name="admin")
    factories.make_recovery(o.page, value="social@org.example")
    db.session.commit()
    return o


@pytest.fixture
def due(today: date) -> date:
    return today + DUE_IN


@pytest.fixture
def campaign(org, due) -> ReviewCampaign:
    campaign = reviews.open_campaign(Actor.system("test"), "Spring review", due, [])
    db.session.commit()
    return campaign


def task_id(campaign: ReviewCampaign, account: Account) -> int:
    return db.session.scalar(
        sa.select(ReviewTask.id).where(ReviewTask.campaign_id == campaign.id, ReviewTask.account_id == account.id)
    )


# --- The list ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.DIRECTOR, Role.ADMIN])
def test_directors_and_admins_see_campaigns_with_progress_and_can_open_one(client, login_as, campaign, role):
    login_as(role)
    page = client.get("/reviews/")
    assert page.status_code == 200
    assert "Spring review" in page.text and "Open a review campaign" in page.text
    assert "0 of 4" in text_of(page.text)
    assert "My reviews" not in page.text  # nothing is assigned to them


@pytest.mark.parametrize("role", [Role.HR, Role.IT])
def test_hr_and_it_follow_campaigns_but_do_not_open_them(client, login_as, campaign, role):
    login_as(role)
    page = client.get("/reviews/")
    assert page.status_code == 200
    assert "Spring review" in page.text and "Open a review campaign" not in page.text


def test_a_steward_sees_their_own_reviews_overdue_first(client, login_as, org, campaign, today):
    later = campaign
    overdue = reviews.open_campaign(Actor.system("test"), "Winter review", today, [org.adult.id])
    overdue.due_on = today - timedelta(days=5)
    db.session.commit()
    login_as(Role.STAFF, person=org.dana)

    page = client.get("/reviews/")

    assert page.status_code == 200
    text = text_of(page.text)
    assert "My reviews (4)" in text
    assert "Campaigns" not in page.text and "Newsletter" not in page.text
    assert text.index("Winter review") < text.index("Spring review")
    assert page.text.count('badge--danger">Overdue') == 2
    assert f"/reviews/tasks/{task_id(later, org.page)}" in page.text


def test_someone_with_nothing_to_review_is_told_so(client, login_as, campaign):
    login_as(Role.STAFF)
    page = client.get("/reviews/")
    assert page.status_code == 200 and "Nothing waits for your review" in page.text


# --- Opening a campaign ---------------------------------------------------------------------


def test_a_director_opens_a_campaign_for_chosen_departments(client, login_as, org, due, today):
    login_as(Role.DIRECTOR, person=factories.make_person("Dee Rector"))
    form = client.get("/reviews/new")
    assert form.status_code == 200
    assert 'name="department_ids"' in form.text and "multiple" in form.text
    assert (today + timedelta(days=30)).isoformat() in form.text

    response = client.submit(
        "/reviews/new", {"name": "Adult services review", "due_on": due.isoformat(), "department_ids": [org.adult.id]}
    )

    assert response.status_code == 302
    campaign = db.session.scalar(sa.select(ReviewCampaign))
    assert response.headers["Location"].endswith(f"/reviews/{campaign.id}")
    assert sorted(t.account.name for t in campaign.tasks) == ["Library Blog", "Library Page"]
    assert campaign.created_by_name == "Dee Rector"
    detail = client.get(response.headers["Location"])
    assert "Opened Adult services review: 2 accounts to review" in detail.text
    assert "Adult Services" in detail.text


def test_no_department_chosen_means_everything(client, login_as, org, due):
    login_as(Role.ADMIN)
    response = client.submit("/reviews/new", {"name": "Everything", "due_on": due.isoformat()})
    assert response.status_code == 302
    assert len(db.session.scalar(sa.select(ReviewCampaign)).tasks) == 4


def test_a_bad_campaign_form_comes_back_with_errors_and_opens_nothing(client, login_as, org, today):
    login_as(Role.DIRECTOR)
    response = client.submit("/reviews/new", {"name": "", "due_on": (today - timedelta(days=1)).isoformat()})
    assert response.status_code == 400
    assert "Name the campaign." in response.text
    response = client.submit("/reviews/new", {"name": "Late", "due_on": (today - timedelta(days=1)).isoformat()})
    assert response.status_code == 400 and "The due date has passed" in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewCampaign)) == 0


@pytest.mark.parametrize("role", [Role.HR, Role.IT, Role.STAFF])
def test_only_directors_and_admins_open_campaigns(client, login_as, org, role, due):
    login_as(role)
    assert client.get("/reviews/new").status_code == 403
    assert client.submit("/reviews/new", {"name": "X", "due_on": due.isoformat()}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewCampaign)) == 0


# --- The campaign page ------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.DIRECTOR, Role.ADMIN, Role.HR, Role.IT])
def test_readers_see_the_campaign_page_and_its_printable_report(client, login_as, campaign, role):
    login_as(role)
    page = client.get(f"/reviews/{campaign.id}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Spring review" in text and "Unassigned" in text and "Lost Feed" in text
    assert "<progress" in page.text and "style=" not in page.text  # the CSP allows no inline styles
    printable = client.get(f"/reviews/{campaign.id}?print=1")
    assert printable.status_code == 200 and "Access review report: Spring review" in printable.text


def test_staff_do_not_see_campaign_pages(client, login_as, org, campaign):
    login_as(Role.STAFF, person=org.dana)
    assert client.get(f"/reviews/{campaign.id}").status_code == 403


def test_an_unknown_campaign_or_task_is_not_found(client, login_as, campaign):
    login_as(Role.ADMIN)
    assert client.get("/reviews/999999").status_code == 404
    assert client.get("/reviews/tasks/999999").status_code == 404


# --- Working the tasks -------------------------------------------------------------------------


def test_the_task_page_shows_what_controls_the_account_but_no_secret(client, login_as, org, campaign):
    from app.models import CredentialKind
    from app.services import credentials

    credentials.create_note(
        Actor.system(), credentials.NoteData("Page login", CredentialKind.PASSWORD), "hunter2-secret-value", account=org.page
    )
    db.session.commit()
    login_as(Role.STAFF, person=org.dana)

    page = client.get(f"/reviews/tasks/{task_id(campaign, org.page)}")

    assert page.status_code == 200
    text = text_of(page.text)
    assert "Review Library Page" in text
    assert "Melvilla Dewey" in text and "admin" in text
    assert "social@org.example" in text
    assert "Page login" in text and "hunter2-secret-value" not in page.text
    assert "Everything is right" in text and "I corrected it" in text
    assert f"/accounts/{org.page.id}/edit" in page.text  # a steward may correct it in place


def test_a_steward_confirms_one_account_and_corrects_another(client, login_as, org, campaign):
    login_as(Role.STAFF, person=org.dana)
    page_task, blog_task = task_id(campaign, org.page), task_id(campaign, org.blog)

    # "Everything is right", posted as the page renders it (with the account version it showed).
    task_page = client.get(f"/reviews/tasks/{page_task}").text
    confirm = form_values(task_page, "confirm-account_version")
    response = client.post(f"/reviews/tasks/{page_task}/confirm", data=confirm)
    assert response.status_code == 302 and response.headers["Location"].endswith("/reviews/")
    assert "Library Page is confirmed as right" in client.get("/reviews/").text

    # The steward corrects the blog's recovery contact on its own page, then says so.
    assert (
        client.submit(
            f"/accounts/{org.blog.id}/recovery", {"recovery-kind": "email", "recovery-value": "web@org.example"}
        ).status_code
        == 302
    )
    empty = client.submit(f"/reviews/tasks/{blog_task}/correct", {"correct-note": ""})
    assert empty.status_code == 400 and "Say what you corrected" in empty.text
    response = client.submit(f"/reviews/tasks/{blog_task}/correct", {"correct-note": "Added web@ as recovery email"})
    assert response.status_code == 302

    page, blog = fresh_task(page_task), fresh_task(blog_task)
    assert (page.status, blog.status) == (ReviewTaskStatus.CONFIRMED, ReviewTaskStatus.CORRECTED)
    assert blog.note == "Added web@ as recovery email" and blog.completed_by_name == "Dana Steward"
    assert page.account.last_reviewed_at is not None and blog.account.last_reviewed_at is not None
    summaries = list(
        db.session.scalars(
            sa.select(AuditEvent.summary).where(AuditEvent.object_type == "account", AuditEvent.object_id == org.blog.id)
        )
    )
    assert summaries[-2:] == [
        "Added recovery email web@org.example (institutional)",
        "Reviewed Library Blog in campaign Spring review: corrected — Added web@ as recovery email",
    ]
    # The account's change history shows both.
    history = client.get(f"/accounts/{org.blog.id}").text
    assert "Reviewed Library Blog in campaign Spring review" in history

    # The task is done: no more buttons, and "My reviews" is empty.
    done = client.get(f"/reviews/tasks/{page_task}")
    assert (
        done.status_code == 200 and "Confirmed by Dana Steward" in done.text and "Everything is right</button>" not in done.text
    )
    assert "Nothing waits for your review" in client.get("/reviews/").text


def test_progress_by_department_after_the_stewards_answers(client, login_as, org, campaign):
    dana = Actor(user_id=None, name="Dana Steward", role=Role.STAFF, person_id=org.dana.id)
    reviews.confirm_task(dana, db.session.get(ReviewTask, task_id(campaign, org.page)))
    reviews.correct_task(dana, db.session.get(ReviewTask, task_id(campaign, org.blog)), "Fixed the owner")
    db.session.commit()
    login_as(Role.DIRECTOR)

    text = text_of(client.get(f"/reviews/{campaign.id}").text)

    assert "Progress 2 of 4 (50%)" in text
    assert "Adult Services 2 of 2 (100%)" in text
    assert "Communications 0 of 2 (0%)" in text
    # The report: who confirmed what, and when.
    assert "Dana Steward Library Page — Facebook Everything is right" in text
    assert "Dana Steward Library Blog — Facebook Corrected Fixed the owner" in text
    assert "2 of 4" in text_of(client.get("/reviews/").text)


def test_someone_who_is_not_the_assignee_gets_403_or_404_if_they_cannot_see_campaigns(app, client, org, campaign, make_user):
    target = task_id(campaign, org.page)
    # Staff do not follow campaigns: someone else's task is answered as a missing one.
    for role, person, status in (
        (Role.STAFF, org.sam, 404),
        (Role.DIRECTOR, None, 403),
        (Role.IT, None, 403),
        (Role.HR, None, 403),
    ):
        other = app.test_client()
        other.login(make_user(role, person=person))
        assert other.get(f"/reviews/tasks/{target}").status_code == status, role
        assert other.submit(f"/reviews/tasks/{target}/confirm", {"confirm-account_version": 1}).status_code == status, role
        assert other.submit(f"/reviews/tasks/{target}/correct", {"correct-note": "x"}).status_code == status, role
    assert fresh_task(target).status is ReviewTaskStatus.PENDING


def test_an_admin_may_review_any_task_including_an_unassigned_one(client, login_as, org, campaign):
    login_as(Role.ADMIN, person=factories.make_person("Ari Admin"))
    lost = task_id(campaign, org.lost)
    assert client.get(f"/reviews/tasks/{lost}").status_code == 200
    response = client.submit(f"/reviews/tasks/{lost}/correct", {"correct-note": "Gave it a steward"})
    assert response.status_code == 302
    assert fresh_task(lost).completed_by_name == "Ari Admin"


def test_confirming_an_account_that_changed_since_the_page_was_read_is_refused(client, login_as, org, campaign):
    login_as(Role.STAFF, person=org.dana)
    target = task_id(campaign, org.page)
    confirm = form_values(client.get(f"/reviews/tasks/{target}").text, "confirm-account_version")
    account = db.session.get(Account, org.page.id)
    it = Actor(user_id=None, name="Ivy Tech", role=Role.IT)
    data = accounts.AccountData(
        platform_id=account.platform_id,
        name=account.name,
        department_id=account.department_id,
        steward_id=account.steward_id,
        purpose="Changed by IT meanwhile",
    )
    accounts.update_account(it, account, data, account.version)
    db.session.commit()

    response = client.post(f"/reviews/tasks/{target}/confirm", data=confirm)

    assert response.status_code == 409
    text = text_of(response.text)
    assert "was changed by someone else" in text and "Ivy Tech changed purpose" in text
    assert fresh_task(target).status is ReviewTaskStatus.PENDING
    # The page now carries the current version: confirming again works.
    again = form_values(response.text, "confirm-account_version")
    assert client.post(f"/reviews/tasks/{target}/confirm", data=again).status_code == 302


def test_the_last_answer_closes_the_campaign(client, login_as, org, due):
    campaign = reviews.open_campaign(Actor.system("test"), "Small review", due, [org.adult.id])
    db.session.commit()
    login_as(Role.STAFF, person=org.dana)
    for account in (org.page, org.blog):
        response = client.submit(f"/reviews/tasks/{task_id(campaign, account)}/correct", {"correct-note": "Fixed"})
        assert response.status_code == 302
    assert "it is now closed" in client.get("/reviews/").text
    db.session.expire_all()
    assert db.session.get(ReviewCampaign, campaign.id).closed_at is not None


def test_a_leaving_stewards_tasks_show_up_for_their_department_head(app, client, login_as, org, campaign, make_user, today):
    login_as(Role.HR)
    person = org.dana
    edit = form_values(client.get(f"/people/{person.id}/edit").text, "version")
    edit.update(status=PersonStatus.LEAVING.value, last_day=(today + timedelta(days=10)).isoformat())
    assert client.post(f"/people/{person.id}/edit", data=edit).status_code == 302
    assert fresh_task(task_id(campaign, org.page)).assignee_id == org.head.id

    head = app.test_client()
    head.login(make_user(Role.STAFF, person=org.head))
    text = text_of(head.get("/reviews/").text)
    assert "My reviews (2)" in text and "Library Page" in text and "Library Blog" in text


def test_a_large_campaign_s_page_lists_its_accounts_a_page_at_a_time(client, login_as, org, monkeypatch, due):
    """Waiting ones first, each part by department then account (as when it opened), a page at a
    time; progress by department counts them all; the latest reviews are shown, all in print."""
    monkeypatch.setattr(reviews, "CAMPAIGN_PAGE", 2)
    monkeypatch.setattr(reviews, "REPORT_LIST", 1)
    factories.make_account(org.platform, name="Zine Feed", steward=org.sam)  # no department: last
    db.session.commit()
    campaign = reviews.open_campaign(Actor.system("test"), "Big review", due, [])
    db.session.commit()
    dana = Actor(user_id=None, name="Dana Steward", role=Role.STAFF, person_id=org.dana.id)
    reviews.confirm_task(dana, db.session.get(ReviewTask, task_id(campaign, org.blog)))
    reviews.correct_task(dana, db.session.get(ReviewTask, task_id(campaign, org.page)), "Fixed the owner")
    # A department renamed after opening: the campaign keeps telling its progress by department.
    org.comms.name = "Comms"
    db.session.commit()
    login_as(Role.DIRECTOR)

    def accounts_on(page: int) -> list[str]:
        html = client.get(f"/reviews/{campaign.id}?page={page}").text
        table = html.split('id="tasks"')[1].split("</table>")[0]
        return re.findall(r'<a href="/accounts/\d+">([^<]+)</a>', table)

    # Waiting: Communications' two (Lost Feed, Newsletter), then Zine Feed (no department); then done.
    assert [accounts_on(1), accounts_on(2), accounts_on(3)] == [
        ["Lost Feed", "Newsletter"],
        ["Zine Feed", "Library Blog"],
        ["Library Page"],
    ]
    first = client.get(f"/reviews/{campaign.id}").text
    assert 'Accounts <span class="muted">(5)</span>' in first and 'rel="next"' in first
    tally = {d.name: (d.done, d.total) for d in reviews.progress(campaign).by_department}
    assert tally == {"Adult Services": (2, 2), "Comms": (0, 2), "No department": (0, 1)}
    # The latest review only, and every one in the printable report.
    report = first.split('id="report"')[1].split("</section>")[0]
    assert "Library Page" in report and "Library Blog" not in report and "printable report" in report
    printable = client.get(f"/reviews/{campaign.id}?print=1").text
    assert "Library Page" in printable.split('id="report"')[1] and "Library Blog" in printable.split('id="report"')[1]


def test_opening_a_campaign_asks_each_steward_once_with_all_their_accounts(app, org, due):
    campaign = reviews.open_campaign(Actor.system("test"), "Spring review", due, [])
    # The requests wait in the session's outbox until the campaign commits.
    by_address = {m.to: (m.subject, m.body) for m in db.session().info[mail.OUTBOX]}
    db.session.commit()
    assert sorted(by_address) == sorted([org.dana.work_email, org.sam.work_email])  # Lost Feed: nobody to ask
    subject, body = by_address[org.dana.work_email]
    assert "2 accounts to confirm" in subject and "Hello Dana Steward," in body
    assert "- Library Blog (Facebook)\n- Library Page (Facebook)" in body
    tasks = db.session.scalars(sa.select(ReviewTask).where(ReviewTask.campaign_id == campaign.id)).all()
    assignees = {t.account.name: (t.assignee.name if t.assignee else None) for t in tasks}
    # The steward if active, else the department's head (Ada heads Adult Services, not Communications).
    assert assignees == {
        "Library Page": "Dana Steward",
        "Library Blog": "Dana Steward",
        "Newsletter": "Sam Steward",
        "Lost Feed": None,
    }
    assert {t.account.name: t.department_id for t in tasks}["Newsletter"] == org.comms.id
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "review.open")).all()
    assert "4 accounts" in event.summary and "(1 unassigned)" in event.summary
