"""What a reader of a work queue sees, and which queues a caller reads."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import strawberry

from api.context import Context
from api.schema import vocabulary
from api.schema.cases.inbox import still_included
from api.schema.common import PageInfo
from domain.queues import HOTLINE, QUEUES, Queue, QueueName, SubjectKind
from projections.aggregates import iso
from projections.queues import QueuedItem

vocabulary.describe(
    QueueName,
    "A queue of work: what needs doing, for whom, and by when.",
    {
        "FOLLOW_UPS": "Open cases whose caller agreed to be contacted again: due "
        "NRD_FOLLOW_UP_DAYS after the latest such consent. Listed once due.",
        "SUPERVISOR_REQUESTS": "Cases where staff asked for a supervisor (requestSupervisor) "
        "and no decision has answered yet (supervisors).",
        "MANDATORY_REPORT_DECISIONS": "Cases flagged because a minor is or may be involved in "
        "abuse or trafficking, waiting for a supervisor's report or written decision that none "
        "is required (supervisors).",
        "REFERRALS_WITHOUT_OUTCOME": "Referrals with no outcome reported "
        "NRD_REFERRAL_OUTCOME_DAYS after they were made. Listed once due.",
        "REFERRALS_DECLINED": "Referrals a partner declined, on open cases with no referral "
        "made since: the caller needs another organization.",
        "APPLICATIONS_TO_REVIEW": "Applications for inclusion, and answers to requests for "
        "information, waiting for a review.",
        "POSSIBLE_DUPLICATES": "Applications that look like an organization already known "
        "(name, postal code or email), while staff have not decided: the application's "
        "possibleDuplicates links them.",
        "REVIEWS_DUE": "Included organizations whose periodic review is due "
        "(NRD_REVIEW_INTERVAL_DAYS after their record was last confirmed). Listed once due.",
        "UNREACHABLE_ORGANIZATIONS": "Included organizations flagged unreachable after failed "
        "contact attempts.",
        "INFORMATION_REQUESTS_UNANSWERED": "Organizations asked for more information that have "
        "not answered NRD_INFORMATION_ANSWER_DAYS later. Listed once due.",
        "PROTOCOLS_TO_REVISE": "Reporting protocols whose contacts were not revised within "
        "NRD_PROTOCOL_REVISION_DAYS (a protocol records revisions, not confirmations). Listed "
        "once due.",
        "REFERRALS_TO_ANSWER": "Referrals sent to a partner that it has neither accepted nor "
        "declined (answerReferral) nor reported an outcome for: due NRD_REFERRAL_OUTCOME_DAYS "
        "after they were made.",
        "INFORMATION_REQUESTED": "A partner's own organization, asked for more information: "
        "due NRD_INFORMATION_ANSWER_DAYS after the request.",
        "REPORTS_TO_ACKNOWLEDGE": "Reports sent to an agency that its liaison has not "
        "acknowledged yet (acknowledgeReport).",
    },
    name="WorkQueueName",
)
vocabulary.describe(
    SubjectKind,
    "What a work item is about.",
    {
        "CASE": "A case (its id is the case's).",
        "REFERRAL": "A referral (its id is the referral's, as in the referral inbox).",
        "REPORT": "A report to law enforcement (its id is the report's, as in the report inbox).",
        "ORGANIZATION": "An organization of the directory.",
        "REPORTING_PROTOCOL": "A reporting protocol.",
    },
    name="WorkSubjectKind",
)


# Items about a case's referral or report: their case's id is the hotline's alone.
CASE_ITEMS = frozenset({SubjectKind.REFERRAL, SubjectKind.REPORT})


def queue_scope(ctx: Context, queue: Queue) -> tuple[bool, str | None]:
    """Whether the caller reads ``queue``, and whose items: every owner's (None) or its own
    organization's only. The policy's ``WorkQueue.<NAME>`` scope lines decide."""
    policy, name = ctx.system.policy, f"WorkQueue.{queue.name.value}"
    if policy.allows(ctx.role, name, "scope", "any"):
        return True, None
    own = ctx.principal.organization_id
    if own is not None and policy.allows(ctx.role, name, "scope", "own"):
        return True, own
    return False, None


async def readable(ctx: Context, queue: Queue) -> tuple[bool, str | None]:
    """``queue_scope``; and a partner or agency no longer included reads no referral or report
    through a queue, as it reads none through its inbox."""
    allowed, owner = queue_scope(ctx, queue)
    if allowed and owner is not None and queue.subject_kind in CASE_ITEMS:
        allowed = await still_included(ctx, owner)
    return allowed, owner


async def visible_queues(ctx: Context) -> list[tuple[Queue, str | None]]:
    scopes = [(queue, await readable(ctx, queue)) for queue in QUEUES.values()]
    return [(queue, owner) for queue, (allowed, owner) in scopes if allowed]


def now() -> datetime:
    return datetime.now(UTC)


@strawberry.type(
    description=(
        "One piece of work in a queue. Read by those the queue is for; every read is in the "
        "access log (an item can tell that a case, referral or report exists)."
    )
)
class WorkItem:
    id: strawberry.ID = strawberry.field(
        description="The item's id: pass it, with its queue, to assign or complete it."
    )
    queue: QueueName = strawberry.field(description="The queue it is in.")
    kind: SubjectKind = strawberry.field(description="What it is about.")
    subject_id: strawberry.ID = strawberry.field(
        description="The id of what it is about (a case, referral, report, organization or "
        "protocol, as `kind` says)."
    )
    case_id: strawberry.ID | None = strawberry.field(
        description="The case a referral or report item belongs to (staff and supervisors)."
    )
    organization_id: strawberry.ID | None = strawberry.field(
        description="The partner or agency whose item it is; null for the hotline's own."
    )
    since: str = strawberry.field(
        description="When its cause arose (ISO 8601, UTC): the queue's order."
    )
    due_at: str = strawberry.field(description="When it is due (ISO 8601, UTC).")
    overdue: bool = strawberry.field(description="Whether it is due now or was due before.")
    assigned_to: str | None = strawberry.field(
        description="The user it was assigned to; null when nobody has taken it up."
    )
    _case: strawberry.Private[str | None] = None

    def access_key(self) -> tuple[str, str, str | None]:
        return "WorkItem", str(self.id), self._case


def work_item(item: QueuedItem, at: datetime) -> WorkItem:
    queue = QUEUES[item.queue]
    case = item.record_id if queue.subject_kind in CASE_ITEMS else None
    if queue.subject_kind is SubjectKind.CASE:
        case = item.subject_id
    return WorkItem(
        id=strawberry.ID(item.id),
        queue=item.queue,
        kind=queue.subject_kind,
        subject_id=strawberry.ID(item.subject_id),
        case_id=None if case is None else strawberry.ID(case),
        organization_id=None if item.owner == HOTLINE else strawberry.ID(item.owner),
        since=item.since,
        due_at=item.due_at,
        overdue=item.due_at <= (iso(at) or ""),
        assigned_to=item.assigned_to,
        _case=case,
    )


def encode_cursor(item: QueuedItem) -> str:
    return base64.urlsafe_b64encode(json.dumps([item.since, item.id]).encode()).decode()


@strawberry.type(description="A page of a work queue, the soonest due first.")
class WorkQueuePage:
    items: list[WorkItem] = strawberry.field(description="This page's items.")
    page_info: PageInfo = strawberry.field(
        description="Whether more items follow, and where this page ends."
    )


@strawberry.type(description="How much work one queue holds for you now.")
class WorkQueueSummary:
    queue: QueueName = strawberry.field(description="The queue.")
    count: int = strawberry.field(description="Its open items listed now.")
    overdue: int = strawberry.field(description="Of those, how many are due now or overdue.")


@strawberry.type(
    description="What assigning or completing a work item did; a repeated key returns the "
    "first result."
)
class WorkItemResult:
    item_id: strawberry.ID = strawberry.field(description="The work item's id.")
    version: int = strawberry.field(description="The work item's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again."
    )
    item: WorkItem | None = strawberry.field(
        description="The item as its queue now shows it; null once completed."
    )
