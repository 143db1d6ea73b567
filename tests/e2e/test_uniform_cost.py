"""'Not yours' costs what 'does not exist' costs: the same statements, the same rows.

A record that exists but is not the caller's is asked for, and so is a random id: both requests
must run the same statements against the read models and get the same rows back (none), read
the same from the event store, write the same to the access log, and answer byte for byte
alike. The time they take is measured by
bench/timing_oracle.py, never here; this is the work behind it, which a test can see.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.wiring import System
from domain.base import Actor, acting_as
from tests.e2e.conftest import Caller, seed
from tests.e2e.test_case_confidentiality import World, build_world, caller_for, key

PROTOCOL = "query($id: ID!) { reportingProtocol(id: $id) { id province contacts { name } } }"
ORGANIZATION = "query($id: ID!) { organization(id: $id) { id nameEn } }"
REFERRAL = "query($id: ID!) { referral(id: $id) { id fields disclosed { callerName } } }"
REPORT = "query($id: ID!) { report(id: $id) { id fields disclosed { callerName } } }"
REVISE = (
    'mutation($id: ID!) { reviseProtocolContacts(idempotencyKey: "fictional-revise-1", '
    'id: $id, contacts: [{name: "Cst. Fictional Newcomer"}]) { protocolId } }'
)


@dataclass
class Reads:
    """Each statement the read models ran, and each read of the event store (or of its
    snapshots), with how many rows or events it handed back."""

    seen: list[tuple[str, int]] = field(default_factory=list)
    statements: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)


class RecordingRecorder:
    """An event or snapshot recorder that notes what its reads return (around the real one)."""

    def __init__(self, inner: Any, name: str, reads: Reads) -> None:
        self._inner, self._name, self._reads = inner, name, reads

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        found = self._inner.select_events(*args, **kwargs)
        self._reads.seen.append((f"{self._name}.select_events", len(found)))
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Cursor:
    def __init__(self, cursor: Any, reads: Reads) -> None:
        self._cursor, self._reads, self._sql = cursor, reads, ""

    def execute(self, sql: str, params: Any = ()) -> _Cursor:
        self._sql = sql
        self._reads.statements.append((sql, tuple(params)))
        self._cursor.execute(sql, params)
        return self

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        self._reads.seen.append((self._sql, 0 if row is None else 1))
        return row

    def fetchall(self) -> list[Any]:
        rows = list(self._cursor.fetchall())
        self._reads.seen.append((self._sql, len(rows)))
        return rows


class RecordingStore:
    """A read-model store that notes what its reads return (a hand-written fake around the
    real one: every statement still runs)."""

    def __init__(self, inner: Any, reads: Reads) -> None:
        self._inner, self._reads = inner, reads

    @contextmanager
    def read(self) -> Iterator[_Cursor]:
        with self._inner.read() as cursor:
            yield _Cursor(cursor, self._reads)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def reads(system: System) -> Reads:
    """Notes every read of the directory, protocol and case read models, and of the event
    store through the application's repository."""
    noted = Reads()
    for queries in (system.directory, system.protocols, system.cases):
        queries.store = RecordingStore(queries.store, noted)
    app = system.app
    app.events.recorder = RecordingRecorder(app.events.recorder, "events", noted)  # type: ignore[assignment]
    if app.snapshots is not None:
        app.snapshots.recorder = RecordingRecorder(  # type: ignore[assignment]
            app.snapshots.recorder, "snapshots", noted
        )
    return noted


def access_entries(system: System) -> int:
    with system.access.store.read() as cursor:
        return int(cursor.execute("SELECT COUNT(*) FROM access_log").fetchone()[0])


def work(
    system: System, reads: Reads, caller: Caller, query: str, record_id: str
) -> tuple[list[tuple[str, int]], int, bytes]:
    """What one request did: its reads, how many access-log entries it wrote, its answer."""
    reads.seen.clear()
    logged = access_entries(system)
    answer = bytes(caller.post(query, {"id": record_id}).content)
    return list(reads.seen), access_entries(system) - logged, answer


def assert_same_work(
    system: System, reads: Reads, caller: Caller, query: str, not_yours: str
) -> None:
    missing = work(system, reads, caller, query, str(uuid4()))
    another = work(system, reads, caller, query, not_yours)
    assert another == missing


@pytest.fixture
def world(system: System, as_role: Any) -> World:
    return build_world(system, as_role)


def their_protocol(system: System, world: World) -> UUID:
    """A protocol of the other agency's (the world's agency has one of its own)."""
    with acting_as(Actor("fictional-staff-9", "staff", request_id="uniform")):
        theirs: UUID = system.app.establish_reporting_protocol(
            key(),
            UUID(world.orgs["other_agency"]),
            "CA-QC",
            None,
            [{"name": "Cst. Fictional Sample", "email": "ht-unit@example.org"}],
        ).id
    system.projector.catch_up()
    return theirs


def test_another_agencys_protocol_is_asked_for_with_the_same_reads_as_a_missing_one(
    system: System, as_role: Any, world: World, reads: Reads
) -> None:
    theirs = their_protocol(system, world)
    liaison = caller_for(as_role, world, "law_enforcement-addressee")

    assert_same_work(system, reads, liaison, PROTOCOL, str(theirs))


def test_another_agencys_protocol_is_refused_for_revision_with_the_same_reads_as_a_missing_one(
    system: System, as_role: Any, world: World, reads: Reads
) -> None:
    theirs = their_protocol(system, world)
    liaison = caller_for(as_role, world, "law_enforcement-addressee")
    written = system.app.recorder.max_notification_id()

    assert_same_work(system, reads, liaison, REVISE, str(theirs))
    assert system.app.recorder.max_notification_id() == written


def test_a_referral_to_another_partner_is_asked_for_with_the_same_reads_as_a_missing_one(
    system: System, as_role: Any, world: World, reads: Reads
) -> None:
    neighbour = caller_for(as_role, world, "partner-other")

    assert_same_work(system, reads, neighbour, REFERRAL, world.referral)


def test_a_report_to_another_agency_is_asked_for_with_the_same_reads_as_a_missing_one(
    system: System, as_role: Any, world: World, reads: Reads
) -> None:
    other_liaison = caller_for(as_role, world, "law_enforcement-other")

    assert_same_work(system, reads, other_liaison, REPORT, world.report)


@pytest.mark.parametrize(
    "hidden", [{"listed": False}, {"included": False}], ids=["included, not listed", "not included"]
)
def test_an_organization_the_caller_may_not_see_is_asked_for_with_the_same_reads_as_a_missing_one(
    system: System, as_role: Any, reads: Reads, hidden: dict[str, Any]
) -> None:
    partner = seed(system, "Example Asking Shelter")
    unseen = seed(system, "Example Unlisted Shelter", **hidden)

    assert_same_work(system, reads, as_role("partner", partner), ORGANIZATION, str(unseen))
    assert_same_work(system, reads, as_role("public"), ORGANIZATION, str(unseen))


def plan(system: System, sql: str, params: tuple[Any, ...]) -> str:
    """How the read-model database runs a statement (PostgreSQL told to avoid a sequential
    scan, which it prefers on tables this small)."""
    literal = sql.replace("%s", "'{}'").format(*params)  # test ids and UUIDs only
    with system.store.snapshot() as cursor:
        if system.store.dialect == "postgres":
            cursor.execute("SET LOCAL enable_seqscan = off")
            rows = cursor.execute(f"EXPLAIN {literal}").fetchall()
        else:
            rows = cursor.execute(f"EXPLAIN QUERY PLAN {literal}").fetchall()
    return " ".join(str(cell) for row in rows for cell in row)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (PROTOCOL, "reporting_protocols_owned"),
        (REFERRAL, "referral_inbox_owned"),
        (REPORT, "report_inbox_owned"),
    ],
    ids=["reportingProtocol", "referral", "report"],
)
def test_a_lookup_by_owner_and_id_probes_one_index_and_no_row(
    system: System, as_role: Any, world: World, reads: Reads, query: str, index: str
) -> None:
    """The owner and the id are looked up together: another's record is found in no index
    entry, so its row is never read (looked up by id alone, it would be, to compare owners)."""
    caller = caller_for(
        as_role, world, "partner-other" if "referral(" in query else "law_enforcement-other"
    )
    reads.statements.clear()
    caller.post(query, {"id": str(uuid4())})
    lookups = [(sql, params) for sql, params in reads.statements if index.rsplit("_", 1)[0] in sql]

    assert len(lookups) == 1, reads.statements
    assert index in plan(system, *lookups[0])
