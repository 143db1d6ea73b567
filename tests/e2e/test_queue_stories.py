"""Work queues told through GraphQL, role by role: what needs doing, by when, and what leaves a
queue (completion, or its cause going away by itself)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from api.config import Settings
from api.demo import load_demo, load_demo_cases, load_demo_work
from api.wiring import System
from domain.base import Actor, acting_as
from tests.conftest import a_system
from tests.e2e.conftest import Caller, seed, supervisor_decides
from tests.e2e.test_answer_back_stories import ACKNOWLEDGE, ANSWER
from tests.e2e.test_case_stories import CONSENT, REFER, open_case
from tests.e2e.test_contact_stories import RECORD, contact, minutes_ago
from tests.e2e.test_directory_rules_stories import applied
from tests.e2e.test_directory_stories import application, command
from tests.e2e.test_mandatory_report_stories import NO_REPORT, open_minors_case
from tests.e2e.test_supervisor_stories import ASK, DECIDE

QUEUE = """query($queue: WorkQueueName!, $after: String) {
  workQueue(queue: $queue, first: 5, after: $after) {
    items { id queue kind subjectId caseId organizationId since dueAt overdue assignedTo }
    pageInfo { hasNextPage endCursor } } }"""
OUTSIDE_QUEUE = """query($queue: WorkQueueName!) {
  workQueue(queue: $queue, first: 5) {
    items { id queue kind subjectId organizationId since dueAt overdue assignedTo } } }"""
COUNTS = "{ workQueues { queue count overdue } }"
ASSIGN = """mutation($key: String!, $queue: WorkQueueName!, $id: ID!, $to: String!) {
  assignWorkItem(idempotencyKey: $key, queue: $queue, id: $id, assignee: $to) {
    itemId replayed item { assignedTo } } }"""
COMPLETE = """mutation($key: String!, $queue: WorkQueueName!, $id: ID!) {
  completeWorkItem(idempotencyKey: $key, queue: $queue, id: $id) {
    itemId replayed item { id } } }"""
OUTCOME = """mutation($key: String!, $id: ID!) {
  reportReferralOutcome(idempotencyKey: $key, referralId: $id, outcome: ACCEPTED) {
    referralId } }"""
ACCESS = """query($user: String!) { accessLog(userId: $user) {
  items { recordType recordId caseId fields } } }"""
DUE_AT_ONCE = {
    "follow_up_days": 0,
    "referral_outcome_days": 0,
    "information_answer_days": 0,
    "protocol_revision_days": 0,
}


# A hotline whose queues are due the moment their cause arises (every delay set to 0).
due_at_once = pytest.mark.parametrize("changes", [DUE_AT_ONCE], ids=["due-at-once"])


@pytest.fixture
def changes() -> dict[str, int]:
    return {}


@pytest.fixture
def system(settings: Settings, changes: dict[str, int]) -> Iterator[System]:
    with a_system(settings, **changes) as built:
        yield built


def items(caller: Caller, queue: str, query: str = QUEUE) -> list[dict[str, Any]]:
    body = caller.gql(query, {"queue": queue})
    assert "errors" not in body, body
    return list(body["data"]["workQueue"]["items"])


def counts(caller: Caller) -> dict[str, tuple[int, int]]:
    body = caller.gql(COUNTS)
    assert "errors" not in body, body
    return {q["queue"]: (q["count"], q["overdue"]) for q in body["data"]["workQueues"]}


def referred_case(system: System, staff: Caller, shelter: UUID, key: str) -> tuple[str, str]:
    """A case whose caller agreed to a follow-up and to a referral to ``shelter``, referred."""
    case = open_case(staff, f"{key}-open")
    supervisor_decides(system, case)  # a potential trafficking case: the decision comes first
    for scope, to in (("FOLLOW_UP_CONTACT", None), ("SHARE_WITH_ORGANIZATION", str(shelter))):
        staff.gql(CONSENT, {"key": f"{key}-{scope}", "id": case, "scope": scope, "to": to})
    referred = staff.gql(
        REFER, {"key": f"{key}-refer", "id": case, "org": str(shelter), "fields": ["BRIEF"]}
    )
    return case, referred["data"]["referCase"]["case"]["referrals"][0]["id"]


@due_at_once
def test_staff_take_up_a_follow_up_and_complete_it_and_it_leaves_the_queue(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    shelter = seed(system, "Example Queue Shelter")
    case, referral = referred_case(system, staff, shelter, "queue-staff")

    assert {
        q: n
        for q, n in counts(staff).items()
        if q in ("FOLLOW_UPS", "REFERRALS_WITHOUT_OUTCOME", "REFERRALS_TO_ANSWER")
    } == {"FOLLOW_UPS": (1, 1), "REFERRALS_WITHOUT_OUTCOME": (1, 1), "REFERRALS_TO_ANSWER": (1, 1)}
    [follow_up] = items(staff, "FOLLOW_UPS")
    assert follow_up["kind"] == "CASE"
    assert follow_up["subjectId"] == follow_up["caseId"] == case
    assert follow_up["organizationId"] is None
    assert follow_up["overdue"] is True
    assert follow_up["assignedTo"] is None
    [waiting] = items(staff, "REFERRALS_WITHOUT_OUTCOME")
    assert (waiting["kind"], waiting["subjectId"], waiting["caseId"]) == (
        "REFERRAL",
        referral,
        case,
    )

    variables = {"queue": "FOLLOW_UPS", "id": follow_up["id"]}
    assigned = staff.gql(ASSIGN, {"key": "queue-assign-1", "to": "fictional-staff-2", **variables})
    assert assigned["data"]["assignWorkItem"]["item"] == {"assignedTo": "fictional-staff-2"}
    again = staff.gql(ASSIGN, {"key": "queue-assign-1", "to": "fictional-staff-2", **variables})
    assert again["data"]["assignWorkItem"]["replayed"] is True
    assert items(staff, "FOLLOW_UPS")[0]["assignedTo"] == "fictional-staff-2"

    done = staff.gql(COMPLETE, {"key": "queue-complete-1", **variables})
    assert done["data"]["completeWorkItem"] == {
        "itemId": follow_up["id"],
        "replayed": False,
        "item": None,
    }
    assert items(staff, "FOLLOW_UPS") == []
    # A completed item is no longer in its queue: acting on it again finds nothing.
    twice = staff.gql(COMPLETE, {"key": "queue-complete-2", **variables})
    assert twice["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    # The partner reports the outcome: the referral leaves both queues by itself.
    as_role("partner", shelter).gql(OUTCOME, {"key": "queue-outcome-1", "id": referral})
    assert items(staff, "REFERRALS_WITHOUT_OUTCOME") == []
    assert items(staff, "REFERRALS_TO_ANSWER") == []


@due_at_once
def test_reading_a_queue_is_in_the_access_log_with_each_item_and_its_case(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff", user="fictional-staff-queue-reader")
    shelter = seed(system, "Example Logged Shelter")
    case, _ = referred_case(system, staff, shelter, "queue-log")
    [item] = items(staff, "FOLLOW_UPS")

    entries = as_role("compliance").gql(ACCESS, {"user": "fictional-staff-queue-reader"})
    logged = entries["data"]["accessLog"]["items"]
    assert {"recordType": "Search", "recordId": "Query.workQueue", "caseId": None,
            "fields": ["queue"]} in logged  # fmt: skip
    [read] = [e for e in logged if e["recordType"] == "WorkItem"]
    assert (read["recordId"], read["caseId"]) == (item["id"], case)


@due_at_once
def test_bad_input_is_refused_by_name_and_writes_nothing(system: System, as_role: Any) -> None:
    staff = as_role("staff")
    shelter = seed(system, "Example Input Shelter")
    referred_case(system, staff, shelter, "queue-input")
    [item] = items(staff, "FOLLOW_UPS")
    position = system.app.recorder.max_notification_id()

    blank = staff.gql(
        ASSIGN, {"key": "queue-blank", "queue": "FOLLOW_UPS", "id": item["id"], "to": "  "}
    )
    assert blank["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    wrong_queue = staff.gql(
        COMPLETE, {"key": "queue-wrong", "queue": "REVIEWS_DUE", "id": item["id"]}
    )
    assert wrong_queue["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    not_an_id = staff.gql(COMPLETE, {"key": "queue-bad-id", "queue": "FOLLOW_UPS", "id": "x"})
    assert not_an_id["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    too_many = staff.gql("{ workQueue(queue: FOLLOW_UPS, first: 5000) { items { id } } }")
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert system.app.recorder.max_notification_id() == position
    assert items(staff, "FOLLOW_UPS")[0]["assignedTo"] is None


def test_a_partner_sees_only_its_own_referrals_to_answer_and_nothing_of_the_case(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    shelter, other = seed(system, "Example Answering Shelter"), seed(system, "Example Other")
    _, referral = referred_case(system, staff, shelter, "queue-partner")
    partner = as_role("partner", shelter)

    [item] = items(partner, "REFERRALS_TO_ANSWER", OUTSIDE_QUEUE)
    assert (item["kind"], item["subjectId"], item["organizationId"]) == (
        "REFERRAL",
        referral,
        str(shelter),
    )
    # Due after NRD_REFERRAL_OUTCOME_DAYS (14 by default): listed at once, not overdue yet.
    assert item["overdue"] is False and item["dueAt"] > item["since"]
    assert counts(partner) == {"REFERRALS_TO_ANSWER": (1, 0), "INFORMATION_REQUESTED": (0, 0)}
    # The hotline's reminder is listed only once due: not yet.
    assert items(staff, "REFERRALS_WITHOUT_OUTCOME") == []
    assert counts(staff)["REFERRALS_WITHOUT_OUTCOME"] == (0, 0)

    # Nothing of the case: its id cannot even be asked for.
    asked = partner.post(QUEUE, {"queue": "REFERRALS_TO_ANSWER"}).json()
    assert asked["data"] is None
    # The hotline's queues, and another partner's, hold nothing for it.
    assert items(partner, "FOLLOW_UPS", OUTSIDE_QUEUE) == []
    assert items(as_role("partner", other), "REFERRALS_TO_ANSWER", OUTSIDE_QUEUE) == []
    # Another partner completing it finds nothing, exactly as for an item that does not exist.
    foreign = as_role("partner", other).post(
        COMPLETE, {"key": "queue-foreign", "queue": "REFERRALS_TO_ANSWER", "id": item["id"]}
    )
    missing = as_role("partner", other).post(
        COMPLETE,
        {"key": "queue-foreign", "queue": "REFERRALS_TO_ANSWER", "id": str(UUID(int=5))},
    )
    assert foreign.text == missing.text
    # Assigning is the hotline's.
    assigned = partner.post(
        ASSIGN,
        {"key": "queue-p-assign", "queue": "REFERRALS_TO_ANSWER", "id": item["id"], "to": "me"},
    ).json()
    assert assigned["data"] is None

    done = partner.gql(
        COMPLETE, {"key": "queue-p-done", "queue": "REFERRALS_TO_ANSWER", "id": item["id"]}
    )
    assert done["data"]["completeWorkItem"]["item"] is None
    assert items(partner, "REFERRALS_TO_ANSWER", OUTSIDE_QUEUE) == []


def test_a_partner_asked_for_information_sees_it_until_it_answers(
    system: System, as_role: Any
) -> None:
    applicant = seed(system, "Example Applicant", included=False)
    with acting_as(Actor("fictional-staff-7", "staff")):
        system.app.start_review("queue-review-1", applicant)
        system.app.request_more_information("queue-info-1", applicant, "Who answers at night?")
    system.projector.catch_up()
    partner = as_role("partner", applicant)

    [item] = items(partner, "INFORMATION_REQUESTED", OUTSIDE_QUEUE)
    assert (item["kind"], item["subjectId"]) == ("ORGANIZATION", str(applicant))

    answer = """mutation($key: String!, $id: ID!) {
      provideInformation(idempotencyKey: $key, id: $id, answers: "A fictional night lead.") {
        organizationId } }"""
    assert "errors" not in partner.gql(answer, {"key": "queue-answer-1", "id": str(applicant)})
    assert items(partner, "INFORMATION_REQUESTED", OUTSIDE_QUEUE) == []
    staff = as_role("staff")
    assert str(applicant) in [i["subjectId"] for i in items(staff, "APPLICATIONS_TO_REVIEW")]


@due_at_once
def test_a_liaison_acknowledges_its_agencys_reports_and_sees_its_protocols_due(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    agency = seed(system, "Example Queue Police", kind="LAW_ENFORCEMENT_AGENCY")
    other = seed(system, "Example Other Police", kind="LAW_ENFORCEMENT_AGENCY")
    with acting_as(Actor("fictional-staff-9", "staff")):
        protocol = system.app.establish_reporting_protocol(
            "queue-protocol-1",
            agency,
            "CA-ON",
            None,
            [{"name": "Fictional Detective", "phone": "+1 555 030 0009"}],
        ).id
    system.projector.catch_up()
    case = open_case(staff, "queue-report-open")
    supervisor_decides(system, case)
    report = supervisor.gql(
        """mutation($key: String!, $id: ID!, $p: ID!, $f: ReportFactorsInput!) {
          reportToLawEnforcement(idempotencyKey: $key, id: $id, protocolId: $p, factors: $f,
            fields: [URGENCY], exception: IMMINENT_HARM,
            justification: "Imminent danger described (fictional)") { case { reports { id } } } }""",
        {"key": "queue-report-1", "id": case, "p": str(protocol), "f": FACTORS},
    )
    report_id = report["data"]["reportToLawEnforcement"]["case"]["reports"][0]["id"]
    liaison = as_role("law_enforcement", agency)

    # Two protocols of its own (the one it was included on, and this one), both due at once.
    assert counts(liaison) == {"PROTOCOLS_TO_REVISE": (2, 2), "REPORTS_TO_ACKNOWLEDGE": (1, 1)}
    [item] = items(liaison, "REPORTS_TO_ACKNOWLEDGE", OUTSIDE_QUEUE)
    assert (item["kind"], item["subjectId"]) == ("REPORT", report_id)
    due = items(liaison, "PROTOCOLS_TO_REVISE", OUTSIDE_QUEUE)
    assert str(protocol) in [i["subjectId"] for i in due]
    assert {i["organizationId"] for i in due} == {str(agency)}
    outsider = as_role("law_enforcement", other)
    assert items(outsider, "REPORTS_TO_ACKNOWLEDGE", OUTSIDE_QUEUE) == []
    assert str(protocol) not in [
        i["subjectId"] for i in items(outsider, "PROTOCOLS_TO_REVISE", OUTSIDE_QUEUE)
    ]
    # Staff see every agency's protocols due; reports waiting for an agency are a supervisor's.
    everyone = items(staff, "PROTOCOLS_TO_REVISE")
    assert {i["organizationId"] for i in everyone} == {str(agency), str(other)}
    assert items(staff, "REPORTS_TO_ACKNOWLEDGE") == []
    [seen] = items(supervisor, "REPORTS_TO_ACKNOWLEDGE")
    assert (seen["caseId"], seen["organizationId"]) == (case, str(agency))

    # The liaison acknowledges the report: the item leaves by itself.
    assert "errors" not in liaison.gql(ACKNOWLEDGE, {"key": "queue-ack-1", "id": report_id})
    assert items(liaison, "REPORTS_TO_ACKNOWLEDGE", OUTSIDE_QUEUE) == []
    assert items(supervisor, "REPORTS_TO_ACKNOWLEDGE") == []


def test_compliance_officers_have_no_queue(system: System, as_role: Any) -> None:
    compliance = as_role("compliance")
    assert compliance.post(COUNTS).json()["data"] is None


FACTORS = {
    "callersWishes": "agrees",
    "levelOfDetail": "enough",
    "applicableLaw": "fictional",
    "localProtocol": "ok",
}


def test_the_demo_gives_every_role_that_has_queues_work_in_them(
    system: System, as_role: Any
) -> None:
    ids = load_demo(system.app, count=10)
    load_demo_cases(system.app, ids)
    load_demo_work(system.app, ids)
    system.projector.catch_up()

    def listed(caller: Caller) -> set[str]:
        return {queue for queue, (count, _) in counts(caller).items() if count}

    staff = as_role("staff")
    assert {
        "APPLICATIONS_TO_REVIEW",
        "UNREACHABLE_ORGANIZATIONS",
        "POSSIBLE_DUPLICATES",
        "REFERRALS_DECLINED",
    } <= listed(staff)
    applications = staff.gql(
        "{ workQueue(queue: APPLICATIONS_TO_REVIEW, first: 50) { items { assignedTo } } }"
    )["data"]["workQueue"]["items"]
    assert "demo-staff" in [i["assignedTo"] for i in applications]
    assert {"REPORTS_TO_ACKNOWLEDGE", "SUPERVISOR_REQUESTS", "MANDATORY_REPORT_DECISIONS"} <= (
        listed(as_role("supervisor"))
    )
    assert listed(as_role("partner", ids["partner"])) == {"REFERRALS_TO_ANSWER"}
    assert listed(as_role("law_enforcement", ids["agency"])) == {"REPORTS_TO_ACKNOWLEDGE"}


def test_a_supervisor_sees_a_minors_case_waiting_for_its_mandatory_report_decision(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_minors_case(
        staff, "queue-minor-open", minorInvolved="UNKNOWN", indicators=["DEBT_BONDAGE"]
    )

    [item] = items(supervisor, "MANDATORY_REPORT_DECISIONS")
    assert (item["kind"], item["subjectId"], item["caseId"]) == ("CASE", case, case)
    assert item["overdue"] is True  # due at once
    assert counts(supervisor)["MANDATORY_REPORT_DECISIONS"] == (1, 1)
    # The decision is a supervisor's: staff have no such queue.
    assert "MANDATORY_REPORT_DECISIONS" not in counts(staff)
    assert items(staff, "MANDATORY_REPORT_DECISIONS") == []

    supervisor.gql(
        NO_REPORT,
        {"key": "queue-minor-none", "id": case, "why": "The caller is 24, confirmed (fictional)"},
    )
    assert items(supervisor, "MANDATORY_REPORT_DECISIONS") == []


@due_at_once
def test_a_callback_after_the_follow_up_consent_settles_the_follow_up(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    case = open_case(staff, "queue-callback-open")
    staff.gql(CONSENT, {"key": "queue-callback-consent", "id": case, "scope": "FOLLOW_UP_CONTACT"})
    earlier = contact(caseId=case, startedAt=minutes_ago(30))  # before the consent
    assert "errors" not in staff.gql(RECORD, {"key": "queue-callback-0", "input": earlier})
    assert [i["subjectId"] for i in items(staff, "FOLLOW_UPS")] == [case]

    callback = contact(
        direction="OUTBOUND",
        caseId=case,
        disposition="CASE_UPDATED",
        startedAt=datetime.now(UTC).isoformat(),
    )
    assert "errors" not in staff.gql(RECORD, {"key": "queue-callback-1", "input": callback})

    assert items(staff, "FOLLOW_UPS") == []


@due_at_once
def test_a_partner_declines_and_the_hotline_is_asked_to_refer_elsewhere(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    shelter = seed(system, "Example Full Shelter")
    case, referral = referred_case(system, staff, shelter, "queue-decline")
    partner = as_role("partner", shelter)
    assert [i["subjectId"] for i in items(partner, "REFERRALS_TO_ANSWER", OUTSIDE_QUEUE)] == [
        referral
    ]

    declined = partner.gql(
        ANSWER, {"key": "queue-decline-1", "id": referral, "answer": "DECLINED",
                 "reason": "NO_CAPACITY"},
    )  # fmt: skip
    assert "errors" not in declined

    assert items(partner, "REFERRALS_TO_ANSWER", OUTSIDE_QUEUE) == []
    assert items(staff, "REFERRALS_WITHOUT_OUTCOME") == []
    [item] = items(staff, "REFERRALS_DECLINED")
    assert (item["subjectId"], item["caseId"]) == (referral, case)
    # Referred elsewhere: the declined referral leaves by itself.
    other = seed(system, "Example Second Shelter")
    staff.gql(
        CONSENT,
        {"key": "queue-decline-c", "id": case, "scope": "SHARE_WITH_ORGANIZATION",
         "to": str(other)},
    )  # fmt: skip
    staff.gql(REFER, {"key": "queue-decline-r", "id": case, "org": str(other), "fields": ["BRIEF"]})
    assert items(staff, "REFERRALS_DECLINED") == []


def test_a_supervisor_sees_a_request_until_a_decision_answers_it(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_case(staff, "queue-ask-open")
    asked = staff.gql(ASK, {"key": "queue-ask-1", "id": case, "question": "Refer or report?"})
    assert "errors" not in asked
    staff.gql(ASK, {"key": "queue-ask-2", "id": case, "question": "And the cousin?"})

    [item] = items(supervisor, "SUPERVISOR_REQUESTS")  # one item per case, however many asks
    assert (item["kind"], item["subjectId"], item["caseId"]) == ("CASE", case, case)
    assert counts(supervisor)["SUPERVISOR_REQUESTS"] == (1, 1)
    assert "SUPERVISOR_REQUESTS" not in counts(staff)

    decided = supervisor.gql(
        DECIDE,
        {"key": "queue-decide-1", "id": case, "decision": "Refer with consent (fictional)",
         "next": "Offer the legal clinic (fictional)"},
    )  # fmt: skip
    assert "errors" not in decided
    assert items(supervisor, "SUPERVISOR_REQUESTS") == []


def test_staff_see_a_possible_duplicate_application_until_they_decide(
    system: System, as_role: Any
) -> None:
    known = str(seed(system, "Example Harbour Shelter"))
    public, staff = as_role("public"), as_role("staff")
    sent = applied(public, application("  example harbour-shelter "))
    flagged = sent["data"]["applyForInclusion"]["organizationId"]

    [item] = items(staff, "POSSIBLE_DUPLICATES")
    assert (item["kind"], item["subjectId"], item["overdue"]) == ("ORGANIZATION", flagged, True)
    assert flagged in [i["subjectId"] for i in items(staff, "APPLICATIONS_TO_REVIEW")]
    # The applicant learns nothing of it, and no partner has such a queue.
    assert "POSSIBLE_DUPLICATES" not in counts(as_role("partner", flagged))

    with acting_as(Actor("fictional-staff-3", "staff")):
        system.app.start_review("queue-dup-review", UUID(flagged))
    system.projector.catch_up()
    assert [i["subjectId"] for i in items(staff, "POSSIBLE_DUPLICATES")] == [flagged]
    declined = staff.gql(
        command("declineAsDuplicate", "duplicateOf: ID!, note: String!"),
        {"key": "queue-dup-decline", "id": flagged, "duplicateOf": known, "note": "sent twice"},
    )
    assert "errors" not in declined, declined
    assert items(staff, "POSSIBLE_DUPLICATES") == []
    assert flagged not in [i["subjectId"] for i in items(staff, "APPLICATIONS_TO_REVIEW")]
