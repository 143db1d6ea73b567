"""``nrd serve --demo``: a clearly marked development sign-in, a demo user per role, with no
provider; refused in production, and absent from a server that is not a demo."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.cli import _load_demo
from api.signin.members import Member
from api.signin.sessions import SESSION_COOKIE
from api.signin.web import SignIn
from api.wiring import System
from policies import ROLES

WHO = "{ __schema { queryType { name } } }"
DEMO = [
    Member("demo-staff", "staff"),
    Member("demo-partner", "partner", str(uuid4())),
]


def browser(system: System, demo: list[Member], **changes: Any) -> TestClient:
    if changes:
        system.settings = system.settings.with_changes(**changes)
    sign_in = SignIn.build(system, demo_members=demo)
    return TestClient(
        create_app(system, run_projections=False, sign_in=sign_in),
        base_url="https://testserver",
        follow_redirects=False,
    )


@pytest.fixture
def demo(system: System) -> Iterator[TestClient]:
    with browser(system, DEMO) as client:
        yield client


def test_the_development_page_is_marked_and_offers_a_user_per_role(demo: TestClient) -> None:
    page = demo.get("/auth/development")
    assert page.status_code == 200
    assert "DEVELOPMENT SIGN-IN" in page.text and "CONNEXION DE DÉVELOPPEMENT" in page.text
    assert "demo-staff" in page.text and "demo-partner" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_a_demo_user_signs_in_without_a_provider_and_their_session_serves_graphql(
    demo: TestClient,
) -> None:
    answer = demo.post(
        "/auth/development", data={"member": "demo-staff"}, headers={"origin": "https://testserver"}
    )
    assert answer.status_code == 200 and SESSION_COOKIE in demo.cookies
    assert "samesite=strict" in answer.headers["set-cookie"].lower()
    assert 'action="/auth/sign-out"' in answer.text

    served = demo.post("/graphql", json={"query": WHO}, headers={"x-nrd-request": "1"})
    assert served.status_code == 200 and served.json()["data"] is not None
    refused = demo.post("/graphql", json={"query": WHO})
    assert refused.status_code == 403


def test_a_development_sign_in_from_another_site_or_as_no_one_is_refused(
    demo: TestClient,
) -> None:
    cross = demo.post(
        "/auth/development",
        data={"member": "demo-staff"},
        headers={"origin": "https://elsewhere.example", "sec-fetch-site": "cross-site"},
    )
    assert cross.status_code == 403 and SESSION_COOKIE not in demo.cookies
    nobody = demo.post(
        "/auth/development", data={"member": "someone-else"}, headers={"x-nrd-request": "1"}
    )
    assert nobody.status_code == 403 and SESSION_COOKIE not in demo.cookies


def test_production_refuses_the_development_sign_in_and_its_sessions(system: System) -> None:
    with browser(system, DEMO) as before:
        before.post(
            "/auth/development", data={"member": "demo-staff"}, headers={"x-nrd-request": "1"}
        )
        cookie = before.cookies[SESSION_COOKIE]
    with browser(system, DEMO, environment="production") as production:
        assert production.get("/auth/development").status_code == 404
        answer = production.post(
            "/auth/development", data={"member": "demo-staff"}, headers={"x-nrd-request": "1"}
        )
        assert answer.status_code == 404 and "Development sign-in is off" in answer.text
        assert SESSION_COOKIE not in production.cookies
        # A development session made earlier is worth nothing in production.
        production.cookies.set(SESSION_COOKIE, cookie, domain="testserver.local", path="/")
        refused = production.post("/graphql", json={"query": WHO}, headers={"x-nrd-request": "1"})
        assert refused.status_code == 401


def test_a_server_that_is_not_a_demo_has_no_development_sign_in(system: System) -> None:
    with browser(system, []) as plain:
        assert plain.get("/auth/development").status_code == 404
        assert plain.get("/auth/sign-in").status_code == 404  # and no provider configured


def test_the_demo_offers_a_member_per_role_who_can_sign_in(system: System) -> None:
    members = _load_demo(system)

    assert sorted(m.role for m in members) == sorted(r for r in ROLES if r != "public")
    partner = next(m for m in members if m.role == "partner")
    assert partner.organization_id is not None
    with browser(system, members) as demo:
        assert partner.member_id in demo.get("/auth/development").text
        demo.post(
            "/auth/development", data={"member": partner.member_id}, headers={"x-nrd-request": "1"}
        )
        answer = demo.post(
            "/graphql",
            json={"query": "{ directory(first: 1) { totalCount } }"},
            headers={"x-nrd-request": "1"},
        )
        assert answer.status_code == 200 and answer.json()["data"]["directory"]["totalCount"] > 0


def test_the_signed_in_pages_sign_out_form_works_from_the_same_origin_only(
    demo: TestClient,
) -> None:
    demo.post("/auth/development", data={"member": "demo-staff"}, headers={"x-nrd-request": "1"})
    cross = demo.post("/auth/sign-out", headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403 and SESSION_COOKIE in demo.cookies
    same = demo.post(
        "/auth/sign-out", headers={"sec-fetch-site": "same-origin", "origin": "https://testserver"}
    )
    assert same.status_code == 200 and SESSION_COOKIE not in demo.cookies
