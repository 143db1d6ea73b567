"""Every private member of the eventsourcing library this project uses, in one place.

The write path (``domain/write_path.py``) needs three things the library does but does not
offer publicly, and the PostgreSQL recorder a fourth; each is wrapped here behind a public name
of ours, so an upgrade of the library has one module to check (``pyproject.toml`` bounds the
version).

``Repository._reconstruct_aggregate`` (in ``AdaptedRepository.load``)
    Loads an aggregate from its snapshot and the events since, without the repository's cache.
    The write path folds events into a cached aggregate under its lock itself, so it needs the
    load the public ``Repository.get`` does just before it consults the cache; ``get`` with the
    cache off would need a second repository (a second cache setting) for the same stores.

``Repository._use_fastforward_lock`` and ``Repository._disuse_fastforward_lock`` (in
``AdaptedRepository.aggregate_lock``)
    The library's per-aggregate lock, which its own ``get`` takes to fast-forward a cached
    aggregate. The write path takes the same lock to decide on and save the cached aggregate
    in place, and to copy it, so that it and the library's ``get`` never fold the same object
    at once. There is no public handle on that lock.

``Application._record``, ``Application._notify`` and ``Application._take_snapshots`` (in
``AdaptedApplication.save``, and ``_take_snapshots`` overridden)
    ``save`` is the library's, step for step, but that (1) this project's aggregates' events are
    collected without the library's runtime Protocol checks (on Python 3.11 each check lists
    the protocol's members anew, a noticeable share of a command's time), (2) ``saved`` is
    called between recording and snapshotting, while no other write can have come between (the
    write path notes the aggregates as current), and (3) snapshots are taken from the aggregate
    just saved, where the library loads and folds it again from the store. The public ``save``
    offers no hook between its steps, and ``_take_snapshots`` is where the library decides
    which snapshots to take.

``__wrapped__`` of a recorder method the library decorates with its ``retry`` (``unretried``)
    The library retries every ``OperationalError`` ten times, a lock or a pool timeout among
    them, so a caller that passed a bound would wait ten times as long. The PostgreSQL event
    recorder (``api/infrastructure/recorders.py``) calls the library's query of the
    notification log without that retry, inside its own. Nothing public reaches the undecorated
    method, and writing the query again would copy the library's statement.

Two members with a leading underscore are used elsewhere, because the library documents them
for subclasses: ``Aggregate._create`` (its domain docs: a custom creation method constructs the
aggregate with it; ``domain/base.py`` and each aggregate's creation method) and an application
recorder's ``_insert_events`` (its examples of searchable content and timestamps extend it to
write more in the events' transaction; ``CheckedSQLiteRecorder`` checks the versions a decision
read there). ``tests/unit/test_architecture.py`` fails on any other private member of the
library, of strawberry or of graphql-core used outside this module and
``api/schema/adapter.py``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent, Repository
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording


class AdaptedRepository(Repository[UUID]):
    """The library's repository, with its uncached load and its per-aggregate lock public."""

    def load(self, aggregate_id: UUID, projector_func: Any) -> Any:
        """The aggregate as stored now, loaded from its snapshot and events, cache untouched."""
        return self._reconstruct_aggregate(aggregate_id, None, projector_func)

    @contextlib.contextmanager
    def aggregate_lock(self, aggregate_id: UUID) -> Iterator[threading.Lock]:
        """The library's lock of this aggregate (not acquired: the caller acquires it)."""
        lock = self._use_fastforward_lock(aggregate_id)
        try:
            yield lock
        finally:
            self._disuse_fastforward_lock(aggregate_id)


class AdaptedApplication(Application[UUID]):
    """The library's application, with a ``saved`` hook and snapshots of the saved state."""

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's ``save`` (see the module's docstring for what differs)."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self.saved(processing_event.aggregates)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def saved(self, aggregates: dict[UUID, Any]) -> None:
        """Called with the aggregates a save just recorded, before anything else is written."""

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """A snapshot of each saved aggregate whose new events reached a multiple of its
        interval, taken from the aggregate just saved rather than (as the library does) from
        one loaded and folded again from the store: it is that state, still under its lock.
        When a save's events pass the multiple (version 50 of 49 to 51), the snapshot is of
        the state the save ended at (51): a load or a replay folds from any version."""
        if not (self.snapshots and self.snapshotting_intervals):
            return
        for aggregate_id, aggregate in processing_event.aggregates.items():
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval is None or not any(
                event.originator_id == aggregate_id and event.originator_version % interval == 0
                for event in processing_event.events
            ):
                continue
            snapshot_class: Any = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
            self.snapshots.put([snapshot_class.take(aggregate)])


def unretried(method: Callable[..., Any]) -> Callable[..., Any]:
    """The library's method without its ``retry`` decorator (which keeps the method as
    ``__wrapped__``, by functools.wraps). Failing here means the library changed."""
    return cast(Callable[..., Any], method.__wrapped__)  # type: ignore[attr-defined]
