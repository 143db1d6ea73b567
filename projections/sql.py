"""What read models need of their database: the cursor and store interfaces, the array types
that send many rows in one statement, documents as JSON, and which errors are the database's.

SQL is written once with ``%s`` placeholders; the SQLite store rewrites them. The stores
themselves (connections, pools, files) are infrastructure: ``api/infrastructure/stores.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

import orjson
import psycopg
from eventsourcing.persistence import DataError as PersistenceDataError
from eventsourcing.persistence import IntegrityError as PersistenceIntegrityError
from eventsourcing.persistence import PersistenceError
from psycopg import postgres
from psycopg.types.array import ListBinaryDumper

Params = Sequence[Any]
# How long a scrub waits for older transactions to end before it gives up (and says so).
SCRUB_TIMEOUT = 30.0


class ScrubIncomplete(Exception):
    """Deleted rows could not be scrubbed from the files yet: older transactions still run."""

    def __init__(self, table: str) -> None:
        super().__init__(
            f"rows deleted from {table} could not be scrubbed yet: older "
            "transactions are still open"
        )


def is_transient(error: BaseException) -> bool:
    """Whether an error is the database's or the connection's (lost, restarted, locked,
    timed out, refused), not the data's: retried as it is, never blamed on an event. Data
    that a store refuses (a NUL in text, a duplicate key) is the data's."""
    if isinstance(
        error,
        psycopg.DataError
        | psycopg.IntegrityError
        | sqlite3.DataError
        | sqlite3.IntegrityError
        | PersistenceDataError
        | PersistenceIntegrityError,
    ):
        return False
    return isinstance(
        error,
        psycopg.Error | sqlite3.Error | PersistenceError | OSError | TimeoutError | ScrubIncomplete,
    )


def _array_type(element: str) -> type[list[Any]]:
    """A list that psycopg sends as a PostgreSQL array of ``element``, in the binary format,
    without looking through its items for their type (as it does with a plain list, on every
    statement)."""
    info = postgres.types[element]
    array: type[list[Any]] = type(f"{element.title()}s", (list,), {"element": element})
    psycopg.adapters.register_dumper(
        array,
        type(
            f"{element.title()}ArrayDumper",
            (ListBinaryDumper,),
            {"oid": info.array_oid, "element_oid": info.oid},
        ),
    )
    return array


UUIDs, Int8s, Texts, Byteas = (_array_type(name) for name in ("uuid", "int8", "text", "bytea"))


def dump_doc(doc: Any) -> str:
    """A read-model document as JSON text. orjson, because the worker rewrites a case's whole
    document, which grows with the case, on each change, and the standard library's encoder
    was a large part of its busy time (see bench/README.md, case_commands.py)."""
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode()


def load_doc(text: str | bytes) -> Any:
    """A read-model document read back (orjson: a case list parses fifty of them)."""
    return orjson.loads(text)


def insert_rows(
    cursor: Cursor,
    table: str,
    columns: Sequence[str],
    arrays: Sequence[type[list[Any]]],
    rows: Sequence[Sequence[Any]],
    on_conflict: str = "",
) -> None:
    """Inserts rows: on PostgreSQL in one statement, the columns sent as arrays (``arrays``:
    one of the types above per column), rather than a statement per row; on SQLite, whose
    statements cost no round trip, a statement per row. ``on_conflict`` ends the statement
    (no two rows may then share a key: one statement cannot update a row twice)."""
    if not rows:
        return
    names = ", ".join(columns)
    if not isinstance(cursor, psycopg.Cursor):
        marks = ", ".join("%s" for _ in columns)
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}", rows)
        return
    values = [array(row[i] for row in rows) for i, array in enumerate(arrays)]
    unnest = ", ".join(f"%b::{array.element}[]" for array in arrays)  # type: ignore[attr-defined]
    cursor.execute(
        f"INSERT INTO {table} ({names}) SELECT * FROM unnest({unnest}) {on_conflict}", values
    )


class Cursor(Protocol):
    def execute(self, sql: str, params: Params = ...) -> Any: ...
    def executemany(self, sql: str, params: Sequence[Params]) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    @property
    def rowcount(self) -> int: ...


class ViewStore(Protocol):
    dialect: str

    def transaction(self) -> Any: ...
    def read(self) -> Any: ...
    def snapshot(self) -> Any: ...
    def scrub(self, table: str, timeout: float = ...) -> None: ...
    def check(self) -> None: ...
    def close(self) -> None: ...
