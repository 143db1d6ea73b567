"""The access log does not ride on the fast path: a read of an existing record is logged
whichever path of the executor completes it, and with no fast path at all."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import pytest
from graphql import GraphQLObjectType, get_nullable_type
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.schema.access_log import AccessLogged
from api.schema.adapter import FastPathExecutionContext
from api.schema.build import ExecutionContext
from api.wiring import System
from tests.e2e.conftest import Caller

OPEN = """mutation($key: String!, $input: OpenCaseInput!) {
  openCase(idempotencyKey: $key, input: $input) { caseId } }"""
# The cases of a page are objects inside a plain field: the fast path completes them.
PAGE = "{ cases(first: 5) { items { id callerName } } }"
# A case at a root resolver: graphql-core's general path completes it, field by field.
BY_ID = "query($id: ID!) { case(id: $id) { id callerName } }"


class Watched(ExecutionContext):
    """The executor every request runs in, noting the object types its fast path completed."""

    fast: ClassVar[list[str]] = []

    def _complete(self, field_type: Any, field_details_list: Any, value: Any) -> Any:
        if isinstance(get_nullable_type(field_type), GraphQLObjectType) and value is not None:
            Watched.fast.append(get_nullable_type(field_type).name)
        return super()._complete(field_type, field_details_list, value)


class GeneralOnly(AccessLogged, StrawberryGraphQLCoreExecutionContext):
    """The hook over strawberry's own executor: no fast path at all."""


def a_case(staff: Caller) -> str:
    body = staff.gql(
        OPEN,
        {
            "key": "fictional-hook-case",
            "input": {
                "channel": "CALL",
                "language": "en",
                "relationship": "VICTIM_OR_SURVIVOR",
                "caller": {"name": "Ysolde Fictional-Caller"},
            },
        },
    )
    assert "errors" not in body, body
    return str(body["data"]["openCase"]["caseId"])


def logged_fields(system: System, case: str, request_id: str) -> list[Iterable[str]]:
    return [
        entry["fields"]
        for entry in system.access.entries(record_id=case)
        if entry["requestId"] == request_id and entry["recordType"] == "Case"
    ]


@pytest.mark.parametrize(
    ("executor", "document", "fast_completes_the_case"),
    [
        (Watched, PAGE, True),
        (Watched, BY_ID, False),
        (GeneralOnly, PAGE, False),
        (GeneralOnly, BY_ID, False),
    ],
    ids=["fast path, a page", "general path, by id", "no fast path, a page", "no fast path, by id"],
)
def test_a_read_of_an_existing_case_is_logged_whichever_path_completes_it(
    system: System,
    as_role: Any,
    monkeypatch: pytest.MonkeyPatch,
    executor: type[Any],
    document: str,
    fast_completes_the_case: bool,
) -> None:
    staff = as_role("staff", user="fictional-staff-7")
    case = a_case(staff)
    monkeypatch.setattr(system.schema, "execution_context_class", executor)
    Watched.fast = []

    response = staff.client.post(
        "/graphql",
        json={"query": document, "variables": {"id": case}},
        headers={"authorization": f"Bearer {staff.token}", "x-request-id": "fictional-hook-read"},
    )

    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    assert ("Case" in Watched.fast) is fast_completes_the_case
    assert logged_fields(system, case, "fictional-hook-read") == [["callerName"]]


def test_the_fast_path_refuses_to_run_without_the_hook(
    system: System, as_role: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fast path composed without the hook fails the request rather than answer unlogged."""

    staff = as_role("staff", user="fictional-staff-7")
    a_case(staff)
    monkeypatch.setattr(system.schema, "execution_context_class", FastPathExecutionContext)
    body = staff.gql(PAGE)
    assert body["data"] is None or body["data"]["cases"] is None
    assert body["errors"]
