"""A new installation explains itself: how to create the first admin, and how to start the registry."""

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Account, Person, Role


def test_sign_in_page_says_how_to_create_the_first_admin_when_nobody_can_sign_in(client):
    page = client.get("/login")
    assert "Nobody can sign in yet" in page.text
    assert "flask --app wsgi users create-admin" in page.text


def test_sign_in_page_has_no_first_run_notice_once_someone_can_sign_in(client, make_user):
    make_user(Role.STAFF)
    assert "Nobody can sign in yet" not in client.get("/login").text


def test_admin_of_an_empty_registry_sees_the_steps_and_can_load_the_demo(client, make_user):
    admin = make_user(Role.ADMIN, person=None)
    # make_user links a person; an empty registry has none, so remove it.
    db.session.execute(sa.update(type(admin)).values(person_id=None))
    db.session.execute(sa.delete(Person))
    db.session.commit()
    client.login(admin)
    home = client.get("/")
    assert "Start your registry" in home.text
    assert "Load the demo organisation" in home.text
    response = client.submit("/first-run/demo")
    assert response.status_code == 302
    page = client.get("/")
    assert "Loaded the demo organisation Riverside Public Library" in page.text
    assert "Start your registry" not in page.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) >= 30


def test_the_demo_is_refused_once_the_registry_has_data(client, login_as):
    login_as(Role.ADMIN)  # creates a person, so the registry is no longer empty
    response = client.submit("/first-run/demo", follow_redirects=True)
    assert "already has data" in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Account)) == 0


def test_the_demo_is_refused_where_it_is_not_allowed(app, client, login_as):
    app.config["DEMO_ALLOWED"] = False
    admin = login_as(Role.ADMIN)
    db.session.execute(sa.update(type(admin)).values(person_id=None))
    db.session.execute(sa.delete(Person))
    db.session.commit()
    assert "Load the demo organisation" not in client.get("/").text
    response = client.submit("/first-run/demo", follow_redirects=True)
    assert "cannot be loaded on this installation" in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 0


@pytest.mark.parametrize("role", [Role.DIRECTOR, Role.HR, Role.IT, Role.STAFF])
def test_only_an_admin_may_load_the_demo(client, login_as, role):
    login_as(role)
    assert client.submit("/first-run/demo").status_code == 403
