"""The whole schema, and the list of its coordinates that every policy check keys on."""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

import strawberry
from graphql import (
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLObjectType,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)
from strawberry.printer import print_schema
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.access import CONFIDENTIAL
from api.hardening import POLICED_INPUTS
from api.schema.audit import AuditMutations, AuditQueries
from api.schema.cases import CaseMutations, CaseQueries
from api.schema.directory import DirectoryMutations, DirectoryQueries
from api.schema.protocols import ProtocolMutations, ProtocolQueries


@strawberry.type(description=(
    "Everything nrd answers. What each role may read is decided field by field: a field your "
    "role may never read is refused like one that does not exist, and a record it may not see "
    "answers as a missing one."))
class Query(DirectoryQueries, ProtocolQueries, CaseQueries, AuditQueries):
    pass


@strawberry.type(description=(
    "Every command. Each takes an idempotency key: sent again, it writes nothing and returns "
    "its first result. Each is recorded as an event saying who acted, in which role, and why "
    "where a reason is required."))
class Mutation(DirectoryMutations, ProtocolMutations, CaseMutations, AuditMutations):
    pass


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        """Errors are logged where they are formatted, by type only: never their text."""


class _General(Exception):
    """This value needs graphql-core's general path (to report an error, or a feature)."""


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Completes plain data fields directly, as graphql-core would.

    A directory page is mostly plain fields (attributes holding scalars, enums, lists and
    objects made of the same); the general path builds resolve info, argument maps, paths and
    awaitable checks for each one. Here such a field is completed in one pass, with the
    executor's own memoized field collection (so fragments, @skip and @include behave the
    same). Anything else, or anything unusual (a null where the type forbids it, a value that
    does not serialize, deferred fragments, a type check), sends the whole field down the
    general path, so errors are reported exactly as before. Plain fields have no side effects,
    so starting again is safe.

    Both paths note each confidential field they complete in the request's access log: every
    read passes through here, whatever alias, fragment or nesting reached it.
    """

    @classmethod
    def build(cls, schema: Any, document: Any, root_value: Any = None,
              context_value: Any = None, raw_variable_values: Any = None,
              *args: Any, **kwargs: Any) -> Any:
        """Refuses, once the variables coerce and before anything runs, a filter the role may
        not use named in them: the same moment, and so the same answer, as a field that does
        not exist (the validation rules refuse one named in the document)."""
        built = super().build(schema, document, root_value, context_value, raw_variable_values,
                              *args, **kwargs)
        if isinstance(built, list):
            return built
        refused = context_value.system.gate.refused_variables(
            built.operation, raw_variable_values or {}, context_value.role)
        return refused or built

    def execute_field(self, parent_type: GraphQLObjectType, source: Any,
                      field_details_list: Any, path: Any, position_context: Any) -> Any:
        name = field_details_list[0].node.name.value
        if parent_type.name in CONFIDENTIAL:
            self.context_value.reads.note(parent_type.name, source, (name,))
        field_def = self.schema.get_field(parent_type, name)
        get: Callable[[Any], Any] | None = getattr(field_def, "nrd_get", None)
        if get is not None:
            try:
                return self._complete(field_def.type, field_details_list,  # type: ignore[union-attr]
                                      get(source))
            except _General:
                pass
        return super().execute_field(parent_type, source, field_details_list, path,
                                     position_context)

    def _complete(self, field_type: Any, field_details_list: Any, value: Any) -> Any:
        non_null = is_non_null_type(field_type)
        if value is None:
            if non_null:
                raise _General
            return None
        if non_null:
            field_type = field_type.of_type
        if is_list_type(field_type):
            item_type = field_type.of_type
            return [self._complete(item_type, field_details_list, item) for item in value]
        if is_leaf_type(field_type):
            completed = field_type.coerce_output_value(value)
            if completed is Undefined or completed is None:
                raise _General
            return completed
        if not isinstance(field_type, GraphQLObjectType) or field_type.is_type_of is not None:
            raise _General
        grouped, deferred, _ = self.collect_subfields(field_type, field_details_list)
        if deferred:
            raise _General
        if field_type.name in CONFIDENTIAL:
            names = [details[0].node.name.value for details in grouped.values()]
            self.context_value.reads.note(field_type.name, value, names)
        result: dict[str, Any] = {}
        for key, details in grouped.items():
            name = details[0].node.name.value
            if name == "__typename":
                result[key] = field_type.name
                continue
            sub_get = getattr(field_type.fields.get(name), "nrd_get", None)
            if sub_get is None:
                raise _General
            result[key] = self._complete(field_type.fields[name].type, details, sub_get(value))
        return result


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
                graphql_field.nrd_get = getter  # type: ignore[attr-defined]


def schema_sdl() -> str:
    """The whole schema in the schema definition language, as ``schema.graphql`` holds it."""
    return print_schema(build_schema([])) + "\n"


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
