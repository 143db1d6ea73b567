"""Envelope encryption of case personal data: a data key per case, wrapped by a master key.

Data keys live wrapped in their own table (never in the event store, never in a read model),
so destroying one row makes every sealed copy of that case's data unreadable: the events, the
snapshots, the read models and any export all hold only ciphertext. AES-GCM binds each
ciphertext to its case id, so a sealed value cannot be replayed under another case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.config import read_or_create_secret
from domain.bounded import MIB, BoundedCache
from projections.sql import Cursor, ScrubIncomplete, ViewStore

log = logging.getLogger("nrd.vault")
KEY_BYTES = 32
NONCE_BYTES = 12
# Another process may destroy a key (an erasure): a cached key is trusted only this long...
KEY_CACHE_SECONDS = 2.0
# ...but for a command's decision, whose write is refused when the case changed after the
# decision read it. An erasure is such a change, so what a decision sealed or disclosed with a
# key destroyed meanwhile is never kept, and a decision may trust a cached key this long.
DECISION_KEY_CACHE_SECONDS = 60.0


class MasterKeyError(Exception):
    """The master key is missing or malformed; the message says how to make one."""


def parse_master_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise MasterKeyError(
            "NRD_MASTER_KEY must be 32 random bytes in base64; make one with: "
            "python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'"
        )
    return key


def load_or_create_master_key(path: Path) -> bytes:
    """The embedded default keeps its master key in the data folder."""
    return parse_master_key(
        read_or_create_secret(path, lambda: base64.b64encode(os.urandom(KEY_BYTES)).decode())
    )


def create_key_tables(cursor: Cursor, dialect: str) -> None:
    """The key table and its bookkeeping (made by a schema migration step: ``migrations.py``)."""
    blob = "BYTEA" if dialect == "postgres" else "BLOB"
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS case_keys (case_id TEXT PRIMARY KEY, wrapped {blob} NOT NULL)"
    )
    # Erasures under way, and a scrub of deleted keys still to finish.
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS key_erasures (case_id TEXT PRIMARY KEY, "
        "at DOUBLE PRECISION NOT NULL)"
    )
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS key_scrubs (name TEXT PRIMARY KEY, "
        "at DOUBLE PRECISION NOT NULL)"
    )


# What one remembered data key holds in memory: its id, when it was read, and the cipher
# (whose OpenSSL context is most of it; measured as the growth of the resident memory).
KEY_ENTRY_BYTES = 1700


class EnvelopeVault:
    """Implements ``domain.vault.Vault``."""

    def __init__(
        self,
        master_key: bytes,
        store: ViewStore,
        cache_bytes: int = 2 * MIB,
        keeps_keys: bool = True,
    ) -> None:
        self._master = AESGCM(master_key)
        self._master_key = master_key
        self._lookup_key = hmac.new(master_key, b"nrd phone lookup v1", hashlib.sha256).digest()
        self._digest_key = self.derived_key(b"nrd idempotency fingerprint v1")
        self._store = store
        self._cache: BoundedCache[UUID, tuple[float, AESGCM]] = BoundedCache(
            cache_bytes, size_of=lambda _key, _entry: KEY_ENTRY_BYTES
        )
        self._keeps_keys = keeps_keys

    def keeping_no_keys(self) -> EnvelopeVault:
        """The same vault, remembering no case key after use: for a rebuild, which opens each
        case's data once (a kept key, ``KEY_ENTRY_BYTES`` with its cipher's state, would only
        fill the memory, up to the cache's bound, one case at a time)."""
        return EnvelopeVault(self._master_key, self._store, keeps_keys=False)

    def create_key(self, case_id: UUID) -> None:
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        nonce = os.urandom(NONCE_BYTES)
        wrapped = nonce + self._master.encrypt(nonce, data_key, case_id.bytes)
        with self._store.transaction() as cursor:
            made = (
                cursor.execute(
                    "INSERT INTO case_keys (case_id, wrapped) VALUES (%s, %s) "
                    "ON CONFLICT (case_id) DO NOTHING",
                    (str(case_id), wrapped),
                ).rowcount
                == 1
            )
        if made:  # the new case's data is sealed next: no need to read the key back
            self._remember(case_id, time.monotonic(), AESGCM(data_key))

    def begin_erasure(self, case_id: UUID) -> None:
        """Records the intent to destroy the key before the erasure event is saved, so a crash
        between the event and the key's destruction is finished by ``finish_erasures``."""
        with self._store.transaction() as cursor:
            cursor.execute(
                "INSERT INTO key_erasures (case_id, at) VALUES (%s, %s) "
                "ON CONFLICT (case_id) DO NOTHING",
                (str(case_id), time.time()),
            )

    def cancel_erasure(self, case_id: UUID) -> None:
        with self._store.transaction() as cursor:
            cursor.execute("DELETE FROM key_erasures WHERE case_id = %s", (str(case_id),))

    def destroy_key(self, case_id: UUID, scrub_timeout: float = 5.0) -> None:
        """Deletes the wrapped key, then scrubs the table so no copy of it stays in the files.
        The scrub waits for older transactions; one that cannot finish in time is recorded and
        finished later by ``finish_erasures`` (the key is already gone from the table).
        Idempotent."""
        self._cache.pop(case_id)
        with self._store.transaction() as cursor:
            cursor.execute("DELETE FROM case_keys WHERE case_id = %s", (str(case_id),))
            cursor.execute("DELETE FROM key_erasures WHERE case_id = %s", (str(case_id),))
            cursor.execute(
                "INSERT INTO key_scrubs (name, at) VALUES ('case_keys', %s) "
                "ON CONFLICT (name) DO UPDATE SET at = excluded.at",
                (time.time(),),
            )
        self._cache.pop(case_id)
        self._finish_scrub(scrub_timeout)

    def finish_erasures(
        self, is_erased: Callable[[UUID], bool], scrub_timeout: float = 1.0, grace: float = 60.0
    ) -> None:
        """Destroys the keys of erasures a crash interrupted (their event is saved), forgets
        intents whose erasure never happened (after ``grace`` seconds), finishes a scrub."""
        with self._store.read() as cursor:
            rows = cursor.execute("SELECT case_id, at FROM key_erasures").fetchall()
        for case_text, at in rows:
            case_id = UUID(case_text)
            if is_erased(case_id):
                self.destroy_key(case_id, scrub_timeout)
            elif time.time() - float(at) > grace:
                self.cancel_erasure(case_id)
        self._finish_scrub(scrub_timeout)

    def _finish_scrub(self, timeout: float) -> None:
        with self._store.read() as cursor:
            row = cursor.execute("SELECT at FROM key_scrubs WHERE name = 'case_keys'").fetchone()
        if row is None:
            return
        try:
            self._store.scrub("case_keys", timeout)
        except ScrubIncomplete:
            log.warning("a destroyed case key awaits its scrub: older transactions are open")
            return
        with self._store.transaction() as cursor:  # unless another destruction came since
            cursor.execute(
                "DELETE FROM key_scrubs WHERE name = 'case_keys' AND at <= %s", (row[0],)
            )

    def has_key(self, case_id: UUID) -> bool:
        with self._store.read() as cursor:
            row = cursor.execute(
                "SELECT 1 FROM case_keys WHERE case_id = %s", (str(case_id),)
            ).fetchone()
        return row is not None

    def seal(self, case_id: UUID, data: dict[str, Any]) -> str:
        """Sealing is part of a command's decision (``DECISION_KEY_CACHE_SECONDS``)."""
        key = self._key(case_id, DECISION_KEY_CACHE_SECONDS)
        if key is None:
            raise KeyError("the case has no data key")  # a programming error: create it first
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        return base64.b64encode(nonce + key.encrypt(nonce, plain, case_id.bytes)).decode()

    def open(
        self, case_id: UUID, sealed: str, *, for_decision: bool = False
    ) -> dict[str, Any] | None:
        key = self._key(case_id, DECISION_KEY_CACHE_SECONDS if for_decision else KEY_CACHE_SECONDS)
        if key is None:
            return None
        raw = base64.b64decode(sealed)
        try:
            plain = key.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], case_id.bytes)
        except InvalidTag:
            return None
        value: dict[str, Any] = json.loads(plain)
        return value

    def derived_key(self, label: bytes) -> bytes:
        """A key for one purpose, derived from the master key (never the master key itself)."""
        return hmac.new(self._master_key, label, hashlib.sha256).digest()

    def keyed_digest(self, text: str) -> str:
        return hmac.new(self._digest_key, text.encode(), hashlib.sha256).hexdigest()

    def lookup_key(self, phone: str) -> str:
        digits = re.sub(r"\D", "", phone)
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]  # +1 for North America: the same line either way
        return hmac.new(self._lookup_key, digits.encode(), hashlib.sha256).hexdigest()

    def _key(self, case_id: UUID, max_age: float) -> AESGCM | None:
        now = time.monotonic()
        cached = self._cache.get(case_id)
        if cached is not None and now - cached[0] < max_age:
            return cached[1]
        with self._store.read() as cursor:
            row = cursor.execute(
                "SELECT wrapped FROM case_keys WHERE case_id = %s", (str(case_id),)
            ).fetchone()
        if row is None:
            return None
        wrapped = bytes(row[0])
        try:
            data_key = self._master.decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], case_id.bytes
            )
        except InvalidTag:
            raise MasterKeyError(
                "the master key does not open this store's case keys: "
                "is NRD_MASTER_KEY the one the store was made with?"
            ) from None
        key = AESGCM(data_key)
        self._remember(case_id, now, key)
        return key

    def _remember(self, case_id: UUID, at: float, key: AESGCM) -> None:
        if self._keeps_keys:
            self._cache.put(case_id, (at, key))
