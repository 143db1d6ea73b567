"""What a caller sends about members and service accounts."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.schema.members.enums import MemberRole

MemberId = Annotated[strawberry.ID, strawberry.argument(description="The member's id.")]
Reason = Annotated[str, strawberry.argument(description="Why (kept in the audit trail).")]


@strawberry.input(description="An invitation to hold a role in nrd.")
class InviteMemberInput:
    email: str = strawberry.field(
        description=(
            "The person's email address: the first sign-in with it, verified by the identity "
            "provider, takes up the invitation."
        )
    )
    role: MemberRole = strawberry.field(
        description=(
            "The role. Supervisors grant any; an organization's administrator grants only its "
            "own role, for its own organization."
        )
    )
    organization_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The organization, for a partner or liaison (it must be included).",
    )
    administrator: bool = strawberry.field(
        default=False, description="Whether they will manage their organization's people."
    )


@strawberry.input(description="A service account for an integration.")
class CreateServiceAccountInput:
    name: str = strawberry.field(description="The integration's name.")
    role: MemberRole = strawberry.field(description="The role its tokens carry.")
    organization_id: strawberry.ID | None = strawberry.field(
        default=None, description="The organization, for a partner or liaison integration."
    )
