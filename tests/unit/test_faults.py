"""Failures a client can act on leave with a name, ``retryable``, and no values; the stores
give up on a bound at once instead of trying again as long."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import psycopg.errors
import pytest
from eventsourcing.persistence import (
    ConnectionUnavailableError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from graphql import GraphQLError
from psycopg_pool import PoolTimeout

from api.errors import format_error
from api.faults import (
    ReadModelBehind,
    StoreBusy,
    StoreTimeout,
    StoreUnavailable,
    cause_name,
    classify,
)
from api.infrastructure import recorders as recorder
from api.infrastructure.recorders import retry_lost_connections
from api.infrastructure.stores import PoolExhausted
from api.wiring import CommandThreads
from domain.base import DomainError

FAULTS = (ReadModelBehind, StoreBusy, StoreTimeout, StoreUnavailable)


def wrapped(cause: BaseException, wrapper: type[Exception] = OperationalError) -> Exception:
    """As the event store library raises a driver's error: its own, from the driver's."""
    try:
        raise wrapper(str(cause)) from cause
    except Exception as error:
        return error


@pytest.mark.parametrize(
    "error,code",
    [
        (
            wrapped(psycopg.errors.LockNotAvailable("lock timeout on a fictional table")),
            "STORE_TIMEOUT",
        ),
        (wrapped(psycopg.errors.QueryCanceled("statement timeout")), "STORE_TIMEOUT"),
        (psycopg.errors.LockNotAvailable("a read model's lock"), "STORE_TIMEOUT"),
        (wrapped(sqlite3.OperationalError("database is locked")), "STORE_TIMEOUT"),
        (sqlite3.OperationalError("database is locked"), "STORE_TIMEOUT"),
        (wrapped(PoolExhausted("couldn't get a connection after 5.00 sec")), "STORE_BUSY"),
        (PoolExhausted("couldn't get a connection after 5.00 sec"), "STORE_BUSY"),
        (StoreBusy(), "STORE_BUSY"),
        (ConnectionUnavailableError("the SQLite event store's pool timed out"), "STORE_BUSY"),
        (wrapped(PoolTimeout("couldn't get a connection after 5.00 sec")), "STORE_UNAVAILABLE"),
        (wrapped(psycopg.errors.AdminShutdown("terminating connection")), "STORE_UNAVAILABLE"),
        (wrapped(psycopg.errors.TooManyConnections("too many clients")), "STORE_UNAVAILABLE"),
        (
            wrapped(psycopg.OperationalError("connection refused"), InterfaceError),
            "STORE_UNAVAILABLE",
        ),
        (psycopg.OperationalError("server closed the connection"), "STORE_UNAVAILABLE"),
        (ReadModelBehind(), "READ_MODEL_BEHIND"),
    ],
)
def test_each_failure_a_retry_can_cure_has_its_name(error: Exception, code: str) -> None:
    fault = classify(error)

    assert fault is not None and fault.code == code


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a fictional bug"),
        TimeoutError("plain"),
        KeyError("x"),
        wrapped(psycopg.errors.UniqueViolation("taken"), IntegrityError),
        wrapped(psycopg.errors.UndefinedTable("no such table"), ProgrammingError),
    ],
)
def test_anything_else_is_not_called_retryable(error: Exception) -> None:
    assert classify(error) is None


def test_a_fault_leaves_as_its_code_retryable_and_a_message_without_values() -> None:
    cause = psycopg.errors.LockNotAvailable("lock timeout on fictional_secret_table")
    error = GraphQLError("whatever the executor says", original_error=wrapped(cause))

    for trusted in (True, False):
        answer = format_error(error, trusted)

        assert answer["extensions"] == {"code": "STORE_TIMEOUT", "retryable": True}
        assert "fictional_secret_table" not in answer["message"]
        assert "same idempotency key" in answer["message"]


@pytest.mark.parametrize("fault", FAULTS)
def test_every_fault_tells_to_retry_a_mutation_with_the_same_key(fault: type[Exception]) -> None:
    made = fault()
    assert "same idempotency key" in str(made)
    assert made.retry_after >= 1  # type: ignore[attr-defined]


def test_an_operator_learns_the_kind_of_failure_and_postgresqls_code_not_its_text() -> None:
    cause = psycopg.errors.TooManyConnections("too many connections for role fictional")

    assert cause_name(wrapped(cause)) == "TooManyConnections 53300"
    refused = psycopg.OperationalError(
        'connection failed: FATAL:  too many connections for role "fictional_role"'
    )
    assert cause_name(wrapped(refused)) == "OperationalError: too many connections"


# -- the store's retry --------------------------------------------------------------------------


def failing(*errors: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    @retry_lost_connections
    def statement() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "done"

    return calls, statement


def test_a_lock_or_pool_timeout_is_not_tried_again() -> None:
    for cause in (
        psycopg.errors.LockNotAvailable("x"),
        psycopg.errors.QueryCanceled("x"),
        PoolTimeout("x"),
        PoolExhausted("x"),
    ):
        calls, statement = failing(wrapped(cause))
        with pytest.raises(OperationalError):
            statement()  # type: ignore[operator]
        assert len(calls) == 1


def test_a_statement_whose_connection_died_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recorder, "RETRY_WAIT", 0)
    calls, statement = failing(
        wrapped(psycopg.errors.AdminShutdown("x")),
        wrapped(psycopg.OperationalError("x"), InterfaceError),
    )

    assert statement() == "done"  # type: ignore[operator]
    assert len(calls) == 3


def test_the_library_methods_used_without_their_retry_still_carry_it_undecorated() -> None:
    # api.infrastructure.recorders calls them undecorated (functools.wraps keeps __wrapped__);
    # if the library stops decorating them so, this says where.
    for method in (
        PostgresApplicationRecorder.select_notifications,
        PostgresApplicationRecorder.max_notification_id,
        PostgresAggregateRecorder.insert_events,
        PostgresAggregateRecorder.select_events,
    ):
        assert callable(getattr(method, "__wrapped__", None)), method.__qualname__


# -- the command threads --------------------------------------------------------------------


def test_a_command_that_waited_for_a_thread_past_the_bound_is_refused_before_it_starts() -> None:
    threads = CommandThreads(1, queue_bound=0.1)
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def held_up() -> bool:
        started.set()
        return release.wait(10)

    try:
        first = threads.submit(held_up)
        assert started.wait(10)
        queued = threads.submit(ran.append, "written")
        time.sleep(0.2)  # longer than the bound, in the queue behind the first
        release.set()
        assert first.result(timeout=10) is True
        with pytest.raises(StoreBusy):
            queued.result(timeout=10)
        assert ran == []
    finally:
        release.set()
        threads.shutdown(wait=True)


def test_a_command_that_finds_a_thread_in_time_runs() -> None:
    threads = CommandThreads(1, queue_bound=60.0)
    try:
        assert threads.submit(lambda: "ran").result(timeout=10) == "ran"
    finally:
        threads.shutdown(wait=True)


def test_every_error_code_is_documented_in_docs_errors() -> None:
    # api.wiring, imported above, imports every module that defines an error.
    def every(kind: type[DomainError]) -> set[type[DomainError]]:
        found = set(kind.__subclasses__())
        return found.union(*(every(k) for k in found)) if found else found

    codes = {k.code for k in every(DomainError) | {DomainError}}
    codes |= {k.code for k in FAULTS}
    errors = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z_]+)`", errors))
    assert codes - documented == set()
