"""Failures of the infrastructure that a client can act on: each has a name, and all are
retryable.

The stores raise their drivers' errors (psycopg's, sqlite3's, and the event store library's
wrappers around them); ``classify`` names the ones a retry can cure, by what they mean for
the caller: the read models have not caught up yet, a database statement passed its time
bound, every connection is busy, or the database cannot be reached. A mutation that fails
in any of these ways may or may not have been saved (an acknowledgement can be lost), so
every message says to retry it with the same idempotency key, which returns the first
result and writes nothing twice. The messages hold no values.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import ClassVar

import psycopg
import psycopg.errors
from eventsourcing.persistence import ConnectionUnavailableError
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError

from api.infrastructure.stores import PoolExhausted

_RETRY = (
    "Retry it shortly; retry a mutation with the same idempotency key (it is never applied twice)."
)


class Fault(Exception):
    """A failure a retry can cure. ``retry_after``: seconds a client should wait first."""

    code: ClassVar[str] = "UNAVAILABLE"
    retry_after: ClassVar[int] = 1
    message: ClassVar[str] = f"The service cannot answer now. {_RETRY}"

    def __init__(self) -> None:
        super().__init__(self.message)


class ReadModelBehind(Fault):
    code = "READ_MODEL_BEHIND"
    message = (
        "The read models have not caught up, within their bound, with the latest "
        f"writes (which are saved). {_RETRY}"
    )


class StoreTimeout(Fault):
    code = "STORE_TIMEOUT"
    retry_after = 2
    message = (
        "A database statement passed its time bound (a lock held elsewhere, or a slow "
        f"statement), and was rolled back. {_RETRY}"
    )


class StoreBusy(Fault):
    code = "STORE_BUSY"
    message = f"Every database connection of this server is busy. {_RETRY}"


class StoreUnavailable(Fault):
    code = "STORE_UNAVAILABLE"
    retry_after = 5
    message = f"The database cannot be reached. {_RETRY}"


# SQLite's answer when its busy timeout passes while another connection holds the lock.
_SQLITE_LOCKED = ("database is locked", "database table is locked")


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    """The error and those it was raised from or during, outermost first."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _sqlite_locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError | StoreOperationalError) and str(
        error
    ).startswith(_SQLITE_LOCKED)


def _is(*kinds: type[BaseException]) -> Callable[[BaseException], bool]:
    return lambda error: isinstance(error, kinds)


# Most specific first: a pool timeout or a lock timeout is also a driver OperationalError.
_RULES: tuple[tuple[Callable[[BaseException], bool], type[Fault]], ...] = (
    (_is(ReadModelBehind), ReadModelBehind),
    (_is(StoreBusy, PoolExhausted, ConnectionUnavailableError), StoreBusy),
    (
        _is(StoreTimeout, psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled),
        StoreTimeout,
    ),
    (_sqlite_locked, StoreTimeout),
    (
        _is(
            StoreUnavailable,
            psycopg.OperationalError,
            psycopg.InterfaceError,
            StoreOperationalError,
            StoreInterfaceError,
        ),
        StoreUnavailable,
    ),
)


def classify(error: BaseException | None) -> Fault | None:
    """The fault ``error`` amounts to, or None for any other error. The most specific cause
    anywhere in the chain decides (the event store library wraps the driver's errors)."""
    chain = list(_chain(error))
    for rule, fault in _RULES:
        if any(rule(e) for e in chain):
            return fault()
    return None


# What a failed connection attempt says (libpq gives it as text alone, with no code), by
# phrases of libpq's and PostgreSQL's own: the rest of the text can name hosts and roles.
_CONNECT_FAILURES = (
    ("too many", "too many connections"),
    ("connection slots are reserved", "too many connections"),
    ("starting up", "the server is starting up"),
    ("shutting down", "the server is shutting down"),
    ("in recovery mode", "the server is in recovery"),
    ("Connection refused", "connection refused"),
    ("timeout expired", "connection timed out"),
    ("authentication failed", "authentication failed"),
    ("does not exist", "no such database or role"),
    ("not permitted to log in", "the role may not log in"),
)


def cause_name(error: BaseException) -> str:
    """The innermost error's kind, with PostgreSQL's code where it sent one, or what a failed
    connection attempt says: what an operator needs to know of a failure, without its text."""
    innermost = list(_chain(error))[-1]
    name = type(innermost).__name__
    code = getattr(innermost, "sqlstate", None)
    if code:
        return f"{name} {code}"
    if isinstance(innermost, psycopg.OperationalError):
        text = str(innermost)
        said = next((what for phrase, what in _CONNECT_FAILURES if phrase in text), None)
        if said:
            return f"{name}: {said}"
    return name
