"""Supervisor involvement told through GraphQL, role by role (seed 000: "If a caller references a
potential case of human trafficking, a hotline supervisor will be brought into the discussion to
determine the next steps").

Staff ask for a supervisor with their question; supervisors see the requests waiting, oldest
first, and record their decision with the next steps; until then nothing leaves the case but an
emergency call, and it cannot close.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from api.wiring import System
from tests.e2e.conftest import Caller, seed

QUESTION = "Fictional: Perpetua's employer holds her passport; refer to Brackenfold tonight?"
DECISION = "Fictional: refer Perpetua with her consent; no report for now"
NEXT_STEPS = "Fictional: warm transfer to Brackenfold; call back in a week"

OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId } }"""
CONSENT = """mutation($key: String!, $id: ID!, $to: ID!) {
  grantConsent(idempotencyKey: $key, id: $id, scope: SHARE_WITH_ORGANIZATION, recipientId: $to,
               givenBy: CALLER, method: VERBAL) { version } }"""
REFER = """mutation($key: String!, $id: ID!, $org: ID!, $fields: [DisclosableField!]) {
  referCase(idempotencyKey: $key, id: $id, organizationId: $org, mode: WARM_TRANSFER,
            needs: [SHELTER], fields: $fields) { case { referrals { id disclosureId } } } }"""
CLOSE = """mutation($key: String!, $id: ID!) {
  closeCase(idempotencyKey: $key, id: $id, reason: "Fictional: Perpetua is safe") {
    case { open } } }"""
EMERGENCY = """mutation($key: String!, $id: ID!) {
  contactEmergencyServices(idempotencyKey: $key, id: $id) { case { emergencies { number } } } }"""
UPDATE = """mutation($key: String!, $id: ID!, $details: CaseDetailsInput!) {
  updateCase(idempotencyKey: $key, id: $id, details: $details) {
    case { supervisorDecisionRequired } } }"""
ASK = """mutation($key: String!, $id: ID!, $question: String!) {
  requestSupervisor(idempotencyKey: $key, id: $id, question: $question) {
    case { supervisorDecisionRequired
           supervisorRequests { id caseId requestedBy question answeredAt answeredBy } } } }"""
DECIDE = """mutation($key: String!, $id: ID!, $decision: String!, $next: String!) {
  recordSupervisorDecision(idempotencyKey: $key, id: $id, decision: $decision,
                           nextSteps: $next) {
    case { supervisorDecisionRequired
           consultations { supervisorId decision nextSteps answers }
           supervisorRequests { id answeredAt answeredBy } } } }"""
WAITING = """query($answered: Boolean, $first: Int! = 20, $after: String) {
  supervisorRequests(answered: $answered, first: $first, after: $after) {
    totalCount items { id caseId requestedAt requestedBy question answeredAt answeredBy }
    pageInfo { hasNextPage endCursor } } }"""
ACCESS = """query($user: String!) { accessLog(userId: $user) {
  items { requestId recordType recordId caseId fields } } }"""


def key() -> str:
    return f"fictional-{uuid4()}"


def ok(caller: Caller, query: str, variables: dict[str, Any] | None = None, **extra: Any) -> Any:
    body = caller.gql(query, variables, **extra)
    assert "errors" not in body, body
    return body["data"]


def code(body: Any) -> str:
    return str(body["errors"][0]["extensions"]["code"])


def events_written(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


def open_case(staff: Caller, **details: Any) -> str:
    variables = {
        "key": key(),
        "input": {
            "channel": "CALL",
            "language": "en",
            "relationship": "VICTIM_OR_SURVIVOR",
            "caller": {"name": "Perpetua Fictional-Caller"},
            "details": {
                "province": "CA-ON",
                "urgency": "HIGH",
                "needs": ["SHELTER"],
                "situationType": "UNKNOWN",
                "indicators": ["DOCUMENTS_CONFISCATED"],
                **details,
            },
        },
    }
    return str(ok(staff, OPEN, variables)["openCase"]["caseId"])


def test_a_potential_trafficking_case_waits_for_a_supervisor_then_goes_on(
    system: System, as_role: Any
) -> None:
    shelter = str(seed(system, "Example Brackenfold Refuge"))
    staff = as_role("staff", user="fictional-staff-1")
    supervisor = as_role("supervisor", user="fictional-supervisor-1")
    case = open_case(staff)
    ok(staff, CONSENT, {"key": key(), "id": case, "to": shelter})

    # Staff: nothing leaves and the case does not close, and each refusal says what to do.
    written = events_written(system)
    for refused in (
        staff.gql(
            REFER, {"key": key(), "id": case, "org": shelter, "fields": ["CALLER_NAME", "NEEDS"]}
        ),
        staff.gql(CLOSE, {"key": key(), "id": case}),
    ):
        assert refused["data"] is None
        assert code(refused) == "SUPERVISOR_DECISION_REQUIRED"
        assert "requestSupervisor" in refused["errors"][0]["message"]
    assert events_written(system) == written
    # An emergency call never waits, nor does a referral relayed to the caller (nothing sent).
    assert ok(staff, EMERGENCY, {"key": key(), "id": case})["contactEmergencyServices"]["case"][
        "emergencies"
    ] == [{"number": "911"}]
    relayed = ok(staff, REFER, {"key": key(), "id": case, "org": shelter, "fields": []})
    assert relayed["referCase"]["case"]["referrals"][0]["disclosureId"] is None

    # Staff ask for a supervisor; the request shows on the case.
    asked = ok(staff, ASK, {"key": key(), "id": case, "question": QUESTION})["requestSupervisor"]
    [request] = asked["case"]["supervisorRequests"]
    assert request | {"id": None} == {
        "id": None,
        "caseId": case,
        "requestedBy": "fictional-staff-1",
        "question": QUESTION,
        "answeredAt": None,
        "answeredBy": None,
    }
    assert asked["case"]["supervisorDecisionRequired"] is True

    # Supervisor: the requests waiting, with the question as staff wrote it.
    waiting = ok(supervisor, WAITING, {})["supervisorRequests"]
    assert waiting["totalCount"] == 1
    assert [(r["id"], r["caseId"], r["question"]) for r in waiting["items"]] == [
        (request["id"], case, QUESTION)
    ]

    decided = ok(
        supervisor,
        DECIDE,
        {"key": key(), "id": case, "decision": DECISION, "next": NEXT_STEPS},
    )["recordSupervisorDecision"]["case"]
    assert decided["supervisorDecisionRequired"] is False
    assert decided["consultations"] == [
        {
            "supervisorId": "fictional-supervisor-1",
            "decision": DECISION,
            "nextSteps": NEXT_STEPS,
            "answers": [request["id"]],
        }
    ]
    [answered] = decided["supervisorRequests"]
    assert answered["answeredBy"] == "fictional-supervisor-1" and answered["answeredAt"]
    assert ok(supervisor, WAITING, {})["supervisorRequests"] == {
        "totalCount": 0,
        "items": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }
    done = ok(supervisor, WAITING, {"answered": True})["supervisorRequests"]
    assert [(r["id"], r["answeredBy"]) for r in done["items"]] == [
        (request["id"], "fictional-supervisor-1")
    ]

    # Staff: now the referral discloses and the case closes.
    referred = ok(
        staff, REFER, {"key": key(), "id": case, "org": shelter, "fields": ["CALLER_NAME"]}
    )
    assert referred["referCase"]["case"]["referrals"][-1]["disclosureId"]
    assert ok(staff, CLOSE, {"key": key(), "id": case})["closeCase"]["case"] == {"open": False}


def test_a_decision_no_longer_stands_once_the_situation_changes(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    supervisor = as_role("supervisor")
    case = open_case(staff)
    ok(supervisor, DECIDE, {"key": key(), "id": case, "decision": DECISION, "next": NEXT_STEPS})

    other = ok(staff, UPDATE, {"key": key(), "id": case, "details": {"urgency": "LOW"}})
    assert other["updateCase"]["case"]["supervisorDecisionRequired"] is False
    changed = ok(
        staff,
        UPDATE,
        {"key": key(), "id": case, "details": {"indicators": ["DEBT_BONDAGE", "ISOLATION"]}},
    )
    assert changed["updateCase"]["case"]["supervisorDecisionRequired"] is True
    assert code(staff.gql(CLOSE, {"key": key(), "id": case})) == "SUPERVISOR_DECISION_REQUIRED"


def test_a_case_that_references_no_trafficking_closes_without_a_supervisor(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    case = open_case(staff, situationType="NOT_TRAFFICKING", indicators=[])

    assert ok(staff, CLOSE, {"key": key(), "id": case})["closeCase"]["case"] == {"open": False}


def test_supervisors_page_through_the_requests_oldest_first(system: System, as_role: Any) -> None:
    staff = as_role("staff")
    supervisor = as_role("supervisor")
    cases = [open_case(staff) for _ in range(3)]
    for case in cases:
        ok(staff, ASK, {"key": key(), "id": case, "question": QUESTION})

    first = ok(supervisor, WAITING, {"first": 2})["supervisorRequests"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"] is True
    rest = ok(supervisor, WAITING, {"first": 2, "after": first["pageInfo"]["endCursor"]})[
        "supervisorRequests"
    ]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert [r["caseId"] for r in first["items"] + rest["items"]] == cases
    assert code(supervisor.gql(WAITING, {"first": 0})) == "INVALID_INPUT"


@pytest.mark.parametrize("role", ["staff", "partner", "law_enforcement", "compliance", "public"])
def test_only_supervisors_see_the_requests_waiting(system: System, as_role: Any, role: str) -> None:
    case = open_case(as_role("staff"))
    ok(as_role("staff"), ASK, {"key": key(), "id": case, "question": QUESTION})

    org = uuid4() if role in ("partner", "law_enforcement") else None
    body = as_role(role, org).gql(WAITING, {})

    assert body["data"] is None and "errors" in body
    assert QUESTION not in str(body)


def test_only_a_supervisor_records_a_decision_and_bad_input_writes_nothing(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    supervisor = as_role("supervisor")
    case = open_case(staff)
    written = events_written(system)

    by_staff = staff.gql(
        DECIDE, {"key": key(), "id": case, "decision": DECISION, "next": NEXT_STEPS}
    )
    assert by_staff["data"] is None and code(by_staff) == "NOT_AVAILABLE"
    assert code(staff.gql(ASK, {"key": key(), "id": case, "question": "   "})) == "REASON_REQUIRED"
    no_steps = supervisor.gql(DECIDE, {"key": key(), "id": case, "decision": DECISION, "next": " "})
    assert code(no_steps) == "REASON_REQUIRED"
    control = supervisor.gql(ASK, {"key": key(), "id": case, "question": "a\x00b"})
    assert code(control) == "INVALID_INPUT"
    assert events_written(system) == written


def test_a_supervisors_read_of_the_requests_is_in_the_access_log(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    supervisor = as_role("supervisor", user="fictional-supervisor-5")
    case = open_case(staff)
    ok(staff, ASK, {"key": key(), "id": case, "question": QUESTION})
    [request] = ok(supervisor, WAITING, {})["supervisorRequests"]["items"]

    logged = ok(as_role("compliance"), ACCESS, {"user": "fictional-supervisor-5"})["accessLog"]
    assert {
        (e["recordType"], e["recordId"], e["caseId"], tuple(e["fields"])) for e in logged["items"]
    } == {
        ("Search", "Query.supervisorRequests", None, ("answered",)),
        (
            "SupervisorRequest",
            request["id"],
            case,
            (
                "answeredAt",
                "answeredBy",
                "caseId",
                "question",
                "requestedAt",
                "requestedBy",
            ),
        ),
    }
