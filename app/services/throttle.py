"""Throttling of sign-in, reset and two-factor attempts, counted in the database.

Counts live in ``auth_attempts`` rather than in a worker's memory, so several gunicorn workers
see the same numbers. A throttle is always temporary: once the oldest counted attempt leaves the
window, the next try is allowed again (never a permanent lockout, OWASP Authentication Cheat
Sheet, "Account Lockout").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models.base import utcnow
from app.models.user import AuthAttempt
from app.services.errors import DomainError


class Throttled(DomainError):
    """Too many attempts; ``retry_after`` seconds until the next one is allowed."""

    status = 429

    def __init__(self, retry_after: int, what: str = "attempts"):
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            f"Too many {what} in a short time. For your protection, wait {minutes} minute{'s' if minutes != 1 else ''} "
            "and try again."
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    """At most ``count`` attempts under ``key`` within ``window``."""

    key: str
    count: int
    window: timedelta


def check(limits: list[Limit], now: datetime | None = None) -> None:
    """Raise Throttled if any limit is already used up. Changes nothing."""
    now = now or utcnow()
    waits = [wait for limit in limits if (wait := _wait(limit, now)) > 0]
    if waits:
        raise Throttled(max(waits))


def _wait(limit: Limit, now: datetime) -> int:
    """Seconds until ``limit`` allows another attempt (0: allowed now)."""
    since = now - limit.window
    times = db.session.scalars(
        sa.select(AuthAttempt.occurred_at)
        .where(AuthAttempt.key == limit.key, AuthAttempt.occurred_at > since)
        .order_by(AuthAttempt.occurred_at.desc())
        .limit(limit.count)
    ).all()
    if len(times) < limit.count:
        return 0
    # The attempt that must age out of the window before another is allowed.
    oldest_counted = times[-1]
    return max(1, math.ceil((oldest_counted + limit.window - now).total_seconds()))


def record(keys: list[str], now: datetime | None = None) -> None:
    """Count one attempt under each key (flushed with the caller's transaction)."""
    now = now or utcnow()
    db.session.add_all(AuthAttempt(key=key, occurred_at=now) for key in keys)
    db.session.flush()


def clear(keys: list[str]) -> None:
    """Forget the attempts under these keys (after a success, the account's count starts again)."""
    db.session.execute(sa.delete(AuthAttempt).where(AuthAttempt.key.in_(keys)))


def prune(older_than: timedelta, now: datetime | None = None) -> int:
    """Delete attempts older than any window; returns how many."""
    cutoff = (now or utcnow()) - older_than
    result = db.session.execute(sa.delete(AuthAttempt).where(AuthAttempt.occurred_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
