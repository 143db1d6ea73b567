"""The schema of every table nrd owns, in numbered steps.

On PostgreSQL, ``nrd db migrate`` applies the steps a database lacks, and nothing else ever
changes its schema: ``nrd serve``, the projection worker and every other command check the
version recorded in ``nrd_schema_migrations`` and refuse an older or a newer one, saying what
to do. The embedded SQLite stores migrate themselves when a process starts (under the data
folder's start-up lock).

Safe while older processes run: one migrator at a time (an advisory lock); each step is one
transaction with a short lock timeout, tried again when it times out or deadlocks; every
statement is idempotent, and one that would only find its table or index already there is
not sent at all (``CREATE INDEX IF NOT EXISTS`` locks the table before it looks).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from api.access import create_access_table
from api.infrastructure.vault import create_key_tables
from api.signin.sessions import create_session_tables
from projections.directory import SCOPES as DIRECTORY_SCOPES
from projections.directory import link_full_text
from projections.runner import QUARANTINE_DDL, TRACKING_HEALTH_COLUMNS, Projector
from projections.sql import Cursor, Params, ViewStore

SCHEMA_VERSION = 6
MIGRATIONS_TABLE = "nrd_schema_migrations"
MIGRATIONS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, "
    "description TEXT NOT NULL, applied_at TEXT NOT NULL)"
)
LOCK_TIMEOUT = "5s"  # how long a step waits for a table a running process holds
STEP_ATTEMPTS = 5
MIGRATOR_WAIT_SECONDS = 60.0  # for another migrator to finish
_MIGRATOR_LOCK = 0x6E72_646D  # any fixed number: one migrator per database
_EXISTING = re.compile(r"^CREATE (?:UNIQUE )?(?:INDEX|TABLE) IF NOT EXISTS (\w+)", re.I)

Progress = Callable[[str], None]


class SchemaVersionError(Exception):
    """The database's schema is not the one this version of nrd works with."""


@dataclass
class Target:
    """What a step changes: the read models (the projector's store, which also records the
    version), the key table and the access log (the same store on PostgreSQL, files of their
    own on SQLite), and the event store's tables (made by the library's recorders)."""

    projector: Projector
    keys: ViewStore
    access: ViewStore
    create_event_store: Callable[[], None]

    @property
    def views(self) -> ViewStore:
        return self.projector.store

    @property
    def dialect(self) -> str:
        return self.views.dialect


@dataclass(frozen=True)
class Cursors:
    views: Cursor
    keys: Cursor
    access: Cursor


@dataclass(frozen=True)
class Step:
    version: int
    description: str
    change: Callable[[Target, Cursors], None]


def _every_table(target: Target, cursors: Cursors) -> None:
    target.create_event_store()
    target.projector.create_tables(cursors.views)
    create_key_tables(cursors.keys, target.dialect)
    create_access_table(cursors.access, target.dialect)


def _read_model_health(target: Target, cursors: Cursors) -> None:
    have = _columns(cursors.views, target.dialect, "projection_tracking")
    for column, definition in TRACKING_HEALTH_COLUMNS.items():
        if column not in have:
            cursors.views.execute(
                f"ALTER TABLE projection_tracking ADD COLUMN {column} {definition}"
            )
    cursors.views.execute(QUARANTINE_DDL)


def _owned_lookups(target: Target, cursors: Cursors) -> None:
    # The read models' statements again: what step 1 made is skipped, and the indexes that
    # look up an owner and an id together (``owner || ' ' || id``) are made.
    target.projector.create_tables(cursors.views)


def _directory_search(target: Target, cursors: Cursors) -> None:
    # PostgreSQL: the read models' statements again (what earlier steps made is skipped): the
    # directory's facet-pair statistics are made, then gathered at once rather than at
    # autovacuum's next pass. SQLite: each full-text row takes its organization's rowid.
    if target.dialect == "postgres":
        target.projector.create_tables(cursors.views)
        for scope in DIRECTORY_SCOPES:
            cursors.views.execute(f"ANALYZE {scope}_facets")
    else:
        link_full_text(cursors.views)


def _channel_per_schema(target: Target, cursors: Cursors) -> None:
    # The event store's statements again (its tables are there): the insert function notifies
    # its schema's own channel (``channel_for``), not one every schema of the database shares.
    target.create_event_store()


def _hotline_rules(target: Target, cursors: Cursors) -> None:
    # The read models' statements again (what earlier steps made is skipped): the tables the
    # hotline's own rules added (contacts, work queues, supervisor requests, answer-back).
    target.projector.create_tables(cursors.views)
    # Browser sessions and sign-in attempts, beside the access log: durable, never rebuilt.
    create_session_tables(cursors.access, target.dialect)


STEPS = (
    Step(
        1,
        "every table: the event store and snapshots, the read models and their "
        "positions, the hash chain, case keys, the access log",
        _every_table,
    ),
    Step(
        2,
        "read-model health: the quarantine of events a read model cannot apply; when each "
        "read model last moved, what it holds back, what stopped it",
        _read_model_health,
    ),
    Step(
        3,
        "owner-and-id indexes: a lookup of another's protocol, referral or report reads "
        "no row of it",
        _owned_lookups,
    ),
    Step(
        4,
        "directory search at scale: which facet values go with which facet (PostgreSQL's "
        "statistics), full-text rows linked to their organizations by rowid (SQLite)",
        _directory_search,
    ),
    Step(
        5,
        "the event store's inserts notify a channel of its own schema, so stores in other "
        "schemas of the database wake none of its workers",
        _channel_per_schema,
    ),
    Step(
        6,
        "the hotline's own rules: contacts, work queues, supervisor requests and what "
        "partners and liaisons answer; browser sessions and sign-in attempts",
        _hotline_rules,
    ),
)
assert [step.version for step in STEPS] == list(range(1, SCHEMA_VERSION + 1))


def _columns(cursor: Cursor, dialect: str, table: str) -> set[str]:
    if dialect == "postgres":
        rows = cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = "
            "to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            (table,),
        ).fetchall()
        return {row[0] for row in rows}
    return {row[1] for row in cursor.execute(f"PRAGMA table_info({table})").fetchall()}


def recorded_version(store: ViewStore) -> int | None:
    """The schema version recorded in the database; None when it records none."""
    with store.read() as cursor:
        if store.dialect == "postgres":
            (found,) = cursor.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (MIGRATIONS_TABLE,)
            ).fetchone()
        else:
            found = (
                cursor.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = %s", (MIGRATIONS_TABLE,)
                ).fetchone()
                is not None
            )
        if not found:
            return None
        (version,) = cursor.execute(f"SELECT max(version) FROM {MIGRATIONS_TABLE}").fetchone()  # noqa: S608 - a constant
    return None if version is None else int(version)


def check(store: ViewStore) -> None:
    """Refuses a database whose schema is not this version's, saying what to do."""
    _refuse(recorded_version(store), newer_only=False)


def _refuse(version: int | None, *, newer_only: bool) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the database schema is at version {version}, newer than this nrd knows "
            f"({SCHEMA_VERSION}): run the version of nrd that migrated it, or a newer one"
        )
    if newer_only or version == SCHEMA_VERSION:
        return
    if version is None:
        raise SchemaVersionError(
            "the database has no nrd schema yet (or one made before "
            "versioned migrations): run `nrd db migrate` first"
        )
    raise SchemaVersionError(
        f"the database schema is at version {version}, and this nrd needs version "
        f"{SCHEMA_VERSION}: run `nrd db migrate` (safe while older processes run)"
    )


def migrate(target: Target, progress: Progress | None = None) -> tuple[int, int]:
    """Applies the steps the database lacks, each in one transaction with its version;
    returns the version before and after. Refuses a database newer than this version."""
    say = progress or (lambda _: None)
    with _one_migrator(target.views, say):
        with target.views.transaction() as cursor:
            cursor.execute(MIGRATIONS_DDL)
        before = recorded_version(target.views) or 0
        _refuse(before, newer_only=True)
        for step in STEPS[before:]:
            say(f"applying step {step.version}: {step.description}")
            _apply(target, step)
        after = recorded_version(target.views) or 0
    return before, after


def _apply(target: Target, step: Step) -> None:
    for attempt in range(1, STEP_ATTEMPTS + 1):
        try:
            with _step_cursors(target) as cursors:
                step.change(target, cursors)
                cursors.views.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (version, description, applied_at) "  # noqa: S608
                    "VALUES (%s, %s, %s)",
                    (step.version, step.description, datetime.now(UTC).isoformat()),
                )
            return
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            if attempt == STEP_ATTEMPTS:
                raise
            time.sleep(attempt)  # a running process holds a table: let it finish


@contextmanager
def _step_cursors(target: Target) -> Iterator[Cursors]:
    """One transaction per store (one in all on PostgreSQL), the read models' (which records
    the version) committed last."""
    with ExitStack() as stack:
        views = stack.enter_context(target.views.transaction())
        opened = {id(target.views): views}
        for store in (target.access, target.keys):
            if id(store) not in opened:
                opened[id(store)] = stack.enter_context(store.transaction())
        if target.dialect == "postgres":
            views.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        yield Cursors(
            *(
                _Idempotent(opened[id(s)], target.dialect)
                for s in (target.views, target.keys, target.access)
            )
        )


class _Idempotent:
    """A cursor that does not send a CREATE ... IF NOT EXISTS whose table or index is there
    already: PostgreSQL locks the table before it looks, and a live table would wait for, or
    deadlock with, the processes using it."""

    def __init__(self, cursor: Cursor, dialect: str) -> None:
        self._cursor = cursor
        self._postgres = dialect == "postgres"

    def execute(self, sql: str, params: Params = ()) -> Any:
        match = _EXISTING.match(sql) if self._postgres else None
        if match is not None:
            (found,) = self._cursor.execute(
                "SELECT to_regclass(%s) IS NOT NULL", (match.group(1),)
            ).fetchone()
            if found:
                return self
        return self._cursor.execute(sql, params)

    def executemany(self, sql: str, params: Sequence[Params]) -> Any:
        return self._cursor.executemany(sql, params)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount


@contextmanager
def _one_migrator(store: ViewStore, say: Progress) -> Iterator[None]:
    """PostgreSQL: an advisory lock held by a transaction of its own for the whole migration,
    so two migrators never interleave (the second waits, then finds nothing to do). SQLite
    migrates under the data folder's start-up lock, taken by the caller."""
    if store.dialect != "postgres":
        yield
        return
    with store.transaction() as guard:
        deadline = time.monotonic() + MIGRATOR_WAIT_SECONDS
        waited = False
        while not guard.execute(
            "SELECT pg_try_advisory_xact_lock(%s)", (_MIGRATOR_LOCK,)
        ).fetchone()[0]:
            if time.monotonic() > deadline:
                raise SchemaVersionError(
                    "another `nrd db migrate` has held the database for "
                    f"{MIGRATOR_WAIT_SECONDS:.0f}s: let it finish first"
                )
            if not waited:
                say("waiting for another migration to finish")
                waited = True
            time.sleep(0.2)
        yield
