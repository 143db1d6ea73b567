"""The hostile checks of the hardening, run again with the caller riding a session instead of
a bearer token: cross-site bodies (forms, text/plain, GET) never run, "not yours" answers
byte for byte like "does not exist", and a session without its header, or with a forged
cookie, reaches nothing. How a session is made is told in ``test_sign_in_stories.py``; here a
session is started directly for a member the test's ``Members`` knows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.signin.members import Member
from api.signin.sessions import SESSION_COOKIE
from api.signin.web import SignIn
from api.wiring import System
from tests.e2e import test_directory_confidentiality as confidentiality
from tests.e2e import test_http_edge as edge
from tests.e2e.conftest import Caller
from tests.e2e.test_directory_confidentiality import OUTSIDERS
from tests.e2e.test_http_edge import application, assert_error, events_written


@dataclass
class KnownMembers:
    """``Members`` over the members the test signed in."""

    known: dict[str, Member] = field(default_factory=dict)

    def on_sign_in(
        self, issuer: str, subject: str, email: str | None, email_verified: bool
    ) -> Member | None:
        return None

    def current(self, member_id: str) -> Member | None:
        return self.known.get(member_id)


@dataclass
class SessionCaller(Caller):
    """A caller whose requests ride a session: its cookie and the custom header."""

    cookie: str = ""

    def post(self, query: str, variables: dict[str, Any] | None = None, **extra: Any) -> Any:
        return self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}, **extra},
            headers={"cookie": f"{SESSION_COOKIE}={self.cookie}", "x-nrd-request": "1"},
        )


@pytest.fixture
def members() -> KnownMembers:
    return KnownMembers()


@pytest.fixture
def sign_in(system: System, members: KnownMembers) -> SignIn:
    return SignIn.build(system, members=members)


@pytest.fixture
def session_client(system: System, sign_in: SignIn) -> Iterator[TestClient]:
    app = create_app(system, run_projections=False, sign_in=sign_in)
    with TestClient(app, base_url="https://testserver") as client:
        yield client


@pytest.fixture
def as_session(members: KnownMembers, sign_in: SignIn, session_client: TestClient) -> Any:
    def make(role: str, org: UUID | str | None = None, user: str | None = None) -> Caller:
        if role == "public":
            return Caller(session_client, None)
        member = Member(
            user or f"member-{role}-{uuid4().hex[:8]}", role, None if org is None else str(org)
        )
        members.known[member.member_id] = member
        cookie = sign_in.sessions.start(
            member.member_id, sign_in.lifetimes(role), ["pwd", "otp"], None, True
        )
        return SessionCaller(session_client, None, cookie)

    return make


@pytest.fixture
def signed_in_client(as_session: Any, session_client: TestClient) -> TestClient:
    """The test client with a staff member's session cookie in its jar: every request it
    sends rides that session."""
    caller = as_session("staff")
    session_client.cookies.set(SESSION_COOKIE, caller.cookie, domain="testserver.local", path="/")
    return session_client


@pytest.mark.parametrize("name", OUTSIDERS)
def test_not_yours_answers_like_does_not_exist_over_a_session(
    system: System, as_session: Any, name: str
) -> None:
    confidentiality.test_not_yours_answers_byte_for_byte_like_does_not_exist(
        system, as_session, name
    )


def test_a_cross_site_body_riding_a_session_never_runs(
    system: System, signed_in_client: TestClient
) -> None:
    edge.test_a_body_that_is_not_json_is_refused_and_writes_nothing(system, signed_in_client)
    edge.test_a_form_encoded_query_is_refused_and_writes_nothing(system, signed_in_client)
    edge.test_a_get_is_refused_and_never_executes(system, signed_in_client)


def test_a_mutation_riding_a_session_without_the_header_writes_nothing(
    system: System, signed_in_client: TestClient
) -> None:
    before = events_written(system)
    response = signed_in_client.post("/graphql", json=application())
    assert_error(response, 403, "SESSION_HEADER_REQUIRED")
    assert events_written(system) == before


def test_a_forged_session_cannot_write(system: System, signed_in_client: TestClient) -> None:
    before = events_written(system)
    signed_in_client.cookies.set(SESSION_COOKIE, "forged", domain="testserver.local", path="/")
    response = signed_in_client.post(
        "/graphql",
        content=json.dumps(application()),
        headers={
            "content-type": "application/json",
            "x-nrd-request": "1",
        },
    )
    assert_error(response, 401, "SESSION_INVALID")
    assert events_written(system) == before
