"""Taking up a queued item and completing it: events on the item's own record."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.common import IdempotencyKey
from api.schema.queues.queries import QueueArgument
from api.schema.queues.types import WorkItemResult, now, queue_scope, readable, work_item
from domain.base import NotFound
from domain.queues import QUEUES, QueueName
from projections.queues import QueuedItem

ItemId = Annotated[strawberry.ID, strawberry.argument(description="The work item's id.")]


async def _find(ctx: Context, coordinate: str, queue_name: QueueName, item: str) -> QueuedItem:
    """The open item if the caller's queue holds it; otherwise not found, exactly as for an
    item that does not exist."""
    queue = QUEUES[queue_name]
    allowed, owner = await readable(ctx, queue)
    clean = parse_id(str(item))
    found = None
    if allowed and clean is not None:
        found = await ctx.run(ctx.work.get, queue, owner, clean, now())
    ctx.authorize(coordinate, found.owner if found else None, "work item")
    if found is None:
        raise NotFound("work item not found")
    return found


async def _result(ctx: Context, found: QueuedItem, version: int, replayed: bool) -> WorkItemResult:
    queue = QUEUES[found.queue]
    _, owner = queue_scope(ctx, queue)
    at = now()
    again = await ctx.run(ctx.work.get, queue, owner, found.id, at)
    return WorkItemResult(
        item_id=strawberry.ID(found.id),
        version=version,
        replayed=replayed,
        item=None if again is None else work_item(again, at),
    )


@strawberry.type
class QueueMutations:
    @strawberry.mutation(
        description="Assign a queued item to someone (staff and supervisors): it stays in its "
        "queue, showing who took it up."
    )
    async def assign_work_item(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        queue: QueueArgument,
        id: ItemId,
        assignee: Annotated[
            str, strawberry.argument(description="The user id of whoever takes it up.")
        ],
    ) -> WorkItemResult:
        ctx = info.context
        found = await _find(ctx, "Mutation.assignWorkItem", queue, str(id))
        outcome = await ctx.command(
            lambda: ctx.system.app.assign_work_item(
                idempotency_key, queue.value, found.subject_id, found.since, found.owner, assignee
            )
        )
        return await _result(ctx, found, outcome.version, outcome.replayed)

    @strawberry.mutation(
        description="Complete a queued item: it leaves its queue. Staff and supervisors; a "
        "partner or liaison completes its own organization's items."
    )
    async def complete_work_item(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        queue: QueueArgument,
        id: ItemId,
    ) -> WorkItemResult:
        ctx = info.context
        found = await _find(ctx, "Mutation.completeWorkItem", queue, str(id))
        outcome = await ctx.command(
            lambda: ctx.system.app.complete_work_item(
                idempotency_key, queue.value, found.subject_id, found.since, found.owner
            )
        )
        return await _result(ctx, found, outcome.version, outcome.replayed)
