"""A page of directory results, its facets, and what a directory command did."""

from __future__ import annotations

import strawberry

from api.schema.common import PageInfo
from api.schema.directory.organization import Organization


@strawberry.type(description="One value of a facet and how many matching organizations have it.")
class FacetValue:
    value: str = strawberry.field(
        description="A value of the facet (a province code, an enum value, a language code)."
    )
    count: int = strawberry.field(
        description="How many organizations matching the search and filters have it."
    )


@strawberry.type(description="Counts of the matching organizations by one of their attributes.")
class Facet:
    name: str = strawberry.field(
        description=(
            "What the facet counts: province, serviceCategory, serviceNature, focusArea, population, "
            "language or kind."
        )
    )
    values: list[FacetValue] = strawberry.field(description="Each value with its count.")


@strawberry.type(description="One organization in a page of directory results.")
class DirectoryEdge:
    cursor: str = strawberry.field(
        description="Where this result is in the list: pass it as `after` for the next page."
    )
    node: Organization = strawberry.field(description="The organization.")


@strawberry.type(description="A page of directory results.")
class DirectoryConnection:
    edges: list[DirectoryEdge] = strawberry.field(
        description="This page of results, sorted by English name."
    )
    page_info: PageInfo = strawberry.field(
        description="Whether more results follow, and where this page ends."
    )
    total_count: int = strawberry.field(description="How many organizations match, over all pages.")
    facets: list[Facet] = strawberry.field(
        description=(
            "Counts of the matching organizations by province, service, focus area, population, "
            "language and kind."
        )
    )


@strawberry.type(
    description="What a command did. A repeated idempotency key returns the "
    "first result with replayed = true."
)
class OrganizationResult:
    organization_id: strawberry.ID = strawberry.field(
        description="The id of the organization the command acted on."
    )
    version: int = strawberry.field(description="The organization's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )
    organization: Organization | None = strawberry.field(
        description="The organization as your role may now read it (null if it may not)."
    )
