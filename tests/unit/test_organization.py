"""The inclusion lifecycle of an organization: given past events, when a command, then new events.

Aggregates are exercised directly; every command runs inside ``acting_as``, as it would behind
the API, so each new event can be checked for who acted.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from domain.base import Actor, NoActor, ReasonRequired, acting_as
from domain.organization import (
    AGENCY_KINDS,
    ALL_CRITERIA,
    DECLINED_NOTE,
    PUBLIC_BODY_KINDS,
    AllegationRequired,
    ContactOutcome,
    CriteriaNotAttested,
    IllegalTransition,
    KindChangeNotAllowed,
    NoPendingProfileUpdate,
    NotADuplicate,
    NotAnAgency,
    NotAPublicBody,
    NotUnderReview,
    Organization,
    RemovalReason,
    ReportingProtocolRequired,
    Status,
    SupervisorOnly,
    VerificationRequired,
    WrittenAgreementRequired,
)
from domain.vocabulary import Profile
from tests.helpers import AGREEMENT, STAFF, SUPERVISOR, Fact, happened, refused, replayed

HARBOUR_SHELTER = UUID("00000000-0000-4000-8000-0000000000a1")
# A user of the shelter itself.
HARBOUR_PARTNER = Actor(
    "fictional-partner-1",
    "partner",
    organization_id=str(HARBOUR_SHELTER),
    request_id="req-fictional-3",
)
PROFILE: Profile = {
    "kind": "DIRECT_SERVICE_PROVIDER",
    "nameEn": "Example Harbour Shelter",
    "nameFr": "Refuge Exemple du Port",
}
UPDATED_PROFILE: Profile = {**PROFILE, "hours": "Every day, 08:00 to 20:00 (fictional)"}
UNREACHABLE_AFTER = 3


# -- given ---------------------------------------------------------------------------------


def submitted(criteria: tuple[str, ...] = ALL_CRITERIA, public_listing: bool = False) -> Fact:
    return happened(
        Organization.ApplicationSubmitted,
        originator_topic=get_topic(Organization),
        profile=PROFILE,
        criteria=list(criteria),
        public_listing=public_listing,
    )


def under_review(criteria: tuple[str, ...] = ALL_CRITERIA) -> list[Fact]:
    return [submitted(criteria), happened(Organization.ReviewStarted)]


def information_requested() -> list[Fact]:
    return [
        *under_review(),
        happened(
            Organization.MoreInformationRequested,
            questions="Who supervises the fictional night shift?",
        ),
    ]


def information_provided() -> list[Fact]:
    return [
        *information_requested(),
        happened(
            Organization.InformationProvided,
            answers="A fictional coordinator.",
            criteria=list(ALL_CRITERIA),
        ),
    ]


def included() -> list[Fact]:
    return [*under_review(), happened(Organization.InclusionApproved, note="")]


def declined() -> list[Fact]:
    return [*under_review(), happened(Organization.InclusionDeclined, reason="Fictional reason.")]


def removed() -> list[Fact]:
    return [*included(), happened(Organization.Removed, reason="ORGANIZATION_REQUEST", note="")]


def given(*facts: Fact) -> Organization:
    """The organization as its past events, one day apart, left it."""
    return replayed(Organization, HARBOUR_SHELTER, *facts)


def then(org: Organization) -> list[type[Any]]:
    return [type(event) for event in org.collect_events()]


STATUS_HISTORIES = {
    Status.SUBMITTED: lambda: [submitted()],
    Status.UNDER_REVIEW: under_review,
    Status.INFORMATION_REQUESTED: information_requested,
    Status.INFORMATION_PROVIDED: information_provided,
    Status.INCLUDED: included,
    Status.DECLINED: declined,
    Status.REMOVED: removed,
}


def an_organization(status: Status) -> Organization:
    org = given(*STATUS_HISTORIES[status]())
    assert org.state is status
    return org


def other_than(*statuses: Status) -> list[Status]:
    return [status for status in Status if status not in statuses]


# -- application submitted -----------------------------------------------------------------


def test_a_submitted_application_starts_the_history_as_submitted(staff: Actor) -> None:
    org = Organization.submit_application(
        id=HARBOUR_SHELTER,
        profile=PROFILE,
        criteria=list(ALL_CRITERIA),
        public_listing=True,
        listing_agreement=AGREEMENT,
    )

    assert then(org) == [Organization.ApplicationSubmitted]
    assert org.state is Status.SUBMITTED
    assert org.profile == PROFILE
    assert org.public_listing is True
    assert [(h["what"], h["status"], h["actorRole"]) for h in org.history] == [
        ("SUBMITTED", "SUBMITTED", "staff")
    ]


def test_every_event_is_stamped_with_the_acting_user_role_and_request() -> None:
    with acting_as(STAFF):
        org = Organization.submit_application(
            id=HARBOUR_SHELTER, profile=PROFILE, criteria=list(ALL_CRITERIA), public_listing=False
        )
        org.start_review()
    with acting_as(SUPERVISOR):
        org.approve_inclusion("Fictional approval note.")

    stamps = [
        (e.actor_id, e.actor_role, e.request_id)  # type: ignore[attr-defined]
        for e in org.collect_events()
    ]

    assert stamps == [
        ("fictional-staff-1", "staff", "req-fictional-1"),
        ("fictional-staff-1", "staff", "req-fictional-1"),
        ("fictional-supervisor-1", "supervisor", "req-fictional-2"),
    ]


def test_an_event_triggered_outside_acting_as_raises_no_actor() -> None:
    org = an_organization(Status.SUBMITTED)

    with pytest.raises(NoActor):
        org.start_review()
    with pytest.raises(NoActor):
        Organization.submit_application(
            id=HARBOUR_SHELTER, profile=PROFILE, criteria=[], public_listing=False
        )
    assert then(org) == []


# -- review --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.SUBMITTED, Status.INFORMATION_PROVIDED])
def test_a_review_starts_from_a_submitted_application_or_provided_information(
    staff: Actor, status: Status
) -> None:
    org = an_organization(status)

    org.start_review()

    assert then(org) == [Organization.ReviewStarted]
    assert org.state is Status.UNDER_REVIEW


@pytest.mark.parametrize("status", other_than(Status.SUBMITTED, Status.INFORMATION_PROVIDED))
def test_a_review_cannot_start_from_any_other_status(staff: Actor, status: Status) -> None:
    org = an_organization(status)

    with pytest.raises(IllegalTransition, match=status.value):
        org.start_review()
    assert then(org) == []


def test_more_information_is_requested_with_questions_under_review(staff: Actor) -> None:
    org = an_organization(Status.UNDER_REVIEW)

    org.request_more_information("  How are fictional client files kept safe?  ")

    assert then(org) == [Organization.MoreInformationRequested]
    assert org.state is Status.INFORMATION_REQUESTED
    assert org.history[-1]["note"] == "How are fictional client files kept safe?"


def test_a_request_for_more_information_needs_questions(staff: Actor) -> None:
    org = an_organization(Status.UNDER_REVIEW)

    with pytest.raises(ReasonRequired):
        org.request_more_information("   ")
    assert then(org) == []


@pytest.mark.parametrize("status", other_than(Status.UNDER_REVIEW))
def test_more_information_cannot_be_requested_unless_under_review(
    staff: Actor, status: Status
) -> None:
    org = an_organization(status)

    with pytest.raises(NotUnderReview):
        org.request_more_information("A fictional question?")
    assert then(org) == []


def test_provided_information_keeps_the_criteria_when_none_are_given(staff: Actor) -> None:
    org = given(
        *under_review(criteria=ALL_CRITERIA[:5]),
        happened(Organization.MoreInformationRequested, questions="Fictional?"),
    )

    org.provide_information("Fictional answers.", None)

    assert then(org) == [Organization.InformationProvided]
    assert org.state is Status.INFORMATION_PROVIDED
    assert org.criteria == list(ALL_CRITERIA[:5])


def test_provided_information_may_attest_further_criteria_then_approval_follows(
    staff: Actor,
) -> None:
    org = given(
        *under_review(criteria=ALL_CRITERIA[:5]),
        happened(Organization.MoreInformationRequested, questions="Fictional?"),
    )

    org.provide_information("We now attest all seven (fictional).", list(ALL_CRITERIA))
    org.start_review()
    org.approve_inclusion("")

    assert then(org) == [
        Organization.InformationProvided,
        Organization.ReviewStarted,
        Organization.InclusionApproved,
    ]
    assert org.state is Status.INCLUDED


@pytest.mark.parametrize("status", other_than(Status.INFORMATION_REQUESTED))
def test_information_cannot_be_provided_unless_it_was_requested(
    staff: Actor, status: Status
) -> None:
    org = an_organization(status)

    with pytest.raises(IllegalTransition):
        org.provide_information("Unsolicited fictional answers.", None)
    assert then(org) == []


def test_provided_information_needs_answers(staff: Actor) -> None:
    org = an_organization(Status.INFORMATION_REQUESTED)

    with pytest.raises(ReasonRequired):
        org.provide_information("  ", list(ALL_CRITERIA))
    assert then(org) == []


# -- approval and decline ------------------------------------------------------------------


def test_approval_under_review_with_all_seven_criteria_includes_the_organization(
    staff: Actor,
) -> None:
    org = an_organization(Status.UNDER_REVIEW)

    org.approve_inclusion("  Fictional reviewer's note.  ")

    events = org.collect_events()
    assert [type(e) for e in events] == [Organization.InclusionApproved]
    assert org.state is Status.INCLUDED
    assert org.last_confirmed_at == events[0].timestamp
    assert org.history[-1]["note"] == "Fictional reviewer's note."


@pytest.mark.parametrize("status", other_than(Status.UNDER_REVIEW))
def test_approval_is_refused_unless_under_review(staff: Actor, status: Status) -> None:
    org = an_organization(status)

    with pytest.raises(NotUnderReview, match=f"is {status.value}, not UNDER_REVIEW"):
        org.approve_inclusion("")
    assert then(org) == []


def test_approval_without_every_criterion_names_the_missing_ones(staff: Actor) -> None:
    attested = tuple(c for c in ALL_CRITERIA if c not in ("CLIENT_SAFETY", "DATA_PROTECTION"))
    org = given(*under_review(criteria=attested))

    with pytest.raises(CriteriaNotAttested) as refused:
        org.approve_inclusion("")

    message = str(refused.value)
    assert "CLIENT_SAFETY" in message
    assert "DATA_PROTECTION" in message
    assert not any(criterion in message for criterion in attested)
    assert then(org) == []
    assert org.state is Status.UNDER_REVIEW


@pytest.mark.parametrize("status", [Status.UNDER_REVIEW, Status.INFORMATION_REQUESTED])
def test_inclusion_is_declined_with_a_reason_under_review_or_awaiting_information(
    staff: Actor, status: Status
) -> None:
    org = an_organization(status)

    org.decline_inclusion("  Fictional: services outside the directory's scope.  ")

    assert then(org) == [Organization.InclusionDeclined]
    assert org.state is Status.DECLINED
    assert org.history[-1]["note"] == "Fictional: services outside the directory's scope."


def test_declining_needs_a_reason(staff: Actor) -> None:
    org = an_organization(Status.UNDER_REVIEW)

    with pytest.raises(ReasonRequired):
        org.decline_inclusion("")
    assert then(org) == []


@pytest.mark.parametrize("status", other_than(Status.UNDER_REVIEW, Status.INFORMATION_REQUESTED))
def test_inclusion_cannot_be_declined_from_any_other_status(staff: Actor, status: Status) -> None:
    org = an_organization(status)

    with pytest.raises(IllegalTransition):
        org.decline_inclusion("Fictional reason.")
    assert then(org) == []


# -- profile updates -----------------------------------------------------------------------


def test_an_accepted_profile_update_replaces_the_profile(staff: Actor) -> None:
    org = given(*included(), happened(Organization.ProfileUpdateSubmitted, profile=UPDATED_PROFILE))
    assert org.profile == PROFILE
    assert org.pending_update is not None

    org.accept_profile_update()

    events = org.collect_events()
    assert [type(e) for e in events] == [Organization.ProfileUpdateAccepted]
    assert org.profile == UPDATED_PROFILE
    assert org.pending_update is None
    assert org.last_confirmed_at == events[0].timestamp
    assert org.history[-1]["what"] == "PROFILE_UPDATE_ACCEPTED"


def test_a_submitted_profile_update_waits_for_a_decision(staff: Actor) -> None:
    org = an_organization(Status.INCLUDED)

    org.submit_profile_update(UPDATED_PROFILE)

    assert then(org) == [Organization.ProfileUpdateSubmitted]
    assert org.profile == PROFILE
    assert org.pending_update is not None
    assert org.pending_update["profile"] == UPDATED_PROFILE


def test_a_rejected_profile_update_keeps_the_profile_and_says_why(staff: Actor) -> None:
    org = given(*included(), happened(Organization.ProfileUpdateSubmitted, profile=UPDATED_PROFILE))

    org.reject_profile_update("Fictional: the hours could not be confirmed.")

    assert then(org) == [Organization.ProfileUpdateRejected]
    assert org.profile == PROFILE
    assert org.pending_update is None
    assert org.history[-1]["what"] == "PROFILE_UPDATE_REJECTED"
    assert org.history[-1]["note"] == "Fictional: the hours could not be confirmed."


def test_rejecting_a_profile_update_needs_a_reason(staff: Actor) -> None:
    org = given(*included(), happened(Organization.ProfileUpdateSubmitted, profile=UPDATED_PROFILE))

    with pytest.raises(ReasonRequired):
        org.reject_profile_update(" ")
    assert then(org) == []


def test_without_a_pending_update_there_is_nothing_to_accept_or_reject(staff: Actor) -> None:
    org = given(
        *included(),
        happened(Organization.ProfileUpdateSubmitted, profile=UPDATED_PROFILE),
        happened(Organization.ProfileUpdateAccepted),
    )

    with pytest.raises(NoPendingProfileUpdate):
        org.accept_profile_update()
    with pytest.raises(NoPendingProfileUpdate):
        org.reject_profile_update("Fictional reason.")
    assert then(org) == []


@pytest.mark.parametrize("status", [Status.DECLINED, Status.REMOVED])
def test_a_declined_or_removed_organization_cannot_submit_a_profile_update(
    staff: Actor, status: Status
) -> None:
    org = an_organization(status)

    with pytest.raises(IllegalTransition):
        org.submit_profile_update(UPDATED_PROFILE)
    assert then(org) == []


# -- public listing ------------------------------------------------------------------------


def test_the_organization_itself_opts_in_and_out_of_the_public_listing() -> None:
    org = an_organization(Status.INCLUDED)

    with acting_as(HARBOUR_PARTNER):
        assert org.set_public_listing(True) is True
        assert org.public_listing is True
        assert org.set_public_listing(False) is True
        assert org.public_listing is False

    assert then(org) == [
        Organization.PublicListingConsentGiven,
        Organization.PublicListingConsentWithdrawn,
    ]
    assert [h["what"] for h in org.history[-2:]] == [
        "PUBLIC_LISTING_OPTED_IN",
        "PUBLIC_LISTING_OPTED_OUT",
    ]
    assert {h["actorRole"] for h in org.history[-2:]} == {"partner"}


@pytest.mark.parametrize("agreement", ["", "   "])
def test_staff_cannot_opt_an_organization_in_without_its_written_agreement(
    staff: Actor, agreement: str
) -> None:
    org = an_organization(Status.INCLUDED)

    refused(
        org,
        WrittenAgreementRequired,
        lambda: org.set_public_listing(True, agreement),
        match="written agreement",
    )
    assert org.public_listing is False


def test_staff_record_the_organizations_written_agreement_to_be_listed(staff: Actor) -> None:
    org = an_organization(Status.INCLUDED)

    assert org.set_public_listing(True, f"  {AGREEMENT}  ") is True
    assert org.set_public_listing(False, "Fictional: its email asking off, ref. NRD-0002.") is True

    events = org.collect_events()
    assert [type(e) for e in events] == [
        Organization.PublicListingAgreementRecorded,
        Organization.PublicListingAgreementRecorded,
    ]
    assert [(e.listed, e.agreement) for e in events] == [  # type: ignore[attr-defined]
        (True, AGREEMENT),
        (False, "Fictional: its email asking off, ref. NRD-0002."),
    ]
    assert [(h["what"], h["note"]) for h in org.history[-2:]] == [
        ("PUBLIC_LISTING_OPTED_IN", AGREEMENT),
        ("PUBLIC_LISTING_OPTED_OUT", "Fictional: its email asking off, ref. NRD-0002."),
    ]
    assert org.public_listing is False


def test_a_supervisor_too_needs_the_written_agreement(supervisor: Actor) -> None:
    org = an_organization(Status.INCLUDED)

    refused(org, WrittenAgreementRequired, lambda: org.set_public_listing(True))


@pytest.mark.parametrize("listed", [True, False])
def test_asking_for_the_public_listing_as_it_already_stands_records_nothing(
    staff: Actor, listed: bool
) -> None:
    org = given(submitted(public_listing=listed))

    assert org.set_public_listing(listed, AGREEMENT) is False
    assert then(org) == []
    assert org.public_listing is listed


# -- periodic review and contact attempts --------------------------------------------------


def test_a_confirmed_periodic_review_moves_last_confirmed_forward(staff: Actor) -> None:
    org = an_organization(Status.INCLUDED)
    approved_at = org.last_confirmed_at

    org.confirm_review("  Fictional annual check.  ")

    events = org.collect_events()
    assert [type(e) for e in events] == [Organization.ReviewConfirmed]
    assert approved_at is not None
    assert org.last_confirmed_at == events[0].timestamp
    assert org.last_confirmed_at > approved_at
    assert (org.history[-1]["what"], org.history[-1]["note"]) == (
        "PERIODIC_REVIEW_CONFIRMED",
        "Fictional annual check.",
    )


@pytest.mark.parametrize("status", other_than(Status.INCLUDED))
def test_only_an_included_organization_has_its_periodic_review_confirmed(
    staff: Actor, status: Status
) -> None:
    org = an_organization(status)

    with pytest.raises(IllegalTransition):
        org.confirm_review("")
    assert then(org) == []


def failed_attempt() -> Fact:
    return happened(Organization.ContactAttemptRecorded, outcome="NO_ANSWER", note="")


def test_reaching_the_contact_resets_the_count_of_failed_attempts(staff: Actor) -> None:
    org = given(*included(), failed_attempt(), failed_attempt())
    assert org.failed_contact_attempts == 2

    org.record_contact_attempt(
        ContactOutcome.REACHED, "Fictional call went well.", UNREACHABLE_AFTER
    )
    org.record_contact_attempt(ContactOutcome.NO_ANSWER, "", UNREACHABLE_AFTER)
    org.record_contact_attempt(ContactOutcome.LEFT_MESSAGE, "", UNREACHABLE_AFTER)

    assert then(org) == [Organization.ContactAttemptRecorded] * 3
    assert org.failed_contact_attempts == 2
    assert org.flagged_unreachable is False
    assert [a["outcome"] for a in org.contact_attempts] == [
        "NO_ANSWER",
        "NO_ANSWER",
        "REACHED",
        "NO_ANSWER",
        "LEFT_MESSAGE",
    ]


def test_consecutive_failed_attempts_flag_the_organization_unreachable_exactly_once(
    staff: Actor,
) -> None:
    org = given(*included(), failed_attempt(), failed_attempt())

    org.record_contact_attempt(ContactOutcome.NO_REPLY_TO_EMAIL, "", UNREACHABLE_AFTER)
    org.record_contact_attempt(ContactOutcome.WRONG_CONTACT_DETAILS, "", UNREACHABLE_AFTER)
    org.record_contact_attempt(ContactOutcome.NO_ANSWER, "", UNREACHABLE_AFTER)

    events = org.collect_events()
    assert [type(e) for e in events] == [
        Organization.ContactAttemptRecorded,
        Organization.FlaggedUnreachable,
        Organization.ContactAttemptRecorded,
        Organization.ContactAttemptRecorded,
    ]
    assert events[1].failed_attempts == UNREACHABLE_AFTER  # type: ignore[attr-defined]
    assert org.flagged_unreachable is True
    assert org.failed_contact_attempts == 5


def test_an_organization_reached_again_is_no_longer_flagged_unreachable(staff: Actor) -> None:
    org = given(
        *included(),
        failed_attempt(),
        failed_attempt(),
        failed_attempt(),
        happened(Organization.FlaggedUnreachable, failed_attempts=3),
    )

    org.record_contact_attempt(ContactOutcome.REACHED, "", UNREACHABLE_AFTER)

    assert then(org) == [Organization.ContactAttemptRecorded]
    assert org.flagged_unreachable is False
    assert org.failed_contact_attempts == 0


@pytest.mark.parametrize("status", [Status.DECLINED, Status.REMOVED])
def test_no_contact_attempt_is_recorded_for_a_declined_or_removed_organization(
    staff: Actor, status: Status
) -> None:
    org = an_organization(status)

    with pytest.raises(IllegalTransition):
        org.record_contact_attempt(ContactOutcome.REACHED, "", UNREACHABLE_AFTER)
    assert then(org) == []


# -- misconduct, removal, reinstatement ----------------------------------------------------


def test_a_misconduct_allegation_is_recorded_but_never_enters_the_history(
    supervisor: Actor,
) -> None:
    org = an_organization(Status.INCLUDED)
    history_before = list(org.history)

    org.record_misconduct_allegation("  Fictional allegation about a fictional volunteer.  ")

    assert then(org) == [Organization.MisconductAllegationRecorded]
    assert [(a["summary"], a["recordedBy"]) for a in org.allegations] == [
        ("Fictional allegation about a fictional volunteer.", "fictional-supervisor-1")
    ]
    assert org.history == history_before
    assert "allegation" not in repr(org.history).lower()


def test_a_misconduct_allegation_needs_a_summary(supervisor: Actor) -> None:
    org = an_organization(Status.INCLUDED)

    with pytest.raises(ReasonRequired):
        org.record_misconduct_allegation("")
    assert then(org) == []


def test_removal_for_misconduct_needs_a_recorded_allegation(supervisor: Actor) -> None:
    org = an_organization(Status.INCLUDED)

    with pytest.raises(AllegationRequired):
        org.remove(RemovalReason.MISCONDUCT_ALLEGATION, "Fictional.")
    assert then(org) == []
    assert org.state is Status.INCLUDED


def test_removal_for_misconduct_keeps_its_details_out_of_the_history(supervisor: Actor) -> None:
    org = given(
        *included(),
        happened(Organization.MisconductAllegationRecorded, summary="Fictional allegation."),
    )

    org.remove(RemovalReason.MISCONDUCT_ALLEGATION, "Fictional confidential removal note.")

    assert then(org) == [Organization.Removed]
    assert org.state is Status.REMOVED
    assert org.removal is not None
    assert (org.removal["reason"], org.removal["note"], org.removal["removedBy"]) == (
        "MISCONDUCT_ALLEGATION",
        "Fictional confidential removal note.",
        "fictional-supervisor-1",
    )
    assert (org.history[-1]["what"], org.history[-1]["note"]) == ("REMOVED", "")
    assert "MISCONDUCT" not in repr(org.history)
    assert "confidential" not in repr(org.history)


def test_removal_for_another_reason_needs_a_note(supervisor: Actor) -> None:
    org = an_organization(Status.INCLUDED)

    with pytest.raises(ReasonRequired):
        org.remove(RemovalReason.OTHER, "   ")
    assert then(org) == []


@pytest.mark.parametrize(
    "reason",
    [
        RemovalReason.UNREACHABLE,
        RemovalReason.NO_LONGER_MEETS_CRITERIA,
        RemovalReason.ORGANIZATION_REQUEST,
    ],
)
def test_removal_for_a_named_reason_needs_no_note(supervisor: Actor, reason: RemovalReason) -> None:
    org = an_organization(Status.INCLUDED)

    org.remove(reason, "")

    assert then(org) == [Organization.Removed]
    assert org.removal is not None
    assert org.removal["reason"] == reason.value


@pytest.mark.parametrize("status", other_than(Status.INCLUDED))
def test_only_an_included_organization_can_be_removed(supervisor: Actor, status: Status) -> None:
    org = an_organization(status)

    with pytest.raises(IllegalTransition):
        org.remove(RemovalReason.ORGANIZATION_REQUEST, "")
    assert then(org) == []


def test_a_removal_request_is_noted_while_included(staff: Actor) -> None:
    org = an_organization(Status.INCLUDED)

    org.request_removal("Fictional email from the organization.")

    assert then(org) == [Organization.RemovalRequested]
    assert org.removal_requested is True
    assert org.state is Status.INCLUDED
    assert org.history[-1]["what"] == "REMOVAL_REQUESTED"


def test_reinstatement_returns_a_removed_organization_to_review(supervisor: Actor) -> None:
    org = given(
        *included(),
        failed_attempt(),
        failed_attempt(),
        failed_attempt(),
        happened(Organization.FlaggedUnreachable, failed_attempts=3),
        happened(Organization.Removed, reason="UNREACHABLE", note=""),
    )
    confirmed_before = org.last_confirmed_at

    org.reinstate("  Fictional: the new contact answered.  ")

    events = org.collect_events()
    assert [type(e) for e in events] == [Organization.ReinstatedForReview]
    assert events[0].reason == "Fictional: the new contact answered."  # type: ignore[attr-defined]
    assert org.state is Status.UNDER_REVIEW
    assert org.removal is None
    assert org.flagged_unreachable is False
    assert org.failed_contact_attempts == 0
    assert org.last_confirmed_at == confirmed_before  # not confirmed until a new decision

    # The normal inclusion decision returns it to the directory.
    org.approve_inclusion("Fictional: reviewed again.")
    approval = org.collect_events()
    assert [type(e) for e in approval] == [Organization.InclusionApproved]
    assert org.status == Status.INCLUDED.value
    assert org.last_confirmed_at == approval[0].timestamp
    assert [h["status"] for h in org.history[-3:]] == ["REMOVED", "UNDER_REVIEW", "INCLUDED"]


def test_a_reinstatement_recorded_under_the_old_rule_still_replays_to_included() -> None:
    org = given(
        *removed(),
        happened(Organization.Reinstated, reason="Fictional: the allegation was unfounded."),
    )

    assert org.state is Status.INCLUDED
    assert org.removal is None
    assert org.last_confirmed_at == org.modified_on
    assert org.history[-1]["status"] == "INCLUDED"


def test_a_reinstatement_stored_under_the_old_rule_loads_from_its_stored_shape() -> None:
    """The old event's topic and fields, as the store holds them, still make an event."""
    from eventsourcing.utils import resolve_topic

    topic = "domain.organization:Organization.Reinstated"
    event_class = resolve_topic(topic)
    assert event_class is Organization.Reinstated
    org = given(*removed(), happened(event_class, reason="Fictional: back."))
    assert org.state is Status.INCLUDED


def test_reinstatement_needs_a_reason(supervisor: Actor) -> None:
    org = an_organization(Status.REMOVED)

    with pytest.raises(ReasonRequired):
        org.reinstate("")
    assert then(org) == []
    assert org.state is Status.REMOVED


@pytest.mark.parametrize("status", other_than(Status.REMOVED))
def test_only_a_removed_organization_can_be_reinstated(supervisor: Actor, status: Status) -> None:
    org = an_organization(status)

    with pytest.raises(IllegalTransition):
        org.reinstate("Fictional reason.")
    assert then(org) == []


# -- an agency's own path ------------------------------------------------------------------

POLICE_PROFILE: dict[str, Any] = {
    "kind": "LAW_ENFORCEMENT_AGENCY",
    "nameEn": "Example Harbour Police Service",
    "nameFr": "Service de police Exemple du Port",
}
HARBOUR_PROTOCOL = UUID("00000000-0000-4000-8000-0000000000b1")
OTHER_AGENCY = UUID("00000000-0000-4000-8000-0000000000a2")


def an_agency_under_review() -> Organization:
    return given(
        happened(
            Organization.ApplicationSubmitted,
            originator_topic=get_topic(Organization),
            profile=POLICE_PROFILE,
            criteria=[],  # an agency attests none of the service providers' criteria
            public_listing=False,
        ),
        happened(Organization.ReviewStarted),
    )


def test_an_agency_is_included_on_a_protocol_established_for_it(staff: Actor) -> None:
    org = an_agency_under_review()

    org.include_agency("  Fictional: protocol agreed.  ", HARBOUR_PROTOCOL, HARBOUR_SHELTER)

    events = org.collect_events()
    assert [type(e) for e in events] == [Organization.AgencyIncluded]
    assert events[0].protocol_id == str(HARBOUR_PROTOCOL)  # type: ignore[attr-defined]
    assert events[0].note == "Fictional: protocol agreed."  # type: ignore[attr-defined]
    assert org.state is Status.INCLUDED
    assert org.last_confirmed_at == events[0].timestamp
    assert org.criteria == []


def test_an_agency_is_not_included_on_the_criteria(staff: Actor) -> None:
    org = an_agency_under_review()

    refused(org, ReportingProtocolRequired, lambda: org.approve_inclusion(""))
    assert org.state is Status.UNDER_REVIEW


def test_an_agency_is_not_included_on_another_agencys_protocol(staff: Actor) -> None:
    org = an_agency_under_review()

    refused(
        org,
        ReportingProtocolRequired,
        lambda: org.include_agency("", HARBOUR_PROTOCOL, OTHER_AGENCY),
    )


def test_a_service_provider_is_not_included_on_a_protocol(staff: Actor) -> None:
    org = an_organization(Status.UNDER_REVIEW)

    refused(org, NotAnAgency, lambda: org.include_agency("", HARBOUR_PROTOCOL, HARBOUR_SHELTER))


@pytest.mark.parametrize("status", other_than(Status.UNDER_REVIEW))
def test_an_agency_is_included_only_from_review(staff: Actor, status: Status) -> None:
    org = an_organization(status)

    with pytest.raises(NotUnderReview):
        org.include_agency("", HARBOUR_PROTOCOL, HARBOUR_SHELTER)
    assert then(org) == []


def test_the_kinds_on_the_agency_path_are_defined_once() -> None:
    assert frozenset({"LAW_ENFORCEMENT_AGENCY"}) == AGENCY_KINDS


# -- possible duplicates -------------------------------------------------------------------

HARBOUR_ORIGINAL = UUID("00000000-0000-4000-8000-0000000000a0")


@pytest.mark.parametrize(
    "status",
    [
        Status.SUBMITTED,
        Status.UNDER_REVIEW,
        Status.INFORMATION_REQUESTED,
        Status.INFORMATION_PROVIDED,
    ],
)
def test_staff_dismiss_a_possible_duplicate_with_a_reason(staff: Actor, status: Status) -> None:
    org = an_organization(status)
    history_before = list(org.history)

    org.dismiss_possible_duplicate("  Fictional: a shelter of the same name elsewhere.  ")

    events = org.collect_events()
    assert [type(e) for e in events] == [Organization.PossibleDuplicateDismissed]
    assert events[0].note == "Fictional: a shelter of the same name elsewhere."  # type: ignore[attr-defined]
    assert org.duplicate_flag_dismissed is True
    assert org.state is status
    # Nothing of it reaches the history a partner reads.
    assert org.history == history_before


def test_dismissing_a_possible_duplicate_needs_a_reason(staff: Actor) -> None:
    org = an_organization(Status.SUBMITTED)

    refused(org, ReasonRequired, lambda: org.dismiss_possible_duplicate("  "))
    assert org.duplicate_flag_dismissed is False


def test_an_application_is_declined_as_a_duplicate_of_an_existing_organization(
    staff: Actor,
) -> None:
    org = an_organization(Status.UNDER_REVIEW)

    org.decline_as_duplicate(HARBOUR_ORIGINAL, "Fictional: sent twice.")

    events = org.collect_events()
    assert [type(e) for e in events] == [Organization.DeclinedAsDuplicate]
    assert events[0].duplicate_of == str(HARBOUR_ORIGINAL)  # type: ignore[attr-defined]
    assert org.state is Status.DECLINED
    assert org.duplicate_of == str(HARBOUR_ORIGINAL)
    # The history says declined; which organization it duplicates is the hotline's to read.
    assert org.history[-1]["status"] == "DECLINED"
    assert str(HARBOUR_ORIGINAL) not in org.history[-1]["note"]


def test_an_application_is_not_a_duplicate_of_itself(staff: Actor) -> None:
    org = an_organization(Status.UNDER_REVIEW)

    refused(org, NotADuplicate, lambda: org.decline_as_duplicate(HARBOUR_SHELTER, ""))


@pytest.mark.parametrize("status", [Status.INCLUDED, Status.DECLINED, Status.REMOVED])
def test_a_decided_organization_is_not_declined_as_a_duplicate(
    staff: Actor, status: Status
) -> None:
    org = an_organization(status)

    with pytest.raises(IllegalTransition):
        org.decline_as_duplicate(HARBOUR_ORIGINAL, "")
    with pytest.raises(IllegalTransition):
        org.dismiss_possible_duplicate("Fictional reason.")
    assert then(org) == []


def test_a_state_saved_before_duplicates_were_flagged_reads_as_unflagged() -> None:
    org = an_organization(Status.SUBMITTED)
    state = dict(vars(org))
    state.pop("duplicate_flag_dismissed", None)
    state.pop("duplicate_of", None)
    old = object.__new__(Organization)
    old.__dict__.update(state)

    assert (old.duplicate_flag_dismissed, old.duplicate_of) == (False, None)


# -- applying on an organization's behalf --------------------------------------------------


def test_staff_applying_on_behalf_list_it_only_on_its_written_agreement(staff: Actor) -> None:
    with pytest.raises(WrittenAgreementRequired):
        Organization.submit_application(
            id=HARBOUR_SHELTER, profile=PROFILE, criteria=list(ALL_CRITERIA), public_listing=True
        )

    org = Organization.submit_application(
        id=HARBOUR_SHELTER,
        profile=PROFILE,
        criteria=list(ALL_CRITERIA),
        public_listing=True,
        listing_agreement=f" {AGREEMENT} ",
    )

    [event] = org.collect_events()
    assert event.listing_agreement == AGREEMENT  # type: ignore[attr-defined]
    assert org.public_listing is True


def test_staff_applying_unlisted_need_no_agreement(staff: Actor) -> None:
    org = Organization.submit_application(
        id=HARBOUR_SHELTER, profile=PROFILE, criteria=list(ALL_CRITERIA), public_listing=False
    )
    assert org.public_listing is False


def test_the_organization_applying_itself_consents_on_its_own_form() -> None:
    public = Actor("anonymous", "public", request_id="req-fictional-4")
    with acting_as(public):
        org = Organization.submit_application(
            id=HARBOUR_SHELTER, profile=PROFILE, criteria=list(ALL_CRITERIA), public_listing=True
        )
    [event] = org.collect_events()
    assert event.listing_agreement == ""  # type: ignore[attr-defined]
    assert org.public_listing is True


def test_only_the_public_applicant_or_the_organizations_own_partner_opt_in_unagreed() -> None:
    """An allow-list: any role not the organization itself (a future one too) records the
    organization's written agreement."""
    for role in ("partner", "law_enforcement", "compliance", "auditor"):
        actor = Actor("fictional-user", role, request_id="req-fictional-5")
        with acting_as(actor), pytest.raises(WrittenAgreementRequired):
            Organization.submit_application(
                id=HARBOUR_SHELTER,
                profile=PROFILE,
                criteria=list(ALL_CRITERIA),
                public_listing=True,
            )
    other_partner = Actor("fictional-partner-9", "partner", organization_id=str(HARBOUR_ORIGINAL))
    for actor in (other_partner, Actor("fictional-user", "auditor")):
        org = an_organization(Status.INCLUDED)
        with acting_as(actor):
            refused(org, WrittenAgreementRequired, partial(org.set_public_listing, True))


# -- a profile update keeps the kind -------------------------------------------------------

AGENCY_UPDATE: Profile = {**PROFILE, "kind": "LAW_ENFORCEMENT_AGENCY"}
AUTHORITY_UPDATE: Profile = {
    **PROFILE,
    "kind": "CHILD_PROTECTION_AUTHORITY",
    "regions": [{"province": "CA-MB"}],
}


@pytest.mark.parametrize("changed", [AGENCY_UPDATE, AUTHORITY_UPDATE])
def test_a_profile_update_cannot_change_the_kind(changed: Profile) -> None:
    org = an_organization(Status.INCLUDED)

    with acting_as(HARBOUR_PARTNER):
        refused(
            org,
            KindChangeNotAllowed,
            lambda: org.submit_profile_update(changed),
            match="applies anew",
        )
    assert org.pending_update is None
    assert org.profile["kind"] == "DIRECT_SERVICE_PROVIDER"


@pytest.mark.parametrize("changed", [AGENCY_UPDATE, AUTHORITY_UPDATE])
def test_a_kind_change_stored_before_the_rule_is_not_accepted(
    staff: Actor, changed: Profile
) -> None:
    org = given(*included(), happened(Organization.ProfileUpdateSubmitted, profile=changed))

    refused(org, KindChangeNotAllowed, lambda: org.accept_profile_update())
    assert org.profile["kind"] == "DIRECT_SERVICE_PROVIDER"
    # Staff reject it instead, with a reason the organization reads.
    org.reject_profile_update("Fictional: another kind of organization applies anew.")
    assert then(org) == [Organization.ProfileUpdateRejected]


# -- a public body's own path --------------------------------------------------------------

AUTHORITY_PROFILE: dict[str, Any] = {
    "kind": "CHILD_PROTECTION_AUTHORITY",
    "nameEn": "Example Harbour Child and Family Services",
    "nameFr": "Services à l'enfance Exemple du Port",
    "regions": [{"province": "CA-MB"}],
}
VERIFICATION = "Fictional: checked against the province's list of statutory bodies, ref. 12."


def an_authority_under_review() -> Organization:
    return given(
        happened(
            Organization.ApplicationSubmitted,
            originator_topic=get_topic(Organization),
            profile=AUTHORITY_PROFILE,
            criteria=[],
            public_listing=False,
        ),
        happened(Organization.ReviewStarted),
    )


def test_a_supervisor_includes_a_public_body_on_a_written_verification(
    supervisor: Actor,
) -> None:
    org = an_authority_under_review()

    org.include_public_body(f"  {VERIFICATION}  ")

    events = org.collect_events()
    assert [type(e) for e in events] == [Organization.PublicBodyIncluded]
    assert events[0].verification == VERIFICATION  # type: ignore[attr-defined]
    assert org.state is Status.INCLUDED
    assert org.last_confirmed_at == events[0].timestamp
    assert org.history[-1]["note"] == VERIFICATION


def test_a_public_body_is_not_included_by_one_approval(staff: Actor) -> None:
    org = an_authority_under_review()

    refused(org, VerificationRequired, lambda: org.approve_inclusion("A statutory body"))
    with acting_as(SUPERVISOR):
        refused(org, VerificationRequired, lambda: org.approve_inclusion("A statutory body"))
    assert org.state is Status.UNDER_REVIEW


def test_staff_do_not_include_a_public_body(staff: Actor) -> None:
    org = an_authority_under_review()

    refused(org, SupervisorOnly, lambda: org.include_public_body(VERIFICATION))


def test_a_public_body_is_included_on_a_verification_only(supervisor: Actor) -> None:
    org = an_authority_under_review()

    refused(org, ReasonRequired, lambda: org.include_public_body("  "))
    refused(org, NotAnAgency, lambda: org.include_agency("", HARBOUR_PROTOCOL, HARBOUR_SHELTER))


def test_a_service_provider_or_agency_is_not_included_as_a_public_body(
    supervisor: Actor,
) -> None:
    for org in (an_organization(Status.UNDER_REVIEW), an_agency_under_review()):
        refused(org, NotAPublicBody, partial(org.include_public_body, VERIFICATION))


@pytest.mark.parametrize("status", other_than(Status.UNDER_REVIEW))
def test_a_public_body_is_included_only_from_review(supervisor: Actor, status: Status) -> None:
    org = an_organization(status)

    with pytest.raises(NotUnderReview):
        org.include_public_body(VERIFICATION)
    assert then(org) == []


def test_the_kinds_on_the_public_body_path_are_defined_once() -> None:
    assert frozenset({"CHILD_PROTECTION_AUTHORITY"}) == PUBLIC_BODY_KINDS
    assert not PUBLIC_BODY_KINDS & AGENCY_KINDS


# -- a duplicate's decline reads as any decline --------------------------------------------


@pytest.mark.parametrize("status", [Status.SUBMITTED, Status.INFORMATION_PROVIDED])
def test_an_application_is_declined_as_a_duplicate_only_where_any_is_declined(
    staff: Actor, status: Status
) -> None:
    org = an_organization(status)

    with pytest.raises(IllegalTransition):
        org.decline_as_duplicate(HARBOUR_ORIGINAL, "Fictional: sent twice.")
    assert then(org) == []


def test_a_duplicates_decline_reads_as_an_ordinary_decline_in_the_history(
    staff: Actor,
) -> None:
    duplicate, ordinary = an_organization(Status.UNDER_REVIEW), an_organization(Status.UNDER_REVIEW)

    duplicate.decline_as_duplicate(HARBOUR_ORIGINAL, "")
    ordinary.decline_inclusion("Fictional: services outside the directory's scope.")

    step, plain = duplicate.history[-1], ordinary.history[-1]
    assert {k: v for k, v in step.items() if k not in {"at", "note"}} == {
        k: v for k, v in plain.items() if k not in {"at", "note"}
    }
    assert step["note"] == DECLINED_NOTE
    assert "duplicate" not in step["note"].lower()
