"""The work queues' read model: each record's queued items (``domain/queues.py``), with who took
each up and whether it was done (``domain/work.py``).

Each kind of record has its own item table, written by the read model that already folds that
record (cases, directory, protocols: ``write_items``), which rewrites all of a record's items
with each batch that touches it: an item whose cause went away is simply not written again, and
no record is folded twice. A queue is read in due order, straight from an index on (queue,
owner, since): an item is due a queue's number of days after its cause arose (``since``), read
from the settings when the queue is read, so "due" needs no background job and a changed
setting needs no rebuild. Completed items are left out by a join with the work items' table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from domain.queues import (
    CASE_SOURCES,
    HOTLINE,
    ORGANIZATION_SOURCES,
    PROTOCOL_SOURCES,
    Delays,
    Item,
    Queue,
    QueueName,
    Source,
    items_of,
)
from domain.work import WorkItem, item_id
from projections.aggregates import AggregateProjection, iso
from projections.sql import Cursor, Int8s, Texts, ViewStore, insert_rows

ITEM_COLUMNS = ("id", "queue", "owner", "subject_id", "record_id", "since")
STATE_TABLE = "work_item_state"


# Each kind of record's items, in a table of the read model that folds that record.
CASE_WORK, ORGANIZATION_WORK, PROTOCOL_WORK = "case_work", "organization_work", "protocol_work"
SOURCES_OF: dict[str, tuple[Source[Any], ...]] = {
    CASE_WORK: CASE_SOURCES,
    ORGANIZATION_WORK: ORGANIZATION_SOURCES,
    PROTOCOL_WORK: PROTOCOL_SOURCES,
}


def create_item_table(cursor: Cursor, table: str) -> None:
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, queue TEXT NOT NULL, "
        "owner TEXT NOT NULL, subject_id TEXT NOT NULL, record_id TEXT NOT NULL, "
        "since TEXT NOT NULL)"
    )
    # One owner's queue in due order, and a whole queue (every owner's) in due order.
    cursor.execute(f"CREATE INDEX IF NOT EXISTS {table}_owned ON {table} (queue, owner, since, id)")
    cursor.execute(f"CREATE INDEX IF NOT EXISTS {table}_due ON {table} (queue, since, id)")
    cursor.execute(f"CREATE INDEX IF NOT EXISTS {table}_record ON {table} (record_id)")
    # One owner's item by id probes this alone (``WorkQueries.get``): another's item is not
    # touched, just as a missing one is not there.
    cursor.execute(f"CREATE INDEX IF NOT EXISTS {table}_owned_id ON {table} ((owner || ' ' || id))")


def duplicate_items(flags: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Item]:
    """An application the directory flagged as looking like a known organization, while staff
    have not decided (projections/directory.py): due at once, since its oldest open flag."""
    items = []
    for application, found in flags.items():
        open_flags = [f["flaggedAt"] for f in found if f["resolution"] is None]
        if open_flags:
            since = datetime.fromisoformat(min(open_flags))
            items.append(
                Item(QueueName.POSSIBLE_DUPLICATES, application, HOTLINE, since, application)
            )
    return items


def write_items(
    cursor: Cursor, table: str, records: Sequence[Any], extra: Sequence[Item] = ()
) -> None:
    """Rewrites every item of these records (one batch's worth), each by all of its kind's
    sources, with ``extra`` items the read model found itself (of these records only): an item
    whose cause went away is simply not written again."""
    ids = [str(record.id) for record in records]
    if not ids:
        return
    marks = ", ".join(["%s"] * len(ids))
    cursor.execute(f"DELETE FROM {table} WHERE record_id IN ({marks})", ids)
    rows: dict[str, tuple[str, ...]] = {}
    found = [i for r in records for i in items_of(SOURCES_OF[table], r, str(r.id))]
    for item in [*found, *extra]:
        since = iso(item.since) or ""
        key = str(item_id(item.queue, item.subject_id, since))
        rows[key] = (key, item.queue, item.owner, item.subject_id, item.record_id, since)
    insert_rows(cursor, table, ITEM_COLUMNS, [Texts] * 6, list(rows.values()))


class WorkItemProjection(AggregateProjection):
    """Who took each item up, and whether it was done."""

    name = "work_items"
    aggregate_class = WorkItem
    write_behind = True

    def create_tables(self, cursor: Cursor) -> None:
        self.create_state_table(cursor)
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (id TEXT PRIMARY KEY, "
            "assigned_to TEXT, completed INTEGER NOT NULL)"
        )

    def drop_tables(self, cursor: Cursor) -> None:
        cursor.execute(f"DROP TABLE IF EXISTS {STATE_TABLE}")
        cursor.execute(f"DROP TABLE IF EXISTS {self.state_table}")

    def write(
        self,
        cursor: Cursor,
        items: list[WorkItem],
        applied: Mapping[UUID, Sequence[DomainEventProtocol[Any]]],
    ) -> None:
        insert_rows(
            cursor,
            STATE_TABLE,
            ("id", "assigned_to", "completed"),
            (Texts, Texts, Int8s),
            [(str(i.id), i.assigned_to, int(i.completed)) for i in items],
            "ON CONFLICT (id) DO UPDATE SET assigned_to = excluded.assigned_to, "
            "completed = excluded.completed",
        )


# Which table holds each queue's items (table names reach SQL only from here).
TABLE_OF: dict[QueueName, str] = {
    **{source.queue.name: table for table, sources in SOURCES_OF.items() for source in sources},
    QueueName.POSSIBLE_DUPLICATES: ORGANIZATION_WORK,
}


# What settles an item besides its own record, read from another read model when the queue is
# read: a follow-up is done once the case has a contact (a callback, or the caller calling
# again) started after the consent (the contacts read model, projections/contacts.py).
SETTLED_ELSEWHERE: dict[QueueName, str] = {
    QueueName.FOLLOW_UPS: "NOT EXISTS (SELECT 1 FROM contacts c "
    "WHERE c.case_id = w.subject_id AND c.started_at > w.since)",
}


@dataclass(frozen=True)
class QueuedItem:
    id: str
    queue: QueueName
    owner: str
    subject_id: str
    record_id: str
    since: str
    due_at: str
    assigned_to: str | None


class WorkQueries:
    """The queues' queries. Their read models are written behind the commands, so every query
    first lets ``settle`` apply what the reading caller's own commands wrote in this process."""

    def __init__(
        self,
        store: ViewStore,
        delays: Delays,
        settle: Callable[[str | None], None] = lambda _caller: None,
        caller: str | None = None,
    ) -> None:
        self.store = store
        self.delays = delays
        self._settle = settle
        self._caller = caller

    def for_caller(self, caller: str) -> WorkQueries:
        return WorkQueries(self.store, self.delays, self._settle, caller)

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        self._settle(self._caller)
        with self.store.read() as cursor:
            yield cursor

    def _where(self, queue: Queue, owner: str | None, now: datetime) -> tuple[str, list[Any]]:
        clauses, params = ["w.queue = %s"], list[Any]([queue.name.value])
        if owner is not None:
            clauses.append("w.owner = %s")
            params.append(owner)
        if queue.listed_when_due:
            clauses.append("w.since <= %s")
            params.append(self._cutoff(queue, now))
        clauses.append(
            f"NOT EXISTS (SELECT 1 FROM {STATE_TABLE} s WHERE s.id = w.id AND s.completed = 1)"
        )
        if queue.name in SETTLED_ELSEWHERE:
            clauses.append(SETTLED_ELSEWHERE[queue.name])
        return " AND ".join(clauses), params

    def _cutoff(self, queue: Queue, now: datetime) -> str:
        """An item whose cause arose at or before this is due at ``now``."""
        return iso(now - timedelta(days=queue.days(self.delays))) or ""

    def page(
        self,
        queue: Queue,
        owner: str | None,
        now: datetime,
        first: int,
        after: tuple[str, str] | None = None,
    ) -> list[QueuedItem]:
        """Open items of ``queue`` (``owner``'s only, unless None), the soonest due first."""
        where, params = self._where(queue, owner, now)
        if after is not None:
            where += " AND (w.since > %s OR (w.since = %s AND w.id > %s))"
            params += [after[0], after[0], after[1]]
        sql = (
            "SELECT w.id, w.owner, w.subject_id, w.record_id, w.since, "
            f"(SELECT s.assigned_to FROM {STATE_TABLE} s WHERE s.id = w.id) "
            f"FROM {TABLE_OF[queue.name]} w WHERE {where} ORDER BY w.since, w.id LIMIT %s"
        )
        with self._read() as cursor:
            rows = cursor.execute(sql, [*params, first]).fetchall()
        return [self._item(queue, row) for row in rows]

    def get(self, queue: Queue, owner: str | None, item: str, now: datetime) -> QueuedItem | None:
        """One open item of ``queue`` by id (``owner``'s only, unless None), or None. An
        owner's item is looked up with its owner, in one index (as an inbox item is)."""
        where, params = self._where(queue, None, now)
        key, value = (
            ("w.id", item) if owner is None else ("w.owner || ' ' || w.id", f"{owner} {item}")
        )
        sql = (
            "SELECT w.id, w.owner, w.subject_id, w.record_id, w.since, "
            f"(SELECT s.assigned_to FROM {STATE_TABLE} s WHERE s.id = w.id) "
            f"FROM {TABLE_OF[queue.name]} w WHERE {key} = %s AND {where}"
        )
        with self._read() as cursor:
            row = cursor.execute(sql, [value, *params]).fetchone()
        return None if row is None else self._item(queue, row)

    def count(self, queue: Queue, owner: str | None, now: datetime) -> tuple[int, int]:
        """(open items listed now, of which overdue) in ``queue``."""
        where, params = self._where(queue, owner, now)
        sql = (
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN w.since <= %s THEN 1 ELSE 0 END), 0) "
            f"FROM {TABLE_OF[queue.name]} w WHERE {where}"
        )
        with self._read() as cursor:
            total, overdue = cursor.execute(sql, [self._cutoff(queue, now), *params]).fetchone()
        return int(total), int(overdue)

    def _item(self, queue: Queue, row: Sequence[Any]) -> QueuedItem:
        since = datetime.fromisoformat(row[4])
        return QueuedItem(
            id=row[0],
            queue=queue.name,
            owner=row[1],
            subject_id=row[2],
            record_id=row[3],
            since=row[4],
            due_at=iso(since + timedelta(days=queue.days(self.delays))) or "",
            assigned_to=row[5],
        )
