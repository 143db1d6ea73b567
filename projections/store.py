"""The read-model database: one small interface over SQLite and PostgreSQL.

SQL is written once with ``%s`` placeholders; the SQLite side rewrites them. Writers take the
database's write lock for the whole transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL row
locks taken by the caller), so a batch of rows and its tracking position commit together.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Protocol

import orjson
import psycopg
import psycopg.errors
import psycopg.sql
from eventsourcing.persistence import DataError as PersistenceDataError
from eventsourcing.persistence import IntegrityError as PersistenceIntegrityError
from eventsourcing.persistence import PersistenceError
from psycopg import postgres
from psycopg.types.array import ListBinaryDumper
from psycopg_pool import ConnectionPool, PoolTimeout

from projections import faults

Params = Sequence[Any]
# How long a scrub waits for older transactions to end before it gives up (and says so).
SCRUB_TIMEOUT = 30.0


class ScrubIncomplete(Exception):
    """Deleted rows could not be scrubbed from the files yet: older transactions still run."""

    def __init__(self, table: str) -> None:
        super().__init__(f"rows deleted from {table} could not be scrubbed yet: older "
                         "transactions are still open")


def is_transient(error: BaseException) -> bool:
    """Whether an error is the database's or the connection's (lost, restarted, locked,
    timed out, refused), not the data's: retried as it is, never blamed on an event. Data
    that a store refuses (a NUL in text, a duplicate key) is the data's."""
    if isinstance(error, psycopg.DataError | psycopg.IntegrityError | sqlite3.DataError
                  | sqlite3.IntegrityError | PersistenceDataError | PersistenceIntegrityError):
        return False
    return isinstance(error, psycopg.Error | sqlite3.Error | PersistenceError | OSError
                      | TimeoutError | ScrubIncomplete)


def _array_type(element: str) -> type[list[Any]]:
    """A list that psycopg sends as a PostgreSQL array of ``element``, in the binary format,
    without looking through its items for their type (as it does with a plain list, on every
    statement)."""
    info = postgres.types[element]
    array: type[list[Any]] = type(f"{element.title()}s", (list,), {"element": element})
    psycopg.adapters.register_dumper(
        array, type(f"{element.title()}ArrayDumper", (ListBinaryDumper,),
                    {"oid": info.array_oid, "element_oid": info.oid}))
    return array


UUIDs, Int8s, Texts, Byteas = (_array_type(name) for name in ("uuid", "int8", "text", "bytea"))


def dump_doc(doc: Any) -> str:
    """A read-model document as JSON text. orjson takes a twentieth of the standard library's
    time on the documents the worker rewrites with each change (a long case's is ~10 KB)."""
    return orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS).decode()


def load_doc(text: str | bytes) -> Any:
    """A read-model document read back (orjson: a case list parses fifty of them)."""
    return orjson.loads(text)


def insert_rows(cursor: Cursor, table: str, columns: Sequence[str],
                arrays: Sequence[type[list[Any]]], rows: Sequence[Sequence[Any]],
                on_conflict: str = "") -> None:
    """Inserts rows: on PostgreSQL in one statement, the columns sent as arrays (``arrays``:
    one of the types above per column), rather than a statement per row; on SQLite, whose
    statements cost no round trip, a statement per row. ``on_conflict`` ends the statement
    (no two rows may then share a key: one statement cannot update a row twice)."""
    if not rows:
        return
    names = ", ".join(columns)
    if not isinstance(cursor, psycopg.Cursor):
        marks = ", ".join("%s" for _ in columns)
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {on_conflict}",
                           rows)
        return
    values = [array(row[i] for row in rows) for i, array in enumerate(arrays)]
    unnest = ", ".join(f"%b::{array.element}[]" for array in arrays)  # type: ignore[attr-defined]
    cursor.execute(f"INSERT INTO {table} ({names}) SELECT * FROM unnest({unnest}) "
                   f"{on_conflict}", values)


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


class _SQLiteCursor:
    _translated: ClassVar[dict[str, str]] = {}

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @classmethod
    def _sql(cls, sql: str) -> str:
        translated = cls._translated.get(sql)
        if translated is None:
            translated = cls._translated[sql] = sql.replace("%s", "?")
        return translated

    def execute(self, sql: str, params: Params = ()) -> _SQLiteCursor:
        self._cursor.execute(self._sql(sql), tuple(params))
        return self

    def executemany(self, sql: str, params: Sequence[Params]) -> _SQLiteCursor:
        self._cursor.executemany(self._sql(sql), [tuple(p) for p in params])
        return self

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()


class SQLiteViewStore:
    dialect = "sqlite"

    def __init__(self, path: Path, durable: bool = False, busy_timeout: float = 30.0) -> None:
        """``durable``: every commit survives a power loss (synchronous=FULL), not only a
        crash of the process (NORMAL, enough for read models that can be rebuilt).
        ``busy_timeout``: how long a statement waits for another connection's lock before it
        fails ("database is locked")."""
        self.path = path
        self._busy_timeout = busy_timeout
        self._synchronous = "FULL" if durable else "NORMAL"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            # Deleted rows are overwritten, not left in free pages (erasure relies on it).
            conn.execute("PRAGMA secure_delete=ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[_SQLiteCursor]:
        conn = self._connection()
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            yield _SQLiteCursor(cursor)
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cursor.close()

    @contextmanager
    def read(self) -> Iterator[_SQLiteCursor]:
        cursor = self._connection().cursor()
        try:
            yield _SQLiteCursor(cursor)
        finally:
            cursor.close()

    @contextmanager
    def snapshot(self) -> Iterator[_SQLiteCursor]:
        """Several reads that see one state of the database (a WAL read transaction)."""
        conn = self._connection()
        cursor = conn.cursor()
        cursor.execute("BEGIN")
        try:
            yield _SQLiteCursor(cursor)
        finally:
            conn.rollback()
            cursor.close()

    def scrub(self, table: str, timeout: float = SCRUB_TIMEOUT) -> None:
        """Leaves no copy of deleted rows in the files: secure_delete zeroed them in the
        pages; a checkpoint writes those pages back and empties the write-ahead log. A reader
        still inside an older transaction keeps the checkpoint from finishing: wait for it."""
        deadline = time.monotonic() + timeout
        while True:
            busy, _, _ = self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            if time.monotonic() > deadline:
                raise ScrubIncomplete(table)
            time.sleep(0.05)

    def check(self) -> None:
        """Nothing to check: each thread's connection is a file opened in this process."""

    @contextmanager
    def attached(self, path: Path, alias: str) -> Iterator[None]:
        """Another database file readable as ``alias`` by this thread's statements (a
        rebuild's tables built aside), until the block ends."""
        if not alias.isidentifier():
            raise ValueError("an alias is an identifier")
        conn = self._connection()
        conn.execute(f"ATTACH DATABASE ? AS {alias}", (str(path),))
        try:
            yield
        finally:
            conn.execute(f"DETACH DATABASE {alias}")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class SQLiteHeldStore:
    """A view store over one SQLite connection that already holds the write transaction:
    each ``transaction`` is a savepoint inside it. A rebuild applies the last events to the
    read models it built aside through it, while the same transaction holds the live ones."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @contextmanager
    def transaction(self) -> Iterator[_SQLiteCursor]:
        cursor = self._conn.cursor()
        cursor.execute("SAVEPOINT held")
        try:
            yield _SQLiteCursor(cursor)
        except BaseException:
            cursor.execute("ROLLBACK TO held")
            cursor.execute("RELEASE held")
            raise
        else:
            cursor.execute("RELEASE held")
        finally:
            cursor.close()

    @contextmanager
    def read(self) -> Iterator[_SQLiteCursor]:
        cursor = self._conn.cursor()
        try:
            yield _SQLiteCursor(cursor)
        finally:
            cursor.close()

    snapshot = read

    def scrub(self, table: str, timeout: float = SCRUB_TIMEOUT) -> None:
        raise NotImplementedError("scrub the store that owns the file")

    def check(self) -> None:
        """Nothing to check: the connection is its owner's."""

    def close(self) -> None:
        """The connection is its owner's to close."""


@contextmanager
def sqlite_startup_lock(folder: Path) -> Iterator[None]:
    """Serializes start-up on the embedded stores: fresh SQLite files switching to WAL at the
    same moment answer "database is locked" without waiting."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".startup.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Sessions of this database whose snapshot or transaction began before the mark.
_OLDER_SESSIONS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() "
    "AND ((backend_xmin IS NOT NULL AND age(backend_xmin) >= age(%s::text::xid)) "
    "OR (backend_xid IS NOT NULL AND age(backend_xid) >= age(%s::text::xid)))")

class LogListener:
    """Wakes a projection worker when any process writes events: the event store NOTIFYs a
    channel in every insert, and this holds a connection LISTENing to it (opened by ``start``,
    before the worker's first pass, so no insert after that pass goes unnoticed). A lost
    connection is opened again on the next wait; meanwhile the worker's interval bounds its
    lag.

    Under a steady load the worker passes again as soon as it has gathered, and has no use
    for notifications; each one still wakes this connection's server process and is sent to
    it. So the worker stops listening (``pause``) and listens again once a pass finds nothing
    (``resume``), then looks once more before it waits."""

    SLICE = 0.05  # how often a wait also looks at the local wake-up

    def __init__(self, params: dict[str, str], channel: str) -> None:
        self._conninfo = psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v})
        self._listen = psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel))
        self._unlisten = psycopg.sql.SQL("UNLISTEN {}").format(psycopg.sql.Identifier(channel))
        self._conn: psycopg.Connection[Any] | None = None
        self.paused = False

    def start(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            self._conn.execute(self._listen)
            self.paused = False

    def pause(self) -> None:
        """Stops listening, until ``resume`` (or until a lost connection is opened again)."""
        if self.paused or self._conn is None or self._conn.closed:
            return
        try:
            self._conn.execute(self._unlisten)
            for _ in self._conn.notifies(timeout=0):  # those already sent
                pass
            self.paused = True
        except psycopg.Error:
            self.close()

    def resume(self) -> bool:
        """Listens again after ``pause``; True if it had paused. An insert made while paused
        sent nothing here: the caller looks for it before waiting."""
        if not self.paused:
            return False
        self.paused = False
        try:
            if self._conn is not None and not self._conn.closed:
                self._conn.execute(self._listen)
        except psycopg.Error:
            self.close()
        return True

    def wait(self, timeout: float, local: threading.Event) -> bool:
        """Waits up to ``timeout`` seconds; True once an insert was notified, or ``local`` (a
        command of this process) was set. Notifications already queued are taken too, so one
        batch answers them all."""
        deadline = time.monotonic() + timeout
        try:
            self.start()
            assert self._conn is not None
            faults.reached("listening", self._conn)
            while not local.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if any(True for _ in self._conn.notifies(timeout=min(left, self.SLICE),
                                                         stop_after=1)):
                    for _ in self._conn.notifies(timeout=0):
                        pass
                    return True
            return True
        except psycopg.Error:
            self.close()
            return local.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _compress_with_lz4(conn: psycopg.Connection[Any]) -> None:
    """Documents this connection writes are compressed with lz4 where the server has it. A
    case's document runs to kilobytes and is written again on every change to the case:
    with pglz, the default, compressing it was most of what PostgreSQL spent on the case
    rows (63 µs a row in the command benchmark, 23 µs with lz4). A server without lz4 (or
    older than 14, without the setting) keeps its default."""
    conn.execute("SELECT set_config('default_toast_compression', 'lz4', false) "
                 "FROM pg_settings WHERE name = 'default_toast_compression' "
                 "AND 'lz4' = ANY(enumvals)")


class PoolExhausted(PoolTimeout):
    """No connection came free within the pool's timeout: every one was in use."""


class BoundedPool(ConnectionPool):
    """A connection pool that tells, when a wait for a connection times out, whether every
    connection was lent out (``PoolExhausted``: the server is busy) or the pool could not
    open one (its ``PoolTimeout``: the database is unreachable)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lent = 0
        self._lent_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def getconn(self, timeout: float | None = None) -> Any:
        try:
            conn = super().getconn(timeout)
        except PoolTimeout as error:
            with self._lent_lock:
                exhausted = self._lent >= self.max_size
            if exhausted:
                raise PoolExhausted(str(error)) from error
            raise
        with self._lent_lock:
            self._lent += 1
        return conn

    def putconn(self, conn: Any) -> None:
        with self._lent_lock:
            self._lent -= 1
        super().putconn(conn)


def with_search_path(params: dict[str, str], schema: str) -> dict[str, str]:
    """Connection parameters whose sessions find unqualified tables in ``schema``."""
    if not schema:
        return params
    options = " ".join(filter(None, [params.get("options", ""), f"-c search_path={schema}"]))
    return {**params, "options": options}


class PostgresViewStore:
    dialect = "postgres"

    def __init__(self, params: dict[str, str], schema: str = "", pool_size: int = 10,
                 timeout: float = 30.0) -> None:
        """``pool_size``: the most connections it opens; ``timeout``: how long a caller waits
        for one before ``PoolTimeout`` (or ``PoolExhausted``)."""
        kwargs: dict[str, Any] = {k: v for k, v in with_search_path(params, schema).items()
                                  if v}
        # Autocommit: a read is its statements alone, with no BEGIN and COMMIT round trips
        # around them (read committed gave each statement its own snapshot anyway);
        # ``transaction`` and ``snapshot`` open their transactions explicitly.
        kwargs["autocommit"] = True
        self._pool = BoundedPool(kwargs=kwargs, min_size=1, max_size=pool_size, open=True,
                                 name="nrd-views", configure=_compress_with_lz4,
                                 timeout=timeout)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            yield cursor

    @contextmanager
    def read(self) -> Iterator[Any]:
        """Reads, each statement seeing the database as it committed just before it (for one
        state across several statements, ``snapshot``)."""
        with self._pool.connection() as conn, conn.cursor() as cursor:
            yield cursor

    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        """Several reads that see one state of the database."""
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield cursor

    def scrub(self, table: str, timeout: float = SCRUB_TIMEOUT) -> None:
        """Rewrites the table into a new file, leaving no dead copy of deleted rows in it.

        VACUUM keeps a deleted row while any transaction that began before the delete could
        still see it, so first wait until every such transaction in this database has ended.
        """
        if not table.isidentifier():
            raise ValueError("a table name is an identifier")
        deadline = time.monotonic() + timeout
        with self._pool.connection() as conn:  # autocommit, as VACUUM needs
            (current,) = conn.execute("SELECT txid_current()").fetchone() or (0,)
            mark = int(current) % 2**32  # the 32-bit transaction id that age() compares
            while conn.execute(_OLDER_SESSIONS, (mark, mark)).fetchone() != (0,):
                if time.monotonic() > deadline:
                    raise ScrubIncomplete(table)
                time.sleep(0.05)
            # Its wait for the table's lock stays bounded (a lock held elsewhere: not yet);
            # its run, as long as the table takes to rewrite.
            conn.execute("SET statement_timeout = 0")
            try:
                conn.execute(f"VACUUM FULL {table}")
            except psycopg.errors.LockNotAvailable:
                raise ScrubIncomplete(table) from None
            finally:
                conn.execute("RESET statement_timeout")

    def check(self) -> None:
        """Tests the pool's idle connections and replaces those that died (after a restart
        of PostgreSQL, or a session ended by an operator), so that the next use gets a live
        one."""
        self._pool.check()

    def close(self) -> None:
        self._pool.close()
