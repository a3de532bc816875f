"""The envelope that keeps credential notes (SR-20, SR-22): AES-256-GCM, a fresh nonce per seal,
bound to its table, row and column; every mismatch is a controlled UndecryptableSecret that never
echoes a secret; master keys are parsed strictly, never printed, and only created where allowed."""

from __future__ import annotations

import base64
import os
import stat
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from app import create_app
from app.extensions import db
from app.models import Role
from app.models.credential import CredentialKind, CredentialNote, CredentialVersion
from app.services import credentials, crypto
from app.services.context import Actor
from app.services.crypto import (
    KeyConfigError,
    Keyring,
    KeyringSource,
    MasterKey,
    UndecryptableSecret,
    associated_data,
    generate_key_spec,
    load_keyring,
)
from config import ConfigError
from tests import factories

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))
RING = Keyring([MasterKey("key-a", KEY_A), MasterKey("key-b", KEY_B)])
AAD = associated_data("credential_notes", 7, "secret")
SECRET = "correct horse battery staple"
IT = Actor(user_id=None, name="Ida IT", role=Role.IT)
B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# Hypothesis keeps its cache outside the repository: a .hypothesis folder in the project root
# trips pytest's collection warning (an error under this project's filterwarnings).
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "handover-hypothesis"))


def _spec(key_id: str, key: bytes) -> str:
    return f"{key_id}:{base64.urlsafe_b64encode(key).decode().rstrip('=')}"


def _body(envelope: str) -> bytes:
    body = envelope.split(":", 2)[2]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def _with_body(envelope: str, raw: bytes) -> str:
    prefix, key_id, _ = envelope.split(":", 2)
    return f"{prefix}:{key_id}:{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"


def _refused(envelope: str, aad: bytes = AAD, ring: Keyring = RING) -> UndecryptableSecret:
    with pytest.raises(UndecryptableSecret) as refused:
        ring.open(envelope, aad)
    return refused.value


# --- Round trip and format ----------------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    [
        SECRET,
        "",
        "pässwörd-ünïcödé ✓ 🔑🗝️ 密码 пароль كلمة‎ a\u0301",
        "line one\nline two\ttabbed\r\n\x00nul",
        "x" * 100_000,
        "🔐" * 20_000,
    ],
    ids=["ascii", "empty", "unicode", "control-characters", "100k-ascii", "20k-emoji"],
)
def test_seal_then_open_returns_the_same_text(plaintext: str) -> None:
    envelope = RING.seal(plaintext, AAD)
    assert RING.open(envelope, AAD) == plaintext


def test_an_envelope_is_versioned_names_its_key_and_hides_the_plaintext() -> None:
    envelope = RING.seal(SECRET, AAD)
    prefix, key_id, body = envelope.split(":", 2)
    assert (prefix, key_id) == ("hv1", "key-a")  # the primary (first) key
    assert crypto.key_id_of(envelope) == "key-a"
    raw = _body(envelope)
    assert len(raw) == crypto.NONCE_BYTES + len(SECRET.encode()) + 16  # nonce ‖ ciphertext ‖ GCM tag
    assert SECRET not in envelope and SECRET.encode() not in raw
    assert set(body) <= set(B64_ALPHABET)  # url-safe, no padding, fits a text column


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=300), st.integers(min_value=0, max_value=2**40))
def test_any_text_survives_the_round_trip(plaintext: str, row_id: int) -> None:
    aad = associated_data("credential_notes", row_id, "secret")
    assert RING.open(RING.seal(plaintext, aad), aad) == plaintext


def test_every_envelope_is_different_for_the_same_plaintext() -> None:
    envelopes = [RING.seal(SECRET, AAD) for _ in range(10_000)]
    assert len(set(envelopes)) == 10_000
    nonces = {_body(e)[: crypto.NONCE_BYTES] for e in envelopes}
    assert len(nonces) == 10_000, "a nonce was reused"
    assert all(RING.open(e, AAD) == SECRET for e in envelopes[:50])


def test_a_named_key_seals_under_that_key_and_any_configured_key_opens() -> None:
    envelope = RING.seal_with("key-b", SECRET, AAD)
    assert crypto.key_id_of(envelope) == "key-b"
    assert RING.open(envelope, AAD) == SECRET
    # Reseal moves it to the primary without changing the plaintext.
    moved = RING.reseal(envelope, AAD)
    assert crypto.key_id_of(moved) == "key-a" and RING.open(moved, AAD) == SECRET


# --- Bound to its place -------------------------------------------------------------------


def test_an_envelope_copied_to_another_row_does_not_open() -> None:
    envelope_a = RING.seal("secret of note A", associated_data("credential_notes", 1, "secret"))
    error = _refused(envelope_a, associated_data("credential_notes", 2, "secret"))
    assert "does not belong to this record" in error.message
    assert "Nothing was shown" in error.message
    assert "secret of note A" not in str(error) and "secret of note A" not in repr(error)


@pytest.mark.parametrize(
    "place",
    [
        ("credential_versions", 1, "secret"),  # same id, another table
        ("credential_notes", 1, "check"),  # same row, another column
        ("credential_notes", 11, "secret"),  # an id that shares a prefix
        ("credential_note", 1, "secret"),
    ],
)
def test_an_envelope_moved_to_another_table_or_column_does_not_open(place: tuple[str, int, str]) -> None:
    envelope = RING.seal("secret of note 1", associated_data("credential_notes", 1, "secret"))
    error = _refused(envelope, associated_data(*place))
    assert "secret of note 1" not in error.message


def _two_notes() -> tuple[CredentialNote, CredentialNote]:
    account = factories.make_account()
    data = credentials.NoteData(label="Login", kind=CredentialKind.PASSWORD)
    a = credentials.create_note(IT, data, "plaintext-of-note-A", account=account)
    b = credentials.create_note(IT, data, "plaintext-of-note-B", account=account)
    db.session.commit()
    return a, b


def test_a_secret_copied_onto_another_note_in_the_database_is_refused(app: Flask) -> None:
    a, b = _two_notes()
    db.session.execute(sa.update(CredentialNote).where(CredentialNote.id == b.id).values(secret=a.secret))
    db.session.commit()
    db.session.expire_all()
    with pytest.raises(UndecryptableSecret) as refused:
        credentials.reveal_note(IT, b, "checking the registrar login", fresh_sign_in=True)
    db.session.rollback()
    message = refused.value.message
    assert "does not belong to this record" in message and "flask keys status" in message
    assert "plaintext-of-note-A" not in message and "plaintext-of-note-B" not in message
    # Note A itself still opens: the copy harmed nothing.
    assert credentials.reveal_note(IT, db.session.get(CredentialNote, a.id), "checking it again", fresh_sign_in=True) == (
        "plaintext-of-note-A"
    )


def test_a_kept_version_used_as_a_note_is_refused(app: Flask) -> None:
    a, _ = _two_notes()
    credentials.rotate_note(IT, a, "plaintext-of-note-A-2", "routine rotation")
    db.session.commit()
    [version] = db.session.scalars(sa.select(CredentialVersion)).all()
    keyring = crypto.current_keyring()
    # The version opens in its own place ...
    assert keyring.open(version.secret, associated_data("credential_versions", version.id, "secret")) == "plaintext-of-note-A"
    # ... and nowhere else, not even as the note it came from or a note with the same id.
    for place in (("credential_notes", a.id, "secret"), ("credential_notes", version.id, "secret")):
        with pytest.raises(UndecryptableSecret):
            keyring.open(version.secret, associated_data(*place))
    db.session.execute(sa.update(CredentialNote).where(CredentialNote.id == a.id).values(secret=version.secret))
    db.session.commit()
    db.session.expire_all()
    with pytest.raises(UndecryptableSecret):
        credentials.reveal_note(IT, db.session.get(CredentialNote, a.id), "checking the value", fresh_sign_in=True)
    db.session.rollback()


# --- Altered or damaged envelopes ---------------------------------------------------------


def test_flipping_any_bit_of_the_body_is_detected() -> None:
    envelope = RING.seal("short secret", AAD)
    raw = _body(envelope)
    for position in range(len(raw)):
        for mask in (0x01, 0x80):
            altered = bytearray(raw)
            altered[position] ^= mask
            error = _refused(_with_body(envelope, bytes(altered)))
            assert "short secret" not in error.message


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plaintext=st.text(max_size=40),
    nonce=st.binary(min_size=crypto.NONCE_BYTES, max_size=crypto.NONCE_BYTES),
    position=st.integers(min_value=0),
    replacement=st.sampled_from(B64_ALPHABET + "=+/!:. \n\x00é"),
)
def test_changing_any_character_of_the_stored_text_is_detected(
    plaintext: str, nonce: bytes, position: int, replacement: str
) -> None:
    """Any single-character change of the envelope text, including ones that base64 would forgive
    (the spare low bits of the last character, or a character outside the alphabet)."""
    plaintext = f"⟦{plaintext}⟧"  # marked, so a leak into the message cannot hide in its wording
    with mock.patch.object(crypto.os, "urandom", lambda n: nonce):
        envelope = RING.seal(plaintext, AAD)
    position %= len(envelope)
    if replacement == envelope[position]:
        replacement = "B" if replacement == "A" else "A"
    altered = envelope[:position] + replacement + envelope[position + 1 :]
    with pytest.raises(UndecryptableSecret) as refused:
        RING.open(altered, AAD)
    assert plaintext not in refused.value.message


def test_every_last_character_variant_is_refused() -> None:
    """The last base64 character carries spare bits: a non-canonical spelling is damage, not the same value."""
    for plaintext in ("a", "ab", "abc", "abcd"):
        envelope = RING.seal(plaintext, AAD)
        for ch in B64_ALPHABET:
            if ch != envelope[-1]:
                _refused(envelope[:-1] + ch)


@pytest.mark.parametrize("cut", [1, 2, 5, 16, 17, 30, 40])
def test_a_truncated_envelope_is_refused(cut: int) -> None:
    envelope = RING.seal(SECRET, AAD)
    _refused(envelope[:-cut])


def test_every_prefix_of_an_envelope_is_refused() -> None:
    envelope = RING.seal("x", AAD)
    for end in range(len(envelope)):
        _refused(envelope[:end])


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hv1",
        "hv1:",
        "hv1:key-a",
        "hv1:key-a:",
        "hv1::AAAA",
        "hv1:key-a:AAAA",
        "hv1:key-a:" + "A" * 39,
        "hv1:key-a:!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "hv1:key-a:" + base64.b64encode(bytes(range(7, 67))).decode(),  # standard base64 (has a '/')
        "hv2:key-a:" + "A" * 60,
        "HV1:key-a:" + "A" * 60,
        "plain text password",
        "gAAAAABl-fernet-token",
        "\x00\x01\x02",
    ],
)
def test_garbage_and_wrong_prefixes_are_refused(garbage: str) -> None:
    _refused(garbage)


def test_a_changed_prefix_on_a_real_envelope_is_refused() -> None:
    envelope = RING.seal(SECRET, AAD)
    for prefix in ("hv2", "HV1", "hv", ""):
        error = _refused(prefix + envelope[3:])
        assert "not a Handover envelope" in error.message


def test_extra_text_after_the_body_is_refused() -> None:
    envelope = RING.seal(SECRET, AAD)
    for suffix in (":x", "=", "==", " ", "\n", "A"):
        _refused(envelope + suffix)


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(max_size=200))
def test_the_parser_never_fails_uncontrolled(text: str) -> None:
    """Whatever the column holds, opening it either works or raises UndecryptableSecret."""
    for candidate in (text, "hv1:" + text, "hv1:key-a:" + text):
        with pytest.raises(UndecryptableSecret):
            RING.open(candidate, AAD)


def test_an_unknown_key_id_is_named() -> None:
    other = Keyring([MasterKey("retired-2023", KEY_B)])
    envelope = other.seal(SECRET, AAD)
    error = _refused(envelope)
    assert "'retired-2023'" in error.message and "not configured" in error.message
    assert error.detail.startswith("it was sealed with master key 'retired-2023'")


def test_a_key_id_is_not_echoed_unless_it_looks_like_one() -> None:
    """If a plaintext ever landed in the column, the refusal must not print it back."""
    error = _refused("hv1:My Password 123!:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert "My Password" not in error.message


def test_the_right_key_id_with_other_bytes_does_not_open() -> None:
    impostor = Keyring([MasterKey("key-a", KEY_B)])
    error = _refused(RING.seal(SECRET, AAD), ring=impostor)
    assert SECRET not in error.message


def test_undecryptable_is_a_controlled_domain_error() -> None:
    from app.services.errors import DomainError

    error = _refused("garbage")
    assert isinstance(error, DomainError) and error.status == 500


# --- Parsing master keys ------------------------------------------------------------------


def test_a_spec_with_several_keys_makes_the_first_primary() -> None:
    spec = f"{_spec('new-2025', KEY_B)}, {_spec('old-2024', KEY_A)}"
    ring = Keyring.parse(spec)
    assert ring.primary.key_id == "new-2025"
    assert ring.key_ids == ["new-2025", "old-2024"]
    assert "old-2024" in ring and "nope" not in ring
    assert ring.raw_key("old-2024") == KEY_A


def test_a_key_file_may_hold_comments_blank_lines_and_padded_or_standard_base64() -> None:
    standard = base64.b64encode(bytes([0xFB, 0xFF] * 16)).decode()  # has '+' or '/' and '=' padding
    assert "=" in standard and ("+" in standard or "/" in standard)
    text = f"# Handover master keys, primary first\n\n{_spec('k2', KEY_B)}   # added in May\nk1:{standard}\n"
    ring = Keyring.parse(text, source="/etc/handover/keys")
    assert ring.key_ids == ["k2", "k1"]
    assert ring.raw_key("k1") == bytes([0xFB, 0xFF] * 16)


def test_generated_specs_parse_and_differ() -> None:
    specs = {generate_key_spec() for _ in range(20)}
    assert len(specs) == 20
    for spec in specs:
        ring = Keyring.parse(spec)
        assert len(ring.raw_key(ring.primary.key_id)) == 32
        assert crypto.KEY_ID.match(ring.primary.key_id)
    assert generate_key_spec("my-key").startswith("my-key:")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("Bad_Id:" + "A" * 43, "not <id>:<key>"),
        ("-leading-dash:" + "A" * 43, "not <id>:<key>"),
        ("k" * 41 + ":" + "A" * 43, "not <id>:<key>"),
        ("no-colon", "not <id>:<key>"),
        ("empty-key:", "not <id>:<key>"),
        (":" + "A" * 43, "not <id>:<key>"),
        ("k1:" + "!" * 43, "not valid base64"),
        ("k1:" + "A" * 42 + "*", "not valid base64"),
        ("k1:AAAAA", "not valid base64"),
        ("k1:" + "A" * 22, "must be 32 bytes"),
        ("k1:" + "A" * 64, "must be 32 bytes"),
        (f"k1:{'A' * 43},k1:{'B' * 43}", "appears twice"),
    ],
)
def test_bad_key_specs_say_what_is_wrong_and_what_to_set(spec: str, expected: str) -> None:
    with pytest.raises(KeyConfigError) as refused:
        Keyring.parse(spec)
    message = str(refused.value)
    assert expected in message
    assert "HANDOVER_MASTER_KEYS" in message, "names what to set"
    assert "flask keys generate" in message, "says how to make a valid key"
    assert "A" * 20 not in message and "B" * 20 not in message, "never echoes key material"


def test_key_file_errors_name_the_file() -> None:
    with pytest.raises(KeyConfigError, match="/srv/keys") as refused:
        Keyring.parse(f"k1:{'A' * 43}\nk1:{'A' * 43}", source="/srv/keys")
    assert "appears twice" in str(refused.value)
    with pytest.raises(KeyConfigError, match="/srv/keys"):
        Keyring.parse("k1:short", source="/srv/keys")


def test_an_empty_spec_is_refused() -> None:
    for spec in ("", "  \n", "# only a comment\n"):
        with pytest.raises(KeyConfigError, match="No master key"):
            Keyring.parse(spec)


def test_a_master_key_never_shows_its_bytes() -> None:
    key = MasterKey("k1", KEY_A)
    ring = Keyring([key])
    b64 = base64.urlsafe_b64encode(KEY_A).decode().rstrip("=")
    for shown in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), repr({"k": key}), repr(ring), repr(ring.primary)):
        assert "k1" in shown or "Keyring" in shown
        assert repr(KEY_A) not in shown and KEY_A.hex() not in shown and b64 not in shown
        assert "\\x00\\x01\\x02" not in shown


# --- Loading the keyring ------------------------------------------------------------------


def test_the_environment_spec_wins_and_no_file_is_written(tmp_path: Path) -> None:
    key_file = tmp_path / "instance" / "master_keys"
    ring = load_keyring(_spec("env-key", KEY_A), key_file, create_file=True)
    assert ring.key_ids == ["env-key"]
    assert not key_file.exists()


def test_a_missing_key_file_is_created_0600_only_when_allowed(tmp_path: Path) -> None:
    key_file = tmp_path / "instance" / "master_keys"
    with pytest.raises(KeyConfigError) as refused:
        load_keyring(None, key_file, create_file=False)
    assert "HANDOVER_MASTER_KEYS" in str(refused.value) and str(key_file) in str(refused.value)
    assert not key_file.exists()

    old_umask = os.umask(0)  # even with a permissive umask the file is private
    try:
        ring = load_keyring(None, key_file, create_file=True)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Keyring.parse(key_file.read_text()).raw_key(ring.primary.key_id) == ring.raw_key(ring.primary.key_id)
    # The next start reads the same key instead of making another.
    again = load_keyring(None, key_file, create_file=True)
    assert again.key_ids == ring.key_ids and again.raw_key(ring.primary.key_id) == ring.raw_key(ring.primary.key_id)


def test_no_spec_and_no_file_is_refused() -> None:
    with pytest.raises(KeyConfigError, match="HANDOVER_MASTER_KEYS"):
        load_keyring(None, None, create_file=True)
    with pytest.raises(KeyConfigError, match="HANDOVER_MASTER_KEYS"):
        load_keyring("", None, create_file=False)


def test_a_key_source_rereads_its_file_when_it_changes(tmp_path: Path) -> None:
    key_file = tmp_path / "master_keys"
    key_file.write_text(_spec("k1", KEY_A) + "\n")
    source = KeyringSource(None, key_file, create_file=False)
    assert source.get().key_ids == ["k1"] and source.writable_file == key_file
    crypto.write_key_file(key_file, f"{_spec('k2', KEY_B)}\n{_spec('k1', KEY_A)}\n")
    assert source.get().key_ids == ["k2", "k1"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # With the environment spec, the file is neither read nor writable.
    assert KeyringSource(_spec("env", KEY_A), key_file, create_file=False).writable_file is None


def test_writing_the_key_file_is_atomic_and_private(tmp_path: Path) -> None:
    key_file = tmp_path / "master_keys"
    crypto.write_key_file(key_file, _spec("k1", KEY_A) + "\n")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["master_keys"], "no temporary file is left behind"


def _no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("ENV", "SECRET_KEY", "DATABASE_URL", "MASTER_KEYS", "MASTER_KEY_FILE"):
        monkeypatch.delenv(f"HANDOVER_{name}", raising=False)
    instance = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))
    return instance


def test_development_creates_its_key_file_but_testing_and_production_never_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    instance = _no_environment(monkeypatch, tmp_path)
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    key_file = tmp_path / "keys" / "master_keys"
    with pytest.raises(ConfigError, match="HANDOVER_MASTER_KEYS"):
        create_app("testing", SQLALCHEMY_DATABASE_URI=url, MASTER_KEYS=None, MASTER_KEY_FILE=str(key_file))
    assert not key_file.exists()

    app = create_app("development", SQLALCHEMY_DATABASE_URI=url, SECRET_KEY="s" * 40)
    created = instance / "master_keys"
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    assert crypto.Keyring.parse(created.read_text()).key_ids == app.extensions["handover_keyring"].get().key_ids
    with app.app_context():
        db.engine.dispose()


def test_sqlite_never_reuses_the_id_of_a_deleted_note(app) -> None:
    """Envelopes are bound to row ids: a deleted note's id must not come back on a new row."""
    from app.models import Role
    from app.services import credentials
    from app.services.context import Actor
    from tests import factories

    actor = Actor(user_id=None, name="IT", role=Role.IT)
    account = factories.make_account()
    first = credentials.create_note(
        actor, credentials.NoteData("One", credentials.CredentialKind.PASSWORD), "first-secret", account=account
    )
    old_id, old_envelope = first.id, first.secret
    credentials.delete_note(actor, first, "replaced by a new login")
    second = credentials.create_note(
        actor, credentials.NoteData("Two", credentials.CredentialKind.PASSWORD), "second-secret", account=account
    )
    assert second.id != old_id
    second.secret = old_envelope
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.current_keyring().open(second.secret, crypto.associated_data("credential_notes", second.id, "secret"))


# --- Re-sealing many at once (key rotation) -----------------------------------------------

ROTATED = Keyring([MasterKey("key-b", KEY_B), MasterKey("key-a", KEY_A)])
B_ONLY = Keyring([MasterKey("key-b", KEY_B)])


def test_reseal_many_moves_every_envelope_to_the_primary_key_bound_to_its_own_row() -> None:
    plaintexts = [SECRET, "", "pässwörd 🔑", "x" * 5000]
    aads = [associated_data("credential_notes", n, "secret") for n in range(len(plaintexts))]
    sealed = [RING.seal(p, a) for p, a in zip(plaintexts, aads, strict=True)]
    moved = ROTATED.reseal_many(list(zip(sealed, aads, strict=True)))
    assert [crypto.key_id_of(e) for e in moved] == ["key-b"] * len(plaintexts)
    assert [B_ONLY.open(e, a) for e, a in zip(moved, aads, strict=True)] == plaintexts
    # Still bound to its row: the envelope of row 0 does not open as row 1's.
    with pytest.raises(UndecryptableSecret):
        B_ONLY.open(moved[0], aads[1])
    # A fresh nonce for each, as one reseal each would give.
    assert len({_body(e)[: crypto.NONCE_BYTES] for e in moved}) == len(moved)


@pytest.mark.parametrize(
    "damage",
    [
        lambda e: e[:-1] + ("A" if e[-1] != "A" else "B"),  # altered (or a non-canonical last character)
        lambda e: e[:-20],  # truncated
        lambda e: e.replace("hv1:", "hv2:", 1),  # not an envelope
        lambda e: e.replace(":key-a:", ":key-z:", 1),  # a key this server does not have
        lambda e: e + "=",  # padded: not the canonical spelling
        lambda e: e[:12] + "+" + e[13:],  # a character outside the alphabet
    ],
    ids=["altered", "truncated", "prefix", "unknown-key", "padded", "alphabet"],
)
def test_reseal_many_refuses_what_open_refuses_and_says_the_same(damage) -> None:  # noqa: ANN001
    good = RING.seal(SECRET, AAD)
    bad = damage(good)
    expected = _refused(bad, ring=ROTATED)
    with pytest.raises(UndecryptableSecret) as refused:
        ROTATED.reseal_many([(good, AAD), (bad, AAD)])
    assert refused.value.detail == expected.detail
    assert SECRET not in refused.value.message


def test_reseal_many_refuses_an_envelope_from_another_row() -> None:
    envelope = RING.seal(SECRET, associated_data("credential_notes", 8, "secret"))
    with pytest.raises(UndecryptableSecret) as refused:
        ROTATED.reseal_many([(envelope, AAD)])
    assert refused.value.detail == _refused(envelope, ring=ROTATED).detail
