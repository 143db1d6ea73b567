"""A process's PostgreSQL connections: bounded by one setting under any load; a start that
cannot connect (the server refusing more clients) trying again until it can, or giving up
within its bound, saying why, and leaving nothing open; and waits for locks bounded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import psycopg
import pytest

from api.config import DatabaseUnreachable, Settings
from api.wiring import System, build_system
from domain.base import Actor, acting_as
from projections.directory import PUBLIC, DirectoryQuery
from projections.sql import ScrubIncomplete
from tests.conftest import PG_URL, a_system
from tests.e2e.conftest import ALL_CRITERIA, fictional_profile, seed
from tests.helpers import AGREEMENT

pytestmark = pytest.mark.postgres


def sessions(role: str) -> int:
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_process_never_holds_more_connections_than_its_setting_under_load(
    pg_settings: Settings,
) -> None:
    name = f"nrd-test-{uuid4().hex[:12]}"
    settings = pg_settings.with_changes(
        max_connections=5, application_name=name, inline_projections=True, threads=16
    )
    seen: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            while not stop.is_set():
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
                ).fetchone()
                seen.append(int(row[0]) if row else 0)

    def load(system: System, n: int) -> None:
        with acting_as(Actor(f"fictional-staff-{n}", "staff", request_id=f"load-{n}")):
            for i in range(6):
                org = system.app.apply_for_inclusion(
                    f"load-{n:02d}-{i:02d}-apply",
                    fictional_profile(f"Example Load {n} {i}"),
                    ALL_CRITERIA,
                    True,
                    AGREEMENT,
                ).id
                system.app.start_review(f"load-{n:02d}-{i:02d}-review", org)
                system.directory.search(*search_arguments(system))
                system.projector.positions()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with a_system(settings) as system:
            worker_stop = threading.Event()
            worker = threading.Thread(
                target=system.follow_log, args=(worker_stop, 0.01), daemon=True
            )
            worker.start()  # its listener is the connection held alone
            seed(system, "Example Load Partner")
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda n: load(system, n), range(16)))
            worker_stop.set()
            worker.join(timeout=30)
    finally:
        stop.set()
        sampler.join(timeout=30)

    assert seen and max(seen) <= 5, max(seen)
    assert max(seen) >= 4  # the load did use the connections it was allowed


def search_arguments(system: System) -> tuple[str, DirectoryQuery, bool, bool]:
    return PUBLIC, DirectoryQuery(text="", facets={}, first=5), False, False


# -- starting ------------------------------------------------------------------------------------


def held(url: str, count: int) -> list[psycopg.Connection[tuple[object, ...]]]:
    return [psycopg.connect(url, autocommit=True) for _ in range(count)]


class Retries(logging.Handler):
    """Notes each "cannot start yet" a starting process logs."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.logged = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("cannot start yet"):
            self.records.append(record)
            self.logged.set()


@pytest.fixture
def retries() -> Iterator[Retries]:
    handler = Retries()
    logger = logging.getLogger("nrd.projections")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_a_start_refused_for_too_many_connections_tries_again_and_comes_up(
    limited_role: tuple[str, Settings], retries: Retries
) -> None:
    _, settings = limited_role
    blockers = held(settings.database_url or "", 3)
    started: list[System] = []
    starting = threading.Thread(
        target=lambda: started.append(build_system(settings.with_changes(connect_timeout=60))),
        daemon=True,
    )
    starting.start()
    try:
        assert retries.logged.wait(30), "the start did not report a retry"
    finally:
        for conn in blockers:
            conn.close()
    starting.join(timeout=60)
    try:
        assert started, "the start did not come up once connections were free"
        assert started[0].projector.positions()
        assert "STORE_UNAVAILABLE" in retries.records[0].getMessage()
        assert "too many connections" in retries.records[0].getMessage()
    finally:
        for system in started:
            system.close()


def test_a_start_that_cannot_connect_in_time_gives_up_saying_why_and_leaves_nothing_open(
    limited_role: tuple[str, Settings],
) -> None:
    role, settings = limited_role
    # Two of the three are taken: the start gets its first connections, not all it needs.
    blockers = held(settings.database_url or "", 2)
    try:
        with pytest.raises(DatabaseUnreachable) as raised:
            build_system(settings.with_changes(connect_timeout=1))
        assert sessions(role) == 2  # only the test's own
    finally:
        for conn in blockers:
            conn.close()

    message = str(raised.value)
    assert "within 1 s" in message and "NRD_CONNECT_TIMEOUT_SECONDS" in message
    assert "too many connections" in message or "PoolTimeout" in message
    assert "NRD_MAX_CONNECTIONS" in message
    assert role not in message  # nothing of the connection's parameters


def test_a_scrub_that_finds_its_table_locked_past_the_bound_is_left_for_later(
    pg_settings: Settings,
) -> None:
    # The lock timeout bounds VACUUM FULL's wait for the key table's lock; the worker
    # finishes an incomplete scrub later, as it does when older transactions are open.
    with (
        a_system(pg_settings, lock_timeout_ms=200) as system,
        psycopg.connect(
            PG_URL,
            options=f"-c search_path={pg_settings.database_schema}",
        ) as holder,
    ):
        holder.execute("LOCK TABLE case_keys IN ACCESS SHARE MODE")  # no snapshot kept
        with pytest.raises(ScrubIncomplete):
            system.keys.scrub("case_keys", timeout=5)
        holder.rollback()
        system.keys.scrub("case_keys", timeout=5)
