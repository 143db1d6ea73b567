"""A membership and a service account: given past events, when a command, then new events or a
refusal. Every refusal leaves no new event behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from domain.base import InvalidInput, ReasonRequired, acting_as
from domain.membership import (
    InvitationExpired,
    MemberAlreadySuspended,
    MemberNotSuspended,
    MemberRole,
    Membership,
    MembershipAlreadyBound,
    MembershipRevoked,
    MembershipStatus,
    parse_email,
)
from domain.service_account import ServiceAccount, ServiceTokenNotFound, ServiceTokenRevoked
from tests.helpers import LONG_AGO, SUPERVISOR, Fact, happened, refused, replayed

MEMBER_ID = UUID("00000000-0000-4000-8000-0000000a0001")
ACCOUNT_ID = UUID("00000000-0000-4000-8000-0000000a0002")
ORG = "00000000-0000-4000-8000-0000000a0003"
ISSUER = "https://id.example.org/realms/fictional"
SUBJECT = "fictional-subject-1"
NOW = LONG_AGO + timedelta(days=10)


def invited(role: str = "staff", organization_id: str | None = None, **changes: Any) -> Fact:
    fields: dict[str, Any] = {
        "originator_topic": get_topic(Membership),
        "email": "advocate@example.org",
        "email_digest": "fictional-digest",
        "role": role,
        "organization_id": organization_id,
        "administrator": False,
        "expires_at": LONG_AGO + timedelta(days=15),
    }
    fields.update(changes)
    return happened(Membership.Invited, **fields)


def bound() -> Fact:
    return happened(Membership.Bound, issuer=ISSUER, subject=SUBJECT)


def suspended() -> Fact:
    return happened(Membership.Suspended, reason="Fictional: laptop reported stolen")


def revoked() -> Fact:
    return happened(Membership.Revoked, reason="Fictional: left the hotline")


def a_membership(*facts: Fact) -> Membership:
    return replayed(Membership, MEMBER_ID, *(facts or (invited(),)))


def invite(**changes: Any) -> Membership:
    arguments: dict[str, Any] = {
        "id": MEMBER_ID,
        "email": "advocate@example.org",
        "email_digest": "fictional-digest",
        "role": MemberRole.STAFF,
        "organization_id": None,
        "administrator": False,
        "expires_at": NOW + timedelta(days=14),
    }
    arguments.update(changes)
    with acting_as(SUPERVISOR):
        return Membership.invite(**arguments)


def test_an_invitation_names_the_supervisor_who_made_it() -> None:
    membership = invite()

    [event] = membership.collect_events()
    assert isinstance(event, Membership.Invited)
    assert (event.role, event.organization_id, event.actor_id) == (
        "staff",
        None,
        SUPERVISOR.user_id,
    )
    assert membership.state is MembershipStatus.INVITED


def test_a_partner_membership_names_its_organization_and_a_hotline_one_none() -> None:
    with pytest.raises(InvalidInput):
        invite(role=MemberRole.PARTNER)
    with pytest.raises(InvalidInput):
        invite(organization_id=ORG)
    with pytest.raises(InvalidInput):
        invite(administrator=True)
    assert invite(role=MemberRole.PARTNER, organization_id=ORG, administrator=True).administrator


@pytest.mark.parametrize("email", ["", "no-at-sign", "a b@example.org", "a@nodot", "a@b@c.org"])
def test_a_malformed_address_is_refused(email: str) -> None:
    with pytest.raises(InvalidInput):
        parse_email(email)


def test_an_address_is_kept_trimmed_and_in_lower_case() -> None:
    assert parse_email("  Advocate@Example.ORG ") == "advocate@example.org"


def test_the_first_sign_in_binds_the_invitation_to_the_provider_identity() -> None:
    membership = a_membership()
    with acting_as(SUPERVISOR):
        membership.bind(ISSUER, SUBJECT, NOW)

    [event] = membership.collect_events()
    assert isinstance(event, Membership.Bound)
    assert (membership.issuer, membership.subject) == (ISSUER, SUBJECT)
    assert membership.in_force


def test_an_invitation_binds_once() -> None:
    membership = a_membership(invited(), bound())
    with acting_as(SUPERVISOR):
        refused(membership, MembershipAlreadyBound, lambda: membership.bind(ISSUER, "other", NOW))


def test_an_expired_invitation_does_not_bind() -> None:
    membership = a_membership()
    later = LONG_AGO + timedelta(days=16)
    with acting_as(SUPERVISOR):
        refused(membership, InvitationExpired, lambda: membership.bind(ISSUER, SUBJECT, later))


def test_a_suspended_member_is_not_in_force_until_reinstated() -> None:
    membership = a_membership(invited(), bound())
    with acting_as(SUPERVISOR):
        membership.suspend("Fictional: laptop reported stolen")
        assert not membership.in_force
        assert [type(e) for e in membership.collect_events()] == [Membership.Suspended]
        refused(membership, MemberAlreadySuspended, lambda: membership.suspend("again"))
        membership.reinstate("Fictional: laptop found")
    assert membership.in_force
    assert [type(e) for e in membership.collect_events()] == [Membership.Reinstated]


def test_a_reinstated_invitation_not_yet_taken_up_is_pending_again() -> None:
    membership = a_membership(invited(), suspended())
    with acting_as(SUPERVISOR):
        membership.reinstate("Fictional: a mistake")
    assert membership.state is MembershipStatus.INVITED


def test_only_a_suspended_member_is_reinstated() -> None:
    membership = a_membership(invited(), bound())
    with acting_as(SUPERVISOR):
        refused(membership, MemberNotSuspended, lambda: membership.reinstate("Fictional"))


def test_a_suspension_and_a_revocation_need_a_reason() -> None:
    membership = a_membership(invited(), bound())
    with acting_as(SUPERVISOR):
        refused(membership, ReasonRequired, lambda: membership.suspend(" "))
        refused(membership, ReasonRequired, lambda: membership.revoke(""))


def test_a_revoked_membership_changes_no_more() -> None:
    membership = a_membership(invited(), bound(), revoked())
    with acting_as(SUPERVISOR):
        for command in (
            lambda: membership.suspend("Fictional"),
            lambda: membership.reinstate("Fictional"),
            lambda: membership.revoke("Fictional"),
            lambda: membership.change_role(MemberRole.SUPERVISOR, False, ""),
            lambda: membership.bind(ISSUER, SUBJECT, NOW),
        ):
            refused(membership, MembershipRevoked, command)


def test_a_hotline_role_changes_within_the_hotline_roles() -> None:
    membership = a_membership(invited(), bound())
    with acting_as(SUPERVISOR):
        membership.change_role(MemberRole.SUPERVISOR, False, "Fictional: promoted")
        assert [type(e) for e in membership.collect_events()] == [Membership.RoleChanged]
        refused(
            membership,
            InvalidInput,
            lambda: membership.change_role(MemberRole.PARTNER, False, ""),
        )
    assert membership.role == "supervisor"


def test_an_organization_member_may_be_made_its_administrator() -> None:
    membership = a_membership(invited("partner", ORG), bound())
    with acting_as(SUPERVISOR):
        membership.change_role(MemberRole.PARTNER, True, "")
        membership.collect_events()
        refused(
            membership, InvalidInput, lambda: membership.change_role(MemberRole.STAFF, False, "")
        )
    assert membership.administrator


def created(role: str = "partner", organization_id: str | None = ORG) -> Fact:
    return happened(
        ServiceAccount.Created,
        originator_topic=get_topic(ServiceAccount),
        name="Fictional case-management bridge",
        role=role,
        organization_id=organization_id,
    )


def test_a_service_account_holds_a_role_fit_for_it() -> None:
    with acting_as(SUPERVISOR):
        with pytest.raises(InvalidInput):
            ServiceAccount.create(ACCOUNT_ID, "Fictional bridge", MemberRole.PARTNER, None)
        with pytest.raises(InvalidInput):
            ServiceAccount.create(ACCOUNT_ID, "  ", MemberRole.STAFF, None)
        account = ServiceAccount.create(ACCOUNT_ID, "Fictional bridge", MemberRole.STAFF, None)
    assert account.role == "staff"


def test_a_token_is_recorded_by_its_id_and_revoked_once() -> None:
    account = replayed(ServiceAccount, ACCOUNT_ID, created())
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    with acting_as(SUPERVISOR):
        account.issue_token("fictional-token-1", expires)
        account.revoke_token("fictional-token-1", "Fictional: the bridge was retired")
        assert [type(e) for e in account.collect_events()] == [
            ServiceAccount.TokenIssued,
            ServiceAccount.TokenRevoked,
        ]
        refused(
            account,
            ServiceTokenRevoked,
            lambda: account.revoke_token("fictional-token-1", "Fictional"),
        )
        refused(account, ServiceTokenNotFound, lambda: account.revoke_token("no-such", "Fictional"))
    assert account.tokens["fictional-token-1"]["revoked"]
