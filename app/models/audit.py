"""The append-only, keyed hash-chained record of every change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow

#: What the database says when anything tries to change or remove a recorded event.
APPEND_ONLY = "audit events are append-only"


class AuditEvent(Base):
    """One change or reveal. Survives its actor: the actor's name is kept as a snapshot (NetBox ObjectChange).

    ``actor_id`` is a plain number, not a foreign key: a recorded event is never rewritten, so no
    user deletion may null it (and none may be refused because of it).
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        # One record's events, newest first (its history, the log filtered to it), read in order:
        # ordered by the log's kind alone, one account's events were found by reading every
        # account event (221,000 events: 65 ms).
        sa.Index("ix_audit_events_object_seq", "object_type", "object_id", "seq"),
        # The log filtered by a kind of record or an action, newest first, read in order from these
        # (221,000 events: every account event sorted, 276 ms; a rare action found by a scan, 108 ms).
        sa.Index("ix_audit_events_object_type_seq", "object_type", "seq"),
        sa.Index("ix_audit_events_action_seq", "action", "seq"),
        # The log of one actor (or a few, as a part of their name finds them), newest first: each
        # name's events read in order instead of every event's name tested in turn (a rare actor
        # among 221,000 events: 180 ms).
        sa.Index("ix_audit_events_actor_name_seq", "actor_name", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Position in the chain: 1, 2, 3, … with no gaps (unique; appends are serialised).
    seq: Mapped[int] = mapped_column(sa.Integer, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(index=True)
    #: The actor's name when the event happened ("system" for the CLI or scheduled jobs).
    actor_name: Mapped[str] = mapped_column(sa.String(254))
    action: Mapped[str] = mapped_column(sa.String(60))
    object_type: Mapped[str] = mapped_column(sa.String(60))
    object_id: Mapped[int | None] = mapped_column()
    #: A human sentence: "Added Sam Ortiz (personal) as admin".
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    request_id: Mapped[str] = mapped_column(sa.String(64), default="")
    remote_addr: Mapped[str] = mapped_column(sa.String(64), default="")
    #: The audit key (HANDOVER_AUDIT_KEY) this event's link was made with.
    key_id: Mapped[str] = mapped_column(sa.String(40), default="")
    #: The previous event's link (64 zeros for the first).
    prev_hash: Mapped[str] = mapped_column(sa.String(64), default="")
    #: The link: HMAC-SHA256 under the audit key of the previous link and this event's content.
    hash: Mapped[str] = mapped_column(sa.String(64), default="")


class AuditHead(Base):
    """The chain's last link (one row), MACed, updated with every append: a cut tail shows."""

    __tablename__ = "audit_head"
    __table_args__ = (sa.CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.Integer)
    link: Mapped[str] = mapped_column(sa.String(64))
    key_id: Mapped[str] = mapped_column(sa.String(40))
    #: HMAC-SHA256 under the audit key of seq and link.
    mac: Mapped[str] = mapped_column(sa.String(64))


# --- Append-only, enforced by the database ----------------------------------------------------

SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
    f"""CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
)
SQLITE_DROP_TRIGGERS = ("DROP TRIGGER IF EXISTS audit_events_no_update", "DROP TRIGGER IF EXISTS audit_events_no_delete")

POSTGRES_TRIGGERS = (
    f"""CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'insufficient_privilege';
END $$""",
    """CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
)
POSTGRES_DROP_TRIGGERS = (
    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
    "DROP FUNCTION IF EXISTS audit_events_append_only()",
)


def trigger_statements(dialect: str) -> tuple[str, ...]:
    return SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS if dialect == "postgresql" else ()


def drop_trigger_statements(dialect: str) -> tuple[str, ...]:
    return SQLITE_DROP_TRIGGERS if dialect == "sqlite" else POSTGRES_DROP_TRIGGERS if dialect == "postgresql" else ()


for _dialect in ("sqlite", "postgresql"):
    for _statement in trigger_statements(_dialect):
        sa.event.listen(AuditEvent.__table__, "after_create", sa.DDL(_statement).execute_if(dialect=_dialect))
