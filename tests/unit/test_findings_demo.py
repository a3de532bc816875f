"""The demo organisation's findings tell the field stories of DESIGN.md: the departed librarian's
Facebook Page, her personal inbox on the domain registrar, the single-admin YouTube channel and
the registrar password she revealed before she left."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Account, Person, PersonStatus, Platform
from app.models.credential import CredentialNote
from app.services import demo, findings
from app.services.context import Actor
from app.services.findings import Finding, FindingFilters, Severity


@pytest.fixture
def demo_findings(app: Any) -> list[Finding]:
    demo.load_demo(Actor.system("test demo"))
    db.session.commit()
    return findings.evaluate(FindingFilters())


def _person(name: str) -> Person:
    return db.session.execute(sa.select(Person).where(Person.name == name)).scalar_one()


def _account(name: str, platform_slug: str) -> Account:
    return db.session.execute(
        sa.select(Account).join(Account.platform).where(Account.name == name, Platform.slug == platform_slug)
    ).scalar_one()


def _urgent(items: list[Finding]) -> list[Finding]:
    return [x for x in items if x.severity in (Severity.CRITICAL, Severity.HIGH)]


def test_danas_facebook_page_is_critical_because_she_left(demo_findings: list[Finding]) -> None:
    dana = _person("Dana Whitfield")
    assert dana.status is PersonStatus.DEPARTED
    page = _account("Riverside Public Library", "facebook")
    [held] = [x for x in _urgent(demo_findings) if x.rule.id == "held-by-leaver" and x.account_id == page.id]
    assert held.severity is Severity.CRITICAL
    assert (held.subject_type, held.subject_id, held.account_name, held.platform_name) == (
        "account",
        page.id,
        "Riverside Public Library",
        "Facebook",
    )
    assert (held.person_id, held.person_name) == (dana.id, "Dana Whitfield")
    assert held.detail.startswith("Dana Whitfield (departed): owner profile")
    # The same page is also owned by a personal profile (high): both stories are told.
    assert any(x.rule.id == "owner-personal" and x.account_id == page.id and x.person_id == dana.id for x in demo_findings)
    # Most severe first: the critical ones lead the list.
    assert demo_findings[0].severity is Severity.CRITICAL
    assert [x.severity.rank for x in demo_findings] == sorted(x.severity.rank for x in demo_findings)


def test_danas_personal_inbox_recovers_the_registrar(demo_findings: list[Finding]) -> None:
    dana = _person("Dana Whitfield")
    registrar = _account("riverside.example domain", "domain-registrar")
    [personal] = [x for x in _urgent(demo_findings) if x.rule.id == "recovery-personal" and x.account_id == registrar.id]
    assert personal.severity is Severity.HIGH
    assert (personal.person_id, personal.person_name) == (dana.id, "Dana Whitfield")
    assert "dana.whitfield@mail.example" in personal.detail and "Dana Whitfield" in personal.detail
    # Dana, departed, is still a recovery contact there: that is critical too.
    [held] = [x for x in demo_findings if x.rule.id == "held-by-leaver" and x.account_id == registrar.id]
    assert held.severity is Severity.CRITICAL and "Dana Whitfield (departed): recovery contact" in held.detail


def test_the_youtube_channel_has_a_single_admin(demo_findings: list[Finding]) -> None:
    channel = _account("Riverside Library TV", "youtube")
    [single] = [x for x in _urgent(demo_findings) if x.rule.id == "single-admin" and x.account_id == channel.id]
    assert single.severity is Severity.HIGH
    assert (single.account_name, single.platform_name) == ("Riverside Library TV", "YouTube")
    assert "admin" in single.detail


def test_the_registrar_password_must_be_rotated(demo_findings: list[Finding]) -> None:
    dana = _person("Dana Whitfield")
    registrar = _account("riverside.example domain", "domain-registrar")
    note = db.session.execute(
        sa.select(CredentialNote).where(CredentialNote.account_id == registrar.id, CredentialNote.label == "Registrar password")
    ).scalar_one()
    [leaver] = [x for x in _urgent(demo_findings) if x.rule.id == "credential-leaver" and x.subject_id == note.id]
    assert leaver.severity is Severity.CRITICAL
    assert (leaver.subject_type, leaver.account_id, leaver.account_name) == (
        "credential",
        registrar.id,
        "riverside.example domain",
    )
    assert (leaver.person_id, leaver.person_name) == (dana.id, "Dana Whitfield")
    assert leaver.detail.startswith("“Registrar password”: Dana Whitfield (departed) revealed it on ")
    assert (leaver.action_endpoint, leaver.action_args) == ("credentials.rotate", {"note_id": note.id})
    # The backup codes on the same account are only due soon: not a finding.
    assert [x.subject_id for x in demo_findings if x.subject_type == "credential" and x.account_id == registrar.id] == [note.id]


def test_danas_page_lists_everything_she_still_holds(demo_findings: list[Finding]) -> None:
    """The person filter gives a leaver's whole footprint: what offboarding must hand over."""
    dana = _person("Dana Whitfield")
    mine = findings.evaluate(FindingFilters(person_id=dana.id))
    assert {(x.rule.id, x.account_name) for x in mine if x.severity is Severity.CRITICAL} >= {
        ("held-by-leaver", "Riverside Public Library"),
        ("held-by-leaver", "riverside.example domain"),
        ("credential-leaver", "riverside.example domain"),
    }
    assert all(dana.id in (x.person_id, x.steward_id, *x.person_ids) for x in mine)
    summary = findings.summarize(demo_findings)
    assert summary.by_severity[Severity.CRITICAL] == sum(1 for x in demo_findings if x.severity is Severity.CRITICAL) > 0
