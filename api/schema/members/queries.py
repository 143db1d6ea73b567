"""Member queries: the memberships a caller manages, and the service accounts."""

from __future__ import annotations

import base64
import json
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.cases.inputs import check_page, parse_after
from api.schema.common import After, First, PageInfo
from api.schema.members.types import (
    MemberPage,
    ServiceAccount,
    build_member,
    build_service_account,
)
from projections.memberships import MemberDoc

OVERSIGHT = frozenset({"supervisor", "compliance"})


def _cursor(doc: MemberDoc) -> str:
    return base64.urlsafe_b64encode(json.dumps([doc["invitedAt"], doc["id"]]).encode()).decode()


def administered(ctx: Context) -> str | None:
    """The organization the caller administers (an active administrator's own), or None."""
    principal = ctx.principal
    if principal.organization_id is None:
        return None
    standing = ctx.system.members.current(principal.user_id)
    doc = ctx.system.memberships.get(principal.user_id)
    if standing is None or doc is None or not doc["administrator"]:
        return None
    return standing.organization_id


@strawberry.type
class MemberQueries:
    @strawberry.field(
        description=(
            "Memberships, newest invitation first: supervisors and compliance officers read "
            "every one (or one organization's); an organization's administrator reads its own "
            "organization's. Every read of an email address is in the access log."
        )
    )
    async def members(
        self,
        info: Info[Context, None],
        organization_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only this organization's members."),
        ] = None,
        first: First = 20,
        after: After = None,
    ) -> MemberPage:
        ctx = info.context
        check_page(first, ctx.system.settings.max_page_size)
        cursor = parse_after(after)
        org = None if organization_id is None else parse_id(str(organization_id))
        empty = MemberPage(items=[], page_info=PageInfo(has_next_page=False, end_cursor=None))
        if organization_id is not None and org is None:
            return empty
        if ctx.role not in OVERSIGHT:
            own = await ctx.run(administered, ctx)
            if own is None or (org is not None and org != own):
                return empty  # not theirs to read: as if there were none
            org = own
        docs = await ctx.run(ctx.system.memberships.page, org, first + 1, cursor)
        items = [build_member(doc) for doc in docs[:first]]
        end = _cursor(docs[len(items) - 1]) if items else None
        return MemberPage(
            items=items, page_info=PageInfo(has_next_page=len(docs) > first, end_cursor=end)
        )

    @strawberry.field(
        description=(
            "Every service account with its tokens and their last use: supervisors and "
            "compliance officers."
        )
    )
    async def service_accounts(self, info: Info[Context, None]) -> list[ServiceAccount]:
        ctx = info.context
        accounts = await ctx.run(ctx.system.memberships.service_accounts)
        return [build_service_account(doc, tokens) for doc, tokens in accounts]
