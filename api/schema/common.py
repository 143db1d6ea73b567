"""Shared GraphQL pieces: enums from the domain vocabulary, paging, input conversion."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Any

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
from api.schema import vocabulary
from api.schema.adapter import document_of
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
for _enum, (_description, _values) in (
    (OrganizationKind, vocabulary.ORGANIZATION_KIND),
    (FocusArea, vocabulary.FOCUS_AREA),
    (ServiceCategory, vocabulary.SERVICE_CATEGORY),
    (ServiceNature, vocabulary.SERVICE_NATURE),
    (Population, vocabulary.POPULATION),
    (Criterion, vocabulary.CRITERION),
    (RemovalReason, vocabulary.REMOVAL_REASON),
    (ContactOutcome, vocabulary.CONTACT_OUTCOME),
):
    vocabulary.describe(_enum, _description, _values)
vocabulary.describe(OrganizationStatus, *vocabulary.ORGANIZATION_STATUS, name="OrganizationStatus")

__all__ = [
    "After",
    "ContactOutcome",
    "Criterion",
    "First",
    "FocusArea",
    "IdempotencyKey",
    "OrganizationKind",
    "OrganizationStatus",
    "PageInfo",
    "Population",
    "RemovalReason",
    "ServiceCategory",
    "ServiceNature",
    "camel",
    "selected",
    "to_plain",
]

# Arguments many fields take, described once.
IdempotencyKey = Annotated[
    str,
    strawberry.argument(
        description=(
            "A key you choose for this command, unique to it (a UUID will do): sent again, the command "
            "writes nothing and returns its first result with replayed = true."
        )
    ),
]
First = Annotated[
    int,
    strawberry.argument(
        description=(
            "How many results to return: 1 to the largest page (NRD_MAX_PAGE_SIZE, 50 unless "
            "configured)."
        )
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description=(
            "Start after this cursor: the endCursor of the previous page. Omit it for the first page."
        )
    ),
]


@strawberry.type(description="Where a page of results ends and whether more follow.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more results follow this page.")
    end_cursor: str | None = strawberry.field(
        description=(
            "The cursor of this page's last result: pass it as `after` for the next page (null "
            "when the page is empty)."
        )
    )


def to_plain(value: Any) -> Any:
    """A strawberry input as the plain, camelCase dict the domain validates."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            camel(f.name): to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def _children(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
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
    level, fragments = document_of(info)
    for name in path:
        level = [
            child
            for node in level
            for child in _children(node.selection_set, fragments)
            if child.name.value == name
        ]
    return {
        child.name.value for node in level for child in _children(node.selection_set, fragments)
    }
