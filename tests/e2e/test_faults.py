"""Stories of a server under faults: a lock held on the events table, read models that cannot
catch up, connections exhausted or unreachable. Each answers a named, retryable error (HTTP
503 with Retry-After when nothing of the request was answered), within its bound, writing
nothing half; a retry with the same idempotency key then writes once."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.config import Settings
from tests.conftest import PG_URL, a_system
from tests.e2e.conftest import ALL_CRITERIA, fictional_profile

APPLY = """mutation($key: String!, $input: ApplicationInput!) {
  applyForInclusion(idempotencyKey: $key, input: $input) { organizationId } }"""
OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId } }"""
CASES = "{ cases(first: 5) { items { id } } }"
DIRECTORY = "{ directory(first: 5) { edges { node { nameEn } } } }"
# A bound for the waits in these tests, far above any bound under test: a request that had
# waited for the lock's release would not answer before it.
PATIENCE = 60


def application(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "input": {
            "profile": fictional_profile("Example Fault Shelter"),
            "criteria": ALL_CRITERIA,
            "publicListing": True,
            "listingAgreement": "Fictional: the shelter's signed listing form.",
        },
    }


def post(
    client: TestClient, token: str | None, query: str, variables: dict[str, Any] | None = None
) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


def answered_while(action: Any) -> Any:
    """Runs ``action`` on a thread and returns its result once it answers (within PATIENCE
    seconds, or fails): a request blocked until a lock is released would never answer."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(action()), daemon=True)
    worker.start()
    worker.join(PATIENCE)
    assert result, "the request did not answer while the lock was held"
    return result[0]


def assert_retryable(response: Any, code: str) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert all(value is None for value in (body["data"] or {}).values())
    assert [e["extensions"] for e in body["errors"]] == [{"code": code, "retryable": True}]
    assert "same idempotency key" in body["errors"][0]["message"]


@contextmanager
def events_table_locked(settings: Settings) -> Iterator[Any]:
    """The events table locked by another session (on SQLite, the whole events database),
    until the block ends; yields a check that the lock is still held."""
    if settings.uses_postgres:
        options = f"-c search_path={settings.database_schema}"
        with psycopg.connect(PG_URL, options=options) as holder:
            holder.execute("LOCK TABLE nrd_events IN ACCESS EXCLUSIVE MODE")

            def held() -> bool:
                row = holder.execute(
                    "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND granted "
                    "AND mode = 'AccessExclusiveLock' AND relation = 'nrd_events'::regclass"
                ).fetchone()
                return row == (1,)

            yield held
            holder.rollback()
        return
    lite = sqlite3.connect(settings.data_dir / "events.sqlite", isolation_level=None)
    try:
        lite.execute("BEGIN IMMEDIATE")
        yield lambda: lite.in_transaction
        lite.rollback()
    finally:
        lite.close()


def test_a_write_blocked_by_a_lock_answers_a_retryable_error_and_writes_nothing(
    settings: Settings,
) -> None:
    # The lock timeout also bounds a command's wait for a command thread (STORE_BUSY): a
    # second, so a loaded machine starting the thread late does not answer that instead.
    with (
        a_system(settings, lock_timeout_ms=1000) as system,
        TestClient(create_app(system, run_projections=False)) as client,
    ):
        token = system.auth.issue("staff", "fictional-staff-1")
        head = system.projector.head()

        with events_table_locked(settings) as still_locked:
            response = answered_while(
                lambda: post(client, token, APPLY, application("fault-lock-0001"))
            )
            assert still_locked()

        assert_retryable(response, "STORE_TIMEOUT")
        assert system.projector.head() == head  # nothing of the write was saved
        first = post(client, token, APPLY, application("fault-lock-0001"))
        assert first.status_code == 200, first.text
        written = system.projector.head()
        again = post(client, token, APPLY, application("fault-lock-0001"))
        assert again.json() == first.json()
        assert system.projector.head() == written  # once, and only once


def test_reads_of_the_read_models_go_on_while_the_events_table_is_locked(
    settings: Settings,
) -> None:
    with (
        a_system(settings, lock_timeout_ms=200) as system,
        TestClient(create_app(system, run_projections=False)) as client,
        events_table_locked(settings),
    ):
        response = answered_while(lambda: post(client, None, DIRECTORY))

    assert response.status_code == 200, response.text
    assert "errors" not in response.json()


def test_a_write_whose_read_models_cannot_catch_up_says_so_and_its_retry_writes_nothing(
    settings: Settings,
) -> None:
    # No projection worker runs: the directory never applies the write.
    with (
        a_system(settings, inline_projections=False, projection_wait=0.05) as system,
        TestClient(create_app(system, run_projections=False)) as client,
    ):
        token = system.auth.issue("staff", "fictional-staff-1")
        head = system.projector.head()

        response = post(client, token, APPLY, application("fault-behind-0001"))

        assert_retryable(response, "READ_MODEL_BEHIND")
        saved = system.projector.head()
        assert saved > head  # the write itself was saved
        system.projector.catch_up()  # the worker comes back
        retried = post(client, token, APPLY, application("fault-behind-0001"))
        assert retried.status_code == 200, retried.text
        assert system.projector.head() == saved


def test_a_read_that_cannot_wait_for_the_read_models_says_so(settings: Settings) -> None:
    with (
        a_system(settings, inline_projections=False, projection_wait=0.05) as system,
        TestClient(create_app(system, run_projections=False)) as client,
    ):
        token = system.auth.issue("staff", "fictional-staff-1")
        opened = post(
            client,
            token,
            OPEN,
            {
                "key": "fault-behind-case-01",
                "input": {
                    "channel": "CALL",
                    "language": "en",
                    "relationship": "VICTIM_OR_SURVIVOR",
                },
            },
        )
        assert opened.status_code == 200, opened.text

        response = post(client, token, CASES)

        assert_retryable(response, "READ_MODEL_BEHIND")
        system.projector.catch_up()
        assert post(client, token, CASES).status_code == 200


def test_a_request_partly_answered_keeps_its_data_beside_the_retryable_error(
    settings: Settings,
) -> None:
    with (
        a_system(settings, inline_projections=False, projection_wait=0.05) as system,
        TestClient(create_app(system, run_projections=False)) as client,
    ):
        token = system.auth.issue("staff", "fictional-staff-1")
        opened = post(
            client,
            token,
            OPEN,
            {
                "key": "fault-partial-case-1",
                "input": {
                    "channel": "CALL",
                    "language": "en",
                    "relationship": "VICTIM_OR_SURVIVOR",
                },
            },
        )
        assert opened.status_code == 200, opened.text

        case_id = opened.json()["data"]["openCase"]["caseId"]

        response = post(
            client,
            token,
            "query($id: ID!) { " + DIRECTORY[1:-1] + " case(id: $id) { id } }",
            {"id": case_id},
        )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"]["directory"] == {"edges": []} and body["data"]["case"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["READ_MODEL_BEHIND"]


@pytest.mark.postgres
def test_a_read_that_finds_every_connection_busy_answers_a_retryable_error(
    pg_settings: Settings,
) -> None:
    # Three connections: the read models' pool has one, and the test holds it.
    with (
        a_system(pg_settings, max_connections=3, pool_timeout=0.2) as system,
        TestClient(create_app(system, run_projections=False)) as client,
    ):
        with system.store.read():
            response = answered_while(lambda: post(client, None, DIRECTORY))

        assert_retryable(response, "STORE_BUSY")
        assert post(client, None, DIRECTORY).status_code == 200


@pytest.mark.postgres
def test_a_database_that_stops_taking_connections_answers_a_retryable_error(
    limited_role: tuple[str, Settings],
) -> None:
    role, settings = limited_role
    with (
        a_system(settings) as system,
        TestClient(create_app(system, run_projections=False)) as client,
    ):
        assert post(client, None, DIRECTORY).status_code == 200
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"ALTER ROLE {role} NOLOGIN")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
            )

        response = answered_while(lambda: post(client, None, DIRECTORY))

        assert_retryable(response, "STORE_UNAVAILABLE")
