"""What sign-in asks of memberships: the seam between the session layer and the membership
events, so that a session is only ever as good as the membership behind it.

The session layer calls ``on_sign_in`` once a provider has proven who the person is, and
``current`` on every request that rides a session: a suspension, a revocation, a role change or
the suspension of the person's organization takes effect at the very next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
