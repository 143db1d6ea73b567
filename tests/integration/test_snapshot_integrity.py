"""Snapshots carry a MAC: one edited in the database is refused, never folded into a decision.

The hash chain covers the event log, not the snapshot table, while loads and point-in-time
replays start from the latest snapshot. Someone with database access who lifts a legal hold or
forges a consent in a snapshot gets an error, not an erasure or a disclosure. A process that
already holds the case in its aggregate cache never reads the snapshot again (it folds only the
events since); the loads below therefore go through another, freshly started system, as any other or
restarted process would, and the running one is checked too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import IntegrityError, StoredEvent

from api.config import Settings
from api.infrastructure.recorders import BinarySnapshotRecorder
from api.infrastructure.snapshots import SnapshotTampered
from api.wiring import System
from domain.base import Actor, acting_as
from domain.case import CallerRelationship, Case, Channel, LegalHold
from tests.conftest import a_system
from tests.helpers import a_key
from tests.integration.test_case_application import a_case_consented_to_a_shelter, refer

STAFF = Actor("fictional-staff-1", "staff", request_id="req-fictional-snap-1")
SUPERVISOR = Actor("fictional-supervisor-1", "supervisor", request_id="req-fictional-snap-2")


@contextmanager
def raw_sql(settings: Settings) -> Iterator[Callable[..., Any]]:
    """Someone with database access, going around the application."""
    if settings.uses_postgres:
        options = f"-c search_path={settings.database_schema}"
        with psycopg.connect(settings.database_url or "", options=options) as conn:
            yield lambda sql, params=(): conn.execute(sql.replace("TABLE", "nrd_snapshots"), params)
        return
    lite = sqlite3.connect(settings.data_dir / "events.sqlite", isolation_level=None)
    try:
        lite.execute("BEGIN IMMEDIATE")
        yield lambda sql, params=(): lite.execute(
            sql.replace("TABLE", "stored_snapshots").replace("%s", "?"), tuple(params)
        )
        lite.execute("COMMIT")
    finally:
        lite.close()


def a_held_case_with_a_snapshot(system: System) -> UUID:
    with acting_as(STAFF):
        case_id = system.app.open_case(
            a_key(), Channel.CALL, "en", CallerRelationship.ANONYMOUS, {}, {"province": "CA-ON"}
        ).id
    with acting_as(SUPERVISOR):
        system.app.place_legal_hold(a_key(), case_id, "Fictional: a court order preserves it.")
    with acting_as(STAFF):
        for n in range(50):
            system.app.update_case(a_key(), case_id, {"municipality": f"Fictionville {n}"})
    return case_id


def stored_snapshot(settings: Settings, case_id: UUID) -> tuple[int, bytes]:
    with raw_sql(settings) as run:
        rows = run(
            "SELECT originator_version, state FROM TABLE WHERE originator_id = %s "
            "ORDER BY originator_version",
            (case_id if settings.uses_postgres else case_id.hex,),
        ).fetchall()
    assert rows, "the application took no snapshot"
    return int(rows[-1][0]), bytes(rows[-1][1])


def test_an_untouched_snapshot_loads_and_equals_the_events_folded(system: System) -> None:
    case_id = a_held_case_with_a_snapshot(system)
    with a_system(system.settings) as fresh:
        from_snapshot: Case = fresh.app.repository.get(case_id)
        replayed = fresh.audit.state_as_of(case_id, version=from_snapshot.version)

    assert from_snapshot.legal_hold is not None
    assert replayed is not None and replayed["state"]["legal_hold"] is not None


def test_a_snapshot_edited_to_lift_a_legal_hold_is_refused_and_nothing_is_erased(
    system: System,
    settings: Settings,
) -> None:
    case_id = a_held_case_with_a_snapshot(system)
    version, state = stored_snapshot(settings, case_id)
    tag, body = state[:32], json.loads(state[32:])
    body["state"]["legal_hold"] = None
    with raw_sql(settings) as run:
        run(
            "UPDATE TABLE SET state = %s WHERE originator_id = %s AND originator_version = %s",
            (
                tag + json.dumps(body).encode(),
                case_id if settings.uses_postgres else case_id.hex,
                version,
            ),
        )

    with a_system(settings) as fresh:
        with acting_as(SUPERVISOR), pytest.raises(SnapshotTampered):
            fresh.app.erase_personal_data(a_key(), case_id, "Fictional: the hold was lifted?")
        with pytest.raises(SnapshotTampered):
            fresh.audit.state_as_of(case_id)
    with pytest.raises(SnapshotTampered):
        system.audit.state_as_of(case_id)
    # The running process folds its cached copy with the events since: the hold still stands.
    with acting_as(SUPERVISOR), pytest.raises(LegalHold):
        system.app.erase_personal_data(a_key(), case_id, "Fictional: the hold was lifted?")
    last = next(iter(system.app.events.get(case_id, desc=True, limit=1)))
    assert type(last).__name__ != "PersonalDataErased"
    assert system.vault.has_key(case_id)


def test_a_snapshot_moved_to_another_record_is_refused(
    system: System,
    settings: Settings,
) -> None:
    held = a_held_case_with_a_snapshot(system)
    other = a_held_case_with_a_snapshot(system)
    version, state = stored_snapshot(settings, held)
    with raw_sql(settings) as run:
        run(
            "UPDATE TABLE SET state = %s WHERE originator_id = %s AND originator_version = %s",
            (state, other if settings.uses_postgres else other.hex, version),
        )

    with a_system(settings) as fresh, pytest.raises(SnapshotTampered):
        fresh.app.repository.get(other)


def snapshots_equal_the_events_folded(system: System, case_id: UUID) -> list[int]:
    """The versions of the case's stored snapshots, each checked against the library folding
    the stored events up to that version in a freshly started system."""
    with a_system(system.settings) as fresh:
        assert fresh.app.snapshots is not None
        snapshots = list(fresh.app.snapshots.get(case_id))
        for snapshot in snapshots:
            assert isinstance(snapshot, Snapshot)
            from_snapshot = snapshot.mutate(None)
            folded: Case = fresh.app.repository.get(case_id, version=snapshot.originator_version)
            assert vars(from_snapshot) == vars(folded) | {"_pending_events": []}
    return [snapshot.originator_version for snapshot in snapshots]


def test_a_snapshot_taken_from_the_aggregate_just_saved_equals_the_events_folded(
    system: System,
) -> None:
    case_id = a_held_case_with_a_snapshot(system)

    assert snapshots_equal_the_events_folded(system, case_id) == [50]


def test_a_save_that_passes_the_interval_snapshots_the_state_it_ended_at(
    system: System,
) -> None:
    shelter, case_id = a_case_consented_to_a_shelter(system)
    with acting_as(STAFF):
        for n in range(47):  # opened at 1, consent at 2: 49 after these
            system.app.update_case(a_key(), case_id, {"municipality": f"Fictionville {n}"})
    assert system.app.repository.get(case_id).version == 49

    refer(system, case_id, shelter)  # a referral and its disclosure: versions 50 and 51

    assert snapshots_equal_the_events_folded(system, case_id) == [51]
    with a_system(system.settings) as fresh:
        loaded: Case = fresh.app.repository.get(case_id)
    assert loaded.version == 51 and len(loaded.referrals) == 1


@pytest.mark.postgres
def test_postgresql_writes_snapshots_as_binary_arrays_compressed_with_lz4(
    pg_system: System,
    pg_settings: Settings,
) -> None:
    assert pg_system.app.snapshots is not None
    recorder = pg_system.app.snapshots.recorder
    assert isinstance(recorder, BinarySnapshotRecorder)
    every_byte = bytes(range(256)) * 40  # past the size PostgreSQL compresses at
    first, second = uuid4(), uuid4()
    recorder.insert_events(
        [
            StoredEvent(
                originator_id=first,
                originator_version=50,
                topic="tests.fictional:Snapshot",
                state=every_byte,
            ),
            StoredEvent(
                originator_id=str(second),
                originator_version=7,
                topic="tests.fictional:Snapshot",
                state=b"\x00\\x'\"",
            ),
        ]
    )

    assert [(s.originator_version, s.topic, s.state) for s in recorder.select_events(first)] == [
        (50, "tests.fictional:Snapshot", every_byte)
    ]
    assert [s.state for s in recorder.select_events(second)] == [b"\x00\\x'\""]
    with pytest.raises(IntegrityError):  # one snapshot per version, as the library's
        recorder.insert_events(
            [
                StoredEvent(
                    originator_id=first,
                    originator_version=50,
                    topic="tests.fictional:Snapshot",
                    state=b"{}",
                )
            ]
        )
    with raw_sql(pg_settings) as run:
        supported = run(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).fetchone()[0]
        assert supported, "this server was built without lz4: the test cannot tell"
        method = run(
            "SELECT pg_column_compression(state) FROM TABLE WHERE originator_id = %s", (first,)
        ).fetchone()[0]
    assert method == "lz4"
