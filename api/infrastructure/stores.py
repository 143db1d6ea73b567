"""The read-model database: one small interface (``projections.sql``) over SQLite and
PostgreSQL.

Writers take the database's write lock for the whole transaction (SQLite ``BEGIN
IMMEDIATE``; PostgreSQL row locks taken by the caller), so a batch of rows and its tracking
position commit together.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import psycopg.errors
import psycopg.sql
from psycopg_pool import ConnectionPool, PoolTimeout

from projections.sql import SCRUB_TIMEOUT, Params, ScrubIncomplete


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
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
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
    "OR (backend_xid IS NOT NULL AND age(backend_xid) >= age(%s::text::xid)))"
)


def _compress_with_lz4(conn: psycopg.Connection[Any]) -> None:
    """Documents this connection writes are compressed with lz4 where the server has it. A
    case's document runs to kilobytes and is written again on every change to the case:
    with pglz, the default, compressing it was most of what PostgreSQL spent on the case
    rows, and lz4 does it in far less time (see bench/README.md, case_commands.py). A server
    without lz4 (or older than 14, without the setting) keeps its default."""
    conn.execute(
        "SELECT set_config('default_toast_compression', 'lz4', false) "
        "FROM pg_settings WHERE name = 'default_toast_compression' "
        "AND 'lz4' = ANY(enumvals)"
    )


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

    def __init__(
        self, params: dict[str, str], schema: str = "", pool_size: int = 10, timeout: float = 30.0
    ) -> None:
        """``pool_size``: the most connections it opens; ``timeout``: how long a caller waits
        for one before ``PoolTimeout`` (or ``PoolExhausted``)."""
        kwargs: dict[str, Any] = {k: v for k, v in with_search_path(params, schema).items() if v}
        # Autocommit: a read is its statements alone, with no BEGIN and COMMIT round trips
        # around them (read committed gave each statement its own snapshot anyway);
        # ``transaction`` and ``snapshot`` open their transactions explicitly.
        kwargs["autocommit"] = True
        self._pool = BoundedPool(
            kwargs=kwargs,
            min_size=1,
            max_size=pool_size,
            open=True,
            name="nrd-views",
            configure=_compress_with_lz4,
            timeout=timeout,
        )

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
