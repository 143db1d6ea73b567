"""Answer-back told through GraphQL: a partner accepts or declines a referral, a liaison
acknowledges a report, and both are told when the consent behind what they hold is withdrawn;
staff see the answers on the case. Another organization's attempt looks like a missing one."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from api.demo import load_demo, load_demo_cases
from api.wiring import System
from domain.base import Actor, acting_as
from domain.case import Case, DisclosableField, Exception_
from domain.cases import REPORT_FACTORS
from tests.e2e.conftest import Caller, seed

OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId } }"""
CONSENT = """mutation($key: String!, $id: ID!, $scope: ConsentScope!, $to: ID) {
  grantConsent(idempotencyKey: $key, id: $id, scope: $scope, recipientId: $to,
               givenBy: CALLER, method: VERBAL) { case { consents { id scope } } } }"""
REFER = """mutation($key: String!, $id: ID!, $org: ID!) {
  referCase(idempotencyKey: $key, id: $id, organizationId: $org, mode: PHONE,
            needs: [SHELTER], fields: [CALLER_NAME], brief: "Needs a bed (fictional)") {
    case { referrals { id } } } }"""
WITHDRAW = """mutation($key: String!, $id: ID!, $consent: ID!) {
  withdrawConsent(idempotencyKey: $key, id: $id, consentId: $consent) { version } }"""
ANSWER = """mutation($key: String!, $id: ID!, $answer: ReferralAnswerKind!, $reason: DeclineReason,
                    $note: String! = "") {
  answerReferral(idempotencyKey: $key, referralId: $id, answer: $answer, reason: $reason,
                 note: $note) {
    referralId replayed referral { answer { answer reason note by } } } }"""
ACKNOWLEDGE = """mutation($key: String!, $id: ID!, $name: String! = "", $file: String! = "") {
  acknowledgeReport(idempotencyKey: $key, reportId: $id, contactName: $name, fileNumber: $file) {
    reportId replayed report { acknowledgement { contactName fileNumber by } } } }"""
REFERRAL_INBOX = """{ referralInbox { id consentWithdrawn answer { answer reason }
                    disclosed { callerName } } }"""
REPORT_INBOX = """{ reportInbox { id consentWithdrawn acknowledgement { contactName fileNumber }
                  disclosed { brief } } }"""
ON_THE_CASE = """query($id: ID!) { case(id: $id) {
  referrals { id answer { answer reason note by at } }
  reports { id acknowledgement { contactName fileNumber by at } } } }"""


def events_written(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


def inbox_rows(system: System) -> list[tuple[Any, ...]]:
    """Every inbox row as the read models hold it."""
    with system.store.read() as cursor:
        return [
            tuple(row)
            for sql in (
                "SELECT id, case_id, doc FROM referral_inbox ORDER BY id",
                "SELECT id, case_id, doc FROM report_inbox ORDER BY id",
            )
            for row in cursor.execute(sql).fetchall()
        ]


def rebuilt_alike(system: System) -> None:
    """Following the log event by event left the inboxes as a rebuild from zero makes them."""
    system.projector.catch_up()
    followed = inbox_rows(system)
    system.projector.rebuild()
    assert inbox_rows(system) == followed


def code(body: Any) -> str:
    return str(body["errors"][0]["extensions"]["code"])


def open_case(staff: Caller, key: str) -> str:
    body = staff.gql(
        OPEN,
        {
            "key": key,
            "input": {
                "channel": "CALL",
                "language": "en",
                "relationship": "VICTIM_OR_SURVIVOR",
                "caller": {"name": "Fictional Caller Beta", "phone": "+1 555 019 0002"},
                "details": {
                    "province": "CA-ON",
                    "urgency": "MEDIUM",
                    "needs": ["SHELTER"],
                    "situationType": "NOT_TRAFFICKING",
                    "minorInvolved": "NO",
                },
            },
        },
    )
    return str(body["data"]["openCase"]["caseId"])


def consent(staff: Caller, case: str, scope: str, to: UUID | None, key: str) -> str:
    body = staff.gql(CONSENT, {"key": key, "id": case, "scope": scope, "to": to and str(to)})
    return str(body["data"]["grantConsent"]["case"]["consents"][-1]["id"])


def referred(system: System, staff: Caller, shelter: UUID, key: str) -> tuple[str, str, str]:
    """(case, consent, referral): a case referred to the shelter under the caller's consent."""
    case = open_case(staff, f"{key}-open")
    consent_id = consent(staff, case, "SHARE_WITH_ORGANIZATION", shelter, f"{key}-consent")
    body = staff.gql(REFER, {"key": f"{key}-refer", "id": case, "org": str(shelter)})
    return case, consent_id, str(body["data"]["referCase"]["case"]["referrals"][-1]["id"])


def reported(system: System, staff: Caller, agency: UUID, key: str) -> tuple[str, str, str]:
    """(case, consent, report): a case a supervisor reported to the agency with consent."""
    case = open_case(staff, f"{key}-open")
    consent_id = consent(staff, case, "REPORT_TO_LAW_ENFORCEMENT", agency, f"{key}-consent")
    with acting_as(Actor("fictional-supervisor-7", "supervisor")):
        protocol = system.app.establish_reporting_protocol(
            f"{key}-protocol",
            agency,
            "CA-ON",
            None,
            [{"name": "Fictional Detective", "phone": "+1 555 030 0077"}],
        ).id
        system.app.report_to_law_enforcement(
            f"{key}-report",
            UUID(case),
            protocol,
            {factor: "fictional" for factor in REPORT_FACTORS},
            [DisclosableField.BRIEF],
            "Fictional brief for the agency",
        )
    system.projector.catch_up()
    stored: Case = system.app.repository.get(UUID(case))
    return case, consent_id, next(iter(stored.reports))


# -- partners ------------------------------------------------------------------------------------


def test_a_partner_declines_a_referral_with_a_reason_and_staff_see_it_on_the_case(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    shelter = seed(system, "Example Answering Shelter")
    case, _, referral = referred(system, staff, shelter, "ab-decline")
    partner = as_role("partner", shelter, "fictional-partner-8")

    [item] = partner.gql(REFERRAL_INBOX)["data"]["referralInbox"]
    assert (item["answer"], item["consentWithdrawn"]) == (None, False)

    variables = {
        "key": "ab-decline-answer",
        "id": referral,
        "answer": "DECLINED",
        "reason": "OUTSIDE_SERVICE_AREA",
        "note": "Try the northern office (fictional)",
    }
    body = partner.gql(ANSWER, variables)
    assert body["data"]["answerReferral"] == {
        "referralId": referral,
        "replayed": False,
        "referral": {
            "answer": {
                "answer": "DECLINED",
                "reason": "OUTSIDE_SERVICE_AREA",
                "note": "Try the northern office (fictional)",
                "by": "fictional-partner-8",
            }
        },
    }
    # The same key again returns the first result and writes nothing.
    before = events_written(system)
    assert partner.gql(ANSWER, variables)["data"]["answerReferral"]["replayed"] is True
    assert events_written(system) == before

    for role in ("staff", "supervisor"):
        [on_case] = as_role(role).gql(ON_THE_CASE, {"id": case})["data"]["case"]["referrals"]
        answer = on_case["answer"]
        assert (answer["answer"], answer["reason"], answer["by"]) == (
            "DECLINED",
            "OUTSIDE_SERVICE_AREA",
            "fictional-partner-8",
        )
        assert answer["note"] == "Try the northern office (fictional)"


def test_a_referral_is_answered_once(system: System, as_role: Any) -> None:
    shelter = seed(system, "Example Answering Shelter")
    _, _, referral = referred(system, as_role("staff"), shelter, "ab-once")
    partner = as_role("partner", shelter)
    partner.gql(ANSWER, {"key": "ab-once-1", "id": referral, "answer": "ACCEPTED"})

    before = events_written(system)
    again = partner.gql(
        ANSWER, {"key": "ab-once-2", "id": referral, "answer": "DECLINED", "reason": "NO_CAPACITY"}
    )
    assert code(again) == "REFERRAL_ALREADY_ANSWERED"
    assert events_written(system) == before


def test_bad_answers_are_refused_with_nothing_written(system: System, as_role: Any) -> None:
    shelter = seed(system, "Example Answering Shelter")
    _, _, referral = referred(system, as_role("staff"), shelter, "ab-bad")
    partner = as_role("partner", shelter)
    before = events_written(system)

    for variables, expected in (
        ({"answer": "DECLINED"}, "REASON_REQUIRED"),
        ({"answer": "ACCEPTED", "reason": "NO_CAPACITY"}, "INVALID_INPUT"),
        ({"answer": "ACCEPTED", "note": "x" * 4001}, "INVALID_INPUT"),
    ):
        body = partner.gql(ANSWER, {"key": f"ab-bad-{expected}", "id": referral, **variables})
        assert code(body) == expected, variables
    assert events_written(system) == before
    [item] = partner.gql(REFERRAL_INBOX)["data"]["referralInbox"]
    assert item["answer"] is None


def test_another_organizations_partner_cannot_answer_and_it_looks_missing(
    system: System, as_role: Any
) -> None:
    shelter, other = seed(system, "Example Answering Shelter"), seed(system, "Example Other")
    _, _, referral = referred(system, as_role("staff"), shelter, "ab-other")
    outsider = as_role("partner", other)
    before = events_written(system)

    not_theirs = outsider.post(ANSWER, {"key": "ab-other-1", "id": referral, "answer": "ACCEPTED"})
    missing = outsider.post(
        ANSWER, {"key": "ab-other-1", "id": str(UUID(int=11)), "answer": "ACCEPTED"}
    )
    assert not_theirs.content == missing.content
    assert code(not_theirs.json()) == "NOT_FOUND"
    # A liaison, staff: refused before anything runs, and nothing written either.
    for role, org in (("law_enforcement", other), ("staff", None)):
        body = as_role(role, org).post(
            ANSWER, {"key": f"ab-other-{role}", "id": referral, "answer": "ACCEPTED"}
        )
        assert body.json()["data"] is None, role
    assert events_written(system) == before


def test_a_withdrawn_consent_is_shown_to_the_partner_and_nothing_more(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    shelter = seed(system, "Example Answering Shelter")
    case, consent_id, _ = referred(system, staff, shelter, "ab-withdraw")
    partner = as_role("partner", shelter)
    [item] = partner.gql(REFERRAL_INBOX)["data"]["referralInbox"]
    assert item["disclosed"] == {"callerName": "Fictional Caller Beta"}

    staff.gql(WITHDRAW, {"key": "ab-withdraw-w", "id": case, "consent": consent_id})

    # Told of the withdrawal, and nothing more; what it already holds it still holds.
    [item] = partner.gql(REFERRAL_INBOX)["data"]["referralInbox"]
    assert item["consentWithdrawn"] is True
    assert item["disclosed"] == {"callerName": "Fictional Caller Beta"}
    # Still answerable: the partner can still say what it will do.
    body = partner.gql(
        ANSWER, {"key": "ab-withdraw-a", "id": item["id"], "answer": "DECLINED", "reason": "OTHER"}
    )
    assert body["data"]["answerReferral"]["referral"]["answer"]["reason"] == "OTHER"
    rebuilt_alike(system)


# -- liaisons ------------------------------------------------------------------------------------


def test_a_liaison_acknowledges_a_report_and_staff_and_compliance_see_it(
    system: System, as_role: Any
) -> None:
    agency = seed(system, "Example Answering Police", kind="LAW_ENFORCEMENT_AGENCY")
    case, _, report = reported(system, as_role("staff"), agency, "ab-ack")
    liaison = as_role("law_enforcement", agency, "fictional-liaison-8")
    [item] = liaison.gql(REPORT_INBOX)["data"]["reportInbox"]
    assert (item["acknowledgement"], item["consentWithdrawn"]) == (None, False)

    body = liaison.gql(
        ACKNOWLEDGE,
        {"key": "ab-ack-1", "id": report, "name": "Fictional Detective", "file": "FIC-2026-0042"},
    )
    assert body["data"]["acknowledgeReport"] == {
        "reportId": report,
        "replayed": False,
        "report": {
            "acknowledgement": {
                "contactName": "Fictional Detective",
                "fileNumber": "FIC-2026-0042",
                "by": "fictional-liaison-8",
            }
        },
    }

    for role in ("staff", "supervisor"):
        [on_case] = as_role(role).gql(ON_THE_CASE, {"id": case})["data"]["case"]["reports"]
        acknowledgement = on_case["acknowledgement"]
        assert (acknowledgement["contactName"], acknowledgement["fileNumber"]) == (
            "Fictional Detective",
            "FIC-2026-0042",
        )
    # Each read of the acknowledgement is in the access log: the liaison's, on its inbox item.
    logged = {
        (entry["recordType"], field)
        for entry in system.access.entries(user_id="fictional-liaison-8", first=50)
        for field in entry["fields"]
    }
    assert ("ReportInboxItem", "acknowledgement") in logged
    # Compliance reads no case; the audit trail shows who acknowledged, the values masked.
    trail = as_role("compliance").gql(
        "query($id: ID!) { auditTrail(recordId: $id) { items { type actorRole data } } }",
        {"id": case},
    )["data"]["auditTrail"]["items"]
    [event] = [e for e in trail if e["type"] == "Case.ReportAcknowledged"]
    assert event["actorRole"] == "law_enforcement"
    assert "Fictional Detective" not in str(event) and "FIC-2026-0042" not in str(event)


def test_a_report_is_acknowledged_once_and_bad_input_writes_nothing(
    system: System, as_role: Any
) -> None:
    agency = seed(system, "Example Answering Police", kind="LAW_ENFORCEMENT_AGENCY")
    _, _, report = reported(system, as_role("staff"), agency, "ab-ack-once")
    liaison = as_role("law_enforcement", agency)
    before = events_written(system)

    too_long = liaison.gql(
        ACKNOWLEDGE, {"key": "ab-ack-once-0", "id": report, "name": "n" * 201, "file": "f" * 101}
    )
    assert code(too_long) == "INVALID_INPUT"
    assert len(too_long["errors"][0]["extensions"]["problems"]) == 2
    assert events_written(system) == before

    liaison.gql(ACKNOWLEDGE, {"key": "ab-ack-once-1", "id": report})
    before = events_written(system)
    again = liaison.gql(ACKNOWLEDGE, {"key": "ab-ack-once-2", "id": report, "file": "FIC-1"})
    assert code(again) == "REPORT_ALREADY_ACKNOWLEDGED"
    assert events_written(system) == before


def test_another_agency_cannot_acknowledge_and_it_looks_missing(
    system: System, as_role: Any
) -> None:
    agency = seed(system, "Example Answering Police", kind="LAW_ENFORCEMENT_AGENCY")
    other = seed(system, "Example Other Police", kind="LAW_ENFORCEMENT_AGENCY")
    _, _, report = reported(system, as_role("staff"), agency, "ab-ack-other")
    outsider = as_role("law_enforcement", other)
    before = events_written(system)

    not_theirs = outsider.post(ACKNOWLEDGE, {"key": "ab-ack-other-1", "id": report})
    missing = outsider.post(ACKNOWLEDGE, {"key": "ab-ack-other-1", "id": str(UUID(int=12))})
    assert not_theirs.content == missing.content
    assert code(not_theirs.json()) == "NOT_FOUND"
    partner = as_role("partner", agency).post(ACKNOWLEDGE, {"key": "ab-ack-p", "id": report})
    assert partner.json()["data"] is None
    assert events_written(system) == before


def test_a_withdrawn_consent_is_shown_to_the_liaison_and_nothing_more(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    agency = seed(system, "Example Answering Police", kind="LAW_ENFORCEMENT_AGENCY")
    case, consent_id, _ = reported(system, staff, agency, "ab-ack-withdraw")
    liaison = as_role("law_enforcement", agency)
    [item] = liaison.gql(REPORT_INBOX)["data"]["reportInbox"]
    assert item["disclosed"] == {"brief": "Fictional brief for the agency"}

    staff.gql(WITHDRAW, {"key": "ab-ack-withdraw-w", "id": case, "consent": consent_id})

    [item] = liaison.gql(REPORT_INBOX)["data"]["reportInbox"]
    assert item["consentWithdrawn"] is True
    one = liaison.gql(
        "query($id: ID!) { report(id: $id) { consentWithdrawn disclosed { brief } } }",
        {"id": item["id"]},
    )
    assert one["data"]["report"] == {
        "consentWithdrawn": True,
        "disclosed": {"brief": "Fictional brief for the agency"},
    }
    liaison.gql(ACKNOWLEDGE, {"key": "ab-ack-withdraw-a", "id": item["id"], "file": "FIC-9"})
    rebuilt_alike(system)


# -- the demo ------------------------------------------------------------------------------------


def test_the_demo_has_referrals_answered_and_awaiting_and_reports_acknowledged_and_not(
    system: System, as_role: Any
) -> None:
    ids = load_demo(system.app, count=3)
    load_demo_cases(system.app, ids)
    system.projector.catch_up()

    referrals = as_role("partner", ids["partner"]).gql(REFERRAL_INBOX)["data"]["referralInbox"]
    assert sorted(str(r["answer"]) for r in referrals) == [
        "None",
        str({"answer": "ACCEPTED", "reason": None}),
        str({"answer": "DECLINED", "reason": "NOT_ELIGIBLE"}),
    ]
    reports = as_role("law_enforcement", ids["agency"]).gql(REPORT_INBOX)["data"]["reportInbox"]
    assert sorted((r["acknowledgement"] is None, r["consentWithdrawn"]) for r in reports) == [
        (False, False),
        (True, True),
    ]
    # Loaded again, it writes nothing: every command has a fixed key.
    before = events_written(system)
    load_demo_cases(system.app, ids)
    assert events_written(system) == before


def test_only_the_items_disclosed_under_the_withdrawn_consent_are_flagged(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    shelter = seed(system, "Example Answering Shelter")
    agency = seed(system, "Example Answering Police", kind="LAW_ENFORCEMENT_AGENCY")
    case, first_consent, first = referred(system, staff, shelter, "ab-only")
    staff.gql(WITHDRAW, {"key": "ab-only-w1", "id": case, "consent": first_consent})
    second_consent = consent(staff, case, "SHARE_WITH_ORGANIZATION", shelter, "ab-only-c2")
    body = staff.gql(REFER, {"key": "ab-only-r2", "id": case, "org": str(shelter)})
    second = str(body["data"]["referCase"]["case"]["referrals"][-1]["id"])
    # A report under an exception rests on no consent: no withdrawal touches it.
    with acting_as(Actor("fictional-supervisor-7", "supervisor")):
        protocol = system.app.establish_reporting_protocol(
            "ab-only-protocol", agency, "CA-ON", None, [{"name": "Fictional", "phone": "+1 555"}]
        ).id
        system.app.report_to_law_enforcement(
            "ab-only-report",
            UUID(case),
            protocol,
            {factor: "fictional" for factor in REPORT_FACTORS},
            [DisclosableField.BRIEF],
            "Fictional brief",
            Exception_.IMMINENT_HARM,
            "Fictional imminent harm",
        )
    partner = as_role("partner", shelter)

    def flags() -> dict[str, bool]:
        inbox = partner.gql(REFERRAL_INBOX)["data"]["referralInbox"]
        return {item["id"]: item["consentWithdrawn"] for item in inbox}

    assert flags() == {first: True, second: False}
    staff.gql(WITHDRAW, {"key": "ab-only-w2", "id": case, "consent": second_consent})
    assert flags() == {first: True, second: True}
    [report] = as_role("law_enforcement", agency).gql(REPORT_INBOX)["data"]["reportInbox"]
    assert report["consentWithdrawn"] is False
    rebuilt_alike(system)
