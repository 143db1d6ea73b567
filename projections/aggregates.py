"""Read models derived from an aggregate's own state.

Rather than re-implement each event's effect (and drift from the domain), a projection keeps
each aggregate's latest state in its own table, lets each event ``mutate`` it exactly as the
domain does, and then rewrites the rows derived from the new state. A batch loads each touched
aggregate once and writes it once, all inside the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEventProtocol, Snapshot
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from projections.store import Cursor


def event_topics(aggregate_class: type[Aggregate]) -> list[str]:
    return sorted({
        get_topic(value) for value in vars(aggregate_class).values()
        if isinstance(value, type) and issubclass(value, aggregate_class.Event)
    })


def iso(moment: datetime | None) -> str | None:
    """One text form for instants on both stores, so they compare and sort the same."""
    if moment is None:
        return None
    utc = moment.astimezone(UTC)
    # %Y does not pad years before 1000, and these texts compare as text.
    return f"{utc.year:04d}" + utc.strftime("-%m-%dT%H:%M:%S.%fZ")


class AggregateProjection:
    name: str
    aggregate_class: type[Aggregate]

    def __init__(self, mapper: Mapper[UUID], dialect: str) -> None:
        self.mapper = mapper
        self.dialect = dialect
        self.topics: Sequence[str] = event_topics(self.aggregate_class)
        self.state_table = f"{self.name}_state"

    def blob_type(self) -> str:
        return "BYTEA" if self.dialect == "postgres" else "BLOB"

    def create_state_table(self, cursor: Cursor) -> None:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {self.state_table} (id TEXT PRIMARY KEY, "
            f"version INTEGER NOT NULL, topic TEXT NOT NULL, state {self.blob_type()} NOT NULL)")

    def process(self, cursor: Cursor, events: Sequence[DomainEventProtocol[Any]]) -> None:
        touched: dict[UUID, Any] = self._load(cursor, {e.originator_id for e in events})
        applied: dict[UUID, list[DomainEventProtocol[Any]]] = {}
        for event in events:
            aggregate = touched.get(event.originator_id)
            if aggregate is not None and event.originator_version <= aggregate.version:
                continue  # already folded in: tracking makes this unreachable, but stay safe
            touched[event.originator_id] = event.mutate(aggregate)  # type: ignore[attr-defined]
            applied.setdefault(event.originator_id, []).append(event)
        if not applied:
            return  # a batch it has seen whole: nothing to write
        aggregates = [touched[aggregate_id] for aggregate_id in applied]
        self._save(cursor, aggregates)
        self.write(cursor, aggregates, applied)

    def write(self, cursor: Cursor, aggregates: list[Any],
              applied: Mapping[UUID, Sequence[DomainEventProtocol[Any]]]) -> None:
        """Writes the rows derived from these aggregates (one batch's worth). ``applied``
        holds the events this batch folded into each, for a projection that rewrites only
        the rows they touched."""
        raise NotImplementedError

    def _load(self, cursor: Cursor, ids: set[UUID]) -> dict[UUID, Any]:
        marks = ", ".join(["%s"] * len(ids))
        rows = cursor.execute(
            f"SELECT id, version, topic, state FROM {self.state_table} WHERE id IN ({marks})",
            [str(i) for i in ids]).fetchall()
        loaded: dict[UUID, Any] = {}
        for row in rows:
            aggregate_id = UUID(row[0])
            stored = StoredEvent(originator_id=aggregate_id, originator_version=row[1],
                                 topic=row[2], state=bytes(row[3]))
            snapshot: Any = self.mapper.to_domain_event(stored)
            loaded[aggregate_id] = snapshot.mutate(None)
        return loaded

    def _save(self, cursor: Cursor, aggregates: list[Any]) -> None:
        rows = []
        for aggregate in aggregates:
            stored = self.mapper.to_stored_event(Snapshot.take(aggregate))
            rows.append((str(aggregate.id), aggregate.version, stored.topic, stored.state))
        cursor.executemany(
            f"INSERT INTO {self.state_table} (id, version, topic, state) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version, topic = excluded.topic, "
            "state = excluded.state", rows)
