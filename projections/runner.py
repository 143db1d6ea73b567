"""Follows the event log and keeps every read model's rows and position in one transaction.

A pull loop over ``select_notifications`` (the library's ProjectionRunner cannot drive SQLite):
each batch locks the projection's tracking row, reads the notifications after it, applies them
and moves the position, then commits. A crash between the event write and this commit loses
nothing: the next pass starts again from the committed position.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from eventsourcing.application import Application

from projections.store import Cursor, ViewStore

Progress = Callable[[str, int, int], None]
log = logging.getLogger("nrd.projections")


class Projection(Protocol):
    """A read model. One that sets ``raw = True`` is handed the stored notifications instead of
    decoded events; one that sets ``kept_on_rebuild = True`` is never dropped (the chain); an
    ``after_commit()`` method runs after each batch has committed."""

    name: str
    topics: Sequence[str]

    def create_tables(self, cursor: Cursor) -> None: ...
    def drop_tables(self, cursor: Cursor) -> None: ...
    def process(self, cursor: Cursor, events: Sequence[Any]) -> None: ...


TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_tracking "
    "(name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
)


class Projector:
    def __init__(self, app: Application[Any], store: ViewStore,
                 projections: Sequence[Projection], batch_size: int = 500) -> None:
        self.app = app
        self.store = store
        self.projections = list(projections)
        self.batch_size = batch_size
        self._lock = threading.Lock()
        # Each projection has applied the log at least up to here (as this process saw it).
        self._reached: dict[str, int] = {}

    def create_tables(self) -> None:
        with self.store.transaction() as cursor:
            cursor.execute(TRACKING_DDL)
            for projection in self.projections:
                projection.create_tables(cursor)
                cursor.execute(
                    "INSERT INTO projection_tracking (name, position) VALUES (%s, 0) "
                    "ON CONFLICT (name) DO NOTHING", (projection.name,))

    def positions(self) -> dict[str, int]:
        with self.store.read() as cursor:
            rows = cursor.execute("SELECT name, position FROM projection_tracking").fetchall()
        return {name: int(position) for name, position in rows}

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def catch_up(self, progress: Progress | None = None) -> int:
        """Applies every event written so far; returns how many were applied."""
        with self._lock:
            return self._catch_up(progress)

    def catch_up_to(self, position: int, topics: frozenset[str] | None = None) -> None:
        """Makes sure the read models have applied the log up to ``position``: those that
        follow one of ``topics`` (the events a command wrote), or all of them when ``topics``
        is None. Requests that arrive together share one catch-up: whoever waited for the lock
        usually finds its own write applied already, and returns without asking the database
        anything. The rest is left to the projection worker."""
        wanted = [p for p in self.projections
                  if topics is None or (p.topics and not topics.isdisjoint(p.topics))]
        if all(self._reached.get(p.name, 0) >= position for p in wanted):
            return
        with self._lock:
            behind = [p for p in wanted if self._reached.get(p.name, 0) < position]
            if behind:
                self._catch_up(None, behind)

    def _catch_up(self, progress: Progress | None,
                  projections: Sequence[Projection] | None = None) -> int:
        applied = 0
        for projection in self.projections if projections is None else projections:
            while True:
                count, position, moved = self._process_batch(projection)
                applied += count
                if not moved:
                    break
                if progress is not None:
                    progress(projection.name, position, self.head())
            self._reached[projection.name] = max(self._reached.get(projection.name, 0),
                                                 position)
        return applied

    def wait_for(self, position: int, timeout: float = 10.0) -> bool:
        """For a server whose projections run in a worker: wait until they pass ``position``."""
        deadline = time.monotonic() + timeout
        while True:
            if all(p >= position for p in self.positions().values()):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drops and refills every read model, except those kept on rebuild (the hash chain:
        rebuilt from a tampered log, it would vouch for the tampering)."""
        with self._lock, self.store.transaction() as cursor:
            self._reached.clear()
            for projection in self.projections:
                if getattr(projection, "kept_on_rebuild", False):
                    continue
                projection.drop_tables(cursor)
                cursor.execute("DELETE FROM projection_tracking WHERE name = %s",
                               (projection.name,))
        self.create_tables()
        return self.catch_up(progress)

    def run_forever(self, stop: threading.Event, interval: float = 0.2,
                    housekeeping: Callable[[], None] | None = None) -> None:
        """Follows the log until ``stop``; ``housekeeping`` runs after every pass."""
        while not stop.is_set():
            try:
                self.catch_up()
                if housekeeping is not None:
                    housekeeping()
            except Exception as error:
                # By type only: an exception's text can carry values.
                log.error("projection batch failed: %s", type(error).__name__)
                stop.wait(min(5.0, interval * 10))
            stop.wait(interval)

    def _process_batch(self, projection: Projection) -> tuple[int, int, bool]:
        """Applies one batch; returns events applied, the new position, and whether it moved."""
        mapper = self.app.mapper
        with self.store.transaction() as cursor:
            lock = " FOR UPDATE" if self.store.dialect == "postgres" else ""
            row = cursor.execute(
                "SELECT position FROM projection_tracking WHERE name = %s" + lock,
                (projection.name,)).fetchone()
            position = int(row[0])
            # Read the head first: writers commit notification ids in order (the table lock),
            # so every id up to it is settled, and a projection that filters by topic may move
            # its position up to the head once it has seen all of its own events before it.
            head = self.head()
            if head <= position:
                return 0, position, False
            notifications = self.app.recorder.select_notifications(
                start=position + 1, limit=self.batch_size, stop=head, topics=projection.topics)
            if notifications and getattr(projection, "raw", False):
                projection.process(cursor, notifications)
            elif notifications:
                projection.process(cursor, [mapper.to_domain_event(n) for n in notifications])
            full = len(notifications) == self.batch_size
            new_position = notifications[-1].id if full else head
            cursor.execute("UPDATE projection_tracking SET position = %s WHERE name = %s",
                           (new_position, projection.name))
        after_commit = getattr(projection, "after_commit", None)
        if after_commit is not None:
            after_commit()  # work that must not run inside the batch's transaction
        return len(notifications), new_position, True
