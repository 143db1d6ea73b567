"""The audit queries. Every role may ask; only the roles the policy gives an audit scope get
an answer, everyone else what a record that does not exist gets: null, or an empty page.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, Any, cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.audit.inputs import AuditFilter, Moment, RecordId
from api.schema.audit.types import (
    AccessEntry,
    AccessPage,
    AuditEvent,
    AuditPage,
    AuditState,
    DirectoryAsOf,
    QuarantinedEvent,
)
from api.schema.common import After, First, PageInfo
from domain.base import InvalidInput
from projections.audit import HistoryFilter, parse_moment

RECORDS_SCOPE = "Audit.records"
ACCESS_SCOPE = "Audit.access"
QUARANTINE_SCOPE = "Audit.quarantine"


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_moment(value)
    except ValueError as error:
        raise InvalidInput([f"{name}: {error}"]) from None


def _page_size(ctx: Context, first: int) -> None:
    limit = ctx.system.settings.max_page_size
    if not 1 <= first <= limit:
        raise InvalidInput([f"first must be between 1 and {limit}"])


def _number_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(f"n:{value}".encode()).decode()


def _number_after(after: str | None) -> int | None:
    if after is None:
        return None
    try:
        kind, number = base64.urlsafe_b64decode(after.encode()).decode().split(":")
        if kind != "n" or not number.isdigit() or len(number) > 18:
            raise ValueError
    except (ValueError, UnicodeError):
        raise InvalidInput(["after: not a cursor returned by this API"]) from None
    return int(number)


def _may(ctx: Context, scope: str) -> bool:
    return ctx.system.policy.allows(ctx.role, scope, "scope", "any")


def _event(entry: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        record_id=strawberry.ID(entry["recordId"]),
        record_type=entry["recordType"],
        version=entry["version"],
        type=entry["type"],
        at=entry["at"],
        actor_id=entry["actorId"],
        actor_role=entry["actorRole"],
        request_id=entry["requestId"],
        reason=entry["reason"],
        data=entry["data"],
    )


_EMPTY = PageInfo(has_next_page=False, end_cursor=None)


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="A record's history, oldest first (compliance and supervisors; "
        "for any other role, an empty page)."
    )
    async def audit_trail(
        self,
        info: Info[Context, None],
        record_id: RecordId,
        filter: Annotated[
            AuditFilter | None, strawberry.argument(description="Narrows the history.")
        ] = None,
        first: First = 50,
        after: After = None,
    ) -> AuditPage:
        ctx = info.context
        _page_size(ctx, first)
        f = filter or AuditFilter()
        where = HistoryFilter(
            since=_moment(f.since, "filter.since"),
            until=_moment(f.until, "filter.until"),
            actor_id=f.actor_id,
            types=frozenset(f.event_types or ()),
        )
        start = _number_after(after) or 0
        clean = parse_id(str(record_id))
        if clean is None or not _may(ctx, RECORDS_SCOPE):
            return AuditPage(items=[], page_info=_EMPTY)
        audit = ctx.system.audit

        entries = await ctx.run(audit.history, UUID(clean), where, first + 1, start)
        items = [_event(e) for e in entries[:first]]
        end = _number_cursor(items[-1].version) if items else None
        return AuditPage(
            items=items, page_info=PageInfo(has_next_page=len(entries) > first, end_cursor=end)
        )

    @strawberry.field(
        description="A record as it stood at a moment or a version (compliance and "
        "supervisors); null if it did not exist then."
    )
    async def record_as_of(
        self,
        info: Info[Context, None],
        record_id: RecordId,
        at: Annotated[
            str | None,
            strawberry.argument(
                description=("The moment to replay to (ISO 8601). Give it or the version.")
            ),
        ] = None,
        version: Annotated[
            int | None, strawberry.argument(description="The version to replay to.")
        ] = None,
    ) -> AuditState | None:
        ctx = info.context
        if at is None and version is None:
            raise InvalidInput(["give the moment ('at') or the version to replay to"])
        moment = _moment(at, "at")
        clean = parse_id(str(record_id))
        if clean is None or not _may(ctx, RECORDS_SCOPE):
            return None
        ctx.rate_limit("replay")
        state = await ctx.run(
            lambda: ctx.system.audit.state_as_of(UUID(clean), version=version, moment=moment)
        )
        if state is None:
            return None
        return AuditState(
            record_id=strawberry.ID(state["recordId"]),
            record_type=state["recordType"],
            version=state["version"],
            created_at=state["createdAt"],
            at=state["at"],
            state=state["state"],
        )

    @strawberry.field(
        description="The public directory as it stood at a moment (compliance and "
        "supervisors); null for other roles."
    )
    async def public_directory_as_of(
        self, info: Info[Context, None], at: Moment
    ) -> DirectoryAsOf | None:
        ctx = info.context
        moment = _moment(at, "at")
        if moment is None or not _may(ctx, RECORDS_SCOPE):
            return None
        ctx.rate_limit("replay")  # folds the organization log
        docs = await ctx.run(ctx.system.audit.public_directory_as_of, moment)
        return DirectoryAsOf(at=moment.isoformat(), count=len(docs), organizations=cast(JSON, docs))

    @strawberry.field(
        description="Who read confidential fields: of one record (and its "
        "disclosed copies), or by one user. Newest first; compliance "
        "only, and this read is itself logged."
    )
    async def access_log(
        self,
        info: Info[Context, None],
        record_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description=(
                    "The record read (a case covers its disclosed copies). Give it or userId."
                )
            ),
        ] = None,
        user_id: Annotated[
            str | None, strawberry.argument(description="The user who read. Give it or recordId.")
        ] = None,
        first: First = 50,
        after: After = None,
    ) -> AccessPage:
        ctx = info.context
        _page_size(ctx, first)
        if (record_id is None) == (user_id is None):
            raise InvalidInput(["name either recordId or userId"])
        if user_id is not None and not (0 < len(user_id) <= 200 and user_id.isprintable()):
            raise InvalidInput(["userId must be 1 to 200 printable characters"])
        before = _number_after(after)
        if not _may(ctx, ACCESS_SCOPE):
            return AccessPage(items=[], page_info=_EMPTY)
        subject = None if record_id is None else parse_id(str(record_id))
        if record_id is not None and subject is None:
            return AccessPage(items=[], page_info=_EMPTY)
        ctx.reads.add("AccessLog", subject or f"user:{user_id}", {"accessLog"})
        rows = await ctx.run(
            lambda: ctx.system.access.entries(
                record_id=subject, user_id=user_id, first=first + 1, before=before
            )
        )
        items = [
            AccessEntry(**{_SNAKE[k]: v for k, v in row.items() if k != "id"})
            for row in rows[:first]
        ]
        end = _number_cursor(rows[len(items) - 1]["id"]) if items else None
        return AccessPage(
            items=items, page_info=PageInfo(has_next_page=len(rows) > first, end_cursor=end)
        )

    @strawberry.field(
        description="Events the read models quarantined, in log order "
        "(compliance only; empty for other roles)."
    )
    async def quarantined_events(
        self, info: Info[Context, None], first: First = 50
    ) -> list[QuarantinedEvent]:
        ctx = info.context
        _page_size(ctx, first)
        if not _may(ctx, QUARANTINE_SCOPE):
            return []
        entries = await ctx.run(lambda: ctx.system.projector.quarantined(first))
        return [
            QuarantinedEvent(
                position=e.position,
                read_model=e.projection,
                record_id=strawberry.ID(e.record_id),
                version=e.version,
                topic=e.topic,
                stage=e.stage,
                error=e.error,
                at=datetime.fromtimestamp(e.at, UTC).isoformat(),
                attempts=e.attempts,
            )
            for e in entries
        ]


_SNAKE = {
    "at": "at",
    "userId": "user_id",
    "role": "role",
    "organizationId": "organization_id",
    "requestId": "request_id",
    "recordType": "record_type",
    "recordId": "record_id",
    "caseId": "case_id",
    "fields": "fields",
    "policyVersion": "policy_version",
}
