"""Legal holds and the erasure of a caller's data."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.audit.inputs import CaseId, Reason
from api.schema.audit.types import RecordResult
from api.schema.common import IdempotencyKey
from domain.base import NotFound
from domain.write_path import Outcome


async def _on_case(
    ctx: Context,
    mutation: str,
    case_id: strawberry.ID,
    command: Callable[[UUID], Outcome],
    *,
    slow: bool = False,
) -> RecordResult:
    """Runs a hold or erasure command on a case the caller may act on, as if any other case
    did not exist."""
    ctx.authorize(f"Mutation.{mutation}", None, "case")
    clean = parse_id(str(case_id))
    if clean is None:
        raise NotFound("case not found")
    outcome = await ctx.command(lambda: command(UUID(clean)), slow=slow)
    return RecordResult(
        record_id=strawberry.ID(str(outcome.id)), version=outcome.version, replayed=outcome.replayed
    )


@strawberry.type
class AuditMutations:
    @strawberry.mutation(
        description="Erases the caller's personal data by destroying the case's "
        "key (a supervisor, with a reason; not under a legal hold)."
    )
    async def erase_caller_data(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        case_id: CaseId,
        reason: Reason,
    ) -> RecordResult:
        app = info.context.system.app
        return await _on_case(
            info.context,
            "eraseCallerData",
            case_id,
            lambda case: app.erase_personal_data(idempotency_key, case, reason),
            slow=True,
        )

    @strawberry.mutation(
        description="Records a legal hold (a supervisor, with a reason): the "
        "caller's data cannot be erased while it stands."
    )
    async def place_legal_hold(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        case_id: CaseId,
        reason: Reason,
    ) -> RecordResult:
        app = info.context.system.app
        return await _on_case(
            info.context,
            "placeLegalHold",
            case_id,
            lambda case: app.place_legal_hold(idempotency_key, case, reason),
        )

    @strawberry.mutation(description="Releases a case's legal hold, with a reason (a supervisor).")
    async def release_legal_hold(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        case_id: CaseId,
        reason: Reason,
    ) -> RecordResult:
        app = info.context.system.app
        return await _on_case(
            info.context,
            "releaseLegalHold",
            case_id,
            lambda case: app.release_legal_hold(idempotency_key, case, reason),
        )
