"""Contacts told through GraphQL: a hang-up with no case, a second call on a case, an
information-only call, a callback refused without consent and made with it; compliance reads
them; nobody outside the hotline learns that anyone called."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from api.wiring import System
from tests.e2e.conftest import Caller

RECORD = """mutation($key: String!, $input: RecordContactInput!) {
  recordContact(idempotencyKey: $key, input: $input) {
    contactId replayed
    contact { id channel direction durationSeconds language disposition province caseId
              attachedAt recordedBy } } }"""
ATTACH = """mutation($key: String!, $id: ID!, $case: ID!) {
  attachContactToCase(idempotencyKey: $key, id: $id, caseId: $case) {
    contact { id caseId attachedAt } } }"""
OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId } }"""
CONSENT = """mutation($key: String!, $id: ID!) {
  grantConsent(idempotencyKey: $key, id: $id, scope: FOLLOW_UP_CONTACT,
               givenBy: CALLER, method: VERBAL) { version } }"""
CASE_CONTACTS = """query($id: ID!) { case(id: $id) {
  contacts { id channel direction disposition caseId } } }"""
CONTACTS = """query($unattached: Boolean) { contacts(unattached: $unattached) {
  items { id channel disposition caseId } pageInfo { hasNextPage } } }"""
ONE = "query($id: ID!) { contact(id: $id) { id channel disposition caseId } }"
ACCESS = """query($record: ID, $user: String) { accessLog(recordId: $record, userId: $user) {
  items { role recordType recordId caseId fields } } }"""
AUDIT = """query($id: ID!) { auditTrail(recordId: $id) {
  items { type actorId actorRole data } } }"""
STATISTICS = (
    "query($d: ContactStatisticsDimension!) { contactStatistics(dimension: $d) { value count } }"
)


def minutes_ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def contact(**changes: Any) -> dict[str, Any]:
    return {
        "channel": "CALL",
        "direction": "INBOUND",
        "startedAt": minutes_ago(30),
        "durationSeconds": 420,
        "language": "en",
        "disposition": "INFORMATION_ONLY",
        **changes,
    }


def ok(caller: Caller, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = caller.gql(query, variables)
    assert "errors" not in body, body
    return body["data"]


def refusal(caller: Caller, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = caller.gql(query, variables)
    assert body["data"] is None, body
    [error] = body["errors"]
    return dict(error["extensions"])


def record(staff: Caller, key: str, **changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = ok(staff, RECORD, {"key": key, "input": contact(**changes)})
    return dict(result["recordContact"])


def open_case(staff: Caller, key: str = "contact-case-01") -> str:
    data = ok(
        staff,
        OPEN,
        {
            "key": key,
            "input": {
                "channel": "CALL",
                "language": "fr",
                "relationship": "VICTIM_OR_SURVIVOR",
                "details": {"province": "CA-QC", "urgency": "MEDIUM"},
            },
        },
    )
    return str(data["openCase"]["caseId"])


def events_written(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


def test_a_hang_up_with_no_case_is_recorded_and_listed_among_the_unattached(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    hang_up = {
        "startedAt": minutes_ago(2),
        "durationSeconds": 6,
        "language": None,
        "disposition": "HANG_UP",
    }
    hung_up = record(staff, "contact-hangup-01", **hang_up)
    assert hung_up["contact"] == {
        "id": hung_up["contactId"],
        "channel": "CALL",
        "direction": "INBOUND",
        "durationSeconds": 6,
        "language": None,
        "disposition": "HANG_UP",
        "province": None,
        "caseId": None,
        "attachedAt": None,
        "recordedBy": "fictional-staff-1",
    }
    again = record(staff, "contact-hangup-01", **hang_up)
    assert (again["contactId"], again["replayed"]) == (hung_up["contactId"], True)

    listed = ok(staff, CONTACTS, {"unattached": True})["contacts"]["items"]
    assert [c["id"] for c in listed] == [hung_up["contactId"]]
    assert ok(staff, CONTACTS, {"unattached": False})["contacts"]["items"] == []


def test_an_information_only_call_needs_no_case(system: System, as_role: Any) -> None:
    staff = as_role("supervisor")
    answered = record(staff, "contact-info-01", language="fr", province="CA-QC", channel="CHAT")[
        "contact"
    ]
    assert (answered["disposition"], answered["province"], answered["caseId"]) == (
        "INFORMATION_ONLY",
        "CA-QC",
        None,
    )
    assert ok(staff, ONE, {"id": answered["id"]})["contact"]["channel"] == "CHAT"


def test_a_second_call_is_attached_to_the_caller_s_case_and_the_case_lists_its_contacts(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    case = open_case(staff)
    first = record(staff, "contact-first-01", caseId=case, disposition="CASE_OPENED")
    assert first["contact"]["caseId"] == case

    # The caller writes back by chat; staff find the case afterwards and attach the chat to it.
    chat = record(
        staff,
        "contact-chat-01",
        channel="CHAT",
        startedAt=minutes_ago(5),
        disposition="CASE_UPDATED",
    )
    attached = ok(
        staff, ATTACH, {"key": "contact-attach-01", "id": chat["contactId"], "case": case}
    )
    assert attached["attachContactToCase"]["contact"]["caseId"] == case
    assert attached["attachContactToCase"]["contact"]["attachedAt"]

    history = ok(as_role("supervisor"), AUDIT, {"id": chat["contactId"]})["auditTrail"]["items"]
    assert [(e["type"], e["actorRole"]) for e in history] == [
        ("Contact.Recorded", "staff"),
        ("Contact.AttachedToCase", "staff"),
    ]
    assert history[1]["data"]["case_id"] == case

    listed = ok(staff, CASE_CONTACTS, {"id": case})["case"]["contacts"]
    assert [(c["id"], c["channel"]) for c in listed] == [
        (first["contactId"], "CALL"),
        (chat["contactId"], "CHAT"),
    ]

    other = open_case(staff, "contact-case-02")
    before = events_written(system)
    again = refusal(
        staff, ATTACH, {"key": "contact-attach-02", "id": chat["contactId"], "case": other}
    )
    assert again["code"] == "CONTACT_ALREADY_ATTACHED"
    assert events_written(system) == before
    assert ok(staff, CASE_CONTACTS, {"id": other})["case"]["contacts"] == []

    missing = refusal(
        staff,
        ATTACH,
        {"key": "contact-attach-03", "id": str(UUID(int=5)), "case": case},
    )
    assert missing["code"] == "NOT_FOUND"


def test_a_callback_is_refused_without_follow_up_consent_and_made_with_it(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    case = open_case(staff)
    callback = contact(direction="OUTBOUND", caseId=case, disposition="CASE_UPDATED")
    before = events_written(system)

    refused = refusal(staff, RECORD, {"key": "contact-callback-01", "input": callback})
    assert refused["code"] == "FOLLOW_UP_CONSENT_REQUIRED"
    no_case = {**callback, "caseId": None}
    refused = refusal(staff, RECORD, {"key": "contact-callback-02", "input": no_case})
    assert refused["code"] == "FOLLOW_UP_CONSENT_REQUIRED"
    assert events_written(system) == before
    assert ok(staff, CASE_CONTACTS, {"id": case})["case"]["contacts"] == []

    ok(staff, CONSENT, {"key": "contact-consent-01", "id": case})
    made = ok(staff, RECORD, {"key": "contact-callback-03", "input": callback})
    assert made["recordContact"]["contact"]["direction"] == "OUTBOUND"
    [listed] = ok(staff, CASE_CONTACTS, {"id": case})["case"]["contacts"]
    assert listed["direction"] == "OUTBOUND"


def test_bad_contacts_are_refused_with_every_problem_and_nothing_written(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    before = events_written(system)
    bad = contact(
        durationSeconds=-3,
        startedAt=(datetime.now(UTC) + timedelta(hours=2)).isoformat(),
        language="english",
        province="CA-ZZ",
    )
    refused = refusal(staff, RECORD, {"key": "contact-bad-01", "input": bad})
    assert refused["code"] == "INVALID_INPUT"
    assert [p.split(":")[0] for p in refused["problems"]] == [
        "durationSeconds",
        "startedAt",
        "language",
        "province",
    ]
    unparsed = refusal(
        staff, RECORD, {"key": "contact-bad-02", "input": contact(startedAt="yesterday")}
    )
    assert unparsed["code"] == "INVALID_INPUT"
    no_case = refusal(
        staff,
        RECORD,
        {"key": "contact-bad-03", "input": contact(caseId=str(UUID(int=9)))},
    )
    assert no_case["code"] == "NOT_FOUND"
    assert events_written(system) == before


def test_compliance_reads_contacts_and_each_read_is_in_the_access_log(
    system: System, as_role: Any
) -> None:
    staff, compliance = as_role("staff"), as_role("compliance")
    case = open_case(staff)
    on_case = record(staff, "contact-logged-01", caseId=case, disposition="CASE_OPENED")
    alone = record(staff, "contact-logged-02", disposition="HANG_UP", language=None)

    listed = ok(compliance, CONTACTS)["contacts"]["items"]
    assert {c["id"] for c in listed} == {on_case["contactId"], alone["contactId"]}
    assert ok(compliance, ONE, {"id": alone["contactId"]})["contact"]["disposition"] == "HANG_UP"

    entries = ok(compliance, ACCESS, {"record": on_case["contactId"]})["accessLog"]["items"]
    compliance_reads = [e for e in entries if e["role"] == "compliance"]
    assert compliance_reads
    assert {e["recordType"] for e in compliance_reads} == {"Contact"}
    assert {e["caseId"] for e in compliance_reads} == {case}
    mine = ok(compliance, ACCESS, {"user": "fictional-compliance-1"})["accessLog"]["items"]
    assert ("Search", "Query.contacts") in {(e["recordType"], e["recordId"]) for e in mine}

    # Compliance officers change nothing.
    body = compliance.gql(RECORD, {"key": "contact-compliance-01", "input": contact()})
    assert body.get("data") is None


@pytest.mark.parametrize("role", ["public", "partner", "law_enforcement"])
def test_nobody_outside_the_hotline_sees_a_contact_or_records_one(
    system: System, as_role: Any, role: str
) -> None:
    staff = as_role("staff")
    made = record(staff, "contact-outsider-01")
    outsider = as_role(role, None if role == "public" else UUID(int=77))
    never = outsider.post("{ noSuchField { id } }").text
    for query, variables in (
        (CONTACTS, {}),
        (ONE, {"id": made["contactId"]}),
        (RECORD, {"key": "contact-outsider-02", "input": contact()}),
    ):
        answer = outsider.post(query, variables).text
        assert made["contactId"] not in answer
        assert answer == never, (role, query)


def test_contact_statistics_count_completed_months_and_suppress_small_counts(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    last_month = (datetime.now(UTC).replace(day=1) - timedelta(days=3)).isoformat()
    for n in range(5):
        record(staff, f"contact-stat-call-{n}", startedAt=last_month, province="CA-ON")
    record(staff, "contact-stat-chat", startedAt=last_month, channel="CHAT", province="CA-NU")
    record(staff, "contact-stat-prank", startedAt=last_month, disposition="TEST_OR_PRANK")
    record(staff, "contact-stat-now")  # this month: not counted until it is over

    public = as_role("public")
    by_channel = ok(public, STATISTICS, {"d": "CHANNEL"})["contactStatistics"]
    # CHAT's one contact is suppressed, and CALL with it (else a total would give it away).
    assert by_channel == [{"value": "CALL", "count": None}, {"value": "CHAT", "count": None}]
    [month] = ok(public, STATISTICS, {"d": "MONTH"})["contactStatistics"]
    assert month == {"value": last_month[:7], "count": 5}


ERASE = """mutation($key: String!, $case: ID!) {
  eraseCallerData(idempotencyKey: $key, caseId: $case, reason: "The caller asked (fictional)") {
    recordId } }"""
FULL = """query($id: ID!) { contact(id: $id) {
  id channel startedAt durationSeconds language province caseId attachedAt } }"""


def test_after_an_erasure_a_contact_no_longer_says_whose_case_or_when(
    system: System, as_role: Any
) -> None:
    staff, supervisor = as_role("staff"), as_role("supervisor")
    case = open_case(staff, "contact-erased-case-01")
    called = record(staff, "contact-erased-01", caseId=case, province="CA-QC")["contactId"]
    month = minutes_ago(30)[:7]

    ok(supervisor, ERASE, {"key": "contact-erase-01", "case": case})

    assert ok(staff, CASE_CONTACTS, {"id": case})["case"]["contacts"] == []
    assert ok(staff, FULL, {"id": called})["contact"] == {
        "id": called,
        "channel": "CALL",
        "startedAt": f"{month}-01T00:00:00.000000Z",
        "durationSeconds": 0,
        "language": None,
        "province": "CA-QC",
        "caseId": None,
        "attachedAt": None,
    }
    unattached = ok(staff, CONTACTS, {"unattached": True})["contacts"]["items"]
    assert called not in [c["id"] for c in unattached]
