"""Command-line tools, through ``flask``: each command calls services and commits once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import Flask
from flask.cli import AppGroup

from app.extensions import db
from app.models.user import Role
from app.services.context import Actor
from app.services.errors import DomainError, ValidationFailed

users_cli = AppGroup("users", help="Handover sign-ins.")
demo_cli = AppGroup("demo", help="The demo organisation.")
audit_cli = AppGroup("audit", help="The audit trail.")
keys_cli = AppGroup("keys", help="Master keys that encrypt credential notes.")
platforms_cli = AppGroup("platforms", help="The platform catalogue.")
findings_cli = AppGroup("findings", help="Findings: the risks the audit rules derive from the registry.")
reviews_cli = AppGroup("reviews", help="Access review campaigns.")
tokens_cli = AppGroup("tokens", help="API tokens for the JSON API, SCIM and HR events.")
handover_cli = AppGroup("handover", help="Offboarding: the daily run that makes leavers departed.")
import_cli = AppGroup("import", help="CSV import of people and of accounts (the format of the upload pages and exports).")
backup_cli = AppGroup("backup", help="Backups: one encrypted file with a consistent copy of the database and a manifest.")


def _fail(error: DomainError) -> None:
    db.session.rollback()
    lines = [error.message]
    for name, messages in getattr(error, "field_errors", {}).items():
        lines += [f"  {name}: {m}" for m in messages]
    raise click.ClickException("\n".join(lines))


@users_cli.command("create-admin")
@click.option("--email", prompt=True, help="The admin's sign-in email.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="At least 12 characters.")
def create_admin(email: str, password: str) -> None:
    """Create the first admin sign-in (a fresh database has none)."""
    from app.services import users

    try:
        user = users.create_user(Actor.system("flask users create-admin"), email, password, Role.ADMIN)
    except ValidationFailed as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(f"Created admin {user.email}. Sign in at /login.")


@users_cli.command("invite")
@click.argument("email")
@click.option("--role", "role_name", required=True, type=click.Choice([r.value for r in Role]), help="The role they get.")
@click.option("--person", "person_id", type=int, default=None, help="Id of the Person this sign-in belongs to.")
def users_invite(email: str, role_name: str, person_id: int | None) -> None:
    """Invite EMAIL: Handover emails a single-use link (valid HANDOVER_INVITE_HOURS) to set a password."""
    from flask import current_app

    from app.services import mail, users

    base_url = current_app.config.get("BASE_URL") or ""
    if not base_url:
        raise click.ClickException(
            "Set HANDOVER_BASE_URL to the address people open Handover at (e.g. https://handover.example.org): "
            "the invitation link must point there."
        )
    try:
        user, link = users.invite_user(
            Actor.system("flask users invite"), email, Role(role_name), person_id, base_url, current_app.config["INVITE_HOURS"]
        )
    except ValidationFailed as error:
        _fail(error)
        return
    db.session.commit()
    delivery = mail.last_delivery()
    click.echo(f"Invited {user.email} as {user.role.label}.")
    if delivery.disabled or delivery.failed:
        # Only the person running this command sees it; it works once and expires.
        why = "Email is switched off (HANDOVER_SMTP_HOST)" if delivery.disabled else "The email could not be sent"
        click.echo(f"{why}: give them this link yourself, privately:\n  {link}")
    else:
        click.echo("The invitation email is on its way.")


@users_cli.command("list")
def users_list() -> None:
    """Every sign-in: email, role, status, two factors, last sign-in."""
    import sqlalchemy as sa

    from app.models.user import User

    rows = db.session.scalars(sa.select(User).order_by(User.email)).all()
    if not rows:
        click.echo("Nobody can sign in yet: run `flask users create-admin`.")
        return
    click.echo(f"{'EMAIL':40} {'ROLE':9} {'STATUS':12} {'2FA':4} {'SIGNS IN WITH':17} LAST SIGN-IN")
    for user in rows:
        status = "deactivated" if not user.active else ("invited" if user.invitation_pending else "active")
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
        click.echo(
            f"{user.email:40} {user.role.value:9} {status:12} {'on' if user.two_factor_enabled else 'off':4} "
            f"{user.sign_in_method:17} {last}"
        )


@tokens_cli.command("create")
@click.option("--name", required=True, help="The system that will use it, e.g. 'Okta SCIM'.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["registry:read", "registry:write", "people:write", "offboarding:write", "scim"]),
    help="A scope; repeat for several.",
)
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 730), help="How long it works.")
def tokens_create(name: str, scopes: tuple[str, ...], days: int) -> None:
    """Create an API token and print it (the only time it is shown)."""
    from app.services import api_tokens

    try:
        row, token = api_tokens.create_token(Actor.system("flask tokens create"), name, list(scopes), days)
    except ValidationFailed as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(f"Created token “{row.name}” ({', '.join(row.scopes)}), valid until {row.expires_at:%Y-%m-%d}:")
    click.echo(token)
    click.echo("Keep it now: Handover stores only a digest and cannot show it again.")


@tokens_cli.command("list")
def tokens_list() -> None:
    """Every API token: prefix, name, scopes, state, last use."""
    import sqlalchemy as sa

    from app.models.api_token import ApiToken

    rows = db.session.scalars(sa.select(ApiToken).order_by(ApiToken.created_at)).all()
    if not rows:
        click.echo("No API tokens yet: `flask tokens create --name … --scope …`.")
        return
    for row in rows:
        last = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
        click.echo(f"hov_{row.prefix}_…  {row.state:8} {row.name:30} {','.join(row.scopes):40} last used {last}")


@tokens_cli.command("revoke")
@click.argument("prefix")
def tokens_revoke(prefix: str) -> None:
    """Revoke the token whose prefix (the 8 characters after hov_) is PREFIX."""
    import sqlalchemy as sa

    from app.models.api_token import ApiToken
    from app.services import api_tokens

    prefix = prefix.removeprefix("hov_").split("_")[0]
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.prefix == prefix))
    if row is None:
        raise click.ClickException(f"No token starts with hov_{prefix}_ (see `flask tokens list`).")
    try:
        api_tokens.revoke_token(Actor.system("flask tokens revoke"), row)
    except ValidationFailed as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(f"Revoked “{row.name}”.")


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing if the registry already has data.")
def demo_load(if_empty: bool) -> None:
    """Load the demo organisation, Riverside Public Library."""
    from app.services import demo

    if demo.registry_has_data():
        if if_empty:
            click.echo("The registry already has data; the demo was not loaded.")
            return
        raise click.ClickException("The registry already has data. Load the demo only into an empty database.")
    try:
        summary = demo.load_demo(Actor.system("flask demo load"))
    except DomainError as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(summary)


@demo_cli.command("generate")
@click.option("--people", type=click.IntRange(min=10), default=None, help="How many people (default: the scale's).")
@click.option("--accounts", type=click.IntRange(min=1), default=None, help="How many accounts (default: the scale's).")
@click.option("--scale", type=click.Choice(["S", "M", "L"], case_sensitive=False), default="S", show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="The same seed gives the same organisation.")
def demo_generate(people: int | None, accounts: int | None, scale: str, seed: int) -> None:
    """Fill an empty database with a large, varied organisation (for benchmarks and load tests)."""
    from app.services import crypto, generate

    default_people, default_accounts = generate.scale_sizes(scale)
    people, accounts = people or default_people, accounts or default_accounts
    if not generate.registry_is_empty():
        raise click.ClickException("The registry already has people. Generate data only into an empty database.")
    with click.progressbar(length=people + accounts, label=f"Generating {people:,} people, {accounts:,} accounts") as bar:

        def checkpoint(advance: int) -> None:
            db.session.commit()
            bar.update(advance)

        try:
            summary = generate.generate_organisation(
                Actor.system("flask demo generate"),
                crypto.current_keyring(),
                people=people,
                accounts=accounts,
                seed=seed,
                checkpoint=checkpoint,
            )
        except DomainError as error:
            _fail(error)
            return
        db.session.commit()
    click.echo(summary)


@audit_cli.command("verify")
@click.option("--batch-size", default=5_000, show_default=True, help="Events read at a time (bounds the memory used).")
def audit_verify(batch_size: int) -> None:
    """Recompute every link of the audit chain with the audit key; exits 1 at the first broken event."""
    from app.services import audit, crypto

    try:
        audit.current_keyring()
    except crypto.KeyConfigError as error:  # the key file was changed since the start: say so, no traceback
        raise click.ClickException(str(error)) from None
    total = audit.count_events()
    with click.progressbar(length=max(total, 1), label=f"Verifying {total:,} audit events") as bar:
        result = audit.verify_chain(batch_size=max(1, batch_size), progress=bar.update)
    if not result.intact:
        raise click.ClickException(
            f"The audit chain is broken at sequence number {result.broken_at}: {result.reason} "
            f"({result.checked:,} events before it are intact)."
        )
    click.echo(f"The audit chain is intact: {result.checked:,} events checked.")


@platforms_cli.command("seed")
def platforms_seed() -> None:
    """Add the catalogue platforms the registry lacks (never changes existing ones)."""
    from app.services.catalogue import ensure_catalogue

    added = ensure_catalogue(Actor.system("flask platforms seed"))
    db.session.commit()
    click.echo(f"Added {added} platforms to the catalogue." if added else "The catalogue is complete; nothing was added.")


@keys_cli.command("generate")
@click.option("--id", "key_id", default=None, help="Key id (lower-case letters, digits, dashes); default k<date>-<random>.")
def keys_generate(key_id: str | None) -> None:
    """Print a new master key as <id>:<key>, for HANDOVER_MASTER_KEYS (primary first)."""
    from app.services import crypto

    if key_id is not None and not crypto.KEY_ID.match(key_id):
        raise click.ClickException("A key id is 1-40 lower-case letters, digits and dashes, starting with a letter or digit.")
    click.echo(crypto.generate_key_spec(key_id))


@keys_cli.command("status")
def keys_status() -> None:
    """Count envelopes per key, and say whether each key is configured, primary, unused or missing."""
    from app.services import crypto, keys

    keyring = crypto.current_keyring()
    counts = keys.usage()
    problems = {p.key_id: p.message for p in keys.problems(keyring)}
    for key_id in keyring.key_ids + sorted(set(counts) - set(keyring.key_ids)):
        role = "primary" if key_id == keyring.primary.key_id else ("configured" if key_id in keyring else "MISSING")
        note = (
            f"  ← {problems[key_id]}"
            if key_id in problems
            else ("  (unused: can be removed)" if counts[key_id] == 0 and role == "configured" else "")
        )
        click.echo(f"{key_id:32} {role:10} {counts[key_id]:>8} envelopes{note}")
    remaining = keys.pending(keyring)
    click.echo(
        f"{remaining} envelopes are not yet under the primary key." if remaining else "Every envelope is under the primary key."
    )
    if problems:
        raise click.ClickException("Some keys are missing or wrong; credential notes sealed with them cannot be read.")


@keys_cli.command("rotate")
@click.option("--add-key", is_flag=True, help="Key file set-ups: first add a new primary key to the key file.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
def keys_rotate(add_key: bool, batch_size: int) -> None:
    """Re-encrypt every envelope under the primary key, one committed batch at a time (safe to re-run)."""
    from app.services import audit, crypto, keys

    source = crypto.current_key_source()
    if add_key:
        if source.writable_file is None:
            raise click.ClickException(
                "Keys come from HANDOVER_MASTER_KEYS: put a new key (flask keys generate) first in that variable on every "
                "server, keep the old ones after it, restart, then run `flask keys rotate` again."
            )
        new = crypto.generate_key_spec()
        crypto.write_key_file(source.writable_file, new + "\n" + source.writable_file.read_text())
        click.echo(f"Added primary key {new.split(':', 1)[0]} to {source.writable_file}.")
    keyring = source.get()
    # Refuse before touching anything when a key the data needs is missing or wrong: otherwise the
    # first envelope it cannot open would stop the run half-way (and a wrong key must never get
    # its check value recorded).
    if found := keys.problems(keyring):
        db.session.rollback()
        raise click.ClickException(
            "Nothing was re-encrypted: "
            + "; ".join(p.message for p in found)
            + ". Configure every key the data was sealed with (HANDOVER_MASTER_KEYS or the key file), then run this again."
        )
    keys.ensure_checks(keyring)
    total = keys.pending(keyring)
    actor = Actor.system("flask keys rotate")
    if total == 0:
        db.session.commit()
        click.echo(f"Every envelope is already under the primary key {keyring.primary.key_id}.")
        return
    audit.record_event(
        actor, "keys.rotate.start", "master_key", None, f"Started re-encrypting {total} envelopes under {keyring.primary.key_id}"
    )
    db.session.commit()
    done = 0
    with click.progressbar(length=total, label=f"Re-encrypting under {keyring.primary.key_id}") as bar:
        while True:
            try:
                count = keys.reencrypt_batch(keyring, batch_size)
                db.session.commit()  # each batch is its own transaction: an interruption loses at most one batch
            except Exception as error:  # any failure: undo the batch, say how to resume
                _stop_rotation(actor, keyring.primary.key_id, done, total, error)
            if count == 0:
                break
            done += count
            bar.update(count)
    audit.record_event(
        actor, "keys.rotate.finish", "master_key", None, f"Re-encrypted {done} envelopes under {keyring.primary.key_id}"
    )
    db.session.commit()
    click.echo(f"Re-encrypted {done} envelopes. Older keys can be removed once `flask keys status` shows 0 for them.")


def _stop_rotation(actor: Actor, primary: str, done: int, total: int, error: Exception) -> NoReturn:
    """Roll the failed batch back, record the stop if the database still answers, and exit 1 with
    what happened and how to continue (no traceback: the committed batches are safe)."""
    from app.services import audit

    try:
        db.session.rollback()
        audit.record_event(
            actor,
            "keys.rotate.stop",
            "master_key",
            None,
            f"Stopped after re-encrypting {done} of {total} envelopes under {primary}",
        )
        db.session.commit()
    except Exception:  # the database may be the thing that failed
        db.session.rollback()
    if isinstance(error, DomainError):
        cause = error.message
    else:
        cause = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"
    raise click.ClickException(
        f"Re-encryption stopped after {done} of {total} envelopes ({cause}). The batch in progress was rolled back, "
        "so every envelope is whole and readable with the configured keys. Fix the cause, then run `flask keys rotate` "
        "again: it continues where it stopped."
    ) from None


@keys_cli.command("drop")
@click.argument("key_id")
def keys_drop(key_id: str) -> None:
    """Remove an old key once no envelope uses it."""
    from app.services import audit, crypto, keys

    source = crypto.current_key_source()
    keyring = source.get()
    if key_id == keyring.primary.key_id:
        raise click.ClickException("That is the primary key; rotate to a new primary first (flask keys rotate --add-key).")
    in_use = keys.usage()[key_id]
    if in_use:
        raise click.ClickException(f"{in_use} envelopes still use {key_id}; run `flask keys rotate` first.")
    if key_id not in keyring and not keys.has_check(key_id):
        raise click.ClickException(f"No master key {key_id!r} is configured or recorded; nothing was removed.")
    keys.drop_check(key_id)
    audit.record_event(Actor.system("flask keys drop"), "keys.drop", "master_key", None, f"Removed master key {key_id}")
    if source.writable_file is not None and key_id in keyring:
        crypto.write_key_file(source.writable_file, _without_key(source.writable_file.read_text(), key_id))
        click.echo(f"Removed {key_id} from {source.writable_file}.")
    elif key_id in keyring:
        click.echo(f"No envelope uses {key_id}: remove it from HANDOVER_MASTER_KEYS on every server.")
    else:
        click.echo(f"Removed the check value of {key_id}.")
    db.session.commit()


def _without_key(text: str, key_id: str) -> str:
    """The key file's text without ``key_id``'s entries, wherever they sit (one per line, or
    several on a line separated by commas or spaces); comments and the other keys are kept."""
    lines = []
    for line in text.splitlines():
        body, hash_, comment = line.partition("#")
        entries = [e for e in re.split(r"[\s,]+", body.strip()) if e]
        kept = [e for e in entries if e.partition(":")[0] != key_id]
        if entries and not kept:
            continue  # the line held only that key (and perhaps its comment)
        if kept != entries:
            body = ", ".join(kept) + (" " if hash_ else "")
        lines.append(body + hash_ + comment)
    return "\n".join(lines) + "\n"


@reviews_cli.command("remind")
def reviews_remind() -> None:
    """Email each assignee one digest of their reviews due within 7 days or overdue (once a day)."""
    from flask import current_app

    from app.services import mail, reviews

    if not mail.enabled():
        raise click.ClickException(
            "Email is disabled: set HANDOVER_SMTP_HOST (and HANDOVER_SMTP_PORT, HANDOVER_SMTP_FROM…). "
            "Nothing was sent and no task was marked as reminded."
        )
    sent = reviews.send_reminders(Actor.system("flask reviews remind"), base_url=current_app.config.get("BASE_URL") or "")
    db.session.commit()  # the digests go out once the reminded_at stamps are committed
    if not sent:
        click.echo("No reminders are due; no email was sent.")
        return
    delivery = mail.last_delivery()
    click.echo(f"Sent {len(delivery.sent)} reminder email{'s' if len(delivery.sent) != 1 else ''}.")
    if delivery.failed:
        # Unstamp what did not go out, so the next run tries those people again.
        reviews.unmark_reminded([r for r in sent if any(r.message is m for m in delivery.failed)])
        db.session.commit()
        raise click.ClickException(
            f"{len(delivery.failed)} email(s) could not be sent (see the log): "
            + ", ".join(m.to for m in delivery.failed)
            + ". Check the SMTP settings, then run this again: those reminders are still due."
        )


@findings_cli.command("snapshot")
def findings_snapshot() -> None:
    """Count today's open findings for the dashboard's trend (run daily from cron; safe to re-run)."""
    from flask import current_app

    from app.services import findings

    snapshot = findings.record_snapshot(review_interval_days=current_app.config["REVIEW_INTERVAL_DAYS"])
    db.session.commit()
    severities = ", ".join(f"{snapshot.by_severity.get(s.value, 0)} {s.value}" for s in findings.Severity)
    click.echo(f"Recorded {snapshot.total} open findings for {snapshot.taken_on:%d %b %Y} ({severities}).")


@findings_cli.command("rebuild")
def findings_rebuild() -> None:
    """Rebuild the finding index from the whole registry (`flask handover tick` does it nightly)."""
    import time

    from flask import current_app

    from app.services import findings

    started = time.perf_counter()
    findings.rebuild(current_app.config["REVIEW_INTERVAL_DAYS"])
    db.session.commit()
    summary = findings.organisation_summary(current_app.config["REVIEW_INTERVAL_DAYS"])
    click.echo(
        f"The finding index holds {summary.total + summary.accepted:,} findings "
        f"({summary.accepted:,} accepted), rebuilt in {time.perf_counter() - started:.1f} s."
    )


@handover_cli.command("tick")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Run as of this day (YYYY-MM-DD).")
def handover_tick(today: datetime | None) -> None:
    """Make people whose last day has passed departed, deactivate their sign-ins, erase the
    personal details of people whose case closed long enough ago, and forget counted sign-in
    attempts older than a day (run daily from cron)."""
    from flask import current_app

    from app.services import findings, kept_counts, offboarding, throttle

    summary = offboarding.tick(
        today.date() if today else None,
        Actor.system("flask handover tick"),
        erase_after_days=current_app.config["ERASE_PERSONAL_AFTER_DAYS"],
    )
    # Counted sign-in attempts matter only within their window (minutes): a day keeps every one.
    throttle.prune(timedelta(days=1))
    # The day's kept-count rows (PostgreSQL: one per write) folded into one per table and status.
    kept_counts.compact()
    # A new day: overdue rotations, reviews and expired acceptances change the findings. Rebuilt in
    # full at night, not caught up as a page read would: every rule is checked against the whole
    # registry once a day.
    findings.rebuild(current_app.config["REVIEW_INTERVAL_DAYS"])
    db.session.commit()
    for line in summary.lines():
        click.echo(line)


@handover_cli.command("remind")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help="Run as of this day (YYYY-MM-DD).")
def handover_remind(today: datetime | None) -> None:
    """Email each assignee one digest of their open offboarding items, overdue first (run daily from cron)."""
    from flask import current_app

    from app.services import mail, offboarding_reminders

    if not mail.enabled():
        raise click.ClickException(
            "Email is disabled: set HANDOVER_SMTP_HOST (and HANDOVER_SMTP_PORT, HANDOVER_SMTP_FROM…). No reminder was sent."
        )
    digests = offboarding_reminders.send_reminders(
        Actor.system("flask handover remind"), today.date() if today else None, current_app.config.get("BASE_URL") or ""
    )
    db.session.commit()  # the digests go out once the commit succeeds
    if not digests:
        click.echo("Nobody has open offboarding items; no email was sent.")
        return
    delivery = mail.last_delivery()
    click.echo(f"Sent {len(delivery.sent)} offboarding reminder email{'s' if len(delivery.sent) != 1 else ''}.")
    if delivery.failed:
        raise click.ClickException(
            f"{len(delivery.failed)} email(s) could not be sent (see the log): "
            + ", ".join(m.to for m in delivery.failed)
            + ". Check the SMTP settings, then run this again."
        )


def _import_file(kind: str, path: str, dry_run: bool) -> None:
    """Check (and unless ``dry_run``, import) a CSV file, as the upload page does, with a progress bar."""
    from pathlib import Path

    from flask import current_app

    from app.services import csv_io

    limits = csv_io.Limits(max_bytes=current_app.config["IMPORT_MAX_BYTES"], max_rows=current_app.config["IMPORT_MAX_ROWS"])
    file = Path(path)
    with file.open("rb") as handle:
        data = handle.read(limits.max_bytes + 1)  # one byte over is enough to be refused
    actor = Actor.system(f"flask import {kind}")
    try:
        table = csv_io.read_table(kind, data, limits, name=file.name)
        label = f"{'Checking' if dry_run else 'Importing'} {len(table.rows)} rows of {file.name}"
        with click.progressbar(length=max(1, csv_io.progress_steps(table, not dry_run)), label=label) as bar:
            report = csv_io.run_import(actor, table, apply=not dry_run, progress=bar.update)
    except ValidationFailed as error:
        _fail(error)
        return
    for problem in report.problems:
        where = f"column {problem.column} ({problem.letter})" if problem.letter else (problem.column or "the whole row")
        click.echo(f"line {problem.line}, {where}: {problem.message}", err=True)
    if not report.ok:
        db.session.rollback()
        count = len(report.problems)
        raise click.ClickException(
            f"{count} problem{'s' if count != 1 else ''} in {file.name}: nothing was imported. Fix the file and run this again."
        )
    if dry_run:
        db.session.rollback()
        for row in report.rows:
            if row.fate is not csv_io.Fate.UNCHANGED:
                changes = "; ".join(f"{c.column}: {c.before or '(empty)'} → {c.after or '(empty)'}" for c in row.changes)
                click.echo(
                    f"line {row.line}: {row.fate.label.lower()} {row.key} {row.label}" + (f" ({changes})" if changes else "")
                )
        click.echo(f"Dry run of {file.name}: {report.summary()}. Nothing was written.")
        return
    db.session.commit()
    click.echo(f"Imported {file.name}: {report.summary()}.")


@import_cli.command("people")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; write nothing.")
def import_people(file: str, dry_run: bool) -> None:
    """Add and update people from a CSV FILE (the format of /imports/people); all or nothing."""
    _import_file("people", file, dry_run)


@import_cli.command("accounts")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; write nothing.")
def import_accounts(file: str, dry_run: bool) -> None:
    """Add and update accounts, their admins and recovery contacts, from a CSV FILE; all or nothing."""
    _import_file("accounts", file, dry_run)


def register_cli(app: Flask) -> None:
    for group in (
        users_cli,
        tokens_cli,
        demo_cli,
        audit_cli,
        keys_cli,
        platforms_cli,
        reviews_cli,
        findings_cli,
        handover_cli,
        import_cli,
        backup_cli,
    ):
        app.cli.add_command(group)


# --- Backups (flask backup create|verify|restore) ---------------------------------------------


@contextmanager
def _backup_errors() -> Iterator[None]:
    """A backup problem, or a database that cannot be reached, as a message (exit 1)."""
    import sqlalchemy as sa

    from app.services.backup import BackupError

    try:
        yield
    except BackupError as error:
        raise click.ClickException(error.message) from None
    except sa.exc.OperationalError as error:
        raise click.ClickException(f"Cannot use the configured database (HANDOVER_DATABASE_URL): {error.orig}") from None


@contextmanager
def _progress_bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    with click.progressbar(length=max(total, 1), label=label) as bar:
        yield bar.update


def _verification_lines(report: Any) -> None:
    for check in report.checks:
        click.echo(f"  {'ok' if check.ok else 'FAILED':7} {check.name}: {check.detail}")


@backup_cli.command("create")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_create(file: Path) -> None:
    """Write an encrypted backup of the database to FILE (a new file; safe while the server runs)."""
    from app.services import backup

    with _backup_errors():
        created = backup.create_backup(file, progress=_progress_bar)
    manifest = created.manifest
    if created.new_key_file is not None:
        click.echo(
            f"Made a backup key in {created.new_key_file} (development only). Keep a copy of it apart from the backups: "
            "without it they cannot be opened."
        )
    click.echo(
        f"Backed up the {manifest.kind_label} database to {created.path} ({created.file_bytes:,} bytes): "
        f"{len(manifest.row_counts)} tables, {manifest.total_rows:,} rows, audit chain at {manifest.head_label}, "
        f"revision {manifest.alembic_revision or 'none'}."
    )
    click.echo(
        f"The file is encrypted with the backup key {manifest.backup_key_id}. Credentials stay encrypted in it too; "
        f"the master keys are NOT in it (key ids needed: {', '.join(manifest.credential_key_ids) or 'none'}), nor is the "
        "backup key: keep both, apart from the backups and from each other, or this backup cannot be restored. "
        "Check the backup with `flask backup verify`."
    )


@backup_cli.command("key")
@click.option("--id", "key_id", default=None, help="Key id (lower-case letters, digits, dashes); default backup-<date>-<random>.")
def backup_key(key_id: str | None) -> None:
    """Print a new backup key as <id>:<key>, for HANDOVER_BACKUP_KEY (newest first; never a master key)."""
    from app.services import backup, crypto

    if key_id is not None and not crypto.KEY_ID.match(key_id):
        raise click.ClickException("A key id is 1-40 lower-case letters, digits and dashes, starting with a letter or digit.")
    click.echo(backup.generate_backup_key(key_id))


@backup_cli.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def backup_verify(file: Path) -> None:
    """Restore FILE into a scratch place and check it: checksum, integrity, counts, chain, secrets."""
    from app.services import backup

    with _backup_errors():
        report = backup.verify_backup(file, progress=_progress_bar)
    manifest = report.manifest
    click.echo(f"{file}: {manifest.kind_label} backup of {manifest.created_at} (format {manifest.format_version})")
    _verification_lines(report)
    if not report.ok:
        names = ", ".join(check.name for check in report.failed)
        raise click.ClickException(f"The backup failed verification ({names}): do not rely on it.")
    click.echo("The backup is good: `flask backup restore` can restore it.")


@backup_cli.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite a database that already holds data.")
def backup_restore(file: Path, force: bool) -> None:
    """Replace the configured database with FILE's copy, after verifying it. Stop the server first."""
    from app.services import backup

    with _backup_errors():
        restored = backup.restore_backup(file, force=force, progress=_progress_bar)
    _verification_lines(restored.verification)
    manifest = restored.verification.manifest
    replaced = f" It replaced {sum(restored.replaced.values()):,} rows." if restored.replaced else ""
    click.echo(
        f"Restored the backup of {manifest.created_at}: {sum(restored.row_counts.values()):,} rows in "
        f"{len(restored.row_counts)} tables, audit chain at {manifest.head_label}.{replaced}"
    )
    expected = backup.code_revision()
    if manifest.alembic_revision and expected and manifest.alembic_revision != expected:
        click.echo(f"The backup is at revision {manifest.alembic_revision}; run `flask db upgrade` before starting the server.")
