"""Every type the API can return is classified for the access log, like every field for the
policy: confidential (each read logged, under the record it belongs to) or not logged, with
the reason. A new type without a classification fails here."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLObjectType, get_named_type

from api.access import CONFIDENTIAL, NOT_LOGGED
from api.schema.adapter import graphql_schema
from api.schema.build import build_schema


@pytest.fixture(scope="module")
def schema() -> Any:
    return build_schema([])


def reachable_types(schema: Any) -> set[str]:
    graphql: Any = graphql_schema(schema)
    seen: set[str] = set()
    stack = [graphql.query_type, graphql.mutation_type]
    while stack:
        current = stack.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        stack += [
            named
            for field in current.fields.values()
            if isinstance(named := get_named_type(field.type), GraphQLObjectType)
        ]
    return seen


def test_every_type_the_api_returns_is_classified_once(schema: Any) -> None:
    types = reachable_types(schema)

    assert sorted(types - CONFIDENTIAL.keys() - NOT_LOGGED.keys()) == []
    assert sorted(CONFIDENTIAL.keys() & NOT_LOGGED.keys()) == []
    assert sorted((CONFIDENTIAL.keys() | NOT_LOGGED.keys()) - types) == []


def test_every_confidential_type_names_the_record_it_reads(schema: Any) -> None:
    for name in CONFIDENTIAL:
        definition = schema.get_type_by_name(name)
        assert callable(getattr(definition.origin, "access_key", None)), name


def test_the_fields_named_confidential_exist(schema: Any) -> None:
    for name, fields in CONFIDENTIAL.items():
        if fields is not None:
            core: Any = graphql_schema(schema)
            assert fields <= set(core.type_map[name].fields), name
