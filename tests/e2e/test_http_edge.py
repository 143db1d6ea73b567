"""The HTTP edge: only a JSON POST reaches GraphQL, and every refusal happens before anything runs.

A cross-site form, a GET link or a ``text/plain`` beacon must not execute a query (reads write
access-log entries, so they would plant entries in someone's name); a broken body is a clear 400;
a bad token is a clear 401 and never falls back to the anonymous role.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import anyio
import jwt
import pytest
from starlette.testclient import TestClient

from api.app import MAX_BODY, create_app
from api.auth import Authenticator, TokenError
from api.wiring import System, build_system
from tests.e2e.conftest import ALL_CRITERIA, fictional_profile

APPLY = """
mutation Apply($key: String!, $input: ApplicationInput!) {
  applyForInclusion(idempotencyKey: $key, input: $input) { organizationId }
}
"""
COUNT = "query { directory { totalCount } }"


def application(key: str = "6d0f3c1e-0000-4000-8000-0000000e0001") -> dict[str, Any]:
    return {
        "query": APPLY,
        "variables": {
            "key": key,
            "input": {
                "profile": fictional_profile("Example Edge Shelter"),
                "criteria": ALL_CRITERIA,
                "publicListing": True,
                "listingAgreement": "Fictional: the shelter's signed listing form.",
            },
        },
    }


def events_written(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


def token_for(system: System, claims: dict[str, Any], secret: str | None = None) -> str:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "fictional-user-1",
        "role": "staff",
        "iss": "nrd",
        "iat": now,
        "exp": now + 600,
    }
    key = secret or system.settings.jwt_secret
    assert key is not None
    return jwt.encode({**base, **claims}, key, algorithm="HS256")


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert "data" not in body, "a refused request must not carry a data key"
    [error] = body["errors"]
    assert error["extensions"]["code"] == code
    assert error["message"]
    return dict(error)


# -- the one way in ----------------------------------------------------------------------------


def test_a_json_post_runs_the_mutation(system: System, client: TestClient) -> None:
    """The control for every refusal below: the same document, sent properly, writes."""
    before = events_written(system)
    response = client.post("/graphql", json=application())
    assert response.status_code == 200, response.text
    assert response.json()["data"]["applyForInclusion"]["organizationId"]
    assert events_written(system) > before


def test_a_get_is_refused_and_never_executes(system: System, client: TestClient) -> None:
    before = events_written(system)
    payload = application()
    query_string = urlencode(
        {"query": payload["query"], "variables": json.dumps(payload["variables"])}
    )
    for url in ("/graphql", f"/graphql?{query_string}"):
        for accept in ("application/json", "text/html"):
            response = client.get(url, headers={"accept": accept})
            assert_error(response, 405, "METHOD_NOT_ALLOWED")
            assert response.headers["allow"] == "POST"
    assert events_written(system) == before


def test_a_get_never_executes_even_with_graphiql_on(system: System) -> None:
    with_graphiql = build_system(system.settings.with_changes(graphiql=True))
    try:
        with TestClient(create_app(with_graphiql, run_projections=False)) as client:
            before = events_written(with_graphiql)
            payload = application()
            query_string = urlencode(
                {"query": payload["query"], "variables": json.dumps(payload["variables"])}
            )
            page = client.get(f"/graphql?{query_string}", headers={"accept": "text/html"})
            assert "Example Edge Shelter" not in page.text  # a static page, never a result
            as_json = client.get(f"/graphql?{query_string}")
            assert_error(as_json, 405, "METHOD_NOT_ALLOWED")
            assert events_written(with_graphiql) == before
    finally:
        with_graphiql.close()


NOT_JSON = [
    "text/plain",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=fictional",
    "application/graphql",
    "application/jsonp",
    "application/json-seq",
    None,
]


def test_a_body_that_is_not_json_is_refused_and_writes_nothing(
    system: System, client: TestClient
) -> None:
    """What a cross-site form or beacon can send without a preflight never runs."""
    before = events_written(system)
    body = json.dumps(application()).encode()
    for content_type in NOT_JSON:
        headers = {} if content_type is None else {"content-type": content_type}
        response = client.post("/graphql", content=body, headers=headers)
        error = assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert "application/json" in error["message"], content_type
    assert events_written(system) == before


def test_a_form_encoded_query_is_refused_and_writes_nothing(
    system: System, client: TestClient
) -> None:
    before = events_written(system)
    payload = application()
    response = client.post(
        "/graphql", data={"query": payload["query"], "variables": json.dumps(payload["variables"])}
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert events_written(system) == before


def test_json_with_a_charset_is_accepted(client: TestClient) -> None:
    response = client.post(
        "/graphql",
        content=json.dumps({"query": COUNT}).encode(),
        headers={"content-type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"directory": {"totalCount": 0}}}


# -- broken bodies -------------------------------------------------------------------------------

MALFORMED = [
    (b'{"query": "{ directory { totalCount } }"', "not valid JSON"),
    (b"", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[]", "JSON object"),
    (b'[{"query": "{ directory { totalCount } }"}]', "JSON object"),
    (b'"{ directory { totalCount } }"', "JSON object"),
    (b"42", "JSON object"),
    (b"null", "JSON object"),
    (b"{}", "'query'"),
    (b'{"query": null}', "'query'"),
    (b'{"query": 7}', "'query'"),
    (b'{"query": "   "}', "'query'"),
    (b'{"query": "{ directory { totalCount } }", "variables": [1]}', "'variables'"),
    (b'{"query": "{ directory { totalCount } }", "variables": "{}"}', "'variables'"),
    (b'{"query": "{ directory { totalCount } }", "variables": 3}', "'variables'"),
    (b'{"query": "{ directory { totalCount } }", "operationName": 5}', "'operationName'"),
]


def test_a_malformed_body_is_a_clear_400(client: TestClient) -> None:
    for body, said in MALFORMED:
        response = client.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        error = assert_error(response, 400, "BAD_REQUEST")
        assert said in error["message"], body


def test_a_mutation_with_variables_that_are_not_an_object_writes_nothing(
    system: System, client: TestClient
) -> None:
    before = events_written(system)
    payload = application()
    body = json.dumps({"query": payload["query"], "variables": [payload["variables"]]})
    response = client.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "BAD_REQUEST")
    assert events_written(system) == before


def test_an_oversized_body_is_a_413_and_writes_nothing(system: System, client: TestClient) -> None:
    before = events_written(system)
    payload = application()
    payload["query"] = payload["query"] + "#" + "x" * MAX_BODY
    response = client.post("/graphql", json=payload)
    error = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert str(MAX_BODY) in error["message"]
    assert events_written(system) == before


def test_a_body_just_under_the_limit_is_read(client: TestClient) -> None:
    body = json.dumps({"query": COUNT + " #"})
    body = body[:-2] + "x" * (MAX_BODY - len(body) - 1) + body[-2:]
    assert len(body.encode()) < MAX_BODY
    response = client.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text[:200]


def _post_streamed(
    system: System, chunks: int, chunk_size: int, declared_length: int | None
) -> tuple[int, int]:
    """Drives the ASGI app with a hand-written client; returns (status, chunks it pulled)."""
    app = create_app(system, run_projections=False)
    pulled = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b" " * chunk_size, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    headers = [(b"content-type", b"application/json")]
    if declared_length is not None:
        headers.append((b"content-length", str(declared_length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    anyio.run(app, scope, receive, send)  # type: ignore[arg-type]
    return messages[0]["status"], pulled


def test_a_declared_oversized_body_is_refused_before_it_is_read(system: System) -> None:
    chunk, chunks = 64 * 1024, 256  # 16 MiB announced and offered
    status, pulled = _post_streamed(system, chunks, chunk, declared_length=chunk * chunks)
    assert status == 413
    assert pulled == 0


def test_a_chunked_oversized_body_stops_being_read_at_the_limit(system: System) -> None:
    """Gigabytes offered without a length must not be held in memory before the 413."""
    chunk, chunks = 16 * 1024, 1024  # 16 MiB offered, no length declared
    status, pulled = _post_streamed(system, chunks, chunk, declared_length=None)
    assert status == 413
    assert pulled <= MAX_BODY // chunk + 2


# -- tokens --------------------------------------------------------------------------------------


def _bad_authorizations(system: System) -> dict[str, str]:
    other_key = Authenticator("another-fictional-signing-key-" + "y" * 16)
    now = int(time.time())
    unsigned = jwt.encode(
        {"sub": "fictional-user-1", "role": "supervisor", "iss": "nrd", "exp": now + 600},
        key="",
        algorithm="none",
    )
    return {
        "not a jwt": "Bearer not-a-token",
        "truncated": "Bearer " + system.auth.issue("staff", "fictional-staff-1")[:-6],
        "expired": "Bearer " + token_for(system, {"iat": now - 7200, "exp": now - 3600}),
        "living past the longest lifetime": "Bearer "
        + token_for(system, {"exp": now + 300 * 365 * 24 * 3600}),
        "control characters in the user id": "Bearer "
        + token_for(system, {"sub": "fictional-staff-1\nforged log line"}),
        "wrong key": "Bearer " + other_key.issue("supervisor", "fictional-supervisor-1"),
        "alg none": f"Bearer {unsigned}",
        "wrong issuer": "Bearer " + token_for(system, {"iss": "someone-else"}),
        "no expiry": "Bearer " + token_for(system, {"exp": None}),
        "unknown role": "Bearer " + token_for(system, {"role": "administrator"}),
        "public role": "Bearer " + token_for(system, {"role": "public"}),
        "partner without org": "Bearer " + token_for(system, {"role": "partner"}),
        "liaison with a bad org": "Bearer "
        + token_for(system, {"role": "law_enforcement", "org": "fictional-agency"}),
        "empty bearer": "Bearer ",
        "basic scheme": "Basic ZmljdGlvbmFsOnVzZXI=",
        "bare token": system.auth.issue("staff", "fictional-staff-1"),
    }


def test_every_bad_token_is_a_401_that_says_why_and_is_not_treated_as_public(
    system: System, client: TestClient
) -> None:
    anonymous = client.post("/graphql", json={"query": COUNT})
    assert anonymous.json() == {"data": {"directory": {"totalCount": 0}}}  # it would work
    for case, authorization in _bad_authorizations(system).items():
        response = client.post(
            "/graphql", json={"query": COUNT}, headers={"authorization": authorization}
        )
        error = assert_error(response, 401, "UNAUTHENTICATED")
        assert response.headers["www-authenticate"] == "Bearer", case
        token = authorization.partition(" ")[2]
        if len(token) > 8:
            assert token not in response.text, f"{case}: the token is echoed"
        assert "token" in error["message"] or "Authorization" in error["message"], case


def test_an_expired_token_says_it_has_expired(system: System, client: TestClient) -> None:
    now = int(time.time())
    expired = token_for(system, {"iat": now - 7200, "exp": now - 3600})
    response = client.post(
        "/graphql", json={"query": COUNT}, headers={"authorization": f"Bearer {expired}"}
    )
    assert "expired" in assert_error(response, 401, "UNAUTHENTICATED")["message"]


def test_a_mutation_with_a_bad_token_writes_nothing(system: System, client: TestClient) -> None:
    before = events_written(system)
    forged = Authenticator("another-fictional-signing-key-" + "y" * 16).issue(
        "supervisor", "fictional-supervisor-1"
    )
    response = client.post(
        "/graphql", json=application(), headers={"authorization": f"Bearer {forged}"}
    )
    assert_error(response, 401, "UNAUTHENTICATED")
    assert events_written(system) == before


@pytest.mark.parametrize("role", ["partner", "law_enforcement"])
@pytest.mark.parametrize("organization", [None, "", "fictional-organization", "1234"])
def test_an_organization_role_cannot_be_issued_without_an_organization(
    role: str, organization: str | None
) -> None:
    authenticator = Authenticator("fictional-signing-key-" + "z" * 24)
    with pytest.raises(TokenError, match="organization"):
        authenticator.issue(role, "fictional-user-1", organization)


def test_the_anonymous_role_and_unknown_roles_cannot_be_issued() -> None:
    authenticator = Authenticator("fictional-signing-key-" + "z" * 24)
    for role in ("public", "administrator", ""):
        with pytest.raises(TokenError, match="role"):
            authenticator.issue(role, "fictional-user-1")
    with pytest.raises(TokenError, match="user id"):
        authenticator.issue("staff", "")


def test_a_short_signing_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        Authenticator("too-short-fictional-key")


def test_an_issued_token_round_trips_to_its_principal() -> None:
    authenticator = Authenticator("fictional-signing-key-" + "z" * 24)
    org = "6f1c1a52-0000-4000-8000-00000000f1c7"
    principal = authenticator.principal(
        "Bearer " + authenticator.issue("partner", "fictional-partner-1", org)
    )
    assert (principal.role, principal.user_id, principal.organization_id) == (
        "partner",
        "fictional-partner-1",
        org,
    )
    staff = authenticator.principal(
        "Bearer " + authenticator.issue("staff", "fictional-staff-1", org)
    )
    assert staff.organization_id is None  # only organization roles carry one


# -- health --------------------------------------------------------------------------------------


def test_health_is_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
