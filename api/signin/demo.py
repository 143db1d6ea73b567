"""The demo's members (``nrd serve --demo``): one real membership per role, kept as events like
any other (invited by the demo's supervisor, taken up by a development identity), so that the
development sign-in's sessions ride memberships that can be suspended, changed and revoked.

Every command carries a fixed idempotency key: loading the demo again writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from uuid import UUID

from api.signin.members import Member
from domain.base import Actor, acting_as
from domain.membership import MemberRole
from policies import ORGANIZATION_ROLES, ROLES

if TYPE_CHECKING:
    from api.wiring import System

# The issuer a demo member's identity is bound to: no provider has it, so no provider's
# sign-in can take up a demo membership.
DEVELOPMENT_ISSUER = "nrd-development"
DEMO_SUPERVISOR = Actor("demo-supervisor", "supervisor", request_id="demo")


def demo_subject(role: str) -> str:
    return f"demo-{role}"


def load_demo_members(system: System, ids: Mapping[str, UUID]) -> list[Member]:
    """The demo's members, one per role (the partner for the demo's partner organization, the
    liaison for its agency), invited and bound; returns them as sign-in sees them. The demo's
    directory (``ids``) must be loaded and its read models applied first."""
    organizations = {"partner": ids["partner"], "law_enforcement": ids["agency"]}
    members = []
    for role in (r for r in ROLES if r != "public"):
        organization = organizations.get(role)
        with acting_as(DEMO_SUPERVISOR):
            invited = system.app.invite_member(
                f"demo-member-{role}",
                f"{demo_subject(role)}@example.org",
                MemberRole(role),
                organization,
                administrator=role in ORGANIZATION_ROLES,
            )
        system.read_your_writes(invited.position, invited.topics)
        member_id = str(invited.id)
        org = None if organization is None else str(organization)
        with acting_as(Actor(member_id, role, org, request_id="demo")):
            bound = system.app.bind_member(
                f"demo-bind-{role}", UUID(member_id), DEVELOPMENT_ISSUER, demo_subject(role)
            )
        system.read_your_writes(bound.position, bound.topics)
        member = system.members.on_sign_in(DEVELOPMENT_ISSUER, demo_subject(role), None, False)
        if member is None:
            # The organization is not (yet) included in the read models: the demo's
            # directory must be loaded and applied first.
            raise LookupError(f"the demo's {role} membership does not stand")
        members.append(member)
    return members
