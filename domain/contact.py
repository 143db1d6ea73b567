"""A contact with the hotline: one call, text, chat, email or web form, with or without a case.

A contact holds no caller personal data and no free text: how the caller reached the hotline,
which way, when and for how long, in which language, and what came of it. Anything said belongs
on the case, whose free text is sealed with the case's key. A contact may be attached to a case
when it is recorded or later, once. Calling a caller back (an outbound contact on a case) needs
the case's active follow-up consent: the hotline does not reach out to someone who did not ask
for it, since the phone may be in someone else's hands.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from domain.base import AuditedAggregate, DomainError, InvalidInput
from domain.case import Case, Channel, ConsentScope
from domain.vocabulary import PROVINCES, is_language_code

# A contact lasts at most a day; it starts no later than this after the server's clock (the
# recording device's clock may run a little ahead).
MAX_DURATION_SECONDS = 24 * 60 * 60
CLOCK_SKEW = timedelta(minutes=5)


class Direction(StrEnum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


class Disposition(StrEnum):
    """What came of a contact."""

    INFORMATION_ONLY = "INFORMATION_ONLY"
    REFERRAL_GIVEN = "REFERRAL_GIVEN"
    CASE_OPENED = "CASE_OPENED"
    CASE_UPDATED = "CASE_UPDATED"
    TRANSFERRED = "TRANSFERRED"
    DISCONNECTED = "DISCONNECTED"
    HANG_UP = "HANG_UP"
    TEST_OR_PRANK = "TEST_OR_PRANK"


class ContactAlreadyAttached(DomainError):
    code = "CONTACT_ALREADY_ATTACHED"


class FollowUpConsentRequired(DomainError):
    code = "FOLLOW_UP_CONSENT_REQUIRED"


def parse_contact(
    duration_seconds: int,
    started_at: datetime,
    language: str | None,
    province: str | None,
    now: datetime,
) -> str | None:
    """Checks a contact's facts, every problem at once; returns the language, normalized."""
    problems = []
    if not 0 <= duration_seconds <= MAX_DURATION_SECONDS:
        problems.append(f"durationSeconds: between 0 and {MAX_DURATION_SECONDS}")
    if started_at.tzinfo is None:
        problems.append("startedAt: an instant with its offset (ISO 8601)")
    elif started_at > now + CLOCK_SKEW:
        problems.append("startedAt: in the future")
    if language is not None:
        language = language.strip().lower()
        if not is_language_code(language):
            problems.append("language: not an ISO 639-1 or 639-3 code")
    if province is not None and province not in PROVINCES:
        problems.append(f"province: expected one of {', '.join(PROVINCES)}")
    if problems:
        raise InvalidInput(problems)
    return language


def _require_follow_up_consent(case: Case | None, now: datetime) -> None:
    if case is None:
        raise FollowUpConsentRequired(
            "an outbound contact calls a caller back: record it on the caller's case, which "
            "needs their follow-up consent"
        )
    if case.active_consent(ConsentScope.FOLLOW_UP_CONTACT, None, now) is None:
        raise FollowUpConsentRequired(
            "calling the caller back needs their active follow-up consent (FOLLOW_UP_CONTACT) "
            "on the case"
        )


class Contact(AuditedAggregate):
    class Recorded(AuditedAggregate.Created):
        channel: str
        direction: str
        started_at: datetime
        duration_seconds: int
        language: str | None
        disposition: str
        province: str | None
        case_id: str | None

    def __init__(
        self,
        channel: str,
        direction: str,
        started_at: datetime,
        duration_seconds: int,
        language: str | None,
        disposition: str,
        province: str | None,
        case_id: str | None,
    ) -> None:
        self.channel = channel
        self.direction = direction
        self.started_at = started_at
        self.duration_seconds = duration_seconds
        self.language = language
        self.disposition = disposition
        self.province = province
        self.case_id = case_id
        self.attached_at: datetime | None = None

    @classmethod
    def record(
        cls,
        id: UUID,
        channel: Channel,
        direction: Direction,
        started_at: datetime,
        duration_seconds: int,
        language: str | None,
        disposition: Disposition,
        province: str | None,
        case: Case | None,
        now: datetime,
    ) -> Contact:
        """A contact as it happened; an outbound one only to a caller who consented to it."""
        language = parse_contact(duration_seconds, started_at, language, province, now)
        if direction is Direction.OUTBOUND:
            _require_follow_up_consent(case, now)
        contact: Contact = cls._create(
            cls.Recorded,
            id=id,
            channel=channel.value,
            direction=direction.value,
            started_at=started_at,
            duration_seconds=duration_seconds,
            language=language,
            disposition=disposition.value,
            province=province,
            case_id=None if case is None else str(case.id),
        )
        return contact

    class AttachedToCase(AuditedAggregate.Event):
        case_id: str

        def apply(self, contact: Contact) -> None:
            contact.case_id = self.case_id
            contact.attached_at = self.timestamp

    def attach_to(self, case: Case) -> None:
        """Attaches a contact recorded without a case to one, once."""
        if self.case_id is not None:
            raise ContactAlreadyAttached(
                "this contact is already attached to a case; a contact belongs to one case"
            )
        self.trigger_event(self.AttachedToCase, case_id=str(case.id))
