from app.models import Account, Role
from tests import factories


def test_it_creates_an_account_and_sees_it_in_the_list(client, login_as, app):
    login_as(Role.IT)
    platform = factories.make_platform("Facebook", role_names=["admin", "editor"])
    from app.extensions import db

    db.session.commit()
    response = client.submit("/accounts/new", {"name": "Riverside Page", "platform_id": platform.id, "status": "active"})
    assert response.status_code == 302, response.text
    listing = client.get("/accounts/?q=riverside")
    assert "Riverside Page" in listing.text
    assert db.session.query(Account).count() == 1
