"""Signed HR events: the HR system tells Handover that someone is leaving, or that their last day moved.

The signature is the authentication (a webhook: the HR system holds a shared secret, not a
Handover sign-in). The HR system sends

    X-Handover-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the secret>

and Handover refuses, changing nothing: a missing or wrong signature (401), a timestamp more
than five minutes from now either way (401: a captured request cannot be sent again later), an
event id it has already acted on (409: nor can it be sent again within those five minutes).
Several ``v1=`` entries may be sent (one per secret while a secret is being rotated).

A ``termination`` or a ``last_day_changed`` event starts an offboarding case with that last day
(via "api"), or moves the last day of the case already open; the same day again changes nothing.
Services never commit: the door does, once, and the unique event id holds even against two
deliveries of one event racing each other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models.hr_event import HrEventReceipt
from app.models.offboarding import CaseStatus, OffboardingCase
from app.models.person import Person, PersonStatus
from app.services import offboarding
from app.services.context import Actor
from app.services.errors import DomainError, NotFound, ValidationFailed

SIGNATURE_HEADER = "X-Handover-Signature"
#: How far the signature's timestamp may be from Handover's clock.
TOLERANCE = timedelta(minutes=5)
EVENT_TYPES = ("termination", "last_day_changed")
#: The fields an event may carry; anything else is refused (a typo must not be silently ignored).
FIELDS = {"event_id", "type", "hr_id", "work_email", "last_day", "reason", "occurred_at"}


class HrEventsOff(DomainError):
    """No secret is configured: Handover cannot tell a real event from a forged one."""

    status = 503

    def __init__(self) -> None:
        super().__init__(
            "HR events are not set up on this Handover: an administrator must set HANDOVER_HR_EVENTS_SECRET "
            "(the secret the HR system signs events with). Nothing was changed."
        )


class BadSignature(DomainError):
    status = 401
    #: The WWW-Authenticate answer: the signature header is how to authenticate here.
    challenge = f'{SIGNATURE_HEADER} realm="handover"'


class Replayed(DomainError):
    status = 409


class EventInvalid(ValidationFailed):
    status = 422


@dataclass(frozen=True)
class HrEvent:
    event_id: str
    type: str
    last_day: date
    hr_id: str | None = None
    work_email: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Outcome:
    #: "started", "updated" (the last day moved) or "unchanged".
    outcome: str
    case: OffboardingCase
    person: Person


def secrets_from(setting: str | None) -> list[str]:
    return [part.strip() for part in (setting or "").split(",") if part.strip()]


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Handover-Signature value for ``body`` signed at ``timestamp`` (what the HR system sends)."""
    return f"t={timestamp},v1={_digest(secret, str(timestamp), body)}"


def verify(secrets: list[str], header: str | None, body: bytes, now: datetime) -> datetime:
    """Check the signature and its age; returns the time the event was signed.

    Raises BadSignature for a missing or malformed signature, HrEventsOff when no secret is set
    (a signed event cannot be checked), BadSignature for a wrong signature or a timestamp more than
    TOLERANCE away from ``now``.
    """
    fields: dict[str, list[str]] = {}
    for part in (header or "").split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(name.strip(), []).append(value.strip())
    timestamps, offered = fields.get("t", []), fields.get("v1", [])
    if len(timestamps) != 1 or not timestamps[0].isdigit() or len(timestamps[0]) > 12 or not offered:
        raise BadSignature(f'Sign the event: send {SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">.')
    if not secrets:
        raise HrEventsOff()
    timestamp = timestamps[0]
    # Every pair is compared (no early exit): the time taken says nothing about which was close.
    matched = False
    for secret in secrets:
        expected = _digest(secret, timestamp, body)
        for candidate in offered:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise BadSignature("The signature does not match the body: check the secret, and sign the exact bytes you send.")
    signed_at = datetime.fromtimestamp(int(timestamp), UTC)
    if abs(now - signed_at) > TOLERANCE:
        raise BadSignature(
            f"The signature's timestamp ({signed_at:%Y-%m-%d %H:%M:%S} UTC) is more than five minutes from Handover's clock "
            f"({now:%Y-%m-%d %H:%M:%S} UTC): sign each delivery afresh, and keep the HR system's clock right."
        )
    return signed_at


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse(body: bytes) -> HrEvent:
    """Read the event; raises EventInvalid (422) naming each field that is wrong."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise EventInvalid("The body is not JSON; nothing was changed.", {"body": ["Send a JSON object."]}) from None
    if not isinstance(data, dict):
        raise EventInvalid("The body must be a JSON object; nothing was changed.", {"body": ["Send a JSON object."]})
    errors: dict[str, list[str]] = {}
    for name in sorted(set(data) - FIELDS):
        errors[name] = [f"Unknown field; events carry {', '.join(sorted(FIELDS))}."]
    event_id = data.get("event_id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 200:
        errors["event_id"] = ["Give the event's unique id (a string of at most 200 characters)."]
    kind = data.get("type")
    if kind not in EVENT_TYPES:
        errors["type"] = [f"Use one of {', '.join(EVENT_TYPES)}."]
    last_day = _date(data.get("last_day"))
    if last_day is None:
        errors["last_day"] = ["Give the last working day as YYYY-MM-DD."]
    hr_id, work_email = data.get("hr_id"), data.get("work_email")
    for name, value in (("hr_id", hr_id), ("work_email", work_email)):
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 254):
            errors[name] = ["Give a non-empty string."]
    if hr_id is None and work_email is None:
        errors["hr_id"] = ["Name the person by hr_id (their id in the HR system), or by work_email."]
    reason = data.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 2000:
        errors["reason"] = ["Give the reason as text of at most 2000 characters."]
    if errors:
        raise EventInvalid("The event is not valid; nothing was changed.", errors)
    assert last_day is not None
    return HrEvent(
        event_id=event_id.strip(),
        type=kind,
        last_day=last_day,
        hr_id=hr_id.strip() if hr_id else None,
        work_email=work_email.strip().lower() if work_email else None,
        reason=reason.strip(),
    )


def _person(event: HrEvent) -> Person:
    person = None
    if event.hr_id:
        person = db.session.scalar(sa.select(Person).where(Person.hr_id == event.hr_id))
    if person is None and event.work_email:
        person = db.session.scalar(sa.select(Person).where(sa.func.lower(Person.work_email) == event.work_email))
    if person is None:
        who = " or ".join(f"{k} {v!r}" for k, v in (("hr_id", event.hr_id), ("work_email", event.work_email)) if v)
        raise NotFound(f"No one on Handover's staff list has {who}; add them (or set their HR id), then send the event again.")
    if event.hr_id and person.hr_id and person.hr_id != event.hr_id:
        raise ValidationFailed(
            f"{event.work_email} belongs to {person.name}, whose HR id is not {event.hr_id!r}; nothing was changed.",
            {"hr_id": ["The HR id and the work email name two different people."]},
        )
    return person


def handle(actor: Actor, event: HrEvent, signed_at: datetime, *, today: date | None = None) -> Outcome:
    """Act on a verified event, once: start the person's offboarding case or move its last day.

    Raises Replayed when the event id was already acted on, NotFound for an unknown person, and the
    offboarding service's errors.
    """
    received = db.session.scalar(sa.select(HrEventReceipt).where(HrEventReceipt.event_id == event.event_id))
    if received is not None:
        raise Replayed(
            f"Event {event.event_id!r} was already received on {received.received_at:%Y-%m-%d %H:%M:%S} UTC "
            f"({received.outcome}); it is not acted on twice."
        )
    person = _person(event)
    reason = event.reason or (
        "Termination from the HR system" if event.type == "termination" else "Last day changed by the HR system"
    )
    case = offboarding.open_case_of(person)
    closed = None
    if case is None and person.status is PersonStatus.DEPARTED:
        closed = db.session.scalar(
            sa.select(OffboardingCase)
            .where(OffboardingCase.person_id == person.id, OffboardingCase.status == CaseStatus.CLOSED)
            .order_by(OffboardingCase.id.desc())
            .limit(1)
        )
    if closed is not None:
        # They have left and their offboarding is done: a late notice starts nothing new.
        case, outcome = closed, "unchanged"
    elif case is None:
        case = offboarding.start_case(actor, person, event.last_day, reason, "api", today=today)
        outcome = "started"
    elif offboarding.change_last_day(actor, case, event.last_day, reason, today=today):
        outcome = "updated"
    else:
        outcome = "unchanged"
    db.session.add(
        HrEventReceipt(
            event_id=event.event_id,
            event_type=event.type,
            signed_at=signed_at,
            person_id=person.id,
            case_id=case.id,
            outcome=outcome,
        )
    )
    db.session.flush()
    return Outcome(outcome=outcome, case=case, person=person)
