"""The audit trail, read from the event log itself: a record's history, its state as of a
moment, the public directory as it stood on a date, and the whole log as an export.

Nothing here reads a read model: the log is the record. Sealed values (caller personal data,
notes, disclosed copies, and staff-written free text on a case) are masked wherever they
appear, so the audit shows who did what, when and on which basis, never what a caller said;
the reasons of directory changes, legal holds and erasures stay in clear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from domain.organization import Organization
from domain.vault import SEALED_TEXT
from projections.aggregates import event_topics, iso
from projections.directory import PublicDoc, public_doc, sort_key

# What the audit answers for: records, not the idempotency bookkeeping beside them.
RECORD_TYPES = frozenset(
    {"Case", "Contact", "Membership", "Organization", "ReportingProtocol", "ServiceAccount"}
)
# Masked wherever they appear (a membership's email digest is a lookup key, not a fact).
SEALED = frozenset(
    {"sealed_personal", "sealedPersonal", "sealed_copy", "sealedCopy", "email_digest"}
)
MASK = "[sealed]"
# Where an event keeps the reason its command required (the first one present).
REASON_FIELDS = (
    "reason",
    "justification",
    "decision",
    "question",
    "note",
    "summary",
    "questions",
    "answers",
)
_ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "actor_id", "actor_role", "request_id"}
)
BATCH = 1000


def plain(value: Any) -> Any:
    """A JSON-ready copy with every sealed value masked (an erased one too)."""
    if isinstance(value, str) and value.startswith(SEALED_TEXT):
        return MASK  # staff-written free text on a case, sealed with its key
    if isinstance(value, dict):
        return {str(k): (MASK if k in SEALED and v else plain(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def type_names(topic: str) -> tuple[str, str]:
    """("Case", "Case.ConsentGranted") from "domain.case:Case.ConsentGranted"."""
    qualified = topic.rsplit(":", 1)[-1]
    return qualified.split(".", 1)[0], qualified


def describe(event: Any, position: int | None = None) -> dict[str, Any]:
    """One event as the audit shows it: who, in which role, when, why, from which request."""
    state = vars(event)
    record, kind = type_names(type(event).__module__ + ":" + type(event).__qualname__)
    reason = next(
        (state[f] for f in REASON_FIELDS if isinstance(state.get(f), str) and state[f]), None
    )
    return {
        "position": position,
        "recordId": str(event.originator_id),
        "recordType": record,
        "version": event.originator_version,
        "type": kind,
        "at": iso(event.timestamp),
        "actorId": state.get("actor_id"),
        "actorRole": state.get("actor_role"),
        "requestId": state.get("request_id"),
        "reason": plain(reason),
        "data": plain({k: v for k, v in state.items() if k not in _ENVELOPE}),
    }


@dataclass(frozen=True)
class HistoryFilter:
    since: datetime | None = None
    until: datetime | None = None
    actor_id: str | None = None
    types: frozenset[str] = frozenset()

    def admits(self, entry: dict[str, Any]) -> bool:
        at = entry["at"]
        return (
            (self.since is None or at >= iso(self.since))
            and (self.until is None or at < iso(self.until))
            and (self.actor_id is None or entry["actorId"] == self.actor_id)
            and (not self.types or entry["type"] in self.types)
        )


class AuditTrail:
    """Reads an application's log for compliance."""

    def __init__(self, app: Application[UUID]) -> None:
        self.app = app
        self.recorder: Any = app.recorder

    def record_type(self, record_id: UUID) -> str | None:
        """The record's type, or None when there is no such record to audit."""
        first = self.recorder.select_events(record_id, limit=1)
        if not first:
            return None
        record, _ = type_names(first[0].topic)
        return record if record in RECORD_TYPES else None

    def history(
        self, record_id: UUID, where: HistoryFilter, first: int, after_version: int = 0
    ) -> list[dict[str, Any]]:
        """The record's events after ``after_version`` that pass the filter, oldest first;
        nothing for an id that is not a record the audit answers for."""
        if self.record_type(record_id) is None:
            return []
        found: list[dict[str, Any]] = []
        cursor = after_version
        while len(found) < first:
            stored = self.recorder.select_events(record_id, gt=cursor or None, limit=BATCH)
            for item in stored:
                entry = describe(self.app.mapper.to_domain_event(item))
                if where.admits(entry):
                    found.append(entry)
                    if len(found) == first:
                        break
            if len(stored) < BATCH or len(found) == first:
                break
            cursor = stored[-1].originator_version
        return found

    def version_at(self, record_id: UUID, moment: datetime) -> int | None:
        """The record's last version at ``moment`` (a binary search over its events, whose
        times rise with their versions), or None if it did not exist yet."""
        last = self.recorder.select_events(record_id, desc=True, limit=1)
        if not last:
            return None
        low, high, best = 1, last[0].originator_version, None
        while low <= high:
            middle = (low + high) // 2
            event = self._event(record_id, middle)
            if event.timestamp <= moment:
                best, low = middle, middle + 1
            else:
                high = middle - 1
        return best

    def state_as_of(
        self, record_id: UUID, *, version: int | None = None, moment: datetime | None = None
    ) -> dict[str, Any] | None:
        """The record as it stood at a version or a moment, masked; None if it did not exist
        then (or is not a record the audit answers for)."""
        record = self.record_type(record_id)
        if record is None:
            return None
        if moment is not None:
            at_moment = self.version_at(record_id, moment)
            if at_moment is None:
                return None
            version = at_moment if version is None else min(version, at_moment)
        if version is None:
            # Folded from storage, never from a process's aggregate cache: a replay is of the
            # record as stored (a snapshot that was tampered with is refused, not skipped).
            last = self.recorder.select_events(record_id, desc=True, limit=1)
            version = last[0].originator_version if last else 0
        if version < 1:
            return None
        aggregate: Any = self.app.repository.get(record_id, version=version)
        if aggregate.version < version:
            return None  # asked for a version it never reached
        state = {k.lstrip("_"): v for k, v in vars(aggregate).items()}
        for key in ("pending_events", "id", "version", "created_on", "modified_on"):
            state.pop(key, None)
        return {
            "recordId": str(aggregate.id),
            "recordType": record,
            "version": aggregate.version,
            "createdAt": iso(aggregate.created_on),
            "at": iso(aggregate.modified_on),
            "state": plain(state),
        }

    def public_directory_as_of(self, moment: datetime) -> list[PublicDoc]:
        """The public directory as it stood at ``moment``, folded from the log up to it."""
        organizations: dict[UUID, Any] = {}
        passed: set[UUID] = set()  # an aggregate's later events come after its earlier ones
        for notification in self._notifications(topics=event_topics(Organization)):
            if notification.originator_id in passed:
                continue
            event: Any = self.app.mapper.to_domain_event(notification)
            if event.timestamp > moment:
                passed.add(event.originator_id)
                continue
            organizations[event.originator_id] = event.mutate(
                organizations.get(event.originator_id)
            )
        docs = [doc for org in organizations.values() if (doc := public_doc(org)) is not None]
        return sorted(docs, key=lambda d: (sort_key(d.get("nameEn") or ""), d["id"]))

    def export(
        self,
        after_position: int = 0,
        record_id: UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every event after ``after_position`` (optionally one record's, or a time range's),
        described and masked, in log order; reads in batches, so memory stays flat."""
        head = self.recorder.max_notification_id() or 0
        where = HistoryFilter(since=since, until=until)
        for notification in self._notifications(start=after_position + 1):
            if record_id is None or notification.originator_id == record_id:
                entry = describe(self.app.mapper.to_domain_event(notification), notification.id)
                if where.admits(entry):
                    yield entry
            if progress is not None and notification.id % BATCH == 0:
                progress(notification.id, head)
        if progress is not None:
            progress(head, head)

    def _event(self, record_id: UUID, version: int) -> Any:
        stored = self.recorder.select_events(
            record_id, gt=version - 1 or None, lte=version, limit=1
        )
        return self.app.mapper.to_domain_event(stored[0])

    def _notifications(
        self,
        start: int = 1,
        topics: list[str] | None = None,
    ) -> Iterator[Notification]:
        while True:
            batch = self.recorder.select_notifications(
                start=start, limit=BATCH, topics=topics or ()
            )
            yield from batch
            if len(batch) < BATCH:
                return
            start = batch[-1].id + 1


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date or instant; a date means its start, and no zone means UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "not an ISO 8601 date or time (for example 2026-01-31 or 2026-01-31T12:00:00Z)"
        ) from None
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:  # a zone pushing it past year 1 or 9999
        raise ValueError("outside the range of dates this server can represent") from None
