"""The whole schema, and the list of its coordinates that every policy check keys on."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, NamedTuple

import strawberry
from graphql import (
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLOutputType,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

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


class _Leaf(NamedTuple):
    """How to complete a plain field holding a scalar or enum, or a list of them."""

    get: Callable[[Any], Any]
    coerce: Callable[[Any], Any]
    non_null: bool
    is_list: bool
    items_non_null: bool


def _leaf(get: Callable[[Any], Any], field_type: GraphQLOutputType) -> _Leaf | None:
    non_null = is_non_null_type(field_type)
    inner = field_type.of_type if non_null else field_type  # type: ignore[union-attr]
    is_list = is_list_type(inner)
    item = inner.of_type if is_list else inner
    items_non_null = is_list and is_non_null_type(item)
    if items_non_null:
        item = item.of_type
    if not is_leaf_type(item):
        return None
    return _Leaf(get, item.coerce_output_value, non_null, is_list, items_non_null)


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Completes plain scalar and enum fields directly, as graphql-core would.

    Most of a directory page is leaf fields read from an attribute; the general path builds
    resolve info, argument maps and awaitable checks for each one. Anything unusual (a null
    where the type forbids it, a value that does not serialize) takes the general path, so
    errors are reported exactly as before.
    """

    def execute_field(self, parent_type: GraphQLObjectType, source: Any,
                      field_details_list: Any, path: Any, position_context: Any) -> Any:
        field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
        leaf: _Leaf | None = getattr(field_def, "nrd_leaf", None)
        if leaf is not None:
            value = leaf.get(source)
            if value is None:
                if not leaf.non_null:
                    return None
            elif leaf.is_list:
                completed = [None if item is None else leaf.coerce(item) for item in value]
                if not any(c is Undefined or (c is None and leaf.items_non_null)
                           for c in completed):
                    return completed
            else:
                completed = leaf.coerce(value)
                if completed is not Undefined and completed is not None:
                    return completed
        return super().execute_field(parent_type, source, field_details_list, path,
                                     position_context)


def build_schema(extensions: list[Any]) -> Schema:
    schema = Schema(query=Query, mutation=Mutation, extensions=extensions,
                    execution_context_class=ExecutionContext)
    _resolve_plain_fields_directly(schema)
    return schema


def _resolve_plain_fields_directly(schema: Schema) -> None:
    """Plain data fields read their attribute directly.

    Strawberry wraps every field in a resolver that builds its own Info and checks for
    awaitables; for a field that only reads an attribute, that is most of the cost of a large
    result. Confidentiality does not depend on it: objects are built with only the fields the
    caller may read, before any field resolves.
    """
    for definition in schema.schema_converter.type_map.values():
        graphql_type = definition.implementation
        fields = getattr(definition.definition, "fields", None)
        if not isinstance(graphql_type, GraphQLObjectType) or fields is None:
            continue
        for field in fields:
            name = schema.config.name_converter.get_graphql_name(field)
            if field.base_resolver is None and name in graphql_type.fields:
                getter = attrgetter(field.python_name)
                graphql_field: GraphQLField = graphql_type.fields[name]
                graphql_field.resolve = lambda source, _info, get=getter: get(source)
                graphql_field.nrd_leaf = _leaf(getter, graphql_field.type)  # type: ignore[attr-defined]


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
