"""On the demo organisation the dashboard shows the field notes' risks at first sight."""

import sqlalchemy as sa

from app.extensions import db
from app.models import User
from app.services import demo
from app.services.context import Actor


def test_the_demo_dashboard_leads_with_the_departed_librarians_page_the_personal_inbox_the_single_admin_and_the_credential(
    client,
):
    demo.load_demo(Actor.system("demo"))
    db.session.commit()
    director = db.session.scalar(sa.select(User).where(User.email == "director@riverside.example"))
    client.login(director, password=demo.DEMO_PASSWORD)
    html = client.get("/").text
    at_risk = html.split("Accounts at greatest risk", 1)[1]
    # The departed librarian's Facebook Page, critical because she still holds it.
    assert "Riverside Public Library</a>" in at_risk
    assert "Held by someone leaving or gone" in at_risk
    # The registrar: recovery to a personal inbox, and a password Dana revealed and nobody rotated.
    registrar = at_risk.split("riverside.example domain", 1)[1][:3000]
    assert "Recovery goes to a personal inbox" in registrar
    assert "Credential known to someone who left" in registrar
    # The YouTube channel with one admin, among the single points of failure.
    single = html.split("Single points of failure", 1)[1]
    assert "Riverside Library TV" in single
