"""The PostgreSQL event recorder: one statement per write, with the table lock inside it.

The library's recorder sends BEGIN, takes the events table's lock (so that notification ids
commit in order and no reader passes over one), inserts, waits for the ids, and only then
sends COMMIT: the lock stays held across round trips and while the client handles the answer,
and in a busy Python process (the GIL) that is milliseconds during which every other writer
queues. Here one call of a database function does the same work: it takes the same lock,
notifies the same channel and inserts, in the statement's own transaction, so the lock is held
only while PostgreSQL works. (The library's optional database function, never enabled here,
takes no lock, so a tailing reader can pass over an id that commits late; this one takes the
lock first.) The events go as plain arrays, in the binary format (the text format costs the
driver more time, and PostgreSQL a hex decoding of every state), instead of an array of a
composite type, which the driver encodes in Python.

A command decides on cached aggregates without asking the store what changed since (see
``CopyingRepository.deciding``): the same statement, under the same lock, refuses the write
when any record the decision read has moved past the version read (``relied_on``), as a
version taken is refused, and the command goes round again on state brought up to date.
On SQLite, ``CheckedSQLiteRecorder`` does the same in the write's transaction.

Snapshots go to the library's own table, with the library's statements but one: the insert
(``BinarySnapshotRecorder``). The library sends an array of a composite type, which the driver
encodes as text in Python, escaping every byte of the state; a case's snapshot holds every
referral and disclosure so far, and encoding it held up the writing thread. Here its columns
go as binary arrays too, and the state column is compressed with lz4 where the server has it
(the insert's time is mostly PostgreSQL compressing, and lz4 is much faster at it than pglz;
figures in bench/README.md, case_commands.py). ``PostgresFactory`` gives the application both
recorders. They override the library's public recorder methods only; the one private use (its
query of the notification log without its retry) goes through ``domain/eventsourcing_adapter``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast
from uuid import UUID

from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import ConnectionPool as LibraryConnectionPool
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
)
from eventsourcing.postgres import PostgresFactory as LibraryPostgresFactory
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import EnvType
from psycopg.errors import LockNotAvailable, QueryCanceled
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier, Literal
from psycopg_pool import PoolTimeout

from api.config import ConfigurationError
from api.infrastructure.stores import BoundedPool
from domain.eventsourcing_adapter import unretried
from projections.sql import Byteas, Int8s, Texts, UUIDs, insert_rows

MOVED_ON = "a record the decision read has changed since"
SNAPSHOT_COLUMNS = ("originator_id", "originator_version", "topic", "state")
# As the library retries a statement whose connection failed: ten attempts, 0.2 s apart.
ATTEMPTS = 10
RETRY_WAIT = 0.2
F = TypeVar("F", bound=Callable[..., Any])


def passed_a_bound(error: BaseException) -> bool:
    """Whether a store error came from a bound: a lock or statement timeout, or no connection
    within the pool's timeout. Trying again would wait as long again, so the caller is told
    at once (``api.faults`` names it)."""
    return isinstance(error.__cause__, LockNotAvailable | QueryCanceled | PoolTimeout)


def retry_lost_connections(func: F) -> F:
    """Retries a statement whose connection failed (after a server restart the pool's
    connections are dead, and each is found so on use), as the library's own ``retry``
    does, but never one that passed a bound: the library would wait ten times as long."""

    @functools.wraps(func)
    def retrying(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return func(*args, **kwargs)
            except (InterfaceError, OperationalError) as error:
                if attempt == ATTEMPTS or passed_a_bound(error):
                    raise
            time.sleep(RETRY_WAIT)
        raise AssertionError("unreachable")

    return cast(F, retrying)


# The library retries every OperationalError, a lock or a pool timeout among them, ten times:
# its query of the notification log is called without that retry, inside ours.
_select_notifications = unretried(PostgresApplicationRecorder.select_notifications)


def channel_for(schema: str, table: str) -> str:
    """The channel a store's inserts notify: its schema's, so that stores in other schemas of
    one database (other deployments, other tests) wake no worker of this one. A channel is an
    identifier, at most 63 bytes: a longer name is hashed."""
    name = f"{schema}_{table}" if schema else table
    if len(name.encode()) <= 63:
        return name
    return f"{table[:30]}_{hashlib.sha256(name.encode()).hexdigest()[:24]}"


class ComposedOnceSelects(PostgresAggregateRecorder):
    """The library's select of a record's events (or snapshots), retried as above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The library composes its select statement anew on every load; these are its very
        # statements, composed once per shape.
        self._selects: dict[tuple[bool, bool, bool, bool], str] = {}

    @retry_lost_connections
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        shape = (gt is not None, lte is not None, desc, limit is not None)
        statement = self._selects.get(shape)
        if statement is None:
            composed = self.select_events_statement
            if gt is not None:
                composed += SQL(" AND originator_version > %s")
            if lte is not None:
                composed += SQL(" AND originator_version <= %s")
            composed += SQL(
                " ORDER BY originator_version DESC" if desc else " ORDER BY originator_version ASC"
            )
            if limit is not None:
                composed += SQL(" LIMIT %s")
            statement = self._selects.setdefault(shape, composed.as_string())
        params = [originator_id, *(p for p in (gt, lte, limit) if p is not None)]
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, params, prepare=True)
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in cursor.fetchall()
            ]


class LockedInsertRecorder(ComposedOnceSelects, PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel_name = channel_for(self.datastore.schema, self.events_table_name)
        schema = Identifier(self.datastore.schema)
        function = Identifier(f"{self.events_table_name}_insert_locked")
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}(ids uuid[], versions bigint[], "
                "topics text[], states bytea[], read_ids uuid[], read_versions bigint[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $body$ BEGIN "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "FOR i IN 1 .. coalesce(array_length(read_ids, 1), 0) LOOP "
                "IF EXISTS (SELECT FROM {schema}.{table} WHERE originator_id = read_ids[i] "
                "AND originator_version > read_versions[i]) THEN "
                "RAISE unique_violation USING MESSAGE = {moved_on}; END IF; END LOOP; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {schema}.{table} "
                "(originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id; "
                "END $body$"
            ).format(
                schema=schema,
                function=function,
                table=Identifier(self.events_table_name),
                channel=Identifier(self.channel_name),
                moved_on=Literal(MOVED_ON),
            )
        )
        self._insert_locked = (
            SQL(
                "SELECT id FROM {schema}.{function}(%b::uuid[], %b::bigint[], %b::text[], "
                "%b::bytea[], %b::uuid[], %b::bigint[]) AS id"
            )
            .format(schema=schema, function=function)
            .as_string()
        )

    def create_table(self) -> None:
        super().create_table()
        self.check_isolation()

    def check_isolation(self) -> None:
        """Refuses to work under another default isolation than READ COMMITTED (the schema
        migration and every process at start check it)."""
        # The check of versions relied on must see what committed before the lock was taken:
        # each statement's own snapshot (READ COMMITTED). Under REPEATABLE READ or
        # SERIALIZABLE the statement's snapshot predates the lock, and a write that came
        # between would go unseen.
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute("SHOW default_transaction_isolation")
            row = cursor.fetchone()
        level = None if row is None else str(next(iter(row.values())))
        if level != "read committed":
            raise ConfigurationError(
                f"the event store needs PostgreSQL's default_transaction_isolation to be "
                f"'read committed' (it is {level!r}): reset it for this database and role"
            )

    @retry_lost_connections
    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        relied_on: Mapping[UUID, int] | None = None,
        **kwargs: Any,
    ) -> Sequence[int] | None:
        if any(value is not None for value in kwargs.values()):
            if relied_on:
                raise NotImplementedError("a tracked write checks no versions read")
            # A tracking record (not used here): the library's way, lock and all.
            recorded: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return recorded
        if not stored_events:
            return []
        relied = relied_upon(relied_on, stored_events)
        columns = (
            UUIDs(_uuid(e.originator_id) for e in stored_events),
            Int8s(e.originator_version for e in stored_events),
            Texts(e.topic for e in stored_events),
            Byteas(e.state for e in stored_events),
            UUIDs(relied),
            Int8s(relied.values()),
        )
        # A version already taken, or one read that has moved on, raises the library's
        # IntegrityError (get_connection maps it), and the statement's transaction is rolled
        # back whole.
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(self._insert_locked, columns, prepare=True)
            return [row["id"] for row in cursor.fetchall()]

    @retry_lost_connections
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        return cast(
            Sequence[Notification],
            _select_notifications(
                self, start, limit, stop, topics, inclusive_of_start=inclusive_of_start
            ),
        )

    @retry_lost_connections
    def max_notification_id(self) -> int | None:
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(self.max_notification_id_statement)
            row = cursor.fetchone()
        return None if row is None else cast(int | None, row["max"])


class BinarySnapshotRecorder(ComposedOnceSelects):
    """The library's snapshot recorder, inserting the columns as binary arrays."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema, table = Identifier(self.datastore.schema), Identifier(self.events_table_name)
        # Altered only when not yet so: the ALTER locks the table, and every start runs this.
        self.sql_create_statements.append(
            SQL(
                "DO $body$ BEGIN "
                "IF 'lz4' = ANY((SELECT enumvals FROM pg_settings "
                "WHERE name = 'default_toast_compression')::text[]) "
                "AND (SELECT attcompression FROM pg_attribute WHERE attname = 'state' "
                "AND attrelid = format('%I.%I', {schema_name}, {table_name})::regclass) <> 'l' THEN "
                "ALTER TABLE {schema}.{table} ALTER COLUMN state SET COMPRESSION lz4; "
                "END IF; END $body$"
            ).format(
                schema=schema,
                table=table,
                schema_name=Literal(self.datastore.schema),
                table_name=Literal(self.events_table_name),
            )
        )
        self._qualified = SQL("{schema}.{table}").format(schema=schema, table=table).as_string()

    @retry_lost_connections
    def insert_events(self, stored_events: Sequence[StoredEvent], **_: Any) -> None:
        if not stored_events:
            return
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            insert_rows(
                cursor,
                self._qualified,
                SNAPSHOT_COLUMNS,
                (UUIDs, Int8s, Texts, Byteas),
                [
                    (_uuid(e.originator_id), e.originator_version, e.topic, e.state)
                    for e in stored_events
                ],
            )


class EventStorePool(BoundedPool, LibraryConnectionPool[Any]):
    """The library's pool class (the password function it supports), telling exhaustion
    from an unreachable database as ``BoundedPool`` does."""


class PostgresFactory(LibraryPostgresFactory):
    """The library's PostgreSQL factory, with the recorders above and nrd's own pool."""

    aggregate_recorder_class = BinarySnapshotRecorder
    application_recorder_class = LockedInsertRecorder

    def __init__(self, env: EnvType | Any) -> None:
        super().__init__(env)
        params = json.loads(self.env.get("NRD_POSTGRES_PARAMS") or "{}")
        if not params:
            return
        # The library's pool takes only its own connection parameters, and opens all of its
        # connections at once. nrd's carry the process's name and the statements' bounds
        # (Settings.postgres_params), open as needed up to the event store's share of
        # NRD_MAX_CONNECTIONS, and tell exhaustion from an unreachable database. The
        # library opens its pool on first use, so it is not open yet: it is replaced whole.
        library_pool = self.datastore.pool
        self.datastore.pool = EventStorePool(
            kwargs={**{k: v for k, v in params.items() if v}, "row_factory": dict_row},
            min_size=1,
            max_size=library_pool.max_size,
            open=False,
            name="nrd-events",
            configure=self.datastore.after_connect_func(),
            timeout=float(self.env.get("NRD_POSTGRES_POOL_TIMEOUT") or library_pool.timeout),
            max_lifetime=library_pool.max_lifetime,
        )


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def relied_upon(
    relied_on: Mapping[UUID, int] | None, stored_events: Sequence[StoredEvent]
) -> dict[UUID, int]:
    """The versions a write relied on, but for the records it writes: the versions it takes
    are checked by the events table's key."""
    written = {e.originator_id for e in stored_events}
    return {
        aggregate_id: version
        for aggregate_id, version in (relied_on or {}).items()
        if aggregate_id not in written
    }


class CheckedSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's SQLite recorder, which also refuses a write whose decision read a record
    that has changed since (``relied_on``: id -> version read), in the write's transaction.
    The check runs after the inserts, when the transaction holds the database's write lock,
    so no other writer can come between."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The library's own table name, as in its own statements.
        self._moved_on = (
            f"SELECT 1 FROM {self.events_table_name} "  # noqa: S608
            "WHERE originator_id = ? AND originator_version > ? LIMIT 1"
        )

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        relied_on = relied_upon(kwargs.pop("relied_on", None), stored_events)
        returning = super()._insert_events(c, stored_events, **kwargs)
        for aggregate_id, version in relied_on.items():
            c.execute(self._moved_on, (aggregate_id.hex, version))
            if c.fetchone() is not None:
                raise IntegrityError(MOVED_ON)
        return returning
