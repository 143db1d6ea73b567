"""Cases told through GraphQL: a caller's story from the hotline, a partner and an agency."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api.wiring import System
from domain.base import Actor, acting_as
from tests.e2e.conftest import seed, supervisor_decides

OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId case { callerName province urgency } } }"""
CONSENT = """mutation($key: String!, $id: ID!, $scope: ConsentScope!, $to: ID) {
  grantConsent(idempotencyKey: $key, id: $id, scope: $scope, recipientId: $to,
               givenBy: CALLER, method: VERBAL) { case { consents { id scope } } } }"""
REFER = """mutation($key: String!, $id: ID!, $org: ID!, $fields: [DisclosableField!]) {
  referCase(idempotencyKey: $key, id: $id, organizationId: $org, mode: WARM_TRANSFER,
            needs: [SHELTER], fields: $fields, brief: "Needs a safe bed tonight (fictional)") {
    case { referrals { id organizationId } disclosures { fields consentId } } } }"""
INBOX = """{ referralInbox { id mode needs fields
               disclosed { callerName callerPhone brief needs } } }"""

CALLER = {
    "name": "Fictional Caller Alpha",
    "phone": "+1 555 019 0001",
    "email": "alpha.caller@example.org",
}


def open_case(staff: Any, key: str = "case-open-0001") -> str:
    response = staff.gql(
        OPEN,
        {
            "key": key,
            "input": {
                "channel": "CALL",
                "language": "en",
                "relationship": "VICTIM_OR_SURVIVOR",
                "caller": CALLER,
                "notes": "Fictional notes",
                "details": {
                    "province": "CA-ON",
                    "urgency": "HIGH",
                    "needs": ["SHELTER"],
                    "situationType": "LABOUR_TRAFFICKING",
                    "minorInvolved": "NO",
                },
            },
        },
    )
    case = response["data"]["openCase"]
    assert case["case"] == {"callerName": CALLER["name"], "province": "CA-ON", "urgency": "HIGH"}
    return str(case["caseId"])


def test_a_consented_referral_reaches_the_partner_with_exactly_what_was_disclosed(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    shelter = seed(system, "Example Refuge Partner")
    other = seed(system, "Example Other Partner")
    case = open_case(staff)
    supervisor_decides(system, case)  # a potential trafficking case: the decision comes first
    refused = staff.gql(
        REFER,
        {
            "key": "case-refer-0001",
            "id": case,
            "org": str(shelter),
            "fields": ["CALLER_NAME", "NEEDS", "BRIEF"],
        },
    )
    assert refused["errors"][0]["extensions"]["code"] == "CONSENT_REQUIRED"
    assert "SHARE_WITH_ORGANIZATION" in refused["errors"][0]["message"]

    staff.gql(
        CONSENT,
        {
            "key": "case-consent-01",
            "id": case,
            "scope": "SHARE_WITH_ORGANIZATION",
            "to": str(shelter),
        },
    )
    referred = staff.gql(
        REFER,
        {
            "key": "case-refer-0002",
            "id": case,
            "org": str(shelter),
            "fields": ["CALLER_NAME", "NEEDS", "BRIEF"],
        },
    )
    disclosure = referred["data"]["referCase"]["case"]["disclosures"][0]
    assert disclosure["fields"] == ["CALLER_NAME", "NEEDS", "BRIEF"]
    assert disclosure["consentId"]

    [item] = as_role("partner", shelter).gql(INBOX)["data"]["referralInbox"]
    assert item["disclosed"] == {
        "callerName": CALLER["name"],
        "callerPhone": None,
        "brief": "Needs a safe bed tonight (fictional)",
        "needs": ["SHELTER"],
    }
    assert as_role("partner", other).gql(INBOX)["data"]["referralInbox"] == []


def test_nobody_outside_the_hotline_can_find_a_case_and_foreign_referrals_look_missing(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    shelter, other = seed(system, "Example Refuge Partner"), seed(system, "Example Other")
    case = open_case(staff)
    supervisor_decides(system, case)
    staff.gql(
        CONSENT,
        {
            "key": "case-consent-02",
            "id": case,
            "scope": "SHARE_WITH_ORGANIZATION",
            "to": str(shelter),
        },
    )
    referred = staff.gql(
        REFER, {"key": "case-refer-0003", "id": case, "org": str(shelter), "fields": ["BRIEF"]}
    )
    referral = referred["data"]["referCase"]["case"]["referrals"][0]["id"]
    for role, org in (
        ("public", None),
        ("partner", shelter),
        ("law_enforcement", other),
        ("compliance", None),
    ):
        body = as_role(role, org).post("query($id: ID!) { case(id: $id) { id } }", {"id": case})
        assert body.json()["data"] is None, role
    ask = "query($id: ID!) { referral(id: $id) { id } }"
    mine = as_role("partner", shelter).post(ask, {"id": referral}).json()
    assert mine == {"data": {"referral": {"id": referral}}}
    not_mine = as_role("partner", other).post(ask, {"id": referral}).text
    missing = as_role("partner", other).post(ask, {"id": str(UUID(int=7))}).text
    assert not_mine == missing


def test_a_supervisor_reports_to_the_agency_under_its_protocol(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    agency = seed(system, "Example Regional Police", kind="LAW_ENFORCEMENT_AGENCY")
    with acting_as(Actor("fictional-staff-9", "staff")):
        protocol = system.app.establish_reporting_protocol(
            "case-protocol-1",
            agency,
            "CA-ON",
            None,
            [{"name": "Fictional Detective", "phone": "+1 555 030 0009"}],
        ).id
    system.projector.catch_up()
    case = open_case(staff)
    supervisor_decides(system, case)
    report = """mutation($key: String!, $id: ID!, $p: ID!, $f: ReportFactorsInput!) {
      reportToLawEnforcement(idempotencyKey: $key, id: $id, protocolId: $p, factors: $f,
        fields: [LOCATION, URGENCY], exception: IMMINENT_HARM,
        justification: "Imminent danger described (fictional)") { case { reports { id } } } }"""
    factors = {
        "callersWishes": "agrees",
        "levelOfDetail": "enough",
        "applicableLaw": "fictional",
        "localProtocol": "ok",
    }
    variables = {"key": "case-report-001", "id": case, "p": str(protocol), "f": factors}
    as_staff = staff.post(report, variables).json()
    assert as_staff["data"] is None  # staff may not report: refused before anything runs
    reported = supervisor.gql(report, variables)
    assert len(reported["data"]["reportToLawEnforcement"]["case"]["reports"]) == 1
    liaison = as_role("law_enforcement", agency)
    [item] = liaison.gql("{ reportInbox { fields disclosed { province urgency callerName } } }")[
        "data"
    ]["reportInbox"]
    assert item == {
        "fields": ["LOCATION", "URGENCY"],
        "disclosed": {"province": "CA-ON", "urgency": "HIGH", "callerName": None},
    }
    ledger = as_role("compliance").gql("{ disclosureLedger { items { fields exception byRole } } }")
    assert ledger["data"]["disclosureLedger"]["items"] == [
        {"fields": ["LOCATION", "URGENCY"], "exception": "IMMINENT_HARM", "byRole": "supervisor"}
    ]
