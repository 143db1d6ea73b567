"""Who learns what about a caller, by every path a prober would try.

A small fictional world (a case referred to one shelter and reported to one agency, with a
neighbouring shelter and agency that received nothing) is read by every role through every case
query. Each role gets exactly what the policy grants: data, null, or a refused document. Nobody
outside the hotline can find a case by any attribute; "not addressed to you" answers byte for
byte like "does not exist"; aliases and fragments reach exactly what the direct path reaches;
consent withdrawal, foreign outcomes, the ledger, the statistics and the telemetry keep the
caller's data where it belongs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from uuid import UUID, uuid4

import pytest
from graphql import GraphQLObjectType, get_named_type
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

import api.schema.cases.queries
from api.app import create_app
from api.config import Settings
from api.schema.adapter import graphql_schema
from api.wiring import System, build_system
from domain.base import Actor, acting_as
from tests.e2e.conftest import Caller, seed, supervisor_decides

# Distinctive fictional caller data: wherever one of these shows up unbidden, it leaked.
NAME = "Quillon Fictional-Caller"
PHONE = "+1 555 014 2671"
PHONE_DIGITS = "5550142671"
EMAIL = "quillon.caller@example.org"
OTHER_CONTACT = "Signal handle quillon-fictional-77"
NOTES = "Quillon fictional notes: sleeps at the depot"
BRIEF = "Needs a safe bed tonight (fictional)"
SECRETS = (NAME, PHONE, PHONE_DIGITS, EMAIL, OTHER_CONTACT, NOTES, "Quillon", "quillon")

INVALID_DOCUMENT = {
    "data": None,
    "errors": [
        {"message": "The query is not valid for this API.", "extensions": {"code": "INVALID_QUERY"}}
    ],
}
FACTORS = {
    "callersWishes": "agrees",
    "levelOfDetail": "enough",
    "applicableLaw": "fictional act",
    "localProtocol": "fictional protocol",
}

OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId } }"""
CONSENT = """mutation($key: String!, $id: ID!, $scope: ConsentScope!, $to: ID) {
  grantConsent(idempotencyKey: $key, id: $id, scope: $scope, recipientId: $to,
               givenBy: CALLER, method: VERBAL) { case { consents { id scope recipientId } } } }"""
WITHDRAW = """mutation($key: String!, $id: ID!, $consent: ID!) {
  withdrawConsent(idempotencyKey: $key, id: $id, consentId: $consent) {
    case { consents { id withdrawnAt } } } }"""
REFER = """mutation($key: String!, $id: ID!, $org: ID!, $fields: [DisclosableField!],
                     $brief: String! = "Needs a safe bed tonight (fictional)") {
  referCase(idempotencyKey: $key, id: $id, organizationId: $org, mode: WARM_TRANSFER,
            needs: [SHELTER], fields: $fields, brief: $brief) {
    case { referrals { id organizationId } disclosures { id fields consentId } } } }"""
REPORT = """mutation($key: String!, $id: ID!, $protocol: ID!, $factors: ReportFactorsInput!) {
  reportToLawEnforcement(idempotencyKey: $key, id: $id, protocolId: $protocol,
    factors: $factors, fields: [LOCATION, URGENCY, CALLER_NAME], exception: IMMINENT_HARM,
    justification: "Imminent danger described on the call (fictional)") {
    case { reports { id } } } }"""
OUTCOME = """mutation($key: String!, $referral: ID!) {
  reportReferralOutcome(idempotencyKey: $key, referralId: $referral, outcome: ACCEPTED,
                        note: "Intake booked (fictional)") {
    referralId referral { outcomes { outcome note } } } }"""

REFERRAL_FIELDS = ["CALLER_NAME", "CALLER_PHONE", "NEEDS", "BRIEF"]
REPORT_FIELDS = ["LOCATION", "URGENCY", "CALLER_NAME"]


def key() -> str:
    return f"fictional-{uuid4()}"


def events_written(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


def ok(caller: Caller, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = caller.gql(query, variables)
    assert "errors" not in body, body
    return body["data"]


def case_input(province: str = "CA-ON", **details: Any) -> dict[str, Any]:
    return {
        "channel": "CALL",
        "language": "en",
        "relationship": "VICTIM_OR_SURVIVOR",
        "caller": {"name": NAME, "phone": PHONE, "email": EMAIL, "otherContact": OTHER_CONTACT},
        "notes": NOTES,
        "details": {
            "province": province,
            "urgency": "HIGH",
            "needs": ["SHELTER"],
            "situationType": "LABOUR_TRAFFICKING",
            "minorInvolved": "NO",
            **details,
        },
    }


def open_case(staff: Caller, **details: Any) -> str:
    return str(
        ok(staff, OPEN, {"key": key(), "input": case_input(**details)})["openCase"]["caseId"]
    )


def grant(staff: Caller, case: str, scope: str, to: str | None = None) -> str:
    consents = ok(staff, CONSENT, {"key": key(), "id": case, "scope": scope, "to": to})[
        "grantConsent"
    ]["case"]["consents"]
    return str(consents[-1]["id"])


def refer(staff: Caller, case: str, org: str, fields: list[str]) -> str:
    referrals = ok(staff, REFER, {"key": key(), "id": case, "org": org, "fields": fields})[
        "referCase"
    ]["case"]["referrals"]
    return str(referrals[-1]["id"])


class _FortyDaysOn(datetime):
    """The statistics resolver's clock, forty days on: the month the test's cases were opened
    in is complete, so they are counted (the current month never is)."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return datetime.now(tz) + timedelta(days=40)


@pytest.fixture
def completed_month(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.schema.cases.queries, "datetime", _FortyDaysOn)


# -- a fictional world ---------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    case: str
    referral: str
    report: str
    orgs: dict[str, str]  # shelter, neighbour, agency, other_agency


def build_world(system: System, as_role: Any) -> World:
    """One case, referred to the shelter (name, phone, needs, brief under consent) and reported
    to the agency (location, urgency, name under the imminent-harm exception); the neighbour and
    the other agency received nothing."""
    orgs = {
        "shelter": str(seed(system, "Example Harbour Refuge")),
        "neighbour": str(seed(system, "Example Neighbour Refuge")),
        "agency": str(seed(system, "Example Regional Police", kind="LAW_ENFORCEMENT_AGENCY")),
        "other_agency": str(seed(system, "Example Other Police", kind="LAW_ENFORCEMENT_AGENCY")),
    }
    with acting_as(Actor("fictional-staff-9", "staff", request_id="world")):
        protocol = system.app.establish_reporting_protocol(
            key(),
            UUID(orgs["agency"]),
            "CA-ON",
            None,
            [{"name": "Fictional Detective", "phone": "+1 555 030 0009"}],
        ).id
    system.projector.catch_up()
    staff = as_role("staff", user="fictional-staff-1")
    case = open_case(staff)
    supervisor_decides(system, case)  # a potential trafficking case: the decision comes first
    grant(staff, case, "SHARE_WITH_ORGANIZATION", orgs["shelter"])
    grant(staff, case, "NON_IDENTIFYING_STATISTICS")
    referral = refer(staff, case, orgs["shelter"], REFERRAL_FIELDS)
    reports = ok(
        as_role("supervisor", user="fictional-supervisor-1"),
        REPORT,
        {"key": key(), "id": case, "protocol": str(protocol), "factors": FACTORS},
    )["reportToLawEnforcement"]["case"]["reports"]
    return World(case, referral, str(reports[-1]["id"]), orgs)


@dataclass(frozen=True)
class Viewer:
    role: str
    belongs_to: str | None = None  # a key of World.orgs

    @property
    def trusted(self) -> bool:
        return self.role in ("staff", "supervisor", "compliance")


VIEWERS = {
    "public": Viewer("public"),
    "partner-addressee": Viewer("partner", "shelter"),
    "partner-other": Viewer("partner", "neighbour"),
    "law_enforcement-addressee": Viewer("law_enforcement", "agency"),
    "law_enforcement-other": Viewer("law_enforcement", "other_agency"),
    "staff": Viewer("staff"),
    "supervisor": Viewer("supervisor"),
    "compliance": Viewer("compliance"),
}
OUTSIDERS = [name for name, viewer in VIEWERS.items() if not viewer.trusted]


def caller_for(as_role: Any, world: World, name: str) -> Caller:
    viewer = VIEWERS[name]
    org = None if viewer.belongs_to is None else world.orgs[viewer.belongs_to]
    return as_role(viewer.role, org, user=f"fictional-{name}-1")  # type: ignore[no-any-return]


# -- 1. every role, every case query ---------------------------------------------------------------

QUERIES = {
    "cases": "{ cases(first: 10) { items { id callerName province } pageInfo { hasNextPage } } }",
    "case": "query($case: ID!) { case(id: $case) { id callerName callerPhone } }",
    "referralInbox": "{ referralInbox { id mode needs fields outcomes { outcome } "
    "disclosed { callerName callerPhone callerEmail brief } } }",
    "referral": "query($referral: ID!) { referral(id: $referral) { id fields "
    "disclosed { callerName callerEmail } } }",
    "reportInbox": "{ reportInbox { id fields disclosed { callerName callerPhone province "
    "urgency } } }",
    "report": "query($report: ID!) { report(id: $report) { id disclosed { callerName "
    "callerPhone } } }",
    "disclosureLedger": "{ disclosureLedger { items { caseId recipientKind recipientId fields "
    "exception byRole } pageInfo { hasNextPage } } }",
    "statistics": "{ statistics(dimension: PROVINCE) { value count } }",
}

# The policy, written out independently of policies/policy.csv: D = the data below, [] = an
# empty inbox, null = nothing found, R = the whole document refused before it runs.
#                                  cases case  rInbox  referral rpInbox  report  ledger stats
GETS = {
    "public": ("R", "R", "R", "R", "R", "R", "R", "D"),
    "partner-addressee": ("R", "R", "D", "D", "R", "R", "R", "D"),
    "partner-other": ("R", "R", "[]", "null", "R", "R", "R", "D"),
    "law_enforcement-addressee": ("R", "R", "R", "R", "D", "D", "R", "D"),
    "law_enforcement-other": ("R", "R", "R", "R", "[]", "null", "R", "D"),
    "staff": ("D", "D", "R", "R", "R", "R", "D", "D"),
    "supervisor": ("D", "D", "R", "R", "R", "R", "D", "D"),
    "compliance": ("R", "R", "R", "R", "R", "R", "D", "D"),
}


def expected_data(world: World, query: str) -> Any:
    referral_copy = {"callerName": NAME, "callerPhone": PHONE, "callerEmail": None, "brief": BRIEF}
    return {
        "cases": {
            "items": [{"id": world.case, "callerName": NAME, "province": "CA-ON"}],
            "pageInfo": {"hasNextPage": False},
        },
        "case": {"id": world.case, "callerName": NAME, "callerPhone": PHONE},
        "referralInbox": [
            {
                "id": world.referral,
                "mode": "WARM_TRANSFER",
                "needs": ["SHELTER"],
                "fields": REFERRAL_FIELDS,
                "outcomes": [],
                "disclosed": referral_copy,
            }
        ],
        "referral": {
            "id": world.referral,
            "fields": REFERRAL_FIELDS,
            "disclosed": {"callerName": NAME, "callerEmail": None},
        },
        "reportInbox": [
            {
                "id": world.report,
                "fields": REPORT_FIELDS,
                "disclosed": {
                    "callerName": NAME,
                    "callerPhone": None,
                    "province": "CA-ON",
                    "urgency": "HIGH",
                },
            }
        ],
        "report": {"id": world.report, "disclosed": {"callerName": NAME, "callerPhone": None}},
        "disclosureLedger": {
            "items": [
                {
                    "caseId": world.case,
                    "recipientKind": "LAW_ENFORCEMENT",
                    "recipientId": world.orgs["agency"],
                    "fields": REPORT_FIELDS,
                    "exception": "IMMINENT_HARM",
                    "byRole": "supervisor",
                },
                {
                    "caseId": world.case,
                    "recipientKind": "ORGANIZATION",
                    "recipientId": world.orgs["shelter"],
                    "fields": REFERRAL_FIELDS,
                    "exception": None,
                    "byRole": "staff",
                },
            ],
            "pageInfo": {"hasNextPage": False},
        },
        # One case consented to statistics: a count of one is never published.
        "statistics": [{"value": "CA-ON", "count": None}],
    }[query]


def variables_for(world: World, query: str) -> dict[str, Any]:
    wanted = {"case": world.case, "referral": world.referral, "report": world.report}
    return {name: value for name, value in wanted.items() if f"${name}" in QUERIES[query]}


def verdict(body: Any, viewer: Viewer, query: str, expected: str, world: World) -> str | None:
    """What is wrong with this answer, or None."""
    if expected == "R":
        if viewer.trusted:
            codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
            named = f"Query.{query} is not available to the {viewer.role} role"
            if (
                body.get("data") is not None
                or codes != {"NOT_AVAILABLE"}
                or named not in (e["message"] for e in body["errors"])
            ):
                return f"expected a refusal naming Query.{query}, got {body}"
        elif body != INVALID_DOCUMENT:
            return f"expected the generic refusal, got {body}"
        return None
    wanted = {"D": expected_data(world, query), "[]": [], "null": None}[expected]
    if body != {"data": {query: wanted}}:
        return f"expected {wanted}, got {body}"
    return None


@pytest.mark.parametrize("name", sorted(VIEWERS))
def test_each_role_gets_exactly_what_the_policy_grants_from_every_case_query(
    system: System, as_role: Any, completed_month: None, name: str
) -> None:
    world = build_world(system, as_role)
    viewer = VIEWERS[name]
    caller = caller_for(as_role, world, name)
    wrong = {}
    for query, expected in zip(QUERIES, GETS[name], strict=True):
        body = caller.gql(QUERIES[query], variables_for(world, query))
        problem = verdict(body, viewer, query, expected, world)
        if problem:
            wrong[query] = problem
    assert not wrong, json.dumps(wrong, indent=1)


# -- 2. no query finds a case ----------------------------------------------------------------------

CASE_TYPES = {
    "Case",
    "CasePage",
    "CaseResult",
    "CaseReferral",
    "CaseReport",
    "Consent",
    "Disclosure",
    "LedgerPage",
    "LedgerEntry",
    "EmergencyCall",
    "Consultation",
    "CaseHistoryEntry",
    "ReportFactors",
}
COPY_TYPES = {
    "ReferralInboxItem",
    "ReportInboxItem",
    "DisclosedCopy",
    "ReferralOutcomeResult",
    "StatisticsCell",
}
# Root fields through which an outsider reaches anything derived from a case, with every
# argument each accepts: none of them is an attribute of a case or a caller.
OUTSIDER_ROOTS = {
    "public": {"Query.statistics": {"dimension"}},
    "partner": {
        "Query.statistics": {"dimension"},
        "Query.referralInbox": {"first"},
        "Query.referral": {"id"},
        "Mutation.reportReferralOutcome": {"idempotencyKey", "referralId", "outcome", "note"},
        "Mutation.answerReferral": {"idempotencyKey", "referralId", "answer", "reason", "note"},
    },
    "law_enforcement": {
        "Query.statistics": {"dimension"},
        "Query.reportInbox": {"first"},
        "Query.report": {"id"},
        "Mutation.acknowledgeReport": {"idempotencyKey", "reportId", "contactName", "fileNumber"},
    },
}


def reachable(system: System, role: str) -> dict[str, tuple[set[str], set[str]]]:
    """Per root field the role may select: (object types it reaches through fields the role
    may select, its argument names)."""
    schema = graphql_schema(system.schema)
    selectable = system.policy.selectable(role)
    found: dict[str, tuple[set[str], set[str]]] = {}
    for root in (schema.query_type, schema.mutation_type):
        assert root is not None
        for field_name, field in root.fields.items():
            if f"{root.name}.{field_name}" not in selectable:
                continue
            seen: set[str] = set()
            todo = [get_named_type(field.type)]
            while todo:
                current = todo.pop()
                if not isinstance(current, GraphQLObjectType) or current.name in seen:
                    continue
                seen.add(current.name)
                todo += [
                    get_named_type(f.type)
                    for n, f in current.fields.items()
                    if f"{current.name}.{n}" in selectable
                ]
            found[f"{root.name}.{field_name}"] = (seen, set(field.args))
    return found


@pytest.mark.parametrize("role", sorted(OUTSIDER_ROOTS))
def test_no_path_an_outsider_may_select_reaches_a_case_or_takes_a_case_attribute(
    system: System, role: str
) -> None:
    roots = reachable(system, role)
    reaching_cases = {
        root: types & CASE_TYPES for root, (types, _) in roots.items() if types & CASE_TYPES
    }
    assert reaching_cases == {}
    derived = {root: args for root, (types, args) in roots.items() if types & COPY_TYPES}
    assert derived == OUTSIDER_ROOTS[role]


def test_the_walk_does_find_cases_for_caseworkers(system: System) -> None:
    roots = reachable(system, "staff")
    assert "Case" in roots["Query.cases"][0]
    assert "filter" in roots["Query.cases"][1]


CASE = {"case": "the world's case id"}  # filled in once the world exists
PROBES: dict[str, tuple[str, dict[str, str]]] = {
    "by phone": (
        "query($phone: String!) { cases(filter: {callerPhone: $phone}) { items { id } } }",
        {"phone": PHONE},
    ),
    "by province": ('{ cases(filter: {provinces: ["CA-ON"]}) { items { id } } }', {}),
    "by id": ("query($case: ID!) { case(id: $case) { id } }", CASE),
    "typename only": ("query($case: ID!) { case(id: $case) { __typename } }", CASE),
    "alias": ("query($case: ID!) { c: case(id: $case) { id } }", CASE),
    "inline fragment": ("query($case: ID!) { ... on Query { case(id: $case) { id } } }", CASE),
    "named fragment": (
        "query($case: ID!) { ...Q } fragment Q on Query { case(id: $case) { id } }",
        CASE,
    ),
    "nested fragments": (
        "{ ...Outer } fragment Outer on Query { ... on Query { ...Inner } } "
        "fragment Inner on Query { cases(first: 1) { items { id } } }",
        {},
    ),
    "ledger by case": ("{ disclosureLedger { items { caseId } } }", {}),
    "other inbox": ("{ referralInbox { id } reportInbox { id } }", {}),
}


@pytest.mark.parametrize("name", OUTSIDERS)
def test_every_probe_for_a_case_is_refused_outside_the_hotline(
    system: System, as_role: Any, name: str
) -> None:
    world = build_world(system, as_role)
    caller = caller_for(as_role, world, name)
    for probe, (query, variables) in PROBES.items():
        values = {"case": world.case} if variables is CASE else variables
        assert caller.gql(query, values) == INVALID_DOCUMENT, probe
    staff = as_role("staff")
    assert ok(staff, PROBES["by phone"][0], PROBES["by phone"][1])["cases"]["items"] == [
        {"id": world.case}
    ]  # the same lookup does work for a caseworker


# -- 3. not yours looks exactly like missing -------------------------------------------------------

ITEM_QUERIES = {
    "referral": "query($id: ID!) { referral(id: $id) { id mode needs at fields outcomes "
    "{ at outcome note } disclosed { callerName callerPhone callerEmail "
    "callerOtherContact province municipality language minorInvolved "
    "situationType urgency needs indicators brief } } }",
    "report": "query($id: ID!) { report(id: $id) { id at fields disclosed { callerName "
    "callerPhone callerEmail callerOtherContact province municipality language "
    "minorInvolved situationType urgency needs indicators brief } } }",
}
MALFORMED = (
    "not-a-referral-id",
    "",
    "' OR 1=1 --",
    "0" * 36,
    "00000000-0000-4000-8000-00000000000g",
    "%",
    "*",
)


@pytest.mark.parametrize(
    "name",
    ["partner-addressee", "partner-other", "law_enforcement-addressee", "law_enforcement-other"],
)
def test_an_item_not_addressed_to_the_caller_answers_byte_for_byte_like_a_missing_one(
    system: System, as_role: Any, name: str
) -> None:
    world = build_world(system, as_role)
    # A second referral, to a shelter none of the callers belongs to.
    staff = as_role("staff")
    elsewhere = str(seed(system, "Example Elsewhere Refuge"))
    grant(staff, world.case, "SHARE_WITH_ORGANIZATION", elsewhere)
    their_referral = refer(staff, world.case, elsewhere, ["CALLER_NAME", "BRIEF"])
    caller = caller_for(as_role, world, name)
    kind = "referral" if VIEWERS[name].role == "partner" else "report"
    query = ITEM_QUERIES[kind]
    addressee = name.endswith("-addressee")
    own = world.referral if kind == "referral" else world.report

    def raw(item_id: str) -> bytes:
        response = caller.post(query, {"id": item_id})
        assert response.status_code == 200
        return bytes(response.content)

    missing = raw(str(uuid4()))
    assert json.loads(missing) == {"data": {kind: None}}
    not_mine = [
        world.case,
        world.referral,
        world.report,
        their_referral,
        *world.orgs.values(),
        own.upper(),
        own[:-1],
    ]
    for candidate in not_mine:
        if addressee and candidate in (own, own.upper()):
            continue
        assert raw(candidate) == missing, candidate
    for malformed in MALFORMED:
        assert raw(malformed) == missing, malformed
    found = json.loads(raw(own))["data"][kind]
    assert (found is not None) == addressee
    if addressee:
        assert found["id"] == own and found["disclosed"]["callerName"] == NAME


@pytest.mark.parametrize(
    ("name", "inbox"),
    [("partner-other", "referralInbox"), ("law_enforcement-other", "reportInbox")],
)
def test_an_inbox_with_nothing_addressed_to_it_is_empty_and_never_changes(
    system: System, as_role: Any, name: str, inbox: str
) -> None:
    viewer = VIEWERS[name]
    query = f"{{ {inbox}(first: 50) {{ id at fields disclosed {{ callerName }} }} }}"
    stranger = as_role(viewer.role, str(uuid4()), user="fictional-stranger-1")
    before = bytes(stranger.post(query).content)
    assert json.loads(before) == {"data": {inbox: []}}
    world = build_world(system, as_role)
    caller = caller_for(as_role, world, name)
    assert bytes(caller.post(query).content) == before
    assert bytes(stranger.post(query).content) == before
    if inbox == "referralInbox":  # a relayed referral sends nothing: nothing to show either
        ok(
            as_role("staff"),
            REFER,
            {
                "key": key(),
                "id": world.case,
                "org": world.orgs["neighbour"],
                "fields": [],
                "brief": "",
            },
        )
        assert bytes(caller.post(query).content) == before
    addressee = caller_for(as_role, world, name.replace("-other", "-addressee"))
    assert len(addressee.gql(query)["data"][inbox]) == 1  # the world is not empty


# -- 4. aliases, fragments and __typename reach what the direct path reaches -----------------------

COPY = (
    "callerName callerPhone callerEmail callerOtherContact province municipality language "
    "needs brief"
)
COPY_NAMES = COPY.split()


def _shapes(inbox: str, single: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """(document, variables) per shape; every shape answers under the same keys once
    `unshape` maps aliases back and drops __typename."""
    aliased = " ".join(f"a_{n}: {n}" for n in COPY_NAMES)
    return {
        "direct": (f"{{ {inbox} {{ disclosed {{ {COPY} }} }} }}", {}),
        "aliases": (f"{{ a_{inbox}: {inbox} {{ a_disclosed: disclosed {{ {aliased} }} }} }}", {}),
        "named fragment": (
            f"{{ {inbox} {{ disclosed {{ ...C }} }} }} fragment C on DisclosedCopy {{ {COPY} }}",
            {},
        ),
        "nested fragments": (
            f"{{ ...Q }} fragment Q on Query {{ {inbox} {{ ...I }} }} "
            f"fragment I on {single} {{ ... on {single} {{ disclosed "
            f"{{ ...C }} }} }} fragment C on DisclosedCopy {{ {COPY} }}",
            {},
        ),
        "inline fragments": (
            f"{{ ... on Query {{ {inbox} {{ ... on {single} {{ disclosed "
            f"{{ ... on DisclosedCopy {{ {COPY} }} }} }} }} }} }}",
            {},
        ),
        "typename": (f"{{ {inbox} {{ __typename disclosed {{ __typename {COPY} }} }} }}", {}),
        "directives": (
            f"query($yes: Boolean!) {{ {inbox} {{ disclosed @include(if: $yes) {{ {COPY} }} }} }}",
            {"yes": True},
        ),
    }


def unshape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k.removeprefix("a_"): unshape(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [unshape(v) for v in value]
    return value


SHOULD_SEE = {
    "referral": {
        "callerName": NAME,
        "callerPhone": PHONE,
        "callerEmail": None,
        "callerOtherContact": None,
        "province": None,
        "municipality": None,
        "language": None,
        "needs": ["SHELTER"],
        "brief": BRIEF,
    },
    "report": {
        "callerName": NAME,
        "callerPhone": None,
        "callerEmail": None,
        "callerOtherContact": None,
        "province": "CA-ON",
        "municipality": None,
        "language": None,
        "needs": None,
        "brief": None,
    },
}


@pytest.mark.parametrize(
    "name",
    ["partner-addressee", "partner-other", "law_enforcement-addressee", "law_enforcement-other"],
)
def test_every_shape_of_a_document_reaches_exactly_the_disclosed_fields(
    system: System, as_role: Any, name: str
) -> None:
    world = build_world(system, as_role)
    caller = caller_for(as_role, world, name)
    kind = "referral" if VIEWERS[name].role == "partner" else "report"
    inbox, single = (
        ("referralInbox", "ReferralInboxItem")
        if kind == "referral"
        else ("reportInbox", "ReportInboxItem")
    )
    addressee = name.endswith("-addressee")
    expected = [{"disclosed": SHOULD_SEE[kind]}] if addressee else []
    for shape, (query, variables) in _shapes(inbox, single).items():
        body = caller.gql(query, variables)
        assert "errors" not in body, (shape, body)
        assert unshape(body["data"]) == {inbox: expected}, shape
        if addressee and shape == "typename":
            item = body["data"][inbox][0]
            assert (item["__typename"], item["disclosed"]["__typename"]) == (
                single,
                "DisclosedCopy",
            )
    # The one-item path answers the same copy, or the same null.
    own = world.referral if kind == "referral" else world.report
    one = caller.gql(
        f"query($id: ID!) {{ {kind}(id: $id) {{ d: disclosed {{ ...C }} }} }} "
        f"fragment C on DisclosedCopy {{ {COPY} }}",
        {"id": own},
    )
    assert one == {"data": {kind: {"d": SHOULD_SEE[kind]} if addressee else None}}


@pytest.mark.parametrize("role", ["staff", "supervisor", "compliance"])
def test_fragments_do_not_open_an_inbox_to_the_hotline(
    system: System, as_role: Any, role: str
) -> None:
    build_world(system, as_role)  # both inboxes hold an item
    caller = as_role(role)
    for inbox, single in (
        ("referralInbox", "ReferralInboxItem"),
        ("reportInbox", "ReportInboxItem"),
    ):
        for shape, (query, variables) in _shapes(inbox, single).items():
            body = caller.gql(query, variables)
            assert body["data"] is None, (shape, body)
            assert {e["extensions"]["code"] for e in body["errors"]} == {"NOT_AVAILABLE"}


# -- 5. consent withdrawal, foreign outcomes -------------------------------------------------------


def test_a_withdrawn_consent_stops_a_new_disclosure_and_the_earlier_one_stays_on_record(
    system: System, as_role: Any
) -> None:
    staff = as_role("staff")
    shelter = str(seed(system, "Example Harbour Refuge"))
    case = open_case(staff)
    supervisor_decides(system, case)
    consent = grant(staff, case, "SHARE_WITH_ORGANIZATION", shelter)
    first = refer(staff, case, shelter, ["CALLER_NAME", "BRIEF"])
    withdrawn = ok(staff, WITHDRAW, {"key": key(), "id": case, "consent": consent})
    assert withdrawn["withdrawConsent"]["case"]["consents"][0]["withdrawnAt"] is not None

    written = events_written(system)
    refused = staff.gql(
        REFER, {"key": key(), "id": case, "org": shelter, "fields": ["CALLER_NAME", "BRIEF"]}
    )
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "CONSENT_REQUIRED"
    assert "SHARE_WITH_ORGANIZATION" in refused["errors"][0]["message"]
    assert events_written(system) == written

    ledger = ok(
        as_role("compliance"),
        "{ disclosureLedger { items { caseId consentId recipientId fields } } }",
    )["disclosureLedger"]["items"]
    assert ledger == [
        {
            "caseId": case,
            "consentId": consent,
            "recipientId": shelter,
            "fields": ["CALLER_NAME", "BRIEF", "NEEDS"],
        }
    ]
    inbox = ok(
        as_role("partner", shelter), "{ referralInbox { id disclosed { callerName brief } } }"
    )["referralInbox"]
    assert inbox == [{"id": first, "disclosed": {"callerName": NAME, "brief": BRIEF}}]
    seen = ok(
        staff,
        "query($id: ID!) { case(id: $id) { referrals { id } disclosures { consentId } } }",
        {"id": case},
    )["case"]
    assert seen == {"referrals": [{"id": first}], "disclosures": [{"consentId": consent}]}

    grant(staff, case, "SHARE_WITH_ORGANIZATION", shelter)  # a new consent: a new disclosure
    refer(staff, case, shelter, ["BRIEF"])
    assert len(ok(as_role("partner", shelter), "{ referralInbox { id } }")["referralInbox"]) == 2


def test_an_outcome_from_another_organizations_partner_is_refused_and_writes_nothing(
    system: System, as_role: Any
) -> None:
    world = build_world(system, as_role)
    other = caller_for(as_role, world, "partner-other")
    written = events_written(system)
    the_key = key()
    foreign = other.post(OUTCOME, {"key": the_key, "referral": world.referral})
    missing = other.post(OUTCOME, {"key": the_key, "referral": str(uuid4())})
    assert foreign.json() == {
        "data": None,
        "errors": [
            {
                "message": "referral not found",
                "extensions": {"code": "NOT_FOUND", "retryable": False},
            }
        ],
    }
    assert foreign.content == missing.content
    assert events_written(system) == written

    addressee = caller_for(as_role, world, "partner-addressee")
    inbox = ok(addressee, "{ referralInbox { outcomes { outcome } } }")["referralInbox"]
    assert inbox == [{"outcomes": []}]
    reported = ok(addressee, OUTCOME, {"key": key(), "referral": world.referral})
    assert reported["reportReferralOutcome"]["referral"]["outcomes"] == [
        {"outcome": "ACCEPTED", "note": "Intake booked (fictional)"}
    ]
    # The same key again from the other organization still finds nothing.
    again = other.post(OUTCOME, {"key": the_key, "referral": world.referral})
    assert again.content == missing.content


# -- 6. the ledger holds names of fields, never values ---------------------------------------------

LEDGER_ALL = (
    "{ disclosureLedger(first: 50) { items { id caseId recipientKind recipientId "
    "fields consentId exception justification at by byRole } "
    "pageInfo { hasNextPage endCursor } } }"
)


@pytest.mark.parametrize("role", ["compliance", "staff", "supervisor"])
def test_the_disclosure_ledger_never_holds_a_callers_name_phone_or_email(
    system: System, as_role: Any, role: str
) -> None:
    world = build_world(system, as_role)
    staff = as_role("staff")
    grant(staff, world.case, "SHARE_WITH_ORGANIZATION", world.orgs["neighbour"])
    refer(
        staff,
        world.case,
        world.orgs["neighbour"],
        ["CALLER_NAME", "CALLER_PHONE", "CALLER_EMAIL", "CALLER_OTHER_CONTACT"],
    )
    response = as_role(role).post(LEDGER_ALL)
    assert response.status_code == 200
    items = response.json()["data"]["disclosureLedger"]["items"]
    assert items[0]["fields"] == [
        "CALLER_NAME",
        "CALLER_PHONE",
        "CALLER_EMAIL",
        "CALLER_OTHER_CONTACT",
        "BRIEF",
        "NEEDS",
    ]
    assert len(items) == 3
    for secret in SECRETS:
        assert secret not in response.text, secret


# -- 7. statistics ---------------------------------------------------------------------------------

THRESHOLD = 5


def _stats_case(
    staff: Caller, province: str, situation: str, needs: list[str], consent: bool = True
) -> str:
    case = open_case(staff, province=province, situationType=situation, needs=needs)
    if consent:
        grant(staff, case, "NON_IDENTIFYING_STATISTICS")
    return case


@pytest.fixture
def statistics_world(system: System, as_role: Any) -> None:
    """Consented: 6 in Ontario (sex trafficking; shelter), 5 in Quebec (labour; shelter and
    legal), 1 in British Columbia (labour; shelter and health). Not counted: 6 in Manitoba
    without consent, and 1 there whose consent was withdrawn."""
    staff = as_role("staff")
    for _ in range(6):
        _stats_case(staff, "CA-ON", "SEX_TRAFFICKING", ["SHELTER"])
    for _ in range(5):
        _stats_case(staff, "CA-QC", "LABOUR_TRAFFICKING", ["SHELTER", "LEGAL"])
    _stats_case(staff, "CA-BC", "LABOUR_TRAFFICKING", ["SHELTER", "HEALTH"])
    for _ in range(6):
        _stats_case(staff, "CA-MB", "BOTH", ["INCOME"], consent=False)
    case = _stats_case(staff, "CA-MB", "BOTH", ["INCOME"])
    consent = ok(staff, "query($id: ID!) { case(id: $id) { consents { id } } }", {"id": case})[
        "case"
    ]["consents"][0]["id"]
    ok(staff, WITHDRAW, {"key": key(), "id": case, "consent": consent})


STATISTICS = "query($d: StatisticsDimension!) { statistics(dimension: $d) { value count } }"


@pytest.mark.parametrize("role", sorted(VIEWERS))
def test_statistics_never_publish_a_count_below_the_threshold(
    system: System, as_role: Any, statistics_world: None, completed_month: None, role: str
) -> None:
    viewer = VIEWERS[role]
    caller = as_role(viewer.role, None if viewer.belongs_to is None else str(uuid4()))
    for dimension in ("MONTH", "PROVINCE", "SITUATION_TYPE", "NEED"):
        cells = ok(caller, STATISTICS, {"d": dimension})["statistics"]
        assert cells, dimension
        counts = [c["count"] for c in cells]
        assert all(n is None or n >= THRESHOLD for n in counts), (dimension, cells)
        suppressed = counts.count(None)
        assert suppressed != 1 or len(cells) == 1, (dimension, cells)
        assert "CA-MB" not in {c["value"] for c in cells}, (dimension, cells)
        assert "BOTH" not in {c["value"] for c in cells}, (dimension, cells)
        assert "INCOME" not in {c["value"] for c in cells}, (dimension, cells)


def test_a_single_small_cell_takes_a_second_one_down_with_it(
    system: System, as_role: Any, statistics_world: None, completed_month: None
) -> None:
    public = as_role("public")

    def cells(dimension: str) -> list[tuple[str, int | None]]:
        return [
            (c["value"], c["count"]) for c in ok(public, STATISTICS, {"d": dimension})["statistics"]
        ]

    # British Columbia's 1 is small; Quebec's 5 would give it away by subtraction. Published
    # counts are rounded to a multiple of the threshold (6 -> 5, 12 -> 10).
    assert cells("PROVINCE") == [("CA-BC", None), ("CA-ON", 5), ("CA-QC", None)]
    assert cells("SITUATION_TYPE") == [("LABOUR_TRAFFICKING", 5), ("SEX_TRAFFICKING", 5)]
    # Health's 1 is small; legal's 5 goes with it.
    assert cells("NEED") == [("HEALTH", None), ("LEGAL", None), ("SHELTER", 10)]


# -- 8. telemetry and logs -------------------------------------------------------------------------


@pytest.fixture
def traced(settings: Settings) -> Iterator[tuple[System, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    built = build_system(settings, provider)
    try:
        yield built, exporter
    finally:
        built.close()
        provider.shutdown()


def _telemetry_text(exporter: InMemorySpanExporter) -> str:
    parts = []
    for span in exporter.get_finished_spans():
        parts += [
            span.name,
            json.dumps(dict(span.attributes or {}), default=str),
            str(span.status.description),
        ]
        for event in span.events:
            parts += [event.name, json.dumps(dict(event.attributes or {}), default=str)]
    return "\n".join(parts)


def test_a_callers_data_reaches_no_span_and_no_log_line(
    traced: tuple[System, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    system, exporter = traced
    caplog.set_level(logging.DEBUG)
    shelter = str(seed(system, "Example Harbour Refuge"))
    neighbour = str(seed(system, "Example Neighbour Refuge"))
    in_review = str(seed(system, "Example Pending Refuge", included=False))
    token = system.auth.issue("staff", "fictional-staff-1")
    with TestClient(create_app(system, run_projections=False)) as client:
        staff = Caller(client, token)
        case = open_case(staff)
        supervisor_decides(system, case)
        grant(staff, case, "SHARE_WITH_ORGANIZATION", shelter)
        refer(staff, case, shelter, ["CALLER_NAME", "CALLER_PHONE", "CALLER_EMAIL", "BRIEF"])
        failures = [
            # No consent covers the neighbour; the brief carries the caller's name.
            staff.gql(
                REFER,
                {
                    "key": key(),
                    "id": case,
                    "org": neighbour,
                    "fields": ["CALLER_NAME", "CALLER_EMAIL"],
                    "brief": f"Call {NAME} on {PHONE}",
                },
            ),
            # Not an included organization.
            staff.gql(
                REFER,
                {
                    "key": key(),
                    "id": case,
                    "org": in_review,
                    "fields": ["CALLER_PHONE"],
                    "brief": EMAIL,
                },
            ),
            # A caller's data where an enum belongs: the variable's value must stay out.
            staff.gql(REFER, {"key": key(), "id": case, "org": shelter, "fields": [NAME]}),
            # Invalid personal data: the message says what is wrong, never the value.
            staff.gql(
                OPEN,
                {
                    "key": key(),
                    "input": {
                        **case_input(),
                        "caller": {"name": NAME, "phone": f"{PHONE} ask for {NAME}", "email": NAME},
                    },
                },
            ),
        ]
    codes = [body["errors"][0]["extensions"]["code"] for body in failures]
    assert codes == [
        "CONSENT_REQUIRED",
        "ORGANIZATION_NOT_AVAILABLE",
        "INVALID_INPUT",
        "INVALID_INPUT",
    ]
    for body in failures:
        for secret in SECRETS:
            assert secret not in json.dumps(body), (secret, body)
    names = [span.name for span in exporter.get_finished_spans()]
    assert "POST /graphql" in names and "event_store.save" in names
    assert any(name.startswith("graphql ") for name in names)
    text = _telemetry_text(exporter) + "\n" + caplog.text
    for secret in SECRETS:
        assert secret not in text, secret


def test_a_disclosure_justification_opens_for_caseworkers_and_is_masked_for_compliance(
    system: System, as_role: Any
) -> None:
    """Compliance sees who disclosed what, when and on which basis; the justification's text
    is written on the case and can hold the caller's data, so it reads as the audit trail
    shows it: [sealed]."""
    world = build_world(system, as_role)
    justifications = {}
    for role in ("staff", "supervisor", "compliance"):
        items = ok(as_role(role), "{ disclosureLedger { items { exception justification } } }")[
            "disclosureLedger"
        ]["items"]
        justifications[role] = {item["exception"]: item["justification"] for item in items}
    written = "Imminent danger described on the call (fictional)"
    assert (
        justifications["staff"]
        == justifications["supervisor"]
        == {"IMMINENT_HARM": written, None: ""}
    )
    assert justifications["compliance"] == {"IMMINENT_HARM": "[sealed]", None: ""}
    trail = ok(
        as_role("compliance"),
        """query($id: ID!) { auditTrail(recordId: $id) {
      items { data } } }""",
        {"id": world.case},
    )["auditTrail"]["items"]
    assert written not in json.dumps(trail)  # as the audit trail shows it
