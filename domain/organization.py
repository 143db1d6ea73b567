"""An organization in the National Referral Directory and its inclusion lifecycle.

application submitted -> under review -> (more information requested -> information provided
-> under review) -> included | declined; included -> removed -> reinstated (under review again,
included only by a new decision). Inclusion is not endorsement: it records what the organization
attested, and the review. A service provider is included on the seven criteria it attests; a
law-enforcement agency on its own request and a reporting protocol established for it
(``AGENCY_KINDS``); a child-protection authority on a supervisor's written verification that it
is the statutory body (``PUBLIC_BODY_KINDS``). A profile update never changes the kind: an
organization of another kind applies anew. Only the organization itself opts into the public
listing, or staff recording its written agreement.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict
from uuid import UUID

from domain.base import (
    ANONYMOUS_ROLE,
    AuditedAggregate,
    DomainError,
    clean_text,
    current_actor,
    require_reason,
)
from domain.vocabulary import Criterion, OrganizationKind, Profile


class Status(StrEnum):
    SUBMITTED = "SUBMITTED"
    UNDER_REVIEW = "UNDER_REVIEW"
    INFORMATION_REQUESTED = "INFORMATION_REQUESTED"
    INFORMATION_PROVIDED = "INFORMATION_PROVIDED"
    INCLUDED = "INCLUDED"
    DECLINED = "DECLINED"
    REMOVED = "REMOVED"


class RemovalReason(StrEnum):
    MISCONDUCT_ALLEGATION = "MISCONDUCT_ALLEGATION"
    UNREACHABLE = "UNREACHABLE"
    NO_LONGER_MEETS_CRITERIA = "NO_LONGER_MEETS_CRITERIA"
    ORGANIZATION_REQUEST = "ORGANIZATION_REQUEST"
    OTHER = "OTHER"


class ContactOutcome(StrEnum):
    REACHED = "REACHED"
    NO_ANSWER = "NO_ANSWER"
    LEFT_MESSAGE = "LEFT_MESSAGE"
    NO_REPLY_TO_EMAIL = "NO_REPLY_TO_EMAIL"
    WRONG_CONTACT_DETAILS = "WRONG_CONTACT_DETAILS"


class IllegalTransition(DomainError):
    code = "ILLEGAL_TRANSITION"

    def __init__(self, action: str, status: Status, allowed: tuple[Status, ...]) -> None:
        names = " or ".join(s.value for s in allowed)
        super().__init__(f"cannot {action}: the organization is {status.value}, not {names}")


class NotUnderReview(IllegalTransition):
    code = "NOT_UNDER_REVIEW"


class CriteriaNotAttested(DomainError):
    code = "CRITERIA_NOT_ATTESTED"


class NoPendingProfileUpdate(DomainError):
    code = "NO_PENDING_PROFILE_UPDATE"


class AllegationRequired(DomainError):
    code = "ALLEGATION_REQUIRED"


class WrittenAgreementRequired(DomainError):
    code = "WRITTEN_AGREEMENT_REQUIRED"


class ReportingProtocolRequired(DomainError):
    code = "REPORTING_PROTOCOL_REQUIRED"


class NotAnAgency(DomainError):
    code = "NOT_AN_AGENCY"


class NotADuplicate(DomainError):
    code = "NOT_A_DUPLICATE"


class KindChangeNotAllowed(DomainError):
    code = "KIND_CHANGE_NOT_ALLOWED"


class VerificationRequired(DomainError):
    code = "PUBLIC_BODY_VERIFICATION_REQUIRED"


class NotAPublicBody(DomainError):
    code = "NOT_A_PUBLIC_BODY"


class SupervisorOnly(DomainError):
    code = "SUPERVISOR_REQUIRED"


ALL_CRITERIA = tuple(c.value for c in Criterion)

# Kinds included through an agency's own path: the agency's request (its application, or staff
# recording it) and a reporting protocol established for it, not the service providers' seven
# criteria.
AGENCY_KINDS = frozenset({OrganizationKind.LAW_ENFORCEMENT_AGENCY.value})

# Public bodies that receive the hotline's reports under a statutory mandate but have no
# reporting protocol: the service providers' criteria are not theirs to attest, so a supervisor
# includes one on a written verification that it is the statutory body (``include_public_body``).
# A minor's details go to such a body: one approval of an application is not enough.
PUBLIC_BODY_KINDS = frozenset({OrganizationKind.CHILD_PROTECTION_AUTHORITY.value})

# Who is the organization itself (an allow-list: every other role, a future one too, records
# the organization's written agreement to be listed): the public applicant, on the
# organization's own form, and a partner user acting for that very organization.
PARTNER_ROLE = "partner"


# The organization's state, item by item (the keys are the read models' too). Plain dicts at
# run time, so stored states load as they always did; typed, so a misspelt key is an error.
class ContactAttempt(TypedDict):
    at: datetime
    outcome: str
    note: str


class Allegation(TypedDict):
    at: datetime
    summary: str
    recordedBy: str


class Removal(TypedDict):
    at: datetime
    reason: str
    note: str
    removedBy: str


class StatusStep(TypedDict):
    at: datetime
    what: str
    status: str
    actorRole: str
    note: str


class PendingUpdate(TypedDict):
    profile: Profile
    submittedAt: datetime


class Organization(AuditedAggregate):
    # Defaults for states saved before these existed (snapshots, projection state).
    duplicate_flag_dismissed: bool = False
    duplicate_of: str | None = None

    class ApplicationSubmitted(AuditedAggregate.Created):
        class_version = 2  # v2 keeps the written agreement staff recorded for the listing

        profile: Profile
        criteria: list[str]
        public_listing: bool
        listing_agreement: str = ""  # none when the organization applied itself

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["listing_agreement"] = ""  # sent before staff recorded agreements

        def apply(self, org: Organization) -> None:
            org._log(self, Status.SUBMITTED.value)

    def __init__(self, profile: Profile, criteria: list[str], public_listing: bool) -> None:
        self.profile = profile
        self.criteria = criteria
        self.public_listing = public_listing
        self.status = Status.SUBMITTED.value  # plain text in state: snapshots stay JSON
        self.pending_update: PendingUpdate | None = None
        self.last_confirmed_at: datetime | None = None
        self.failed_contact_attempts = 0
        self.flagged_unreachable = False
        self.contact_attempts: list[ContactAttempt] = []
        self.allegations: list[Allegation] = []
        self.removal: Removal | None = None
        self.removal_requested = False
        self.history: list[StatusStep] = []

    @classmethod
    def submit_application(
        cls,
        *,
        id: UUID,
        profile: Profile,
        criteria: list[str],
        public_listing: bool,
        listing_agreement: str = "",
    ) -> Organization:
        """Staff applying on an organization's behalf list it publicly only on its written
        agreement (``listing_agreement``), kept in the event."""
        agreement = clean_text(listing_agreement, "the written agreement")
        if public_listing and not agreement and not _is_the_organization(None):
            raise WrittenAgreementRequired(_AGREEMENT_NEEDED)
        org: Organization = cls._create(
            cls.ApplicationSubmitted,
            id=id,
            profile=profile,
            criteria=criteria,
            public_listing=public_listing,
            listing_agreement=agreement,
        )
        return org

    # -- review --------------------------------------------------------------------------

    class ReviewStarted(AuditedAggregate.Event):
        def apply(self, org: Organization) -> None:
            org._step(self, Status.UNDER_REVIEW)

    def start_review(self) -> None:
        self._require("start the review", Status.SUBMITTED, Status.INFORMATION_PROVIDED)
        self.trigger_event(self.ReviewStarted)

    class MoreInformationRequested(AuditedAggregate.Event):
        questions: str

        def apply(self, org: Organization) -> None:
            org._step(self, Status.INFORMATION_REQUESTED, note=self.questions)

    def request_more_information(self, questions: str) -> None:
        self._require_under_review("request more information")
        questions = require_reason(questions, "a request for more information")
        self.trigger_event(self.MoreInformationRequested, questions=questions)

    class InformationProvided(AuditedAggregate.Event):
        answers: str
        criteria: list[str]

        def apply(self, org: Organization) -> None:
            org.criteria = self.criteria
            org._step(self, Status.INFORMATION_PROVIDED, note=self.answers)

    def provide_information(self, answers: str, criteria: list[str] | None) -> None:
        self._require("provide information", Status.INFORMATION_REQUESTED)
        answers = require_reason(answers, "the information provided")
        self.trigger_event(
            self.InformationProvided,
            answers=answers,
            criteria=self.criteria if criteria is None else criteria,
        )

    class InclusionApproved(AuditedAggregate.Event):
        note: str

        def apply(self, org: Organization) -> None:
            org.last_confirmed_at = self.timestamp
            org._step(self, Status.INCLUDED, note=self.note)

    def approve_inclusion(self, note: str) -> None:
        self._require_under_review("approve inclusion")
        if self.profile["kind"] in AGENCY_KINDS:
            raise ReportingProtocolRequired(
                "cannot approve inclusion: an agency is included on a reporting protocol "
                "established for it; name that protocol"
            )
        if self.profile["kind"] in PUBLIC_BODY_KINDS:
            raise VerificationRequired(
                "cannot approve inclusion: a child-protection authority is included by a "
                "supervisor who verified it is the statutory body (includePublicBody)"
            )
        missing = [c for c in ALL_CRITERIA if c not in self.criteria]
        if missing:
            raise CriteriaNotAttested(
                "cannot approve inclusion: the organization has not attested " + ", ".join(missing)
            )
        self.trigger_event(self.InclusionApproved, note=clean_text(note, "the note"))

    class AgencyIncluded(AuditedAggregate.Event):
        """An agency included on its request and a reporting protocol established for it."""

        note: str
        protocol_id: str

        def apply(self, org: Organization) -> None:
            org.last_confirmed_at = self.timestamp
            org._step(self, Status.INCLUDED, note=self.note)

    def include_agency(self, note: str, protocol_id: UUID, protocol_agency_id: UUID) -> None:
        """``protocol_agency_id``: the agency the named protocol belongs to."""
        self._require_under_review("include the agency")
        if self.profile["kind"] not in AGENCY_KINDS:
            raise NotAnAgency(
                "cannot include on a reporting protocol: the organization is not a "
                "law-enforcement agency"
            )
        if protocol_agency_id != self.id:
            raise ReportingProtocolRequired(
                "cannot include the agency: the reporting protocol named is not established for it"
            )
        self.trigger_event(
            self.AgencyIncluded, note=clean_text(note, "the note"), protocol_id=str(protocol_id)
        )

    class PublicBodyIncluded(AuditedAggregate.Event):
        """A public body included by a supervisor on a written verification that it is the
        statutory body it says it is (how it was verified: a source, a reference)."""

        verification: str

        def apply(self, org: Organization) -> None:
            org.last_confirmed_at = self.timestamp
            org._step(self, Status.INCLUDED, note=self.verification)

    def include_public_body(self, verification: str) -> None:
        self._require_under_review("include the public body")
        if self.profile["kind"] not in PUBLIC_BODY_KINDS:
            raise NotAPublicBody(
                "cannot include as a public body: the organization is not a child-protection "
                "authority"
            )
        if current_actor().role != "supervisor":
            raise SupervisorOnly("including a public body is for a supervisor")
        verification = require_reason(verification, "including a public body")
        self.trigger_event(self.PublicBodyIncluded, verification=verification)

    class InclusionDeclined(AuditedAggregate.Event):
        reason: str

        def apply(self, org: Organization) -> None:
            org._step(self, Status.DECLINED, note=self.reason)

    def decline_inclusion(self, reason: str) -> None:
        self._require("decline inclusion", *_DECLINABLE)
        reason = require_reason(reason, "declining inclusion")
        self.trigger_event(self.InclusionDeclined, reason=reason)

    # -- keeping the record current ------------------------------------------------------

    class ProfileUpdateSubmitted(AuditedAggregate.Event):
        profile: Profile

        def apply(self, org: Organization) -> None:
            org.pending_update = {"profile": self.profile, "submittedAt": self.timestamp}

    def submit_profile_update(self, profile: Profile) -> None:
        self._require("submit a profile update", *_ACTIVE)
        self._require_same_kind(profile)
        self.trigger_event(self.ProfileUpdateSubmitted, profile=profile)

    class ProfileUpdateAccepted(AuditedAggregate.Event):
        def apply(self, org: Organization) -> None:
            assert org.pending_update is not None
            org.profile = org.pending_update["profile"]
            org.pending_update = None
            org.last_confirmed_at = self.timestamp
            org._log(self, "PROFILE_UPDATE_ACCEPTED")

    def accept_profile_update(self) -> None:
        self._require_pending_update()
        assert self.pending_update is not None
        # An update submitted before the kind was checked is refused here too: reject it.
        self._require_same_kind(self.pending_update["profile"])
        self.trigger_event(self.ProfileUpdateAccepted)

    class ProfileUpdateRejected(AuditedAggregate.Event):
        reason: str

        def apply(self, org: Organization) -> None:
            org.pending_update = None
            org._log(self, "PROFILE_UPDATE_REJECTED", note=self.reason)

    def reject_profile_update(self, reason: str) -> None:
        self._require_pending_update()
        reason = require_reason(reason, "rejecting a profile update")
        self.trigger_event(self.ProfileUpdateRejected, reason=reason)

    class PublicListingConsentGiven(AuditedAggregate.Event):
        def apply(self, org: Organization) -> None:
            org.public_listing = True
            org._log(self, "PUBLIC_LISTING_OPTED_IN")

    class PublicListingConsentWithdrawn(AuditedAggregate.Event):
        def apply(self, org: Organization) -> None:
            org.public_listing = False
            org._log(self, "PUBLIC_LISTING_OPTED_OUT")

    class PublicListingAgreementRecorded(AuditedAggregate.Event):
        """Staff recorded the organization's written agreement to be listed publicly, or its
        written request not to be."""

        listed: bool
        agreement: str

        def apply(self, org: Organization) -> None:
            org.public_listing = self.listed
            what = "PUBLIC_LISTING_OPTED_IN" if self.listed else "PUBLIC_LISTING_OPTED_OUT"
            org._log(self, what, note=self.agreement)

    def set_public_listing(self, listed: bool, agreement: str = "") -> bool:
        """The organization itself chooses; staff and supervisors record its written
        agreement (``agreement``, required of them). Returns False when the consent already
        stands as asked: nothing to record."""
        agreement = clean_text(agreement, "the written agreement")
        on_behalf = not _is_the_organization(self.id)
        if on_behalf and not agreement:
            raise WrittenAgreementRequired(_AGREEMENT_NEEDED)
        if listed == self.public_listing:
            return False
        if on_behalf:
            self.trigger_event(
                self.PublicListingAgreementRecorded, listed=listed, agreement=agreement
            )
        else:
            event = self.PublicListingConsentGiven if listed else self.PublicListingConsentWithdrawn
            self.trigger_event(event)
        return True

    class ReviewConfirmed(AuditedAggregate.Event):
        note: str

        def apply(self, org: Organization) -> None:
            org.last_confirmed_at = self.timestamp
            org._log(self, "PERIODIC_REVIEW_CONFIRMED", note=self.note)

    def confirm_review(self, note: str) -> None:
        self._require("confirm the periodic review", Status.INCLUDED)
        self.trigger_event(self.ReviewConfirmed, note=clean_text(note, "the note"))

    class ContactAttemptRecorded(AuditedAggregate.Event):
        outcome: str
        note: str

        def apply(self, org: Organization) -> None:
            org.contact_attempts.append(
                {"at": self.timestamp, "outcome": self.outcome, "note": self.note}
            )
            if self.outcome == ContactOutcome.REACHED.value:
                org.failed_contact_attempts = 0
                org.flagged_unreachable = False
            else:
                org.failed_contact_attempts += 1

    class FlaggedUnreachable(AuditedAggregate.Event):
        failed_attempts: int

        def apply(self, org: Organization) -> None:
            org.flagged_unreachable = True

    def record_contact_attempt(
        self, outcome: ContactOutcome, note: str, unreachable_after: int
    ) -> None:
        self._require("record a contact attempt", *_ACTIVE)
        self.trigger_event(
            self.ContactAttemptRecorded, outcome=outcome.value, note=clean_text(note, "the note")
        )
        if not self.flagged_unreachable and self.failed_contact_attempts >= unreachable_after:
            self.trigger_event(
                self.FlaggedUnreachable, failed_attempts=self.failed_contact_attempts
            )

    # -- misconduct, removal, reinstatement (supervisors) --------------------------------

    class MisconductAllegationRecorded(AuditedAggregate.Event):
        summary: str

        def apply(self, org: Organization) -> None:
            org.allegations.append(
                {"at": self.timestamp, "summary": self.summary, "recordedBy": self.actor_id}
            )

    def record_misconduct_allegation(self, summary: str) -> None:
        summary = require_reason(summary, "a misconduct allegation")
        self.trigger_event(self.MisconductAllegationRecorded, summary=summary)

    class RemovalRequested(AuditedAggregate.Event):
        note: str

        def apply(self, org: Organization) -> None:
            org.removal_requested = True
            org._log(self, "REMOVAL_REQUESTED", note=self.note)

    def request_removal(self, note: str) -> None:
        self._require("request removal", Status.INCLUDED)
        self.trigger_event(self.RemovalRequested, note=clean_text(note, "the note"))

    class Removed(AuditedAggregate.Event):
        reason: str
        note: str

        def apply(self, org: Organization) -> None:
            org.removal = {
                "at": self.timestamp,
                "reason": self.reason,
                "note": self.note,
                "removedBy": self.actor_id,
            }
            # Removal details are for supervisors and compliance: the history says only that.
            org._step(self, Status.REMOVED)

    def remove(self, reason: RemovalReason, note: str) -> None:
        self._require("remove the organization", Status.INCLUDED)
        note = clean_text(note, "the note")
        if reason is RemovalReason.OTHER:
            note = require_reason(note, "a removal for another reason")
        if reason is RemovalReason.MISCONDUCT_ALLEGATION and not self.allegations:
            raise AllegationRequired(
                "cannot remove for a misconduct allegation: none is recorded; record it first"
            )
        self.trigger_event(self.Removed, reason=reason.value, note=note)

    class Reinstated(AuditedAggregate.Event):
        """Recorded before reinstatement went through review: it included the organization
        again at once, and replays so. No command records it any more."""

        reason: str

        def apply(self, org: Organization) -> None:
            org._clear_removal()
            org.last_confirmed_at = self.timestamp
            org._step(self, Status.INCLUDED)

    class ReinstatedForReview(AuditedAggregate.Event):
        """The removal lifted: the organization is under review again, and a new inclusion
        decision returns it to the directory."""

        reason: str

        def apply(self, org: Organization) -> None:
            org._clear_removal()
            org._step(self, Status.UNDER_REVIEW)

    def reinstate(self, reason: str) -> None:
        self._require("reinstate the organization", Status.REMOVED)
        reason = require_reason(reason, "a reinstatement")
        self.trigger_event(self.ReinstatedForReview, reason=reason)

    def _clear_removal(self) -> None:
        self.removal = None
        self.removal_requested = False
        self.failed_contact_attempts = 0
        self.flagged_unreachable = False

    # -- possible duplicates (the read model flags them; staff decide) -------------------
    # Nothing of this enters the history: a partner reads its own, and must not learn from
    # it that a similar organization exists.

    class PossibleDuplicateDismissed(AuditedAggregate.Event):
        note: str

        def apply(self, org: Organization) -> None:
            org.duplicate_flag_dismissed = True

    def dismiss_possible_duplicate(self, note: str) -> None:
        self._require("dismiss a possible duplicate", *_PENDING)
        note = require_reason(note, "dismissing a possible duplicate")
        self.trigger_event(self.PossibleDuplicateDismissed, note=note)

    class DeclinedAsDuplicate(AuditedAggregate.Event):
        duplicate_of: str
        note: str

        def apply(self, org: Organization) -> None:
            org.duplicate_of = self.duplicate_of
            # In the history a partner reads, an ordinary decline: the same step, from the
            # same states, with a reason; that it duplicates another is the hotline's to read.
            org._step(self, Status.DECLINED, note=DECLINED_NOTE)

    def decline_as_duplicate(self, duplicate_of: UUID, note: str) -> None:
        """``duplicate_of``: an existing organization (the caller checked it exists)."""
        self._require("decline as a duplicate", *_DECLINABLE)
        if duplicate_of == self.id:
            raise NotADuplicate("an application cannot be a duplicate of itself")
        self.trigger_event(
            self.DeclinedAsDuplicate,
            duplicate_of=str(duplicate_of),
            note=clean_text(note, "the note"),
        )

    # -- helpers -------------------------------------------------------------------------

    @property
    def state(self) -> Status:
        return Status(self.status)

    def _require(self, action: str, *allowed: Status) -> None:
        if self.state not in allowed:
            raise IllegalTransition(action, self.state, allowed)

    def _require_under_review(self, action: str) -> None:
        if self.state is not Status.UNDER_REVIEW:
            raise NotUnderReview(action, self.state, (Status.UNDER_REVIEW,))

    def _require_pending_update(self) -> None:
        if self.pending_update is None:
            raise NoPendingProfileUpdate("there is no pending profile update to decide on")

    def _require_same_kind(self, profile: Profile) -> None:
        if profile["kind"] != self.profile["kind"]:
            raise KindChangeNotAllowed(
                "a profile update cannot change the kind of organization: an organization of "
                "another kind applies anew, and is reviewed on that kind's own path"
            )

    def _step(self, event: AuditedAggregate.Event, status: Status, note: str = "") -> None:
        self.status = status.value
        self._log(event, status.value, note)

    def _log(self, event: AuditedAggregate.Event, what: str, note: str = "") -> None:
        self.history.append(
            {
                "at": event.timestamp,
                "what": what,
                "status": self.status,
                "actorRole": event.actor_role,
                "note": note,
            }
        )


def _is_the_organization(org_id: UUID | None) -> bool:
    """Whether the caller is the organization itself: its own application form (``org_id``
    None, the public applicant) or a partner user of organization ``org_id``."""
    actor = current_actor()
    if org_id is None:
        return actor.role == ANONYMOUS_ROLE
    return actor.role == PARTNER_ROLE and actor.organization_id == str(org_id)


_AGREEMENT_NEEDED = (
    "only the organization itself opts in to or out of the public listing; on its behalf, "
    "record its written agreement (a reference and a note)"
)

# The reason a partner reads for an application declined as a duplicate.
DECLINED_NOTE = "The application was declined after review; the hotline can say why."

# Where a review can decline an application (as a duplicate too, so that one reads like the
# other in the organization's history).
_DECLINABLE = (Status.UNDER_REVIEW, Status.INFORMATION_REQUESTED)

# An application not decided yet.
_PENDING = (
    Status.SUBMITTED,
    Status.UNDER_REVIEW,
    Status.INFORMATION_REQUESTED,
    Status.INFORMATION_PROVIDED,
)

_ACTIVE = (
    Status.SUBMITTED,
    Status.UNDER_REVIEW,
    Status.INFORMATION_REQUESTED,
    Status.INFORMATION_PROVIDED,
    Status.INCLUDED,
)
