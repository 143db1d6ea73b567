"""Where nrd reaches past strawberry's and graphql-core's public interfaces: here, and only here.

Each use, and why there is no public way:

- ``StrawberryGraphQLCoreExecutionContext`` (``strawberry.schema.schema``, not exported): the
  execution context strawberry runs queries with. graphql-core documents
  ``execution_context_class`` as its extension point, but a subclass of graphql-core's own class
  would lose strawberry's handling of its errors; strawberry exports no base to extend.
- The executor's ``execute_field`` and ``collect_subfields`` (public methods of graphql-core's
  ``ExecutionContext``, but not a documented contract): the fast path completes plain fields
  itself, with the executor's own memoized field collection.
- A patched ``GraphQLField``: its ``resolve`` replaced by a plain attribute getter, and an
  ``nrd_get`` attribute of ours marking it plain. strawberry wraps every field in a resolver that
  builds its own Info; no setting turns that off for a field that only reads an attribute. It is
  reached through ``Schema.schema_converter.type_map`` (no public listing of the converted types).
- ``Schema._schema``: the graphql-core schema strawberry built. strawberry offers no public
  accessor (``as_str``, ``get_type_by_name`` and ``introspect`` answer with strawberry's own
  definitions or text); the document gate validates against it, and the policy's coordinates,
  the tests and the benchmarks read types and fields from it, all through ``graphql_schema``.
- ``Info._raw_info``: graphql-core's resolve info, for the field nodes and fragments of the
  document. ``Info.selected_fields`` is the public way, but it converts the whole selection tree
  on every request.
- The ``description`` of strawberry's ``EnumValue`` records: strawberry describes a value only
  through ``strawberry.enum_value`` in the enum's own class body, and the domain's enums stay
  free of strawberry.

A library change under any of these fails a test: ``tests/e2e/test_execution_fast_path.py``
(the fast path answers as the general path does), ``tests/e2e/test_access_log_hook.py`` (every
path logs), ``tests/unit/test_schema_sdl.py`` (every type, field and value described).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info


class _General(Exception):
    """This value needs graphql-core's general path (to report an error, or a feature)."""


class FastPathExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Completes plain data fields directly, as graphql-core would.

    A directory page is mostly plain fields (attributes holding scalars, enums, lists and
    objects made of the same); the general path builds resolve info, argument maps, paths and
    awaitable checks for each one. Here such a field is completed in one pass, with the
    executor's own memoized field collection (so fragments, @skip and @include behave the
    same). Anything else, or anything unusual (a null where the type forbids it, a value that
    does not serialize, deferred fragments, a type check), sends the whole field down the
    general path, so errors are reported exactly as before. Plain fields have no side effects,
    so starting again is safe.

    This is a performance path only. It reports each object it completes to ``revealed``, which
    the access-log hook (``api/schema/access_log.py``) implements; composed without it, the first
    object it completes fails rather than pass unlogged.
    """

    def revealed(
        self, object_type: GraphQLObjectType, source: Any, field_names: Iterable[str]
    ) -> None:
        raise NotImplementedError("compose the executor with api.schema.access_log.AccessLogged")

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        name = field_details_list[0].node.name.value
        field_def = self.schema.get_field(parent_type, name)
        get: Callable[[Any], Any] | None = getattr(field_def, "nrd_get", None)
        if get is not None:
            try:
                return self._complete(
                    field_def.type,  # type: ignore[union-attr]
                    field_details_list,
                    get(source),
                )
            except _General:
                pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

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
        # Names generated only if the hook reads them (for a confidential type).
        self.revealed(
            field_type, value, (details[0].node.name.value for details in grouped.values())
        )
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


def resolve_plain_fields_directly(schema: strawberry.Schema) -> None:
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


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema strawberry built."""
    return schema._schema


def document_of(info: Info[Any, Any]) -> tuple[list[FieldNode], dict[str, FragmentDefinitionNode]]:
    """The document's nodes of this field, and its fragments by name."""
    raw = info._raw_info
    return list(raw.field_nodes), raw.fragments


def describe_values(enum: Any, values: dict[str, str]) -> None:
    """Sets the description of every value of ``enum``, already registered with strawberry."""
    for value in enum.__strawberry_definition__.values:
        value.description = values[value.name]
