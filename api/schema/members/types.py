"""A member, a page of them, a service account with its tokens, and what their commands did."""

from __future__ import annotations

from typing import Any

import strawberry

from api.schema.common import PageInfo
from api.schema.members.enums import MemberRole, MembershipStatus
from projections.memberships import MemberDoc, ServiceAccountDoc


@strawberry.type(
    description=(
        "A person's membership: the role they hold in nrd and for which organization. The email "
        "address is read only by those who manage members, and every read of it is in the "
        "access log."
    )
)
class Member:
    id: strawberry.ID = strawberry.field(
        description="The member's id: it names them in every event and access-log entry."
    )
    email: str = strawberry.field(description="The invited email address.")
    role: MemberRole = strawberry.field(description="The role held.")
    organization_id: strawberry.ID | None = strawberry.field(
        description="The organization, for partners and liaisons; null for hotline roles."
    )
    administrator: bool = strawberry.field(
        description="Whether the member manages their organization's people."
    )
    status: MembershipStatus = strawberry.field(description="Where the membership stands.")
    invited_at: str = strawberry.field(description="When the invitation was made (ISO 8601).")
    invited_by: str = strawberry.field(description="The member id of whoever invited them.")
    expires_at: str = strawberry.field(
        description="Until when the invitation can be taken up (ISO 8601)."
    )
    bound_at: str | None = strawberry.field(
        description="When the first sign-in took up the invitation; null before it."
    )
    changed_at: str = strawberry.field(description="When the membership last changed.")

    def access_key(self) -> tuple[str, str, str | None]:
        return "Member", str(self.id), None


def build_member(doc: MemberDoc) -> Member:
    org = doc["organizationId"]
    return Member(
        id=strawberry.ID(doc["id"]),
        email=doc["email"],
        role=MemberRole(doc["role"]),
        organization_id=None if org is None else strawberry.ID(org),
        administrator=doc["administrator"],
        status=MembershipStatus(doc["status"]),
        invited_at=doc["invitedAt"],
        invited_by=doc["invitedBy"],
        expires_at=doc["expiresAt"],
        bound_at=doc["boundAt"],
        changed_at=doc["changedAt"],
    )


@strawberry.type(description="A page of memberships.")
class MemberPage:
    items: list[Member] = strawberry.field(description="This page, newest invitation first.")
    page_info: PageInfo = strawberry.field(
        description="Whether more memberships follow, and where this page ends."
    )


@strawberry.type(description="What a membership command did; a repeated key returns the first.")
class MemberResult:
    member_id: strawberry.ID = strawberry.field(description="The member's id.")
    version: int = strawberry.field(description="The membership's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )
    member: Member | None = strawberry.field(description="The membership after the command.")


@strawberry.type(description="A bearer token issued for a service account (never the token).")
class ServiceToken:
    token_id: strawberry.ID = strawberry.field(
        description="The token's id (its revocation handle)."
    )
    expires_at: str = strawberry.field(description="When the token expires (ISO 8601).")
    revoked: bool = strawberry.field(description="Whether the token was revoked.")
    last_used_at: str | None = strawberry.field(
        description="When it was last used (to within a minute); null if never."
    )


@strawberry.type(description="An integration that calls nrd with bearer tokens, in one role.")
class ServiceAccount:
    id: strawberry.ID = strawberry.field(
        description="The account's id: it names the integration in every event it causes."
    )
    name: str = strawberry.field(description="The integration's name.")
    role: MemberRole = strawberry.field(description="The role its tokens carry.")
    organization_id: strawberry.ID | None = strawberry.field(
        description="The organization, for a partner or liaison integration."
    )
    created_at: str = strawberry.field(description="When it was created (ISO 8601).")
    created_by: str = strawberry.field(description="The member id of whoever created it.")
    tokens: list[ServiceToken] = strawberry.field(
        description="Its tokens, soonest to expire first, with their last use."
    )


def build_service_account(doc: ServiceAccountDoc, tokens: list[dict[str, Any]]) -> ServiceAccount:
    org = doc["organizationId"]
    return ServiceAccount(
        id=strawberry.ID(doc["id"]),
        name=doc["name"],
        role=MemberRole(doc["role"]),
        organization_id=None if org is None else strawberry.ID(org),
        created_at=doc["createdAt"],
        created_by=doc["createdBy"],
        tokens=[
            ServiceToken(
                token_id=strawberry.ID(t["tokenId"]),
                expires_at=t["expiresAt"],
                revoked=t["revoked"],
                last_used_at=t["lastUsedAt"],
            )
            for t in tokens
        ],
    )


@strawberry.type(description="What a service-account command did.")
class ServiceAccountResult:
    service_account_id: strawberry.ID = strawberry.field(description="The account's id.")
    version: int = strawberry.field(description="The account's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )


@strawberry.type(
    description=(
        "A bearer token just issued: shown this once and never again (nrd keeps only its id)."
    )
)
class IssuedServiceToken:
    service_account_id: strawberry.ID = strawberry.field(description="The account's id.")
    token_id: strawberry.ID = strawberry.field(description="The token's id, to revoke it by.")
    token: str = strawberry.field(description="The bearer token: send it as 'Bearer <token>'.")
    expires_at: str = strawberry.field(description="When it expires (ISO 8601).")
