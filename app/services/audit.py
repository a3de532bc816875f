"""Audit events: written in the same transaction as the change they record, hash-chained."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models.audit import AuditEvent
from app.models.base import utcnow
from app.services import permissions
from app.services.context import Actor
from app.services.errors import Change
from app.services.pagination import Page, paginate

#: A chain's first event hashes against this.
GENESIS = "0" * 64


def plain(value: Any) -> Any:
    """A JSON-safe rendering of a model attribute for before/after snapshots."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return str(value)


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    return {name: plain(getattr(obj, name)) for name in fields}


def _content_digest(prev_hash: str, event: AuditEvent) -> str:
    content = {
        "occurred_at": event.occurred_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "summary": event.summary,
        "before": event.before,
        "after": event.after,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def record_event(
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | None,
    summary: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain and flush it with the caller's change.

    Guarantees the event commits or rolls back together with the change it records.
    """
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends so two transactions never chain onto the same predecessor.
        session.execute(sa.text("SELECT pg_advisory_xact_lock(4242)"))
    prev = session.execute(sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    event = AuditEvent(
        occurred_at=utcnow(),
        actor_id=actor.user_id,
        actor_name=actor.name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        summary=summary,
        before=before,
        after=after,
        request_id=actor.request_id,
        remote_addr=actor.remote_addr,
        prev_hash=prev or GENESIS,
    )
    event.hash = _content_digest(event.prev_hash, event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class EventData:
    """One event of a batch for :func:`record_events` (the arguments of :func:`record_event`)."""

    action: str
    object_type: str
    object_id: int | None
    summary: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def record_events(actor: Actor, events: Sequence[EventData]) -> int:
    """Append several events to the chain in order, written with the caller's change; returns how many.

    The same events and hashes as calling :func:`record_event` for each, with one read of the
    chain's head and one multi-row insert: a bulk import records tens of thousands of changes
    without re-reading the head, or going through the ORM, for every one.
    """
    if not events:
        return 0
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(4242)"))
    prev = session.execute(sa.select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar() or GENESIS
    rows = []
    for data in events:
        row = {
            "occurred_at": utcnow(),
            "actor_id": actor.user_id,
            "actor_name": actor.name,
            "action": data.action,
            "object_type": data.object_type,
            "object_id": data.object_id,
            "summary": data.summary,
            "before": data.before,
            "after": data.after,
            "request_id": actor.request_id,
            "remote_addr": actor.remote_addr,
            "prev_hash": prev,
        }
        row["hash"] = prev = _content_digest(prev, SimpleNamespace(**row))  # type: ignore[arg-type]
        rows.append(row)
    # Rows are inserted in order, so ids follow the chain.
    session.execute(sa.insert(AuditEvent.__table__), rows)
    return len(rows)


def history(object_type: str, object_id: int, limit: int = 50) -> list[AuditEvent]:
    """The newest events about one record, newest first."""
    stmt = (
        sa.select(AuditEvent)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def changes_since(object_type: str, object_id: int, version: int) -> list[Change]:
    """What others changed on a record after the given version: the body of a stale-edit message."""
    stmt = (
        sa.select(AuditEvent)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
        .order_by(AuditEvent.id)
    )
    changes: list[Change] = []
    for event in db.session.scalars(stmt):
        after = event.after or {}
        if int(after.get("version", 0)) <= version:
            continue
        before = event.before or {}
        for name in sorted(set(before) | set(after)):
            if name == "version" or before.get(name) == after.get(name):
                continue
            changes.append(
                Change(
                    who=event.actor_name,
                    when=event.occurred_at.strftime("%Y-%m-%d %H:%M UTC"),
                    field=name,
                    before=before.get(name),
                    after=after.get(name),
                )
            )
    return changes


def verify_chain() -> tuple[int, int | None]:
    """Recompute every hash in order; return (events checked, id of the first broken event or None)."""
    prev = GENESIS
    checked = 0
    for event in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)).yield_per(1000):
        if event.prev_hash != prev or _content_digest(prev, event) != event.hash:
            return checked, event.id
        prev = event.hash
        checked += 1
    return checked, None


# --- The audit log page ---------------------------------------------------------------------


@dataclass
class EventFilters:
    object_type: str = ""
    action: str = ""
    #: Part of the actor's name, matched case-insensitively.
    actor: str = ""

    @property
    def active(self) -> bool:
        return bool(self.object_type or self.action or self.actor)


def list_events(actor: Actor, filters: EventFilters, page: int = 1, per_page: int = 25) -> Page[AuditEvent]:
    """A page of the audit log, newest first. Raises PermissionDenied unless the actor reads the audit log."""
    permissions.require(permissions.can_read_audit(actor), "Only directors and admins read the audit log.")
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id.desc())
    if filters.object_type:
        stmt = stmt.where(AuditEvent.object_type == filters.object_type)
    if filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.actor.strip():
        # Literal match: "%" and "_" in a name are not wildcards.
        stmt = stmt.where(sa.func.lower(AuditEvent.actor_name).contains(filters.actor.strip().lower(), autoescape=True))
    return paginate(stmt, page, per_page)


def recorded_object_types() -> list[str]:
    """Every object type the log holds, for the filter list."""
    return list(db.session.scalars(sa.select(AuditEvent.object_type).distinct().order_by(AuditEvent.object_type)))


def recorded_actions(object_type: str = "") -> list[str]:
    """Every action the log holds (of one object type, if given), for the filter list."""
    stmt = sa.select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    return list(db.session.scalars(stmt))


def existing_records(events: Iterable[AuditEvent], models: dict[str, Any]) -> set[tuple[str, int]]:
    """Which (object_type, object_id) of these events still exist, one query per type.

    ``models`` maps an object type to its model class; other types are never reported.
    """
    wanted: dict[str, set[int]] = {}
    for event in events:
        if event.object_type in models and event.object_id is not None:
            wanted.setdefault(event.object_type, set()).add(event.object_id)
    found: set[tuple[str, int]] = set()
    for object_type, ids in wanted.items():
        model = models[object_type]
        found.update((object_type, i) for i in db.session.scalars(sa.select(model.id).where(model.id.in_(ids))))
    return found
