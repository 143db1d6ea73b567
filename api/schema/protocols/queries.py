"""The reporting protocols a role may read."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from api.context import Context
from api.schema.protocols.inputs import ProtocolId
from api.schema.protocols.types import ReportingProtocol
from domain.vocabulary import parse_codes


@strawberry.type
class ProtocolQueries:
    @strawberry.field(
        description="Reporting protocols your role may read (a liaison: only their own agency's)."
    )
    async def reporting_protocols(
        self,
        info: Info[Context, None],
        province: Annotated[
            str | None,
            strawberry.argument(
                description=("Only protocols for this province or territory (ISO 3166-2:CA code).")
            ),
        ] = None,
    ) -> list[ReportingProtocol]:
        if province is not None:
            parse_codes([province], [])
        docs, visible = await info.context.protocols(province)
        return [ReportingProtocol.from_doc(doc, visible) for doc in docs]

    @strawberry.field(description="One reporting protocol your role may read, or null.")
    async def reporting_protocol(
        self, info: Info[Context, None], id: ProtocolId
    ) -> ReportingProtocol | None:
        found = await info.context.protocol(str(id))
        return None if found is None else ReportingProtocol.from_doc(*found)
