"""Contact commands: record a contact, attach one to a case."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.cases.inputs import CaseId
from api.schema.common import IdempotencyKey, selected
from api.schema.contacts.inputs import ContactId, RecordContactInput
from api.schema.contacts.types import ContactResult, build_contact
from domain.base import InvalidInput, NotFound
from domain.write_path import Outcome
from projections.audit import parse_moment


async def _contact_result(info: Info[Context, None], outcome: Outcome) -> ContactResult:
    ctx = info.context
    contact = None
    if "contact" in selected(info):  # the read model, only when asked for
        doc = await ctx.run(ctx.contacts.get, str(outcome.id))
        contact = None if doc is None else build_contact(doc)
    return ContactResult(
        contact_id=strawberry.ID(str(outcome.id)),
        version=outcome.version,
        replayed=outcome.replayed,
        contact=contact,
    )


def _id(value: str, what: str) -> UUID:
    clean = parse_id(value)
    if clean is None:
        raise NotFound(f"{what} not found")
    return UUID(clean)


@strawberry.type
class ContactMutations:
    @strawberry.mutation(
        description=(
            "Record a contact with the hotline, with or without a case (staff and supervisors). "
            "An outbound contact calls a caller back: it needs the case's active follow-up consent."
        )
    )
    async def record_contact(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        input: Annotated[RecordContactInput, strawberry.argument(description="The contact.")],
    ) -> ContactResult:
        ctx = info.context
        ctx.authorize("Mutation.recordContact", None, "contact")
        case_id = None if input.case_id is None else _id(str(input.case_id), "case")
        try:
            started_at = parse_moment(input.started_at)
        except ValueError as error:
            raise InvalidInput([f"startedAt: {error}"]) from None
        outcome = await ctx.command(
            lambda: ctx.system.app.record_contact(
                idempotency_key,
                input.channel,
                input.direction,
                started_at,
                input.duration_seconds,
                input.language,
                input.disposition,
                input.province,
                case_id,
            )
        )
        return await _contact_result(info, outcome)

    @strawberry.mutation(
        description=(
            "Attach a contact recorded without a case to one, once (staff and supervisors)."
        )
    )
    async def attach_contact_to_case(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: ContactId,
        case_id: CaseId,
    ) -> ContactResult:
        ctx = info.context
        ctx.authorize("Mutation.attachContactToCase", None, "contact")
        contact_id = _id(str(id), "contact")
        case = _id(str(case_id), "case")
        outcome = await ctx.command(
            lambda: ctx.system.app.attach_contact(idempotency_key, contact_id, case)
        )
        return await _contact_result(info, outcome)
