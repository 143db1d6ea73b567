"""The directory's queries: the internal directory for the hotline's roles, the public one
for everyone else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from api.context import Context, camel
from api.schema.common import After, First, PageInfo, selected, to_plain
from api.schema.directory.inputs import MAX_SEARCH_LENGTH, DirectoryFilter, OrganizationId
from api.schema.directory.organization import Organization, review_interval
from api.schema.directory.types import DirectoryConnection, DirectoryEdge, Facet, FacetValue
from domain.base import InvalidInput
from domain.rules import review_cutoff
from domain.vocabulary import parse_codes
from projections.aggregates import iso
from projections.directory import DirectoryQuery, encode_cursor, sort_key

_FACET_OF_FILTER = {
    "provinces": "province",
    "service_categories": "serviceCategory",
    "service_natures": "serviceNature",
    "focus_areas": "focusArea",
    "populations": "population",
    "languages": "language",
    "kinds": "kind",
}


def _query(
    ctx: Context, search: str | None, filter: DirectoryFilter | None, first: int, after: str | None
) -> DirectoryQuery:
    problems = []
    limit = ctx.system.settings.max_page_size
    if not 1 <= first <= limit:
        problems.append(f"first must be between 1 and {limit}")
    if search is not None and len(search) > MAX_SEARCH_LENGTH:
        problems.append(f"search must be at most {MAX_SEARCH_LENGTH} characters")
    facets: dict[str, list[str]] = {}
    extra: dict[str, Any] = {}
    if filter is not None:
        ctx.check_filters("DirectoryFilter", filter)
        for name, value in vars(filter).items():
            if value is None:
                continue
            if name in _FACET_OF_FILTER:
                facets[_FACET_OF_FILTER[name]] = [to_plain(v) for v in value]
            else:
                extra[name] = value
    if problems:
        raise InvalidInput(problems)
    parse_codes(facets.get("province", []), facets.get("language", []))
    cutoff = None
    if extra.get("review_due"):
        cutoff = iso(review_cutoff(datetime.now(UTC), review_interval(ctx)))
    return DirectoryQuery(
        text=search or "",
        facets=facets,
        statuses=[to_plain(s) for s in extra.get("statuses") or []],
        review_due_before=cutoff,
        flagged_unreachable=extra.get("flagged_unreachable"),
        possible_duplicate=extra.get("possible_duplicate"),
        first=first,
        after=after,
    )


@strawberry.type
class DirectoryQueries:
    @strawberry.field(
        description="Search the directory your role may read: the internal one "
        "for the hotline's roles (staff, supervisors, compliance), "
        "the public one for everyone else."
    )
    async def directory(
        self,
        info: Info[Context, None],
        search: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "Words to find in names, descriptions and services, in English "
                    "or French (up to 200 characters)."
                )
            ),
        ] = None,
        filter: Annotated[
            DirectoryFilter | None, strawberry.argument(description="Narrows the results.")
        ] = None,
        first: First = 20,
        after: After = None,
    ) -> DirectoryConnection:
        ctx = info.context
        query = _query(ctx, search, filter, first, after)
        # Counting and faceting cost a query each: run them only when they are asked for;
        # and build only the fields and cursors the query selects.
        wanted = selected(info)
        page, visible = await ctx.search(query, "facets" in wanted, "totalCount" in wanted)
        if filter is not None and query.possible_duplicate is not None:
            # Which applications look like an organization already known is the hotline's:
            # the search is logged (the filters by name), with each organization that answered.
            ctx.reads.searched(
                "Query.directory",
                (camel(k) for k, v in vars(filter).items() if v is not None),
                (("Organization", str(doc["id"]), None) for doc in page.docs),
            )
        fields = visible & selected(info, "edges", "node")
        with_cursor = "cursor" in selected(info, "edges")
        interval = review_interval(ctx)
        edges = [
            DirectoryEdge(
                cursor=encode_cursor(sort_key(doc["nameEn"]), doc["id"]) if with_cursor else "",
                node=Organization.from_doc(doc, fields, interval),
            )
            for doc in page.docs
        ]
        facets = [
            Facet(name=name, values=[FacetValue(value=v, count=c) for v, c in values.items()])
            for name, values in sorted(page.facets.items())
        ]
        return DirectoryConnection(
            edges=edges,
            total_count=page.total,
            facets=facets,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )

    @strawberry.field(
        description="One organization, or null when it does not exist or your "
        "role may not see it (the two answers are the same)."
    )
    async def organization(
        self, info: Info[Context, None], id: OrganizationId
    ) -> Organization | None:
        found = await info.context.organization(str(id))
        if found is None:
            return None
        doc, visible = found
        return Organization.from_doc(doc, visible & selected(info), review_interval(info.context))
