"""Rate limits per principal on sensitive operations: repeat-caller lookups, disclosures and
compliance replays. An emergency call is never limited."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from api.config import Settings
from api.ratelimit import RateLimited, RateLimiter

LOOKUP = """query($phone: String) { cases(filter: {callerPhone: $phone}) { items { id } } }"""
OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId } }"""
EMERGENCY = """mutation($key: String!, $id: ID!) {
  contactEmergencyServices(idempotencyKey: $key, id: $id, fields: [LOCATION],
    exception: IMMINENT_HARM, justification: "Fictional: imminent harm") {
    caseId warning case { emergencies { number } disclosures { id } } } }"""
AS_OF = """query($at: String!) { publicDirectoryAsOf(at: $at) { count } }"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_changes(rate_limit_per_minute=3)


def code_of(body: Any) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


def test_a_burst_of_lookups_is_refused_for_that_user_only(as_role: Any) -> None:
    staff = as_role("staff", user="fictional-staff-1")
    answers = [staff.gql(LOOKUP, {"phone": f"+1 555 010 00{n:02d}"}) for n in range(4)]

    assert [code_of(a) for a in answers] == [None, None, None, "RATE_LIMITED"]
    refused = answers[-1]["errors"][0]
    assert refused["extensions"]["retryable"] is True
    assert "555" not in refused["message"]  # says when to retry, never what was asked
    other = as_role("staff", user="fictional-staff-2")
    assert code_of(other.gql(LOOKUP, {"phone": "+1 555 010 0099"})) is None


def test_an_emergency_call_is_never_rate_limited(as_role: Any) -> None:
    supervisor = as_role("supervisor", user="fictional-supervisor-1")
    case = supervisor.gql(
        OPEN,
        {
            "key": str(uuid4()),
            "input": {
                "channel": "CALL",
                "language": "en",
                "relationship": "ANONYMOUS",
                "details": {"province": "CA-ON"},
            },
        },
    )["data"]["openCase"]["caseId"]

    answers = [supervisor.gql(EMERGENCY, {"key": str(uuid4()), "id": case}) for _ in range(5)]

    assert [code_of(a) for a in answers] == [None] * 5
    # The limit holds back only what would leave with the call: every call is recorded, the
    # last two without their disclosure, and the answer says so.
    calls = [a["data"]["contactEmergencyServices"] for a in answers]
    assert [c["warning"] for c in calls[:3]] == [None] * 3
    for call in calls[3:]:
        assert call["warning"].startswith("DISCLOSURE_NOT_MADE: ")
        assert "RATE_LIMITED" in call["warning"]
    assert len(calls[-1]["case"]["emergencies"]) == 5
    assert len(calls[-1]["case"]["disclosures"]) == 3


def test_replays_of_the_directory_are_limited_for_compliance(as_role: Any) -> None:
    compliance = as_role("compliance", user="fictional-compliance-1")
    answers = [compliance.gql(AS_OF, {"at": "2026-01-01"}) for _ in range(4)]

    assert [code_of(a) for a in answers] == [None, None, None, "RATE_LIMITED"]


def test_a_bucket_refills_with_time() -> None:
    limiter = RateLimiter(per_minute=60)
    for _ in range(60):
        limiter.check("fictional-user", "lookup")
    with pytest.raises(RateLimited, match="try again in 1 s"):
        limiter.check("fictional-user", "lookup")
    limiter.check("another-fictional-user", "lookup")
    limiter.check("fictional-user", "disclosure")
