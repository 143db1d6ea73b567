"""Shared GraphQL pieces: enums from the domain vocabulary, paging, input conversion."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from domain import organization, vocabulary

OrganizationKind = strawberry.enum(vocabulary.OrganizationKind)
FocusArea = strawberry.enum(vocabulary.FocusArea)
ServiceCategory = strawberry.enum(vocabulary.ServiceCategory)
ServiceNature = strawberry.enum(vocabulary.ServiceNature)
Population = strawberry.enum(vocabulary.Population)
Criterion = strawberry.enum(vocabulary.Criterion)
OrganizationStatus = strawberry.enum(organization.Status, name="OrganizationStatus")
RemovalReason = strawberry.enum(organization.RemovalReason)
ContactOutcome = strawberry.enum(organization.ContactOutcome)


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
