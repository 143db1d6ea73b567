"""What sign-in asks of memberships: the seam between the session layer and the membership
events, so that a session is only ever as good as the membership behind it.

The session layer calls ``on_sign_in`` once a provider has proven who the person is, and
``current`` on every request that rides a session: a suspension, a revocation, a role change or
the suspension of the person's organization takes effect at the very next request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from domain.base import Actor, DomainError, acting_as
from domain.membership import MembershipStatus
from domain.memberships import MembershipUseCases
from domain.write_path import Outcome
from projections.memberships import MemberQueries, organization_active


@dataclass(frozen=True)
class Member:
    """A person's standing in nrd: the role they hold and for which organization (partners and
    liaisons; None for hotline roles). ``member_id`` names them in every event and access-log
    entry; it is nrd's own id, never the provider's subject or an email address."""

    member_id: str
    role: str
    organization_id: str | None = None


class Members(Protocol):
    def on_sign_in(
        self, issuer: str, subject: str, email: str | None, email_verified: bool
    ) -> Member | None:
        """The member this provider identity is, binding a pending invitation to it on the
        first sign-in with that verified email; None when the person holds no active
        membership (never invited, suspended, revoked, or their organization is not active)."""
        ...

    def current(self, member_id: str) -> Member | None:
        """The member as they stand now; None once suspended or revoked, or once their
        organization is suspended or removed."""
        ...


class RecordedMembers:
    """``Members`` over the membership events: the read model answers (no cache, so a
    suspension holds at the very next request), and the first sign-in with an invited,
    verified address binds the invitation through the membership's own command.

    An organization's member stands only while the organization is included in the directory:
    ``current`` reads the organization's status with the membership, in one query, so removing
    an organization suspends its people at once, with no event per member (the organization's
    removal is the event on record; reinstating it restores them)."""

    def __init__(
        self,
        app: MembershipUseCases,
        queries: MemberQueries,
        settle: Callable[[Outcome], None],
    ) -> None:
        self._app = app
        self._queries = queries
        self._settle = settle

    def on_sign_in(
        self, issuer: str, subject: str, email: str | None, email_verified: bool
    ) -> Member | None:
        known = self._queries.by_identity(issuer, subject)
        if known is not None and known[1] != MembershipStatus.REVOKED.value:
            return self.current(known[0])
        # Never seen, or seen only under a revoked membership: a new invitation may be
        # waiting for this address.
        if not email or not email_verified:
            return None
        try:
            digest = self._app.member_email_digest(email)
        except DomainError:
            return None
        invited = self._queries.invited(digest)
        doc = None if invited is None else self._queries.get(invited)
        if invited is None or doc is None:
            return None
        # The member takes up their own invitation: the event names them.
        actor = Actor(invited, doc["role"], doc["organizationId"], request_id="sign-in")
        try:
            with acting_as(actor):
                outcome = self._app.bind_member(f"bind-{invited}", UUID(invited), issuer, subject)
        except DomainError:
            return None  # expired, taken up by another identity meanwhile, revoked
        self._settle(outcome)
        return self.current(invited)

    def current(self, member_id: str) -> Member | None:
        standing = self._queries.standing(member_id)
        if standing is None:
            return None
        doc, organization_status = standing
        if doc["status"] != MembershipStatus.ACTIVE.value:
            return None
        organization = doc["organizationId"]
        if organization is not None and not organization_active(organization_status):
            return None
        return Member(member_id, doc["role"], organization)
