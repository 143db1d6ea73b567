"""``nrd serve --demo``: a clearly marked development sign-in, a demo user per role, with no
provider; refused in production, and absent from a server that is not a demo. The demo users
are real memberships (``api/signin/demo.py``): what happens to a membership happens to them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.cli import _load_demo
from api.demo import load_demo
from api.signin.demo import DEVELOPMENT_ISSUER, demo_subject, load_demo_members
from api.signin.members import Member
from api.signin.sessions import SESSION_COOKIE
from api.signin.web import SignIn
from api.wiring import System
from domain.base import Actor, acting_as
from policies import ROLES

SUPERVISOR = Actor("fictional-supervisor-1", "supervisor", request_id="fictional")

WHO = "{ __schema { queryType { name } } }"
HEADER = {"x-nrd-request": "1"}


def browser(system: System, demo: list[Member], **changes: Any) -> TestClient:
    if changes:
        system.settings = system.settings.with_changes(**changes)
    sign_in = SignIn.build(system, demo_members=demo)
    return TestClient(
        create_app(system, run_projections=False, sign_in=sign_in),
        base_url="https://testserver",
        follow_redirects=False,
    )


def small_demo(system: System) -> list[Member]:
    ids = load_demo(system.app, count=3)
    system.projector.catch_up()
    return load_demo_members(system, ids)


@pytest.fixture
def members(system: System) -> list[Member]:
    return small_demo(system)


@pytest.fixture
def demo(system: System, members: list[Member]) -> Iterator[TestClient]:
    with browser(system, members) as client:
        yield client


def member(members: list[Member], role: str) -> Member:
    return next(m for m in members if m.role == role)


def sign_in_as(client: TestClient, who: Member, **headers: str) -> Any:
    return client.post(
        "/auth/development", data={"member": who.member_id}, headers=headers or HEADER
    )


def test_the_demo_members_are_memberships_one_per_role(
    system: System, members: list[Member]
) -> None:
    assert sorted(m.role for m in members) == sorted(r for r in ROLES if r != "public")
    for each in members:
        assert system.members.current(each.member_id) == each
        UUID(each.member_id)  # nrd's own id, not the demo's name
    partner = member(members, "partner")
    assert partner.organization_id is not None
    # Loading the demo again writes nothing and finds the same members.
    assert small_demo(system) == members
    found = system.members.on_sign_in(DEVELOPMENT_ISSUER, demo_subject("partner"), None, False)
    assert found == partner


def test_the_development_page_is_marked_and_offers_a_user_per_role(
    demo: TestClient, members: list[Member]
) -> None:
    page = demo.get("/auth/development")
    assert page.status_code == 200
    assert "DEVELOPMENT SIGN-IN" in page.text and "CONNEXION DE DÉVELOPPEMENT" in page.text
    for each in members:
        assert each.member_id in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_a_demo_user_signs_in_without_a_provider_and_their_session_serves_graphql(
    demo: TestClient, members: list[Member]
) -> None:
    answer = sign_in_as(demo, member(members, "staff"), origin="https://testserver")
    assert answer.status_code == 200 and SESSION_COOKIE in demo.cookies
    assert "samesite=strict" in answer.headers["set-cookie"].lower()
    assert 'action="/auth/sign-out"' in answer.text

    served = demo.post("/graphql", json={"query": WHO}, headers=HEADER)
    assert served.status_code == 200 and served.json()["data"] is not None
    refused = demo.post("/graphql", json={"query": WHO})
    assert refused.status_code == 403


def test_a_demo_partner_reads_the_directory_as_its_organization(
    demo: TestClient, members: list[Member]
) -> None:
    sign_in_as(demo, member(members, "partner"))
    answer = demo.post(
        "/graphql", json={"query": "{ directory(first: 1) { totalCount } }"}, headers=HEADER
    )
    assert answer.status_code == 200 and answer.json()["data"]["directory"]["totalCount"] > 0
    assert demo.post("/graphql", json={"query": WHO}, headers=HEADER).json().get("data") is None


def test_suspending_a_demo_member_ends_their_development_session(
    system: System, demo: TestClient, members: list[Member]
) -> None:
    staff = member(members, "staff")
    sign_in_as(demo, staff)
    assert demo.post("/graphql", json={"query": WHO}, headers=HEADER).status_code == 200

    with acting_as(SUPERVISOR):
        outcome = system.app.suspend_member(
            "fictional-suspend-demo-staff", UUID(staff.member_id), "Fictional: a test suspension"
        )
    system.read_your_writes(outcome.position, outcome.topics)

    assert demo.post("/graphql", json={"query": WHO}, headers=HEADER).status_code == 401
    assert sign_in_as(demo, staff).status_code == 403  # and no new one


def test_a_development_sign_in_from_another_site_or_as_no_one_is_refused(
    demo: TestClient, members: list[Member]
) -> None:
    cross = sign_in_as(
        demo,
        member(members, "staff"),
        origin="https://elsewhere.example",
        **{"sec-fetch-site": "cross-site"},
    )
    assert cross.status_code == 403 and SESSION_COOKIE not in demo.cookies
    nobody = demo.post("/auth/development", data={"member": "someone-else"}, headers=HEADER)
    assert nobody.status_code == 403 and SESSION_COOKIE not in demo.cookies


def test_the_signed_in_pages_sign_out_form_works_from_the_same_origin_only(
    demo: TestClient, members: list[Member]
) -> None:
    sign_in_as(demo, member(members, "staff"))
    cross = demo.post("/auth/sign-out", headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403 and SESSION_COOKIE in demo.cookies
    same = demo.post(
        "/auth/sign-out", headers={"sec-fetch-site": "same-origin", "origin": "https://testserver"}
    )
    assert same.status_code == 200 and SESSION_COOKIE not in demo.cookies


def test_production_refuses_the_development_sign_in_and_its_sessions(
    system: System, members: list[Member]
) -> None:
    staff = member(members, "staff")
    with browser(system, members) as before:
        sign_in_as(before, staff)
        cookie = before.cookies[SESSION_COOKIE]
    with browser(system, members, environment="production") as production:
        assert production.get("/auth/development").status_code == 404
        answer = sign_in_as(production, staff)
        assert answer.status_code == 404 and "Development sign-in is off" in answer.text
        assert SESSION_COOKIE not in production.cookies
        # A development session made earlier is worth nothing in production.
        production.cookies.set(SESSION_COOKIE, cookie, domain="testserver.local", path="/")
        refused = production.post("/graphql", json={"query": WHO}, headers=HEADER)
        assert refused.status_code == 401


@pytest.mark.parametrize("environment", ["production", "development"])
def test_a_development_session_is_worth_nothing_on_a_server_started_without_the_demo(
    system: System, members: list[Member], environment: str
) -> None:
    # As `nrd serve` builds it: no demo members offered, though the demo memberships are in
    # the store as ordinary active records.
    supervisor = member(members, "supervisor")
    with browser(system, members) as before:
        sign_in_as(before, supervisor)
        cookie = before.cookies[SESSION_COOKIE]
    with browser(system, [], environment=environment) as plain:
        plain.cookies.set(SESSION_COOKIE, cookie, domain="testserver.local", path="/")
        refused = plain.post("/graphql", json={"query": WHO}, headers=HEADER)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "SESSION_INVALID"


def test_a_server_that_is_not_a_demo_has_no_development_sign_in(system: System) -> None:
    with browser(system, []) as plain:
        assert plain.get("/auth/development").status_code == 404
        assert plain.get("/auth/sign-in").status_code == 404  # and no provider configured


def test_nrd_serve_demo_loads_a_member_per_role(system: System) -> None:
    members = _load_demo(system)
    assert sorted(m.role for m in members) == sorted(r for r in ROLES if r != "public")


def test_nrd_serve_demo_in_production_offers_no_development_members(system: System) -> None:
    system.settings = system.settings.with_changes(environment="production")
    assert _load_demo(system) == []
