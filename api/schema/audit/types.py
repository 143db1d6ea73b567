"""A record history, its state as of a moment, the public directory then, the access log,
quarantined events, and what a hold or erasure command did.
"""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from api.schema.common import PageInfo


@strawberry.type(
    description="One event in a record's history: who acted, in which role, when, "
    "why, from which request. Sealed values are masked."
)
class AuditEvent:
    record_id: strawberry.ID = strawberry.field(description="The record's id.")
    record_type: str = strawberry.field(
        description="The kind of record: Organization, ReportingProtocol or Case."
    )
    version: int = strawberry.field(
        description="The event's version: its position in the record's history, from 1."
    )
    type: str = strawberry.field(
        description=(
            "What happened: the event's name (e.g. Organization.InclusionApproved, "
            "Case.ConsentGranted)."
        )
    )
    at: str = strawberry.field(description="When it happened (ISO 8601, UTC).")
    actor_id: str | None = strawberry.field(description="The user id of whoever acted.")
    actor_role: str | None = strawberry.field(description="Their role.")
    request_id: str | None = strawberry.field(description="The id of the request that caused it.")
    reason: str | None = strawberry.field(description="The reason given, where one is required.")
    data: JSON = strawberry.field(
        description=(
            "The event's data, with sealed values (caller personal data, free text on a case) masked "
            "as [sealed]."
        )
    )

    def access_key(self) -> tuple[str, str, str | None]:
        case = str(self.record_id) if self.record_type == "Case" else None
        return "AuditTrail", str(self.record_id), case


@strawberry.type(description="A page of a record's history.")
class AuditPage:
    items: list[AuditEvent] = strawberry.field(description="This page of events, oldest first.")
    page_info: PageInfo = strawberry.field(
        description="Whether more events follow, and where this page ends."
    )


@strawberry.type(
    description="A record as it stood at a version or a moment. Sealed values are masked."
)
class AuditState:
    record_id: strawberry.ID = strawberry.field(description="The record's id.")
    record_type: str = strawberry.field(
        description="The kind of record: Organization, ReportingProtocol or Case."
    )
    version: int = strawberry.field(description="The version it stood at.")
    created_at: str = strawberry.field(description="When the record was created (ISO 8601, UTC).")
    at: str = strawberry.field(description="When it reached that version (ISO 8601, UTC).")
    state: JSON = strawberry.field(
        description="The record's state then, with sealed values masked as [sealed]."
    )

    def access_key(self) -> tuple[str, str, str | None]:
        case = str(self.record_id) if self.record_type == "Case" else None
        return "RecordAsOf", str(self.record_id), case


@strawberry.type(
    description="The public directory as it stood at a moment, rebuilt from the events up to it."
)
class DirectoryAsOf:
    at: str = strawberry.field(description="The moment asked for (ISO 8601).")
    count: int = strawberry.field(
        description="How many organizations were in the public directory then."
    )
    organizations: JSON = strawberry.field(description="Their public fields as they stood then.")


@strawberry.type(
    description="One read of confidential fields: who, which fields of which "
    "record, when, from which request, under which policy version."
)
class AccessEntry:
    at: str = strawberry.field(description="When the read was made (ISO 8601, UTC).")
    user_id: str = strawberry.field(
        description="Who read: a user id, or cli:<account> for a terminal command."
    )
    role: str = strawberry.field(description="Their role.")
    organization_id: str | None = strawberry.field(
        description="Their organization, for a partner or a liaison."
    )
    request_id: str = strawberry.field(description="The id of the request.")
    record_type: str = strawberry.field(
        description="The kind of record read (Case, DisclosedCopy, Organization, ...)."
    )
    record_id: str = strawberry.field(description="The record's id.")
    case_id: str | None = strawberry.field(
        description="The case the record belongs to, when it does."
    )
    fields: list[str] = strawberry.field(description="The confidential fields read (their names).")
    policy_version: str = strawberry.field(
        description="The confidentiality policy in force (a hash of its files)."
    )


@strawberry.type(description="A page of the access log.")
class AccessPage:
    items: list[AccessEntry] = strawberry.field(description="This page of reads, newest first.")
    page_info: PageInfo = strawberry.field(
        description="Whether more reads follow, and where this page ends."
    )


@strawberry.type(
    description="An event a read model could not apply, kept aside: the rest "
    "of the log goes on, and the record's later events wait behind "
    "it until an operator retries it after a fix. The error is its "
    "type only."
)
class QuarantinedEvent:
    position: int = strawberry.field(description="The event's position in the log.")
    read_model: str = strawberry.field(description="The read model that could not apply it.")
    record_id: strawberry.ID = strawberry.field(
        description="The record (case, organization or protocol) the event belongs to."
    )
    version: int = strawberry.field(description="The event's version within its record.")
    topic: str = strawberry.field(description="The event's stored type (its topic).")
    stage: str = strawberry.field(
        description="Where it failed: decoding the stored event, or applying it."
    )
    error: str = strawberry.field(
        description="The error's type only, never its message (which could quote a value)."
    )
    at: str = strawberry.field(description="When it was first quarantined (ISO 8601, UTC).")
    attempts: int = strawberry.field(description="How many times applying it has failed.")

    def access_key(self) -> tuple[str, str, str | None]:
        case = str(self.record_id) if self.topic.startswith("domain.case:") else None
        return "QuarantinedEvent", str(self.record_id), case


@strawberry.type(
    description="What a hold or erasure command did; a repeated key returns the first result."
)
class RecordResult:
    record_id: strawberry.ID = strawberry.field(
        description="The id of the case the command acted on."
    )
    version: int = strawberry.field(description="The case's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )
