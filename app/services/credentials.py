"""Credential notes: create, reveal (logged, with a reason), rotate, undo a rotation, delete.

Secrets are sealed by ``app.services.crypto`` and never written anywhere in plaintext: not in
audit events (they record labels and reasons), not in logs, not in error messages. A reveal
writes its log row and audit event before the value is decrypted, in the caller's transaction:
if that write cannot commit, the door must not show the value.
"""

from __future__ import annotations

import enum
import functools
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models.account import Account
from app.models.base import utcnow
from app.models.credential import CredentialKind, CredentialNote, CredentialReveal, CredentialVersion
from app.models.finding import MustRotateNote
from app.models.person import Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile, ProfileCustodian
from app.models.user import Role
from app.services import audit, crypto, permissions
from app.services.context import Actor
from app.services.errors import DomainError, NotFound, StaleEdit, ValidationFailed
from app.services.pagination import Page, capped

TABLE = "credential_notes"
VERSION_TABLE = "credential_versions"
#: A note is "due" this many days before its rotation date.
DUE_WINDOW_DAYS = 30
MIN_REASON = 5
#: Roles that may never see a secret, whatever else they are (DESIGN.md).
NEVER_REVEAL = (Role.DIRECTOR, Role.HR)
#: Roles that keep the vault: create, reveal, rotate and delete any note.
KEEPERS = (Role.ADMIN, Role.IT)


class FreshSignInRequired(DomainError):
    """The last sign-in is too old for a reveal; the door asks for the password again."""

    status = 401

    def __init__(self, window_seconds: int = 300) -> None:
        minutes = max(1, window_seconds // 60)
        super().__init__(
            f"Confirm your password to reveal a secret: your last sign-in was more than {minutes} minute{'s' if minutes != 1 else ''} ago."
        )


class NoteState(enum.Enum):
    OK = "ok"
    DUE = "due"
    OVERDUE = "overdue"
    MUST_ROTATE = "must_rotate"

    @property
    def label(self) -> str:
        return {"ok": "OK", "due": "Due soon", "overdue": "Overdue", "must_rotate": "Must rotate"}[self.value]

    @property
    def rank(self) -> int:
        """Queue order: must-rotate first, then overdue, then due."""
        return {"must_rotate": 0, "overdue": 1, "due": 2, "ok": 3}[self.value]


@dataclass
class StateReport:
    state: NoteState
    #: Why, in words: "Dana Whitfield revealed it and has left".
    reasons: list[str]


@dataclass
class NoteData:
    label: str
    kind: CredentialKind
    rotation_days: int | None = None


# --- Helpers ------------------------------------------------------------------------------


def _aad(note: CredentialNote) -> bytes:
    return crypto.associated_data(TABLE, note.id, "secret")


def _version_aad(version: CredentialVersion) -> bytes:
    return crypto.associated_data(VERSION_TABLE, version.id, "secret")


#: A note's rotation interval when neither it nor a platform gives one.
DEFAULT_ROTATION_DAYS = 365


def interval_days(note: CredentialNote) -> int:
    if note.rotation_days:
        return note.rotation_days
    platform = note.account.platform if note.account is not None else note.profile.platform if note.profile else None
    return platform.rotation_days if platform is not None else DEFAULT_ROTATION_DAYS


def _due_after(rotated_at: datetime, days: int | None) -> datetime:
    """When a note rotated at ``rotated_at`` is due, ``days`` (or the default interval) later."""
    return rotated_at + timedelta(days=days or DEFAULT_ROTATION_DAYS)


def _restamp(note: CredentialNote) -> None:
    note.due_at = _due_after(note.rotated_at, interval_days(note))


#: The notes that follow their platform's interval (none of their own), with what ``_restamp``
#: reads: when each was rotated and the interval of the platform it keeps.
_FOLLOWING_THEIR_PLATFORM = (
    sa.select(CredentialNote.id, CredentialNote.rotated_at, CredentialNote.due_at, Platform.rotation_days)
    .outerjoin(Platform, CredentialNote.platform_id == Platform.id)
    .where(sa.func.coalesce(CredentialNote.rotation_days, 0) == 0)
)
_NEW_DUE_DATE = (
    sa.update(CredentialNote.__table__)
    .where(CredentialNote.__table__.c.id == sa.bindparam("note_id"))
    .values(due_at=sa.bindparam("new_due_at"))
)


def _notes_of(*, platform: Platform | None = None, account: Account | None = None, profile: Profile | None = None) -> Any:
    """The notes of a platform, of an account, or of a profile itself (not of its accounts)."""
    if platform is not None:
        return CredentialNote.platform_id == platform.id
    if account is not None:
        return CredentialNote.account_id == account.id
    assert profile is not None
    return sa.and_(CredentialNote.profile_id == profile.id, CredentialNote.account_id.is_(None))


def follow_platform(*, account: Account | None = None, profile: Profile | None = None) -> None:
    """An account, or a profile, moved to another platform: its notes (a profile's own, not those
    of its accounts) now belong to that platform, in the rotation queue's filter, and those without
    an interval of their own are due by its interval."""
    holder, notes = account if account is not None else profile, _notes_of(account=account, profile=profile)
    assert holder is not None
    db.session.execute(
        sa.update(CredentialNote)
        .where(notes)
        .values(platform_id=holder.platform_id)
        .execution_options(synchronize_session="fetch")
    )
    _restamp_due_dates(notes)


def restamp_due_dates(platform: Platform) -> int:
    """After the platform's interval changed: stamp again, as ``_restamp`` does, the due dates of
    its notes that follow it. Returns how many due dates moved."""
    return _restamp_due_dates(_notes_of(platform=platform))


def _restamp_due_dates(notes: Any) -> int:
    """The due dates of the ``notes`` that follow their platform's interval, stamped again.

    Read in one statement and written in one (a platform's 13,000 notes at 200,000 accounts), not
    note by note; the notes already loaded get their new dates, and their findings are refreshed
    with the transaction.
    """
    from app.services import findings

    moved = {
        note_id: new_due
        for note_id, rotated_at, due_at, days in db.session.execute(_FOLLOWING_THEIR_PLATFORM.where(notes))
        if (new_due := _due_after(rotated_at, days)) != due_at
    }
    if moved:
        db.session.execute(_NEW_DUE_DATE, [{"note_id": k, "new_due_at": v} for k, v in moved.items()])
        for obj in list(db.session.identity_map.values()):
            if isinstance(obj, CredentialNote) and obj.id in moved:
                set_committed_value(obj, "due_at", moved[obj.id])
        findings.mark_changed(notes=moved)
    return len(moved)


def _custodian_ids(note: CredentialNote) -> set[int]:
    return {link.person_id for link in note.profile.custodian_links} if note.profile is not None else set()


def can_reveal(actor: Actor, note: CredentialNote) -> bool:
    """IT and admin; a custodian for the notes of the profile they keep; director and hr never."""
    if actor.has_role(*NEVER_REVEAL):
        return False
    return actor.has_role(*KEEPERS) or (actor.person_id is not None and actor.person_id in _custodian_ids(note))


def can_manage(actor: Actor) -> bool:
    return actor.has_role(*KEEPERS)


def can_view(actor: Actor, note: CredentialNote) -> bool:
    """Seeing that a note exists, its state and its reveal log (never the value)."""
    if permissions.can_read_registry(actor) or can_reveal(actor, note):
        return True
    return note.account is not None and permissions.stewards(actor, note.account)


def _snapshot(note: CredentialNote) -> dict[str, object]:
    return {
        "label": note.label,
        "kind": note.kind.value,
        "holder": note.holder_label,
        "rotation_days": note.rotation_days,
        "rotated_at": audit.plain(note.rotated_at),
        "version": note.version,
    }


def get_note(actor: Actor, note_id: int) -> CredentialNote:
    """The note; NotFound also for a note the actor may not see (its existence is not told)."""
    note = db.session.get(CredentialNote, note_id)
    missing = NotFound(f"There is no credential note with id {note_id}; it may have been deleted.")
    if note is None:
        raise missing
    permissions.require_visible(can_view(actor, note), missing)
    return note


def _with_state() -> tuple[Any, ...]:
    """Loader options for what ``state_of`` reads of a note (its reveals and who made them, its
    profile's custodians), joined to the notes: one query for a page's notes, whatever their number."""
    return (
        joinedload(CredentialNote.reveals).joinedload(CredentialReveal.person),
        joinedload(CredentialNote.profile).joinedload(Profile.custodian_links).joinedload(ProfileCustodian.person),
    )


def notes_for_account(actor: Actor, account: Account) -> list[CredentialNote]:
    notes = list(
        db.session.scalars(
            sa.select(CredentialNote)
            .options(*_with_state())
            .where(CredentialNote.account_id == account.id)
            .order_by(CredentialNote.label)
        ).unique()
    )
    return [n for n in notes if can_view(actor, n)]


def notes_for_profile(actor: Actor, profile: Profile) -> list[CredentialNote]:
    notes = list(
        db.session.scalars(
            sa.select(CredentialNote)
            .options(*_with_state())
            .where(CredentialNote.profile_id == profile.id)
            .order_by(CredentialNote.label)
        ).unique()
    )
    return [n for n in notes if can_view(actor, n)]


def _validate(data: NoteData) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not data.label.strip():
        errors["label"] = ["Give the note a label, e.g. “Registrar login”."]
    if data.rotation_days is not None and not 1 <= data.rotation_days <= 3650:
        errors["rotation_days"] = [
            "Rotate at least every 10 years (3650 days) and at most daily, or leave it empty for the platform default."
        ]
    return errors


# --- Create, edit, delete -----------------------------------------------------------------


def create_note(
    actor: Actor,
    data: NoteData,
    secret: str,
    *,
    account: Account | None = None,
    profile: Profile | None = None,
) -> CredentialNote:
    """A new note on an account, or on a persona / shared-login profile, sealed under the primary key.

    Raises PermissionDenied (only IT and admins) or ValidationFailed.
    """
    permissions.require(can_manage(actor), "Only IT and admins add credential notes.")
    errors = _validate(data)
    if (account is None) == (profile is None):
        errors.setdefault("holder", []).append("A note belongs to one account or one profile.")
    if profile is not None and not profile.kind.has_custodians:
        errors.setdefault("holder", []).append(
            "Only persona and shared-login profiles carry credential notes: a personal profile's password belongs to its holder."
        )
    if not secret:
        errors["secret"] = ["Type the secret to keep."]
    if errors:
        raise ValidationFailed("The credential note was not added; nothing was saved.", errors)
    now = utcnow()
    note = CredentialNote(
        account=account,
        profile=profile,
        platform_id=account.platform_id if account is not None else profile.platform_id if profile is not None else None,
        label=data.label.strip(),
        kind=data.kind,
        rotation_days=data.rotation_days,
        rotated_at=now,
        due_at=now,
        secret="",
        key_id="",
    )
    db.session.add(note)
    db.session.flush()  # the id is part of the associated data
    keyring = crypto.current_keyring()
    note.secret = keyring.seal(secret, _aad(note))
    note.key_id = keyring.primary.key_id
    _restamp(note)
    db.session.flush()
    audit.record_event(
        actor,
        "credential.create",
        "credential",
        note.id,
        f"Added credential note “{note.label}” on {note.holder_label}",
        None,
        _snapshot(note),
    )
    return note


def update_note(actor: Actor, note: CredentialNote, data: NoteData, expected_version: int) -> CredentialNote:
    """Change label, kind or rotation interval (not the secret: that is a rotation)."""
    permissions.require(can_manage(actor), "Only IT and admins edit credential notes.")
    if note.version != expected_version:
        raise StaleEdit(f"The note “{note.label}”", audit.changes_since("credential", note.id, expected_version))
    if errors := _validate(data):
        raise ValidationFailed("Some fields need attention; nothing was saved.", errors)
    before = _snapshot(note)
    note.label, note.kind, note.rotation_days = data.label.strip(), data.kind, data.rotation_days
    _restamp(note)
    db.session.flush()
    audit.record_event(
        actor, "credential.update", "credential", note.id, f"Edited credential note “{note.label}”", before, _snapshot(note)
    )
    return note


def delete_note(actor: Actor, note: CredentialNote, reason: str) -> None:
    """Delete a note with its versions and reveal log (the audit trail keeps that it existed and was deleted)."""
    permissions.require(can_manage(actor), "Only IT and admins delete credential notes.")
    if len(reason.strip()) < MIN_REASON:
        raise ValidationFailed("Say why the note is deleted.", {"reason": ["Say why the note is deleted."]})
    before = _snapshot(note)
    db.session.delete(note)
    db.session.flush()
    audit.record_event(
        actor,
        "credential.delete",
        "credential",
        before and note.id,
        f"Deleted credential note “{before['label']}”: {reason.strip()}",
        before,
        None,
    )


# --- Reveal -------------------------------------------------------------------------------


def reveal_note(actor: Actor, note: CredentialNote, reason: str, *, fresh_sign_in: bool, fresh_window_seconds: int = 300) -> str:
    """Log the reveal (who, when, why, from where), then return the plaintext.

    Raises PermissionDenied, ValidationFailed (no reason), FreshSignInRequired, or
    UndecryptableSecret. The caller commits before showing the value.
    """
    permissions.require(can_reveal(actor, note), "Your role cannot reveal secrets.")
    if len(reason.strip()) < MIN_REASON:
        raise ValidationFailed(
            "Say why you need the secret.", {"reason": ["Say why you need the secret (at least a few words)."]}
        )
    if not fresh_sign_in:
        raise FreshSignInRequired(fresh_window_seconds)
    _log_reveal(actor, note, reason.strip())
    return crypto.current_keyring().open(note.secret, _aad(note))


def _log_reveal(actor: Actor, note: CredentialNote, reason: str) -> None:
    db.session.add(
        CredentialReveal(
            note=note,
            user_id=actor.user_id,
            person_id=actor.person_id,
            actor_name=actor.name,
            reason=reason,
            remote_addr=actor.remote_addr,
            revealed_at=utcnow(),
        )
    )
    db.session.flush()
    audit.record_event(
        actor, "credential.reveal", "credential", note.id, f"Revealed “{note.label}”: {reason}", None, {"reason": reason}
    )


# --- Rotation -----------------------------------------------------------------------------


PASSWORD_CLASSES = {
    "lower": string.ascii_lowercase,
    "upper": string.ascii_uppercase,
    "digits": string.digits,
    "symbols": "!#$%&()*+,-./:;<=>?@[]^_{|}~",
}


def generate_password(length: int = 24, classes: tuple[str, ...] = ("lower", "upper", "digits", "symbols")) -> str:
    """A random password from the chosen character classes, with at least one of each (secrets module)."""
    if not 12 <= length <= 128:
        raise ValidationFailed("Choose a length from 12 to 128.", {"length": ["Choose a length from 12 to 128."]})
    unknown = [c for c in classes if c not in PASSWORD_CLASSES]
    if unknown:
        message = f"Unknown kind of character: {', '.join(map(str, unknown))} (choose from {', '.join(PASSWORD_CLASSES)})."
        raise ValidationFailed(message, {"classes": [message]})
    pools = [PASSWORD_CLASSES[c] for c in dict.fromkeys(classes)]
    if not pools:
        raise ValidationFailed("Choose at least one kind of character.", {"classes": ["Choose at least one kind of character."]})
    alphabet = "".join(pools)
    chars = [secrets.choice(pool) for pool in pools] + [secrets.choice(alphabet) for _ in range(length - len(pools))]
    # Fisher-Yates with the system's CSPRNG so the guaranteed characters are not always first.
    for i in range(len(chars) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


def rotate_note(
    actor: Actor, note: CredentialNote, new_secret: str, reason: str, *, shown_to_actor: bool = False, retention_days: int = 30
) -> CredentialNote:
    """Replace the secret; the previous value is kept encrypted and read-only for ``retention_days``.

    ``shown_to_actor`` (a generated value displayed once) also logs a reveal, because the rotator
    now knows the new value. Raises PermissionDenied or ValidationFailed.
    """
    permissions.require(can_reveal(actor, note), "Your role cannot rotate secrets.")
    errors: dict[str, list[str]] = {}
    if not new_secret.strip():
        errors["new_secret"] = ["Type the new value, or generate one."]
    if len(reason.strip()) < MIN_REASON:
        errors["reason"] = ["Say why it is rotated, e.g. “Dana Whitfield left”."]
    if errors:
        raise ValidationFailed("The secret was not rotated; nothing was saved.", errors)
    keyring = crypto.current_keyring()
    try:
        current: str | None = keyring.open(note.secret, _aad(note))
    except crypto.UndecryptableSecret:
        # The old value is lost (altered, or its key is gone): replacing it is exactly what is
        # needed, but there is nothing readable to keep for undo.
        current = None
    if current == new_secret:
        raise ValidationFailed(
            "The secret was not rotated; nothing was saved.", {"new_secret": ["The new value is the same as the current one."]}
        )
    now = utcnow()
    if current is not None:
        old = CredentialVersion(
            note=note,
            secret="",
            key_id="",
            replaced_at=now,
            replaced_by=actor.name,
            expires_at=now + timedelta(days=retention_days),
        )
        db.session.add(old)
        db.session.flush()
        old.secret = keyring.seal(current, _version_aad(old))
        old.key_id = keyring.primary.key_id
    else:
        reason = f"{reason.strip()} (the previous value could not be decrypted and was not kept)"
    before = _snapshot(note)
    note.secret = keyring.seal(new_secret, _aad(note))
    note.key_id = keyring.primary.key_id
    note.rotated_at = now
    _restamp(note)
    db.session.flush()
    audit.record_event(
        actor, "credential.rotate", "credential", note.id, f"Rotated “{note.label}”: {reason.strip()}", before, _snapshot(note)
    )
    if shown_to_actor:
        _log_reveal(actor, note, f"generated at rotation ({reason.strip()})")
    return note


def restore_version(actor: Actor, note: CredentialNote, version_id: int, reason: str, retention_days: int = 30) -> CredentialNote:
    """Undo a rotation: the kept value becomes current again (and the current one is kept in its place)."""
    permissions.require(can_reveal(actor, note), "Your role cannot rotate secrets.")
    version = next((v for v in note.versions if v.id == version_id), None)
    if version is None:
        raise NotFound("That earlier value is no longer kept; it may have expired.")
    if version.expires_at < utcnow():
        raise ValidationFailed("That earlier value has expired and can no longer be restored.")
    # The reason is checked on its own: the wording added below would otherwise always pass.
    if len(reason.strip()) < MIN_REASON:
        raise ValidationFailed(
            "The earlier value was not restored; nothing was saved.",
            {"reason": ["Say why the earlier value is restored, e.g. “the new password was refused”."]},
        )
    keyring = crypto.current_keyring()
    value = keyring.open(version.secret, _version_aad(version))
    if keyring.open(note.secret, _aad(note)) == value:
        raise ValidationFailed(
            "The earlier value was not restored; nothing was saved.",
            {"version": ["That earlier value is the current value already."]},
        )
    # Rotate first (the current value becomes a kept version), then drop the restored one: a
    # refusal above leaves every kept value where it was.
    rotate_note(
        actor,
        note,
        value,
        f"restored the value replaced on {version.replaced_at:%Y-%m-%d}: {reason.strip()}",
        retention_days=retention_days,
    )
    note.versions.remove(version)
    db.session.flush()
    return note


def purge_expired_versions(now: datetime | None = None) -> int:
    """Delete kept values past their retention; returns how many."""
    stmt = sa.delete(CredentialVersion).where(CredentialVersion.expires_at < (now or utcnow()))
    return db.session.execute(stmt).rowcount or 0


# --- State and the rotation queue ---------------------------------------------------------


def _left(person: Person) -> bool:
    return person.status in (PersonStatus.LEAVING, PersonStatus.DEPARTED)


def _left_after(person: Person, moment: datetime) -> bool:
    """Whether the person's leaving is not yet behind ``moment`` (a rotation).

    Leaving: always (they still keep the profile and can read a new value). Departed: when they
    left on or after that day, unless their record already said so at ``moment`` (nothing about
    them changed since): a rotation done after the departure was recorded clears it, even on the
    day they left; a rotation that same morning, before HR recorded the departure, does not.
    """
    if person.status is PersonStatus.LEAVING:
        return True
    if person.left_on is None:
        return True
    if person.left_on < moment.date():
        return False
    return person.updated_at is None or person.updated_at > moment


def state_of(note: CredentialNote, now: datetime | None = None) -> StateReport:
    """ok / due / overdue / must rotate, with the reasons in words.

    Must rotate: someone who revealed the current value, or keeps the profile it belongs to, is
    leaving or has left, and it has not been rotated since they left.
    """
    now = now or utcnow()
    reasons: list[str] = []
    for reveal in note.reveals:
        if reveal.person is not None and _left(reveal.person) and reveal.revealed_at >= note.rotated_at:
            who = f"{reveal.person.name} ({reveal.person.status.value})"
            text = f"{who} revealed it on {reveal.revealed_at:%d %b %Y}"
            if text not in reasons:
                reasons.append(text)
    if note.profile is not None:
        for link in note.profile.custodian_links:
            if _left(link.person) and _left_after(link.person, note.rotated_at):
                reasons.append(f"{link.person.name} ({link.person.status.value}) keeps this profile")
    if reasons:
        return StateReport(NoteState.MUST_ROTATE, reasons)
    if note.due_at <= now:
        return StateReport(NoteState.OVERDUE, [f"last rotated {note.rotated_at:%d %b %Y}; due every {interval_days(note)} days"])
    if note.due_at <= now + timedelta(days=DUE_WINDOW_DAYS):
        return StateReport(NoteState.DUE, [f"due on {note.due_at:%d %b %Y}"])
    return StateReport(NoteState.OK, [])


#: What a note is shown with in the queue and the findings: its account's platform and department,
#: its profile's platform. Of a platform, its name and the rotation interval a note falls back on
#: (not its role names, decoded from JSON for every note).
_NOTE_PLACE = (
    joinedload(CredentialNote.account).joinedload(Account.platform).load_only(Platform.name, Platform.rotation_days),
    joinedload(CredentialNote.account).joinedload(Account.department),
    joinedload(CredentialNote.profile).joinedload(Profile.platform).load_only(Platform.name, Platform.rotation_days),
)


@functools.cache
def _queue_candidates(scoped: bool) -> sa.Select:
    """Notes that could be in the queue: due within the window (parameter ``soon``), or touched
    by someone who left; ``scoped``: only the notes of the accounts ``accounts`` and the notes
    ``notes`` (parameters). Built once, with what states_for_findings reads joined."""
    leaver = sa.select(Person.id).where(Person.status.in_([PersonStatus.LEAVING, PersonStatus.DEPARTED]))
    revealed_by_leaver = (
        sa.select(CredentialReveal.id)
        .where(
            CredentialReveal.note_id == CredentialNote.id,
            CredentialReveal.person_id.in_(leaver),
            CredentialReveal.revealed_at >= CredentialNote.rotated_at,
        )
        .exists()
    )
    kept_by_leaver = (
        sa.select(ProfileCustodian.id)
        .where(ProfileCustodian.profile_id == CredentialNote.profile_id, ProfileCustodian.person_id.in_(leaver))
        .exists()
    )
    stmt = sa.select(CredentialNote).where(
        sa.or_(CredentialNote.due_at <= sa.bindparam("soon"), revealed_by_leaver, kept_by_leaver)
    )
    if scoped:
        stmt = stmt.where(
            sa.or_(
                CredentialNote.account_id.in_(sa.bindparam("accounts", expanding=True)),
                CredentialNote.id.in_(sa.bindparam("notes", expanding=True)),
            )
        )
    return stmt.options(*_NOTE_PLACE, joinedload(CredentialNote.account).joinedload(Account.steward))


#: The rotation queue counts its notes up to this many ("more than 1,000" beyond).
QUEUE_COUNT_LIMIT = 1_000


def _queue_filters(stmt: sa.Select, department: bool, platform: bool) -> sa.Select:
    """Narrow a select over notes to a department (its account's; parameter ``department``) and a
    platform (its account's or its profile's, kept on the note; parameter ``platform``)."""
    if department:
        stmt = stmt.where(
            CredentialNote.account_id.in_(sa.select(Account.id).where(Account.department_id == sa.bindparam("department")))
        )
    if platform:
        # Kept on the note: the platform's notes read in due order from (platform, due date).
        stmt = stmt.where(CredentialNote.platform_id == sa.bindparam("platform"))
    return stmt


@functools.cache
def _queue_statements(department: bool, platform: bool) -> tuple[list[tuple[sa.Select, sa.Select]], sa.Select]:
    """The queue's statements for one combination of filters, built once (building them cost more
    than running them): for each part, its capped count and its page; then the notes' load. The
    must-rotate notes are the ones kept with the finding index (MustRotateNote), read in due order
    from its index.

    Parameters: now, soon, department, platform, cap (each part's count limit), and per part
    ``offset_N`` and ``limit_N``; ``ids`` for the load.
    """
    must = sa.select(MustRotateNote.note_id).where(MustRotateNote.note_id == CredentialNote.id).exists()
    now, soon = sa.bindparam("now"), sa.bindparam("soon")
    # The kept notes alone, each checked against the filters by its key: read from the kept table's
    # due-order index, never by walking the notes (a planner may prefer that when it knows how many
    # notes there are but not how few must rotate: 20 ms instead of 0.1 at 200,000 notes).
    kept = sa.select(MustRotateNote.note_id)
    if department or platform:
        note = sa.select(CredentialNote.id).where(CredentialNote.id == MustRotateNote.note_id)
        kept = kept.where(_queue_filters(note, department, platform).exists())
    segments = [
        (kept, (MustRotateNote.due_at, MustRotateNote.note_id)),
        (
            _queue_filters(sa.select(CredentialNote.id).where(CredentialNote.due_at <= now, ~must), department, platform),
            (CredentialNote.due_at, CredentialNote.id),
        ),
        (
            _queue_filters(
                sa.select(CredentialNote.id).where(CredentialNote.due_at > now, CredentialNote.due_at <= soon, ~must),
                department,
                platform,
            ),
            (CredentialNote.due_at, CredentialNote.id),
        ),
    ]
    parts = []
    for n, (ids, order) in enumerate(segments):
        count = sa.select(sa.func.count()).select_from(ids.limit(sa.bindparam("cap")).subquery())
        page = ids.order_by(*order).offset(sa.bindparam(f"offset_{n}")).limit(sa.bindparam(f"limit_{n}"))
        parts.append((count, page))
    load = sa.select(CredentialNote).where(CredentialNote.id.in_(sa.bindparam("ids", expanding=True))).options(*_NOTE_PLACE)
    return parts, load


def rotation_queue(
    actor: Actor,
    department_id: int | None = None,
    platform_id: int | None = None,
    page: int = 1,
    per_page: int = 25,
    now: datetime | None = None,
) -> Page[tuple[CredentialNote, StateReport]]:
    """One page of the notes needing rotation: must rotate first, then overdue, then due within
    the window, each by due date; filterable by department and platform.

    The same statements whatever the registry's size: the must-rotate notes are kept with the
    finding index, the others read in due-date order from its index, and only the page's notes
    are loaded with what their state needs. The total is exact up to QUEUE_COUNT_LIMIT (and the
    page asked for), then "more than".
    """
    from app.services import findings

    permissions.require(actor.has_role(*KEEPERS), "The rotation queue is for IT.")
    findings.ensure_current(findings.configured_interval())
    now, page = now or utcnow(), max(1, page)
    soon = now + timedelta(days=DUE_WINDOW_DAYS)
    parts, load = _queue_statements(bool(department_id), bool(platform_id))
    # Each part counted only as far as this page needs, and at least QUEUE_COUNT_LIMIT: past that
    # the total reads "more than", and a page deep in the queue costs its depth, never the registry.
    end = page * per_page
    cap = max(QUEUE_COUNT_LIMIT, end + per_page)
    params: dict[str, Any] = {"now": now, "soon": soon, "department": department_id, "platform": platform_id, "cap": cap + 1}
    sizes, more = zip(*(capped(db.session.scalar(count, params) or 0, cap) for count, _ in parts), strict=True)
    total, total_capped = min(sum(sizes), cap), any(more) or sum(sizes) > cap
    if not total_capped:
        page = min(max(1, page), max(1, -(-total // per_page)))
    # Each part gives the rows of the page that fall in it (always three statements).
    start, end, seen = (page - 1) * per_page, page * per_page, 0
    for n, size in enumerate(sizes):
        params[f"offset_{n}"] = max(0, start - seen)
        params[f"limit_{n}"] = max(0, min(end, seen + size) - max(start, seen))
        seen += size
    ids: list[int] = []
    for _, page_of_part in parts:
        ids += db.session.scalars(page_of_part, params)
    loaded = list(db.session.scalars(load, {"ids": ids}).unique())
    _load_people_of(loaded)
    notes = {n.id: n for n in loaded}
    rows = [(notes[i], state_of(notes[i], now)) for i in ids]
    return Page(items=rows, total=total, page=page, per_page=per_page, total_capped=total_capped)


def leavers_of(note: CredentialNote) -> list[Person]:
    """The people who make the note must-rotate (revealed the current value, or keep its profile, and left)."""
    people: list[Person] = []
    for reveal in note.reveals:
        if (
            reveal.person is not None
            and _left(reveal.person)
            and reveal.revealed_at >= note.rotated_at
            and reveal.person not in people
        ):
            people.append(reveal.person)
    if note.profile is not None:
        for link in note.profile.custodian_links:
            if _left(link.person) and _left_after(link.person, note.rotated_at) and link.person not in people:
                people.append(link.person)
    return people


@functools.cache
def _with_person_statement(model: Any, key: str) -> sa.Select:
    """Built once: built on every call, the statement took longer to make (its cache key, its
    loader options) than the database took to answer it."""
    ids = sa.bindparam("ids", expanding=True)
    return sa.select(model).options(joinedload(model.person)).where(getattr(model, key).in_(ids)).order_by(model.id)


def _with_person(model: Any, key: str, ids: list[int]) -> dict[int, list[Any]]:
    """The rows of ``model`` whose column ``key`` is one of ``ids``, their person joined, by key
    (every id present, in id order)."""
    grouped: dict[int, list[Any]] = {i: [] for i in ids}
    for row in db.session.scalars(_with_person_statement(model, key), {"ids": sorted(ids)}):
        grouped[getattr(row, key)].append(row)
    return grouped


def _load_people_of(notes: list[CredentialNote]) -> None:
    """What ``state_of`` reads beyond the note: its reveals and its profile's custodians, each with
    the person, in one query each, always issued (so the count never depends on the rows; not
    selectinload, which sends one IN list per 500 parents and none for no parent)."""
    reveals = _with_person(CredentialReveal, "note_id", [n.id for n in notes])
    profiles = {n.profile.id: n.profile for n in notes if n.profile is not None}
    links = _with_person(ProfileCustodian, "profile_id", list(profiles))
    for note in notes:
        set_committed_value(note, "reveals", reveals[note.id])
    for pid, profile in profiles.items():
        set_committed_value(profile, "custodian_links", links[pid])


def states_for_findings(
    scope: tuple[frozenset[int], frozenset[int]] | None = None,
) -> list[tuple[CredentialNote, StateReport, tuple[Any, ...] | None]]:
    """Every note that is due, overdue or must rotate, with its state and its account's finding row.

    A fixed number of queries whatever the number of notes: one for the notes joined to what they
    belong to, one for their reveals and one for their profiles' custodians. (Not selectinload: it
    sends one IN list per 500 parents, so the count would grow with the registry.)
    The row is (account id, name, platform id, name, department id, name, steward id, name), or
    None for a note on a profile. Notes of retired accounts are left out. ``scope`` (account ids,
    note ids) narrows it to the notes of those accounts and those notes.
    """
    params: dict[str, Any] = {"soon": utcnow() + timedelta(days=DUE_WINDOW_DAYS)}
    if scope is not None:
        params["accounts"], params["notes"] = sorted(scope[0]), sorted(scope[1])
    notes = list(db.session.scalars(_queue_candidates(scope is not None), params).unique())
    _load_people_of(notes)
    rows: list[tuple[CredentialNote, StateReport, tuple[Any, ...] | None]] = []
    for note in notes:
        account = note.account
        if account is not None and account.is_retired:
            continue
        row = None
        if account is not None:
            row = (
                account.id,
                account.name,
                account.platform_id,
                account.platform.name,
                account.department_id,
                account.department.name if account.department else None,
                account.steward_id,
                account.steward.name if account.steward else None,
            )
        rows.append((note, state_of(note), row))
    return rows
