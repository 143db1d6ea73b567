"""Shared GraphQL pieces: enums from the domain vocabulary, paging, input conversion."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from enum import Enum
from typing import Any

import strawberry
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)
from strawberry.types import Info

from api.context import camel
from domain.organization import ContactOutcome, RemovalReason
from domain.organization import Status as OrganizationStatus
from domain.vocabulary import (
    Criterion,
    FocusArea,
    OrganizationKind,
    Population,
    ServiceCategory,
    ServiceNature,
)

# The domain's own enums are the GraphQL enums: one vocabulary, no conversions.
for _enum in (OrganizationKind, FocusArea, ServiceCategory, ServiceNature, Population, Criterion,
              RemovalReason, ContactOutcome):
    strawberry.enum(_enum)
strawberry.enum(OrganizationStatus, name="OrganizationStatus")

__all__ = ["ContactOutcome", "Criterion", "FocusArea", "OrganizationKind", "OrganizationStatus",
           "PageInfo", "Population", "RemovalReason", "ServiceCategory", "ServiceNature",
           "camel", "selected", "to_plain"]


@strawberry.type(description="Where a page of results ends and whether more follow.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def to_plain(value: Any) -> Any:
    """A strawberry input as the plain, camelCase dict the domain validates."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {camel(f.name): to_plain(getattr(value, f.name))
                for f in dataclasses.fields(value) if getattr(value, f.name) is not None}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def _children(selection_set: SelectionSetNode | None,
              fragments: dict[str, FragmentDefinitionNode]) -> Iterator[FieldNode]:
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _children(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:  # validation has already refused cycles
                yield from _children(fragment.selection_set, fragments)


def selected(info: Info[Any, Any], *path: str) -> set[str]:
    """Field names selected below this field (following ``path``), through fragments.

    Read from the document itself: cheaper than strawberry's ``selected_fields``, which
    converts the whole selection tree on every request.
    """
    raw = info._raw_info
    level = list(raw.field_nodes)
    for name in path:
        level = [child for node in level for child in _children(node.selection_set, raw.fragments)
                 if child.name.value == name]
    return {child.name.value for node in level
            for child in _children(node.selection_set, raw.fragments)}
