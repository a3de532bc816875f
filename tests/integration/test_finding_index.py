"""The finding index: kept current by each change, caught up (or rebuilt) for a new day, rebuilt by the CLI.

(Every integration test also ends by comparing the index with a full evaluation: tests/conftest.py.)
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app.extensions import db
from app.models import CredentialKind, PersonStatus, ProfileKind
from app.models.base import utcnow
from app.models.finding import FindingIndexState, IndexedFinding, IndexedFindingPerson
from app.models.user import Role
from app.services import credentials, findings
from app.services.context import Actor
from tests import factories

INTERVAL = 365


def _single_admin_account(name: str) -> object:
    platform = factories.make_platform(f"Platform of {name}")
    profile = factories.make_profile(platform, kind=ProfileKind.ORGANISATION, name=f"{name} org")
    account = factories.make_account(platform, name=name)
    account.owner_profile = profile
    factories.make_admin(account, profile)
    return account


def _indexed(rule_id: str) -> set[int]:
    return set(db.session.scalars(sa.select(IndexedFinding.subject_id).where(IndexedFinding.rule_id == rule_id)))


def test_a_change_refreshes_only_what_it_touched_and_counts_follow(app: Flask) -> None:
    first = _single_admin_account("First Page")
    db.session.commit()
    second = _single_admin_account("Second Page")
    db.session.commit()
    assert {first.id, second.id} <= _indexed("single-admin")
    before = findings.organisation_summary(INTERVAL)

    # A second admin clears one account's finding; the other account's row is untouched.
    other = factories.make_profile(second.platform, kind=ProfileKind.ORGANISATION, name="Second backup")
    factories.make_admin(second, other)
    db.session.commit()
    assert first.id in _indexed("single-admin") and second.id not in _indexed("single-admin")
    after = findings.organisation_summary(INTERVAL)
    assert after.by_rule["single-admin"] == before.by_rule["single-admin"] - 1
    assert after.total == before.total - 1


def test_a_person_leaving_raises_findings_on_what_they_hold(app: Flask) -> None:
    dana = factories.make_person("Dana Whitfield")
    platform = factories.make_platform("Facebook")
    own = factories.make_profile(platform, kind=ProfileKind.PERSONAL, holder=dana, name="Dana W")
    account = factories.make_account(platform, name="Teen Zone")
    account.owner_profile = own
    factories.make_admin(account, own)
    db.session.commit()
    assert account.id not in _indexed("held-by-leaver")

    dana.status = PersonStatus.LEAVING
    dana.last_day = date.today() + timedelta(days=10)
    db.session.commit()
    assert account.id in _indexed("held-by-leaver")
    shown = findings.evaluate(findings.FindingFilters(person_id=dana.id), INTERVAL)
    assert {(x.rule.id, x.account_id) for x in shown} >= {("held-by-leaver", account.id), ("owner-personal", account.id)}


@dataclass
class Overnight:
    """What the date alone changes overnight: a review that lapsed, a note that came due, an
    acceptance that expired (all three since yesterday's index was built)."""

    lapsed: int
    came_due: int
    no_longer_accepted: int
    steward_id: int


def _what_the_night_changes(today: date) -> Overnight:
    now = utcnow()
    steward = factories.make_person("Pat Steward")
    lapsed = _single_admin_account("Lapsed Review Page")
    lapsed.steward = steward
    lapsed.last_reviewed_at = now - timedelta(days=INTERVAL, hours=2)
    holder = factories.make_account(name="Came Due Page", last_reviewed_at=now, steward=steward)
    note = credentials.create_note(
        Actor.system("test"), credentials.NoteData("Came due login", CredentialKind.PASSWORD), "value", account=holder
    )
    note.due_at = now - timedelta(hours=2)
    accepted = _single_admin_account("Accepted Page")
    accepted.last_reviewed_at = now
    factories.make_acceptance(accepted, "single-admin", today - timedelta(days=1), reason="A second admin is being found.")
    db.session.commit()
    return Overnight(lapsed.id, note.id, accepted.id, steward.id)


def _index_built_yesterday(today: date) -> None:
    """The index as yesterday's tick left it: every rule evaluated a day ago."""
    a_day_ago = utcnow() - timedelta(days=1)
    with pytest.MonkeyPatch.context() as clock:
        clock.setattr(findings, "utcnow", lambda: a_day_ago)
        findings.rebuild(INTERVAL, today - timedelta(days=1))
    db.session.commit()


def _night_is_caught_up(night: Overnight) -> bool:
    accepted = set(
        db.session.scalars(
            sa.select(IndexedFinding.subject_id).where(IndexedFinding.rule_id == "single-admin", IndexedFinding.accepted)
        )
    )
    return (
        night.lapsed in _indexed("not-reviewed")
        and night.came_due in _indexed("credential-overdue")
        and night.no_longer_accepted in _indexed("single-admin") - accepted
    )


def _no_rebuild(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the index was rebuilt, not caught up")


def test_a_read_on_a_new_day_catches_the_index_up_with_what_the_date_changed(
    app: Flask, today: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    night = _what_the_night_changes(today)
    _index_built_yesterday(today)
    assert not _night_is_caught_up(night)
    assert findings.index_problems() == []  # yesterday's index is not compared with today

    monkeypatch.setattr(findings, "rebuild", _no_rebuild)
    page, summary = findings.list_findings(
        Actor.system("test"), findings.FindingFilters(rule_id="not-reviewed"), review_interval_days=INTERVAL
    )
    assert night.lapsed in {x.account_id for x in page.items}
    assert _night_is_caught_up(night)
    assert db.session.scalar(sa.select(FindingIndexState.computed_on)) == today
    assert findings.index_problems() == []  # the same as a rebuild today would hold


@pytest.mark.parametrize("page", ["/", "/findings/", "/findings/?rule=not-reviewed", "/accounts/{account}", "/people/{steward}"])
def test_the_first_page_read_on_a_new_day_keeps_the_caught_up_index(
    client: Any, login_as: Any, today: date, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    login_as(Role.ADMIN)
    night = _what_the_night_changes(today)
    _index_built_yesterday(today)
    page = page.format(account=night.lapsed, steward=night.steward_id)
    monkeypatch.setattr(findings, "rebuild", _no_rebuild)

    first = client.get(page)
    assert first.status_code == 200
    assert "Lapsed Review Page" in first.text  # the page drawn whole after the catch-up was committed
    db.session.remove()  # what the database holds now, not this session's memory
    kept = db.session.execute(sa.select(FindingIndexState.computed_on, FindingIndexState.refreshed_at)).one()
    assert kept.computed_on == today
    assert _night_is_caught_up(night)

    # The next page reads that index: it is not caught up again.
    assert client.get(page).status_code == 200
    db.session.remove()
    assert db.session.scalar(sa.select(FindingIndexState.refreshed_at)) == kept.refreshed_at


def test_a_write_first_on_a_new_day_catches_the_index_up_too(app: Flask, today: date, monkeypatch: pytest.MonkeyPatch) -> None:
    night = _what_the_night_changes(today)
    _index_built_yesterday(today)
    monkeypatch.setattr(findings, "rebuild", _no_rebuild)
    edited = _single_admin_account("Morning Edit Page")
    db.session.commit()
    assert edited.id in _indexed("single-admin")
    assert _night_is_caught_up(night)
    assert db.session.scalar(sa.select(FindingIndexState.computed_on)) == today


def test_a_new_day_with_more_dated_changes_than_a_catch_up_takes_is_rebuilt(
    app: Flask, today: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    night = _what_the_night_changes(today)
    _index_built_yesterday(today)
    monkeypatch.setattr(findings, "REBUILD_ABOVE", 2)  # the night changed three things
    rebuilt = findings.rebuild
    rebuilds: list[int] = []
    monkeypatch.setattr(findings, "rebuild", lambda *a, **k: rebuilds.append(1) or rebuilt(*a, **k))
    findings.ensure_current(INTERVAL)
    assert rebuilds == [1]
    assert _night_is_caught_up(night)


def test_another_review_interval_rebuilds_the_index(app: Flask, today: date, monkeypatch: pytest.MonkeyPatch) -> None:
    account = _single_admin_account("Reviewed Page")
    account.last_reviewed_at = utcnow() - timedelta(days=200)
    db.session.commit()
    assert account.id not in _indexed("not-reviewed")
    findings.ensure_current(180)
    db.session.commit()
    assert account.id in _indexed("not-reviewed")
    assert db.session.scalar(sa.select(FindingIndexState.review_interval_days)) == 180
    findings.ensure_current(INTERVAL)  # as configured again, before the teardown compares
    db.session.commit()


def test_pages_read_during_a_new_day_s_catch_up_wait_for_it_and_it_runs_once(
    app: Flask, client: Any, login_as: Any, today: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four pages read at once on yesterday's index: one catches it up (slowly here), the others
    wait for it instead of failing ("database is locked") or catching it up again."""
    user = login_as(Role.ADMIN)
    readers = [client] + [app.test_client() for _ in range(3)]
    for reader in readers[1:]:
        reader.login(user)
    night = _what_the_night_changes(today)
    _index_built_yesterday(today)
    db.session.remove()
    monkeypatch.setattr(findings, "rebuild", _no_rebuild)
    catch_ups: list[int] = []
    slow_catch_up = findings._catch_up

    def counted(*args: Any, **kwargs: Any) -> Any:
        catch_ups.append(1)
        caught_up = slow_catch_up(*args, **kwargs)
        time.sleep(0.5)  # the others arrive while it holds the lock
        return caught_up

    monkeypatch.setattr(findings, "_catch_up", counted)
    start = threading.Barrier(len(readers))
    answers: list[int] = []
    errors: list[BaseException] = []

    def read(reader: Any, page: str) -> None:
        try:
            start.wait()
            answers.append(reader.get(page).status_code)
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    pages = ["/", "/findings/", "/findings/?rule=not-reviewed", "/"]
    threads = [threading.Thread(target=read, args=pair) for pair in zip(readers, pages, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert answers == [200, 200, 200, 200]
    assert len(catch_ups) == 1
    assert db.session.scalar(sa.select(FindingIndexState.computed_on)) == today
    assert _night_is_caught_up(night)


def _index_names() -> set[str]:
    inspector = sa.inspect(db.engine)
    return {ix["name"] for table in ("finding_index", "finding_index_people") for ix in inspector.get_indexes(table)}


def test_a_rebuild_rolled_back_leaves_the_index_with_all_its_indexes(app: Flask) -> None:
    _single_admin_account("Kept Page")
    db.session.commit()
    declared = {ix.name for model in (IndexedFinding, IndexedFindingPerson) for ix in model.__table__.indexes}
    assert declared <= _index_names()

    findings.rebuild(INTERVAL)  # as a page read does, in a transaction that is then undone
    db.session.rollback()
    db.session.remove()
    assert declared <= _index_names()
    assert findings.index_problems() == []


def test_flask_findings_rebuild_reports_what_it_holds(app: Flask) -> None:
    _single_admin_account("Rebuilt Page")
    db.session.commit()
    db.session.execute(sa.delete(IndexedFinding))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["findings", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "The finding index holds" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IndexedFinding)) > 0
    assert findings.index_problems() == []


def test_the_nightly_tick_rebuilds_the_index_in_full(app: Flask, today: date) -> None:
    account_id = _single_admin_account("Nightly Page").id
    db.session.commit()
    # Something a catch-up would not look at: the account's row gone from today's index.
    db.session.execute(sa.delete(IndexedFinding).where(IndexedFinding.subject_id == account_id))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["handover", "tick"])
    assert result.exit_code == 0, result.output
    db.session.remove()
    assert account_id in _indexed("single-admin")
    assert db.session.scalar(sa.select(FindingIndexState.computed_on)) == today


def test_the_teardown_check_would_notice_a_stale_index(app: Flask) -> None:
    account = _single_admin_account("Stale Page")
    db.session.commit()
    db.session.execute(sa.delete(IndexedFinding).where(IndexedFinding.subject_id == account.id))
    db.session.commit()
    assert any("missing from the index" in p for p in findings.index_problems())
    findings.rebuild(INTERVAL)
    db.session.commit()
