"""The hash chain over the event log, on SQLite and PostgreSQL: it follows the log link by link,
survives a rebuild and a restart, and finds the first position where someone with database
access edited, deleted, reordered or truncated the stored events; an exported head still
catches an intruder who rewrote the chain to match.
"""
# Table and column names in these queries are fixed per store below; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
import pytest

from api.config import Settings
from api.wiring import System, build_system
from domain.base import acting_as
from domain.organization import Organization
from projections.audit import HistoryFilter
from projections.chain import GENESIS, ChainBroken, ChainProjection, Head, chain_head, link, verify
from projections.runner import Projector
from projections.sql import ViewStore
from tests.integration.test_projections import STAFF, a_busy_directory, an_applicant

# -- someone with database access --------------------------------------------------------


class Intruder:
    """Works on the stored events with plain SQL, as a database administrator could."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        postgres = settings.uses_postgres
        self.table = "nrd_events" if postgres else "stored_events"
        self.id = "notification_id" if postgres else "rowid"

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """Yields ``run(sql, params)`` taking ``%s`` placeholders; commits at the end."""
        if self.settings.uses_postgres:
            options = f"-c search_path={self.settings.database_schema}"
            with psycopg.connect(self.settings.database_url or "", options=options) as conn:
                yield lambda sql, params=(): conn.execute(sql, params)
            return
        lite = sqlite3.connect(
            self.settings.data_dir / "events.sqlite", timeout=10, isolation_level=None
        )
        try:
            lite.execute("BEGIN IMMEDIATE")
            yield lambda sql, params=(): lite.execute(sql.replace("%s", "?"), tuple(params))
            lite.execute("COMMIT")
        finally:
            lite.close()

    def state(self, position: int) -> bytes:
        with self.transaction() as run:
            row = run(
                f"SELECT state FROM {self.table} WHERE {self.id} = %s", (position,)
            ).fetchone()
        return bytes(row[0])

    def edit(self, position: int, old: bytes, new: bytes) -> None:
        state = self.state(position)
        assert old in state
        with self.transaction() as run:
            run(
                f"UPDATE {self.table} SET state = %s WHERE {self.id} = %s",
                (state.replace(old, new), position),
            )

    def delete(self, position: int) -> None:
        with self.transaction() as run:
            run(f"DELETE FROM {self.table} WHERE {self.id} = %s", (position,))

    def delete_after(self, position: int) -> None:
        with self.transaction() as run:
            run(f"DELETE FROM {self.table} WHERE {self.id} > %s", (position,))

    def swap(self, first: int, second: int) -> None:
        with self.transaction() as run:
            for old, new in ((first, -1), (second, first), (-1, second)):
                run(f"UPDATE {self.table} SET {self.id} = %s WHERE {self.id} = %s", (new, old))


def rewrite_the_chain(store: ViewStore, links: Sequence[tuple[int, str]], position: int) -> None:
    """Replaces the stored links and the chain's tracking position, as an intruder could."""
    with store.transaction() as cursor:
        cursor.execute("DELETE FROM event_chain")
        cursor.executemany("INSERT INTO event_chain (position, hash) VALUES (%s, %s)", list(links))
        cursor.execute(
            "UPDATE projection_tracking SET position = %s WHERE name = %s",
            (position, ChainProjection.name),
        )


# -- looking at the chain -----------------------------------------------------------------


def stored_links(store: ViewStore) -> list[tuple[int, str]]:
    with store.read() as cursor:
        rows = cursor.execute("SELECT position, hash FROM event_chain ORDER BY position")
        return [(int(position), value) for position, value in rows.fetchall()]


def links_of_the_log(system: System) -> list[tuple[int, str]]:
    """The chain recomputed from the log as it is stored now."""
    previous, links = GENESIS, []
    for notification in system.app.recorder.select_notifications(start=1, limit=100_000):
        previous = link(previous, notification)
        links.append((notification.id, previous))
    return links


def head_of(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


def position_of(system: System, record: UUID, event: str) -> int:
    """Where the record's event of this type sits in the log."""
    [position] = [
        n.id
        for n in system.app.recorder.select_notifications(start=1, limit=100_000)
        if n.originator_id == record and n.topic.endswith(f".{event}")
    ]
    return position


def checked(system: System, heads: Sequence[Head] = ()) -> Any:
    return verify(system.app.recorder, system.store, heads)


def exported_head(system: System) -> Head:
    head = chain_head(system.store)
    assert head is not None
    return head


def more_applicants(system: System, count: int, name: str = "Fictional Later Shelter") -> None:
    with acting_as(STAFF):
        for n in range(count):
            an_applicant(system.app, f"{name} {n:02d}")


@pytest.fixture
def busy(system: System) -> dict[str, UUID]:
    """A directory with some history, every event chained."""
    ids = a_busy_directory(system.app)
    system.projector.catch_up()
    return ids


# -- following the log -----------------------------------------------------------------------


def test_the_chain_links_every_event_in_log_order_and_verifies_intact(
    system: System,
    busy: dict[str, UUID],
) -> None:
    links = stored_links(system.store)

    assert [position for position, _ in links] == list(range(1, head_of(system) + 1))
    assert links == links_of_the_log(system)
    assert len({value for _, value in links}) == len(links)
    assert chain_head(system.store) == Head(*links[-1])
    result = checked(system)
    assert result.intact and result.finding is None
    assert (result.events, result.chained_to, result.heads_checked) == (
        head_of(system),
        head_of(system),
        0,
    )


def test_a_rebuild_of_the_read_models_keeps_the_chain_as_it_was(
    system: System,
    busy: dict[str, UUID],
) -> None:
    before = stored_links(system.store)
    position = system.projector.positions()["chain"]

    system.projector.rebuild()

    assert stored_links(system.store) == before
    assert system.projector.positions()["chain"] == position == head_of(system)
    assert checked(system).intact


def test_a_rebuild_after_an_edit_does_not_make_the_chain_vouch_for_it(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    approval = position_of(system, busy["harbour"], "InclusionApproved")
    Intruder(settings).edit(approval, b"Fictional approval.", b"Fictional approvaL.")

    system.projector.rebuild()

    result = checked(system)
    assert result.finding is not None
    assert result.finding.position == approval


def test_after_a_restart_the_chain_continues_from_its_last_link(
    settings: Settings,
    system: System,
    busy: dict[str, UUID],
) -> None:
    before = stored_links(system.store)
    system.close()

    restarted = build_system(settings)
    try:
        assert stored_links(restarted.store) == before
        assert checked(restarted).intact
        more_applicants(restarted, 3)
        assert restarted.projector.catch_up() > 0

        links = stored_links(restarted.store)
        assert links[: len(before)] == before
        assert links == links_of_the_log(restarted)
        assert [p for p, _ in links] == list(range(1, head_of(restarted) + 1))
        result = checked(restarted)
        assert result.intact and result.events == head_of(restarted) > len(before)
    finally:
        restarted.close()


# -- tampering, one kind at a time ----------------------------------------------------------


def test_an_edited_event_is_found_at_its_own_position(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    # Who approved the harbour shelter's inclusion is rewritten, bytes of the same length.
    approval = position_of(system, busy["harbour"], "InclusionApproved")
    Intruder(settings).edit(
        approval, b'"actor_id":"fictional-staff-7"', b'"actor_id":"fictional-staff-8"'
    )
    [entry] = system.audit.history(
        busy["harbour"], HistoryFilter(types=frozenset({"Organization.InclusionApproved"})), first=5
    )
    assert entry["actorId"] == "fictional-staff-8"  # the application reads the forgery

    result = checked(system)

    assert result.finding is not None and not result.intact
    assert result.finding.position == approval
    assert "edited" in result.finding.problem
    assert result.events == approval - 1


def test_an_event_deleted_from_the_middle_is_found_at_its_position(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    # An allegation of misconduct disappears from the removed hostel's history.
    allegation = position_of(system, busy["removed"], "MisconductAllegationRecorded")
    assert 1 < allegation < head_of(system)
    Intruder(settings).delete(allegation)

    result = checked(system)

    assert result.finding is not None
    assert result.finding.position == allegation
    assert "deleted" in result.finding.problem


def test_an_event_deleted_with_its_link_is_still_caught_where_the_log_resumes(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    allegation = position_of(system, busy["removed"], "MisconductAllegationRecorded")
    Intruder(settings).delete(allegation)
    with system.store.transaction() as cursor:
        cursor.execute("DELETE FROM event_chain WHERE position = %s", (allegation,))

    result = checked(system)

    # The next event's link names the deleted one's: it no longer matches.
    assert result.finding is not None
    assert allegation <= result.finding.position <= allegation + 1


def test_an_event_inserted_in_the_middle_is_found_at_its_position(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    # An allegation is slipped into the declined centre's history, every later event moved
    # one position on to make room.
    intruder = Intruder(settings)
    allegation = position_of(system, busy["removed"], "MisconductAllegationRecorded")
    inserted = position_of(system, busy["declined"], "InclusionDeclined") + 1
    assert inserted < head_of(system)
    with intruder.transaction() as run:
        table, id_ = intruder.table, intruder.id
        [declined] = run(
            f"SELECT DISTINCT originator_id FROM {table} WHERE {id_} = %s", (inserted - 1,)
        ).fetchone()
        topic, state = run(
            f"SELECT topic, state FROM {table} WHERE {id_} = %s", (allegation,)
        ).fetchone()
        run(f"UPDATE {table} SET {id_} = -({id_} + 1) WHERE {id_} >= %s", (inserted,))
        run(f"UPDATE {table} SET {id_} = -{id_} WHERE {id_} < 0")
        run(
            f"INSERT INTO {table} ({id_}, originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s, %s)",
            (inserted, declined, 4, topic, state),
        )
    forged: Organization = system.app.repository.get(busy["declined"])
    assert forged.version == 4

    result = checked(system)

    assert result.finding is not None
    assert result.finding.position == inserted


def test_two_events_swapped_in_the_log_are_found_at_the_earlier_position(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    # The haven's removal and reinstatement change places: it now reads as removed.
    removal = position_of(system, busy["reinstated"], "Removed")
    reinstatement = position_of(system, busy["reinstated"], "ReinstatedForReview")
    assert removal < reinstatement
    Intruder(settings).swap(removal, reinstatement)
    moved = system.app.recorder.select_notifications(start=removal, limit=1)[0]
    assert moved.topic.endswith(".ReinstatedForReview")

    result = checked(system)

    assert result.finding is not None
    assert result.finding.position == removal
    assert "reordered" in result.finding.problem


def test_two_events_swapped_by_content_are_found_at_the_earlier_position(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    # The same swap done the other way: each row keeps its position and takes the other's
    # record, version, topic and state.
    intruder = Intruder(settings)
    first = position_of(system, busy["clinic"], "MoreInformationRequested")
    second = position_of(system, busy["clinic"], "InformationProvided")
    with intruder.transaction() as run:
        columns = "originator_id, originator_version, topic, state"
        rows = {
            position: run(
                f"SELECT {columns} FROM {intruder.table} WHERE {intruder.id} = %s", (position,)
            ).fetchone()
            for position in (first, second)
        }
        run(f"DELETE FROM {intruder.table} WHERE {intruder.id} IN (%s, %s)", (first, second))
        for position, other in ((first, second), (second, first)):
            run(
                f"INSERT INTO {intruder.table} ({intruder.id}, {columns}) "
                "VALUES (%s, %s, %s, %s, %s)",
                (position, *rows[other]),
            )

    result = checked(system)

    assert result.finding is not None
    assert result.finding.position == first


def test_a_truncated_tail_is_found_at_the_first_missing_position(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    head = head_of(system)
    kept = head - 5
    Intruder(settings).delete_after(kept)

    result = checked(system)

    assert result.finding is not None
    assert "truncated" in result.finding.problem
    # The first affected position is the first event gone, not the last one still there.
    assert result.finding.position == kept + 1


def test_a_tail_deleted_with_its_links_but_not_the_tracking_is_found_truncated(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    kept = head_of(system) - 4
    Intruder(settings).delete_after(kept)
    with system.store.transaction() as cursor:
        cursor.execute("DELETE FROM event_chain WHERE position > %s", (kept,))

    result = checked(system)

    assert result.finding is not None
    assert "truncated" in result.finding.problem
    assert result.finding.position == kept + 1


def test_the_chain_refuses_to_grow_from_a_cut_tail(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    kept = head_of(system) - 4
    with system.store.transaction() as cursor:
        cursor.execute("DELETE FROM event_chain WHERE position > %s", (kept,))
    more_applicants(system, 1)

    with pytest.raises(ChainBroken):
        system.projector.catch_up()

    assert checked(system).finding is not None
    assert max(position for position, _ in stored_links(system.store)) == kept


# -- an intruder who also rewrites the chain -----------------------------------------------


def test_a_tail_truncated_with_its_links_and_tracking_is_caught_by_an_exported_head(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    head = exported_head(system)
    kept = head.position - 6
    Intruder(settings).delete_after(kept)
    rewrite_the_chain(system.store, stored_links(system.store)[:kept], kept)
    assert checked(system).intact  # the chain alone cannot tell: it was cut to match

    result = checked(system, [head])

    assert result.finding is not None
    assert "truncated" in result.finding.problem
    assert kept < result.finding.position <= head.position


def test_an_edit_with_the_whole_chain_recomputed_is_caught_by_an_earlier_head(
    system: System,
    settings: Settings,
    busy: dict[str, UUID],
) -> None:
    approval = position_of(system, busy["harbour"], "InclusionApproved")
    before_the_approval = Head(*stored_links(system.store)[approval - 2])
    head = exported_head(system)
    assert before_the_approval.position < approval < head.position
    Intruder(settings).edit(approval, b"Fictional approval.", b"Fictional approvaL.")
    rewrite_the_chain(system.store, links_of_the_log(system), head.position)
    assert checked(system).intact  # consistent with the forged log

    result = checked(system, [before_the_approval, head])

    assert result.finding is not None
    # The heads bound it: the log still matches the earlier one, not the later one.
    assert result.heads_checked == 1
    assert result.finding.position == head.position
    assert "exported head" in result.finding.problem


def test_a_head_exported_before_later_honest_writes_still_verifies(
    system: System,
    busy: dict[str, UUID],
) -> None:
    earlier = exported_head(system)
    more_applicants(system, 4)
    system.projector.catch_up()
    later = exported_head(system)
    assert later.position > earlier.position

    result = checked(system, [later, earlier])

    assert result.intact
    assert (result.heads_checked, result.events) == (2, head_of(system))


def test_a_head_whose_hash_is_not_the_chains_is_reported_at_its_position(
    system: System,
    busy: dict[str, UUID],
) -> None:
    head = exported_head(system)
    # A head from another store, or altered in transit.
    other = Head(head.position - 3, head.hash)

    result = checked(system, [other])

    assert result.finding is not None
    assert result.finding.position == other.position
    assert "exported head" in result.finding.problem


# -- exactly once -------------------------------------------------------------------------------


def test_two_projectors_catching_up_at_once_write_one_link_per_event(
    system: System,
    settings: Settings,
) -> None:
    a_busy_directory(system.app)
    more_applicants(system, 10, "Fictional Backlog Shelter")
    another_process = build_system(settings)
    try:
        projectors = [
            Projector(s.app, s.store, [ChainProjection()], batch_size=3)
            for s in (system, another_process)
        ]
        start = threading.Barrier(2)

        def catch_up(projector: Projector) -> int:
            start.wait(timeout=10)
            return projector.catch_up()

        with ThreadPoolExecutor(2) as pool:
            applied = list(pool.map(catch_up, projectors))

        assert sum(applied) == head_of(system)
        assert stored_links(system.store) == links_of_the_log(system)
        assert system.projector.positions()["chain"] == head_of(system)
        assert checked(another_process).intact
    finally:
        another_process.close()
