"""Law-enforcement reporting protocols: living contact lists, with every revision kept."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from api.context import Context, parse_id
from api.schema.common import to_plain
from api.schema.directory import review_interval
from api.schema.organization import Organization
from domain.base import NotFound
from domain.directory import Outcome
from domain.vocabulary import parse_codes


@strawberry.type
class ProtocolContact:
    name: str
    role: str | None = None
    phone: str | None = None
    email: str | None = None
    availability: str | None = None


@strawberry.type
class ProtocolRevision:
    revision: int
    at: str
    actor_id: str
    actor_role: str
    note: str
    contacts: list[ProtocolContact]


def _contacts(values: list[dict[str, Any]]) -> list[ProtocolContact]:
    return [ProtocolContact(name=c["name"], role=c.get("role"), phone=c.get("phone"),
                            email=c.get("email"), availability=c.get("availability"))
            for c in values]


@strawberry.type(description="An agency's reporting protocol for one jurisdiction: who "
                             "receives the hotline's reports there.")
class ReportingProtocol:
    id: strawberry.ID
    agency_id: strawberry.ID | None = None
    province: str | None = None
    municipality: str | None = None
    contacts: list[ProtocolContact] | None = None
    updated_at: str | None = None
    revisions: list[ProtocolRevision] | None = None

    def access_key(self) -> tuple[str, str, str | None]:
        return "ReportingProtocol", str(self.id), None

    @strawberry.field(description="The agency, as your role may see it.")
    async def agency(self, info: Info[Context, None]) -> Organization | None:
        if self.agency_id is None:
            return None
        found = await info.context.organization(str(self.agency_id))
        if found is None:
            return None
        return Organization.from_doc(found[0], found[1], review_interval(info.context))

    @classmethod
    def from_doc(cls, doc: dict[str, Any], visible: frozenset[str]) -> ReportingProtocol:
        built: dict[str, Any] = {
            "agencyId": lambda: strawberry.ID(doc["agencyId"]),
            "province": lambda: doc["province"],
            "municipality": lambda: doc.get("municipality"),
            "contacts": lambda: _contacts(doc["contacts"]),
            "updatedAt": lambda: doc["updatedAt"],
            "revisions": lambda: [
                ProtocolRevision(revision=r["revision"], at=r["at"], actor_id=r["actorId"],
                                 actor_role=r["actorRole"], note=r["note"],
                                 contacts=_contacts(r["contacts"]))
                for r in doc["revisions"]],
        }
        names = {"agencyId": "agency_id", "updatedAt": "updated_at"}
        kwargs = {names.get(k, k): make() for k, make in built.items() if k in visible}
        return cls(id=strawberry.ID(doc["id"]), **kwargs)


@strawberry.input
class ProtocolContactInput:
    name: str
    role: str | None = None
    phone: str | None = None
    email: str | None = None
    availability: str | None = None


@strawberry.type
class ProtocolResult:
    protocol_id: strawberry.ID
    version: int
    replayed: bool
    protocol: ReportingProtocol | None


@strawberry.type
class ProtocolQueries:
    @strawberry.field(description="Reporting protocols your role may read (a liaison: only "
                                  "their own agency's).")
    async def reporting_protocols(self, info: Info[Context, None],
                                  province: str | None = None) -> list[ReportingProtocol]:
        if province is not None:
            parse_codes([province], [])
        docs, visible = await info.context.protocols(province)
        return [ReportingProtocol.from_doc(doc, visible) for doc in docs]

    @strawberry.field
    async def reporting_protocol(self, info: Info[Context, None],
                                 id: strawberry.ID) -> ReportingProtocol | None:
        found = await info.context.protocol(str(id))
        return None if found is None else ReportingProtocol.from_doc(*found)


async def _result(ctx: Context, outcome: Outcome) -> ProtocolResult:
    found = await ctx.protocol(str(outcome.id))
    return ProtocolResult(protocol_id=strawberry.ID(str(outcome.id)), version=outcome.version,
                          replayed=outcome.replayed,
                          protocol=None if found is None else ReportingProtocol.from_doc(*found))


@strawberry.type
class ProtocolMutations:
    @strawberry.mutation
    async def establish_reporting_protocol(
        self, info: Info[Context, None], idempotency_key: str, agency_id: strawberry.ID,
        province: str, contacts: list[ProtocolContactInput], municipality: str | None = None,
    ) -> ProtocolResult:
        ctx = info.context
        agency = parse_id(str(agency_id))
        ctx.authorize("Mutation.establishReportingProtocol", agency, "organization")
        if agency is None:
            raise NotFound("organization not found")
        outcome = await ctx.command(lambda: ctx.system.app.establish_reporting_protocol(
            idempotency_key, UUID(agency), province, municipality, to_plain(contacts)))
        return await _result(ctx, outcome)

    @strawberry.mutation
    async def revise_protocol_contacts(
        self, info: Info[Context, None], idempotency_key: str,
        id: strawberry.ID, contacts: list[ProtocolContactInput],
        note: str = "",
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
        outcome = await ctx.command(lambda: ctx.system.app.revise_protocol_contacts(
            idempotency_key, UUID(clean), to_plain(contacts), note))
        return await _result(ctx, outcome)
