"""Signing in through a real provider to a membership kept as events, on both stores: a
supervisor invites by email, the person signs in with that verified address and rides a
session; a suspension, a revocation or the organization's removal ends it at the next
request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest

from api.app import create_app
from api.signin.oidc import RelyingParty
from api.signin.web import SignIn
from api.wiring import System
from domain.base import Actor, acting_as
from domain.organization import RemovalReason
from tests.e2e.conftest import seed
from tests.e2e.signin_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    PROVIDER_WARNINGS,
    REDIRECT_URL,
    SECOND_FACTOR,
    Browser,
    put_user,
    running_provider,
)
from tests.e2e.test_member_stories import INVITE, REVOKE, SUSPEND, ok

pytestmark = PROVIDER_WARNINGS

DIRECTORY = "{ directory(first: 1) { totalCount } }"
WHO = "{ __schema { queryType { name } } }"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with running_provider() as url:
        yield url


@pytest.fixture(autouse=True)
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def sign_in(system: System, issuer: str) -> SignIn:
    party = RelyingParty(issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URL, clock=time.time)
    return SignIn.build(system, relying_party=party)  # the membership events' Members


@pytest.fixture
def browser(system: System, sign_in: SignIn) -> Iterator[Browser]:
    opened = Browser(create_app(system, run_projections=False, sign_in=sign_in))
    yield opened
    opened.close()


def person(issuer: str, **claims: Any) -> tuple[str, str]:
    """A person at the provider: their subject and (fictional) verified address."""
    subject = f"fictional-person-{uuid4().hex[:8]}"
    email = f"{subject}@example.org"
    put_user(issuer, subject, email=email, email_verified=True, **claims)
    return subject, email


def invited(supervisor: Any, email: str, role: str, **more: Any) -> str:
    variables = {"key": f"fictional-{uuid4()}", "input": {"email": email, "role": role, **more}}
    return str(ok(supervisor, INVITE, variables)["inviteMember"]["memberId"])


def test_an_invited_person_signs_in_and_rides_a_session_as_the_member(
    as_role: Any, browser: Browser, issuer: str, sign_in: SignIn
) -> None:
    supervisor = as_role("supervisor")
    subject, email = person(issuer, amr=SECOND_FACTOR)
    member_id = invited(supervisor, email, "STAFF")

    assert browser.sign_in(subject).status_code == 200

    assert browser.gql(WHO).json()["data"] is not None
    assert browser.session is not None
    principal = sign_in._principal(browser.session)
    assert (principal.user_id, principal.role) == (member_id, "staff")


def test_a_supervisor_suspends_a_member_mid_session(
    as_role: Any, browser: Browser, issuer: str
) -> None:
    supervisor = as_role("supervisor")
    subject, email = person(issuer, amr=SECOND_FACTOR)
    member_id = invited(supervisor, email, "STAFF")
    browser.sign_in(subject)
    assert browser.gql(DIRECTORY).status_code == 200

    ok(supervisor, SUSPEND, {"key": f"fictional-{uuid4()}", "id": member_id})

    refused = browser.gql(DIRECTORY)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "SESSION_INVALID"


def test_a_supervisor_revokes_a_member_mid_session_and_they_cannot_sign_in_again(
    as_role: Any, browser: Browser, issuer: str
) -> None:
    supervisor = as_role("supervisor")
    subject, email = person(issuer, amr=SECOND_FACTOR)
    member_id = invited(supervisor, email, "COMPLIANCE")
    browser.sign_in(subject)

    ok(supervisor, REVOKE, {"key": f"fictional-{uuid4()}", "id": member_id})

    assert browser.gql(DIRECTORY).status_code == 401
    again = browser.sign_in(subject)
    assert again.status_code == 403 and "NO_MEMBERSHIP" in again.text


def test_removing_an_organization_ends_its_partners_sessions(
    system: System, as_role: Any, browser: Browser, issuer: str
) -> None:
    supervisor = as_role("supervisor")
    harbour = seed(system, "Example Harbour Shelter")
    subject, email = person(issuer)
    invited(supervisor, email, "PARTNER", organizationId=str(harbour))
    assert browser.sign_in(subject).status_code == 200  # no second factor asked of partners
    assert browser.gql(DIRECTORY).status_code == 200

    with acting_as(Actor("fictional-supervisor-1", "supervisor", request_id="fictional")):
        outcome = system.app.remove_organization(
            f"fictional-{uuid4()}", harbour, RemovalReason.ORGANIZATION_REQUEST, "Fictional"
        )
    system.read_your_writes(outcome.position, outcome.topics)

    assert browser.gql(DIRECTORY).status_code == 401


def test_an_address_the_provider_has_not_verified_takes_up_no_invitation(
    as_role: Any, browser: Browser, issuer: str
) -> None:
    subject = f"fictional-person-{uuid4().hex[:8]}"
    email = f"{subject}@example.org"
    put_user(issuer, subject, email=email, email_verified=False, amr=SECOND_FACTOR)
    invited(as_role("supervisor"), email, "STAFF")

    answer = browser.sign_in(subject)

    assert answer.status_code == 403 and "NO_MEMBERSHIP" in answer.text
    assert browser.session is None


def test_an_invited_hotline_member_without_a_second_factor_gets_no_session(
    as_role: Any, browser: Browser, issuer: str
) -> None:
    subject, email = person(issuer, amr=["pwd"])
    invited(as_role("supervisor"), email, "SUPERVISOR")

    answer = browser.sign_in(subject)

    assert answer.status_code == 403 and "SECOND_FACTOR_REQUIRED" in answer.text
    assert browser.session is None
