"""Every store-touching test runs on SQLite and on PostgreSQL.

PostgreSQL is never skipped: if it cannot be reached the PostgreSQL half fails, loudly.
Each test gets its own schema in the ``test`` database (or NRD_TEST_DATABASE_URL), dropped after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from api.config import Settings
from api.wiring import System, build_system, migrate_database
from domain.base import Actor, acting_as
from tests.helpers import STAFF, SUPERVISOR

# A fixed, obviously test-only master key (32 bytes of 0x01, base64): never a real one.
TEST_MASTER_KEY = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
PG_URL = os.environ.get("NRD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_settings(tmp_path: Path) -> Iterator[Settings]:
    schema = f"t_{uuid4().hex[:16]}"
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at {PG_URL} cannot be reached ({error}); start it, do not skip")
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            settings = Settings(
                data_dir=tmp_path,
                database_url=PG_URL,
                database_schema=schema,
                jwt_secret="test-secret-" + "x" * 32,
                master_key=TEST_MASTER_KEY,
            )
            migrate_database(settings)  # as `nrd db migrate` does before any process starts
            yield settings
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield Settings(data_dir=tmp_path, jwt_secret="test-secret-" + "x" * 32)
    else:
        yield from _postgres_settings(tmp_path)


@pytest.fixture
def pg_settings(tmp_path: Path) -> Iterator[Settings]:
    """PostgreSQL alone, for what only it has (its locked insert, its listener, lz4)."""
    yield from _postgres_settings(tmp_path)


@contextmanager
def a_system(settings: Settings, **changes: object) -> Iterator[System]:
    """A system on the stores ``settings`` names, as one process has it: its own caches. A
    second one on the same settings is another process (or the same one restarted)."""
    built = build_system(settings.with_changes(**changes) if changes else settings)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def system(settings: Settings) -> Iterator[System]:
    """The whole system, wired as in production, on the store ``settings`` names."""
    with a_system(settings) as built:
        yield built


@pytest.fixture
def limited_role(pg_settings: Settings) -> Iterator[tuple[str, Settings]]:
    """A login role of this test's own, allowed three connections (what PostgreSQL says to
    a fourth is what it says when full: too many connections), and settings that use it
    (named by the role too, so its sessions are counted and ended without touching others')."""
    role = f"nrd_{pg_settings.database_schema}"
    url = PG_URL.replace("://postgres@", f"://{role}@", 1)
    assert role in url, "the test database URL must name the postgres user"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 3")
        schema = pg_settings.database_schema
        admin.execute(f"GRANT ALL ON SCHEMA {schema} TO {role}")
        # The schema is migrated already (by the postgres user), as in production.
        admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA {schema} TO {role}")
        admin.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA {schema} TO {role}")
        admin.execute(f"GRANT ALL ON ALL FUNCTIONS IN SCHEMA {schema} TO {role}")
        try:
            yield (
                role,
                pg_settings.with_changes(
                    database_url=url, application_name=role, max_connections=3, pool_timeout=0.5
                ),
            )
        finally:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
            )
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


@pytest.fixture
def pg_system(pg_settings: Settings) -> Iterator[System]:
    with a_system(pg_settings) as built:
        yield built


@pytest.fixture
def staff_actor() -> Actor:
    """Who the ``staff`` fixture acts as; a module that needs someone else overrides it."""
    return STAFF


@pytest.fixture
def supervisor_actor() -> Actor:
    """Who the ``supervisor`` fixture acts as; a module that needs someone else overrides it."""
    return SUPERVISOR


@pytest.fixture
def staff(staff_actor: Actor) -> Iterator[Actor]:
    """The test's commands run as a member of the hotline's staff."""
    with acting_as(staff_actor) as actor:
        yield actor


@pytest.fixture
def supervisor(supervisor_actor: Actor) -> Iterator[Actor]:
    """The test's commands run as a supervisor."""
    with acting_as(supervisor_actor) as actor:
        yield actor
