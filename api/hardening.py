"""Document limits and field policy, enforced before execution and built once at start-up.

One tuple of validation rules per role, made once, so validation results can be cached by
(query text, role): per-request rule factories would defeat any cache. Limits count through
fragments (each spread counts where it is spread), so fragments cannot smuggle in depth,
aliases or duplicated fields.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    ObjectFieldNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    parse,
    specified_rules,
    type_from_ast,
    validate,
)
from graphql.language import DirectiveNode
from strawberry.extensions import SchemaExtension

from api.schema.adapter import graphql_schema
from domain.bounded import MIB, BoundedCache
from policies import ROLES, STAFF_ROLES, FieldPolicy

NOT_AVAILABLE = "NOT_AVAILABLE"
TOO_COMPLEX = "QUERY_TOO_COMPLEX"
# Input types whose fields are themselves policy decisions (a filter on a field a role cannot
# read would reveal it); other inputs are gated by the mutation that takes them. Naming such a
# field, in the document or in the variables, is refused before anything runs, even with a
# null value: the answer must not differ from the one to a field that does not exist.
POLICED_INPUTS = ("DirectoryFilter", "CaseFilter")


@dataclass(frozen=True)
class Limits:
    max_depth: int = 10
    max_aliases: int = 15
    max_fields: int = 1000
    max_repeats: int = 5  # one response key selected again and again in one selection set
    max_directives: int = 20
    max_tokens: int = 3000
    # Introspection is measured apart: the standard introspection query is 15 deep
    # (graphql-core's; GraphiQL's is shallower). Its breadth is bounded by graphql-core's own
    # MaxIntrospectionDepthRule, among the standard rules: no more than two of a type's
    # member lists (fields, inputFields, interfaces, possibleTypes) nested on one path.
    max_introspection_depth: int = 20


@dataclass(frozen=True)
class _Measure:
    depth: int  # an introspection field (__schema, __type) counts one here, whatever it holds
    aliases: int
    fields: int
    repeats: int = 0
    introspection_depth: int = 0  # the deepest introspection field, counted from the root

    def combined(self, other: _Measure) -> _Measure:
        """Two sibling selections' measures (a fragment's beside its neighbours')."""
        return _Measure(
            max(self.depth, other.depth),
            self.aliases + other.aliases,
            self.fields + other.fields,
            max(self.repeats, other.repeats),
            max(self.introspection_depth, other.introspection_depth),
        )


INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


def _measure(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, Any],
    memo: dict[str, _Measure],
    visiting: frozenset[str],
) -> _Measure:
    total = _Measure(0, 0, 0)
    if selection_set is None:
        return total
    keys: dict[str, int] = {}
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            inner = _measure(selection.selection_set, fragments, memo, visiting)
            name = selection.name.value
            key = (selection.alias or selection.name).value
            keys[key] = keys.get(key, 0) + 1
            if name in INTROSPECTION_ROOTS:
                field = _Measure(1, inner.aliases, inner.fields, inner.repeats, inner.depth + 1)
            else:
                field = _Measure(
                    inner.depth + 1,
                    inner.aliases,
                    inner.fields,
                    inner.repeats,
                    inner.introspection_depth,
                )
            total = total.combined(field).combined(
                _Measure(0, 1 if selection.alias else 0, 1, keys[key])
            )
        elif isinstance(selection, InlineFragmentNode):
            total = total.combined(_measure(selection.selection_set, fragments, memo, visiting))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in visiting or name not in fragments:
                continue  # cycles and unknown fragments are reported by the standard rules
            if name not in memo:
                memo[name] = _measure(
                    fragments[name].selection_set, fragments, memo, visiting | {name}
                )
            total = total.combined(memo[name])
    return total


def _directives(node: Any) -> Iterator[DirectiveNode]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, DirectiveNode):
            yield current
        for key in getattr(current, "keys", ()):
            value = getattr(current, key, None)
            if isinstance(value, (list, tuple)):
                stack.extend(v for v in value if hasattr(v, "keys"))
            elif hasattr(value, "keys") and not isinstance(value, dict):
                stack.append(value)


def limits_rule(limits: Limits) -> type[ValidationRule]:
    """The document limits. Introspection fields are held to their own depth bound rather
    than the depth limit, so the standard introspection query runs for the roles allowed it
    (for the others, the field policy refuses it like any field they may not read)."""

    class LimitsRule(ValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            fragments = {
                d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)
            }
            memo: dict[str, _Measure] = {}
            for definition in node.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    measure = _measure(definition.selection_set, fragments, memo, frozenset())
                    self._check("depth", measure.depth, limits.max_depth)
                    self._check(
                        "introspection depth",
                        measure.introspection_depth,
                        limits.max_introspection_depth,
                    )
                    self._check("aliases", measure.aliases, limits.max_aliases)
                    self._check("selected fields", measure.fields, limits.max_fields)
                    self._check("repeats of one field", measure.repeats, limits.max_repeats)
            self._check("directives", sum(1 for _ in _directives(node)), limits.max_directives)

        def _check(self, what: str, value: int, limit: int) -> None:
            if value > limit:
                self.report_error(
                    GraphQLError(
                        f"query too complex: {what} {value} exceeds the limit of {limit}",
                        extensions={"code": TOO_COMPLEX},
                    )
                )

    return LimitsRule


def field_policy_rule(
    role: str, selectable: frozenset[str], introspection: bool, filterable: frozenset[str]
) -> type[ValidationRule]:
    class FieldPolicyRule(ValidationRule):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            parent = self.context.get_parent_type()
            name = node.name.value
            if parent is None or name == "__typename":
                return
            if name in ("__schema", "__type") or parent.name.startswith("__"):
                allowed = introspection
            else:
                allowed = f"{parent.name}.{name}" in selectable
            if not allowed:
                # Only hotline roles ever see this text; everyone else gets a generic one.
                self.report_error(
                    GraphQLError(
                        f"{parent.name}.{name} is not available to the {role} role",
                        node,
                        extensions={"code": NOT_AVAILABLE},
                    )
                )

        def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
            parent = self.context.get_parent_input_type()
            if isinstance(parent, GraphQLInputObjectType):
                refusal = _filter_refusal(parent.name, node.name.value, filterable, role, node)
                if refusal is not None:
                    self.report_error(refusal)

    return FieldPolicyRule


def _filter_refusal(
    type_name: str,
    field: str,
    filterable: frozenset[str],
    role: str,
    node: ObjectFieldNode | None = None,
) -> GraphQLError | None:
    """The refusal of a field of a policed input this role may not filter on, if it is one."""
    if type_name not in POLICED_INPUTS or f"{type_name}.{field}" in filterable:
        return None
    return GraphQLError(
        f"{type_name}.{field} is not available to the {role} role as a filter",
        node,
        extensions={"code": NOT_AVAILABLE},
    )


def refused_filter_variables(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    raw: dict[str, Any],
    filterable: frozenset[str],
    role: str,
) -> list[GraphQLError]:
    """The policed input fields the variables name (a key given, whatever its value) that this
    role may not filter on: the variables' counterpart of the rule's literal check."""
    refused: list[GraphQLError] = []

    def walk(graphql_type: Any, value: Any) -> None:
        if isinstance(graphql_type, GraphQLNonNull):
            walk(graphql_type.of_type, value)
        elif isinstance(graphql_type, GraphQLList):
            for item in value if isinstance(value, list) else [value]:
                walk(graphql_type.of_type, item)
        elif isinstance(graphql_type, GraphQLInputObjectType) and isinstance(value, dict):
            for name, item in value.items():
                field = graphql_type.fields.get(name)
                if field is None:
                    continue  # refused by coercion before this runs
                refusal = _filter_refusal(graphql_type.name, name, filterable, role)
                if refusal is not None:
                    refused.append(refusal)
                walk(field.type, item)

    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in raw:
            walk(type_from_ast(schema, definition.type), raw[name])
    return refused


class DocumentGate:
    """Parses and validates once per (query text, role); both answers are cached, in at most
    ``cache_bytes`` together: a caller chooses a document's size (up to the body and token
    limits), so a count alone would bound nothing."""

    def __init__(
        self,
        schema: Any,
        policy: FieldPolicy,
        limits: Limits,
        cache_size: int = 512,
        cache_bytes: int = 2 * MIB,
    ) -> None:
        self.limits = limits
        shared = (*specified_rules, limits_rule(limits))
        core_schema = graphql_schema(schema)
        policed = [
            f"{name}.{field}"
            for name in POLICED_INPUTS
            for field in cast(GraphQLInputObjectType, core_schema.type_map[name]).fields
        ]
        self._filterable = {
            role: frozenset(c for c in policed if policy.allows(role, c, "filter"))
            for role in ROLES
        }
        self._rules = {
            role: (
                *shared,
                field_policy_rule(
                    role, policy.selectable(role), role in STAFF_ROLES, self._filterable[role]
                ),
            )
            for role in ROLES
        }
        self._core_schema = core_schema
        self._parsed: BoundedCache[str, DocumentNode] = BoundedCache(cache_bytes // 2, cache_size)
        self._validated: BoundedCache[tuple[str, str], tuple[GraphQLError, ...]] = BoundedCache(
            cache_bytes // 2, cache_size * 2
        )

    def parsed(self, query: str) -> DocumentNode:
        document = self._parsed.get(query)
        if document is None:
            document = parse(query, max_tokens=self.limits.max_tokens)
            self._parsed.put(query, document)
        return document

    def validated(self, query: str, role: str) -> tuple[GraphQLError, ...]:
        errors = self._validated.get((query, role))
        if errors is None:
            # Suggestions ("Did you mean") would never reach a caller outside the hotline:
            # not computing them halves the cost of a prober's invalid document.
            errors = tuple(
                validate(
                    self._core_schema,
                    self.parsed(query),
                    self._rules[role],
                    hide_suggestions=role not in STAFF_ROLES,
                )
            )
            self._validated.put((query, role), errors)
        return errors

    def refused_variables(
        self, operation: OperationDefinitionNode, raw: dict[str, Any], role: str
    ) -> list[GraphQLError]:
        """Filters the role may not use, named in the variables (checked once they coerce)."""
        return refused_filter_variables(
            self._core_schema, operation, raw, self._filterable[role], role
        )


class GateExtension(SchemaExtension):
    """Hands strawberry the cached document and validation result for the caller's role."""

    def __init__(self, gate: DocumentGate) -> None:
        self.gate = gate

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.gate.limits.max_tokens
        if context.query is not None:
            # On a syntax error strawberry parses again and reports it itself.
            with contextlib.suppress(GraphQLError):
                context.graphql_document = self.gate.parsed(context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is not None:
            role = context.context.role
            context.pre_execution_errors = list(self.gate.validated(context.query, role))
        yield
