"""The memberships' enums, described once for GraphQL (the domain's own)."""

from __future__ import annotations

from api.schema import vocabulary
from domain.membership import MemberRole, MembershipStatus

__all__ = ["MemberRole", "MembershipStatus"]

vocabulary.describe(
    MemberRole,
    "The role a member or a service account holds.",
    {
        "STAFF": "Hotline staff (an advocate).",
        "SUPERVISOR": "A hotline supervisor: manages every membership and the service accounts.",
        "COMPLIANCE": "A compliance officer.",
        "PARTNER": "A partner organization's person (a service provider).",
        "LAW_ENFORCEMENT": "A law-enforcement agency's liaison.",
    },
)
vocabulary.describe(
    MembershipStatus,
    "Where a membership stands.",
    {
        "INVITED": "Invited; not yet taken up by a sign-in with the invited address.",
        "ACTIVE": "Taken up and in force.",
        "SUSPENDED": "Suspended: every request of the member is refused until reinstated.",
        "REVOKED": "Revoked for good.",
    },
)
