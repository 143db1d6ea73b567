"""What every aggregate shares: the acting user stamped on each event, and the error root.

The acting user is set once per request at the edge (``acting_as``) and read here when an
event is triggered, so no command has to thread it by hand.
"""

from __future__ import annotations

import re
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


# The role of callers without a token: they all share one identity.
ANONYMOUS_ROLE = "public"


@dataclass(frozen=True)
class Actor:
    user_id: str
    role: str
    organization_id: str | None = None
    request_id: str = ""
    # The version of the confidentiality policy in force for this request (a decision names it).
    policy_version: str = ""


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


# Control characters other than tab and line breaks: NUL in particular, which PostgreSQL text
# refuses, would make every read model that copies the text fail on that event forever.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_NOTE = 4000


def clean_text(value: str, what: str, *, required: bool = False, limit: int = MAX_NOTE) -> str:
    """The one gate for free text entering an event: trimmed, printable, bounded."""
    cleaned = value.strip()
    if CONTROL_CHARACTERS.search(cleaned):
        raise InvalidInput([f"{what} contains control characters"])
    if len(cleaned) > limit:
        raise InvalidInput([f"{what} is longer than {limit} characters"])
    if required and not cleaned:
        raise ReasonRequired(f"{what} needs a reason")
    return cleaned


def require_reason(reason: str, what: str) -> str:
    return clean_text(reason, what, required=True)


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
    def _create(cls, event_class: type[Any], *, id: UUID | None = None, **kwargs: Any) -> Any:
        return super()._create(event_class, id=id, **_actor_fields(), **kwargs)
