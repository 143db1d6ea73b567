"""Snapshots that cannot be edited unnoticed.

The hash chain covers the event log, not the snapshot table; yet loads and point-in-time
replays start from the latest snapshot. Each stored snapshot therefore carries a MAC (keyed
from the master key) over its record id, version, topic and state: a snapshot edited, or moved
to another record or version, is refused when loaded, never folded into a decision.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder

TAG_BYTES = 32


class SnapshotTampered(Exception):
    """A stored snapshot failed its integrity check (someone edited the snapshot table)."""


class SignedSnapshots(Mapper[UUID]):
    def __init__(self, transcoder: Transcoder, key: bytes) -> None:
        super().__init__(transcoder=transcoder)
        self._key = key

    def _tag(self, stored: StoredEvent) -> bytes:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        for part in (
            str(stored.originator_id).encode(),
            str(stored.originator_version).encode(),
            stored.topic.encode(),
            bytes(stored.state),
        ):
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.digest()

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        stored = super().to_stored_event(domain_event)
        return StoredEvent(
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=self._tag(stored) + stored.state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        raw = bytes(stored_event.state)
        state = StoredEvent(
            originator_id=stored_event.originator_id,
            originator_version=stored_event.originator_version,
            topic=stored_event.topic,
            state=raw[TAG_BYTES:],
        )
        if not hmac.compare_digest(raw[:TAG_BYTES], self._tag(state)):
            raise SnapshotTampered(
                "a stored snapshot failed its integrity check: the snapshot "
                "table was edited; run nrd audit verify, and delete the "
                "snapshots to load from the events alone"
            )
        return super().to_domain_event(state)
