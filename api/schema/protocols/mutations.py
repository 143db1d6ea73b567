"""Establishing a reporting protocol and revising its contact list."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.common import IdempotencyKey, to_plain
from api.schema.protocols.inputs import ProtocolContactInput, ProtocolId
from api.schema.protocols.types import ProtocolResult, ReportingProtocol
from domain.base import NotFound
from domain.write_path import Outcome


async def _result(ctx: Context, outcome: Outcome) -> ProtocolResult:
    found = await ctx.protocol(str(outcome.id))
    return ProtocolResult(
        protocol_id=strawberry.ID(str(outcome.id)),
        version=outcome.version,
        replayed=outcome.replayed,
        protocol=None if found is None else ReportingProtocol.from_doc(*found),
    )


@strawberry.type
class ProtocolMutations:
    @strawberry.mutation(
        description=(
            "Establish an agency's reporting protocol for a jurisdiction, one per agency and "
            "jurisdiction (staff and supervisors, or the agency's own liaison)."
        )
    )
    async def establish_reporting_protocol(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        agency_id: Annotated[
            strawberry.ID, strawberry.argument(description="The law-enforcement agency's id.")
        ],
        province: Annotated[
            str,
            strawberry.argument(
                description="The jurisdiction's province or territory (ISO 3166-2:CA code)."
            ),
        ],
        contacts: Annotated[
            list[ProtocolContactInput],
            strawberry.argument(description="The personnel who receive the hotline's reports."),
        ],
        municipality: Annotated[
            str | None,
            strawberry.argument(
                description=(
                    "The jurisdiction's municipality; omitted, the whole province or territory."
                )
            ),
        ] = None,
    ) -> ProtocolResult:
        ctx = info.context
        agency = parse_id(str(agency_id))
        ctx.authorize("Mutation.establishReportingProtocol", agency, "organization")
        if agency is None:
            raise NotFound("organization not found")
        outcome = await ctx.command(
            lambda: ctx.system.app.establish_reporting_protocol(
                idempotency_key, UUID(agency), province, municipality, to_plain(contacts)
            )
        )
        return await _result(ctx, outcome)

    @strawberry.mutation(
        description=(
            "Replace a protocol's contact list; every revision is kept (staff and supervisors, or "
            "the agency's own liaison)."
        )
    )
    async def revise_protocol_contacts(
        self,
        info: Info[Context, None],
        idempotency_key: IdempotencyKey,
        id: ProtocolId,
        contacts: Annotated[
            list[ProtocolContactInput],
            strawberry.argument(description="The whole contact list as it should read."),
        ],
        note: Annotated[str, strawberry.argument(description="A note on the change.")] = "",
    ) -> ProtocolResult:
        ctx = info.context
        clean = parse_id(str(id))
        if clean is None:
            raise NotFound("reporting protocol not found")
        agency: str | None
        if (scope := ctx.protocol_scope()) is not None and scope[1] is not None:
            # A caller who reads only its own agency's protocols: whose it is is decided in
            # the read model's query (where the caller found the id), so another agency's
            # costs what a missing one does; loading the aggregate would cost more, or less
            # when cached, than finding none.
            found = await ctx.protocol(clean)
            agency = None if found is None else found[0]["agencyId"]
        else:
            agency = str(await ctx.run(ctx.system.app.protocol_agency, UUID(clean)))
        ctx.authorize("Mutation.reviseProtocolContacts", agency, "reporting protocol")
        outcome = await ctx.command(
            lambda: ctx.system.app.revise_protocol_contacts(
                idempotency_key, UUID(clean), to_plain(contacts), note
            )
        )
        return await _result(ctx, outcome)
