"""Follows the event log and keeps every read model's rows and position in one transaction.

A pull loop over ``select_notifications`` (the library's ProjectionRunner cannot drive SQLite):
each batch locks the projection's tracking row, reads the notifications after it, applies them
and moves the position, then commits. A crash between the event write and this commit loses
nothing: the next pass starts again from the committed position.

An event a read model cannot apply (its stored state does not decode, its topic is unknown,
applying it fails) is quarantined: kept aside in ``projection_quarantine`` with its position,
record, topic and the error's type (never its text, which can carry values), while the batch
goes on without it. A read model that folds records (``holds_records``) then holds back that
record's later events too, so that ``retry`` applies them in their order once it is fixed.
Errors of the database or the connection are not the event's: the batch is retried as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.application import Application

from projections import faults
from projections.sql import Cursor, ViewStore, is_transient

Progress = Callable[[str, int, int], None]
log = logging.getLogger("nrd.projections")


class Listener(Protocol):
    """What wakes a worker when any process writes events (``LogListener``)."""

    def wait(self, timeout: float, local: threading.Event) -> bool: ...
    def pause(self) -> None: ...
    def resume(self) -> bool: ...
    def close(self) -> None: ...


# Passes in a row that found events before a worker stops listening and simply passes again
# after gathering (see ``LogListener``).
BUSY_PASSES = 3
# A projection at the head of the log says so this often (``moved_at``), so that a reader can
# tell a current read model from one whose worker stopped.
HEARTBEAT_SECONDS = 5.0
# A worker whose passes fail waits twice as long after each failure, up to this.
MAX_BACKOFF_SECONDS = 5.0
# Callers remembered with write-behind positions still owed to them, at most: past it, the
# oldest are forgotten, and every caller's read waits for what was owed to them.
MAX_OWED_CALLERS = 4096


class Projection(Protocol):
    """A read model. One that sets ``raw = True`` is handed the stored notifications instead of
    decoded events; one that sets ``kept_on_rebuild = True`` is never dropped (the chain); one
    that sets ``write_behind = True`` is applied after a command answers, not before (see
    ``Projector.catch_up_to``), except after the events its ``applied_before_answer`` names; an
    ``after_commit()`` method runs after each batch has committed, a ``discard()`` method after
    a batch failed. One that sets ``holds_records = True`` folds each record's events in order:
    a record with an event quarantined has its later events held back. One that sets
    ``quarantines = False`` never skips an event (the chain): a failure stops it."""

    name: str
    topics: Sequence[str]

    def create_tables(self, cursor: Cursor) -> None: ...
    def drop_tables(self, cursor: Cursor) -> None: ...
    def process(self, cursor: Cursor, events: Sequence[Any]) -> None: ...


TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_tracking "
    "(name TEXT PRIMARY KEY, position BIGINT NOT NULL, moved_at DOUBLE PRECISION, "
    "quarantined BIGINT NOT NULL DEFAULT 0, failure TEXT)"
)
# Columns added to the tracking table after its first release (api/infrastructure/migrations.py).
TRACKING_HEALTH_COLUMNS = {
    "moved_at": "DOUBLE PRECISION",
    "quarantined": "BIGINT NOT NULL DEFAULT 0",
    "failure": "TEXT",
}
QUARANTINE_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_quarantine (projection TEXT NOT NULL, "
    "position BIGINT NOT NULL, record_id TEXT NOT NULL, version BIGINT NOT NULL, "
    "topic TEXT NOT NULL, stage TEXT NOT NULL, error TEXT NOT NULL, "
    "at DOUBLE PRECISION NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, "
    "PRIMARY KEY (projection, position))"
)
QUARANTINE_COLUMNS = (
    "projection",
    "position",
    "record_id",
    "version",
    "topic",
    "stage",
    "error",
    "at",
    "attempts",
)

# Why an event was quarantined.
DECODE, APPLY, HELD = "decode", "apply", "held"
HELD_ERROR = "an earlier event of this record is quarantined"


def describe(error: BaseException) -> str:
    """An error by its types alone: an exception's text can carry values."""
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return type(error).__name__ + (f" (from {type(cause).__name__})" if cause else "")


def _printable(text: str, limit: int = 200) -> str:
    """A stored topic as shown to operators: whatever a damaged row holds, one short line."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


@dataclass(frozen=True)
class Quarantined:
    """An event a read model could not apply, kept aside."""

    projection: str
    position: int
    record_id: str
    version: int
    topic: str
    stage: str
    error: str
    at: float
    attempts: int = 1

    @classmethod
    def of(cls, projection: str, notification: Any, stage: str, error: str) -> Quarantined:
        return cls(
            projection,
            int(notification.id),
            str(notification.originator_id),
            int(notification.originator_version),
            _printable(notification.topic),
            stage,
            error,
            time.time(),
        )

    def row(self) -> tuple[Any, ...]:
        return (
            self.projection,
            self.position,
            self.record_id,
            self.version,
            self.topic,
            self.stage,
            self.error,
            self.at,
            self.attempts,
        )


@dataclass(frozen=True)
class Retried:
    """What ``Projector.retry`` did: events applied, still quarantined, no longer in the log."""

    applied: int
    remaining: int
    gone: int


class Projector:
    def __init__(
        self,
        app: Application[Any],
        store: ViewStore,
        projections: Sequence[Projection],
        batch_size: int = 500,
        rebuilder: Rebuilder | None = None,
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.projections = list(projections)
        self.batch_size = batch_size
        self.rebuilder = rebuilder
        # Runs after each batch that applied events has committed (a rebuild's projectors
        # aside forget there what they memoized: ``api.infrastructure.aside``).
        self.after_batch = after_batch
        self._lock = threading.Lock()
        # Each projection has applied the log at least up to here (as this process saw it).
        self._reached: dict[str, int] = {}
        # What this process's own commands wrote that write-behind projections still owe:
        # to the whole process, and to each caller (oldest first; see ``owed``).
        self._owed: dict[str, int] = {}
        self._owed_by: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._forgotten: dict[str, int] = {}  # owed to callers no longer remembered
        self._owed_lock = threading.Lock()  # never held across database work
        self._wake = threading.Event()

    def create_tables(self, cursor: Cursor) -> None:
        """The tracking and quarantine tables and every read model's, as this version has
        them (a migration, or a rebuild building aside), with a position for each."""
        cursor.execute(TRACKING_DDL)
        cursor.execute(QUARANTINE_DDL)
        for projection in self.projections:
            projection.create_tables(cursor)
            cursor.execute(
                "INSERT INTO projection_tracking (name, position) VALUES (%s, 0) "
                "ON CONFLICT (name) DO NOTHING",
                (projection.name,),
            )

    def positions(self) -> dict[str, int]:
        with self.store.read() as cursor:
            rows = cursor.execute("SELECT name, position FROM projection_tracking").fetchall()
        return {name: int(position) for name, position in rows}

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def catch_up(self, progress: Progress | None = None, until: int | None = None) -> int:
        """Applies every event written so far (up to ``until`` when given); returns how many
        were applied."""
        with self._lock:
            return self._catch_up(progress, until=until)

    def catch_up_to(
        self, position: int, topics: frozenset[str] | None = None, caller: str | None = None
    ) -> None:
        """What a command that reached ``position`` does before it answers: the read models
        that follow one of ``topics`` (the events it wrote; all of them when None) apply the
        log up to there, so a change of who may read what is in force everywhere once its
        command has answered. Write-behind read models (the cases') are only owed the position:
        the worker applies them in batches, and a read in this process applies them first
        (``settle``). Requests that arrive together share one catch-up: whoever waited for the
        lock usually finds its own write applied already."""
        self._apply_up_to([(p, position) for p in self.record(position, topics, caller)])

    def record(
        self, position: int, topics: frozenset[str] | None, caller: str | None = None
    ) -> list[Projection]:
        """Records what the write-behind read models owe for a command of ``caller`` that
        reached ``position`` (and wakes the worker); returns the read models that must apply
        it before the command answers."""
        eager, later = self.followers(topics)
        self.owe(later, position, caller)
        return eager

    def applied(self, position: int, topics: frozenset[str] | None = None) -> bool:
        """Whether the read models a command that reached ``position`` waits for (the
        followers of ``topics`` that are not written behind) have applied it, as far as this
        process knows: then ``catch_up_to`` has nothing to do but record what is owed."""
        eager, _ = self.followers(topics)
        return all(self._reached.get(p.name, 0) >= position for p in eager)

    def followers(
        self,
        topics: frozenset[str] | None,
    ) -> tuple[list[Projection], list[Projection]]:
        """The read models that follow one of ``topics`` (all when None): those applied before
        a command answers, and the write-behind ones."""
        wanted = [
            p
            for p in self.projections
            if topics is None or (p.topics and not topics.isdisjoint(p.topics))
        ]
        # Unknown topics (a replayed result) could be anything, an erasure among them.
        later = [
            p
            for p in wanted
            if getattr(p, "write_behind", False)
            and topics is not None
            and topics.isdisjoint(getattr(p, "applied_before_answer", ()))
        ]
        return [p for p in wanted if p not in later], later

    def owe(
        self, projections: Sequence[Projection], position: int, caller: str | None = None
    ) -> None:
        """Records that these write-behind read models owe this process, and ``caller``,
        ``position``, and wakes the worker."""
        if not projections:
            return
        with self._owed_lock:
            for projection in projections:
                self._owed[projection.name] = max(self._owed.get(projection.name, 0), position)
            if caller is not None:
                mine = self._owed_by.pop(caller, {})
                for projection in projections:
                    mine[projection.name] = max(mine.get(projection.name, 0), position)
                self._owed_by[caller] = mine
                self._forget_owed()
        self._wake.set()

    def _forget_owed(self) -> None:
        """Drops the oldest callers once all they were owed is applied, and past
        ``MAX_OWED_CALLERS`` the oldest whatever they are owed (into ``_forgotten``, which
        every caller's read then waits for); call with ``_owed_lock`` held."""
        while self._owed_by:
            caller, oldest = next(iter(self._owed_by.items()))
            settled = all(self._reached.get(n, 0) >= p for n, p in oldest.items())
            if not settled and len(self._owed_by) <= MAX_OWED_CALLERS:
                return
            del self._owed_by[caller]
            if not settled:
                for name, position in oldest.items():
                    self._forgotten[name] = max(self._forgotten.get(name, 0), position)

    def owed(self, caller: str | None = None) -> dict[str, int]:
        """The positions a read must wait for, by write-behind read model: for ``caller``,
        what its own commands wrote in this process (read-your-writes per caller: another
        caller's writes never hold its reads up); for None, what every command of this
        process wrote."""
        with self._owed_lock:
            if caller is None:
                return dict(self._owed)
            owed = dict(self._forgotten)
            for name, position in self._owed_by.get(caller, {}).items():
                owed[name] = max(owed.get(name, 0), position)
            return owed

    def settle(self) -> None:
        """Read-your-writes for write-behind read models: applies what this process's own
        commands wrote and they have not applied yet. Costs nothing when they have."""
        owed = self.owed()
        self._apply_up_to([(p, owed.get(p.name, 0)) for p in self.projections])

    def _apply_up_to(self, targets: Sequence[tuple[Projection, int]]) -> None:
        if all(self._reached.get(p.name, 0) >= at for p, at in targets):
            return
        with self._lock:
            behind = [p for p, at in targets if self._reached.get(p.name, 0) < at]
            if behind:
                self._catch_up(None, behind)

    def await_owed(self, timeout: float = 10.0, caller: str | None = None) -> bool:
        """``settle`` for a server whose projections run in a worker process: waits until
        the write-behind read models reach what ``caller``'s commands (every command of this
        process, for None) wrote."""
        for name, position in self.owed(caller).items():
            if self._reached.get(name, 0) < position and not self.wait_for(
                position, timeout, frozenset({name})
            ):
                return False
        return True

    def _catch_up(
        self,
        progress: Progress | None,
        projections: Sequence[Projection] | None = None,
        until: int | None = None,
    ) -> int:
        """Each projection in turn applies the log up to the head (or ``until``). One that
        fails does not hold back the others: the first failure is raised once all have had
        their turn."""
        applied = 0
        head = self.head() if until is None else until
        failure: Exception | None = None
        for projection in self.projections if projections is None else projections:
            try:
                applied += self._follow(projection, head, progress)
            except Exception as error:
                failure = failure or error
        if failure is not None:
            raise failure
        return applied

    def _follow(self, projection: Projection, head: int, progress: Progress | None) -> int:
        """Applies batches of the log to one projection up to ``head``. A batch that fails on
        an event (not on the database) is split until the event is alone, and that event is
        quarantined once it has failed twice on its own."""
        applied, limit = 0, self.batch_size
        narrowing, narrowed_to, alone_failures = False, 0, 0
        while True:
            try:
                count, position, more = self._process_batch(projection, head, limit)
            except Exception as error:
                if is_transient(error) or not getattr(projection, "quarantines", True):
                    self._note_failure(projection, error)
                    raise
                if not narrowing:
                    pending, narrowed_to = self._pending(projection, head, limit)
                    narrowing, limit = True, max(1, pending // 2)
                elif limit > 1:
                    limit = max(1, limit // 2)
                elif not alone_failures:
                    alone_failures = 1  # once more, alone: a failure that lasts is the event's
                else:
                    self._quarantine_next(projection, head, error)
                    narrowing, limit, alone_failures = False, self.batch_size, 0
                continue
            applied += count
            alone_failures = 0
            if count and self.after_batch is not None:
                self.after_batch()
            if count and progress is not None:
                progress(projection.name, position, head)
            if narrowing and position >= narrowed_to:
                narrowing, limit = False, self.batch_size
            if not more:
                self._reached[projection.name] = max(
                    self._reached.get(projection.name, 0), position
                )
                return applied

    def _pending(self, projection: Projection, head: int, limit: int) -> tuple[int, int]:
        """How many events the next batch holds, and the position of its last."""
        start = self._position(projection) + 1
        batch = self.app.recorder.select_notifications(
            start=start, limit=limit, stop=head, topics=projection.topics
        )
        return len(batch), (batch[-1].id if batch else head)

    def _position(self, projection: Projection) -> int:
        with self.store.read() as cursor:
            row = cursor.execute(
                "SELECT position FROM projection_tracking WHERE name = %s", (projection.name,)
            ).fetchone()
        return int(row[0])

    def wait_for(
        self, position: int, timeout: float = 10.0, names: frozenset[str] | None = None
    ) -> bool:
        """For a server whose projections run in a worker: wait until they (those ``names``;
        all when None) pass ``position``."""
        deadline = time.monotonic() + timeout
        while True:
            seen = {
                name: p for name, p in self.positions().items() if names is None or name in names
            }
            if all(p >= position for p in seen.values()):
                with self._lock:
                    for name, p in seen.items():
                        self._reached[name] = max(self._reached.get(name, 0), p)
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def rebuild(self, progress: Progress | None = None) -> int:
        """Rebuilds every read model but those kept on rebuild (the hash chain: rebuilt from
        a tampered log, it would vouch for the tampering) from the log, aside, and swaps them
        in whole (``Rebuilder``); a rebuild that fails leaves the live ones as they were."""
        if self.rebuilder is None:
            raise RuntimeError("this projector has nowhere to build aside")
        with self._lock:
            applied = self.rebuilder.rebuild(self, progress)
            self._reached.clear()
            return applied

    def rebuilt(self) -> list[Projection]:
        return [p for p in self.projections if not getattr(p, "kept_on_rebuild", False)]

    # -- the worker --------------------------------------------------------------------------

    def run_forever(
        self,
        stop: threading.Event,
        interval: float = 0.2,
        housekeeping: Callable[[], None] | None = None,
        gather: float = 0.05,
        listener: Listener | None = None,
    ) -> None:
        """Follows the log until ``stop``. A pass starts every ``interval``, or sooner when a
        command of this process owes a write-behind read model, or when ``listener`` (woken
        once any process wrote events) is; the pass then waits ``gather`` seconds first, so
        that one batch takes the commands that arrive together. (The listener is also handed
        the local wake-up, which must end its wait.) After ``BUSY_PASSES`` passes in a row
        that found events, the worker stops listening and passes again after gathering,
        until a pass finds nothing. ``housekeeping`` runs at most once an interval.

        Nothing ends the loop but ``stop``: a pass that fails (the database restarted, a
        connection cut, a lock that timed out) is logged by type and tried again after a
        pause that doubles with each failure in a row, up to ``MAX_BACKOFF_SECONDS``; a
        listener that fails is closed and opened again on the next wait."""

        def wake_on_stop() -> None:  # so that ``stop`` ends a wait at once
            stop.wait()
            self._wake.set()

        threading.Thread(target=wake_on_stop, name="nrd-projections-stop", daemon=True).start()
        housekept = 0.0
        busy = 0
        backoff = 0.0
        while not stop.is_set():
            try:
                busy = busy + 1 if self.catch_up() else 0
                if housekeeping is not None and time.monotonic() - housekept >= interval:
                    housekeeping()
                    housekept = time.monotonic()
                backoff = 0.0
            except Exception as error:
                # By type only: an exception's text can carry values.
                backoff = min(MAX_BACKOFF_SECONDS, max(interval, backoff * 2))
                log.error(
                    "projection pass failed: %s; trying again in %.1fs", describe(error), backoff
                )
                busy = 0
                stop.wait(backoff)
                self._check_store()
            try:
                woken = self._wait(listener, busy, interval)
            except Exception as error:
                log.warning("listening for new events failed: %s", describe(error))
                if listener is not None:
                    listener.close()
                woken = self._wake.wait(interval)
            if woken is None:
                continue  # a write while it was not listening sent nothing: look first
            if woken:
                self._wake.clear()
                stop.wait(gather)

    def _check_store(self) -> None:
        """After a failed pass, the pool's dead connections (a restart kills them all) are
        replaced at once, rather than found one failed pass at a time."""
        try:
            self.store.check()
        except Exception as error:
            log.warning("checking the read models' connections failed: %s", describe(error))

    def _wait(self, listener: Listener | None, busy: int, interval: float) -> bool | None:
        if listener is None:
            return self._wake.wait(interval)
        if busy >= BUSY_PASSES:
            listener.pause()
            return True
        if listener.resume():
            return None
        return listener.wait(interval, self._wake)

    # -- batches -----------------------------------------------------------------------------

    def _process_batch(
        self, projection: Projection, head: int, limit: int | None = None
    ) -> tuple[int, int, bool]:
        """Applies one batch of the log up to ``head``; returns the events read, the new
        position, and whether more may follow (a full batch)."""
        try:
            return self._apply_batch(projection, head, limit or self.batch_size)
        except BaseException:
            self._discard(projection)
            raise

    @staticmethod
    def _discard(projection: Projection) -> None:
        discard = getattr(projection, "discard", None)
        if discard is not None:
            discard()  # nothing of the failed batch was stored: nor is it remembered

    @staticmethod
    def _after_commit(projection: Projection) -> None:
        after_commit = getattr(projection, "after_commit", None)
        if after_commit is not None:
            after_commit()  # work that must not run inside the batch's transaction

    @contextmanager
    def _tracked(self, projection: Projection) -> Iterator[tuple[Cursor, int, int, Any]]:
        """A transaction holding the projection's tracking row: (cursor, position, events
        quarantined, when it last moved)."""
        lock = " FOR UPDATE" if self.store.dialect == "postgres" else ""
        with self.store.transaction() as cursor:
            row = cursor.execute(
                "SELECT position, quarantined, moved_at FROM projection_tracking "
                "WHERE name = %s" + lock,
                (projection.name,),
            ).fetchone()
            if row is None:
                raise LookupError(
                    f"read model {projection.name} has no tracking position: run `nrd db migrate`"
                )
            yield cursor, int(row[0]), int(row[1] or 0), row[2]

    def _apply_batch(self, projection: Projection, head: int, limit: int) -> tuple[int, int, bool]:
        now = time.time()
        with self._tracked(projection) as (cursor, position, held_count, moved_at):
            # The head was read before this: writers commit notification ids in order (the
            # table lock), so every id up to it is settled, and a projection that filters by
            # topic may move its position up to the head once it has seen all of its own
            # events before it.
            if head <= position:
                if moved_at is None or now - float(moved_at) >= HEARTBEAT_SECONDS:
                    cursor.execute(
                        "UPDATE projection_tracking SET moved_at = %s WHERE name = %s",
                        (now, projection.name),
                    )
                return 0, position, False
            faults.reached("locked", cursor)
            notifications = self.app.recorder.select_notifications(
                start=position + 1, limit=limit, stop=head, topics=projection.topics
            )
            held = (
                self._held(cursor, projection)
                if held_count and getattr(projection, "holds_records", False)
                else set()
            )
            events, quarantine = self._admit(projection, notifications, held)
            if events:
                projection.process(cursor, events)
            faults.reached("processed", cursor)
            self._quarantine(cursor, quarantine)
            full = len(notifications) == limit
            new_position = notifications[-1].id if full else head
            cursor.execute(
                "UPDATE projection_tracking SET position = %s, moved_at = %s, failure = NULL, "
                "quarantined = quarantined + %s WHERE name = %s",
                (new_position, now, len(quarantine), projection.name),
            )
            faults.reached("tracked", cursor)
        faults.reached("committed")
        self._after_commit(projection)
        return len(notifications), new_position, full

    def _admit(
        self, projection: Projection, notifications: Sequence[Any], held: set[str]
    ) -> tuple[list[Any], list[Quarantined]]:
        """The batch's events, decoded, and those quarantined instead: events of a held
        record, and events whose stored state cannot be decoded."""
        raw = getattr(projection, "raw", False)
        holds = getattr(projection, "holds_records", False)
        events: list[Any] = []
        quarantine: list[Quarantined] = []
        for notification in notifications:
            record = str(notification.originator_id)
            if record in held:
                quarantine.append(Quarantined.of(projection.name, notification, HELD, HELD_ERROR))
                continue
            if raw:
                events.append(notification)
                continue
            try:
                events.append(self.app.mapper.to_domain_event(notification))
            except Exception as error:
                if is_transient(error):
                    raise
                quarantine.append(
                    Quarantined.of(projection.name, notification, DECODE, describe(error))
                )
                if holds:
                    held.add(record)
        return events, quarantine

    def _held(self, cursor: Cursor, projection: Projection) -> set[str]:
        rows = cursor.execute(
            "SELECT DISTINCT record_id FROM projection_quarantine WHERE projection = %s",
            (projection.name,),
        ).fetchall()
        return {row[0] for row in rows}

    @staticmethod
    def _quarantine(cursor: Cursor, entries: Sequence[Quarantined]) -> None:
        if not entries:
            return
        marks = ", ".join(["%s"] * len(QUARANTINE_COLUMNS))
        cursor.executemany(
            f"INSERT INTO projection_quarantine ({', '.join(QUARANTINE_COLUMNS)}) "
            f"VALUES ({marks}) ON CONFLICT (projection, position) DO NOTHING",
            [entry.row() for entry in entries],
        )
        for entry in entries:
            log.error(
                "read model %s quarantined the event at position %d (%s: %s)",
                entry.projection,
                entry.position,
                entry.stage,
                entry.error,
            )

    def _quarantine_next(self, projection: Projection, head: int, error: Exception) -> None:
        """Quarantines the next event of the projection, which failed alone, and moves past
        it."""
        with self._tracked(projection) as (cursor, position, _, _):
            batch = self.app.recorder.select_notifications(
                start=position + 1, limit=1, stop=head, topics=projection.topics
            )
            if not batch:
                return
            self._quarantine(
                cursor, [Quarantined.of(projection.name, batch[0], APPLY, describe(error))]
            )
            cursor.execute(
                "UPDATE projection_tracking SET position = %s, moved_at = %s, failure = NULL, "
                "quarantined = quarantined + 1 WHERE name = %s",
                (batch[0].id, time.time(), projection.name),
            )

    def _note_failure(self, projection: Projection, error: Exception) -> None:
        """A projection that stops on an error that is not an event's: logged, and, unless
        the database itself is the trouble, noted on its tracking row for status and
        readiness."""
        log.error(
            "read model %s stopped at position %d: %s",
            projection.name,
            self._reached.get(projection.name, 0),
            describe(error),
        )
        if is_transient(error):
            return
        try:
            with self.store.transaction() as cursor:
                cursor.execute(
                    "UPDATE projection_tracking SET failure = %s WHERE name = %s",
                    (describe(error), projection.name),
                )
        except Exception as noting:  # the failure is logged already
            log.warning("could not note the failure: %s", describe(noting))

    # -- quarantine --------------------------------------------------------------------------

    def quarantined(
        self,
        limit: int = 1000,
        projection: str | None = None,
    ) -> list[Quarantined]:
        """Quarantined events, in log order."""
        where, params = ("WHERE projection = %s", [projection]) if projection else ("", [])
        with self.store.read() as cursor:
            rows = cursor.execute(
                f"SELECT {', '.join(QUARANTINE_COLUMNS)} FROM projection_quarantine {where} "
                "ORDER BY position, projection LIMIT %s",
                [*params, limit],
            ).fetchall()
        return [
            Quarantined(r[0], int(r[1]), r[2], int(r[3]), r[4], r[5], r[6], float(r[7]), int(r[8]))
            for r in rows
        ]

    def retry(self) -> Retried:
        """Applies the quarantined events again, each record's in log order (after a fix):
        those that apply now leave the quarantine; one that fails again stays, with its
        record's later events behind it. Passes again while a pass applied something (the
        worker may have held back more events of a record meanwhile)."""
        applied = gone = 0
        with self._lock:
            while True:
                progressed, remaining = 0, 0
                for projection in self.projections:
                    done, left, vanished = self._retry_projection(projection)
                    progressed += done + vanished
                    applied, gone, remaining = applied + done, gone + vanished, remaining + left
                if not progressed or not remaining:
                    return Retried(applied, remaining, gone)

    def _retry_projection(self, projection: Projection) -> tuple[int, int, int]:
        applied = remaining = gone = 0
        blocked: set[str] = set()
        for entry in self.quarantined(limit=1_000_000, projection=projection.name):
            if entry.record_id in blocked:
                remaining += 1
                continue
            try:
                found = self._retry_one(projection, entry)
            except _StillFailing as failing:
                self._retry_failed(projection, entry, failing.stage, failing.error)
                blocked.add(entry.record_id)
                remaining += 1
                continue
            applied += found
            gone += not found
        return applied, remaining, gone

    def _retry_one(self, projection: Projection, entry: Quarantined) -> bool:
        """Applies one quarantined event; False when it is no longer in the log."""
        try:
            with self._tracked(projection) as (cursor, _, _, _):
                batch = self.app.recorder.select_notifications(
                    start=entry.position, limit=1, stop=entry.position
                )
                if batch:
                    projection.process(cursor, [self._decoded(projection, batch[0])])
                deleted = cursor.execute(
                    "DELETE FROM projection_quarantine WHERE projection = %s AND position = %s",
                    (projection.name, entry.position),
                ).rowcount
                cursor.execute(
                    "UPDATE projection_tracking SET quarantined = quarantined - %s WHERE name = %s",
                    (deleted, projection.name),
                )
        except BaseException as error:
            self._discard(projection)
            if (
                isinstance(error, Exception)
                and not isinstance(error, _StillFailing)
                and not is_transient(error)
            ):
                raise _StillFailing(APPLY, error) from error
            raise
        self._after_commit(projection)
        log.info(
            "read model %s applied the event at position %d it had quarantined",
            projection.name,
            entry.position,
        )
        return bool(batch)

    def _decoded(self, projection: Projection, notification: Any) -> Any:
        if getattr(projection, "raw", False):
            return notification
        try:
            return self.app.mapper.to_domain_event(notification)
        except Exception as error:
            if is_transient(error):
                raise
            raise _StillFailing(DECODE, error) from error

    def _retry_failed(
        self, projection: Projection, entry: Quarantined, stage: str, error: Exception
    ) -> None:
        with self.store.transaction() as cursor:
            cursor.execute(
                "UPDATE projection_quarantine SET stage = %s, error = %s, at = %s, "
                "attempts = attempts + 1 WHERE projection = %s AND position = %s",
                (stage, describe(error), time.time(), projection.name, entry.position),
            )
        log.error(
            "read model %s could not apply the event at position %d again: %s",
            projection.name,
            entry.position,
            describe(error),
        )


class _StillFailing(Exception):
    """A quarantined event failed again when retried (``stage``: decode or apply)."""

    def __init__(self, stage: str, error: Exception) -> None:
        super().__init__(stage)
        self.stage, self.error = stage, error


class Rebuilder(Protocol):
    """Builds read models aside and swaps them in whole (``api.infrastructure.aside``)."""

    def rebuild(self, projector: Projector, progress: Progress | None) -> int: ...
