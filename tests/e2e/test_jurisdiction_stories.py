"""Reports under the case's own jurisdiction, and emergency calls never refused, told through
GraphQL by staff, supervisors, a liaison and a compliance officer, on both stores.

Nunavut is configured here with a number for one community only (fictional): a case there has
that number; a case elsewhere in Nunavut, or with no province yet, has none, and its call is
recorded all the same, with a warning.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from api.config import Settings
from api.wiring import System
from domain.base import Actor, acting_as
from tests.e2e.conftest import Caller, seed, supervisor_decides

IQALUIT_NUMBER = "555-0111"  # fictional

OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId } }"""
NUMBER = """query($id: ID!) {
  emergencyNumber(caseId: $id) { caseId province number source community warning } }"""
CALL = """mutation($key: String!, $id: ID!) {
  contactEmergencyServices(idempotencyKey: $key, id: $id) {
    caseId replayed warning
    emergencyNumber { province number source community warning }
    case { emergencies { province number numberSource community } } } }"""
CONSENT = """mutation($key: String!, $id: ID!, $to: ID) {
  grantConsent(idempotencyKey: $key, id: $id, scope: REPORT_TO_LAW_ENFORCEMENT,
               recipientId: $to, givenBy: CALLER, method: VERBAL) { version } }"""
REPORT = """mutation($key: String!, $id: ID!, $protocol: ID!, $factors: ReportFactorsInput!,
                  $override: String! = "") {
  reportToLawEnforcement(idempotencyKey: $key, id: $id, protocolId: $protocol,
    factors: $factors, fields: [LOCATION, URGENCY], jurisdictionOverride: $override) {
    case { reports { id jurisdictionOverride
      factors { callersWishes levelOfDetail applicableLaw localProtocol }
      facts { urgency imminentHarm minorInvolved indicators consent consentId } } } } }"""
FACTORS = {
    "callersWishes": "Fictional: wants the police told.",
    "levelOfDetail": "Fictional: an address and a first name.",
    "applicableLaw": "Fictional: the Criminal Code's trafficking offences.",
    "localProtocol": "Fictional: the unit's hotline contact, by phone.",
}
OVERRIDE = "Fictional: the caller is staying in Toronto this month; its unit takes the file."
AUDIT = """query($id: ID!) { auditTrail(recordId: $id) { items { type reason data } } }"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_changes(emergency_numbers={"CA-NU:Iqaluit": IQALUIT_NUMBER})


def key() -> str:
    return f"fictional-{uuid4()}"


def ok(caller: Caller, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = caller.gql(query, variables)
    assert "errors" not in body, body
    return body["data"]


def code_of(body: Any) -> str:
    [error] = body["errors"]
    return str(error["extensions"]["code"])


def open_case(staff: Caller, **details: Any) -> str:
    data = ok(
        staff,
        OPEN,
        {
            "key": key(),
            "input": {
                "channel": "CALL",
                "language": "iu",
                "relationship": "VICTIM_OR_SURVIVOR",
                "details": {"urgency": "IMMINENT_HARM", **details},
            },
        },
    )
    return str(data["openCase"]["caseId"])


# -- emergency contact ---------------------------------------------------------------------


def test_staff_in_iqaluit_see_the_communitys_number_then_call_it(as_role: Any) -> None:
    staff = as_role("staff")
    case = open_case(staff, province="CA-NU", municipality="iqaluit")

    before = ok(staff, NUMBER, {"id": case})["emergencyNumber"]
    called = ok(staff, CALL, {"key": "call-iqaluit-1", "id": case})["contactEmergencyServices"]

    assert before == {
        "caseId": case,
        "province": "CA-NU",
        "number": IQALUIT_NUMBER,
        "source": "COMMUNITY",
        "community": "Iqaluit",
        "warning": None,
    }
    assert (called["warning"], called["replayed"]) == (None, False)
    assert called["emergencyNumber"] == {k: v for k, v in before.items() if k != "caseId"}
    assert called["case"]["emergencies"] == [
        {
            "province": "CA-NU",
            "number": IQALUIT_NUMBER,
            "numberSource": "COMMUNITY",
            "community": "Iqaluit",
        }
    ]
    again = ok(staff, CALL, {"key": "call-iqaluit-1", "id": case})["contactEmergencyServices"]
    assert (again["replayed"], again["emergencyNumber"]) == (True, called["emergencyNumber"])


def test_staff_in_nunavut_with_no_number_configured_record_the_call_with_a_warning(
    as_role: Any,
) -> None:
    staff = as_role("staff")
    case = open_case(staff, province="CA-NU", municipality="Fictional Inlet")

    before = ok(staff, NUMBER, {"id": case})["emergencyNumber"]
    called = ok(staff, CALL, {"key": key(), "id": case})["contactEmergencyServices"]

    assert (before["number"], before["source"]) == (None, "NOT_CONFIGURED")
    assert "NRD_EMERGENCY_NUMBERS" in before["warning"]
    assert called["warning"] == before["warning"]  # a field of the answer, not an error
    assert called["emergencyNumber"]["number"] is None
    assert called["case"]["emergencies"] == [
        {"province": "CA-NU", "number": None, "numberSource": "NOT_CONFIGURED", "community": None}
    ]


def test_a_case_with_no_province_yet_still_records_its_emergency_call(as_role: Any) -> None:
    supervisor = as_role("supervisor")
    case = open_case(supervisor)

    before = ok(supervisor, NUMBER, {"id": case})["emergencyNumber"]
    called = ok(supervisor, CALL, {"key": key(), "id": case})["contactEmergencyServices"]

    assert (before["province"], before["number"], before["source"]) == (
        None,
        None,
        "PROVINCE_UNKNOWN",
    )
    assert "province" in called["warning"]
    assert called["case"]["emergencies"] == [
        {"province": None, "number": None, "numberSource": "PROVINCE_UNKNOWN", "community": None}
    ]


def test_911_in_the_provinces_and_yukon_through_the_api(as_role: Any) -> None:
    staff = as_role("staff")
    for province in ("CA-QC", "CA-YT"):
        case = open_case(staff, province=province)
        found = ok(staff, NUMBER, {"id": case})["emergencyNumber"]
        assert (found["number"], found["source"], found["warning"]) == (
            "911",
            "NINE_ONE_ONE",
            None,
        )


def test_only_staff_and_supervisors_ask_for_a_cases_emergency_number(
    system: System, as_role: Any
) -> None:
    case = open_case(as_role("staff"), province="CA-NU", municipality="Iqaluit")
    partner = seed(system, "Example Harbour Shelter")
    for role, org in (
        ("public", None),
        ("partner", partner),
        ("law_enforcement", partner),
        ("compliance", None),
    ):
        body = as_role(role, org).post(NUMBER, {"id": case}).json()
        # Refused before it runs: INVALID_QUERY, or for a role that may read the schema,
        # NOT_AVAILABLE.
        codes = {e["extensions"]["code"] for e in body["errors"]}
        assert body.get("data") is None and codes <= {"INVALID_QUERY", "NOT_AVAILABLE"}, role
    missing = ok(as_role("staff"), NUMBER, {"id": str(UUID(int=7))})
    assert missing == {"emergencyNumber": None}


def test_reading_a_cases_emergency_number_is_in_the_access_log(as_role: Any) -> None:
    staff = as_role("staff", user="fictional-staff-7")
    case = open_case(staff, province="CA-NU", municipality="Iqaluit")

    ok(staff, NUMBER, {"id": case})

    log = ok(
        as_role("compliance"),
        """query($id: ID) { accessLog(recordId: $id) { items { userId recordType caseId } } }""",
        {"id": case},
    )["accessLog"]["items"]
    assert {"userId": "fictional-staff-7", "recordType": "EmergencyNumber", "caseId": case} in log


# -- reports under the jurisdiction's protocol --------------------------------------------


def a_protocol(
    system: System, name: str, province: str, municipality: str | None
) -> tuple[str, str]:
    agency = seed(system, name, kind="LAW_ENFORCEMENT_AGENCY")
    with acting_as(Actor("fictional-staff-9", "staff")):
        protocol = system.app.establish_reporting_protocol(
            key(),
            agency,
            province,
            municipality,
            [{"name": "Fictional Detective", "phone": "+1 555 030 0009"}],
        ).id
    system.projector.catch_up()
    return str(agency), str(protocol)


def test_a_quebec_case_under_the_toronto_protocol_is_refused_and_nothing_leaves(
    system: System, as_role: Any
) -> None:
    agency, toronto = a_protocol(system, "Example Toronto Police", "CA-ON", "Toronto")
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_case(staff, province="CA-QC", municipality="Montréal")
    ok(staff, CONSENT, {"key": key(), "id": case, "to": agency})

    body = supervisor.gql(
        REPORT, {"key": key(), "id": case, "protocol": toronto, "factors": FACTORS}
    )

    assert code_of(body) == "OUTSIDE_JURISDICTION"
    assert "Montr" not in body["errors"][0]["message"]
    liaison = as_role("law_enforcement", agency)
    assert ok(liaison, "{ reportInbox { id } }") == {"reportInbox": []}
    ledger = ok(as_role("compliance"), "{ disclosureLedger { items { id } } }")
    assert ledger["disclosureLedger"]["items"] == []


def test_a_case_with_no_province_yet_cannot_be_reported_without_an_override(
    system: System, as_role: Any
) -> None:
    _, ontario = a_protocol(system, "Example Provincial Police", "CA-ON", None)
    case = open_case(as_role("staff"))

    body = as_role("supervisor").gql(
        REPORT, {"key": key(), "id": case, "protocol": ontario, "factors": FACTORS}
    )

    assert code_of(body) == "OUTSIDE_JURISDICTION"


def test_a_supervisor_overrides_the_jurisdiction_and_compliance_sees_it_was_overridden(
    system: System, as_role: Any
) -> None:
    agency, toronto = a_protocol(system, "Example Toronto Police", "CA-ON", "Toronto")
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_case(staff, province="CA-QC", municipality="Montréal")
    ok(staff, CONSENT, {"key": key(), "id": case, "to": agency})

    data = ok(
        supervisor,
        REPORT,
        {"key": key(), "id": case, "protocol": toronto, "factors": FACTORS, "override": OVERRIDE},
    )

    [made] = data["reportToLawEnforcement"]["case"]["reports"]
    assert made["jurisdictionOverride"] == OVERRIDE
    assert len(ok(as_role("law_enforcement", agency), "{ reportInbox { id } }")["reportInbox"]) == 1
    trail = ok(as_role("compliance"), AUDIT, {"id": case})["auditTrail"]["items"]
    [reported] = [e for e in trail if e["type"] == "Case.ReportedToLawEnforcement"]
    data_seen = reported["data"]
    assert data_seen["jurisdiction_override"] == "[sealed]"  # overridden; its words are sealed
    assert OVERRIDE not in str(trail)


def test_a_case_in_toronto_reported_under_its_protocol_needs_no_override(
    system: System, as_role: Any
) -> None:
    agency, toronto = a_protocol(system, "Example Toronto Police", "CA-ON", "Toronto")
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_case(staff, province="CA-ON", municipality="TORONTO")
    ok(staff, CONSENT, {"key": key(), "id": case, "to": agency})

    data = ok(
        supervisor, REPORT, {"key": key(), "id": case, "protocol": toronto, "factors": FACTORS}
    )

    assert data["reportToLawEnforcement"]["case"]["reports"][0]["jurisdictionOverride"] is None
    needless = supervisor.gql(
        REPORT,
        {"key": key(), "id": case, "protocol": toronto, "factors": FACTORS, "override": OVERRIDE},
    )
    assert code_of(needless) == "INVALID_INPUT"


def test_an_empty_factor_is_refused_and_nothing_is_written(system: System, as_role: Any) -> None:
    agency, ontario = a_protocol(system, "Example Provincial Police", "CA-ON", None)
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_case(staff, province="CA-ON")
    ok(staff, CONSENT, {"key": key(), "id": case, "to": agency})

    body = supervisor.gql(
        REPORT,
        {
            "key": key(),
            "id": case,
            "protocol": ontario,
            "factors": {**FACTORS, "applicableLaw": " "},
        },
    )

    assert code_of(body) == "INVALID_INPUT"
    assert "applicableLaw" in str(body["errors"][0]["extensions"].get("problems"))
    assert ok(as_role("law_enforcement", agency), "{ reportInbox { id } }") == {"reportInbox": []}
    retyped = supervisor.post(
        REPORT,
        {"key": key(), "id": case, "protocol": ontario, "factors": {**FACTORS, "urgency": "high"}},
    ).json()
    assert retyped.get("data") is None  # the facts are not input any more


def test_the_facts_of_a_report_are_filled_in_from_the_case(system: System, as_role: Any) -> None:
    agency, ontario = a_protocol(system, "Example Provincial Police", "CA-ON", None)
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_case(
        staff,
        province="CA-ON",
        imminentHarm=True,
        minorInvolved="YES",
        indicators=["MOVEMENT_CONTROLLED", "MINOR_IN_COMMERCIAL_SEX"],
    )
    ok(staff, CONSENT, {"key": key(), "id": case, "to": agency})
    supervisor_decides(system, case)  # indicators: potential trafficking, the decision first

    data = ok(
        supervisor, REPORT, {"key": key(), "id": case, "protocol": ontario, "factors": FACTORS}
    )

    [made] = data["reportToLawEnforcement"]["case"]["reports"]
    assert made["factors"] == FACTORS
    facts = made["facts"]
    assert facts["consentId"] is not None
    assert {k: v for k, v in facts.items() if k != "consentId"} == {
        "urgency": "IMMINENT_HARM",
        "imminentHarm": True,
        "minorInvolved": "YES",
        "indicators": ["MINOR_IN_COMMERCIAL_SEX", "MOVEMENT_CONTROLLED"],
        "consent": "ACTIVE",
    }


DISCLOSING_CALL = """mutation($key: String!, $id: ID!, $brief: String! = "",
                           $exception: DisclosureException) {
  contactEmergencyServices(idempotencyKey: $key, id: $id, fields: [LOCATION], brief: $brief,
    exception: $exception, justification: "Fictional: a threat tonight.") {
    replayed warning
    case { open emergencies { number } disclosures { fields } } } }"""
CLOSE = """mutation($key: String!, $id: ID!) {
  closeCase(idempotencyKey: $key, id: $id, reason: "Fictional: the caller is safe.") {
    version } }"""


def test_a_call_whose_disclosure_cannot_be_made_is_recorded_with_a_warning(
    as_role: Any,
) -> None:
    staff = as_role("staff")
    case = open_case(staff, province="CA-ON")
    call_key = key()

    # Staff may not disclose under an exception: the call stands, nothing leaves with it.
    called = ok(
        staff, DISCLOSING_CALL, {"key": call_key, "id": case, "exception": "IMMINENT_HARM"}
    )["contactEmergencyServices"]
    again = ok(staff, DISCLOSING_CALL, {"key": call_key, "id": case, "exception": "IMMINENT_HARM"})[
        "contactEmergencyServices"
    ]

    assert called["warning"].startswith("DISCLOSURE_NOT_MADE: ")
    assert called["case"]["emergencies"] == [{"number": "911"}]
    assert called["case"]["disclosures"] == []
    assert again["replayed"] is True
    assert again["warning"] == called["warning"]


def test_a_closed_case_still_records_its_emergency_call_and_stays_closed(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_case(staff, province="CA-ON")
    supervisor_decides(system, case)
    ok(staff, CLOSE, {"key": key(), "id": case})

    bare = ok(supervisor, CALL, {"key": key(), "id": case})["contactEmergencyServices"]
    sent = ok(
        supervisor, DISCLOSING_CALL, {"key": key(), "id": case, "exception": "IMMINENT_HARM"}
    )["contactEmergencyServices"]

    assert bare["warning"] is None
    assert "CASE_CLOSED" in sent["warning"]
    assert sent["case"]["open"] is False
    assert sent["case"]["emergencies"] == [{"number": "911"}, {"number": "911"}]
    assert sent["case"]["disclosures"] == []


def test_a_brief_given_with_an_emergency_call_leaves_with_it(as_role: Any) -> None:
    supervisor = as_role("supervisor")
    case = open_case(supervisor, province="CA-ON")

    sent = ok(
        supervisor,
        DISCLOSING_CALL,
        {
            "key": key(),
            "id": case,
            "exception": "IMMINENT_HARM",
            "brief": "Fictional: a second-floor flat.",
        },
    )["contactEmergencyServices"]

    assert sent["warning"] is None
    assert sent["case"]["disclosures"] == [{"fields": ["LOCATION", "BRIEF"]}]
