"""Compliance: a record's audit trail, its state as of a moment, the public directory as it
stood on a date, and the access log; legal holds and erasure of a caller's data.

Every role may ask; only the roles the policy gives an audit scope get an answer. Everyone
else gets exactly what a record that does not exist gets: null, or an empty page.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, cast
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.common import After, First, IdempotencyKey, PageInfo
from domain.base import InvalidInput, NotFound
from domain.directory import Outcome
from projections.audit import HistoryFilter, parse_moment

RECORDS_SCOPE = "Audit.records"
ACCESS_SCOPE = "Audit.access"
QUARANTINE_SCOPE = "Audit.quarantine"

RecordId = Annotated[strawberry.ID, strawberry.argument(
    description="The record's id: an organization, a reporting protocol or a case.")]
Moment = Annotated[str, strawberry.argument(description="A moment (ISO 8601).")]
CaseId = Annotated[strawberry.ID, strawberry.argument(description="The case's id.")]
Reason = Annotated[str, strawberry.argument(description="Why: kept on the record.")]


@strawberry.type(description="One event in a record's history: who acted, in which role, when, "
                             "why, from which request. Sealed values are masked.")
class AuditEvent:
    record_id: strawberry.ID = strawberry.field(description="The record's id.")
    record_type: str = strawberry.field(
        description="The kind of record: Organization, ReportingProtocol or Case.")
    version: int = strawberry.field(
        description="The event's version: its position in the record's history, from 1.")
    type: str = strawberry.field(description=(
        "What happened: the event's name (e.g. Organization.InclusionApproved, "
        "Case.ConsentGranted)."))
    at: str = strawberry.field(description="When it happened (ISO 8601, UTC).")
    actor_id: str | None = strawberry.field(
        description="The user id of whoever acted.")
    actor_role: str | None = strawberry.field(description="Their role.")
    request_id: str | None = strawberry.field(description="The id of the request that caused it.")
    reason: str | None = strawberry.field(description="The reason given, where one is required.")
    data: JSON = strawberry.field(description=(
        "The event's data, with sealed values (caller personal data, free text on a case) masked "
        "as [sealed]."))

    def access_key(self) -> tuple[str, str, str | None]:
        case = str(self.record_id) if self.record_type == "Case" else None
        return "AuditTrail", str(self.record_id), case


@strawberry.type(description="A page of a record's history.")
class AuditPage:
    items: list[AuditEvent] = strawberry.field(description="This page of events, oldest first.")
    page_info: PageInfo = strawberry.field(
        description="Whether more events follow, and where this page ends.")


@strawberry.type(description="A record as it stood at a version or a moment. Sealed values are "
                             "masked.")
class AuditState:
    record_id: strawberry.ID = strawberry.field(description="The record's id.")
    record_type: str = strawberry.field(
        description="The kind of record: Organization, ReportingProtocol or Case.")
    version: int = strawberry.field(description="The version it stood at.")
    created_at: str = strawberry.field(description="When the record was created (ISO 8601, UTC).")
    at: str = strawberry.field(description="When it reached that version (ISO 8601, UTC).")
    state: JSON = strawberry.field(
        description="The record's state then, with sealed values masked as [sealed].")

    def access_key(self) -> tuple[str, str, str | None]:
        case = str(self.record_id) if self.record_type == "Case" else None
        return "RecordAsOf", str(self.record_id), case


@strawberry.type(description="The public directory as it stood at a moment, rebuilt from the "
                             "events up to it.")
class DirectoryAsOf:
    at: str = strawberry.field(description="The moment asked for (ISO 8601).")
    count: int = strawberry.field(
        description="How many organizations were in the public directory then.")
    organizations: JSON = strawberry.field(description="Their public fields as they stood then.")


@strawberry.type(description="One read of confidential fields: who, which fields of which "
                             "record, when, from which request, under which policy version.")
class AccessEntry:
    at: str = strawberry.field(description="When the read was made (ISO 8601, UTC).")
    user_id: str = strawberry.field(
        description="Who read: a user id, or cli:<account> for a terminal command.")
    role: str = strawberry.field(description="Their role.")
    organization_id: str | None = strawberry.field(
        description="Their organization, for a partner or a liaison.")
    request_id: str = strawberry.field(description="The id of the request.")
    record_type: str = strawberry.field(
        description="The kind of record read (Case, DisclosedCopy, Organization, ...).")
    record_id: str = strawberry.field(description="The record's id.")
    case_id: str | None = strawberry.field(
        description="The case the record belongs to, when it does.")
    fields: list[str] = strawberry.field(description="The confidential fields read (their names).")
    policy_version: str = strawberry.field(
        description="The confidentiality policy in force (a hash of its files).")


@strawberry.type(description="A page of the access log.")
class AccessPage:
    items: list[AccessEntry] = strawberry.field(description="This page of reads, newest first.")
    page_info: PageInfo = strawberry.field(
        description="Whether more reads follow, and where this page ends.")


@strawberry.type(description="An event a read model could not apply, kept aside: the rest "
                             "of the log goes on, and the record's later events wait behind "
                             "it until an operator retries it after a fix. The error is its "
                             "type only.")
class QuarantinedEvent:
    position: int = strawberry.field(description="The event's position in the log.")
    read_model: str = strawberry.field(description="The read model that could not apply it.")
    record_id: strawberry.ID = strawberry.field(
        description="The record (case, organization or protocol) the event belongs to.")
    version: int = strawberry.field(description="The event's version within its record.")
    topic: str = strawberry.field(description="The event's stored type (its topic).")
    stage: str = strawberry.field(
        description="Where it failed: decoding the stored event, or applying it.")
    error: str = strawberry.field(
        description="The error's type only, never its message (which could quote a value).")
    at: str = strawberry.field(description="When it was first quarantined (ISO 8601, UTC).")
    attempts: int = strawberry.field(description="How many times applying it has failed.")

    def access_key(self) -> tuple[str, str, str | None]:
        case = str(self.record_id) if self.topic.startswith("domain.case:") else None
        return "QuarantinedEvent", str(self.record_id), case


@strawberry.input(description="Narrows a record's history; every condition must hold.")
class AuditFilter:
    since: str | None = strawberry.field(
        default=None, description="Only events at or after this moment (ISO 8601).")
    until: str | None = strawberry.field(
        default=None, description="Only events before this moment (ISO 8601).")
    actor_id: str | None = strawberry.field(
        default=None, description="Only events by this user id.")
    event_types: list[str] | None = strawberry.field(default=None, description=(
        "Only events of these types (their names, e.g. Case.ConsentGranted)."))


@strawberry.type(description="What a hold or erasure command did; a repeated key returns the "
                             "first result.")
class RecordResult:
    record_id: strawberry.ID = strawberry.field(
        description="The id of the case the command acted on.")
    version: int = strawberry.field(description="The case's version after the command.")
    replayed: bool = strawberry.field(
        description="True when the idempotency key had been used: nothing was written again.")


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
        record_id=strawberry.ID(entry["recordId"]), record_type=entry["recordType"],
        version=entry["version"], type=entry["type"], at=entry["at"], actor_id=entry["actorId"],
        actor_role=entry["actorRole"], request_id=entry["requestId"], reason=entry["reason"],
        data=entry["data"])


_EMPTY = PageInfo(has_next_page=False, end_cursor=None)


@strawberry.type
class AuditQueries:
    @strawberry.field(description="A record's history, oldest first (compliance and supervisors; "
                                  "for any other role, an empty page).")
    async def audit_trail(self, info: Info[Context, None], record_id: RecordId,
                          filter: Annotated[AuditFilter | None, strawberry.argument(
                              description="Narrows the history.")] = None,
                          first: First = 50, after: After = None) -> AuditPage:
        ctx = info.context
        _page_size(ctx, first)
        f = filter or AuditFilter()
        where = HistoryFilter(since=_moment(f.since, "filter.since"),
                              until=_moment(f.until, "filter.until"), actor_id=f.actor_id,
                              types=frozenset(f.event_types or ()))
        start = _number_after(after) or 0
        clean = parse_id(str(record_id))
        if clean is None or not _may(ctx, RECORDS_SCOPE):
            return AuditPage(items=[], page_info=_EMPTY)
        audit = ctx.system.audit

        entries = await ctx.run(audit.history, UUID(clean), where, first + 1, start)
        items = [_event(e) for e in entries[:first]]
        end = _number_cursor(items[-1].version) if items else None
        return AuditPage(items=items, page_info=PageInfo(has_next_page=len(entries) > first,
                                                         end_cursor=end))

    @strawberry.field(description="A record as it stood at a moment or a version (compliance and "
                                  "supervisors); null if it did not exist then.")
    async def record_as_of(self, info: Info[Context, None], record_id: RecordId,
                           at: Annotated[str | None, strawberry.argument(description=(
                               "The moment to replay to (ISO 8601). Give it or the "
                               "version."))] = None,
                           version: Annotated[int | None, strawberry.argument(
                               description="The version to replay to.")] = None,
                           ) -> AuditState | None:
        ctx = info.context
        if at is None and version is None:
            raise InvalidInput(["give the moment ('at') or the version to replay to"])
        moment = _moment(at, "at")
        clean = parse_id(str(record_id))
        if clean is None or not _may(ctx, RECORDS_SCOPE):
            return None
        ctx.rate_limit("replay")
        state = await ctx.run(lambda: ctx.system.audit.state_as_of(
            UUID(clean), version=version, moment=moment))
        if state is None:
            return None
        return AuditState(record_id=strawberry.ID(state["recordId"]),
                          record_type=state["recordType"], version=state["version"],
                          created_at=state["createdAt"], at=state["at"], state=state["state"])

    @strawberry.field(description="The public directory as it stood at a moment (compliance and "
                                  "supervisors); null for other roles.")
    async def public_directory_as_of(self, info: Info[Context, None],
                                     at: Moment) -> DirectoryAsOf | None:
        ctx = info.context
        moment = _moment(at, "at")
        if moment is None or not _may(ctx, RECORDS_SCOPE):
            return None
        ctx.rate_limit("replay")  # folds the organization log
        docs = await ctx.run(ctx.system.audit.public_directory_as_of, moment)
        return DirectoryAsOf(at=moment.isoformat(), count=len(docs),
                             organizations=cast(JSON, docs))

    @strawberry.field(description="Who read confidential fields: of one record (and its "
                                  "disclosed copies), or by one user. Newest first; compliance "
                                  "only, and this read is itself logged.")
    async def access_log(self, info: Info[Context, None],
                         record_id: Annotated[strawberry.ID | None, strawberry.argument(
                             description=("The record read (a case covers its disclosed "
                                          "copies). Give it or userId."))] = None,
                         user_id: Annotated[str | None, strawberry.argument(
                             description="The user who read. Give it or recordId.")] = None,
                         first: First = 50, after: After = None) -> AccessPage:
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
        rows = await ctx.run(lambda: ctx.system.access.entries(
            record_id=subject, user_id=user_id, first=first + 1, before=before))
        items = [AccessEntry(**{_SNAKE[k]: v for k, v in row.items() if k != "id"})
                 for row in rows[:first]]
        end = _number_cursor(rows[len(items) - 1]["id"]) if items else None
        return AccessPage(items=items, page_info=PageInfo(has_next_page=len(rows) > first,
                                                          end_cursor=end))


    @strawberry.field(description="Events the read models quarantined, in log order "
                                  "(compliance only; empty for other roles).")
    async def quarantined_events(self, info: Info[Context, None],
                                 first: First = 50) -> list[QuarantinedEvent]:
        ctx = info.context
        _page_size(ctx, first)
        if not _may(ctx, QUARANTINE_SCOPE):
            return []
        entries = await ctx.run(lambda: ctx.system.projector.quarantined(first))
        return [QuarantinedEvent(
            position=e.position, read_model=e.projection, record_id=strawberry.ID(e.record_id),
            version=e.version, topic=e.topic, stage=e.stage, error=e.error,
            at=datetime.fromtimestamp(e.at, UTC).isoformat(), attempts=e.attempts)
            for e in entries]


_SNAKE = {"at": "at", "userId": "user_id", "role": "role", "organizationId": "organization_id",
          "requestId": "request_id", "recordType": "record_type", "recordId": "record_id",
          "caseId": "case_id", "fields": "fields", "policyVersion": "policy_version"}


async def _on_case(ctx: Context, mutation: str, case_id: strawberry.ID,
                   command: Callable[[UUID], Outcome], *, slow: bool = False) -> RecordResult:
    """Runs a hold or erasure command on a case the caller may act on, as if any other case
    did not exist."""
    ctx.authorize(f"Mutation.{mutation}", None, "case")
    clean = parse_id(str(case_id))
    if clean is None:
        raise NotFound("case not found")
    outcome = await ctx.command(lambda: command(UUID(clean)), slow=slow)
    return RecordResult(record_id=strawberry.ID(str(outcome.id)), version=outcome.version,
                        replayed=outcome.replayed)


@strawberry.type
class AuditMutations:
    @strawberry.mutation(description="Erases the caller's personal data by destroying the case's "
                                     "key (a supervisor, with a reason; not under a legal hold).")
    async def erase_caller_data(self, info: Info[Context, None],
                                idempotency_key: IdempotencyKey, case_id: CaseId,
                                reason: Reason) -> RecordResult:
        app = info.context.system.app
        return await _on_case(info.context, "eraseCallerData", case_id,
                              lambda case: app.erase_personal_data(idempotency_key, case, reason),
                              slow=True)

    @strawberry.mutation(description="Records a legal hold (a supervisor, with a reason): the "
                                     "caller's data cannot be erased while it stands.")
    async def place_legal_hold(self, info: Info[Context, None],
                               idempotency_key: IdempotencyKey, case_id: CaseId,
                               reason: Reason) -> RecordResult:
        app = info.context.system.app
        return await _on_case(info.context, "placeLegalHold", case_id,
                              lambda case: app.place_legal_hold(idempotency_key, case, reason))

    @strawberry.mutation(description="Releases a case's legal hold, with a reason (a supervisor).")
    async def release_legal_hold(self, info: Info[Context, None],
                                 idempotency_key: IdempotencyKey, case_id: CaseId,
                                 reason: Reason) -> RecordResult:
        app = info.context.system.app
        return await _on_case(info.context, "releaseLegalHold", case_id,
                              lambda case: app.release_legal_hold(idempotency_key, case, reason))
