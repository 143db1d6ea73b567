"""Server-side sessions: what a browser's session cookie stands for, kept in the database so
that sign-out, suspension and revocation take effect at the very next request.

The cookie holds an opaque random id; the table holds its SHA-256 digest (an id is 256 random
bits: a digest of it cannot be guessed back), never the id. The provider's tokens and a
sign-in attempt's state, nonce and PKCE verifier are sealed (AES-GCM, a key derived from the
master key) in their rows. Both tables live beside the access log (durable, never part of a
read-model rebuild), on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from projections.sql import Cursor, ViewStore, dump_doc, load_doc

SESSION_COOKIE = "__Host-nrd-session"
ATTEMPT_COOKIE = "__Host-nrd-sign-in"
ATTEMPT_SECONDS = 600  # a sign-in started must come back from the provider within this
# Sign-ins under way at once, at most: each keeps a row until it comes back or expires, and
# starting one takes no more than a request.
MAX_ATTEMPTS = 10_000
# A session's row is kept this long past its absolute end (when and why it ended), then
# deleted as new sessions start.
KEPT_SECONDS = 30 * 24 * 3600
# A session's last use is written at most this often: a request a second would otherwise
# write a row a second. Its idle expiry is as precise.
TOUCH_SECONDS = 30.0


def create_session_tables(cursor: Cursor, dialect: str) -> None:
    """The sessions and sign-in attempts (made by a schema migration step)."""
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS signin_sessions (digest TEXT PRIMARY KEY, "
        "member_id TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
        "last_seen_at DOUBLE PRECISION NOT NULL, idle_expires_at DOUBLE PRECISION NOT NULL, "
        "absolute_expires_at DOUBLE PRECISION NOT NULL, amr TEXT NOT NULL, acr TEXT, "
        "second_factor INTEGER NOT NULL, provider_tokens TEXT, ended_at DOUBLE PRECISION, "
        "ended_why TEXT)"
    )
    cursor.execute(
        "CREATE INDEX IF NOT EXISTS signin_sessions_member ON signin_sessions (member_id)"
    )
    cursor.execute(
        "CREATE INDEX IF NOT EXISTS signin_sessions_expiry ON signin_sessions (absolute_expires_at)"
    )
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS signin_attempts (digest TEXT PRIMARY KEY, "
        "sealed TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL)"
    )


def digest(opaque: str) -> str:
    return hashlib.sha256(opaque.encode()).hexdigest()


class Sealer:
    """AES-GCM under one key: what a session row keeps of the provider's tokens."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, doc: Any, bound_to: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, dump_doc(doc).encode(), bound_to.encode())
        return (nonce + sealed).hex()

    def open(self, text: str, bound_to: str) -> Any:
        raw = bytes.fromhex(text)
        return load_doc(self._aead.decrypt(raw[:12], raw[12:], bound_to.encode()))


@dataclass(frozen=True)
class Session:
    digest: str
    member_id: str
    created_at: float
    last_seen_at: float
    idle_expires_at: float
    absolute_expires_at: float
    amr: tuple[str, ...]
    acr: str | None
    second_factor: bool


_COLUMNS = (
    "digest, member_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, "
    "amr, acr, second_factor"
)


def _session(row: Sequence[Any]) -> Session:
    return Session(
        digest=row[0],
        member_id=row[1],
        created_at=float(row[2]),
        last_seen_at=float(row[3]),
        idle_expires_at=float(row[4]),
        absolute_expires_at=float(row[5]),
        amr=tuple(load_doc(row[6])),
        acr=row[7],
        second_factor=bool(row[8]),
    )


class Sessions:
    def __init__(
        self, store: ViewStore, sealer: Sealer, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self._sealer = sealer
        self.clock = clock

    # Sign-in attempts: one use each, within ATTEMPT_SECONDS.

    def begin_attempt(self, doc: dict[str, Any]) -> str | None:
        """Keeps ``doc`` (state, nonce, verifier) under a new opaque id, returned for the
        pre-session cookie; None when ``MAX_ATTEMPTS`` are under way already."""
        opaque = secrets.token_urlsafe(32)
        key = digest(opaque)
        now = self.clock()
        with self.store.transaction() as cursor:
            cursor.execute("DELETE FROM signin_attempts WHERE expires_at < %s", (now,))
            cursor.execute("SELECT count(*) FROM signin_attempts")
            if int(cursor.fetchone()[0]) >= MAX_ATTEMPTS:
                return None
            cursor.execute(
                "INSERT INTO signin_attempts (digest, sealed, expires_at) VALUES (%s, %s, %s)",
                (key, self._sealer.seal(doc, key), now + ATTEMPT_SECONDS),
            )
        return opaque

    def take_attempt(self, opaque: str) -> dict[str, Any] | None:
        """The attempt's document, removed: a second callback with it finds nothing."""
        key = digest(opaque)
        with self.store.transaction() as cursor:
            cursor.execute(
                "DELETE FROM signin_attempts WHERE digest = %s RETURNING sealed, expires_at",
                (key,),
            )
            row = cursor.fetchone()
        if row is None or float(row[1]) < self.clock():
            return None
        try:
            doc = self._sealer.open(row[0], key)
        except (InvalidTag, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    # Sessions.

    def start(
        self,
        member_id: str,
        lifetimes: tuple[timedelta, timedelta],
        amr: Sequence[str],
        acr: str | None,
        second_factor: bool,
        provider_tokens: dict[str, Any] | None = None,
    ) -> str:
        """A new session; returns the opaque id for the cookie (never stored)."""
        opaque = secrets.token_urlsafe(32)
        key = digest(opaque)
        now = self.clock()
        idle, absolute = lifetimes
        ends = now + absolute.total_seconds()
        sealed = None if provider_tokens is None else self._sealer.seal(provider_tokens, key)
        with self.store.transaction() as cursor:
            cursor.execute(
                "DELETE FROM signin_sessions WHERE absolute_expires_at < %s",
                (now - KEPT_SECONDS,),
            )
            cursor.execute(
                f"INSERT INTO signin_sessions ({_COLUMNS}, provider_tokens) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    key,
                    member_id,
                    now,
                    now,
                    min(now + idle.total_seconds(), ends),
                    ends,
                    dump_doc(list(amr)),
                    acr,
                    int(second_factor),
                    sealed,
                ),
            )
        return opaque

    def find(self, opaque: str) -> Session | None:
        """The live session the cookie stands for: not ended, not idle too long, not past
        its absolute end. None for anything else (unknown, forged, expired)."""
        if not opaque or len(opaque) > 200:
            return None
        with self.store.read() as cursor:
            cursor.execute(
                f"SELECT {_COLUMNS} FROM signin_sessions "  # noqa: S608 - a constant
                "WHERE digest = %s AND ended_at IS NULL",
                (digest(opaque),),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        session = _session(row)
        now = self.clock()
        if now >= session.idle_expires_at or now >= session.absolute_expires_at:
            return None
        return session

    def touch(self, session: Session, lifetimes: tuple[timedelta, timedelta]) -> None:
        """Records a use: the idle expiry moves on, by the lifetimes of the member's role
        as it is now (a role that changed to a hotline role shortens both)."""
        idle, absolute = lifetimes
        now = self.clock()
        ends = min(session.absolute_expires_at, session.created_at + absolute.total_seconds())
        if now - session.last_seen_at < TOUCH_SECONDS and ends == session.absolute_expires_at:
            return
        with self.store.transaction() as cursor:
            cursor.execute(
                "UPDATE signin_sessions SET last_seen_at = %s, idle_expires_at = %s, "
                "absolute_expires_at = %s WHERE digest = %s AND ended_at IS NULL",
                (now, min(now + idle.total_seconds(), ends), ends, session.digest),
            )

    def end(self, opaque: str, why: str) -> bool:
        with self.store.transaction() as cursor:
            cursor.execute(
                "UPDATE signin_sessions SET ended_at = %s, ended_why = %s, "
                "provider_tokens = NULL WHERE digest = %s AND ended_at IS NULL",
                (self.clock(), why, digest(opaque)),
            )
            return bool(cursor.rowcount)

    def end_all(self, member_id: str, why: str) -> int:
        """Ends every live session of a member ("sign out everywhere"); returns how many."""
        with self.store.transaction() as cursor:
            cursor.execute(
                "UPDATE signin_sessions SET ended_at = %s, ended_why = %s, "
                "provider_tokens = NULL WHERE member_id = %s AND ended_at IS NULL",
                (self.clock(), why, member_id),
            )
            return int(cursor.rowcount)

    def provider_tokens(self, session: Session) -> dict[str, Any] | None:
        with self.store.read() as cursor:
            cursor.execute(
                "SELECT provider_tokens FROM signin_sessions WHERE digest = %s", (session.digest,)
            )
            row = cursor.fetchone()
        if row is None or row[0] is None:
            return None
        doc = self._sealer.open(row[0], session.digest)
        return doc if isinstance(doc, dict) else None
