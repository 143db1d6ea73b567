"""What a caller sends to the audit queries and the hold and erasure commands."""

from __future__ import annotations

from typing import Annotated

import strawberry

RecordId = Annotated[
    strawberry.ID,
    strawberry.argument(
        description="The record's id: an organization, a reporting protocol or a case."
    ),
]
Moment = Annotated[str, strawberry.argument(description="A moment (ISO 8601).")]
CaseId = Annotated[strawberry.ID, strawberry.argument(description="The case's id.")]
Reason = Annotated[str, strawberry.argument(description="Why: kept on the record.")]


@strawberry.input(description="Narrows a record's history; every condition must hold.")
class AuditFilter:
    since: str | None = strawberry.field(
        default=None, description="Only events at or after this moment (ISO 8601)."
    )
    until: str | None = strawberry.field(
        default=None, description="Only events before this moment (ISO 8601)."
    )
    actor_id: str | None = strawberry.field(
        default=None, description="Only events by this user id."
    )
    event_types: list[str] | None = strawberry.field(
        default=None,
        description=("Only events of these types (their names, e.g. Case.ConsentGranted)."),
    )
