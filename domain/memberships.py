"""The membership use cases: invite a member, bind the invitation at first sign-in, change a
member's role, suspend, reinstate and revoke them; and the service accounts of integrations.

A mixin over the write path beside the others (``domain/hotline.py`` joins them). Who may manage
whom is decided here, from the acting member: a supervisor manages every membership; an
organization's administrator (an active partner or liaison membership with the administrator
right) manages its own organization's people in its own role, and no one else. A membership
outside the actor's reach is "not found", exactly as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from domain.base import Actor, NotFound, current_actor
from domain.membership import (
    HOTLINE_ROLES,
    ORGANIZATION_ROLES,
    InvitationRefused,
    MemberRole,
    Membership,
    parse_email,
)
from domain.organization import AGENCY_KINDS, Organization, Status
from domain.rules import INVITATION_DAYS, SERVICE_TOKEN_MAX_MINUTES
from domain.service_account import ServiceAccount
from domain.write_path import Outcome, WritePath

SUPERVISOR = MemberRole.SUPERVISOR.value
# Who keeps the directory, and so invites an organization's contact once it is included.
KEEPERS = frozenset({MemberRole.STAFF.value, SUPERVISOR})


def role_for_kind(kind: str) -> MemberRole:
    """The role an organization's people hold: liaisons for agencies, partners otherwise."""
    return MemberRole.LAW_ENFORCEMENT if kind in AGENCY_KINDS else MemberRole.PARTNER


class MembershipUseCases(WritePath):
    """The memberships' and service accounts' commands, a mixin over the write path."""

    name = WritePath.name
    # The vault's keyed digest (the cases' mixin sets ``vault``): emails are matched by it.
    vault: Any

    def member_email_digest(self, email: str) -> str:
        """The keyed digest sign-in matches an invitation's address by."""
        return str(self.vault.keyed_digest("nrd member email\x1f" + parse_email(email)))

    # -- memberships -----------------------------------------------------------------------

    def invite_member(
        self,
        key: str,
        email: str,
        role: MemberRole,
        organization_id: UUID | None = None,
        administrator: bool = False,
        days: int = INVITATION_DAYS,
    ) -> Outcome:
        """An invitation for ``email`` to hold ``role`` (for ``organization_id``, for partners
        and liaisons), valid ``days`` days, from a supervisor or the organization's
        administrator. Callable from other use cases' code too (inside ``acting_as``)."""
        address = parse_email(email)
        digest = self.member_email_digest(address)
        org = None if organization_id is None else str(organization_id)
        membership_id = uuid4()

        def invite(_new: object) -> Membership:
            self._may_grant(role, org)
            return Membership.invite(
                membership_id,
                address,
                digest,
                role,
                org,
                administrator,
                datetime.now(UTC) + timedelta(days=days),
            )

        inputs = {
            "email": digest,
            "role": role.value,
            "organization": org,
            "administrator": administrator,
            "days": days,
        }
        return self._run(key, "inviteMember", inputs, invite)

    def invite_organization_administrator(
        self, key: str, organization_id: UUID, email: str, days: int = INVITATION_DAYS
    ) -> Outcome:
        """The invitation that follows an organization's inclusion: its designated contact,
        as its administrator, in the role its kind holds. Staff who keep the directory make
        it as well as supervisors (the inclusion was their decision); for an organization
        not included it is refused."""
        address = parse_email(email)
        digest = self.member_email_digest(address)
        org = str(organization_id)
        membership_id = uuid4()

        def invite(_new: object) -> Membership:
            if current_actor().role not in KEEPERS:
                raise InvitationRefused("only the hotline's staff invite an organization's contact")
            role = self._organization_role(org)
            return Membership.invite(
                membership_id,
                address,
                digest,
                role,
                org,
                True,
                datetime.now(UTC) + timedelta(days=days),
            )

        inputs = {"email": digest, "organization": org, "days": days}
        return self._run(key, "inviteOrganizationAdministrator", inputs, invite)

    def bind_member(self, key: str, membership_id: UUID, issuer: str, subject: str) -> Outcome:
        """The first sign-in with the invited address (the session layer's, acting as the
        member)."""
        return self._change(
            key,
            "bindMember",
            membership_id,
            {"issuer": issuer, "subject": subject},
            Membership,
            lambda m: m.bind(issuer, subject, datetime.now(UTC)),
            what="member",
        )

    def change_member_role(
        self, key: str, membership_id: UUID, role: MemberRole, administrator: bool, reason: str
    ) -> Outcome:
        def change(m: Membership) -> None:
            if current_actor().role != SUPERVISOR and role in HOTLINE_ROLES:
                raise InvitationRefused("only a supervisor grants a hotline role")
            m.change_role(role, administrator, reason)

        inputs = {"role": role.value, "administrator": administrator, "reason": reason}
        return self._managed(key, "changeMemberRole", membership_id, inputs, change)

    def suspend_member(self, key: str, membership_id: UUID, reason: str) -> Outcome:
        return self._managed(
            key, "suspendMember", membership_id, {"reason": reason}, lambda m: m.suspend(reason)
        )

    def reinstate_member(self, key: str, membership_id: UUID, reason: str) -> Outcome:
        return self._managed(
            key, "reinstateMember", membership_id, {"reason": reason}, lambda m: m.reinstate(reason)
        )

    def revoke_member(self, key: str, membership_id: UUID, reason: str) -> Outcome:
        return self._managed(
            key, "revokeMember", membership_id, {"reason": reason}, lambda m: m.revoke(reason)
        )

    def _managed(
        self,
        key: str,
        operation: str,
        membership_id: UUID,
        inputs: dict[str, Any],
        decide: Callable[[Membership], None],
    ) -> Outcome:
        def checked(m: Membership) -> None:
            self._may_manage(m)
            decide(m)

        return self._change(key, operation, membership_id, inputs, Membership, checked, "member")

    def _may_manage(self, membership: Membership) -> None:
        """A supervisor manages every membership; an administrator their organization's."""
        actor = current_actor()
        if actor.role == SUPERVISOR:
            return
        if (
            membership.organization_id is None
            or membership.organization_id != actor.organization_id
            or membership.role != actor.role
            or not self._administers(actor)
        ):
            raise NotFound("member not found")

    def _may_grant(self, role: MemberRole, organization_id: str | None) -> None:
        actor = current_actor()
        if actor.role == SUPERVISOR:
            if organization_id is not None:
                self._organization_takes(role, organization_id)
            return
        if actor.role in {r.value for r in ORGANIZATION_ROLES} and self._administers(actor):
            if (
                role.value != actor.role
                or organization_id is None
                or organization_id != actor.organization_id
            ):
                raise InvitationRefused(
                    "an organization's administrator invites only its own organization's "
                    f"people, as {actor.role}"
                )
            self._organization_takes(role, organization_id)
            return
        raise InvitationRefused(
            "only a supervisor, or an organization's administrator, invites members"
        )

    def _administers(self, actor: Actor) -> bool:
        """Whether the actor is an active administrator of their own organization."""
        try:
            membership_id = UUID(actor.user_id)
        except ValueError:
            return False
        try:
            return self._read(
                membership_id,
                Membership,
                "member",
                lambda m: (
                    m.in_force
                    and m.administrator
                    and m.role == actor.role
                    and m.organization_id == actor.organization_id
                ),
            )
        except NotFound:
            return False

    def _organization_role(self, organization_id: str) -> MemberRole:
        """The role an included organization's people hold; refused when not included."""
        try:
            status, kind = self._read(
                UUID(organization_id),
                Organization,
                "organization",
                lambda o: (o.status, o.profile["kind"]),
            )
        except (NotFound, ValueError):
            raise InvitationRefused("the organization is not included in the directory") from None
        if status != Status.INCLUDED.value:
            raise InvitationRefused("the organization is not included in the directory")
        return role_for_kind(kind)

    def _organization_takes(self, role: MemberRole, organization_id: str) -> None:
        """The organization is included, and its people hold this role."""
        kind_role = self._organization_role(organization_id)
        if kind_role is not role:
            raise InvitationRefused(f"this organization's people hold the role {kind_role.value}")

    # -- service accounts ------------------------------------------------------------------

    def create_service_account(
        self, key: str, name: str, role: MemberRole, organization_id: UUID | None = None
    ) -> Outcome:
        org = None if organization_id is None else str(organization_id)
        account_id = uuid4()

        def create(_new: object) -> ServiceAccount:
            if org is not None:
                self._organization_takes(role, org)
            return ServiceAccount.create(account_id, name, role, org)

        inputs = {"name": name, "role": role.value, "organization": org}
        return self._run(key, "createServiceAccount", inputs, create)

    def issue_service_token(
        self,
        key: str,
        account_id: UUID,
        token_id: str,
        minutes: int = SERVICE_TOKEN_MAX_MINUTES,
    ) -> Outcome:
        """Records a token issued for the account (its id and expiry; never the token)."""
        expires_at = datetime.now(UTC) + timedelta(minutes=minutes)
        return self._change(
            key,
            "issueServiceToken",
            account_id,
            # Not the token's id, which is new with each request: a repeat is the same request.
            {"minutes": minutes},
            ServiceAccount,
            lambda a: a.issue_token(token_id, expires_at),
            what="service account",
        )

    def revoke_service_token(
        self, key: str, account_id: UUID, token_id: str, reason: str
    ) -> Outcome:
        return self._change(
            key,
            "revokeServiceToken",
            account_id,
            {"token": token_id, "reason": reason},
            ServiceAccount,
            lambda a: a.revoke_token(token_id, reason),
            what="service account",
        )
