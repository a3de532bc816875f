"""Signed HR events: a good signature starts or moves a case; a bad signature, a stale timestamp,
a replayed event id, a missing secret and an invalid event are refused and change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from app import create_app
from app.extensions import db
from app.models import AuditEvent, HrEventReceipt, ItemStatus, OffboardingCase, Person, PersonStatus, ProfileKind, Role
from app.services import hr_events
from config import Config, ConfigError
from tests import factories

URL = "/api/v1/hr/events"
SECRET = "hr-events-test-secret-0123456789abcdef"  # noqa: S105  (a test value)
NEXT_SECRET = "hr-events-next-secret-fedcba9876543210"  # noqa: S105


def event(event_id: str = "evt-1", **fields: Any) -> bytes:
    body = {"event_id": event_id, "type": "termination", "hr_id": "RPL-1015", "last_day": _day(14), "reason": "Moving away"}
    return json.dumps({**body, **fields}).encode()


def _day(offset: int) -> str:
    return (date.today() + timedelta(days=offset)).isoformat()


def deliver(api: Any, body: bytes, *, secret: str = SECRET, at: float | None = None, signature: str | None = None) -> Any:
    """POST an event as the HR system does: the raw bytes, signed over "<timestamp>.<body>"."""
    timestamp = int(time.time() if at is None else at)
    header = signature if signature is not None else hr_events.sign(secret, body, timestamp)
    return api.post(URL, data=body, content_type="application/json", headers={hr_events.SIGNATURE_HEADER: header})


def cases() -> list[OffboardingCase]:
    return list(db.session.scalars(sa.select(OffboardingCase).order_by(OffboardingCase.id)))


@pytest.fixture
def api(app: Flask) -> Any:
    app.config["HR_EVENTS_SECRET"] = SECRET
    return app.test_client()


@pytest.fixture
def leaver(app: Flask) -> Person:
    person = factories.make_person("Dana Whitfield", hr_id="RPL-1015", work_email="dana@org.example")
    platform = factories.make_platform("Facebook", role_names=["owner", "admin"])
    profile = factories.make_profile(platform, kind=ProfileKind.PERSONAL, holder=person)
    factories.make_account(platform, name="Riverside Library Page", owner_profile=profile, steward=person)
    db.session.commit()
    return person


def test_a_signed_termination_starts_the_case(api: Any, leaver: Person) -> None:
    response = deliver(api, event())
    assert response.status_code == 201, response.text
    assert response.json["outcome"] == "started"
    assert response.json["case"]["last_day"] == _day(14)
    [case] = cases()
    assert (case.person_id, case.started_via, case.reason, case.last_day) == (
        leaver.id,
        "api",
        "Moving away",
        date.today() + timedelta(days=14),
    )
    assert case.started_by_name == "HR system (signed event)"
    assert case.items
    receipt = db.session.scalar(sa.select(HrEventReceipt))
    assert (receipt.event_id, receipt.outcome, receipt.case_id) == ("evt-1", "started", case.id)


def test_a_change_of_last_day_moves_the_open_case(api: Any, leaver: Person) -> None:
    deliver(api, event())
    [case] = cases()
    due_before = {item.id: item.due_on for item in case.items}
    moved = deliver(api, event("evt-2", type="last_day_changed", last_day=_day(21), reason="Notice extended"))
    assert moved.status_code == 200 and moved.json["outcome"] == "updated"
    db.session.expire_all()
    [case] = cases()
    assert case.last_day == date.today() + timedelta(days=21)
    assert db.session.get(Person, leaver.id).last_day == case.last_day
    # Every open item keeps its place relative to the last day.
    assert {item.id: item.due_on for item in case.items if item.status is ItemStatus.OPEN} == {
        item_id: due + timedelta(days=7) for item_id, due in due_before.items()
    }
    summary = db.session.scalar(sa.select(AuditEvent.summary).where(AuditEvent.action == "offboarding.last_day"))
    assert "Notice extended" in summary and "rescheduled" in summary
    same = deliver(api, event("evt-3", type="last_day_changed", last_day=_day(21)))
    assert same.status_code == 200 and same.json["outcome"] == "unchanged"
    assert len(cases()) == 1


def test_a_bad_signature_is_refused_and_changes_nothing(api: Any, leaver: Person) -> None:
    body = event()
    signed = hr_events.sign(SECRET, body, int(time.time()))
    tampered = body.replace(_day(14).encode(), _day(1).encode())
    refusals = {
        "another body": deliver(api, tampered, signature=signed),
        "another secret": deliver(api, body, secret="not-the-secret-but-just-as-long-1234"),
        "no signature": api.post(URL, data=body, content_type="application/json"),
        "not our format": deliver(api, body, signature="sha256=" + signed.split("v1=")[1]),
    }
    for why, response in refusals.items():
        assert response.status_code == 401, why
        assert response.mimetype == "application/problem+json" and response.json["status"] == 401, why
    assert "does not match" in refusals["another body"].json["detail"]
    assert cases() == [] and db.session.scalar(sa.select(sa.func.count()).select_from(HrEventReceipt)) == 0
    assert db.session.get(Person, leaver.id).status is PersonStatus.ACTIVE


def test_a_stale_or_future_timestamp_is_refused(api: Any, leaver: Person) -> None:
    stale = deliver(api, event(), at=time.time() - 6 * 60)
    assert stale.status_code == 401 and "more than five minutes" in stale.json["detail"]
    future = deliver(api, event(), at=time.time() + 6 * 60)
    assert future.status_code == 401
    assert cases() == []
    assert deliver(api, event(), at=time.time() - 4 * 60).status_code == 201  # within the window


def test_a_replayed_event_id_is_refused(api: Any, leaver: Person) -> None:
    body = event()
    assert deliver(api, body).status_code == 201
    replay = deliver(api, body)  # signed afresh: only the id tells it is the same event
    assert replay.status_code == 409 and "already received" in replay.json["detail"]
    moved = deliver(api, event("evt-1", type="last_day_changed", last_day=_day(2)))
    assert moved.status_code == 409  # the same id with another body is a replay too
    [case] = cases()
    assert case.last_day == date.today() + timedelta(days=14)


def test_without_a_secret_events_are_refused_with_503(app: Flask, leaver: Person) -> None:
    api = app.test_client()
    response = deliver(api, event())
    assert response.status_code == 503
    assert "HANDOVER_HR_EVENTS_SECRET" in response.json["detail"]
    assert api.post(URL, data=event(), content_type="application/json").status_code == 401  # unsigned: 401 first
    assert cases() == []


def test_during_a_rotation_either_secret_is_accepted(api: Any, app: Flask, leaver: Person) -> None:
    app.config["HR_EVENTS_SECRET"] = f"{NEXT_SECRET},{SECRET}"
    assert deliver(api, event("evt-old"), secret=SECRET).status_code == 201
    assert deliver(api, event("evt-new", type="last_day_changed", last_day=_day(9)), secret=NEXT_SECRET).status_code == 200


def test_an_invalid_event_names_each_field(api: Any, leaver: Person) -> None:
    body = json.dumps({"event_id": "", "type": "fired", "last_day": "31/01/2027", "colour": "red"}).encode()
    response = deliver(api, body)
    assert response.status_code == 422
    assert {e["loc"][0] for e in response.json["errors"]} == {"event_id", "type", "last_day", "hr_id", "colour"}
    assert deliver(api, b"not json").status_code == 422
    assert cases() == []


def test_an_unknown_person_is_404_and_the_event_can_be_sent_again(api: Any, leaver: Person) -> None:
    body = event(hr_id="RPL-9999")
    missing = deliver(api, body)
    assert missing.status_code == 404 and "RPL-9999" in missing.json["detail"]
    leaver.hr_id = "RPL-9999"  # HR fixes the record, the HR system retries the same event
    db.session.commit()
    assert deliver(api, body).status_code == 201


def test_the_person_can_be_named_by_work_email(api: Any, leaver: Person) -> None:
    body = json.dumps({"event_id": "evt-mail", "type": "termination", "work_email": "Dana@org.example", "last_day": _day(3)})
    assert deliver(api, body.encode()).status_code == 201
    assert cases()[0].person_id == leaver.id


def test_a_signed_in_browser_cannot_forge_an_event(client: Any, login_as: Any, app: Flask, leaver: Person) -> None:
    app.config["HR_EVENTS_SECRET"] = SECRET
    login_as(Role.ADMIN)
    response = client.post(URL, data=event(), content_type="application/json")
    assert response.status_code == 401
    assert cases() == []


def test_a_short_secret_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOVER_HR_EVENTS_SECRET", "too-short")
    with pytest.raises(ConfigError, match="at least 32 characters"):
        Config.load()
    monkeypatch.setenv("HANDOVER_HR_EVENTS_SECRET", f" {SECRET} , {NEXT_SECRET} ")
    assert create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://").config["HR_EVENTS_SECRET"] == f"{SECRET},{NEXT_SECRET}"


def test_the_readme_recipe_signs_what_handover_checks(api: Any, leaver: Person) -> None:
    """The shell lines the README gives HR system admins (openssl) produce an accepted signature."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    recipe = next(line for line in readme.splitlines() if line.startswith("SIG=$(printf"))
    body = event("evt-readme").decode()
    timestamp = str(int(time.time()))
    script = f'{recipe}\nprintf "%s" "$SIG"'
    env = {"PATH": os.environ["PATH"], "SECRET": SECRET, "BODY": body, "TS": timestamp}
    digest = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert f"t={timestamp},v1={digest}" == hr_events.sign(SECRET, body.encode(), int(timestamp))
    assert deliver(api, body.encode(), signature=f"t={timestamp},v1={digest}").status_code == 201
