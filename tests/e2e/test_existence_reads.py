"""Whether a case, a referral or a report exists is confidential: every read that tells is logged.

A search that selects only ids or type names, a search that answers nothing, a page that says
only whether there is more, a partner's or a liaison's inbox, a case looked up by id: each is in
the access log before its answer leaves, with who asked, which filters were used (their names,
never their values) and which records answered.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from api.wiring import System
from domain.base import Actor, acting_as
from tests.e2e.conftest import Caller, seed

PHONE = "+1 555 016 4410"  # fictional, and the number that called
NEVER_CALLED = "+1 555 016 9902"  # fictional, and a number that never did
FACTORS = {
    "callersWishes": "agrees",
    "levelOfDetail": "enough",
    "applicableLaw": "fictional act",
    "localProtocol": "fictional protocol",
}

OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId } }"""
REFER = """mutation($key: String!, $id: ID!, $org: ID!) {
  grantConsent(idempotencyKey: $key, id: $id, scope: SHARE_WITH_ORGANIZATION, recipientId: $org,
               givenBy: CALLER, method: VERBAL) { version } }"""
REFER_NOW = """mutation($key: String!, $id: ID!, $org: ID!) {
  referCase(idempotencyKey: $key, id: $id, organizationId: $org, mode: WARM_TRANSFER,
            needs: [SHELTER], fields: [CALLER_NAME]) { case { referrals { id } } } }"""
REPORT = """mutation($key: String!, $id: ID!, $protocol: ID!, $factors: ReportFactorsInput!) {
  reportToLawEnforcement(idempotencyKey: $key, id: $id, protocolId: $protocol,
    factors: $factors, fields: [URGENCY], exception: IMMINENT_HARM,
    justification: "Imminent danger described on the call (fictional)") {
    case { reports { id } } } }"""
BY_PHONE = """query($phone: String!) {
  cases(first: 5, filter: {callerPhone: $phone}) { items { __typename } } }"""
ACCESS = """query($user: String!) { accessLog(userId: $user) {
  items { userId role organizationId requestId recordType recordId caseId fields } } }"""


def key() -> str:
    return f"fictional-{uuid4()}"


def ok(
    caller: Caller,
    query: str,
    variables: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> Any:
    headers = {"x-request-id": request_id} if request_id else {}
    if caller.token:
        headers["authorization"] = f"Bearer {caller.token}"
    response = caller.client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def open_case(staff: Caller, phone: str = PHONE) -> str:
    data = ok(
        staff,
        OPEN,
        {
            "key": key(),
            "input": {
                "channel": "CALL",
                "language": "en",
                "relationship": "VICTIM_OR_SURVIVOR",
                "caller": {"name": "Ysolde Fictional-Caller", "phone": phone},
                "details": {"province": "CA-ON", "urgency": "HIGH"},
            },
        },
    )
    return str(data["openCase"]["caseId"])


def logged(
    as_role: Any, user: str, request_id: str
) -> list[tuple[str, str, str | None, list[str]]]:
    """The access log's entries for one request, as compliance reads them."""
    items = ok(as_role("compliance", user="fictional-compliance-1"), ACCESS, {"user": user})[
        "accessLog"
    ]["items"]
    return sorted(
        (e["recordType"], e["recordId"], e["caseId"], e["fields"])
        for e in items
        if e["requestId"] == request_id
    )


def stored_text(system: System) -> str:
    with system.access.store.read() as cursor:
        return repr(cursor.execute("SELECT * FROM access_log").fetchall())


def test_a_phone_search_selecting_only_type_names_is_logged_whether_or_not_it_called(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff", user="fictional-staff-prober")
    case = open_case(as_role("staff"))

    called = ok(staff, BY_PHONE, {"phone": PHONE}, "req-phone-called")
    never = ok(staff, BY_PHONE, {"phone": NEVER_CALLED}, "req-phone-never")

    assert called == {"cases": {"items": [{"__typename": "Case"}]}}
    assert never == {"cases": {"items": []}}
    assert logged(as_role, "fictional-staff-prober", "req-phone-called") == [
        ("Case", case, case, []),
        ("Search", "Query.cases", None, ["callerPhone"]),
    ]
    # An empty answer tells that the number never called: the search is logged all the same.
    assert logged(as_role, "fictional-staff-prober", "req-phone-never") == [
        ("Search", "Query.cases", None, ["callerPhone"])
    ]
    # Filter names, never their values.
    text = stored_text(system)
    for value in (PHONE, NEVER_CALLED, "5550164410", "5550169902"):
        assert value not in text


def test_an_attribute_search_and_a_page_that_only_says_whether_there_is_more_are_logged(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff", user="fictional-staff-prober")
    first, second = open_case(as_role("staff")), open_case(as_role("staff"))

    found = ok(
        staff,
        """{ cases(filter: {provinces: ["CA-ON"], urgencies: [HIGH]}) {
      items { id } } }""",
        request_id="req-attributes",
    )
    more = ok(staff, "{ cases(first: 1) { pageInfo { hasNextPage } } }", request_id="req-more")

    assert {item["id"] for item in found["cases"]["items"]} == {first, second}
    assert logged(as_role, "fictional-staff-prober", "req-attributes") == sorted(
        [
            ("Case", first, first, []),
            ("Case", second, second, []),
            ("Search", "Query.cases", None, ["provinces", "urgencies"]),
        ]
    )
    # No item was completed, but the page answered with the newest case.
    assert more == {"cases": {"pageInfo": {"hasNextPage": True}}}
    assert logged(as_role, "fictional-staff-prober", "req-more") == [
        ("Case", second, second, []),
        ("Search", "Query.cases", None, []),
    ]


def test_a_case_looked_up_by_id_alone_is_logged(system: System, as_role: Any) -> None:
    staff = as_role("staff", user="fictional-staff-prober")
    case = open_case(as_role("staff"))
    assert ok(staff, "query($id: ID!) { case(id: $id) { id } }", {"id": case}, "req-by-id") == {
        "case": {"id": case}
    }
    assert ok(
        staff,
        "query($id: ID!) { c: case(id: $id) { __typename } }",
        {"id": case},
        "req-by-typename",
    ) == {"c": {"__typename": "Case"}}
    for request_id in ("req-by-id", "req-by-typename"):
        assert logged(as_role, "fictional-staff-prober", request_id) == [("Case", case, case, [])]


def test_inboxes_listing_only_ids_are_logged_and_so_is_an_empty_one(
    system: System, as_role: Any
) -> None:
    shelter, neighbour = (
        seed(system, "Example Existence Refuge"),
        seed(system, "Example Existence Neighbour"),
    )
    agency = seed(system, "Example Existence Police", kind="LAW_ENFORCEMENT_AGENCY")
    with acting_as(Actor("fictional-staff-9", "staff", request_id="protocol")):
        protocol = system.app.establish_reporting_protocol(
            key(),
            agency,
            "CA-ON",
            None,
            [{"name": "Fictional Detective", "phone": "+1 555 030 0009"}],
        ).id
    system.projector.catch_up()
    staff = as_role("staff")
    case = open_case(staff)
    ok(staff, REFER, {"key": key(), "id": case, "org": str(shelter)})
    [referral] = ok(staff, REFER_NOW, {"key": key(), "id": case, "org": str(shelter)})["referCase"][
        "case"
    ]["referrals"]
    [report] = ok(
        as_role("supervisor"),
        REPORT,
        {"key": key(), "id": case, "protocol": str(protocol), "factors": FACTORS},
    )["reportToLawEnforcement"]["case"]["reports"]

    partner = as_role("partner", shelter, user="fictional-partner-prober")
    other = as_role("partner", neighbour, user="fictional-partner-other")
    liaison = as_role("law_enforcement", agency, user="fictional-liaison-prober")
    assert ok(partner, "{ referralInbox { id } }", request_id="req-inbox") == {
        "referralInbox": [{"id": referral["id"]}]
    }
    assert ok(other, "{ referralInbox { id } }", request_id="req-empty") == {"referralInbox": []}
    assert ok(liaison, "{ reportInbox { __typename } }", request_id="req-reports") == {
        "reportInbox": [{"__typename": "ReportInboxItem"}]
    }
    assert ok(
        partner,
        "query($id: ID!) { referral(id: $id) { id } }",
        {"id": referral["id"]},
        "req-referral",
    ) == {"referral": {"id": referral["id"]}}

    assert logged(as_role, "fictional-partner-prober", "req-inbox") == [
        ("ReferralInboxItem", referral["id"], case, []),
        ("Search", "Query.referralInbox", None, []),
    ]
    assert logged(as_role, "fictional-partner-other", "req-empty") == [
        ("Search", "Query.referralInbox", None, [])
    ]
    assert logged(as_role, "fictional-liaison-prober", "req-reports") == [
        ("ReportInboxItem", report["id"], case, []),
        ("Search", "Query.reportInbox", None, []),
    ]
    assert logged(as_role, "fictional-partner-prober", "req-referral") == [
        ("ReferralInboxItem", referral["id"], case, [])
    ]


def test_without_the_access_log_an_existence_read_answers_nothing(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    case = open_case(staff)
    with system.access.store.transaction() as cursor:
        cursor.execute("DROP TABLE access_log")
    for query, variables in (
        ("query($id: ID!) { case(id: $id) { id } }", {"id": case}),
        (BY_PHONE, {"phone": PHONE}),
        (BY_PHONE, {"phone": NEVER_CALLED}),
        ("{ cases { items { __typename } } }", {}),
    ):
        response = staff.post(query, variables)
        assert response.status_code == 503, (query, variables, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == "ACCESS_LOG_UNAVAILABLE"
        assert case not in response.text
