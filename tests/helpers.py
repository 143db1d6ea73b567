"""What many tests share: the fictional people acting, fresh idempotency keys, and the grammar of
the domain scenarios (given past events, when a command, then new events or a refusal)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate

from domain.base import Actor, DomainError

STAFF = Actor("fictional-staff-1", "staff", request_id="req-fictional-1")
SUPERVISOR = Actor("fictional-supervisor-1", "supervisor", request_id="req-fictional-2")

# The organization's written agreement to its public listing, as staff record it.
AGREEMENT = "Fictional: the organization's signed listing form, ref. NRD-0001."

# Who recorded the past events a scenario starts from, and when its first day was.
EARLIER_STAFF = {
    "actor_id": "fictional-staff-0",
    "actor_role": "staff",
    "request_id": "req-fictional-0",
}
LONG_AGO = datetime(2021, 1, 1, tzinfo=UTC)

Fact = tuple[type[Aggregate.Event], dict[str, Any]]
A = TypeVar("A", bound=Aggregate)


def a_key() -> str:
    """A fresh idempotency key."""
    return f"fictional-{uuid4()}"


def happened(event_class: type[Aggregate.Event], **fields: Any) -> Fact:
    return event_class, fields


def replayed(kind: type[A], aggregate_id: UUID, *facts: Fact) -> A:
    """Replays past events, one day apart, into the aggregate as the store would."""
    aggregate: Any = None
    for version, (event_class, fields) in enumerate(facts, start=1):
        event = event_class(
            originator_id=aggregate_id,
            originator_version=version,
            timestamp=LONG_AGO + timedelta(days=version),
            **EARLIER_STAFF,
            **fields,
        )
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, kind)
    return aggregate


def refused(
    aggregate: Aggregate,
    error: type[DomainError],
    command: Callable[[], object],
    match: str | None = None,
) -> DomainError:
    """The command is refused with ``error`` and the aggregate has no new event."""
    before = aggregate.version
    with pytest.raises(error, match=match) as raised:
        command()
    assert list(aggregate.collect_events()) == []
    assert aggregate.version == before
    return raised.value
