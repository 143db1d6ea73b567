"""An organization in the National Referral Directory and its inclusion lifecycle.

application submitted -> under review -> (more information requested -> information provided
-> under review) -> included | declined; included -> removed -> reinstated (included).
Inclusion is not endorsement: it records what the organization attested, and the review.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict
from uuid import UUID

from domain.base import AuditedAggregate, DomainError, clean_text, require_reason
from domain.vocabulary import Criterion, OrganizationKind


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


ALL_CRITERIA = tuple(c.value for c in Criterion)
# A child-protection authority is a public body that receives mandatory reports under its
# statutory mandate: the service providers' criteria are not its to attest.
_NO_CRITERIA = frozenset({OrganizationKind.CHILD_PROTECTION_AUTHORITY.value})


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


class Organization(AuditedAggregate):
    class ApplicationSubmitted(AuditedAggregate.Created):
        profile: dict[str, Any]
        criteria: list[str]
        public_listing: bool

        def apply(self, org: Organization) -> None:
            org._log(self, Status.SUBMITTED.value)

    def __init__(self, profile: dict[str, Any], criteria: list[str], public_listing: bool) -> None:
        self.profile = profile
        self.criteria = criteria
        self.public_listing = public_listing
        self.status = Status.SUBMITTED.value  # plain text in state: snapshots stay JSON
        self.pending_update: dict[str, Any] | None = None
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
        profile: dict[str, Any],
        criteria: list[str],
        public_listing: bool,
    ) -> Organization:
        org: Organization = cls._create(
            cls.ApplicationSubmitted,
            id=id,
            profile=profile,
            criteria=criteria,
            public_listing=public_listing,
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
        required = () if self.profile.get("kind") in _NO_CRITERIA else ALL_CRITERIA
        missing = [c for c in required if c not in self.criteria]
        if missing:
            raise CriteriaNotAttested(
                "cannot approve inclusion: the organization has not attested " + ", ".join(missing)
            )
        self.trigger_event(self.InclusionApproved, note=clean_text(note, "the note"))

    class InclusionDeclined(AuditedAggregate.Event):
        reason: str

        def apply(self, org: Organization) -> None:
            org._step(self, Status.DECLINED, note=self.reason)

    def decline_inclusion(self, reason: str) -> None:
        self._require("decline inclusion", Status.UNDER_REVIEW, Status.INFORMATION_REQUESTED)
        reason = require_reason(reason, "declining inclusion")
        self.trigger_event(self.InclusionDeclined, reason=reason)

    # -- keeping the record current ------------------------------------------------------

    class ProfileUpdateSubmitted(AuditedAggregate.Event):
        profile: dict[str, Any]

        def apply(self, org: Organization) -> None:
            org.pending_update = {"profile": self.profile, "submittedAt": self.timestamp}

    def submit_profile_update(self, profile: dict[str, Any]) -> None:
        self._require("submit a profile update", *_ACTIVE)
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

    def set_public_listing(self, listed: bool) -> bool:
        """Returns False when the consent already stands as asked: nothing to record."""
        if listed == self.public_listing:
            return False
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
        reason: str

        def apply(self, org: Organization) -> None:
            org.removal = None
            org.removal_requested = False
            org.failed_contact_attempts = 0
            org.flagged_unreachable = False
            org.last_confirmed_at = self.timestamp
            org._step(self, Status.INCLUDED)

    def reinstate(self, reason: str) -> None:
        self._require("reinstate the organization", Status.REMOVED)
        reason = require_reason(reason, "a reinstatement")
        self.trigger_event(self.Reinstated, reason=reason)

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


_ACTIVE = (
    Status.SUBMITTED,
    Status.UNDER_REVIEW,
    Status.INFORMATION_REQUESTED,
    Status.INFORMATION_PROVIDED,
    Status.INCLUDED,
)
