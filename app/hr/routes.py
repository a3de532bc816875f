"""POST /api/v1/hr/events: the HR system's signed terminations and changes of last day.

Errors are problem details from app/errors.py, like the rest of /api/v1. The view is ``@public`` because the HMAC signature is its authentication (a webhook holds a
shared secret, not a Handover sign-in or token); ``hr_events.verify`` refuses anything unsigned
before the body is even read as JSON. The route registry lists it in PUBLIC with that reason.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import csrf, db, limiter
from app.models.base import utcnow
from app.security import public
from app.services import hr_events
from app.services.context import Actor

bp = Blueprint("hr", __name__, url_prefix="/api/v1/hr")
csrf.exempt(bp)  # no cookie is read here: the signature is the only credential

#: Name audit events carry for what the HR system did.
ACTOR_NAME = "HR system (signed event)"


@bp.post("/events")
@public
@limiter.limit("60 per minute")
def events() -> Any:
    """Start or update an offboarding case from a signed HR event (see the README for the payload)."""
    body = request.get_data(cache=False)
    signed_at = hr_events.verify(
        hr_events.secrets_from(current_app.config.get("HR_EVENTS_SECRET")),
        request.headers.get(hr_events.SIGNATURE_HEADER),
        body,
        utcnow(),
    )
    event = hr_events.parse(body)
    actor = replace(Actor.system(ACTOR_NAME, request_id=g.get("request_id", "")), remote_addr=request.remote_addr or "")
    try:
        result = hr_events.handle(actor, event, signed_at, today=date.today())
        db.session.commit()
    except (IntegrityError, StaleDataError):
        # A concurrent request committed first: another delivery of this event (its id is unique),
        # or another event opening this person's case. Acting again sees what it did.
        db.session.rollback()
        result = hr_events.handle(actor, event, signed_at, today=date.today())
        db.session.commit()
    case = result.case
    status = 201 if result.outcome == "started" else 200
    return (
        jsonify(
            {
                "event_id": event.event_id,
                "outcome": result.outcome,
                "case": {
                    "id": case.id,
                    "person": {"id": result.person.id, "name": result.person.name, "hr_id": result.person.hr_id},
                    "last_day": case.last_day.isoformat(),
                    "status": case.status.value,
                    "started_via": case.started_via,
                },
            }
        ),
        status,
    )
