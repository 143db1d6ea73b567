"""The work queues a caller may read, and their counts."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from api.context import Context
from api.schema.cases.inputs import check_page, parse_after
from api.schema.common import After, First, PageInfo
from api.schema.queues.types import (
    WorkQueuePage,
    WorkQueueSummary,
    encode_cursor,
    now,
    readable,
    visible_queues,
    work_item,
)
from domain.queues import QUEUES, QueueName

QueueArgument = Annotated[QueueName, strawberry.argument(description="The queue to read.")]


@strawberry.type
class QueueQueries:
    @strawberry.field(
        description=(
            "One work queue, the soonest due first: what needs doing and by when. A queue your "
            "role does not read is empty; a partner's or agency's queues hold only its own "
            "items."
        )
    )
    async def work_queue(
        self,
        info: Info[Context, None],
        queue: QueueArgument,
        first: First = 20,
        after: After = None,
    ) -> WorkQueuePage:
        ctx = info.context
        check_page(first, ctx.system.settings.max_page_size)
        cursor = parse_after(after)
        which = QUEUES[queue]
        allowed, owner = await readable(ctx, which)
        at = now()
        found = await ctx.run(ctx.work.page, which, owner, at, first + 1, cursor) if allowed else []
        page = found[:first]
        # Whether anything is queued can tell that a case, referral or report exists.
        ctx.reads.searched(
            "Query.workQueue",
            ("queue",),
            (("WorkItem", item.id, work_item(item, at).access_key()[2]) for item in page),
        )
        return WorkQueuePage(
            items=[work_item(item, at) for item in page],
            page_info=PageInfo(
                has_next_page=len(found) > first,
                end_cursor=encode_cursor(page[-1]) if page else None,
            ),
        )

    @strawberry.field(
        description="How many items each queue your role reads holds for you now, and how many "
        "of them are overdue."
    )
    async def work_queues(self, info: Info[Context, None]) -> list[WorkQueueSummary]:
        ctx = info.context
        at = now()
        summaries = []
        for queue, owner in await visible_queues(ctx):
            count, overdue = await ctx.run(ctx.work.count, queue, owner, at)
            summaries.append(WorkQueueSummary(queue=queue.name, count=count, overdue=overdue))
        ctx.reads.searched("Query.workQueues", (), ())
        return summaries
