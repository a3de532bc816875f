"""Audit events: written in the same transaction as the change they record, in a keyed chain.

Every event has a sequence number (1, 2, 3, … with no gaps) and a link: HMAC-SHA256 under the
audit key (HANDOVER_AUDIT_KEY, kept outside the database) of the previous link and the event's
canonical content. Someone with write access to the database but not the key cannot edit, insert,
remove or reorder events, nor rebuild the chain, without :func:`verify_chain` noticing; the one-row
``audit_head`` table (MACed too) records the last link, so a cut tail shows as well. The database
itself refuses UPDATE and DELETE on ``audit_events`` (triggers).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any

import sqlalchemy as sa

from app.db_setup import keeps_most
from app.extensions import db
from app.models.audit import AuditEvent, AuditHead
from app.models.base import utcnow
from app.services import crypto, exports, permissions
from app.services.context import Actor
from app.services.errors import Change
from app.services.pagination import COUNT_LIMIT, Page, paginate

#: A chain's first event links onto this.
GENESIS = "0" * 64
#: The PostgreSQL advisory lock that serialises appends.
ADVISORY_LOCK = 4242
#: The content an event's link covers, in addition to the previous link.
CONTENT_FIELDS = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor_name",
    "action",
    "object_type",
    "object_id",
    "summary",
    "before",
    "after",
    "request_id",
    "remote_addr",
    "key_id",
)
_AUDIT_HOW_TO = "Set HANDOVER_AUDIT_KEY to <id>:<key> entries, newest first (`flask keys generate` prints a new one)."


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


# --- The audit key ----------------------------------------------------------------------------


class AuditKeySource(crypto.KeyringSource):
    """Where this server gets its audit keys: HANDOVER_AUDIT_KEY, else a 0600 key file (re-read when it changes)."""

    kind = "audit key"
    variable = "HANDOVER_AUDIT_KEY"

    def parse(self, text: str, source: str) -> crypto.Keyring:
        """Audit keys in the master keys' notation (``id:base64key``, 32 bytes each, newest first)."""
        return crypto.Keyring.parse(text, source=source, kind=self.kind, how_to=_AUDIT_HOW_TO)


def current_keyring() -> crypto.Keyring:
    """The audit keys of the running app (installed by create_app); the first links new events."""
    from flask import current_app

    return current_app.extensions["handover_audit_keyring"].get()


# --- Links ------------------------------------------------------------------------------------


def canonical_content(event: Any) -> str:
    """The event's content as canonical JSON (sorted keys, no spaces): what its link covers."""
    get = event.get if isinstance(event, dict) else lambda name: getattr(event, name)
    content = {name: get(name) for name in CONTENT_FIELDS}
    occurred = content["occurred_at"]
    content["occurred_at"] = occurred.isoformat() if isinstance(occurred, datetime) else occurred
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)


def link(key: bytes, prev_link: str, event: Any) -> str:
    """HMAC-SHA256 under ``key`` of the previous link and the event's canonical content."""
    return hmac.new(key, f"{prev_link}\n{canonical_content(event)}".encode(), hashlib.sha256).hexdigest()


def head_mac(key: bytes, seq: int, last_link: str) -> str:
    return hmac.new(key, f"audit-head\n{seq}\n{last_link}".encode(), hashlib.sha256).hexdigest()


def _serialise_appends() -> None:
    """Take the chain's write lock before reading its end, so two appends never get the same seq.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a write statement, which makes this
    transaction the database's one writer (the lock is held until commit or rollback) before the
    chain's end is read.
    """
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})"))
    else:
        session.execute(sa.text("UPDATE audit_head SET seq = seq WHERE id = 1"))


def chain_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Number and link rows (dicts of the content fields but seq and key_id) onto the chain's end.

    Takes the append lock, sets ``seq``, ``key_id``, ``prev_hash`` and ``hash`` on each row and
    moves the chain head to the last; the caller inserts the rows in the same transaction.
    """
    if not rows:
        return rows
    keyring = current_keyring()
    key_id = keyring.primary.key_id
    key = keyring.raw_key(key_id)
    _serialise_appends()
    last = db.session.execute(sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    for row in rows:
        seq += 1
        row["seq"] = seq
        row["key_id"] = key_id
        row["prev_hash"] = prev
        row["hash"] = prev = link(key, prev, row)
    values = {"seq": seq, "link": prev, "key_id": key_id, "mac": head_mac(key, seq, prev)}
    table = AuditHead.__table__
    if not db.session.execute(sa.update(table).where(table.c.id == 1).values(values)).rowcount:
        db.session.execute(sa.insert(table).values(id=1, **values))
    return rows


def _row(actor: Actor, action: str, object_type: str, object_id: int | None, summary: str, before: Any, after: Any) -> dict:
    return {
        "occurred_at": utcnow(),
        "actor_id": actor.user_id,
        "actor_name": actor.name,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "summary": summary,
        "before": before,
        "after": after,
        "request_id": actor.request_id or "",
        "remote_addr": actor.remote_addr or "",
    }


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
    return record_events(actor, [EventData(action, object_type, object_id, summary, before, after)])[0]


@dataclass(frozen=True)
class EventData:
    """One event of a batch for :func:`record_events` (the arguments of :func:`record_event`)."""

    action: str
    object_type: str
    object_id: int | None
    summary: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def _chained(actor: Actor, events: Sequence[EventData]) -> list[dict[str, Any]]:
    return chain_rows([_row(actor, e.action, e.object_type, e.object_id, e.summary, e.before, e.after) for e in events])


def record_events(actor: Actor, events: Sequence[EventData]) -> list[AuditEvent]:
    """Append several events to the chain in order, flushed with the caller's change.

    The same events and links as calling :func:`record_event` for each, with one read of the
    chain's end and one flush: a bulk import records thousands of changes without re-reading
    the end for every one.
    """
    if not events:
        return []
    recorded = [AuditEvent(**row) for row in _chained(actor, events)]
    db.session.add_all(recorded)
    db.session.flush()
    return recorded


def record_many(actor: Actor, events: Sequence[EventData]) -> int:
    """:func:`record_events` for imports of tens of thousands of rows: one multi-row insert, no
    ORM object per event; returns how many were appended."""
    if not events:
        return 0
    rows = _chained(actor, events)
    # Rows are inserted in order, so ids follow the chain.
    db.session.execute(sa.insert(AuditEvent.__table__), rows)
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


class Verification(tuple[int, int | None]):
    """What :func:`verify_chain` found: ``(events checked, first broken sequence number or None)``,
    with ``reason`` saying why the chain breaks there."""

    checked: int
    broken_at: int | None
    reason: str

    def __new__(cls, checked: int, broken_at: int | None = None, reason: str = "") -> Verification:
        self = super().__new__(cls, (checked, broken_at))
        self.checked, self.broken_at, self.reason = checked, broken_at, reason
        return self

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def chain_head() -> dict[str, Any] | None:
    """The recorded end of the chain, {"seq", "link"} (None: nothing recorded)."""
    row = db.session.execute(sa.select(AuditHead.seq, AuditHead.link).where(AuditHead.id == 1)).first()
    return None if row is None else {"seq": row.seq, "link": row.link}


def count_events() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0


_VERIFY_COLUMNS = [AuditEvent.__table__.c[name] for name in (*CONTENT_FIELDS, "prev_hash", "hash")]


def verify_chain(batch_size: int = 5_000, progress: Callable[[int], None] | None = None) -> Verification:
    """Walk the chain in sequence order, a batch at a time, recomputing every link with the audit keys.

    Reports the first broken sequence number and why: content or link changed, a number missing
    (gap) or repeated, a key this server does not hold, or the chain ending before (or after) the
    recorded head. ``progress`` is called with the number of events of each batch read.
    """
    keyring = current_keyring()
    head = db.session.execute(sa.select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    expected, prev, checked = 1, GENESIS, 0
    while True:
        rows = db.session.execute(
            sa.select(*_VERIFY_COLUMNS).where(AuditEvent.seq >= expected - 1).order_by(AuditEvent.seq).limit(batch_size + 1)
        ).all()
        # The first row of a later batch is the last one checked (>= keeps a repeated number in view).
        if expected > 1:
            if not rows or rows[0].seq != expected - 1:
                return Verification(checked, expected - 1, "the event was removed while being checked")
            rows = rows[1:]
        if not rows:
            break
        for row in rows:
            if row.seq < expected:
                return Verification(checked, row.seq, f"sequence number {row.seq} appears more than once")
            if row.seq > expected:
                missing = f"{expected}" if row.seq == expected + 1 else f"{expected} to {row.seq - 1}"
                return Verification(checked, expected, f"event {missing} is missing (the next is {row.seq})")
            if row.key_id not in keyring:
                return Verification(checked, row.seq, f"linked with audit key {row.key_id!r}, which is not configured")
            if row.prev_hash != prev:
                return Verification(checked, row.seq, "its link to the previous event was changed")
            if not hmac.compare_digest(link(keyring.raw_key(row.key_id), prev, row._asdict()), row.hash):
                return Verification(checked, row.seq, "its content or link was changed")
            prev = row.hash
            expected += 1
            checked += 1
        if progress is not None:
            progress(len(rows))
    last = expected - 1
    if head is None:
        if last:
            return Verification(checked, last, "the chain head record (audit_head) is missing")
        return Verification(checked)
    if head.key_id not in keyring:
        return Verification(
            checked, head.seq, f"the chain head is signed with audit key {head.key_id!r}, which is not configured"
        )
    if not hmac.compare_digest(head_mac(keyring.raw_key(head.key_id), head.seq, head.link), head.mac):
        return Verification(checked, head.seq, "the chain head record was altered")
    if head.seq > last:
        missing = f"{last + 1}" if head.seq == last + 1 else f"{last + 1} to {head.seq}"
        return Verification(
            checked, last + 1, f"the chain ends at {last} but its head records {head.seq}: event {missing} is missing"
        )
    if head.seq < last:
        return Verification(checked, head.seq + 1, f"events after the recorded head ({head.seq}) were added outside Handover")
    if head.link != prev:
        return Verification(checked, last, "the last event is not the one the chain head records")
    return Verification(checked)


# --- The audit log page ---------------------------------------------------------------------


@dataclass
class EventFilters:
    object_type: str = ""
    action: str = ""
    #: Part of the actor's name, matched case-insensitively.
    actor: str = ""
    object_id: int | None = None
    #: Days (UTC), both included.
    date_from: date | None = None
    date_to: date | None = None

    @property
    def active(self) -> bool:
        return bool(self.object_type or self.action or self.actor or self.object_id is not None or self.date_from or self.date_to)


def _day(text: str) -> date | None:
    """A YYYY-MM-DD date (None if it is not one, or no such day)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_filters(args: Any) -> tuple[EventFilters, dict[str, str]]:
    """Filters from query arguments (a mapping of strings), and an error message per field that is not valid."""
    errors: dict[str, str] = {}
    filters = EventFilters(
        object_type=(args.get("object_type") or "")[:60],
        action=(args.get("action") or "")[:60],
        actor=(args.get("actor") or "")[:200],
    )
    raw_id = (args.get("object_id") or "").strip()
    if raw_id:
        if raw_id.isdigit() and len(raw_id) <= 9:
            filters.object_id = int(raw_id)
        else:
            errors["object_id"] = "Enter the record number as a whole number, e.g. 42."
    for name, label in (("date_from", "From"), ("date_to", "To")):
        raw = (args.get(name) or "").strip()
        if not raw:
            continue
        setattr(filters, name, _day(raw))
        if getattr(filters, name) is None:
            errors[name] = f"{label}: enter a date as YYYY-MM-DD, e.g. 2026-12-04."
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        errors["date_to"] = "To: this date is before the From date; swap them or change one."
    return filters, errors


def _filtered(filters: EventFilters) -> sa.Select:
    stmt = sa.select(AuditEvent)
    if filters.object_type:
        kind = AuditEvent.object_type == filters.object_type
        # An action is recorded for one kind of record: with one, its own index finds the events
        # and the kind only confirms them. Left to choose, SQLite read every account event for the
        # account edits (none among 200,000 account events: 37 ms).
        stmt = stmt.where(keeps_most(db.session, kind) if filters.action else kind)
    if filters.object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == filters.object_id)
    if filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.actor.strip():
        # The names that contain it, then their events through the index on (name, sequence): testing
        # every event's name in turn took 180 ms for a rare actor among 221,000 events.
        stmt = stmt.where(AuditEvent.actor_name.in_(recorded_actors(filters.actor)))
    if filters.date_from:
        stmt = stmt.where(AuditEvent.occurred_at >= datetime.combine(filters.date_from, time.min, UTC))
    if filters.date_to:
        stmt = stmt.where(AuditEvent.occurred_at < datetime.combine(filters.date_to + timedelta(days=1), time.min, UTC))
    return stmt


def list_events(actor: Actor, filters: EventFilters, page: int = 1, per_page: int = 25) -> Page[AuditEvent]:
    """A page of the audit log, newest first. Raises PermissionDenied unless the actor reads the audit log."""
    permissions.require(permissions.can_read_audit(actor), "Only directors and admins read the audit log.")
    # Counted to COUNT_LIMIT (or this page's depth): counting every event took 65 ms at 221,000.
    return paginate(_filtered(filters).order_by(AuditEvent.seq.desc()), page, per_page, count_limit=COUNT_LIMIT)


CSV_HEADER = (
    "Sequence number",
    "When (UTC)",
    "Who",
    "User id",
    "Action",
    "Record type",
    "Record id",
    "Summary",
    "Before",
    "After",
    "Request id",
    "Address",
    "Link",
)


def export_csv(actor: Actor, filters: EventFilters, batch_size: int = 2_000) -> Iterator[str]:
    """The filtered events as CSV, newest first, a batch at a time (bounded memory for any log size).

    Every text cell is formula-escaped (a spreadsheet never runs a summary as a formula).
    """
    permissions.require(permissions.can_read_audit(actor), "Only directors and admins read the audit log.")
    from app.services.csv_io import escape_cell  # csv_io records audit events: imported here

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True, ensure_ascii=False)
        return escape_cell(str(value))

    return exports.csv_chunks(CSV_HEADER, _event_batches(filters, batch_size), cell=cell)


def _event_batches(filters: EventFilters, batch_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """The events' cells, newest first, batch_size events at a time (a keyset on the sequence)."""
    below: int | None = None
    while True:
        stmt = _filtered(filters).order_by(AuditEvent.seq.desc()).limit(batch_size)
        if below is not None:
            stmt = stmt.where(AuditEvent.seq < below)
        events = list(db.session.scalars(stmt))
        if not events:
            return
        yield [
            (
                e.seq,
                e.occurred_at.isoformat(),
                e.actor_name,
                e.actor_id,
                e.action,
                e.object_type,
                e.object_id,
                e.summary,
                e.before,
                e.after,
                e.request_id,
                e.remote_addr,
                e.hash,
            )
            for e in events
        ]
        below = events[-1].seq
        db.session.expunge_all()


@dataclass
class _Recorded:
    """What the log holds, as this process last read it."""

    #: Sequence number and link of the newest event read.
    seq: int
    link: str
    #: Object type -> its actions.
    kinds: dict[str, set[str]]
    #: Every actor's name.
    actors: set[str]


#: database -> what its log holds, as this process last read it.
_RECORDED: dict[str, _Recorded] = {}


def _recorded() -> _Recorded:
    """Every object type the log holds, with its actions, and every actor's name. The log only
    grows, so this process reads only the events appended since it last looked (found by the
    newest event's sequence number, and trusted only while that event still carries the same
    link): reading the whole log for them on every visit took 50 ms at 221,000 events."""
    newest = db.session.execute(sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    if newest is None:
        return _Recorded(0, "", {}, set())
    key = db.engine.url.render_as_string(hide_password=True)
    kept = _RECORDED.get(key)
    since, kinds, actors = 0, {}, set()
    if (
        kept is not None
        and kept.seq <= newest.seq
        and db.session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.seq == kept.seq)) == kept.link
    ):
        if kept.seq == newest.seq:
            return kept
        since, actors = kept.seq, set(kept.actors)
        kinds = {object_type: set(actions) for object_type, actions in kept.kinds.items()}
    for object_type, action in db.session.execute(
        sa.select(AuditEvent.object_type, AuditEvent.action).where(AuditEvent.seq > since).distinct()
    ):
        kinds.setdefault(object_type, set()).add(action)
    actors.update(db.session.scalars(sa.select(AuditEvent.actor_name).where(AuditEvent.seq > since).distinct()))
    _RECORDED[key] = recorded = _Recorded(newest.seq, newest.hash, kinds, actors)
    return recorded


def recorded_actors(part: str) -> list[str]:
    """The actors' names that contain ``part``, whatever its case."""
    needle = part.strip().lower()
    return sorted(name for name in _recorded().actors if needle in name.lower())


def recorded_object_types() -> list[str]:
    """Every object type the log holds, for the filter list."""
    return sorted(_recorded().kinds)


def recorded_actions(object_type: str = "") -> list[str]:
    """Every action the log holds (of one object type, if given), for the filter list."""
    kinds = _recorded().kinds
    if object_type:
        return sorted(kinds.get(object_type, ()))
    return sorted(set().union(*kinds.values()))


def existing_records(events: Iterable[AuditEvent], models: dict[str, Any]) -> set[tuple[str, int]]:
    """Which (object_type, object_id) of these events still exist, in one query whatever the types.

    ``models`` maps an object type to its model class; other types are never reported.
    """
    wanted: dict[str, set[int]] = {}
    for event in events:
        if event.object_type in models and event.object_id is not None:
            wanted.setdefault(event.object_type, set()).add(event.object_id)
    parts = [
        sa.select(sa.literal(object_type).label("object_type"), models[object_type].id.label("object_id")).where(
            models[object_type].id.in_(sorted(ids))
        )
        for object_type, ids in sorted(wanted.items())
    ]
    if not parts:
        return set()
    return {(object_type, object_id) for object_type, object_id in db.session.execute(sa.union_all(*parts))}
