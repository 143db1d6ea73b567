"""The whole schema, and the list of its coordinates that every policy check keys on."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLInputObjectType, GraphQLObjectType

from api.schema.directory import DirectoryMutations, DirectoryQueries
from api.schema.protocols import ProtocolMutations, ProtocolQueries

# Input types whose fields are themselves policy decisions (a filter on a field a role cannot
# read would reveal it); other inputs are gated by the mutation that takes them.
POLICED_INPUTS = ("DirectoryFilter",)


@strawberry.type
class Query(DirectoryQueries, ProtocolQueries):
    pass


@strawberry.type
class Mutation(DirectoryMutations, ProtocolMutations):
    pass


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        """Errors are logged where they are formatted, by type only: never their text."""


def build_schema(extensions: list[Any]) -> Schema:
    return Schema(query=Query, mutation=Mutation, extensions=extensions)


def coordinates(schema: strawberry.Schema) -> set[tuple[str, str]]:
    """Every (Type.field, action) the schema exposes: read, call (mutations) or filter."""
    found: set[tuple[str, str]] = set()
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(graphql_type, GraphQLObjectType):
            action = "call" if name == "Mutation" else "read"
            found |= {(f"{name}.{field}", action) for field in graphql_type.fields}
        elif isinstance(graphql_type, GraphQLInputObjectType) and name in POLICED_INPUTS:
            found |= {(f"{name}.{field}", "filter") for field in graphql_type.fields}
    return found
