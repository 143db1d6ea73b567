"""GraphQL over HTTP: the answer's media type follows the caller's Accept header.

A caller that accepts ``application/graphql-response+json`` gets it, and a request that never
ran (a document that does not parse or validate, variables that do not coerce) is then a 4xx
without a data entry. ``application/json``, the default, keeps 200 for every GraphQL answer.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from api.app import GRAPHQL_RESPONSE, answer_media_type
from api.wiring import System
from tests.e2e.test_hardening import GENERIC, UNTRUSTED, ExplodingDirectory, caller

JSON = "application/json"
COUNT = "{ directory { totalCount } }"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("application/json", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("text/html", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        ("Application/GraphQL-Response+JSON; charset=utf-8", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json;q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json, multipart/mixed", GRAPHQL_RESPONSE),  # GraphiQL
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", JSON),
        (f"{GRAPHQL_RESPONSE};q=0", JSON),
        (f"{GRAPHQL_RESPONSE};q=nan", JSON),
        (f"{GRAPHQL_RESPONSE};q=many", JSON),
        (f"*/*;q=0.8, {GRAPHQL_RESPONSE};q=0.9", GRAPHQL_RESPONSE),
    ],
)
def test_the_answer_takes_the_media_type_the_caller_prefers(
    accept: str | None, expected: str
) -> None:
    assert answer_media_type(accept) == expected


def post(
    as_role: Any, role: str, query: str, accept: str, variables: dict[str, Any] | None = None
) -> Any:
    who = caller(as_role, role)
    headers = {"accept": accept}
    if who.token:
        headers["authorization"] = f"Bearer {who.token}"
    return who.client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


def media_type(response: Any) -> str:
    return str(response.headers["content-type"]).split(";")[0]


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
def test_an_answer_is_sent_as_the_media_type_accepted(as_role: Any, accept: str) -> None:
    response = post(as_role, "public", COUNT, accept)
    assert response.status_code == 200
    assert media_type(response) == accept
    assert response.json() == {"data": {"directory": {"totalCount": 0}}}


REQUEST_ERRORS = {
    "syntax": ("{ directory { totalCount ", None),
    "validation": ("{ directory { totalCont } }", None),
    "limits": ("{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }", None),
    "variable coercion": ("query($n: Int!) { directory(first: $n) { totalCount } }", {"n": "many"}),
    "missing variable": ("query($n: Int!) { directory(first: $n) { totalCount } }", {}),
}


@pytest.mark.parametrize("role", ["public", "staff"])
@pytest.mark.parametrize("case", sorted(REQUEST_ERRORS))
def test_a_request_that_never_ran_is_a_400_without_data(as_role: Any, case: str, role: str) -> None:
    query, variables = REQUEST_ERRORS[case]
    response = post(as_role, role, query, GRAPHQL_RESPONSE, variables)
    assert response.status_code == 400, response.text
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert body["errors"]


@pytest.mark.parametrize("case", sorted(REQUEST_ERRORS))
def test_application_json_keeps_200_and_a_null_data_entry(as_role: Any, case: str) -> None:
    query, variables = REQUEST_ERRORS[case]
    response = post(as_role, "public", query, JSON, variables)
    assert response.status_code == 200, response.text
    assert media_type(response) == JSON
    body = response.json()
    assert body["data"] is None
    assert body["errors"]


@pytest.mark.parametrize("role", UNTRUSTED)
def test_a_refusal_under_the_new_media_type_still_teaches_an_untrusted_caller_nothing(
    as_role: Any, role: str
) -> None:
    """An unknown field and a field the role may not read: the same status, the same body."""
    unknown = post(
        as_role,
        role,
        "query($id: ID!) { organization(id: $id) { nmeEn } }",
        GRAPHQL_RESPONSE,
        {"id": str(uuid4())},
    )
    refused = post(
        as_role,
        role,
        "query($id: ID!) { organization(id: $id) { misconductAllegations { summary } } }",
        GRAPHQL_RESPONSE,
        {"id": str(uuid4())},
    )
    assert unknown.status_code == refused.status_code == 400
    assert unknown.content == refused.content
    assert unknown.json() == {"errors": GENERIC["errors"]}


def test_an_error_while_the_operation_runs_is_a_200_with_data(system: System, as_role: Any) -> None:
    """The operation ran: its data entry is there (here a null field), so the status is 2xx."""
    system.directory = ExplodingDirectory()  # type: ignore[assignment]
    response = post(
        as_role,
        "staff",
        "query($id: ID!) { organization(id: $id) { nameEn } }",
        GRAPHQL_RESPONSE,
        {"id": str(uuid4())},
    )
    assert response.status_code == 200
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert body["data"] == {"organization": None}
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL"


def test_a_null_root_from_an_error_while_running_is_still_a_200(
    system: System, as_role: Any
) -> None:
    system.directory = ExplodingDirectory()  # type: ignore[assignment]
    response = post(as_role, "public", COUNT, GRAPHQL_RESPONSE)
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [{"message": "Unexpected error.", "extensions": {"code": "INTERNAL"}}],
    }


def test_an_unexpected_failure_before_the_operation_runs_is_a_500(
    system: System, as_role: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(query: str, role: str) -> tuple[Any, ...]:
        raise RuntimeError("the validation cache is broken (fictional)")

    monkeypatch.setattr(system.gate, "validated", broken)
    response = post(as_role, "public", COUNT, GRAPHQL_RESPONSE)
    assert response.status_code == 500
    assert response.json() == {
        "errors": [{"message": "Unexpected error.", "extensions": {"code": "INTERNAL"}}]
    }
    assert "fictional" not in response.text


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"content-type": "text/plain"}, b'{"query": "{ __typename }"}', 415),
        ({"content-type": JSON}, b'{"query": ', 400),
        ({"content-type": JSON}, b'{"notquery": "{ __typename }"}', 400),
        (
            {"content-type": JSON, "authorization": "Bearer not-a-token"},
            b'{"query": "{ __typename }"}',
            401,
        ),
    ],
)
def test_a_refusal_before_graphql_also_takes_the_accepted_media_type(
    as_role: Any, headers: dict[str, str], body: bytes, status: int
) -> None:
    client = caller(as_role, "public").client
    for accept, expected in ((GRAPHQL_RESPONSE, GRAPHQL_RESPONSE), (JSON, JSON)):
        response = client.post("/graphql", content=body, headers={**headers, "accept": accept})
        assert response.status_code == status
        assert media_type(response) == expected
        assert "data" not in response.json()


@pytest.mark.parametrize("extensions", ["string", 0, False, ["array"]])
def test_extensions_that_are_not_an_object_are_a_400(as_role: Any, extensions: Any) -> None:
    client = caller(as_role, "public").client
    response = client.post("/graphql", json={"query": COUNT, "extensions": extensions})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "'extensions' must be an object"


def test_extensions_as_an_object_are_accepted(as_role: Any) -> None:
    client = caller(as_role, "public").client
    response = client.post("/graphql", json={"query": COUNT, "extensions": {"some": "value"}})
    assert response.json() == {"data": {"directory": {"totalCount": 0}}}
