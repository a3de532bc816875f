"""Keyed audit chain: gapless sequence numbers, HMAC links under the audit key, a MACed chain head,
append-only triggers, and actor_id no longer a foreign key.

The upgrade first verifies the existing plain-sha256 chain (ordered by id); only if it is intact
does it number the events 1..N by id and re-link them once under the primary audit key
(HANDOVER_AUDIT_KEY), then records the head. A broken old chain stops the upgrade with the id of
the first broken event: restore a backup, or set HANDOVER_AUDIT_ACCEPT_BROKEN_CHAIN to that id to
re-key it anyway (an ``audit.rekey`` event then records the break). Either way the upgrade appends an
``audit.rekey`` event saying how many events were re-linked.

actor_id loses its foreign key (ON DELETE SET NULL would rewrite a chained row, which the triggers
refuse); the actor's name is kept on each event anyway.

Revision ID: c3a9e1f47b20
Revises: 842a7e73f39a
Create Date: 2026-12-04 16:40:00

"""

import hashlib
import json
import os
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from flask import current_app

from app.models.base import UTCDateTime

# revision identifiers, used by Alembic.
revision = "c3a9e1f47b20"
down_revision = "842a7e73f39a"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
BATCH = 5_000
APPEND_ONLY = "audit events are append-only"
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
    f"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
)
SQLITE_DROP = ("DROP TRIGGER IF EXISTS audit_events_no_update", "DROP TRIGGER IF EXISTS audit_events_no_delete")
POSTGRES_TRIGGERS = (
    f"""CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'insufficient_privilege';
END $$""",
    """CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
)
POSTGRES_DROP = (
    "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
    "DROP FUNCTION IF EXISTS audit_events_append_only()",
)
OLD_FIELDS = ("occurred_at", "actor_id", "actor_name", "action", "object_type", "object_id", "summary", "before", "after")
CONTENT_FIELDS = (*OLD_FIELDS, "seq", "request_id", "remote_addr", "key_id")

events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    sa.column("seq", sa.Integer),
    sa.column("occurred_at", UTCDateTime()),
    sa.column("actor_id", sa.Integer),
    sa.column("actor_name", sa.String),
    sa.column("action", sa.String),
    sa.column("object_type", sa.String),
    sa.column("object_id", sa.Integer),
    sa.column("summary", sa.Text),
    sa.column("before", sa.JSON),
    sa.column("after", sa.JSON),
    sa.column("request_id", sa.String),
    sa.column("remote_addr", sa.String),
    sa.column("key_id", sa.String),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)
#: The table as the previous revision has it (no seq, no key_id).
old_events = sa.table("audit_events", *(sa.column(c.name, c.type) for c in events.columns if c.name not in ("seq", "key_id")))
head_table = sa.table(
    "audit_head",
    sa.column("id", sa.Integer),
    sa.column("seq", sa.Integer),
    sa.column("link", sa.String),
    sa.column("key_id", sa.String),
    sa.column("mac", sa.String),
)


def _canonical(row, fields):
    content = {name: row[name] for name in fields}
    content["occurred_at"] = content["occurred_at"].isoformat()
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)


def _old_digest(prev, row):
    return hashlib.sha256((prev + _canonical(row, OLD_FIELDS)).encode()).hexdigest()


def _rows(conn, order, table=events):
    """Every event in ``order``, a batch at a time."""
    last = None
    while True:
        stmt = sa.select(table).order_by(order).limit(BATCH)
        if last is not None:
            stmt = stmt.where(order > last)
        batch = [dict(row._mapping) for row in conn.execute(stmt)]
        if not batch:
            return
        yield from batch
        last = batch[-1][order.name]


def _old_chain_break(conn):
    """The id of the first event the plain-sha256 chain does not hold (None: intact)."""
    prev = GENESIS
    for row in _rows(conn, old_events.c.id, old_events):
        if row["prev_hash"] != prev or _old_digest(prev, row) != row["hash"]:
            return row["id"]
        prev = row["hash"]
    return None


def _dialect_statements(sqlite, postgres):
    name = op.get_bind().dialect.name
    return sqlite if name == "sqlite" else postgres if name == "postgresql" else ()


def upgrade():
    from app.services import audit  # the link and head rules the application verifies with

    conn = op.get_bind()
    # Checked before any change, so a refusal leaves the database as it was (SQLite has no transactional DDL here).
    broken = _old_chain_break(conn)
    accepted = os.environ.get("HANDOVER_AUDIT_ACCEPT_BROKEN_CHAIN", "")
    if broken is not None and accepted != str(broken):
        raise RuntimeError(
            f"The audit chain is broken at event {broken}: it was changed outside Handover, so it is not re-linked under "
            "the audit key. Restore a backup taken before the change, or set "
            f"HANDOVER_AUDIT_ACCEPT_BROKEN_CHAIN={broken} to re-link it anyway (the break is recorded in the audit log)."
        )

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("link", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=40), nullable=False, server_default=""))
        batch_op.drop_constraint("fk_audit_events_actor_id_users", type_="foreignkey")

    keyring = current_app.extensions["handover_audit_keyring"].get()
    key_id = keyring.primary.key_id
    key = keyring.raw_key(key_id)
    seq, prev, updates = 0, GENESIS, []
    for row in _rows(conn, events.c.id):
        seq += 1
        row.update(seq=seq, key_id=key_id, prev_hash=prev)
        row["request_id"] = row["request_id"] or ""
        row["remote_addr"] = row["remote_addr"] or ""
        prev = audit.link(key, prev, row)
        updates.append({"row_id": row["id"], "seq": seq, "key_id": key_id, "prev": row["prev_hash"], "link": prev})
        if len(updates) >= BATCH:
            _apply(conn, updates)
            updates = []
    _apply(conn, updates)

    if seq:  # an empty log (a new installation) gets no re-keying event
        note = (
            "the old chain was intact" if broken is None else f"the old chain was broken at event {broken}, re-linked as accepted"
        )
        rekey = {
            "seq": seq + 1,
            "occurred_at": datetime.now(UTC),
            "actor_id": None,
            "actor_name": "system",
            "action": "audit.rekey",
            "object_type": "audit",
            "object_id": None,
            "summary": f"Numbered {seq} events and linked them with audit key {key_id} ({note})",
            "before": None,
            "after": {"events": seq, "key_id": key_id, "old_chain_broken_at": broken},
            "request_id": "",
            "remote_addr": "",
            "key_id": key_id,
            "prev_hash": prev,
        }
        rekey["hash"] = prev = audit.link(key, prev, rekey)
        conn.execute(sa.insert(events).values(**rekey))
        seq += 1
    if seq:
        conn.execute(sa.insert(head_table).values(id=1, seq=seq, link=prev, key_id=key_id, mac=audit.head_mac(key, seq, prev)))

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("key_id", existing_type=sa.String(length=40), server_default=None)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_seq"), ["seq"])
    for statement in _dialect_statements(SQLITE_TRIGGERS, POSTGRES_TRIGGERS):
        op.execute(statement)


def _apply(conn, updates):
    if updates:
        conn.execute(
            sa.update(events)
            .where(events.c.id == sa.bindparam("row_id"))
            .values(
                seq=sa.bindparam("seq"), key_id=sa.bindparam("key_id"), prev_hash=sa.bindparam("prev"), hash=sa.bindparam("link")
            ),
            updates,
        )


def downgrade():
    conn = op.get_bind()
    for statement in _dialect_statements(SQLITE_DROP, POSTGRES_DROP):
        op.execute(statement)
    # Back to the plain-sha256 chain over the older content, in id order.
    prev, updates = GENESIS, []
    for row in _rows(conn, events.c.id):
        row["hash"] = _old_digest(prev, row)
        updates.append({"row_id": row["id"], "seq": row["seq"], "key_id": "", "prev": prev, "link": row["hash"]})
        prev = row["hash"]
        if len(updates) >= BATCH:
            _apply(conn, updates)
            updates = []
    _apply(conn, updates)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_events_seq"), type_="unique")
        batch_op.drop_column("key_id")
        batch_op.drop_column("seq")
        batch_op.create_foreign_key("fk_audit_events_actor_id_users", "users", ["actor_id"], ["id"], ondelete="SET NULL")
    op.drop_table("audit_head")
