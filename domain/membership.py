"""A membership: which role one person holds in nrd, and for which organization.

The identity provider proves who a person is; a membership is nrd's own record of what they may
do. It starts as an invitation to a verified email address, binds to the provider identity
(issuer and subject) that first signs in with that address before the invitation expires, and
then changes only by recorded decisions: a role changed, suspended, reinstated, revoked. Every
event names who decided (the actor id is the deciding member's id), so the audit trail shows who
granted what.

The email is a worker's, not a caller's: the address is kept for those who manage members to
see, and a keyed digest of it (``email_digest``, computed by the application) is what sign-in
matches on, so no lookup needs the address itself.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from domain.base import AuditedAggregate, DomainError, InvalidInput, clean_text


class MemberRole(StrEnum):
    STAFF = "staff"
    SUPERVISOR = "supervisor"
    COMPLIANCE = "compliance"
    PARTNER = "partner"
    LAW_ENFORCEMENT = "law_enforcement"


# Roles held within the hotline (no organization), and roles held for an organization.
HOTLINE_ROLES = frozenset({MemberRole.STAFF, MemberRole.SUPERVISOR, MemberRole.COMPLIANCE})
ORGANIZATION_ROLES = frozenset({MemberRole.PARTNER, MemberRole.LAW_ENFORCEMENT})


class MembershipStatus(StrEnum):
    INVITED = "INVITED"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    REVOKED = "REVOKED"


class InvitationRefused(DomainError):
    """The inviting member may not grant this role, or not for this organization."""

    code = "INVITATION_REFUSED"


class InvitationExpired(DomainError):
    code = "INVITATION_EXPIRED"


class MembershipAlreadyBound(DomainError):
    code = "MEMBERSHIP_ALREADY_BOUND"


class MembershipRevoked(DomainError):
    code = "MEMBERSHIP_REVOKED"


class MemberNotSuspended(DomainError):
    code = "MEMBER_NOT_SUSPENDED"


class MemberAlreadySuspended(DomainError):
    code = "MEMBER_ALREADY_SUSPENDED"


MAX_EMAIL = 254


def parse_email(email: str) -> str:
    """An email address as invitations keep it: trimmed, lower case, one @, no spaces."""
    cleaned = email.strip().lower()
    local, at, domain = cleaned.partition("@")
    if (
        not at
        or not local
        or "." not in domain
        or "@" in domain
        or len(cleaned) > MAX_EMAIL
        or any(c.isspace() or not c.isprintable() for c in cleaned)
    ):
        raise InvalidInput(["email: an email address (name@example.org)"])
    return cleaned


def check_role_fits(role: MemberRole, organization_id: str | None, administrator: bool) -> None:
    """A hotline role has no organization; an organization's role names one."""
    problems = []
    if role in HOTLINE_ROLES and organization_id is not None:
        problems.append(f"organizationId: a {role.value} membership belongs to no organization")
    if role in ORGANIZATION_ROLES and organization_id is None:
        problems.append(f"organizationId: a {role.value} membership names its organization")
    if administrator and role not in ORGANIZATION_ROLES:
        problems.append("administrator: only an organization's member administers its people")
    if problems:
        raise InvalidInput(problems)


class Membership(AuditedAggregate):
    class Invited(AuditedAggregate.Created):
        email: str
        email_digest: str
        role: str
        organization_id: str | None
        administrator: bool
        expires_at: datetime

    def __init__(
        self,
        email: str,
        email_digest: str,
        role: str,
        organization_id: str | None,
        administrator: bool,
        expires_at: datetime,
    ) -> None:
        self.email = email
        self.email_digest = email_digest
        self.role = role
        self.organization_id = organization_id
        self.administrator = administrator
        self.expires_at = expires_at
        self.status = MembershipStatus.INVITED.value
        self.issuer: str | None = None
        self.subject: str | None = None
        self.bound_at: datetime | None = None

    @classmethod
    def invite(
        cls,
        id: UUID,
        email: str,
        email_digest: str,
        role: MemberRole,
        organization_id: str | None,
        administrator: bool,
        expires_at: datetime,
    ) -> Membership:
        check_role_fits(role, organization_id, administrator)
        membership: Membership = cls._create(
            cls.Invited,
            id=id,
            email=email,
            email_digest=email_digest,
            role=role.value,
            organization_id=organization_id,
            administrator=administrator,
            expires_at=expires_at,
        )
        return membership

    @property
    def state(self) -> MembershipStatus:
        return MembershipStatus(self.status)

    @property
    def in_force(self) -> bool:
        return self.state is MembershipStatus.ACTIVE

    def _not_revoked(self, action: str) -> None:
        if self.state is MembershipStatus.REVOKED:
            raise MembershipRevoked(f"cannot {action}: the membership was revoked")

    class Bound(AuditedAggregate.Event):
        issuer: str
        subject: str

        def apply(self, membership: Membership) -> None:
            membership.issuer = self.issuer
            membership.subject = self.subject
            membership.bound_at = self.timestamp
            membership.status = MembershipStatus.ACTIVE.value

    def bind(self, issuer: str, subject: str, now: datetime) -> None:
        """The first sign-in with the invited, verified address: the provider identity is
        this member from now on."""
        self._not_revoked("sign in")
        if self.issuer is not None:
            raise MembershipAlreadyBound("this invitation was already taken up")
        if now >= self.expires_at:
            raise InvitationExpired("the invitation has expired: ask for a new one")
        issuer = clean_text(issuer, "issuer", required=True, limit=500)
        subject = clean_text(subject, "subject", required=True, limit=500)
        self.trigger_event(self.Bound, issuer=issuer, subject=subject)

    class RoleChanged(AuditedAggregate.Event):
        role: str
        administrator: bool
        reason: str

        def apply(self, membership: Membership) -> None:
            membership.role = self.role
            membership.administrator = self.administrator

    def change_role(self, role: MemberRole, administrator: bool, reason: str) -> None:
        self._not_revoked("change the role")
        reason = clean_text(reason, "reason")
        current = MemberRole(self.role)
        if (role in HOTLINE_ROLES) != (current in HOTLINE_ROLES) or (
            role in ORGANIZATION_ROLES and role is not current
        ):
            raise InvalidInput(
                ["role: a hotline member keeps a hotline role, an organization's its own"]
            )
        check_role_fits(role, self.organization_id, administrator)
        self.trigger_event(
            self.RoleChanged, role=role.value, administrator=administrator, reason=reason
        )

    class Suspended(AuditedAggregate.Event):
        reason: str

        def apply(self, membership: Membership) -> None:
            membership.status = MembershipStatus.SUSPENDED.value

    def suspend(self, reason: str) -> None:
        self._not_revoked("suspend")
        if self.state is MembershipStatus.SUSPENDED:
            raise MemberAlreadySuspended("the member is already suspended")
        self.trigger_event(self.Suspended, reason=clean_text(reason, "reason", required=True))

    class Reinstated(AuditedAggregate.Event):
        reason: str

        def apply(self, membership: Membership) -> None:
            bound = membership.issuer is not None
            membership.status = (
                MembershipStatus.ACTIVE if bound else MembershipStatus.INVITED
            ).value

    def reinstate(self, reason: str) -> None:
        self._not_revoked("reinstate")
        if self.state is not MembershipStatus.SUSPENDED:
            raise MemberNotSuspended("only a suspended member can be reinstated")
        self.trigger_event(self.Reinstated, reason=clean_text(reason, "reason", required=True))

    class Revoked(AuditedAggregate.Event):
        reason: str

        def apply(self, membership: Membership) -> None:
            membership.status = MembershipStatus.REVOKED.value

    def revoke(self, reason: str) -> None:
        self._not_revoked("revoke")
        self.trigger_event(self.Revoked, reason=clean_text(reason, "reason", required=True))
