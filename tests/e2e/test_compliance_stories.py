"""Compliance told through GraphQL: who read what, a record's history, the directory as it
stood on a date, legal holds, and the erasure of a caller's data.

Compliance officers read the access log; they and supervisors read audit trails and replays.
Every other role may ask and gets exactly what a record that does not exist gets, byte for
byte. Every read of a confidential field is in the access log before its response leaves, or
the response carries no data at all.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from api.wiring import System
from domain.base import Actor, acting_as
from projections.audit import parse_moment
from tests.e2e.conftest import Caller, fictional_profile, seed, supervisor_decides

# Distinctive fictional caller data: wherever one of these shows up unbidden, it leaked.
NAME = "Ottoline Fictional-Caller"
PHONE = "+1 555 017 3344"
EMAIL = "ottoline.caller@example.org"
NOTES = "Ottoline fictional notes: waits at the bus depot"
BRIEF = "Needs a quiet room tonight (fictional)"
SECRETS = (NAME, PHONE, "5550173344", EMAIL, NOTES, "Ottoline", "ottoline")

MISSING = str(UUID(int=0xC0FFEE))
OUTSIDERS = ["public", "partner", "law_enforcement"]

OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId } }"""
CONSENT = """mutation($key: String!, $id: ID!, $to: ID) {
  grantConsent(idempotencyKey: $key, id: $id, scope: SHARE_WITH_ORGANIZATION,
               recipientId: $to, givenBy: CALLER, method: VERBAL) { version } }"""
REFER = """mutation($key: String!, $id: ID!, $org: ID!, $brief: String!) {
  referCase(idempotencyKey: $key, id: $id, organizationId: $org, mode: WARM_TRANSFER,
            needs: [SHELTER], fields: [CALLER_NAME, CALLER_PHONE], brief: $brief) {
    case { referrals { id } } } }"""
REPORT = """mutation($key: String!, $id: ID!, $protocol: ID!, $factors: ReportFactorsInput!) {
  reportToLawEnforcement(idempotencyKey: $key, id: $id, protocolId: $protocol,
    factors: $factors, fields: [LOCATION, URGENCY, CALLER_NAME], exception: IMMINENT_HARM,
    justification: "Imminent danger described on the call (fictional)") {
    case { reports { id } } } }"""
FACTORS = {
    "callersWishes": "agrees",
    "levelOfDetail": "enough",
    "applicableLaw": "fictional act",
    "localProtocol": "fictional protocol",
}

DECIDE = """mutation($key: String!, $id: ID!) {
  recordSupervisorDecision(idempotencyKey: $key, id: $id,
    decision: "Fictional: Ottoline goes to a shelter", nextSteps: "Fictional: a warm transfer") {
    version } }"""
HOLD = """mutation($key: String!, $case: ID!, $reason: String!) {
  placeLegalHold(idempotencyKey: $key, caseId: $case, reason: $reason) {
    recordId version replayed } }"""
RELEASE = """mutation($key: String!, $case: ID!, $reason: String!) {
  releaseLegalHold(idempotencyKey: $key, caseId: $case, reason: $reason) {
    recordId version replayed } }"""
ERASE = """mutation($key: String!, $case: ID!, $reason: String!) {
  eraseCallerData(idempotencyKey: $key, caseId: $case, reason: $reason) {
    recordId version replayed } }"""

CASE = """query($id: ID!) { case(id: $id) { id callerName callerPhone callerEmail notes
  province personalDataErasedAt legalHold { at by reason } } }"""
INBOX = "{ referralInbox { id disclosed { callerName callerPhone brief } } }"

AUDIT = """query($id: ID!, $filter: AuditFilter, $first: Int! = 50, $after: String) {
  auditTrail(recordId: $id, filter: $filter, first: $first, after: $after) {
    items { recordId recordType version type at actorId actorRole requestId reason data }
    pageInfo { hasNextPage endCursor } } }"""
AS_OF = """query($id: ID!, $at: String, $version: Int) {
  recordAsOf(recordId: $id, at: $at, version: $version) {
    recordId recordType version createdAt at state } }"""
DIRECTORY_AS_OF = """query($at: String!) {
  publicDirectoryAsOf(at: $at) { at count organizations } }"""
ACCESS = """query($record: ID, $user: String, $first: Int! = 50, $after: String) {
  accessLog(recordId: $record, userId: $user, first: $first, after: $after) {
    items { at userId role organizationId requestId recordType recordId caseId fields
            policyVersion }
    pageInfo { hasNextPage endCursor } } }"""

EMPTY_PAGE = {"items": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


def key() -> str:
    return f"fictional-{uuid4()}"


def ok(caller: Caller, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = caller.gql(query, variables)
    assert "errors" not in body, body
    return body["data"]


def error_code(body: Any) -> str:
    """The one error's code; the answer carries no data (a nullable field comes back null)."""
    assert body["data"] is None or set(body["data"].values()) == {None}, body
    assert len(body["errors"]) == 1, body
    return str(body["errors"][0]["extensions"]["code"])


def sent(
    caller: Caller, request_id: str, query: str, variables: dict[str, Any] | None = None
) -> Any:
    """The response to a query sent with its own X-Request-Id."""
    headers = {"x-request-id": request_id}
    if caller.token:
        headers["authorization"] = f"Bearer {caller.token}"
    return caller.client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


def read(
    caller: Caller, request_id: str, query: str, variables: dict[str, Any] | None = None
) -> Any:
    response = sent(caller, request_id, query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def events_written(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


def access_log(
    compliance: Caller, record: str | None = None, user: str | None = None, **paging: Any
) -> Any:
    return ok(compliance, ACCESS, {"record": record, "user": user, **paging})["accessLog"]


def entries_of(
    compliance: Caller, request_id: str, record: str | None = None, user: str | None = None
) -> list[dict[str, Any]]:
    """The access log's entries for one request, as compliance reads them."""
    items = access_log(compliance, record, user)["items"]
    return [item for item in items if item["requestId"] == request_id]


def entry(
    system: System,
    *,
    user: str,
    role: str,
    request: str,
    record_type: str,
    record: str,
    case: str | None,
    fields: list[str],
    org: str | None = None,
) -> dict[str, Any]:
    """An access-log entry as it should read (its time is checked apart)."""
    return {
        "userId": user,
        "role": role,
        "organizationId": org,
        "requestId": request,
        "recordType": record_type,
        "recordId": record,
        "caseId": case,
        "fields": fields,
        "policyVersion": system.policy.version,
    }


def timeless(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.items() if k != "at"} for item in items]


def open_case(staff: Caller, request_id: str | None = None) -> str:
    variables = {
        "key": key(),
        "input": {
            "channel": "CALL",
            "language": "en",
            "relationship": "VICTIM_OR_SURVIVOR",
            "caller": {"name": NAME, "phone": PHONE, "email": EMAIL},
            "notes": NOTES,
            "details": {
                "province": "CA-ON",
                "urgency": "HIGH",
                "needs": ["SHELTER"],
                "situationType": "LABOUR_TRAFFICKING",
                "minorInvolved": "NO",
            },
        },
    }
    data = (
        ok(staff, OPEN, variables)
        if request_id is None
        else read(staff, request_id, OPEN, variables)
    )
    return str(data["openCase"]["caseId"])


def refer(staff: Caller, case: str, org: str) -> str:
    ok(staff, CONSENT, {"key": key(), "id": case, "to": org})
    referrals = ok(staff, REFER, {"key": key(), "id": case, "org": org, "brief": BRIEF})[
        "referCase"
    ]["case"]["referrals"]
    return str(referrals[-1]["id"])


@dataclass(frozen=True)
class Referred:
    case: str
    referral: str
    shelter: str
    neighbour: str


def referred_case(system: System, as_role: Any) -> Referred:
    """A case referred to a shelter with the caller's name, phone and a brief, under consent;
    a neighbouring shelter received nothing."""
    shelter = str(seed(system, "Example Harbour Refuge"))
    neighbour = str(seed(system, "Example Neighbour Refuge"))
    staff = as_role("staff", user="fictional-staff-1")
    case = open_case(staff)
    supervisor_decides(system, case)  # a potential trafficking case: the decision comes first
    return Referred(case, refer(staff, case, shelter), shelter, neighbour)


# -- the access log: who read which fields -------------------------------------------------------


def test_a_staff_members_read_of_a_case_is_logged_with_exactly_the_fields_selected(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff", user="fictional-staff-7")
    compliance = as_role("compliance", user="fictional-compliance-1")
    case = open_case(staff)
    before = datetime.now(UTC)
    read(
        staff,
        "req-staff-read-0001",
        "query($id: ID!) { case(id: $id) { id callerName province urgency } }",
        {"id": case},
    )
    # Durable before the response: the row is in the store the moment the answer arrives.
    stored = system.access.entries(record_id=case)
    assert [(row["requestId"], row["fields"]) for row in stored] == [
        ("req-staff-read-0001", ["callerName", "province", "urgency"])
    ]

    [item] = access_log(compliance, case)["items"]
    assert timeless([item]) == [
        entry(
            system,
            user="fictional-staff-7",
            role="staff",
            request="req-staff-read-0001",
            record_type="Case",
            record=case,
            case=case,
            fields=["callerName", "province", "urgency"],
        )
    ]
    assert before <= parse_moment(item["at"]) <= datetime.now(UTC)


@pytest.mark.parametrize("given", ["req id with spaces", "r" * 65, "req;drop"])
def test_a_request_id_that_is_not_short_and_plain_is_replaced_in_the_log_and_the_events(
    system: System, as_role: Any, given: str
) -> None:
    staff = as_role("staff", user="fictional-staff-7")
    case = open_case(staff, given)
    read(staff, given, "query($id: ID!) { case(id: $id) { urgency } }", {"id": case})
    [logged] = [
        e for e in access_log(as_role("compliance"), case)["items"] if e["recordType"] == "Case"
    ]
    [opened] = ok(as_role("supervisor"), AUDIT, {"id": case})["auditTrail"]["items"]
    for request_id in (logged["requestId"], opened["requestId"]):
        assert request_id != given and len(request_id) == 32
        int(request_id, 16)  # a fresh id the server made, not the caller's text
    assert logged["requestId"] != opened["requestId"]


def test_aliases_fragments_and_nested_paths_are_logged_under_the_schema_names(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff", user="fictional-staff-7")
    compliance = as_role("compliance")
    case = open_case(staff)
    read(
        staff,
        "req-shapes-0001",
        """query($id: ID!) {
      a: case(id: $id) { who: callerName }
      b: case(id: $id) { ...Reach }
    } fragment Reach on Case { phone: callerPhone ... on Case { secret: notes } }""",
        {"id": case},
    )
    read(
        staff,
        "req-shapes-0002",
        """{ cases(first: 5) { items { __typename id
      ... on Case { mail: callerEmail referrals { id } legalHold { reason } } } } }""",
    )
    read(
        staff,
        "req-shapes-0003",
        "query($id: ID!) { case(id: $id) { id __typename } }",
        {"id": case},
    )
    read(
        staff,
        "req-shapes-0004",
        """query($id: ID!, $yes: Boolean!) {
      case(id: $id) { callerName @include(if: $yes) assessment @skip(if: $yes) } }""",
        {"id": case, "yes": True},
    )
    read(
        staff,
        "req-shapes-0005",
        """mutation($key: String!, $id: ID!) {
      updateCase(idempotencyKey: $key, id: $id, details: {urgency: MEDIUM}) {
        caseId case { urgency } } }""",
        {"key": key(), "id": case},
    )

    def logged(request_id: str) -> list[list[str]]:
        return [e["fields"] for e in entries_of(compliance, request_id, case)]

    # Two aliases of one case in one request: one entry, every field under its own name.
    assert logged("req-shapes-0001") == [["callerName", "callerPhone", "notes"]]
    assert logged("req-shapes-0002") == [["callerEmail", "legalHold", "referrals"]]
    # The id and the type name read no field, but tell that the case exists.
    assert logged("req-shapes-0003") == [[]]
    assert logged("req-shapes-0004") == [["callerName"]]  # a skipped field is not read
    assert logged("req-shapes-0005") == [["urgency"]]  # a mutation's answer is a read too
    # The log answers for the record however its id is written.
    shouting = access_log(compliance, case.upper())["items"]
    assert [e["requestId"] for e in shouting if e["recordType"] == "Case"] == [
        "req-shapes-0005",
        "req-shapes-0004",
        "req-shapes-0003",
        "req-shapes-0002",
        "req-shapes-0001",
    ]


def test_a_partners_read_of_its_referral_is_logged_under_the_case(
    system: System, as_role: Any
) -> None:
    world = referred_case(system, as_role)
    partner = as_role("partner", world.shelter, user="fictional-partner-1")
    compliance = as_role("compliance")
    inbox = read(partner, "req-partner-0001", INBOX)["referralInbox"]
    assert inbox == [
        {
            "id": world.referral,
            "disclosed": {"callerName": NAME, "callerPhone": PHONE, "brief": BRIEF},
        }
    ]
    read(
        partner,
        "req-partner-0002",
        """query($id: ID!) { referral(id: $id) {
      d: disclosed { ...Copy } } } fragment Copy on DisclosedCopy { needs }""",
        {"id": world.referral},
    )

    by_case = entries_of(compliance, "req-partner-0001", world.case)
    by_referral = entries_of(compliance, "req-partner-0001", world.referral)
    expected = [
        entry(
            system,
            user="fictional-partner-1",
            role="partner",
            org=world.shelter,
            request="req-partner-0001",
            record_type=record_type,
            record=world.referral,
            case=world.case,
            fields=fields,
        )
        for record_type, fields in (
            ("DisclosedCopy", ["brief", "callerName", "callerPhone"]),
            ("ReferralInboxItem", ["disclosed"]),
        )
    ]
    assert sorted(timeless(by_case), key=lambda e: e["recordType"]) == expected
    assert sorted(timeless(by_referral), key=lambda e: e["recordType"]) == expected
    assert sorted(e["fields"] for e in entries_of(compliance, "req-partner-0002", world.case)) == [
        ["disclosed"],
        ["needs"],
    ]

    # The neighbour's empty inbox read no record, but its emptiness tells something too:
    # the search is logged, with no record answering it.
    neighbour = as_role("partner", world.neighbour, user="fictional-partner-2")
    assert read(neighbour, "req-partner-0003", INBOX) == {"referralInbox": []}
    assert [
        (e["requestId"], e["recordType"], e["recordId"], e["fields"])
        for e in access_log(compliance, user="fictional-partner-2")["items"]
    ] == [("req-partner-0003", "Search", "Query.referralInbox", [])]


def test_a_liaisons_read_of_its_report_is_logged_under_the_case(
    system: System, as_role: Any
) -> None:
    agency = str(seed(system, "Example Regional Police", kind="LAW_ENFORCEMENT_AGENCY"))
    with acting_as(Actor("fictional-staff-9", "staff", request_id="protocol")):
        protocol = system.app.establish_reporting_protocol(
            key(),
            UUID(agency),
            "CA-ON",
            None,
            [{"name": "Fictional Detective", "phone": "+1 555 030 0009"}],
        ).id
    system.projector.catch_up()
    case = open_case(as_role("staff"))
    supervisor_decides(system, case)
    reports = ok(
        as_role("supervisor"),
        REPORT,
        {"key": key(), "id": case, "protocol": str(protocol), "factors": FACTORS},
    )["reportToLawEnforcement"]["case"]["reports"]
    liaison = as_role("law_enforcement", agency, user="fictional-liaison-1")
    inbox = read(
        liaison, "req-liaison-0001", "{ reportInbox { id disclosed { callerName urgency } } }"
    )["reportInbox"]
    assert inbox == [{"id": reports[0]["id"], "disclosed": {"callerName": NAME, "urgency": "HIGH"}}]
    logged = entries_of(as_role("compliance"), "req-liaison-0001", case)
    assert sorted(timeless(logged), key=lambda e: e["recordType"]) == [
        entry(
            system,
            user="fictional-liaison-1",
            role="law_enforcement",
            org=agency,
            request="req-liaison-0001",
            record_type=record_type,
            record=reports[0]["id"],
            case=case,
            fields=fields,
        )
        for record_type, fields in (
            ("DisclosedCopy", ["callerName", "urgency"]),
            ("ReportInboxItem", ["disclosed"]),
        )
    ]

    # Once the caller's data is erased, the agency's copy can no longer be opened.
    ok(
        as_role("supervisor"),
        ERASE,
        {"key": key(), "case": case, "reason": "The caller asked (fictional)"},
    )
    after = ok(liaison, "{ reportInbox { id disclosed { callerName urgency } } }")
    assert after == {"reportInbox": [{"id": reports[0]["id"], "disclosed": None}]}


def test_reading_the_access_log_is_itself_logged(system: System, as_role: Any) -> None:
    staff = as_role("staff", user="fictional-staff-7")
    compliance = as_role("compliance", user="fictional-compliance-1")
    case = open_case(staff)
    read(staff, "req-staff-read-0002", "query($id: ID!) { case(id: $id) { notes } }", {"id": case})
    first = read(compliance, "req-compliance-0001", ACCESS, {"record": case})
    assert [e["requestId"] for e in first["accessLog"]["items"]] == ["req-staff-read-0002"]

    again = access_log(compliance, case)["items"]
    assert timeless(again[:1]) == [
        entry(
            system,
            user="fictional-compliance-1",
            role="compliance",
            request="req-compliance-0001",
            record_type="AccessLog",
            record=case,
            case=None,
            fields=["accessLog"],
        )
    ]
    assert [e["requestId"] for e in again[1:]] == ["req-staff-read-0002"]

    read(compliance, "req-compliance-0002", ACCESS, {"user": "fictional-staff-7"})
    by_user = entries_of(compliance, "req-compliance-0002", user="fictional-compliance-1")
    assert [(e["recordType"], e["recordId"]) for e in by_user] == [
        ("AccessLog", "user:fictional-staff-7")
    ]


def test_the_access_log_of_one_user_lists_only_that_users_reads(
    system: System, as_role: Any
) -> None:
    ada = as_role("staff", user="fictional-staff-ada")
    bo = as_role("supervisor", user="fictional-supervisor-bo")
    compliance = as_role("compliance")
    first, second = open_case(ada), open_case(ada)
    read(ada, "req-ada-0001", "query($id: ID!) { case(id: $id) { callerName } }", {"id": first})
    read(bo, "req-bo-0001", "query($id: ID!) { case(id: $id) { callerPhone } }", {"id": first})
    read(ada, "req-ada-0002", "query($id: ID!) { case(id: $id) { urgency } }", {"id": second})

    ada_reads = access_log(compliance, user="fictional-staff-ada")
    assert ada_reads["pageInfo"]["hasNextPage"] is False
    assert [(e["requestId"], e["recordId"], e["fields"]) for e in ada_reads["items"]] == [
        ("req-ada-0002", second, ["urgency"]),
        ("req-ada-0001", first, ["callerName"]),
    ]
    bo_reads = access_log(compliance, user="fictional-supervisor-bo")["items"]
    assert [(e["role"], e["requestId"], e["fields"]) for e in bo_reads] == [
        ("supervisor", "req-bo-0001", ["callerPhone"])
    ]
    assert access_log(compliance, user="fictional-nobody") == EMPTY_PAGE


def test_the_access_log_pages_newest_first_without_gaps_or_repeats(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff", user="fictional-staff-7")
    compliance = as_role("compliance")
    case = open_case(staff)
    for n in range(1, 6):
        read(
            staff,
            f"req-page-{n:04d}",
            "query($id: ID!) { case(id: $id) { callerName } }",
            {"id": case},
        )
    pages, after = [], None
    while True:
        page = access_log(compliance, case, first=2, after=after)
        more = page["pageInfo"]["hasNextPage"]
        pages.append(([e["requestId"] for e in page["items"]], more))
        after = page["pageInfo"]["endCursor"]
        if not more:
            break
    # Compliance's own reads of the log are newer than the cursor: they never slip in.
    assert pages == [
        (["req-page-0005", "req-page-0004"], True),
        (["req-page-0003", "req-page-0002"], True),
        (["req-page-0001"], False),
    ]
    assert access_log(compliance, case, first=2, after=after) == EMPTY_PAGE

    for wrong in (
        {"first": 0},
        {"first": system.settings.max_page_size + 1},
        {"after": "not-a-cursor"},
    ):
        body = compliance.gql(ACCESS, {"record": case, **wrong})
        assert error_code(body) == "INVALID_INPUT", wrong
    for both_or_neither in ({"record": case, "user": "fictional-staff-7"}, {}):
        assert error_code(compliance.gql(ACCESS, both_or_neither)) == "INVALID_INPUT"


@pytest.mark.parametrize("role", [*OUTSIDERS, "staff", "supervisor"])
def test_only_compliance_reads_the_access_log_and_everyone_else_sees_nothing_there(
    system: System, as_role: Any, role: str
) -> None:
    world = referred_case(system, as_role)
    read(as_role("partner", world.shelter, user="fictional-partner-1"), "req-partner-0001", INBOX)
    org = world.shelter if role in ("partner", "law_enforcement") else None
    asker = as_role(role, org, user=f"fictional-{role}-asker")
    answers = {}
    for name, (there, missing) in {
        "case": ({"record": world.case}, {"record": MISSING}),
        "referral": ({"record": world.referral}, {"record": str(uuid4())}),
        "user": ({"user": "fictional-staff-1"}, {"user": "fictional-nobody"}),
    }.items():
        exists = sent(asker, f"req-asker-{name}", ACCESS, there)
        absent = sent(asker, f"req-asker-{name}-x", ACCESS, missing)
        assert exists.status_code == absent.status_code == 200
        assert exists.content == absent.content, name
        answers[name] = exists.json()
    assert all(a == {"data": {"accessLog": EMPTY_PAGE}} for a in answers.values()), answers
    # An ask that was answered with nothing was not a read: nothing is logged in its name.
    assert access_log(as_role("compliance"), user=f"fictional-{role}-asker") == EMPTY_PAGE


def test_the_internal_directory_and_protocol_contacts_are_logged_but_the_public_directory_is_not(
    system: System, as_role: Any
) -> None:
    shelter = str(seed(system, "Example Harbour Refuge"))
    other = str(seed(system, "Example Other Refuge"))
    agency = str(seed(system, "Example Regional Police", kind="LAW_ENFORCEMENT_AGENCY"))
    with acting_as(Actor("fictional-staff-9", "staff", request_id="protocol")):
        protocol = str(
            system.app.establish_reporting_protocol(
                key(),
                UUID(agency),
                "CA-ON",
                None,
                [{"name": "Fictional Detective", "phone": "+1 555 030 0009"}],
            ).id
        )
    system.projector.catch_up()
    compliance = as_role("compliance")
    staff = as_role("staff", user="fictional-staff-7")
    partner = as_role("partner", shelter, user="fictional-partner-1")
    liaison = as_role("law_enforcement", agency, user="fictional-liaison-1")
    public = as_role("public")
    org = "query($id: ID!) { organization(id: $id) { nameEn %s } }"

    read(
        staff,
        "req-dir-staff",
        org % "pointOfContact { name } location { address }",
        {"id": shelter},
    )
    read(staff, "req-dir-staff-name", org % "", {"id": shelter})
    read(partner, "req-dir-own", org % "poc: pointOfContact { phone }", {"id": shelter})
    read(partner, "req-dir-other", org % "location { province }", {"id": other})
    read(public, "req-dir-public", org % "location { address province }", {"id": shelter})
    read(
        public,
        "req-dir-public-list",
        "{ directory(first: 10) { edges { node { id location { address } } } } }",
    )
    read(
        staff,
        "req-protocol-staff",
        """query($id: ID!) { reportingProtocol(id: $id) {
      province contacts { name } revisions { revision } } }""",
        {"id": protocol},
    )
    read(liaison, "req-protocol-own", "{ reportingProtocols { contacts { phone } } }")
    read(
        staff,
        "req-protocol-agency",
        """query($id: ID!) { reportingProtocol(id: $id) {
      agency { pointOfContact { email } } } }""",
        {"id": protocol},
    )
    read(
        staff,
        "req-dir-list",
        "{ directory(first: 10) { edges { node { id location { municipality } } } } }",
    )

    def logged(record: str) -> list[tuple[str, str, str | None, list[str]]]:
        return [
            (e["requestId"], e["role"], e["organizationId"], e["fields"])
            for e in access_log(compliance, record)["items"]
            if e["recordType"] != "AccessLog"
        ]

    assert logged(shelter) == [
        ("req-dir-list", "staff", None, ["location"]),
        ("req-dir-own", "partner", shelter, ["pointOfContact"]),
        ("req-dir-staff", "staff", None, ["location", "pointOfContact"]),
    ]
    # The partner read another's public copy: only the staff member's listing is logged.
    assert logged(other) == [("req-dir-list", "staff", None, ["location"])]
    assert logged(agency) == [
        ("req-dir-list", "staff", None, ["location"]),
        ("req-protocol-agency", "staff", None, ["pointOfContact"]),
    ]
    assert logged(protocol) == [
        ("req-protocol-own", "law_enforcement", agency, ["contacts"]),
        ("req-protocol-staff", "staff", None, ["contacts", "revisions"]),
    ]


def test_a_pending_profile_updates_contact_and_location_are_logged_like_the_profiles_own(
    system: System, as_role: Any
) -> None:
    shelter = str(seed(system, "Example Harbour Refuge"))
    partner = as_role("partner", shelter, user="fictional-partner-1")
    profile = fictional_profile(
        "Example Harbour Refuge",
        pointOfContact={"name": "Fictional New Coordinator", "phone": "+1 555 020 0099"},
        location={
            "province": "CA-ON",
            "municipality": "Fictionville",
            "address": "99 Hidden Example Lane",
            "confidential": True,
        },
    )
    ok(
        partner,
        """mutation($key: String!, $id: ID!, $p: ProfileInput!) {
      submitProfileUpdate(idempotencyKey: $key, id: $id, profile: $p) { version } }""",
        {"key": key(), "id": shelter, "p": profile},
    )
    staff = as_role("staff", user="fictional-staff-7")
    pending = read(
        staff,
        "req-pending-0001",
        """query($id: ID!) { organization(id: $id) {
      pendingProfileUpdate { profile { pointOfContact { name } location { address } } } } }""",
        {"id": shelter},
    )["organization"]["pendingProfileUpdate"]["profile"]
    assert pending == {
        "pointOfContact": {"name": "Fictional New Coordinator"},
        "location": {"address": "99 Hidden Example Lane"},
    }
    # The same kind of contact and the same confidential address as pointOfContact and
    # location: a read of them is a confidential read, and must be in the log.
    logged = entries_of(as_role("compliance"), "req-pending-0001", shelter)
    assert [(e["recordType"], e["userId"]) for e in logged] == [
        ("Organization", "fictional-staff-7")
    ], logged


# -- the access log must be written, or nothing is answered --------------------------------------


def drop_the_access_log(system: System) -> None:
    with system.access.store.transaction() as cursor:
        cursor.execute("DROP TABLE access_log")


UNAVAILABLE = {
    "errors": [
        {
            "message": "the access log could not be written, so nothing was returned; try again",
            "extensions": {"code": "ACCESS_LOG_UNAVAILABLE"},
        }
    ]
}


def test_when_the_access_log_cannot_be_written_no_confidential_data_is_sent(
    system: System, as_role: Any
) -> None:
    world = referred_case(system, as_role)
    staff = as_role("staff")
    partner = as_role("partner", world.shelter)
    drop_the_access_log(system)

    for caller, query, variables in (
        (staff, CASE, {"id": world.case}),
        (staff, "{ cases { items { callerPhone } } }", {}),
        (partner, INBOX, {}),
        (
            partner,
            "query($id: ID!) { referral(id: $id) { disclosed { brief } } }",
            {"id": world.referral},
        ),
        (as_role("supervisor"), AUDIT, {"id": world.case}),
        (as_role("compliance"), AS_OF, {"id": world.case, "version": 1}),
        (
            staff,
            "query($id: ID!) { organization(id: $id) { pointOfContact { name } } }",
            {"id": world.shelter},
        ),
    ):
        response = caller.post(query, variables)
        assert response.status_code == 503, (query, response.text)
        assert response.json() == UNAVAILABLE, query
        for secret in (*SECRETS, BRIEF, "Fictional Coordinator"):
            assert secret not in response.text, (query, secret)

    # A case's id alone tells that it exists: that read is refused too.
    response = staff.post("query($id: ID!) { case(id: $id) { id } }", {"id": world.case})
    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    # Reads of nothing confidential need no log entry, and still answer.
    public = ok(
        as_role("public"),
        "query($id: ID!) { organization(id: $id) { nameEn } }",
        {"id": world.shelter},
    )
    assert public == {"organization": {"nameEn": "Example Harbour Refuge"}}


def test_when_the_access_log_cannot_be_written_compliance_cannot_read_it_either(
    system: System, as_role: Any
) -> None:
    case = open_case(as_role("staff"))
    drop_the_access_log(system)
    response = as_role("compliance").post(ACCESS, {"record": case})
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE


# -- audit trails and replays ----------------------------------------------------------------------


def case_with_a_history(system: System, as_role: Any) -> tuple[str, str]:
    """A case opened, consented and referred by one staff member (each from a request of its
    own) after a supervisor's decision (the case references potential trafficking), then held
    by another supervisor with a reason. Returns (case, shelter)."""
    shelter = str(seed(system, "Example Harbour Refuge"))
    staff = as_role("staff", user="fictional-staff-7")
    case = open_case(staff, "req-open-0001")
    read(staff, "req-consent-0001", CONSENT, {"key": key(), "id": case, "to": shelter})
    read(
        as_role("supervisor", user="fictional-supervisor-2"),
        "req-decide-0001",
        DECIDE,
        {"key": key(), "id": case},
    )
    read(staff, "req-refer-0001", REFER, {"key": key(), "id": case, "org": shelter, "brief": BRIEF})
    read(
        as_role("supervisor", user="fictional-supervisor-1"),
        "req-hold-0001",
        HOLD,
        {"key": key(), "case": case, "reason": "Fictional court order 42 preserves it"},
    )
    return case, shelter


@pytest.mark.parametrize("role", ["compliance", "supervisor"])
def test_an_audit_trail_shows_who_did_what_and_why_and_never_what_the_caller_said(
    system: System, as_role: Any, role: str
) -> None:
    case, shelter = case_with_a_history(system, as_role)
    response = as_role(role).post(AUDIT, {"id": case})
    assert response.status_code == 200
    trail = response.json()["data"]["auditTrail"]
    assert trail["pageInfo"] == {"hasNextPage": False, "endCursor": trail["pageInfo"]["endCursor"]}
    who = [
        (e["version"], e["type"], e["actorId"], e["actorRole"], e["requestId"], e["reason"])
        for e in trail["items"]
    ]
    assert who == [
        (1, "Case.Opened", "fictional-staff-7", "staff", "req-open-0001", None),
        (2, "Case.ConsentGranted", "fictional-staff-7", "staff", "req-consent-0001", None),
        (
            3,
            "Case.SupervisorConsulted",
            "fictional-supervisor-2",
            "supervisor",
            "req-decide-0001",
            "[sealed]",
        ),
        (4, "Case.InformationDisclosed", "fictional-staff-7", "staff", "req-refer-0001", None),
        (5, "Case.ReferralMade", "fictional-staff-7", "staff", "req-refer-0001", None),
        (
            6,
            "Case.LegalHoldPlaced",
            "fictional-supervisor-1",
            "supervisor",
            "req-hold-0001",
            "Fictional court order 42 preserves it",
        ),
    ]
    assert {(e["recordId"], e["recordType"]) for e in trail["items"]} == {(case, "Case")}
    opened, _, decided, disclosed, referred, _ = (e["data"] for e in trail["items"])
    assert opened["sealed_personal"] == "[sealed]"
    assert decided["decision"] == decided["next_steps"] == "[sealed]"
    assert opened["details"]["province"] == "CA-ON"
    assert disclosed["sealed_copy"] == "[sealed]"
    assert disclosed["fields"] == ["CALLER_NAME", "CALLER_PHONE", "BRIEF", "NEEDS"]
    assert disclosed["recipient_id"] == referred["organization_id"] == shelter
    assert disclosed["policy_version"] == system.policy.version
    for secret in (*SECRETS, BRIEF):
        assert secret not in response.text, secret


def test_an_audit_trail_narrows_by_time_actor_and_event_type_and_pages(
    system: System, as_role: Any
) -> None:
    case, _ = case_with_a_history(system, as_role)
    compliance = as_role("compliance")

    def versions(**variables: Any) -> list[int]:
        trail = ok(compliance, AUDIT, {"id": case, **variables})["auditTrail"]
        return [e["version"] for e in trail["items"]]

    at = {e["version"]: e["at"] for e in ok(compliance, AUDIT, {"id": case})["auditTrail"]["items"]}
    assert versions(filter={"actorId": "fictional-supervisor-1"}) == [6]
    assert versions(filter={"eventTypes": ["Case.ConsentGranted", "Case.ReferralMade"]}) == [2, 5]
    assert versions(filter={"since": at[4]}) == [4, 5, 6]
    # The same instant written in another zone narrows the same way.
    elsewhere = parse_moment(at[4]).astimezone(timezone(timedelta(hours=-5))).isoformat()
    assert versions(filter={"since": elsewhere}) == [4, 5, 6]
    assert versions(filter={"until": at[4]}) == [1, 2, 3]  # until is exclusive
    assert versions(filter={"since": at[2], "until": at[6], "actorId": "fictional-staff-7"}) == [
        2,
        4,
        5,
    ]
    assert versions(filter={"actorId": "fictional-nobody"}) == []

    pages, after = [], None
    while True:
        trail = ok(compliance, AUDIT, {"id": case, "first": 2, "after": after})["auditTrail"]
        pages.append([e["version"] for e in trail["items"]])
        after = trail["pageInfo"]["endCursor"]
        if not trail["pageInfo"]["hasNextPage"]:
            break
    assert pages == [[1, 2], [3, 4], [5, 6]]
    filtered = ok(
        compliance,
        AUDIT,
        {
            "id": case,
            "first": 1,
            "filter": {"eventTypes": ["Case.ConsentGranted", "Case.LegalHoldPlaced"]},
        },
    )["auditTrail"]
    assert [e["version"] for e in filtered["items"]] == [2]
    assert filtered["pageInfo"]["hasNextPage"] is True
    rest = ok(
        compliance,
        AUDIT,
        {
            "id": case,
            "first": 1,
            "after": filtered["pageInfo"]["endCursor"],
            "filter": {"eventTypes": ["Case.ConsentGranted", "Case.LegalHoldPlaced"]},
        },
    )
    assert [e["version"] for e in rest["auditTrail"]["items"]] == [6]
    assert rest["auditTrail"]["pageInfo"]["hasNextPage"] is False

    for wrong in ({"first": 0}, {"after": "bm90IGEgY3Vyc29y"}):
        assert error_code(compliance.gql(AUDIT, {"id": case, **wrong})) == "INVALID_INPUT"


def test_an_organizations_audit_trail_shows_its_inclusion(system: System, as_role: Any) -> None:
    shelter = str(seed(system, "Example Harbour Refuge"))
    trail = ok(as_role("supervisor"), AUDIT, {"id": shelter})["auditTrail"]["items"]
    assert [(e["recordType"], e["actorId"], e["actorRole"]) for e in trail] == [
        ("Organization", "fictional-seeder", "staff")
    ] * len(trail)
    assert trail[-1]["reason"] == "seeded"
    assert ok(as_role("compliance"), AUDIT, {"id": MISSING}) == {"auditTrail": EMPTY_PAGE}


def test_a_record_replays_to_a_version_and_to_a_moment(system: System, as_role: Any) -> None:
    case, _ = case_with_a_history(system, as_role)
    compliance = as_role("compliance")
    at = {e["version"]: e["at"] for e in ok(compliance, AUDIT, {"id": case})["auditTrail"]["items"]}

    def replay(**variables: Any) -> Any:
        return ok(compliance, AS_OF, {"id": case, **variables})["recordAsOf"]

    first = replay(version=1)
    assert {k: first[k] for k in ("recordId", "recordType", "version", "createdAt", "at")} == {
        "recordId": case,
        "recordType": "Case",
        "version": 1,
        "createdAt": at[1],
        "at": at[1],
    }
    assert first["state"]["sealed_personal"] == "[sealed]"
    assert first["state"]["consents"] == {} and first["state"]["legal_hold"] is None

    held = replay(version=6)
    assert held["state"]["legal_hold"]["reason"] == "Fictional court order 42 preserves it"
    assert held["state"]["legal_hold"]["by"] == "fictional-supervisor-1"
    assert [d["sealedCopy"] for d in held["state"]["disclosures"].values()] == ["[sealed]"]

    assert replay(at=at[2])["version"] == 2  # the moment of an event includes it
    assert replay(at=at[4])["version"] == 4
    later = (parse_moment(at[6]) + timedelta(days=1)).isoformat()
    assert replay(at=later)["version"] == 6
    assert replay(at=at[4], version=2)["version"] == 2  # the earlier of the two wins
    assert replay(at="2001-01-01") is None  # before the case existed
    assert replay(version=7) is None  # a version it never reached
    assert replay(version=0) is None
    assert ok(compliance, AS_OF, {"id": MISSING, "version": 1}) == {"recordAsOf": None}
    neither = compliance.gql(AS_OF, {"id": case})
    assert error_code(neither) == "INVALID_INPUT"

    text = json.dumps([replay(version=v) for v in range(1, 7)])
    for secret in (*SECRETS, BRIEF):
        assert secret not in text, secret


def test_audit_trail_and_replay_reads_are_themselves_logged(system: System, as_role: Any) -> None:
    case = open_case(as_role("staff"))
    supervisor = as_role("supervisor", user="fictional-supervisor-1")
    compliance = as_role("compliance", user="fictional-compliance-1")
    read(
        supervisor,
        "req-audit-0001",
        "query($id: ID!) { auditTrail(recordId: $id) { items { type actorId reason } } }",
        {"id": case},
    )
    read(
        compliance,
        "req-replay-0001",
        "query($id: ID!) { recordAsOf(recordId: $id, version: 1) { version state } }",
        {"id": case},
    )
    read(
        compliance,
        "req-audit-0003",
        """query($id: ID!) { t: auditTrail(recordId: $id) {
      items { ...Who } } r: recordAsOf(recordId: $id, at: "2999-01-01") { s: state } }
      fragment Who on AuditEvent { by: actorRole ... on AuditEvent { data } }""",
        {"id": case},
    )
    # An empty page reads nothing: nothing to log.
    read(
        supervisor,
        "req-audit-0002",
        "query($id: ID!) { auditTrail(recordId: $id, "
        'filter: {actorId: "fictional-nobody"}) { items { type } } }',
        {"id": case},
    )

    logged = [e for e in access_log(compliance, case)["items"] if e["recordType"] != "AccessLog"]
    assert timeless(logged) == [
        # One request, two records read: an entry for each (newest first, as they were
        # written).
        entry(
            system,
            user="fictional-compliance-1",
            role="compliance",
            request="req-audit-0003",
            record_type="RecordAsOf",
            record=case,
            case=case,
            fields=["state"],
        ),
        entry(
            system,
            user="fictional-compliance-1",
            role="compliance",
            request="req-audit-0003",
            record_type="AuditTrail",
            record=case,
            case=case,
            fields=["actorRole", "data"],
        ),
        entry(
            system,
            user="fictional-compliance-1",
            role="compliance",
            request="req-replay-0001",
            record_type="RecordAsOf",
            record=case,
            case=case,
            fields=["state", "version"],
        ),
        entry(
            system,
            user="fictional-supervisor-1",
            role="supervisor",
            request="req-audit-0001",
            record_type="AuditTrail",
            record=case,
            case=case,
            fields=["actorId", "reason", "type"],
        ),
    ]


@pytest.mark.parametrize("role", [*OUTSIDERS, "staff"])
def test_roles_without_an_audit_scope_get_what_a_missing_record_gets(
    system: System, as_role: Any, role: str
) -> None:
    world = referred_case(system, as_role)
    org = world.shelter if role in ("partner", "law_enforcement") else None
    asker = as_role(role, org, user=f"fictional-{role}-asker")
    now = datetime.now(UTC).isoformat()
    for record in (world.case, world.shelter, world.referral):
        for query, variables, nothing in (
            (AUDIT, {}, {"auditTrail": EMPTY_PAGE}),
            (AS_OF, {"version": 1}, {"recordAsOf": None}),
            (AS_OF, {"at": now}, {"recordAsOf": None}),
        ):
            exists = asker.post(query, {"id": record, **variables})
            absent = asker.post(query, {"id": MISSING, **variables})
            assert exists.status_code == absent.status_code == 200
            assert exists.content == absent.content, (record, query)
            assert exists.json() == {"data": nothing}
    assert ok(asker, DIRECTORY_AS_OF, {"at": now}) == {"publicDirectoryAsOf": None}
    assert ok(asker, DIRECTORY_AS_OF, {"at": "2001-01-01"}) == {"publicDirectoryAsOf": None}
    logged = access_log(as_role("compliance"), user=f"fictional-{role}-asker")
    assert logged == EMPTY_PAGE


def test_the_public_directory_as_it_stood_omits_what_was_listed_later(
    system: System, as_role: Any
) -> None:
    early = str(seed(system, "Example Early Refuge", confidential=True))
    unlisted = str(seed(system, "Example Unlisted Refuge", listed=False))
    seed(system, "Example Pending Refuge", included=False)
    between = datetime.now(UTC)
    late = str(seed(system, "Example Late Refuge"))
    ok(
        as_role("staff"),
        """mutation($key: String!, $id: ID!) {
      setPublicListing(idempotencyKey: $key, id: $id, listed: true,
        agreement: "Fictional: the refuge's signed listing form.") { version } }""",
        {"key": key(), "id": unlisted},
    )
    ok(
        as_role("supervisor"),
        """mutation($key: String!, $id: ID!) {
      removeOrganization(idempotencyKey: $key, id: $id, reason: ORGANIZATION_REQUEST) {
        version } }""",
        {"key": key(), "id": early},
    )
    compliance, supervisor = as_role("compliance"), as_role("supervisor")

    then = ok(compliance, DIRECTORY_AS_OF, {"at": between.isoformat()})["publicDirectoryAsOf"]
    assert then["count"] == 1
    assert parse_moment(then["at"]) == between
    [listed] = then["organizations"]
    assert (listed["id"], listed["nameEn"]) == (early, "Example Early Refuge")
    # A confidential location never shows its address, then as now.
    assert listed["location"] == {"province": "CA-ON", "municipality": "Fictionville"}
    assert "pointOfContact" not in listed

    now = ok(supervisor, DIRECTORY_AS_OF, {"at": datetime.now(UTC).isoformat()})[
        "publicDirectoryAsOf"
    ]
    assert [(o["id"], o["nameEn"]) for o in now["organizations"]] == [
        (late, "Example Late Refuge"),
        (unlisted, "Example Unlisted Refuge"),
    ]
    assert now["count"] == 2
    assert now["organizations"][0]["location"]["address"] == "1 Example Street"
    text = json.dumps([then, now])
    for private in ("Fictional Coordinator", "coordinator@example.org", "+1 555 020 0000"):
        assert private not in text

    assert ok(compliance, DIRECTORY_AS_OF, {"at": "2001-01-01"}) == {
        "publicDirectoryAsOf": {"at": "2001-01-01T00:00:00+00:00", "count": 0, "organizations": []}
    }


@pytest.mark.parametrize("role", ["compliance", "public"])
def test_a_moment_that_is_not_iso_8601_is_refused_as_invalid_input(
    system: System, as_role: Any, role: str
) -> None:
    case = open_case(as_role("staff"))
    asker = as_role(role)
    for query, variables in (
        (AS_OF, {"id": case, "at": "last tuesday"}),
        (AS_OF, {"id": case, "at": "2026-13-45"}),
        (DIRECTORY_AS_OF, {"at": "yesterday"}),
        (AUDIT, {"id": case, "filter": {"since": "soon"}}),
        (AUDIT, {"id": case, "filter": {"until": "31/01/2026"}}),
    ):
        body = asker.gql(query, variables)
        assert error_code(body) == "INVALID_INPUT", (query, variables)
        assert "ISO 8601" in body["errors"][0]["message"]


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_moment_at_the_edge_of_the_calendar_is_answered_or_refused_never_an_internal_error(
    system: System, as_role: Any, moment: str
) -> None:
    case = open_case(as_role("staff"))
    compliance = as_role("compliance")
    for query, variables in (
        (AS_OF, {"id": case, "at": moment}),
        (DIRECTORY_AS_OF, {"at": moment}),
        (AUDIT, {"id": case, "filter": {"since": moment}}),
        (AUDIT, {"id": case, "filter": {"until": moment}}),
    ):
        body = compliance.gql(query, variables)
        codes = [e["extensions"]["code"] for e in body.get("errors", [])]
        assert codes in ([], ["INVALID_INPUT"]), (query, variables, body)


# -- legal holds and erasure -----------------------------------------------------------------------


def test_a_legal_hold_blocks_erasure_until_it_is_released(system: System, as_role: Any) -> None:
    staff = as_role("staff")
    supervisor = as_role("supervisor", user="fictional-supervisor-1")
    case = open_case(staff)
    hold_key = key()
    placed = ok(
        supervisor, HOLD, {"key": hold_key, "case": case, "reason": "Fictional court order 42"}
    )["placeLegalHold"]
    assert placed == {"recordId": case, "version": 2, "replayed": False}
    again = ok(
        supervisor, HOLD, {"key": hold_key, "case": case, "reason": "Fictional court order 42"}
    )["placeLegalHold"]
    assert again == {"recordId": case, "version": 2, "replayed": True}

    seen = ok(staff, CASE, {"id": case})["case"]
    assert seen["legalHold"]["by"] == "fictional-supervisor-1"
    assert seen["legalHold"]["reason"] == "Fictional court order 42"
    assert parse_moment(seen["legalHold"]["at"]) <= datetime.now(UTC)
    assert seen["callerName"] == NAME and seen["personalDataErasedAt"] is None

    written = events_written(system)
    refused = supervisor.gql(
        ERASE, {"key": key(), "case": case, "reason": "The caller asked (fictional)"}
    )
    assert error_code(refused) == "LEGAL_HOLD"
    assert "legal hold" in refused["errors"][0]["message"]
    assert events_written(system) == written
    assert ok(staff, CASE, {"id": case})["case"]["callerName"] == NAME  # the key survives

    released = ok(
        supervisor, RELEASE, {"key": key(), "case": case, "reason": "The order lapsed (fictional)"}
    )
    assert released["releaseLegalHold"] == {"recordId": case, "version": 3, "replayed": False}
    assert ok(staff, CASE, {"id": case})["case"]["legalHold"] is None
    erased = ok(
        supervisor, ERASE, {"key": key(), "case": case, "reason": "The caller asked (fictional)"}
    )
    assert erased["eraseCallerData"] == {"recordId": case, "version": 4, "replayed": False}
    assert (
        error_code(supervisor.gql(RELEASE, {"key": key(), "case": case, "reason": "again"}))
        == "LEGAL_HOLD"
    )


def test_an_erasure_runs_even_while_every_command_thread_is_busy(
    system: System, as_role: Any
) -> None:
    # An erasure waits for its scrub: it runs on the store threads, so a slow one never
    # holds up other commands, and busy command threads never hold it up.
    staff, supervisor = as_role("staff"), as_role("supervisor", user="fictional-supervisor-1")
    case = open_case(staff)
    release = threading.Event()
    busy = [
        system.commands.submit(release.wait, 10) for _ in range(system.settings.command_threads)
    ]
    try:
        erased = ok(
            supervisor,
            ERASE,
            {"key": key(), "case": case, "reason": "The caller asked (fictional)"},
        )
        assert erased["eraseCallerData"]["recordId"] == case
        assert not any(task.done() for task in busy)
    finally:
        release.set()


def test_after_erasure_the_callers_data_cannot_be_read_anywhere(
    system: System, as_role: Any
) -> None:
    world = referred_case(system, as_role)
    staff = as_role("staff")
    supervisor = as_role("supervisor", user="fictional-supervisor-1")
    partner = as_role("partner", world.shelter)
    erase_key = key()
    variables = {"key": erase_key, "case": world.case, "reason": "The caller asked (fictional)"}
    erased = ok(supervisor, ERASE, variables)["eraseCallerData"]
    assert erased == {"recordId": world.case, "version": 6, "replayed": False}  # after the decision
    assert ok(supervisor, ERASE, variables)["eraseCallerData"] == {**erased, "replayed": True}
    assert error_code(supervisor.gql(ERASE, {**variables, "key": key()})) == "ALREADY_ERASED"

    seen = ok(staff, CASE, {"id": world.case})["case"]
    assert {k: seen[k] for k in ("callerName", "callerPhone", "callerEmail", "notes")} == {
        "callerName": None,
        "callerPhone": None,
        "callerEmail": None,
        "notes": None,
    }
    assert seen["province"] == "CA-ON"
    assert parse_moment(seen["personalDataErasedAt"]) <= datetime.now(UTC)
    assert ok(partner, INBOX) == {"referralInbox": [{"id": world.referral, "disclosed": None}]}
    assert ok(
        partner,
        "query($id: ID!) { referral(id: $id) { disclosed { brief } } }",
        {"id": world.referral},
    ) == {"referral": {"disclosed": None}}
    by_phone = ok(
        staff,
        "query($p: String!) { cases(filter: {callerPhone: $p}) { items { id } } }",
        {"p": PHONE},
    )
    assert by_phone == {"cases": {"items": []}}

    compliance = as_role("compliance")
    trail = compliance.post(AUDIT, {"id": world.case})
    last = trail.json()["data"]["auditTrail"]["items"][-1]
    assert (last["type"], last["actorId"], last["reason"]) == (
        "Case.PersonalDataErased",
        "fictional-supervisor-1",
        "The caller asked (fictional)",
    )
    replays = [compliance.post(AS_OF, {"id": world.case, "version": v}) for v in range(1, 6)]
    ledger = compliance.post("{ disclosureLedger { items { caseId fields policyVersion } } }")
    assert ledger.json()["data"]["disclosureLedger"]["items"] == [
        {
            "caseId": world.case,
            "fields": ["CALLER_NAME", "CALLER_PHONE", "BRIEF", "NEEDS"],
            "policyVersion": system.policy.version,
        }
    ]
    everything = [
        trail.text,
        ledger.text,
        *(r.text for r in replays),
        staff.post(CASE, {"id": world.case}).text,
        partner.post(INBOX).text,
    ]
    for text in everything:
        for secret in (*SECRETS, BRIEF):
            assert secret not in text, secret


@pytest.mark.parametrize("reason", ["", "   "])
def test_erasure_and_holds_without_a_reason_are_refused(
    system: System, as_role: Any, reason: str
) -> None:
    case = open_case(as_role("staff"))
    supervisor = as_role("supervisor")
    written = events_written(system)
    for mutation in (ERASE, HOLD):
        refused = supervisor.gql(mutation, {"key": key(), "case": case, "reason": reason})
        assert error_code(refused) == "REASON_REQUIRED"
    assert events_written(system) == written
    ok(supervisor, HOLD, {"key": key(), "case": case, "reason": "Fictional court order 7"})
    refused = supervisor.gql(RELEASE, {"key": key(), "case": case, "reason": reason})
    assert error_code(refused) == "REASON_REQUIRED"
    assert ok(as_role("staff"), CASE, {"id": case})["case"]["callerName"] == NAME


@pytest.mark.parametrize("role", [*OUTSIDERS, "staff", "compliance"])
def test_only_a_supervisor_holds_releases_or_erases(
    system: System, as_role: Any, role: str
) -> None:
    case = open_case(as_role("staff"))
    org = str(uuid4()) if role in ("partner", "law_enforcement") else None
    asker = as_role(role, org)
    written = events_written(system)
    for mutation, name in (
        (HOLD, "placeLegalHold"),
        (RELEASE, "releaseLegalHold"),
        (ERASE, "eraseCallerData"),
    ):
        there = asker.post(mutation, {"key": key(), "case": case, "reason": "fictional"})
        absent = asker.post(mutation, {"key": key(), "case": MISSING, "reason": "fictional"})
        assert there.status_code == absent.status_code == 200
        body = there.json()
        assert body["data"] is None
        if role in ("staff", "compliance"):
            assert body["errors"][0]["extensions"]["code"] == "NOT_AVAILABLE"
            assert (
                f"Mutation.{name} is not available to the {role} role"
                in (body["errors"][0]["message"])
            )
        else:
            assert body == {
                "data": None,
                "errors": [
                    {
                        "message": "The query is not valid for this API.",
                        "extensions": {"code": "INVALID_QUERY"},
                    }
                ],
            }
        assert there.content == absent.content
    assert events_written(system) == written
    assert ok(as_role("staff"), CASE, {"id": case})["case"]["callerName"] == NAME

    missing = as_role("supervisor").gql(
        HOLD, {"key": key(), "case": MISSING, "reason": "fictional"}
    )
    assert error_code(missing) == "NOT_FOUND"


def test_every_disclosure_in_the_ledger_names_the_policy_version_in_force(
    system: System, as_role: Any
) -> None:
    world = referred_case(system, as_role)
    for role in ("compliance", "supervisor", "staff"):
        items = ok(as_role(role), "{ disclosureLedger { items { caseId policyVersion } } }")[
            "disclosureLedger"
        ]["items"]
        assert items == [{"caseId": world.case, "policyVersion": system.policy.version}], role


def test_the_ledger_an_inbox_without_its_copy_and_oversight_records_are_logged_reads(
    system: System, as_role: Any
) -> None:
    world = referred_case(system, as_role)
    compliance = as_role("compliance", user="fictional-compliance-3")
    partner = as_role("partner", world.shelter, user="fictional-partner-3")
    supervisor = as_role("supervisor", user="fictional-supervisor-3")

    read(compliance, "req-ledger-0001", "{ disclosureLedger { items { caseId justification } } }")
    read(partner, "req-inbox-0001", "{ referralInbox { needs outcomes { note } } }")
    read(
        supervisor,
        "req-oversight-0001",
        "query($id: ID!) { organization(id: $id) { misconductAllegations { summary } "
        "history { note } } }",
        {"id": world.shelter},
    )

    [ledger] = entries_of(compliance, "req-ledger-0001", world.case)
    assert (ledger["recordType"], ledger["caseId"], ledger["fields"]) == (
        "LedgerEntry",
        world.case,
        ["caseId", "justification"],
    )
    [inbox] = entries_of(compliance, "req-inbox-0001", world.case)
    assert (inbox["recordType"], inbox["recordId"], inbox["fields"]) == (
        "ReferralInboxItem",
        world.referral,
        ["needs", "outcomes"],
    )
    [oversight] = entries_of(compliance, "req-oversight-0001", world.shelter)
    assert (oversight["recordType"], oversight["fields"]) == (
        "Organization",
        ["history", "misconductAllegations"],
    )


def test_an_access_log_question_about_an_unusable_user_id_is_refused(as_role: Any) -> None:
    compliance = as_role("compliance")
    for user in ("", "x" * 201, "fictional\x00user"):
        body = compliance.gql(ACCESS, {"user": user})
        assert error_code(body) == "INVALID_INPUT", body


def test_a_supervisors_decision_reads_as_written_until_the_callers_data_is_erased(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_case(staff)
    ok(
        supervisor,
        """mutation($key: String!, $id: ID!) { recordSupervisorDecision(
        idempotencyKey: $key, id: $id, decision: "Fictional: Ottoline goes to a shelter",
        nextSteps: "Fictional: a warm transfer")
        { caseId } }""",
        {"key": key(), "id": case},
    )
    read_decision = """query($id: ID!) { case(id: $id) { consultations { decision } } }"""

    before = ok(staff, read_decision, {"id": case})["case"]["consultations"]
    ok(supervisor, ERASE, {"key": key(), "case": case, "reason": "The caller asked (fictional)"})
    after = ok(staff, read_decision, {"id": case})["case"]["consultations"]
    trail = json.dumps(ok(as_role("compliance"), AUDIT, {"id": case}))

    assert before == [{"decision": "Fictional: Ottoline goes to a shelter"}]
    assert after == [{"decision": "[erased]"}]
    assert "Ottoline" not in trail
