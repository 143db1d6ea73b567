"""The schema changes in one explicit, versioned step: ``nrd db migrate`` on PostgreSQL, which
processes never do themselves (they refuse a schema at another version, saying what to do);
the embedded SQLite stores migrate themselves. Migrating is idempotent, one migrator at a
time, and safe while other processes hold the tables.
"""
# Table names in these queries are module constants and the test's own schema; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from api import cli
from api.config import Settings
from api.infrastructure.migrations import MIGRATIONS_TABLE, SCHEMA_VERSION, SchemaVersionError
from api.infrastructure.recorders import channel_for
from api.wiring import build_system, migrate_database
from projections.directory import INTERNAL, PUBLIC
from tests.conftest import PG_URL, TEST_MASTER_KEY, a_system
from tests.integration.test_directory_search import a_directory, search, unlinked_full_text
from tests.integration.test_projections import nrd_environment

pytestmark = pytest.mark.postgres


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Settings]:
    """A PostgreSQL schema nobody has migrated yet."""
    schema = f"t_{uuid4().hex[:16]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield Settings(
                data_dir=tmp_path,
                database_url=PG_URL,
                database_schema=schema,
                jwt_secret="test-secret-" + "x" * 32,
                max_connections=4,
                master_key=TEST_MASTER_KEY,
            )
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def sql(settings: Settings, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(
        PG_URL, autocommit=True, options=f"-c search_path={settings.database_schema}"
    ) as conn:
        cursor = conn.execute(statement)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def catalogue(settings: Settings) -> list[tuple[object, ...]]:
    """Every table, column, index and function of the schema."""
    return sql(
        settings,
        f"""
        SELECT 'column', table_name, column_name, data_type FROM information_schema.columns
        WHERE table_schema = '{settings.database_schema}'
        UNION ALL SELECT 'index', tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = '{settings.database_schema}'
        UNION ALL SELECT 'function', p.proname, pg_get_function_arguments(p.oid), ''
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = '{settings.database_schema}' ORDER BY 1, 2, 3, 4""",
    )


def test_a_fresh_database_is_refused_until_it_is_migrated(fresh: Settings) -> None:
    with pytest.raises(SchemaVersionError, match=r"no nrd schema yet .* run `nrd db migrate`"):
        build_system(fresh)
    assert sql(fresh, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()") == [
        (0,)
    ]  # the refusal created nothing

    assert migrate_database(fresh) == (0, SCHEMA_VERSION)

    build_system(fresh).close()
    assert sql(fresh, f"SELECT version FROM {MIGRATIONS_TABLE} ORDER BY version") == [
        (v,) for v in range(1, SCHEMA_VERSION + 1)
    ]


def test_a_database_at_an_older_version_is_refused_and_migrate_brings_it_up(
    fresh: Settings,
) -> None:
    migrate_database(fresh)
    sql(fresh, f"DELETE FROM {MIGRATIONS_TABLE} WHERE version = {SCHEMA_VERSION}")

    with pytest.raises(
        SchemaVersionError,
        match=rf"at version {SCHEMA_VERSION - 1}, and this "
        rf"nrd needs version {SCHEMA_VERSION}",
    ):
        build_system(fresh)
    assert migrate_database(fresh) == (SCHEMA_VERSION - 1, SCHEMA_VERSION)
    build_system(fresh).close()


OWNED_INDEXES = ("reporting_protocols_owned", "referral_inbox_owned", "report_inbox_owned")


def test_a_database_at_version_2_gets_the_owner_and_id_indexes(fresh: Settings) -> None:
    migrate_database(fresh)
    for index in OWNED_INDEXES:
        sql(fresh, f"DROP INDEX {index}")
    sql(fresh, f"DELETE FROM {MIGRATIONS_TABLE} WHERE version >= 3")

    assert migrate_database(fresh) == (2, SCHEMA_VERSION)

    found = {row[2] for row in catalogue(fresh) if row[0] == "index"}
    assert set(OWNED_INDEXES) <= found


def test_a_database_at_version_5_gets_the_mandatory_report_queue(fresh: Settings) -> None:
    migrate_database(fresh)
    sql(fresh, "DROP TABLE mandatory_report_queue")
    sql(fresh, f"DELETE FROM {MIGRATIONS_TABLE} WHERE version >= 6")

    assert migrate_database(fresh) == (5, SCHEMA_VERSION)

    found = {(row[1], row[2]) for row in catalogue(fresh) if row[0] in ("column", "index")}
    assert {
        ("mandatory_report_queue", "case_id"),
        ("mandatory_report_queue", "decided"),
        ("mandatory_report_queue", "mandatory_report_queue_waiting"),
    } <= found


def test_a_database_at_version_5_gets_the_session_tables(fresh: Settings) -> None:
    migrate_database(fresh)
    sql(fresh, "DROP TABLE signin_sessions")
    sql(fresh, "DROP TABLE signin_attempts")
    sql(fresh, f"DELETE FROM {MIGRATIONS_TABLE} WHERE version >= 6")

    assert migrate_database(fresh) == (5, SCHEMA_VERSION)

    found = {(row[1], row[2]) for row in catalogue(fresh) if row[0] in ("column", "index")}
    assert {
        ("signin_sessions", "digest"),
        ("signin_sessions", "member_id"),
        ("signin_sessions", "idle_expires_at"),
        ("signin_sessions", "absolute_expires_at"),
        ("signin_sessions", "amr"),
        ("signin_sessions", "ended_at"),
        ("signin_sessions", "signin_sessions_member"),
        ("signin_attempts", "digest"),
        ("signin_attempts", "expires_at"),
    } <= found


FACET_STATISTICS = ("directory_internal_facets_pairs", "directory_public_facets_pairs")


def statistics(settings: Settings) -> dict[str, bool]:
    """The schema's statistics objects: name -> whether ANALYZE has gathered them."""
    rows = sql(
        settings,
        f"""
        SELECT s.stxname, EXISTS (SELECT 1 FROM pg_statistic_ext_data d WHERE d.stxoid = s.oid
                                  AND d.stxdmcv IS NOT NULL)
        FROM pg_statistic_ext s WHERE s.stxnamespace = '{settings.database_schema}'::regnamespace
        ORDER BY 1""",
    )
    return {str(name): bool(gathered) for name, gathered in rows}


def test_a_database_at_version_3_gets_the_facet_statistics_gathered(fresh: Settings) -> None:
    migrate_database(fresh)
    sql(
        fresh,
        "INSERT INTO directory_public_facets (id, facet, value) VALUES "
        "('fictional-1', 'province', 'CA-ON'), ('fictional-1', 'language', 'fr')",
    )
    for name in FACET_STATISTICS:
        sql(fresh, f"DROP STATISTICS {name}")
    sql(fresh, f"DELETE FROM {MIGRATIONS_TABLE} WHERE version >= 4")

    assert migrate_database(fresh) == (3, SCHEMA_VERSION)

    assert statistics(fresh) == {
        "directory_internal_facets_pairs": False,  # no rows yet
        "directory_public_facets_pairs": True,
    }


def insert_function(settings: Settings) -> str:
    function = f"{settings.database_schema}.nrd_events_insert_locked"
    return str(sql(settings, f"SELECT pg_get_functiondef('{function}'::regproc)")[0][0])


def test_a_database_at_version_4_gets_inserts_that_notify_its_own_schema_channel(
    fresh: Settings,
) -> None:
    migrate_database(fresh)
    own = channel_for(str(fresh.database_schema), "nrd_events")
    assert own != "nrd_events"
    sql(fresh, insert_function(fresh).replace(own, "nrd_events"))  # as version 4 made it
    sql(fresh, f"DELETE FROM {MIGRATIONS_TABLE} WHERE version >= 5")
    assert own not in insert_function(fresh)

    assert migrate_database(fresh) == (4, SCHEMA_VERSION)

    assert f'NOTIFY "{own}"' in insert_function(fresh)
    assert 'NOTIFY "nrd_events"' not in insert_function(fresh)
    with psycopg.connect(PG_URL, autocommit=True) as listening:
        listening.execute(f'LISTEN "{own}"')
        listening.execute("LISTEN nrd_events")
        with a_system(fresh) as system:
            a_directory(system)
        heard = {n.channel for n in listening.notifies(timeout=1.0)}
    assert own in heard  # (older code elsewhere in the database may still notify nrd_events)


def test_an_embedded_store_at_version_3_gets_its_full_text_rows_linked_by_rowid(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret="test-secret-" + "x" * 32)
    with a_system(settings) as system:
        a_directory(system)
        with system.store.transaction() as cursor:  # numbered as before version 4
            for scope in (PUBLIC, INTERNAL):
                cursor.execute(f"UPDATE {scope}_fts SET rowid = rowid + 1000")
            cursor.execute(f"DELETE FROM {MIGRATIONS_TABLE} WHERE version >= 4")
        assert unlinked_full_text(system) > 0

    with a_system(settings) as system:  # the embedded store migrates itself
        assert unlinked_full_text(system) == 0
        assert search(system, text="shelters", facets={"province": ["CA-ON"]}) == [
            "Aurora Youth Shelter"
        ]


def test_a_database_at_a_newer_version_is_refused_by_processes_and_by_migrate(
    fresh: Settings,
) -> None:
    migrate_database(fresh)
    sql(
        fresh,
        f"INSERT INTO {MIGRATIONS_TABLE} VALUES ({SCHEMA_VERSION + 1}, "
        "'a later release', '2031-01-01')",
    )
    before = catalogue(fresh)

    with pytest.raises(SchemaVersionError, match=rf"version {SCHEMA_VERSION + 1}, newer than"):
        build_system(fresh)
    with pytest.raises(SchemaVersionError, match="newer than this nrd knows"):
        migrate_database(fresh)
    assert catalogue(fresh) == before


def test_migrating_twice_changes_nothing(fresh: Settings) -> None:
    migrate_database(fresh)
    before = catalogue(fresh), sql(fresh, f"SELECT * FROM {MIGRATIONS_TABLE}")

    assert migrate_database(fresh) == (SCHEMA_VERSION, SCHEMA_VERSION)

    assert (catalogue(fresh), sql(fresh, f"SELECT * FROM {MIGRATIONS_TABLE}")) == before


def made_before_versioning(settings: Settings) -> None:
    """The schema as processes made it at start before migrations were versioned: no version
    table, no quarantine, the tracking table with its two first columns."""
    migrate_database(settings)
    sql(
        settings,
        f"DROP TABLE {MIGRATIONS_TABLE}; DROP TABLE projection_quarantine; "
        "ALTER TABLE projection_tracking DROP COLUMN moved_at, "
        "DROP COLUMN quarantined, DROP COLUMN failure; "
        "DELETE FROM projection_tracking WHERE name = 'topics'",
    )


def test_a_database_made_before_versioning_is_migrated_keeping_its_rows(fresh: Settings) -> None:
    made_before_versioning(fresh)
    sql(fresh, "UPDATE projection_tracking SET position = 7")

    assert migrate_database(fresh) == (0, SCHEMA_VERSION)

    assert sql(
        fresh, "SELECT name, position, quarantined FROM projection_tracking ORDER BY name"
    ) == [
        ("cases", 7, 0),
        ("chain", 7, 0),
        ("contacts", 7, 0),
        ("directory", 7, 0),
        ("memberships", 7, 0),
        ("protocols", 7, 0),
        ("service_accounts", 7, 0),
        ("topics", 0, 0),
        ("work_items", 7, 0),
    ]
    build_system(fresh).close()


def test_migrating_while_a_batch_holds_the_read_model_tables_neither_waits_nor_deadlocks(
    fresh: Settings,
) -> None:
    """An older worker's batch is under way (rows written, not yet committed) while the
    migration runs. A migration that sent CREATE INDEX IF NOT EXISTS for indexes already there
    would lock those tables: it would wait for the batch, holding locks the batch needs next
    (the deadlock of a start-up under load)."""
    made_before_versioning(fresh)
    with psycopg.connect(PG_URL, options=f"-c search_path={fresh.database_schema}") as batch:
        batch.execute("SET lock_timeout = '5s'")
        for table in (
            "referral_inbox",
            "report_inbox",
            "disclosure_ledger",
            "case_needs",
            "directory_internal",
            "access_log",
            "case_keys",
        ):
            batch.execute(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE")
        with ThreadPoolExecutor(1) as pool:
            migration = pool.submit(migrate_database, fresh)
            assert migration.result(timeout=60) == (0, SCHEMA_VERSION)
        batch.execute("LOCK TABLE cases IN ROW EXCLUSIVE MODE")  # its next write goes through
        batch.rollback()


def test_two_migrators_at_once_apply_each_step_once(fresh: Settings) -> None:
    barrier = threading.Barrier(2)

    def migrate(_: int) -> tuple[int, int]:
        barrier.wait(timeout=10)
        return migrate_database(fresh)

    with ThreadPoolExecutor(2) as pool:
        results = sorted(pool.map(migrate, range(2)))

    assert results == [(0, SCHEMA_VERSION), (SCHEMA_VERSION, SCHEMA_VERSION)]
    assert sql(fresh, f"SELECT count(*) FROM {MIGRATIONS_TABLE}") == [(SCHEMA_VERSION,)]


def test_nrd_db_migrate_reports_progress_and_the_worker_refuses_an_unmigrated_database(
    fresh: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nrd_environment(monkeypatch, fresh)

    assert cli.main(["projections", "run"]) == 2
    refused = capsys.readouterr().err
    assert "nrd: the database has no nrd schema yet" in refused
    assert "run `nrd db migrate` first" in refused

    assert cli.main(["db", "migrate"]) == 0
    out = capsys.readouterr()
    assert "applying step 1: every table" in out.err
    assert f"the schema is at version {SCHEMA_VERSION} (it was at none)" in out.out

    assert cli.main(["db", "migrate"]) == 0
    assert f"the schema is at version {SCHEMA_VERSION}: nothing to do" in capsys.readouterr().out


def test_the_embedded_store_migrates_itself_and_refuses_a_newer_schema(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, jwt_secret="test-secret-" + "x" * 32)
    build_system(settings).close()
    system = build_system(settings)  # a second start finds nothing to do
    try:
        with system.store.transaction() as cursor:
            assert cursor.execute(f"SELECT max(version) FROM {MIGRATIONS_TABLE}").fetchone() == (
                SCHEMA_VERSION,
            )
            cursor.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} VALUES (%s, %s, %s)",
                (SCHEMA_VERSION + 1, "a later release", "2031-01-01"),
            )
    finally:
        system.close()
    with pytest.raises(SchemaVersionError, match="newer than this nrd knows"):
        build_system(settings)
