"""An applicant's tracking code: how an organization that applied, with no account, follows its
application and answers a request for more information.

The code is random (``new_code``), shown once in the answer to the application, and never
stored: an ``ApplicationTracking`` record is saved in the application's own write at an id
computed from the code under a server key (``id_for``), and holds only the organization it
tracks. Nobody without the key can compute the id of a guessed code, so the store alone cannot
tell which application a code would open; and every code that tracks nothing, well formed or
not, is looked up the same way and refused with the same answer (``UnknownTrackingCode``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.base import AuditedAggregate, DomainError
from domain.organization import Organization, Status

# 24 random bytes: 192 bits, 32 URL-safe characters.
CODE_BYTES = 24


class UnknownTrackingCode(DomainError):
    """One answer for every code that tracks no application: it never says whether any does."""

    code = "UNKNOWN_TRACKING_CODE"


UNKNOWN_CODE = "no application answers to this tracking code; check it as it was given"


class ApplicationTracking(AuditedAggregate):
    class Issued(AuditedAggregate.Created):
        organization_id: UUID

    def __init__(self, organization_id: UUID) -> None:
        self.organization_id = organization_id

    @staticmethod
    def new_code() -> str:
        return secrets.token_urlsafe(CODE_BYTES)

    @staticmethod
    def id_for(key: bytes, code: str) -> UUID:
        """The record's id: an HMAC-SHA256 of the code under ``key`` (the code itself is kept
        nowhere)."""
        digest = hmac.new(key, b"nrd tracking code\x1f" + code.encode(), hashlib.sha256).digest()
        return UUID(bytes=digest[:16])

    @classmethod
    def issue(cls, id: UUID, organization_id: UUID) -> ApplicationTracking:
        tracking: ApplicationTracking = cls._create(
            cls.Issued, id=id, organization_id=organization_id
        )
        return tracking


@dataclass(frozen=True)
class InformationRequest:
    """A request for more information, in the words staff wrote for the applicant."""

    questions: str
    requested_at: datetime
    answered_at: datetime | None


@dataclass(frozen=True)
class ApplicationView:
    """What an applicant sees of its application: where it stands and what it was asked;
    never staff's notes, reasons or anything else of the record."""

    organization_id: UUID
    status: Status
    submitted_at: datetime
    updated_at: datetime
    requests: tuple[InformationRequest, ...]


_STATUSES = frozenset(s.value for s in Status)


def application_view(org: Organization) -> ApplicationView:
    """The applicant's view of the organization's record (made from its history)."""
    steps = [step for step in org.history if step["what"] in _STATUSES]
    requests: list[InformationRequest] = []
    for step in steps:
        if step["what"] == Status.INFORMATION_REQUESTED.value:
            requests.append(InformationRequest(step["note"], step["at"], None))
        elif step["what"] == Status.INFORMATION_PROVIDED.value and requests:
            last = requests[-1]
            if last.answered_at is None:
                requests[-1] = InformationRequest(last.questions, last.requested_at, step["at"])
    return ApplicationView(
        organization_id=org.id,
        status=org.state,
        submitted_at=org.history[0]["at"],
        updated_at=steps[-1]["at"],
        requests=tuple(requests),
    )
