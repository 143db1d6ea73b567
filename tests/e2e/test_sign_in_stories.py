"""Signing in through a real OpenID Connect provider, on each store: the flow, the session it
leaves, and every way either can fail (issue 17, items 1, 3, 7 and 8).

The provider is ``oidc-provider-mock`` on 127.0.0.1 (``signin_provider.py``); memberships come
from a hand-written ``Members`` (``FictionalMembers``), so that each story sets the standing it
needs in a line. The same sign-in over the membership events themselves (invitations,
suspension, revocation, an organization's removal) is told in
``test_sign_in_with_memberships.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.app import create_app
from api.config import Settings
from api.faults import StoreBusy
from api.signin import sessions as sessions_module
from api.signin.members import Member
from api.signin.oidc import RelyingParty
from api.signin.sessions import ATTEMPT_COOKIE, SESSION_COOKIE, digest
from api.signin.web import SignIn
from api.wiring import System, build_system
from tests.e2e.signin_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    PROVIDER_WARNINGS,
    REDIRECT_URL,
    SECOND_FACTOR,
    Browser,
    FictionalMembers,
    Redirect,
    put_user,
    running_provider,
)

pytestmark = PROVIDER_WARNINGS

# Introspection answers the hotline's roles only: what a session's principal is shows in it.
WHO = "{ __schema { queryType { name } } }"
PARTNER_ORG = str(uuid4())


def staff_may_introspect(response: Any) -> bool:
    assert response.status_code == 200, response.text
    return response.json().get("data") is not None


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with running_provider() as url:
        yield url


@pytest.fixture(autouse=True)
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    # The provider runs on plain http on loopback; Authlib's server refuses that otherwise.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def members(issuer: str) -> FictionalMembers:
    members = FictionalMembers(issuer)
    suffix = uuid4().hex[:8]
    for role, org, claims in (
        ("staff", None, {"amr": SECOND_FACTOR}),
        ("supervisor", None, {"amr": SECOND_FACTOR}),
        ("partner", PARTNER_ORG, {}),
    ):
        subject = f"fictional-{role}-{suffix}"
        put_user(
            issuer,
            subject,
            email=f"{subject}@example.org",
            email_verified=True,
            **claims,
        )
        members.add(subject, Member(f"member-{role}-{suffix}", role, org))
    # A hotline staff member whose provider proves no second factor.
    subject = f"fictional-staff-no-factor-{suffix}"
    put_user(issuer, subject, email=f"{subject}@example.org", email_verified=True, amr=["pwd"])
    members.add(subject, Member(f"member-staff-no-factor-{suffix}", "staff"))
    # A person the provider knows and nrd does not.
    put_user(issuer, f"fictional-stranger-{suffix}", email_verified=True)
    return members


def subject(members: FictionalMembers, role: str) -> str:
    return next(s for s, m in members.by_subject.items() if m.role == role and "no-factor" not in s)


def build_sign_in(
    system: System, issuer: str, members: FictionalMembers, clock_skew: float = 0.0
) -> SignIn:
    party = RelyingParty(
        issuer, CLIENT_ID, CLIENT_SECRET, REDIRECT_URL, clock=lambda: time.time() + clock_skew
    )
    return SignIn.build(system, members=members, relying_party=party)


@pytest.fixture
def sign_in(system: System, issuer: str, members: FictionalMembers) -> SignIn:
    return build_sign_in(system, issuer, members)


@pytest.fixture
def browsers(system: System, sign_in: SignIn) -> Iterator[Any]:
    app = create_app(system, run_projections=False, sign_in=sign_in)
    opened: list[Browser] = []

    def browser() -> Browser:
        opened.append(Browser(app))
        return opened[-1]

    yield browser
    for each in opened:
        each.close()


def session_rows(system: System) -> list[tuple[Any, ...]]:
    with system.access.store.read() as cursor:
        cursor.execute("SELECT digest, member_id, ended_at, provider_tokens FROM signin_sessions")
        return [tuple(row) for row in cursor.fetchall()]


# The flow, and the session it leaves.


def test_a_staff_member_signs_in_and_their_session_carries_their_role(
    browsers: Any, members: FictionalMembers, system: System
) -> None:
    browser = browsers()
    answer = browser.sign_in(subject(members, "staff"))

    assert answer.status_code == 200
    assert "You are signed in" in answer.text and "Vous êtes connecté" in answer.text
    cookie = answer.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower()
    assert "domain=" not in cookie.lower()
    assert ATTEMPT_COOKIE not in browser.client.cookies
    assert staff_may_introspect(browser.gql(WHO))
    # The table holds the id's digest, never the id; the provider's tokens sealed.
    [(stored, member_id, ended, sealed)] = session_rows(system)
    assert browser.session is not None
    assert stored == digest(browser.session) and browser.session not in str(session_rows(system))
    assert member_id.startswith("member-staff-") and ended is None
    assert sealed and "access_token" not in sealed


def test_the_provider_configured_in_the_settings_is_the_one_signed_in_with(
    system: System, issuer: str, members: FictionalMembers
) -> None:
    system.settings = system.settings.with_changes(
        oidc_issuer=issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_redirect_url=REDIRECT_URL,
    )
    browser = Browser(create_app(system, sign_in=SignIn.build(system, members=members)))
    try:
        assert browser.start().startswith(f"{issuer}/")
        assert browser.sign_in(subject(members, "staff")).status_code == 200
        assert staff_may_introspect(browser.gql(WHO))
    finally:
        browser.close()


def test_a_partner_session_is_a_partner_of_its_organization(
    browsers: Any, members: FictionalMembers, sign_in: SignIn
) -> None:
    browser = browsers()
    assert browser.sign_in(subject(members, "partner")).status_code == 200

    assert not staff_may_introspect(browser.gql(WHO))
    assert browser.session is not None
    principal = sign_in._principal(browser.session)
    assert (principal.role, principal.organization_id) == ("partner", PARTNER_ORG)
    assert principal.user_id.startswith("member-partner-")


def test_signing_out_ends_the_session_at_the_next_request(
    browsers: Any, members: FictionalMembers
) -> None:
    browser = browsers()
    browser.sign_in(subject(members, "staff"))
    cookie = browser.session
    assert staff_may_introspect(browser.gql(WHO))

    answer = browser.post("/auth/sign-out")
    assert answer.status_code == 200 and "You are signed out" in answer.text
    assert browser.session is None
    assert cookie is not None
    browser.use_cookie(cookie)
    refused = browser.gql(WHO)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "SESSION_INVALID"


def test_signing_in_again_ends_the_session_the_browser_held(
    browsers: Any, members: FictionalMembers, system: System
) -> None:
    browser = browsers()
    browser.sign_in(subject(members, "staff"))
    first = browser.session
    browser.sign_in(subject(members, "staff"))

    assert browser.session not in (None, first)
    ended = {row[0]: row[2] is not None for row in session_rows(system)}
    assert first is not None and ended == {digest(first): True, digest(browser.session): False}


def test_signing_out_everywhere_ends_every_session_of_the_person(
    browsers: Any, members: FictionalMembers
) -> None:
    laptop, phone, colleague = browsers(), browsers(), browsers()
    laptop.sign_in(subject(members, "staff"))
    phone.sign_in(subject(members, "staff"))
    colleague.sign_in(subject(members, "supervisor"))

    assert laptop.post("/auth/sign-out-everywhere").status_code == 200

    assert phone.gql(WHO).status_code == 401
    assert laptop.gql(WHO).status_code in (200, 401)  # its cookie is cleared: anonymous
    assert staff_may_introspect(colleague.gql(WHO))


def test_a_suspension_mid_session_takes_effect_at_the_next_request(
    browsers: Any, members: FictionalMembers, system: System
) -> None:
    browser = browsers()
    browser.sign_in(subject(members, "staff"))
    assert staff_may_introspect(browser.gql(WHO))

    member = members.by_subject[subject(members, "staff")]
    members.suspended.add(member.member_id)

    refused = browser.gql(WHO)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "SESSION_INVALID"
    # The session ended with the membership: lifting the suspension does not revive it.
    members.suspended.discard(member.member_id)
    assert browser.gql(WHO).status_code == 401
    assert [row[2] is not None for row in session_rows(system)] == [True]


def test_suspending_an_organization_ends_its_partners_sessions(
    browsers: Any, members: FictionalMembers
) -> None:
    browser = browsers()
    browser.sign_in(subject(members, "partner"))
    assert browser.gql(WHO).status_code == 200

    members.suspended.add(PARTNER_ORG)

    assert browser.gql(WHO).status_code == 401


def test_a_role_change_mid_session_takes_effect_at_the_next_request(
    browsers: Any, members: FictionalMembers
) -> None:
    browser = browsers()
    browser.sign_in(subject(members, "supervisor"))
    assert staff_may_introspect(browser.gql(WHO))

    member = members.by_subject[subject(members, "supervisor")]
    members.change(Member(member.member_id, "partner", PARTNER_ORG))

    assert not staff_may_introspect(browser.gql(WHO))


def test_a_membership_nrd_cannot_act_on_is_refused(
    browsers: Any, members: FictionalMembers
) -> None:
    browser = browsers()
    browser.sign_in(subject(members, "partner"))
    member = members.by_subject[subject(members, "partner")]
    for malformed in (
        Member(member.member_id, "partner"),  # a partner of no organization
        Member(member.member_id, "public"),
        Member(member.member_id, "administrator"),
    ):
        members.change(malformed)
        assert browser.gql(WHO).status_code == 401, malformed


def test_sign_ins_under_way_are_bounded(browsers: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions_module, "MAX_ATTEMPTS", 1)
    browser = browsers()
    browser.start()
    busy = browser.client.get("/auth/sign-in")
    assert busy.status_code == 503 and "SIGN_IN_BUSY" in busy.text
    assert busy.headers["retry-after"] == "60"


def test_a_store_that_cannot_say_refuses_the_request_as_retryable(
    browsers: Any, members: FictionalMembers, sign_in: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = browsers()
    browser.sign_in(subject(members, "staff"))

    def busy(opaque: str) -> None:
        raise StoreBusy

    monkeypatch.setattr(sign_in.sessions, "find", busy)
    answer = browser.gql(WHO)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    assert answer.json()["errors"][0]["extensions"]["code"] == "STORE_BUSY"


# The second factor.


def test_a_hotline_role_without_a_second_factor_is_refused_with_a_clear_page(
    browsers: Any, members: FictionalMembers, system: System
) -> None:
    browser = browsers()
    no_factor = next(s for s in members.by_subject if "no-factor" in s)
    answer = browser.sign_in(no_factor)

    assert answer.status_code == 403
    assert "A second factor is required" in answer.text
    assert "Un second facteur est requis" in answer.text
    assert browser.session is None and session_rows(system) == []


def test_a_partner_promoted_to_a_hotline_role_needs_the_second_factor_at_the_next_request(
    browsers: Any, members: FictionalMembers
) -> None:
    browser = browsers()
    browser.sign_in(subject(members, "partner"))
    member = members.by_subject[subject(members, "partner")]
    members.change(Member(member.member_id, "staff"))

    refused = browser.gql(WHO)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "SECOND_FACTOR_REQUIRED"


def test_a_person_without_a_membership_gets_no_session(
    browsers: Any, members: FictionalMembers, system: System
) -> None:
    browser = browsers()
    stranger = f"fictional-stranger-{subject(members, 'staff').rsplit('-', 1)[1]}"
    answer = browser.sign_in(stranger)

    assert answer.status_code == 403 and "You have no access to nrd" in answer.text
    assert browser.session is None and session_rows(system) == []


# A flow that goes wrong ends on a clear page, with no session.


def test_a_callback_with_another_state_is_refused(browsers: Any, members: FictionalMembers) -> None:
    browser = browsers()
    redirect = browser.at_provider(browser.start(), subject(members, "staff"))

    answer = browser.come_back(Redirect(redirect.code, redirect.state + "x"))

    assert answer.status_code == 400 and "SIGN_IN_STATE_MISMATCH" in answer.text
    assert browser.session is None
    # The attempt was used up: the right state now finds nothing either.
    assert "SIGN_IN_EXPIRED" in browser.come_back(redirect).text


def test_a_callback_without_the_sign_in_cookie_is_refused(
    browsers: Any, members: FictionalMembers
) -> None:
    started, elsewhere = browsers(), browsers()
    redirect = started.at_provider(started.start(), subject(members, "staff"))

    answer = elsewhere.come_back(redirect)

    assert answer.status_code == 400 and "SIGN_IN_EXPIRED" in answer.text
    assert elsewhere.session is None


def test_a_code_issued_for_another_sign_in_fails_the_nonce_check(
    browsers: Any, members: FictionalMembers
) -> None:
    # A code obtained in one sign-in (its nonce), injected into another (another nonce).
    browser = browsers()
    injected = browser.at_provider(browser.start(), subject(members, "staff"))
    own = browser.at_provider(browser.start(), subject(members, "staff"))

    answer = browser.come_back(Redirect(injected.code, own.state))

    assert answer.status_code == 400 and "ID_TOKEN_INVALID" in answer.text
    assert browser.session is None


def test_a_replayed_code_is_refused(browsers: Any, members: FictionalMembers) -> None:
    browser = browsers()
    redirect = browser.at_provider(browser.start(), subject(members, "staff"))
    assert browser.come_back(redirect).status_code == 200
    first_session = browser.session

    # Replayed within a new sign-in of the same browser (its state), so only the code is old.
    again = browser.at_provider(browser.start(), subject(members, "staff"))
    answer = browser.come_back(Redirect(redirect.code, again.state))

    assert answer.status_code == 400 and "PROVIDER_REFUSED" in answer.text
    assert browser.session == first_session


def test_an_expired_id_token_is_refused(
    system: System, issuer: str, members: FictionalMembers
) -> None:
    # nrd's clock two hours ahead of the provider's: the ID token (one hour) has expired.
    app = create_app(system, sign_in=build_sign_in(system, issuer, members, clock_skew=7200))
    browser = Browser(app)
    try:
        answer = browser.sign_in(subject(members, "staff"))
        assert answer.status_code == 400 and "ID_TOKEN_INVALID" in answer.text
        assert browser.session is None
    finally:
        browser.close()


def test_a_provider_error_in_the_callback_ends_on_a_clear_page(
    browsers: Any, members: FictionalMembers
) -> None:
    browser = browsers()
    started = Redirect.parse(browser.start().replace("state=", "code=none&state=", 1))
    answer = browser.client.get(
        "/auth/callback", params={"error": "access_denied", "state": started.state}
    )
    assert answer.status_code == 400 and "PROVIDER_REFUSED" in answer.text
    assert "<html" in answer.text and "Traceback" not in answer.text


def test_an_unreachable_provider_ends_on_a_clear_page(
    system: System, members: FictionalMembers
) -> None:
    browser = Browser(
        create_app(system, sign_in=build_sign_in(system, "http://127.0.0.1:9", members))
    )
    try:
        answer = browser.client.get("/auth/sign-in")
        assert answer.status_code == 502 and "PROVIDER_UNAVAILABLE" in answer.text
        assert ATTEMPT_COOKIE not in browser.client.cookies
    finally:
        browser.close()


def test_a_failure_while_completing_a_sign_in_leaves_no_session(
    browsers: Any, members: FictionalMembers, system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("fictional failure carrying a value: fictional-secret-value")

    monkeypatch.setattr(members, "on_sign_in", broken)
    browser = browsers()
    answer = browser.sign_in(subject(members, "staff"))

    assert answer.status_code == 503 and "SIGN_IN_UNAVAILABLE" in answer.text
    assert "fictional-secret-value" not in answer.text and "Traceback" not in answer.text
    assert browser.session is None and session_rows(system) == []


# The session cookie, handled by someone other than its browser.


def test_a_tampered_or_forged_session_cookie_is_refused(
    browsers: Any, members: FictionalMembers
) -> None:
    browser = browsers()
    browser.sign_in(subject(members, "staff"))
    real = browser.session
    assert real is not None
    for forged in (real[:-1] + ("A" if real[-1] != "A" else "B"), "forged", "x" * 500, ""):
        browser.use_cookie(forged)
        answer = browser.gql(WHO)
        assert answer.status_code == 401, forged
        assert answer.json()["errors"][0]["extensions"]["code"] == "SESSION_INVALID"


def test_a_session_cookie_sent_cross_site_without_the_header_is_refused(
    browsers: Any, members: FictionalMembers, system: System
) -> None:
    browser = browsers()
    browser.sign_in(subject(members, "staff"))

    refused = browser.gql(WHO, header=False)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "SESSION_HEADER_REQUIRED"
    # A cross-site form can send neither the header nor JSON.
    form = browser.client.post(
        "/graphql", content=f'{{"query": "{WHO}"}}', headers={"content-type": "text/plain"}
    )
    assert form.status_code == 415
    # Nor sign the person out, or out everywhere.
    assert browser.post("/auth/sign-out", header=False).status_code == 403
    cross = browser.client.post(
        "/auth/sign-out-everywhere", headers={"origin": "https://elsewhere.example"}
    )
    assert cross.status_code == 403
    assert staff_may_introspect(browser.gql(WHO))


def test_a_bearer_token_still_works_beside_sessions(browsers: Any, system: System) -> None:
    browser = browsers()
    token = system.auth.issue("staff", "fictional-staff-bearer")
    answer = browser.gql(WHO, header=False, authorization=f"Bearer {token}")
    assert staff_may_introspect(answer)


# Nothing of the flow's secrets in a log or a span.


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


def test_no_code_state_token_or_cookie_reaches_a_log_or_a_span(
    traced: tuple[System, InMemorySpanExporter],
    issuer: str,
    members: FictionalMembers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    system, exporter = traced
    sign_in = build_sign_in(system, issuer, members)
    browser = Browser(create_app(system, run_projections=False, sign_in=sign_in))
    caplog.set_level(logging.DEBUG)
    try:
        authorization_url = browser.start()
        attempt = browser.client.cookies[ATTEMPT_COOKIE]
        redirect = browser.at_provider(authorization_url, subject(members, "staff"))
        assert browser.come_back(redirect).status_code == 200
        session = browser.session
        assert session is not None
        assert staff_may_introspect(browser.gql(WHO))
        # Failures log too: a wrong state, a replayed code, a forged cookie.
        again = browser.at_provider(browser.start(), subject(members, "staff"))
        browser.come_back(Redirect(again.code, "wrong-state"))
        browser.at_provider(browser.start(), subject(members, "staff"))
        browser.come_back(Redirect(redirect.code, again.state))
        row = sign_in.sessions.find(session)
        assert row is not None
        tokens = sign_in.sessions.provider_tokens(row)
        assert tokens is not None
        browser.post("/auth/sign-out")
    finally:
        browser.close()

    nonce = authorization_url.split("nonce=")[1].split("&")[0]
    secrets_seen = [redirect.code, redirect.state, nonce, attempt, session, again.code]
    secrets_seen += [
        str(tokens[k]) for k in ("access_token", "id_token", "refresh_token") if k in tokens
    ]
    # What nrd logged: the server runs in the test client's own thread; this thread is the
    # browser's (its HTTP client logs the URLs it follows), the provider's threads are its own.
    ours = [
        record
        for record in caplog.records
        if record.thread != threading.get_ident()
        and "process_request_thread" not in (record.threadName or "")
        and not record.name.startswith(("werkzeug", "oidc_provider_mock"))
    ]
    assert any(r.name == "nrd.signin" for r in ours), "nrd's own records were filtered out"
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {r.__dict__!r}" for r in ours)
    spans = "\n".join(
        f"{s.name} {dict(s.attributes or {})!r} {[dict(e.attributes or {}) for e in s.events]!r}"
        for s in exporter.get_finished_spans()
    )
    assert exporter.get_finished_spans()
    for value in secrets_seen:
        assert value and value not in logged, "a sign-in secret reached a log line"
        assert value not in spans, "a sign-in secret reached a span"
