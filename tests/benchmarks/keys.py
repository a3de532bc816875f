"""`make bench`: master-key rotation throughput against raw AES-GCM, written to bench-results/keys.json.

Two figures from one run on this machine:

- raw: cryptography's AESGCM sealing and opening ~40-byte values (one key object, nonces and
  values made beforehand, associated data as the vault uses): values per second, each value one
  encrypt plus one decrypt;
- rotation: what `flask keys rotate` does, on 100,000 notes in a temporary SQLite database sealed
  under key A and bound to their ids: `keys.reencrypt_batch(keyring, 1000)` and a commit per
  batch, in a loop, until nothing is left under A; envelopes per second (each one opened under A
  and sealed under B, so the same crypto work per unit as raw).

The ratio rotation / raw says how much of the rotation's time is the cipher itself: everything
else is envelopes, the ORM and SQLite. Afterwards every envelope must open under key B alone
with its plaintext unchanged (digests of a sample of 1,000) and `keys.pending()` must be 0.

For the breakdown: the re-seal in memory (no database), and the database's part alone (the same
batches read and written back unchanged with the rotation's UPDATE, no cipher), an upper bound
for any rotation that rewrites each row.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import cryptography
import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Platform, Profile, ProfileKind  # noqa: E402
from app.models.base import utcnow  # noqa: E402
from app.models.credential import CredentialKind, CredentialNote  # noqa: E402
from app.services import crypto, keys  # noqa: E402
from app.services.credentials import TABLE  # noqa: E402

RAW_VALUES = 200_000
#: Runs of the short in-memory measurements (their median is reported; a VM's clock varies).
REPEATS = 3
NOTES = 100_000
BATCH = 1000
SAMPLE = 1000
VALUE_BYTES = 40
#: Rows per bulk insert, and values per progress-bar step of the raw measurement.
CHUNK = 10_000
KEY_A = "bench-a"
KEY_B = "bench-b"


def measure_raw() -> dict[str, Any]:
    """AESGCM encrypt + decrypt of RAW_VALUES 40-byte values: the cipher alone (median of REPEATS runs)."""
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    values = [os.urandom(VALUE_BYTES) for _ in range(RAW_VALUES)]
    nonces = [os.urandom(crypto.NONCE_BYTES) for _ in range(RAW_VALUES)]
    aad = crypto.associated_data(TABLE, 54321, "secret")
    runs: list[float] = []
    with click.progressbar(length=RAW_VALUES * REPEATS, label=f"Raw AES-GCM, {RAW_VALUES:,} values x {REPEATS}") as bar:
        for _ in range(REPEATS):
            elapsed = 0.0
            for first in range(0, RAW_VALUES, CHUNK):
                last = min(first + CHUNK, RAW_VALUES)
                start = time.perf_counter()
                for i in range(first, last):
                    sealed = aead.encrypt(nonces[i], values[i], aad)
                    if aead.decrypt(nonces[i], sealed, aad) != values[i]:
                        raise AssertionError("AES-GCM returned another value")
                elapsed += time.perf_counter() - start
                bar.update(last - first)
            runs.append(RAW_VALUES / elapsed)
    return {
        "values": RAW_VALUES,
        "value_bytes": VALUE_BYTES,
        "runs_values_per_second": [round(r) for r in runs],
        "values_per_second": round(statistics.median(runs)),
        "what": "one AESGCM object; per value one encrypt and one decrypt with associated data; nonces made beforehand",
    }


def measure_envelopes(keyring: crypto.Keyring, sealed: list[tuple[int, str]]) -> dict[str, Any]:
    """Keyring.reseal_many (what the rotation calls) and Keyring.reseal one by one on envelopes in
    memory: the rotation's crypto with no database (for the breakdown)."""
    runs: list[float] = []
    single: list[float] = []
    for _ in range(REPEATS):
        pairs = [(envelope, crypto.associated_data(TABLE, note_id, "secret")) for note_id, envelope in sealed]
        start = time.perf_counter()
        for first in range(0, len(pairs), BATCH):
            keyring.reseal_many(pairs[first : first + BATCH])
        runs.append(len(sealed) / (time.perf_counter() - start))
        start = time.perf_counter()
        for note_id, envelope in sealed:
            keyring.reseal(envelope, crypto.associated_data(TABLE, note_id, "secret"))
        single.append(len(sealed) / (time.perf_counter() - start))
    return {
        "envelopes": len(sealed),
        "runs_envelopes_per_second": [round(r) for r in runs],
        "envelopes_per_second": round(statistics.median(runs)),
        "one_by_one_envelopes_per_second": round(statistics.median(single)),
        "what": "Keyring.reseal_many in batches of BATCH (parse, base64, open under A, new nonce, seal under B) "
        "without the database; one_by_one: Keyring.reseal per envelope",
    }


def measure_storage(total: int) -> dict[str, Any]:
    """The rotation's database work without the cipher: the same batches read (id, envelope) and
    written back with the same compare-and-swap UPDATE through the driver, values unchanged. An
    upper bound for the rotation on this database: no cipher can make it faster than this."""
    connection = db.session.connection()
    sql, order, stamp = keys._compare_and_swap(connection.dialect, CredentialNote.__table__)
    assert order is not None and stamp is not None, "the storage measurement is written for SQLite"
    last = 0
    done = 0
    start = time.perf_counter()
    while True:
        rows = connection.execute(
            sa.select(CredentialNote.id, CredentialNote.secret, CredentialNote.key_id)
            .where(CredentialNote.id > last)
            .order_by(CredentialNote.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        now = stamp(utcnow())
        params = [(secret, key_id, now, row_id, secret) for row_id, secret, key_id in rows]
        connection.exec_driver_sql(sql, [tuple(p[i] for i in order) for p in params])
        db.session.commit()
        connection = db.session.connection()
        done += len(rows)
        last = rows[-1][0]
    elapsed = time.perf_counter() - start
    if done != total:
        raise AssertionError(f"storage pass saw {done} rows, expected {total}")
    return {
        "rows": done,
        "rows_per_second": round(done / elapsed),
        "what": "select (id, secret) in batches of BATCH + the rotation's compare-and-swap UPDATE (same values) + "
        "commit per batch, no cipher: the database's part of a rotation",
    }


def insert_notes(keyring_a: crypto.Keyring, sample_ids: set[int]) -> tuple[dict[int, str], list[tuple[int, str]], float]:
    """NOTES notes sealed under key A, bound to their ids, in bulk; returns sample digests and a few envelopes."""
    db_platform = Platform(name="Bench platform", slug="bench", role_names=["owner"], rotation_days=365)
    profile = Profile(platform=db_platform, kind=ProfileKind.SHARED_LOGIN, name="Bench login")
    db.session.add_all([db_platform, profile])
    db.session.commit()
    table = CredentialNote.__table__
    now = utcnow()
    due = now + timedelta(days=365)
    digests: dict[int, str] = {}
    loose: list[tuple[int, str]] = []
    start = time.perf_counter()
    with click.progressbar(length=NOTES, label=f"Sealing {NOTES:,} notes under {KEY_A}") as bar:
        for first in range(1, NOTES + 1, CHUNK):
            rows = []
            for note_id in range(first, min(first + CHUNK, NOTES + 1)):
                value = secrets.token_urlsafe(30)
                envelope = keyring_a.seal(value, crypto.associated_data(TABLE, note_id, "secret"))
                if note_id in sample_ids:
                    digests[note_id] = hashlib.sha256(value.encode()).hexdigest()
                if note_id <= 20_000:
                    loose.append((note_id, envelope))
                rows.append(
                    {
                        "id": note_id,
                        "profile_id": profile.id,
                        "account_id": None,
                        "label": f"Bench note {note_id}",
                        "kind": CredentialKind.PASSWORD,
                        "secret": envelope,
                        "key_id": KEY_A,
                        "rotated_at": now,
                        "rotation_days": None,
                        "due_at": due,
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                )
            db.session.execute(sa.insert(table), rows)
            db.session.commit()
            bar.update(len(rows))
    return digests, loose, time.perf_counter() - start


def rotate_all(keyring: crypto.Keyring, total: int) -> tuple[int, float, list[float]]:
    """The `flask keys rotate` loop: a batch, a commit, until a batch finds nothing."""
    done = 0
    batch_seconds: list[float] = []
    with click.progressbar(length=total, label=f"Re-encrypting under {KEY_B} in batches of {BATCH}") as bar:
        start = time.perf_counter()
        while True:
            batch_start = time.perf_counter()
            count = keys.reencrypt_batch(keyring, BATCH)
            db.session.commit()
            if count == 0:
                break
            batch_seconds.append(time.perf_counter() - batch_start)
            done += count
            bar.update(count)
        elapsed = time.perf_counter() - start
    return done, elapsed, batch_seconds


def verify(keyring_b_only: crypto.Keyring, digests: dict[int, str], keyring: crypto.Keyring) -> dict[str, Any]:
    """Every envelope opens under key B alone; the sampled plaintexts are unchanged; nothing is pending."""
    opened = 0
    matched = 0
    key_ids: set[str] = set()
    with click.progressbar(length=NOTES, label="Verifying under key B alone") as bar:
        rows = db.session.execute(sa.select(CredentialNote.id, CredentialNote.secret, CredentialNote.key_id)).yield_per(CHUNK)
        for note_id, envelope, key_id in rows:
            value = keyring_b_only.open(envelope, crypto.associated_data(TABLE, note_id, "secret"))
            opened += 1
            key_ids.add(key_id)
            if note_id in digests:
                if hashlib.sha256(value.encode()).hexdigest() != digests[note_id]:
                    raise AssertionError(f"note {note_id}: the plaintext changed during rotation")
                matched += 1
            if opened % CHUNK == 0:
                bar.update(CHUNK)
        bar.update(opened % CHUNK)
    pending = keys.pending(keyring)
    usage = dict(keys.usage())
    if opened != NOTES or matched != len(digests) or pending != 0 or key_ids != {KEY_B} or usage != {KEY_B: NOTES}:
        raise AssertionError(f"rotation incomplete: opened {opened}, matched {matched}, pending {pending}, usage {usage}")
    return {
        "opened_under_new_key_only": opened,
        "sample_digests_checked": matched,
        "pending_after": pending,
        "usage_after": usage,
    }


def machine() -> dict[str, Any]:
    from cryptography.hazmat.backends.openssl.backend import backend

    try:
        usable_cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable_cpus = os.cpu_count()
    try:
        aes_ni = " aes " in Path("/proc/cpuinfo").read_text().replace("\n", " ")
    except OSError:
        aes_ni = None
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus,
        "cpu_aes_instructions": aes_ni,
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "openssl": backend.openssl_version_text(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sa.__version__,
    }


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2) if values else 0.0


def run() -> dict[str, Any]:
    """The whole measurement (raw, in memory, rotation, verification, database part); figures as a dict."""
    results: dict[str, Any] = {"machine": machine()}
    results["raw_aesgcm"] = measure_raw()

    spec_a, spec_b = crypto.generate_key_spec(KEY_A), crypto.generate_key_spec(KEY_B)
    keyring_a = crypto.Keyring.parse(spec_a)
    keyring_b_only = crypto.Keyring.parse(spec_b)
    sample_ids = set(random.Random(NOTES).sample(range(1, NOTES + 1), SAMPLE))
    with tempfile.TemporaryDirectory() as tmp:
        # The server's configuration after an operator put key B first and kept A after it.
        app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp}/keys.sqlite3", MASTER_KEYS=f"{spec_b},{spec_a}")
        with app.app_context():
            db.create_all()
            digests, loose, insert_seconds = insert_notes(keyring_a, sample_ids)
            keyring = crypto.current_keyring()
            if keyring.primary.key_id != KEY_B or keys.pending(keyring) != NOTES:
                raise AssertionError("the benchmark database is not set up as expected")
            results["envelopes_in_memory"] = measure_envelopes(keyring, loose)
            del loose
            keys.ensure_checks(keyring)
            db.session.commit()
            done, rotate_seconds, batch_seconds = rotate_all(keyring, NOTES)
            results["rotation"] = {
                "notes": NOTES,
                "batch_size": BATCH,
                "batches": len(batch_seconds),
                "envelopes": done,
                "seconds": round(rotate_seconds, 3),
                "envelopes_per_second": round(done / rotate_seconds),
                "batch_ms_median_first_10": median_ms(batch_seconds[:10]),
                "batch_ms_median_last_10": median_ms(batch_seconds[-10:]),
                "setup_insert_seconds": round(insert_seconds, 3),
                "what": "keys.reencrypt_batch(keyring, 1000) + commit per batch until 0, as `flask keys rotate`; SQLite file, app pragmas",
            }
            results["verification"] = verify(keyring_b_only, digests, keyring)
            results["storage_only"] = measure_storage(NOTES)
            db.session.remove()
            db.engine.dispose()

    raw = results["raw_aesgcm"]["values_per_second"]
    rotation = results["rotation"]["envelopes_per_second"]
    envelopes = results["envelopes_in_memory"]["envelopes_per_second"]
    results["ratio"] = round(rotation / raw, 4)
    results["ratios"] = {
        "rotation_to_raw": results["ratio"],
        "envelopes_in_memory_to_raw": round(envelopes / raw, 4),
        "rotation_to_envelopes_in_memory": round(rotation / envelopes, 4),
        "storage_only_to_raw": round(results["storage_only"]["rows_per_second"] / raw, 4),
    }
    report(results)
    return results


def report(results: dict[str, Any]) -> None:
    raw = results["raw_aesgcm"]["values_per_second"]
    rotation = results["rotation"]["envelopes_per_second"]
    envelopes = results["envelopes_in_memory"]["envelopes_per_second"]
    click.echo(f"  raw AES-GCM (encrypt+decrypt)   {raw:>10,} values/s")
    click.echo(f"  envelope reseal, in memory      {envelopes:>10,} envelopes/s")
    click.echo(
        f"  keys rotate, {NOTES:,} notes      {rotation:>10,} envelopes/s "
        f"({results['rotation']['seconds']} s, {results['rotation']['batches']} batches; batch median "
        f"{results['rotation']['batch_ms_median_first_10']} ms first 10, {results['rotation']['batch_ms_median_last_10']} ms last 10)"
    )
    click.echo(f"  database part alone (no cipher) {results['storage_only']['rows_per_second']:>10,} rows/s")
    click.echo(f"  ratio rotation / raw            {results['ratio']:>10}")
    check = results["verification"]
    click.echo(
        f"  verified: {check['opened_under_new_key_only']:,} open under {KEY_B} alone, "
        f"{check['sample_digests_checked']:,} sampled plaintexts unchanged, pending {check['pending_after']}"
    )


@click.command()
@click.option("--output", default=str(ROOT / "bench-results" / "keys.json"), show_default=True)
def main(output: str) -> None:
    results = run()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(json.dumps(results, indent=2) + "\n")
    click.echo(f"Wrote {output}")


if __name__ == "__main__":
    main()
