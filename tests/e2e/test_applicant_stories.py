"""An applicant follows its application with the tracking code its answer showed, no account
needed: where it stands, what it was asked, and its answer, told through GraphQL on each store.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from api.app import create_app
from api.config import Settings
from api.ratelimit import RateLimiter
from api.wiring import System, build_system
from domain.application_tracking import ApplicationTracking
from tests.e2e.conftest import ALL_CRITERIA, Caller, fictional_profile
from tests.e2e.test_uniform_cost import Reads, RecordingRecorder, RecordingStore, access_entries

APPLY = """mutation($key: String!, $input: ApplicationInput!) {
  applyForInclusion(idempotencyKey: $key, input: $input) {
    organizationId version replayed trackingCode } }"""
STATUS = """query($code: String!) { applicationStatus(trackingCode: $code) {
  status submittedAt updatedAt informationRequests { questions requestedAt answeredAt } } }"""
ANSWER = """mutation($key: String!, $code: String!, $answers: String!) {
  provideApplicationInformation(idempotencyKey: $key, trackingCode: $code, answers: $answers) {
    status informationRequests { questions answeredAt } } }"""
REVIEW = """mutation($key: String!, $id: ID!) {
  startReview(idempotencyKey: $key, id: $id) { version } }"""
ASK = """mutation($key: String!, $id: ID!, $questions: String!) {
  requestMoreInformation(idempotencyKey: $key, id: $id, questions: $questions) { version } }"""
HISTORY = """query($id: ID!) { organization(id: $id) { status history { what note actorRole } } }"""
QUESTIONS = "Fictional: what are the shelter's intake hours on weekends?"
ANSWERS = "Fictional: intake runs from 9 to 5 on Saturdays and Sundays."


def application(name: str = "Example Tracked Shelter") -> dict[str, Any]:
    return {"profile": fictional_profile(name), "criteria": ALL_CRITERIA, "publicListing": True}


def apply(public: Caller, name: str = "Example Tracked Shelter") -> tuple[str, str]:
    """Applies as the public; returns the organization's id and the tracking code."""
    answer = public.gql(APPLY, {"key": str(uuid4()), "input": application(name)})
    applied = answer["data"]["applyForInclusion"]
    return applied["organizationId"], applied["trackingCode"]


def error(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer.get("data") in (None, {}) or all(v is None for v in answer["data"].values())
    (only,) = answer["errors"]
    return dict(only["extensions"]) | {"message": only["message"]}


def events(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


def ask(system: System, as_role: Any, org: str) -> None:
    staff = as_role("staff")
    assert "errors" not in staff.gql(REVIEW, {"key": "applicant-review-1", "id": org})
    asked = staff.gql(ASK, {"key": "applicant-ask-1", "id": org, "questions": QUESTIONS})
    assert "errors" not in asked


def test_an_applicant_follows_its_application_and_answers_a_request_with_its_code(
    system: System, as_role: Any
) -> None:
    public, staff = as_role("public"), as_role("staff")
    org, code = apply(public)
    assert len(code) >= 32

    submitted = public.gql(STATUS, {"code": code})["data"]["applicationStatus"]
    assert submitted["status"] == "SUBMITTED"
    assert submitted["informationRequests"] == []

    ask(system, as_role, org)
    asked = public.gql(STATUS, {"code": code})["data"]["applicationStatus"]
    assert asked["status"] == "INFORMATION_REQUESTED"
    (request,) = asked["informationRequests"]
    assert request["questions"] == QUESTIONS and request["answeredAt"] is None

    answered = public.gql(ANSWER, {"key": str(uuid4()), "code": code, "answers": ANSWERS})
    after = answered["data"]["provideApplicationInformation"]
    assert after["status"] == "INFORMATION_PROVIDED"
    assert after["informationRequests"][0]["answeredAt"] is not None

    seen = staff.gql(HISTORY, {"id": org})["data"]["organization"]
    assert seen["status"] == "INFORMATION_PROVIDED"
    assert seen["history"][-1] == {
        "what": "INFORMATION_PROVIDED",
        "note": ANSWERS,
        "actorRole": "public",
    }


def test_the_applicant_sees_where_it_stands_never_the_hotlines_notes(
    system: System, as_role: Any
) -> None:
    public, staff = as_role("public"), as_role("staff")
    org, code = apply(public)
    staff.gql(REVIEW, {"key": "applicant-review-2", "id": org})
    declined = staff.gql(
        """mutation($id: ID!) { declineInclusion(idempotencyKey: "applicant-decline-1", id: $id,
        reason: "Fictional internal note: no trauma-informed staff.") { version } }""",
        {"id": org},
    )
    assert "errors" not in declined

    answer = public.post(STATUS, {"code": code})
    assert answer.json()["data"]["applicationStatus"]["status"] == "DECLINED"
    assert "internal note" not in answer.text


def test_a_wrong_code_gets_one_answer_whatever_it_is_and_writes_nothing(
    system: System, as_role: Any
) -> None:
    public = as_role("public")
    _org, code = apply(public)
    written = events(system)
    guesses = [ApplicationTracking.new_code(), code[:-1], code.upper(), "", "x" * 300, " "]

    answers = [public.post(STATUS, {"code": guess}).content for guess in guesses]
    answers += [
        public.post(ANSWER, {"key": str(uuid4()), "code": g, "answers": ANSWERS}).content
        for g in guesses
    ]

    assert len({json.loads(a)["errors"][0]["message"] for a in answers}) == 1
    assert len(set(answers[: len(guesses)])) == 1
    assert error(json.loads(answers[0]))["code"] == "UNKNOWN_TRACKING_CODE"
    assert events(system) == written


@pytest.fixture
def reads(system: System) -> Reads:
    """Every read of the read models and of the event store (``test_uniform_cost``'s fakes)."""
    noted = Reads()
    for queries in (system.directory, system.protocols, system.cases):
        queries.store = RecordingStore(queries.store, noted)
    app = system.app
    app.events.recorder = RecordingRecorder(app.events.recorder, "events", noted)  # type: ignore[assignment]
    if app.snapshots is not None:
        app.snapshots.recorder = RecordingRecorder(  # type: ignore[assignment]
            app.snapshots.recorder, "snapshots", noted
        )
    return noted


def test_every_wrong_code_costs_the_same_reads_and_no_access_log_entry(
    system: System, as_role: Any, reads: Reads
) -> None:
    public = as_role("public")
    apply(public)

    def work(guess: str) -> tuple[list[tuple[str, int]], int, bytes]:
        reads.seen.clear()
        logged = access_entries(system)
        answer = bytes(public.post(STATUS, {"code": guess}).content)
        return list(reads.seen), access_entries(system) - logged, answer

    first = work(ApplicationTracking.new_code())
    assert first[0] and first[1] == 0
    for guess in (ApplicationTracking.new_code(), "not-a-code", "", "é" * 64):
        assert work(guess) == first


def test_every_wrong_code_costs_an_answer_the_same_reads_and_writes_nothing(
    system: System, as_role: Any, reads: Reads
) -> None:
    public = as_role("public")
    org, _code = apply(public)
    ask(system, as_role, org)
    written = events(system)

    def work(guess: str) -> tuple[list[tuple[str, int]], bytes]:
        reads.seen.clear()
        variables = {"key": str(uuid4()), "code": guess, "answers": ANSWERS}
        answer = bytes(public.post(ANSWER, variables).content)
        return list(reads.seen), answer

    first = work(ApplicationTracking.new_code())
    assert first[0]
    for guess in (ApplicationTracking.new_code(), "not-a-code", "", "x" * 300):
        assert work(guess) == first
    assert events(system) == written


def test_reading_what_was_asked_is_in_the_organizations_access_log(
    system: System, as_role: Any
) -> None:
    public = as_role("public")
    org, code = apply(public)
    ask(system, as_role, org)

    public.gql(STATUS, {"code": code})
    entries = system.access.entries(record_id=org)

    assert entries[0]["role"] == "public"
    assert entries[0]["recordType"] == "Organization"
    assert entries[0]["fields"] == ["informationRequests"]
    assert code not in json.dumps(entries)


def test_guessing_codes_is_rate_limited(system: System, as_role: Any) -> None:
    system.rate_limits = RateLimiter(3)
    public = as_role("public")
    _org, code = apply(public)

    for _ in range(3):
        public.post(STATUS, {"code": ApplicationTracking.new_code()})
    limited = public.gql(STATUS, {"code": code})

    assert error(limited)["code"] == "RATE_LIMITED"


def test_a_repeated_application_answers_without_the_code(system: System, as_role: Any) -> None:
    public = as_role("public")
    key = str(uuid4())
    first = public.gql(APPLY, {"key": key, "input": application()})["data"]["applyForInclusion"]
    again = public.gql(APPLY, {"key": key, "input": application()})["data"]["applyForInclusion"]

    assert again["replayed"] is True and again["trackingCode"] is None
    assert again["organizationId"] == first["organizationId"]
    status = public.gql(STATUS, {"code": first["trackingCode"]})
    assert status["data"]["applicationStatus"]["status"] == "SUBMITTED"


def test_staff_applying_on_an_organizations_behalf_get_a_code_to_hand_on(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    on_behalf = application() | {"listingAgreement": "Fictional: the signed listing form."}
    answer = staff.gql(APPLY, {"key": "applicant-behalf-1", "input": on_behalf})
    code = answer["data"]["applyForInclusion"]["trackingCode"]

    status = as_role("public").gql(STATUS, {"code": code})
    assert status["data"]["applicationStatus"]["status"] == "SUBMITTED"


def test_an_answer_with_the_code_is_refused_by_name_when_nothing_was_asked_or_it_is_empty(
    system: System, as_role: Any
) -> None:
    public = as_role("public")
    org, code = apply(public)
    written = events(system)

    early = public.gql(ANSWER, {"key": str(uuid4()), "code": code, "answers": ANSWERS})
    assert error(early)["code"] == "ILLEGAL_TRANSITION"
    ask(system, as_role, org)
    written = events(system)
    empty = public.gql(ANSWER, {"key": str(uuid4()), "code": code, "answers": "  "})
    assert error(empty)["code"] == "REASON_REQUIRED"
    assert events(system) == written


def test_compliance_officers_cannot_answer_for_an_applicant(system: System, as_role: Any) -> None:
    org, code = apply(as_role("public"))
    ask(system, as_role, org)
    written = events(system)

    refused = as_role("compliance").gql(
        ANSWER, {"key": "compliance-answer-1", "code": code, "answers": ANSWERS}
    )

    assert refused["errors"] and not refused.get("data")
    assert events(system) == written


@pytest.fixture
def traced(settings: Settings) -> Iterator[tuple[System, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    system = build_system(settings, provider)
    try:
        yield system, exporter
    finally:
        system.close()
        provider.shutdown()


def test_the_code_never_reaches_a_span_or_a_log_line(
    traced: tuple[System, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    system, exporter = traced
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(system, run_projections=False)) as client:
        public = Caller(client, None)
        org, code = apply(public)
        staff = Caller(client, system.auth.issue("staff", "fictional-staff-1"))
        staff.gql(REVIEW, {"key": "traced-review-1", "id": org})
        staff.gql(ASK, {"key": "traced-ask-1", "id": org, "questions": QUESTIONS})
        public.gql(STATUS, {"code": code})
        public.gql(ANSWER, {"key": str(uuid4()), "code": code, "answers": ANSWERS})
        public.gql(STATUS, {"code": code[::-1]})
        assert client.get("/graphql", params={"query": STATUS}).status_code == 405

    spans = exporter.get_finished_spans()
    assert spans
    text = caplog.text + "\n".join(
        f"{s.name} {dict(s.attributes or {})} {s.status.description} "
        + " ".join(f"{e.name} {dict(e.attributes or {})}" for e in s.events)
        for s in spans
    )
    assert code not in text and code[::-1] not in text


def test_the_answer_that_shows_the_code_is_never_cached(as_role: Any) -> None:
    answer = as_role("public").post(APPLY, {"key": str(uuid4()), "input": application()})

    assert answer.json()["data"]["applyForInclusion"]["trackingCode"]
    assert answer.headers["cache-control"] == "no-store"


MEMBERS = """query($org: ID) { members(organizationId: $org) {
  items { email role administrator status organizationId invitedBy } } }"""
APPROVE = """mutation($key: String!, $id: ID!) {
  approveInclusion(idempotencyKey: $key, id: $id) { organization { status } } }"""


def test_once_included_the_applicants_contact_is_invited_as_its_administrator(
    system: System, as_role: Any
) -> None:
    public, staff = as_role("public"), as_role("staff", user="fictional-staff-7")
    org, code = apply(public, "Example Included Applicant Shelter")
    ask(system, as_role, org)
    public.gql(ANSWER, {"key": str(uuid4()), "code": code, "answers": ANSWERS})
    staff.gql(REVIEW, {"key": "applicant-review-3", "id": org})

    approved = staff.gql(APPROVE, {"key": "applicant-approve-1", "id": org})
    assert approved["data"]["approveInclusion"]["organization"]["status"] == "INCLUDED"

    members = as_role("supervisor").gql(MEMBERS, {"org": org})["data"]["members"]["items"]
    assert members == [
        {
            "email": "coordinator@example.org",
            "role": "PARTNER",
            "administrator": True,
            "status": "INVITED",
            "organizationId": org,
            "invitedBy": "fictional-staff-7",
        }
    ]
    contact = system.members.on_sign_in(
        "https://id.example.org/realms/fictional", "fictional-1", "coordinator@example.org", True
    )
    assert contact is not None and contact.organization_id == org
    status = public.gql(STATUS, {"code": code})["data"]["applicationStatus"]
    assert status["status"] == "INCLUDED"
