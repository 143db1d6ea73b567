"""What an applicant sees with its tracking code, and the application's answer that shows it.

The code travels only in POST bodies, as a variable: the applicant's status is read with it
(``applicationStatus``) and a request for more information answered with it
(``provideApplicationInformation``). Every guess is rate-limited per caller, and every code that
tracks nothing gets the same answer (``UNKNOWN_TRACKING_CODE``).
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.schema.common import OrganizationStatus
from api.schema.directory.organization import Organization
from domain.application_tracking import ApplicationView
from projections.aggregates import iso

TrackingCode = Annotated[
    str,
    strawberry.argument(
        description=(
            "The tracking code the application's answer showed, once. Send it as a variable: "
            "it must never be part of a URL or of the document's text."
        )
    ),
]


@strawberry.type(description="A request for more information, as staff wrote it for you.")
class InformationRequest:
    questions: str = strawberry.field(description="What you are asked.")
    requested_at: str = strawberry.field(description="When it was asked (ISO 8601, UTC).")
    answered_at: str | None = strawberry.field(
        description="When you answered it (ISO 8601, UTC); null while it waits for your answer."
    )


@strawberry.type(
    description=(
        "Where an application stands, as the applicant sees it with its tracking code: its "
        "status and what it was asked, never the hotline's notes."
    )
)
class ApplicationStatus:
    status: OrganizationStatus = strawberry.field(description="Where the application stands.")
    submitted_at: str = strawberry.field(description="When it was submitted (ISO 8601, UTC).")
    updated_at: str = strawberry.field(description="When its status last changed (ISO 8601, UTC).")
    information_requests: list[InformationRequest] = strawberry.field(
        description=(
            "The requests for more information, oldest first: answer the one waiting with "
            "provideApplicationInformation."
        )
    )
    _organization_id: strawberry.Private[str]

    def access_key(self) -> tuple[str, str, str | None]:
        return ("Organization", self._organization_id, None)

    @classmethod
    def from_view(cls, view: ApplicationView) -> ApplicationStatus:
        return cls(
            status=view.status,
            submitted_at=iso(view.submitted_at),
            updated_at=iso(view.updated_at),
            information_requests=[
                InformationRequest(
                    questions=r.questions,
                    requested_at=iso(r.requested_at),
                    answered_at=iso(r.answered_at),
                )
                for r in view.requests
            ],
            _organization_id=str(view.organization_id),
        )


@strawberry.type(
    description=(
        "What an application did, with its tracking code. A repeated idempotency key returns "
        "the first result with replayed = true, and no code."
    )
)
class ApplicationResult:
    organization_id: strawberry.ID = strawberry.field(
        description="The id of the organization that applied."
    )
    version: int = strawberry.field(description="The organization's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )
    organization: Organization | None = strawberry.field(
        description="The organization as your role may now read it (null if it may not)."
    )
    tracking_code: str | None = strawberry.field(
        description=(
            "The application's tracking code, shown this once and kept nowhere: with it, and "
            "no account, see where the application stands (applicationStatus) and answer a "
            "request for more information (provideApplicationInformation). Null on a repeated "
            "request."
        )
    )
