"""/healthz says the process lives (a dead pooled connection costs it nothing); /readyz says it
can serve: the store answers, and every read model is current within the bounds with nothing
quarantined, the reasons in the body and never a value. Compliance reads what the read models
quarantined, and a command on a record that cannot be read is refused by name.
"""
# Table names in these queries are the projections' own; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import OperationalError
from starlette.testclient import TestClient

from api.app import create_app
from api.config import Settings
from api.wiring import System
from domain.case import ConsentScope
from tests.conftest import PG_URL, a_system
from tests.e2e.conftest import Caller
from tests.integration.test_case_application import a_case, consent
from tests.integration.test_chain import Intruder
from tests.integration.test_quarantine import position_of

QUARANTINED = """{ quarantinedEvents(first: 10) {
  position readModel recordId version topic stage error at attempts } }"""
CONSENT = """mutation($key: String!, $id: ID!) {
  grantConsent(idempotencyKey: $key, id: $id, scope: FOLLOW_UP_CONTACT, givenBy: CALLER,
               method: VERBAL) { version } }"""


def ready(client: TestClient) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    return response.status_code, response.json()


def a_damaged_case(system: System, settings: Settings) -> tuple[UUID, int]:
    """A case whose second event no longer decodes (someone edited the stored row)."""
    case_id = a_case(system)
    consent(system, case_id, ConsentScope.FOLLOW_UP_CONTACT)
    position = position_of(system, case_id, 2)
    intruder = Intruder(settings)
    with intruder.transaction() as run:
        run(
            f"UPDATE {intruder.table} SET state = %s WHERE {intruder.id} = %s",
            (b"\x00 fictional damage", position),
        )
    return case_id, position


def test_readyz_says_ready_once_every_read_model_is_current(
    system: System, client: TestClient
) -> None:
    a_case(system)
    system.projector.catch_up()

    assert ready(client) == (200, {"status": "ready"})


def test_readyz_says_behind_past_the_bound_of_events(system: System, client: TestClient) -> None:
    system.settings = system.settings.with_changes(ready_max_lag=0)
    system.projector.catch_up()
    a_case(system)  # written behind: nobody applies it

    status, body = ready(client)

    assert status == 503
    assert body["status"] == "behind"
    assert "cases: 2 events behind (bound 0)" in body["reasons"]


def test_readyz_says_behind_when_a_read_model_has_not_moved_for_longer_than_the_bound(
    system: System, client: TestClient
) -> None:
    system.projector.catch_up()
    a_case(system)
    with system.store.transaction() as cursor:  # its worker stopped a while ago
        cursor.execute(
            "UPDATE projection_tracking SET moved_at = %s WHERE name = 'cases'",
            (time.time() - 120,),
        )

    status, body = ready(client)

    assert status == 503
    [reason] = body["reasons"]
    assert reason.startswith("cases: 2 events behind and no progress for 12")
    assert reason.endswith("(bound 30s)")


def test_readyz_says_quarantined_with_no_value_and_compliance_reads_what(
    system: System, settings: Settings, client: TestClient, as_role: object
) -> None:
    case_id, position = a_damaged_case(system, settings)
    system.projector.catch_up()

    status, body = ready(client)
    assert status == 503
    assert body == {"status": "quarantined", "reasons": ["cases: 1 event(s) quarantined"]}

    compliance: Caller = as_role("compliance")  # type: ignore[operator]
    [event] = compliance.gql(QUARANTINED)["data"]["quarantinedEvents"]
    assert {
        k: event[k] for k in ("position", "readModel", "recordId", "version", "stage", "attempts")
    } == {
        "position": position,
        "readModel": "cases",
        "recordId": str(case_id),
        "version": 2,
        "stage": "decode",
        "attempts": 1,
    }
    assert event["error"] == "MapperDeserialisationError (from JSONDecodeError)"
    logged = system.access.entries(record_id=str(case_id))
    assert [(e["recordType"], e["fields"], e["role"]) for e in logged] == [
        ("QuarantinedEvent", ["recordId"], "compliance")
    ]
    for role in ("staff", "supervisor", "partner", "public"):
        org = uuid4() if role == "partner" else None
        caller: Caller = as_role(role, org)  # type: ignore[operator]
        assert caller.gql(QUARANTINED)["data"] == {"quarantinedEvents": []}


def test_a_command_on_a_case_whose_events_cannot_be_read_is_refused_by_name(
    system: System, settings: Settings
) -> None:
    case_id, _ = a_damaged_case(system, settings)
    with a_system(settings) as fresh, TestClient(create_app(fresh, run_projections=False)) as c:
        staff = Caller(c, fresh.auth.issue("staff", "fictional-staff-1"))
        answer = staff.gql(CONSENT, {"key": "fictional-damaged-01", "id": str(case_id)})

    [error] = answer["errors"]
    assert error["extensions"] == {"code": "RECORD_UNREADABLE", "retryable": False}
    assert "cannot be read back" in error["message"]


def test_readyz_and_healthz_say_unavailable_when_the_store_cannot_be_reached(
    system: System, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable() -> int:
        raise OperationalError("fictional: connection refused")

    monkeypatch.setattr(system.projector, "head", unreachable)

    assert ready(client) == (
        503,
        {"status": "unavailable", "reasons": ["the store cannot be reached"]},
    )
    assert client.get("/healthz").status_code == 503


@pytest.fixture
def pg_client(pg_system: System) -> Iterator[TestClient]:
    with TestClient(create_app(pg_system, run_projections=False)) as test_client:
        yield test_client


def test_healthz_and_readyz_ride_out_pooled_connections_that_died(
    pg_system: System, pg_client: TestClient
) -> None:
    """An operator's pg_terminate_backend (or a restart) kills the pool's idle connections;
    the next check finds one dead, replaces them and asks again."""
    pg_system.projector.catch_up()
    for probe in ("/healthz", "/readyz"):
        with pg_system.store.read() as a, pg_system.store.read() as b:  # the pool's
            pids = [c.execute("SELECT pg_backend_pid()").fetchone()[0] for c in (a, b)]
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            for pid in pids:  # sessions this test opened: ending them disturbs no one else
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        assert pg_client.get(probe).status_code == 200, probe
