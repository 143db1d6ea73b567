"""Work queues in the domain: given a record's past events, the items its sources find; and a
work item: given its events, when assigned or completed, then new events or a named refusal."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from domain.base import InvalidInput, acting_as
from domain.case import Case, ConsentScope
from domain.organization import ContactOutcome, Organization
from domain.queues import (
    CASE_SOURCES,
    HOTLINE,
    ORGANIZATION_SOURCES,
    PROTOCOL_SOURCES,
    QUEUES,
    Delays,
    Item,
    QueueName,
    items_of,
)
from domain.reporting_protocol import ReportingProtocol
from domain.work import WorkItem, WorkItemCompleted, item_id
from tests.helpers import LONG_AGO, STAFF, happened, refused, replayed
from tests.unit.test_case import (
    CASE_ID,
    HARBOUR_POLICE,
    HARBOUR_PROTOCOL,
    HARBOUR_SHELTER,
    REFERRAL,
    REPORT,
    closed,
    consented,
    disclosed_to_shelter,
    opened,
    referred_to_shelter,
    withdrawn,
)
from tests.unit.test_organization import (
    included as organization_included,
)
from tests.unit.test_organization import (
    information_provided,
    information_requested,
    submitted,
    under_review,
)

ITEM_SUBJECT = "00000000-0000-4000-8000-00000000f001"


def day(n: int) -> object:
    """The moment of the n-th past event (``replayed`` puts them one day apart)."""
    return LONG_AGO + timedelta(days=n)


def case_items(*facts: object) -> list[Item]:
    case = replayed(Case, CASE_ID, *facts)  # type: ignore[arg-type]
    return items_of(CASE_SOURCES, case, str(CASE_ID))


def queues(items: list[Item]) -> list[tuple[str, str, str]]:
    return sorted((i.queue.value, i.subject_id, i.owner) for i in items)


# -- cases ---------------------------------------------------------------------------------


def test_a_follow_up_consent_puts_the_case_in_the_follow_ups_since_it_was_given() -> None:
    items = case_items(opened(), consented(ConsentScope.FOLLOW_UP_CONTACT))

    assert queues(items) == [("FOLLOW_UPS", str(CASE_ID), HOTLINE)]
    assert items[0].since == day(2)


def test_a_withdrawn_follow_up_consent_or_a_closed_case_needs_no_follow_up() -> None:
    assert case_items(opened(), consented(ConsentScope.FOLLOW_UP_CONTACT), withdrawn()) == []
    assert case_items(opened(), consented(ConsentScope.FOLLOW_UP_CONTACT), closed()) == []


def test_a_referral_sent_to_a_partner_waits_for_its_outcome_at_the_hotline_and_the_partner() -> (
    None
):
    items = case_items(
        opened(),
        consented(ConsentScope.SHARE_WITH_ORGANIZATION, HARBOUR_SHELTER),
        disclosed_to_shelter(),
        referred_to_shelter(),
    )

    assert queues(items) == [
        ("REFERRALS_TO_ANSWER", str(REFERRAL), str(HARBOUR_SHELTER)),
        ("REFERRALS_WITHOUT_OUTCOME", str(REFERRAL), HOTLINE),
    ]


def test_a_referral_relayed_to_the_caller_is_not_in_the_partners_queue() -> None:
    relayed = happened(
        Case.ReferralMade,
        referral_id=str(REFERRAL),
        organization_id=str(HARBOUR_SHELTER),
        mode="PHONE",
        needs=["SHELTER"],
        disclosure_id=None,
    )

    assert queues(case_items(opened(), relayed)) == [
        ("REFERRALS_WITHOUT_OUTCOME", str(REFERRAL), HOTLINE)
    ]


def test_a_referral_with_an_outcome_leaves_both_queues_by_itself() -> None:
    outcome = happened(
        Case.ReferralOutcomeReported, referral_id=str(REFERRAL), outcome="ACCEPTED", note=""
    )

    assert (
        case_items(
            opened(),
            consented(ConsentScope.SHARE_WITH_ORGANIZATION, HARBOUR_SHELTER),
            disclosed_to_shelter(),
            referred_to_shelter(),
            outcome,
        )
        == []
    )


def answered(answer: str, reason: str | None = None) -> object:
    return happened(
        Case.ReferralAnswered, referral_id=str(REFERRAL), answer=answer, reason=reason, note=""
    )


def sent_to_shelter() -> list[object]:
    return [
        opened(),
        consented(ConsentScope.SHARE_WITH_ORGANIZATION, HARBOUR_SHELTER),
        disclosed_to_shelter(),
        referred_to_shelter(),
    ]


def test_an_accepted_referral_leaves_the_partners_queue_and_waits_for_its_outcome() -> None:
    assert queues(case_items(*sent_to_shelter(), answered("ACCEPTED"))) == [
        ("REFERRALS_WITHOUT_OUTCOME", str(REFERRAL), HOTLINE)
    ]


def test_a_declined_referral_asks_the_hotline_for_another_organization() -> None:
    items = case_items(*sent_to_shelter(), answered("DECLINED", "NO_CAPACITY"))

    assert queues(items) == [("REFERRALS_DECLINED", str(REFERRAL), HOTLINE)]
    assert items[0].since == day(5)
    # Another referral since, or a closed case, settles it.
    again = happened(
        Case.ReferralMade,
        referral_id=str(UUID(int=11)),
        organization_id=str(HARBOUR_POLICE),
        mode="PHONE",
        needs=["SHELTER"],
        disclosure_id=None,
    )
    declined = answered("DECLINED", "NO_CAPACITY")
    assert "REFERRALS_DECLINED" not in [
        i.queue.value for i in case_items(*sent_to_shelter(), declined, again)
    ]
    assert case_items(*sent_to_shelter(), declined, closed()) == []


def test_a_report_waits_for_its_agencys_acknowledgement() -> None:
    report = happened(
        Case.ReportedToLawEnforcement,
        report_id=str(REPORT),
        agency_id=str(HARBOUR_POLICE),
        protocol_id=str(HARBOUR_PROTOCOL),
        factors={},
        facts=None,
        jurisdiction_override="",
        disclosure_id=str(UUID(int=9)),
    )

    assert queues(case_items(opened(), report)) == [
        ("REPORTS_TO_ACKNOWLEDGE", str(REPORT), str(HARBOUR_POLICE))
    ]
    acknowledged = happened(
        Case.ReportAcknowledged, report_id=str(REPORT), contact_name="", file_number=""
    )
    assert case_items(opened(), report, acknowledged) == []


# -- organizations -------------------------------------------------------------------------


def org_items(*facts: object) -> list[Item]:
    org = replayed(Organization, HARBOUR_SHELTER, *facts)  # type: ignore[arg-type]
    return items_of(ORGANIZATION_SOURCES, org, str(HARBOUR_SHELTER))


def test_an_application_and_an_answer_to_a_request_wait_for_a_review() -> None:
    shelter = str(HARBOUR_SHELTER)
    assert queues(org_items(submitted())) == [("APPLICATIONS_TO_REVIEW", shelter, HOTLINE)]
    assert queues(org_items(*information_provided())) == [
        ("APPLICATIONS_TO_REVIEW", shelter, HOTLINE)
    ]
    assert org_items(*under_review()) == []


def test_a_request_for_information_is_the_partners_to_answer_and_the_hotlines_to_chase() -> None:
    items = org_items(*information_requested())

    shelter = str(HARBOUR_SHELTER)
    assert queues(items) == [
        ("INFORMATION_REQUESTED", shelter, shelter),
        ("INFORMATION_REQUESTS_UNANSWERED", shelter, HOTLINE),
    ]
    assert {i.since for i in items} == {day(3)}


def test_an_included_organization_is_due_for_review_from_its_last_confirmation() -> None:
    items = org_items(*organization_included())

    assert queues(items) == [("REVIEWS_DUE", str(HARBOUR_SHELTER), HOTLINE)]
    assert items[0].since == day(3)


def test_an_organization_flagged_unreachable_is_in_the_unreachable_queue() -> None:
    failed = happened(Organization.ContactAttemptRecorded, outcome="NO_ANSWER", note="")
    flagged = happened(Organization.FlaggedUnreachable, failed_attempts=3)
    items = org_items(*organization_included(), failed, failed, failed, flagged)

    assert "UNREACHABLE_ORGANIZATIONS" in [i.queue.value for i in items]
    reached = happened(
        Organization.ContactAttemptRecorded, outcome=ContactOutcome.REACHED.value, note=""
    )
    assert "UNREACHABLE_ORGANIZATIONS" not in [
        i.queue.value
        for i in org_items(*organization_included(), failed, failed, failed, flagged, reached)
    ]


# -- reporting protocols -------------------------------------------------------------------


def test_a_protocol_is_due_for_revision_from_its_latest_revision() -> None:
    established = happened(
        ReportingProtocol.Established,
        originator_topic=get_topic(ReportingProtocol),
        agency_id=HARBOUR_POLICE,
        jurisdiction={"province": "CA-ON"},
        contacts=[{"name": "Fictional Desk", "phone": "+1 555 010 0000"}],
    )
    revised = happened(
        ReportingProtocol.ContactsRevised,
        contacts=[{"name": "Fictional Desk 2", "phone": "+1 555 010 0001"}],
        note="",
    )
    protocol = replayed(ReportingProtocol, HARBOUR_PROTOCOL, established, revised)

    items = items_of(PROTOCOL_SOURCES, protocol, str(HARBOUR_PROTOCOL))

    assert [(i.queue, i.owner, i.since) for i in items] == [
        (QueueName.PROTOCOLS_TO_REVISE, str(HARBOUR_POLICE), day(2))
    ]


def test_each_queue_is_due_after_its_own_setting() -> None:
    delays = Delays(follow_up_days=2, referral_outcome_days=3, protocol_revision_days=4)

    assert QUEUES[QueueName.FOLLOW_UPS].days(delays) == 2
    assert QUEUES[QueueName.REFERRALS_TO_ANSWER].days(delays) == 3
    assert QUEUES[QueueName.PROTOCOLS_TO_REVISE].days(delays) == 4
    assert QUEUES[QueueName.APPLICATIONS_TO_REVIEW].days(delays) == 0


# -- a work item ---------------------------------------------------------------------------

ANCHOR = "2021-01-02T00:00:00.000000Z"


def opened_item() -> WorkItem:
    return replayed(
        WorkItem,
        item_id("FOLLOW_UPS", ITEM_SUBJECT, ANCHOR),
        happened(
            WorkItem.Opened,
            originator_topic=get_topic(WorkItem),
            queue="FOLLOW_UPS",
            subject_id=ITEM_SUBJECT,
            anchor=ANCHOR,
            owner=HOTLINE,
        ),
    )


def test_the_first_assignment_opens_the_items_record_at_its_computed_id() -> None:
    with acting_as(STAFF):
        item = WorkItem.open("FOLLOW_UPS", ITEM_SUBJECT, ANCHOR, HOTLINE)
        item.assign("fictional-staff-2")

    events = list(item.collect_events())
    assert [type(e) for e in events] == [WorkItem.Opened, WorkItem.Assigned]
    assert item.id == item_id("FOLLOW_UPS", ITEM_SUBJECT, ANCHOR)
    assert item.assigned_to == "fictional-staff-2"
    assert events[1].actor_id == STAFF.user_id  # type: ignore[attr-defined]


def test_the_next_occurrence_of_a_cause_is_another_item() -> None:
    assert item_id("REVIEWS_DUE", ITEM_SUBJECT, ANCHOR) != item_id(
        "REVIEWS_DUE", ITEM_SUBJECT, "2022-01-02T00:00:00.000000Z"
    )
    assert item_id("REVIEWS_DUE", ITEM_SUBJECT, ANCHOR) != item_id(
        "FOLLOW_UPS", ITEM_SUBJECT, ANCHOR
    )


def test_a_completed_item_takes_no_more_assignment_or_completion() -> None:
    item = opened_item()
    with acting_as(STAFF):
        item.complete()
        assert [type(e) for e in item.collect_events()] == [WorkItem.Completed]
        refused(item, WorkItemCompleted, lambda: item.assign("fictional-staff-2"))
        refused(item, WorkItemCompleted, item.complete)


@pytest.mark.parametrize("assignee", ["", "   "])
def test_an_assignment_names_someone(assignee: str) -> None:
    item = opened_item()
    with acting_as(STAFF):
        refused(item, InvalidInput, lambda: item.assign(assignee))


def test_a_case_flagged_for_a_mandatory_report_waits_for_a_supervisors_decision() -> None:
    flagged = happened(Case.MandatoryReportFlagged)
    decided = happened(
        Case.MandatoryReportDecided,
        decision="NO_REPORT_REQUIRED",
        report_id=None,
        justification="Fictional: the caller is an adult, confirmed.",
    )

    items = case_items(opened(), flagged)
    assert queues(items) == [("MANDATORY_REPORT_DECISIONS", str(CASE_ID), HOTLINE)]
    assert items[0].since == day(2)
    assert case_items(opened(), flagged, decided) == []


def test_a_request_for_a_supervisor_waits_until_a_decision_answers_it() -> None:
    asked = happened(
        Case.SupervisorRequested, supervisor_request_id=str(UUID(int=21)), question="Report?"
    )
    asked_again = happened(
        Case.SupervisorRequested, supervisor_request_id=str(UUID(int=22)), question="And now?"
    )

    items = case_items(opened(), asked, asked_again)
    assert queues(items) == [("SUPERVISOR_REQUESTS", str(CASE_ID), HOTLINE)]
    assert items[0].since == day(2)  # the oldest request still open
    answered = happened(
        Case.SupervisorConsulted,
        decision="Refer with consent (fictional)",
        next_steps="Offer the legal clinic (fictional)",
        answers=[str(UUID(int=21)), str(UUID(int=22))],
    )
    assert case_items(opened(), asked, asked_again, answered) == []
