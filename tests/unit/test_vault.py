"""Envelope encryption of case personal data, over a real SQLite key table.

A data key per case, wrapped by the master key; AES-GCM binds each ciphertext to its case;
destroying a case's key makes every sealed copy of its data unreadable.
"""

from __future__ import annotations

import base64
import hashlib
import stat
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.infrastructure.stores import SQLiteViewStore
from api.infrastructure.vault import (
    DECISION_KEY_CACHE_SECONDS,
    KEY_BYTES,
    KEY_CACHE_SECONDS,
    NONCE_BYTES,
    EnvelopeVault,
    MasterKeyError,
    create_key_tables,
    load_or_create_master_key,
    parse_master_key,
)

# Obviously test-only master keys: a repeated byte, never a real key.
MASTER = bytes([1]) * KEY_BYTES
OTHER_MASTER = bytes([2]) * KEY_BYTES
CASE_A = UUID("00000000-0000-4000-8000-00000000ca5a")
CASE_B = UUID("00000000-0000-4000-8000-00000000ca5b")
PERSONAL = {
    "name": "Fictional Caller Zephyrine",
    "phone": "+1 555 010 0199",
    "email": "zephyrine@example.org",
    "notes": "Fictional notes: prefers text.",
}


def key_store(path: Path) -> SQLiteViewStore:
    """A key file with its tables, as the schema migration makes them."""
    opened = SQLiteViewStore(path)
    with opened.transaction() as cursor:
        create_key_tables(cursor, opened.dialect)
    return opened


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteViewStore]:
    opened = key_store(tmp_path / "keys.sqlite")
    yield opened
    opened.close()


@pytest.fixture
def vault(store: SQLiteViewStore) -> EnvelopeVault:
    return EnvelopeVault(MASTER, store)


def wrapped_key(store: SQLiteViewStore, case_id: UUID) -> bytes | None:
    with store.read() as cursor:
        row = cursor.execute(
            "SELECT wrapped FROM case_keys WHERE case_id = %s", (str(case_id),)
        ).fetchone()
    return None if row is None else bytes(row[0])


def test_sealed_data_opens_to_exactly_what_was_sealed(vault: EnvelopeVault) -> None:
    vault.create_key(CASE_A)

    sealed = vault.seal(CASE_A, PERSONAL)

    assert vault.open(CASE_A, sealed) == PERSONAL


def test_a_sealed_value_holds_none_of_the_plaintext(vault: EnvelopeVault) -> None:
    vault.create_key(CASE_A)

    sealed = vault.seal(CASE_A, PERSONAL)

    raw = base64.b64decode(sealed)
    for value in PERSONAL.values():
        for form in (value, value.lower(), "Zephyrine", "0100199"):
            assert form not in sealed
            assert form.encode() not in raw


def test_sealing_the_same_data_twice_gives_different_ciphertexts(vault: EnvelopeVault) -> None:
    vault.create_key(CASE_A)

    assert vault.seal(CASE_A, PERSONAL) != vault.seal(CASE_A, PERSONAL)


def test_a_ciphertext_of_one_case_cannot_be_opened_as_another(vault: EnvelopeVault) -> None:
    vault.create_key(CASE_A)
    vault.create_key(CASE_B)

    sealed_for_a = vault.seal(CASE_A, PERSONAL)

    assert vault.open(CASE_B, sealed_for_a) is None
    assert vault.open(CASE_A, sealed_for_a) == PERSONAL


def test_a_tampered_ciphertext_does_not_open(vault: EnvelopeVault) -> None:
    vault.create_key(CASE_A)
    raw = bytearray(base64.b64decode(vault.seal(CASE_A, PERSONAL)))
    raw[-1] ^= 1

    assert vault.open(CASE_A, base64.b64encode(bytes(raw)).decode()) is None


def test_a_case_without_a_key_opens_nothing_and_seals_nothing(vault: EnvelopeVault) -> None:
    vault.create_key(CASE_A)
    sealed = vault.seal(CASE_A, PERSONAL)

    assert vault.open(CASE_B, sealed) is None
    with pytest.raises(KeyError):
        vault.seal(CASE_B, PERSONAL)


def test_creating_a_key_twice_keeps_the_first(vault: EnvelopeVault, store: SQLiteViewStore) -> None:
    vault.create_key(CASE_A)
    first = wrapped_key(store, CASE_A)
    sealed = vault.seal(CASE_A, PERSONAL)

    vault.create_key(CASE_A)

    assert wrapped_key(store, CASE_A) == first
    assert EnvelopeVault(MASTER, store).open(CASE_A, sealed) == PERSONAL


def test_after_the_key_is_destroyed_nothing_opens(
    vault: EnvelopeVault, store: SQLiteViewStore
) -> None:
    vault.create_key(CASE_A)
    vault.create_key(CASE_B)
    sealed_a, sealed_b = vault.seal(CASE_A, PERSONAL), vault.seal(CASE_B, PERSONAL)
    assert vault.open(CASE_A, sealed_a) == PERSONAL  # the key is now cached

    vault.destroy_key(CASE_A)

    assert vault.open(CASE_A, sealed_a) is None
    assert wrapped_key(store, CASE_A) is None
    assert EnvelopeVault(MASTER, store).open(CASE_A, sealed_a) is None  # no cache at all
    assert vault.open(CASE_B, sealed_b) == PERSONAL  # the other case is untouched


class Clock:
    """The vault's clock, moved by hand."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1000.0
        monkeypatch.setattr("api.infrastructure.vault.time.monotonic", lambda: self.now)


def sealed_then_erased_elsewhere(vault: EnvelopeVault, store: SQLiteViewStore) -> str:
    """A value sealed under case A's new key, which another process's erasure then destroys."""
    vault.create_key(CASE_A)
    sealed = vault.seal(CASE_A, PERSONAL)
    EnvelopeVault(MASTER, store).destroy_key(CASE_A)
    return sealed


def test_a_key_another_process_destroyed_stops_opening_for_reads_within_seconds(
    vault: EnvelopeVault,
    store: SQLiteViewStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(monkeypatch)
    sealed = sealed_then_erased_elsewhere(vault, store)

    clock.now += KEY_CACHE_SECONDS / 2
    assert vault.open(CASE_A, sealed) == PERSONAL  # still cached, for a moment
    clock.now += KEY_CACHE_SECONDS
    assert vault.open(CASE_A, sealed) is None


def test_a_decision_trusts_a_cached_key_longer_and_then_asks_again(
    vault: EnvelopeVault,
    store: SQLiteViewStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A decision's write is refused if the case changed since it was read, as an erasure
    # changes it: what it sealed with a key destroyed meanwhile is never kept.
    clock = Clock(monkeypatch)
    sealed = sealed_then_erased_elsewhere(vault, store)

    clock.now += KEY_CACHE_SECONDS * 2
    assert vault.open(CASE_A, sealed, for_decision=True) == PERSONAL
    assert vault.open(CASE_A, vault.seal(CASE_A, PERSONAL), for_decision=True) == PERSONAL
    clock.now += DECISION_KEY_CACHE_SECONDS
    assert vault.open(CASE_A, sealed, for_decision=True) is None
    with pytest.raises(KeyError):
        vault.seal(CASE_A, PERSONAL)


def test_a_vault_keeping_no_keys_opens_as_the_vault_does_and_asks_for_the_key_each_time(
    vault: EnvelopeVault,
    store: SQLiteViewStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # What a rebuild opens with: each case once, so a kept key would only take memory.
    clock = Clock(monkeypatch)
    vault.create_key(CASE_A)
    sealed = vault.seal(CASE_A, PERSONAL)
    forgetful = vault.keeping_no_keys()
    assert forgetful.open(CASE_A, sealed) == PERSONAL

    EnvelopeVault(MASTER, store).destroy_key(CASE_A)  # another process erases the case

    assert forgetful.open(CASE_A, sealed, for_decision=True) is None  # at once: nothing kept
    clock.now += KEY_CACHE_SECONDS / 2
    assert vault.open(CASE_A, sealed) == PERSONAL  # the vault it came from still keeps it


def test_a_new_cases_data_is_sealed_without_reading_its_key_back(
    vault: EnvelopeVault,
    store: SQLiteViewStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault.create_key(CASE_A)
    monkeypatch.setattr(store, "read", None)  # any read of the key table fails

    sealed = vault.seal(CASE_A, PERSONAL)

    monkeypatch.undo()
    assert EnvelopeVault(MASTER, store).open(CASE_A, sealed) == PERSONAL


def test_a_key_made_again_is_not_cached_in_place_of_the_first(
    vault: EnvelopeVault,
    store: SQLiteViewStore,
) -> None:
    EnvelopeVault(MASTER, store).create_key(CASE_A)  # another process made it first

    vault.create_key(CASE_A)  # a repeated opening: the first key stays, and is the one used
    sealed = vault.seal(CASE_A, PERSONAL)

    assert EnvelopeVault(MASTER, store).open(CASE_A, sealed) == PERSONAL


def test_a_fresh_vault_on_the_same_table_opens_what_another_sealed(
    vault: EnvelopeVault,
    store: SQLiteViewStore,
) -> None:
    vault.create_key(CASE_A)
    sealed = vault.seal(CASE_A, PERSONAL)

    assert EnvelopeVault(MASTER, store).open(CASE_A, sealed) == PERSONAL


def test_the_table_holds_the_data_key_wrapped_never_the_data_key(
    vault: EnvelopeVault,
    store: SQLiteViewStore,
) -> None:
    vault.create_key(CASE_A)
    sealed = base64.b64decode(vault.seal(CASE_A, PERSONAL))
    wrapped = wrapped_key(store, CASE_A)
    assert wrapped is not None

    # Unwrapping by hand with the master key gives the key that opens the data ...
    data_key = AESGCM(MASTER).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], CASE_A.bytes)
    assert len(data_key) == KEY_BYTES
    assert AESGCM(data_key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], CASE_A.bytes)
    # ... and that key appears nowhere in the table's value.
    assert data_key not in wrapped
    assert len(wrapped) == NONCE_BYTES + KEY_BYTES + 16  # nonce, encrypted key, GCM tag


def test_a_wrapped_key_is_bound_to_its_case(vault: EnvelopeVault, store: SQLiteViewStore) -> None:
    vault.create_key(CASE_A)
    wrapped = wrapped_key(store, CASE_A)
    assert wrapped is not None

    with pytest.raises(InvalidTag):
        AESGCM(MASTER).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], CASE_B.bytes)
    with pytest.raises(InvalidTag):
        AESGCM(OTHER_MASTER).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], CASE_A.bytes)


@pytest.mark.parametrize(
    "written",
    ["+1 (555) 010-0001", "555 010 0001", "555.010.0001", "1-555-010-0001", "(555)0100001"],
)
def test_a_phone_number_written_differently_has_one_lookup_key(
    vault: EnvelopeVault,
    written: str,
) -> None:
    assert vault.lookup_key(written) == vault.lookup_key("555 010 0001")


def test_different_phone_numbers_have_different_lookup_keys(vault: EnvelopeVault) -> None:
    assert vault.lookup_key("555 010 0001") != vault.lookup_key("555 010 0002")


def test_the_lookup_key_is_keyed_and_holds_no_digits(vault: EnvelopeVault, tmp_path: Path) -> None:
    other_store = key_store(tmp_path / "other-keys.sqlite")
    try:
        other = EnvelopeVault(OTHER_MASTER, other_store)
        lookup = vault.lookup_key("+1 (555) 010-0001")

        assert lookup != other.lookup_key("+1 (555) 010-0001")
        assert lookup != hashlib.sha256(b"5550100001").hexdigest()
        assert "5550100001" not in lookup
    finally:
        other_store.close()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64 at all!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(bytes(33)).decode(),
        "AQEB" * 11 + "$",
    ],
    ids=["empty", "not-base64", "too-short", "too-long", "bad-character"],
)
def test_a_malformed_master_key_is_refused_with_instructions(text: str) -> None:
    with pytest.raises(MasterKeyError) as raised:
        parse_master_key(text)

    message = str(raised.value)
    assert "NRD_MASTER_KEY" in message
    assert "32 random bytes in base64" in message
    assert "base64.b64encode(os.urandom(32))" in message  # how to make one


def test_a_well_formed_master_key_is_accepted_with_surrounding_whitespace() -> None:
    assert parse_master_key(f"  {base64.b64encode(MASTER).decode()}\n") == MASTER


def test_the_embedded_master_key_is_made_once_and_readable_only_by_its_owner(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "master-key"

    first = load_or_create_master_key(path)

    assert len(first) == KEY_BYTES
    assert load_or_create_master_key(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_vault_with_the_wrong_master_key_says_so(
    vault: EnvelopeVault, store: SQLiteViewStore
) -> None:
    vault.create_key(CASE_A)
    sealed = vault.seal(CASE_A, PERSONAL)
    with pytest.raises(MasterKeyError, match="NRD_MASTER_KEY"):
        EnvelopeVault(OTHER_MASTER, store).open(CASE_A, sealed)
