"""A contact with the hotline: given past events, when a command, then new events or a refusal.

Every refusal leaves no new event behind; bad input names every problem at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from domain.base import InvalidInput, acting_as
from domain.case import Case, Channel, ConsentScope
from domain.contact import (
    MAX_DURATION_SECONDS,
    Contact,
    ContactAlreadyAttached,
    Direction,
    Disposition,
    FollowUpConsentRequired,
)
from tests.helpers import STAFF, Fact, happened, refused, replayed
from tests.unit.test_case import CASE_ID, CONSENT, consented, opened, withdrawn

CONTACT_ID = UUID("00000000-0000-4000-8000-00000000c0a1")
OTHER_CASE = UUID("00000000-0000-4000-8000-00000000c002")
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
STARTED = NOW - timedelta(minutes=20)


def a_case(*facts: Fact, case_id: UUID = CASE_ID) -> Case:
    return replayed(Case, case_id, opened(), *facts)


def recorded(case_id: UUID | None = None) -> Fact:
    return happened(
        Contact.Recorded,
        originator_topic=get_topic(Contact),
        channel="CALL",
        direction="INBOUND",
        started_at=STARTED,
        duration_seconds=12,
        language=None,
        disposition="HANG_UP",
        province=None,
        case_id=None if case_id is None else str(case_id),
    )


def record(**changes: Any) -> Contact:
    arguments: dict[str, Any] = {
        "id": CONTACT_ID,
        "channel": Channel.CALL,
        "direction": Direction.INBOUND,
        "started_at": STARTED,
        "duration_seconds": 300,
        "language": "fr",
        "disposition": Disposition.INFORMATION_ONLY,
        "province": "CA-QC",
        "case": None,
        "now": NOW,
    }
    with acting_as(STAFF):
        return Contact.record(**{**arguments, **changes})


def test_a_hang_up_with_no_case_is_recorded_with_what_little_is_known() -> None:
    contact = record(
        disposition=Disposition.HANG_UP, duration_seconds=0, language=None, province=None
    )

    [event] = contact.collect_events()
    assert isinstance(event, Contact.Recorded)
    assert (event.disposition, event.duration_seconds, event.language, event.case_id) == (
        "HANG_UP",
        0,
        None,
        None,
    )
    assert event.actor_id == STAFF.user_id


def test_a_contact_on_a_case_names_the_case() -> None:
    contact = record(case=a_case(), disposition=Disposition.CASE_UPDATED)

    assert contact.case_id == str(CASE_ID)


def test_a_language_is_kept_as_its_iso_code() -> None:
    assert record(language=" CRE ").language == "cre"


def test_bad_facts_are_refused_all_at_once() -> None:
    with acting_as(STAFF), pytest.raises(InvalidInput) as raised:
        record(
            duration_seconds=-1,
            started_at=NOW + timedelta(hours=1),
            language="klingon",
            province="CA-XX",
        )
    assert [p.split(":")[0] for p in raised.value.problems] == [
        "durationSeconds",
        "startedAt",
        "language",
        "province",
    ]


@pytest.mark.parametrize("seconds", [-1, MAX_DURATION_SECONDS + 1])
def test_a_duration_is_bounded(seconds: int) -> None:
    with pytest.raises(InvalidInput, match="durationSeconds"):
        record(duration_seconds=seconds)


def test_a_start_a_moment_ahead_of_the_clock_is_accepted_but_not_further() -> None:
    assert record(started_at=NOW + timedelta(minutes=4)).started_at > NOW
    with pytest.raises(InvalidInput, match="startedAt"):
        record(started_at=NOW + timedelta(minutes=6))


def test_a_start_without_an_offset_is_refused() -> None:
    with pytest.raises(InvalidInput, match="startedAt"):
        record(started_at=datetime(2024, 6, 1, 11, 0))  # no offset: the point


def test_a_callback_without_a_case_is_refused() -> None:
    with pytest.raises(FollowUpConsentRequired):
        record(direction=Direction.OUTBOUND)


def test_a_callback_without_follow_up_consent_is_refused() -> None:
    case = a_case(consented(ConsentScope.NON_IDENTIFYING_STATISTICS))

    with pytest.raises(FollowUpConsentRequired):
        record(direction=Direction.OUTBOUND, case=case)


def test_a_callback_after_the_follow_up_consent_was_withdrawn_is_refused() -> None:
    case = a_case(consented(ConsentScope.FOLLOW_UP_CONTACT), withdrawn(CONSENT))

    with pytest.raises(FollowUpConsentRequired):
        record(direction=Direction.OUTBOUND, case=case)


def test_a_callback_after_the_follow_up_consent_expired_is_refused() -> None:
    case = a_case(consented(ConsentScope.FOLLOW_UP_CONTACT, expires_at=NOW - timedelta(days=1)))

    with pytest.raises(FollowUpConsentRequired):
        record(direction=Direction.OUTBOUND, case=case)


def test_a_callback_with_follow_up_consent_is_recorded() -> None:
    case = a_case(consented(ConsentScope.FOLLOW_UP_CONTACT))

    contact = record(direction=Direction.OUTBOUND, case=case, disposition=Disposition.CASE_UPDATED)

    assert (contact.direction, contact.case_id) == ("OUTBOUND", str(CASE_ID))


def test_a_contact_without_a_case_is_attached_to_one_later() -> None:
    contact = replayed(Contact, CONTACT_ID, recorded())

    with acting_as(STAFF):
        contact.attach_to(a_case())

    [event] = contact.collect_events()
    assert isinstance(event, Contact.AttachedToCase)
    assert (event.case_id, contact.case_id) == (str(CASE_ID), str(CASE_ID))
    assert contact.attached_at is not None


def test_a_contact_is_attached_to_one_case_only() -> None:
    contact = replayed(Contact, CONTACT_ID, recorded(CASE_ID))

    with acting_as(STAFF):
        refused(
            contact,
            ContactAlreadyAttached,
            lambda: contact.attach_to(a_case(case_id=OTHER_CASE)),
        )


def test_a_contact_attached_later_cannot_be_attached_again() -> None:
    contact = replayed(
        Contact, CONTACT_ID, recorded(), happened(Contact.AttachedToCase, case_id=str(CASE_ID))
    )

    with acting_as(STAFF):
        refused(contact, ContactAlreadyAttached, lambda: contact.attach_to(a_case()))
