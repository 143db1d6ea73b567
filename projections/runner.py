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


class Listener(Protocol):
    """What wakes a worker when any process writes events (``LogListener``)."""

    def wait(self, timeout: float, local: threading.Event) -> bool: ...
    def pause(self) -> None: ...
    def resume(self) -> bool: ...


# Passes in a row that found events before a worker stops listening and simply passes again
# after gathering (see ``LogListener``).
BUSY_PASSES = 3


class Projection(Protocol):
    """A read model. One that sets ``raw = True`` is handed the stored notifications instead of
    decoded events; one that sets ``kept_on_rebuild = True`` is never dropped (the chain); one
    that sets ``write_behind = True`` is applied after a command answers, not before (see
    ``Projector.catch_up_to``), except after the events its ``applied_before_answer`` names; an
    ``after_commit()`` method runs after each batch has committed, a ``discard()`` method after
    a batch failed."""

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
        # What this process's own commands wrote that write-behind projections still owe.
        self._owed: dict[str, int] = {}
        self._owed_lock = threading.Lock()  # never held across database work
        self._wake = threading.Event()

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
        """What a command that reached ``position`` does before it answers: the read models
        that follow one of ``topics`` (the events it wrote; all of them when None) apply the
        log up to there, so a change of who may read what is in force everywhere once its
        command has answered. Write-behind read models (the cases') are only owed the position:
        the worker applies them in batches, and a read in this process applies them first
        (``settle``). Requests that arrive together share one catch-up: whoever waited for the
        lock usually finds its own write applied already."""
        self._apply_up_to([(p, position) for p in self.record(position, topics)])

    def record(self, position: int, topics: frozenset[str] | None) -> list[Projection]:
        """Records what the write-behind read models owe for a command that reached
        ``position`` (and wakes the worker); returns the read models that must apply it
        before the command answers."""
        eager, later = self.followers(topics)
        self.owe(later, position)
        return eager

    def applied(self, position: int, topics: frozenset[str] | None = None) -> bool:
        """Whether the read models a command that reached ``position`` waits for (the
        followers of ``topics`` that are not written behind) have applied it, as far as this
        process knows: then ``catch_up_to`` has nothing to do but record what is owed."""
        eager, _ = self.followers(topics)
        return all(self._reached.get(p.name, 0) >= position for p in eager)

    def followers(self, topics: frozenset[str] | None,
                  ) -> tuple[list[Projection], list[Projection]]:
        """The read models that follow one of ``topics`` (all when None): those applied before
        a command answers, and the write-behind ones."""
        wanted = [p for p in self.projections
                  if topics is None or (p.topics and not topics.isdisjoint(p.topics))]
        # Unknown topics (a replayed result) could be anything, an erasure among them.
        later = [p for p in wanted if getattr(p, "write_behind", False) and topics is not None
                 and topics.isdisjoint(getattr(p, "applied_before_answer", ()))]
        return [p for p in wanted if p not in later], later

    def owe(self, projections: Sequence[Projection], position: int) -> None:
        """Records that these write-behind read models owe this process ``position``, and
        wakes the worker."""
        if not projections:
            return
        with self._owed_lock:
            for projection in projections:
                self._owed[projection.name] = max(self._owed.get(projection.name, 0), position)
        self._wake.set()

    def settle(self) -> None:
        """Read-your-writes for write-behind read models: applies what this process's own
        commands wrote and they have not applied yet. Costs nothing when they have."""
        self._apply_up_to([(p, self._owed.get(p.name, 0)) for p in self.projections])

    def _apply_up_to(self, targets: Sequence[tuple[Projection, int]]) -> None:
        if all(self._reached.get(p.name, 0) >= at for p, at in targets):
            return
        with self._lock:
            behind = [p for p, at in targets if self._reached.get(p.name, 0) < at]
            if behind:
                self._catch_up(None, behind)

    def await_owed(self, timeout: float = 10.0) -> bool:
        """``settle`` for a server whose projections run in a worker process: waits until
        the write-behind read models reach what this process's commands wrote."""
        with self._owed_lock:
            owed = dict(self._owed)
        for name, position in owed.items():
            if (self._reached.get(name, 0) < position
                    and not self.wait_for(position, timeout, frozenset({name}))):
                return False
        return True

    def _catch_up(self, progress: Progress | None,
                  projections: Sequence[Projection] | None = None) -> int:
        applied = 0
        head = self.head()
        for projection in self.projections if projections is None else projections:
            while True:
                count, position, more = self._process_batch(projection, head)
                applied += count
                if count and progress is not None:
                    progress(projection.name, position, head)
                if not more:
                    break
            self._reached[projection.name] = max(self._reached.get(projection.name, 0),
                                                 position)
        return applied

    def wait_for(self, position: int, timeout: float = 10.0,
                 names: frozenset[str] | None = None) -> bool:
        """For a server whose projections run in a worker: wait until they (those ``names``;
        all when None) pass ``position``."""
        deadline = time.monotonic() + timeout
        while True:
            seen = {name: p for name, p in self.positions().items()
                    if names is None or name in names}
            if all(p >= position for p in seen.values()):
                with self._lock:
                    for name, p in seen.items():
                        self._reached[name] = max(self._reached.get(name, 0), p)
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
                    housekeeping: Callable[[], None] | None = None,
                    gather: float = 0.05, listener: Listener | None = None) -> None:
        """Follows the log until ``stop``. A pass starts every ``interval``, or sooner when a
        command of this process owes a write-behind read model, or when ``listener`` (woken
        once any process wrote events) is; the pass then waits ``gather`` seconds first, so
        that one batch takes the commands that arrive together. (The listener is also handed
        the local wake-up, which must end its wait.) After ``BUSY_PASSES`` passes in a row
        that found events, the worker stops listening and passes again after gathering,
        until a pass finds nothing. ``housekeeping`` runs at most once an interval."""
        def wake_on_stop() -> None:  # so that ``stop`` ends a wait at once
            stop.wait()
            self._wake.set()

        threading.Thread(target=wake_on_stop, name="nrd-projections-stop", daemon=True).start()
        housekept = 0.0
        busy = 0
        while not stop.is_set():
            try:
                busy = busy + 1 if self.catch_up() else 0
                if housekeeping is not None and time.monotonic() - housekept >= interval:
                    housekeeping()
                    housekept = time.monotonic()
            except Exception as error:
                # By type only: an exception's text can carry values.
                log.error("projection batch failed: %s", type(error).__name__)
                busy = 0
                stop.wait(min(5.0, interval * 10))
            if listener is None:
                woken = self._wake.wait(interval)
            elif busy >= BUSY_PASSES:
                listener.pause()
                woken = True
            elif listener.resume():
                continue  # a write while it was not listening sent nothing: look first
            else:
                woken = listener.wait(interval, self._wake)
            if woken:
                self._wake.clear()
                stop.wait(gather)

    def _process_batch(self, projection: Projection, head: int) -> tuple[int, int, bool]:
        """Applies one batch of the log up to ``head``; returns the events applied, the new
        position, and whether more may follow (a full batch)."""
        try:
            return self._apply_batch(projection, head)
        except BaseException:
            discard = getattr(projection, "discard", None)
            if discard is not None:
                discard()  # nothing of the failed batch was stored: nor is it remembered
            raise

    def _apply_batch(self, projection: Projection, head: int) -> tuple[int, int, bool]:
        mapper = self.app.mapper
        with self.store.transaction() as cursor:
            lock = " FOR UPDATE" if self.store.dialect == "postgres" else ""
            row = cursor.execute(
                "SELECT position FROM projection_tracking WHERE name = %s" + lock,
                (projection.name,)).fetchone()
            position = int(row[0])
            # The head was read before this: writers commit notification ids in order (the
            # table lock), so every id up to it is settled, and a projection that filters by
            # topic may move its position up to the head once it has seen all of its own
            # events before it.
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
        return len(notifications), new_position, full
