"""Which contact an inclusion invites: the designated contact's email, on the organization's
first inclusion only (given past events, then the contact or none)."""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import get_topic

from domain.hotline import first_included_contact
from domain.organization import ALL_CRITERIA, Organization
from tests.helpers import Fact, happened
from tests.unit.test_organization import PROFILE, given

CONTACT = {"name": "Fictional Coordinator", "email": "coordinator@example.org"}


def submitted(**profile: Any) -> Fact:
    return happened(
        Organization.ApplicationSubmitted,
        originator_topic=get_topic(Organization),
        profile={**PROFILE, **profile},
        criteria=list(ALL_CRITERIA),
        public_listing=False,
    )


def included(**profile: Any) -> list[Fact]:
    return [
        submitted(**profile),
        happened(Organization.ReviewStarted),
        happened(Organization.InclusionApproved, note=""),
    ]


def test_a_first_inclusion_names_the_designated_contacts_email() -> None:
    assert first_included_contact(given(*included(pointOfContact=CONTACT))) == CONTACT["email"]


def test_an_application_not_included_names_nobody() -> None:
    org = given(submitted(pointOfContact=CONTACT), happened(Organization.ReviewStarted))

    assert first_included_contact(org) is None


def test_a_profile_with_no_contact_email_names_nobody() -> None:
    assert first_included_contact(given(*included(pointOfContact={"name": "Fictional"}))) is None
    assert first_included_contact(given(*included())) is None


def test_an_organization_reinstated_and_included_again_names_nobody_new() -> None:
    org = given(
        *included(pointOfContact=CONTACT),
        happened(Organization.Removed, reason="ORGANIZATION_REQUEST", note=""),
        happened(Organization.ReinstatedForReview, reason="Fictional: asked to return."),
        happened(Organization.InclusionApproved, note=""),
    )

    assert first_included_contact(org) is None
