"""The fast completion of plain fields answers exactly as graphql-core's general path does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from graphql import execute
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.auth import Principal
from api.context import Context
from api.schema.adapter import graphql_schema
from api.schema.build import ExecutionContext
from api.wiring import System
from tests.e2e.conftest import seed

DOCUMENTS = {
    "plain": """{ directory(first: 5) { edges { cursor node { id nameEn kind languages
                 regions { province municipality } services { nameEn category natures } } }
                 pageInfo { hasNextPage endCursor } totalCount } }""",
    "fragments and typename": """query { directory { edges { node { ...Names ... on Organization
                 { __typename location { __typename province address } } } } } }
                 fragment Names on Organization { nameEn n: nameFr publicContact { email } }""",
    "directives": """query($yes: Boolean!, $no: Boolean!) { directory { edges { node {
                 nameEn @include(if: $yes) nameFr @skip(if: $yes) kind @include(if: $no)
                 regions @skip(if: $no) { province } } } } }""",
    "internal fields": """{ directory(filter: {statuses: [INCLUDED, SUBMITTED]}) { edges { node {
                 status history { what status actorRole } pointOfContact { name email }
                 criteria reviewDueAt } } facets { name values { value count } } } }""",
}


class CountingExecutionContext(ExecutionContext):
    completed = 0

    def _complete(self, field_type: Any, field_details_list: Any, value: Any) -> Any:
        CountingExecutionContext.completed += 1
        return super()._complete(field_type, field_details_list, value)


def _run(system: System, document: str, context_class: type[Any]) -> Any:
    context = Context(Principal("fictional-staff-1", "staff"), system, "fast-path-test")

    async def go() -> Any:
        result = execute(
            graphql_schema(system.schema),
            system.gate.parsed(document),
            None,
            context,
            {"yes": True, "no": False},
            executor_class=context_class,
        )
        return await result if asyncio.iscoroutine(result) else result

    outcome = asyncio.run(go())
    return outcome.data, [e.message for e in outcome.errors or []]


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_the_fast_path_and_the_general_path_give_the_same_answer(system: System, name: str) -> None:
    seed(system, "Example Fast Shelter", confidential=True)
    seed(system, "Example Slow Clinic", province="CA-QC")
    seed(system, "Example Pending Network", included=False)
    CountingExecutionContext.completed = 0
    fast = _run(system, DOCUMENTS[name], CountingExecutionContext)
    assert CountingExecutionContext.completed > 0  # the fast path did the work
    general = _run(system, DOCUMENTS[name], StrawberryGraphQLCoreExecutionContext)
    assert fast == general
    assert fast[1] == []
    assert fast[0]["directory"]["edges"]
