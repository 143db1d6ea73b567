"""A minor's case told through GraphQL: staff take a chat from a fifteen-year-old in the sex
trade, cannot close it, and a supervisor reports to the child-protection authority for the
place (or records why no report is required); the queue of flagged cases shows what waits."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api.wiring import System
from domain.base import Actor, acting_as
from tests.e2e.conftest import fictional_profile, seed, supervisor_decides

OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) {
    caseId case { mandatoryReport { decision decidedAt } } } }"""
CONSENT = """mutation($key: String!, $id: ID!, $scope: ConsentScope!, $to: ID) {
  grantConsent(idempotencyKey: $key, id: $id, scope: $scope, recipientId: $to,
               givenBy: MINOR, method: CHAT) { case { consents { scope givenBy } } } }"""
CLOSE = """mutation($key: String!, $id: ID!) {
  closeCase(idempotencyKey: $key, id: $id, reason: "Fictional: resolved") { case { open } } }"""
TO_AUTHORITY = """mutation($key: String!, $id: ID!, $to: ID!, $override: String! = "") {
  reportToChildProtection(idempotencyKey: $key, id: $id, authorityId: $to,
    fields: [CALLER_NAME, LOCATION, MINOR_INVOLVED, INDICATORS],
    justification: "A fifteen-year-old in the sex trade (fictional)",
    brief: "Fictional brief for the intake worker", jurisdictionOverride: $override) {
    version case { childProtectionReports { authorityId jurisdictionOverride by }
                   mandatoryReport { decision reportId decidedBy } } } }"""
NO_REPORT = """mutation($key: String!, $id: ID!, $why: String!) {
  decideNoMandatoryReport(idempotencyKey: $key, id: $id, justification: $why) {
    case { mandatoryReport { decision justification decidedBy } } } }"""
QUEUE = """query($decided: Boolean) { mandatoryReportQueue(decided: $decided) {
  totalCount items { caseId decided decidedAt } pageInfo { hasNextPage } } }"""
VERSION = "query($id: ID!) { case(id: $id) { version } }"


def open_minors_case(staff: Any, key: str, **details: Any) -> str:
    opened = staff.gql(
        OPEN,
        {
            "key": key,
            "input": {
                "channel": "CHAT",
                "language": "en",
                "relationship": "VICTIM_OR_SURVIVOR",
                "caller": {"name": "Fictional Minor Beta"},
                "details": {
                    "province": "CA-MB",
                    "situationType": "SEX_TRAFFICKING",
                    "minorInvolved": "YES",
                    "indicators": ["MINOR_IN_COMMERCIAL_SEX"],
                    **details,
                },
            },
        },
    )["data"]["openCase"]
    assert opened["case"]["mandatoryReport"] == {"decision": None, "decidedAt": None}
    return str(opened["caseId"])


def authority(system: System, name: str, province: str) -> UUID:
    return seed(
        system,
        name,
        province=province,
        kind="CHILD_PROTECTION_AUTHORITY",
        regions=[{"province": province}],
    )


def test_a_minors_case_closes_only_after_a_supervisor_reports_to_child_protection(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    manitoba = authority(system, "Example Child and Family Services (MB)", "CA-MB")
    ontario = authority(system, "Example Children's Aid (ON)", "CA-ON")
    case = open_minors_case(staff, "minor-open-0001")
    supervisor_decides(system, case)  # it references potential trafficking

    consented = staff.gql(
        CONSENT, {"key": "minor-consent-1", "id": case, "scope": "FOLLOW_UP_CONTACT"}
    )
    assert consented["data"]["grantConsent"]["case"]["consents"] == [
        {"scope": "FOLLOW_UP_CONTACT", "givenBy": "MINOR"}
    ]
    refused = staff.gql(CLOSE, {"key": "minor-close-0001", "id": case})
    assert refused["errors"][0]["extensions"]["code"] == "MANDATORY_REPORT_DECISION_REQUIRED"

    assert staff.post(QUEUE, {"decided": False}).json()["data"] is None  # supervisors' queue
    queue = supervisor.gql(QUEUE, {"decided": False})["data"]["mandatoryReportQueue"]
    assert queue == {
        "totalCount": 1,
        "items": [{"caseId": case, "decided": False, "decidedAt": None}],
        "pageInfo": {"hasNextPage": False},
    }

    # Not the authority for Manitoba: refused, nothing written, unless the supervisor says why.
    before = staff.gql(VERSION, {"id": case})["data"]["case"]["version"]
    outside = supervisor.gql(TO_AUTHORITY, {"key": "minor-cp-0001", "id": case, "to": str(ontario)})
    assert outside["errors"][0]["extensions"]["code"] == "OUTSIDE_JURISDICTION"
    assert staff.gql(VERSION, {"id": case})["data"]["case"]["version"] == before
    as_staff = staff.post(TO_AUTHORITY, {"key": "minor-cp-0002", "id": case, "to": str(manitoba)})
    assert as_staff.json()["data"] is None  # staff may not report

    reported = supervisor.gql(
        TO_AUTHORITY, {"key": "minor-cp-0003", "id": case, "to": str(manitoba)}
    )
    after = reported["data"]["reportToChildProtection"]["case"]
    assert after["childProtectionReports"] == [
        {"authorityId": str(manitoba), "jurisdictionOverride": "", "by": "fictional-supervisor-1"}
    ]
    assert after["mandatoryReport"]["decision"] == "REPORTED_TO_CHILD_PROTECTION"
    assert after["mandatoryReport"]["decidedBy"] == "fictional-supervisor-1"

    ledger = as_role("compliance").gql(
        "{ disclosureLedger { items { recipientKind recipientId fields exception byRole } } }"
    )["data"]["disclosureLedger"]["items"]
    assert ledger == [
        {
            "recipientKind": "CHILD_PROTECTION_AUTHORITY",
            "recipientId": str(manitoba),
            # The brief given leaves with the report (as a referral's does).
            "fields": ["CALLER_NAME", "LOCATION", "MINOR_INVOLVED", "INDICATORS", "BRIEF"],
            "exception": "SUSPECTED_ABUSE_OF_A_MINOR",
            "byRole": "supervisor",
        }
    ]
    assert (
        supervisor.gql(QUEUE, {"decided": False})["data"]["mandatoryReportQueue"]["totalCount"] == 0
    )
    decided = supervisor.gql(QUEUE, {"decided": True})["data"]["mandatoryReportQueue"]
    assert [(i["caseId"], i["decided"]) for i in decided["items"]] == [(case, True)]
    closed = staff.gql(CLOSE, {"key": "minor-close-0002", "id": case})
    assert closed["data"]["closeCase"]["case"] == {"open": False}

    # The queue's answers are in the access log: it told the supervisor the case exists.
    logged = as_role("compliance").gql(
        "query($id: ID!) { accessLog(recordId: $id, first: 50) { items { role recordType } } }",
        {"id": case},
    )["data"]["accessLog"]["items"]
    assert {"role": "supervisor", "recordType": "MandatoryReportTask"} in logged


def test_an_authority_outside_the_case_place_receives_it_with_a_written_override(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    ontario = authority(system, "Example Children's Aid (ON)", "CA-ON")
    case = open_minors_case(staff, "minor-open-0002")
    supervisor_decides(system, case)  # it references potential trafficking
    reported = supervisor.gql(
        TO_AUTHORITY,
        {
            "key": "minor-cp-0004",
            "id": case,
            "to": str(ontario),
            "override": "The minor is staying in Ontario now (fictional)",
        },
    )
    [made] = reported["data"]["reportToChildProtection"]["case"]["childProtectionReports"]
    assert made["jurisdictionOverride"] == "The minor is staying in Ontario now (fictional)"


def test_a_supervisor_records_in_writing_that_no_report_is_required(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_minors_case(
        staff, "minor-open-0003", minorInvolved="UNKNOWN", indicators=["DEBT_BONDAGE"]
    )
    supervisor_decides(system, case)  # it references potential trafficking
    blank = supervisor.gql(NO_REPORT, {"key": "minor-none-01", "id": case, "why": "  "})
    assert blank["errors"][0]["extensions"]["code"] == "REASON_REQUIRED"
    assert (
        staff.post(NO_REPORT, {"key": "minor-none-02", "id": case, "why": "x"}).json()["data"]
        is None
    )
    decided = supervisor.gql(
        NO_REPORT,
        {"key": "minor-none-03", "id": case, "why": "The caller is 24, confirmed (fictional)"},
    )
    assert decided["data"]["decideNoMandatoryReport"]["case"]["mandatoryReport"] == {
        "decision": "NO_REPORT_REQUIRED",
        "justification": "The caller is 24, confirmed (fictional)",
        "decidedBy": "fictional-supervisor-1",
    }
    trail = supervisor.gql(
        "query($id: ID!) { auditTrail(recordId: $id) { items { type reason } } }", {"id": case}
    )["data"]["auditTrail"]["items"]
    assert [i["reason"] for i in trail if "MandatoryReportDecided" in i["type"]] == ["[sealed]"]
    again = supervisor.gql(NO_REPORT, {"key": "minor-none-04", "id": case, "why": "again"})
    assert again["errors"][0]["extensions"]["code"] == "NO_MANDATORY_REPORT_PENDING"
    closed = staff.gql(CLOSE, {"key": "minor-close-0003", "id": case})
    assert closed["data"]["closeCase"]["case"] == {"open": False}


def test_a_minors_own_consent_does_not_send_their_data_to_police_but_the_exception_does(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    agency = seed(system, "Example Prairie Police", province="CA-MB", kind="LAW_ENFORCEMENT_AGENCY")
    with acting_as(Actor("fictional-staff-9", "staff")):
        protocol = system.app.establish_reporting_protocol(
            "minor-protocol-1",
            agency,
            "CA-MB",
            None,
            [{"name": "Fictional Detective", "phone": "+1 555 030 0009"}],
        ).id
    system.projector.catch_up()
    case = open_minors_case(staff, "minor-open-0004")
    supervisor_decides(system, case)  # it references potential trafficking
    staff.gql(CONSENT, {"key": "minor-consent-2", "id": case, "scope": "REPORT_TO_LAW_ENFORCEMENT"})
    report = """mutation($key: String!, $id: ID!, $p: ID!, $f: ReportFactorsInput!,
                          $exception: DisclosureException, $why: String! = "") {
      reportToLawEnforcement(idempotencyKey: $key, id: $id, protocolId: $p, factors: $f,
        fields: [CALLER_NAME, LOCATION], exception: $exception, justification: $why) {
        case { mandatoryReport { decision } } } }"""
    factors = dict.fromkeys(
        (
            "callersWishes",
            "levelOfDetail",
            "applicableLaw",
            "localProtocol",
        ),
        "fictional",
    )
    variables = {"key": "minor-le-0001", "id": case, "p": str(protocol), "f": factors}
    refused = supervisor.gql(report, variables)
    assert refused["errors"][0]["extensions"]["code"] == "MINOR_CONSENT_INSUFFICIENT"
    reported = supervisor.gql(
        report,
        {
            **variables,
            "key": "minor-le-0002",
            "exception": "SUSPECTED_ABUSE_OF_A_MINOR",
            "why": "A fifteen-year-old in the sex trade (fictional)",
        },
    )
    assert reported["data"]["reportToLawEnforcement"]["case"]["mandatoryReport"] == {
        "decision": "REPORTED_TO_LAW_ENFORCEMENT"
    }
    [item] = as_role("law_enforcement", agency).gql(
        "{ reportInbox { disclosed { callerName province } } }"
    )["data"]["reportInbox"]
    assert item["disclosed"] == {"callerName": "Fictional Minor Beta", "province": "CA-MB"}


def test_a_child_protection_authority_is_included_without_service_criteria_and_is_not_referred_to(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    profile = fictional_profile("Example Youth Protection Directorate (QC)", "CA-QC")
    profile.update(kind="CHILD_PROTECTION_AUTHORITY", regions=[{"province": "CA-QC"}])
    with acting_as(Actor("fictional-staff-9", "staff")):
        found = system.app.apply_for_inclusion("minor-apply-1", profile, [], False).id
        system.app.start_review("minor-review-1", found)
    # A public body: a supervisor includes it on a written verification, not staff's approval.
    with acting_as(Actor("fictional-supervisor-9", "supervisor")):
        system.app.include_public_body(
            "minor-approve-1", found, "A statutory body (fictional): checked in the provincial list"
        )
    system.projector.catch_up()
    shown = staff.gql(
        "query($id: ID!) { organization(id: $id) { status kind } }", {"id": str(found)}
    )["data"]["organization"]
    assert shown == {"status": "INCLUDED", "kind": "CHILD_PROTECTION_AUTHORITY"}

    case = open_minors_case(staff, "minor-open-0005", province="CA-QC")
    refer = """mutation($id: ID!, $org: ID!) {
      referCase(idempotencyKey: "minor-refer-1", id: $id, organizationId: $org, mode: PHONE,
                needs: [SHELTER]) { caseId } }"""
    refused = staff.gql(refer, {"id": case, "org": str(found)})
    assert refused["errors"][0]["extensions"]["code"] == "ORGANIZATION_NOT_AVAILABLE"
    shelter = seed(system, "Example Quebec Youth Shelter", province="CA-QC")
    not_an_authority = as_role("supervisor").gql(
        TO_AUTHORITY, {"key": "minor-cp-0009", "id": case, "to": str(shelter)}
    )
    assert not_an_authority["errors"][0]["extensions"]["code"] == "NOT_FOUND"


REPORT_MINOR_FIELD = """mutation($key: String!, $id: ID!, $p: ID!, $f: ReportFactorsInput!,
                      $exception: DisclosureException, $why: String! = "") {
  reportToLawEnforcement(idempotencyKey: $key, id: $id, protocolId: $p, factors: $f,
    fields: [MINOR_INVOLVED, LOCATION], exception: $exception, justification: $why) {
    case { reports { id } mandatoryReport { decision decidedBy reportId } } } }"""
UPDATE = """mutation($key: String!, $id: ID!, $d: CaseDetailsInput!) {
  updateCase(idempotencyKey: $key, id: $id, details: $d) {
    case { mandatoryReport { decision decidedBy reportId } } } }"""
SETTLE = """mutation($key: String!, $id: ID!, $report: ID!) {
  settleMandatoryReportByEarlierReport(idempotencyKey: $key, id: $id, reportId: $report) {
    case { mandatoryReport { decision decidedBy reportId } } } }"""
FACTORS = dict.fromkeys(
    ("callersWishes", "levelOfDetail", "applicableLaw", "localProtocol"), "fictional"
)


def prairie_protocol(system: System, key: str) -> str:
    agency = seed(system, "Example Prairie Police", province="CA-MB", kind="LAW_ENFORCEMENT_AGENCY")
    with acting_as(Actor("fictional-staff-9", "staff")):
        protocol = system.app.establish_reporting_protocol(
            key,
            agency,
            "CA-MB",
            None,
            [{"name": "Fictional Detective", "phone": "+1 555 030 0009"}],
        ).id
    system.projector.catch_up()
    return str(protocol)


def queued(system: System, supervisor: Any, decided: bool) -> list[str]:
    system.projector.catch_up()
    page = supervisor.gql(QUEUE, {"decided": decided})["data"]["mandatoryReportQueue"]
    return [item["caseId"] for item in page["items"]]


def test_a_report_that_told_the_police_no_minor_does_not_settle_the_flag_staff_raise_later(
    system: System, as_role: Any
) -> None:
    """A report sent minorInvolved NO; staff learn the caller is a minor: the case waits for a
    supervisor's decision, which only a report that told of the minor (or a written decision)
    settles, recorded as the supervisor's."""
    staff, supervisor = as_role("staff", user="fictional-staff-x"), as_role("supervisor")
    protocol = prairie_protocol(system, "minor-protocol-9")
    case = str(
        staff.gql(
            OPEN,
            {
                "key": "minor-open-0009",
                "input": {
                    "channel": "CHAT",
                    "language": "en",
                    "relationship": "VICTIM_OR_SURVIVOR",
                    "caller": {"name": "Fictional Caller Zeta"},
                    "details": {
                        "province": "CA-MB",
                        "situationType": "SEX_TRAFFICKING",
                        "minorInvolved": "NO",
                    },
                },
            },
        )["data"]["openCase"]["caseId"]
    )
    supervisor_decides(system, case)
    staff.gql(
        CONSENT.replace("givenBy: MINOR", "givenBy: CALLER"),
        {"key": "minor-consent-9", "id": case, "scope": "REPORT_TO_LAW_ENFORCEMENT"},
    )
    variables = {"key": "minor-le-0009", "id": case, "p": protocol, "f": FACTORS}
    reported = supervisor.gql(REPORT_MINOR_FIELD, variables)["data"]["reportToLawEnforcement"]
    assert reported["case"]["mandatoryReport"] is None  # no minor then: nothing flagged
    [earlier] = reported["case"]["reports"]

    updated = staff.gql(
        UPDATE, {"key": "minor-upd-0009", "id": case, "d": {"minorInvolved": "YES"}}
    )
    assert updated["data"]["updateCase"]["case"]["mandatoryReport"] == {
        "decision": None,
        "decidedBy": None,
        "reportId": None,
    }
    closed = staff.gql(CLOSE, {"key": "minor-close-0009", "id": case})
    assert closed["errors"][0]["extensions"]["code"] == "MANDATORY_REPORT_DECISION_REQUIRED"
    assert case in queued(system, supervisor, decided=False)
    by_staff = staff.post(SETTLE, {"key": "minor-settle-09", "id": case, "report": earlier["id"]})
    assert by_staff.json()["data"] is None
    silent = supervisor.gql(SETTLE, {"key": "minor-settle-10", "id": case, "report": earlier["id"]})
    assert silent["errors"][0]["extensions"]["code"] == "REPORT_SILENT_ON_THE_MINOR"

    now = supervisor.gql(
        REPORT_MINOR_FIELD,
        {
            **variables,
            "key": "minor-le-0010",
            "exception": "SUSPECTED_ABUSE_OF_A_MINOR",
            "why": "The caller is fifteen (fictional)",
        },
    )["data"]["reportToLawEnforcement"]["case"]
    assert now["mandatoryReport"]["decision"] == "REPORTED_TO_LAW_ENFORCEMENT"
    assert now["mandatoryReport"]["decidedBy"] == "fictional-supervisor-1"
    assert now["mandatoryReport"]["reportId"] != earlier["id"]
    assert case in queued(system, supervisor, decided=True)
    closed = staff.gql(CLOSE, {"key": "minor-close-0010", "id": case})
    assert closed["data"]["closeCase"]["case"] == {"open": False}


def test_a_supervisor_records_that_a_report_made_before_the_flag_was_the_mandatory_report(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    protocol = prairie_protocol(system, "minor-protocol-8")
    case = str(
        staff.gql(
            OPEN,
            {
                "key": "minor-open-0008",
                "input": {
                    "channel": "CHAT",
                    "language": "en",
                    "relationship": "VICTIM_OR_SURVIVOR",
                    "details": {"province": "CA-MB", "minorInvolved": "YES"},
                },
            },
        )["data"]["openCase"]["caseId"]
    )
    # A minor, nothing of trafficking yet: a report to the police under the exception.
    reported = supervisor.gql(
        REPORT_MINOR_FIELD,
        {
            "key": "minor-le-0008",
            "id": case,
            "p": protocol,
            "f": FACTORS,
            "exception": "SUSPECTED_ABUSE_OF_A_MINOR",
            "why": "A fifteen-year-old at risk (fictional)",
        },
    )["data"]["reportToLawEnforcement"]["case"]
    [earlier] = reported["reports"]
    flagged = staff.gql(
        UPDATE, {"key": "minor-upd-0008", "id": case, "d": {"situationType": "SEX_TRAFFICKING"}}
    )["data"]["updateCase"]["case"]
    assert flagged["mandatoryReport"] == {"decision": None, "decidedBy": None, "reportId": None}
    settled = supervisor.gql(
        SETTLE, {"key": "minor-settle-08", "id": case, "report": earlier["id"]}
    )
    assert settled["data"]["settleMandatoryReportByEarlierReport"]["case"]["mandatoryReport"] == {
        "decision": "REPORTED_TO_LAW_ENFORCEMENT",
        "decidedBy": "fictional-supervisor-1",
        "reportId": earlier["id"],
    }
    unknown = supervisor.gql(SETTLE, {"key": "minor-settle-07", "id": case, "report": case})
    assert unknown["errors"][0]["extensions"]["code"] == "NO_MANDATORY_REPORT_PENDING"


def test_a_no_report_decision_goes_back_to_the_queue_when_a_minor_is_confirmed(
    system: System, as_role: Any
) -> None:
    """The review's second bypass: no report required while the age was unknown; staff then
    record a minor in commercial sex. The case is flagged again and waits for a supervisor."""
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_minors_case(
        staff,
        "minor-open-0007",
        minorInvolved="UNKNOWN",
        situationType="NOT_TRAFFICKING",
        indicators=["THREATS_OR_VIOLENCE"],
    )
    supervisor_decides(system, case)
    supervisor.gql(NO_REPORT, {"key": "minor-none-07", "id": case, "why": "An adult (fictional)"})
    assert case in queued(system, supervisor, decided=True)
    worse = {
        "minorInvolved": "YES",
        "indicators": ["MINOR_IN_COMMERCIAL_SEX"],
        "situationType": "SEX_TRAFFICKING",
    }
    updated = staff.gql(UPDATE, {"key": "minor-upd-0007", "id": case, "d": worse})
    assert updated["data"]["updateCase"]["case"]["mandatoryReport"] == {
        "decision": None,
        "decidedBy": None,
        "reportId": None,
    }
    assert case in queued(system, supervisor, decided=False)
    assert case not in queued(system, supervisor, decided=True)
    supervisor_decides(system, case)  # the trafficking facts changed too
    closed = staff.gql(CLOSE, {"key": "minor-close-0007", "id": case})
    assert closed["errors"][0]["extensions"]["code"] == "MANDATORY_REPORT_DECISION_REQUIRED"
    supervisor.gql(NO_REPORT, {"key": "minor-none-08", "id": case, "why": "Fictional: handled"})
    closed = staff.gql(CLOSE, {"key": "minor-close-0008", "id": case})
    assert closed["data"]["closeCase"]["case"] == {"open": False}


DISCLOSED = "query($id: ID!) { case(id: $id) { disclosures { recipientKind fields } } }"


def test_the_brief_written_for_the_authority_leaves_with_the_report(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    manitoba = authority(system, "Example Child and Family Services (MB)", "CA-MB")
    case = open_minors_case(staff, "minor-open-0003")
    supervisor_decides(system, case)

    # The brief is given, BRIEF is not among the fields asked for: it is sent all the same.
    supervisor.gql(TO_AUTHORITY, {"key": "minor-cp-0005", "id": case, "to": str(manitoba)})

    disclosed = supervisor.gql(DISCLOSED, {"id": case})["data"]["case"]["disclosures"]
    assert disclosed == [
        {
            "recipientKind": "CHILD_PROTECTION_AUTHORITY",
            "fields": ["CALLER_NAME", "LOCATION", "MINOR_INVOLVED", "INDICATORS", "BRIEF"],
        }
    ]
