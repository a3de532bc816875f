"""Audit events as the revision before the keyed chain wrote them: a plain sha256 chain in id order
(for tests of the upgrade and of backups taken before it)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models.base import UTCDateTime

GENESIS = "0" * 64
_TABLE = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    *(sa.column(n) for n in ("actor_id", "actor_name", "action", "object_type", "object_id", "summary")),
    *(sa.column(n) for n in ("request_id", "remote_addr", "prev_hash", "hash")),
    sa.column("occurred_at", UTCDateTime()),
    sa.column("before", sa.JSON),
    sa.column("after", sa.JSON),
)


def append(actor_name: str, events: Sequence[Any], when: datetime | None = None) -> None:
    """Append events (objects with action, object_type, object_id, summary, before, after)."""
    prev = db.session.execute(sa.select(_TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)).scalar() or GENESIS
    for data in events:
        occurred = when or datetime.now(UTC)
        content = {
            "occurred_at": occurred.isoformat(),
            "actor_id": None,
            "actor_name": actor_name,
            "action": data.action,
            "object_type": data.object_type,
            "object_id": data.object_id,
            "summary": data.summary,
            "before": data.before,
            "after": data.after,
        }
        digest = hashlib.sha256(
            (prev + json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)).encode()
        ).hexdigest()
        row = content | {"occurred_at": occurred, "request_id": "", "remote_addr": "", "prev_hash": prev, "hash": digest}
        db.session.execute(sa.insert(_TABLE).values(**row))
        prev = digest
