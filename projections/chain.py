"""A hash chain over the event log, in notification order: tamper evidence.

Each link hashes the previous link with one stored event exactly as the store holds it (its
position, record, version, topic and encoded state). Personal data inside is already sealed, so
erasure (which destroys a key, not an event) never changes a link. The links are kept by a
projection with exactly-once tracking; ``verify`` recomputes the chain from the log and reports
the first position where the stored log no longer matches its links or an exported head.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import Notification

from projections.sql import Cursor, Int8s, Texts, ViewStore, insert_rows

GENESIS = hashlib.sha256(b"nrd event chain v1").hexdigest()
BATCH = 2000
Progress = Callable[[int, int], None]


def link(previous: str, notification: Notification) -> str:
    """The next link: every part length-prefixed, so no two different events hash alike."""
    digest = hashlib.sha256(bytes.fromhex(previous))
    for part in (
        str(notification.id).encode(),
        notification.originator_id.bytes
        if hasattr(notification.originator_id, "bytes")
        else str(notification.originator_id).encode(),
        str(notification.originator_version).encode(),
        notification.topic.encode(),
        bytes(notification.state),
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class ChainBroken(Exception):
    """The stored chain was cut: the projection refuses to extend it."""


class ChainProjection:
    """Links every event in notification order; kept (never dropped) when read models rebuild."""

    name = "chain"
    topics: Sequence[str] = ()  # every event
    raw = True  # handed the stored notifications, not decoded events
    kept_on_rebuild = True
    quarantines = False  # a chain links every event: it stops rather than skip one

    def create_tables(self, cursor: Cursor) -> None:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS event_chain "
            "(position BIGINT PRIMARY KEY, hash TEXT NOT NULL)"
        )

    def drop_tables(self, cursor: Cursor) -> None:
        cursor.execute("DROP TABLE IF EXISTS event_chain")

    def process(self, cursor: Cursor, notifications: Sequence[Notification]) -> None:
        row = cursor.execute(
            "SELECT position, hash FROM event_chain ORDER BY position DESC LIMIT 1"
        ).fetchone()
        tracked = cursor.execute(
            "SELECT position FROM projection_tracking WHERE name = %s", (self.name,)
        ).fetchone()
        if (0 if row is None else int(row[0])) != (0 if tracked is None else int(tracked[0])):
            # Links were deleted after the position this chain had reached: continuing would
            # chain new events onto a cut-off tail and hide the cut. Stop; verify reports it.
            raise ChainBroken("the chain's last link is not at its tracked position")
        previous = GENESIS if row is None else row[1]
        rows = []
        for notification in notifications:
            previous = link(previous, notification)
            rows.append((notification.id, previous))
        insert_rows(cursor, "event_chain", ("position", "hash"), (Int8s, Texts), rows)


@dataclass(frozen=True)
class Head:
    """A link named outside the database (an exported, signed head)."""

    position: int
    hash: str


@dataclass(frozen=True)
class Finding:
    position: int
    problem: str


@dataclass(frozen=True)
class Verification:
    events: int  # events read from the log
    chained_to: int  # the position the stored chain had reached
    heads_checked: int
    finding: Finding | None

    @property
    def intact(self) -> bool:
        return self.finding is None


def chain_head(store: ViewStore) -> Head | None:
    with store.read() as cursor:
        row = cursor.execute(
            "SELECT position, hash FROM event_chain ORDER BY position DESC LIMIT 1"
        ).fetchone()
    return None if row is None else Head(int(row[0]), row[1])


def chained_to(store: ViewStore) -> int:
    with store.read() as cursor:
        row = cursor.execute(
            "SELECT position FROM projection_tracking WHERE name = %s", (ChainProjection.name,)
        ).fetchone()
    return 0 if row is None else int(row[0])


def _log(recorder: Any) -> Iterator[Notification]:
    start = 1
    while True:
        batch = recorder.select_notifications(start=start, limit=BATCH)
        yield from batch
        if len(batch) < BATCH:
            return
        start = batch[-1].id + 1


def _links(store: ViewStore) -> Iterator[tuple[int, str]]:
    after = 0
    while True:
        with store.read() as cursor:
            rows = cursor.execute(
                "SELECT position, hash FROM event_chain WHERE position > %s "
                "ORDER BY position LIMIT %s",
                (after, BATCH),
            ).fetchall()
        for position, value in rows:
            yield int(position), value
        if len(rows) < BATCH:
            return
        after = int(rows[-1][0])


def verify(
    recorder: Any, store: ViewStore, heads: Sequence[Head] = (), progress: Progress | None = None
) -> Verification:
    """Recomputes the chain from the stored log, in constant memory, and compares it with the
    stored links and with the heads; stops at the first position that does not match."""
    covered = chained_to(store)
    total = recorder.max_notification_id() or 0
    pending = sorted(heads, key=lambda h: h.position)
    log, links = _log(recorder), _links(store)
    event, stored = next(log, None), next(links, None)
    previous, last_seen, count, checked = GENESIS, 0, 0, 0

    def found(position: int, problem: str) -> Verification:
        return Verification(count, covered, checked, Finding(position, problem))

    while event is not None or stored is not None:
        if stored is not None and (event is None or stored[0] < event.id):
            if event is None:
                return found(
                    stored[0],
                    f"the log ends at position {last_seen}, but the chain "
                    f"links events up to {covered}: it was truncated",
                )
            return found(
                stored[0],
                f"the event at position {stored[0]} is missing from the log: it was deleted",
            )
        if event is None:
            break  # unreachable: the branch above answered for a link without an event
        if pending and pending[0].position < event.id:
            head = pending[0]
            return found(
                head.position,
                f"the event at position {head.position}, named by an "
                "exported head, is missing from the log",
            )
        current = link(previous, event)
        if stored is not None and stored[0] == event.id:
            if current != stored[1]:
                return found(
                    event.id,
                    f"the event at position {event.id} is not the one "
                    "chained: it was edited, or events were reordered",
                )
            stored = next(links, None)
        elif event.id <= covered:
            return found(
                event.id,
                f"the event at position {event.id} was never chained: it "
                "was inserted, or the chain's links were deleted",
            )
        if pending and pending[0].position == event.id:
            if current != pending[0].hash:
                return found(
                    event.id,
                    f"the log up to position {event.id} differs from the "
                    "exported head: it was altered at or before it",
                )
            pending.pop(0)
            checked += 1
        previous, last_seen, count = current, event.id, count + 1
        if progress is not None and count % BATCH == 0:
            progress(event.id, total)
        event = next(log, None)
    if last_seen < covered:
        return found(
            last_seen + 1,
            f"the log ends at position {last_seen}, but the chain had "
            f"reached position {covered}: it was truncated",
        )
    if pending:
        # Positions may have gaps, so the first one missing is known only to lie after here.
        return found(
            last_seen + 1,
            f"the log ends at position {last_seen}, before position "
            f"{pending[0].position} named by an exported head: it was "
            "truncated",
        )
    if progress is not None:
        progress(last_seen, total)
    return Verification(count, covered, checked, None)
