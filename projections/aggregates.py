"""Read models derived from an aggregate's own state.

Rather than re-implement each event's effect (and drift from the domain), a projection keeps
each aggregate's latest state in its own table, lets each event ``mutate`` it exactly as the
domain does, and then rewrites the rows derived from the new state. A batch loads each touched
aggregate once and writes it once, all inside the batch's transaction.

A projection may keep the aggregates it folded in memory between batches (``cache_size`` of
them, and at most ``cache_bytes`` of them as measured by ``domain.bounded.deep_size``) and
store their state only every ``state_every`` versions: a batch then takes an aggregate from
memory when it stands exactly before the batch's first event of it, and otherwise loads the
stored state and folds in, from the event store (``history``), the events it is behind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol, cast, overload
from uuid import UUID

from eventsourcing.domain import Aggregate, DomainEventProtocol, Snapshot
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from domain.bounded import MIB, BoundedCache
from projections import faults
from projections.sql import Cursor


def event_topics(aggregate_class: type[Aggregate]) -> list[str]:
    return sorted(
        {
            get_topic(value)
            for value in vars(aggregate_class).values()
            if isinstance(value, type) and issubclass(value, aggregate_class.Event)
        }
    )


class _Iso(Protocol):
    """``iso``'s type: text for an instant, None for none."""

    @overload
    def __call__(self, moment: datetime) -> str: ...
    @overload
    def __call__(self, moment: datetime | None) -> str | None: ...
    def cache_clear(self) -> None: ...
    def cache_info(self) -> Any: ...


def _iso(moment: datetime | None) -> str | None:
    """One text form for instants on both stores, so they compare and sort the same.
    Remembered: a case's row is rebuilt whole with each batch that touches it, its earlier
    instants with it (equal instants give equal texts, whatever their time zone)."""
    if moment is None:
        return None
    utc = moment.astimezone(UTC)
    # %Y does not pad years before 1000, and these texts compare as text.
    return f"{utc.year:04d}" + utc.strftime("-%m-%dT%H:%M:%S.%fZ")


# Each entry (an instant and its text) is small and of one size, so a count bounds the
# memory; a rebuild forgets them after each batch (see bench/README.md, rebuild.py).
iso = cast(_Iso, lru_cache(maxsize=1 << 13)(_iso))


# An aggregate's events after one version, up to and including another, from the event store.
History = Callable[[UUID, int, int], Sequence[DomainEventProtocol[Any]]]


class AggregateProjection:
    name: str
    aggregate_class: type[Aggregate]
    # Aggregates kept in memory between batches (0: none), and how many versions the stored
    # state may fall behind (1: stored with every batch). Behind needs a ``history``.
    cache_size = 0
    state_every = 1
    DEFAULT_CACHE_BYTES = 8 * MIB
    # A record's events fold in order: one quarantined holds back the record's later ones.
    holds_records = True

    def __init__(
        self,
        mapper: Mapper[UUID],
        dialect: str,
        history: History | None = None,
        cache_bytes: int | None = None,
    ) -> None:
        self.mapper = mapper
        self.dialect = dialect
        self.topics: Sequence[str] = event_topics(self.aggregate_class)
        self.state_table = f"{self.name}_state"
        if self.state_every > 1 and history is None:
            raise ValueError(f"{self.name}: a state stored behind needs the events' history")
        self.history = history
        # id -> (aggregate, version of its stored state), most recently used last; a batch
        # takes its aggregates out and puts them back only once it has committed.
        self._cache: BoundedCache[UUID, tuple[Any, int]] = BoundedCache(
            self.DEFAULT_CACHE_BYTES if cache_bytes is None else cache_bytes, self.cache_size
        )
        self._staged: dict[UUID, tuple[Any, int]] = {}

    def blob_type(self) -> str:
        return "BYTEA" if self.dialect == "postgres" else "BLOB"

    def create_state_table(self, cursor: Cursor) -> None:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {self.state_table} (id TEXT PRIMARY KEY, "
            f"version INTEGER NOT NULL, topic TEXT NOT NULL, state {self.blob_type()} NOT NULL)"
        )

    def process(self, cursor: Cursor, events: Sequence[DomainEventProtocol[Any]]) -> None:
        self._staged = {}
        firsts: dict[UUID, int] = {}
        for event in events:
            firsts.setdefault(event.originator_id, event.originator_version)
        touched, stored = self._load(cursor, firsts)
        applied: dict[UUID, list[DomainEventProtocol[Any]]] = {}
        for event in events:
            aggregate = touched.get(event.originator_id)
            if aggregate is not None and event.originator_version <= aggregate.version:
                continue  # already folded in: tracking makes this unreachable, but stay safe
            touched[event.originator_id] = event.mutate(aggregate)  # type: ignore[attr-defined]
            applied.setdefault(event.originator_id, []).append(event)
        if applied:
            aggregates = [touched[aggregate_id] for aggregate_id in applied]
            storing = [
                a
                for a in aggregates
                if a.id not in stored
                or a.version - stored[a.id] >= self.state_every
                or self.must_store(a, applied[a.id])
            ]
            self._save(cursor, storing)
            stored.update({a.id: a.version for a in storing})
            self.write(cursor, aggregates, applied)
        if self.cache_size:
            self._staged = {
                aggregate_id: (aggregate, stored.get(aggregate_id, 0))
                for aggregate_id, aggregate in touched.items()
            }

    def must_store(self, aggregate: Any, events: Sequence[DomainEventProtocol[Any]]) -> bool:
        """Whether these events need the aggregate's state stored now, however few."""
        return False

    def after_commit(self) -> None:
        """The batch's aggregates, as it left them, go back to memory."""
        staged, self._staged = self._staged, {}
        for aggregate_id, entry in staged.items():
            self._cache.put(aggregate_id, entry)

    def discard(self) -> None:
        """The batch failed: what it folded is not what was stored, so memory loses it."""
        self._staged = {}

    def write(
        self,
        cursor: Cursor,
        aggregates: list[Any],
        applied: Mapping[UUID, Sequence[DomainEventProtocol[Any]]],
    ) -> None:
        """Writes the rows derived from these aggregates (one batch's worth). ``applied``
        holds the events this batch folded into each, for a projection that rewrites only
        the rows they touched."""
        raise NotImplementedError

    def _load(
        self, cursor: Cursor, firsts: Mapping[UUID, int]
    ) -> tuple[dict[UUID, Any], dict[UUID, int]]:
        """Each aggregate as it stood before the batch's first event of it (``firsts``), and
        the version of its stored state (absent: none stored)."""
        loaded: dict[UUID, Any] = {}
        stored: dict[UUID, int] = {}
        missing: list[UUID] = []
        for aggregate_id, first in firsts.items():
            entry = self._cache.pop(aggregate_id)
            if entry is not None and entry[0].version == first - 1:
                loaded[aggregate_id] = entry[0]
                if entry[1]:
                    stored[aggregate_id] = entry[1]
            else:
                missing.append(aggregate_id)
        if not missing:
            return loaded, stored
        marks = ", ".join(["%s"] * len(missing))
        rows = cursor.execute(
            f"SELECT id, version, topic, state FROM {self.state_table} WHERE id IN ({marks})",
            [str(i) for i in missing],
        ).fetchall()
        for row in rows:
            aggregate_id = UUID(row[0])
            state = StoredEvent(
                originator_id=aggregate_id,
                originator_version=row[1],
                topic=row[2],
                state=bytes(row[3]),
            )
            snapshot: Any = self.mapper.to_domain_event(state)
            loaded[aggregate_id] = snapshot.mutate(None)
            stored[aggregate_id] = row[1]
        for aggregate_id in missing:
            aggregate = loaded.get(aggregate_id)
            have, want = (0 if aggregate is None else aggregate.version), firsts[aggregate_id] - 1
            if have < want and self.history is not None:
                for event in self.history(aggregate_id, have, want):
                    aggregate = event.mutate(aggregate)  # type: ignore[attr-defined]
                loaded[aggregate_id] = aggregate
        return loaded, stored

    def _save(self, cursor: Cursor, aggregates: list[Any]) -> None:
        rows = []
        for aggregate in aggregates:
            stored = self.mapper.to_stored_event(Snapshot.take(aggregate))
            rows.append((str(aggregate.id), aggregate.version, stored.topic, stored.state))
        cursor.executemany(
            f"INSERT INTO {self.state_table} (id, version, topic, state) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version, topic = excluded.topic, "
            "state = excluded.state",
            rows,
        )
        if rows:
            faults.reached("state-stored", cursor)
