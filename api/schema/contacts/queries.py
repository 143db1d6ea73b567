"""Contact queries: the hotline's contacts, one contact, and public counts of contacts."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.cases.inputs import check_page, parse_after
from api.schema.common import After, First, PageInfo
from api.schema.contacts.enums import ContactStatisticsDimension
from api.schema.contacts.inputs import ContactId
from api.schema.contacts.types import Contact, ContactPage, ContactStatisticsCell, build_contact
from projections.contacts import ContactFilter


def _cursor(at: str, item_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, item_id]).encode()).decode()


@strawberry.type
class ContactQueries:
    @strawberry.field(
        description=(
            "Contacts with the hotline, newest first: staff, supervisors and compliance officers. "
            "Every contact read is in the access log."
        )
    )
    async def contacts(
        self,
        info: Info[Context, None],
        unattached: Annotated[
            bool | None,
            strawberry.argument(
                description="True: only contacts with no case; false: only those with one."
            ),
        ] = None,
        first: First = 20,
        after: After = None,
    ) -> ContactPage:
        ctx = info.context
        check_page(first, ctx.system.settings.max_page_size)
        docs = await ctx.run(
            ctx.contacts.search, ContactFilter(unattached=unattached), first + 1, parse_after(after)
        )
        # Whether anyone contacted the hotline is itself confidential, an empty answer too.
        ctx.reads.searched(
            "Query.contacts",
            ["unattached"] if unattached is not None else [],
            (("Contact", d["id"], d["caseId"]) for d in docs[:first]),
        )
        items = [build_contact(doc) for doc in docs[:first]]
        last = docs[len(items) - 1] if items else None
        end = _cursor(last["startedAt"], last["id"]) if last else None
        return ContactPage(
            items=items, page_info=PageInfo(has_next_page=len(docs) > first, end_cursor=end)
        )

    @strawberry.field(
        description=(
            "One contact, or null: staff, supervisors and compliance officers. The read is in the "
            "access log."
        )
    )
    async def contact(self, info: Info[Context, None], id: ContactId) -> Contact | None:
        ctx = info.context
        clean = parse_id(str(id))
        doc = None if clean is None else await ctx.run(ctx.contacts.get, clean)
        return None if doc is None else build_contact(doc)

    @strawberry.field(
        description=(
            "De-identified counts of contacts with the hotline started in completed months, by "
            "one dimension, tests and pranks left out; small counts are suppressed and the others "
            "rounded, as for cases. Everyone."
        )
    )
    async def contact_statistics(
        self,
        info: Info[Context, None],
        dimension: Annotated[
            ContactStatisticsDimension,
            strawberry.argument(description="What to count the contacts by."),
        ],
    ) -> list[ContactStatisticsCell]:
        ctx = info.context
        cells = await ctx.run(
            ctx.contacts.statistics,
            dimension.value,
            datetime.now(UTC),
            ctx.system.settings.statistics_threshold,
        )
        return [ContactStatisticsCell(value=v, count=n) for v, n in cells]
