"""What every aggregate shares: the acting user stamped on each event, and the error root.

The acting user is set once per request at the edge (``acting_as``) and read here when an
event is triggered, so no command has to thread it by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate


class DomainError(Exception):
    """A rule of the domain refused a command. The message is safe to show to the caller."""

    code = "DOMAIN_ERROR"
    retryable = False


class NotFound(DomainError):
    code = "NOT_FOUND"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class InvalidInput(DomainError):
    """Input that cannot be accepted; ``problems`` lists every one found, not just the first."""

    code = "INVALID_INPUT"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class ReasonRequired(DomainError):
    code = "REASON_REQUIRED"


class NoActor(Exception):
    """Programming error: an event was triggered outside ``acting_as``."""


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: str
    organization_id: str | None = None
    request_id: str = ""


_current_actor: ContextVar[Actor | None] = ContextVar("nrd_actor", default=None)


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _current_actor.set(actor)
    try:
        yield actor
    finally:
        _current_actor.reset(token)


def current_actor() -> Actor:
    actor = _current_actor.get()
    if actor is None:
        raise NoActor("no acting user: wrap the command in acting_as(...)")
    return actor


def _actor_fields() -> dict[str, str]:
    actor = current_actor()
    return {
        "actor_id": actor.user_id,
        "actor_role": actor.role,
        "request_id": actor.request_id,
    }


def require_reason(reason: str, what: str) -> str:
    cleaned = reason.strip()
    if not cleaned:
        raise ReasonRequired(f"{what} needs a reason")
    return cleaned


class AuditedAggregate(Aggregate):
    """An aggregate whose every event records who acted, in which role, from which request."""

    class Event(Aggregate.Event):
        actor_id: str
        actor_role: str
        request_id: str

    class Created(Event, Aggregate.Created):
        pass

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        super().trigger_event(event_class, **_actor_fields(), **kwargs)

    @classmethod
    def _create(
        cls, event_class: type[Any], *, id: UUID | None = None, **kwargs: Any
    ) -> Any:
        return super()._create(event_class, id=id, **_actor_fields(), **kwargs)
