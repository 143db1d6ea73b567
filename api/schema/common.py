"""Shared GraphQL pieces: enums from the domain vocabulary, paging, input conversion."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

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
           "camel", "selected_names", "to_plain"]


@strawberry.type(description="Where a page of results ends and whether more follow.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


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


def selected_names(selections: list[Any]) -> set[str]:
    """Field names selected at one level, looking through fragments."""
    names: set[str] = set()
    for selection in selections:
        if isinstance(selection, SelectedField):
            names.add(selection.name)
        elif isinstance(selection, (FragmentSpread, InlineFragment)):
            names |= selected_names(selection.selections)
    return names
