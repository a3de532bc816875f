"""Master keys: which envelopes each key sealed, proof that a configured key is the right one, and
re-encryption under a new primary key in resumable batches (`flask keys ...`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models.base import utcnow
from app.models.credential import CredentialNote, CredentialVersion, MasterKeyCheck
from app.models.user import User
from app.services import crypto
from app.services.credentials import TABLE, VERSION_TABLE

#: The tables holding envelopes, with the table name their associated data uses.
SEALED = ((CredentialNote, TABLE), (CredentialVersion, VERSION_TABLE))
#: The columns of users holding a two-factor seed, sealed with the master keys too (a key id is in
#: each envelope, not in a column: there are as many as users with two factors, a few hundred).
USER_SEALED = ("totp_secret",)


def seed_envelopes() -> Iterator[tuple[int, str, str]]:
    """(user id, column, envelope) of every two-factor seed."""
    for column in USER_SEALED:
        col = getattr(User, column)
        for user_id, envelope in db.session.execute(sa.select(User.id, col).where(col.is_not(None)).order_by(User.id)):
            yield user_id, column, envelope


def _seed_key(envelope: str) -> str | None:
    try:
        return crypto.key_id_of(envelope)
    except crypto.UndecryptableSecret:
        return None  # a damaged envelope names no key; `flask backup verify` reports it


def _check_aad(key_id: str) -> bytes:
    return crypto.associated_data("master_key_checks", 0, key_id)


@dataclass
class KeyProblem:
    key_id: str
    message: str


def usage() -> Counter[str]:
    """How many envelopes each key sealed (notes, kept versions and two-factor seeds): a key in use
    here cannot be dropped without losing what it sealed."""
    counts: Counter[str] = Counter()
    for model, _ in SEALED:
        for key_id, count in db.session.execute(sa.select(model.key_id, sa.func.count()).group_by(model.key_id)):
            counts[key_id] += count
    for _, _, envelope in seed_envelopes():
        if (key_id := _seed_key(envelope)) is not None:
            counts[key_id] += 1
    return counts


def ensure_checks(keyring: crypto.Keyring) -> int:
    """Record a check value for every configured key that has none yet; returns how many were added."""
    known = set(db.session.scalars(sa.select(MasterKeyCheck.key_id)))
    added = 0
    for key_id in keyring.key_ids:
        if key_id not in known:
            db.session.add(
                MasterKeyCheck(key_id=key_id, check=keyring.seal_with(key_id, crypto.CHECK_PLAINTEXT, _check_aad(key_id)))
            )
            added += 1
    db.session.flush()
    return added


#: Envelopes tried per key when it has no check value yet (one damaged row must not block a start).
SAMPLE = 3


def _opens_sample(keyring: crypto.Keyring, key_id: str) -> bool | None:
    """Whether the configured key opens any of a few envelopes sealed under its id (None: there are none)."""
    tried = False
    for model, table in SEALED:
        rows = db.session.execute(
            sa.select(model.id, model.secret).where(model.key_id == key_id).order_by(model.id).limit(SAMPLE)
        ).all()
        for row_id, envelope in rows:
            tried = True
            try:
                keyring.open(envelope, crypto.associated_data(table, row_id, "secret"))
            except crypto.UndecryptableSecret:
                continue
            return True
    return False if tried else None


def problems(keyring: crypto.Keyring) -> list[KeyProblem]:
    """Keys the data needs that are missing, or configured under an id with different key bytes.

    A key with a check value is proved by it. A key the data uses that has no check value yet (the
    data was written before any server recorded one, e.g. by the CLI) is proved by opening a few of
    its envelopes, so a wrong key is refused before ensure_checks could record it as the right one.
    """
    found: list[KeyProblem] = []
    checks = {check.key_id: check for check in db.session.scalars(sa.select(MasterKeyCheck))}
    for key_id in sorted(usage()):
        if key_id not in keyring:
            found.append(KeyProblem(key_id, f"credentials are sealed with master key {key_id!r}, which is not configured"))
        elif key_id not in checks and _opens_sample(keyring, key_id) is False:
            found.append(KeyProblem(key_id, _wrong_key(key_id)))
    for key_id, check in sorted(checks.items()):
        if key_id not in keyring:
            continue
        try:
            keyring.open(check.check, _check_aad(key_id))
        except crypto.UndecryptableSecret:
            found.append(KeyProblem(key_id, _wrong_key(key_id)))
    return found


def _wrong_key(key_id: str) -> str:
    return f"the key configured as {key_id!r} is not the key that sealed the data"


def _old_key_ids(keyring: crypto.Keyring) -> list[str]:
    return [key_id for key_id in keyring.key_ids if key_id != keyring.primary.key_id]


def pending(keyring: crypto.Keyring) -> int:
    """Envelopes not yet under the primary key."""
    primary = keyring.primary.key_id
    seeds = sum(1 for _, _, envelope in seed_envelopes() if _seed_key(envelope) not in (primary, None))
    return seeds + sum(
        db.session.scalar(sa.select(sa.func.count()).select_from(model).where(model.key_id != primary)) or 0
        for model, _ in SEALED
    )


def reencrypt_batch(keyring: crypto.Keyring, batch_size: int = 500) -> int:
    """Re-seal up to ``batch_size`` envelopes under the primary key; returns how many. The caller commits.

    Rows are picked by key id (an indexed ``IN`` over the older configured keys), so running again
    after an interruption continues where it stopped. The update is written as compare-and-swap on
    the old envelope, without touching the note's version: a note someone rotates meanwhile keeps
    their new value (and is picked up by a later batch if it still needs re-sealing), and nobody's
    open edit form is made stale by a change of key.

    The rows go to the driver as one executemany of plain tuples: this runs once per envelope in
    the registry, and the ORM's per-row parameter handling would cost more than the cipher.
    """
    old_ids = _old_key_ids(keyring)
    if not old_ids:
        return 0
    done = 0
    connection = db.session.connection()
    for model, table_name in SEALED:
        if done >= batch_size:
            break
        table = model.__table__
        rows = connection.execute(
            sa.select(table.c.id, table.c.secret)
            .where(table.c.key_id.in_(old_ids))
            .order_by(table.c.id)
            .limit(batch_size - done)
            .with_for_update()
        ).all()
        if not rows:
            continue
        sealed = keyring.reseal_many([(secret, crypto.associated_data(table_name, row_id, "secret")) for row_id, secret in rows])
        sql, order, stamp = _compare_and_swap(connection.dialect, table)
        new_key = keyring.primary.key_id
        now = stamp(utcnow()) if stamp is not None else None
        params = [(new, new_key, now, row_id, old) for new, (row_id, old) in zip(sealed, rows, strict=True)]
        if order is None:
            connection.exec_driver_sql(sql, [dict(zip(_CAS_PARAMS, p, strict=True)) for p in params])
        else:
            connection.exec_driver_sql(sql, [tuple(p[i] for i in order) for p in params])
        done += len(rows)
    if done < batch_size:
        done += _reseal_seeds(keyring, old_ids, batch_size - done)
    return done


def _reseal_seeds(keyring: crypto.Keyring, old_ids: list[str], limit: int) -> int:
    """Re-seal up to ``limit`` two-factor seeds still under an older key, compare-and-swap on the
    old envelope (a user re-enrolling meanwhile keeps their new seed)."""
    done = 0
    for user_id, column, envelope in list(seed_envelopes()):
        if done >= limit:
            break
        if _seed_key(envelope) not in old_ids:
            continue
        col = getattr(User.__table__.c, column)
        new = keyring.reseal(envelope, crypto.associated_data("users", user_id, column))
        db.session.execute(sa.update(User.__table__).where(User.__table__.c.id == user_id, col == envelope).values({column: new}))
        done += 1
    return done


#: The compare-and-swap's parameters, in the order reencrypt_batch builds them.
_CAS_PARAMS = ("new", "key", "at", "row_id", "old")


def _compare_and_swap(dialect: sa.Dialect, table: sa.Table) -> tuple[str, list[int] | None, Any]:
    """The re-seal's UPDATE compiled for the driver; where each of _CAS_PARAMS goes in a positional
    parameter list (None: the driver takes them by name); and how to pass the ``updated_at`` stamp
    (None when the table has none). The statement is what ``sa.update`` with the table's
    ``onupdate`` stamp would run, without the ORM's per-row parameter handling."""
    values: dict[str, Any] = {"secret": sa.bindparam("new"), "key_id": sa.bindparam("key")}
    stamp = None
    if "updated_at" in table.c:
        column_type = table.c.updated_at.type
        values["updated_at"] = sa.bindparam("at", type_=column_type)
        stamp = column_type.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)
    compiled = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"), table.c.secret == sa.bindparam("old"))
        .values(**values)
        .compile(dialect=dialect)
    )
    if not compiled.positional:
        return compiled.string, None, stamp
    return compiled.string, [_CAS_PARAMS.index(name) for name in compiled.positiontup or ()], stamp


def has_check(key_id: str) -> bool:
    return db.session.get(MasterKeyCheck, key_id) is not None


def drop_check(key_id: str) -> None:
    db.session.execute(sa.delete(MasterKeyCheck).where(MasterKeyCheck.key_id == key_id))
