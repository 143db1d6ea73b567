"""Read models built aside from the log: a rebuild that swaps them in whole, and a check that
compares them with the live ones.

A rebuild builds every read model it rebuilds (all but those kept on rebuild) into a place of
its own (PostgreSQL: a scratch schema; SQLite: a scratch file), from the log, while the live
ones go on serving and following. It then holds the live read models' tracking rows (so the
worker waits), applies the few events written meanwhile, and in one transaction replaces the
live tables with the new ones, positions and quarantine included: PostgreSQL drops the live
tables and moves the new ones into the live schema; SQLite copies the rows, readers seeing the
old ones until the commit. Anything that fails before the commit leaves the live read models
as they were.

A check builds aside the same way, up to the positions the live read models have reached,
holds them there for a moment to take one consistent view of both, and compares them table
by table, rows as sets. It reports counts and record ids, never values.

Memory stays flat however long the log: a rebuild touches every record once, so nothing it
memoizes per record or per instant is worth keeping past its batch. Its projectors forget the
instants' texts after each batch (``forget_batch``), and the composition root hands its
projections a vault that keeps no case keys.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg
import psycopg.conninfo

from api.infrastructure.stores import PostgresViewStore, SQLiteHeldStore, SQLiteViewStore
from projections.aggregates import iso
from projections.runner import (
    QUARANTINE_COLUMNS,
    Progress,
    Projection,
    Projector,
)
from projections.sql import Cursor, ViewStore

log = logging.getLogger("nrd.projections")
BOOKKEEPING = ("projection_tracking", "projection_quarantine")
SWAP_LOCK_TIMEOUT = "10s"  # how long the swap waits for readers of the live tables
SWAP_ATTEMPTS = 3
KEYS_SHOWN = 5  # record ids shown per kind of difference


def forget_batch() -> None:
    """What a projector aside runs after each batch: the texts of the instants it wrote are
    forgotten (the memo pays off for the worker, which rewrites its recent cases again and
    again; a rebuild would fill it to its bound, one entry per instant of the log). The memo
    is the process's: in the process that rebuilds, a worker would only compute them again."""
    iso.cache_clear()


class RebuildBusy(Exception):
    """Another rebuild or check is running on these read models."""


@dataclass
class Difference:
    """How one table (or the quarantine) of the live read models differs from a rebuild."""

    table: str
    missing: list[str] = field(default_factory=list)  # keys a rebuild has, live lacks
    extra: list[str] = field(default_factory=list)  # keys live has, a rebuild lacks
    changed: list[str] = field(default_factory=list)  # keys in both, with other values
    note: str = ""

    def summary(self) -> str:
        if self.note:
            return f"{self.table}: {self.note}"
        parts = [
            f"{len(keys)} {what}"
            + (f" (e.g. {', '.join(sorted(keys)[:KEYS_SHOWN])})" if keys else "")
            for what, keys in (
                ("missing", self.missing),
                ("extra", self.extra),
                ("different", self.changed),
            )
            if keys
        ]
        return f"{self.table}: " + "; ".join(parts)


@dataclass(frozen=True)
class CheckReport:
    positions: dict[str, int]
    tables: int
    differences: list[Difference]


class Place(Protocol):
    """Where read models are built aside, and how the live ones are held beside them. SQL
    inside ``frozen`` and ``view`` names tables with ``live_qualifier`` and
    ``aside_qualifier``."""

    live_qualifier: str
    aside_qualifier: str

    def exclusive(self) -> Any: ...
    def open(self) -> ViewStore: ...
    def discard(self) -> None: ...
    def frozen(self, names: Sequence[str], asides: Sequence[Projector]) -> Any: ...
    def view(
        self,
        names: Sequence[str],
        asides: Sequence[Projector],
        catch_up: Callable[[dict[str, int]], None],
    ) -> Any: ...
    def tables(self, cursor: Cursor) -> list[str]: ...
    def columns(self, cursor: Cursor, qualifier: str, table: str) -> list[str]: ...
    def install(
        self, cursor: Cursor, projections: Sequence[Projection], tables: Sequence[str]
    ) -> None: ...


class AsideRebuilder:
    """Implements ``projections.runner.Rebuilder``, and the check beside it."""

    def __init__(self, place: Place, make_projections: Callable[[], list[Projection]]) -> None:
        self.place = place
        self.make_projections = make_projections

    @contextmanager
    def _aside(self, projector: Projector) -> Iterator[dict[str, Projector]]:
        """A fresh place, with one projector per rebuilt read model (each may stop at its own
        position), on fresh projections that remember nothing."""
        rebuilt = {p.name for p in projector.rebuilt()}
        with self.place.exclusive():
            store = self.place.open()
            try:
                asides = {
                    p.name: Projector(
                        projector.app, store, [p], projector.batch_size, after_batch=forget_batch
                    )
                    for p in self.make_projections()
                    if p.name in rebuilt
                }
                with store.transaction() as cursor:
                    for aside in asides.values():
                        aside.create_tables(cursor)
                yield asides
            finally:
                store.close()
                self.place.discard()

    def rebuild(self, projector: Projector, progress: Progress | None) -> int:
        with self._aside(projector) as asides:
            applied = sum(aside.catch_up(progress) for aside in asides.values())
            for attempt in range(1, SWAP_ATTEMPTS + 1):
                try:
                    return applied + self._swap(projector, asides)
                except (
                    psycopg.errors.LockNotAvailable,
                    psycopg.errors.DeadlockDetected,
                    sqlite3.OperationalError,
                ) as error:
                    if attempt == SWAP_ATTEMPTS:
                        raise
                    log.warning(
                        "swapping the rebuilt read models in waited too long (%s); trying again",
                        type(error).__name__,
                    )
                    time.sleep(attempt)
        raise AssertionError("unreachable")

    def _swap(self, projector: Projector, asides: dict[str, Projector]) -> int:
        names = sorted(asides)
        live, aside = self.place.live_qualifier, self.place.aside_qualifier
        with self.place.frozen(names, list(asides.values())) as (cursor, _):
            applied = sum(aside.catch_up() for aside in asides.values())  # written meanwhile
            tables = self.place.tables(cursor)
            self.place.install(cursor, projector.rebuilt(), tables)
            marks = ", ".join(["%s"] * len(names))
            for column in ("position", "quarantined"):
                cursor.execute(
                    f"UPDATE {live}.projection_tracking SET {column} = (SELECT a.{column} "
                    f"FROM {aside}.projection_tracking a WHERE a.name = "
                    f"{live}.projection_tracking.name) WHERE name IN ({marks})",
                    names,
                )
            cursor.execute(
                f"UPDATE {live}.projection_tracking SET moved_at = %s, "
                f"failure = NULL WHERE name IN ({marks})",
                [time.time(), *names],
            )
            cursor.execute(
                f"DELETE FROM {live}.projection_quarantine WHERE projection IN ({marks})", names
            )
            columns = ", ".join(QUARANTINE_COLUMNS)
            cursor.execute(
                f"INSERT INTO {live}.projection_quarantine ({columns}) "
                f"SELECT {columns} FROM {aside}.projection_quarantine"
            )
        return applied

    def check(self, projector: Projector, progress: Progress | None = None) -> CheckReport:
        """Builds every rebuilt read model aside up to where the live one stands, then
        compares the two, table by table."""
        with self._aside(projector) as asides:
            reached = projector.positions()
            for name, aside in asides.items():
                aside.catch_up(progress, until=reached.get(name, 0))
            names = sorted(asides)
            held: dict[str, int] = {}

            def catch_up(positions: dict[str, int]) -> None:
                held.update(positions)
                for name, aside in asides.items():
                    aside.catch_up(until=positions[name])  # what the live ones applied since

            with self.place.view(names, list(asides.values()), catch_up) as cursor:
                differences, tables = _compare(self.place, cursor, names, _state_tables(asides))
            return CheckReport(held, tables, differences)


def _state_tables(asides: dict[str, Projector]) -> set[str]:
    """The folded states a read model keeps to start from (stored at versions that depend on
    how its batches fell), and the tables requests write rather than events
    (``unchecked_tables``: a service token's last use): not compared."""
    return {
        table
        for aside in asides.values()
        for p in aside.projections
        for table in (getattr(p, "state_table", None), *getattr(p, "unchecked_tables", ()))
        if table
    }


def _compare(
    place: Place, cursor: Cursor, names: Sequence[str], skipped: set[str]
) -> tuple[list[Difference], int]:
    live, aside = place.live_qualifier, place.aside_qualifier
    differences: list[Difference] = []
    tables = [t for t in place.tables(cursor) if t not in skipped]
    for table in tables:
        columns = place.columns(cursor, aside, table)
        if place.columns(cursor, live, table) != columns:
            differences.append(
                Difference(
                    table, note="its columns differ from this version's: run `nrd db migrate`"
                )
            )
            continue
        listed = ", ".join(columns)

        def keys(
            first: str, second: str, listed: str = listed, table: str = table, key: str = columns[0]
        ) -> set[str]:
            rows = cursor.execute(
                f"SELECT d.{key} FROM (SELECT {listed} FROM {first}.{table} EXCEPT "
                f"SELECT {listed} FROM {second}.{table}) d"
            ).fetchall()
            return {str(row[0]) for row in rows}

        only_live, only_aside = keys(live, aside), keys(aside, live)
        if only_live or only_aside:
            differences.append(
                Difference(
                    table,
                    missing=sorted(only_aside - only_live),
                    extra=sorted(only_live - only_aside),
                    changed=sorted(only_live & only_aside),
                )
            )
    marks = ", ".join(["%s"] * len(names))

    def held(qualifier: str) -> set[str]:
        rows = cursor.execute(
            f"SELECT projection, position, stage FROM "
            f"{qualifier}.projection_quarantine WHERE projection IN "
            f"({marks})",
            list(names),
        ).fetchall()
        return {f"{row[0]}@{row[1]}:{row[2]}" for row in rows}

    live_held, aside_held = held(live), held(aside)
    if live_held != aside_held:
        differences.append(
            Difference(
                "projection_quarantine",
                missing=sorted(aside_held - live_held),
                extra=sorted(live_held - aside_held),
            )
        )
    return differences, len(tables) + 1


def _identifier(name: str) -> str:
    if not (
        name.replace("_", "a").isalnum()
        and name.isascii()
        and (name[0].isalpha() or name[0] == "_")
    ):
        raise ValueError("not a plain identifier")
    return name


def _held_positions(
    cursor: Cursor, qualifier: str, names: Sequence[str], lock: str = ""
) -> dict[str, int]:
    marks = ", ".join(["%s"] * len(names))
    rows = cursor.execute(
        f"SELECT name, position FROM {qualifier}.projection_tracking "
        f"WHERE name IN ({marks}) ORDER BY name{lock}",
        list(names),
    ).fetchall()
    return {row[0]: int(row[1]) for row in rows}


class PostgresPlace:
    """A scratch schema beside the live one, in the same database."""

    _LOCK = 0x6E72_6472  # any fixed number: one rebuild or check at a time per schema

    def __init__(self, params: dict[str, str], live_schema: str = "") -> None:
        self._conninfo = psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v})
        self._params = params
        self._live = live_schema
        self._guard: psycopg.Connection[Any] | None = None
        self.live_qualifier = self.aside_qualifier = ""

    def _connect(self, schema: str = "") -> psycopg.Connection[Any]:
        options = f"-c search_path={schema}" if schema else None
        return psycopg.connect(self._conninfo, autocommit=True, options=options, connect_timeout=10)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._connect(self._live) as guard:
            (schema,) = guard.execute("SELECT current_schema()").fetchone() or ("public",)
            self.live_qualifier = _identifier(schema)
            self.aside_qualifier = "nrd_aside_" + hashlib.sha256(schema.encode()).hexdigest()[:16]
            (free,) = guard.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (self._LOCK, schema)
            ).fetchone() or (False,)
            if not free:
                raise RebuildBusy("another rebuild or check is running on these read models")
            self._guard = guard
            try:
                yield
            finally:
                self._guard = None

    def open(self) -> ViewStore:
        assert self._guard is not None
        self._guard.execute(f"DROP SCHEMA IF EXISTS {self.aside_qualifier} CASCADE")
        self._guard.execute(f"CREATE SCHEMA {self.aside_qualifier}")
        return PostgresViewStore(self._params, self.aside_qualifier, 2)

    def discard(self) -> None:
        if self._guard is not None and not self._guard.closed:
            try:
                self._guard.execute(f"DROP SCHEMA IF EXISTS {self.aside_qualifier} CASCADE")
            except psycopg.Error as error:  # the next rebuild or check drops it first
                log.warning("could not drop the scratch schema: %s", type(error).__name__)

    @contextmanager
    def frozen(
        self,
        names: Sequence[str],
        asides: Sequence[Projector],
    ) -> Iterator[tuple[Cursor, dict[str, int]]]:
        """A transaction on the live schema holding these read models' tracking rows (the
        worker and any catch-up wait): its cursor, and where they stand. The read models
        aside go on writing through their own store."""
        with (
            self._connect(self.live_qualifier) as conn,
            conn.transaction(),
            conn.cursor() as cursor,
        ):
            cursor.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
            yield cursor, _held_positions(cursor, self.live_qualifier, names, " FOR UPDATE")

    @contextmanager
    def view(
        self,
        names: Sequence[str],
        asides: Sequence[Projector],
        catch_up: Callable[[dict[str, int]], None],
    ) -> Iterator[Cursor]:
        """One read-only view of both schemas, taken while the live read models are held at
        their positions and the ones aside have been brought there (``catch_up``); the live
        ones are released before the comparison runs."""
        with self._connect(self.live_qualifier) as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            with self.frozen(names, asides) as (_, positions):
                catch_up(positions)
                conn.execute("SELECT 1")  # the view is taken here, while they are held
            with conn.cursor() as cursor:
                yield cursor
            conn.execute("ROLLBACK")

    def tables(self, cursor: Cursor) -> list[str]:
        rows = cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
            (self.aside_qualifier,),
        ).fetchall()
        return [_identifier(row[0]) for row in rows if row[0] not in BOOKKEEPING]

    def columns(self, cursor: Cursor, qualifier: str, table: str) -> list[str]:
        rows = cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE "
            "table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (qualifier, table),
        ).fetchall()
        return [_identifier(row[0]) for row in rows]

    def install(
        self, cursor: Cursor, projections: Sequence[Projection], tables: Sequence[str]
    ) -> None:
        """The live tables are dropped and the new ones moved into the live schema, with
        their indexes, in the swap's transaction (whose search path is the live schema)."""
        for projection in projections:
            projection.drop_tables(cursor)
        for table in tables:
            cursor.execute(
                f"ALTER TABLE {self.aside_qualifier}.{table} SET SCHEMA {self.live_qualifier}"
            )
        # A table's statistics objects stay in the schema they were made in: move them too,
        # or dropping the scratch schema would drop them.
        for (name,) in cursor.execute(
            "SELECT stxname FROM pg_statistic_ext WHERE stxnamespace = %s::regnamespace "
            "ORDER BY stxname",
            (self.aside_qualifier,),
        ).fetchall():
            cursor.execute(
                f"ALTER STATISTICS {self.aside_qualifier}.{_identifier(name)} "
                f"SET SCHEMA {self.live_qualifier}"
            )


class SQLitePlace:
    """A scratch file beside the live views file. To swap or compare, one connection opens
    the scratch file and attaches the live one, and its write transaction holds both: the
    last events are applied aside through it (savepoints), and the rows copied across in it.
    (A live connection with the scratch attached cannot do this: its write transaction would
    lock the scratch file against the rebuild's own writes.)"""

    live_qualifier = "live"
    aside_qualifier = "main"

    def __init__(self, live_path: Path) -> None:
        self.live_path = live_path
        self.path = live_path.with_name(live_path.stem + ".aside.sqlite")
        self._lock_path = live_path.with_name(".aside.lock")

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RebuildBusy(
                    "another rebuild or check is running on these read models"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def open(self) -> ViewStore:
        self.discard()
        return SQLiteViewStore(self.path)

    def discard(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    @contextmanager
    def frozen(
        self,
        names: Sequence[str],
        asides: Sequence[Projector],
    ) -> Iterator[tuple[Cursor, dict[str, int]]]:
        """The write transaction over both files (every live writer waits; live readers
        keep seeing the committed rows): its cursor, and where the live read models stand.
        Meanwhile the projectors aside write through this transaction."""
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            conn.execute("ATTACH DATABASE ? AS live", (str(self.live_path),))
            for schema in ("main", "live"):
                conn.execute(f"PRAGMA {schema}.secure_delete=ON")  # as the live store's
            conn.execute("BEGIN IMMEDIATE")
            held = SQLiteHeldStore(conn)
            stores = [aside.store for aside in asides]
            for aside in asides:
                aside.store = held
            try:
                with held.read() as cursor:
                    yield cursor, _held_positions(cursor, "live", names)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
            finally:
                for aside, store in zip(asides, stores, strict=True):
                    aside.store = store
        finally:
            conn.close()

    @contextmanager
    def view(
        self,
        names: Sequence[str],
        asides: Sequence[Projector],
        catch_up: Callable[[dict[str, int]], None],
    ) -> Iterator[Cursor]:
        """Both files as they stand, compared inside the write transaction that holds them."""
        with self.frozen(names, asides) as (cursor, positions):
            catch_up(positions)
            yield cursor

    def tables(self, cursor: Cursor) -> list[str]:
        rows = cursor.execute(
            "SELECT name, sql FROM main.sqlite_master WHERE type = 'table' ORDER BY name"
        ).fetchall()
        virtual = [name for name, sql in rows if (sql or "").startswith("CREATE VIRTUAL")]
        return [
            _identifier(name)
            for name, _ in rows
            if name not in BOOKKEEPING
            and not name.startswith("sqlite_")
            and not any(name.startswith(f"{v}_") for v in virtual)
        ]

    def columns(self, cursor: Cursor, qualifier: str, table: str) -> list[str]:
        rows = cursor.execute(f"PRAGMA {qualifier}.table_info({table})").fetchall()
        return [_identifier(row[1]) for row in rows]

    def install(
        self, cursor: Cursor, projections: Sequence[Projection], tables: Sequence[str]
    ) -> None:
        """The live tables' rows are replaced by the new ones, in the swap's transaction,
        each under the rowid it had (the directory's full-text rows are linked to their
        organizations' by rowid)."""
        for table in tables:
            listed = ", ".join(["rowid", *self.columns(cursor, "main", table)])
            cursor.execute(f"DELETE FROM live.{table}")
            cursor.execute(f"INSERT INTO live.{table} ({listed}) SELECT {listed} FROM main.{table}")
