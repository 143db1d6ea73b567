"""Once an organization is first included, its designated contact is invited as its
administrator, on real stores (SQLite and PostgreSQL): once, by whoever included it, in the role
its kind holds; and the contact's first sign-in with that verified address makes them so."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api.wiring import System
from domain.base import acting_as
from domain.organization import ALL_CRITERIA, RemovalReason
from projections.directory import INTERNAL
from projections.memberships import MemberDoc
from tests.e2e.conftest import SEED_CONTACT, SEED_DETACHMENT, fictional_profile
from tests.helpers import AGREEMENT, STAFF, SUPERVISOR, a_key

ISSUER = "https://id.example.org/realms/fictional"
CONTACT = "coordinator@example.org"  # the fictional profile's point of contact


def members_of(system: System, org: UUID) -> list[MemberDoc]:
    system.projector.catch_up()
    return system.memberships.page(str(org), 50, None)


def applied(system: System, **changes: Any) -> UUID:
    with acting_as(STAFF):
        org = system.app.apply_for_inclusion(
            a_key(), fictional_profile(**changes), list(ALL_CRITERIA), True, AGREEMENT
        ).id
        system.app.start_review(a_key(), org)
    return org


def test_the_designated_contact_is_invited_as_administrator_by_whoever_included_it(
    system: System,
) -> None:
    org = applied(system)
    with acting_as(STAFF):
        system.app.approve_inclusion(a_key(), org, "Fictional approval.")

    (member,) = members_of(system, org)
    assert (member["email"], member["role"], member["administrator"]) == (CONTACT, "partner", True)
    assert (member["status"], member["invitedBy"]) == ("INVITED", STAFF.user_id)

    signed_in = system.members.on_sign_in(ISSUER, "fictional-subject-1", CONTACT, True)
    assert signed_in is not None
    assert (signed_in.role, signed_in.organization_id) == ("partner", str(org))


def test_an_agencys_contact_is_invited_as_its_liaison_administrator(system: System) -> None:
    org = applied(system, kind="LAW_ENFORCEMENT_AGENCY")
    with acting_as(STAFF):
        protocol = system.app.establish_reporting_protocol(
            a_key(), org, "CA-ON", SEED_DETACHMENT, [SEED_CONTACT]
        )
        system.app.include_agency(a_key(), org, "Fictional.", protocol.id)

    (member,) = members_of(system, org)
    assert (member["role"], member["administrator"]) == ("law_enforcement", True)


def test_a_repeated_inclusion_request_invites_once(system: System) -> None:
    org = applied(system)
    key = a_key()
    with acting_as(STAFF):
        first = system.app.approve_inclusion(key, org, "Fictional approval.")
        again = system.app.approve_inclusion(key, org, "Fictional approval.")

    assert again.replayed and again.id == first.id
    assert len(members_of(system, org)) == 1


def test_an_inclusion_answers_once_the_invitation_is_in_the_log(system: System) -> None:
    org = applied(system)
    with acting_as(STAFF):
        included = system.app.approve_inclusion(a_key(), org, "Fictional approval.")

    assert included.position == system.app.recorder.max_notification_id()
    assert included.topics is not None and any("Membership" in t for t in included.topics)


def test_a_reinstated_organization_included_again_invites_nobody_new(system: System) -> None:
    org = applied(system)
    with acting_as(STAFF):
        system.app.approve_inclusion(a_key(), org, "Fictional approval.")
    with acting_as(SUPERVISOR):
        system.app.remove_organization(a_key(), org, RemovalReason.ORGANIZATION_REQUEST, "")
        system.app.reinstate_organization(a_key(), org, "Fictional: asked to return.")
        system.app.approve_inclusion(a_key(), org, "Fictional: reviewed again.")

    assert len(members_of(system, org)) == 1


def test_an_organization_with_no_contact_email_is_included_and_invites_nobody(
    system: System,
) -> None:
    org = applied(system, pointOfContact={"name": "Fictional Coordinator"})
    with acting_as(STAFF):
        system.app.approve_inclusion(a_key(), org, "Fictional approval.")

    assert members_of(system, org) == []
    doc = system.directory.get(INTERNAL, str(org))
    assert doc is not None and doc.get("status") == "INCLUDED"
