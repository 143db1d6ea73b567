"""The whole schema assembled from its areas, the executor every request runs in, and the list
of the schema's coordinates that every policy check keys on."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLInputObjectType, GraphQLObjectType
from strawberry.printer import print_schema

from api.hardening import POLICED_INPUTS
from api.schema.access_log import AccessLogged
from api.schema.adapter import (
    FastPathExecutionContext,
    graphql_schema,
    resolve_plain_fields_directly,
)
from api.schema.audit import AuditMutations, AuditQueries
from api.schema.cases import CaseMutations, CaseQueries
from api.schema.contacts import ContactMutations, ContactQueries
from api.schema.directory import DirectoryMutations, DirectoryQueries
from api.schema.members import MemberMutations, MemberQueries
from api.schema.protocols import ProtocolMutations, ProtocolQueries
from api.schema.queues import QueueMutations, QueueQueries


@strawberry.type(
    description=(
        "Everything nrd answers. What each role may read is decided field by field: a field your "
        "role may never read is refused like one that does not exist, and a record it may not see "
        "answers as a missing one."
    )
)
class Query(
    DirectoryQueries,
    ProtocolQueries,
    CaseQueries,
    ContactQueries,
    QueueQueries,
    AuditQueries,
    MemberQueries,
):
    pass


@strawberry.type(
    description=(
        "Every command. Each takes an idempotency key: sent again, it writes nothing and returns "
        "its first result. Each is recorded as an event saying who acted, in which role, and why "
        "where a reason is required."
    )
)
class Mutation(
    DirectoryMutations,
    ProtocolMutations,
    CaseMutations,
    ContactMutations,
    QueueMutations,
    AuditMutations,
    MemberMutations,
):
    pass


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[Any], execution_context: Any = None) -> None:
        """Errors are logged where they are formatted, by type only: never their text."""


class ExecutionContext(AccessLogged, FastPathExecutionContext):
    """Every request runs here: the access-log hook over the fast path over strawberry's own
    executor, so each confidential field is noted whichever path completes it."""

    @classmethod
    def build(
        cls,
        schema: Any,
        document: Any,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Refuses, once the variables coerce and before anything runs, a filter the role may
        not use named in them: the same moment, and so the same answer, as a field that does
        not exist (the validation rules refuse one named in the document)."""
        built = super().build(
            schema, document, root_value, context_value, raw_variable_values, *args, **kwargs
        )
        if isinstance(built, list):
            return built
        refused = context_value.system.gate.refused_variables(
            built.operation, raw_variable_values or {}, context_value.role
        )
        return refused or built


def build_schema(extensions: list[Any]) -> Schema:
    schema = Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        execution_context_class=ExecutionContext,
    )
    resolve_plain_fields_directly(schema)
    return schema


def schema_sdl() -> str:
    """The whole schema in the schema definition language, as ``schema.graphql`` holds it."""
    return print_schema(build_schema([])) + "\n"


def coordinates(schema: strawberry.Schema) -> set[tuple[str, str]]:
    """Every (Type.field, action) the schema exposes: read, call (mutations) or filter."""
    found: set[tuple[str, str]] = set()
    for name, graphql_type in graphql_schema(schema).type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(graphql_type, GraphQLObjectType):
            action = "call" if name == "Mutation" else "read"
            found |= {(f"{name}.{field}", action) for field in graphql_type.fields}
        elif isinstance(graphql_type, GraphQLInputObjectType) and name in POLICED_INPUTS:
            found |= {(f"{name}.{field}", "filter") for field in graphql_type.fields}
    return found
