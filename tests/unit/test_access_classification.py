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


def parents(schema: Any) -> dict[str, set[tuple[str, str]]]:
    """Each object type, with the (type, field) pairs of the API that return it."""
    graphql: Any = graphql_schema(schema)
    found: dict[str, set[tuple[str, str]]] = {}
    for name in reachable_types(schema):
        for field_name, field in graphql.type_map[name].fields.items():
            named = get_named_type(field.type)
            if isinstance(named, GraphQLObjectType):
                found.setdefault(named.name, set()).add((name, field_name))
    return found


def logged_there(parent: str, field_name: str) -> bool:
    fields = CONFIDENTIAL.get(parent, frozenset())
    return fields is None or field_name in fields


def test_a_part_read_only_inside_a_record_is_reached_only_through_its_logged_fields(
    schema: Any,
) -> None:
    """A type not logged because it is "only inside" a confidential record is reached only
    through a field that record logs (or from the record whose every read is logged), or from
    another part of the same record: never through a field the record does not log, nor from
    anywhere else."""
    returned_by = parents(schema)
    inside = {name: why for name, why in NOT_LOGGED.items() if why.startswith("only inside")}
    unlogged = sorted(
        (name, parent, field_name)
        for name in inside
        for parent, field_name in returned_by.get(name, set())
        if not logged_there(parent, field_name) and inside.get(parent) != inside[name]
    )
    assert unlogged == [], unlogged
